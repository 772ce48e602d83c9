// SPDX-License-Identifier: MIT
/*
 * A process holding a large patterned anonymous mapping.
 *   memhog MIB [SEED] [sparse]
 * Maps MIB MiB, writes pattern_word(addr, SEED) to every word except in every
 * 64th page, which it never touches (so it is never populated); "sparse"
 * turns that around: only every 64th page is written, the rest never
 * touched. Then it prints
 *   memhog: pid P base 0xADDR size BYTES seed S ready
 * then idles. On SIGUSR1 it checks the whole mapping (holes must read zero) and
 * prints "memhog: verify ok" or "memhog: verify BAD at 0xADDR"; on SIGUSR2 it
 * rewrites the pattern with seed+1 (a way to dirty everything).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "pattern.h"

static volatile sig_atomic_t verify_req, rewrite_req;

static void on_usr1(int sig)
{
	(void)sig;
	verify_req = 1;
}

static void on_usr2(int sig)
{
	(void)sig;
	rewrite_req = 1;
}

static int sparse;

/* Word @i lies in a page never touched. */
static int in_hole(size_t i)
{
	int every64th = (i * 8 / 4096) % PATTERN_HOLE_EVERY == PATTERN_HOLE_EVERY - 1;

	return sparse ? !every64th : every64th;
}

static void fill(uint64_t *base, size_t words, uint64_t seed)
{
	for (size_t i = 0; i < words; i++) {
		if (in_hole(i))
			continue;
		base[i] = pattern_word((uint64_t)(uintptr_t)&base[i], seed);
	}
}

static uint64_t *check(uint64_t *base, size_t words, uint64_t seed)
{
	for (size_t i = 0; i < words; i++) {
		uint64_t want = in_hole(i) ? 0 : pattern_word((uint64_t)(uintptr_t)&base[i], seed);

		if (base[i] != want)
			return &base[i];
	}
	return NULL;
}

int main(int argc, char **argv)
{
	size_t size = (size_t)(argc > 1 ? atol(argv[1]) : 16) << 20;
	uint64_t seed = argc > 2 ? strtoull(argv[2], NULL, 0) : 1;
	struct timespec tick = { 0, 50 * 1000 * 1000 };
	uint64_t *base;

	sparse = argc > 3 && !strcmp(argv[3], "sparse");
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGUSR1, on_usr1);
	signal(SIGUSR2, on_usr2);
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		perror("memhog: mmap");
		return 1;
	}
	fill(base, size / 8, seed);
	printf("memhog: pid %d base %p size %zu seed %llu ready\n", getpid(), (void *)base, size,
	       (unsigned long long)seed);
	for (;;) {
		if (rewrite_req) {
			rewrite_req = 0;
			fill(base, size / 8, ++seed);
			printf("memhog: rewrote seed %llu\n", (unsigned long long)seed);
		}
		if (verify_req) {
			uint64_t *bad = check(base, size / 8, seed);

			verify_req = 0;
			if (bad)
				printf("memhog: verify BAD at %p\n", (void *)bad);
			else
				printf("memhog: verify ok\n");
		}
		nanosleep(&tick, NULL);
	}
}
