// SPDX-License-Identifier: MIT
/*
 * A process that uses only part of its memory: the working-set test of lazy
 * restore.
 *   wsreader MIB PERMILLE
 * Maps MIB MiB and writes the address pattern into every page, prints
 *   wsreader: pid P ready
 * and idles. On SIGUSR1 it reads a fixed, scattered subset of its pages
 * (about PERMILLE per thousand, picked by a hash of the page number, so the
 * same pages every time) in a fixed shuffled order, checks them, and prints
 * "wsreader: verify ok N pages" or "wsreader: verify BAD at 0xADDR".
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "pattern.h"

static volatile sig_atomic_t verify_req;

static void on_usr1(int sig)
{
	(void)sig;
	verify_req = 1;
}

static uint64_t mix(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdull;
	x ^= x >> 33;
	return x;
}

int main(int argc, char **argv)
{
	size_t size = (size_t)(argc > 1 ? atol(argv[1]) : 64) << 20;
	unsigned permille = argc > 2 ? (unsigned)atoi(argv[2]) : 100;
	struct timespec tick = { 0, 20 * 1000 * 1000 };
	size_t pages = size / 4096;
	uint64_t *base;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGUSR1, on_usr1);
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		perror("wsreader: mmap");
		return 1;
	}
	for (size_t i = 0; i < size / 8; i++)
		base[i] = pattern_word((uint64_t)(uintptr_t)&base[i], 7);
	printf("wsreader: pid %d ready\n", getpid());
	for (;;) {
		if (verify_req) {
			uint64_t *bad = NULL;
			size_t n = 0;

			verify_req = 0;
			/* Visit pages in a fixed pseudo-random order (a bijection mod pages). */
			for (size_t k = 0; k < pages && !bad; k++) {
				size_t pg = (k * 2654435761u + 12345) % pages;
				uint64_t *p = base + pg * 512;

				if (mix(pg) % 1000 >= permille)
					continue;
				n++;
				for (size_t w = 0; w < 512; w++)
					if (p[w] != pattern_word((uint64_t)(uintptr_t)&p[w], 7)) {
						bad = &p[w];
						break;
					}
			}
			if (bad)
				printf("wsreader: verify BAD at %p\n", (void *)bad);
			else
				printf("wsreader: verify ok %zu pages\n", n);
		}
		nanosleep(&tick, NULL);
	}
}
