// SPDX-License-Identifier: MIT
/*
 * TCP and UDP sockets of a restore (see files_inet_sk.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "files_inet_sk.h"
#include "files_tcp.h"
#include "log.h"

#ifndef SO_BUF_LOCK
#define SO_BUF_LOCK 72
#endif
#ifndef IPV6_FREEBIND
#define IPV6_FREEBIND 78
#endif

/* "socket:[INO] (TCPv6 [::1]:8080)" for messages. */
static const char *sk_desc(const InetSkEntry *s, char *buf, size_t size)
{
	char a[INET6_ADDRSTRLEN] = "?";

	inet_ntop((int)s->family, s->src_addr, a, sizeof(a));
	snprintf(buf, size,
		 s->family == AF_INET6 ? "socket:[%u] (%s%s [%s]:%u)" : "socket:[%u] (%s%s %s:%u)",
		 s->ino, s->proto == IPPROTO_TCP ? "TCP" : "UDP", s->family == AF_INET6 ? "v6" : "",
		 a, s->src_port);
	return buf;
}

/* The address of one end (@dst: the peer's) of @s. */
static socklen_t sk_addr(const InetSkEntry *s, int dst, struct sockaddr_storage *a)
{
	memset(a, 0, sizeof(*a));
	if (s->family == AF_INET6) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)a;

		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, dst ? s->dst_addr : s->src_addr, 16);
		in6->sin6_port = htons((uint16_t)(dst ? s->dst_port : s->src_port));
		return sizeof(*in6);
	}
	struct sockaddr_in *in = (struct sockaddr_in *)a;

	in->sin_family = AF_INET;
	memcpy(&in->sin_addr, dst ? s->dst_addr : s->src_addr, 4);
	in->sin_port = htons((uint16_t)(dst ? s->dst_port : s->src_port));
	return sizeof(*in);
}

static int set_int(int sk, int level, int opt, int v)
{
	return setsockopt(sk, level, opt, &v, sizeof(v)) ? -errno : 0;
}

static int set_tmo(int sk, int opt, uint64_t sec, uint64_t usec)
{
	struct timeval tv = { .tv_sec = (time_t)sec, .tv_usec = (suseconds_t)usec };

	return setsockopt(sk, SOL_SOCKET, opt, &tv, sizeof(tv)) ? -errno : 0;
}

/* Options that change what bind() does. */
static int opts_before_bind(int sk, const InetSkEntry *s)
{
	const SkOptsEntry *o = s->opts;
	int six = s->family == AF_INET6, err = 0;

	if (o->has_reuseaddr)
		err = set_int(sk, SOL_SOCKET, SO_REUSEADDR, o->reuseaddr);
	if (!err && o->has_so_reuseport)
		err = set_int(sk, SOL_SOCKET, SO_REUSEPORT, o->so_reuseport);
	if (!err && six && s->has_v6only)
		err = set_int(sk, SOL_IPV6, IPV6_V6ONLY, s->v6only);
	if (!err && s->ip_opts && s->ip_opts->has_freebind)
		err = set_int(sk, six ? SOL_IPV6 : SOL_IP, six ? IPV6_FREEBIND : IP_FREEBIND,
			      s->ip_opts->freebind);
	if (!err && o->so_bound_dev && o->so_bound_dev[0] &&
	    setsockopt(sk, SOL_SOCKET, SO_BINDTODEVICE, o->so_bound_dev,
		       (socklen_t)strlen(o->so_bound_dev)))
		err = -errno;
	return err;
}

/* The other options and the file flags. */
static int opts_after(int sk, const InetSkEntry *s)
{
	const SkOptsEntry *o = s->opts;
	const TcpOptsEntry *t = s->tcp_opts;
	int six = s->family == AF_INET6, ip = six ? SOL_IPV6 : SOL_IP, err;

	/* The kernel doubles what it is given: the dump recorded the doubled value. */
	if (set_int(sk, SOL_SOCKET, SO_SNDBUFFORCE, (int)(o->so_sndbuf / 2)))
		set_int(sk, SOL_SOCKET, SO_SNDBUF, (int)(o->so_sndbuf / 2));
	if (set_int(sk, SOL_SOCKET, SO_RCVBUFFORCE, (int)(o->so_rcvbuf / 2)))
		set_int(sk, SOL_SOCKET, SO_RCVBUF, (int)(o->so_rcvbuf / 2));
	/* Setting a size locks it; the lock is put back as it was (5.14+). */
	if (o->has_so_buf_lock)
		set_int(sk, SOL_SOCKET, SO_BUF_LOCK, (int)o->so_buf_lock);
	err = set_tmo(sk, SO_SNDTIMEO, o->so_snd_tmo_sec, o->so_snd_tmo_usec);
	if (!err)
		err = set_tmo(sk, SO_RCVTIMEO, o->so_rcv_tmo_sec, o->so_rcv_tmo_usec);
	if (!err && o->has_so_priority)
		err = set_int(sk, SOL_SOCKET, SO_PRIORITY, (int)o->so_priority);
	if (!err && o->has_so_rcvlowat)
		err = set_int(sk, SOL_SOCKET, SO_RCVLOWAT, (int)o->so_rcvlowat ?: 1);
	if (!err && o->has_so_mark && o->so_mark)
		err = set_int(sk, SOL_SOCKET, SO_MARK, (int)o->so_mark);
	if (!err && o->has_so_keepalive)
		err = set_int(sk, SOL_SOCKET, SO_KEEPALIVE, o->so_keepalive);
	if (!err && o->has_so_broadcast)
		err = set_int(sk, SOL_SOCKET, SO_BROADCAST, o->so_broadcast);
	if (!err && o->has_so_oobinline)
		err = set_int(sk, SOL_SOCKET, SO_OOBINLINE, !!o->so_oobinline);
	if (!err && o->has_so_linger && o->so_linger) {
		struct linger lg = { .l_onoff = 1, .l_linger = (int)o->so_linger };

		if (setsockopt(sk, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg)))
			err = -errno;
	}
	if (!err && s->proto == IPPROTO_TCP) {
		if (o->has_tcp_keepcnt && o->tcp_keepcnt)
			err = set_int(sk, SOL_TCP, TCP_KEEPCNT, (int)o->tcp_keepcnt);
		if (!err && o->has_tcp_keepidle && o->tcp_keepidle)
			err = set_int(sk, SOL_TCP, TCP_KEEPIDLE, (int)o->tcp_keepidle);
		if (!err && o->has_tcp_keepintvl && o->tcp_keepintvl)
			err = set_int(sk, SOL_TCP, TCP_KEEPINTVL, (int)o->tcp_keepintvl);
		if (!err && t && t->has_nodelay)
			err = set_int(sk, SOL_TCP, TCP_NODELAY, t->nodelay);
		if (!err && t && t->has_cork)
			err = set_int(sk, SOL_TCP, TCP_CORK, t->cork);
	}
	if (!err && s->ip_opts && s->ip_opts->has_tos)
		err = set_int(sk, ip, six ? IPV6_TCLASS : IP_TOS, (int)s->ip_opts->tos);
	if (!err && s->ip_opts && s->ip_opts->has_ttl)
		err = set_int(sk, ip, six ? IPV6_UNICAST_HOPS : IP_TTL, (int)s->ip_opts->ttl);
	if (!err && fcntl(sk, F_SETFL, (int)(s->flags & (O_NONBLOCK | O_ASYNC))) < 0)
		err = -errno;
	return err;
}

int rfiles_inet_established(const InetSkEntry *ie, pid_t pid, int fd)
{
	/* tcp-stream-INO.img, in repair mode until the tree resumes (files_tcp.h). */
	return rfiles_tcp_make(ie, pid, fd);
}

static int lift(int sk, int base, pid_t pid, int fd)
{
	int nfd = fcntl(sk, F_DUPFD_CLOEXEC, base), err = nfd < 0 ? -errno : 0;

	close(sk);
	if (err)
		pr_errno(err, "pid %d fd %d: cannot move a socket above fd %d", pid, fd, base);
	return err ? err : nfd;
}

static int any_addr(const InetSkEntry *s)
{
	for (size_t i = 0; i < s->n_src_addr; i++)
		if (s->src_addr[i])
			return 1;
	return 0;
}

int rfiles_inet_open(const FileEntry *fe, pid_t pid, int fd, int base)
{
	const InetSkEntry *s = fe->isk;
	struct sockaddr_storage a;
	const char *step = "make";
	char what[96];
	int sk, err = 0;

	if (s->proto == IPPROTO_TCP && s->state == TCP_ESTABLISHED) {
		sk = rfiles_inet_established(s, pid, fd);
		if (sk < 0)
			return sk;
	} else {
		sk = socket((int)s->family, (int)s->type | SOCK_CLOEXEC, (int)s->proto);
		if (sk < 0) {
			err = -errno;
			goto fail;
		}
		step = "set the options (reuseaddr, reuseport, v6only, freebind, device) of";
		err = opts_before_bind(sk, s);
		if (!err && (s->src_port || any_addr(s))) {
			step = "bind";
			if (bind(sk, (struct sockaddr *)&a, sk_addr(s, 0, &a)))
				err = -errno;
		}
		if (!err && s->state == TCP_LISTEN) {
			step = "listen on";
			if (listen(sk, (int)s->backlog))
				err = -errno;
		}
		if (!err && s->proto == IPPROTO_UDP && s->state == TCP_ESTABLISHED) {
			step = "connect";
			if (connect(sk, (struct sockaddr *)&a, sk_addr(s, 1, &a)))
				err = -errno;
		}
	}
	if (!err) {
		step = "set the options and flags of";
		err = opts_after(sk, s);
	}
	if (!err)
		return lift(sk, base, pid, fd);
fail:
	pr_errno(err, "pid %d fd %d: cannot %s %s", pid, fd, step, sk_desc(s, what, sizeof(what)));
	if (sk >= 0)
		close(sk);
	return err;
}
