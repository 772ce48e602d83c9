// SPDX-License-Identifier: MIT
/*
 * A full-screen-like job on a terminal: what --shell-job must give back.
 *   ttyjob
 * On its terminal (stdin) it turns canonical mode and echo off, as an editor
 * does, keeps ISIG (Ctrl-C still signals), prints
 *   ttyjob: pid P pgrp G ready
 * then reports each key as it arrives, without waiting for Enter:
 *   ttyjob: key 'c' icanon 0 echo 0 foreground 1
 * (the terminal's settings and whether its process group is the terminal's
 * foreground group, read at that moment). SIGINT prints "ttyjob: SIGINT" and
 * exits 42; SIGWINCH prints "ttyjob: SIGWINCH".
 */
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <termios.h>
#include <unistd.h>

static volatile sig_atomic_t got_int, got_winch;

static void on_int(int sig)
{
	(void)sig;
	got_int = 1;
}

static void on_winch(int sig)
{
	(void)sig;
	got_winch = 1;
}

int main(void)
{
	struct sigaction sa = { .sa_handler = on_int };
	struct termios t;
	char c;

	setvbuf(stdout, NULL, _IONBF, 0);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = on_winch;
	sigaction(SIGWINCH, &sa, NULL);
	if (tcgetattr(0, &t)) {
		perror("ttyjob: tcgetattr");
		return 1;
	}
	t.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	t.c_lflag |= ISIG;
	t.c_cc[VMIN] = 1;
	t.c_cc[VTIME] = 0;
	if (tcsetattr(0, TCSANOW, &t)) {
		perror("ttyjob: tcsetattr");
		return 1;
	}
	printf("ttyjob: pid %d pgrp %d ready\n", (int)getpid(), (int)getpgrp());
	for (;;) {
		struct pollfd p = { 0, POLLIN, 0 };

		if (got_int) {
			printf("ttyjob: SIGINT\n");
			return 42;
		}
		if (got_winch) {
			got_winch = 0;
			printf("ttyjob: SIGWINCH\n");
		}
		if (poll(&p, 1, 100) <= 0)
			continue;
		if (read(0, &c, 1) != 1)
			continue;
		tcgetattr(0, &t);
		printf("ttyjob: key '%c' icanon %d echo %d foreground %d\n", c,
		       !!(t.c_lflag & ICANON), !!(t.c_lflag & ECHO), tcgetpgrp(0) == getpgrp());
	}
}
