// SPDX-License-Identifier: MIT
/*
 * The local page source: a request is answered at once by pread()s from the
 * pages files the flattened memory index (restore/images.h) points into.
 * Nothing is cached or mapped: memory use does not depend on the dump's size.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "images.h"
#include "page_source_local.h"
#include "pagemap_flags.h"
#include "shmem.h"
#include "util.h"

#define LOG_PREFIX "page source: "
#include "log.h"

#define PAGE ((uint64_t)PS_PAGE_SIZE)

struct proc_ent {
	pid_t pid;
	const struct rimg_proc *p;
};

struct local {
	struct page_source src;
	const struct rimg *r;
	struct proc_ent *procs; /* sorted by pid */
	size_t nr_procs;
	/* finished requests not reaped yet: done[head .. len) */
	struct page_req **done;
	size_t head, len, cap;
	char name[];
};

static const struct page_source_ops local_ops;

static int cmp_proc(const void *a, const void *b)
{
	pid_t x = ((const struct proc_ent *)a)->pid, y = ((const struct proc_ent *)b)->pid;

	return x < y ? -1 : x > y;
}

static const struct rimg_proc *find_proc(const struct local *l, pid_t pid)
{
	size_t lo = 0, hi = l->nr_procs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->procs[mid].pid == pid)
			return l->procs[mid].p;
		if (l->procs[mid].pid < pid)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* The run of object @o holding byte offset @off, or NULL (runs are sorted). */
static const struct rimg_page_run *shmem_run(const struct rimg_shmem *o, uint64_t off)
{
	size_t lo = 0, hi = o->nr_runs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct rimg_page_run *run = &o->runs[mid];

		if (off < run->vaddr)
			hi = mid;
		else if (off >= run->vaddr + run->nr_pages * PAGE)
			lo = mid + 1;
		else
			return run;
	}
	return NULL;
}

/* page_source_local_read() of a shared memory object's pages (PS_SHMEM_BIT). */
static int read_shmem(const struct local *l, uint64_t addr, uint32_t nr, uint8_t *out,
		      uint64_t *missing)
{
	uint64_t obj = PS_SHMEM_OBJ(addr), off = PS_SHMEM_OFF(addr);
	const struct rimg_shmem *o;
	uint32_t i = 0;

	if (obj >= l->r->nr_shmem)
		return -ESRCH;
	o = &l->r->shmem[obj];
	while (i < nr) {
		uint64_t at = off + i * PAGE, idx, n;
		const struct rimg_page_run *run = shmem_run(o, at);
		int fd;
		size_t done;
		int err;

		*missing = addr + i * PAGE;
		if (!run || !(run->flags & (PE_PRESENT | PE_PARENT)))
			return -ENOENT;
		if (run->level > o->nr_levels)
			return -EIO;
		fd = run->level ? o->level_fds[run->level - 1] : o->pages_fd;
		if (fd < 0)
			return -EIO;
		idx = (at - run->vaddr) / PAGE;
		n = run->nr_pages - idx;
		if (n > nr - i)
			n = nr - i;
		err = pread_full(fd, out + (size_t)i * PAGE, (size_t)(n * PAGE),
				 run->file_off + idx * PAGE, &done);
		if (err) {
			*missing += done / PAGE * PAGE;
			return err;
		}
		i += (uint32_t)n;
	}
	*missing = 0;
	return 0;
}

int page_source_local_read(struct page_source *s, pid_t pid, uint64_t addr, uint32_t nr, void *buf,
			   uint64_t *missing)
{
	struct local *l = (struct local *)s;
	const struct rimg_pagemap *pm;
	const struct rimg_proc *p;
	uint8_t *out = buf;
	uint32_t i = 0;

	*missing = addr;
	if (s->ops != &local_ops || nr < 1 || nr > PS_MAX_REQ_PAGES || addr % PAGE ||
	    addr > UINT64_MAX - nr * PAGE + 1)
		return -EINVAL;
	if (addr & PS_SHMEM_BIT)
		return read_shmem(l, addr, nr, out, missing);
	p = find_proc(l, pid);
	if (!p)
		return -ESRCH;
	pm = p->pm;
	while (i < nr) {
		uint64_t a = addr + i * PAGE, idx, n;
		const struct rimg_page_run *run = rimg_find_page(pm, a);
		size_t done;
		int err;

		*missing = a;
		if (!run || !(run->flags & (PE_PRESENT | PE_PARENT)))
			return -ENOENT;
		if (run->level >= pm->nr_files || pm->files[run->level].fd < 0)
			return -EIO; /* rimg_load() promises otherwise: a broken model */
		idx = (a - run->vaddr) / PAGE;
		n = run->nr_pages - idx;
		if (n > nr - i)
			n = nr - i;
		/* A run may hold more pages than one request: read only what is asked. */
		err = pread_full(pm->files[run->level].fd, out + (size_t)i * PAGE,
				 (size_t)(n * PAGE), run->file_off + idx * PAGE, &done);
		if (err) {
			*missing = a + done / PAGE * PAGE;
			return err;
		}
		i += (uint32_t)n;
	}
	*missing = 0;
	return 0;
}

static int push_done(struct local *l, struct page_req *req)
{
	if (l->len == l->cap) {
		if (l->head) {
			memmove(l->done, l->done + l->head, (l->len - l->head) * sizeof(*l->done));
			l->len -= l->head;
			l->head = 0;
		} else {
			size_t cap = l->cap ? l->cap * 2 : 64;
			struct page_req **nd = realloc(l->done, cap * sizeof(*nd));

			if (!nd)
				return -ENOMEM;
			l->done = nd;
			l->cap = cap;
		}
	}
	l->done[l->len++] = req;
	return 0;
}

static int local_submit(struct page_source *s, struct page_req *req)
{
	struct local *l = (struct local *)s;
	uint64_t missing = 0;
	int err;

	err = push_done(l, req);
	if (err) {
		pr_err("%s: no memory to queue pid %d address 0x%" PRIx64, s->name, req->pid,
		       req->addr);
		return err;
	}
	req->err = page_source_local_read(s, req->pid, req->addr, req->nr, req->buf, &missing);
	switch (req->err) {
	case 0:
		break;
	case -EINVAL:
		pr_err("%s: pid %d: bad request of %u pages at 0x%" PRIx64
		       " (1..%u pages, page aligned)",
		       s->name, req->pid, req->nr, req->addr, PS_MAX_REQ_PAGES);
		break;
	case -ESRCH:
		pr_err("%s: pid %d is not in the dump (request at 0x%" PRIx64 ")", s->name,
		       req->pid, req->addr);
		req->err = -ENOENT;
		break;
	case -ENOENT:
		pr_err("%s: pid %d: page 0x%" PRIx64
		       " is not in the dump (request of %u pages at 0x%" PRIx64 ")",
		       s->name, req->pid, missing, req->nr, req->addr);
		break;
	default:
		pr_err("%s: pid %d: cannot read page 0x%" PRIx64 ": %s", s->name, req->pid, missing,
		       req->err == -EIO ? "the pages file is shorter than its pagemap says"
					: strerror(-req->err));
		break;
	}
	return 0;
}

static int local_poll_fds(struct page_source *s, int *fds, int max)
{
	return 0;
}

static int local_reap(struct page_source *s, struct page_req **done)
{
	struct local *l = (struct local *)s;

	if (l->head == l->len)
		return 0;
	*done = l->done[l->head++];
	if (l->head == l->len)
		l->head = l->len = 0;
	return 1;
}

static void local_destroy(struct page_source *s)
{
	struct local *l = (struct local *)s;

	free(l->procs);
	free(l->done);
	free(l);
}

static const struct page_source_ops local_ops = {
	.submit = local_submit,
	.poll_fds = local_poll_fds,
	.reap = local_reap,
	.destroy = local_destroy,
};

int page_source_local_open(struct page_source **out, const struct rimg *r)
{
	const char *dir = r->dir ? r->dir : "?";
	size_t name_len = strlen("images ") + strlen(dir) + 1;
	struct local *l;
	size_t i;

	*out = NULL;
	l = calloc(1, sizeof(*l) + name_len);
	if (!l)
		return -ENOMEM;
	l->procs = calloc(r->nr_procs ? r->nr_procs : 1, sizeof(*l->procs));
	if (!l->procs) {
		free(l);
		return -ENOMEM;
	}
	for (i = 0; i < r->nr_procs; i++)
		l->procs[i] = (struct proc_ent){ .pid = r->procs[i].pid, .p = &r->procs[i] };
	l->nr_procs = r->nr_procs;
	qsort(l->procs, l->nr_procs, sizeof(*l->procs), cmp_proc);
	snprintf(l->name, name_len, "images %s", dir);
	l->r = r;
	l->src.ops = &local_ops;
	l->src.name = l->name;
	*out = &l->src;
	return 0;
}
