// SPDX-License-Identifier: MIT
/*
 * A process blocked in an interruptible syscall that a signal must wake up,
 * also right after a restore (test_restore_sigwake.c):
 *   sigwake pause   blocks in pause()
 *   sigwake read    blocks in read() of a pipe nobody writes to
 *   sigwake pause T also starts T threads that block SIGUSR1 and SIGUSR2 and
 *                   pause() (a restore lets the main thread go among them)
 * SIGUSR1 has a handler without SA_RESTART, SIGUSR2 one with SA_RESTART that
 * prints "sigwake: usr2 N". Prints "sigwake: pid P ready", then each time the
 * call returns: "sigwake: woke N ret R errno E usr1 A usr2 B" (N counts the
 * returns from 1, A and B the handler runs so far) and blocks again.
 * The kernel's answer: pause() returns -1/EINTR after either handler; read()
 * returns -1/EINTR after SIGUSR1 and is restarted after SIGUSR2.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t usr1, usr2;

static void on_usr1(int sig)
{
	(void)sig;
	usr1++;
}

static void on_usr2(int sig)
{
	char line[64];
	int n;

	(void)sig;
	usr2++;
	n = snprintf(line, sizeof(line), "sigwake: usr2 %d\n", (int)usr2);
	if (write(1, line, (size_t)n) < 0)
		_exit(3);
}

static void *idle(void *arg)
{
	for (;;)
		pause();
	return arg;
}

/* T threads blocking the two signals, so that they are the main thread's. */
static int start_threads(int nr)
{
	sigset_t both, old;
	pthread_t th;
	int err = 0;

	sigemptyset(&both);
	sigaddset(&both, SIGUSR1);
	sigaddset(&both, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &both, &old);
	for (int i = 0; !err && i < nr; i++)
		err = pthread_create(&th, NULL, idle, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return err;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "pause";
	struct sigaction a1 = { .sa_handler = on_usr1 },
			 a2 = { .sa_handler = on_usr2, .sa_flags = SA_RESTART };
	int p[2], is_read = !strcmp(mode, "read");
	char c;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (!is_read && strcmp(mode, "pause")) {
		fprintf(stderr, "usage: sigwake pause|read\n");
		return 2;
	}
	if (pipe(p) || sigaction(SIGUSR1, &a1, NULL) || sigaction(SIGUSR2, &a2, NULL) ||
	    start_threads(argc > 2 ? atoi(argv[2]) : 0)) {
		perror("sigwake: setup");
		return 1;
	}
	printf("sigwake: pid %d ready\n", (int)getpid());
	for (int n = 1;; n++) {
		long ret = is_read ? (long)read(p[0], &c, 1) : (long)pause();
		int e = errno;

		printf("sigwake: woke %d ret %ld errno %d usr1 %d usr2 %d\n", n, ret, e, (int)usr1,
		       (int)usr2);
	}
}
