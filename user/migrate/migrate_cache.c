// SPDX-License-Identifier: MIT
/* The sender's XBZRLE cache (migrate_cache.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "migrate_cache.h"

#define PAGE 4096u

int mcache_init(struct mcache *c, uint64_t bytes)
{
	memset(c, 0, sizeof(*c));
	c->nr = bytes / PAGE ? (size_t)(bytes / PAGE) : 1;
	c->slots = calloc(c->nr, sizeof(*c->slots));
	/* Anonymous memory: untouched slots cost nothing. */
	c->pages = mmap(NULL, c->nr * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			0);
	if (!c->slots || c->pages == MAP_FAILED) {
		if (c->pages == MAP_FAILED)
			c->pages = NULL;
		mcache_free(c);
		return -ENOMEM;
	}
	return 0;
}

void mcache_free(struct mcache *c)
{
	if (c->pages)
		munmap(c->pages, c->nr * PAGE);
	free(c->slots);
	memset(c, 0, sizeof(*c));
}

static size_t slot_of(const struct mcache *c, pid_t pid, uint64_t addr)
{
	uint64_t h = (addr / PAGE) ^ ((uint64_t)(uint32_t)pid << 40);

	h *= 0x9e3779b97f4a7c15ull;
	return (size_t)((h >> 17) % c->nr);
}

const uint8_t *mcache_get(struct mcache *c, pid_t pid, uint64_t addr)
{
	size_t i;

	if (!c->nr)
		return NULL;
	i = slot_of(c, pid, addr);
	if (c->slots[i].pid == pid && c->slots[i].addr == addr) {
		c->hits++;
		return c->pages + i * PAGE;
	}
	c->misses++;
	return NULL;
}

void mcache_put(struct mcache *c, pid_t pid, uint64_t addr, const uint8_t *page)
{
	size_t i;

	if (!c->nr)
		return;
	i = slot_of(c, pid, addr);
	if (c->slots[i].pid && (c->slots[i].pid != pid || c->slots[i].addr != addr))
		c->evictions++;
	c->slots[i] = (struct mcache_slot){ .pid = pid, .addr = addr };
	memcpy(c->pages + i * PAGE, page, PAGE);
}

void mcache_update(struct mcache *c, pid_t pid, uint64_t addr, const uint8_t *page)
{
	size_t i;

	if (!c->nr)
		return;
	i = slot_of(c, pid, addr);
	if (c->slots[i].pid == pid && c->slots[i].addr == addr)
		memcpy(c->pages + i * PAGE, page, PAGE);
}
