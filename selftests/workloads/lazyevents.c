// SPDX-License-Identifier: MIT
/*
 * A workload for lazy restore: everything a lazy-pages daemon must follow
 * happens while its pages are still missing.
 *   lazyevents MIB
 * Maps A (MIB MiB) and B, C, D, E (1 MiB each), writes the address pattern
 * into all of them (seeds 1..5), prints
 *   lazyevents: pid P ready
 * and idles. On the first SIGUSR1 it, in this order:
 *   - reads A from 4 threads at once, a quarter each (concurrent faults);
 *   - forks a child that checks A and B and exits 0 or 1 (faults in a fork);
 *   - moves B elsewhere with mremap and checks it there (its contents keep
 *     the pattern of their old addresses);
 *   - MADV_DONTNEEDs the upper half of C (must read zero from then on);
 *   - unmaps D and maps fresh memory in its place (zero);
 *   - unmaps the upper half of E (gone), keeps the lower half;
 * and prints "lazyevents: verify ok" or "lazyevents: verify BAD <what>".
 * Every later SIGUSR1 checks the state after those events again: nothing
 * the daemon fills afterwards may bring old data back.
 */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pattern.h"

#define MIB (1ul << 20)

static volatile sig_atomic_t verify_req;
static uint64_t *A, *B, *C, *D, *E, *B_old;
static size_t a_size;
static int events_done;

static void on_usr1(int sig)
{
	(void)sig;
	verify_req = 1;
}

static void fill(uint64_t *p, size_t bytes, uint64_t seed)
{
	for (size_t i = 0; i < bytes / 8; i++)
		p[i] = pattern_word((uint64_t)(uintptr_t)&p[i], seed);
}

/* @p holds the pattern of addresses starting at @as, or zero if @seed is 0. */
static int check(const uint64_t *p, const uint64_t *as, size_t bytes, uint64_t seed)
{
	for (size_t i = 0; i < bytes / 8; i++) {
		uint64_t want = seed ? pattern_word((uint64_t)(uintptr_t)&as[i], seed) : 0;

		if (p[i] != want)
			return 0;
	}
	return 1;
}

struct quarter {
	const uint64_t *p;
	size_t bytes;
	int ok;
};

static void *read_quarter(void *arg)
{
	struct quarter *q = arg;

	q->ok = check(q->p, q->p, q->bytes, 1);
	return NULL;
}

static const char *first_verify(void)
{
	struct quarter q[4];
	pthread_t th[4];
	pid_t child;
	int status;
	void *nb;

	for (int i = 0; i < 4; i++) {
		q[i] = (struct quarter){ .p = A + i * (a_size / 4 / 8), .bytes = a_size / 4 };
		if (pthread_create(&th[i], NULL, read_quarter, &q[i]))
			return "pthread_create";
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		if (!q[i].ok)
			return "A, read by 4 threads";
	}
	child = fork();
	if (child < 0)
		return "fork";
	if (child == 0)
		_exit(check(A, A, a_size, 1) && check(B, B, MIB, 2) ? 0 : 1);
	if (waitpid(child, &status, 0) != child || !WIFEXITED(status) || WEXITSTATUS(status))
		return "A or B in a forked child";
	/* Move B to a place of its own choosing, far from where it was. */
	nb = mmap(NULL, 4 * MIB, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (nb == MAP_FAILED)
		return "mmap (B's new place)";
	B_old = B;
	B = mremap(B, MIB, MIB, MREMAP_MAYMOVE | MREMAP_FIXED, (char *)nb + 2 * MIB);
	if (B == MAP_FAILED)
		return "mremap";
	munmap(nb, 2 * MIB);
	if (madvise((char *)C + MIB / 2, MIB / 2, MADV_DONTNEED))
		return "madvise";
	if (munmap(D, MIB) || mmap(D, MIB, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != D)
		return "munmap/mmap of D";
	if (munmap((char *)E + MIB / 2, MIB / 2))
		return "munmap of E's upper half";
	events_done = 1;
	return NULL;
}

static const char *verify(void)
{
	const char *why = events_done ? NULL : first_verify();

	if (why)
		return why;
	if (!check(A, A, a_size, 1))
		return "A";
	if (!check(B, B_old, MIB, 2))
		return "B after mremap";
	if (!check(C, C, MIB / 2, 3))
		return "C's lower half";
	if (!check(C + MIB / 16, C, MIB / 2, 0))
		return "C's upper half after MADV_DONTNEED (not zero)";
	if (!check(D, D, MIB, 0))
		return "D remapped (not zero)";
	if (!check(E, E, MIB / 2, 5))
		return "E's lower half";
	return NULL;
}

int main(int argc, char **argv)
{
	struct timespec tick = { 0, 20 * 1000 * 1000 };
	uint64_t **areas[] = { &B, &C, &D, &E };

	a_size = (size_t)(argc > 1 ? atol(argv[1]) : 16) * MIB;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGUSR1, on_usr1);
	A = mmap(NULL, a_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (A == MAP_FAILED) {
		perror("lazyevents: mmap");
		return 1;
	}
	fill(A, a_size, 1);
	for (int i = 0; i < 4; i++) {
		*areas[i] =
			mmap(NULL, MIB, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (*areas[i] == MAP_FAILED) {
			perror("lazyevents: mmap");
			return 1;
		}
		fill(*areas[i], MIB, (uint64_t)i + 2);
	}
	printf("lazyevents: pid %d ready\n", getpid());
	for (;;) {
		if (verify_req) {
			const char *bad;

			verify_req = 0;
			bad = verify();
			if (bad)
				printf("lazyevents: verify BAD %s\n", bad);
			else
				printf("lazyevents: verify ok\n");
		}
		nanosleep(&tick, NULL);
	}
}
