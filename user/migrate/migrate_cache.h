/* SPDX-License-Identifier: MIT */
/*
 * The sender's XBZRLE cache: a bounded copy of pages it sent, keyed by
 * process and address, so that a page sent again in a later round can go
 * as a delta against the copy the destination holds. Direct mapped, as
 * QEMU's page cache: a page takes the slot its key hashes to, replacing
 * whatever was there (the replaced page then goes whole next time).
 *
 * The rule that keeps both sides in step: a slot holds a page only with the
 * contents last sent for it. Every page sent again updates its slot (or
 * takes it); a page whose slot holds another key is simply not cached.
 */
#ifndef FERRY_MIGRATE_CACHE_H
#define FERRY_MIGRATE_CACHE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct mcache_slot {
	pid_t pid; /* 0: empty */
	uint64_t addr;
};

struct mcache {
	struct mcache_slot *slots;
	uint8_t *pages; /* nr slots of 4096 bytes */
	size_t nr;
	uint64_t hits, misses, evictions;
};

/* The cache size `--xbzrle` gives without a size. */
#define MCACHE_DEFAULT_BYTES (64ull << 20)

/* mcache_init - a cache of @bytes (rounded down to pages, at least one). 0 or -ENOMEM. */
int mcache_init(struct mcache *c, uint64_t bytes);
void mcache_free(struct mcache *c);
/* mcache_get - the cached copy of page @addr of @pid, or NULL (counted as hit or miss). */
const uint8_t *mcache_get(struct mcache *c, pid_t pid, uint64_t addr);
/* mcache_put - @page is what was sent for @addr of @pid now: its slot takes it. */
void mcache_put(struct mcache *c, pid_t pid, uint64_t addr, const uint8_t *page);
/* mcache_update - as mcache_put, but only if the slot already holds this page. */
void mcache_update(struct mcache *c, pid_t pid, uint64_t addr, const uint8_t *page);

#endif
