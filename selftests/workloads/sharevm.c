// SPDX-License-Identifier: MIT
/*
 * A parent and a child made with clone(CLONE_VM) but not CLONE_THREAD: two
 * processes with one address space, which ferry must refuse to dump.
 * Prints "sharevm: parent P child C ready" and idles.
 */
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

static int child(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return 0;
}

int main(void)
{
	size_t stack_size = 1 << 16;
	char *stack = malloc(stack_size);
	int pid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	pid = clone(child, stack + stack_size, CLONE_VM | SIGCHLD, NULL);
	if (pid < 0) {
		perror("sharevm: clone");
		return 1;
	}
	printf("sharevm: parent %d child %d ready\n", getpid(), pid);
	for (;;)
		pause();
}
