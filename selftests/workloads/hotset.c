// SPDX-License-Identifier: MIT
/*
 * A process with a small hot set in a large memory: the working-set test of
 * post-copy migration.
 *   hotset MIB HOT PERIOD_MS
 * Maps MIB MiB and writes the address pattern into every page; HOT pages
 * scattered over the mapping (page i * (pages / HOT) + a hashed offset) are
 * its hot set: every PERIOD_MS it writes a new generation number into the
 * first word of each. Prints "hotset: pid P ready" once every page is
 * written. On SIGUSR1 it first reads its hot set (one word of each page,
 * timed with CLOCK_MONOTONIC: what a program waits for after it resumes
 * elsewhere before its pages are in), then checks the whole mapping, and
 * prints "hotset: hot set read in N us, verify ok" or "hotset: verify BAD at
 * 0xADDR".
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "pattern.h"

#define PAGE 4096u

static volatile sig_atomic_t verify_req;

static void on_usr1(int sig)
{
	(void)sig;
	verify_req = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 10) : 64;
	size_t hot = argc > 2 ? strtoul(argv[2], NULL, 10) : 256;
	long period_ms = argc > 3 ? atol(argv[3]) : 100;
	size_t size = mib << 20, pages = size / PAGE, words = PAGE / 8, stride;
	struct timespec tick = { 0, 1000 * 1000 };
	uint64_t gen = 0, last = 0, *base;
	size_t *hp;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGUSR1, on_usr1);
	if (!pages || !hot || hot > pages)
		return 2;
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	hp = calloc(hot, sizeof(*hp));
	if (base == MAP_FAILED || !hp) {
		perror("hotset: mmap");
		return 1;
	}
	stride = pages / hot;
	for (size_t i = 0; i < hot; i++)
		hp[i] = i * stride + (size_t)(((i * 2654435761u) >> 7) % stride);
	for (size_t i = 0; i < size / 8; i++)
		base[i] = pattern_word((uint64_t)(uintptr_t)&base[i], 1);
	printf("hotset: pid %d ready\n", getpid());
	for (;;) {
		if (verify_req) {
			uint64_t t0 = now_ns(), sum = 0, *bad = NULL;

			verify_req = 0;
			for (size_t i = 0; i < hot; i++)
				sum += base[hp[i] * words + 1];
			t0 = now_ns() - t0;
			for (size_t i = 0; i < size / 8 && !bad; i++) {
				int first = i % words == 0;
				size_t pg = i / words, k;
				uint64_t want = pattern_word((uint64_t)(uintptr_t)&base[i], 1);

				if (first) {
					for (k = 0; k < hot && hp[k] != pg; k++)
						;
					if (k < hot)
						want = gen;
				}
				if (base[i] != want)
					bad = &base[i];
			}
			if (bad)
				printf("hotset: verify BAD at %p\n", (void *)bad);
			else
				printf("hotset: hot set read in %llu us, verify ok (%llu)\n",
				       (unsigned long long)(t0 / 1000),
				       (unsigned long long)(sum & 1));
		}
		if (now_ns() - last >= (uint64_t)period_ms * 1000000ull) {
			last = now_ns();
			gen++;
			for (size_t i = 0; i < hot; i++)
				base[hp[i] * words] = gen;
		}
		nanosleep(&tick, NULL);
	}
}
