// SPDX-License-Identifier: MIT
/*
 * TCP and UDP sockets across a dump and a restore (issue 19).
 *   inetsk DIR [established | pending | packet | raw]
 * The parent holds:
 * - a TCP listener on 127.0.0.1 (ephemeral port, backlog 9) with
 *   SO_REUSEADDR, SO_KEEPALIVE, TCP_KEEPIDLE 77, TCP_KEEPINTVL 11,
 *   TCP_KEEPCNT 5, TCP_NODELAY, SO_RCVBUF 65536, SO_PRIORITY 3, SO_MARK 42,
 *   O_NONBLOCK; shared with a forked child, which accepts on it and answers
 *   each connection with "child PID";
 * - a TCP listener on [::1], IPV6_V6ONLY, SO_REUSEPORT, and a dual-stack one
 *   on [::] (IPV6_V6ONLY off), which the parent accepts on and answers
 *   "parent PID";
 * - a TCP socket bound to 127.0.0.1 and never connected, and one not bound;
 * - a UDP socket bound to 127.0.0.1 and a UDP socket connected to it, with
 *   a datagram queued on it from the bound one (dropped by a restore, as a
 *   network may drop it);
 * - a NETLINK_ROUTE socket bound to its port id with group RTMGRP_LINK;
 * - per mode: an established connection (to a listener of its own on [::1],
 *   accepted: both ends held), a connection to the dual-stack listener not accepted, a
 *   packet or raw socket.
 * Prints "inetsk: pid P child C ready v4 PORT v6 PORT dual PORT". On
 * SIGUSR1 the parent checks each socket's name and options, connects to
 * the v4 listener (the child must answer), exchanges datagrams both ways on
 * the UDP pair (after draining what was queued), dumps the links
 * (RTM_GETLINK) through the netlink socket and expects "lo" among them, and prints "inetsk: verify
 * ok" or "inetsk: verify BAD what".
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

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

#define CHECK(c)                                                             \
	do {                                                                 \
		if (!(c))                                                    \
			FAIL("%s (line %d, errno %d)", #c, __LINE__, errno); \
	} while (0)

struct sk {
	int v4, v6, dual, bound, fresh, ubound, uconn, nl;
	unsigned int nlpid;
	int port4, port6, portd, portb, portu;
};

static int port_of(int s)
{
	struct sockaddr_in6 a;
	socklen_t l = sizeof(a);

	if (getsockname(s, (struct sockaddr *)&a, &l))
		return -1;
	return ntohs(a.sin6_port); /* sin_port and sin6_port sit at the same offset */
}

static int opt(int s, int level, int o)
{
	int v = -1;
	socklen_t l = sizeof(v);

	if (getsockopt(s, level, o, &v, &l))
		return -1;
	return v;
}

static void seti(int s, int level, int o, int v)
{
	if (setsockopt(s, level, o, &v, sizeof(v)))
		FAIL("setsockopt %d/%d: %s", level, o, strerror(errno));
}

static int tcp_listener(int fam, const char *addr, int backlog)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6 };
	struct sockaddr_in a4 = { .sin_family = AF_INET };
	int s = socket(fam, SOCK_STREAM, 0);

	if (fam == AF_INET6) {
		inet_pton(AF_INET6, addr, &a6.sin6_addr);
		seti(s, SOL_IPV6, IPV6_V6ONLY, strcmp(addr, "::") != 0);
		if (strcmp(addr, "::"))
			seti(s, SOL_SOCKET, SO_REUSEPORT, 1);
		if (bind(s, (struct sockaddr *)&a6, sizeof(a6)))
			FAIL("bind [%s]: %s", addr, strerror(errno));
	} else {
		inet_pton(AF_INET, addr, &a4.sin_addr);
		seti(s, SOL_SOCKET, SO_REUSEADDR, 1);
		seti(s, SOL_SOCKET, SO_KEEPALIVE, 1);
		seti(s, SOL_TCP, TCP_KEEPIDLE, 77);
		seti(s, SOL_TCP, TCP_KEEPINTVL, 11);
		seti(s, SOL_TCP, TCP_KEEPCNT, 5);
		seti(s, SOL_TCP, TCP_NODELAY, 1);
		seti(s, SOL_SOCKET, SO_RCVBUF, 65536);
		seti(s, SOL_SOCKET, SO_PRIORITY, 3);
		seti(s, SOL_SOCKET, SO_MARK, 42);
		if (bind(s, (struct sockaddr *)&a4, sizeof(a4)))
			FAIL("bind %s: %s", addr, strerror(errno));
	}
	if (listen(s, backlog))
		FAIL("listen: %s", strerror(errno));
	return s;
}

static int connect_to(int fam, const char *addr, int port, int type)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons(port) };
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons(port) };
	int s = socket(fam, type, 0), r;

	if (fam == AF_INET6) {
		inet_pton(AF_INET6, addr, &a6.sin6_addr);
		r = connect(s, (struct sockaddr *)&a6, sizeof(a6));
	} else {
		inet_pton(AF_INET, addr, &a4.sin_addr);
		r = connect(s, (struct sockaddr *)&a4, sizeof(a4));
	}
	if (r) {
		FAIL("connect %s port %d: %s", addr, port, strerror(errno));
		close(s);
		return -1;
	}
	return s;
}

static void answer(int l, const char *who)
{
	char msg[64];
	int c = accept(l, NULL, NULL);

	if (c < 0)
		return;
	snprintf(msg, sizeof(msg), "%s %d\n", who, getpid());
	if (write(c, msg, strlen(msg)) < 0)
		perror("inetsk: write");
	close(c);
}

static void child_loop(int l)
{
	int fl = fcntl(l, F_GETFL);

	for (;;) {
		struct pollfd p = { .fd = l, .events = POLLIN };

		/* The listener is O_NONBLOCK (shared with the parent): wait, then accept. */
		if (poll(&p, 1, -1) > 0)
			answer(l, "child");
		(void)fl;
	}
}

/* The netlink socket keeps its port id and group and answers an RTM_GETLINK dump. */
static void verify_netlink(const struct sk *k)
{
	struct {
		struct nlmsghdr nh;
		struct ifinfomsg ifi;
	} q = { .nh = { .nlmsg_len = sizeof(q),
			.nlmsg_type = RTM_GETLINK,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
			.nlmsg_seq = 7 } };
	struct sockaddr_nl a;
	socklen_t l = sizeof(a);
	static char buf[65536];
	int links = 0, lo = 0, done = 0;

	CHECK(getsockname(k->nl, (struct sockaddr *)&a, &l) == 0);
	if (a.nl_pid != k->nlpid || a.nl_groups != RTMGRP_LINK)
		FAIL("netlink socket: port id %u groups %#x, not %u and %#x", a.nl_pid, a.nl_groups,
		     k->nlpid, RTMGRP_LINK);
	CHECK(send(k->nl, &q, sizeof(q), 0) == sizeof(q));
	while (!done && !bad) {
		ssize_t n = recv(k->nl, buf, sizeof(buf), 0);

		if (n <= 0) {
			FAIL("netlink recv: %s", strerror(errno));
			break;
		}
		for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (size_t)n);
		     h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != 7)
				continue; /* a link event of RTMGRP_LINK */
			if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR) {
				done = 1;
				break;
			}
			if (h->nlmsg_type == RTM_NEWLINK) {
				struct ifinfomsg *ifi = NLMSG_DATA(h);
				struct rtattr *at = IFLA_RTA(ifi);
				int al = (int)IFLA_PAYLOAD(h);

				links++;
				for (; RTA_OK(at, al); at = RTA_NEXT(at, al))
					if (at->rta_type == IFLA_IFNAME &&
					    !strcmp(RTA_DATA(at), "lo"))
						lo = 1;
			}
		}
	}
	if (!bad && (!links || !lo))
		FAIL("RTM_GETLINK: %d links, lo %s", links, lo ? "found" : "missing");
}

static void verify(const struct sk *k, pid_t kid)
{
	char buf[64], want[64];
	int c, fl;
	ssize_t n;

	bad = 0;
	CHECK(port_of(k->v4) == k->port4);
	CHECK(port_of(k->v6) == k->port6);
	CHECK(port_of(k->dual) == k->portd);
	CHECK(port_of(k->bound) == k->portb);
	CHECK(port_of(k->fresh) == 0);
	CHECK(port_of(k->ubound) == k->portu);
	CHECK(opt(k->v4, SOL_SOCKET, SO_ACCEPTCONN) == 1);
	CHECK(opt(k->v4, SOL_SOCKET, SO_REUSEADDR) == 1);
	CHECK(opt(k->v4, SOL_SOCKET, SO_KEEPALIVE) == 1);
	CHECK(opt(k->v4, SOL_TCP, TCP_KEEPIDLE) == 77);
	CHECK(opt(k->v4, SOL_TCP, TCP_KEEPINTVL) == 11);
	CHECK(opt(k->v4, SOL_TCP, TCP_KEEPCNT) == 5);
	CHECK(opt(k->v4, SOL_TCP, TCP_NODELAY) == 1);
	CHECK(opt(k->v4, SOL_SOCKET, SO_RCVBUF) == 131072);
	CHECK(opt(k->v4, SOL_SOCKET, SO_PRIORITY) == 3);
	CHECK(opt(k->v4, SOL_SOCKET, SO_MARK) == 42);
	fl = fcntl(k->v4, F_GETFL);
	CHECK(fl >= 0 && (fl & O_NONBLOCK));
	CHECK(opt(k->v6, SOL_IPV6, IPV6_V6ONLY) == 1);
	CHECK(opt(k->v6, SOL_SOCKET, SO_REUSEPORT) == 1);
	CHECK(opt(k->dual, SOL_IPV6, IPV6_V6ONLY) == 0);
	CHECK(opt(k->dual, SOL_SOCKET, SO_ACCEPTCONN) == 1);
	CHECK(opt(k->bound, SOL_SOCKET, SO_ACCEPTCONN) == 0);
	/* The child answers on the shared v4 listener. */
	c = connect_to(AF_INET, "127.0.0.1", k->port4, SOCK_STREAM);
	if (c >= 0) {
		snprintf(want, sizeof(want), "child %d\n", kid);
		memset(buf, 0, sizeof(buf));
		n = read(c, buf, sizeof(buf) - 1);
		if (n <= 0 || strcmp(buf, want))
			FAIL("v4 listener answered '%s', not '%s'", buf, want);
		close(c);
	}
	/* UDP: drain what was queued (a restore drops it), then both ways. */
	while (recv(k->uconn, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
	CHECK(send(k->uconn, "ping", 4, 0) == 4);
	memset(buf, 0, sizeof(buf));
	n = recv(k->ubound, buf, sizeof(buf), 0);
	if (n != 4 || memcmp(buf, "ping", 4))
		FAIL("the bound UDP socket got %zd bytes '%s'", n, buf);
	{
		struct sockaddr_in to = { .sin_family = AF_INET };

		inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
		to.sin_port = htons((uint16_t)port_of(k->uconn));
		CHECK(sendto(k->ubound, "pong", 4, 0, (struct sockaddr *)&to, sizeof(to)) == 4);
		/* queued again, for the next dump */
		CHECK(sendto(k->ubound, "queued", 6, 0, (struct sockaddr *)&to, sizeof(to)) == 6);
	}
	memset(buf, 0, sizeof(buf));
	n = recv(k->uconn, buf, sizeof(buf), 0);
	if (n != 4 || memcmp(buf, "pong", 4))
		FAIL("the connected UDP socket got %zd bytes '%s'", n, buf);
	verify_netlink(k);
}

static void extra(const char *mode, const struct sk *k)
{
	if (!strcmp(mode, "established")) {
		/* Both ends held: a listener of its own, a connection to it, accepted. */
		int l = tcp_listener(AF_INET6, "::1", 1);

		connect_to(AF_INET6, "::1", port_of(l), SOCK_STREAM);
		CHECK(accept(l, NULL, NULL) >= 0);
	} else if (!strcmp(mode, "pending"))
		connect_to(AF_INET6, "::1", k->portd, SOCK_STREAM); /* nobody accepts */
	else if (!strcmp(mode, "packet"))
		CHECK(socket(AF_PACKET, SOCK_DGRAM, 0) >= 0);
	else if (!strcmp(mode, "raw"))
		CHECK(socket(AF_INET, SOCK_RAW, IPPROTO_ICMP) >= 0);
}

int main(int argc, char **argv)
{
	const char *mode = argc > 2 ? argv[2] : "";
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct sk k;
	pid_t kid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (int fd = 3; fd < 1024; fd++)
		close(fd);
	k.v4 = tcp_listener(AF_INET, "127.0.0.1", 9);
	fcntl(k.v4, F_SETFL, O_NONBLOCK);
	k.v6 = tcp_listener(AF_INET6, "::1", 4);
	k.dual = tcp_listener(AF_INET6, "::", 3);
	k.port4 = port_of(k.v4);
	k.port6 = port_of(k.v6);
	k.portd = port_of(k.dual);
	k.bound = socket(AF_INET, SOCK_STREAM, 0);
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	CHECK(bind(k.bound, (struct sockaddr *)&a, sizeof(a)) == 0);
	k.portb = port_of(k.bound);
	k.fresh = socket(AF_INET, SOCK_STREAM, 0);
	k.ubound = socket(AF_INET, SOCK_DGRAM, 0);
	CHECK(bind(k.ubound, (struct sockaddr *)&a, sizeof(a)) == 0);
	k.portu = port_of(k.ubound);
	k.uconn = connect_to(AF_INET, "127.0.0.1", k.portu, SOCK_DGRAM);
	k.nl = socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE);
	{
		struct sockaddr_nl nl = { .nl_family = AF_NETLINK, .nl_groups = RTMGRP_LINK };
		socklen_t l = sizeof(nl);

		CHECK(bind(k.nl, (struct sockaddr *)&nl, sizeof(nl)) == 0);
		CHECK(getsockname(k.nl, (struct sockaddr *)&nl, &l) == 0);
		k.nlpid = nl.nl_pid;
	}
	if (bad) {
		printf("inetsk: setup BAD %s\n", why);
		return 1;
	}
	kid = fork();
	if (kid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		child_loop(k.v4);
		_exit(0);
	}
	extra(mode, &k);
	{
		struct sockaddr_in to = { .sin_family = AF_INET };

		inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
		to.sin_port = htons((uint16_t)port_of(k.uconn));
		CHECK(sendto(k.ubound, "queued", 6, 0, (struct sockaddr *)&to, sizeof(to)) == 6);
	}
	if (bad) {
		printf("inetsk: setup BAD %s\n", why);
		kill(kid, SIGKILL);
		return 1;
	}
	signal(SIGUSR1, on_usr1);
	printf("inetsk: pid %d child %d ready v4 %d v6 %d dual %d\n", getpid(), kid, k.port4,
	       k.port6, k.portd);
	for (;;) {
		struct pollfd p[2] = { { .fd = k.v6, .events = POLLIN },
				       { .fd = k.dual, .events = POLLIN } };
		int np = strcmp(mode, "pending") ? 2 : 1;

		if (poll(p, np, 50) > 0) {
			for (int i = 0; i < np; i++)
				if (p[i].revents & POLLIN)
					answer(p[i].fd, "parent");
		}
		if (usr1) {
			usr1 = 0;
			verify(&k, kid);
			if (bad)
				printf("inetsk: verify BAD %s\n", why);
			else
				printf("inetsk: verify ok\n");
		}
	}
}
