// SPDX-License-Identifier: MIT
/*
 * A tree holding several objects of kinds ferry refuses, in both processes,
 * so that a dump must name all of them at once.
 *   blockers
 * The parent holds an eventfd, a shared anonymous mapping and a fanotify fd;
 * its child holds a unix socket and an epoll instance. Prints
 *   blockers: parent P child C eventfd E shm 0xADDR socket S epoll X fanotify F ready
 * and idles until SIGTERM (the child dies with its parent).
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/fanotify.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

int main(void)
{
	int efd, fan, fds[2], p[2];
	pid_t parent = getpid(), child;
	char *shm;

	setvbuf(stdout, NULL, _IOLBF, 0);
	efd = eventfd(0, 0);
	shm = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	fan = fanotify_init(FAN_CLASS_NOTIF, O_RDONLY);
	if (efd < 0 || shm == MAP_FAILED || fan < 0 || pipe(p)) {
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
	printf("blockers: parent %d child %d eventfd %d shm %p socket %d epoll %d fanotify %d ready\n",
	       (int)parent, (int)child, efd, (void *)shm, fds[0], fds[1], fan);
	for (;;)
		pause();
}
