// SPDX-License-Identifier: MIT
/*
 * Unix sockets connected to a server outside the dumped tree (--ext-unix-sk).
 *   unixext STREAM_PATH DGRAM_PATH [pair]
 * Connects a stream socket to the listener at STREAM_PATH and a datagram
 * socket to the socket bound at DGRAM_PATH (both held by the test, outside
 * the tree), prints "unixext: pid P ready" and waits. On each SIGUSR1 it
 * sends "ping N\n" on the stream socket and expects "pong N\n" back, then
 * sends the datagram "dgram N" (N counts on from before the dump), and
 * prints "unixext: verify ok N" or "unixext: verify BAD what". With "pair", the
 * server first sends it one end of a socketpair (SCM_RIGHTS) whose other end
 * the test holds (a peer without a name): the same ping/pong goes over it too.
 */
#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

static volatile sig_atomic_t usr1;

static void on_usr1(int sig)
{
	(void)sig;
	usr1 = 1;
}

static int connect_to(int type, const char *path)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 5 };
	int s = socket(AF_UNIX, type, 0);

	snprintf(a.sun_path, sizeof(a.sun_path), "%s", path);
	if (s < 0 || connect(s, (struct sockaddr *)&a, sizeof(a)) ||
	    setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv))) {
		perror("unixext: connect");
		exit(1);
	}
	return s;
}

/* ping/pong on @st; NULL or what went wrong. */
static const char *ping(int st, unsigned n)
{
	char msg[64], want[64], got[64];
	size_t len = 0;
	int ml;

	ml = snprintf(msg, sizeof(msg), "ping %u\n", n);
	if (write(st, msg, (size_t)ml) != ml)
		return "stream write";
	snprintf(want, sizeof(want), "pong %u\n", n);
	while (len < strlen(want)) {
		ssize_t r = read(st, got + len, strlen(want) - len);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return "stream read (no answer)";
		len += (size_t)r;
	}
	if (memcmp(got, want, len))
		return "stream answer differs";
	return NULL;
}

/* One round: ping/pong on @st (and @sp if >= 0), a datagram on @dg. NULL or what went wrong. */
static const char *round_trip(int st, int dg, int sp, unsigned n)
{
	const char *why = ping(st, n);
	char msg[64];
	int ml;

	if (!why && sp >= 0)
		why = ping(sp, n);
	if (why)
		return why;
	ml = snprintf(msg, sizeof(msg), "dgram %u", n);
	if (send(dg, msg, (size_t)ml, 0) != ml)
		return "datagram send";
	return NULL;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	unsigned n = 0;
	int st, dg, sp = -1;

	if (argc < 3) {
		fprintf(stderr, "usage: unixext STREAM_PATH DGRAM_PATH\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	sigaction(SIGUSR1, &sa, NULL);
	st = connect_to(SOCK_STREAM, argv[1]);
	dg = connect_to(SOCK_DGRAM, argv[2]);
	if (argc > 3 && !strcmp(argv[3], "pair")) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int))];
		} cb;
		char one;
		struct iovec iov = { &one, 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		struct timeval tv = { .tv_sec = 5 };

		mh.msg_control = cb.b;
		mh.msg_controllen = sizeof(cb.b);
		if (recvmsg(st, &mh, 0) != 1 || !CMSG_FIRSTHDR(&mh) ||
		    CMSG_FIRSTHDR(&mh)->cmsg_type != SCM_RIGHTS) {
			fprintf(stderr, "unixext: no socket from the server\n");
			return 1;
		}
		memcpy(&sp, CMSG_DATA(CMSG_FIRSTHDR(&mh)), sizeof(int));
		setsockopt(sp, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	printf("unixext: pid %d ready\n", getpid());
	for (;;) {
		const char *why;

		/* Not pause(): a signal between a restore's resume and its re-entry is missed. */
		while (!usr1)
			usleep(10000);
		usr1 = 0;
		why = round_trip(st, dg, sp, ++n);
		if (why)
			printf("unixext: verify BAD %s (round %u: %s)\n", why, n, strerror(errno));
		else
			printf("unixext: verify ok %u\n", n);
	}
}
