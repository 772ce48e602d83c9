// SPDX-License-Identifier: MIT
/*
 * `ferry restore` end to end, zdtm style: a workload runs, is dumped (and so
 * killed), restored, and then checks its own state and prints a verdict;
 * then the restored process is dumped and restored again and checks again.
 * Also: the same images restored twice, and bad images and taken pids
 * refused with a clear message, leaving no process behind.
 *
 * The same workloads are restored lazily too (suite restore_lazy): memory
 * comes from the lazy-pages daemon after resume, through userfaultfd; and
 * lazily from a page server in another network namespace (restore_remote).
 *
 * The test process is a child subreaper: a tree restored with -d is
 * reparented to it when ferry exits, so it can be reaped here.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <grp.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "helpers.h"
#include "img.h"
#include "mm.pb-c.h"
#include "pagemap.pb-c.h"

struct rw {
	char *dir;
	char out[512];
	char img[512];
	pid_t pid;
	int round;
};

/*
 * Lazy mode (suite restore_lazy): restores add --lazy-pages and log to
 * IMG/lazy.log; the daemon must end saying "done" before the tree is dumped
 * again or the test ends. Each test runs in its own process.
 */
static int lazy_mode;

/*
 * Remote mode (suite restore_remote): lazy, with the pages from a page server
 * in another network namespace (veth pair, shared secret), one per restore.
 */
static int remote_mode;
static struct t_netns rns;
static pid_t rserver;

static void remote_fini(void)
{
	if (rserver > 0) {
		kill(rserver, SIGKILL);
		waitpid(rserver, NULL, 0);
	}
	t_netns_down(&rns);
}

/* The page server of the last restore ends its session well once the daemon is done. */
static void remote_server_done(void)
{
	int status = 0;

	if (rserver <= 0)
		return;
	cr_assert_eq(waitpid(rserver, &status, 0), rserver);
	rserver = 0;
	cr_assert(WIFEXITED(status) && !WEXITSTATUS(status), "the page server ended with %#x",
		  status);
}

/* Wait for the lazy-pages daemon of the last restore into @img to end well. */
static void lazy_wait_done(const char *img)
{
	char log[600], *line, *all;

	snprintf(log, sizeof(log), "%s/lazy.log", img);
	line = t_wait_line(log, "lazy-pages: done", 60000);
	all = line ? NULL : t_read_file(log, NULL);
	cr_assert_not_null(line, "the lazy-pages daemon did not finish well:\n%s",
			   all ? all : "(no log)");
	free(line);
}

static void rw_init(struct rw *w)
{
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	w->dir = t_tmpdir();
	w->round = 0;
	snprintf(w->out, sizeof(w->out), "%s/out", w->dir);
}

/* Start the workload (after rw_init) and wait for its @ready line. */
static void rw_spawn(struct rw *w, const char *const argv[], const char *ready)
{
	char *line;

	w->pid = t_spawn(w->out, argv);
	cr_assert_gt(w->pid, 0);
	line = t_wait_line(w->out, ready, 10000);
	cr_assert_not_null(line, "workload %s never printed '%s'", argv[0], ready);
	free(line);
}

static void rw_start(struct rw *w, const char *const argv[], const char *ready)
{
	rw_init(w);
	rw_spawn(w, argv, ready);
}

static void rw_stop(struct rw *w)
{
	if (lazy_mode && w->round)
		lazy_wait_done(w->img);
	remote_server_done();
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
static void dump_kill_restore(struct rw *w)
{
	char *err = NULL, pidfile[600];
	int rc, status;

	if (lazy_mode && w->round)
		lazy_wait_done(w->img); /* a dump reads only the pages that are in */
	remote_server_done();
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
	if (remote_mode) {
		char out[600], log[600], secret[600], hp[64];
		int up = rns.name[0] ? 0 : t_netns_up(&rns);

		if (up > 0)
			cr_skip_test("cannot make a network namespace");
		cr_assert_eq(up, 0, "veth setup failed");
		snprintf(secret, sizeof(secret), "%s/secret", w->dir);
		snprintf(out, sizeof(out), "%s/ps.out", w->img);
		snprintf(log, sizeof(log), "%s/ps.log", w->img);
		cr_assert_eq(t_write_file(secret, "ferry restore suite\n", 20), 0);
		chmod(secret, 0600);
		rserver = t_page_server(rns.name, w->img, rns.there, secret, out, log, hp,
					sizeof(hp));
		cr_assert_gt(rserver, 0, "the page server did not start");
		rc = t_run(
			NULL, &err,
			"%s restore -D %s -d --pidfile %s --lazy-pages -v3 --log-file %s/lazy.log "
			"--page-server %s --secret-file %s",
			t_ferry_bin(), w->img, pidfile, w->img, hp, secret);
	} else if (lazy_mode)
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
	cr_assert(strchr(lazy_mode ? "SRID" : "SR", t_proc_state(w->pid)),
		  "restored pid %d is in state '%c'", w->pid, t_proc_state(w->pid));
	cr_assert_eq(t_proc_field(w->pid, "TracerPid"), 0, "restored pid %d is still traced",
		     w->pid);
}

/* How long a restored workload has to answer a signal (t_expect_verdict). */
#define VERDICT_MS 10000

TestSuite(restore, .timeout = 120);
TestSuite(restore_lazy, .timeout = 120);
TestSuite(restore_remote, .timeout = 120, .fini = remote_fini);

/* A test of three suites: eager, lazy from the images, lazy from a page server. */
#define BOTH_WAYS(name)                \
	static void name##_body(void); \
	Test(restore, name)            \
	{                              \
		name##_body();         \
	}                              \
	Test(restore_lazy, name)       \
	{                              \
		lazy_mode = 1;         \
		name##_body();         \
	}                              \
	Test(restore_remote, name)     \
	{                              \
		lazy_mode = 1;         \
		remote_mode = 1;       \
		name##_body();         \
	}                              \
	static void name##_body(void)

Test(restore, help)
{
	char *out = NULL;

	cr_assert_eq(t_run(&out, NULL, "%s restore --help", t_ferry_bin()), 0);
	cr_assert_not_null(strstr(out, "--restore-detached"));
	free(out);
}

/* The counter goes on from the line after the dump, on the same checksum chain. */
BOTH_WAYS(counter_continues)
{
	const char *argv[] = { "counter", NULL }, *ref_argv[] = { "counter", "40", NULL };
	char ref_out[600], needle[64], *line, *ref;
	struct rw w;
	pid_t refpid;
	int last = -1, status;

	rw_start(&w, argv, "counter: 2 checksum");
	snprintf(ref_out, sizeof(ref_out), "%s/ref", w.dir);
	refpid = t_spawn(ref_out, ref_argv);
	for (int round = 0; round < 2; round++) {
		dump_kill_restore(&w);
		for (int i = 0; i < 100; i++) {
			char *buf = t_read_file(w.out, NULL), *p = buf;

			last = -1;
			while (p && (p = strstr(p, "counter: ")) && p[9] >= '0' && p[9] <= '9') {
				last = atoi(p + 9);
				p += 9;
			}
			free(buf);
			if (t_count_lines(w.out, "checksum") > last)
				break;
		}
		line = NULL;
		snprintf(needle, sizeof(needle), "counter: %d checksum", last + 1);
		line = t_wait_line(w.out, needle, 5000);
		cr_assert_not_null(line, "restored counter did not print line %d", last + 1);
		cr_assert(waitpid(refpid, &status, 0) == refpid || round);
		ref = t_wait_line(ref_out, needle, 1);
		cr_assert_not_null(ref);
		cr_assert_str_eq(line, ref, "restored counter left the checksum chain");
		free(line);
		free(ref);
	}
	cr_assert_eq(t_count_lines(w.out, "ready"), 1, "the counter started over");
	rw_stop(&w);
}

BOTH_WAYS(memhog_256m)
{
	const char *argv[] = { "memhog", "256", "7", NULL };
	struct rw w;

	rw_start(&w, argv, "ready");
	for (int round = 0; round < 2; round++) {
		dump_kill_restore(&w);
		t_expect_verdict(w.out, w.pid, SIGUSR1, "memhog: verify ok", "verify BAD",
				 VERDICT_MS);
	}
	/* It keeps working after the restore: a rewrite and a check of the new seed. */
	t_expect_verdict(w.out, w.pid, SIGUSR2, "memhog: rewrote seed", NULL, VERDICT_MS);
	t_expect_verdict(w.out, w.pid, SIGUSR1, "memhog: verify ok", "verify BAD", VERDICT_MS);
	rw_stop(&w);
}

BOTH_WAYS(threads_mutex)
{
	const char *argv[] = { "threads", "4", NULL };
	char path[64], *line;
	pid_t tids[4];
	struct rw w;

	rw_start(&w, argv, "ready");
	line = t_wait_line(w.out, "ready", 1);
	cr_assert_eq(sscanf(line, "threads: pid %*d tids %d %d %d %d", &tids[0], &tids[1], &tids[2],
			    &tids[3]),
		     4, "%s", line);
	free(line);
	for (int round = 0; round < 2; round++) {
		dump_kill_restore(&w);
		snprintf(path, sizeof(path), "/proc/%d/task", w.pid);
		cr_assert_eq(t_proc_field(w.pid, "Threads"), 5, "restored with %ld threads",
			     t_proc_field(w.pid, "Threads"));
		for (int i = 0; i < 4; i++) {
			char task[128];

			snprintf(task, sizeof(task), "%s/%d", path, tids[i]);
			cr_assert_eq(access(task, F_OK), 0, "thread %d came back with another tid",
				     tids[i]);
		}
		t_expect_verdict(w.out, w.pid, SIGUSR1, "threads: verify ok", "verify BAD",
				 VERDICT_MS);
	}
	rw_stop(&w);
}

BOTH_WAYS(family_pipe_in_flight)
{
	const char *argv[] = { "family", "20000", NULL };
	pid_t parent, reader, busy;
	struct rw w;
	char *line;

	rw_start(&w, argv, "ready");
	line = t_wait_line(w.out, "ready", 1);
	cr_assert_eq(sscanf(line, "family: parent %d reader %d busy %d", &parent, &reader, &busy),
		     3);
	free(line);
	/* Round 2 dumps the restored tree, whose pipe was already read once. */
	for (int round = 0; round < 2; round++) {
		dump_kill_restore(&w);
		cr_assert_eq(t_proc_field(reader, "PPid"), parent, "the reader lost its parent");
		cr_assert_eq(t_proc_field(busy, "PPid"), parent);
		cr_assert_eq(getpgid(reader), getpgid(parent), "process group not restored");
		cr_assert_eq(getsid(reader), getsid(parent));
		if (!round)
			t_expect_verdict(w.out, reader, SIGUSR1, "family: reader pipe ok",
					 "pipe BAD", VERDICT_MS);
	}
	cr_assert(t_proc_state(busy) == 'R' || t_proc_state(busy) == 'S',
		  "the busy child is in state '%c'", t_proc_state(busy));
	cr_assert_eq(t_proc_field(busy, "TracerPid"), 0, "the busy child is still traced");
	rw_stop(&w);
}

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
	struct rw w;

	rw_start(&w, argv, "ready");
	line = t_wait_line(w.out, "ready", 1);
	cr_assert_eq(
		sscanf(line, "family: parent %d reader %d busy %d", &pids[0], &pids[1], &pids[2]),
		3);
	free(line);
	for (int i = 0; i < 3; i++)
		before[i] = fd_table(pids[i]);
	dump_kill_restore(&w);
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
	rw_stop(&w);
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
	struct rw w;

	rw_init(&w);
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
	rw_stop(&w);
}

/* The first restored tree exits; the same images give the same tree again. */
Test(restore, same_images_twice)
{
	const char *argv[] = { "memhog", "16", "3", NULL };
	char *err = NULL;
	struct rw w;

	rw_start(&w, argv, "ready");
	dump_kill_restore(&w);
	t_expect_verdict(w.out, w.pid, SIGUSR1, "memhog: verify ok", "verify BAD", VERDICT_MS);
	t_kill_wait(w.pid);
	cr_assert_eq(t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), w.img), 0,
		     "second restore: %s", err ? err : "");
	free(err);
	t_expect_verdict(w.out, w.pid, SIGUSR1, "memhog: verify ok", "verify BAD", VERDICT_MS);
	rw_stop(&w);
}

/*
 * From a shell with the usual soft limit of 1024 fds (Debian's default): the
 * temporary fds placed above the tree's own must still fit (ferry raises its
 * soft limit to the hard one), and the restored process gets its own limit.
 */
Test(restore, under_a_shells_fd_limit)
{
	const char *argv[] = { "memhog", "4", NULL };
	char *err = NULL;
	struct rlimit rl;
	struct rw w;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	cr_assert_gt(rl.rlim_cur, 1024, "the test itself runs with %llu fds at most",
		     (unsigned long long)rl.rlim_cur);
	rw_start(&w, argv, "ready");
	snprintf(w.img, sizeof(w.img), "%s/img", w.dir);
	cr_assert_eq(t_run(NULL, NULL, "%s dump -t %d -D %s", t_ferry_bin(), w.pid, w.img), 0);
	cr_assert_eq(waitpid(w.pid, NULL, 0), w.pid);
	cr_assert_eq(
		t_run(NULL, &err, "ulimit -Sn 1024 && %s restore -D %s -d", t_ferry_bin(), w.img),
		0, "restore with 1024 fds: %s", err ? err : "");
	free(err);
	/* Its own limit (the test's, inherited when it was spawned), not ferry's. */
	cr_expect_eq(t_run(NULL, NULL, "grep -q '^Max open files *%llu ' /proc/%d/limits",
			   (unsigned long long)rl.rlim_cur, w.pid),
		     0, "the restored process did not get its own fd limit back");
	t_expect_verdict(w.out, w.pid, SIGUSR1, "memhog: verify ok", "verify BAD", VERDICT_MS);
	rw_stop(&w);
}

/* Without -d ferry waits for the root and exits with its status. */
Test(restore, attached_exit_status)
{
	const char *argv[] = { "counter", "12", NULL };
	char *err = NULL;
	struct rw w;
	int rc, status;

	rw_start(&w, argv, "counter: 1 checksum");
	snprintf(w.img, sizeof(w.img), "%s/img", w.dir);
	cr_assert_eq(t_run(NULL, NULL, "%s dump -t %d -D %s", t_ferry_bin(), w.pid, w.img), 0);
	waitpid(w.pid, &status, 0);
	rc = t_run(NULL, &err, "%s restore -D %s", t_ferry_bin(), w.img);
	cr_assert_eq(rc, 0, "restore: %s", err ? err : "");
	free(err);
	cr_assert_eq(t_count_lines(w.out, "checksum"), 12, "the counter did not finish its run");
	w.pid = -1;
	rw_stop(&w);
}

/* Each workload checks itself: dump -> kill -> restore -> verify, twice. */
static void self_checking(const char *const argv[], const char *ok)
{
	struct rw w;

	rw_start(&w, argv, "ready");
	for (int round = 0; round < 2; round++) {
		dump_kill_restore(&w);
		t_expect_verdict(w.out, w.pid, SIGUSR1, ok, "verify BAD", VERDICT_MS);
	}
	rw_stop(&w);
}

BOTH_WAYS(fpu_bit_identical)
{
	const char *argv[] = { "fpu", NULL };

	self_checking(argv, "fpu: verify ok");
}

BOTH_WAYS(signal_handlers_and_pending)
{
	const char *argv[] = { "sighandler", NULL };

	self_checking(argv, "sighandler: verify ok");
}

/*
 * Many of everything a dump and a restore walk one by one: 4000 VMAs, 64
 * threads, 625 fds (500 opens of one inode, a dup of every fourth).
 */
BOTH_WAYS(crowd_of_vmas_threads_and_fds)
{
	const char *argv[] = { "crowd", "2000", "64", "500", NULL };

	self_checking(argv, "crowd: verify ok");
}

/* Workloads that take the test directory as their argument. */
static void self_checking_in_dir(const char *name, const char *ok)
{
	struct rw w;

	rw_init(&w);
	{
		const char *argv[] = { name, w.dir, NULL };

		rw_spawn(&w, argv, "ready");
	}
	for (int round = 0; round < 2; round++) {
		dump_kill_restore(&w);
		t_expect_verdict(w.out, w.pid, SIGUSR1, ok, "verify BAD", VERDICT_MS);
	}
	rw_stop(&w);
}

BOTH_WAYS(file_appended_at_position)
{
	self_checking_in_dir("appender", "appender: verify ok");
}

BOTH_WAYS(mmap_file_private_changes)
{
	self_checking_in_dir("mmapfile", "mmapfile: verify ok");
}

/* ---- refusals ---------------------------------------------------------------------- */

/* The restore must fail with a message containing @needle and leave no process. */
static void expect_refused(struct rw *w, const char *needle)
{
	char *err = NULL;
	int rc = t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), w->img);

	cr_assert_neq(rc, 0, "restore of bad images succeeded");
	cr_assert_not_null(err);
	cr_assert(strstr(err, needle), "no '%s' in the error:\n%s", needle, err);
	free(err);
	cr_assert(kill(w->pid, 0) && errno == ESRCH, "pid %d exists after a failed restore",
		  w->pid);
	cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1, "a failed restore left a child behind");
}

static void dumped(struct rw *w, const char *const argv[])
{
	int status;

	rw_start(w, argv, "ready");
	snprintf(w->img, sizeof(w->img), "%s/img", w->dir);
	cr_assert_eq(t_run(NULL, NULL, "%s dump -t %d -D %s", t_ferry_bin(), w->pid, w->img), 0);
	waitpid(w->pid, &status, 0);
}

Test(restore, refuses_missing_core)
{
	const char *argv[] = { "memhog", "4", "1", NULL };
	char path[700];
	struct rw w;

	dumped(&w, argv);
	snprintf(path, sizeof(path), "%s/core-%d.img", w.img, w.pid);
	cr_assert_eq(unlink(path), 0);
	expect_refused(&w, "core-");
	w.pid = -1;
	rw_stop(&w);
}

Test(restore, refuses_truncated_pages)
{
	const char *argv[] = { "memhog", "4", "1", NULL };
	char path[700];
	struct stat st;
	struct rw w;

	dumped(&w, argv);
	snprintf(path, sizeof(path), "%s/pages-1.img", w.img);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(truncate(path, st.st_size - 4096 * 3 - 100), 0);
	expect_refused(&w, "pages-1.img");
	w.pid = -1;
	rw_stop(&w);
}

/* One more page in a pagemap entry than pages-1.img holds. */
Test(restore, refuses_pagemap_past_pages)
{
	const char *argv[] = { "memhog", "4", "1", NULL };
	ProtobufCMessage *m[4096];
	struct img *in, *out;
	char name[64];
	size_t n = 0;
	struct rw w;
	int dfd;

	dumped(&w, argv);
	dfd = open(w.img, O_RDONLY | O_DIRECTORY);
	snprintf(name, sizeof(name), "pagemap-%d.img", w.pid);
	cr_assert_eq(img_open(&in, dfd, name, NULL), 0);
	while (n < 4096 && img_read_entry(in, &m[n]) == 1)
		n++;
	cr_assert_gt(n, 2);
	/* The first run of the 4 MiB anonymous block ends at a hole: room for one more page. */
	for (size_t i = 1; i < n; i++) {
		PagemapEntry *pe = (PagemapEntry *)m[i];

		if (pe->nr_pages >= 63) {
			pe->nr_pages++;
			break;
		}
	}
	cr_assert_eq(img_create(&out, dfd, name, img_get_type(in)), 0);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(img_write_entry(out, m[i]), 0);
	cr_assert_eq(img_commit(out), 0);
	img_close(in);
	close(dfd);
	expect_refused(&w, "pages-1.img");
	w.pid = -1;
	rw_stop(&w);
}

/* mmapfile, dumped (and killed) into w->img. */
static void dumped_mmapfile(struct rw *w)
{
	int status;

	rw_init(w);
	{
		const char *argv[] = { "mmapfile", w->dir, NULL };

		rw_spawn(w, argv, "ready");
	}
	snprintf(w->img, sizeof(w->img), "%s/img", w->dir);
	cr_assert_eq(t_run(NULL, NULL, "%s dump -t %d -D %s", t_ferry_bin(), w->pid, w->img), 0);
	waitpid(w->pid, &status, 0);
}

/* A mapped file that changed size since the dump: refused, nothing left. */
Test(restore, refuses_mapped_file_resized)
{
	char path[600];
	struct rw w;

	dumped_mmapfile(&w);
	snprintf(path, sizeof(path), "%s/map", w.dir);
	cr_assert_eq(truncate(path, 4096 * 3), 0);
	expect_refused(&w, "changed size");
	w.pid = -1;
	rw_stop(&w);
}

Test(restore, refuses_vanished_mapped_file)
{
	char path[600];
	struct rw w;

	dumped_mmapfile(&w);
	snprintf(path, sizeof(path), "%s/shared", w.dir);
	cr_assert_eq(unlink(path), 0);
	expect_refused(&w, "vanished");
	w.pid = -1;
	rw_stop(&w);
}

/* A vDSO laid out unlike this kernel's (as after a kernel change) is refused. */
Test(restore, refuses_another_kernels_vdso)
{
	const char *argv[] = { "memhog", "4", "1", NULL };
	ProtobufCMessage *m;
	struct img *in, *out;
	char name[64];
	struct rw w;
	int dfd, changed = 0;

	dumped(&w, argv);
	dfd = open(w.img, O_RDONLY | O_DIRECTORY);
	snprintf(name, sizeof(name), "mm-%d.img", w.pid);
	cr_assert_eq(img_open(&in, dfd, name, NULL), 0);
	cr_assert_eq(img_read_entry(in, &m), 1);
	for (size_t i = 0; i < ((MmEntry *)m)->n_vmas; i++) {
		VmaEntry *v = ((MmEntry *)m)->vmas[i];

		if ((v->status & (1u << 3)) && v->end - v->start > 4096) { /* VMA_AREA_VDSO */
			v->end -= 4096;
			changed = 1;
		}
	}
	cr_assert(changed, "no vDSO in the dump");
	cr_assert_eq(img_create(&out, dfd, name, img_get_type(in)), 0);
	cr_assert_eq(img_write_entry(out, m), 0);
	cr_assert_eq(img_commit(out), 0);
	img_close(in);
	close(dfd);
	expect_refused(&w, "vDSO");
	w.pid = -1;
	rw_stop(&w);
}

Test(restore, refuses_taken_pid)
{
	const char *argv[] = { "memhog", "4", "1", NULL };
	char *err = NULL;
	struct rw w;
	int rc;

	rw_start(&w, argv, "ready");
	snprintf(w.img, sizeof(w.img), "%s/img", w.dir);
	cr_assert_eq(t_run(NULL, NULL, "%s dump --leave-running -t %d -D %s", t_ferry_bin(), w.pid,
			   w.img),
		     0);
	rc = t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), w.img);
	cr_assert_neq(rc, 0);
	cr_assert(err && strstr(err, "taken"), "error: %s", err ? err : "");
	cr_assert(strstr(err, "memhog"), "the holder is not named: %s", err);
	free(err);
	/* The holder is untouched. */
	t_expect_verdict(w.out, w.pid, SIGUSR1, "memhog: verify ok", "verify BAD", VERDICT_MS);
	cr_assert_eq(waitpid(-1, NULL, WNOHANG), 0, "a failed restore left a child behind");
	rw_stop(&w);
}

static void *reap_later(void *arg)
{
	pid_t pid = *(pid_t *)arg;

	usleep(200000);
	waitpid(pid, NULL, 0);
	return NULL;
}

/*
 * `ferry dump` (which kills the tree) then `ferry restore` at once: the pid
 * may still be a zombie its parent has not reaped. Restore waits a moment for
 * that; if the parent never reaps, it says so, naming the parent.
 */
Test(restore, waits_for_the_dumped_zombie)
{
	const char *argv[] = { "memhog", "4", "1", NULL };
	char *err = NULL, parent[32];
	struct rw w;
	pthread_t th;
	pid_t pid;

	rw_start(&w, argv, "ready");
	pid = w.pid;
	snprintf(w.img, sizeof(w.img), "%s/img", w.dir);
	cr_assert_eq(t_run(NULL, NULL, "%s dump -t %d -D %s", t_ferry_bin(), w.pid, w.img), 0);
	cr_assert_eq(t_proc_state(pid), 'Z', "the dumped process is no zombie of ours");
	cr_assert_neq(t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), w.img), 0);
	snprintf(parent, sizeof(parent), "parent, pid %d,", getpid());
	cr_assert(err && strstr(err, "zombie (memhog)") && strstr(err, parent),
		  "the zombie and its parent are not named: %s", err ? err : "");
	free(err);

	/* Reaped while restore waits: the restore goes through. */
	cr_assert_eq(pthread_create(&th, NULL, reap_later, &pid), 0);
	cr_assert_eq(t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), w.img), 0, "%s",
		     err ? err : "");
	free(err);
	pthread_join(th, NULL);
	t_expect_verdict(w.out, w.pid, SIGUSR1, "memhog: verify ok", "verify BAD", VERDICT_MS);
	rw_stop(&w);
}

/* ---- creds, rlimits, cwd ----------------------------------------------------------- */

/* A counter running as nobody, with its own RLIMIT_NOFILE and cwd. */
static pid_t spawn_as_nobody(const char *dir, const char *out_path)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (!pid) {
		struct rlimit rl = { 777, 888 };
		int out = open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int in = open("/dev/null", O_RDONLY);

		if (out < 0 || in < 0 || chdir(dir) || setrlimit(RLIMIT_NOFILE, &rl))
			_exit(126);
		dup2(in, 0);
		dup2(out, 1);
		dup2(out, 2);
		syscall(SYS_close_range, 3, ~0u, 0);
		setpgid(0, 0);
		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(125);
		execl(t_workload("counter"), "counter", (char *)NULL);
		_exit(127);
	}
	return pid;
}

Test(restore, creds_rlimits_cwd)
{
	char link[64], cwd[600], *line;
	struct rw w;
	ssize_t n;

	rw_init(&w);
	w.pid = spawn_as_nobody(w.dir, w.out);
	line = t_wait_line(w.out, "checksum", 10000);
	cr_assert_not_null(line, "the counter did not start as nobody");
	free(line);
	for (int round = 0; round < 2; round++) {
		int before;

		dump_kill_restore(&w);
		cr_assert_eq(t_proc_field(w.pid, "Uid"), 65534, "uid not restored");
		cr_assert_eq(t_proc_field(w.pid, "Gid"), 65534, "gid not restored");
		{
			char path[64], *st, *p;

			snprintf(path, sizeof(path), "/proc/%d/status", w.pid);
			st = t_read_file(path, NULL);
			cr_assert_not_null(st);
			p = strstr(st, "Uid:");
			cr_assert(p && !strncmp(p, "Uid:\t65534\t65534\t65534\t65534", 27), "%s",
				  st);
			p = strstr(st, "CapEff:");
			cr_assert(p && !strncmp(p, "CapEff:\t0000000000000000", 24),
				  "restored with capabilities: %s", st);
			p = strstr(st, "Groups:");
			cr_assert_not_null(p);
			p += 7;
			p += strspn(p, " \t");
			cr_assert_eq(*p, '\n', "supplementary groups restored wrong: %s", st);
			free(st);
		}
		{
			/* /proc, not prlimit(2): root here lacks CAP_SYS_RESOURCE. */
			char path[64], *lim, *p;
			unsigned long cur = 0, max = 0;

			snprintf(path, sizeof(path), "/proc/%d/limits", w.pid);
			lim = t_read_file(path, NULL);
			p = lim ? strstr(lim, "Max open files") : NULL;
			cr_assert_not_null(p);
			cr_assert_eq(sscanf(p + 26, "%lu %lu", &cur, &max), 2, "%s", p);
			cr_assert_eq(cur, 777, "RLIMIT_NOFILE soft %lu", cur);
			cr_assert_eq(max, 888, "RLIMIT_NOFILE hard %lu", max);
			free(lim);
		}
		snprintf(link, sizeof(link), "/proc/%d/cwd", w.pid);
		n = readlink(link, cwd, sizeof(cwd) - 1);
		cr_assert_gt(n, 0);
		cwd[n] = '\0';
		cr_assert_str_eq(cwd, w.dir, "cwd not restored");
		before = t_count_lines(w.out, "checksum");
		for (int i = 0; i < 300 && t_count_lines(w.out, "checksum") <= before; i++)
			usleep(10000);
		cr_assert_gt(t_count_lines(w.out, "checksum"), before,
			     "the restored counter makes no progress");
	}
	rw_stop(&w);
}
