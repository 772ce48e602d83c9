// SPDX-License-Identifier: MIT
/*
 * A parent and a forked child sharing memory of every kind ferry keeps.
 *   shmem [anon|all]
 * Maps, before the fork (so both processes map the same objects):
 *  - A: 16 pages MAP_SHARED|MAP_ANONYMOUS, pattern in pages 0, 3 and 9, the
 *    rest never touched (holes);
 *  - Z: 8 pages of /dev/zero mapped MAP_SHARED (the fd closed), pattern in
 *    pages 1 and 2;
 *  - with "all", M: a memfd "ferry-shm" of 3 pages + 100 bytes with
 *    MFD_ALLOW_SEALING, pattern written through write(2), mapped shared
 *    (first 4 pages) and held as an fd too, sealed F_SEAL_SHRINK |
 *    F_SEAL_GROW | F_SEAL_SEAL.
 * Prints "shmem: pid P child C memfd FD ready" and idles; the child dies
 * when its parent is gone. On SIGUSR1 the parent checks its regions (the
 * pattern, the holes, the memfd's name, size and seals through its fd),
 * writes a new ping value into a word of each region and signals the child;
 * the child checks the same, answers each ping with ping + 1000 in the same
 * region and sets its verdict word; the parent waits (5 s) for every
 * answer. So each process sees the other's write after a restore. Prints
 * "shmem: verify ok" or "shmem: verify BAD <what>" per failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../pattern.h"

#define PG 4096ul
#define A_PAGES 16
#define Z_PAGES 8
#define M_SIZE (3 * PG + 100)
#define M_MAP (4 * PG)
#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)
#define SEED 0x5eedull

/* The control words: in the last page of A and Z, at byte 3 * PG of M. */
struct ctl {
	volatile uint64_t ping, pong, child_ok;
};

struct region {
	const char *name;
	uint8_t *base;
	size_t len;
	const int *pages; /* pages with the pattern, -1 ends */
	struct ctl *ctl;
};

static const int a_pages[] = { 0, 3, 9, -1 }, z_pages[] = { 1, 2, -1 }, m_pages[] = { 0, 2, -1 };
static struct region regs[3];
static int nregs, memfd = -1;
static volatile sig_atomic_t usr1;
static pid_t parent;
static int bad;

static void on_usr1(int sig)
{
	(void)sig;
	usr1 = 1;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	printf("shmem: verify BAD (pid %d) ", getpid());
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	bad = 1;
}

/* The pattern of a page depends on its offset in the region, not on its address. */
static void fill(uint8_t *p, const char *name, int page)
{
	uint64_t *w = (uint64_t *)p;

	for (size_t i = 0; i < PG / 8; i++)
		w[i] = pattern_word((uint64_t)page * PG + i * 8, SEED ^ (uint64_t)name[0]);
}

static int has_pattern(const uint8_t *p, const char *name, int page)
{
	const uint64_t *w = (const uint64_t *)p;

	for (size_t i = 0; i < PG / 8; i++)
		if (w[i] != pattern_word((uint64_t)page * PG + i * 8, SEED ^ (uint64_t)name[0]))
			return 0;
	return 1;
}

static int is_listed(const int *pages, int pg)
{
	for (; *pages >= 0; pages++)
		if (*pages == pg)
			return 1;
	return 0;
}

static void check_region(const struct region *r)
{
	size_t n = r->len / PG;

	for (size_t pg = 0; pg < n; pg++) {
		const uint8_t *p = r->base + pg * PG;

		if ((const void *)p == (const void *)((uintptr_t)r->ctl & ~(PG - 1)))
			continue; /* the control page changes */
		if (is_listed(r->pages, (int)pg)) {
			if (!has_pattern(p, r->name, (int)pg))
				fail("%s page %zu lost its pattern", r->name, pg);
			continue;
		}
		for (size_t i = 0; i < PG; i++)
			if (p[i]) {
				fail("%s page %zu byte %zu is %#x, want 0", r->name, pg, i, p[i]);
				break;
			}
	}
}

static void check_memfd(void)
{
	char link[64], target[256];
	struct stat st;
	ssize_t n;
	int seals;

	if (memfd < 0)
		return;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", memfd);
	n = readlink(link, target, sizeof(target) - 1);
	target[n > 0 ? n : 0] = '\0';
	if (strcmp(target, "/memfd:ferry-shm (deleted)"))
		fail("memfd fd %d is %s", memfd, target);
	if (fstat(memfd, &st) || st.st_size != (off_t)M_SIZE)
		fail("memfd size %lld, want %lu", (long long)st.st_size, M_SIZE);
	seals = fcntl(memfd, F_GET_SEALS);
	if (seals != SEALS)
		fail("memfd seals %#x, want %#x", seals, SEALS);
	if (ftruncate(memfd, M_SIZE + PG) == 0 || errno != EPERM)
		fail("memfd grew: F_SEAL_GROW not enforced");
}

static void map_all(int all)
{
	int fd;

	regs[0] = (struct region){ "A", NULL, A_PAGES * PG, a_pages, NULL };
	regs[0].base =
		mmap(NULL, regs[0].len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	fd = open("/dev/zero", O_RDWR | O_CLOEXEC);
	regs[1] = (struct region){ "Z", NULL, Z_PAGES * PG, z_pages, NULL };
	regs[1].base = mmap(NULL, regs[1].len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (regs[0].base == MAP_FAILED || regs[1].base == MAP_FAILED) {
		printf("shmem: cannot map: %s\n", strerror(errno));
		exit(1);
	}
	nregs = 2;
	for (int i = 0; i < 2; i++) {
		regs[i].ctl = (struct ctl *)(regs[i].base + regs[i].len - PG);
		for (const int *p = regs[i].pages; *p >= 0; p++)
			fill(regs[i].base + (size_t)*p * PG, regs[i].name, *p);
	}
	if (!all)
		return;
	memfd = memfd_create("ferry-shm", MFD_ALLOW_SEALING);
	if (memfd < 0 || ftruncate(memfd, M_SIZE)) {
		printf("shmem: memfd: %s\n", strerror(errno));
		exit(1);
	}
	for (const int *p = m_pages; *p >= 0; p++) {
		uint8_t page[PG];

		fill(page, "M", *p);
		if (pwrite(memfd, page, PG, (off_t)*p * PG) != (ssize_t)PG) {
			printf("shmem: memfd write: %s\n", strerror(errno));
			exit(1);
		}
	}
	regs[2] = (struct region){ "M", NULL, M_MAP, m_pages, NULL };
	regs[2].base = mmap(NULL, M_MAP, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (regs[2].base == MAP_FAILED || fcntl(memfd, F_ADD_SEALS, SEALS)) {
		printf("shmem: memfd map or seal: %s\n", strerror(errno));
		exit(1);
	}
	regs[2].ctl = (struct ctl *)(regs[2].base + 3 * PG);
	nregs = 3;
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static void child_loop(void)
{
	uint64_t seen[3] = { 0 };

	for (;;) {
		if (getppid() != parent)
			_exit(0);
		sleep_ms(20);
		if (!usr1)
			continue;
		usr1 = 0;
		bad = 0;
		for (int i = 0; i < nregs; i++)
			check_region(&regs[i]);
		check_memfd();
		for (int i = 0; i < nregs; i++) {
			uint64_t ping = regs[i].ctl->ping;

			if (!ping || ping == seen[i])
				fail("%s: no new ping from the parent (%llu)", regs[i].name,
				     (unsigned long long)ping);
			seen[i] = ping;
			regs[i].ctl->child_ok = bad ? 2 : 1;
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			regs[i].ctl->pong = ping + 1000;
		}
	}
}

static void parent_verify(uint64_t round)
{
	bad = 0;
	for (int i = 0; i < nregs; i++)
		check_region(&regs[i]);
	check_memfd();
	for (int i = 0; i < nregs; i++) {
		regs[i].ctl->child_ok = 0;
		regs[i].ctl->ping = round;
	}
}

int main(int argc, char **argv)
{
	int all = argc > 1 && !strcmp(argv[1], "all");
	uint64_t round = 0;
	pid_t child;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGUSR1, on_usr1);
	map_all(all);
	parent = getpid();
	child = fork();
	if (child < 0) {
		printf("shmem: fork: %s\n", strerror(errno));
		return 1;
	}
	if (!child)
		child_loop();
	printf("shmem: pid %d child %d memfd %d ready\n", parent, child, memfd);
	for (;;) {
		int done = 0;

		pause();
		if (!usr1)
			continue;
		usr1 = 0;
		round++;
		parent_verify(round);
		kill(child, SIGUSR1);
		for (int t = 0; t < 250 && !done; t++) {
			sleep_ms(20);
			done = 1;
			for (int i = 0; i < nregs; i++)
				done &= regs[i].ctl->pong == round + 1000;
		}
		for (int i = 0; i < nregs; i++) {
			if (regs[i].ctl->pong != round + 1000)
				fail("%s: the child's answer is %llu, want %llu", regs[i].name,
				     (unsigned long long)regs[i].ctl->pong,
				     (unsigned long long)round + 1000);
			else if (regs[i].ctl->child_ok != 1)
				fail("%s: the child saw a bad region (%llu)", regs[i].name,
				     (unsigned long long)regs[i].ctl->child_ok);
		}
		if (!bad)
			printf("shmem: verify ok\n");
	}
}
