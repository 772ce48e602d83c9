// SPDX-License-Identifier: MIT
/*
 * The lazy-pages daemon's index of missing pages (see lazy_index.h): a
 * sorted array of runs, binary-searched; splits and moves memmove.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "lazy_index.h"
#include "page_source.h"

static uint64_t run_end(const struct lz_run *r)
{
	return r->addr + r->nr * LZ_PAGE;
}

/* The index of the first run that ends above @addr (x->n if none). */
static size_t lower(const struct lz_index *x, uint64_t addr)
{
	size_t lo = 0, hi = x->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (run_end(&x->v[mid]) <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int reserve(struct lz_index *x, size_t more)
{
	size_t cap;
	struct lz_run *v;

	if (x->n + more <= x->cap)
		return 0;
	cap = x->cap ? x->cap * 2 : 16;
	while (cap < x->n + more)
		cap *= 2;
	v = realloc(x->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	x->v = v;
	x->cap = cap;
	return 0;
}

static void insert_at(struct lz_index *x, size_t i, const struct lz_run *r)
{
	memmove(&x->v[i + 1], &x->v[i], (x->n - i) * sizeof(*x->v));
	x->v[i] = *r;
	x->n++;
}

static void delete_at(struct lz_index *x, size_t i, size_t count)
{
	memmove(&x->v[i], &x->v[i + count], (x->n - i - count) * sizeof(*x->v));
	x->n -= count;
}

/* Merge run @i with its neighbours where addresses and sources both continue. */
static void merge_around(struct lz_index *x, size_t i)
{
	if (i + 1 < x->n && run_end(&x->v[i]) == x->v[i + 1].addr &&
	    x->v[i].src + x->v[i].nr * LZ_PAGE == x->v[i + 1].src) {
		x->v[i].nr += x->v[i + 1].nr;
		delete_at(x, i + 1, 1);
	}
	if (i > 0 && run_end(&x->v[i - 1]) == x->v[i].addr &&
	    x->v[i - 1].src + x->v[i - 1].nr * LZ_PAGE == x->v[i].src) {
		x->v[i - 1].nr += x->v[i].nr;
		delete_at(x, i, 1);
	}
}

int lz_add(struct lz_index *x, uint64_t addr, uint64_t nr, uint64_t src)
{
	struct lz_run r = { .addr = addr, .nr = nr, .src = src };
	size_t i;
	int err;

	if (!nr || (addr | src) % LZ_PAGE || nr > (UINT64_MAX - addr) / LZ_PAGE)
		return -EINVAL;
	i = lower(x, addr);
	if (i < x->n && x->v[i].addr < addr + nr * LZ_PAGE)
		return -EEXIST;
	err = reserve(x, 1);
	if (err)
		return err;
	insert_at(x, i, &r);
	x->pages += nr;
	merge_around(x, i);
	return 0;
}

const struct lz_run *lz_find(const struct lz_index *x, uint64_t addr)
{
	size_t i = lower(x, addr);

	return i < x->n && x->v[i].addr <= addr ? &x->v[i] : NULL;
}

const struct lz_run *lz_next(const struct lz_index *x, uint64_t addr)
{
	size_t i = lower(x, addr);

	return i < x->n ? &x->v[i] : NULL;
}

int lz_remove(struct lz_index *x, uint64_t start, uint64_t end, uint64_t *removed)
{
	uint64_t taken = 0;
	size_t i;

	start &= ~(LZ_PAGE - 1);
	end = (end + LZ_PAGE - 1) & ~(LZ_PAGE - 1);
	if (removed)
		*removed = 0;
	if (end <= start)
		return 0;
	i = lower(x, start);
	while (i < x->n && x->v[i].addr < end) {
		struct lz_run *r = &x->v[i];
		uint64_t rend = run_end(r);

		if (r->addr < start && rend > end) {
			/* A hole in the middle: split in two. */
			struct lz_run tail = {
				.addr = end,
				.nr = (rend - end) / LZ_PAGE,
				.src = r->src + (end - r->addr),
			};

			if (reserve(x, 1))
				return -ENOMEM;
			r = &x->v[i];
			r->nr = (start - r->addr) / LZ_PAGE;
			insert_at(x, i + 1, &tail);
			taken += (end - start) / LZ_PAGE;
			break;
		}
		if (r->addr < start) {
			/* Cut its tail. */
			taken += (rend - start) / LZ_PAGE;
			r->nr = (start - r->addr) / LZ_PAGE;
			i++;
		} else if (rend > end) {
			/* Cut its head. */
			taken += (end - r->addr) / LZ_PAGE;
			r->src += end - r->addr;
			r->nr = (rend - end) / LZ_PAGE;
			r->addr = end;
			break;
		} else {
			taken += r->nr;
			delete_at(x, i, 1);
		}
	}
	x->pages -= taken;
	if (removed)
		*removed = taken;
	return 0;
}

int lz_move(struct lz_index *x, uint64_t from, uint64_t to, uint64_t len)
{
	struct lz_run *moved = NULL;
	size_t nm = 0, i;
	int err;

	len = (len + LZ_PAGE - 1) & ~(LZ_PAGE - 1);
	if (!len || from == to)
		return 0;
	/* Take the moving runs out (clipped to the range)... */
	i = lower(x, from);
	for (size_t k = i; k < x->n && x->v[k].addr < from + len; k++)
		nm++;
	if (nm) {
		moved = calloc(nm, sizeof(*moved));
		if (!moved)
			return -ENOMEM;
		for (size_t k = 0; k < nm; k++) {
			struct lz_run r = x->v[i + k];
			uint64_t s = r.addr > from ? r.addr : from;
			uint64_t e = run_end(&r) < from + len ? run_end(&r) : from + len;

			moved[k] = (struct lz_run){
				.addr = s - from + to,
				.nr = (e - s) / LZ_PAGE,
				.src = r.src + (s - r.addr),
			};
		}
	}
	err = lz_remove(x, from, from + len, NULL);
	/* ...drop what the destination held, and put them back moved. */
	if (!err)
		err = lz_remove(x, to, to + len, NULL);
	for (size_t k = 0; !err && k < nm; k++)
		err = lz_add(x, moved[k].addr, moved[k].nr, moved[k].src);
	free(moved);
	return err;
}

uint64_t lz_still(const struct lz_index *x, uint64_t addr, uint64_t src, uint64_t nr)
{
	uint64_t got = 0;
	size_t i = lower(x, addr);

	while (got < nr && i < x->n) {
		const struct lz_run *r = &x->v[i];
		uint64_t a = addr + got * LZ_PAGE, n;

		if (r->addr > a || r->src + (a - r->addr) != src + got * LZ_PAGE)
			break;
		n = (run_end(r) - a) / LZ_PAGE;
		got += n;
		i++;
	}
	return got < nr ? got : nr;
}

int lz_copy(struct lz_index *dst, const struct lz_index *x)
{
	memset(dst, 0, sizeof(*dst));
	if (!x->n)
		return 0;
	dst->v = malloc(x->n * sizeof(*x->v));
	if (!dst->v)
		return -ENOMEM;
	memcpy(dst->v, x->v, x->n * sizeof(*x->v));
	dst->n = dst->cap = x->n;
	dst->pages = x->pages;
	return 0;
}

void lz_free(struct lz_index *x)
{
	free(x->v);
	memset(x, 0, sizeof(*x));
}

int lz_remove_private(struct lz_index *x, uint64_t start, uint64_t end)
{
	uint64_t at = start;
	int err = 0;

	while (!err && at < end) {
		const struct lz_run *r = lz_next(x, at);
		uint64_t s, e;

		if (!r || r->addr >= end)
			break;
		s = r->addr > at ? r->addr : at;
		e = r->addr + r->nr * LZ_PAGE;
		if (e > end)
			e = end;
		if (!(r->src & PS_SHMEM_BIT))
			err = lz_remove(x, s, e, NULL);
		at = e;
	}
	return err;
}

int lz_remove_src(struct lz_index *x, uint64_t src, uint64_t nr, uint64_t *removed)
{
	uint64_t end = src + nr * LZ_PAGE, total = 0;
	int err = 0;

	for (size_t i = 0; !err && i < x->n;) {
		const struct lz_run *r = &x->v[i];
		uint64_t s = r->src > src ? r->src : src;
		uint64_t e = r->src + r->nr * LZ_PAGE;
		uint64_t got = 0;

		if (e > end)
			e = end;
		if (s >= e) {
			i++;
			continue;
		}
		/* The runs change under the removal: look again from the same slot. */
		err = lz_remove(x, r->addr + (s - r->src), r->addr + (e - r->src), &got);
		total += got;
		if (!got)
			i++;
	}
	if (removed)
		*removed = total;
	return err;
}
