// SPDX-License-Identifier: MIT
/*
 * A process with many of everything a dump walks one by one: VMAs, threads
 * and file descriptors.
 *   crowd VMAS THREADS FDS
 * VMAS one-page anonymous mappings, each followed by a read-only page of the
 * same mapping so that none merges with the next (2 * VMAS VMAs), every
 * writable page holding its pattern; THREADS threads blocked in pause(2);
 * FDS descriptors: separate opens of /dev/null, every fourth one dup'ed
 * above them. Prints "crowd: pid P ready" once all exist. On SIGUSR1 it
 * checks every page, that its fds still are what they were (a dup is the
 * same description: F_SETFL on one shows on the other) and counts its
 * threads, then prints "crowd: verify ok" or "crowd: verify BAD <what>".
 * The threads block SIGUSR1 (their masks must survive a restore for it to
 * reach the main thread).
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "pattern.h"

#define PAGE 4096ul
#define FD_BASE 100
#define SEED 0xc40dull

static volatile sig_atomic_t verify_req;
static uint8_t *area;
static long nr_vmas, nr_threads, nr_fds;

static void on_usr1(int sig)
{
	(void)sig;
	verify_req = 1;
}

static void *idle(void *arg)
{
	for (;;)
		pause();
	return arg;
}

static long count_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *de;
	long n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (de->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static int dup_of(long i)
{
	return (int)(FD_BASE + nr_fds + i / 4);
}

static void verify(void)
{
	char what[128] = "";

	for (long i = 0; i < nr_vmas && !what[0]; i++) {
		uint64_t *w = (uint64_t *)(area + i * 2 * PAGE);

		for (size_t k = 0; k < PAGE / 8; k++)
			if (w[k] != pattern_word((uint64_t)(uintptr_t)&w[k], SEED)) {
				snprintf(what, sizeof(what), "page %ld", i);
				break;
			}
	}
	for (long i = 0; i < nr_fds && !what[0]; i++) {
		int fd = (int)(FD_BASE + i), fl = fcntl(fd, F_GETFL);

		if (fl < 0 || (fl & O_ACCMODE) != O_RDONLY) {
			snprintf(what, sizeof(what), "fd %d", fd);
			break;
		}
		if (i % 4)
			continue;
		/* A dup shares the description's flags; a separate open does not. */
		if (fcntl(fd, F_SETFL, fl | O_NONBLOCK) ||
		    !(fcntl(dup_of(i), F_GETFL) & O_NONBLOCK) ||
		    (i + 1 < nr_fds && (fcntl(fd + 1, F_GETFL) & O_NONBLOCK)))
			snprintf(what, sizeof(what), "fd %d and its dup %d", fd, dup_of(i));
		fcntl(fd, F_SETFL, fl);
	}
	if (!what[0] && count_threads() != nr_threads + 1)
		snprintf(what, sizeof(what), "%ld threads", count_threads());
	if (what[0])
		printf("crowd: verify BAD %s\n", what);
	else
		printf("crowd: verify ok\n");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct rlimit rl;
	sigset_t usr1;
	pthread_t t;

	if (argc != 4) {
		fprintf(stderr, "usage: crowd VMAS THREADS FDS\n");
		return 2;
	}
	nr_vmas = atol(argv[1]);
	nr_threads = atol(argv[2]);
	nr_fds = atol(argv[3]);
	if (nr_vmas < 1 || nr_threads < 0 || nr_fds < 0) {
		fprintf(stderr, "crowd: bad counts\n");
		return 2;
	}
	if (!getrlimit(RLIMIT_NOFILE, &rl) && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	area = mmap(NULL, (size_t)nr_vmas * 2 * PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED) {
		perror("crowd: mmap");
		return 1;
	}
	for (long i = 0; i < nr_vmas; i++) {
		uint64_t *w = (uint64_t *)(area + i * 2 * PAGE);

		for (size_t k = 0; k < PAGE / 8; k++)
			w[k] = pattern_word((uint64_t)(uintptr_t)&w[k], SEED);
		if (mprotect(area + (i * 2 + 1) * PAGE, PAGE, PROT_READ)) {
			perror("crowd: mprotect");
			return 1;
		}
	}
	for (long i = 0; i < nr_fds; i++) {
		int fd = open("/dev/null", O_RDONLY);

		if (fd < 0 || dup2(fd, (int)(FD_BASE + i)) < 0 ||
		    (i % 4 == 0 && dup2(fd, dup_of(i)) < 0)) {
			perror("crowd: open /dev/null");
			return 1;
		}
		close(fd);
	}
	/* The threads block SIGUSR1, so that it wakes the main thread's pause(). */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1, NULL);
	for (long i = 0; i < nr_threads; i++)
		if (pthread_create(&t, NULL, idle, NULL)) {
			fprintf(stderr, "crowd: cannot start thread %ld\n", i);
			return 1;
		}
	signal(SIGUSR1, on_usr1);
	pthread_sigmask(SIG_UNBLOCK, &usr1, NULL);
	printf("crowd: pid %d ready\n", getpid());
	fflush(stdout);
	for (;;) {
		pause();
		if (verify_req) {
			verify_req = 0;
			verify();
		}
	}
}
