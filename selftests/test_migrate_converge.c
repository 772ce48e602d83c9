// SPDX-License-Identifier: MIT
/*
 * `ferry migrate --auto-converge`: a rewriter that dirties its pages faster
 * than --max-bandwidth sends them never gets under the downtime limit on its
 * own (the migration ends by --max-rounds); with --auto-converge the tree is
 * throttled step by step (SIGSTOP/SIGCONT slices) until the predicted
 * downtime is under the limit, in fewer rounds. A migration that fails
 * while the tree is throttled (destination killed), and a ferry migrate
 * SIGKILLed while it is throttled, leave the source running (not stopped,
 * no throttle watcher left) with its memory intact.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "migrate_helpers.h"

#define VERDICT_MS 10000

/* The destination on loopback, in its own pid and mount namespaces, images in @dir/dest-img. */
static void start_local_dest(struct dest *d, const char *dir, const char *extra)
{
	char img[700];

	snprintf(img, sizeof(img), "%s/dest-img", dir);
	cr_assert_eq(start_dest_args(d, NULL, "127.0.0.1", dir, img, NULL, extra), 0,
		     "the destination did not start");
}

/* The last value of "key": in the JSON lines of @out (-1 if none). */
static double json_last(const char *out, const char *key)
{
	char pat[64];
	const char *at = out;
	double v = -1;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	while (at && (at = strstr(at, pat))) {
		v = strtod(at + strlen(pat), NULL);
		at++;
	}
	return v;
}

/* Does /proc/@pid/cmdline hold the arguments "-t" "@target" (a watcher is a fork of its ferry)? */
static int throttles(pid_t pid, pid_t target)
{
	char path[64], want[16], *cmd;
	size_t len = 0;
	int hit = 0;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", pid);
	snprintf(want, sizeof(want), "%d", target);
	cmd = t_read_file(path, &len);
	for (size_t i = 0; cmd && i + 3 < len; i += strlen(cmd + i) + 1)
		if (!strcmp(cmd + i, "-t") && i + 3 < len && !strcmp(cmd + i + 3, want))
			hit = 1;
	free(cmd);
	return hit;
}

/*
 * Live ferry-throttle watchers of @target (a zombie one, not reaped by pid 1,
 * does nothing; those of other tests running at the same time do not count).
 */
static int throttle_watchers(pid_t target)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d))) {
		char path[300], *comm;
		pid_t pid = atoi(de->d_name);

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/comm", pid);
		comm = t_read_file(path, NULL);
		if (comm && !strcmp(comm, "ferry-throttle\n") && t_proc_state(pid) != 'Z' &&
		    throttles(pid, target)) {
			cr_log_info("a live ferry-throttle: pid %d, state %c", pid,
				    t_proc_state(pid));
			n++;
		}
		free(comm);
	}
	if (d)
		closedir(d);
	return n;
}

struct run {
	char *dir, outp[600];
	pid_t pid;
	struct dest d;
};

static void setup(struct run *r)
{
	/* 2048 pages rewritten at 5000 pages/s: far more than 16 MiB/s lets converge. */
	const char *argv[] = { "rewriter", "2048", "5", NULL };

	r->dir = t_tmpdir();
	snprintf(r->outp, sizeof(r->outp), "%s/w.out", r->dir);
	r->pid = t_spawn_ready(r->outp, argv, "ready", 5000, NULL);
	cr_assert_gt(r->pid, 0);
	start_local_dest(&r->d, r->dir, "--timeout 60");
}

static void teardown(struct run *r)
{
	kill_dest(&r->d);
	if (r->pid > 0) {
		kill(r->pid, SIGKILL);
		waitpid(r->pid, NULL, 0);
	}
	t_rmrf(r->dir);
	free(r->dir);
}

#define MIGRATE_ARGS "--json --max-bandwidth 16M --downtime-limit 100 --max-rounds 14 -v3"

/* The source after a failed migration: running (not stopped), unthrottled, intact. */
static void expect_running(struct run *r, const char *when)
{
	char st;

	usleep(300000);
	st = t_proc_state(r->pid);
	cr_expect(st == 'S' || st == 'R', "%s: source pid %d is in state '%c'", when, r->pid, st);
	cr_expect_eq(throttle_watchers(r->pid), 0, "%s: a ferry-throttle watcher is left", when);
	t_expect_verdict(r->outp, r->pid, SIGUSR1, "verify ok", "verify BAD", VERDICT_MS);
}

Test(migrate_converge, throttle_converges, .timeout = 240)
{
	struct run a = { 0 }, b = { 0 };
	char *out = NULL, *err = NULL;
	double rounds_plain, rounds_ac, pred_plain, pred_ac;
	int rc;

	/* Without: the rounds end by --max-rounds, over the limit. */
	setup(&a);
	rc = t_run(&out, &err, "%s migrate -t %d --to %s " MIGRATE_ARGS, t_ferry_bin(), a.pid,
		   a.d.host_port);
	cr_assert_eq(rc, 0, "ferry migrate failed (%d):\n%s\n%s", rc, out, err);
	cr_log_info("without --auto-converge: %s", out);
	rounds_plain = json_last(out, "rounds");
	pred_plain = json_last(out, "predicted_downtime_ms");
	free(out);
	free(err);
	a.pid = 0; /* killed by the migration */
	teardown(&a);
	if (pred_plain <= 100)
		cr_skip_test("the rewriter converged without help here (%.0f ms): nothing to show",
			     pred_plain);
	cr_expect_eq(rounds_plain, 14, "did not end by --max-rounds: %.0f", rounds_plain);

	setup(&b);
	rc = t_run(&out, &err, "%s migrate -t %d --to %s --auto-converge " MIGRATE_ARGS,
		   t_ferry_bin(), b.pid, b.d.host_port);
	cr_assert_eq(rc, 0, "ferry migrate --auto-converge failed (%d):\n%s\n%s", rc, out, err);
	cr_log_info("with --auto-converge: %s", out);
	rounds_ac = json_last(out, "rounds");
	pred_ac = json_last(out, "predicted_downtime_ms");
	cr_expect(strstr(out, "\"throttle_pct\":20"), "never throttled");
	cr_expect_leq(pred_ac, 100, "the last round predicts %.0f ms", pred_ac);
	cr_expect_lt(rounds_ac, rounds_plain, "%.0f rounds with, %.0f without", rounds_ac,
		     rounds_plain);
	/* The copy verifies on the destination. */
	{
		pid_t copy = host_pid_of(b.pid);

		cr_assert_gt(copy, 0);
		t_expect_verdict(b.outp, copy, SIGUSR1, "verify ok", "verify BAD", VERDICT_MS);
	}
	cr_expect_eq(throttle_watchers(b.pid), 0, "a ferry-throttle watcher is left");
	free(out);
	free(err);
	waitpid(b.pid, NULL, 0);
	b.pid = 0;
	teardown(&b);
}

/* Run ferry migrate in the background with its output in @path. */
static pid_t spawn_migrate(struct run *r, const char *path)
{
	char cmd[2048];
	pid_t p;

	snprintf(cmd, sizeof(cmd),
		 "exec %s migrate -t %d --to %s --auto-converge --json --max-bandwidth 16M "
		 "--downtime-limit 0 --max-rounds 40 -v3 >%s 2>&1",
		 t_ferry_bin(), r->pid, r->d.host_port, path);
	p = fork();
	if (p == 0) {
		syscall(SYS_close_range, 3, ~0u, 0);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return p;
}

/* Once throttled: the destination killed (@how 0) or ferry SIGKILLed (1). */
static void fail_while_throttled(int how)
{
	struct run r = { 0 };
	char path[700], *line;
	int status = 0;
	pid_t m;

	setup(&r);
	snprintf(path, sizeof(path), "%s/migrate.out", r.dir);
	m = spawn_migrate(&r, path);
	cr_assert_gt(m, 0);
	line = t_wait_line(path, "\"throttle_pct\":30", 60000);
	cr_assert(line, "never throttled to 30%%:\n%s", t_read_file(path, NULL));
	free(line);
	if (how == 0)
		kill_dest(&r.d);
	else
		kill(m, SIGKILL);
	waitpid(m, &status, 0);
	if (how == 0)
		cr_expect(WIFEXITED(status) && WEXITSTATUS(status) != 0,
			  "ferry migrate did not fail: 0x%x", status);
	expect_running(&r, how ? "ferry SIGKILLed" : "destination killed");
	teardown(&r);
}

Test(migrate_converge, dest_killed_while_throttled, .timeout = 120)
{
	fail_while_throttled(0);
}

Test(migrate_converge, ferry_killed_while_throttled, .timeout = 120)
{
	fail_while_throttled(1);
}
