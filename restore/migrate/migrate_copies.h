/* SPDX-License-Identifier: MIT */
/*
 * The destination's index of the latest copy of every page it received:
 * process and address -> the pages file (of some round) and the offset its
 * contents are at. An XBZRLE delta is applied to that copy (migrate_levels.h);
 * only kept when the source and the destination agreed on XBZRLE.
 */
#ifndef FERRY_MIGRATE_COPIES_H
#define FERRY_MIGRATE_COPIES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mcopy {
	uint64_t addr;
	pid_t pid; /* 0: empty */
	uint32_t file;
	uint64_t off;
};

struct mcopies {
	struct mcopy *tab; /* open addressing, a power of two long */
	size_t cap, used;
	int *fds; /* the pages files, readable (dups) */
	size_t nr_fds;
};

/* mcopies_add_file - keep a dup of @fd (readable); its index in *@file. 0 or -errno. */
int mcopies_add_file(struct mcopies *c, int fd, uint32_t *file);
/* mcopies_put - the latest copy of @addr of @pid is at @off of @file. 0 or -ENOMEM. */
int mcopies_put(struct mcopies *c, pid_t pid, uint64_t addr, uint32_t file, uint64_t off);
/*
 * mcopies_read - the latest copy of @addr of @pid into @page (4096 bytes).
 * Returns 0, -ENOENT if none was received, or -errno of the read.
 */
int mcopies_read(const struct mcopies *c, pid_t pid, uint64_t addr, uint8_t *page);
void mcopies_free(struct mcopies *c);

#endif
