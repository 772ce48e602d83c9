// SPDX-License-Identifier: MIT
/*
 * The fds of a restored tree: its fd table equals the dumped one; a pipe out of
 * the tree needs --inherit-fd.
 * (Suite restore: its TestSuite is in test_restore.c; helpers in
 * restore_helpers.c.)
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "restore_helpers.h"

/* The fds of @pid as "FD:KIND" lines, sorted (pipe and socket inode numbers left out). */
static char *fd_table(pid_t pid)
{
	char *out = NULL;

	cr_assert_eq(t_run(&out, NULL,
			   "for f in /proc/%d/fd/*; do echo \"${f##*/}:$(readlink $f | "
			   "sed 's/:\\[[0-9]*\\]$//')\"; done | sort",
			   (int)pid),
		     0);
	cr_assert(out && *out, "pid %d: no fd table", (int)pid);
	return out;
}

/*
 * Every restore gives each process exactly the fds it had at the dump: none
 * of ferry's own (the report pipe, the copies of the files) left behind, over
 * many restores of the same images (a race shows in some restores only).
 */
Test(restore, fd_table_equals_the_dumped_one)
{
	const char *argv[] = { "family", "100", NULL };
	char *before[3], *after, *err = NULL, *line;
	pid_t pids[3];
	struct rst_rw w;

	rst_rw_start(&w, argv, "ready");
	line = t_wait_line(w.out, "ready", 1);
	cr_assert_eq(
		sscanf(line, "family: parent %d reader %d busy %d", &pids[0], &pids[1], &pids[2]),
		3);
	free(line);
	for (int i = 0; i < 3; i++)
		before[i] = fd_table(pids[i]);
	rst_dump_kill_restore(&w);
	for (int round = 0; round < 20; round++) {
		if (round) {
			/* The children come to us, a subreaper, when the root dies. */
			for (int i = 0; i < 3; i++) {
				kill(pids[i], SIGKILL);
				cr_assert_eq(waitpid(pids[i], NULL, 0), pids[i]);
			}
			cr_assert_eq(t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), w.img),
				     0, "restore %d: %s", round, err ? err : "");
			free(err);
			err = NULL;
		}
		for (int i = 0; i < 3; i++) {
			after = fd_table(pids[i]);
			cr_assert_str_eq(after, before[i],
					 "restore %d: pid %d has the fds\n%s\ninstead of\n%s",
					 round, pids[i], after, before[i]);
			free(after);
		}
	}
	for (int i = 0; i < 3; i++)
		free(before[i]);
	rst_rw_stop(&w);
}

/*
 * `counter | cat`, counter dumped: its stdout led out of the tree. The dump
 * says so; restore refuses a new pipe nobody reads (the process would die of
 * SIGPIPE while `restore -d` said all is well) and names the --inherit-fd
 * that plugs it; with it, counter goes on writing to the new consumer.
 */
Test(restore, pipe_out_of_the_tree_needs_inherit_fd)
{
	char img[600], out2[600], fifo[600], *err = NULL, *p, *line;
	int pfd[2], rc, status;
	unsigned ino = 0;
	pid_t counter, cat;
	struct rst_rw w;

	rst_rw_init(&w);
	snprintf(img, sizeof(img), "%s/img", w.dir);
	cr_assert_eq(pipe(pfd), 0);
	counter = fork();
	cr_assert_geq(counter, 0);
	if (!counter) {
		/* Nothing of the test's: stdin and stderr /dev/null, stdout the pipe. */
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(pfd[1], 1);
		dup2(null, 2);
		syscall(SYS_close_range, 3, ~0u, 0);
		execl(t_workload("counter"), "counter", NULL);
		_exit(127);
	}
	cat = fork();
	cr_assert_geq(cat, 0);
	if (!cat) {
		dup2(pfd[0], 0);
		if (!freopen(w.out, "w", stdout))
			_exit(126);
		syscall(SYS_close_range, 3, ~0u, 0);
		execlp("cat", "cat", NULL);
		_exit(127);
	}
	close(pfd[0]);
	close(pfd[1]);
	line = t_wait_line(w.out, "counter: 2 ", 10000);
	cr_assert_not_null(line, "counter | cat does not run");
	free(line);

	rc = t_run(NULL, &err, "%s dump -t %d -D %s", t_ferry_bin(), counter, img);
	cr_assert_eq(rc, 0, "dump: %s", err ? err : "");
	cr_assert(err && (p = strstr(err, "fd 1: pipe:[")), "the dump does not warn:\n%s",
		  err ? err : "");
	cr_assert_eq(sscanf(p, "fd 1: pipe:[%u]", &ino), 1);
	cr_expect(strstr(err, "leads out of the tree"), "%s", err);
	free(err);
	err = NULL;
	cr_assert_eq(waitpid(counter, &status, 0), counter);
	cr_assert_eq(waitpid(cat, &status, 0), cat, "cat did not see the end of its input");

	rc = t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), img);
	cr_assert_neq(rc, 0, "restored with its stdout on a pipe nobody reads");
	cr_expect(err && strstr(err, "pid ") && strstr(err, " fd 1: pipe:["), "%s", err);
	snprintf(fifo, sizeof(fifo), "--inherit-fd fd[1]:pipe:[%u]", ino);
	cr_expect(err && strstr(err, fifo + strlen("--inherit-fd ")), "no hint in:\n%s", err);
	free(err);
	err = NULL;
	cr_assert_neq(kill(counter, 0), 0, "a refused restore left pid %d", counter);

	/* A new consumer behind a FIFO, given to ferry as its fd 5. */
	snprintf(fifo, sizeof(fifo), "%s/fifo", w.dir);
	snprintf(out2, sizeof(out2), "%s/out2", w.dir);
	cr_assert_eq(mkfifo(fifo, 0600), 0);
	cat = fork();
	cr_assert_geq(cat, 0);
	if (!cat) {
		execl("/bin/sh", "sh", "-c", "exec cat < \"$0\" > \"$1\"", fifo, out2, NULL);
		_exit(127);
	}
	rc = t_run(NULL, &err, "%s restore -D %s -d --inherit-fd 'fd[5]:pipe:[%u]' 5>%s",
		   t_ferry_bin(), img, ino, fifo);
	cr_assert_eq(rc, 0, "restore with --inherit-fd: %s", err ? err : "");
	free(err);
	line = t_wait_line(out2, "counter: ", 10000);
	cr_assert_not_null(line, "the restored counter writes nothing to the new consumer");
	free(line);
	/* The new consumer sees the end of its input once the restored counter is gone. */
	t_kill_wait(counter);
	cr_assert_eq(waitpid(cat, &status, 0), cat);
	w.pid = 0;
	rst_rw_stop(&w);
}
