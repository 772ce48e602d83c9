// SPDX-License-Identifier: MIT
/*
 * An epoll target whose file the epoll's own process no longer holds (issue
 * 18), with the epshare workload (selftests/workloads/epshare.c): registered
 * by the parent, held only by its child; or held only by a process outside
 * the tree (this test, through pidfd_getfd). ferry refuses both at dump, as
 * CRIU does (its tfd entry names an fd of the epoll's process), naming where
 * the file is: the other process's pid and fd (found by kcmp across the
 * tree), or no process of the tree. Nothing is written and the tree runs on.
 *
 * The test process is a child subreaper (the workload's child comes to it).
 */
#include <criterion/criterion.h>
#include <errno.h>
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

TestSuite(epoll_foreign, .timeout = 60);

struct eps {
	char *dir;
	char out[512], img[600];
	pid_t pid, child;
	int ep, target;
};

static void eps_start(struct eps *w, const char *mode)
{
	const char *argv[] = { "epshare", mode, NULL };
	char *line;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	memset(w, 0, sizeof(*w));
	w->dir = t_tmpdir();
	cr_assert_not_null(w->dir);
	snprintf(w->out, sizeof(w->out), "%s/out", w->dir);
	snprintf(w->img, sizeof(w->img), "%s/img", w->dir);
	w->pid = t_spawn(w->out, argv);
	cr_assert_gt(w->pid, 0);
	line = t_wait_line(w->out, "ready", 10000);
	cr_assert_not_null(line, "the epshare workload never said ready");
	cr_assert_eq(sscanf(line, "epshare: pid %*d child %d epoll %d target %d", &w->child, &w->ep,
			    &w->target),
		     3, "%s", line);
	free(line);
}

static void eps_stop(struct eps *w)
{
	kill(w->pid, SIGKILL);
	if (w->child > 0)
		kill(w->child, SIGKILL);
	while (waitpid(-1, NULL, 0) >= 0 || errno == EINTR)
		;
	t_rmrf(w->dir);
	free(w->dir);
}

/* ferry dump fails naming @want1 and @want2; the tree runs on; no image published. */
static void expect_refused(struct eps *w, const char *want1, const char *want2)
{
	char *err = NULL, inv[700];
	struct stat st;
	int rc = t_run(NULL, &err, "%s dump -t %d -D %s", t_ferry_bin(), w->pid, w->img);

	cr_assert_neq(rc, 0, "the dump succeeded");
	cr_assert(strstr(err, want1), "no '%s' in: %s", want1, err);
	cr_assert(strstr(err, want2), "no '%s' in: %s", want2, err);
	free(err);
	cr_assert_eq(kill(w->pid, 0), 0, "the tree was not left running");
	cr_assert_eq(t_proc_state(w->pid) == 'T', 0, "pid %d left stopped", w->pid);
	snprintf(inv, sizeof(inv), "%s/inventory.img", w->img);
	cr_assert_neq(stat(inv, &st), 0, "images were published");
}

Test(epoll_foreign, target_held_only_by_a_child_is_refused_naming_it)
{
	char want1[96], want2[96];
	struct eps w;

	eps_start(&w, "child");
	snprintf(want1, sizeof(want1), "pid %d fd %d: epoll target fd %d", w.pid, w.ep, w.target);
	snprintf(want2, sizeof(want2), "another process of the tree, pid %d fd %d", w.child,
		 w.target);
	expect_refused(&w, want1, want2);
	eps_stop(&w);
}

Test(epoll_foreign, target_held_only_outside_the_tree_is_refused)
{
	char want1[96];
	struct eps w;
	int pidfd, copy;

	eps_start(&w, "outside");
	pidfd = (int)syscall(SYS_pidfd_open, w.pid, 0);
	cr_assert_geq(pidfd, 0);
	copy = (int)syscall(SYS_pidfd_getfd, pidfd, w.target, 0);
	cr_assert_geq(copy, 0, "pidfd_getfd: %s", strerror(errno));
	t_expect_verdict(w.out, w.pid, SIGUSR1, "epshare: closed", NULL, 5000);
	snprintf(want1, sizeof(want1), "pid %d fd %d: epoll target fd %d", w.pid, w.ep, w.target);
	expect_refused(&w, want1, "no process of the tree holds its file");
	close(copy);
	close(pidfd);
	eps_stop(&w);
}
