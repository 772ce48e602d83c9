// SPDX-License-Identifier: MIT
/*
 * Event fds end to end (issue 18): eventfd, epoll, signalfd and timerfd are
 * dumped as CRIU's files.img entries (crit and `ferry decode` read them) and
 * come back in the restored processes with their state, checked by the
 * events workload itself (workloads/events.c says what each mode checks):
 * by a plain restore, by a lazy restore, and from a pre-dump chain. Then a
 * real program: node's event loop (libuv: epoll, eventfds, pipes) keeps
 * counting after a restore.
 *
 * The test process is a child subreaper: a tree restored with -d is
 * reparented to it when ferry exits, so it can be reaped here.
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
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

#define VERDICT_MS 10000
#define NODE "/usr/bin/node"

struct ew {
	char *dir;
	char out[512], img[512];
	pid_t pid, child;
};

TestSuite(events, .timeout = 120);

static void ew_start(struct ew *w, const char *mode)
{
	const char *argv[] = { "events", mode, NULL };
	char *line, *p;

	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	memset(w, 0, sizeof(*w));
	w->dir = t_tmpdir();
	cr_assert_not_null(w->dir);
	snprintf(w->out, sizeof(w->out), "%s/out", w->dir);
	snprintf(w->img, sizeof(w->img), "%s/img", w->dir);
	w->pid = t_spawn(w->out, argv);
	cr_assert_gt(w->pid, 0);
	line = t_wait_line(w->out, "ready", 10000);
	cr_assert_not_null(line, "the events workload (%s) never said ready", mode);
	p = strstr(line, " child ");
	if (p)
		cr_assert_eq(sscanf(p, " child %d", &w->child), 1, "%s", line);
	free(line);
}

static void ew_stop(struct ew *w)
{
	if (w->pid > 0)
		t_kill_wait(w->pid);
	/* Children of a restored tree come to us when its root dies. */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	t_rmrf(w->dir);
	free(w->dir);
}

/* `ferry CMD -t PID -D DIR EXTRA` must succeed. */
static void ferry_ok(const char *cmd, const struct ew *w, const char *dir, const char *extra)
{
	char *err = NULL;
	int rc = t_run(NULL, &err, "%s %s -t %d -D %s %s", t_ferry_bin(), cmd, w->pid, dir,
		       extra ? extra : "");

	cr_assert_eq(rc, 0, "ferry %s of pid %d failed (%d): %s", cmd, w->pid, rc, err ? err : "");
	free(err);
}

/* The dump killed the tree: reap its root (and its group, which dies with it). */
static void reap_dumped(pid_t root)
{
	int status;

	cr_assert_eq(waitpid(root, &status, 0), root);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		  "the dumped tree was not killed");
	/* The others came to us, the subreaper, when it died: free their pids. */
	while (waitpid(-root, NULL, 0) > 0)
		;
}

static void restore_ok(const char *dir, const char *extra)
{
	char *err = NULL;
	int rc = t_run(NULL, &err, "%s restore -D %s -d -v4 --log-file %s/restore.log %s",
		       t_ferry_bin(), dir, dir, extra ? extra : "");

	cr_assert_eq(rc, 0, "restore of %s failed (%d; %s/restore.log): %s", dir, rc, dir,
		     err ? err : "");
	free(err);
}

/*
 * files.img decodes with crit (if installed) and ferry, and names each of
 * @kinds; ferry's JSON is crit's, byte for byte.
 */
static void decodes(const char *dir, const char *const kinds[])
{
	char *out = NULL, *err = NULL, *crit_out = NULL;
	const char *crit = t_crit();
	int rc;

	if (crit) {
		rc = t_run(&crit_out, &err, "%s decode -i %s/files.img", crit, dir);
		cr_assert_eq(rc, 0, "crit decode of files.img failed: %s", err ? err : "");
		for (size_t i = 0; kinds[i]; i++)
			cr_expect(strstr(crit_out, kinds[i]), "crit does not show %s in: %s",
				  kinds[i], crit_out);
		free(err);
		/* The fd tables too, with their EVENTFD/EVENTPOLL/... types. */
		rc = t_run(
			NULL, &err,
			"for f in %s/fdinfo-*.img; do %s decode -i $f >/dev/null || exit 1; done",
			dir, crit);
		cr_assert_eq(rc, 0, "crit decode of an fdinfo image failed: %s", err ? err : "");
		free(err);
	}
	rc = t_run(&out, &err, "%s decode -i %s/files.img", t_ferry_bin(), dir);
	cr_assert_eq(rc, 0, "ferry decode of files.img failed: %s", err ? err : "");
	for (size_t i = 0; kinds[i]; i++)
		cr_expect(strstr(out, kinds[i]), "ferry decode does not show %s in: %s", kinds[i],
			  out);
	if (crit_out)
		cr_expect_str_eq(out, crit_out, "ferry decode and crit decode differ");
	free(crit_out);
	free(out);
	free(err);
}

static void verdict(const struct ew *w)
{
	t_expect_verdict(w->out, w->pid, SIGUSR1, "events: verify ok", "verify BAD", VERDICT_MS);
}

/* The mode checks itself before the dump (it can fail), is dumped, restored with @extra. */
static void round_trip(const char *mode, const char *extra, const char *const kinds[])
{
	struct ew w;

	ew_start(&w, mode);
	verdict(&w);
	ferry_ok("dump", &w, w.img, NULL);
	reap_dumped(w.pid);
	decodes(w.img, kinds);
	restore_ok(w.img, extra);
	if (w.child)
		cr_assert_eq(kill(w.child, 0), 0, "child %d was not restored", w.child);
	verdict(&w);
	verdict(&w); /* the state each check consumed was put back: the same again */
	ew_stop(&w);
}

Test(events, eventfd_counters_semaphore_and_sharing)
{
	const char *kinds[] = { "\"EVENTFD\"", "\"counter\": 42", "\"counter\": 4886718345", NULL };

	round_trip("eventfd", NULL, kinds);
}

Test(events, epoll_ready_set_level_and_edge_triggered)
{
	const char *kinds[] = { "\"EVENTPOLL\"", "\"tfd\"", "\"events\": 2147483673", NULL };

	round_trip("epoll", NULL, kinds);
}

Test(events, eventfd_lazy)
{
	const char *kinds[] = { "\"EVENTFD\"", NULL };

	round_trip("eventfd", "--lazy-pages", kinds);
}

Test(events, epoll_lazy)
{
	const char *kinds[] = { "\"EVENTPOLL\"", NULL };

	round_trip("epoll", "--lazy-pages", kinds);
}

/*
 * A restored tree dumped and restored again (a migration onward): what the
 * first restore re-registered is dumped as it was.
 */
Test(events, epoll_dumped_again_after_a_restore)
{
	const char *kinds[] = { "\"EVENTPOLL\"", NULL };
	char d2[600];
	struct ew w;

	ew_start(&w, "epoll");
	ferry_ok("dump", &w, w.img, NULL);
	reap_dumped(w.pid);
	restore_ok(w.img, NULL);
	verdict(&w);
	snprintf(d2, sizeof(d2), "%s/again", w.dir);
	ferry_ok("dump", &w, d2, NULL);
	reap_dumped(w.pid);
	decodes(d2, kinds);
	restore_ok(d2, NULL);
	verdict(&w);
	ew_stop(&w);
}

/* A pre-dump round, then the dump ends the chain; restored from it. */
Test(events, epoll_and_eventfd_after_a_predump_chain)
{
	const char *modes[] = { "epoll", "eventfd" };
	char d1[600], d2[600];

	for (size_t i = 0; i < 2; i++) {
		struct ew w;

		ew_start(&w, modes[i]);
		cr_assert_eq(mkdir(w.img, 0700), 0);
		snprintf(d1, sizeof(d1), "%s/1", w.img);
		snprintf(d2, sizeof(d2), "%s/2", w.img);
		ferry_ok("pre-dump", &w, d1, NULL);
		verdict(&w); /* runs between the rounds */
		ferry_ok("dump", &w, d2, "--prev-images-dir ../1");
		reap_dumped(w.pid);
		restore_ok(d2, NULL);
		verdict(&w);
		ew_stop(&w);
	}
}

/*
 * Time left counts from the restore: a 5 s timer dumped at once and restored
 * 2 s later has more than 3.5 s left (counted from the dump, under 3 s);
 * it fires when it said it would (the workload checks); a TFD_TIMER_ABSTIME
 * one the same, its flag kept; unread expirations and intervals kept.
 */
Test(events, timerfd_time_left_counts_from_the_restore)
{
	const char *kinds[] = { "\"TIMERFD\"", "\"settime_flags\": 1", "\"isec\": 0", NULL };
	long long left = 0, abs_left = 0;
	char *line;
	struct ew w;

	ew_start(&w, "timerfd");
	ferry_ok("dump", &w, w.img, NULL);
	reap_dumped(w.pid);
	decodes(w.img, kinds);
	sleep(2);
	restore_ok(w.img, NULL);
	verdict(&w);
	line = t_wait_line(w.out, "events: timerfd left", 100);
	cr_assert_not_null(line);
	cr_assert_eq(sscanf(line, "events: timerfd left %lld abs %lld", &left, &abs_left), 2, "%s",
		     line);
	free(line);
	cr_expect_gt(left, 3500, "the 5 s timer had %lld ms left after the restore", left);
	cr_expect_gt(abs_left, 3500, "the ABSTIME timer had %lld ms left after the restore",
		     abs_left);
	ew_stop(&w);
}

/* A signal sent after the restore arrives through the restored signalfd. */
Test(events, signalfd_receives_a_signal_sent_after_restore)
{
	const char *kinds[] = { "\"SIGNALFD\"", "\"sigmask\"", NULL };
	struct ew w;

	ew_start(&w, "signalfd");
	t_expect_verdict(w.out, w.pid, SIGUSR2, "events: verify ok", "verify BAD", VERDICT_MS);
	ferry_ok("dump", &w, w.img, NULL);
	reap_dumped(w.pid);
	decodes(w.img, kinds);
	restore_ok(w.img, NULL);
	t_expect_verdict(w.out, w.pid, SIGUSR2, "events: verify ok", "verify BAD", VERDICT_MS);
	ew_stop(&w);
}

/*
 * An epoll target whose file only another process holds now cannot be added
 * again by the process holding the epoll: the dump refuses it, naming the
 * pid, the epoll's fd and the target's, writes nothing, and the tree runs on.
 */
Test(events, epoll_target_closed_everywhere_in_its_process_is_refused)
{
	int ep, target, rc;
	char *line, *err = NULL, want[600];
	struct ew w;

	ew_start(&w, "epoll-lost");
	line = t_wait_line(w.out, "ready", 100);
	cr_assert_not_null(line);
	cr_assert_eq(sscanf(strstr(line, " epoll "), " epoll %d target %d", &ep, &target), 2, "%s",
		     line);
	free(line);
	rc = t_run(NULL, &err, "%s dump -t %d -D %s", t_ferry_bin(), w.pid, w.img);
	cr_assert_neq(rc, 0, "an epoll with a lost target was dumped");
	snprintf(want, sizeof(want), "pid %d fd %d: epoll target fd %d", w.pid, ep, target);
	cr_assert(err && strstr(err, want) && strstr(err, "not supported"), "dump said: %s",
		  err ? err : "");
	free(err);
	snprintf(want, sizeof(want), "%s/inventory.img", w.img);
	cr_assert_neq(access(want, F_OK), 0, "a refused dump left %s", want);
	cr_assert_eq(t_proc_field(w.pid, "TracerPid"), 0);
	cr_assert(strchr("SR", t_proc_state(w.pid)), "the tree is in state %c after the refusal",
		  t_proc_state(w.pid));
	ew_stop(&w);
}

/* The timerfd and signalfd modes restored lazily: their checks fault pages in. */
Test(events, timerfd_and_signalfd_lazy)
{
	struct ew w;

	ew_start(&w, "timerfd");
	ferry_ok("dump", &w, w.img, NULL);
	reap_dumped(w.pid);
	restore_ok(w.img, "--lazy-pages");
	verdict(&w);
	ew_stop(&w);

	ew_start(&w, "signalfd");
	ferry_ok("dump", &w, w.img, NULL);
	reap_dumped(w.pid);
	restore_ok(w.img, "--lazy-pages");
	t_expect_verdict(w.out, w.pid, SIGUSR2, "events: verify ok", "verify BAD", VERDICT_MS);
	ew_stop(&w);
}

/* ---- node ------------------------------------------------------------------------------- */

/* The last number node wrote into @path, or -1. */
static long node_count(const char *path)
{
	char *buf = t_read_file(path, NULL);
	long n = buf ? strtol(buf, NULL, 10) : -1;

	free(buf);
	return buf ? n : -1;
}

/* Wait up to @ms for node's count in @path to exceed @than; returns the last count. */
static long node_wait_past(const char *path, long than, int ms)
{
	long n = -1;

	for (int waited = 0; waited <= ms; waited += 20) {
		n = node_count(path);
		if (n > than)
			break;
		usleep(20000);
	}
	return n;
}

/*
 * node with a setInterval loop writing a counter to a file (a timer of the
 * loop: epoll_wait's timeout; written by rename, so that a dump killing node
 * between a truncate and a write cannot leave the file empty) and an fs.stat
 * done by a worker thread (libuv wakes its loop through an eventfd) is
 * dumped and restored, and goes on counting from where it was.
 */
Test(events, node_keeps_counting, .timeout = 120)
{
	static const char script[] =
		"const fs = require('fs'); let n = 0;"
		"const f = process.argv[1];"
		"setInterval(() => { n++; fs.writeFileSync(f + '.tmp', String(n));"
		" fs.renameSync(f + '.tmp', f); }, 50);"
		"setInterval(() => fs.stat('/', () => {}), 100);";
	char out[600], count[600], *err = NULL;
	long before, after;
	struct ew w;

	if (access(NODE, X_OK))
		cr_skip_test("%s is not installed (Debian package nodejs)", NODE);
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	memset(&w, 0, sizeof(w));
	w.dir = t_tmpdir();
	snprintf(out, sizeof(out), "%s/out", w.dir);
	snprintf(count, sizeof(count), "%s/count", w.dir);
	snprintf(w.img, sizeof(w.img), "%s/img", w.dir);
	w.pid = fork();
	cr_assert_geq(w.pid, 0);
	if (w.pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int in = open("/dev/null", O_RDONLY);

		dup2(in, 0);
		dup2(o, 1);
		dup2(o, 2);
		syscall(SYS_close_range, 3, ~0u, 0);
		setpgid(0, 0);
		execl(NODE, "node", "-e", script, count, (char *)NULL);
		_exit(127);
	}
	cr_assert_gt(node_wait_past(count, 5, 20000), 5, "node does not count");
	ferry_ok("dump", &w, w.img, NULL);
	reap_dumped(w.pid);
	before = node_count(count);
	cr_assert_gt(before, 5);
	cr_assert_eq(t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), w.img), 0,
		     "restore of node failed: %s", err ? err : "");
	free(err);
	after = node_wait_past(count, before + 10, 10000);
	cr_expect_gt(after, before + 10, "node counted from %ld to %ld only after the restore",
		     before, after);
	/* It went on from its own count: no restart from 1. */
	cr_expect_geq(node_count(count), before);
	cr_expect_eq(t_proc_state(w.pid) != 0, 1, "node is gone after the restore");
	ew_stop(&w);
}
