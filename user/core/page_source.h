/* SPDX-License-Identifier: MIT */
/*
 * A page source: where a lazy restore gets the contents of dumped pages.
 *
 * Two implementations: the local one reads the images directory's pages
 * files (restore/pagesrc/page_source_local.c), the remote one asks a page server
 * over TCP (restore/pagesrc/page_source_remote.c). The lazy-pages daemon uses only
 * this interface.
 *
 * Pages are named as the dump named them: the dumped pid and the address
 * they had at dump time. Requests are asynchronous: submit() queues one, the
 * caller polls the source's fds and reap()s finished ones. An urgent request
 * (a thread waits on that page) is served before any background one, and
 * never waits behind one already in flight (the remote source keeps a
 * separate connection for each).
 */
#ifndef FERRY_PAGE_SOURCE_H
#define FERRY_PAGE_SOURCE_H

#include <stdint.h>
#include <sys/types.h>

#define PS_PAGE_SIZE 4096u
/* The most pages one request may ask for (1 MiB). */
#define PS_MAX_REQ_PAGES 256u

/*
 * A page of a shared memory object (restore/shmem.h) rather than of a
 * process: addr is PS_SHMEM_BIT | object << PS_SHMEM_SHIFT | offset, where
 * object is the object's index in the dump (rimg.shmem[]) and offset its byte
 * offset in the object; pid is then ignored. User addresses never have bit 63.
 */
#define PS_SHMEM_BIT (1ull << 63)
#define PS_SHMEM_SHIFT 40
#define PS_SHMEM_ADDR(obj, off) (PS_SHMEM_BIT | ((uint64_t)(obj) << PS_SHMEM_SHIFT) | (off))
#define PS_SHMEM_OBJ(addr) (((addr) & ~PS_SHMEM_BIT) >> PS_SHMEM_SHIFT)
#define PS_SHMEM_OFF(addr) ((addr) & ((1ull << PS_SHMEM_SHIFT) - 1))

struct page_req {
	pid_t pid;	 /* the pid in the dump */
	uint64_t addr;	 /* dump-time address of the first page, page aligned */
	uint32_t nr;	 /* pages, 1..PS_MAX_REQ_PAGES */
	uint32_t urgent; /* a fault waits: served before background requests */
	void *buf;	 /* nr * PS_PAGE_SIZE bytes; the caller's until reaped */
	uint64_t cookie; /* the caller's */
	int err;	 /* set at completion: 0, or -errno for this request only */
};

struct page_source;

struct page_source_ops {
	/*
	 * submit - queue @req. The source keeps the pointer until reap()
	 * returns it. Returns 0, or -errno if the source is dead (every later
	 * call fails the same way).
	 */
	int (*submit)(struct page_source *s, struct page_req *req);
	/*
	 * poll_fds - up to @max fds to poll for POLLIN while requests are in
	 * flight; returns how many (0 if every request completes in submit()).
	 */
	int (*poll_fds)(struct page_source *s, int *fds, int max);
	/*
	 * reap - the next finished request in *@done (its ->err says how it
	 * went). Never blocks. Returns 1 with *@done set, 0 if none is ready,
	 * or -errno if the source died (connection lost, timeout, protocol
	 * error), logged with what was outstanding.
	 */
	int (*reap)(struct page_source *s, struct page_req **done);
	/* destroy - close and free; requests still in flight are dropped. */
	void (*destroy)(struct page_source *s);
};

struct page_source {
	const struct page_source_ops *ops;
	const char *name; /* for messages: "images DIR" or "page server HOST:PORT" */
};

static inline int page_source_submit(struct page_source *s, struct page_req *r)
{
	return s->ops->submit(s, r);
}

static inline int page_source_poll_fds(struct page_source *s, int *fds, int max)
{
	return s->ops->poll_fds(s, fds, max);
}

static inline int page_source_reap(struct page_source *s, struct page_req **done)
{
	return s->ops->reap(s, done);
}

static inline void page_source_destroy(struct page_source *s)
{
	if (s)
		s->ops->destroy(s);
}

#endif
