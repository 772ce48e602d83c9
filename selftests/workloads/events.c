// SPDX-License-Identifier: MIT
/*
 * Event fds that must survive a dump and a restore, one kind per mode:
 *   events eventfd | epoll | epoll-lost | timerfd | signalfd
 * Each mode sets its objects up, prints "events: MODE ... ready" and waits;
 * the verdict ("events: verify ok", or "events: verify BAD <what>" per
 * failure) comes on SIGUSR1 (SIGUSR2 for signalfd: the signal it waits for).
 *
 * eventfd: a non-blocking counter at 42, a blocking EFD_SEMAPHORE one at 3,
 *   one above 2^32 (eventfd() takes an int: restore must write it in); and
 *   a pair shared with a forked child, which waits in read() on "ping" and
 *   answers on "pong" with 7. Verify: the counters, the flags, the semaphore
 *   giving 1 three times then nothing, the child answering through the
 *   shared eventfds.
 * epoll: "lt", level-triggered, with a pipe holding a byte (data 1), an
 *   empty pipe (2), an eventfd at 5 added with EPOLLEXCLUSIVE (3), an
 *   eventfd at 0 (4), a writable pipe end (EPOLLOUT, 5), a pipe holding a
 *   byte added under an fd that was then dup'ed and closed (12); "et" with
 *   an edge-triggered pipe (10) whose edge was taken before the dump, and a
 *   one-shot pipe (11) that fired before the dump (disarmed); "outer" holds
 *   "lt" (20). A child shares them all. Verify: lt reports exactly {1, 3, 5,
 *   12}; outer {20}; et at most {10} (a new registration of a ready target
 *   fires once), then nothing; a byte more in the ET pipe fires {10} once;
 *   the one-shot stays silent until EPOLL_CTL_MOD re-arms it; EPOLL_CTL_DEL
 *   of data 1 by its fd number works (the target is keyed by the same fd).
 * epoll-lost: an epoll whose one target, a pipe's read end, was closed in
 *   this process after a fork: only the child holds that file now. A dump
 *   must refuse it (the target has no fd in the process holding the epoll).
 * timerfd: "slow", a 5 s one-shot on CLOCK_MONOTONIC; "abs", a
 *   CLOCK_REALTIME deadline 5 s ahead with TFD_TIMER_ABSTIME; "tick", a
 *   100 ms periodic one; "fired", a non-blocking 1 ms one-shot that expired
 *   before the dump, unread; "off", disarmed. Prints "left MS abs MS", the
 *   time slow and abs have left, at verify. Verify: fired reads 1; off is
 *   disarmed; abs keeps its settime flag (fdinfo) and up to 5 s left; tick
 *   has its interval and ticks; slow fires within 300 ms (a loaded machine
 *   wakes late) of the time timerfd_gettime() said was left. The test
 *   decides what time left is right (time counts from the restore).
 * signalfd: SIGUSR2 and SIGRTMIN+1 blocked and read from a non-blocking
 *   signalfd, which the process poll()s. Verify, when SIGUSR2 arrives
 *   through it: its signo, the mask in fdinfo, O_NONBLOCK, nothing more
 *   queued.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t usr1;
static int bad;

static void on_usr1(int sig)
{
	(void)sig;
	usr1 = 1;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	printf("events: verify BAD ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	bad = 1;
}

static void die(const char *what)
{
	printf("events: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void verdict(void)
{
	printf(bad ? "events: verify BAD (see above)\n" : "events: verify ok\n");
	fflush(stdout);
	bad = 0;
}

/*
 * Wait for SIGUSR1. Not pause(): a process restored in pause() re-enters it
 * (the dump turns -ERESTARTNOHAND into a re-execution, as CRIU does), and a
 * signal handled between the resume and that re-entry would be lost.
 */
static void wait_usr1(void)
{
	const struct timespec tick = { 0, 10 * 1000 * 1000 };

	while (!usr1)
		nanosleep(&tick, NULL);
	usr1 = 0;
}

static uint64_t rd64(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return UINT64_MAX;
	return v;
}

static void wr64(int fd, uint64_t v)
{
	if (write(fd, &v, sizeof(v)) != sizeof(v))
		die("write eventfd");
}

static int readable(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };

	return poll(&p, 1, ms) == 1 && (p.revents & POLLIN);
}

/* ---- eventfd ---------------------------------------------------------------------------- */

static void mode_eventfd(void)
{
	int nb = eventfd(0, EFD_NONBLOCK), sem = eventfd(3, EFD_SEMAPHORE);
	int big = eventfd(0, 0), ping = eventfd(0, 0), pong = eventfd(0, EFD_NONBLOCK);
	pid_t child;

	if (nb < 0 || sem < 0 || big < 0 || ping < 0 || pong < 0)
		die("eventfd");
	wr64(nb, 41);
	wr64(nb, 1);
	wr64(big, 0x123456789ull);
	child = fork();
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;) {
			if (rd64(ping) == UINT64_MAX) /* blocking: the dump finds it in read() */
				_exit(1);
			wr64(pong, 7);
		}
	}
	if (child < 0)
		die("fork");
	printf("events: eventfd pid %d child %d nb %d sem %d big %d ready\n", getpid(), child, nb,
	       sem, big);
	fflush(stdout);
	for (;;) {
		uint64_t v;

		wait_usr1();
		if ((v = rd64(nb)) != 42)
			fail("nb read %llu, want 42", (unsigned long long)v);
		if (read(nb, &v, sizeof(v)) >= 0 || errno != EAGAIN)
			fail("nb: a second read did not say EAGAIN");
		if (!(fcntl(nb, F_GETFL) & O_NONBLOCK) || (fcntl(sem, F_GETFL) & O_NONBLOCK))
			fail("O_NONBLOCK: nb %#x sem %#x", fcntl(nb, F_GETFL), fcntl(sem, F_GETFL));
		for (int i = 0; i < 3; i++)
			if (!readable(sem, 0) || (v = rd64(sem)) != 1)
				fail("sem read %d gave %llu, want 1", i, (unsigned long long)v);
		if (readable(sem, 0))
			fail("sem still readable after 3 reads");
		if ((v = rd64(big)) != 0x123456789ull)
			fail("big read %#llx", (unsigned long long)v);
		wr64(ping, 1);
		if (!readable(pong, 5000) || (v = rd64(pong)) != 7)
			fail("the child did not answer 7 through the shared eventfds");
		/* Put the state back: a second verdict (after a second dump) sees the same. */
		wr64(nb, 42);
		wr64(sem, 3);
		wr64(big, 0x123456789ull);
		verdict();
	}
}

/* ---- epoll ------------------------------------------------------------------------------ */

static void add(int ep, int fd, uint32_t events, uint64_t data)
{
	struct epoll_event ev = { .events = events, .data.u64 = data };

	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev))
		die("epoll_ctl add");
}

/* The data of the ready events of @ep as a bit mask (data < 64), after a wait of @ms. */
static uint64_t ready(int ep, int ms)
{
	struct epoll_event ev[16];
	uint64_t set = 0;
	int n = epoll_wait(ep, ev, 16, ms);

	for (int i = 0; i < n; i++)
		set |= ev[i].data.u64 < 64 ? 1ull << ev[i].data.u64 : 1ull << 63;
	return set;
}

#define B(x) (1ull << (x))

static void expect_set(const char *what, uint64_t got, uint64_t want)
{
	if (got != want)
		fail("%s: ready set %#llx, want %#llx", what, (unsigned long long)got,
		     (unsigned long long)want);
}

static void mode_epoll(void)
{
	int p1[2], p2[2], p3[2], p4[2], p5[2], e5, e0, lt, et, outer, moved;
	pid_t child;
	uint64_t s;

	if (pipe(p1) || pipe(p2) || pipe(p3) || pipe(p4) || pipe(p5))
		die("pipe");
	e5 = eventfd(5, EFD_NONBLOCK);
	e0 = eventfd(0, EFD_NONBLOCK);
	lt = epoll_create1(0);
	et = epoll_create1(EPOLL_CLOEXEC);
	outer = epoll_create1(0);
	if (e5 < 0 || e0 < 0 || lt < 0 || et < 0 || outer < 0)
		die("epoll/eventfd");
	if (write(p1[1], "x", 1) != 1 || write(p3[1], "y", 1) != 1 || write(p4[1], "z", 1) != 1 ||
	    write(p5[1], "w", 1) != 1)
		die("write pipe");
	add(lt, p1[0], EPOLLIN, 1);
	add(lt, p2[0], EPOLLIN, 2);
	add(lt, e5, EPOLLIN | EPOLLEXCLUSIVE, 3);
	add(lt, e0, EPOLLIN, 4);
	add(lt, p2[1], EPOLLOUT, 5);
	add(lt, p5[0], EPOLLIN, 12);
	/* The target stays registered under p5[0] while its file lives on as "moved". */
	moved = dup(p5[0]);
	close(p5[0]);
	add(et, p3[0], EPOLLIN | EPOLLET, 10);
	add(et, p4[0], EPOLLIN | EPOLLONESHOT, 11);
	add(outer, lt, EPOLLIN, 20);
	expect_set("et before the dump", ready(et, 0), B(10) | B(11));
	expect_set("et edge taken", ready(et, 0), 0);
	expect_set("lt before the dump", ready(lt, 0), B(1) | B(3) | B(5) | B(12));
	if (bad)
		exit(1);
	child = fork();
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	if (child < 0)
		die("fork");
	printf("events: epoll pid %d child %d lt %d et %d outer %d moved %d ready\n", getpid(),
	       child, lt, et, outer, moved);
	fflush(stdout);
	for (;;) {
		struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.u64 = 11 };

		wait_usr1();
		expect_set("lt", ready(lt, 0), B(1) | B(3) | B(5) | B(12));
		expect_set("lt again", ready(lt, 0), B(1) | B(3) | B(5) | B(12));
		expect_set("outer", ready(outer, 0), B(20));
		s = ready(et, 0);
		if (s & ~B(10))
			fail("et after the restore: ready set %#llx, want {10} or none",
			     (unsigned long long)s);
		expect_set("et quiet", ready(et, 0), 0);
		if (write(p3[1], "y", 1) != 1)
			die("write pipe");
		expect_set("et new edge", ready(et, 1000), B(10));
		expect_set("et edge taken", ready(et, 0), 0);
		if (epoll_ctl(et, EPOLL_CTL_MOD, p4[0], &ev))
			fail("EPOLL_CTL_MOD of the one-shot fd %d: %s", p4[0], strerror(errno));
		expect_set("one-shot re-armed", ready(et, 0), B(11));
		if (epoll_ctl(lt, EPOLL_CTL_DEL, p1[0], NULL))
			fail("EPOLL_CTL_DEL of fd %d: %s", p1[0], strerror(errno));
		expect_set("lt without 1", ready(lt, 0), B(3) | B(5) | B(12));
		add(lt, p1[0], EPOLLIN, 1);
		verdict();
	}
}

static void mode_epoll_lost(void)
{
	int p[2], ep = epoll_create1(0);
	pid_t child;

	if (ep < 0 || pipe(p))
		die("epoll/pipe");
	add(ep, p[0], EPOLLIN, 1);
	child = fork();
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;)
			pause();
	}
	if (child < 0)
		die("fork");
	close(p[0]);
	printf("events: epoll-lost pid %d child %d epoll %d target %d ready\n", getpid(), child, ep,
	       p[0]);
	fflush(stdout);
	for (;;)
		pause();
}

/* ---- timerfd ---------------------------------------------------------------------------- */

static int64_t ts_ms(const struct timespec *t)
{
	return (int64_t)t->tv_sec * 1000 + t->tv_nsec / 1000000;
}

static int64_t now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return ts_ms(&t);
}

/* The "settime flags:" of fd @fd in our own fdinfo, or -1. */
static int settime_flags(int fd)
{
	char path[64], line[128];
	unsigned int fl;
	int ret = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "settime flags: %o", &fl) == 1)
			ret = (int)fl;
	fclose(f);
	return ret;
}

static void arm(int fd, int flags, time_t s, long ns, time_t is, long ins)
{
	struct itimerspec its = { .it_interval = { is, ins }, .it_value = { s, ns } };

	if (timerfd_settime(fd, flags, &its, NULL))
		die("timerfd_settime");
}

static void mode_timerfd(void)
{
	int slow = timerfd_create(CLOCK_MONOTONIC, 0), abs = timerfd_create(CLOCK_REALTIME, 0);
	int tick = timerfd_create(CLOCK_MONOTONIC, 0), off = timerfd_create(CLOCK_BOOTTIME, 0);
	int fired = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK);
	struct itimerspec its;
	struct timespec rt;

	if (slow < 0 || abs < 0 || tick < 0 || off < 0 || fired < 0)
		die("timerfd_create");
	clock_gettime(CLOCK_REALTIME, &rt);
	arm(slow, 0, 5, 0, 0, 0);
	arm(abs, TFD_TIMER_ABSTIME, rt.tv_sec + 5, rt.tv_nsec, 0, 0);
	arm(tick, 0, 0, 100000000, 0, 100000000);
	arm(fired, 0, 0, 1000000, 0, 0);
	usleep(50000);
	printf("events: timerfd pid %d slow %d abs %d tick %d fired %d off %d ready\n", getpid(),
	       slow, abs, tick, fired, off);
	fflush(stdout);
	for (;;) {
		int64_t left, t0, late, abs_left;
		uint64_t v;

		wait_usr1();
		if ((v = rd64(fired)) != 1)
			fail("fired: read %llu expirations, want 1", (unsigned long long)v);
		if (!(fcntl(fired, F_GETFL) & O_NONBLOCK))
			fail("fired lost O_NONBLOCK");
		if (timerfd_gettime(off, &its) || its.it_value.tv_sec || its.it_value.tv_nsec)
			fail("off is armed");
		if (settime_flags(abs) != TFD_TIMER_ABSTIME)
			fail("abs: settime flags %d, want %d", settime_flags(abs),
			     TFD_TIMER_ABSTIME);
		if (timerfd_gettime(abs, &its) || ts_ms(&its.it_value) <= 0 ||
		    ts_ms(&its.it_value) > 5000)
			fail("abs: %lld ms left, want 1-5000", (long long)ts_ms(&its.it_value));
		abs_left = ts_ms(&its.it_value);
		if (timerfd_gettime(tick, &its) || ts_ms(&its.it_interval) != 100)
			fail("tick: interval %lld ms", (long long)ts_ms(&its.it_interval));
		if (!readable(tick, 300) || (v = rd64(tick)) < 1)
			fail("tick does not tick");
		if (timerfd_gettime(slow, &its)) {
			fail("slow: timerfd_gettime: %s", strerror(errno));
			verdict();
			continue;
		}
		left = ts_ms(&its.it_value);
		printf("events: timerfd left %lld abs %lld\n", (long long)left,
		       (long long)abs_left);
		fflush(stdout);
		t0 = now_ms();
		if (!readable(slow, (int)left + 1000) || rd64(slow) != 1)
			fail("slow did not fire within %lld ms", (long long)left + 1000);
		late = now_ms() - t0 - left;
		if (late < -20 || late > 300)
			fail("slow fired %lld ms off the time it said was left (%lld ms)",
			     (long long)late, (long long)left);
		verdict();
	}
}

/* ---- signalfd --------------------------------------------------------------------------- */

static void mode_signalfd(void)
{
	struct signalfd_siginfo si;
	char path[64], line[128];
	unsigned long long mask = 0, want;
	sigset_t set;
	int sfd;
	FILE *f;

	sigemptyset(&set);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGRTMIN + 1);
	if (sigprocmask(SIG_BLOCK, &set, NULL))
		die("sigprocmask");
	sfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC);
	if (sfd < 0)
		die("signalfd");
	want = (1ull << (SIGUSR2 - 1)) | (1ull << (SIGRTMIN + 1 - 1));
	printf("events: signalfd pid %d sfd %d ready\n", getpid(), sfd);
	fflush(stdout);
	for (;;) {
		if (!readable(sfd, -1))
			continue;
		if (read(sfd, &si, sizeof(si)) != sizeof(si)) {
			fail("read signalfd: %s", strerror(errno));
			verdict();
			continue;
		}
		if (si.ssi_signo != SIGUSR2)
			fail("signal %u, want %d", si.ssi_signo, SIGUSR2);
		snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", sfd);
		f = fopen(path, "r");
		while (f && fgets(line, sizeof(line), f))
			sscanf(line, "sigmask: %llx", &mask);
		if (f)
			fclose(f);
		if (mask != want)
			fail("sigmask %#llx, want %#llx", mask, want);
		if (!(fcntl(sfd, F_GETFL) & O_NONBLOCK))
			fail("O_NONBLOCK lost");
		if (read(sfd, &si, sizeof(si)) >= 0 || errno != EAGAIN)
			fail("a second signal was queued, or no EAGAIN");
		verdict();
	}
}

int main(int argc, char **argv)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc != 2)
		goto usage;
	if (!strcmp(argv[1], "eventfd"))
		mode_eventfd();
	else if (!strcmp(argv[1], "epoll"))
		mode_epoll();
	else if (!strcmp(argv[1], "epoll-lost"))
		mode_epoll_lost();
	else if (!strcmp(argv[1], "timerfd"))
		mode_timerfd();
	else if (!strcmp(argv[1], "signalfd"))
		mode_signalfd();
usage:
	fprintf(stderr, "usage: events eventfd|epoll|epoll-lost|timerfd|signalfd\n");
	return 2;
}
