// SPDX-License-Identifier: MIT
/*
 * A process that writes pages at a steady rate and times each write, for
 * the background snapshot (dump --leave-running while it writes).
 *   bgwriter PAGES [PAGES_PER_S [drop]]
 * PAGES (a power of two) pages are mapped and each written once (step k
 * writes page (k * STRIDE) % PAGES: word 0 = k, word 1 = the page's index,
 * the rest pattern_word(word, k)); then it prints
 *   bgwriter: pid P ready
 * and goes on with PAGES_PER_S (default 1000) steps a second, each page
 * write timed. The step counter lives in its memory, so a snapshot holds the
 * counter and the pages of one instant: on SIGUSR1 it checks that every page
 * holds exactly its latest write at or before the counter (an image with a
 * page written after the freeze, a torn page or a page from before fails)
 * and prints "bgwriter: verify ok K" or "bgwriter: verify BAD ...". On
 * SIGUSR2 it prints the latency of the writes since the last SIGUSR2 (or
 * the start):
 *   bgwriter: writes N p50 X us p99 Y us max Z us step K
 * and starts counting again. With "drop", each step first drops the page it
 * writes (madvise MADV_DONTNEED): memory taken away under a background copy.
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
#define LAT_MAX (1u << 18)

static volatile sig_atomic_t verify_req, report_req;
static int drop;

/* Everything verification needs lives in .bss: it is dumped and restored too. */
static struct {
	uint64_t k, pages;
	uint8_t *main;
	uint32_t nlat;
	uint32_t lat_ns[LAT_MAX];
} s;

static void on_usr1(int sig)
{
	(void)sig;
	verify_req = 1;
}

static void on_usr2(int sig)
{
	(void)sig;
	report_req = 1;
}

static uint64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void fill(uint8_t *page, uint64_t k, uint64_t idx)
{
	uint64_t *w = (uint64_t *)page;

	w[0] = k;
	w[1] = idx;
	for (uint64_t i = 2; i < WORDS; i++)
		w[i] = pattern_word(i + (idx << 12), k);
}

static int check(const uint8_t *page, uint64_t k, uint64_t idx)
{
	const uint64_t *w = (const uint64_t *)page;

	if (w[0] != k || w[1] != idx)
		return 0;
	for (uint64_t i = 2; i < WORDS; i++)
		if (w[i] != pattern_word(i + (idx << 12), k))
			return 0;
	return 1;
}

static void verify(void)
{
	for (uint64_t p = 0; p < s.pages; p++) {
		const uint64_t *w = (const uint64_t *)(s.main + p * PG);
		uint64_t kk = w[0];

		if (!(kk <= s.k && kk + s.pages > s.k && ((kk * STRIDE) % s.pages) == p) ||
		    !check(s.main + p * PG, kk, p)) {
			printf("bgwriter: verify BAD page %lu holds step %lu (word 1: %lu) at step "
			       "%lu\n",
			       p, kk, w[1], s.k);
			return;
		}
	}
	printf("bgwriter: verify ok %lu\n", s.k);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static void report(void)
{
	static uint32_t sorted[LAT_MAX];
	uint32_t n = s.nlat;

	memcpy(sorted, s.lat_ns, n * sizeof(*sorted));
	qsort(sorted, n, sizeof(*sorted), cmp_u32);
	printf("bgwriter: writes %u p50 %.1f us p99 %.1f us max %.1f us step %lu\n", n,
	       n ? sorted[n / 2] / 1e3 : 0.0, n ? sorted[(uint64_t)n * 99 / 100] / 1e3 : 0.0,
	       n ? sorted[n - 1] / 1e3 : 0.0, s.k);
	s.nlat = 0;
}

static void step(void)
{
	uint64_t k = s.k + 1, idx = (k * STRIDE) % s.pages, t0 = now_ns(), dt;

	if (drop)
		madvise(s.main + idx * PG, PG, MADV_DONTNEED);
	fill(s.main + idx * PG, k, idx);
	dt = now_ns() - t0;
	s.k = k; /* after the page: a page is never ahead of the counter */
	if (s.nlat < LAT_MAX)
		s.lat_ns[s.nlat++] = dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
}

int main(int argc, char **argv)
{
	uint64_t rate, t_next, period;

	if (argc < 2 || !(s.pages = strtoul(argv[1], NULL, 0)) || (s.pages & (s.pages - 1))) {
		fprintf(stderr, "usage: bgwriter PAGES(power of 2) [PAGES_PER_S]\n");
		return 2;
	}
	rate = argc > 2 ? strtoul(argv[2], NULL, 0) : 1000;
	drop = argc > 3 && !strcmp(argv[3], "drop");
	if (!rate)
		rate = 1;
	signal(SIGUSR1, on_usr1);
	signal(SIGUSR2, on_usr2);
	s.main = mmap(NULL, s.pages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		      0);
	if (s.main == MAP_FAILED) {
		perror("bgwriter: mmap");
		return 1;
	}
	while (s.k < s.pages)
		step();
	s.nlat = 0;
	printf("bgwriter: pid %d ready\n", getpid());
	fflush(stdout);
	period = 1000000000ull / rate;
	t_next = now_ns();
	for (;;) {
		uint64_t now = now_ns();

		/* Catch up after a pause (a freeze) without a burst longer than 10 ms. */
		if (now > t_next + 10000000ull)
			t_next = now;
		while (t_next <= now) {
			step();
			t_next += period;
		}
		if (verify_req) {
			verify_req = 0;
			verify();
			fflush(stdout);
		}
		if (report_req) {
			report_req = 0;
			report();
			fflush(stdout);
		}
		{
			struct timespec ts = { 0, (long)(t_next - now) };

			nanosleep(&ts, NULL);
		}
	}
}
