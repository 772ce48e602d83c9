// SPDX-License-Identifier: MIT
/*
 * Descriptions that signal their owner (F_SETOWN, O_ASYNC) across a dump and
 * a restore.
 *   fown [OUTSIDE]
 * Makes a pipe whose read end is O_ASYNC and owned by the process
 * (F_SETOWN, the default SIGIO), and a unix socketpair whose first end is
 * O_ASYNC, owned by a second thread (F_SETOWN_EX F_OWNER_TID) and signals
 * SIGRTMIN+1 (F_SETSIG). Prints
 *   fown: pid P tid T pipe FD sock FD ready
 * and idles. On each SIGUSR1 it writes a byte into the pipe and one into the
 * socket's peer, and within 2 s expects a SIGIO and a SIGRTMIN+1 handled by
 * thread T whose si_fd is the socket's fd and si_band has POLLIN; then
 * prints "fown: verify ok" or "fown: verify BAD <what>" and drains both.
 * With OUTSIDE (a pid outside the tree) a third pipe's read end is owned by
 * that process (F_SETOWN OUTSIDE), for the test of an owner gone at restore.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t usr1, nr_sigio, rt_tid, rt_fd, rt_band;
static int pipe_fds[2], sk[2];
static pid_t owner_tid;
static pthread_mutex_t ready_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready_cond = PTHREAD_COND_INITIALIZER;

static void on_usr1(int sig)
{
	(void)sig;
	usr1 = 1;
}

static void on_sigio(int sig)
{
	(void)sig;
	nr_sigio++;
}

static void on_rt(int sig, siginfo_t *si, void *uc)
{
	(void)sig;
	(void)uc;
	rt_tid = (sig_atomic_t)syscall(SYS_gettid);
	rt_fd = si->si_fd;
	rt_band = (sig_atomic_t)si->si_band;
}

static void *owner_thread(void *arg)
{
	sigset_t usr1_set;

	(void)arg;
	/* SIGUSR1 is for the main thread, which waits for it in sigsuspend. */
	sigemptyset(&usr1_set);
	sigaddset(&usr1_set, SIGUSR1);
	pthread_sigmask(SIG_BLOCK, &usr1_set, NULL);
	pthread_mutex_lock(&ready_lock);
	owner_tid = (pid_t)syscall(SYS_gettid);
	pthread_cond_signal(&ready_cond);
	pthread_mutex_unlock(&ready_lock);
	for (;;)
		pause();
	return NULL;
}

static void die(const char *what)
{
	printf("fown: cannot %s: %s\n", what, strerror(errno));
	exit(1);
}

static void setup(void)
{
	struct f_owner_ex ox;
	pthread_t t;

	if (pipe(pipe_fds) || socketpair(AF_UNIX, SOCK_STREAM, 0, sk))
		die("make the pipe and the socketpair");
	if (pthread_create(&t, NULL, owner_thread, NULL))
		die("start the owner thread");
	pthread_mutex_lock(&ready_lock);
	while (!owner_tid)
		pthread_cond_wait(&ready_cond, &ready_lock);
	pthread_mutex_unlock(&ready_lock);
	if (fcntl(pipe_fds[0], F_SETOWN, getpid()) ||
	    fcntl(pipe_fds[0], F_SETFL, O_ASYNC | O_NONBLOCK))
		die("own the pipe");
	ox.type = F_OWNER_TID;
	ox.pid = owner_tid;
	if (fcntl(sk[0], F_SETOWN_EX, &ox) || fcntl(sk[0], F_SETSIG, SIGRTMIN + 1) ||
	    fcntl(sk[0], F_SETFL, O_ASYNC | O_NONBLOCK))
		die("give the socket to the thread");
}

static void drain(int fd)
{
	char buf[64];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

static void verify(void)
{
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	int bad = 0;

	nr_sigio = 0;
	rt_tid = rt_fd = rt_band = 0;
	if (write(pipe_fds[1], "p", 1) != 1 || write(sk[1], "s", 1) != 1) {
		printf("fown: verify BAD write: %s\n", strerror(errno));
		return;
	}
	for (int i = 0; i < 200 && !(nr_sigio && rt_tid); i++)
		nanosleep(&ts, NULL);
	if (!nr_sigio) {
		printf("fown: verify BAD no SIGIO from the pipe (fd %d)\n", pipe_fds[0]);
		bad = 1;
	}
	if (!rt_tid) {
		printf("fown: verify BAD no SIGRTMIN+1 from the socket (fd %d)\n", sk[0]);
		bad = 1;
	} else if (rt_tid != owner_tid || rt_fd != sk[0] || !(rt_band & POLLIN)) {
		printf("fown: verify BAD SIGRTMIN+1 in thread %d fd %d band %#x, want thread %d fd "
		       "%d POLLIN\n",
		       (int)rt_tid, (int)rt_fd, (unsigned)rt_band, owner_tid, sk[0]);
		bad = 1;
	}
	drain(pipe_fds[0]);
	drain(sk[0]);
	if (!bad)
		printf("fown: verify ok\n");
}

int main(int argc, char **argv)
{
	struct sigaction sa = { 0 };
	sigset_t usr1_set, none;

	setvbuf(stdout, NULL, _IOLBF, 0);
	sa.sa_handler = on_usr1;
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = on_sigio;
	sigaction(SIGIO, &sa, NULL);
	sa.sa_handler = NULL;
	sa.sa_sigaction = on_rt;
	sa.sa_flags = SA_SIGINFO;
	sigaction(SIGRTMIN + 1, &sa, NULL);
	sigemptyset(&none);
	sigemptyset(&usr1_set);
	sigaddset(&usr1_set, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1_set, NULL);
	setup();
	if (argc > 1) {
		int x[2];

		if (pipe(x) || fcntl(x[0], F_SETOWN, atoi(argv[1])))
			die("give a pipe to the outside owner");
	}
	printf("fown: pid %d tid %d pipe %d sock %d ready\n", getpid(), owner_tid, pipe_fds[0],
	       sk[0]);
	for (;;) {
		while (!usr1)
			sigsuspend(&none);
		usr1 = 0;
		verify();
	}
}
