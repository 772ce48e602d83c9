/* SPDX-License-Identifier: MIT */
/*
 * The working-set file of a lazy restore: the order in which the restored
 * processes first touched their pages. `ferry restore --lazy-pages
 * --record-ws` writes it; the next lazy restore of the same images fills
 * those pages first, before the tree resumes.
 *
 * Format (little endian; docs/restore.md):
 *   "ferry-ws"  8 bytes magic
 *   u32         version (1)
 *   u32         number of entries N
 *   N x { u32 pid; u32 pages; u64 addr }   dumped pid, dump-time address
 *                                           of a touched piece, its pages
 */
#ifndef FERRY_RESTORE_LAZY_WS_H
#define FERRY_RESTORE_LAZY_WS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define LAZY_WS_FILE "working-set.ferry"
#define LAZY_WS_MAX (1u << 24) /* entries: 64 GiB of single pages */

struct lazy_ws_entry {
	uint32_t pid;
	uint32_t pages;
	uint64_t addr;
};

struct lazy_ws {
	struct lazy_ws_entry *v;
	size_t n, cap;
};

/* lazy_ws_add - append one touch. Returns 0, -E2BIG past LAZY_WS_MAX, -ENOMEM. */
int lazy_ws_add(struct lazy_ws *ws, pid_t pid, uint64_t addr, uint32_t pages);

/*
 * lazy_ws_parse - decode @len bytes of a working-set file (@name for
 * messages). Returns 0, or -EINVAL for a bad file, logged with the name and
 * byte offset at fault.
 */
int lazy_ws_parse(struct lazy_ws *ws, const void *buf, size_t len, const char *name);

/*
 * lazy_ws_read - read file @path. Returns 0, -ENOENT if it does not exist
 * (not logged), -EINVAL for a bad file, or -errno (logged).
 */
int lazy_ws_read(struct lazy_ws *ws, const char *path);

/* lazy_ws_write - write @ws to @path atomically (temporary file, rename). */
int lazy_ws_write(const struct lazy_ws *ws, const char *path);

void lazy_ws_free(struct lazy_ws *ws);

#endif
