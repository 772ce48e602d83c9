// SPDX-License-Identifier: MIT
/*
 * `ferry dirtyrate` against a workload whose dirty rate is known: dirtier
 * writes one byte to a new page every 1/RATE s, cycling through more pages
 * than an interval can reach, so every write of an interval dirties a
 * distinct page. Real ptrace, userfaultfd, PAGEMAP_SCAN and BPF.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dirty_bpf.h"
#include "helpers.h"
#include "tracker.h"

struct dw {
	char *dir;
	char out[512], log[512], json[512];
	pid_t pid;
	uint64_t base, pages;
};

/* dirtier at @rate pages/s over @pages pages, logging the time of every write. */
static void dw_start(struct dw *w, unsigned rate, unsigned pages)
{
	char r[32], p[32], *line;
	const char *argv[] = { "dirtier", "--rate", r, "--pages", p, "--log", NULL, NULL };
	unsigned long long base = 0, n = 0;

	snprintf(r, sizeof(r), "%u", rate);
	snprintf(p, sizeof(p), "%u", pages);
	w->dir = t_tmpdir();
	snprintf(w->out, sizeof(w->out), "%s/out", w->dir);
	snprintf(w->log, sizeof(w->log), "%s/writes", w->dir);
	snprintf(w->json, sizeof(w->json), "%s/report.json", w->dir);
	argv[6] = w->log;
	w->pid = t_spawn_ready(w->out, argv, "ready", 10000, &line);
	cr_assert_eq(sscanf(line, "ready %llx %llu", &base, &n), 2, "ready line: %s", line);
	free(line);
	w->base = base;
	w->pages = n;
}

/* SIGTERM: the dirtier writes its log and exits 0. */
static void dw_finish(struct dw *w)
{
	int st = -1;

	cr_assert_eq(kill(w->pid, SIGTERM), 0);
	cr_assert_eq(waitpid(w->pid, &st, 0), w->pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "dirtier ended with status 0x%x", st);
	w->pid = 0;
}

static void dw_stop(struct dw *w)
{
	if (w->pid > 0)
		t_kill_wait(w->pid);
	t_rmrf(w->dir);
	free(w->dir);
}

/* `ferry dirtyrate --json` on the dirtier for @dur s in @iv ms intervals, into w->json. */
static void measure(struct dw *w, unsigned iv, double dur)
{
	char *err = NULL;
	int rc;

	rc = t_run(NULL, &err, "%s dirtyrate -t %d --interval %u --duration %g --json > %s",
		   t_ferry_bin(), w->pid, iv, dur, w->json);
	cr_assert_eq(rc, 0, "dirtyrate failed: %s", err ? err : "");
	free(err);
}

TestSuite(dirtyrate, .timeout = 180);

/*
 * 100 to 100 000 pages/s asked: ferry counts the pages the dirtier really
 * wrote in each interval, whatever pace a busy machine let it keep, and BPF
 * counts what PAGEMAP_SCAN counts. Times are only read, never asserted.
 */
Test(dirtyrate, counts_what_the_writer_wrote)
{
	static const unsigned rates[] = { 100, 1000, 10000, 100000 };

	for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
		unsigned rate = rates[i], pages = rate >= 100000 ? 32768 : 8192;
		unsigned long long wrote, buf, all;
		int equal, nr;
		struct dw w;

		dw_start(&w, rate, pages);
		measure(&w, 200, rate < 1000 ? 3 : 1.2);
		dw_finish(&w);
		t_dirtyrate_vs_log(w.json, w.log, w.pages, w.base, &wrote, &buf, &all, &nr, &equal);
		cr_log_info("rate %u pages/s asked: %llu pages written in %d intervals, ferry "
			    "counted %llu in the buffer, %llu in all",
			    rate, wrote, nr, buf, all);
		cr_expect_geq(nr, 5);
		/*
		 * A write whose time was read just before a stop is made just after
		 * it: one page per interval boundary may fall on the other side.
		 */
		cr_expect(buf + nr + 1 >= wrote && buf <= wrote + nr + 1,
			  "rate %u pages/s: ferry counted %llu pages in the buffer, the dirtier "
			  "wrote %llu in the same %d intervals",
			  rate, buf, wrote, nr);
		/* The rest of the process: its stack, TLS and the write log itself. */
		cr_expect(all >= buf && all <= buf + 4ull * nr + wrote * 8 / 4096 + nr,
			  "rate %u pages/s: %llu pages in all, %llu in the buffer", rate, all, buf);
		if (!equal) {
			char *j = t_read_file(w.json, NULL);

			cr_log_info(
				"rate %u pages/s: the report, for the interval that differs: %s",
				rate, j ? j : "(unreadable)");
			free(j);
		}
		/*
		 * BPF counts a write when its fault begins, the scan once it is done:
		 * a fault the stop interrupts is retried after it, counted by BPF in
		 * both intervals, so BPF may be one page ahead (one thread), never behind.
		 */
		cr_expect(equal,
			  "rate %u pages/s: BPF and PAGEMAP_SCAN differ by more than the "
			  "dirtier's one fault in flight in some interval",
			  rate);
		dw_stop(&w);
	}
}

Test(dirtyrate, tracking_removed_after)
{
	struct dirty_bpf_opts bo = { 0 };
	struct dirty_bpf_range range;
	struct dirty_bpf_counts c;
	struct dirty_bpf *d;
	struct dw w;

	dw_start(&w, 5000, 8192);
	measure(&w, 100, 0.3);
	cr_expect_neq(t_run(NULL, NULL, "ls -l /proc/%d/fd | grep -q userfaultfd", w.pid), 0,
		      "pid %d still holds a userfaultfd", w.pid);
	cr_expect_neq(t_run(NULL, NULL, "grep -q '^VmFlags:.* uw' /proc/%d/smaps", w.pid), 0,
		      "pid %d still has uffd-wp memory", w.pid);
	cr_expect(!tracker_is_armed(w.pid));
	/* It writes 5000 pages/s into its buffer: none of it may fault any more. */
	bo.tgid = w.pid;
	cr_assert_eq(dirty_bpf_open(&d, &bo), 0);
	range.start = w.base;
	range.end = w.base + w.pages * 4096;
	cr_assert_eq(dirty_bpf_set_ranges(d, &range, 1), 0);
	cr_assert_eq(dirty_bpf_next_interval(d, &c, NULL, 0), 0);
	usleep(300000);
	cr_assert_eq(dirty_bpf_next_interval(d, &c, NULL, 0), 0);
	cr_expect_eq(c.faults, 0, "%llu write faults after tracking ended",
		     (unsigned long long)c.faults);
	dirty_bpf_close(d);
	cr_expect_eq(kill(w.pid, 0), 0, "the measured process died");
	dw_stop(&w);
}

/* A process tracked for a pre-dump chain is not measured (it would break the chain). */
Test(dirtyrate, refuses_a_tracked_process)
{
	char *err = NULL;
	struct dw w;
	int rc;

	dw_start(&w, 100, 4096);
	cr_assert_eq(t_run(NULL, NULL, "%s track -t %d", t_ferry_bin(), w.pid), 0);
	rc = t_run(NULL, &err, "%s dirtyrate -t %d --duration 0.2", t_ferry_bin(), w.pid);
	cr_expect_neq(rc, 0);
	cr_expect(err && strstr(err, "pre-dump chain"), "message: %s", err ? err : "");
	free(err);
	cr_assert_eq(t_run(NULL, NULL, "%s track -t %d --stop", t_ferry_bin(), w.pid), 0);
	dw_stop(&w);
}

/* The text report and the SVG plot of a real run. */
Test(dirtyrate, text_and_plot)
{
	char *out = NULL, svg[600];
	struct dw w;
	int rc;

	dw_start(&w, 2000, 4096);
	snprintf(svg, sizeof(svg), "%s/rate.svg", w.dir);
	rc = t_run(&out, NULL, "%s dirtyrate -t %d --interval 100 --duration 0.5 --plot %s",
		   t_ferry_bin(), w.pid, svg);
	cr_assert_eq(rc, 0);
	cr_expect(strstr(out, "dirty-rate") && strstr(out, "working set"), "report:\n%s", out);
	free(out);
	cr_expect_eq(
		t_run(NULL, NULL,
		      "python3 -c 'import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])' %s",
		      svg),
		0, "%s is not well-formed", svg);
	dw_stop(&w);
}
