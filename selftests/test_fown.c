// SPDX-License-Identifier: MIT
/*
 * The owner for signals of a description (issues 19, 22): a pipe owned by
 * its process (F_SETOWN, SIGIO) and a unix socket owned by one thread
 * (F_SETOWN_EX F_OWNER_TID) with F_SETSIG SIGRTMIN+1, both O_ASYNC, still
 * signal their owner after a restore, eager and lazy: the workload writes
 * into both and must get SIGIO and, in that thread, SIGRTMIN+1 with si_fd.
 * crit and ferry decode the fown entries with the owner, type and signal.
 *
 * The test process is a child subreaper: a tree restored with -d is
 * reparented to it when ferry exits, so it can be reaped here.
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

#include "helpers.h"

#define VERDICT_MS 10000

struct fw {
	char *dir;
	char out[512], img[512];
	pid_t pid, tid;
};

TestSuite(fown, .timeout = 60);

static void fw_start(struct fw *w, const char *outside)
{
	const char *argv[] = { "fown", outside, NULL };
	char *line;
	int pfd, sfd;

	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	memset(w, 0, sizeof(*w));
	w->dir = t_tmpdir();
	cr_assert_not_null(w->dir);
	snprintf(w->out, sizeof(w->out), "%s/out", w->dir);
	snprintf(w->img, sizeof(w->img), "%s/img", w->dir);
	w->pid = t_spawn_ready(w->out, argv, "ready", 10000, &line);
	cr_assert_eq(sscanf(line, "fown: pid %*d tid %d pipe %d sock %d", &w->tid, &pfd, &sfd), 3,
		     "ready line: %s", line);
	free(line);
}

static void fw_stop(struct fw *w)
{
	if (w->pid > 0)
		t_kill_wait(w->pid);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	t_rmrf(w->dir);
	free(w->dir);
}

static void verdict(const struct fw *w)
{
	t_expect_verdict(w->out, w->pid, SIGUSR1, "fown: verify ok", "verify BAD", VERDICT_MS);
}

/* files.img shows both owners with their type (F_OWNER_PID 1, F_OWNER_TID 0) and signal. */
static void decodes(const struct fw *w)
{
	char want_pipe[128], want_sock[128];
	const char *crit = t_crit();
	char *out = NULL, *err = NULL;
	int rc;

	snprintf(want_pipe, sizeof(want_pipe), "\"signum\": 0, \"pid_type\": 1, \"pid\": %d}",
		 w->pid);
	snprintf(want_sock, sizeof(want_sock), "\"signum\": %d, \"pid_type\": 0, \"pid\": %d}",
		 SIGRTMIN + 1, w->tid);
	rc = t_run(&out, &err, "%s decode -i %s/files.img", t_ferry_bin(), w->img);
	cr_assert_eq(rc, 0, "ferry decode of files.img failed: %s", err ? err : "");
	cr_expect(strstr(out, want_pipe), "ferry decode lacks %s in: %s", want_pipe, out);
	cr_expect(strstr(out, want_sock), "ferry decode lacks %s in: %s", want_sock, out);
	free(out);
	free(err);
	if (!crit)
		return;
	out = err = NULL;
	rc = t_run(&out, &err, "%s decode -i %s/files.img", crit, w->img);
	cr_assert_eq(rc, 0, "crit decode of files.img failed: %s", err ? err : "");
	cr_expect(strstr(out, want_pipe), "crit decode lacks %s in: %s", want_pipe, out);
	cr_expect(strstr(out, want_sock), "crit decode lacks %s in: %s", want_sock, out);
	free(out);
	free(err);
}

static void round_trip(const char *extra)
{
	struct fw w;
	char *err = NULL;
	int rc, status;

	fw_start(&w, NULL);
	verdict(&w); /* the workload's check can fail: it passes before the dump */
	rc = t_run(NULL, &err, "%s dump -t %d -D %s", t_ferry_bin(), w.pid, w.img);
	cr_assert_eq(rc, 0, "dump of pid %d failed (%d): %s", w.pid, rc, err ? err : "");
	free(err);
	cr_assert_eq(waitpid(w.pid, &status, 0), w.pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the dump did not kill it");
	decodes(&w);
	err = NULL;
	rc = t_run(NULL, &err, "%s restore -D %s -d -v4 --log-file %s/restore.log %s",
		   t_ferry_bin(), w.img, w.img, extra);
	cr_assert_eq(rc, 0, "restore failed (%d; %s/restore.log): %s", rc, w.img, err ? err : "");
	free(err);
	verdict(&w);
	verdict(&w);
	fw_stop(&w);
}

Test(fown, pipe_and_thread_owned_socket_signal_after_restore)
{
	round_trip("");
}

Test(fown, pipe_and_thread_owned_socket_signal_after_lazy_restore)
{
	round_trip("--lazy-pages");
}

/* An owner outside the tree is kept as CRIU keeps it; gone at restore, it fails by name. */
Test(fown, owner_outside_the_tree_gone_at_restore_is_refused_by_name)
{
	const char *sleeper[] = { "/bin/sleep", "30", NULL };
	char arg[16], *err = NULL;
	pid_t outside;
	struct fw w;
	int rc;

	outside = fork();
	cr_assert_geq(outside, 0);
	if (!outside) {
		execv(sleeper[0], (char *const *)sleeper);
		_exit(127);
	}
	snprintf(arg, sizeof(arg), "%d", outside);
	fw_start(&w, arg);
	rc = t_run(NULL, &err, "%s dump -t %d -D %s", t_ferry_bin(), w.pid, w.img);
	cr_assert_eq(rc, 0, "dump of pid %d failed (%d): %s", w.pid, rc, err ? err : "");
	free(err);
	cr_assert_eq(waitpid(w.pid, NULL, 0), w.pid);
	kill(outside, SIGKILL);
	cr_assert_eq(waitpid(outside, NULL, 0), outside);
	err = NULL;
	rc = t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), w.img);
	cr_assert_neq(rc, 0, "a restore with a gone owner %d succeeded", outside);
	cr_expect(err && strstr(err, "no such owner"), "the error does not name the owner: %s",
		  err ? err : "");
	cr_assert(kill(w.pid, 0) && errno == ESRCH, "pid %d exists after a failed restore", w.pid);
	free(err);
	w.pid = 0;
	fw_stop(&w);
}
