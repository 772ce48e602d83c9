// SPDX-License-Identifier: MIT
/*
 * Copy-on-write memory shared by a parent and its two forked children.
 *   cowshare [MIB]
 * The parent maps MIB (default 64) MiB of private anonymous memory between
 * two PROT_NONE pages (so the mapping's bounds stay its own), fills every
 * page, and forks child A and child B. A rewrites every 64th page and drops
 * 8 pages (MADV_DONTNEED); B changes nothing; then the parent rewrites every
 * 128th page (from page 1). So most pages stay shared by all three, and each
 * process has a view of its own. The parent prints
 *   "cowshare: parent P a A b B base 0xADDR pages N ready".
 * SIGUSR2 to A: A writes page 5 (shared until then) and says "cowshare: a wrote".
 * SIGUSR1 to the parent: each of the three checks its whole view (the parent
 * asks the children through a pipe) and the parent prints "cowshare: verify
 * ok", or "cowshare: verify BAD" after the failing process's "cowshare: X BAD
 * at page I" line. SIGTERM to the parent ends all three.
 */
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define PAGE 4096ul
#define WORDS (PAGE / sizeof(uint64_t))
#define TAG_BASE 0ull
#define TAG_A 0xaaaaaaaaaaaaaaaaull
#define TAG_P 0x5555555555555555ull
#define TAG_W 0x7777777777777777ull
#define DROP_FROM 1000ul
#define DROP_N 8ul
#define WROTE_PAGE 5ul

enum who { PARENT, CHILD_A, CHILD_B };

static volatile sig_atomic_t got_usr1, got_usr2, got_term;
static uint64_t *mem;
static size_t nr_pages;
static int a_wrote;

static void on_sig(int sig)
{
	if (sig == SIGUSR1)
		got_usr1 = 1;
	else if (sig == SIGUSR2)
		got_usr2 = 1;
	else
		got_term = 1;
}

static void fill(size_t page, uint64_t tag)
{
	uint64_t *p = mem + page * WORDS;

	for (size_t k = 0; k < WORDS; k++)
		p[k] = (page * 0x9e3779b97f4a7c15ull) ^ (k * 131) ^ tag;
}

static int in_a(size_t i)
{
	return i % 64 == 0;
}

static int in_p(size_t i)
{
	return i % 128 == 1;
}

static int dropped(size_t i)
{
	return i >= DROP_FROM && i < DROP_FROM + DROP_N;
}

/* What page @i holds in process @w's view; 0 with *zero set for a dropped page. */
static uint64_t tag_of(enum who w, size_t i, int *zero)
{
	*zero = 0;
	if (w == PARENT)
		return in_p(i) ? TAG_P : TAG_BASE;
	if (w == CHILD_B)
		return TAG_BASE;
	if (a_wrote && i == WROTE_PAGE)
		return TAG_W;
	if (in_a(i))
		return TAG_A;
	*zero = dropped(i);
	return TAG_BASE;
}

/* 0 if the view of @w is what it must be, else 1 (said). */
static int verify(enum who w)
{
	static const char *const name[] = { "parent", "a", "b" };

	for (size_t i = 0; i < nr_pages; i++) {
		const uint64_t *p = mem + i * WORDS;
		int zero;
		uint64_t tag = tag_of(w, i, &zero);

		for (size_t k = 0; k < WORDS; k++) {
			uint64_t want = zero ? 0 : (i * 0x9e3779b97f4a7c15ull) ^ (k * 131) ^ tag;

			if (p[k] != want) {
				printf("cowshare: %s BAD at page %zu word %zu: %#llx, not %#llx\n",
				       name[w], i, k, (unsigned long long)p[k],
				       (unsigned long long)want);
				return 1;
			}
		}
	}
	return 0;
}

/* A child: answers each request byte on @req with a verdict byte on @ans. */
static int child(enum who w, int req, int ans)
{
	for (;;) {
		struct pollfd pfd = { req, POLLIN, 0 };
		char c;

		if (got_usr2 && w == CHILD_A) {
			got_usr2 = 0;
			a_wrote = 1;
			fill(WROTE_PAGE, TAG_W);
			printf("cowshare: a wrote\n");
		}
		if (poll(&pfd, 1, 20) == 1 && read(req, &c, 1) == 1) {
			c = verify(w) ? 'B' : 'k';
			if (write(ans, &c, 1) != 1)
				return 1;
		}
	}
}

int main(int argc, char **argv)
{
	size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 64;
	struct timespec tick = { 0, 20 * 1000 * 1000 };
	int req_a[2], req_b[2], ans[2], done[2];
	struct sigaction sa;
	pid_t a, b;
	uint8_t *area;
	char c;

	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sig;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	nr_pages = (mib ? mib : 1) * 256;
	area = mmap(NULL, (nr_pages + 2) * PAGE, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (area == MAP_FAILED || mprotect(area, PAGE, PROT_NONE) ||
	    mprotect(area + (nr_pages + 1) * PAGE, PAGE, PROT_NONE)) {
		perror("cowshare: mmap");
		return 1;
	}
	mem = (uint64_t *)(area + PAGE);
	for (size_t i = 0; i < nr_pages; i++)
		fill(i, TAG_BASE);
	if (pipe(req_a) || pipe(req_b) || pipe(ans) || pipe(done))
		return 1;
	a = fork();
	if (a == 0) {
		for (size_t i = 0; i < nr_pages; i++)
			if (in_a(i))
				fill(i, TAG_A);
		if (DROP_FROM + DROP_N <= nr_pages)
			madvise(mem + DROP_FROM * WORDS, DROP_N * PAGE, MADV_DONTNEED);
		if (write(done[1], "a", 1) != 1)
			_exit(1);
		_exit(child(CHILD_A, req_a[0], ans[1]));
	}
	b = fork();
	if (b == 0) {
		if (write(done[1], "b", 1) != 1)
			_exit(1);
		_exit(child(CHILD_B, req_b[0], ans[1]));
	}
	if (a < 0 || b < 0 || read(done[0], &c, 1) != 1 || read(done[0], &c, 1) != 1) {
		printf("cowshare: fork failed\n");
		return 1;
	}
	for (size_t i = 0; i < nr_pages; i++)
		if (in_p(i))
			fill(i, TAG_P);
	printf("cowshare: parent %d a %d b %d base %#lx pages %zu ready\n", getpid(), a, b,
	       (unsigned long)(uintptr_t)mem, nr_pages);
	while (!got_term) {
		if (got_usr1) {
			char va = 0, vb = 0;
			int bad;

			got_usr1 = 0;
			bad = verify(PARENT);
			if (write(req_a[1], "v", 1) != 1 || read(ans[0], &va, 1) != 1 ||
			    write(req_b[1], "v", 1) != 1 || read(ans[0], &vb, 1) != 1)
				bad = 1;
			printf("cowshare: verify %s\n",
			       !bad && va == 'k' && vb == 'k' ? "ok" : "BAD");
		}
		nanosleep(&tick, NULL);
	}
	kill(a, SIGKILL);
	kill(b, SIGKILL);
	waitpid(a, NULL, 0);
	waitpid(b, NULL, 0);
	return 0;
}
