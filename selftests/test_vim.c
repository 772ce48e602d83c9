// SPDX-License-Identifier: MIT
/*
 * A real program with a POSIX timer (issue 18): Debian's vim, run by bash in
 * a tmux pane, holds a glibc SIGEV_THREAD timer (the kernel sees
 * SIGEV_SIGNAL | SIGEV_THREAD_ID to glibc's helper thread) and a swap file.
 * With an unsaved edit in its buffer it is dumped with --shell-job and
 * restored by `ferry restore --shell-job` typed into bash in another pane:
 * its timer is there with the same id, clock, signal and thread, the unsaved
 * edit is on the screen, and it takes more edits and writes them all to the
 * file; :q gives the terminal back and ferry exits 0.
 *
 * The test process is a child subreaper, so the restored vim's helpers end
 * up here to be reaped.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

TestSuite(vim, .timeout = 120);

/* The visible text of tmux pane @pane on server @sock (malloc'd). */
static char *screen(const char *sock, const char *pane)
{
	char *out = NULL;

	t_run(&out, NULL, "tmux -L %s capture-pane -p -t %s", sock, pane);
	return out ? out : strdup("");
}

/* Wait up to 10 s for @needle on the pane's screen. */
static int wait_screen(const char *sock, const char *pane, const char *needle)
{
	for (int i = 0; i < 100; i++) {
		char *s = screen(sock, pane);
		int found = strstr(s, needle) != NULL;

		free(s);
		if (found)
			return 1;
		usleep(100000);
	}
	return 0;
}

static void keys(const char *sock, const char *pane, const char *k)
{
	cr_assert_eq(t_run(NULL, NULL, "tmux -L %s send-keys -t %s %s", sock, pane, k), 0);
}

static char *proc_timers(pid_t pid)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/timers", pid);
	return t_read_file(path, NULL);
}

Test(vim, keeps_its_buffer_timer_and_takes_edits_after_restore)
{
	char sock[64], file[600], img[600], cmd[1600], *err = NULL, *out = NULL;
	char *before, *after, *text, *dir;
	pid_t pid;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	if (t_run(NULL, NULL, "command -v tmux && command -v vim"))
		cr_skip_test("tmux or vim is not installed (scripts/install-deps.sh)");
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	dir = t_tmpdir();
	snprintf(sock, sizeof(sock), "ferry-vim-%d", (int)getpid());
	snprintf(file, sizeof(file), "%s/text", dir);
	snprintf(img, sizeof(img), "%s/img", dir);
	cr_assert_eq(t_run(NULL, NULL, "seq 1 30 > %s", file), 0);
	cr_assert_eq(t_run(NULL, NULL,
			   "tmux -L %s new-session -d -s a -x 80 -y 24 'bash --norc' && "
			   "tmux -L %s new-session -d -s b -x 80 -y 24 'bash --norc'",
			   sock, sock),
		     0);
	/* The tool environment's stray fd 251 must not reach vim (scripts/demo.sh). */
	snprintf(cmd, sizeof(cmd), "'exec 251>&-; vim -N -u NONE -i NONE %s' Enter", file);
	keys(sock, "a", cmd);
	cr_assert(wait_screen(sock, "a", "\n17\n18\n"), "vim did not start");
	cr_assert_eq(t_run(&out, NULL,
			   "pgrep -x vim -P $(tmux -L %s list-panes -t a -F '#{pane_pid}')", sock),
		     0);
	pid = atoi(out);
	free(out);
	cr_assert_gt(pid, 0);
	/* An edit that is only in vim's memory. */
	keys(sock, "a", "-l ggIunsaved-");
	keys(sock, "a", "Escape");
	cr_assert(wait_screen(sock, "a", "unsaved-1"), "the edit did not show");
	before = proc_timers(pid);
	cr_assert(before && strstr(before, "ID: "), "vim has no POSIX timer here: %s",
		  before ? before : "?");
	cr_log_info("vim's timers: %s", before);

	cr_assert_eq(t_run(NULL, &err, "%s dump --shell-job -t %d -D %s", t_ferry_bin(), pid, img),
		     0, "%s", err ? err : "");
	free(err);
	err = NULL;
	snprintf(cmd, sizeof(cmd), "'%s restore --shell-job -D %s; echo ferry-exit=$?' Enter",
		 t_ferry_bin(), img);
	keys(sock, "b", cmd);
	cr_assert(wait_screen(sock, "b", "unsaved-1"), "the restored vim does not show its buffer");
	after = proc_timers(pid);
	cr_assert(after, "pid %d is not there after the restore", pid);
	cr_assert_str_eq(after, before, "vim's POSIX timers changed");
	keys(sock, "b", "-l ggA-restored");
	keys(sock, "b", "Escape");
	cr_assert(wait_screen(sock, "b", "unsaved-1-restored"), "the restored vim takes no keys");
	keys(sock, "b", "-l Golast-line");
	keys(sock, "b", "Escape");
	keys(sock, "b", "-l :wq");
	keys(sock, "b", "Enter");
	cr_assert(wait_screen(sock, "b", "ferry-exit=0"), "vim did not end well");
	text = t_read_file(file, NULL);
	cr_assert(text && !strncmp(text, "unsaved-1-restored\n2\n", 21) &&
			  strstr(text, "\n30\nlast-line\n"),
		  "the file vim wrote: %s", text ? text : "?");
	free(text);
	free(before);
	free(after);
	t_run(NULL, NULL, "tmux -L %s kill-server", sock);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	t_rmrf(dir);
	free(dir);
}
