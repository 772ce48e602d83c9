// SPDX-License-Identifier: MIT
/*
 * Unit tests of the lazy-pages daemon's data: the index of missing pages
 * (lazy_index.h) against a page-by-page model, and the working-set file
 * (lazy_ws.h).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "lazy_index.h"
#include "lazy_ws.h"
#include "log.h"

#define PG LZ_PAGE
#define SPAN 256 /* pages of the model address space */
#define NONE UINT64_MAX

/* The model: for each page of [0, SPAN), its source address or NONE. */
static uint64_t model[SPAN];

static void check_against_model(const struct lz_index *x)
{
	uint64_t pages = 0;

	for (uint64_t p = 0; p < SPAN; p++) {
		const struct lz_run *r = lz_find(x, p * PG);
		uint64_t got = r ? r->src + (p * PG - r->addr) : NONE;

		cr_assert_eq(got, model[p], "page %llu: index says %#llx, model %#llx",
			     (unsigned long long)p, (unsigned long long)got,
			     (unsigned long long)model[p]);
		pages += model[p] != NONE;
	}
	cr_assert_eq(x->pages, pages);
	for (size_t i = 1; i < x->n; i++)
		cr_assert_leq(x->v[i - 1].addr + x->v[i - 1].nr * PG, x->v[i].addr,
			      "runs overlap or are out of order");
}

Test(lazy_index, add_find_merge)
{
	struct lz_index x = { 0 };

	cr_assert_eq(lz_add(&x, 10 * PG, 5, 100 * PG), 0);
	cr_assert_eq(lz_add(&x, 15 * PG, 5, 105 * PG), 0); /* continues: merged */
	cr_assert_eq(x.n, 1);
	cr_assert_eq(lz_add(&x, 20 * PG, 5, 300 * PG), 0); /* source jumps: separate */
	cr_assert_eq(x.n, 2);
	cr_assert_eq(lz_add(&x, 12 * PG, 1, 0), -EEXIST);
	cr_assert_eq(lz_add(&x, 9 * PG, 2, 0), -EEXIST);
	cr_assert_eq(lz_add(&x, 1, 1, 0), -EINVAL);
	cr_assert_eq(lz_add(&x, 0, 0, 0), -EINVAL);
	cr_assert_null(lz_find(&x, 9 * PG));
	cr_assert_eq(lz_find(&x, 19 * PG + 100)->src, 100 * PG);
	cr_assert_eq(lz_next(&x, 0)->addr, 10 * PG);
	cr_assert_eq(lz_next(&x, 21 * PG)->addr, 20 * PG);
	cr_assert_null(lz_next(&x, 25 * PG));
	cr_assert_eq(x.pages, 15);
	lz_free(&x);
}

Test(lazy_index, still_follows_sources)
{
	struct lz_index x = { 0 };

	cr_assert_eq(lz_add(&x, 10 * PG, 4, 100 * PG), 0);
	cr_assert_eq(lz_add(&x, 14 * PG, 4, 104 * PG), 0);
	cr_assert_eq(lz_still(&x, 10 * PG, 100 * PG, 16), 8);
	cr_assert_eq(lz_still(&x, 12 * PG, 102 * PG, 3), 3);
	cr_assert_eq(lz_still(&x, 12 * PG, 103 * PG, 3), 0, "another source is not the same page");
	cr_assert_eq(lz_remove(&x, 13 * PG, 14 * PG, NULL), 0);
	cr_assert_eq(lz_still(&x, 10 * PG, 100 * PG, 16), 3, "a hole stops it");
	cr_assert_eq(lz_still(&x, 9 * PG, 99 * PG, 2), 0);
	lz_free(&x);
}

Test(lazy_index, remove_and_move_match_a_model)
{
	struct lz_index x = { 0 };

	srandom(7);
	for (int p = 0; p < SPAN; p++)
		model[p] = NONE;
	/* Start with some runs. */
	for (uint64_t p = 0; p < SPAN; p += 16) {
		uint64_t n = 1 + (uint64_t)random() % 12;

		cr_assert_eq(lz_add(&x, p * PG, n, (1000 + p) * PG), 0);
		for (uint64_t k = 0; k < n; k++)
			model[p + k] = (1000 + p + k) * PG;
	}
	check_against_model(&x);
	for (int step = 0; step < 3000; step++) {
		uint64_t a = (uint64_t)random() % SPAN, n = 1 + (uint64_t)random() % 24;
		int op = (int)(random() % 4);

		if (a + n > SPAN)
			n = SPAN - a;
		if (op == 0) {
			uint64_t removed = 0, want = 0;

			for (uint64_t k = 0; k < n; k++) {
				want += model[a + k] != NONE;
				model[a + k] = NONE;
			}
			cr_assert_eq(lz_remove(&x, a * PG, (a + n) * PG, &removed), 0);
			cr_assert_eq(removed, want, "step %d", step);
		} else if (op == 1) {
			uint64_t to = (uint64_t)random() % (SPAN - n + 1), tmp[SPAN];

			for (uint64_t k = 0; k < n; k++)
				tmp[k] = model[a + k];
			for (uint64_t k = 0; k < n; k++)
				model[a + k] = NONE;
			for (uint64_t k = 0; k < n; k++)
				model[to + k] = tmp[k];
			cr_assert_eq(lz_move(&x, a * PG, to * PG, n * PG), 0);
		} else {
			/* Add where the model is empty. */
			uint64_t k = 0;

			while (k < n && model[a + k] == NONE)
				k++;
			if (!k)
				continue;
			cr_assert_eq(lz_add(&x, a * PG, k, (5000 + (uint64_t)step * 32) * PG), 0);
			for (uint64_t i = 0; i < k; i++)
				model[a + i] = (5000 + (uint64_t)step * 32 + i) * PG;
		}
		check_against_model(&x);
	}
	lz_free(&x);
}

Test(lazy_index, copy_is_independent)
{
	struct lz_index x = { 0 }, y;

	cr_assert_eq(lz_add(&x, 0, 10, 0), 0);
	cr_assert_eq(lz_copy(&y, &x), 0);
	cr_assert_eq(lz_remove(&x, 0, 5 * PG, NULL), 0);
	cr_assert_eq(y.pages, 10);
	cr_assert_eq(x.pages, 5);
	lz_free(&x);
	lz_free(&y);
}

/* ---- working-set file ---------------------------------------------------------- */

Test(lazy_ws, write_read_round_trip)
{
	struct lazy_ws ws = { 0 }, back;
	char *dir = t_tmpdir(), path[600];

	snprintf(path, sizeof(path), "%s/ws", dir);
	for (uint32_t i = 0; i < 1000; i++)
		cr_assert_eq(lazy_ws_add(&ws, 100 + (pid_t)(i % 3), 0x7f0000000000ull + i * PG,
					 1 + i % 16),
			     0);
	cr_assert_eq(lazy_ws_write(&ws, path), 0);
	cr_assert_eq(lazy_ws_read(&back, path), 0);
	cr_assert_eq(back.n, ws.n);
	cr_assert_eq(memcmp(back.v, ws.v, ws.n * sizeof(*ws.v)), 0);
	lazy_ws_free(&ws);
	lazy_ws_free(&back);
	cr_assert_eq(lazy_ws_read(&back, "/nonexistent/ws"), -ENOENT);
	t_rmrf(dir);
	free(dir);
}

Test(lazy_ws, rejects_damage_at_every_length)
{
	struct lazy_ws ws = { 0 }, back;
	char *dir = t_tmpdir(), path[600], *buf;
	size_t len;

	log_init(NULL, -1, 0);
	snprintf(path, sizeof(path), "%s/ws", dir);
	cr_assert_eq(lazy_ws_add(&ws, 5, 0x1000, 3), 0);
	cr_assert_eq(lazy_ws_add(&ws, 5, 0x9000, 1), 0);
	cr_assert_eq(lazy_ws_write(&ws, path), 0);
	buf = t_read_file(path, &len);
	cr_assert_eq(len, 48);
	for (size_t l = 0; l < len; l++)
		cr_assert_eq(lazy_ws_parse(&back, buf, l, "cut"), -EINVAL, "length %zu", l);
	cr_assert_eq(lazy_ws_parse(&back, buf, len, "whole"), 0);
	lazy_ws_free(&back);
	buf[8] = 2; /* version */
	cr_assert_eq(lazy_ws_parse(&back, buf, len, "version"), -EINVAL);
	buf[8] = 1;
	buf[16 + 8] = 1; /* unaligned address */
	cr_assert_eq(lazy_ws_parse(&back, buf, len, "address"), -EINVAL);
	buf[16 + 8] = 0;
	buf[16 + 4] = 0; /* zero pages */
	cr_assert_eq(lazy_ws_parse(&back, buf, len, "pages"), -EINVAL);
	free(buf);
	lazy_ws_free(&ws);
	t_rmrf(dir);
	free(dir);
}
