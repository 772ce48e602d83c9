// SPDX-License-Identifier: MIT
/*
 * bench_track part 4: the kernel memory of the BPF maps, and the peak RSS figures
 * of parts 1 and 3 in one table.
 * (bench/bench_track.c says what each part measures.)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>

#define LOG_PREFIX "bench_track: "
#include "tracker.h"
#include "log.h"

#include "track.h"

/* The small BPF map sizes of part 4. */
static const struct dirty_bpf_opts small_bpf = {
	.max_pages = 1024,
	.max_ranges = 64,
	.ringbuf_bytes = 4096,
};

/* ---- part 4: memory -------------------------------------------------------------------- */

static int bpf_mem(pid_t pid, const struct dirty_bpf_opts *bo, uint64_t *bytes)
{
	struct tracker *t = NULL;
	int err;

	*bytes = 0;
	err = bt_arm(pid, bo, 0, &t);
	if (err)
		return err;
	if (!t->bpf) {
		pr_err("pid %d: tracking armed without its BPF side (see the warning above)", pid);
		err = -ENOENT;
	} else {
		err = dirty_bpf_mem(t->bpf, bytes);
		if (err)
			pr_errno(err, "pid %d: cannot read the memory of its BPF maps", pid);
	}
	bt_disarm(&t);
	return err;
}

int bench_mem(void)
{
	uint64_t base, def = 0, small = 0;
	pid_t target;
	int err;

	target = bt_start_memhog(16, &base);
	if (target < 0)
		return target;
	err = bpf_mem(target, NULL, &def);
	if (!err)
		err = bpf_mem(target, &small_bpf, &small);
	bt_stop_target(target);
	if (err)
		return err;
	printf("\n== 4. memory ==\n");
	printf("BPF maps, default (%u page records, %u ranges, %u B ring buffer): %8.1f KiB\n",
	       DIRTY_BPF_DEF_PAGES, DIRTY_BPF_DEF_RANGES, DIRTY_BPF_DEF_RINGBUF,
	       (double)def / 1024);
	printf("BPF maps, small   (%u page records, %u ranges, %u B ring buffer):     %8.1f KiB\n",
	       small_bpf.max_pages, small_bpf.max_ranges, small_bpf.ringbuf_bytes,
	       (double)small / 1024);
	for (size_t i = 0; i < bt_scan_rss.nr; i++)
		printf("peak RSS, process arming + %d tracker rounds on %4lu MiB: %5.1f MiB\n",
		       SCAN_ROUNDS, bt_scan_rss.mib[i], bt_scan_rss.rss_mib[i]);
	for (size_t i = 0; i < bt_pd_rss.nr; i++)
		printf("peak RSS, ferry pre-dump of %4llu MiB: round 1 %5.1f MiB, round 2 %5.1f "
		       "MiB\n",
		       (unsigned long long)(bt_pd_rss.pages[i] * PAGE >> 20), bt_pd_rss.rss1_mib[i],
		       bt_pd_rss.rss2_mib[i]);
	return 0;
}
