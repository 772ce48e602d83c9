// SPDX-License-Identifier: MIT
/*
 * A pty whose both ends the tree holds, kept (issue "Nothing lost in
 * silence"), checked by the processes themselves with kept.c's protocol:
 *   keptpty pty
 * prints "kept: pty pid P <details> ready"; SIGUSR1 verifies ("kept: pty
 * verify ok" or "... verify BAD <what>"), SIGUSR2 changes the state for
 * good and checks it ("kept: pty final ok" or "... final BAD <what>").
 *  pty  a pty */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
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
	printf("kept: %s %s BAD %s\n", kind, got == SIGUSR2 ? "final" : "verify", msg);
	bad = 1;
}

static void die(const char *what)
{
	printf("kept: %s: %s: %s\n", kind, what, strerror(errno));
	exit(1);
}

/* Wait up to @ms for @fd to be readable; 1 if it is. */
static int readable(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };

	while (poll(&p, 1, ms) < 0)
		if (errno != EINTR)
			return 0;
	return !!(p.revents & POLLIN);
}

/* Read from @fd until @len bytes or 3 s; returns how many. */
static size_t read_some(int fd, char *buf, size_t len)
{
	size_t got_ = 0;

	while (got_ < len && readable(fd, 3000)) {
		ssize_t n = read(fd, buf + got_, len - got_);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got_ += (size_t)n;
	}
	return got_;
}

/* @buf as C escapes, for messages. */
static const char *esc(const char *buf, size_t n)
{
	static char out[256];
	size_t o = 0;

	for (size_t i = 0; i < n && o + 5 < sizeof(out); i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c >= 32 && c < 127)
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, sizeof(out) - o, "\\x%02x", c);
	}
	out[o] = '\0';
	return out;
}

/* ---- pty ---- */
#define TO_CHILD "to-child\n"
#define TO_PARENT "to-parent\n"
static int pty_m = -1, pty_s2 = -1, pty_rep = -1;
static unsigned int pty_idx;
static pid_t pty_c, pty_j;

static unsigned int slave_index(int fd)
{
	struct stat st;

	if (fstat(fd, &st))
		return ~0u;
	return (major(st.st_rdev) - 136) * 256 + minor(st.st_rdev);
}

/* The tty_nr field of /proc/self/stat: the controlling terminal's device. */
static unsigned int my_tty_nr(void)
{
	char buf[512], *p;
	unsigned int nr = 0;
	FILE *f = fopen("/proc/self/stat", "r");

	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 2, "%*c %*d %*d %*d %u", &nr);
	fclose(f);
	return nr;
}

/* C: its checks of its pty; returns 1 if all are right (each failure printed). */
static int child_verify(int s, pid_t job)
{
	struct termios t;
	struct winsize ws;
	struct stat st;
	int n = -1, excl = 0, before = bad;

	if (getsid(0) != getpid() || tcgetsid(s) != getpid())
		fail("C %d: session %d, the tty's session %d", getpid(), getsid(0), tcgetsid(s));
	if (fstat(s, &st) || my_tty_nr() != (major(st.st_rdev) << 8 | minor(st.st_rdev)))
		fail("C: controlling terminal %#x, not its slave fd", my_tty_nr());
	if (tcgetpgrp(s) != job)
		fail("C: foreground group %d, not %d", tcgetpgrp(s), job);
	if (tcgetattr(s, &t) || (t.c_lflag & ECHO) || !(t.c_lflag & ICANON) ||
	    t.c_cc[VERASE] != 8 || cfgetospeed(&t) != B9600)
		fail("C: termios lflag %#x erase %d speed %d", t.c_lflag, t.c_cc[VERASE],
		     (int)cfgetospeed(&t));
	if (ioctl(s, TIOCGWINSZ, &ws) || ws.ws_row != 33 || ws.ws_col != 101)
		fail("C: window %ux%u, not 101x33", ws.ws_col, ws.ws_row);
	if (ioctl(s, TIOCGEXCL, &excl) || !excl)
		fail("C: the slave is not exclusive");
	if (ioctl(s, FIONREAD, &n) || n != (int)strlen(TO_CHILD))
		fail("C: %d bytes waiting, not %zu", n, strlen(TO_CHILD));
	return bad == before;
}

static int child_final(int s)
{
	char buf[64] = "";
	ssize_t n;
	int before = bad;

	/* Reading from a background group of an orphaned one fails (EIO): come to the front. */
	signal(SIGTTOU, SIG_IGN);
	if (tcsetpgrp(s, getpgrp()))
		fail("C: tcsetpgrp: %s", strerror(errno));
	n = read(s, buf, sizeof(buf) - 1);
	if (n != (ssize_t)strlen(TO_CHILD) || memcmp(buf, TO_CHILD, (size_t)n))
		fail("C: read %zd bytes '%.*s' (%s), not '%s'", n, (int)(n > 0 ? n : 0), buf,
		     n < 0 ? strerror(errno) : "", TO_CHILD);
	memset(buf, 0, sizeof(buf));
	n = read(s, buf, sizeof(buf) - 1); /* canonical: the next line */
	if (n != 5 || memcmp(buf, "ping\n", 5))
		fail("C: read '%.*s' where ping was expected", (int)(n > 0 ? n : 0), buf);
	else if (write(s, "pong\n", 5) != 5)
		fail("C: write pong: %s", strerror(errno));
	return bad == before;
}

/* C: session leader on the slave; answers the root's signals over @rep. */
static void child_main(int rep, pid_t root)
{
	struct timespec tick = { 0, 100 * 1000 * 1000 };
	struct termios t;
	struct winsize ws = { .ws_row = 33, .ws_col = 101 };
	char path[64];
	sigset_t set;
	int s;

	if (setsid() < 0)
		die("setsid");
	snprintf(path, sizeof(path), "/dev/pts/%u", pty_idx);
	s = open(path, O_RDWR); /* a session leader: its controlling terminal */
	if (s < 0)
		die("open slave");
	if (tcgetattr(s, &t))
		die("tcgetattr");
	t.c_lflag &= ~(tcflag_t)ECHO;
	t.c_cc[VERASE] = 8;
	cfsetspeed(&t, B9600);
	if (tcsetattr(s, TCSANOW, &t) || ioctl(s, TIOCSWINSZ, &ws) || ioctl(s, TIOCEXCL))
		die("slave settings");
	pty_j = fork();
	if (pty_j < 0)
		die("fork");
	if (!pty_j) {
		pid_t c = getppid();

		setpgid(0, 0);
		while (getppid() == c)
			nanosleep(&tick, NULL);
		_exit(0);
	}
	setpgid(pty_j, pty_j);
	if (tcsetpgrp(s, pty_j))
		die("tcsetpgrp");
	if (write(s, TO_PARENT, strlen(TO_PARENT)) != (ssize_t)strlen(TO_PARENT))
		die("write to-parent");
	if (write(rep, "r", 1) != 1)
		die("ready");
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	for (;;) {
		int sig = sigtimedwait(&set, NULL, &tick);
		char ok;

		if (getppid() != root)
			_exit(0);
		if (sig != SIGUSR1 && sig != SIGUSR2)
			continue;
		got = sig;
		bad = 0;
		ok = (sig == SIGUSR1 ? child_verify(s, pty_j) : child_final(s)) ? 'y' : 'n';
		if (write(rep, &ok, 1) != 1)
			_exit(1);
	}
}

static void setup_pty(char *info, size_t len)
{
	int on = 1, lock = 1, rep[2];
	char c;

	pty_m = posix_openpt(O_RDWR | O_NOCTTY);
	if (pty_m < 0 || grantpt(pty_m) || unlockpt(pty_m) || ioctl(pty_m, TIOCGPTN, &pty_idx))
		die("posix_openpt");
	if (ioctl(pty_m, TIOCPKT, &on))
		die("TIOCPKT");
	pty_s2 = open(ptsname(pty_m), O_RDWR | O_NOCTTY);
	if (pty_s2 < 0 || pipe(rep))
		die("open slave");
	pty_c = fork();
	if (pty_c < 0)
		die("fork");
	if (!pty_c) {
		close(rep[0]);
		child_main(rep[1], getppid());
	}
	close(rep[1]);
	pty_rep = rep[0];
	if (!readable(pty_rep, 5000) || read(pty_rep, &c, 1) != 1 || c != 'r')
		die("child not ready");
	if (ioctl(pty_m, TIOCSPTLCK, &lock))
		die("lock");
	if (write(pty_m, TO_CHILD, strlen(TO_CHILD)) != (ssize_t)strlen(TO_CHILD))
		die("write to-child");
	/* Both queues full before ready: the child's line discipline took "to-child". */
	for (int i = 0, n = 0; i < 300 && n < 11; i++) {
		struct timespec ms = { 0, 10 * 1000 * 1000 };

		ioctl(pty_m, FIONREAD, &n);
		nanosleep(&ms, NULL);
	}
	snprintf(info, len, "child %d index %u", pty_c, pty_idx);
}

/* Ask C over the pipe; it prints its own failures. */
static void ask_child(int sig)
{
	char ok = 0;

	if (kill(pty_c, sig))
		fail("child %d is gone", pty_c);
	else if (!readable(pty_rep, 5000) || read(pty_rep, &ok, 1) != 1 || ok != 'y')
		fail("child %d answers '%c'", pty_c, ok ? ok : '-');
}

static void verify_pty(void)
{
	unsigned int idx = ~0u;
	int pkt = 0, lock = 0, n = -1;

	if (ioctl(pty_m, TIOCGPTN, &idx) || idx != slave_index(pty_s2))
		fail("master of pty %u, slave /dev/pts/%u: not a pair", idx, slave_index(pty_s2));
	if (idx != pty_idx)
		printf("kept: pty is pty %u now (was %u)\n", idx, pty_idx);
	if (ioctl(pty_m, TIOCGPKT, &pkt) || !pkt)
		fail("packet mode is off");
	if (ioctl(pty_m, TIOCGPTLCK, &lock) || !lock)
		fail("the pty is not locked");
	if (ioctl(pty_m, FIONREAD, &n) || n != 11)
		fail("%d bytes waiting on the master, not 11", n);
	ask_child(SIGUSR1);
}

static void final_pty(void)
{
	char buf[64] = "";
	size_t n;

	n = read_some(pty_m, buf, 12);
	if (n != 12 || buf[0] != 0 || memcmp(buf + 1, "to-parent\r\n", 11))
		fail("read %zu bytes '%s' from the master", n, esc(buf, n));
	if (kill(pty_c, SIGUSR2))
		fail("child %d is gone", pty_c);
	if (write(pty_m, "ping\n", 5) != 5)
		fail("write ping: %s", strerror(errno));
	memset(buf, 0, sizeof(buf));
	n = read_some(pty_m, buf, 7);
	if (n != 7 || buf[0] != 0 || memcmp(buf + 1, "pong\r\n", 6))
		fail("read %zu bytes '%s' where pong was expected", n, esc(buf, n));
	{
		char ok = 0;

		if (!readable(pty_rep, 5000) || read(pty_rep, &ok, 1) != 1 || ok != 'y')
			fail("child %d answers '%c'", pty_c, ok ? ok : '-');
	}
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
	if (!strcmp(kind, "pty")) {
		setup_pty(info, sizeof(info));
		verify = verify_pty;
		final = final_pty;
	} else {
		printf("kept: unknown kind %s\n", kind);
		return 2;
	}
	printf("kept: %s pid %d %s ready\n", kind, getpid(), info);
	for (;;) {
		while (!got)
			sigsuspend(&none);
		bad = 0;
		if (got == SIGUSR1)
			verify();
		else
			final();
		if (!bad)
			printf("kept: %s %s ok\n", kind, got == SIGUSR2 ? "final" : "verify");
		got = 0;
	}
}
