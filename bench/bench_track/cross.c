// SPDX-License-Identifier: MIT
/*
 * bench_track part 5: what tracking costs the processes that are not tracked.
 * (bench/bench_track.c says what each part measures.)
 */
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LOG_PREFIX "bench_track: "
#include "log.h"
#include "tracker.h"
#include "util.h"

#include "../bench_util.h"
#include "track.h"

/* ---- part 5: what tracking costs processes that are not tracked ------------------- */

#define XT_MAX 8    /* tracked processes at most */
#define XT_ROUNDS 3 /* up-and-down sweeps over 0, 1, XT_MAX trackers */
#define XT_CALLS 200000
#define XT_FAULT_PAGES 4096

/* ns per getppid() and per first-touch page fault (with its mmap/munmap) in this process. */
static void xt_sample(double *syscall_ns, double *fault_ns)
{
	volatile char *p;
	uint64_t t0;

	t0 = mono_ns();
	for (int i = 0; i < XT_CALLS; i++)
		syscall(SYS_getppid);
	*syscall_ns = (double)(mono_ns() - t0) / XT_CALLS;
	t0 = mono_ns();
	p = mmap(NULL, XT_FAULT_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (p != MAP_FAILED) {
		madvise((void *)p, XT_FAULT_PAGES * PAGE, MADV_NOHUGEPAGE);
		for (int i = 0; i < XT_FAULT_PAGES; i++)
			p[(size_t)i * PAGE] = 1;
		munmap((void *)p, XT_FAULT_PAGES * PAGE);
	}
	*fault_ns = (double)(mono_ns() - t0) / XT_FAULT_PAGES;
}

/*
 * The BPF programs of a tracker sit on system-wide tracepoints (page faults,
 * syscall exits) and filter by tgid inside: every process pays for them.
 * Idle memhogs are tracked, 0, 1 and XT_MAX of them, in sweeps up and down;
 * this process, untracked, times getppid() and page faults at each step.
 */
int bench_cross(void)
{
	static const int steps[] = { 0, 1, XT_MAX, 1 };
	double sc[3][XT_ROUNDS * 2], fl[3][XT_ROUNDS * 2];
	struct tracker *t[XT_MAX] = { 0 };
	pid_t pid[XT_MAX];
	int n[3] = { 0 }, armed = 0, err = 0;
	uint64_t base;

	for (int i = 0; i < XT_MAX; i++)
		pid[i] = -1;
	for (int i = 0; i < XT_MAX && !err; i++) {
		pid[i] = bt_start_memhog(4, &base);
		if (pid[i] < 0)
			err = pid[i];
	}
	for (int r = 0; r < XT_ROUNDS && !err; r++) {
		for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]) && !err; k++) {
			int want = steps[k], row = want == 0 ? 0 : want == 1 ? 1 : 2;

			while (!err && armed < want) {
				err = bt_arm(pid[armed], NULL, 0, &t[armed]);
				armed += !err;
			}
			while (armed > want)
				bt_disarm(&t[--armed]);
			if (err || bt_interrupted())
				break;
			xt_sample(&sc[row][n[row]], &fl[row][n[row]]);
			n[row]++;
		}
	}
	while (armed > 0)
		bt_disarm(&t[--armed]);
	for (int i = 0; i < XT_MAX; i++)
		bt_stop_target(pid[i]);
	if (err)
		return err;
	printf("\n== 5. cost to processes that are not tracked (this process; idle trackers "
	       "elsewhere; %d sweeps 0 -> 1 -> %d -> 1, medians) ==\n",
	       XT_ROUNDS, XT_MAX);
	printf("%-10s %14s %8s %16s %8s\n", "trackers", "getppid (ns)", "x", "page fault (ns)",
	       "x");
	for (int row = 0; row < 3; row++) {
		double s0 = median(sc[0], n[0]), f0 = median(fl[0], n[0]);
		double s = median(sc[row], n[row]), f = median(fl[row], n[row]);

		printf("%-10d %14.1f %8.2f %16.1f %8.2f\n",
		       row == 0	  ? 0
		       : row == 1 ? 1
				  : XT_MAX,
		       s, s / s0, f, f / f0);
	}
	return 0;
}
