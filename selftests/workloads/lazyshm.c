// SPDX-License-Identifier: MIT
/*
 * A parent and a forked child sharing two large objects, for the lazy
 * restore of shared memory (selftests/test_lazy_shmem.c).
 *   lazyshm [MIB [MEMFD_MIB [sysv]]]
 * Before the fork the parent maps MIB MiB (default 64) MAP_SHARED|
 * MAP_ANONYMOUS (with "sysv": attaches an IPC_PRIVATE SysV segment of MIB
 * MiB instead, marked IPC_RMID at once, so it never outlives the tree;
 * selftests/test_lazy_sysv.c) and a memfd "ferry-lazyshm" of MEMFD_MIB MiB (default 8),
 * mapped shared and its fd closed (so only the mappings hold it). Every word
 * of each object is pattern_word(offset, seed), but every
 * PATTERN_HOLE_EVERY-th page, never touched (a hole, reads as zeros), and the
 * last page of each, which holds the control words. Prints "lazyshm: pid P
 * child C ready" and waits. The child dies when its parent is gone.
 *
 * On SIGUSR1 the parent checks every page of both objects, then writes a new
 * ping into the anonymous object and signals the child; the child checks
 * every page of both objects itself, sets its verdict in the anonymous
 * object, and answers the ping with ping + 1000 in the memfd. The parent
 * waits (10 s) for both and prints "lazyshm: verify ok" or "lazyshm: verify
 * BAD <what>". So each process reads all its pages after a restore, and a
 * page written by one is seen by the other, through each object.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <time.h>
#include <unistd.h>

#include "../pattern.h"

#define PG 4096ul
#define SEED_A 0xa11ceull
#define SEED_M 0x3e3fdull

struct ctl {
	volatile uint64_t ping, pong, child_ok, child_seen;
};

static uint8_t *obj_a, *obj_m;
static size_t len_a, len_m;

static struct ctl *ctl_of(uint8_t *base, size_t len)
{
	return (struct ctl *)(base + len - PG);
}

static void fill(uint8_t *base, size_t len, uint64_t seed)
{
	for (size_t off = 0; off + PG < len; off += PG) {
		uint64_t *w = (uint64_t *)(base + off);

		if ((off / PG) % PATTERN_HOLE_EVERY == PATTERN_HOLE_EVERY - 1)
			continue;
		for (size_t i = 0; i < PG / 8; i++)
			w[i] = pattern_word(off + i * 8, seed);
	}
}

/* 0, or the offset + 1 of the first word that is wrong. */
static size_t check(const uint8_t *base, size_t len, uint64_t seed)
{
	for (size_t off = 0; off + PG < len; off += PG) {
		const uint64_t *w = (const uint64_t *)(base + off);
		int hole = (off / PG) % PATTERN_HOLE_EVERY == PATTERN_HOLE_EVERY - 1;

		for (size_t i = 0; i < PG / 8; i++)
			if (w[i] != (hole ? 0 : pattern_word(off + i * 8, seed)))
				return off + i * 8 + 1;
	}
	return 0;
}

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int wait_sigusr1(pid_t parent)
{
	sigset_t set;
	struct timespec one = { 1, 0 };

	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	for (;;) {
		int s = sigtimedwait(&set, NULL, &one);

		if (s == SIGUSR1)
			return 0;
		if (parent && getppid() != parent)
			return -1;
	}
}

static void child_loop(pid_t parent)
{
	struct ctl *ca = ctl_of(obj_a, len_a), *cm = ctl_of(obj_m, len_m);

	while (!wait_sigusr1(parent)) {
		size_t bad_a = check(obj_a, len_a, SEED_A), bad_m = check(obj_m, len_m, SEED_M);
		uint64_t ping = ca->ping;

		if (bad_a || bad_m)
			fprintf(stderr, "lazyshm: child: anon word %zu, memfd word %zu wrong\n",
				bad_a ? bad_a - 1 : 0, bad_m ? bad_m - 1 : 0);
		ca->child_seen = ping;
		ca->child_ok = bad_a || bad_m ? 2 : 1;
		cm->pong = ping + 1000;
	}
	_exit(0);
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? strtoul(argv[1], NULL, 0) : 64;
	size_t mib_m = argc > 2 ? strtoul(argv[2], NULL, 0) : 8;
	struct ctl *ca, *cm;
	uint64_t ping = 0;
	sigset_t set;
	pid_t child, me = getpid();
	int fd;

	setvbuf(stdout, NULL, _IOLBF, 0);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &set, NULL);
	len_a = mib << 20;
	len_m = mib_m << 20;
	if (argc > 3 && !strcmp(argv[3], "sysv")) {
		int id = shmget(IPC_PRIVATE, len_a, IPC_CREAT | 0600);

		obj_a = id < 0 ? MAP_FAILED : shmat(id, NULL, 0);
		if (obj_a == (void *)-1)
			obj_a = MAP_FAILED;
		if (id >= 0)
			shmctl(id, IPC_RMID, NULL);
	} else {
		obj_a = mmap(NULL, len_a, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1,
			     0);
	}
	fd = memfd_create("ferry-lazyshm", MFD_CLOEXEC);
	if (obj_a == MAP_FAILED || fd < 0 || ftruncate(fd, (off_t)len_m)) {
		perror("lazyshm: setup");
		return 1;
	}
	obj_m = mmap(NULL, len_m, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (obj_m == MAP_FAILED) {
		perror("lazyshm: mmap memfd");
		return 1;
	}
	close(fd);
	fill(obj_a, len_a, SEED_A);
	fill(obj_m, len_m, SEED_M);
	ca = ctl_of(obj_a, len_a);
	cm = ctl_of(obj_m, len_m);
	child = fork();
	if (child < 0) {
		perror("lazyshm: fork");
		return 1;
	}
	if (child == 0)
		child_loop(me);
	printf("lazyshm: pid %d child %d ready\n", me, child);
	while (!wait_sigusr1(0)) {
		size_t bad_a = check(obj_a, len_a, SEED_A), bad_m = check(obj_m, len_m, SEED_M);
		uint64_t t0;

		if (bad_a || bad_m) {
			printf("lazyshm: verify BAD parent: anon word %zu, memfd word %zu\n",
			       bad_a ? bad_a - 1 : 0, bad_m ? bad_m - 1 : 0);
			continue;
		}
		ca->child_ok = 0;
		ca->ping = ++ping + ((uint64_t)me << 20);
		kill(child, SIGUSR1);
		t0 = now_ms();
		while ((!ca->child_ok || cm->pong != ca->ping + 1000) && now_ms() - t0 < 10000)
			usleep(1000);
		if (ca->child_ok == 1 && ca->child_seen == ca->ping && cm->pong == ca->ping + 1000)
			printf("lazyshm: verify ok\n");
		else
			printf("lazyshm: verify BAD child: verdict %llu, saw ping %llu of %llu, "
			       "pong %llu\n",
			       (unsigned long long)ca->child_ok, (unsigned long long)ca->child_seen,
			       (unsigned long long)ca->ping, (unsigned long long)cm->pong);
	}
	return 0;
}
