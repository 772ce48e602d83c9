// SPDX-License-Identifier: MIT
/* `ferry dirtyrate`: measure how fast a process dirties memory (see dirtyrate.h). */
#include <stdio.h>

#define LOG_PREFIX ""
#include "cli.h"
#include "tracker.h"
#include "dirtyrate.h"
#include "log.h"

static int run(struct cli_opts *o)
{
	struct dirtyrate_opts d = { 0 };
	struct dr_report rep;
	int err;

	if (!o->pid) {
		fprintf(stderr, "ferry dirtyrate: -t PID is required (see --help)\n");
		return -1;
	}
	d.pid = o->pid;
	d.interval_ms = (unsigned)o->interval_ms;
	d.duration_s = o->duration_s;
	cli_track_opts(o, &d.track);
	err = dirtyrate_measure(&d, &rep);
	if (!err && !rep.nr_iv) {
		pr_err("pid %d: no interval was measured", o->pid);
		err = -1;
	}
	if (!err)
		err = o->json ? dr_report_json(&rep, stdout) : dr_report_text(&rep, stdout);
	if (!err && o->plot)
		err = dr_report_svg(&rep, o->plot);
	dirtyrate_report_free(&rep);
	return err;
}

const struct cli_cmd cmd_dirtyrate = {
	.name = "dirtyrate",
	.run = run,
	.summary = "measure how fast a running process dirties its memory",
	.usage =
		"Usage: ferry dirtyrate -t PID [--interval MS] [--duration S] [--json]\n"
		"                       [--plot FILE.svg] [--track-mode M] [--no-bpf]\n"
		"                       [--bpf-pages N] [--bpf-ranges N] [--bpf-ringbuf SIZE]\n\n"
		"Counts the distinct 4 KiB pages PID writes per interval, like QEMU's\n"
		"calc-dirty-rate for a VM, with no soft-dirty needed. Every writable private\n"
		"mapping is write-protected with an asynchronous userfaultfd (the first write\n"
		"to a page clears its protection, in the kernel, without waiting for ferry);\n"
		"each interval PID is stopped for the scan alone (about a millisecond), one\n"
		"PAGEMAP_SCAN lists the written pages and protects them again, and a BPF\n"
		"program on the page-fault tracepoint has counted the same writes, with\n"
		"their time, independently. At the end every protection is lifted.\n\n"
		"Reported: pages/s and MiB/s per interval from both counts; the mean rate\n"
		"(also as QEMU's dirty-rate in MB/s and calc-time); the working set (pages\n"
		"written at least once); which mappings dirty most; the hottest address\n"
		"ranges (from BPF's per-page write counts). New mappings are registered at\n"
		"the next interval; writes to them before that are not counted. On kernels\n"
		"without uffd-wp async, soft-dirty bits are read and cleared instead (the\n"
		"report says \"soft-dirty\" where it would say PAGEMAP_SCAN).\n\n"
		"Options:\n"
		"  -t, --tree PID        the process (its threads; not its children)\n"
		"  --interval MS         length of an interval, 10..3600000 (default 1000)\n"
		"  --duration S          how long to measure, seconds (default 5); Ctrl-C ends\n"
		"                        early and reports what was measured\n"
		"  --json                one JSON object on stdout instead of the table\n"
		"  --plot FILE.svg       also draw the rate over time and a write heat map\n" CLI_TRACK_OPTS_HELP
		"\n"
		"A process tracked for a pre-dump chain is refused: measuring would re-arm\n"
		"its dirty bits.\n",
};
