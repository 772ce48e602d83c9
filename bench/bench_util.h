/* SPDX-License-Identifier: MIT */
/*
 * What the end-to-end benchmarks share: where the build is, a monotonic
 * clock in seconds, the median of a few rounds, the sizes to run, and
 * SIGINT/SIGTERM/SIGHUP held so a run ends cleanly between two steps.
 */
#ifndef FERRY_BENCH_UTIL_H
#define FERRY_BENCH_UTIL_H

#include <signal.h>
#include <stdlib.h>
#include <time.h>

static inline const char *build_dir(void)
{
	const char *b = getenv("FERRY_BUILD");

	return b ? b : "build";
}

static inline double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static inline double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_dbl);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Run @one for each size in MiB given on the command line, or for 256 and 1024. */
static inline int bench_sizes(int argc, char **argv, int (*one)(unsigned long mib))
{
	static const unsigned long def[] = { 256, 1024 };
	int err = 0;

	if (argc > 1) {
		for (int i = 1; i < argc && !err; i++)
			err = one(strtoul(argv[i], NULL, 10));
	} else {
		for (size_t i = 0; i < sizeof(def) / sizeof(def[0]) && !err; i++)
			err = one(def[i]);
	}
	return err ? 1 : 0;
}

/* bench_hold_signals - block SIGINT, SIGTERM and SIGHUP; *@held gets that set. */
static inline void bench_hold_signals(sigset_t *held)
{
	sigemptyset(held);
	sigaddset(held, SIGINT);
	sigaddset(held, SIGTERM);
	sigaddset(held, SIGHUP);
	sigprocmask(SIG_BLOCK, held, NULL);
}

/* bench_held_pending - a signal of @held that is pending, or 0. */
static inline int bench_held_pending(const sigset_t *held)
{
	sigset_t pend;

	if (sigpending(&pend))
		return 0;
	for (int s = 1; s < NSIG; s++)
		if (sigismember(held, s) == 1 && sigismember(&pend, s) == 1)
			return s;
	return 0;
}

#endif
