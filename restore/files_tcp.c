// SPDX-License-Identifier: MIT
/*
 * Established TCP connections in a restore (files_tcp.h).
 */
#define LOG_PREFIX "restore-tcp: "

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "files_tcp.h"
#include "log.h"
#include "netlock.h"
#include "tcp_repair.h"
#include "tcp_stream_img.h"

static const char *img_dir;
static int tcp_allowed;
static struct netlock_conn *conns;
static int *fds;   /* ferry's copies, in repair mode until rfiles_tcp_resume */
static int *reuse; /* SO_REUSEADDR to set again: leaving repair mode clears it */
static unsigned nr, cap;

void rfiles_tcp_setup(const char *dir, int allowed)
{
	img_dir = dir;
	tcp_allowed = allowed;
	if (allowed)
		netlock_clean_stale();
}

/* The address of one end (@dst: the peer's) of @ie. Returns 0 or -EINVAL. */
static int ie_addr(const InetSkEntry *ie, int dst, struct sockaddr_storage *a)
{
	size_t n = dst ? ie->n_dst_addr : ie->n_src_addr;
	const uint32_t *v = dst ? ie->dst_addr : ie->src_addr;
	uint32_t port = dst ? ie->dst_port : ie->src_port;

	memset(a, 0, sizeof(*a));
	if (port > 65535)
		return -EINVAL;
	if (ie->family == AF_INET6 && n == 4) {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)a;

		s->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, v, 16);
		s->sin6_port = htons((uint16_t)port);
		return 0;
	}
	if (ie->family == AF_INET && n == 1) {
		struct sockaddr_in *s = (struct sockaddr_in *)a;

		s->sin_family = AF_INET;
		memcpy(&s->sin_addr, v, 4);
		s->sin_port = htons((uint16_t)port);
		return 0;
	}
	return -EINVAL;
}

static int remember(const struct netlock_conn *c, int sk, int reuseaddr)
{
	if (nr == cap) {
		unsigned ncap = cap ? 2 * cap : 8;
		struct netlock_conn *nc = realloc(conns, ncap * sizeof(*nc));
		int *nf;

		if (!nc)
			return -ENOMEM;
		conns = nc;
		nf = realloc(fds, ncap * sizeof(*nf));
		if (!nf)
			return -ENOMEM;
		fds = nf;
		nf = realloc(reuse, ncap * sizeof(*nf));
		if (!nf)
			return -ENOMEM;
		reuse = nf;
		cap = ncap;
	}
	/* Far above the fds the tree's processes get: nothing lands on it. */
	fds[nr] = fcntl(sk, F_DUPFD_CLOEXEC, 3);
	if (fds[nr] < 0)
		return -errno;
	reuse[nr] = reuseaddr;
	conns[nr++] = *c;
	return 0;
}

int rfiles_tcp_make(const InetSkEntry *ie, pid_t pid, int fd)
{
	struct tcp_repair_state st = { 0 };
	struct netlock_conn c = { .pid = pid, .fd = fd, .ino = ie->ino };
	char a[64], b[64], name[64];
	int dfd = -1, sk = -1, err;

	if (ie_addr(ie, 0, &st.src) || ie_addr(ie, 1, &st.dst)) {
		pr_err("pid %d fd %d: socket:[%u]: addresses that are no IPv4 or IPv6 ones", pid,
		       fd, ie->ino);
		return -EINVAL;
	}
	tcp_repair_addr_str(&st.src, a, sizeof(a));
	tcp_repair_addr_str(&st.dst, b, sizeof(b));
	if (!tcp_allowed) {
		pr_err("pid %d fd %d: socket:[%u] %s -> %s is an established TCP connection: restore it with --tcp-established",
		       pid, fd, ie->ino, a, b);
		return -ENOTSUP;
	}
	dfd = open(img_dir ? img_dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		err = -errno;
		goto out;
	}
	err = tcp_stream_img_read(dfd, ie->ino, &st);
	if (err == -ENOENT)
		pr_err("pid %d fd %d: socket:[%u] %s -> %s: %s is missing", pid, fd, ie->ino, a, b,
		       tcp_stream_img_name(ie->ino, name, sizeof(name)));
	if (err)
		goto out;
	st.tcp_state = TCP_ESTABLISHED;
	if (ie->opts) {
		st.sndbuf = ie->opts->so_sndbuf;
		st.rcvbuf = ie->opts->so_rcvbuf;
	}
	if (ie->tcp_opts)
		tcp_opts_apply(&st, ie->tcp_opts);
	err = tcp_repair_restore(&st, &sk);
	if (err)
		goto out;
	c.src = st.src;
	c.dst = st.dst;
	err = remember(&c, sk, ie->opts && ie->opts->reuseaddr);
	if (err)
		goto out;
	pr_info("pid %d fd %d: socket:[%u] %s -> %s made again: %u bytes in, %u out (%u unsent)",
		pid, fd, ie->ino, a, b, st.inq_len, st.outq_len, st.unsq_len);
out:
	tcp_repair_state_free(&st);
	if (dfd >= 0)
		close(dfd);
	if (err) {
		pr_err("pid %d fd %d: socket:[%u] %s -> %s: established connection not restored: %s",
		       pid, fd, ie->ino, a, b, strerror(-err));
		if (sk >= 0)
			close(sk); /* in repair mode: silent */
		return err;
	}
	return sk;
}

static void forget(void)
{
	for (unsigned i = 0; i < nr; i++)
		close(fds[i]);
	free(conns);
	free(fds);
	free(reuse);
	conns = NULL;
	fds = NULL;
	reuse = NULL;
	nr = cap = 0;
}

int rfiles_tcp_resume(void)
{
	int err = 0, e;

	for (unsigned i = 0; i < nr; i++) {
		int one = 1;

		e = tcp_repair_off(fds[i]);
		if (!e && reuse[i] &&
		    setsockopt(fds[i], SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)))
			e = -errno;
		if (e && !err)
			err = e;
	}
	/* The peers' segments reach the new sockets from here on. */
	e = netlock_unlock_kept(conns, nr);
	if (e && !err)
		err = e;
	if (nr)
		pr_info("%u TCP connection(s) out of repair mode and unlocked", nr);
	forget();
	return err;
}

void rfiles_tcp_drop(void)
{
	forget();
}
