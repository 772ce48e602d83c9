// SPDX-License-Identifier: MIT
/*
 * AF_UNIX sockets of the fd dumper (see dump_unix_sk.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/xattr.h>
#include <netinet/tcp.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>

#define LOG_PREFIX "files: "
#include "log.h"
#include "img.h"
#include "dump_files.h"
#include "dump_files_priv.h"
#include "dump_unix_sk.h"
#include "sock_diag.h"

#include "fdinfo.pb-c.h"
#include "sk-unix.pb-c.h"
#include "sk-opts.pb-c.h"
#include "sk-packet.pb-c.h"

#define USK_MSG_MAX (8u << 20) /* one datagram, or one read of a stream's queue */
#define USK_MSGS_MAX 65536u

int files_unix_classify(pid_t pid, struct probe *p)
{
	char path[64], proto[32];
	ssize_t n;

	if (!S_ISSOCK(p->st.st_mode))
		return -ENOENT;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, p->fd);
	/* The socket's protocol name (sock_prot->name): "UNIX", "TCP", "UDPv6", "NETLINK", ... */
	n = getxattr(path, "system.sockprotoname", proto, sizeof(proto) - 1);
	if (n < 0) {
		pr_err("pid %d fd %d: %s is not supported (its protocol is unknown: %s)", pid,
		       p->fd, p->link, strerror(errno));
		return -ENOTSUP;
	}
	proto[n] = '\0';
	if (!strcmp(proto, "UNIX") || !strcmp(proto, "UNIX-STREAM")) {
		p->type = FD_TYPES__UNIXSK;
		return 0;
	}
	pr_err("pid %d fd %d: %s is a %s socket, which is not supported (only AF_UNIX sockets are)",
	       pid, p->fd, p->link, proto);
	return -ENOTSUP;
}

/* Parse the answer of sock_diag about one unix socket into @u. */
static int diag_parse(const struct unix_diag_msg *m, size_t len, struct usk_dump *u)
{
	struct rtattr *a = (struct rtattr *)(m + 1);
	int alen = (int)(len - NLMSG_ALIGN(sizeof(*m)));

	u->state = m->udiag_state;
	u->type = m->udiag_type;
	for (; RTA_OK(a, alen); a = RTA_NEXT(a, alen)) {
		size_t pl = RTA_PAYLOAD(a);

		switch (a->rta_type) {
		case UNIX_DIAG_NAME:
			if (pl > sizeof(u->name))
				return -EINVAL;
			memcpy(u->name, RTA_DATA(a), pl);
			u->namelen = pl;
			break;
		case UNIX_DIAG_PEER:
			if (pl >= 4)
				memcpy(&u->peer, RTA_DATA(a), 4);
			break;
		case UNIX_DIAG_RQLEN:
			if (pl >= sizeof(struct unix_diag_rqlen)) {
				const struct unix_diag_rqlen *q = RTA_DATA(a);

				u->rqlen = q->udiag_rqueue;
				if (u->state == TCP_LISTEN)
					u->backlog = q->udiag_wqueue;
				else
					u->wqlen = q->udiag_wqueue;
			}
			break;
		case UNIX_DIAG_ICONS:
			free(u->icons);
			u->nr_icons = pl / sizeof(uint32_t);
			u->icons = malloc(pl ? pl : 1);
			if (!u->icons)
				return -ENOMEM;
			memcpy(u->icons, RTA_DATA(a), u->nr_icons * sizeof(uint32_t));
			break;
		case UNIX_DIAG_SHUTDOWN:
			if (pl >= 1)
				u->shutdown = *(const uint8_t *)RTA_DATA(a) & 3;
			break;
		}
	}
	return 0;
}

static int diag_answer(void *arg, const void *msg, size_t len)
{
	if (len < sizeof(struct unix_diag_msg))
		return -EBADMSG;
	return diag_parse(msg, len, arg);
}

/* What sock_diag says about unix socket @ino. Returns 0, -ENOENT or -errno. */
int files_unix_diag(uint32_t ino, struct usk_dump *u)
{
	struct unix_diag_req req = { .sdiag_family = AF_UNIX,
				     .udiag_states = ~0u,
				     .udiag_ino = ino,
				     .udiag_show = UDIAG_SHOW_NAME | UDIAG_SHOW_PEER |
						   UDIAG_SHOW_RQLEN | UDIAG_SHOW_ICONS };

	req.udiag_cookie[0] = req.udiag_cookie[1] = ~0u;
	return sock_diag_query(&req, sizeof(req), diag_answer, u);
}

static int get_int(int lfd, int opt, int *v)
{
	socklen_t l = sizeof(*v);

	return getsockopt(lfd, SOL_SOCKET, opt, v, &l) ? -errno : 0;
}

static int get_tmo(int lfd, int opt, uint64_t *us)
{
	struct timeval tv;
	socklen_t l = sizeof(tv);

	if (getsockopt(lfd, SOL_SOCKET, opt, &tv, &l))
		return -errno;
	*us = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
	return 0;
}

static int read_opts(int lfd, struct usk_dump *u)
{
	int type = 0, snd = 0, rcv = 0, pc = 0, ret;

	ret = get_int(lfd, SO_TYPE, &type);
	if (!ret)
		ret = get_int(lfd, SO_SNDBUF, &snd);
	if (!ret)
		ret = get_int(lfd, SO_RCVBUF, &rcv);
	if (!ret)
		ret = get_int(lfd, SO_PASSCRED, &pc);
	if (!ret)
		ret = get_tmo(lfd, SO_SNDTIMEO, &u->snd_tmo_us);
	if (!ret)
		ret = get_tmo(lfd, SO_RCVTIMEO, &u->rcv_tmo_us);
	u->type = (uint32_t)type;
	u->sndbuf = (uint32_t)snd;
	u->rcvbuf = (uint32_t)rcv;
	u->passcred = !!pc;
	return ret;
}

/* Is there an SCM_RIGHTS among the control messages of @mh? Closes the fds it brought. */
static int had_rights(struct msghdr *mh)
{
	int found = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		found = 1;
		for (size_t i = 0; i < (c->cmsg_len - CMSG_LEN(0)) / sizeof(int); i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			close(fd);
		}
	}
	return found;
}

static int queue_add(struct usk_dump *u, const uint8_t *data, uint32_t len, size_t *cap,
		     size_t *used)
{
	uint32_t *nl = realloc(u->lens, (u->nr_msg + 1) * sizeof(*nl));

	if (!nl)
		return -ENOMEM;
	u->lens = nl;
	if (*used + len > *cap) {
		size_t nc = (*used + len) * 2;
		uint8_t *nb = realloc(u->buf, nc ? nc : 1);

		if (!nb)
			return -ENOMEM;
		u->buf = nb;
		*cap = nc;
	}
	memcpy(u->buf + *used, data, len);
	*used += len;
	u->lens[u->nr_msg++] = len;
	return 0;
}

/* Peek every message of the receive queue of @lfd (fd @fd of @pid) into @u. */
static int peek_queue(pid_t pid, int fd, int lfd, struct usk_dump *u)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int) * 253) + CMSG_SPACE(sizeof(struct ucred))];
	} cbuf;
	int stream = u->type == SOCK_STREAM, orig = -1, zero = 0, ret = 0;
	size_t cap = 0, used = 0;
	uint8_t *scratch;

	ret = get_int(lfd, SO_PEEK_OFF, &orig);
	if (ret) {
		pr_errno(ret, "pid %d fd %d: socket:[%u]: cannot read SO_PEEK_OFF", pid, fd,
			 u->ino);
		return ret;
	}
	scratch = malloc(USK_MSG_MAX);
	if (!scratch)
		return -ENOMEM;
	if (setsockopt(lfd, SOL_SOCKET, SO_PEEK_OFF, &zero, sizeof(zero))) {
		ret = -errno;
		pr_errno(ret, "pid %d fd %d: socket:[%u]: cannot set SO_PEEK_OFF", pid, fd, u->ino);
		goto out;
	}
	for (;;) {
		struct iovec iov = { scratch, USK_MSG_MAX };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		mh.msg_control = cbuf.b;
		mh.msg_controllen = sizeof(cbuf.b);
		n = recvmsg(lfd, &mh, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC | MSG_CMSG_CLOEXEC);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		if (n < 0) {
			ret = -errno;
			pr_errno(ret, "pid %d fd %d: socket:[%u]: cannot peek its queue", pid, fd,
				 u->ino);
			goto restore;
		}
		if (had_rights(&mh) || (mh.msg_flags & MSG_CTRUNC)) {
			pr_err("pid %d fd %d: socket:[%u] has file descriptors in flight (SCM_RIGHTS) in its receive queue: not supported",
			       pid, fd, u->ino);
			ret = -ENOTSUP;
			goto restore;
		}
		if (stream && n == 0)
			break; /* end of stream: the peer shut its writing down */
		if ((size_t)n > USK_MSG_MAX || u->nr_msg >= USK_MSGS_MAX) {
			pr_err("pid %d fd %d: socket:[%u]: a queued message of %zd bytes, or more than %u messages: not supported",
			       pid, fd, u->ino, n, USK_MSGS_MAX);
			ret = -ENOTSUP;
			goto restore;
		}
		if (stream && u->nr_msg) { /* one entry for a stream's bytes */
			u->nr_msg = 0;
			ret = queue_add(u, scratch, (uint32_t)n, &cap, &used);
			if (!ret)
				u->lens[0] = (uint32_t)used;
			u->nr_msg = 1;
		} else {
			ret = queue_add(u, scratch, (uint32_t)n, &cap, &used);
		}
		if (ret)
			goto restore;
	}
restore:
	if (setsockopt(lfd, SOL_SOCKET, SO_PEEK_OFF, &orig, sizeof(orig)) && !ret) {
		ret = -errno;
		pr_errno(ret, "pid %d fd %d: socket:[%u]: cannot put SO_PEEK_OFF back to %d", pid,
			 fd, u->ino, orig);
	}
out:
	free(scratch);
	if (!ret && u->nr_msg)
		pr_debug("pid %d fd %d: socket:[%u]: %zu message(s), %zu bytes queued", pid, fd,
			 u->ino, u->nr_msg, used);
	return ret;
}

void files_unix_free(struct usk_dump *u)
{
	if (!u)
		return;
	free(u->lens);
	free(u->buf);
	free(u->icons);
	free(u);
}

int files_unix_add(struct files_dump *d, pid_t pid, const struct probe *p, int lfd,
		   const struct fown_v *fo, uint32_t *id)
{
	struct usk_dump *u = calloc(1, sizeof(*u));
	struct desc *e;
	int ret;

	if (!u)
		return -ENOMEM;
	u->ino = (uint32_t)p->st.st_ino;
	ret = read_opts(lfd, u);
	if (ret) {
		pr_errno(ret, "pid %d fd %d: %s: cannot read its options", pid, p->fd, p->link);
		goto err;
	}
	ret = files_unix_diag(u->ino, u);
	if (ret) {
		pr_errno(
			ret,
			"pid %d fd %d: %s: sock_diag does not know it (another network namespace?)",
			pid, p->fd, p->link);
		goto err;
	}
	if (u->namelen && u->name[0] != '\0' && u->name[0] != '/') {
		pr_err("pid %d fd %d: %s is bound to the relative path %.*s: not supported", pid,
		       p->fd, p->link, (int)u->namelen, u->name);
		ret = -ENOTSUP;
		goto err;
	}
	if (u->state != TCP_LISTEN) {
		ret = peek_queue(pid, p->fd, lfd, u);
		if (ret)
			goto err;
	}
	e = files_desc_new(d, FD_TYPES__UNIXSK, SRC_FD, pid, p, fo);
	if (!e) {
		ret = -ENOMEM;
		goto err;
	}
	e->usk = u;
	*id = e->id;
	return 0;
err:
	files_unix_free(u);
	return ret;
}

int files_unix_write(struct img *img, const struct desc *e, FownEntry *fown)
{
	FileEntry fe = FILE_ENTRY__INIT;
	UnixSkEntry ue = UNIX_SK_ENTRY__INIT;
	SkOptsEntry so = SK_OPTS_ENTRY__INIT;
	const struct usk_dump *u = e->usk;

	so.so_sndbuf = u->sndbuf;
	so.so_rcvbuf = u->rcvbuf;
	so.so_snd_tmo_sec = u->snd_tmo_us / 1000000u;
	so.so_snd_tmo_usec = u->snd_tmo_us % 1000000u;
	so.so_rcv_tmo_sec = u->rcv_tmo_us / 1000000u;
	so.so_rcv_tmo_usec = u->rcv_tmo_us % 1000000u;
	so.has_so_passcred = 1;
	so.so_passcred = u->passcred;
	ue.id = e->id;
	ue.ino = u->ino;
	ue.type = u->type;
	ue.state = u->state;
	ue.flags = e->flags;
	ue.uflags = u->ext ? USK_EXTERN_FLAG : 0;
	ue.backlog = u->backlog;
	ue.peer = u->peer;
	ue.fown = fown;
	ue.opts = &so;
	ue.name.len = u->namelen;
	ue.name.data = (uint8_t *)u->name;
	ue.has_shutdown = 1;
	ue.shutdown = (SkShutdown)u->shutdown;
	fe.type = FD_TYPES__UNIXSK;
	fe.id = e->id;
	fe.usk = &ue;
	return img_write_entry(img, &fe.base);
}

int files_unix_commit(struct files_dump *d, int dirfd)
{
	struct img *img = NULL;
	size_t nr = 0;
	int ret;

	ret = files_unix_peers(d);
	if (ret)
		return ret;
	for (size_t i = 0; i < d->nd; i++)
		if (d->d[i].type == FD_TYPES__UNIXSK)
			nr += d->d[i].usk->nr_msg;
	if (!nr)
		return 0;
	ret = img_create(&img, dirfd, IMG_SK_QUEUES->file, IMG_SK_QUEUES);
	for (size_t i = 0; i < d->nd && !ret; i++) {
		const struct usk_dump *u = d->d[i].usk;
		size_t off = 0;

		if (d->d[i].type != FD_TYPES__UNIXSK)
			continue;
		for (size_t k = 0; k < u->nr_msg && !ret; k++) {
			SkPacketEntry pe = SK_PACKET_ENTRY__INIT;

			pe.id_for = d->d[i].id;
			pe.length = u->lens[k];
			ret = img_write_entry(img, &pe.base);
			if (!ret && u->lens[k])
				ret = img_write_raw(img, u->buf + off, u->lens[k]);
			off += u->lens[k];
		}
	}
	if (!ret) {
		ret = img_commit(img);
		img = NULL;
	}
	img_abort(img);
	if (ret)
		pr_errno(ret, "cannot write %s", IMG_SK_QUEUES->file);
	return ret;
}
