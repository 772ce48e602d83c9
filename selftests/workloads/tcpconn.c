// SPDX-License-Identifier: MIT
/*
 * Established TCP connections across a dump and a restore (issue 19,
 * --tcp-established).
 *   tcpconn pair [ADDR]          a server and its client, both in the tree
 *   tcpconn server ADDR PORT     a server only; its client is outside the tree
 * The server listens on ADDR (default 127.0.0.1; IPv6 if it has a ':') at
 * PORT (0: any; the listener stays open) and accepts one connection. In
 * "pair" a child connects to it. Each end then sends its stream (server:
 * seed 0x5e, client: seed 0xc1, selftests/stream_pattern.h) in 16 KiB steps
 * every 10 ms, reads 8 KiB per step (so the queues of both ends fill up: a
 * dump finds unread, unacked and unsent bytes), and checks every byte of the
 * other's against its position, so
 * a byte lost, repeated or reordered is seen; the connection ending or an
 * error is a failure too. Prints "tcpconn: pid P child C ready port N"
 * (C 0 without a child) once the first bytes came back.
 * On SIGUSR1 the server takes note of what it has, waits for 64 KiB more
 * each way, and prints "tcpconn: verify ok got G sent S" or "tcpconn: verify
 * BAD what"; a client child that sees a wrong byte exits 1, which the server
 * reports as BAD at the next verify.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "stream_pattern.h"

#define SEED_SERVER 0x5eu
#define SEED_CLIENT 0xc1u
#define STEP 16384
#define VERIFY_MORE (64u << 10)

static volatile sig_atomic_t usr1;

static void on_usr1(int sig)
{
	(void)sig;
	usr1 = 1;
}

struct end {
	int fd;
	uint32_t seed_out, seed_in;
	uint64_t sent, got;
	char why[200];
};

/*
 * One round of the exchange, every 10 ms: up to 16 KiB sent, up to 8 KiB
 * read (half: the queues of both ends fill up, and a dump finds unread,
 * unacked and unsent bytes). Returns 0, or -1 with e->why set.
 */
static int step(struct end *e)
{
	static uint8_t buf[STEP];
	struct timespec ts = { 0, 10 * 1000 * 1000 };
	ssize_t w, r;
	long bad;

	nanosleep(&ts, NULL);
	stream_fill(buf, STEP, e->seed_out, e->sent);
	w = send(e->fd, buf, STEP, MSG_NOSIGNAL | MSG_DONTWAIT);
	if (w < 0 && errno != EAGAIN && errno != EINTR) {
		snprintf(e->why, sizeof(e->why), "send after %llu bytes: %s",
			 (unsigned long long)e->sent, strerror(errno));
		return -1;
	}
	if (w > 0)
		e->sent += (uint64_t)w;
	r = recv(e->fd, buf, STEP / 2, MSG_DONTWAIT);
	if (r < 0 && (errno == EAGAIN || errno == EINTR))
		return 0;
	if (r <= 0) {
		snprintf(e->why, sizeof(e->why), "the connection ended after %llu bytes: %s",
			 (unsigned long long)e->got, r ? strerror(errno) : "EOF");
		return -1;
	}
	bad = stream_check(buf, (size_t)r, e->seed_in, e->got);
	if (bad >= 0) {
		snprintf(e->why, sizeof(e->why), "byte %llu of the stream is wrong",
			 (unsigned long long)(e->got + (uint64_t)bad));
		return -1;
	}
	e->got += (uint64_t)r;
	return 0;
}

static int client(const struct sockaddr_storage *ss, socklen_t sl)
{
	struct end e = { .seed_out = SEED_CLIENT, .seed_in = SEED_SERVER };

	e.fd = socket(ss->ss_family, SOCK_STREAM, 0);
	if (e.fd < 0 || connect(e.fd, (const struct sockaddr *)ss, sl)) {
		fprintf(stderr, "tcpconn client: connect: %s\n", strerror(errno));
		return 1;
	}
	for (;;) {
		if (step(&e)) {
			fprintf(stderr, "tcpconn client: %s\n", e.why);
			return 1;
		}
	}
}

int main(int argc, char **argv)
{
	struct end e = { .seed_out = SEED_SERVER, .seed_in = SEED_CLIENT };
	struct sockaddr_storage ss = { 0 };
	const char *addr = "127.0.0.1";
	socklen_t sl;
	int pair, lfd, one = 1, ready = 0, verifying = 0, port = 0;
	uint64_t vgot = 0, vsent = 0;
	pid_t kid = 0;

	if (argc < 2 || (strcmp(argv[1], "pair") && strcmp(argv[1], "server")) ||
	    (!strcmp(argv[1], "server") && argc < 4)) {
		fprintf(stderr, "usage: tcpconn pair [ADDR] | tcpconn server ADDR PORT\n");
		return 2;
	}
	pair = !strcmp(argv[1], "pair");
	if (argc > 2)
		addr = argv[2];
	if (argc > 3)
		port = atoi(argv[3]);
	if (strchr(addr, ':')) {
		struct sockaddr_in6 *s6 = (void *)&ss;

		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		inet_pton(AF_INET6, addr, &s6->sin6_addr);
		sl = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (void *)&ss;

		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, addr, &s4->sin_addr);
		sl = sizeof(*s4);
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	lfd = socket(ss.ss_family, SOCK_STREAM, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&ss, sl) || listen(lfd, 4) ||
	    getsockname(lfd, (struct sockaddr *)&ss, &sl)) {
		printf("tcpconn: listen on %s: %s\n", addr, strerror(errno));
		return 1;
	}
	port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					      : ((struct sockaddr_in *)&ss)->sin_port);
	if (pair) {
		kid = fork();
		if (kid == 0) {
			close(lfd);
			prctl(PR_SET_PDEATHSIG, SIGKILL);
			return client(&ss, sl);
		}
	} else {
		printf("tcpconn: listening port %d\n", port);
	}
	e.fd = accept(lfd, NULL, NULL);
	if (e.fd < 0) {
		printf("tcpconn: accept: %s\n", strerror(errno));
		return 1;
	}
	signal(SIGUSR1, on_usr1);
	for (;;) {
		int st;

		if (step(&e)) {
			printf("tcpconn: verify BAD %s\n", e.why);
			return 1;
		}
		if (!ready && e.got && e.sent) {
			printf("tcpconn: pid %d child %d ready port %d\n", getpid(), kid, port);
			ready = 1;
		}
		if (kid && waitpid(kid, &st, WNOHANG) == kid) {
			printf("tcpconn: verify BAD the client child ended (status %d)\n", st);
			return 1;
		}
		if (usr1 && !verifying) {
			usr1 = 0;
			verifying = 1;
			vgot = e.got;
			vsent = e.sent;
		}
		if (verifying && e.got >= vgot + VERIFY_MORE && e.sent >= vsent + VERIFY_MORE) {
			printf("tcpconn: verify ok got %llu sent %llu\n", (unsigned long long)e.got,
			       (unsigned long long)e.sent);
			verifying = 0;
		}
	}
}
