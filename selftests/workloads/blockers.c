// SPDX-License-Identifier: MIT
/*
 * A tree holding several objects of kinds ferry refuses, in both processes,
 * so that a dump must name all of them at once.
 *   blockers
 * The parent holds an eventfd, an attached SysV shared memory segment (removed
 * at once: it goes with the process) and a POSIX timer;
 * its child holds a unix socket and an epoll instance. Prints
 *   blockers: parent P child C eventfd E shm 0xADDR socket S epoll X ready
 * and idles until SIGTERM (the child dies with its parent).
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(void)
{
	int efd, fds[2], p[2], shmid;
	struct sigevent sev = { .sigev_notify = SIGEV_NONE };
	timer_t timer;
	pid_t parent = getpid(), child;
	char *shm;

	setvbuf(stdout, NULL, _IOLBF, 0);
	efd = eventfd(0, 0);
	shmid = shmget(IPC_PRIVATE, 8192, IPC_CREAT | 0600);
	shm = shmid < 0 ? (void *)-1 : shmat(shmid, NULL, 0);
	if (shmid >= 0)
		shmctl(shmid, IPC_RMID, NULL);
	if (efd < 0 || shm == (void *)-1 || timer_create(CLOCK_MONOTONIC, &sev, &timer) ||
	    pipe(p)) {
		perror("blockers");
		return 1;
	}
	shm[0] = 1;
	child = fork();
	if (child < 0)
		return 1;
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(p[0]);
		fds[0] = socket(AF_UNIX, SOCK_STREAM, 0);
		fds[1] = epoll_create1(0);
		if (getppid() != parent || fds[0] < 0 || fds[1] < 0 ||
		    write(p[1], fds, sizeof(fds)) != sizeof(fds))
			_exit(1);
		for (;;)
			pause();
	}
	close(p[1]);
	if (read(p[0], fds, sizeof(fds)) != sizeof(fds)) {
		fprintf(stderr, "blockers: the child did not start\n");
		return 1;
	}
	printf("blockers: parent %d child %d eventfd %d shm %p socket %d epoll %d ready\n",
	       (int)parent, (int)child, efd, (void *)shm, fds[0], fds[1]);
	for (;;)
		pause();
}
