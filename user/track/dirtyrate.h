/* SPDX-License-Identifier: MIT */
/*
 * `ferry dirtyrate`: how fast a running process dirties its memory.
 *
 * Tracking is armed as for pre-dump (tracker.h: async uffd-wp +
 * PAGEMAP_SCAN, BPF on write faults). Every interval the process is stopped
 * for the scan only (ptrace interrupt, ~1 ms), which reads and re-arms the
 * written pages and closes the BPF interval at the same instant, so that both
 * counts cover exactly the same writes; then it runs on. At the end tracking
 * is removed. The report (dirtyrate_report.h) has per-interval rates from
 * both sources, per-VMA totals, the working set and, from BPF, per-page
 * write counts.
 */
#ifndef FERRY_DIRTYRATE_H
#define FERRY_DIRTYRATE_H

#include <sys/types.h>

#include "dirtyrate_report.h"
#include "tracker.h"

struct dirtyrate_opts {
	pid_t pid;
	unsigned interval_ms; /* 0: 1000 */
	double duration_s;    /* 0: 5 */
	struct tracker_opts track;
};

/*
 * dirtyrate_measure - measure process @o->pid (only the process, not its
 * children) and fill *@rep (free with dirtyrate_report_free). SIGINT or
 * SIGTERM end the measure early, with the intervals done so far. Returns 0,
 * -EBUSY if the process is tracked by a pre-dump chain (measuring would
 * disturb it), -EOPNOTSUPP without async uffd-wp, or -errno. Tracking is
 * removed on every path.
 */
int dirtyrate_measure(const struct dirtyrate_opts *o, struct dr_report *rep);
void dirtyrate_report_free(struct dr_report *rep);

#endif
