// SPDX-License-Identifier: MIT
/*
 * Copy-on-write memory shared by a parent and its children, restored shared
 * (see cow.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#define LOG_PREFIX "restore: "
#include "compat.h"
#include "cow.h"
#include "log.h"
#include "mm.h"
#include "pagemap_flags.h"
#include "util.h"
#include "vma_status.h"

#define PAGE 4096ull
#define DIFF_PAGES 256 /* pages compared per read: 1 MiB */

/* A private anonymous VMA that fork() could have shared as it is. */
static int cow_candidate(const VmaEntry *v)
{
	const uint32_t not = VMA_AREA_VDSO | VMA_AREA_VVAR | VMA_AREA_VSYSCALL | VMA_AREA_GUARD |
			     VMA_AREA_STACK | VMA_AREA_SYSVIPC | VMA_AREA_AIORING;

	return (v->status & VMA_ANON_PRIVATE) && !(v->status & not ) &&
	       (v->flags & (MAP_PRIVATE | MAP_ANONYMOUS)) == (MAP_PRIVATE | MAP_ANONYMOUS) &&
	       !(v->flags & (MAP_GROWSDOWN | MAP_HUGETLB | MAP_DROPPABLE | MAP_SHARED)) &&
	       v->end > v->start;
}

/* The index of the VMA of @mm starting at @start (they are sorted), or -1. */
static long find_vma(const MmEntry *mm, uint64_t start)
{
	size_t lo = 0, hi = mm->n_vmas;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (mm->vmas[mid]->start == start)
			return (long)mid;
		if (mm->vmas[mid]->start < start)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

static int ensure_plan(struct rimg_proc *p)
{
	if (p->cow)
		return 0;
	p->cow = calloc(p->mm->n_vmas ? p->mm->n_vmas : 1, sizeof(*p->cow));
	if (!p->cow)
		return -ENOMEM;
	for (size_t i = 0; i < p->mm->n_vmas; i++)
		p->cow[i].parent_vma = -1;
	return 0;
}

int rcow_plan(struct rimg *r, uint64_t busy, uint64_t busy_len, size_t *nr_vmas, uint64_t *bytes)
{
	uint64_t total = 0, base = 0;
	int err = 0;

	*nr_vmas = 0;
	*bytes = 0;
	/* Slots are offsets + 1 (0: none) until the base is known. */
	for (size_t j = 0; !err && j < r->nr_procs; j++) {
		struct rimg_proc *c = &r->procs[j], *p;

		/* pstree order: a parent comes before its children, its plan is made. */
		if (c->parent < 0 || (size_t)c->parent >= j || c->zombie || !c->mm)
			continue;
		p = &r->procs[c->parent];
		/* Different programs share nothing the kernel made by fork (CRIU's rule too). */
		if (p->zombie || !p->mm || p->mm->exe_file_id != c->mm->exe_file_id)
			continue;
		for (size_t i = 0; !err && i < c->mm->n_vmas; i++) {
			const VmaEntry *v = c->mm->vmas[i], *pv;
			long pi;

			if (!cow_candidate(v))
				continue;
			pi = find_vma(p->mm, v->start);
			if (pi < 0)
				continue;
			pv = p->mm->vmas[pi];
			if (!cow_candidate(pv) || pv->end != v->end || pv->flags != v->flags)
				continue;
			err = ensure_plan(p);
			if (!err)
				err = ensure_plan(c);
			if (err)
				break;
			if (!p->cow[pi].slot) {
				p->cow[pi].slot = total + 1;
				total += v->end - v->start;
			}
			c->cow[i].slot = p->cow[pi].slot;
			c->cow[i].parent_vma = (int32_t)pi;
			(*nr_vmas)++;
		}
	}
	if (!err && total)
		err = rmm_free_area(r, total, busy, busy_len, &base);
	for (size_t j = 0; !err && j < r->nr_procs; j++)
		for (size_t i = 0; r->procs[j].cow && i < r->procs[j].mm->n_vmas; i++)
			if (r->procs[j].cow[i].slot)
				r->procs[j].cow[i].slot += base - 1;
	if (!err && total)
		pr_debug("%zu VMA(s) shared copy-on-write with a parent: slots %#llx-%#llx",
			 *nr_vmas, (unsigned long long)base, (unsigned long long)(base + total));
	if (!err)
		*bytes = total;
	return err;
}

uint64_t rcow_slot(const struct rimg_proc *p, const VmaEntry *v)
{
	long i;

	if (!p->cow || !p->mm)
		return 0;
	i = find_vma(p->mm, v->start);
	return i >= 0 && p->mm->vmas[i] == v ? p->cow[i].slot : 0;
}

/* ---- in a shell -------------------------------------------------------------------------- */

struct premap {
	const struct rimg_proc *p, *parent;
	const VmaEntry *vma;
	uint64_t slot;
	uint8_t *buf; /* DIFF_PAGES pages */
	char *msg;
	size_t len;
};

static int read_piece(struct premap *c, const struct rimg_page_run *run, uint64_t off, void *dst,
		      size_t len)
{
	const struct rimg_pages_file *pf = &c->p->pm->files[run->level];
	size_t done = 0;
	int err;

	if (pf->fd < 0) {
		snprintf(c->msg, c->len, "pid %d: no pages-%u.img of level %u for VMA %#llx",
			 c->p->pid, pf->pages_id, run->level, (unsigned long long)c->vma->start);
		return -ENOENT;
	}
	err = pread_full(pf->fd, dst, len, off, &done);
	/*
	 * The shell is in the process's cgroups already: the page cache it
	 * read in would be charged there, not to ferry. Drop it (a hint).
	 */
	if (!err)
		posix_fadvise(pf->fd, (off_t)off, (off_t)len, POSIX_FADV_DONTNEED);
	if (err)
		snprintf(
			c->msg, c->len,
			"pid %d: pages-%u.img of level %u at offset %llu: read %zu of %zu bytes: %s",
			c->p->pid, pf->pages_id, run->level, (unsigned long long)off, done, len,
			strerror(-err));
	return err;
}

/* The root of a chain: its pages straight into the fresh slot. */
static int fill_piece(void *arg, const struct rimg_page_run *run, const VmaEntry *vma,
		      uint64_t addr, uint64_t off, uint64_t nr)
{
	struct premap *c = arg;

	if (vma != c->vma)
		return 0;
	return read_piece(c, run, off, (void *)(uintptr_t)(c->slot + (addr - vma->start)),
			  nr * PAGE);
}

/* An inheriting process: write only the pages that differ from what the parent left there. */
static int diff_piece(void *arg, const struct rimg_page_run *run, const VmaEntry *vma,
		      uint64_t addr, uint64_t off, uint64_t nr)
{
	struct premap *c = arg;
	int err = 0;

	if (vma != c->vma)
		return 0;
	while (!err && nr) {
		uint64_t n = nr < DIFF_PAGES ? nr : DIFF_PAGES;

		err = read_piece(c, run, off, c->buf, n * PAGE);
		for (uint64_t k = 0; !err && k < n; k++) {
			uint64_t a = addr + k * PAGE;
			uint8_t *dst = (uint8_t *)(uintptr_t)(c->slot + (a - vma->start));
			const uint8_t *src = c->buf + k * PAGE;

			/* Reading a page the parent has not would fault one in for nothing. */
			if (rimg_find_page(c->parent->pm, a) && !memcmp(dst, src, PAGE))
				continue;
			memcpy(dst, src, PAGE);
		}
		addr += n * PAGE;
		off += n * PAGE;
		nr -= n;
	}
	return err;
}

static int drop_range(struct premap *c, uint64_t from, uint64_t to)
{
	int e;

	if (to <= from || !madvise((void *)(uintptr_t)(c->slot + (from - c->vma->start)), to - from,
				   MADV_DONTNEED))
		return 0;
	e = errno;
	snprintf(c->msg, c->len, "pid %d: madvise(MADV_DONTNEED) of %#llx-%#llx: %s", c->p->pid,
		 (unsigned long long)from, (unsigned long long)to, strerror(e));
	return -e;
}

/* Drop the pages the parent has in the VMA and this process had not (it dropped them). */
static int drop_missing(struct premap *c)
{
	const struct rimg_pagemap *pm = c->parent->pm;
	const VmaEntry *v = c->vma;
	uint64_t from = 0, to = 0; /* the range gathered so far */
	int err = 0;

	for (size_t i = 0; pm && !err && i < pm->nr_runs; i++) {
		const struct rimg_page_run *run = &pm->runs[i];
		uint64_t s = run->vaddr, e = run->vaddr + run->nr_pages * PAGE;

		if (!(run->flags & (PE_PRESENT | PE_PARENT)) || e <= v->start || s >= v->end)
			continue;
		s = s < v->start ? v->start : s;
		e = e > v->end ? v->end : e;
		for (uint64_t a = s; !err && a < e; a += PAGE) {
			if (rimg_find_page(c->p->pm, a))
				continue;
			if (a != to) {
				err = drop_range(c, from, to);
				from = a;
			}
			to = a + PAGE;
		}
	}
	if (!err)
		err = drop_range(c, from, to);
	return err;
}

int rcow_premap(const struct rimg *r, size_t idx, char *msg, size_t len)
{
	const struct rimg_proc *p = &r->procs[idx];
	struct premap c = { .p = p, .msg = msg, .len = len };
	int err = 0;

	if (!p->cow)
		return 0;
	c.parent = p->parent >= 0 ? &r->procs[p->parent] : NULL;
	for (size_t i = 0; !err && i < p->mm->n_vmas; i++) {
		const VmaEntry *v = p->mm->vmas[i];
		void *m;

		if (!p->cow[i].slot)
			continue;
		c.vma = v;
		c.slot = p->cow[i].slot;
		if (p->cow[i].parent_vma >= 0) {
			if (!c.buf)
				c.buf = malloc(DIFF_PAGES * PAGE);
			if (!c.buf) {
				err = -ENOMEM;
				snprintf(msg, len, "pid %d: out of memory", p->pid);
				break;
			}
			err = rimg_walk_pieces(p, diff_piece, &c);
			if (!err)
				err = drop_missing(&c);
			continue;
		}
		m = mmap((void *)(uintptr_t)c.slot, v->end - v->start, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE |
				 (int)(v->flags & MAP_NORESERVE),
			 -1, 0);
		if (m != (void *)(uintptr_t)c.slot) {
			err = m == MAP_FAILED ? -errno : -EEXIST;
			snprintf(msg, len,
				 "pid %d: cannot map VMA %#llx-%#llx at %#llx before its children "
				 "are forked: %s",
				 p->pid, (unsigned long long)v->start, (unsigned long long)v->end,
				 (unsigned long long)c.slot,
				 m == MAP_FAILED ? strerror(errno) : "placed elsewhere");
			if (m != MAP_FAILED)
				munmap(m, v->end - v->start);
			break;
		}
		err = rimg_walk_pieces(p, fill_piece, &c);
	}
	if (err && !msg[0])
		snprintf(msg, len, "pid %d: cannot fill its copy-on-write memory: %s", p->pid,
			 strerror(-err));
	free(c.buf);
	return err;
}
