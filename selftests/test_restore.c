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
 *
 * Here the workloads restored all three ways; the fd table and inherited fds
 * are in test_restore_fds.c, refusals in test_restore_refusals.c, creds,
 * rlimits and cwd in test_restore_creds.c (suite restore).
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "restore_helpers.h"

TestSuite(restore, .timeout = 120);
TestSuite(restore_lazy, .timeout = 120);
TestSuite(restore_remote, .timeout = 120, .fini = rst_remote_fini);

/* A test of three suites: eager, lazy from the images, lazy from a page server. */
#define BOTH_WAYS(name)                \
	static void name##_body(void); \
	Test(restore, name)            \
	{                              \
		name##_body();         \
	}                              \
	Test(restore_lazy, name)       \
	{                              \
		rst_lazy_mode = 1;     \
		name##_body();         \
	}                              \
	Test(restore_remote, name)     \
	{                              \
		rst_lazy_mode = 1;     \
		rst_remote_mode = 1;   \
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
	struct rst_rw w;
	pid_t refpid;
	int last = -1, status;

	rst_rw_start(&w, argv, "counter: 2 checksum");
	snprintf(ref_out, sizeof(ref_out), "%s/ref", w.dir);
	refpid = t_spawn(ref_out, ref_argv);
	for (int round = 0; round < 2; round++) {
		rst_dump_kill_restore(&w);
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
	rst_rw_stop(&w);
}

BOTH_WAYS(memhog_256m)
{
	const char *argv[] = { "memhog", "256", "7", NULL };
	struct rst_rw w;

	rst_rw_start(&w, argv, "ready");
	for (int round = 0; round < 2; round++) {
		rst_dump_kill_restore(&w);
		t_expect_verdict(w.out, w.pid, SIGUSR1, "memhog: verify ok", "verify BAD",
				 VERDICT_MS);
	}
	/* It keeps working after the restore: a rewrite and a check of the new seed. */
	t_expect_verdict(w.out, w.pid, SIGUSR2, "memhog: rewrote seed", NULL, VERDICT_MS);
	t_expect_verdict(w.out, w.pid, SIGUSR1, "memhog: verify ok", "verify BAD", VERDICT_MS);
	rst_rw_stop(&w);
}

BOTH_WAYS(threads_mutex)
{
	const char *argv[] = { "threads", "4", NULL };
	char path[64], *line;
	pid_t tids[4];
	struct rst_rw w;

	rst_rw_start(&w, argv, "ready");
	line = t_wait_line(w.out, "ready", 1);
	cr_assert_eq(sscanf(line, "threads: pid %*d tids %d %d %d %d", &tids[0], &tids[1], &tids[2],
			    &tids[3]),
		     4, "%s", line);
	free(line);
	for (int round = 0; round < 2; round++) {
		rst_dump_kill_restore(&w);
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
	rst_rw_stop(&w);
}

BOTH_WAYS(family_pipe_in_flight)
{
	const char *argv[] = { "family", "20000", NULL };
	pid_t parent, reader, busy;
	struct rst_rw w;
	char *line;

	rst_rw_start(&w, argv, "ready");
	line = t_wait_line(w.out, "ready", 1);
	cr_assert_eq(sscanf(line, "family: parent %d reader %d busy %d", &parent, &reader, &busy),
		     3);
	free(line);
	/* Round 2 dumps the restored tree, whose pipe was already read once. */
	for (int round = 0; round < 2; round++) {
		rst_dump_kill_restore(&w);
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
	rst_rw_stop(&w);
}

/* The first restored tree exits; the same images give the same tree again. */
Test(restore, same_images_twice)
{
	const char *argv[] = { "memhog", "16", "3", NULL };
	char *err = NULL;
	struct rst_rw w;

	rst_rw_start(&w, argv, "ready");
	rst_dump_kill_restore(&w);
	t_expect_verdict(w.out, w.pid, SIGUSR1, "memhog: verify ok", "verify BAD", VERDICT_MS);
	t_kill_wait(w.pid);
	cr_assert_eq(t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), w.img), 0,
		     "second restore: %s", err ? err : "");
	free(err);
	t_expect_verdict(w.out, w.pid, SIGUSR1, "memhog: verify ok", "verify BAD", VERDICT_MS);
	rst_rw_stop(&w);
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
	struct rst_rw w;

	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	cr_assert_gt(rl.rlim_cur, 1024, "the test itself runs with %llu fds at most",
		     (unsigned long long)rl.rlim_cur);
	rst_rw_start(&w, argv, "ready");
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
	rst_rw_stop(&w);
}

/* Without -d ferry waits for the root and exits with its status. */
Test(restore, attached_exit_status)
{
	const char *argv[] = { "counter", "12", NULL };
	char *err = NULL;
	struct rst_rw w;
	int rc, status;

	rst_rw_start(&w, argv, "counter: 1 checksum");
	snprintf(w.img, sizeof(w.img), "%s/img", w.dir);
	cr_assert_eq(t_run(NULL, NULL, "%s dump -t %d -D %s", t_ferry_bin(), w.pid, w.img), 0);
	waitpid(w.pid, &status, 0);
	rc = t_run(NULL, &err, "%s restore -D %s", t_ferry_bin(), w.img);
	cr_assert_eq(rc, 0, "restore: %s", err ? err : "");
	free(err);
	cr_assert_eq(t_count_lines(w.out, "checksum"), 12, "the counter did not finish its run");
	w.pid = -1;
	rst_rw_stop(&w);
}

/* Each workload checks itself: dump -> kill -> restore -> verify, twice. */
static void self_checking(const char *const argv[], const char *ok)
{
	struct rst_rw w;

	rst_rw_start(&w, argv, "ready");
	for (int round = 0; round < 2; round++) {
		rst_dump_kill_restore(&w);
		t_expect_verdict(w.out, w.pid, SIGUSR1, ok, "verify BAD", VERDICT_MS);
	}
	rst_rw_stop(&w);
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
	struct rst_rw w;

	rst_rw_init(&w);
	{
		const char *argv[] = { name, w.dir, NULL };

		rst_rw_spawn(&w, argv, "ready");
	}
	for (int round = 0; round < 2; round++) {
		rst_dump_kill_restore(&w);
		t_expect_verdict(w.out, w.pid, SIGUSR1, ok, "verify BAD", VERDICT_MS);
	}
	rst_rw_stop(&w);
}

BOTH_WAYS(file_appended_at_position)
{
	self_checking_in_dir("appender", "appender: verify ok");
}

BOTH_WAYS(mmap_file_private_changes)
{
	self_checking_in_dir("mmapfile", "mmapfile: verify ok");
}
