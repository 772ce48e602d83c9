// SPDX-License-Identifier: MIT
/*
 * Iterative pre-dump end to end: dirty-page tracking armed on a live
 * workload, rounds that copy only what changed, a final dump ending the
 * chain, restore through the chain; and tracking removed by `track --stop`,
 * by a dump, by a failed pre-dump, never left behind.
 *
 * Real ptrace, userfaultfd and PAGEMAP_SCAN; nothing mocked.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "img.h"
#include "pagemap.pb-c.h"
#include "pagemap_flags.h"
#include "soft_dirty.h"
#include "tracker.h"

struct pw {
	char *dir;
	char out[512];
	pid_t pid;
};

static void pw_start(struct pw *w, const char *const argv[], const char *ready)
{
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	w->dir = t_tmpdir();
	snprintf(w->out, sizeof(w->out), "%s/out", w->dir);
	w->pid = t_spawn_ready(w->out, argv, ready, 10000, NULL);
}

static void pw_stop(struct pw *w)
{
	if (w->pid > 0) {
		t_run(NULL, NULL, "%s track -t %d --stop 2>/dev/null", t_ferry_bin(), w->pid);
		t_kill_wait(w->pid);
	}
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	t_rmrf(w->dir);
	free(w->dir);
}

/* Run ferry with @args (after the subcommand) and return its exit status; stderr in *err. */
static int ferry(char **err, const char *cmd, const char *args)
{
	return t_run(NULL, err, "%s %s %s -v3", t_ferry_bin(), cmd, args);
}

static void ferry_ok(const char *cmd, const char *args)
{
	char *err = NULL;
	int rc = ferry(&err, cmd, args);

	cr_assert_eq(rc, 0, "ferry %s %s failed (%d):\n%s", cmd, args, rc, err ? err : "");
	free(err);
}

/* Does the process hold a userfaultfd, and has it a VMA registered for uffd-wp ("uw")? */
static int holds_uffd(pid_t pid)
{
	char *out = NULL;
	int rc = t_run(&out, NULL, "ls -l /proc/%d/fd | grep -c userfaultfd", pid);

	free(out);
	return rc == 0;
}

static int has_uw_vma(pid_t pid)
{
	char *out = NULL;
	int rc = t_run(&out, NULL, "grep -q '^VmFlags:.* uw' /proc/%d/smaps", pid);

	free(out);
	return rc == 0;
}

static void expect_untracked(pid_t pid, const char *when)
{
	char st = t_proc_state(pid);

	cr_expect(!holds_uffd(pid), "%s: pid %d still holds a userfaultfd", when, pid);
	cr_expect(!has_uw_vma(pid), "%s: pid %d still has uffd-wp registered memory", when, pid);
	cr_expect(!tracker_is_armed(pid), "%s: pid %d still has a tracking state file", when, pid);
	cr_expect(st == 'S' || st == 'R', "%s: pid %d is in state '%c'", when, pid, st);
	cr_expect_eq(t_proc_field(pid, "TracerPid"), 0, "%s: pid %d is still traced", when, pid);
}

/* Pages of pagemap-PID.img in @dir: copied here (PE_PRESENT) and left to the parent. */
static void pagemap_counts(const char *dir, pid_t pid, uint64_t *present, uint64_t *parent)
{
	ProtobufCMessage *m;
	struct img *img;
	char name[64];
	int dfd = open(dir, O_RDONLY | O_DIRECTORY), first = 1, rc;

	cr_assert_geq(dfd, 0, "cannot open %s", dir);
	snprintf(name, sizeof(name), "pagemap-%d.img", pid);
	cr_assert_eq(img_open(&img, dfd, name, IMG_PAGEMAP), 0, "%s/%s", dir, name);
	*present = *parent = 0;
	while ((rc = img_read_entry(img, &m)) == 1) {
		const PagemapEntry *e = (const PagemapEntry *)m;

		if (!first) {
			if (e->flags & PE_PARENT)
				*parent += e->nr_pages;
			else
				*present += e->nr_pages;
		}
		first = 0;
		protobuf_c_message_free_unpacked(m, NULL);
	}
	cr_assert_eq(rc, 0);
	img_close(img);
	close(dfd);
}

/* How long a workload has to answer SIGUSR1 with its verdict (t_expect_verdict). */
#define VERDICT_MS 10000

TestSuite(predump, .timeout = 180);

/*
 * memhog idles: the second round copies (almost) nothing, and says the rest
 * is in the parent; after SIGUSR2 rewrites everything, the third copies it all.
 */
Test(predump, rounds_copy_only_what_changed)
{
	const char *argv[] = { "memhog", "32", NULL };
	uint64_t present, parent, p1;
	char args[1200];
	struct pw w;

	pw_start(&w, argv, "ready");
	snprintf(args, sizeof(args), "-t %d -D %s/1", w.pid, w.dir);
	ferry_ok("pre-dump", args);
	cr_expect(holds_uffd(w.pid) && has_uw_vma(w.pid) && tracker_is_armed(w.pid),
		  "tracking is not armed after the first pre-dump");
	snprintf(args, sizeof(args), "%s/1", w.dir);
	pagemap_counts(args, w.pid, &p1, &parent);
	/* memhog's own pages: 32 MiB less the never-touched 64th pages. */
	cr_expect_geq(p1, 32 * 256 - 32 * 256 / 64, "first round copied only %lu pages", p1);
	cr_expect_eq(parent, 0);

	snprintf(args, sizeof(args), "-t %d -D %s/2 --prev-images-dir ../1", w.pid, w.dir);
	ferry_ok("pre-dump", args);
	snprintf(args, sizeof(args), "%s/2", w.dir);
	pagemap_counts(args, w.pid, &present, &parent);
	cr_expect_lt(present, 64, "an idle process had %lu pages copied again", present);
	cr_expect_geq(parent, 32 * 256 - 32 * 256 / 64, "only %lu pages left to the parent",
		      parent);

	kill(w.pid, SIGUSR2);
	/* Its own word that it rewrote everything, not a guess at how long that takes. */
	cr_assert_not_null(t_wait_line(w.out, "rewrote seed", 30000), "memhog did not rewrite");
	snprintf(args, sizeof(args), "-t %d -D %s/3 --prev-images-dir ../2", w.pid, w.dir);
	ferry_ok("pre-dump", args);
	snprintf(args, sizeof(args), "%s/3", w.dir);
	pagemap_counts(args, w.pid, &present, &parent);
	cr_expect_geq(present, 32 * 256 - 32 * 256 / 64,
		      "a rewritten mapping: only %lu pages copied", present);
	pw_stop(&w);
}

/*
 * A sparse mapping (64 MiB, 1 page in 64 written) tracked before the first
 * round (`ferry track`, as a chain that starts with tracking does): the
 * never-touched pages hold uffd-wp markers, which are no pages. Each round
 * and the final dump copy only pages with data, and the restore from the
 * chain gives back the pages and the holes.
 */
Test(predump, sparse_rounds_copy_only_pages_with_data)
{
	const char *argv[] = { "memhog", "64", "1", "sparse", NULL };
	const uint64_t touched = 64 * 256 / 64;
	uint64_t present, parent;
	char args[1400], pidfile[600];
	int status;
	struct pw w;

	pw_start(&w, argv, "ready");
	snprintf(args, sizeof(args), "-t %d", w.pid);
	ferry_ok("track", args);
	snprintf(args, sizeof(args), "-t %d -D %s/1", w.pid, w.dir);
	ferry_ok("pre-dump", args);
	snprintf(args, sizeof(args), "%s/1", w.dir);
	pagemap_counts(args, w.pid, &present, &parent);
	/* memhog's pages, and a few hundred of its libc, stack and heap. */
	cr_expect(present >= touched && present < touched + 1024,
		  "first round copied %lu pages for %lu written (64 MiB mapped)", present, touched);

	snprintf(args, sizeof(args), "-t %d -D %s/2 --prev-images-dir ../1", w.pid, w.dir);
	ferry_ok("pre-dump", args);
	snprintf(args, sizeof(args), "%s/2", w.dir);
	pagemap_counts(args, w.pid, &present, &parent);
	cr_expect_lt(present, 64, "an idle process had %lu pages copied again", present);
	cr_expect(parent >= touched && parent < touched + 1024, "%lu pages left to the parent",
		  parent);

	kill(w.pid, SIGUSR2); /* rewrites its pages (seed 2), not the holes */
	cr_assert_not_null(t_wait_line(w.out, "rewrote seed 2", 10000));
	snprintf(args, sizeof(args), "-t %d -D %s/3 --prev-images-dir ../2", w.pid, w.dir);
	ferry_ok("dump", args);
	cr_assert_eq(waitpid(w.pid, &status, 0), w.pid);
	snprintf(args, sizeof(args), "%s/3", w.dir);
	pagemap_counts(args, w.pid, &present, &parent);
	cr_expect(present >= touched && present + parent < touched + 1024,
		  "final dump: %lu pages copied, %lu in the parents, for %lu written", present,
		  parent, touched);

	snprintf(pidfile, sizeof(pidfile), "%s/pid", w.dir);
	snprintf(args, sizeof(args), "-D %s/3 -d --pidfile %s", w.dir, pidfile);
	ferry_ok("restore", args);
	t_expect_verdict(w.out, w.pid, SIGUSR1, "memhog: verify ok", "verify BAD", VERDICT_MS);
	pw_stop(&w);
}

/* The state file and the BPF pin directory of @pid's tracking exist. */
static int state_left(pid_t pid)
{
	char path[128];

	snprintf(path, sizeof(path), "/run/ferry/track/%d", pid);
	return !access(path, F_OK);
}

static int pins_left(pid_t pid)
{
	char path[128];

	snprintf(path, sizeof(path), "/sys/fs/bpf/ferry/track-%d", pid);
	return !access(path, F_OK);
}

/*
 * A tracked process dies and no ferry command runs after: its tracking
 * (the state file, the BPF pinned on system-wide tracepoints) ends with it
 * all the same, by the watcher ferry started when it armed.
 */
Test(predump, tracking_ends_with_its_target)
{
	const char *argv[] = { "memhog", "4", NULL };
	char args[64];
	struct pw w;
	pid_t dead;
	int i;

	pw_start(&w, argv, "ready");
	snprintf(args, sizeof(args), "-t %d", w.pid);
	ferry_ok("track", args);
	cr_assert(state_left(w.pid) && pins_left(w.pid), "track left no state or pins");
	dead = w.pid;
	t_kill_wait(w.pid);
	w.pid = 0;
	for (i = 0; i < 100 && (state_left(dead) || pins_left(dead)); i++)
		usleep(50000);
	cr_expect_not(state_left(dead), "pid %d's state file outlived it by 5 s", dead);
	cr_expect_not(pins_left(dead), "pid %d's BPF stayed pinned 5 s after it ended", dead);
	pw_stop(&w);
}

/*
 * SIGKILL the ferry-trackw that watches @pid (the one whose pidfd names it,
 * "Pid:" in its fdinfo), and wait until it is gone. Returns how many it
 * killed.
 */
static int kill_watcher_of(pid_t pid)
{
	char *out = NULL;
	int n = 0, w;

	t_run(&out, NULL,
	      "for w in $(pgrep -x ferry-trackw); do grep -qs '^Pid:[[:space:]]*%d$' "
	      "/proc/$w/fdinfo/* && echo $w; done",
	      pid);
	for (char *p = out; p && (w = (int)strtol(p, &p, 10)) > 0; n++) {
		kill(w, SIGKILL);
		for (int i = 0; i < 200 && !kill(w, 0) && t_proc_state(w) != 'Z'; i++)
			usleep(10000);
	}
	free(out);
	return n;
}

/* `ferry track --status` says @pid is not tracked: 1, or 0. */
static int not_tracked(pid_t pid)
{
	char *out = NULL;
	int rc, no;

	rc = t_run(&out, NULL, "%s track -t %d --status", t_ferry_bin(), pid);
	cr_assert_eq(rc, 0, "track --status of pid %d: exit %d", pid, rc);
	no = out && strstr(out, "is not tracked");
	free(out);
	return no;
}

/*
 * A tracked process dies: the next ferry command that touches tracking, for
 * whatever pid, removes its state and its BPF (attached system-wide), and
 * `track --stop` on the dead pid succeeds. A state file whose starttime is
 * not the running process's (the pid was taken again) is no tracking.
 */
Test(predump, tracking_of_a_dead_process_is_swept)
{
	const char *argv[] = { "memhog", "4", NULL };
	char args[64], path[128], state[256], *err = NULL;
	struct pw w, other;
	pid_t dead;

	pw_start(&w, argv, "ready");
	pw_start(&other, argv, "ready");
	snprintf(args, sizeof(args), "-t %d", w.pid);
	ferry_ok("track", args);
	cr_assert(state_left(w.pid), "no state file after track");
	/* The case the sweep is for: the watcher (ferry-trackw) is gone too. */
	cr_assert_eq(kill_watcher_of(w.pid), 1, "no tracking watcher for pid %d", w.pid);
	dead = w.pid;
	t_kill_wait(w.pid);
	w.pid = 0;
	cr_assert(state_left(dead) && pins_left(dead), "nothing to sweep: the test is void");

	cr_assert_eq(not_tracked(other.pid), 1);
	cr_expect_not(state_left(dead), "the dead pid %d's state file is left", dead);
	cr_expect_not(pins_left(dead), "the dead pid %d's BPF stays pinned", dead);

	snprintf(args, sizeof(args), "-t %d --stop", dead);
	cr_expect_eq(ferry(&err, "track", args), 0, "--stop of a dead pid: %s", err ? err : "");
	free(err);

	/* Another process's state under a live pid: its starttime gives it away. */
	snprintf(path, sizeof(path), "/run/ferry/track/%d", other.pid);
	snprintf(state, sizeof(state),
		 "pid %d\nstarttime 1\nparked_fd 1000\nround 1\nlast_dir 0 0\nbpf 0\n"
		 "mode uffd-wp\n",
		 other.pid);
	cr_assert_eq(t_write_file(path, state, strlen(state)), 0);
	cr_expect_eq(not_tracked(other.pid), 1, "a stale state file made pid %d tracked",
		     other.pid);
	cr_expect_not(state_left(other.pid), "the stale state file of pid %d is left", other.pid);
	cr_expect_eq(kill(other.pid, 0), 0, "the live process was harmed");
	pw_stop(&other);
	pw_stop(&w);
}

/* The target's userfaultfds. */
static int uffds_of(pid_t pid)
{
	char *out = NULL;
	int n = 0;

	t_run(&out, NULL, "ls -l /proc/%d/fd | grep -c userfaultfd", pid);
	if (out)
		n = atoi(out);
	free(out);
	return n;
}

/*
 * ferry killed while it arms, right after it parked the target's uffd and
 * before the state file: the orphan is recognised as ferry's and closed by
 * the next pre-dump (which then tracks with one uffd, not two) and by a
 * dump (which would refuse it as an fd of the program's).
 */
Test(predump, uffd_left_by_a_killed_arm_is_dropped)
{
	const char *argv[] = { "memhog", "8", NULL };
	char args[1200];
	struct pw w;

	pw_start(&w, argv, "ready");
	for (int round = 0; round < 2; round++) {
		cr_assert_neq(t_run(NULL, NULL, "FERRY_FAULT=arm-parked %s track -t %d",
				    t_ferry_bin(), w.pid),
			      0, "the fault point did not kill ferry");
		cr_assert_eq(uffds_of(w.pid), 1, "no orphan uffd to test with");
		cr_assert_not(tracker_is_armed(w.pid));
		if (!round) {
			snprintf(args, sizeof(args), "-t %d -D %s/1", w.pid, w.dir);
			ferry_ok("pre-dump", args);
			cr_expect_eq(uffds_of(w.pid), 1, "the orphan was kept beside the new uffd");
			snprintf(args, sizeof(args), "-t %d --stop", w.pid);
			ferry_ok("track", args);
			cr_expect_eq(uffds_of(w.pid), 0, "a uffd is left after --stop");
		} else {
			snprintf(args, sizeof(args), "-t %d -D %s/2 --leave-running", w.pid, w.dir);
			ferry_ok("dump", args);
			cr_expect_eq(uffds_of(w.pid), 0, "the orphan uffd is left after a dump");
		}
		expect_untracked(w.pid, round ? "after the dump" : "after --stop");
	}
	t_expect_verdict(w.out, w.pid, SIGUSR1, "verify ok", "verify BAD", VERDICT_MS);
	pw_stop(&w);
}

/*
 * The acceptance test: a workload that writes all the time (and maps, unmaps,
 * moves and drops memory) through 3 pre-dumps and a final dump; restored from
 * the chain, each page holds exactly its last write before the final freeze.
 */
Test(predump, chain_restores_a_busy_writer)
{
	const char *argv[] = { "scribbler", "4096", "64", NULL };
	char args[1400], pidfile[600];
	uint64_t present, parent;
	int status;
	struct pw w;

	pw_start(&w, argv, "ready");
	for (int i = 1; i <= 3; i++) {
		if (i == 1)
			snprintf(args, sizeof(args), "-t %d -D %s/1", w.pid, w.dir);
		else
			snprintf(args, sizeof(args), "-t %d -D %s/%d --prev-images-dir ../%d",
				 w.pid, w.dir, i, i - 1);
		ferry_ok("pre-dump", args);
		usleep(150000); /* two churns of its address space between rounds */
	}
	snprintf(args, sizeof(args), "-t %d -D %s/4 --prev-images-dir ../3", w.pid, w.dir);
	ferry_ok("dump", args);
	cr_assert_eq(waitpid(w.pid, &status, 0), w.pid);
	cr_assert(WIFSIGNALED(status), "the dumped writer was not killed");
	snprintf(args, sizeof(args), "%s/4", w.dir);
	pagemap_counts(args, w.pid, &present, &parent);
	cr_expect_gt(parent, 0, "the final dump left nothing to its parents");

	snprintf(pidfile, sizeof(pidfile), "%s/pid", w.dir);
	snprintf(args, sizeof(args), "-D %s/4 -d --pidfile %s", w.dir, pidfile);
	ferry_ok("restore", args);
	{
		char st = t_proc_state(w.pid);
		char *out = t_read_file(w.out, NULL);

		cr_assert(st == 'S' || st == 'R', "restored pid %d in state '%c'; its output:\n%s",
			  w.pid, st ? st : '-', out ? out : "");
		free(out);
	}
	t_expect_verdict(w.out, w.pid, SIGUSR1, "verify ok", "verify BAD", VERDICT_MS);
	/* It goes on writing from where it was, and stays consistent. */
	usleep(200000);
	t_expect_verdict(w.out, w.pid, SIGUSR1, "verify ok", "verify BAD", VERDICT_MS);
	pw_stop(&w);
}

/* `ferry track --stop` removes everything; the process runs on untouched. */
Test(predump, track_stop_removes_tracking)
{
	const char *argv[] = { "scribbler", "1024", "8", NULL };
	char args[600], *out = NULL;
	struct pw w;

	pw_start(&w, argv, "ready");
	snprintf(args, sizeof(args), "-t %d", w.pid);
	ferry_ok("track", args);
	cr_assert(holds_uffd(w.pid) && has_uw_vma(w.pid), "track did not arm");
	cr_assert_eq(t_run(&out, NULL, "%s track -t %d --status --json", t_ferry_bin(), w.pid), 0);
	cr_expect(strstr(out, "\"tracked\": true"), "status: %s", out);
	free(out);
	snprintf(args, sizeof(args), "-t %d --stop", w.pid);
	ferry_ok("track", args);
	expect_untracked(w.pid, "after track --stop");
	cr_assert_eq(t_run(&out, NULL, "%s track -t %d --status --json", t_ferry_bin(), w.pid), 0);
	cr_expect(strstr(out, "\"tracked\": false"), "status: %s", out);
	free(out);
	cr_expect_neq(t_run(NULL, NULL, "%s track -t %d --stop", t_ferry_bin(), w.pid), 0,
		      "stopping an untracked pid succeeded");
	t_expect_verdict(w.out, w.pid, SIGUSR1, "verify ok", "verify BAD", VERDICT_MS);
	pw_stop(&w);
}

/* A dump (that leaves the process running) ends tracking. */
Test(predump, dump_removes_tracking)
{
	const char *argv[] = { "scribbler", "1024", "8", NULL };
	char args[1200];
	struct pw w;

	pw_start(&w, argv, "ready");
	snprintf(args, sizeof(args), "-t %d -D %s/1", w.pid, w.dir);
	ferry_ok("pre-dump", args);
	cr_assert(holds_uffd(w.pid));
	snprintf(args, sizeof(args), "-t %d -D %s/2 --prev-images-dir ../1 --leave-running", w.pid,
		 w.dir);
	ferry_ok("dump", args);
	expect_untracked(w.pid, "after dump --leave-running");
	t_expect_verdict(w.out, w.pid, SIGUSR1, "verify ok", "verify BAD", VERDICT_MS);
	pw_stop(&w);
}

/* A pre-dump that fails stops tracking and publishes nothing. */
Test(predump, failed_predump_removes_tracking)
{
	const char *argv[] = { "scribbler", "1024", "8", NULL };
	const char *points[] = { "predump-frozen", "predump-write" };
	char args[1200], path[600];
	struct pw w;

	pw_start(&w, argv, "ready");
	for (size_t i = 0; i < 2; i++) {
		char *err = NULL;
		int rc;

		snprintf(args, sizeof(args), "-t %d -D %s/a%zu", w.pid, w.dir, i);
		ferry_ok("pre-dump", args);
		snprintf(args, sizeof(args), "-t %d -D %s/b%zu --prev-images-dir ../a%zu", w.pid,
			 w.dir, i, i);
		rc = t_run(NULL, &err, "FERRY_FAIL=%s %s pre-dump %s", points[i], t_ferry_bin(),
			   args);
		cr_expect_neq(rc, 0, "pre-dump with %s failing succeeded", points[i]);
		cr_expect(err && strstr(err, "tracking is stopped"), "%s: %s", points[i],
			  err ? err : "");
		free(err);
		expect_untracked(w.pid, points[i]);
		snprintf(path, sizeof(path), "%s/b%zu/inventory.img", w.dir, i);
		cr_expect(access(path, F_OK), "a failed pre-dump published %s", path);
	}
	t_expect_verdict(w.out, w.pid, SIGUSR1, "verify ok", "verify BAD", VERDICT_MS);
	pw_stop(&w);
}

/*
 * A real failure, not an injected one: the second round's directory is on a
 * filesystem too small for its pages. The round fails on the pages file's
 * reservation, says so, publishes nothing and stops tracking.
 */
Test(predump, full_disk_removes_tracking)
{
	const char *argv[] = { "scribbler", "1024", "8", NULL };
	char args[1200], mnt[600], *err = NULL;
	struct pw w;
	int rc;

	pw_start(&w, argv, "ready");
	snprintf(mnt, sizeof(mnt), "%s/small", w.dir);
	rc = t_small_fs(mnt, "256k");
	if (rc) {
		pw_stop(&w);
		cr_skip_test("cannot mount a tmpfs: %s", strerror(-rc));
	}
	snprintf(args, sizeof(args), "-t %d -D %s/a", w.pid, w.dir);
	ferry_ok("pre-dump", args);
	cr_assert(tracker_is_armed(w.pid));
	snprintf(args, sizeof(args), "-t %d -D %s/b --prev-images-dir %s/a", w.pid, mnt, w.dir);
	rc = ferry(&err, "pre-dump", args);
	cr_expect_neq(rc, 0, "a pre-dump into 256 KiB succeeded");
	cr_expect(err && strstr(err, "No space left on device") && strstr(err, "pages-1.img") &&
			  strstr(err, "tracking is stopped"),
		  "%s", err ? err : "");
	free(err);
	expect_untracked(w.pid, "full disk");
	snprintf(args, sizeof(args), "%s/b/inventory.img", mnt);
	cr_expect(access(args, F_OK), "a failed pre-dump published %s", args);
	t_expect_verdict(w.out, w.pid, SIGUSR1, "verify ok", "verify BAD", VERDICT_MS);
	t_small_fs_done(mnt);
	pw_stop(&w);
}

/*
 * ferry killed after a round re-armed the dirty bits but before it saved the
 * round: the next pre-dump must not trust the old parent (pages written in
 * between would be lost) and copies everything.
 */
Test(predump, killed_round_is_never_trusted)
{
	const char *argv[] = { "memhog", "16", NULL };
	uint64_t present, parent, p1;
	char args[1200], *err = NULL;
	struct pw w;
	int rc;

	pw_start(&w, argv, "ready");
	snprintf(args, sizeof(args), "-t %d -D %s/1", w.pid, w.dir);
	ferry_ok("pre-dump", args);
	snprintf(args, sizeof(args), "%s/1", w.dir);
	pagemap_counts(args, w.pid, &p1, &parent);
	snprintf(args, sizeof(args), "-t %d -D %s/2 --prev-images-dir ../1", w.pid, w.dir);
	rc = t_run(NULL, NULL, "FERRY_FAULT=predump-write %s pre-dump %s", t_ferry_bin(), args);
	cr_expect_neq(rc, 0);
	kill(w.pid, SIGUSR2); /* written after the killed round's re-arm */
	cr_assert_not_null(t_wait_line(w.out, "rewrote seed", 30000), "memhog did not rewrite");
	snprintf(args, sizeof(args), "-t %d -D %s/3 --prev-images-dir ../1", w.pid, w.dir);
	rc = ferry(&err, "pre-dump", args);
	cr_assert_eq(rc, 0, "%s", err ? err : "");
	cr_expect(strstr(err, "every page is copied"), "no warning: %s", err);
	free(err);
	snprintf(args, sizeof(args), "%s/3", w.dir);
	pagemap_counts(args, w.pid, &present, &parent);
	cr_expect_eq(parent, 0, "%lu pages trusted to a parent after a killed round", parent);
	cr_expect_geq(present, 16 * 256 - 16 * 256 / 64, "only %lu pages copied", present);
	pw_stop(&w);
}

/* max_entries of the pinned BPF map @map of @pid's tracker, from bpftool; -1 if unknown. */
static long pinned_max_entries(pid_t pid, const char *map)
{
	char *out = NULL, *p;
	long v = -1;

	if (t_run(&out, NULL, "bpftool map show pinned %s/track-%d/%s", TRACK_BPF_DIR, pid, map) ==
		    0 &&
	    out && (p = strstr(out, "max_entries ")))
		v = strtol(p + 12, NULL, 10);
	free(out);
	return v;
}

/* The BPF map sizes come from the options; bad sizes and modes are refused up front. */
Test(predump, bpf_map_sizes_from_options)
{
	const char *argv[] = { "scribbler", "1024", "8", NULL };
	static const char *const bad[] = { "--bpf-ringbuf 5000", "--bpf-ringbuf 2K",
					   "--bpf-pages 10",	 "--bpf-ranges 0",
					   "--track-mode dirty", "--bpf-pages 1x" };
	char args[600], *err = NULL;
	struct pw w;

	pw_start(&w, argv, "ready");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = t_run(NULL, &err, "%s track -t %d %s", t_ferry_bin(), w.pid, bad[i]);

		cr_expect_neq(rc, 0, "track %s succeeded", bad[i]);
		cr_expect(err && strstr(err, "bad --"), "%s: %s", bad[i], err ? err : "");
		free(err);
		err = NULL;
		expect_untracked(w.pid, bad[i]);
	}
	snprintf(args, sizeof(args), "-t %d --bpf-pages 1024 --bpf-ranges 64 --bpf-ringbuf 8K",
		 w.pid);
	ferry_ok("track", args);
	cr_expect_eq(pinned_max_entries(w.pid, "pages"), 1024);
	cr_expect_eq(pinned_max_entries(w.pid, "ranges"), 64);
	cr_expect_eq(pinned_max_entries(w.pid, "events"), 8192);
	snprintf(args, sizeof(args), "-t %d --stop", w.pid);
	ferry_ok("track", args);
	expect_untracked(w.pid, "after track --stop");
	t_expect_verdict(w.out, w.pid, SIGUSR1, "verify ok", "verify BAD", VERDICT_MS);
	pw_stop(&w);
}

/*
 * Soft-dirty forced on a kernel without it: `track` fails, naming what is
 * missing; `pre-dump` says it copies everything and does; nothing is left in
 * the process either way. (Where soft-dirty exists, the vm_soft_dirty suite runs the chain.)
 */
Test(predump, soft_dirty_refused_where_the_kernel_lacks_it)
{
	const char *argv[] = { "memhog", "8", NULL };
	uint64_t present, parent;
	char args[1200], *err = NULL;
	struct pw w;
	int rc;

	if (soft_dirty_supported())
		cr_skip_test("this kernel has soft-dirty: the refusal cannot be seen here");
	pw_start(&w, argv, "ready");
	rc = t_run(NULL, &err, "%s track -t %d --track-mode soft-dirty", t_ferry_bin(), w.pid);
	cr_expect_neq(rc, 0, "track --track-mode soft-dirty succeeded without soft-dirty");
	cr_expect(err && strstr(err, "CONFIG_MEM_SOFT_DIRTY"), "track said: %s", err ? err : "");
	free(err);
	expect_untracked(w.pid, "after a refused track");

	snprintf(args, sizeof(args), "%s pre-dump -t %d -D %s/1 --track-mode soft-dirty",
		 t_ferry_bin(), w.pid, w.dir);
	err = NULL;
	rc = t_run(NULL, &err, "%s", args);
	cr_expect_eq(rc, 0, "pre-dump without tracking failed: %s", err ? err : "");
	cr_expect(err && strstr(err, "copy every page"), "pre-dump said: %s", err ? err : "");
	free(err);
	expect_untracked(w.pid, "after an untracked pre-dump");
	snprintf(args, sizeof(args), "%s/1", w.dir);
	pagemap_counts(args, w.pid, &present, &parent);
	cr_expect_geq(present, 8 * 256 - 8 * 256 / 64, "only %lu pages copied", present);
	t_expect_verdict(w.out, w.pid, SIGUSR1, "memhog: verify ok", "memhog: verify BAD",
			 VERDICT_MS);
	pw_stop(&w);
}
