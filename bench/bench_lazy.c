// SPDX-License-Identifier: MIT
/*
 * Lazy restore (issue 6), side by side in one run. For each size a memhog
 * holding SIZE MiB of patterned memory is dumped once; then, ROUNDS times,
 * five restores of the same images, in an order rotated each round:
 *   eager         `ferry restore -D DIR -d`
 *   lazy local    the same with --lazy-pages (pages from DIR's pages-*.img)
 *   lazy remote   --lazy-pages --page-server 127.0.0.1:PORT, from a copy of
 *                 DIR without pages-*.img; `ferry page-server -D DIR --port 0`
 *                 is started before the clock starts
 *   faults local, faults remote
 *                 the two lazy ones with --prefetch-delay 600000: no page
 *                 comes in the background, every page memhog reads is a fault
 * Each: the clock starts, `ferry restore` runs until it returns (time to
 * resume), memhog gets SIGUSR1 at once and checks every word of its memory;
 * the clock stops at its "verify ok" (time until it has read all its
 * memory). Then memhog is killed, and it, the lazy-pages daemon and the page
 * server are reaped (the bench is a child subreaper). The daemon's summary
 * line gives fault counts, fault service p50/p99 and its peak RSS; wait4()
 * gives the page server's ru_maxrss.
 *   bench_lazy [SIZES_MIB...]     default: 64 1024; BENCH_ROUNDS (default 5)
 * A size is skipped when MemAvailable cannot hold the workload and its image
 * in the page cache. Needs FERRY_BUILD (scripts/bench.sh sets it) and root.
 *
 * The parts are files of bench/bench_lazy/: proc.c (processes and files),
 * restores.c (the dump and the timed restores), table.c (the table).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "bench_util.h"

#define LOG_PREFIX "bench_lazy: "
#include "log.h"

#include "bench_lazy/lazy.h"

sigset_t bl_held;
struct size_res bl_results[MAX_SIZES];

int main(int argc, char **argv)
{
	static const unsigned long def[] = { 64, 1024 };
	int n = 0, rounds = bl_rounds_env(), err = 0;

	if (geteuid()) {
		fprintf(stderr, "bench_lazy: needs root (ptrace, userfaultfd, clone3 set_tid)\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Restored trees and the daemon are reparented to us when ferry -d exits. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1)) {
		pr_perror("cannot become a child subreaper");
		return 1;
	}
	bench_hold_signals(&bl_held);

	for (int i = 1; i < argc && n < MAX_SIZES; i++)
		bl_results[n++].mib = strtoul(argv[i], NULL, 10);
	for (size_t i = 0; !n && i < sizeof(def) / sizeof(def[0]); i++)
		bl_results[i].mib = def[i];
	if (!n)
		n = (int)(sizeof(def) / sizeof(def[0]));
	printf("lazy restore: %d round(s) per size; per round, in rotated order: eager, lazy local, "
	       "lazy remote (127.0.0.1), faults local, faults remote\n",
	       rounds);
	for (int i = 0; i < n && !err; i++) {
		bl_results[i].rounds = rounds;
		err = bench_size(&bl_results[i]);
		if (!err && !bl_results[i].skipped)
			printf("lazy %5lu MiB  done: eager resume %.3f s, lazy local %.3f s, lazy "
			       "remote %.3f s (medians)\n",
			       bl_results[i].mib, bl_agg(&bl_results[i], RUN_EAGER, F_RESUME, 0),
			       bl_agg(&bl_results[i], RUN_LOCAL, F_RESUME, 0),
			       bl_agg(&bl_results[i], RUN_REMOTE, F_RESUME, 0));
	}
	if (!err)
		print_table(n);
	return err ? 1 : 0;
}
