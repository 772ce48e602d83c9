// SPDX-License-Identifier: MIT
/*
 * The frozen time of `dump --leave-running` and of a pre-dump round (issue
 * 21), side by side in one run. For each size (default 64 and 1024 MiB) a
 * memhog holds SIZE MiB of patterned memory and, in ABBA rounds:
 *   new  `ferry dump --leave-running` (background snapshot, bgsnap.h)
 *   old  `ferry dump --leave-running --frozen-copy` (memory copied frozen)
 *   criu `criu dump --leave-running` when CRIU=/path/to/criu is set
 * Wall time of the command and frozen time from its stats-dump (ferry's and
 * CRIU's have the same format); medians and ratios. Then a first pre-dump
 * round (tracking armed, every page copied) and its frozen time.
 * Then the bgwriter workload (SIZE MiB, 1000 pages/s) through background and
 * frozen snapshots: the latency of its writes during each dump (p50/p99/max,
 * measured by the workload itself), and a restore of the last background
 * snapshot, which the restored workload verifies (its memory at the freeze).
 *   bench_bgsnap [SIZES_MIB...]
 * Images in /var/tmp (FERRY_BENCH_DIR overrides). Needs FERRY_BUILD and root.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"

#define LOG_PREFIX "bench: "
#include "img.h"
#include "log.h"
#include "stats.pb-c.h"

#define ROUNDS 6 /* per variant, ABBA */

enum { NEW, OLD, CRIU, NR_VAR };
static const char *const var_name[NR_VAR] = { "ferry (background)", "ferry --frozen-copy", "CRIU" };

static const char *img_root(void)
{
	const char *d = getenv("FERRY_BENCH_DIR");

	return d ? d : "/var/tmp";
}

static void rm_rf(const char *dir)
{
	char cmd[4300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "bench_bgsnap: cannot remove %s\n", dir);
}

/* The stderr file dump_once leaves next to @dir. */
static void unlink_err(const char *dir)
{
	char p[4300];

	snprintf(p, sizeof(p), "%s.err", dir);
	unlink(p);
}

/* Start a workload detached (own session, output to @out); wait for "ready". */
static pid_t start_wl(const char *name, const char *a1, const char *a2, const char *out)
{
	char path[4096], *s = NULL;
	pid_t pid;

	unlink(out); /* no "ready" of an earlier run */
	pid = fork();

	if (!pid) {
		/* O_APPEND: a restored copy writes after what the original wrote. */
		int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0600);
		int nul = open("/dev/null", O_RDONLY);

		setsid();
		dup2(nul, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		for (int i = 3; i < 1024; i++)
			close(i);
		snprintf(path, sizeof(path), "%s/workloads/%s", build_dir(), name);
		execl(path, name, a1, a2, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 6000; i++) {
		FILE *f = fopen(out, "r");
		char line[512];

		while (f && fgets(line, sizeof(line), f))
			if (strstr(line, "ready"))
				s = line;
		if (f)
			fclose(f);
		if (s)
			return pid;
		usleep(10000);
	}
	fprintf(stderr, "bench_bgsnap: %s did not start\n", name);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return -1;
}

static void stop_wl(pid_t pid)
{
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static double frozen_ms(const char *dir)
{
	ProtobufCMessage *m;
	struct img *img;
	double ms = -1;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);

	if (dfd < 0)
		return -1;
	if (!img_open(&img, dfd, "stats-dump", IMG_STATS)) {
		if (img_read_entry(img, &m) == 1) {
			StatsEntry *s = (StatsEntry *)m;

			if (s->dump)
				ms = s->dump->frozen_time / 1000.0;
			protobuf_c_message_free_unpacked(m, NULL);
		}
		img_close(img);
	}
	close(dfd);
	return ms;
}

/* Run a shell command quietly; its wall time in *@secs. 0 or -1. */
static int run(double *secs, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int run(double *secs, const char *fmt, ...)
{
	char cmd[8192];
	va_list ap;
	double t0;
	int rc;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	t0 = now_s();
	rc = system(cmd);
	if (secs)
		*secs = now_s() - t0;
	if (rc) {
		fprintf(stderr, "bench_bgsnap: failed (%d): %s\n", rc, cmd);
		return -1;
	}
	return 0;
}

static int dump_once(int var, pid_t pid, const char *dir, double *wall, double *frz)
{
	const char *criu = getenv("CRIU");
	int err;

	rm_rf(dir);
	if (var == CRIU)
		err = mkdir(dir, 0700) ? -1
				       : run(wall,
					     "%s dump -t %d -D %s --leave-running -o /dev/null -v0 "
					     "</dev/null",
					     criu, pid, dir);
	else
		err = run(wall, "%s/ferry dump -t %d -D %s --leave-running %s 2>%s.err",
			  build_dir(), pid, dir, var == OLD ? "--frozen-copy" : "", dir);
	if (err && var != CRIU)
		run(NULL, "tail -5 %s.err >&2", dir);
	*frz = err ? -1 : frozen_ms(dir);
	return err;
}

static void print_row(const char *what, unsigned long mib, int var, double *w, double *f, int n,
		      double new_w, double new_f)
{
	double mw = median(w, n), mf = median(f, n);

	printf("| %s | %lu MiB | %s | %.3f s (%.3f-%.3f) | %.1f ms (%.1f-%.1f) | %.2f | %.3f |\n",
	       what, mib, var_name[var], mw, w[0], w[n - 1], mf, f[0], f[n - 1],
	       var == NEW ? 1.0 : new_w / mw, var == NEW ? 1.0 : (mf > 0 ? new_f / mf : 0));
}

/* dump --leave-running: new, old (and CRIU) in ABBA order on one memhog. */
static int bench_dumps(unsigned long mib)
{
	double wall[NR_VAR][ROUNDS], frz[NR_VAR][ROUNDS], nw, nf;
	int nvar = getenv("CRIU") ? NR_VAR : CRIU, err = 0;
	char out[4200], dir[4200], arg[32];
	pid_t pid;

	snprintf(out, sizeof(out), "%s/bench-bgsnap.memhog.out", img_root());
	snprintf(dir, sizeof(dir), "%s/bench-bgsnap.img", img_root());
	snprintf(arg, sizeof(arg), "%lu", mib);
	pid = start_wl("memhog", arg, "3", out);
	if (pid < 0)
		return -1;
	for (int r = 0; r < ROUNDS && !err; r++)
		for (int k = 0; k < nvar && !err; k++) {
			/* ABBA: odd rounds run the variants backwards. */
			int v = r % 2 ? nvar - 1 - k : k;

			err = dump_once(v, pid, dir, &wall[v][r], &frz[v][r]);
		}
	if (!err) {
		nw = median(wall[NEW], ROUNDS);
		nf = median(frz[NEW], ROUNDS);
		for (int v = 0; v < nvar; v++)
			print_row("dump --leave-running", mib, v, wall[v], frz[v], ROUNDS, nw, nf);
	}
	/* A first pre-dump round (tracking armed, every page copied), then tracking stopped. */
	if (!err) {
		double w[ROUNDS], f[ROUNDS];

		for (int r = 0; r < ROUNDS && !err; r++) {
			rm_rf(dir);
			err = run(&w[r], "%s/ferry pre-dump -t %d -D %s 2>/dev/null", build_dir(),
				  pid, dir);
			f[r] = err ? -1 : frozen_ms(dir);
			if (!err)
				err = run(NULL, "%s/ferry track -t %d --stop 2>/dev/null",
					  build_dir(), pid);
		}
		if (!err) {
			double mw = median(w, ROUNDS), mf = median(f, ROUNDS);

			printf("| pre-dump (first round) | %lu MiB | ferry | %.3f s (%.3f-%.3f) | %.1f "
			       "ms (%.1f-%.1f) | | |\n",
			       mib, mw, w[0], w[ROUNDS - 1], mf, f[0], f[ROUNDS - 1]);
		}
	}
	stop_wl(pid);
	rm_rf(dir);
	unlink_err(dir);
	unlink(out);
	if (!getenv("CRIU"))
		printf("(CRIU skipped: set CRIU=/path/to/criu, built as docs/BENCHMARKS.md says)\n");
	fflush(stdout);
	return err;
}

/* The last "writes N p50 X us p99 Y us max Z us" line of @out. */
static int read_lat(const char *out, double *p50, double *p99, double *max, unsigned *n)
{
	char line[512];
	int ok = 0;
	FILE *f = fopen(out, "r");

	while (f && fgets(line, sizeof(line), f)) {
		char *s = strstr(line, "writes ");

		if (s &&
		    sscanf(s, "writes %u p50 %lf us p99 %lf us max %lf us", n, p50, p99, max) == 4)
			ok = 1;
	}
	if (f)
		fclose(f);
	return ok ? 0 : -1;
}

static int wait_lines(const char *out, const char *needle, int n)
{
	for (int i = 0; i < 1000; i++) {
		char line[512];
		int c = 0;
		FILE *f = fopen(out, "r");

		while (f && fgets(line, sizeof(line), f))
			c += !!strstr(line, needle);
		if (f)
			fclose(f);
		if (c >= n)
			return 0;
		usleep(10000);
	}
	return -1;
}

/* bgwriter at 1000 pages/s through dumps: its write latency, and a restore it verifies. */
static int bench_writer(unsigned long mib)
{
	double p50[2][ROUNDS], p99[2][ROUNDS], mx[2][ROUNDS], wall, frz[2][ROUNDS];
	char out[4200], dir[4200], arg[32];
	unsigned n = 0, reports = 0, writes[2] = { 0, 0 };
	int err = 0;
	pid_t pid;

	snprintf(out, sizeof(out), "%s/bench-bgsnap.bgwriter.out", img_root());
	snprintf(dir, sizeof(dir), "%s/bench-bgsnap.w.img", img_root());
	snprintf(arg, sizeof(arg), "%lu", mib * 256);
	pid = start_wl("bgwriter", arg, "1000", out);
	if (pid < 0)
		return -1;
	for (int r = 0; r < ROUNDS && !err; r++)
		for (int k = 0; k < 2 && !err; k++) {
			int v = r % 2 ? 1 - k : k;

			kill(pid, SIGUSR2); /* start counting */
			err = wait_lines(out, "writes ", ++reports);
			if (!err)
				err = dump_once(v, pid, dir, &wall, &frz[v][r]);
			kill(pid, SIGUSR2);
			if (!err)
				err = wait_lines(out, "writes ", ++reports);
			if (!err)
				err = read_lat(out, &p50[v][r], &p99[v][r], &mx[v][r], &n);
			writes[v] += n;
			if (!err && v == OLD)
				rm_rf(dir); /* the background snapshot is the one restored */
		}
	if (!err) {
		for (int v = 0; v < 2; v++)
			printf("| bgwriter %lu MiB, 1000 pages/s | %s | %u | %.1f us | %.1f us | %.1f ms "
			       "| %.1f ms |\n",
			       mib, var_name[v], writes[v], median(p50[v], ROUNDS),
			       median(p99[v], ROUNDS), median(mx[v], ROUNDS) / 1e3,
			       median(frz[v], ROUNDS));
	}
	stop_wl(pid);
	/* The last background snapshot: the restored writer checks its memory at the freeze. */
	if (!err && ROUNDS % 2 == 0) {
		int before = 0;
		char line[512];
		FILE *f;

		/* In ABBA with an even number of rounds the last dump was the new path's. */
		err = run(NULL, "%s/ferry restore -D %s -d 2>/dev/null", build_dir(), dir);
		if (!err) {
			f = fopen(out, "r");
			while (f && fgets(line, sizeof(line), f))
				before += !!strstr(line, "verify");
			if (f)
				fclose(f);
			kill(pid, SIGUSR1);
			err = wait_lines(out, "verify", before + 1);
		}
		if (!err) {
			err = wait_lines(out, "verify ok", 1);
			printf("restore of the last background snapshot of bgwriter %lu MiB: %s\n",
			       mib, err ? "verify BAD" : "verify ok (its memory at the freeze)");
		}
		kill(pid, SIGKILL);
	}
	while (waitpid(-1, NULL, WNOHANG) > 0)
		; /* the restored writer, our orphan (subreaper) */
	rm_rf(dir);
	unlink_err(dir);
	unlink(out);
	fflush(stdout);
	return err;
}

static int one(unsigned long mib)
{
	int err;

	printf("\n| what | size | tool | wall median (range) | frozen median (range) | new/this "
	       "wall | new/this frozen |\n|---|---|---|---|---|---|---|\n");
	err = bench_dumps(mib);
	printf("\n| workload | dump | writes during the dumps | p50 | p99 | max | frozen |\n"
	       "|---|---|---|---|---|---|---|\n");
	if (!err)
		err = bench_writer(mib);
	return err;
}

int main(int argc, char **argv)
{
	static const char *const def[] = { "bench_bgsnap", "64", "1024" };

	/* A restored workload is ours to reap. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);

	if (argc < 2)
		return bench_sizes(3, (char **)def, one);
	return bench_sizes(argc, argv, one);
}
