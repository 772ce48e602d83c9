// SPDX-License-Identifier: MIT
/*
 * Signal state that must survive a dump and a restore.
 *   sighandler
 * Sets up:
 *  - SIGUSR1: SA_SIGINFO|SA_ONSTACK handler, sa_mask {SIGUSR2, SIGALRM};
 *  - SIGUSR2: SA_RESTART handler (plain, no siginfo), sa_mask {SIGINT};
 *  - SIGPIPE ignored;
 *  - a 64 KiB alternate signal stack;
 *  - blocked: SIGHUP and SIGRTMIN+2; SIGHUP raised (pending on the thread),
 *    SIGRTMIN+2 queued twice to the process with values 0x5101 and 0x5102.
 * Prints "sighandler: pid P ready" and idles. SIGUSR2 only counts.
 * The SIGUSR1 handler checks, as it runs: it is on the alternate stack and
 * sigaltstack() says so, the signal mask is the blocked set plus SIGUSR1 and
 * its sa_mask, the mask saved in its ucontext is the blocked set, siginfo
 * names SIGUSR1. The main loop then checks every disposition (handler, flags,
 * mask), the blocked set, the alternate stack, that SIGHUP is pending on the
 * thread and SIGRTMIN+2 on the process (/proc/self/status), and takes the two
 * queued signals (checking value, code, sender) and queues them again. Then
 * it prints "sighandler: verify ok handled N usr2 M" (N counts SIGUSR1 runs)
 * or "sighandler: verify BAD handled N <what differs>".
 */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ALT_SIZE (64 << 10)
#define RT_VAL0 0x5101
#define RT_VAL1 0x5102
/* What the SIGUSR1 handler can find wrong, as bits. */
#define H_NOT_ON_ALTSTACK 0x01
#define H_SS_FLAGS 0x02
#define H_MASK 0x04
#define H_UC_MASK 0x08
#define H_SIGINFO 0x10
#define H_SIGALTSTACK 0x20

static char altstack[ALT_SIZE] __attribute__((aligned(64)));
static volatile sig_atomic_t handled, usr2_count, hbad;
static int rt_sig;

static void blocked_set(sigset_t *s)
{
	sigemptyset(s);
	sigaddset(s, SIGHUP);
	sigaddset(s, rt_sig);
}

static void usr1_mask(sigset_t *s)
{
	sigemptyset(s);
	sigaddset(s, SIGUSR2);
	sigaddset(s, SIGALRM);
}

static void usr2_mask(sigset_t *s)
{
	sigemptyset(s);
	sigaddset(s, SIGINT);
}

/* 0 when the two sets hold the same standard and realtime signals. */
static int set_diff(const sigset_t *a, const sigset_t *b)
{
	for (int sig = 1; sig < NSIG; sig++)
		if (sigismember(a, sig) != sigismember(b, sig))
			return sig;
	return 0;
}

static void on_usr1(int sig, siginfo_t *si, void *ucv)
{
	const ucontext_t *uc = ucv;
	sigset_t cur, want, add;
	stack_t ss;
	char here;
	int bad = 0;

	(void)sig;
	if ((uintptr_t)&here < (uintptr_t)altstack ||
	    (uintptr_t)&here >= (uintptr_t)altstack + ALT_SIZE)
		bad |= H_NOT_ON_ALTSTACK;
	if (sigaltstack(NULL, &ss))
		bad |= H_SIGALTSTACK;
	else if (!(ss.ss_flags & SS_ONSTACK))
		bad |= H_SS_FLAGS;
	blocked_set(&want);
	if (set_diff(&uc->uc_sigmask, &want))
		bad |= H_UC_MASK;
	usr1_mask(&add);
	sigorset(&want, &want, &add);
	sigaddset(&want, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, NULL, &cur) || set_diff(&cur, &want))
		bad |= H_MASK;
	if (!si || si->si_signo != SIGUSR1)
		bad |= H_SIGINFO;
	hbad |= bad;
	handled++;
}

static void on_usr2(int sig)
{
	(void)sig;
	usr2_count++;
}

static int install(void)
{
	struct sigaction sa;
	stack_t ss = { .ss_sp = altstack, .ss_size = ALT_SIZE, .ss_flags = 0 };
	sigset_t blk;

	if (sigaltstack(&ss, NULL))
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_usr1;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
	usr1_mask(&sa.sa_mask);
	if (sigaction(SIGUSR1, &sa, NULL))
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_usr2;
	sa.sa_flags = SA_RESTART;
	usr2_mask(&sa.sa_mask);
	if (sigaction(SIGUSR2, &sa, NULL))
		return -errno;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	if (sigaction(SIGPIPE, &sa, NULL))
		return -errno;
	blocked_set(&blk);
	if (sigprocmask(SIG_BLOCK, &blk, NULL))
		return -errno;
	return 0;
}

static int queue_rt(void)
{
	union sigval v0 = { .sival_int = RT_VAL0 }, v1 = { .sival_int = RT_VAL1 };

	if (sigqueue(getpid(), rt_sig, v0) || sigqueue(getpid(), rt_sig, v1))
		return -errno;
	return 0;
}

#define FLAG_BITS (SA_SIGINFO | SA_ONSTACK | SA_RESTART | SA_NODEFER | SA_RESETHAND | SA_NOCLDSTOP)

static int check_action(int sig, void *handler, unsigned int flags, const sigset_t *mask, char *why,
			size_t len)
{
	struct sigaction sa;
	void *h;
	int d;

	if (sigaction(sig, NULL, &sa)) {
		snprintf(why, len, "sigaction(%d) query: %s", sig, strerror(errno));
		return 0;
	}
	h = (sa.sa_flags & SA_SIGINFO) ? (void *)sa.sa_sigaction : (void *)sa.sa_handler;
	if (h != handler) {
		snprintf(why, len, "signal %d handler %p, want %p", sig, h, handler);
		return 0;
	}
	if (((unsigned int)sa.sa_flags & FLAG_BITS) != flags) {
		snprintf(why, len, "signal %d flags %#x, want %#x", sig,
			 (unsigned int)sa.sa_flags & FLAG_BITS, flags);
		return 0;
	}
	d = set_diff(&sa.sa_mask, mask);
	if (d) {
		snprintf(why, len, "signal %d sa_mask differs at signal %d", sig, d);
		return 0;
	}
	return 1;
}

/* The SigPnd (thread) and ShdPnd (process) lines of /proc/self/status. */
static int read_pending(uint64_t *thread, uint64_t *shared)
{
	FILE *f = fopen("/proc/self/status", "r");
	char line[256];
	int found = 0;

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "SigPnd: %" SCNx64, thread) == 1)
			found |= 1;
		else if (sscanf(line, "ShdPnd: %" SCNx64, shared) == 1)
			found |= 2;
	}
	fclose(f);
	return found == 3 ? 0 : -EINVAL;
}

/* Takes the two queued realtime signals, checks them and queues them again. */
static int check_rt(char *why, size_t len)
{
	struct timespec zero = { 0, 0 };
	const int want[2] = { RT_VAL0, RT_VAL1 };
	siginfo_t si;
	sigset_t s;

	sigemptyset(&s);
	sigaddset(&s, rt_sig);
	for (int i = 0; i < 2; i++) {
		if (sigtimedwait(&s, &si, &zero) != rt_sig) {
			snprintf(why, len, "queued signal %d #%d missing: %s", rt_sig, i,
				 strerror(errno));
			return 0;
		}
		if (si.si_code != SI_QUEUE || si.si_value.sival_int != want[i] ||
		    si.si_pid != getpid() || si.si_uid != getuid()) {
			snprintf(why, len,
				 "queued signal %d #%d: code %d value %#x pid %d uid %u, want "
				 "code %d value %#x pid %d uid %u",
				 rt_sig, i, si.si_code, si.si_value.sival_int, si.si_pid, si.si_uid,
				 SI_QUEUE, want[i], getpid(), getuid());
			return 0;
		}
	}
	if (sigtimedwait(&s, &si, &zero) >= 0) {
		snprintf(why, len, "a third signal %d was queued (value %#x)", rt_sig,
			 si.si_value.sival_int);
		return 0;
	}
	if (queue_rt()) {
		snprintf(why, len, "cannot queue signal %d again: %s", rt_sig, strerror(errno));
		return 0;
	}
	return 1;
}

static int check_state(int bad_in_handler, char *why, size_t len)
{
	uint64_t tpend = 0, spend = 0, bit_hup = 1ull << (SIGHUP - 1),
		 bit_rt = 1ull << (rt_sig - 1);
	sigset_t want, cur, pend, m1, m2, empty;
	stack_t ss;
	int d;

	if (bad_in_handler) {
		snprintf(why, len, "in the SIGUSR1 handler:%s%s%s%s%s%s",
			 bad_in_handler & H_NOT_ON_ALTSTACK ? " not on the alternate stack" : "",
			 bad_in_handler & H_SIGALTSTACK ? " sigaltstack() failed" : "",
			 bad_in_handler & H_SS_FLAGS ? " SS_ONSTACK not set" : "",
			 bad_in_handler & H_MASK ? " wrong signal mask" : "",
			 bad_in_handler & H_UC_MASK ? " wrong ucontext mask" : "",
			 bad_in_handler & H_SIGINFO ? " wrong siginfo" : "");
		return 0;
	}
	usr1_mask(&m1);
	usr2_mask(&m2);
	sigemptyset(&empty);
	if (!check_action(SIGUSR1, (void *)on_usr1, SA_SIGINFO | SA_ONSTACK, &m1, why, len) ||
	    !check_action(SIGUSR2, (void *)on_usr2, SA_RESTART, &m2, why, len) ||
	    !check_action(SIGPIPE, (void *)SIG_IGN, 0, &empty, why, len) ||
	    !check_action(SIGTERM, (void *)SIG_DFL, 0, &empty, why, len))
		return 0;
	blocked_set(&want);
	if (sigprocmask(SIG_BLOCK, NULL, &cur)) {
		snprintf(why, len, "sigprocmask query: %s", strerror(errno));
		return 0;
	}
	d = set_diff(&cur, &want);
	if (d) {
		snprintf(why, len, "blocked set differs at signal %d (%s)", d,
			 sigismember(&cur, d) ? "blocked" : "not blocked");
		return 0;
	}
	if (sigaltstack(NULL, &ss)) {
		snprintf(why, len, "sigaltstack query: %s", strerror(errno));
		return 0;
	}
	if (ss.ss_sp != altstack || ss.ss_size != ALT_SIZE || ss.ss_flags != 0) {
		snprintf(why, len, "alternate stack %p size %zu flags %#x, want %p size %d flags 0",
			 ss.ss_sp, ss.ss_size, ss.ss_flags, (void *)altstack, ALT_SIZE);
		return 0;
	}
	if (sigpending(&pend) || !sigismember(&pend, SIGHUP) || !sigismember(&pend, rt_sig)) {
		snprintf(why, len, "sigpending() lost SIGHUP or signal %d", rt_sig);
		return 0;
	}
	if (read_pending(&tpend, &spend)) {
		snprintf(why, len, "cannot read SigPnd/ShdPnd of /proc/self/status");
		return 0;
	}
	if (tpend != bit_hup || spend != bit_rt) {
		snprintf(why, len,
			 "pending: thread %#" PRIx64 " process %#" PRIx64 ", want thread %#" PRIx64
			 " (SIGHUP) process %#" PRIx64 " (signal %d)",
			 tpend, spend, bit_hup, bit_rt, rt_sig);
		return 0;
	}
	return check_rt(why, len);
}

int main(void)
{
	struct timespec tick = { 0, 20 * 1000 * 1000 };
	sig_atomic_t reported = 0;
	char why[512];
	int err;

	setvbuf(stdout, NULL, _IOLBF, 0);
	rt_sig = SIGRTMIN + 2;
	err = install();
	if (!err && raise(SIGHUP))
		err = -errno;
	if (!err)
		err = queue_rt();
	if (err) {
		fprintf(stderr, "sighandler: setup failed: %s\n", strerror(-err));
		return 1;
	}
	printf("sighandler: pid %d ready\n", getpid());
	for (;;) {
		sig_atomic_t h = handled;

		if (h != reported) {
			int bad = __atomic_exchange_n(&hbad, 0, __ATOMIC_SEQ_CST);

			reported = h;
			if (check_state(bad, why, sizeof(why)))
				printf("sighandler: verify ok handled %d usr2 %d\n", (int)h,
				       (int)usr2_count);
			else
				printf("sighandler: verify BAD handled %d %s\n", (int)h, why);
		}
		nanosleep(&tick, NULL);
	}
}
