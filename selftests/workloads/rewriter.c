// SPDX-License-Identifier: MIT
/*
 * A process that rewrites a few bytes of many pages, for XBZRLE.
 *   rewriter PAGES [WRITES_PER_MS]
 * Maps PAGES anonymous pages, fills each with a pattern of its own (no two
 * pages alike, no zero words) and its index at offset 72, then forever,
 * WRITES_PER_MS pages a millisecond: write k goes to page k % PAGES and
 * stores count[page] + 1 (count[] is in .bss) in the 8 bytes at offset 64,
 * so a page changes in at most 8 bytes between two copies.
 * It prints "rewriter: pid P ready" once filled. On SIGUSR1 it checks that
 * every page holds its pattern, its index and count[page] (a page restored
 * from an older copy, or a delta applied wrongly, fails this) and prints
 * "rewriter: verify ok K" or "rewriter: verify BAD ..." and goes on.
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PG 4096UL
#define WORDS (PG / 8)
#define COUNT_WORD 8
#define INDEX_WORD 9
#define MAX_PAGES (1UL << 18)

static volatile sig_atomic_t verify_req;
static uint64_t count[MAX_PAGES];

static uint64_t pattern(uint64_t page, uint64_t word)
{
	uint64_t x = (page << 20 | word) * 0x9e3779b97f4a7c15ull;

	return (x ^ (x >> 29)) | 1;
}

static void on_usr1(int sig)
{
	(void)sig;
	verify_req = 1;
}

static int verify(const uint64_t *m, uint64_t pages, uint64_t k)
{
	for (uint64_t p = 0; p < pages; p++) {
		const uint64_t *w = m + p * WORDS;

		for (uint64_t i = 0; i < WORDS; i++) {
			uint64_t want = i == COUNT_WORD	  ? count[p]
					: i == INDEX_WORD ? p
							  : pattern(p, i);

			if (w[i] != want) {
				printf("rewriter: verify BAD page %llu word %llu: 0x%llx, expected "
				       "0x%llx (step %llu)\n",
				       (unsigned long long)p, (unsigned long long)i,
				       (unsigned long long)w[i], (unsigned long long)want,
				       (unsigned long long)k);
				fflush(stdout);
				return 1;
			}
		}
	}
	printf("rewriter: verify ok %llu\n", (unsigned long long)k);
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv)
{
	uint64_t pages = argc > 1 ? strtoull(argv[1], NULL, 0) : 1024;
	uint64_t per_ms = argc > 2 ? strtoull(argv[2], NULL, 0) : 5;
	struct timespec ms = { 0, 1000000 };
	struct sigaction sa = { .sa_handler = on_usr1 };
	uint64_t *m, k = 0;

	if (!pages || pages > MAX_PAGES) {
		fprintf(stderr, "usage: rewriter PAGES(1..%lu) [WRITES_PER_MS]\n", MAX_PAGES);
		return 2;
	}
	m = mmap(NULL, pages * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED) {
		perror("rewriter: mmap");
		return 1;
	}
	for (uint64_t p = 0; p < pages; p++) {
		for (uint64_t i = 0; i < WORDS; i++)
			m[p * WORDS + i] = pattern(p, i);
		m[p * WORDS + COUNT_WORD] = 0;
		m[p * WORDS + INDEX_WORD] = p;
	}
	sigaction(SIGUSR1, &sa, NULL);
	printf("rewriter: pid %d ready\n", getpid());
	fflush(stdout);
	for (;;) {
		for (uint64_t i = 0; i < per_ms; i++, k++) {
			uint64_t p = k % pages;

			count[p]++;
			m[p * WORDS + COUNT_WORD] = count[p];
		}
		if (verify_req) {
			verify_req = 0;
			verify(m, pages, k);
		}
		nanosleep(&ms, NULL);
	}
}
