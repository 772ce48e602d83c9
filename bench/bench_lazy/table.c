// SPDX-License-Identifier: MIT
/*
 * bench_lazy: the table of the results.
 * (bench/bench_lazy.c says what it measures.)
 */
#include <fcntl.h>
#include <stdio.h>
#include <sys/inotify.h>
#include <sys/statvfs.h>

#define LOG_PREFIX "bench_lazy: "

#include "log.h"
#include "../bench_util.h"
#include "lazy.h"

/* ---- the table ---------------------------------------------------------- */

static double field(const struct run_res *r, enum field f)
{
	switch (f) {
	case F_RESUME:
		return r->resume_s;
	case F_TOUCHED:
		return r->touched_s;
	case F_VERIFY:
		return r->touched_s - r->resume_s;
	case F_FAULTS:
		return (double)r->sum.faults;
	case F_P50:
		return (double)r->sum.p50;
	case F_P99:
		return (double)r->sum.p99;
	case F_FILL_MS:
		return (double)r->sum.ms;
	case F_DRSS:
		return (double)r->sum.rss_kib / 1024;
	case F_SRSS:
		return (double)r->server_rss_kib / 1024;
	case F_RRSS:
		return (double)r->restore_rss_kib / 1024;
	}
	return 0;
}

/* Median (or with @max, the largest) of @f over the rounds of run kind @k. */
double bl_agg(const struct size_res *s, enum run_kind k, enum field f, int max)
{
	double v[MAX_ROUNDS], m = 0;

	for (int i = 0; i < s->rounds; i++) {
		v[i] = field(&s->r[k][i], f);
		if (v[i] > m)
			m = v[i];
	}
	return max ? m : median(v, s->rounds);
}

/* The largest of @f over the kinds in @kinds (NR_RUNS-terminated). */
static double max_of(const struct size_res *s, const enum run_kind *kinds, enum field f)
{
	double m = 0;

	for (; *kinds != NR_RUNS; kinds++) {
		double v = bl_agg(s, *kinds, f, 1);

		if (v > m)
			m = v;
	}
	return m;
}

/* One row: @label, then @v per size in format @fmt; with @growth, last/first. */
static void row(const char *label, const char *fmt, const double *v, int n, int growth)
{
	char cell[64];
	int first = -1, last = -1;

	printf("  %-40s", label);
	for (int i = 0; i < n; i++) {
		if (bl_results[i].skipped) {
			printf(" %14s", "skipped");
			continue;
		}
		snprintf(cell, sizeof(cell), fmt, v[i]);
		printf(" %14s", cell);
		if (first < 0)
			first = i;
		last = i;
	}
	if (growth && first >= 0 && last > first && v[first] > 0)
		printf("   x%.2f", v[last] / v[first]);
	printf("\n");
}

#define ROW(label, fmt, growth, expr)                               \
	do {                                                        \
		double v_[MAX_SIZES] = { 0 };                       \
		for (int i_ = 0; i_ < n; i_++) {                    \
			const struct size_res *s = &bl_results[i_]; \
			if (!s->skipped)                            \
				v_[i_] = (expr);                    \
		}                                                   \
		row(label, fmt, v_, n, growth);                     \
	} while (0)

void print_table(int n)
{
	static const enum run_kind lazy_kinds[] = { RUN_LOCAL, RUN_REMOTE, RUN_FLOCAL, RUN_FREMOTE,
						    NR_RUNS };
	static const enum run_kind remote_kinds[] = { RUN_REMOTE, RUN_FREMOTE, NR_RUNS };
	char hdr[32];

	printf("\nlazy restore, medians of the rounds (modes rotated within each round)\n");
	printf("  %-40s", "");
	for (int i = 0; i < n; i++) {
		snprintf(hdr, sizeof(hdr), "%lu MiB (%d)", bl_results[i].mib, bl_results[i].rounds);
		printf(" %14s", hdr);
	}
	printf("   %s\n", n > 1 ? "last/first" : "");

	printf(" 1. time to resume (restore -d returns)\n");
	ROW("eager", "%.3f s", 1, bl_agg(s, RUN_EAGER, F_RESUME, 0));
	ROW("lazy local", "%.3f s", 1, bl_agg(s, RUN_LOCAL, F_RESUME, 0));
	ROW("lazy remote", "%.3f s", 1, bl_agg(s, RUN_REMOTE, F_RESUME, 0));
	ROW("lazy local / eager", "%.2f", 0,
	    bl_agg(s, RUN_LOCAL, F_RESUME, 0) / bl_agg(s, RUN_EAGER, F_RESUME, 0));
	ROW("lazy remote / eager", "%.2f", 0,
	    bl_agg(s, RUN_REMOTE, F_RESUME, 0) / bl_agg(s, RUN_EAGER, F_RESUME, 0));
	printf(" 2. restore start to \"verify ok\" (all memory read)\n");
	ROW("eager", "%.3f s", 1, bl_agg(s, RUN_EAGER, F_TOUCHED, 0));
	ROW("lazy local", "%.3f s", 1, bl_agg(s, RUN_LOCAL, F_TOUCHED, 0));
	ROW("lazy remote", "%.3f s", 1, bl_agg(s, RUN_REMOTE, F_TOUCHED, 0));
	ROW("lazy local / eager", "%.2f", 0,
	    bl_agg(s, RUN_LOCAL, F_TOUCHED, 0) / bl_agg(s, RUN_EAGER, F_TOUCHED, 0));
	ROW("lazy remote / eager", "%.2f", 0,
	    bl_agg(s, RUN_REMOTE, F_TOUCHED, 0) / bl_agg(s, RUN_EAGER, F_TOUCHED, 0));
	ROW("verify pass alone, eager (memory in)", "%.3f s", 1, bl_agg(s, RUN_EAGER, F_VERIFY, 0));
	ROW("lazy local: faults", "%.0f", 0, bl_agg(s, RUN_LOCAL, F_FAULTS, 0));
	ROW("lazy local: all pages in after resume", "%.0f ms", 1,
	    bl_agg(s, RUN_LOCAL, F_FILL_MS, 0));
	ROW("lazy remote: faults", "%.0f", 0, bl_agg(s, RUN_REMOTE, F_FAULTS, 0));
	ROW("lazy remote: all pages in after resume", "%.0f ms", 1,
	    bl_agg(s, RUN_REMOTE, F_FILL_MS, 0));
	printf(" 3. fault service, --prefetch-delay " FAULT_DELAY_MS " (every read faults)\n");
	for (enum run_kind k = RUN_FLOCAL; k <= RUN_FREMOTE; k++) {
		const char *w = k == RUN_FLOCAL ? "local" : "remote";
		char l[64];

		snprintf(l, sizeof(l), "%s: faults", w);
		ROW(l, "%.0f", 1, bl_agg(s, k, F_FAULTS, 0));
		snprintf(l, sizeof(l), "%s: fault service p50 (daemon)", w);
		ROW(l, "%.0f us", 0, bl_agg(s, k, F_P50, 0));
		snprintf(l, sizeof(l), "%s: fault service p99 (daemon)", w);
		ROW(l, "%.0f us", 0, bl_agg(s, k, F_P99, 0));
		snprintf(l, sizeof(l), "%s: verify pass", w);
		ROW(l, "%.3f s", 1, bl_agg(s, k, F_VERIFY, 0));
		snprintf(l, sizeof(l), "%s: verify pass / faults", w);
		ROW(l, "%.1f us", 0, bl_agg(s, k, F_VERIFY, 0) * 1e6 / bl_agg(s, k, F_FAULTS, 0));
		snprintf(l, sizeof(l), "%s: (verify - eager verify) / faults", w);
		ROW(l, "%.1f us", 0,
		    (bl_agg(s, k, F_VERIFY, 0) - bl_agg(s, RUN_EAGER, F_VERIFY, 0)) * 1e6 /
			    bl_agg(s, k, F_FAULTS, 0));
	}
	printf(" 4. peak RSS (median; max over all runs)\n");
	ROW("lazy-pages daemon, local", "%.1f MiB", 1, bl_agg(s, RUN_LOCAL, F_DRSS, 0));
	ROW("lazy-pages daemon, remote", "%.1f MiB", 1, bl_agg(s, RUN_REMOTE, F_DRSS, 0));
	ROW("lazy-pages daemon, max of all lazy runs", "%.1f MiB", 1,
	    max_of(s, lazy_kinds, F_DRSS));
	ROW("page server (ru_maxrss)", "%.1f MiB", 1, bl_agg(s, RUN_REMOTE, F_SRSS, 0));
	ROW("page server, max of all remote runs", "%.1f MiB", 1, max_of(s, remote_kinds, F_SRSS));
	ROW("ferry restore, eager (ru_maxrss)", "%.1f MiB", 1, bl_agg(s, RUN_EAGER, F_RRSS, 0));
	ROW("ferry restore, lazy local (ru_maxrss)", "%.1f MiB", 1,
	    bl_agg(s, RUN_LOCAL, F_RRSS, 0));
}
