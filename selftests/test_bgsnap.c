// SPDX-License-Identifier: MIT
/*
 * Background snapshot end to end (`dump --leave-running`, bgsnap.h): the
 * bgwriter workload writes pages all the time; the images must hold its
 * memory at the freeze (a restore of them verifies itself), and nothing may
 * be left write-protected after success, after a failure, or when ferry is
 * SIGKILLed in the middle of the copy (the kernel releases the userfaultfd
 * ferry held alone). Frozen times are reported (cr_log_info), never asserted.
 *
 * Real ptrace, userfaultfd and PAGEMAP_SCAN; nothing mocked.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compat.h"
#include "helpers.h"

#define VERDICT_MS 10000

struct bw {
	char *dir;
	char out[512];
	pid_t pid;
};

static void bw_start_mode(struct bw *w, const char *pages, const char *rate, const char *mode)
{
	const char *argv[] = { "bgwriter", pages, rate, mode, NULL };

	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	w->dir = t_tmpdir();
	snprintf(w->out, sizeof(w->out), "%s/out", w->dir);
	w->pid = t_spawn_ready(w->out, argv, "ready", 20000, NULL);
}

static void bw_start(struct bw *w, const char *pages, const char *rate)
{
	bw_start_mode(w, pages, rate, NULL);
}

static void bw_stop(struct bw *w)
{
	if (w->pid > 0 && t_proc_state(w->pid))
		kill(w->pid, SIGKILL);
	while (waitpid(-1, NULL, 0) > 0)
		;
	t_rmrf(w->dir);
	free(w->dir);
}

/* Pages of @pid whose page table entry still has the uffd-wp bit (pagemap bit 57). */
static long wp_pages(pid_t pid)
{
	char path[64], line[512];
	long n = 0;
	FILE *maps;
	int pm;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	maps = fopen(path, "re");
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	pm = open(path, O_RDONLY | O_CLOEXEC);
	if (!maps || pm < 0) {
		if (maps)
			fclose(maps);
		if (pm >= 0)
			close(pm);
		return -1;
	}
	while (fgets(line, sizeof(line), maps)) {
		unsigned long long a, e;
		uint64_t ent[512];

		if (sscanf(line, "%llx-%llx", &a, &e) != 2 || strstr(line, "[vsyscall]"))
			continue;
		for (; a < e; a += 512 * 4096ull) {
			size_t cnt = (e - a) / 4096 < 512 ? (e - a) / 4096 : 512;
			ssize_t r = pread(pm, ent, cnt * 8, (off_t)(a / 4096 * 8));

			for (ssize_t i = 0; i < r / 8; i++)
				n += !!(ent[i] & PAGEMAP_ENTRY_UFFD_WP);
		}
	}
	fclose(maps);
	close(pm);
	return n;
}

/* No userfaultfd, no uffd-wp VMA or page, not traced, running or sleeping. */
static void expect_clean(pid_t pid, const char *when)
{
	char *out = NULL;
	char st = t_proc_state(pid);
	int uffd = t_run(&out, NULL, "ls -l /proc/%d/fd | grep -q userfaultfd", pid) == 0;
	int uw;

	free(out);
	out = NULL;
	uw = t_run(&out, NULL, "grep -q '^VmFlags:.* uw' /proc/%d/smaps", pid) == 0;
	free(out);
	cr_expect(!uffd, "%s: pid %d holds a userfaultfd", when, pid);
	cr_expect(!uw, "%s: pid %d has a VMA registered for uffd-wp", when, pid);
	cr_expect_eq(wp_pages(pid), 0, "%s: pid %d has write-protected pages", when, pid);
	cr_expect(st == 'S' || st == 'R', "%s: pid %d is in state '%c'", when, pid, st ? st : '-');
	cr_expect_eq(t_proc_field(pid, "TracerPid"), 0, "%s: pid %d is traced", when, pid);
}

/* The step counter of the last "verify ok K" line of @out. */
static unsigned long last_step(const char *out)
{
	char *s = t_read_file(out, NULL), *p, *last = NULL;
	unsigned long k = 0;

	for (p = s; p && (p = strstr(p, "verify ok ")); p++)
		last = p;
	if (last)
		k = strtoul(last + 10, NULL, 10);
	free(s);
	return k;
}

/* A number after @key in @text ("frozen 1234 us" -> 1234), or -1. */
static long long field(const char *text, const char *key)
{
	const char *p = text ? strstr(text, key) : NULL;
	long long v = -1;

	if (p && sscanf(p + strlen(key), "%lld", &v) != 1)
		v = -1;
	return v;
}

/* The writer goes on writing (its counter moves) and its memory is consistent. */
static void expect_writing(struct bw *w)
{
	unsigned long k0, k1;

	t_expect_verdict(w->out, w->pid, SIGUSR1, "verify ok", "verify BAD", VERDICT_MS);
	k0 = last_step(w->out);
	usleep(100000);
	t_expect_verdict(w->out, w->pid, SIGUSR1, "verify ok", "verify BAD", VERDICT_MS);
	k1 = last_step(w->out);
	cr_expect_gt(k1, k0, "pid %d stopped writing (step %lu, then %lu)", w->pid, k0, k1);
}

/* Kill the original, restore @dir, and let the restored writer check its memory. */
static void restore_and_verify(struct bw *w, const char *dir)
{
	char *err = NULL;
	int rc;

	t_kill_wait(w->pid);
	rc = t_run(NULL, &err, "%s restore -D %s -d --pidfile %s/rpid -v3", t_ferry_bin(), dir,
		   w->dir);
	cr_assert_eq(rc, 0, "restore of %s failed:\n%s", dir, err ? err : "");
	free(err);
	t_expect_verdict(w->out, w->pid, SIGUSR1, "verify ok", "verify BAD", VERDICT_MS);
}

static char *dump(struct bw *w, const char *dir, const char *extra, int *rc)
{
	char *err = NULL;

	*rc = t_run(NULL, &err, "%s dump -t %d -D %s/%s --leave-running %s -v3", t_ferry_bin(),
		    w->pid, w->dir, dir, extra ? extra : "");
	return err;
}

TestSuite(bgsnap, .timeout = 120);

/*
 * 32 MiB written at 20000 pages/s during the dump: the images are its memory
 * at the freeze, the original runs on untouched, nothing stays protected.
 */
Test(bgsnap, snapshot_is_the_memory_at_the_freeze)
{
	struct bw w;
	char dir[600];
	char *err;
	int rc;

	bw_start(&w, "8192", "20000");
	err = dump(&w, "d", NULL, &rc);
	cr_assert_eq(rc, 0, "dump failed:\n%s", err ? err : "");
	cr_expect(strstr(err, "memory copied in the background"),
		  "the background path did not run:\n%s", err);
	cr_log_info("bgsnap 32 MiB at 20000 pages/s: frozen %lld us, copy after the release "
		    "%lld us, %lld write faults, %lld pages copied first",
		    field(err, ", frozen "), field(err, "copy "),
		    field(err, "us after the release, "), field(err, "faults ("));
	free(err);
	expect_clean(w.pid, "after the dump");
	expect_writing(&w);
	snprintf(dir, sizeof(dir), "%s/d", w.dir);
	if (t_crit()) {
		err = NULL;
		rc = t_run(NULL, &err, "%s decode -i %s/pagemap-%d.img >/dev/null", t_crit(), dir,
			   w.pid);
		cr_expect_eq(rc, 0, "crit cannot decode the pagemap:\n%s", err ? err : "");
		free(err);
	}
	restore_and_verify(&w, dir);
	bw_stop(&w);
}

/* --frozen-copy takes the old path; its images restore as well. Both frozen times reported. */
Test(bgsnap, frozen_copy_on_request)
{
	struct bw w;
	char dir[600];
	char *err;
	long long bg, fr;
	int rc;

	bw_start(&w, "8192", "1000");
	err = dump(&w, "bg", NULL, &rc);
	cr_assert_eq(rc, 0, "dump failed:\n%s", err ? err : "");
	bg = field(err, ", frozen ");
	free(err);
	err = dump(&w, "fr", "--frozen-copy", &rc);
	cr_assert_eq(rc, 0, "dump --frozen-copy failed:\n%s", err ? err : "");
	cr_expect(strstr(err, "memory copied while the tree was frozen"),
		  "--frozen-copy did not copy frozen:\n%s", err);
	fr = field(err, ", frozen ");
	free(err);
	cr_log_info("32 MiB: frozen %lld us in the background path, %lld us with --frozen-copy", bg,
		    fr);
	expect_clean(w.pid, "after the dumps");
	snprintf(dir, sizeof(dir), "%s/fr", w.dir);
	restore_and_verify(&w, dir);
	bw_stop(&w);
}

/* A failure after the release (FERRY_FAIL=bg-copy) publishes nothing and leaves nothing. */
Test(bgsnap, failure_mid_copy_leaves_nothing)
{
	struct bw w;
	char path[700];
	char *err;
	int rc;

	bw_start(&w, "8192", "5000");
	setenv("FERRY_FAIL", "bg-copy", 1);
	err = dump(&w, "d", NULL, &rc);
	unsetenv("FERRY_FAIL");
	cr_expect_neq(rc, 0, "the dump did not fail:\n%s", err ? err : "");
	free(err);
	snprintf(path, sizeof(path), "%s/d/inventory.img", w.dir);
	cr_expect(access(path, F_OK), "a failed dump published %s", path);
	expect_clean(w.pid, "after the failed dump");
	expect_writing(&w);
	bw_stop(&w);
}

/*
 * ferry SIGKILLed with the memory protected and the writer blocked on it
 * (bg-released), and after a few MiB copied (bg-mid), several times: the
 * kernel's release of the userfaultfd wakes the writer and lifts every
 * protection; it writes on with its memory intact.
 */
Test(bgsnap, ferry_killed_mid_copy, .timeout = 180)
{
	static const char *const points[] = { "bg-released", "bg-mid" };
	struct bw w;
	char *err;
	int rc;

	bw_start(&w, "16384", "5000");
	for (int i = 0; i < 6; i++) {
		const char *pt = points[i % 2];
		char name[16];

		snprintf(name, sizeof(name), "k%d", i);
		setenv("FERRY_FAULT", pt, 1);
		err = dump(&w, name, NULL, &rc);
		unsetenv("FERRY_FAULT");
		cr_expect_neq(rc, 0, "ferry was not killed at %s:\n%s", pt, err ? err : "");
		free(err);
		usleep(50000);
		expect_clean(w.pid, pt);
		expect_writing(&w);
	}
	bw_stop(&w);
}

/*
 * A pre-dump armed async uffd-wp tracking on the writer: the dump ending the
 * chain stops it while frozen and registers its own synchronous uffd; the
 * chain restores exactly.
 */
Test(bgsnap, ends_a_tracked_chain)
{
	struct bw w;
	char args[700], dir[600];
	char *err = NULL;
	int rc;

	bw_start(&w, "8192", "5000");
	snprintf(args, sizeof(args), "%s pre-dump -t %d -D %s/1 -v3", t_ferry_bin(), w.pid, w.dir);
	rc = t_run(NULL, &err, "%s", args);
	cr_assert_eq(rc, 0, "pre-dump failed:\n%s", err ? err : "");
	free(err);
	usleep(100000);
	err = dump(&w, "2", "--prev-images-dir ../1", &rc);
	cr_assert_eq(rc, 0, "dump failed:\n%s", err ? err : "");
	cr_expect(strstr(err, "memory copied in the background"),
		  "the background path did not run after tracking:\n%s", err);
	free(err);
	expect_clean(w.pid, "after the chain's dump");
	snprintf(dir, sizeof(dir), "%s/2", w.dir);
	restore_and_verify(&w, dir);
	bw_stop(&w);
}

/*
 * Step 1 of issue 21: a pre-dump round is frozen only for its scan and copies
 * while the writer writes (64 MiB at 20000 pages/s); a page written during
 * the copy is in the next round. The chain restores exactly.
 */
Test(bgsnap, predump_rounds_copy_while_it_writes)
{
	struct bw w;
	char *err = NULL;
	int rc;

	bw_start(&w, "16384", "20000");
	for (int i = 1; i <= 2; i++) {
		if (i == 1)
			rc = t_run(NULL, &err, "%s pre-dump -t %d -D %s/1 -v3", t_ferry_bin(),
				   w.pid, w.dir);
		else
			rc = t_run(NULL, &err,
				   "%s pre-dump -t %d -D %s/%d --prev-images-dir ../%d -v3",
				   t_ferry_bin(), w.pid, w.dir, i, i - 1);
		cr_assert_eq(rc, 0, "pre-dump %d failed:\n%s", i, err ? err : "");
		cr_log_info("pre-dump round %d of 64 MiB at 20000 pages/s: frozen %lld us, "
			    "copied in %lld us while it ran",
			    i, field(err, ", frozen "), field(err, "us, writing "));
		free(err);
		err = NULL;
	}
	rc = t_run(NULL, &err, "%s dump -t %d -D %s/3 --prev-images-dir ../2 -v3", t_ferry_bin(),
		   w.pid, w.dir);
	cr_assert_eq(rc, 0, "final dump failed:\n%s", err ? err : "");
	free(err);
	cr_assert_eq(waitpid(w.pid, NULL, 0), w.pid);
	rc = t_run(NULL, &err, "%s restore -D %s/3 -d --pidfile %s/rpid -v3", t_ferry_bin(), w.dir,
		   w.dir);
	cr_assert_eq(rc, 0, "restore failed:\n%s", err ? err : "");
	free(err);
	t_expect_verdict(w.out, w.pid, SIGUSR1, "verify ok", "verify BAD", VERDICT_MS);
	bw_stop(&w);
}

/*
 * The writer drops (MADV_DONTNEED) each page before it writes it, 20000 a
 * second: some drop pages not copied yet, which would leave the snapshot
 * without them. The REMOVE events spoil the background snapshot; the dump is
 * taken again, frozen, and its images restore exactly.
 */
Test(bgsnap, memory_dropped_under_the_copy_retakes_it_frozen)
{
	struct bw w;
	char dir[600];
	char *err;
	int rc;

	bw_start_mode(&w, "8192", "20000", "drop");
	err = dump(&w, "d", NULL, &rc);
	cr_assert_eq(rc, 0, "dump failed:\n%s", err ? err : "");
	cr_expect(strstr(err, "spoiled and taken again"),
		  "no page dropped under the copy was noticed:\n%s", err);
	free(err);
	expect_clean(w.pid, "after the dump");
	expect_writing(&w);
	snprintf(dir, sizeof(dir), "%s/d", w.dir);
	restore_and_verify(&w, dir);
	bw_stop(&w);
}

/*
 * scribbler writes all the time and every few dozen ms unmaps, maps, moves
 * (mremap) and drops memory: whether the background snapshot holds or is
 * spoiled and taken again frozen, the images restore exactly. Twice, to
 * catch both outcomes more often; the path taken is reported.
 */
Test(bgsnap, churning_writer_restores_exactly)
{
	const char *argv[] = { "scribbler", "4096", "64", NULL };
	struct bw w;
	char dir[600];
	char *err;
	int rc;

	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	w.dir = t_tmpdir();
	snprintf(w.out, sizeof(w.out), "%s/out", w.dir);
	w.pid = t_spawn_ready(w.out, argv, "ready", 10000, NULL);
	for (int i = 0; i < 2; i++) {
		char name[8];

		snprintf(name, sizeof(name), "d%d", i);
		err = dump(&w, name, NULL, &rc);
		cr_assert_eq(rc, 0, "dump %d failed:\n%s", i, err ? err : "");
		cr_log_info("churning writer, dump %d: %s", i,
			    strstr(err, "spoiled and taken again") ? "spoiled, taken again frozen"
			    : strstr(err, "in the background")	   ? "background"
								   : "frozen");
		free(err);
		expect_clean(w.pid, "after the dump");
		t_expect_verdict(w.out, w.pid, SIGUSR1, "verify ok", "verify BAD", VERDICT_MS);
	}
	snprintf(dir, sizeof(dir), "%s/d1", w.dir);
	restore_and_verify(&w, dir);
	bw_stop(&w);
}

/* `ferry check` says whether this kernel lets dump --leave-running copy in the background. */
Test(bgsnap, check_probes_sync_write_protection, .timeout = 30)
{
	char *out = NULL;
	int rc = t_run(&out, NULL, "%s check 2>&1", t_ferry_bin());

	cr_expect(out && strstr(out, "uffd-wp-sync"), "no uffd-wp-sync line (rc %d):\n%s", rc,
		  out ? out : "");
	if (out && strstr(out, "uffd-wp-sync") && geteuid() == 0)
		cr_expect(strstr(out, "ok       uffd-wp-sync"),
			  "this kernel (6.18, root) should have it:\n%s", out);
	free(out);
}
