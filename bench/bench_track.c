// SPDX-License-Identifier: MIT
/*
 * Dirty-page tracking (issue 5), side by side in one run:
 *
 * 1. Cost of one dirty scan at 1% dirty. A memhog holds SIZE MiB; tracking is
 *    armed on it (freeze, tracker_arm, release); then, SCAN_ROUNDS times, the
 *    bench writes one byte into 1 page in 100 of the mapping with
 *    process_vm_writev (through the same write-protect faults as the
 *    target's own writes), freezes it, and times tracker_round() and, in
 *    alternating order, a read of /proc/PID/pagemap over the same range
 *    (8 bytes per page, pread in 2 MiB chunks: how soft-dirty users find
 *    dirty pages). The rounds run in a child process, whose ru_maxrss is
 *    the peak RSS of a tracker doing rounds.
 * 2. Slowdown of a write-heavy workload: a child writes one byte to each page
 *    of a 256 MiB buffer in sequence, as fast as it can, and publishes its
 *    page count in shared memory. Alternating, LOAD_ROUNDS times, ~1 s each:
 *    tracking off; off but frozen and released every 100 ms (the cost of the
 *    freeze alone); on, with a frozen round every 100 ms; the same without
 *    BPF. Also an estimate of the cost of one write fault to the writer.
 * 3. Pages written by a second pre-dump: `ferry pre-dump` of a dirtier
 *    writing 10000 pages/s, then again 1 s later with --prev-images-dir;
 *    pages written, wall and frozen time (stats-dump) and ferry's peak RSS
 *    (wait4) of each round, for a 64 MiB and a 1 GiB dirtier.
 * 4. Memory: kernel memory of the BPF maps (dirty_bpf_mem) of a tracker
 *    armed with the default map sizes and with small ones, and the peak
 *    RSS figures of parts 1 and 3 in one table.
 * 5. What tracking costs the processes that are not tracked: getppid() and
 *    page faults of this process with 0, 1 and 8 idle processes tracked.
 *    BENCH_TRACK_ONLY=cross runs this part alone.
 *
 *   bench_track [SIZES_MIB...]     part 1 sizes, default: 256 1024
 * Needs FERRY_BUILD (scripts/bench.sh sets it), the workloads, and root.
 * Tracking is stopped and every child killed on every path; SIGINT, SIGTERM
 * and SIGHUP are held and end the run cleanly between two steps.
 *
 * Each part is a file of bench/bench_track/ (scan.c, load.c, predump.c,
 * mem.c, cross.c); what they share is in common.c.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench_util.h"
#include "bench_track/track.h"

int main(int argc, char **argv)
{
	static const uint64_t pd_pages[] = { 16384, 262144 };
	int err;

	if (geteuid()) {
		fprintf(stderr, "bench_track: needs root (ptrace, userfaultfd, BPF)\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	bench_hold_signals(&bt_held);

	if (getenv("BENCH_TRACK_ONLY") && !strcmp(getenv("BENCH_TRACK_ONLY"), "cross"))
		return bench_cross() ? 1 : 0;
	print_scan_header();
	err = bench_sizes(argc, argv, bench_scan) ? -EIO : 0;
	if (!err)
		err = bench_load();
	for (size_t i = 0; !err && i < sizeof(pd_pages) / sizeof(pd_pages[0]); i++)
		err = bench_predump(pd_pages[i]);
	if (!err)
		err = bench_mem();
	if (!err)
		err = bench_cross();
	return err ? 1 : 0;
}
