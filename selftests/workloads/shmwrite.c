// SPDX-License-Identifier: MIT
/*
 * Shared memory written in every way a dirty tracker of one mapping misses.
 *   shmwrite [PAGES]
 * The parent maps PAGES (default 64) pages of MAP_SHARED|MAP_ANONYMOUS memory
 * (A) and a memfd "ferry-shmwrite" of PAGES pages twice (M1 and M2, two
 * VMAs of one object), then forks; the child inherits A. At start every page
 * of both objects holds generation 0. Prints "shmwrite: pid P child C ready".
 *
 * SIGUSR1 is a step: generation G + 1 is written into the pages i with
 * i % 4 == G % 4 (after the increment): in A by the child, through its own
 * mapping (asked over a pipe); in the memfd by the parent, with pwrite(2) on
 * its fd for i % 8 < 4 and through M2 for the others. Prints "shmwrite:
 * step G done".
 *
 * SIGUSR2 is a check: every page of A (as the parent's and the child's
 * mappings show it), of M1 and of the memfd's fd (pread) must hold the
 * generation that last wrote it; prints "shmwrite: verify ok G" or
 * "shmwrite: verify BAD <what>". The generation is in the parent's private
 * memory, so a restored tree checks the contents of the last dump.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <unistd.h>

#define PG 4096ul

static volatile sig_atomic_t step_req, check_req;
static unsigned long pages = 64;
static uint64_t gen;

static void on_sig(int sig)
{
	if (sig == SIGUSR1)
		step_req = 1;
	else
		check_req = 1;
}

/* The generation page @i of an object holds at generation @g. */
static uint64_t last_gen(uint64_t g, unsigned long i)
{
	while (g && g % 4 != i % 4)
		g--;
	return g;
}

/* Page @i of object @obj at generation @g: words of (obj, i, g, k). */
static void fill(uint8_t *p, int obj, unsigned long i, uint64_t g)
{
	uint64_t *w = (uint64_t *)p;

	for (size_t k = 0; k < PG / 8; k++)
		w[k] = ((uint64_t)obj << 56) ^ ((uint64_t)i << 32) ^ (g << 16) ^ k;
}

static int page_ok(const uint8_t *p, int obj, unsigned long i, uint64_t g)
{
	uint8_t want[PG];

	fill(want, obj, i, last_gen(g, i));
	return !memcmp(p, want, PG);
}

static int full_write(int fd, const void *buf, size_t len)
{
	const uint8_t *b = buf;

	while (len) {
		ssize_t n = write(fd, b, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

static int full_read(int fd, void *buf, size_t len)
{
	uint8_t *b = buf;

	while (len) {
		ssize_t n = read(fd, b, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

/* The child: commands from the parent, 'w' + generation (write) or 'c' + generation (check). */
static void child_loop(uint8_t *a, int in, int out)
{
	for (;;) {
		char cmd;
		uint64_t g;
		char verdict = 'y';

		if (full_read(in, &cmd, 1) || full_read(in, &g, sizeof(g)))
			_exit(0);
		for (unsigned long i = 0; i < pages; i++) {
			if (cmd == 'w' && i % 4 == g % 4)
				fill(a + i * PG, 'A', i, g);
			else if (cmd == 'c' && !page_ok(a + i * PG, 'A', i, g))
				verdict = 'n';
		}
		if (full_write(out, &verdict, 1))
			_exit(1);
	}
}

static char ask_child(int to, int from, char cmd, uint64_t g)
{
	char v = 0;

	if (full_write(to, &cmd, 1) || full_write(to, &g, sizeof(g)) || full_read(from, &v, 1))
		return 0;
	return v;
}

static void step(uint8_t *m2, int mfd, int to, int from)
{
	uint8_t buf[PG];

	gen++;
	for (unsigned long i = 0; i < pages; i++) {
		if (i % 4 != gen % 4)
			continue;
		if (i % 8 < 4) {
			fill(buf, 'M', i, gen);
			if (pwrite(mfd, buf, PG, (off_t)(i * PG)) != (ssize_t)PG)
				printf("shmwrite: pwrite of page %lu failed: %s\n", i,
				       strerror(errno));
		} else {
			fill(m2 + i * PG, 'M', i, gen);
		}
	}
	if (ask_child(to, from, 'w', gen) != 'y')
		printf("shmwrite: the child did not write generation %llu\n",
		       (unsigned long long)gen);
	printf("shmwrite: step %llu done\n", (unsigned long long)gen);
}

static void check(const uint8_t *a, const uint8_t *m1, int mfd, int to, int from)
{
	uint8_t buf[PG];
	int bad = 0;

	for (unsigned long i = 0; i < pages; i++) {
		if (!page_ok(a + i * PG, 'A', i, gen)) {
			printf("shmwrite: verify BAD A page %lu in the parent\n", i);
			bad = 1;
		}
		if (!page_ok(m1 + i * PG, 'M', i, gen)) {
			printf("shmwrite: verify BAD memfd page %lu through the mapping\n", i);
			bad = 1;
		}
		if (pread(mfd, buf, PG, (off_t)(i * PG)) != (ssize_t)PG ||
		    !page_ok(buf, 'M', i, gen)) {
			printf("shmwrite: verify BAD memfd page %lu through the fd\n", i);
			bad = 1;
		}
	}
	if (ask_child(to, from, 'c', gen) != 'y') {
		printf("shmwrite: verify BAD A in the child\n");
		bad = 1;
	}
	if (!bad)
		printf("shmwrite: verify ok %llu\n", (unsigned long long)gen);
}

int main(int argc, char **argv)
{
	int down[2], up[2], mfd;
	uint8_t *a, *m1, *m2;
	pid_t child;

	if (argc > 1)
		pages = strtoul(argv[1], NULL, 0);
	if (!pages || pages > (1ul << 20))
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	a = mmap(NULL, pages * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	mfd = memfd_create("ferry-shmwrite", MFD_CLOEXEC);
	if (a == MAP_FAILED || mfd < 0 || ftruncate(mfd, (off_t)(pages * PG)))
		return 1;
	m1 = mmap(NULL, pages * PG, PROT_READ, MAP_SHARED, mfd, 0);
	m2 = mmap(NULL, pages * PG, PROT_READ | PROT_WRITE, MAP_SHARED, mfd, 0);
	if (m1 == MAP_FAILED || m2 == MAP_FAILED || pipe(down) || pipe(up))
		return 1;
	for (unsigned long i = 0; i < pages; i++) {
		fill(a + i * PG, 'A', i, 0);
		fill(m2 + i * PG, 'M', i, 0);
	}
	child = fork();
	if (child < 0)
		return 1;
	if (!child) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(down[1]);
		close(up[0]);
		child_loop(a, down[0], up[1]);
	}
	close(down[0]);
	close(up[1]);
	signal(SIGUSR1, on_sig);
	signal(SIGUSR2, on_sig);
	printf("shmwrite: pid %d child %d ready\n", getpid(), child);
	for (;;) {
		/* Polled: a signal taken just before a pause() would be lost. */
		usleep(5000);
		if (step_req) {
			step_req = 0;
			step(m2, mfd, down[1], up[0]);
		}
		if (check_req) {
			check_req = 0;
			check(a, m1, mfd, down[1], up[0]);
		}
	}
}
