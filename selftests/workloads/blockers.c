// SPDX-License-Identifier: MIT
/*
 * A tree holding several objects of kinds ferry refuses, in both processes,
 * so that a dump must name all of them at once.
 *   blockers
 * The parent holds an io_uring instance, an attached SysV shared memory
 * segment (removed at once: it goes with the process) whose second page was
 * made read-only (a part of a segment in a VMA: refused) and a fanotify group; its child holds a
 * packet socket and a fanotify group. Prints blockers: parent P child C io_uring E shm 0xADDR
 * fanotify F socket S fanotify X ready and idles until SIGTERM (the child dies with its parent).
 */
#include <fcntl.h>
#include <linux/io_uring.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
	struct io_uring_params up;
	int efd, fan, fds[2], p[2], shmid;
	pid_t parent = getpid(), child;
	char *shm;

	setvbuf(stdout, NULL, _IOLBF, 0);
	memset(&up, 0, sizeof(up));
	efd = (int)syscall(SYS_io_uring_setup, 4, &up);
	shmid = shmget(IPC_PRIVATE, 8192, IPC_CREAT | 0600);
	shm = shmid < 0 ? (void *)-1 : shmat(shmid, NULL, 0);
	if (shmid >= 0)
		shmctl(shmid, IPC_RMID, NULL);
	fan = fanotify_init(FAN_CLASS_NOTIF, O_RDONLY);
	if (efd < 0 || shm == (void *)-1 || fan < 0 || pipe(p)) {
		perror("blockers");
		return 1;
	}
	shm[0] = 1;
	if (mprotect(shm + 4096, 4096, PROT_READ)) {
		perror("blockers: mprotect");
		return 1;
	}
	child = fork();
	if (child < 0)
		return 1;
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(p[0]);
		fds[0] = socket(AF_PACKET, SOCK_DGRAM, 0); /* refused: a packet socket */
		fds[1] = fanotify_init(FAN_CLASS_NOTIF, O_RDONLY);
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
	printf("blockers: parent %d child %d io_uring %d shm %p fanotify %d socket %d fanotify %d "
	       "ready\n",
	       (int)parent, (int)child, efd, (void *)shm, fan, fds[0], fds[1]);
	for (;;)
		pause();
}
