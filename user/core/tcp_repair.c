// SPDX-License-Identifier: MIT
/*
 * The TCP_REPAIR engine (tcp_repair.h): read an established connection out
 * of a socket in repair mode, and build a new socket holding it.
 *
 * Sequence numbers, as the kernel keeps them:
 *
 *   send queue:    snd_una ... snd_nxt ... write_seq    (outq_seq = write_seq)
 *                  |<- sent, unacked ->|<- unsent ->|
 *   receive queue: copied_seq ... rcv_nxt               (inq_seq = rcv_nxt)
 *
 * TCP_QUEUE_SEQ reads the end of a queue; on restore it sets where the queue
 * starts, and writing the queue's bytes in repair mode moves it to the end.
 */
#define LOG_PREFIX "tcp-repair: "

#include <arpa/inet.h>
#include <errno.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"
#include "tcp_repair.h"

/* The TCPI_OPT_* bits a connection may carry (6.7 added USEC_TS, 64). */
#define TCPI_OPT_KNOWN 0x7fu
#define TCP_MAX_WSCALE 14u

const char *tcp_repair_addr_str(const struct sockaddr_storage *a, char *buf, size_t len)
{
	char ip[INET6_ADDRSTRLEN] = "?";

	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)a;

		inet_ntop(AF_INET, &s->sin_addr, ip, sizeof(ip));
		snprintf(buf, len, "%s:%u", ip, ntohs(s->sin_port));
	} else if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)a;

		inet_ntop(AF_INET6, &s->sin6_addr, ip, sizeof(ip));
		snprintf(buf, len, "[%s]:%u", ip, ntohs(s->sin6_port));
	} else {
		snprintf(buf, len, "(family %u)", a->ss_family);
	}
	return buf;
}

static socklen_t addr_len(const struct sockaddr_storage *a)
{
	return a->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
}

static int repair_set(int fd, int val)
{
	if (setsockopt(fd, SOL_TCP, TCP_REPAIR, &val, sizeof(val)))
		return -errno;
	return 0;
}

int tcp_repair_on(int fd)
{
	int err = repair_set(fd, TCP_REPAIR_ON);

	if (err)
		pr_err("fd %d: TCP_REPAIR on: %s", fd, strerror(-err));
	return err;
}

int tcp_repair_off(int fd)
{
	int err = repair_set(fd, TCP_REPAIR_OFF);

	if (err)
		pr_err("fd %d: TCP_REPAIR off: %s", fd, strerror(-err));
	return err;
}

/* Out of repair mode without the window probe (kernels before 4.19: with it). */
static int repair_off_quiet(int fd)
{
	int err = repair_set(fd, TCP_REPAIR_OFF_NO_WP);

	if (err == -EINVAL)
		err = repair_set(fd, TCP_REPAIR_OFF);
	return err;
}

int tcp_repair_leave(int fd, int reuseaddr)
{
	int one = 1, err = repair_off_quiet(fd);

	if (!err && reuseaddr && setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
		err = -errno;
	if (err)
		pr_err("fd %d: out of repair mode: %s", fd, strerror(-err));
	return err;
}

static int sockopt_get(int fd, int level, int name, void *val, socklen_t len, const char *what)
{
	socklen_t l = len;

	if (getsockopt(fd, level, name, val, &l)) {
		int err = -errno;

		pr_err("fd %d: getsockopt %s: %s", fd, what, strerror(-err));
		return err;
	}
	return 0;
}

static int sockopt_set(int fd, int level, int name, const void *val, socklen_t len,
		       const char *what)
{
	if (setsockopt(fd, level, name, val, len)) {
		int err = -errno;

		pr_err("fd %d: setsockopt %s: %s", fd, what, strerror(-err));
		return err;
	}
	return 0;
}

static int queue_select(int fd, int q)
{
	return sockopt_set(fd, SOL_TCP, TCP_REPAIR_QUEUE, &q, sizeof(q), "TCP_REPAIR_QUEUE");
}

static int sk_ioctl(int fd, unsigned long req, uint32_t *out, const char *what)
{
	int v;

	if (ioctl(fd, req, &v)) {
		int err = -errno;

		pr_err("fd %d: ioctl %s: %s", fd, what, strerror(-err));
		return err;
	}
	*out = (uint32_t)v;
	return 0;
}

/*
 * Read queue @q: its end sequence, and its @len bytes with one byte more asked
 * for, so that a queue that grew since it was measured is noticed.
 */
static int queue_read(int fd, int q, uint32_t *seq, uint32_t len, uint8_t **out)
{
	uint8_t *buf = NULL;
	ssize_t n;
	int err;

	err = queue_select(fd, q);
	if (err)
		goto out;
	err = sockopt_get(fd, SOL_TCP, TCP_QUEUE_SEQ, seq, sizeof(*seq), "TCP_QUEUE_SEQ");
	if (err || !len)
		goto out;
	buf = malloc((size_t)len + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out;
	}
	n = recv(fd, buf, (size_t)len + 1, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0) {
		err = -errno;
		pr_err("fd %d: peek of the %s queue (%u bytes): %s", fd,
		       q == TCP_SEND_QUEUE ? "send" : "receive", len, strerror(-err));
		goto out;
	}
	if ((size_t)n != len) {
		pr_err("fd %d: the %s queue holds %zd bytes, %u were counted: the connection "
		       "is not locked",
		       fd, q == TCP_SEND_QUEUE ? "send" : "receive", n, len);
		err = -EPROTO;
		goto out;
	}
	*out = buf;
	buf = NULL;
out:
	free(buf);
	return err;
}

static int read_opts(int fd, struct tcp_repair_state *st)
{
	struct tcp_info ti;
	socklen_t tl = sizeof(ti);
	int v, err;

	memset(&ti, 0, sizeof(ti));
	if (getsockopt(fd, SOL_TCP, TCP_INFO, &ti, &tl)) {
		err = -errno;
		pr_err("fd %d: TCP_INFO: %s", fd, strerror(-err));
		return err;
	}
	st->tcp_state = ti.tcpi_state;
	if (ti.tcpi_state != TCP_ESTABLISHED)
		return -EOPNOTSUPP;
	st->opt_mask = ti.tcpi_options;
	if (st->opt_mask & TCPI_OPT_WSCALE) {
		st->snd_wscale = ti.tcpi_snd_wscale;
		st->rcv_wscale = ti.tcpi_rcv_wscale;
	}
	err = sockopt_get(fd, SOL_TCP, TCP_MAXSEG, &v, sizeof(v), "TCP_MAXSEG");
	if (err)
		return err;
	st->mss_clamp = (uint32_t)v;
	if (st->opt_mask & TCPI_OPT_TIMESTAMPS) {
		err = sockopt_get(fd, SOL_TCP, TCP_TIMESTAMP, &v, sizeof(v), "TCP_TIMESTAMP");
		if (err)
			return err;
		st->timestamp = (uint32_t)v;
	}
	if (!sockopt_get(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v), "SO_SNDBUF"))
		st->sndbuf = (uint32_t)v;
	if (!sockopt_get(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v), "SO_RCVBUF"))
		st->rcvbuf = (uint32_t)v;
	if (!sockopt_get(fd, SOL_TCP, TCP_NODELAY, &v, sizeof(v), "TCP_NODELAY"))
		st->nodelay = !!v;
	if (!sockopt_get(fd, SOL_TCP, TCP_CORK, &v, sizeof(v), "TCP_CORK"))
		st->cork = !!v;
	if (!sockopt_get(fd, SOL_TCP, TCP_KEEPCNT, &v, sizeof(v), "TCP_KEEPCNT"))
		st->keepcnt = (uint32_t)v;
	if (!sockopt_get(fd, SOL_TCP, TCP_KEEPIDLE, &v, sizeof(v), "TCP_KEEPIDLE"))
		st->keepidle = (uint32_t)v;
	if (!sockopt_get(fd, SOL_TCP, TCP_KEEPINTVL, &v, sizeof(v), "TCP_KEEPINTVL"))
		st->keepintvl = (uint32_t)v;
	return 0;
}

static int read_window(int fd, struct tcp_repair_state *st)
{
	struct tcp_repair_window w;
	socklen_t l = sizeof(w);

	if (getsockopt(fd, SOL_TCP, TCP_REPAIR_WINDOW, &w, &l)) {
		int err = -errno;

		/* Older than 4.8: the window is learnt again from the peer. */
		if (err == -ENOPROTOOPT)
			return 0;
		pr_err("fd %d: TCP_REPAIR_WINDOW: %s", fd, strerror(-err));
		return err;
	}
	st->has_window = 1;
	st->snd_wl1 = w.snd_wl1;
	st->snd_wnd = w.snd_wnd;
	st->max_window = w.max_window;
	st->rcv_wnd = w.rcv_wnd;
	st->rcv_wup = w.rcv_wup;
	return 0;
}

int tcp_repair_dump(int fd, struct tcp_repair_state *st)
{
	socklen_t sl = sizeof(st->src), dl = sizeof(st->dst);
	int err, v;

	memset(st, 0, sizeof(*st));
	if (getsockname(fd, (struct sockaddr *)&st->src, &sl) ||
	    getpeername(fd, (struct sockaddr *)&st->dst, &dl)) {
		err = -errno;
		pr_err("fd %d: the connection's addresses: %s", fd, strerror(-err));
		goto out;
	}
	if (!sockopt_get(fd, SOL_SOCKET, SO_REUSEADDR, &v, sizeof(v), "SO_REUSEADDR"))
		st->reuseaddr = !!v;
	err = tcp_repair_on(fd);
	if (err)
		goto out;
	err = read_opts(fd, st);
	if (err == -EOPNOTSUPP)
		pr_err("fd %d: TCP state %u: only ESTABLISHED connections are repaired", fd,
		       st->tcp_state);
	if (err)
		goto out;
	err = sk_ioctl(fd, SIOCOUTQ, &st->outq_len, "SIOCOUTQ");
	if (!err)
		err = sk_ioctl(fd, SIOCOUTQNSD, &st->unsq_len, "SIOCOUTQNSD");
	if (!err)
		err = sk_ioctl(fd, SIOCINQ, &st->inq_len, "SIOCINQ");
	if (err)
		goto out;
	if (st->inq_len > TCP_REPAIR_MAX_QUEUE || st->outq_len > TCP_REPAIR_MAX_QUEUE ||
	    st->unsq_len > st->outq_len) {
		pr_err("fd %d: queues of %u (in), %u (out, %u unsent) bytes", fd, st->inq_len,
		       st->outq_len, st->unsq_len);
		err = -EFBIG;
		goto out;
	}
	err = read_window(fd, st);
	if (err)
		goto out;
	err = queue_read(fd, TCP_RECV_QUEUE, &st->inq_seq, st->inq_len, &st->inq);
	if (err)
		goto out;
	err = queue_read(fd, TCP_SEND_QUEUE, &st->outq_seq, st->outq_len, &st->outq);
	if (err)
		goto out;
	err = queue_select(fd, TCP_NO_QUEUE);
out:
	if (err)
		tcp_repair_state_free(st);
	return err;
}

int tcp_repair_check(const struct tcp_repair_state *st, const char **why)
{
	*why = NULL;
	if (st->tcp_state != TCP_ESTABLISHED)
		*why = "not an ESTABLISHED connection";
	else if (st->inq_len > TCP_REPAIR_MAX_QUEUE || st->outq_len > TCP_REPAIR_MAX_QUEUE)
		*why = "a queue larger than 64 MiB";
	else if (st->unsq_len > st->outq_len)
		*why = "more unsent bytes than bytes in the send queue";
	else if ((st->inq_len && !st->inq) || (st->outq_len && !st->outq))
		*why = "queue bytes missing";
	else if (st->opt_mask & ~TCPI_OPT_KNOWN)
		*why = "unknown TCP option bits";
	else if (st->snd_wscale > TCP_MAX_WSCALE || st->rcv_wscale > TCP_MAX_WSCALE)
		*why = "a window scale over 14";
	else if (!st->mss_clamp || st->mss_clamp > 65535)
		*why = "an MSS of 0 or over 65535";
	else if (st->src.ss_family != st->dst.ss_family ||
		 (st->src.ss_family != AF_INET && st->src.ss_family != AF_INET6))
		*why = "addresses not both IPv4 or both IPv6";
	return *why ? -EINVAL : 0;
}

/*
 * Write @len bytes of @buf into the socket. In repair mode the kernel makes
 * one linear buffer of what it is given and may refuse a large one: halve the
 * chunk then (CRIU does the same).
 */
static int queue_write(int fd, const uint8_t *buf, uint32_t len, const char *what)
{
	size_t max = len, off = 0;
	int err = 0;

	while (off < len) {
		size_t chunk = len - off < max ? len - off : max;
		ssize_t n = send(fd, buf + off, chunk, MSG_DONTWAIT | MSG_NOSIGNAL);

		if (n > 0) {
			off += (size_t)n;
			continue;
		}
		err = n < 0 ? -errno : -EIO;
		if (max > 1024) {
			max /= 2;
			continue;
		}
		pr_err("fd %d: writing the %s (%zu of %u bytes in): %s", fd, what, off, len,
		       strerror(-err));
		return err;
	}
	return 0;
}

static int set_opts(int fd, const struct tcp_repair_state *st)
{
	struct tcp_repair_opt opts[4];
	int n = 0, err, v;

	if (st->opt_mask & TCPI_OPT_SACK)
		opts[n++] = (struct tcp_repair_opt){ TCPOPT_SACK_PERMITTED, 0 };
	if (st->opt_mask & TCPI_OPT_WSCALE)
		opts[n++] = (struct tcp_repair_opt){ TCPOPT_WINDOW,
						     st->snd_wscale | (st->rcv_wscale << 16) };
	if (st->opt_mask & TCPI_OPT_TIMESTAMPS)
		opts[n++] = (struct tcp_repair_opt){ TCPOPT_TIMESTAMP, 0 };
	opts[n++] = (struct tcp_repair_opt){ TCPOPT_MAXSEG, st->mss_clamp };
	err = sockopt_set(fd, SOL_TCP, TCP_REPAIR_OPTIONS, opts, n * sizeof(opts[0]),
			  "TCP_REPAIR_OPTIONS");
	if (err)
		return err;
	if (st->opt_mask & TCPI_OPT_TIMESTAMPS) {
		v = (int)st->timestamp;
		err = sockopt_set(fd, SOL_TCP, TCP_TIMESTAMP, &v, sizeof(v), "TCP_TIMESTAMP");
	}
	return err;
}

static int set_window(int fd, const struct tcp_repair_state *st)
{
	struct tcp_repair_window w = {
		.snd_wl1 = st->snd_wl1,
		.snd_wnd = st->snd_wnd,
		.max_window = st->max_window,
		.rcv_wnd = st->rcv_wnd,
		.rcv_wup = st->rcv_wup,
	};

	if (!st->has_window)
		return 0;
	return sockopt_set(fd, SOL_TCP, TCP_REPAIR_WINDOW, &w, sizeof(w), "TCP_REPAIR_WINDOW");
}

static int set_stream_opts(int fd, const struct tcp_repair_state *st)
{
	int err = 0, v;

	v = st->nodelay;
	if (v)
		err = sockopt_set(fd, SOL_TCP, TCP_NODELAY, &v, sizeof(v), "TCP_NODELAY");
	v = st->cork;
	if (!err && v)
		err = sockopt_set(fd, SOL_TCP, TCP_CORK, &v, sizeof(v), "TCP_CORK");
	v = (int)st->keepcnt;
	if (!err && v)
		err = sockopt_set(fd, SOL_TCP, TCP_KEEPCNT, &v, sizeof(v), "TCP_KEEPCNT");
	v = (int)st->keepidle;
	if (!err && v)
		err = sockopt_set(fd, SOL_TCP, TCP_KEEPIDLE, &v, sizeof(v), "TCP_KEEPIDLE");
	v = (int)st->keepintvl;
	if (!err && v)
		err = sockopt_set(fd, SOL_TCP, TCP_KEEPINTVL, &v, sizeof(v), "TCP_KEEPINTVL");
	return err;
}

/*
 * The buffers: what the socket had, and at least twice its queue (an skb's
 * overhead counts against the buffer too), so that writing the queues back
 * never waits for room that nothing would make.
 */
static int set_buffers(int fd, const struct tcp_repair_state *st)
{
	uint64_t snd = st->sndbuf, rcv = st->rcvbuf;
	int v, err = 0;

	if (snd < 2ull * st->outq_len)
		snd = 2ull * st->outq_len;
	if (rcv < 2ull * st->inq_len)
		rcv = 2ull * st->inq_len;
	/* The kernel doubles what it is given. */
	v = (int)(snd / 2);
	if (v)
		err = sockopt_set(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof(v), "SO_SNDBUFFORCE");
	v = (int)(rcv / 2);
	if (!err && v)
		err = sockopt_set(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v), "SO_RCVBUFFORCE");
	return err;
}

/* Bind to the old local address; one that is not (yet) on this host with IP_FREEBIND. */
static int bind_local(int fd, const struct sockaddr_storage *src)
{
	int one = 1, zero = 0, lvl, opt, err = 0;

	if (!bind(fd, (const struct sockaddr *)src, addr_len(src)))
		return 0;
	err = -errno;
	if (err != -EADDRNOTAVAIL)
		return err;
	lvl = src->ss_family == AF_INET6 ? SOL_IPV6 : SOL_IP;
	opt = src->ss_family == AF_INET6 ? IPV6_FREEBIND : IP_FREEBIND;
	if (setsockopt(fd, lvl, opt, &one, sizeof(one)))
		return -errno;
	err = bind(fd, (const struct sockaddr *)src, addr_len(src)) ? -errno : 0;
	/* Only bind needed it: the program never asked for it. */
	setsockopt(fd, lvl, opt, &zero, sizeof(zero));
	return err;
}

static int build(int fd, const struct tcp_repair_state *st, const char *conn)
{
	uint32_t sent = st->outq_len - st->unsq_len, seq;
	int err;

	err = tcp_repair_on(fd);
	if (err)
		return err;
	err = bind_local(fd, &st->src);
	if (err) {
		pr_err("%s: bind to the local address: %s", conn, strerror(-err));
		return err;
	}
	err = queue_select(fd, TCP_RECV_QUEUE);
	seq = st->inq_seq - st->inq_len;
	if (!err)
		err = sockopt_set(fd, SOL_TCP, TCP_QUEUE_SEQ, &seq, sizeof(seq), "TCP_QUEUE_SEQ");
	if (!err)
		err = queue_select(fd, TCP_SEND_QUEUE);
	seq = st->outq_seq - st->outq_len;
	if (!err)
		err = sockopt_set(fd, SOL_TCP, TCP_QUEUE_SEQ, &seq, sizeof(seq), "TCP_QUEUE_SEQ");
	if (err)
		return err;
	if (connect(fd, (const struct sockaddr *)&st->dst, addr_len(&st->dst))) {
		err = -errno;
		pr_err("%s: connect in repair mode: %s", conn, strerror(-err));
		return err;
	}
	err = set_opts(fd, st);
	if (!err)
		err = set_buffers(fd, st);
	if (!err && st->inq_len) {
		err = queue_select(fd, TCP_RECV_QUEUE);
		if (!err)
			err = queue_write(fd, st->inq, st->inq_len, "receive queue");
	}
	if (!err && sent) {
		err = queue_select(fd, TCP_SEND_QUEUE);
		if (!err)
			err = queue_write(fd, st->outq, sent, "sent part of the send queue");
	}
	if (!err && st->unsq_len) {
		/* Never seen by the peer: ordinary data, sent when the window allows. */
		err = repair_off_quiet(fd);
		if (!err)
			err = queue_write(fd, st->outq + sent, st->unsq_len,
					  "unsent part of the send queue");
		if (!err)
			err = tcp_repair_on(fd);
	}
	if (!err)
		err = set_window(fd, st);
	if (!err)
		err = set_stream_opts(fd, st);
	if (!err)
		err = queue_select(fd, TCP_NO_QUEUE);
	return err;
}

int tcp_repair_restore(const struct tcp_repair_state *st, int *fdp)
{
	char a[64], b[64], conn[140];
	const char *why;
	int fd = -1, err;

	*fdp = -1;
	snprintf(conn, sizeof(conn), "%s -> %s", tcp_repair_addr_str(&st->src, a, sizeof(a)),
		 tcp_repair_addr_str(&st->dst, b, sizeof(b)));
	err = tcp_repair_check(st, &why);
	if (err) {
		pr_err("%s: %s", conn, why);
		if (st->tcp_state != TCP_ESTABLISHED)
			err = -EOPNOTSUPP;
		goto out;
	}
	fd = socket(st->src.ss_family, SOCK_STREAM | SOCK_CLOEXEC, IPPROTO_TCP);
	if (fd < 0) {
		err = -errno;
		pr_err("%s: socket: %s", conn, strerror(-err));
		goto out;
	}
	err = build(fd, st, conn);
	if (err)
		goto out;
	pr_debug("%s: restored, %u+%u bytes queued (%u unsent), seq in %u out %u", conn,
		 st->inq_len, st->outq_len, st->unsq_len, st->inq_seq, st->outq_seq);
	*fdp = fd;
	fd = -1;
out:
	if (fd >= 0)
		close(fd); /* in repair mode: nothing reaches the peer */
	return err;
}

void tcp_repair_state_free(struct tcp_repair_state *st)
{
	free(st->inq);
	free(st->outq);
	st->inq = st->outq = NULL;
}
