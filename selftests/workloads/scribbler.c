// SPDX-License-Identifier: MIT
/*
 * A process that never stops writing, for pre-dump chains.
 *   scribbler PAGES [STEPS_PER_MS]
 * Step k writes page (k * STRIDE) % PAGES of its main mapping: the page holds
 * k, its index, and words pattern_word(i, k) (STRIDE is odd and PAGES a power
 * of two, so every page is rewritten once every PAGES steps). Every CHURN
 * steps it also changes its address space:
 *   - a side mapping is unmapped and a new one mapped elsewhere and filled;
 *   - a mapping is moved with mremap between two places, then one of its
 *     pages rewritten;
 *   - 8 pages of a third mapping are dropped with MADV_DONTNEED (they must
 *     read zero) and the next 8 rewritten.
 * It prints "scribbler: pid P ready" once everything is mapped.
 * On SIGUSR1 it checks everything: each main page must hold the latest write
 * to it, i.e. k' with k - PAGES < k' <= k (an older copy of the page, as a
 * wrong pre-dump chain would restore, fails this), the side, moved and
 * dropped mappings their expected contents; it prints
 * "scribbler: verify ok STEP" or "scribbler: verify BAD ..." and goes on.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "pattern.h"

#define PG 4096UL
#define WORDS (PG / 8)
#define STRIDE 40503UL
#define CHURN 4096UL
#define SIDE_PAGES 64UL
#define MOVE_PAGES 32UL
#define DROP_PAGES 64UL
#define GEN0 (1UL << 40) /* the contents before any churn */

static volatile sig_atomic_t verify_req;

/* Everything verification needs lives in .bss/.data: it is dumped and restored too. */
static struct {
	uint64_t k, pages, churns;
	uint8_t *main, *side, *move, *drop;
	uint8_t *move_at[2];
	uint64_t side_gen, move_gen[MOVE_PAGES], drop_gen[DROP_PAGES];
} s;

static void on_usr1(int sig)
{
	(void)sig;
	verify_req = 1;
}

static void fill(uint8_t *page, uint64_t gen, uint64_t idx)
{
	uint64_t *w = (uint64_t *)page;

	w[0] = gen;
	w[1] = idx;
	for (uint64_t i = 2; i < WORDS; i++)
		w[i] = pattern_word(i + (idx << 12), gen);
}

static int check(const uint8_t *page, uint64_t gen, uint64_t idx)
{
	const uint64_t *w = (const uint64_t *)page;

	if (w[0] != gen || w[1] != idx)
		return 0;
	for (uint64_t i = 2; i < WORDS; i++)
		if (w[i] != pattern_word(i + (idx << 12), gen))
			return 0;
	return 1;
}

static void *map(void *hint, unsigned long pages)
{
	void *p =
		mmap(hint, pages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("scribbler: mmap");
		exit(1);
	}
	return p;
}

static void churn(void)
{
	uint64_t g = ++s.churns, j;

	/* A new side mapping, somewhere else. */
	munmap(s.side, SIDE_PAGES * PG);
	s.side = map(NULL, SIDE_PAGES);
	s.side_gen = g;
	for (uint64_t i = 0; i < SIDE_PAGES; i++)
		fill(s.side + i * PG, g, i);
	/* Move a mapping to its other place, then change one page. */
	{
		uint8_t *to = s.move == s.move_at[0] ? s.move_at[1] : s.move_at[0];

		if (mremap(s.move, MOVE_PAGES * PG, MOVE_PAGES * PG, MREMAP_MAYMOVE | MREMAP_FIXED,
			   to) != to) {
			perror("scribbler: mremap");
			exit(1);
		}
		s.move = to;
		s.move_gen[g % MOVE_PAGES] = g;
		fill(s.move + (g % MOVE_PAGES) * PG, g, g % MOVE_PAGES);
	}
	/* Drop 8 pages, rewrite the next 8. */
	j = (g * 8) % DROP_PAGES;
	madvise(s.drop + j * PG, 8 * PG, MADV_DONTNEED);
	for (uint64_t i = j; i < j + 8; i++)
		s.drop_gen[i] = 0;
	for (uint64_t i = (j + 8) % DROP_PAGES; i < (j + 8) % DROP_PAGES + 8; i++) {
		s.drop_gen[i] = g;
		fill(s.drop + i * PG, g, i);
	}
}

static int verify(void)
{
	static const uint8_t zero[PG];

	for (uint64_t p = 0; p < s.pages; p++) {
		const uint64_t *w = (const uint64_t *)(s.main + p * PG);
		uint64_t kk = w[0];

		if (!(kk <= s.k && kk + s.pages > s.k && ((kk * STRIDE) % s.pages) == p) ||
		    !check(s.main + p * PG, kk, p)) {
			/* Pages not written yet in the first pass hold 0 everywhere. */
			if (s.k < s.pages && !memcmp(s.main + p * PG, zero, PG))
				continue;
			printf("scribbler: verify BAD main page %lu holds step %lu at step %lu\n",
			       p, kk, s.k);
			return 0;
		}
	}
	for (uint64_t i = 0; s.side_gen && i < SIDE_PAGES; i++)
		if (!check(s.side + i * PG, s.side_gen, i)) {
			printf("scribbler: verify BAD side page %lu (gen %lu)\n", i, s.side_gen);
			return 0;
		}
	for (uint64_t i = 0; i < MOVE_PAGES; i++)
		if (!check(s.move + i * PG, s.move_gen[i], i)) {
			printf("scribbler: verify BAD moved page %lu (gen %lu)\n", i,
			       s.move_gen[i]);
			return 0;
		}
	for (uint64_t i = 0; i < DROP_PAGES; i++)
		if (s.drop_gen[i] ? !check(s.drop + i * PG, s.drop_gen[i], i)
				  : memcmp(s.drop + i * PG, zero, PG) != 0) {
			printf("scribbler: verify BAD dropped-range page %lu (gen %lu)\n", i,
			       s.drop_gen[i]);
			return 0;
		}
	return 1;
}

int main(int argc, char **argv)
{
	struct timespec ms = { 0, 1000000 };
	uint64_t per_ms;

	if (argc < 2 || !(s.pages = strtoul(argv[1], NULL, 0)) || (s.pages & (s.pages - 1))) {
		fprintf(stderr, "usage: scribbler PAGES(power of 2) [STEPS_PER_MS]\n");
		return 2;
	}
	per_ms = argc > 2 ? strtoul(argv[2], NULL, 0) : 64;
	signal(SIGUSR1, on_usr1);
	s.main = map(NULL, s.pages);
	madvise(s.main, s.pages * PG, MADV_NOHUGEPAGE);
	s.side = map(NULL, SIDE_PAGES);
	/* Two places for the moving mapping: reserve both, keep one mapped. */
	s.move_at[0] = map(NULL, 2 * MOVE_PAGES);
	s.move_at[1] = s.move_at[0] + MOVE_PAGES * PG;
	munmap(s.move_at[1], MOVE_PAGES * PG);
	s.move = s.move_at[0];
	for (uint64_t i = 0; i < MOVE_PAGES; i++)
		fill(s.move + i * PG, s.move_gen[i] = GEN0, i);
	s.drop = map(NULL, DROP_PAGES);
	for (uint64_t i = 0; i < DROP_PAGES; i++)
		fill(s.drop + i * PG, s.drop_gen[i] = GEN0, i);
	printf("scribbler: pid %d ready\n", getpid());
	fflush(stdout);
	for (;;) {
		for (uint64_t n = 0; n < per_ms; n++) {
			uint64_t k = ++s.k;

			fill(s.main + ((k * STRIDE) % s.pages) * PG, k, (k * STRIDE) % s.pages);
			if (!(k % CHURN))
				churn();
		}
		if (verify_req) {
			verify_req = 0;
			if (verify())
				printf("scribbler: verify ok %lu\n", s.k);
			fflush(stdout);
		}
		nanosleep(&ms, NULL);
	}
}
