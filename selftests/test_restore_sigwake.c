// SPDX-License-Identifier: MIT
/*
 * A process restored while blocked in an interruptible syscall is woken by a
 * signal as the kernel would wake it, whenever the signal comes: right after
 * the restore (before the process is back in the call), or during the restore
 * (pending when it resumes). Workload: sigwake (pause() or read() of a pipe,
 * SIGUSR1 without SA_RESTART, SIGUSR2 with it). Eager and lazy restores.
 *
 * Before restore/restart.c a restored thread went straight to its syscall
 * instruction: a handler run before it got there returned into the call and
 * the process blocked again, its wake-up lost.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "restore_helpers.h"

TestSuite(sigwake, .timeout = 120);

#define WOKE_MS 3000

/* Fails the test unless the workload's output gets @needle within WOKE_MS. */
static void expect_line(const struct rst_rw *w, int round, const char *needle)
{
	char *line = t_wait_line(w->out, needle, WOKE_MS), *all;

	if (line) {
		free(line);
		return;
	}
	all = t_read_file(w->out, NULL);
	cr_assert_fail(
		"round %d: restored pid %d never printed \"%s\" (state '%c'); its output:\n%s",
		round, w->pid, needle, t_proc_state(w->pid), all ? all : "");
}

static void woke(char *buf, size_t len, int n, int usr1, int usr2)
{
	snprintf(buf, len, "sigwake: woke %d ret -1 errno %d usr1 %d usr2 %d", n, EINTR, usr1,
		 usr2);
}

/*
 * A child sends one SIGUSR1 to the pid once it exists again. During the
 * restore (@after_detach 0): as soon as it exists, to the restore's shell,
 * which blocks every signal from its first instruction, so the signal is
 * pending when the restored process resumes. Right after the restore
 * (@after_detach 1): as soon as ferry has let it go (TracerPid back to 0),
 * while the thread is on its way back to its syscall.
 */
static pid_t send_when_back(pid_t pid, int after_detach)
{
	pid_t c = fork();
	int phase = 0;

	cr_assert_geq(c, 0);
	if (c)
		return c;
	/* The dumped process first (alive, then a zombie until reaped), then the new one. */
	for (;;) {
		char st = t_proc_state(pid);

		if (phase == 0)
			phase = st == 0 || st == 'Z';
		else if (st && st != 'Z' && !after_detach)
			break;
		else if (st && st != 'Z' && phase == 1)
			phase = t_proc_field(pid, "TracerPid") > 0 ? 2 : 1;
		else if (st && st != 'Z' && t_proc_field(pid, "TracerPid") == 0)
			break;
		if (phase < 2)
			usleep(100);
	}
	_exit(kill(pid, SIGUSR1) ? 1 : 0);
}

/*
 * Each round: dump, restore, one SIGUSR1 (see send_when_back); pause() returns
 * EINTR. @threads: "0", or that many other threads that block the signal.
 */
static void woken_each_round(int after_detach, int rounds, const char *threads)
{
	const char *argv[] = { "sigwake", "pause", threads, NULL };
	char needle[128];
	struct rst_rw w;
	int status;

	rst_rw_start(&w, argv, "ready");
	for (int n = 1; n <= rounds; n++) {
		pid_t sender = send_when_back(w.pid, after_detach);

		rst_dump_kill_restore(&w);
		cr_assert_eq(waitpid(sender, &status, 0), sender);
		cr_assert(WIFEXITED(status) && !WEXITSTATUS(status), "the sender failed: %#x",
			  status);
		woke(needle, sizeof(needle), n, n, 0);
		expect_line(&w, n, needle);
	}
	rst_rw_stop(&w);
}

Test(sigwake, pause_woken_by_a_signal_right_after_restore)
{
	woken_each_round(1, 10, "0");
}

Test(sigwake, pause_woken_by_a_signal_right_after_lazy_restore)
{
	rst_lazy_mode = 1;
	woken_each_round(1, 4, "0");
}

/*
 * With 32 other threads (restore_remote/crowd_of_vmas_threads_and_fds waits
 * so, with 64): the main thread must not be preempted by their wake-ups
 * between the kernel's restart of its pause() and its return to it.
 */
Test(sigwake, pause_of_a_threaded_process_woken_right_after_restore)
{
	woken_each_round(1, 8, "32");
}

Test(sigwake, pause_woken_by_a_signal_sent_during_restore)
{
	woken_each_round(0, 4, "0");
}

Test(sigwake, pause_woken_by_a_signal_sent_during_lazy_restore)
{
	rst_lazy_mode = 1;
	woken_each_round(0, 2, "0");
}

/*
 * read() of a pipe: the SA_RESTART handler (SIGUSR2) runs and the read goes
 * on (no "woke" line); the other one (SIGUSR1) ends it with EINTR.
 */
static void read_restarted_or_interrupted(void)
{
	const char *argv[] = { "sigwake", "read", NULL };
	char needle[128];
	struct rst_rw w;

	rst_rw_start(&w, argv, "ready");
	for (int n = 1; n <= 2; n++) {
		rst_dump_kill_restore(&w);
		cr_assert_eq(kill(w.pid, SIGUSR2), 0);
		snprintf(needle, sizeof(needle), "sigwake: usr2 %d", n);
		expect_line(&w, n, needle);
		usleep(100 * 1000);
		cr_assert_eq(t_count_lines(w.out, "sigwake: woke"), n - 1,
			     "round %d: read() returned after the SA_RESTART handler", n);
		cr_assert_eq(kill(w.pid, SIGUSR1), 0);
		woke(needle, sizeof(needle), n, n, n);
		expect_line(&w, n, needle);
	}
	rst_rw_stop(&w);
}

Test(sigwake, read_restarted_after_an_sa_restart_handler_else_eintr)
{
	read_restarted_or_interrupted();
}

Test(sigwake, read_restarted_after_an_sa_restart_handler_else_eintr_lazy)
{
	rst_lazy_mode = 1;
	read_restarted_or_interrupted();
}
