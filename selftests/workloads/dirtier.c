// SPDX-License-Identifier: MIT
/*
 * A process that dirties memory at a known rate, for `ferry dirtyrate`.
 *   dirtier --rate N --pages M [--duration S] [--churn]
 * Maps M anonymous private pages (no transparent huge pages), fills them,
 * prints "ready 0xADDR M" and then writes N pages per second: write number k
 * (k = 0, 1, ...) goes to page k % M at t0 + k/N s (CLOCK_MONOTONIC, t0 just
 * after "ready"), so with M >= N * interval every write in an interval is to a
 * distinct page. A write adds 1 to the 64-bit counter at offset 0 of its page,
 * so the counters of all pages sum to the number of writes.
 * Pacing is absolute: after a late wakeup (or a freeze) it catches up at once;
 * it sleeps until the next write is due, and above 10000 writes/s it sleeps
 * until a batch of them is due (a wakeup every 100 us at most), never spinning.
 * With --churn, every 100 ms it also maps, writes and unmaps 4 pages, moves a
 * 4-page mapping with mremap (MREMAP_MAYMOVE, growing it to 8 pages then
 * back), and drops 4 pages of a 16-page mapping with MADV_DONTNEED, so that
 * VMA changes happen while it runs; those writes are not counted.
 * With --log FILE, the CLOCK_MONOTONIC time (ns) of every write, read just
 * before the write, is kept in a mapping of its own and written to FILE at
 * the end as native 64-bit integers: write k's time is entry k. A test can so
 * count the writes between two instants without trusting the pacing.
 * On SIGTERM, or after S seconds with --duration (then exactly floor(S * N)
 * writes were made), it prints "churn ROUNDS" (with --churn) and
 * "done WRITES", and exits 0. Usage errors exit 2, others 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define PAGE 4096ul
#define PAGES_MAX (1ull << 32)
#define NS_PER_S 1000000000ull
#define RATE_MAX 10000000ull
#define BATCH_NS 100000ull /* at most one wakeup per 100 us at high rates */
#define CHURN_NS 100000000ull
#define LOG_MAX (1ull << 27) /* write times kept with --log: 1 GiB reserved, touched as used */

static volatile sig_atomic_t stop;

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void sleep_until(uint64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)(t / NS_PER_S), .tv_nsec = (long)(t % NS_PER_S) };

	/* EINTR (SIGTERM) returns early: the caller checks stop. */
	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
}

/* When write k is due, relative to t0: k / rate seconds. */
static uint64_t due_ns(uint64_t k, uint64_t rate)
{
	return (uint64_t)((unsigned __int128)k * NS_PER_S / rate);
}

struct churn {
	char *moving; /* 4 or 8 pages, moved by mremap */
	size_t moving_len;
	char *dropped; /* 16 pages, 4 of them dropped each round */
	unsigned long rounds;
};

static int churn_init(struct churn *c)
{
	c->moving_len = 4 * PAGE;
	c->moving = mmap(NULL, c->moving_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	c->dropped =
		mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (c->moving == MAP_FAILED || c->dropped == MAP_FAILED) {
		fprintf(stderr, "dirtier: churn mmap: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int churn_round(struct churn *c)
{
	size_t new_len = c->moving_len == 4 * PAGE ? 8 * PAGE : 4 * PAGE;
	char *p;
	size_t i;

	p = mmap(NULL, 4 * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		fprintf(stderr, "dirtier: churn mmap of 4 pages: %s\n", strerror(errno));
		return -1;
	}
	for (i = 0; i < 4; i++)
		p[i * PAGE] = (char)c->rounds;
	munmap(p, 4 * PAGE);

	p = mremap(c->moving, c->moving_len, new_len, MREMAP_MAYMOVE);
	if (p == MAP_FAILED) {
		fprintf(stderr, "dirtier: churn mremap of %p from %zu to %zu bytes: %s\n",
			(void *)c->moving, c->moving_len, new_len, strerror(errno));
		return -1;
	}
	c->moving = p;
	c->moving_len = new_len;
	for (i = 0; i < new_len / PAGE; i++)
		p[i * PAGE]++;

	for (i = 0; i < 16; i++)
		c->dropped[i * PAGE]++;
	if (madvise(c->dropped + 4 * PAGE, 4 * PAGE, MADV_DONTNEED)) {
		fprintf(stderr, "dirtier: churn MADV_DONTNEED at %p: %s\n",
			(void *)(c->dropped + 4 * PAGE), strerror(errno));
		return -1;
	}
	c->rounds++;
	return 0;
}

static int write_log(const char *path, const uint64_t *log, uint64_t n)
{
	size_t left = n * sizeof(*log), off = 0;
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ssize_t w;

	if (fd < 0) {
		fprintf(stderr, "dirtier: %s: %s\n", path, strerror(errno));
		return -1;
	}
	while (left) {
		w = write(fd, (const char *)log + off, left);
		if (w <= 0) {
			fprintf(stderr, "dirtier: writing %s at offset %zu: %s\n", path, off,
				w ? strerror(errno) : "short write");
			close(fd);
			return -1;
		}
		off += (size_t)w;
		left -= (size_t)w;
	}
	return close(fd);
}

static void usage(void)
{
	fprintf(stderr,
		"usage: dirtier --rate N --pages M [--duration S] [--churn] [--log FILE]\n"
		"  N pages/s (1..%llu), M pages (1..%llu), S seconds\n",
		RATE_MAX, PAGES_MAX);
}

/* The mapping: no THP (set before the pages exist), then populated and filled. */
static char *map_pages(uint64_t pages)
{
	size_t len = pages * PAGE;
	char *base;
	uint64_t i;

	base = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		fprintf(stderr, "dirtier: mmap of %llu pages: %s\n", (unsigned long long)pages,
			strerror(errno));
		return NULL;
	}
	if (madvise(base, len, MADV_NOHUGEPAGE))
		fprintf(stderr, "dirtier: madvise(MADV_NOHUGEPAGE) at %p: %s\n", (void *)base,
			strerror(errno));
	/* As MAP_POPULATE, but after the madvise so no huge page is made. */
	if (madvise(base, len, MADV_POPULATE_WRITE) && errno != EINVAL)
		fprintf(stderr, "dirtier: madvise(MADV_POPULATE_WRITE) at %p: %s\n", (void *)base,
			strerror(errno));
	for (i = 0; i < pages; i++) {
		memset(base + i * PAGE, (int)(i & 0xff) | 1, PAGE);
		*(volatile uint64_t *)(base + i * PAGE) = 0;
	}
	return base;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rate", required_argument, NULL, 'r' },
		{ "pages", required_argument, NULL, 'p' },
		{ "duration", required_argument, NULL, 'd' },
		{ "churn", no_argument, NULL, 'c' },
		{ "log", required_argument, NULL, 'l' },
		{ NULL, 0, NULL, 0 },
	};
	unsigned long long rate = 0, pages = 0;
	uint64_t k = 0, limit = UINT64_MAX, batch, t0, now, next_churn, wake;
	double duration = -1;
	struct sigaction sa;
	struct churn ch = { 0 };
	int c, churn = 0;
	char *base, *end;
	const char *log_path = NULL;
	uint64_t *log = NULL;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'r':
			rate = strtoull(optarg, &end, 10);
			if (*end || !rate || rate > RATE_MAX) {
				usage();
				return 2;
			}
			break;
		case 'p':
			pages = strtoull(optarg, &end, 10);
			if (*end || !pages || pages > PAGES_MAX) {
				usage();
				return 2;
			}
			break;
		case 'd':
			duration = strtod(optarg, &end);
			if (*end || !(duration >= 0) || duration > 1e6) {
				usage();
				return 2;
			}
			break;
		case 'c':
			churn = 1;
			break;
		case 'l':
			log_path = optarg;
			break;
		default:
			usage();
			return 2;
		}
	}
	if (!rate || !pages || optind != argc) {
		usage();
		return 2;
	}
	if (duration >= 0)
		limit = (uint64_t)(duration * (double)rate + 1e-9);

	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_term;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	/* Wake when asked to: the default 50 us slack is 10 writes at 200000/s. */
	prctl(PR_SET_TIMERSLACK, 1000ul, 0, 0, 0);

	base = map_pages(pages);
	if (!base || (churn && churn_init(&ch)))
		return 1;
	if (log_path) {
		log = mmap(NULL, LOG_MAX * sizeof(*log), PROT_READ | PROT_WRITE,
			   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
		if (log == MAP_FAILED) {
			fprintf(stderr, "dirtier: mmap of the write log: %s\n", strerror(errno));
			return 1;
		}
		if (limit > LOG_MAX)
			limit = LOG_MAX;
	}
	/* Writes due within one BATCH_NS are made in one wakeup. */
	batch = rate * BATCH_NS / NS_PER_S;
	if (!batch)
		batch = 1;

	printf("ready %p %llu\n", (void *)base, pages);
	fflush(stdout);
	t0 = now_ns();
	next_churn = t0 + CHURN_NS;
	while (!stop && k < limit) {
		now = now_ns();
		while (k < limit && t0 + due_ns(k, rate) <= now) {
			if (log)
				log[k] = now_ns();
			(*(volatile uint64_t *)(base + (k % pages) * PAGE))++;
			k++;
		}
		if (churn && now >= next_churn) {
			if (churn_round(&ch))
				return 1;
			next_churn += CHURN_NS;
			if (next_churn <= now)
				next_churn = now + CHURN_NS;
		}
		if (k >= limit) {
			/* --duration: the last write is made, the time is not over yet. */
			sleep_until(t0 + (uint64_t)(duration * 1e9));
			break;
		}
		/* Sleep until the last write of the next batch is due. */
		wake = t0 + due_ns(k + batch - 1 < limit ? k + batch - 1 : limit - 1, rate);
		if (churn && next_churn < wake)
			wake = next_churn;
		if (wake > now)
			sleep_until(wake);
	}
	if (churn)
		printf("churn %lu\n", ch.rounds);
	if (log && write_log(log_path, log, k))
		return 1;
	printf("done %llu\n", (unsigned long long)k);
	return 0;
}
