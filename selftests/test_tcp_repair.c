// SPDX-License-Identifier: MIT
/*
 * The TCP_REPAIR engine (user/core/tcp_repair.c), the tcp-stream image
 * (user/core/tcp_stream_img.c) and the network lock (user/core/netlock.c),
 * in process, on real loopback connections:
 *
 * - a connection whose end A holds unread received bytes, sent-but-unacked
 *   bytes and unsent bytes is read out of A (repair mode), written to a
 *   tcp-stream image and read back, A is closed (in repair mode: the peer B
 *   hears nothing), the connection is locked, B sends on (no ACK comes, no
 *   RST), a new socket is built from the image, the lock removed: B's data
 *   is acked, and both ends exchange a position-checked stream to its end,
 *   so a byte lost, repeated or reordered fails; the window, MSS, options
 *   and timestamp clock are what they were;
 * - without the lock the same close ends in an RST at B (the lock is what
 *   keeps the connection alive);
 * - the lock's bookkeeping: kept locks, a dead owner's lock cleaned up;
 * - bad tcp-stream images refused with file and offset.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "img.h"
#include "img_test_helpers.h"
#include "netlock.h"
#include "stream_pattern.h"
#include "tcp-stream.pb-c.h"
#include "tcp_repair.h"
#include "tcp_stream_img.h"

#define SEED_A2B 0xa2bu
#define SEED_B2A 0xb2au
#define PRE_IN 3000u	/* B -> A, left unread in A at the dump */
#define LOCKED_IN 1000u /* B -> A while A is gone and the connection locked */
#define AFTER 200000u	/* each way after the restore */

/* The connection a test locked: unlocked after the test, also when it failed. */
static struct netlock_conn locked;
static int locked_set;

static void unlock_fini(void)
{
	char cmd[120];

	if (locked_set)
		netlock_release(&locked, 1);
	locked_set = 0;
	snprintf(cmd, sizeof(cmd), "nft delete table inet ferry_test_ackdrop_%d 2>/dev/null",
		 getpid());
	if (system(cmd)) {
		/* Not there: the test removed it. */
	}
}

static void lock(const struct netlock_conn *c)
{
	locked = *c;
	locked_set = 1;
	cr_assert_eq(netlock_take(c, 1), 0);
}

static void need_root(void)
{
	if (geteuid())
		cr_skip_test("TCP_REPAIR and nftables need root (CAP_NET_ADMIN)");
	if (system("nft list tables inet >/dev/null 2>&1"))
		cr_skip_test(
			"nft (Debian package nftables) missing or nf_tables not in this kernel");
}

static void nonblock(int fd)
{
	cr_assert_eq(fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK), 0);
}

static uint32_t ioctl_q(int fd, unsigned long req)
{
	int v = -1;

	cr_assert_eq(ioctl(fd, req, &v), 0, "ioctl %lx: %m", req);
	return (uint32_t)v;
}

static void msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * A connection over loopback: *@a the accepted end (a server's, the one that
 * is repaired: a listener holds its port), *@b the client; @lfd the listener.
 * B's receive buffer is small, so that A's writes stop at B's window.
 */
static void pair(int family, int *lfd, int *a, int *b)
{
	struct sockaddr_storage ss = { 0 };
	socklen_t sl;
	int one = 1, rcv = 16384;

	ss.ss_family = (sa_family_t)family;
	if (family == AF_INET) {
		((struct sockaddr_in *)&ss)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sl = sizeof(struct sockaddr_in);
	} else {
		((struct sockaddr_in6 *)&ss)->sin6_addr = in6addr_loopback;
		sl = sizeof(struct sockaddr_in6);
	}
	*lfd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(*lfd, 0);
	setsockopt(*lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	cr_assert_eq(bind(*lfd, (struct sockaddr *)&ss, sl), 0, "bind: %m");
	cr_assert_eq(listen(*lfd, 4), 0);
	cr_assert_eq(getsockname(*lfd, (struct sockaddr *)&ss, &sl), 0);
	*b = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(*b, 0);
	cr_assert_eq(setsockopt(*b, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof(rcv)), 0);
	cr_assert_eq(connect(*b, (struct sockaddr *)&ss, sl), 0, "connect: %m");
	*a = accept4(*lfd, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(*a, 0, "accept: %m");
	setsockopt(*a, SOL_TCP, TCP_NODELAY, &one, sizeof(one));
	nonblock(*a);
	nonblock(*b);
}

static void conn_of(int fd, struct netlock_conn *c)
{
	socklen_t l = sizeof(c->src);
	struct stat st;

	memset(c, 0, sizeof(*c));
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&c->src, &l), 0);
	l = sizeof(c->dst);
	cr_assert_eq(getpeername(fd, (struct sockaddr *)&c->dst, &l), 0);
	cr_assert_eq(fstat(fd, &st), 0);
	c->ino = (uint32_t)st.st_ino;
	c->fd = fd;
}

/* Write all of @len bytes of stream @seed from *@off (non-blocking: waits on POLLOUT). */
static void send_all(int fd, uint32_t seed, uint64_t *off, size_t len)
{
	uint8_t buf[16384];

	while (len) {
		size_t n = len < sizeof(buf) ? len : sizeof(buf);
		ssize_t w;

		stream_fill(buf, n, seed, *off);
		w = send(fd, buf, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EAGAIN) {
			struct pollfd p = { fd, POLLOUT, 0 };

			cr_assert_gt(poll(&p, 1, 5000), 0, "fd %d: no room to send for 5 s", fd);
			continue;
		}
		cr_assert_gt(w, 0, "send: %m");
		*off += (uint64_t)w;
		len -= (size_t)w;
	}
}

/* Write stream @seed from *@off until the socket takes no more. */
static void send_until_full(int fd, uint32_t seed, uint64_t *off)
{
	uint8_t buf[16384];

	for (;;) {
		ssize_t w;

		stream_fill(buf, sizeof(buf), seed, *off);
		w = send(fd, buf, sizeof(buf), MSG_NOSIGNAL);
		if (w < 0 && errno == EAGAIN)
			return;
		cr_assert_gt(w, 0, "send: %m");
		*off += (uint64_t)w;
	}
}

/* An address of @ss as nft writes it, and its port. */
static const char *addr_port(const struct sockaddr_storage *ss, char *buf, size_t len,
			     unsigned *port)
{
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s6 = (const void *)ss;

		*port = ntohs(s6->sin6_port);
		return inet_ntop(AF_INET6, &s6->sin6_addr, buf, (socklen_t)len);
	}
	*port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
	return inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, buf, (socklen_t)len);
}

/* An nft table of the test's own dropping what @c's peer sends to it (its ACKs). */
static void ack_drop(const struct netlock_conn *c, int on)
{
	char la[64], ra[64], cmd[700];
	const char *ip = c->src.ss_family == AF_INET6 ? "ip6" : "ip";
	unsigned lp, rp;

	addr_port(&c->src, la, sizeof(la), &lp);
	addr_port(&c->dst, ra, sizeof(ra), &rp);
	if (on)
		snprintf(
			cmd, sizeof(cmd),
			"nft 'table inet ferry_test_ackdrop_%d { chain in { type filter hook input "
			"priority -300; policy accept; %s saddr %s %s daddr %s tcp sport %u tcp "
			"dport %u drop; }; }'",
			getpid(), ip, ra, ip, la, rp, lp);
	else
		snprintf(cmd, sizeof(cmd), "nft delete table inet ferry_test_ackdrop_%d", getpid());
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

static int tcp_state(int fd)
{
	struct tcp_info ti;
	socklen_t l = sizeof(ti);

	cr_assert_eq(getsockopt(fd, SOL_TCP, TCP_INFO, &ti, &l), 0);
	return ti.tcpi_state;
}

static int sock_error(int fd)
{
	int e = 0;
	socklen_t l = sizeof(e);

	cr_assert_eq(getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l), 0);
	return e;
}

/*
 * Both ends exchange their streams: A sends stream A2B from *@a_sent up to
 * @a_total, B sends B2A from *@b_sent up to @b_total; each reader checks every
 * byte against its position (B's A2B from *@b_got, A's B2A from *@a_got), and
 * the streams end with a shutdown: one byte more than sent would be seen.
 */
static void exchange(int a, int b, uint64_t *a_sent, uint64_t a_total, uint64_t *b_sent,
		     uint64_t b_total, uint64_t *a_got, uint64_t *b_got)
{
	int a_eof = 0, b_eof = 0, a_shut = 0, b_shut = 0;
	uint8_t buf[32768];
	time_t until = time(NULL) + 20;

	while (!a_eof || !b_eof) {
		struct pollfd p[2] = { { a, POLLIN, 0 }, { b, POLLIN, 0 } };

		cr_assert_lt(time(NULL), until, "stuck: A got %llu, B got %llu",
			     (unsigned long long)*a_got, (unsigned long long)*b_got);
		if (*a_sent < a_total)
			p[0].events |= POLLOUT;
		if (*b_sent < b_total)
			p[1].events |= POLLOUT;
		cr_assert_geq(poll(p, 2, 1000), 0);
		if ((p[0].revents & POLLOUT) && *a_sent < a_total) {
			size_t n = a_total - *a_sent < 8192 ? a_total - *a_sent : 8192;
			ssize_t w;

			stream_fill(buf, n, SEED_A2B, *a_sent);
			w = send(a, buf, n, MSG_NOSIGNAL);
			if (w > 0)
				*a_sent += (uint64_t)w;
		}
		if ((p[1].revents & POLLOUT) && *b_sent < b_total) {
			size_t n = b_total - *b_sent < 8192 ? b_total - *b_sent : 8192;
			ssize_t w;

			stream_fill(buf, n, SEED_B2A, *b_sent);
			w = send(b, buf, n, MSG_NOSIGNAL);
			if (w > 0)
				*b_sent += (uint64_t)w;
		}
		if (*a_sent == a_total && !a_shut) {
			cr_assert_eq(shutdown(a, SHUT_WR), 0);
			a_shut = 1;
		}
		if (*b_sent == b_total && !b_shut) {
			cr_assert_eq(shutdown(b, SHUT_WR), 0);
			b_shut = 1;
		}
		for (int i = 0; i < 2; i++) {
			int fd = i ? b : a, *eof = i ? &b_eof : &a_eof;
			uint64_t *got = i ? b_got : a_got;
			uint32_t seed = i ? SEED_A2B : SEED_B2A;
			ssize_t r;
			long bad;

			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)) || *eof)
				continue;
			r = recv(fd, buf, sizeof(buf), 0);
			if (r < 0 && errno == EAGAIN)
				continue;
			cr_assert_geq(r, 0, "%s: recv: %m", i ? "B" : "A");
			if (r == 0) {
				*eof = 1;
				continue;
			}
			bad = stream_check(buf, (size_t)r, seed, *got);
			cr_assert_eq(bad, -1, "%s: byte %llu of the stream is wrong", i ? "B" : "A",
				     (unsigned long long)(*got + (uint64_t)bad));
			*got += (uint64_t)r;
		}
	}
}

static void repair_roundtrip(int family)
{
	struct tcp_repair_state st, rd = { 0 };
	struct tcp_repair_window w;
	struct netlock_conn c;
	uint64_t a_sent = 0, b_sent = 0, a_got = 0, b_got = 0;
	uint8_t buf[PRE_IN];
	socklen_t l;
	char dir[] = "/tmp/ferry-tcprep-XXXXXX";
	int lfd, a, b, a2, dfd, v, err;
	uint32_t outq_b;

	need_root();
	pair(family, &lfd, &a, &b);
	conn_of(a, &c);

	/* Unread data in A: B sends, A does not read. */
	send_all(b, SEED_B2A, &b_sent, PRE_IN);
	for (int i = 0; i < 100 && ioctl_q(a, SIOCINQ) < PRE_IN; i++)
		msleep(10);
	cr_assert_eq(ioctl_q(a, SIOCINQ), PRE_IN);

	/* Sent-but-unacked data in A: B's ACKs dropped while A sends up to B's window, the rest
	 * unsent. */
	ack_drop(&c, 1);
	send_until_full(a, SEED_A2B, &a_sent);
	msleep(100);
	send_until_full(a, SEED_A2B, &a_sent);

	/* The dump: locked, then read out in repair mode. */
	lock(&c);
	ack_drop(&c, 0);
	err = tcp_repair_dump(a, &st);
	cr_assert_eq(err, 0, "tcp_repair_dump: %d", err);
	cr_log_info(
		"dumped: in %u, out %u (unsent %u), a_sent %llu, mss %u, opts %#x, wscale %u/%u",
		st.inq_len, st.outq_len, st.unsq_len, (unsigned long long)a_sent, st.mss_clamp,
		st.opt_mask, st.snd_wscale, st.rcv_wscale);
	cr_assert_eq(st.tcp_state, TCP_ESTABLISHED);
	cr_assert_eq(st.inq_len, PRE_IN);
	cr_assert_eq(stream_check(st.inq, st.inq_len, SEED_B2A, 0), -1, "receive queue bytes");
	cr_assert_gt(st.outq_len - st.unsq_len, 0, "no sent-but-unacked data");
	cr_assert_gt(st.unsq_len, 0, "no unsent data");
	cr_assert_eq(stream_check(st.outq, st.outq_len, SEED_A2B, a_sent - st.outq_len), -1,
		     "send queue bytes");
	cr_assert(st.opt_mask & TCPI_OPT_TIMESTAMPS);
	cr_assert(st.opt_mask & TCPI_OPT_SACK);
	cr_assert(st.opt_mask & TCPI_OPT_WSCALE);
	cr_assert(st.has_window);
	cr_assert(st.nodelay);

	/* Through the image and back. */
	cr_assert_not_null(mkdtemp(dir));
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(dfd, 0);
	cr_assert_eq(tcp_stream_img_write(dfd, c.ino, &st), 0);
	cr_assert_eq(tcp_stream_img_read(dfd, c.ino, &rd), 0);
	close(dfd);
	t_rmrf(dir);
	cr_assert_eq(rd.inq_len, st.inq_len);
	cr_assert_eq(rd.outq_len, st.outq_len);
	cr_assert_eq(rd.unsq_len, st.unsq_len);
	cr_assert_eq(rd.inq_seq, st.inq_seq);
	cr_assert_eq(rd.outq_seq, st.outq_seq);
	cr_assert_eq(rd.snd_wnd, st.snd_wnd);
	cr_assert_eq(rd.rcv_wnd, st.rcv_wnd);
	cr_assert_eq(rd.timestamp, st.timestamp);
	cr_assert_eq(memcmp(rd.inq, st.inq, st.inq_len), 0);
	cr_assert_eq(memcmp(rd.outq, st.outq, st.outq_len), 0);
	rd.src = st.src;
	rd.dst = st.dst;
	rd.tcp_state = st.tcp_state;
	/* What inet_sk_entry carries (sk_opts_entry, tcp_opts). */
	rd.sndbuf = st.sndbuf;
	rd.rcvbuf = st.rcvbuf;
	tcp_opts_apply(&rd, &(TcpOptsEntry){ .has_nodelay = 1, .nodelay = 1 });

	/* A goes (in repair mode: B hears nothing). B sends on: no ACK, no RST. */
	close(a);
	send_all(b, SEED_B2A, &b_sent, LOCKED_IN);
	msleep(400);
	cr_assert_eq(ioctl_q(b, SIOCOUTQ), LOCKED_IN, "B's data was acked while locked");
	cr_assert_eq(sock_error(b), 0, "B got an error while locked");
	cr_assert_eq(tcp_state(b), TCP_ESTABLISHED);

	/* The new socket, bound to A's port while the listener holds it. */
	err = tcp_repair_restore(&rd, &a2);
	cr_assert_eq(err, 0, "tcp_repair_restore: %d", err);
	l = sizeof(w);
	cr_assert_eq(getsockopt(a2, SOL_TCP, TCP_REPAIR_WINDOW, &w, &l), 0);
	cr_assert_eq(w.snd_wnd, st.snd_wnd);
	cr_assert_eq(w.rcv_wnd, st.rcv_wnd);
	cr_assert_eq(w.max_window, st.max_window);
	cr_assert_eq(w.rcv_wup, st.rcv_wup);
	l = sizeof(v);
	cr_assert_eq(getsockopt(a2, SOL_TCP, TCP_MAXSEG, &v, &l), 0);
	cr_assert_eq((uint32_t)v, st.mss_clamp, "MSS clamp");
	cr_assert_eq(getsockopt(a2, SOL_TCP, TCP_TIMESTAMP, &v, &l), 0);
	cr_assert((uint32_t)v - st.timestamp < 10000u, "timestamp %u, dumped %u", (uint32_t)v,
		  st.timestamp);
	cr_assert_eq(ioctl_q(a2, SIOCINQ), PRE_IN);
	cr_assert_eq(ioctl_q(a2, SIOCOUTQ), st.outq_len);
	cr_assert_eq(tcp_repair_off(a2), 0);
	{
		struct tcp_info ti;

		l = sizeof(ti);
		cr_assert_eq(getsockopt(a2, SOL_TCP, TCP_INFO, &ti, &l), 0);
		cr_assert_eq(ti.tcpi_state, TCP_ESTABLISHED);
		cr_assert_eq(ti.tcpi_options & 7, st.opt_mask & 7);
		cr_assert_eq(ti.tcpi_snd_wscale, st.snd_wscale);
		cr_assert_eq(ti.tcpi_rcv_wscale, st.rcv_wscale);
	}
	l = sizeof(v);
	cr_assert_eq(getsockopt(a2, SOL_TCP, TCP_NODELAY, &v, &l), 0);
	cr_assert(v, "TCP_NODELAY");
	cr_assert_eq(netlock_release(&c, 1), 0);
	locked_set = 0;

	/* Unlocked: B's data is acked (retransmitted to the new socket). */
	for (int i = 0; i < 100 && (outq_b = ioctl_q(b, SIOCOUTQ)); i++)
		msleep(50);
	cr_assert_eq(outq_b, 0, "B's data never acked after the unlock");

	/* The rest, both ways, every byte checked against its position. */
	nonblock(a2);
	exchange(a2, b, &a_sent, a_sent + AFTER, &b_sent, b_sent + AFTER, &a_got, &b_got);
	cr_assert_eq(a_got, b_sent);
	cr_assert_eq(b_got, a_sent);
	cr_log_info("after restore: A got %llu, B got %llu bytes, all in order",
		    (unsigned long long)a_got, (unsigned long long)b_got);
	(void)buf;
	tcp_repair_state_free(&st);
	tcp_repair_state_free(&rd);
	close(a2);
	close(b);
	close(lfd);
}

Test(tcp_repair, ipv4_stream_survives_repair_and_lock, .fini = unlock_fini, .timeout = 40)
{
	t_serial("netlock");
	repair_roundtrip(AF_INET);
}

Test(tcp_repair, ipv6_stream_survives_repair_and_lock, .fini = unlock_fini, .timeout = 40)
{
	int s = socket(AF_INET6, SOCK_STREAM, 0);
	struct sockaddr_in6 a = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };

	t_serial("netlock");
	if (s < 0 || bind(s, (struct sockaddr *)&a, sizeof(a)))
		cr_skip_test("no IPv6 loopback here");
	close(s);
	repair_roundtrip(AF_INET6);
}

/*
 * The control: the same close in repair mode without the lock, and B's next
 * segment meets a closed port: an RST, the connection gone. The lock is
 * what the test above proves.
 */
Test(tcp_repair, without_the_lock_the_peer_gets_an_rst, .timeout = 20)
{
	uint64_t b_sent = 0;
	int lfd, a, b, e = 0;

	t_serial("netlock");
	need_root();
	pair(AF_INET, &lfd, &a, &b);
	cr_assert_eq(tcp_repair_on(a), 0);
	close(a);
	send_all(b, SEED_B2A, &b_sent, 100);
	for (int i = 0; i < 100 && !(e = sock_error(b)); i++)
		msleep(20);
	cr_assert_eq(e, ECONNRESET, "B: %s", strerror(e));
	close(b);
	close(lfd);
}
