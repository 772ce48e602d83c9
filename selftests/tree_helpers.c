// SPDX-License-Identifier: MIT
#include "tree_helpers.h"

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

void t_tree_init(struct t_tree *t)
{
	if (geteuid())
		cr_skip_test("ferry dump needs root");
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	memset(t, 0, sizeof(*t));
	t->dir = t_tmpdir();
	cr_assert_not_null(t->dir);
	snprintf(t->out, sizeof(t->out), "%s/out", t->dir);
	snprintf(t->img, sizeof(t->img), "%s/img", t->dir);
}

char *t_tree_spawn(struct t_tree *t, const char *const argv[])
{
	char *line;

	t->name = argv[0];
	t->pid = t_spawn(t->out, argv);
	cr_assert_gt(t->pid, 0, "workload %s did not start", t->name);
	line = t_wait_line(t->out, "ready", 20000);
	if (!line) {
		char *why = t_read_file(t->out, NULL);

		cr_assert_fail("workload %s (pid %d) never said ready: %s", t->name, t->pid,
			       why ? why : "");
	}
	return line;
}

void t_tree_stop(struct t_tree *t)
{
	if (t->pid > 0) {
		kill(-t->pid, SIGKILL); /* its process group: children it made */
		kill(t->pid, SIGKILL);
	}
	if (t->child > 0)
		kill(t->child, SIGKILL);
	/*
	 * Everything we fathered or adopted (subreaper) until none is left; a
	 * ferry daemon (lazy pages) ends with its tree, but not at once: up to
	 * 10 s, then it is left to the test process's exit.
	 */
	for (int ms = 0; ms < 10000;) {
		pid_t r = waitpid(-1, NULL, WNOHANG);

		if (r > 0 || (r < 0 && errno == EINTR))
			continue;
		if (r < 0)
			break;
		usleep(10000);
		ms += 10;
	}
	t_rmrf(t->dir);
	free(t->dir);
	t->dir = NULL;
}

void t_tree_dump(struct t_tree *t, const char *dir, const char *extra)
{
	char *err = NULL;
	int rc, status;

	rc = t_run(NULL, &err, "%s dump -t %d -D %s %s", t_ferry_bin(), t->pid, dir,
		   extra ? extra : "");
	cr_assert_eq(rc, 0, "dump of %s (pid %d) failed: %s", t->name, t->pid, err ? err : "");
	free(err);
	cr_assert_eq(waitpid(t->pid, &status, 0), t->pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		  "the dumped %s (pid %d) was not killed", t->name, t->pid);
	/* The child, killed too, comes to us (subreaper): its pid must be free again. */
	if (t->child > 0)
		cr_assert_eq(waitpid(t->child, &status, 0), t->child);
	while (waitpid(-t->pid, NULL, 0) > 0)
		;
}

void t_tree_restore(struct t_tree *t, const char *dir, const char *extra)
{
	char *err = NULL, *pid, pidfile[700];
	int rc;

	snprintf(pidfile, sizeof(pidfile), "%s/restored.pid", t->dir);
	unlink(pidfile);
	rc = t_run(NULL, &err, "%s restore -D %s -d --pidfile %s %s", t_ferry_bin(), dir, pidfile,
		   extra ? extra : "");
	cr_assert_eq(rc, 0, "restore of %s from %s failed: %s", t->name, dir, err ? err : "");
	free(err);
	pid = t_read_file(pidfile, NULL);
	cr_assert(pid && atoi(pid) == t->pid, "%s came back as pid %s, not %d", t->name,
		  pid ? pid : "?", t->pid);
	free(pid);
	cr_assert_eq(t_proc_field(t->pid, "TracerPid"), 0, "%s (pid %d) is still traced", t->name,
		     t->pid);
	if (t->child > 0)
		cr_assert_eq(kill(t->child, 0), 0, "the child %d of %s is not back", t->child,
			     t->name);
}
