// SPDX-License-Identifier: MIT
/* `ferry dirtyrate`: measure how fast a process dirties memory (see dirtyrate.h). */
#include <stdio.h>
#include <string.h>

#define LOG_PREFIX ""
#include "cli.h"
#include "tracker.h"
#include "dirtyrate.h"
#include "log.h"
#include "migrate.h"
#include "migrate_predict.h"

/* --bandwidth: what a pre-copy migration of the measured process would do. */
static int predict(const struct cli_opts *o, const struct dr_report *rep)
{
	struct mpredict_in in = { .bandwidth = (double)o->bandwidth };
	struct mpredict_out p;
	uint64_t frozen = 0;
	int err;

	dr_report_rate(rep, &in.dirty_pps, NULL);
	in.wss_pages = rep->wss_pages;
	in.downtime_ms = o->downtime_ms >= 0 ? (double)o->downtime_ms : MIGRATE_DEFAULT_DOWNTIME_MS;
	in.max_rounds = o->max_rounds ? o->max_rounds : MIGRATE_DEFAULT_ROUNDS;
	if (in.max_rounds > MPREDICT_MAX_ROUNDS)
		in.max_rounds = MPREDICT_MAX_ROUNDS;
	for (size_t i = 0; i < rep->nr_iv; i++)
		frozen += rep->iv[i].frozen_ns;
	in.freeze_ms = rep->nr_iv ? (double)frozen / (double)rep->nr_iv / 1e6 : 0;
	err = migrate_data_pages(rep->pid, &in.data_pages);
	if (err) {
		pr_err("pid %d: its pages with data (/proc/%d/smaps_rollup): %s", rep->pid,
		       rep->pid, strerror(-err));
		return err;
	}
	err = migrate_predict(&in, &p);
	if (err)
		return err;
	if (o->json) {
		printf("{\"prediction\":{\"bandwidth_bytes_per_s\":%.0f,\"downtime_limit_ms\":%.0f,"
		       "\"max_rounds\":%u,\"dirty_pages_per_s\":%.1f,\"wss_pages\":%llu,"
		       "\"data_pages\":%llu,\"freeze_ms\":%.3f,\"converges\":%s,\"rounds\":%u,"
		       "\"final_pages\":%llu,\"downtime_ms\":%.3f,\"total_pages\":%llu,"
		       "\"total_ms\":%.3f,\"round_pages\":[",
		       in.bandwidth, in.downtime_ms, in.max_rounds, in.dirty_pps,
		       (unsigned long long)in.wss_pages, (unsigned long long)in.data_pages,
		       in.freeze_ms, p.converges ? "true" : "false", p.rounds,
		       (unsigned long long)p.final_pages, p.downtime_ms,
		       (unsigned long long)p.total_pages, p.total_ms);
		for (unsigned k = 0; k < p.rounds; k++)
			printf("%s%llu", k ? "," : "", (unsigned long long)p.r[k].pages);
		printf("]}}\n");
		return 0;
	}
	printf("\nmigration at %.1f MiB/s (downtime limit %.0f ms, at most %u rounds), from a "
	       "dirty rate of %.0f pages/s, a working set of %llu pages and %llu pages with data:\n",
	       in.bandwidth / 1048576.0, in.downtime_ms, in.max_rounds, in.dirty_pps,
	       (unsigned long long)in.wss_pages, (unsigned long long)in.data_pages);
	for (unsigned k = 0; k < p.rounds; k++)
		printf("  round %u: %llu pages in %.1f ms, predicted downtime %.1f ms\n", k + 1,
		       (unsigned long long)p.r[k].pages, p.r[k].ms, p.r[k].predicted_ms);
	if (p.converges)
		printf("converges after %u round(s): downtime ~%.1f ms (%llu pages), plus the final "
		       "dump's and the restore's fixed cost; %.1f MiB in ~%.1f s\n",
		       p.rounds, p.downtime_ms, (unsigned long long)p.final_pages,
		       (double)p.total_pages * 4096.0 / 1048576.0, p.total_ms / 1e3);
	else
		printf("does not converge within %u round(s): the final section would carry %llu "
		       "pages, a downtime of ~%.1f ms, over the limit (--auto-converge, --postcopy "
		       "or more bandwidth)\n",
		       p.rounds, (unsigned long long)p.final_pages, p.downtime_ms);
	return 0;
}

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
	if (!err && o->bandwidth)
		err = predict(o, &rep);
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
		"                       [--bpf-pages N] [--bpf-ranges N] [--bpf-ringbuf SIZE]\n"
		"                       [--bandwidth RATE [--downtime-limit MS] [--max-rounds N]]\n\n"
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
		"  --plot FILE.svg       also draw the rate over time and a write heat map\n"
		"  --bandwidth RATE      also predict a pre-copy `ferry migrate` at RATE bytes/s\n"
		"                        (K, M, G suffixes): its rounds, whether it converges\n"
		"                        under --downtime-limit MS (default 300) within\n"
		"                        --max-rounds N (default 8), and its downtime; with\n"
		"                        --json a second line {\"prediction\":{...}}\n" CLI_TRACK_OPTS_HELP
		"\n"
		"A process tracked for a pre-dump chain is refused: measuring would re-arm\n"
		"its dirty bits.\n",
};
