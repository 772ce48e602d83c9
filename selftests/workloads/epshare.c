// SPDX-License-Identifier: MIT
/*
 * An epoll whose target's file its own process no longer holds.
 *   epshare child|outside
 * Both make an epoll and an eventfd (counter 1, so the target is ready) and
 * add the eventfd to the epoll.
 *  - child: fork (the child inherits both), then the parent closes its
 *    eventfd fd: the file is held only by the child, registered in the
 *    parent's epoll. Prints "epshare: pid P child C epoll E target T ready".
 *  - outside: prints the ready line (child 0), then on SIGUSR1 closes the
 *    eventfd and prints "epshare: closed": a process outside the tree that
 *    took a copy of the fd (pidfd_getfd) holds the file alone.
 * Then both idle; the child dies with its parent.
 */
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/prctl.h>
#include <unistd.h>

static volatile sig_atomic_t go;

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

int main(int argc, char **argv)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u64 = 0x5eed };
	int outside = argc > 1 && !strcmp(argv[1], "outside");
	int ep = epoll_create1(0), efd = eventfd(1, 0);
	pid_t child = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGUSR1, on_usr1);
	if (ep < 0 || efd < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, efd, &ev))
		return 1;
	if (!outside) {
		child = fork();
		if (child < 0)
			return 1;
		if (!child) {
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			for (;;)
				pause();
		}
		close(efd);
	}
	printf("epshare: pid %d child %d epoll %d target %d ready\n", getpid(), child, ep, efd);
	for (;;) {
		usleep(5000);
		if (go) {
			go = 0;
			close(efd);
			printf("epshare: closed\n");
		}
	}
}
