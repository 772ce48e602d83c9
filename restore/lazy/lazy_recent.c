// SPDX-License-Identifier: MIT
/*
 * The lazy-pages daemon's "recent first" order (lazy_opts.recent_first, a
 * post-copy migration's destination): the background fills the pages of the
 * chain's newest levels first, level 0 (the last dirty set, which only the
 * source holds) then level 1 (the last pre-copy round) and so on, before it
 * walks the address space in order. The pages a process wrote last are the
 * ones it is most likely to touch again right after it resumes.
 */
#include <errno.h>
#include <stdlib.h>

#define LOG_PREFIX "lazy-pages: "
#include "lazy_daemon_priv.h"
#include "log.h"
#include "util.h"

struct collect {
	struct lzd_piece *v;
	size_t n, cap;
};

static int add_piece(void *arg, const struct rimg_page_run *run, const VmaEntry *vma, uint64_t addr,
		     uint64_t file_off, uint64_t nr_pages)
{
	struct collect *c = arg;

	if (!lazy_vma(vma))
		return 0;
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 64;
		struct lzd_piece *v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->v = v;
		c->cap = cap;
	}
	c->v[c->n++] = (struct lzd_piece){ .addr = addr, .nr = nr_pages, .level = run->level };
	return 0;
}

/* By level, then by address (the walk's order: the sort must keep it). */
static int cmp_piece(const void *a, const void *b)
{
	const struct lzd_piece *x = a, *y = b;

	if (x->level != y->level)
		return x->level < y->level ? -1 : 1;
	return x->addr < y->addr ? -1 : x->addr > y->addr;
}

int lzd_recent_index(struct lzd *d, size_t m, const struct rimg_proc *p)
{
	struct lzd_mm *mm = d->mms[m];
	struct collect c = { 0 };
	int err = rimg_walk_pieces(p, add_piece, &c);

	if (err) {
		free(c.v);
		return err;
	}
	qsort(c.v, c.n, sizeof(*c.v), cmp_piece);
	mm->prio = c.v;
	mm->nr_prio = c.n;
	mm->prio_pos = 0;
	for (size_t i = 0; i < c.n && c.v[i].level == 0; i++)
		mm->prio_level0 += c.v[i].nr;
	pr_info("pid %d: the newest levels first: %llu pages of the last dirty set, then the "
		"rounds' from the newest",
		p->pid, (unsigned long long)mm->prio_level0);
	return 0;
}

/* The prio list is done and what it started has landed: say so, then forget it. */
static void recent_done(struct lzd *d, struct lzd_mm *mm)
{
	pr_info("pid %d: the newest levels were in %llu pages in the background (%llu of the "
		"last dirty set), all in %llu ms after resume",
		mm->pid, (unsigned long long)mm->recent_pages, (unsigned long long)mm->prio_level0,
		(unsigned long long)(d->go ? (mono_ns() - d->t_go) / 1000000 : 0));
	free(mm->prio);
	mm->prio = NULL;
	mm->nr_prio = mm->prio_pos = 0;
}

int lzd_recent_next(struct lzd *d, size_t m)
{
	struct lzd_mm *mm = d->mms[m];
	int err;

	while (mm->prio_pos < mm->nr_prio) {
		struct lzd_piece *pc = &mm->prio[mm->prio_pos];
		uint64_t end = pc->addr + pc->nr * P, s, e;
		const struct lz_run *r = lz_next(&mm->idx, pc->addr);

		if (!r || r->addr >= end) {
			mm->prio_pos++; /* filled already (a fault), or gone */
			continue;
		}
		s = r->addr > pc->addr ? r->addr : pc->addr;
		e = r->addr + r->nr * P < end ? r->addr + r->nr * P : end;
		if ((e - s) / P > BG_PAGES)
			e = s + BG_PAGES * P;
		pc->nr = (end - e) / P;
		pc->addr = e;
		if (!pc->nr)
			mm->prio_pos++;
		mm->recent_pages += (e - s) / P;
		err = lzd_submit(d, m, K_BG, s, r->src + (s - r->addr), (uint32_t)((e - s) / P));
		return err ? err : 1;
	}
	if (!mm->nr_prio)
		return 0;
	if (mm->inflight)
		return 2; /* the address walk starts once they landed: none is asked twice */
	recent_done(d, mm);
	return 0;
}

void lzd_recent_free(struct lzd_mm *mm)
{
	free(mm->prio);
	mm->prio = NULL;
	mm->nr_prio = mm->prio_pos = 0;
}
