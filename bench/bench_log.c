// SPDX-License-Identifier: MIT
/*
 * Cost per log message: binary records (--binlog) vs formatted text, measured
 * side by side in one run, alternating, so that machine noise hits both.
 * Prints medians over the rounds and their ratio.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "bench: "
#include "log.h"

#define ROUNDS 9

static double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp_dbl(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* One round: n messages of a typical shape; returns ns per message. */
static double round_ns(const char *path, int binary, long n, off_t *bytes)
{
	const char *file = "/proc/1234/map_files/7f0000000000-7f0000100000";
	struct stat st;
	double t0, t1;
	long i;

	if (log_init(path, LOG_INFO, binary)) {
		perror(path);
		exit(1);
	}
	t0 = now_ns();
	for (i = 0; i < n; i++)
		pr_info("pid %d: dumped %zu pages of %s at %#lx in %.3f ms", 4242, (size_t)i, file,
			0x7f0000000000UL + (unsigned long)i * 4096, 0.125 * (double)i);
	t1 = now_ns();
	log_fini();
	if (stat(path, &st) == 0)
		*bytes = st.st_size;
	unlink(path);
	return (t1 - t0) / (double)n;
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	const char *dir = argc > 2 ? argv[2] : "/tmp";
	double text[ROUNDS], bin[ROUNDS];
	off_t tbytes = 0, bbytes = 0;
	char path[512];
	int r;

	snprintf(path, sizeof(path), "%s/ferry-bench-log.%d", dir, getpid());
	for (r = 0; r < ROUNDS; r++) {
		text[r] = round_ns(path, 0, n, &tbytes);
		bin[r] = round_ns(path, 1, n, &bbytes);
	}
	qsort(text, ROUNDS, sizeof(double), cmp_dbl);
	qsort(bin, ROUNDS, sizeof(double), cmp_dbl);
	printf("log: %ld messages x %d rounds, 5 arguments (int, size_t, string, hex, double)\n", n,
	       ROUNDS);
	printf("log: text   median %7.1f ns/msg  (min %7.1f, max %7.1f)  %5.1f bytes/msg\n",
	       text[ROUNDS / 2], text[0], text[ROUNDS - 1], (double)tbytes / (double)n);
	printf("log: binary median %7.1f ns/msg  (min %7.1f, max %7.1f)  %5.1f bytes/msg\n",
	       bin[ROUNDS / 2], bin[0], bin[ROUNDS - 1], (double)bbytes / (double)n);
	printf("log: binary/text time ratio %.2f\n", bin[ROUNDS / 2] / text[ROUNDS / 2]);
	return 0;
}
