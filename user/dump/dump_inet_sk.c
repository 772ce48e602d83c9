// SPDX-License-Identifier: MIT
/*
 * TCP and UDP sockets of the fd dumper (see dump_inet_sk.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#define LOG_PREFIX "files: "
#include "log.h"
#include "img.h"
#include "dump_files.h"
#include "dump_files_priv.h"
#include "dump_inet_sk.h"
#include "dump_tcp.h"

#include "fdinfo.pb-c.h"
#include "sk-inet.pb-c.h"
#include "sk-opts.pb-c.h"
#include "tcp-stream.pb-c.h"

#ifndef SO_BUF_LOCK
#define SO_BUF_LOCK 72
#endif
#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif

static const char *family_name(int f, char *buf, size_t size)
{
	switch (f) {
	case AF_INET:
		return "AF_INET";
	case AF_INET6:
		return "AF_INET6";
	case AF_NETLINK:
		return "AF_NETLINK";
	case AF_PACKET:
		return "AF_PACKET";
	case AF_UNIX:
		return "AF_UNIX";
	}
	snprintf(buf, size, "family %d", f);
	return buf;
}

static const char *type_name(int t, char *buf, size_t size)
{
	switch (t) {
	case SOCK_STREAM:
		return "SOCK_STREAM";
	case SOCK_DGRAM:
		return "SOCK_DGRAM";
	case SOCK_RAW:
		return "SOCK_RAW";
	case SOCK_SEQPACKET:
		return "SOCK_SEQPACKET";
	}
	snprintf(buf, size, "type %d", t);
	return buf;
}

static const char *tcp_state_name(uint32_t s)
{
	static const char *const n[] = { "?",	       "ESTABLISHED", "SYN_SENT",  "SYN_RECV",
					 "FIN_WAIT1",  "FIN_WAIT2",   "TIME_WAIT", "CLOSE",
					 "CLOSE_WAIT", "LAST_ACK",    "LISTEN",	   "CLOSING" };

	return s < sizeof(n) / sizeof(n[0]) ? n[s] : "?";
}

/* "[addr]:port" of one end of @s (@dst: the peer's). */
static const char *addr_str(const struct isk_dump *s, int dst, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN] = "?";

	inet_ntop((int)s->family, dst ? (const void *)s->dst : (const void *)s->src, a, sizeof(a));
	snprintf(buf, size, s->family == AF_INET6 ? "[%s]:%u" : "%s:%u", a,
		 dst ? s->dst_port : s->src_port);
	return buf;
}

static int get_opt(int lfd, int level, int opt, void *v, socklen_t len)
{
	socklen_t l = len;

	return getsockopt(lfd, level, opt, v, &l) ? -errno : 0;
}

static int get_u32(int lfd, int level, int opt, uint32_t *v)
{
	int i = 0, ret = get_opt(lfd, level, opt, &i, sizeof(i));

	*v = (uint32_t)i;
	return ret;
}

static int get_bool(int lfd, int level, int opt, int *v)
{
	int i = 0, ret = get_opt(lfd, level, opt, &i, sizeof(i));

	*v = !!i;
	return ret;
}

static int get_tmo(int lfd, int opt, uint64_t *us)
{
	struct timeval tv = { 0 };
	int ret = get_opt(lfd, SOL_SOCKET, opt, &tv, sizeof(tv));

	*us = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
	return ret;
}

/* One end's address from @a into @addr/@port. */
static void addr_take(const struct sockaddr_storage *a, uint32_t *addr, uint32_t *port)
{
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)a;

		memcpy(addr, &in->sin_addr, 4);
		*port = ntohs(in->sin_port);
	} else if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)a;

		memcpy(addr, &in6->sin6_addr, 16);
		*port = ntohs(in6->sin6_port);
	}
}

/* Addresses and TCP state of @s, from @lfd. */
static int read_ends(int lfd, struct isk_dump *s)
{
	struct sockaddr_storage a;
	socklen_t l = sizeof(a);

	if (getsockname(lfd, (struct sockaddr *)&a, &l))
		return -errno;
	addr_take(&a, s->src, &s->src_port);
	l = sizeof(a);
	memset(&a, 0, sizeof(a));
	if (!getpeername(lfd, (struct sockaddr *)&a, &l))
		addr_take(&a, s->dst, &s->dst_port);
	else if (errno != ENOTCONN)
		return -errno;
	if (s->proto == IPPROTO_TCP) {
		struct tcp_info ti;
		int ret = get_opt(lfd, SOL_TCP, TCP_INFO, &ti, sizeof(ti));

		if (ret)
			return ret;
		s->state = ti.tcpi_state;
		if (s->state == TCP_LISTEN) {
			s->backlog = ti.tcpi_sacked;	 /* sk_max_ack_backlog */
			s->unaccepted = ti.tcpi_unacked; /* sk_ack_backlog */
		}
	} else {
		/* The kernel marks a connected UDP socket TCP_ESTABLISHED, as CRIU records it. */
		s->state = s->dst_port ? TCP_ESTABLISHED : TCP_CLOSE;
	}
	return 0;
}

static int read_opts(int lfd, struct isk_dump *s)
{
	int ip = s->family == AF_INET6 ? SOL_IPV6 : SOL_IP;
	struct linger lg = { 0 };
	socklen_t dl = sizeof(s->bound_dev) - 1;
	int ret;

	ret = get_u32(lfd, SOL_SOCKET, SO_SNDBUF, &s->sndbuf);
	if (!ret)
		ret = get_u32(lfd, SOL_SOCKET, SO_RCVBUF, &s->rcvbuf);
	if (!ret)
		ret = get_tmo(lfd, SO_SNDTIMEO, &s->snd_tmo_us);
	if (!ret)
		ret = get_tmo(lfd, SO_RCVTIMEO, &s->rcv_tmo_us);
	if (!ret)
		ret = get_bool(lfd, SOL_SOCKET, SO_REUSEADDR, &s->reuseaddr);
	if (!ret)
		ret = get_bool(lfd, SOL_SOCKET, SO_REUSEPORT, &s->reuseport);
	if (!ret)
		ret = get_u32(lfd, SOL_SOCKET, SO_PRIORITY, &s->priority);
	if (!ret)
		ret = get_u32(lfd, SOL_SOCKET, SO_RCVLOWAT, &s->rcvlowat);
	if (!ret)
		ret = get_u32(lfd, SOL_SOCKET, SO_MARK, &s->mark);
	if (!ret)
		ret = get_bool(lfd, SOL_SOCKET, SO_KEEPALIVE, &s->keepalive);
	if (!ret)
		ret = get_bool(lfd, SOL_SOCKET, SO_BROADCAST, &s->broadcast);
	if (!ret)
		ret = get_bool(lfd, SOL_SOCKET, SO_OOBINLINE, &s->oobinline);
	if (!ret)
		ret = get_opt(lfd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
	if (!ret && getsockopt(lfd, SOL_SOCKET, SO_BINDTODEVICE, s->bound_dev, &dl))
		ret = -errno;
	if (ret)
		return ret;
	s->linger_on = !!lg.l_onoff;
	s->linger_s = (uint32_t)lg.l_linger;
	if (get_u32(lfd, SOL_SOCKET, SO_BUF_LOCK, &s->buf_lock))
		s->buf_lock = 0; /* before 5.14: the kernel did not say */
	if (s->proto == IPPROTO_TCP) {
		ret = get_bool(lfd, SOL_TCP, TCP_NODELAY, &s->nodelay);
		if (!ret)
			ret = get_bool(lfd, SOL_TCP, TCP_CORK, &s->cork);
		if (!ret)
			ret = get_u32(lfd, SOL_TCP, TCP_KEEPCNT, &s->keepcnt);
		if (!ret)
			ret = get_u32(lfd, SOL_TCP, TCP_KEEPIDLE, &s->keepidle);
		if (!ret)
			ret = get_u32(lfd, SOL_TCP, TCP_KEEPINTVL, &s->keepintvl);
	}
	if (!ret && s->family == AF_INET6)
		ret = get_bool(lfd, SOL_IPV6, IPV6_V6ONLY, &s->v6only);
	if (!ret)
		ret = get_bool(lfd, ip, s->family == AF_INET6 ? IPV6_FREEBIND : IP_FREEBIND,
			       &s->freebind);
	if (!ret)
		ret = get_u32(lfd, ip, s->family == AF_INET6 ? IPV6_TCLASS : IP_TOS, &s->tos);
	if (!ret)
		ret = get_u32(lfd, ip, s->family == AF_INET6 ? IPV6_UNICAST_HOPS : IP_TTL, &s->ttl);
	return ret;
}

/*
 * The --tcp-established hook (see dump_inet_sk.h): socket @s (fd @fd of
 * @pid, @link) is an established TCP connection. Called twice: by the
 * preflight (files_inet_classify, @dumping 0) and by files_inet_add
 * (@dumping 1), which then hands the socket to dump_tcp_conn() (the lock,
 * repair mode, tcp-stream-INO.img). Refused, named, without the option.
 */
static int isk_established(pid_t pid, int fd, const char *link, const struct isk_dump *s,
			   int dumping)
{
	char l[64], r[64];

	(void)dumping;
	if (dump_tcp_allowed())
		return dump_tcp_check(pid, fd, s->ino, s->family, s->src, s->src_port, s->dst,
				      s->dst_port);
	pr_err("pid %d fd %d: %s (%s, TCP) %s -> %s is an established connection: needs --tcp-established",
	       pid, fd, link, s->family == AF_INET6 ? "AF_INET6" : "AF_INET",
	       addr_str(s, 0, l, sizeof(l)), addr_str(s, 1, r, sizeof(r)));
	return -ENOTSUP;
}

/* Can socket @s (fd @fd of @pid) be dumped (@dumping: now)? 0, or -ENOTSUP logged. */
static int judge(pid_t pid, int fd, const char *link, const struct isk_dump *s, int dumping)
{
	const char *fam = s->family == AF_INET6 ? "AF_INET6" : "AF_INET";
	char l[64], r[64];

	if (s->proto != IPPROTO_TCP || (s->state == TCP_LISTEN && !s->unaccepted) ||
	    s->state == TCP_CLOSE)
		return 0;
	if (s->state == TCP_ESTABLISHED)
		return isk_established(pid, fd, link, s, dumping);
	if (s->state == TCP_LISTEN)
		pr_err("pid %d fd %d: %s (%s, TCP) listens on %s with %u connection(s) not accepted yet: not supported (they have no fd; CRIU cannot keep them either without --tcp-established)",
		       pid, fd, link, fam, addr_str(s, 0, l, sizeof(l)), s->unaccepted);
	else
		pr_err("pid %d fd %d: %s (%s, TCP) %s -> %s is in state %s: not supported (only listening, not connected and closed TCP sockets are)",
		       pid, fd, link, fam, addr_str(s, 0, l, sizeof(l)),
		       addr_str(s, 1, r, sizeof(r)), tcp_state_name(s->state));
	return -ENOTSUP;
}

/* Everything about socket @lfd (fd @fd of @pid) into @s. */
static int isk_read(pid_t pid, int fd, const char *link, int lfd, struct isk_dump *s)
{
	int ret = read_ends(lfd, s);

	if (!ret)
		ret = read_opts(lfd, s);
	if (ret)
		pr_errno(ret, "pid %d fd %d: %s: cannot read its addresses, state or options", pid,
			 fd, link);
	return ret;
}

/* A copy of fd @fd of @pid in ferry (the tree is stopped: ptrace allows it). */
static int grab_fd(pid_t pid, int fd)
{
	int pfd = (int)syscall(SYS_pidfd_open, pid, 0), lfd, err;

	if (pfd < 0)
		return -errno;
	lfd = (int)syscall(SYS_pidfd_getfd, pfd, fd, 0);
	err = lfd < 0 ? -errno : lfd;
	close(pfd);
	return err;
}

int files_inet_classify(pid_t pid, struct probe *p)
{
	char fb[24], tb[24];
	struct isk_dump s = { 0 };
	int lfd, fam = 0, type = 0, proto = 0, ret;

	lfd = grab_fd(pid, p->fd);
	if (lfd < 0) {
		pr_errno(lfd, "pid %d fd %d: %s: cannot take a copy of it", pid, p->fd, p->link);
		return lfd;
	}
	ret = get_opt(lfd, SOL_SOCKET, SO_DOMAIN, &fam, sizeof(fam));
	if (!ret)
		ret = get_opt(lfd, SOL_SOCKET, SO_TYPE, &type, sizeof(type));
	if (!ret)
		ret = get_opt(lfd, SOL_SOCKET, SO_PROTOCOL, &proto, sizeof(proto));
	if (ret) {
		pr_errno(ret, "pid %d fd %d: %s: cannot read its family, type and protocol", pid,
			 p->fd, p->link);
		goto out;
	}
	if (fam == AF_UNIX) {
		ret = -ENOENT;
		goto out;
	}
	if (fam == AF_NETLINK) { /* dump_netlink_sk.c; stateless requests and answers */
		p->type = FD_TYPES__NETLINKSK;
		goto out;
	}
	if ((fam != AF_INET && fam != AF_INET6) ||
	    !((type == SOCK_STREAM && proto == IPPROTO_TCP) ||
	      (type == SOCK_DGRAM && proto == IPPROTO_UDP))) {
		pr_err("pid %d fd %d: %s (%s, %s, protocol %d) is not supported (only AF_UNIX, AF_NETLINK, and TCP and UDP over AF_INET and AF_INET6 are)",
		       pid, p->fd, p->link, family_name(fam, fb, sizeof(fb)),
		       type_name(type, tb, sizeof(tb)), proto);
		ret = -ENOTSUP;
		goto out;
	}
	s.ino = (uint32_t)p->st.st_ino;
	s.family = (uint32_t)fam;
	s.type = (uint32_t)type;
	s.proto = (uint32_t)proto;
	ret = isk_read(pid, p->fd, p->link, lfd, &s);
	if (!ret)
		ret = judge(pid, p->fd, p->link, &s, 0);
	if (!ret)
		p->type = FD_TYPES__INETSK;
out:
	close(lfd);
	return ret;
}

void files_inet_free(struct isk_dump *s)
{
	free(s);
}

int files_inet_add(struct files_dump *d, pid_t pid, const struct probe *p, int lfd,
		   const struct fown_v *fo, uint32_t *id)
{
	struct isk_dump *s = calloc(1, sizeof(*s));
	struct desc *e;
	int ret;

	if (!s)
		return -ENOMEM;
	s->ino = (uint32_t)p->st.st_ino;
	ret = get_u32(lfd, SOL_SOCKET, SO_DOMAIN, &s->family);
	if (!ret)
		ret = get_u32(lfd, SOL_SOCKET, SO_TYPE, &s->type);
	if (!ret)
		ret = get_u32(lfd, SOL_SOCKET, SO_PROTOCOL, &s->proto);
	if (!ret)
		ret = isk_read(pid, p->fd, p->link, lfd, s);
	/* Judged again: the state may have moved since files_dump_check. */
	if (!ret)
		ret = judge(pid, p->fd, p->link, s, 1);
	/* Locked, put in repair mode and written to tcp-stream-INO.img (dump_tcp.h). */
	if (!ret && s->proto == IPPROTO_TCP && s->state == TCP_ESTABLISHED) {
		struct tcp_repair_state st;

		ret = dump_tcp_conn(pid, p->fd, lfd, s->ino, &st);
	}
	if (ret)
		goto err;
	if (s->proto == IPPROTO_UDP) {
		int q = 0;

		if (!ioctl(lfd, FIONREAD, &q) && q)
			pr_info("pid %d fd %d: %s: its queued datagrams (the first of %d bytes) are dropped, as a network may drop them",
				pid, p->fd, p->link, q);
	}
	e = files_desc_new(d, FD_TYPES__INETSK, SRC_FD, pid, p, fo);
	if (!e) {
		ret = -ENOMEM;
		goto err;
	}
	e->isk = s;
	*id = e->id;
	return 0;
err:
	files_inet_free(s);
	return ret;
}

int files_inet_write(struct img *img, const struct desc *e, FownEntry *fown)
{
	FileEntry fe = FILE_ENTRY__INIT;
	InetSkEntry ie = INET_SK_ENTRY__INIT;
	SkOptsEntry so = SK_OPTS_ENTRY__INIT;
	IpOptsEntry io = IP_OPTS_ENTRY__INIT;
	TcpOptsEntry to = TCP_OPTS_ENTRY__INIT;
	const struct isk_dump *s = e->isk;
	size_t na = s->family == AF_INET6 ? 4 : 1;

	so.so_sndbuf = s->sndbuf;
	so.so_rcvbuf = s->rcvbuf;
	so.so_snd_tmo_sec = s->snd_tmo_us / 1000000u;
	so.so_snd_tmo_usec = s->snd_tmo_us % 1000000u;
	so.so_rcv_tmo_sec = s->rcv_tmo_us / 1000000u;
	so.so_rcv_tmo_usec = s->rcv_tmo_us % 1000000u;
	so.has_reuseaddr = so.has_so_reuseport = so.has_so_keepalive = 1;
	so.reuseaddr = s->reuseaddr;
	so.so_reuseport = s->reuseport;
	so.so_keepalive = s->keepalive;
	so.has_so_priority = so.has_so_rcvlowat = so.has_so_mark = 1;
	so.so_priority = s->priority;
	so.so_rcvlowat = s->rcvlowat;
	so.so_mark = s->mark;
	so.has_so_broadcast = so.has_so_oobinline = so.has_so_buf_lock = 1;
	so.so_broadcast = s->broadcast;
	so.so_oobinline = (uint32_t)s->oobinline;
	so.so_buf_lock = s->buf_lock;
	so.has_so_linger = 1;
	so.so_linger = s->linger_on ? s->linger_s : 0;
	if (s->bound_dev[0])
		so.so_bound_dev = (char *)s->bound_dev;
	if (s->proto == IPPROTO_TCP) {
		so.has_tcp_keepcnt = so.has_tcp_keepidle = so.has_tcp_keepintvl = 1;
		so.tcp_keepcnt = s->keepcnt;
		so.tcp_keepidle = s->keepidle;
		so.tcp_keepintvl = s->keepintvl;
		to.has_nodelay = to.has_cork = 1;
		to.nodelay = s->nodelay;
		to.cork = s->cork;
		to.has_keepcnt = to.has_keepidle = to.has_keepintvl = 1;
		to.keepcnt = s->keepcnt;
		to.keepidle = s->keepidle;
		to.keepintvl = s->keepintvl;
		ie.tcp_opts = &to;
	}
	io.has_freebind = io.has_tos = io.has_ttl = 1;
	io.freebind = s->freebind;
	io.tos = s->tos;
	io.ttl = s->ttl;
	ie.id = e->id;
	ie.ino = s->ino;
	ie.family = s->family;
	ie.type = s->type;
	ie.proto = s->proto;
	ie.state = s->state;
	ie.src_port = s->src_port;
	ie.dst_port = s->dst_port;
	ie.flags = e->flags;
	ie.backlog = s->backlog;
	ie.n_src_addr = ie.n_dst_addr = na;
	ie.src_addr = (uint32_t *)s->src;
	ie.dst_addr = (uint32_t *)s->dst;
	ie.fown = fown;
	ie.opts = &so;
	ie.ip_opts = &io;
	if (s->family == AF_INET6) {
		ie.has_v6only = 1;
		ie.v6only = s->v6only;
	}
	fe.type = FD_TYPES__INETSK;
	fe.id = e->id;
	fe.isk = &ie;
	return img_write_entry(img, &fe.base);
}
