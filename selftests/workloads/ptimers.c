// SPDX-License-Identifier: MIT
/*
 * POSIX timers and an itimer that must survive a dump and a restore.
 *   ptimers
 * Makes a throw-away timer first and deletes it, so that the kept ids do not
 * start at 0, then:
 *  - "periodic": CLOCK_MONOTONIC, SIGEV_SIGNAL with SIGRTMIN+2 and a sigev
 *    value of PERIODIC_VALUE, every PERIOD_MS; its handler counts the signals
 *    and checks each one's value and timer id;
 *  - "none": CLOCK_REALTIME, SIGEV_NONE, one shot NONE_S seconds ahead (only
 *    its time left can be asked);
 *  - "thread": CLOCK_BOOTTIME, SIGEV_THREAD_ID to the main thread with
 *    SIGRTMIN+3, one shot THREAD_S seconds ahead (never fires in a test);
 *  - ITIMER_REAL, one shot ITIMER_S seconds ahead (SIGALRM never comes).
 * Prints "ptimers: pid P periodic ID none ID thread ID ready" and idles. On
 * SIGUSR1 it checks that /proc/self/timers shows exactly those ids with their
 * clocks and notifications, that each one-shot timer has time left that is
 * no more than it was set to and no less than that minus the time since it
 * was set (a restore re-arms the time left, so frozen time does not count),
 * and that the periodic timer fires at least MIN_TICKS times in WINDOW_MS
 * with the right value and id. Prints "ptimers: verify ok" or "ptimers:
 * verify BAD <what>" per failure.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define PERIOD_MS 20
#define WINDOW_MS 400
#define MIN_TICKS 8
#define PERIODIC_VALUE 0x5eed1234ul
#define NONE_S 1000
#define THREAD_S 3600
#define ITIMER_S 2000

static volatile sig_atomic_t usr1, ticks, wrong_value, wrong_id;
static int id_periodic, id_none, id_thread;
static struct timespec set_at; /* CLOCK_MONOTONIC when the one-shots were armed */
static int bad;

static void on_usr1(int sig)
{
	(void)sig;
	usr1 = 1;
}

static void on_tick(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	if (si->si_code != SI_TIMER)
		return;
	if ((uintptr_t)si->si_value.sival_ptr != PERIODIC_VALUE)
		wrong_value = 1;
	if (si->si_timerid != id_periodic)
		wrong_id = 1;
	ticks++;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	printf("ptimers: verify BAD ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	bad = 1;
}

static int make_timer(clockid_t clock, int notify, int signo, void *value)
{
	struct sigevent sev;
	timer_t t;

	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = notify;
	sev.sigev_signo = signo;
	sev.sigev_value.sival_ptr = value;
	if (notify & SIGEV_THREAD_ID)
		sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
	if (timer_create(clock, &sev, &t)) {
		printf("ptimers: timer_create: %s\n", strerror(errno));
		exit(1);
	}
	return (int)(intptr_t)t;
}

static void arm(int id, long sec, long interval_ms)
{
	struct itimerspec its = { .it_value = { sec, 0 } };

	if (interval_ms) {
		its.it_value.tv_sec = interval_ms / 1000;
		its.it_value.tv_nsec = (interval_ms % 1000) * 1000000L;
		its.it_interval = its.it_value;
	}
	if (timer_settime((timer_t)(intptr_t)id, 0, &its, NULL)) {
		printf("ptimers: timer_settime %d: %s\n", id, strerror(errno));
		exit(1);
	}
}

static double since(const struct timespec *a)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - a->tv_sec) + (double)(now.tv_nsec - a->tv_nsec) / 1e9;
}

/* Time left of a one-shot set to @full seconds at set_at: in [full - elapsed, full]. */
static void check_left(const char *what, double left, double full)
{
	double elapsed = since(&set_at);

	if (left <= 0 || left > full + 0.001 || left < full - elapsed - 0.05)
		fail("%s: %.3f s left, want %.3f..%.3f", what, left, full - elapsed, full);
}

static void check_one_shots(void)
{
	struct itimerspec its;
	struct itimerval itv;

	if (timer_gettime((timer_t)(intptr_t)id_none, &its))
		fail("timer_gettime none: %s", strerror(errno));
	else
		check_left("SIGEV_NONE timer",
			   (double)its.it_value.tv_sec + its.it_value.tv_nsec / 1e9, NONE_S);
	if (timer_gettime((timer_t)(intptr_t)id_thread, &its))
		fail("timer_gettime thread: %s", strerror(errno));
	else
		check_left("SIGEV_THREAD_ID timer",
			   (double)its.it_value.tv_sec + its.it_value.tv_nsec / 1e9, THREAD_S);
	if (getitimer(ITIMER_REAL, &itv))
		fail("getitimer: %s", strerror(errno));
	else
		check_left("ITIMER_REAL", (double)itv.it_value.tv_sec + itv.it_value.tv_usec / 1e6,
			   ITIMER_S);
	if (timer_gettime((timer_t)(intptr_t)id_periodic, &its))
		fail("timer_gettime periodic: %s", strerror(errno));
	else if (its.it_interval.tv_sec || its.it_interval.tv_nsec != PERIOD_MS * 1000000L)
		fail("periodic interval %ld.%09ld", (long)its.it_interval.tv_sec,
		     its.it_interval.tv_nsec);
}

/* /proc/self/timers holds exactly our three timers, as made. */
static void check_proc(void)
{
	struct {
		int id, clock;
		const char *notify;
		int seen;
	} want[3] = {
		{ id_periodic, CLOCK_MONOTONIC, "signal/pid", 0 },
		{ id_none, CLOCK_REALTIME, "none/pid", 0 },
		{ id_thread, CLOCK_BOOTTIME, "signal/tid", 0 },
	};
	char line[256], notify[64] = "";
	int id = -1, clock, n = 0;
	FILE *f = fopen("/proc/self/timers", "re");

	if (!f) {
		fail("/proc/self/timers: %s", strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "ID: %d", &id) == 1)
			n++;
		else if (sscanf(line, "notify: %63[a-z/]", notify) == 1)
			;
		else if (sscanf(line, "ClockID: %d", &clock) == 1) {
			int k;

			for (k = 0; k < 3 && want[k].id != id; k++)
				;
			if (k == 3)
				fail("timer id %d is not one of ours", id);
			else if (want[k].clock != clock || strcmp(want[k].notify, notify))
				fail("timer %d: clock %d notify %s, want %d %s", id, clock, notify,
				     want[k].clock, want[k].notify);
			else
				want[k].seen = 1;
		}
	}
	fclose(f);
	for (int k = 0; k < 3; k++)
		if (!want[k].seen)
			fail("timer id %d is missing", want[k].id);
	if (n != 3)
		fail("%d timers, want 3", n);
}

static void check_ticking(void)
{
	struct timespec w = { WINDOW_MS / 1000, (WINDOW_MS % 1000) * 1000000L };
	int before = ticks, got;

	while (nanosleep(&w, &w) && errno == EINTR)
		;
	got = ticks - before;
	if (got < MIN_TICKS)
		fail("periodic timer fired %d times in %d ms, want >= %d", got, WINDOW_MS,
		     MIN_TICKS);
	if (wrong_value)
		fail("a tick came with the wrong sigev value");
	if (wrong_id)
		fail("a tick came with the wrong timer id");
}

static void verify(void)
{
	bad = 0;
	check_proc();
	check_one_shots();
	check_ticking();
	if (!bad)
		printf("ptimers: verify ok (%d ticks so far)\n", (int)ticks);
	else
		printf("ptimers: verify BAD (see above)\n");
}

int main(void)
{
	struct sigaction sa = { .sa_handler = on_usr1 }, st = { .sa_sigaction = on_tick };
	struct itimerval itv = { .it_value = { ITIMER_S, 0 } };
	int scrap;

	setvbuf(stdout, NULL, _IOLBF, 0);
	st.sa_flags = SA_SIGINFO | SA_RESTART;
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGRTMIN + 2, &st, NULL);
	scrap = make_timer(CLOCK_MONOTONIC, SIGEV_NONE, 0, NULL);
	id_periodic = make_timer(CLOCK_MONOTONIC, SIGEV_SIGNAL, SIGRTMIN + 2,
				 (void *)(uintptr_t)PERIODIC_VALUE);
	id_none = make_timer(CLOCK_REALTIME, SIGEV_NONE, 0, NULL);
	id_thread = make_timer(CLOCK_BOOTTIME, SIGEV_SIGNAL | SIGEV_THREAD_ID, SIGRTMIN + 3, NULL);
	if (timer_delete((timer_t)(intptr_t)scrap))
		return 1;
	clock_gettime(CLOCK_MONOTONIC, &set_at);
	arm(id_none, NONE_S, 0);
	arm(id_thread, THREAD_S, 0);
	if (setitimer(ITIMER_REAL, &itv, NULL))
		return 1;
	arm(id_periodic, 0, PERIOD_MS);
	printf("ptimers: pid %d periodic %d none %d thread %d ready\n", getpid(), id_periodic,
	       id_none, id_thread);
	for (;;) {
		pause();
		if (usr1) {
			usr1 = 0;
			verify();
		}
	}
}
