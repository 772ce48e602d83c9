// SPDX-License-Identifier: MIT
/*
 * `ferry restore --shell-job` end to end: a job on one pseudo-terminal,
 * dumped, restored on another, gets its terminal back as a shell would give
 * it (its settings, the foreground, Ctrl-C, a redraw); with a workload of
 * ours and with Debian's less run by bash in tmux. The suite is restore's
 * (test_restore.c defines it).
 *
 * The test process is a child subreaper: a tree restored with -d is
 * reparented to it when ferry exits, so it can be reaped here.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "helpers.h"
static int new_pty(char *slave_name, size_t size)
{
	int master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);

	cr_assert_geq(master, 0);
	cr_assert_eq(grantpt(master), 0);
	cr_assert_eq(unlockpt(master), 0);
	snprintf(slave_name, size, "%s", ptsname(master));
	return master;
}

/* Run @prog with @args on a terminal (a new session with @slave as ctty and stdio). */
static pid_t spawn_on_tty(const char *slave, const char *prog, const char *const argv[])
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (!pid) {
		int fd;

		setsid();
		fd = open(slave, O_RDWR);
		if (fd < 0 || ioctl(fd, TIOCSCTTY, 0))
			_exit(126);
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		syscall(SYS_close_range, 3, ~0u, 0);
		execv(prog, (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* Read from @master until a line with @needle shows up (10 s at most). */
static int tty_wait(int master, const char *needle)
{
	char buf[8192];
	size_t len = 0;

	for (int i = 0; i < 1000; i++) {
		struct pollfd p = { master, POLLIN, 0 };
		ssize_t n;

		if (poll(&p, 1, 10) <= 0)
			continue;
		n = read(master, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			return 0;
		len += (size_t)n;
		buf[len] = '\0';
		if (strstr(buf, needle))
			return 1;
		if (len > sizeof(buf) / 2) {
			memmove(buf, buf + len / 2, len - len / 2);
			len -= len / 2;
		}
	}
	return 0;
}

Test(restore, shell_job_gets_ferrys_terminal)
{
	const char *cargv[] = { "counter", NULL };
	char slave1[128], slave2[128], img[600], *err = NULL, ferry_args[700];
	char *dir = t_tmpdir();
	int m1, m2, status;
	pid_t pid, fp;

	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	m1 = new_pty(slave1, sizeof(slave1));
	pid = spawn_on_tty(slave1, t_workload("counter"), cargv);
	cr_assert(tty_wait(m1, "checksum"), "counter never wrote to its terminal");
	snprintf(img, sizeof(img), "%s/img", dir);
	cr_assert_eq(t_run(NULL, &err, "%s dump --shell-job -t %d -D %s", t_ferry_bin(), pid, img),
		     0, "%s", err ? err : "");
	free(err);
	err = NULL;
	waitpid(pid, &status, 0);
	close(m1);

	/* Without --shell-job the terminal is refused, and nothing is left. */
	cr_assert_neq(t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), img), 0);
	cr_assert(err && strstr(err, "--shell-job"), "%s", err ? err : "");
	free(err);
	cr_assert(kill(pid, 0) && errno == ESRCH);

	/* ferry restore runs on another terminal; the restored counter writes there. */
	m2 = new_pty(slave2, sizeof(slave2));
	snprintf(ferry_args, sizeof(ferry_args), "%s", img);
	{
		const char *fargv[] = { t_ferry_bin(), "restore",  "--shell-job", "-d",
					"-D",	       ferry_args, NULL };

		fp = spawn_on_tty(slave2, t_ferry_bin(), fargv);
	}
	cr_assert_eq(waitpid(fp, &status, 0), fp);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "restore failed: %#x", status);
	cr_assert(tty_wait(m2, "checksum"), "the restored counter does not write to the terminal");
	t_kill_wait(pid);
	close(m2);
	t_rmrf(dir);
	free(dir);
}

/*
 * A fake shell on @slave: session leader with it as controlling terminal,
 * which starts ttyjob as its foreground job (own process group). Returns the
 * shell's pid; the job's pid comes from ttyjob's ready line.
 */
static pid_t shell_with_job(const char *slave)
{
	pid_t sh = fork(), job;

	cr_assert_geq(sh, 0);
	if (sh)
		return sh;
	setsid();
	{
		int fd = open(slave, O_RDWR);

		if (fd < 0 || ioctl(fd, TIOCSCTTY, 0))
			_exit(126);
		dup2(fd, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		syscall(SYS_close_range, 3, ~0u, 0);
	}
	job = fork();
	if (job == 0) {
		setpgid(0, 0);
		signal(SIGTTOU, SIG_IGN);
		tcsetpgrp(0, getpgrp()); /* what a shell does for a foreground job */
		signal(SIGTTOU, SIG_DFL);
		execl(t_workload("ttyjob"), "ttyjob", NULL);
		_exit(127);
	}
	for (;;)
		pause();
}

/*
 * --shell-job gives the job its terminal back as a shell would: the dumped
 * settings (no canonical mode, no echo: keys arrive without Enter), the
 * foreground (Ctrl-C goes to the job, not to ferry, which exits with the
 * job's status), and ferry's settings back when the job is over.
 */
Test(restore, shell_job_is_the_foreground_job)
{
	char slave1[128], slave2[128], img[600], *err = NULL, buf[4096];
	char *dir = t_tmpdir();
	int m1, m2, status, job = 0;
	struct termios t;
	pid_t sh, fp;
	size_t len = 0;

	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	m1 = new_pty(slave1, sizeof(slave1));
	sh = shell_with_job(slave1);
	for (int i = 0; i < 500 && !job; i++) {
		struct pollfd p = { m1, POLLIN, 0 };
		ssize_t n;
		char *r;

		if (poll(&p, 1, 20) <= 0)
			continue;
		n = read(m1, buf + len, sizeof(buf) - 1 - len);
		if (n > 0)
			len += (size_t)n;
		buf[len] = 0;
		r = strstr(buf, "ttyjob: pid ");
		if (r && strstr(r, "ready"))
			sscanf(r, "ttyjob: pid %d", &job);
	}
	cr_assert_gt(job, 0, "ttyjob did not start on its terminal: %s", buf);
	snprintf(img, sizeof(img), "%s/img", dir);
	cr_assert_eq(t_run(NULL, &err, "%s dump --shell-job -t %d -D %s", t_ferry_bin(), job, img),
		     0, "%s", err ? err : "");
	free(err);
	/* The shell goes too; its job, a zombie, comes to us, a subreaper. */
	t_kill_wait(sh);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	close(m1);

	m2 = new_pty(slave2, sizeof(slave2));
	cr_assert_eq(tcgetattr(m2, &t), 0);
	cr_assert(t.c_lflag & ICANON, "a new pty starts canonical");
	{
		const char *fargv[] = { t_ferry_bin(), "restore", "--shell-job", "-D", img, NULL };

		fp = spawn_on_tty(slave2, t_ferry_bin(), fargv);
	}
	/* Told to draw its screen again; a key without Enter reaches it, raw, in front. */
	cr_expect(tty_wait(m2, "ttyjob: SIGWINCH"), "the restored job got no SIGWINCH");
	cr_assert_eq(write(m2, "x", 1), 1);
	cr_expect(tty_wait(m2, "key 'x' icanon 0 echo 0 foreground 1"),
		  "the restored job did not get the key at once, in raw mode, in the foreground");
	/* Ctrl-C is the job's: it exits 42, and ferry with it, not killed by SIGINT. */
	cr_assert_eq(write(m2, "\003", 1), 1);
	cr_expect(tty_wait(m2, "ttyjob: SIGINT"), "Ctrl-C did not reach the job");
	cr_assert_eq(waitpid(fp, &status, 0), fp);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 42,
		  "ferry restore ended with status %#x, not the job's 42", status);
	cr_assert_eq(tcgetattr(m2, &t), 0);
	cr_expect(t.c_lflag & ICANON, "ferry left its terminal in the job's raw mode");
	close(m2);
	t_rmrf(dir);
	free(dir);
}

/* The visible text of tmux pane @pane on server @sock (malloc'd). */
static char *tmux_screen(const char *sock, const char *pane)
{
	char *out = NULL;

	t_run(&out, NULL, "tmux -L %s capture-pane -p -t %s", sock, pane);
	return out ? out : strdup("");
}

/* Wait up to 10 s for @needle on the pane's screen. */
static int tmux_wait(const char *sock, const char *pane, const char *needle)
{
	for (int i = 0; i < 100; i++) {
		char *s = tmux_screen(sock, pane);
		int found = strstr(s, needle) != NULL;

		free(s);
		if (found)
			return 1;
		usleep(100000);
	}
	return 0;
}

/*
 * A real program from Debian as a shell job: less, run by bash in a tmux
 * pane, dumped with --shell-job; restored by `ferry restore --shell-job`
 * typed into bash in another pane, it gets keys at once (G: to the end of
 * the file, no Enter), and q gives the terminal back to bash.
 */
Test(restore, less_in_tmux_is_the_foreground_job)
{
	char sock[64], file[600], img[600], *err = NULL, *screen;
	char *dir = t_tmpdir();
	int pid = 0;

	if (t_run(NULL, NULL, "command -v tmux && command -v less"))
		cr_skip_test("tmux or less is not installed (scripts/install-deps.sh)");
	snprintf(sock, sizeof(sock), "ferry-test-%d", (int)getpid());
	snprintf(file, sizeof(file), "%s/lines", dir);
	snprintf(img, sizeof(img), "%s/img", dir);
	cr_assert_eq(t_run(NULL, NULL, "seq 1 5000 > %s", file), 0);
	cr_assert_eq(t_run(NULL, NULL,
			   "tmux -L %s new-session -d -s a -x 80 -y 24 'bash --norc' && "
			   "tmux -L %s new-session -d -s b -x 80 -y 24 'bash --norc'",
			   sock, sock),
		     0);
	cr_assert_eq(t_run(NULL, NULL, "tmux -L %s send-keys -t a 'less %s' Enter", sock, file), 0);
	cr_assert(tmux_wait(sock, "a", "\n17\n18\n"), "less did not start");
	{
		char *out = NULL;

		/* less is a job of the pane's bash: its child. */
		cr_assert_eq(
			t_run(&out, NULL,
			      "pgrep -x less -P $(tmux -L %s list-panes -t a -F '#{pane_pid}')",
			      sock),
			0);
		pid = out ? atoi(out) : 0;
		free(out);
	}
	cr_assert_gt(pid, 0);
	cr_assert_eq(t_run(NULL, &err, "%s dump --shell-job -t %d -D %s", t_ferry_bin(), pid, img),
		     0, "%s", err ? err : "");
	free(err);
	/* Restored in pane b, by a command typed into its bash. */
	cr_assert_eq(t_run(NULL, NULL,
			   "tmux -L %s send-keys -t b '%s restore --shell-job -D %s; echo "
			   "ferry-exit=$?' Enter",
			   sock, t_ferry_bin(), img),
		     0);
	cr_expect(tmux_wait(sock, "b", "\n17\n18\n"), "the restored less did not draw its screen");
	cr_assert_eq(t_run(NULL, NULL, "tmux -L %s send-keys -t b G", sock), 0);
	cr_expect(tmux_wait(sock, "b", "5000"), "G did not reach less at once");
	cr_assert_eq(t_run(NULL, NULL, "tmux -L %s send-keys -t b q", sock), 0);
	cr_expect(tmux_wait(sock, "b", "ferry-exit=0"), "less did not end well");
	screen = tmux_screen(sock, "b");
	cr_log_info("after q:\n%s", screen);
	free(screen);
	t_run(NULL, NULL, "tmux -L %s kill-server", sock);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	t_rmrf(dir);
	free(dir);
}
