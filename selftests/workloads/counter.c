// SPDX-License-Identifier: MIT
/*
 * Demo workload: a counter that prints one line every 200 ms, with a checksum
 * of a 4 MiB buffer it keeps rewriting, so that a restored copy visibly goes
 * on from where it was (same counter, same checksum chain).
 *   counter [LIMIT]   stops after LIMIT lines (default: never)
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define BUF_WORDS (4u << 20) / sizeof(uint64_t)

static uint64_t buf[BUF_WORDS];

int main(int argc, char **argv)
{
	long limit = argc > 1 ? atol(argv[1]) : -1;
	struct timespec tick = { 0, 200 * 1000 * 1000 };
	uint64_t sum = 0;
	long i;
	size_t j;

	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("counter: pid %d ready\n", getpid());
	for (i = 0; limit < 0 || i < limit; i++) {
		for (j = (size_t)i % 64; j < BUF_WORDS; j += 64)
			buf[j] = buf[j] * 6364136223846793005ULL + (uint64_t)i + j;
		/* stride 61 is odd, so every residue mod 64 (every word class) counts */
		for (j = 0; j < BUF_WORDS; j += 61)
			sum = (sum ^ buf[j]) * 1099511628211ULL;
		printf("counter: %ld checksum %016llx\n", i, (unsigned long long)sum);
		nanosleep(&tick, NULL);
	}
	return 0;
}
