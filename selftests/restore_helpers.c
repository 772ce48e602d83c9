// SPDX-License-Identifier: MIT
/*
 * What the `ferry restore` tests share: a workload run, dumped and restored
 * (eagerly, lazily from the images, or lazily from a page server in another
 * network namespace), and stopped.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "helpers.h"
#include "restore_helpers.h"

/*
 * Lazy mode (suite restore_lazy): restores add --lazy-pages and log to
 * IMG/lazy.log; the daemon must end saying "done" before the tree is dumped
 * again or the test ends. Each test runs in its own process.
 */
int rst_lazy_mode;

/*
 * Remote mode (suite restore_remote): lazy, with the pages from a page server
 * in another network namespace (veth pair, shared secret), one per restore.
 */
int rst_remote_mode;
struct t_netns rst_rns;
pid_t rst_rserver;

void rst_remote_fini(void)
{
	if (rst_rserver > 0) {
		kill(rst_rserver, SIGKILL);
		waitpid(rst_rserver, NULL, 0);
	}
	t_netns_down(&rst_rns);
}

/* The page server of the last restore ends its session well once the daemon is done. */
void rst_remote_server_done(void)
{
	int status = 0;

	if (rst_rserver <= 0)
		return;
	cr_assert_eq(waitpid(rst_rserver, &status, 0), rst_rserver);
	rst_rserver = 0;
	cr_assert(WIFEXITED(status) && !WEXITSTATUS(status), "the page server ended with %#x",
		  status);
}

/* Wait for the lazy-pages daemon of the last restore into @img to end well. */
void rst_lazy_wait_done(const char *img)
{
	char log[600], *line, *all;

	snprintf(log, sizeof(log), "%s/lazy.log", img);
	line = t_wait_line(log, "lazy-pages: done", 60000);
	all = line ? NULL : t_read_file(log, NULL);
	cr_assert_not_null(line, "the lazy-pages daemon did not finish well:\n%s",
			   all ? all : "(no log)");
	free(line);
}

void rst_rw_init(struct rst_rw *w)
{
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	w->dir = t_tmpdir();
	w->round = 0;
	snprintf(w->out, sizeof(w->out), "%s/out", w->dir);
}

/* Start the workload (after rst_rw_init) and wait for its @ready line. */
void rst_rw_spawn(struct rst_rw *w, const char *const argv[], const char *ready)
{
	w->pid = t_spawn_ready(w->out, argv, ready, 10000, NULL);
}

void rst_rw_start(struct rst_rw *w, const char *const argv[], const char *ready)
{
	rst_rw_init(w);
	rst_rw_spawn(w, argv, ready);
}

void rst_rw_stop(struct rst_rw *w)
{
	if (rst_lazy_mode && w->round)
		rst_lazy_wait_done(w->img);
	rst_remote_server_done();
	if (w->pid > 0)
		t_kill_wait(w->pid);
	/* Children of a restored tree come to us when its root dies. */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	t_rmrf(w->dir);
	free(w->dir);
}

static pid_t read_pidfile(const char *path)
{
	char *s = t_read_file(path, NULL);
	pid_t pid = s ? (pid_t)atoi(s) : -1;

	free(s);
	return pid;
}

/* Dump (the tree is killed) into a new images dir, reap the old root, restore. */
void rst_dump_kill_restore(struct rst_rw *w)
{
	char *err = NULL, pidfile[600];
	int rc, status;

	if (rst_lazy_mode && w->round)
		rst_lazy_wait_done(w->img); /* a dump reads only the pages that are in */
	rst_remote_server_done();
	snprintf(w->img, sizeof(w->img), "%s/img%d", w->dir, w->round++);
	rc = t_run(NULL, &err, "%s dump -t %d -D %s", t_ferry_bin(), w->pid, w->img);
	cr_assert_eq(rc, 0, "dump of pid %d failed: %s", w->pid, err ? err : "");
	free(err);
	err = NULL;
	cr_assert_eq(waitpid(w->pid, &status, 0), w->pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		  "the dumped tree was not killed");
	/* The rest of the tree (its process group) was reparented to us: reap it too. */
	while (waitpid(-w->pid, NULL, 0) > 0)
		;
	snprintf(pidfile, sizeof(pidfile), "%s/pid", w->img);
	if (rst_remote_mode) {
		char out[600], log[600], secret[600], hp[64];
		int up = rst_rns.name[0] ? 0 : t_netns_up(&rst_rns);

		if (up > 0)
			cr_skip_test("cannot make a network namespace");
		cr_assert_eq(up, 0, "veth setup failed");
		snprintf(secret, sizeof(secret), "%s/secret", w->dir);
		snprintf(out, sizeof(out), "%s/ps.out", w->img);
		snprintf(log, sizeof(log), "%s/ps.log", w->img);
		cr_assert_eq(t_write_file(secret, "ferry restore suite\n", 20), 0);
		chmod(secret, 0600);
		rst_rserver = t_page_server(rst_rns.name, w->img, rst_rns.there, secret, out, log,
					    hp, sizeof(hp));
		cr_assert_gt(rst_rserver, 0, "the page server did not start");
		rc = t_run(
			NULL, &err,
			"%s restore -D %s -d --pidfile %s --lazy-pages -v3 --log-file %s/lazy.log "
			"--page-server %s --secret-file %s",
			t_ferry_bin(), w->img, pidfile, w->img, hp, secret);
	} else if (rst_lazy_mode)
		rc = t_run(
			NULL, &err,
			"%s restore -D %s -d --pidfile %s --lazy-pages -v3 --log-file %s/lazy.log",
			t_ferry_bin(), w->img, pidfile, w->img);
	else
		rc = t_run(NULL, &err, "%s restore -D %s -d --pidfile %s", t_ferry_bin(), w->img,
			   pidfile);
	cr_assert_eq(rc, 0, "restore of %s failed: %s", w->img, err ? err : "");
	free(err);
	cr_assert_eq(read_pidfile(pidfile), w->pid, "the root came back with another pid");
	/* Lazily restored, it may be waiting for a page ('I' or 'D' while it waits). */
	cr_assert(strchr(rst_lazy_mode ? "SRID" : "SR", t_proc_state(w->pid)),
		  "restored pid %d is in state '%c'", w->pid, t_proc_state(w->pid));
	cr_assert_eq(t_proc_field(w->pid, "TracerPid"), 0, "restored pid %d is still traced",
		     w->pid);
}
