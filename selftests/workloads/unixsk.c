// SPDX-License-Identifier: MIT
/*
 * Unix sockets across a dump and a restore (issue 19).
 *   unixsk DIR [pending | outside:NAME | rights]
 * The parent holds, each with messages queued that nobody reads:
 * - a stream socketpair with bytes queued both ways (64 KiB one way), one
 *   end with SO_RCVBUF set;
 * - a datagram socketpair with messages of 1, 0, 100 and 3000 bytes one way
 *   and two the other (boundaries must survive), one end O_NONBLOCK, the
 *   other with SO_PASSCRED;
 * - a seqpacket socketpair with two messages queued;
 * - a stream socketpair whose one end was shut down for writing;
 * - a stream socket listening on DIR/listen.sock (backlog 7), a seqpacket
 *   one listening on an abstract name, a datagram socket bound to an
 *   abstract name with one message queued from a socket since closed;
 * - with "pending", a connection to DIR/listen.sock not accepted yet, with
 *   a byte sent into it (refused: it sits in a socket with no fd);
 * - with "outside:NAME", a connection to the abstract NAME another process
 *   listens on;
 * - with "rights", an fd in flight (SCM_RIGHTS) queued on the stream pair.
 * Parent and child exchange a counter over a stream socketpair (the child
 * sends n, the parent checks it and echoes it, the child checks the echo),
 * without pause; the child also holds the listener on DIR/listen.sock (one
 * socket in both). Prints "unixsk: pid P child C ready listener L dup D of S" (D:
 * a dup of S, the stream pair's first end). On SIGUSR1 the parent
 * reads every queue and checks it (then queues the same messages again, so
 * the state is the same after), checks the options, accepts a new connection
 * on each listener, and exchanges 100 more counters with the child; prints
 * "unixsk: verify ok N" (N: counters exchanged) or "unixsk: verify BAD what".
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static volatile sig_atomic_t usr1;
static int bad;
static char why[256];

static void on_usr1(int sig)
{
	(void)sig;
	usr1 = 1;
}

#define FAIL(...)                                                \
	do {                                                     \
		if (!bad)                                        \
			snprintf(why, sizeof(why), __VA_ARGS__); \
		bad = 1;                                         \
	} while (0)

static int full(int fd, void *buf, size_t len, int wr)
{
	size_t off = 0;

	while (off < len) {
		ssize_t n = wr ? write(fd, (char *)buf + off, len - off)
			       : read(fd, (char *)buf + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

static socklen_t addr(struct sockaddr_un *a, const char *path, int abstract)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	if (abstract) {
		a->sun_path[0] = '\0';
		snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1, "%s", path);
		return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(path));
	}
	snprintf(a->sun_path, sizeof(a->sun_path), "%s", path);
	return sizeof(*a);
}

static int st[2], dg[2], sq[2], sh[2], ex[2], lst = -1, lsq = -1, bdg = -1;
static uint8_t big[65536];
static const size_t dg_len[] = { 1, 0, 100, 3000 };
static char lpath[108], aname[64], bname[64];
static uint64_t exchanged;
static int pending; /* a connection waits on lst: not checked (accept would take it) */

static void fill(uint8_t *b, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		b[i] = (uint8_t)(i * 31 + seed);
}

/* Queue every message of the workload (again). */
static int queue_all(void)
{
	uint8_t b[3000];
	struct sockaddr_un a;

	if (full(st[0], big, sizeof(big), 1) || full(st[1], "back", 4, 1))
		return -1;
	for (size_t i = 0; i < 4; i++) {
		fill(b, dg_len[i], (unsigned)i);
		if (send(dg[0], b, dg_len[i], 0) != (ssize_t)dg_len[i])
			return -1;
	}
	if (send(dg[1], "x", 1, 0) != 1 || send(dg[1], "yz", 2, 0) != 2)
		return -1;
	if (send(sq[0], "first", 5, 0) != 5 || send(sq[0], "second!", 7, 0) != 7)
		return -1;
	{
		int tx = socket(AF_UNIX, SOCK_DGRAM, 0);
		socklen_t l = addr(&a, bname, 1);

		if (tx < 0 || sendto(tx, "to-bound", 8, 0, (struct sockaddr *)&a, l) != 8)
			return -1;
		close(tx);
	}
	return 0;
}

static void expect_msg(int fd, const void *want, size_t len, const char *what)
{
	char b[4096];
	ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);

	if (n != (ssize_t)len || memcmp(b, want, len))
		FAIL("%s: got %zd bytes, want %zu", what, n, len);
}

static void check_queues(void)
{
	uint8_t b[65536], w[3000];
	int v = 0;
	socklen_t l = sizeof(v);

	if (full(st[1], b, sizeof(big), 0) || memcmp(b, big, sizeof(big)))
		FAIL("stream: the 64 KiB differ");
	expect_msg(st[0], "back", 4, "stream back");
	if (recv(st[0], b, 1, MSG_DONTWAIT) != -1 || errno != EAGAIN)
		FAIL("stream back: more than was sent");
	for (size_t i = 0; i < 4; i++) {
		fill(w, dg_len[i], (unsigned)i);
		expect_msg(dg[1], w, dg_len[i], "datagram");
	}
	expect_msg(dg[0], "x", 1, "datagram back 1");
	expect_msg(dg[0], "yz", 2, "datagram back 2");
	expect_msg(sq[1], "first", 5, "seqpacket 1");
	expect_msg(sq[1], "second!", 7, "seqpacket 2");
	expect_msg(bdg, "to-bound", 8, "bound datagram");
	if (!(fcntl(dg[0], F_GETFL) & O_NONBLOCK) || (fcntl(dg[1], F_GETFL) & O_NONBLOCK))
		FAIL("O_NONBLOCK not kept");
	if (getsockopt(dg[1], SOL_SOCKET, SO_PASSCRED, &v, &l) || !v)
		FAIL("SO_PASSCRED not kept");
	if (getsockopt(st[0], SOL_SOCKET, SO_RCVBUF, &v, &l) || v != 2 * 32768)
		FAIL("SO_RCVBUF is %d, want %d", v, 2 * 32768);
	if (recv(sh[1], b, 1, MSG_DONTWAIT) != 0)
		FAIL("the shut down stream does not read end-of-file");
	if (send(sh[0], "x", 1, MSG_NOSIGNAL) != -1 || errno != EPIPE)
		FAIL("the end shut down for writing can write");
}

static void check_listener(int l, int type, const char *name, int abstract)
{
	struct sockaddr_un a;
	socklen_t len = addr(&a, name, abstract);
	int c = socket(AF_UNIX, type, 0), s;

	if (c < 0 || connect(c, (struct sockaddr *)&a, len)) {
		FAIL("cannot connect to %s: %s", name, strerror(errno));
		goto out;
	}
	s = accept(l, NULL, NULL);
	if (s < 0 || write(c, "hi", 2) != 2 || read(s, a.sun_path, 2) != 2) {
		FAIL("no connection accepted on %s", name);
	}
	if (s >= 0)
		close(s);
out:
	if (c >= 0)
		close(c);
}

/* One counter from the child, checked and echoed. */
static void exchange_one(void)
{
	uint64_t v;

	if (full(ex[0], &v, sizeof(v), 0)) {
		FAIL("the child's stream ended after %llu counters", (unsigned long long)exchanged);
		return;
	}
	if (v != exchanged)
		FAIL("counter %llu, want %llu", (unsigned long long)v,
		     (unsigned long long)exchanged);
	exchanged++;
	if (full(ex[0], &v, sizeof(v), 1))
		FAIL("cannot echo counter %llu", (unsigned long long)v);
}

static void child(void)
{
	uint64_t n = 0, e;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	close(ex[0]);
	for (;; n++) {
		if (full(ex[1], &n, sizeof(n), 1) || full(ex[1], &e, sizeof(e), 0))
			_exit(2);
		if (e != n) {
			printf("unixsk: verify BAD child: echo %llu, want %llu\n",
			       (unsigned long long)e, (unsigned long long)n);
			_exit(3);
		}
		usleep(200);
	}
}

int main(int argc, char **argv)
{
	struct sockaddr_un a;
	int rcv = 32768, one = 1;
	pid_t kid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2) {
		fprintf(stderr, "usage: unixsk DIR [pending]\n");
		return 2;
	}
	snprintf(lpath, sizeof(lpath), "%s/listen.sock", argv[1]);
	snprintf(aname, sizeof(aname), "ferry-unixsk-%d", getpid());
	snprintf(bname, sizeof(bname), "ferry-unixsk-bound-%d", getpid());
	fill(big, sizeof(big), 7);
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, st) || socketpair(AF_UNIX, SOCK_DGRAM, 0, dg) ||
	    socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sq) || socketpair(AF_UNIX, SOCK_STREAM, 0, sh) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, ex)) {
		perror("unixsk: socketpair");
		return 1;
	}
	if (setsockopt(st[0], SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)) ||
	    setsockopt(dg[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof(one)) ||
	    fcntl(dg[0], F_SETFL, O_NONBLOCK) || shutdown(sh[0], SHUT_WR)) {
		perror("unixsk: options");
		return 1;
	}
	unlink(lpath);
	lst = socket(AF_UNIX, SOCK_STREAM, 0);
	lsq = socket(AF_UNIX, SOCK_SEQPACKET, 0);
	bdg = socket(AF_UNIX, SOCK_DGRAM, 0);
	if (lst < 0 || bind(lst, (struct sockaddr *)&a, addr(&a, lpath, 0)) || listen(lst, 7) ||
	    lsq < 0 || bind(lsq, (struct sockaddr *)&a, addr(&a, aname, 1)) || listen(lsq, 3) ||
	    bdg < 0 || bind(bdg, (struct sockaddr *)&a, addr(&a, bname, 1))) {
		perror("unixsk: listeners");
		return 1;
	}
	if (queue_all()) {
		perror("unixsk: queue");
		return 1;
	}
	if (argc > 2 && !strcmp(argv[2], "pending")) {
		int c = socket(AF_UNIX, SOCK_STREAM, 0);

		pending = 1;
		if (c < 0 || connect(c, (struct sockaddr *)&a, addr(&a, lpath, 0)) ||
		    write(c, "e", 1) != 1) {
			perror("unixsk: pending");
			return 1;
		}
	}
	if (argc > 2 && !strncmp(argv[2], "outside:", 8)) {
		/* A connection to a listener of another process, outside the tree. */
		int c = socket(AF_UNIX, SOCK_STREAM, 0);

		if (c < 0 || connect(c, (struct sockaddr *)&a, addr(&a, argv[2] + 8, 1))) {
			perror("unixsk: outside");
			return 1;
		}
	}
	if (argc > 2 && !strcmp(argv[2], "rights")) {
		union {
			struct cmsghdr h;
			char b[CMSG_SPACE(sizeof(int))];
		} c;
		struct iovec iov = { "r", 1 };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		int in = 0;

		mh.msg_control = c.b;
		mh.msg_controllen = sizeof(c.b);
		c.h.cmsg_level = SOL_SOCKET;
		c.h.cmsg_type = SCM_RIGHTS;
		c.h.cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(&c.h), &in, sizeof(in));
		/* On sq: the stream pair's queue is checked byte for byte. */
		if (sendmsg(sq[1], &mh, 0) != 1) {
			perror("unixsk: rights");
			return 1;
		}
	}
	kid = fork();
	if (kid < 0)
		return 1;
	if (!kid)
		child();
	close(ex[1]);
	signal(SIGUSR1, on_usr1);
	/* The child keeps the listener (fork: one socket in both); the parent has a dup of st[0].
	 */
	printf("unixsk: pid %d child %d ready listener %d dup %d of %d\n", getpid(), kid, lst,
	       fcntl(st[0], F_DUPFD, 100), st[0]);
	for (;;) {
		struct pollfd p = { .fd = ex[0], .events = POLLIN };

		if (usr1) {
			uint64_t before = exchanged;

			usr1 = 0;
			check_queues();
			if (!pending)
				check_listener(lst, SOCK_STREAM, lpath, 0);
			check_listener(lsq, SOCK_SEQPACKET, aname, 1);
			for (int i = 0; i < 100 && !bad; i++)
				exchange_one();
			if (!bad && exchanged < before + 100)
				FAIL("the exchange stalled");
			if (!bad && queue_all())
				FAIL("cannot queue the messages again: %s", strerror(errno));
			if (bad)
				printf("unixsk: verify BAD %s\n", why);
			else
				printf("unixsk: verify ok %llu\n", (unsigned long long)exchanged);
			bad = 0;
		}
		if (poll(&p, 1, 100) > 0)
			exchange_one();
		if (bad) {
			printf("unixsk: verify BAD %s\n", why);
			bad = 0;
		}
	}
}
