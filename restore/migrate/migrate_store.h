/* SPDX-License-Identifier: MIT */
/*
 * The destination's page store: every page a migration sent, by process and
 * address, the latest copy winning. Page data goes to a file (appended once
 * per page, overwritten in place when the page is sent again); zero pages
 * are a flag. The final step reads it back into pages-ID.img files.
 */
#ifndef FERRY_MIGRATE_STORE_H
#define FERRY_MIGRATE_STORE_H

#include <stdint.h>
#include <sys/types.h>

/* The most distinct pages one migration may send (64 GiB of memory). */
#define MSTORE_MAX_PAGES (16u << 20)

struct mstore_ent {
	uint64_t key; /* vaddr | 1 when used (addresses are page aligned) */
	pid_t pid;
	uint32_t zero; /* 1: the page is all zeros, no data */
	uint64_t off;  /* data offset in the file */
};

struct mstore {
	int fd; /* the data file (unlinked) */
	struct mstore_ent *tab;
	size_t cap, nr; /* cap is a power of two */
	uint64_t end;	/* end of the data file */
	uint64_t full_writes, zero_writes, replaced;
};

/* mstore_open - an empty store whose data lives in an unlinked file in @dir. */
int mstore_open(struct mstore *st, const char *dir);
void mstore_close(struct mstore *st);
/* mstore_put - page @addr of @pid: its data (@data, 4096 bytes) or zeros (@data NULL). */
int mstore_put(struct mstore *st, pid_t pid, uint64_t addr, const void *data);
/*
 * mstore_get - the latest copy of page @addr of @pid into @buf (4096 bytes).
 * Returns 0, -ENOENT if it was never sent, or -errno of the read.
 */
int mstore_get(const struct mstore *st, pid_t pid, uint64_t addr, void *buf);

#endif
