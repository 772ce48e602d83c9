// SPDX-License-Identifier: MIT
/*
 * A process holding one fd of a kind ferry refuses to dump.
 *   fdkinds socket|eventfd|epoll|memfd|io_uring|fanotify
 * Opens it, prints "fdkinds: pid P fd N ready" and idles.
 */
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdio.h>
#include <string.h>
#include <sys/fanotify.h>
#include <sys/syscall.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *kind = argc > 1 ? argv[1] : "socket";
	int fd = -1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!strcmp(kind, "socket"))
		fd = socket(AF_PACKET, SOCK_DGRAM, 0); /* a packet socket: refused */
	else if (!strcmp(kind, "eventfd"))
		fd = eventfd(0, 0);
	else if (!strcmp(kind, "epoll"))
		fd = epoll_create1(0);
	else if (!strcmp(kind, "memfd"))
		fd = memfd_create("fdkinds", 0);
	else if (!strcmp(kind, "io_uring")) {
		struct io_uring_params up;

		memset(&up, 0, sizeof(up));
		fd = (int)syscall(SYS_io_uring_setup, 4, &up);
	} else if (!strcmp(kind, "fanotify"))
		fd = fanotify_init(FAN_CLASS_NOTIF, O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "fdkinds: cannot open a %s\n", kind);
		return 1;
	}
	printf("fdkinds: pid %d fd %d ready\n", getpid(), fd);
	for (;;)
		pause();
}
