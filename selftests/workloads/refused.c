// SPDX-License-Identifier: MIT
/*
 * One piece of process state that ferry's dump used to refuse and CRIU keeps
 * (issue "Nothing lost in silence"), set up and then checked by the process
 * itself, zdtm-style:
 *   refused KIND
 * sets KIND up, prints "refused: KIND pid P <details> ready" and idles; on
 * SIGUSR1 it checks the state without changing it and prints
 * "refused: KIND verify ok" or "refused: KIND verify BAD <what>" (one line
 * per failure); on SIGUSR2 it does what changes the state for good (e.g.
 * reaps its zombies) and checks the outcome: "refused: KIND final ok" or
 * "... final BAD <what>".
 * Kinds:
 *  zombie  three children: one exited with status 42, one killed by
 *          SIGTERM, one alive (printed as "zombies Z1 Z2 live L"). The
 *          zombies are not reaped: verify peeks at them (waitid WNOWAIT:
 *          still zombies, of this parent, with their status); final reaps
 *          them with waitpid and checks the statuses, and that the live
 *          child is still running.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *kind;
static volatile sig_atomic_t got;
static int bad;

static void on_sig(int sig)
{
	got = sig;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printf("refused: %s %s BAD %s\n", kind, got == SIGUSR2 ? "final" : "verify", msg);
	bad = 1;
}

static void die(const char *what)
{
	printf("refused: %s: %s: %s\n", kind, what, strerror(errno));
	exit(1);
}

/* ---- zombie ---- */
static pid_t zexit, zkill, live;

static pid_t child_that(int code)
{
	pid_t c = fork();

	if (c < 0)
		die("fork");
	if (!c) {
		if (code >= 0)
			_exit(code);
		for (;;)
			pause();
	}
	return c;
}

/* Wait until @c is dead without reaping it. */
static void wait_dead(pid_t c)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)c, &si, WEXITED | WNOWAIT))
		die("waitid WNOWAIT");
}

static void setup_zombie(char *info, size_t len)
{
	zexit = child_that(42);
	zkill = child_that(-1);
	live = child_that(-1);
	if (kill(zkill, SIGTERM))
		die("kill");
	wait_dead(zexit);
	wait_dead(zkill);
	snprintf(info, len, "zombies %d %d live %d", zexit, zkill, live);
}

static char state_of(pid_t pid, pid_t *ppid)
{
	char path[64], buf[512], *p, st = '?';
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return '-';
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 2, "%c %d", &st, ppid);
	fclose(f);
	return st;
}

/* Zombie @c as waitid(WNOWAIT) sees it: @code, @status as CLD_EXITED/CLD_KILLED gives them. */
static void peek(pid_t c, int code, int status)
{
	siginfo_t si;
	pid_t ppid = 0;
	char st = state_of(c, &ppid);

	if (st != 'Z' || ppid != getpid())
		fail("pid %d is in state '%c' with parent %d, not a zombie of %d", c, st, ppid,
		     getpid());
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)c, &si, WEXITED | WNOHANG | WNOWAIT)) {
		fail("waitid(%d): %s", c, strerror(errno));
		return;
	}
	if (si.si_pid != c || si.si_code != code || si.si_status != status)
		fail("pid %d: waitid gives pid %d code %d status %d, not code %d status %d", c,
		     si.si_pid, si.si_code, si.si_status, code, status);
}

static void verify_zombie(void)
{
	pid_t ppid = 0;
	char st = state_of(live, &ppid);

	peek(zexit, CLD_EXITED, 42);
	peek(zkill, CLD_KILLED, SIGTERM);
	if ((st != 'S' && st != 'R') || ppid != getpid())
		fail("live child %d is in state '%c' with parent %d", live, st, ppid);
}

static void reap(pid_t c, int want)
{
	int status = -1;
	pid_t w = waitpid(c, &status, WNOHANG);

	if (w != c)
		fail("waitpid(%d) gives %d (%s)", c, w, w < 0 ? strerror(errno) : "not dead");
	else if (status != want)
		fail("pid %d: wait status %#x, not %#x", c, status, want);
}

static void final_zombie(void)
{
	reap(zexit, 42 << 8);
	reap(zkill, SIGTERM);
	if (waitpid(live, NULL, WNOHANG) != 0)
		fail("the live child %d is gone", live);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_sig };
	void (*verify)(void), (*final)(void);
	char info[1024] = "";
	sigset_t none;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		return 2;
	kind = argv[1];
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	/* The signals only arrive inside sigsuspend(): none is lost between test and wait. */
	sigemptyset(&none);
	sigaddset(&none, SIGUSR1);
	sigaddset(&none, SIGUSR2);
	sigprocmask(SIG_BLOCK, &none, NULL);
	sigemptyset(&none);
	if (!strcmp(kind, "zombie")) {
		setup_zombie(info, sizeof(info));
		verify = verify_zombie;
		final = final_zombie;
	} else {
		printf("refused: unknown kind %s\n", kind);
		return 2;
	}
	printf("refused: %s pid %d %s ready\n", kind, getpid(), info);
	for (;;) {
		while (!got)
			sigsuspend(&none);
		bad = 0;
		if (got == SIGUSR1)
			verify();
		else
			final();
		if (!bad)
			printf("refused: %s %s ok\n", kind, got == SIGUSR2 ? "final" : "verify");
		got = 0;
	}
}
