/* SPDX-License-Identifier: MIT */
/* What the parts of bench_lazy share: the results, and each part's functions. */
#ifndef FERRY_BENCH_LAZY_H
#define FERRY_BENCH_LAZY_H

#include <signal.h>
#include <sys/types.h>

#define DEF_ROUNDS 5
#define MAX_ROUNDS 50
#define MAX_SIZES 4
#define SEED "3"
#define FAULT_DELAY_MS "600000" /* holds the background back for the whole run */
#define WAIT_MS 120000		/* for "verify ok" and the daemon's summary */
#define LISTEN_MS 10000		/* for the page server's "listening on" */
#define REAP_S 30.0		/* then what is left is killed */
#define MARGIN_MIB 256		/* free memory asked beyond workload + page cache */
#define SUMMARY_KEY " pages filled in "

enum run_kind { RUN_EAGER, RUN_LOCAL, RUN_REMOTE, RUN_FLOCAL, RUN_FREMOTE, NR_RUNS };

/* The numbers of the lazy-pages daemon's summary line. */
struct lz_sum {
	unsigned long filled, total, ms, faults, fault_pages, bg, ws, zero, eager, p50, p99;
	long rss_kib;
};

struct run_res {
	double resume_s, touched_s;
	long restore_rss_kib; /* ferry restore's ru_maxrss */
	long server_rss_kib;  /* the page server's ru_maxrss (remote runs) */
	struct lz_sum sum;    /* lazy runs */
};

struct size_res {
	unsigned long mib;
	int rounds;
	const char *skipped; /* why, or NULL */
	struct run_res r[NR_RUNS][MAX_ROUNDS];
};

struct ctx {
	unsigned long mib;
	char dir[64];
	char img[128], rimg[128], out[128], log[128], psout[128], pslog[128], ferry[4096];
	pid_t pid; /* the dumped pid, which every restore brings back */
};

/* SIGINT, SIGTERM and SIGHUP, held from the start; the results of each size. */
extern sigset_t bl_held;
extern struct size_res bl_results[MAX_SIZES];

/* ---- proc.c: processes and files ---- */

/* -EINTR if SIGINT, SIGTERM or SIGHUP is pending (they are held). */
int bl_interrupted(void);
/* Whole file @path into *@buf (NUL-terminated, to free). 0 or -errno. */
int bl_read_text(const char *path, char **buf);
/* Lines of @path with @needle, or -errno. */
int bl_count_in_file(const char *path, const char *needle);
/* An empty file at @path (an inotify watch needs it to exist). */
int bl_truncate_file(const char *path);
/*
 * Wait up to @ms for @n lines of @path containing @needle; with @bad, a line
 * with "error" fails at once. 0 or -errno.
 */
int bl_wait_for(const char *path, const char *needle, int n, int ms, int bad);
/* Parent pid of @pid from /proc, or -errno. */
pid_t bl_ppid_of(pid_t pid);
/* SIGKILL every child of ours still there (restored trees, daemons, servers). */
void bl_kill_children(void);
/* Reap memhog, the page server @ps (its ru_maxrss into @ps_rss) and the rest. */
int bl_reap_all(pid_t memhog, pid_t ps, long *ps_rss);
/* fork + exec @argv (a path), stdout to @out if not NULL (appended). */
pid_t bl_spawn(const char *const argv[], const char *out, int own_pgrp);
/* Run @argv to its end; it must exit 0. Its ru_maxrss into @rss (may be NULL). */
int bl_run(const char *const argv[], long *rss);
/* Print the log of a failed restore to stderr. */
void bl_show_log(const char *path);

/* ---- restores.c: one size, every kind of restore, ROUNDS times ---- */

/* BENCH_ROUNDS, or DEF_ROUNDS. */
int bl_rounds_env(void);
/* Dump memhog of sr->mib MiB once, then the rounds of restores. 0 or -errno. */
int bench_size(struct size_res *sr);

/* ---- table.c ---- */

enum field {
	F_RESUME,
	F_TOUCHED,
	F_VERIFY,
	F_FAULTS,
	F_P50,
	F_P99,
	F_FILL_MS,
	F_DRSS,
	F_SRSS,
	F_RRSS
};

/* Median (or with @max, the largest) of @f over the rounds of run kind @k. */
double bl_agg(const struct size_res *s, enum run_kind k, enum field f, int max);
/* The table of the first @n sizes. */
void print_table(int n);

#endif
