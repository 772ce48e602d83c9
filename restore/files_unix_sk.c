// SPDX-License-Identifier: MIT
/*
 * Unix sockets of a restore (see files_unix_sk.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <netinet/tcp.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "files_unix_sk.h"
#include "log.h"

/* "socket:[INO] (name)" for messages; abstract names shown with a leading '@'. */
static const char *sk_desc(const UnixSkEntry *u, char *buf, size_t size)
{
	int n = snprintf(buf, size, "socket:[%u]", u->ino);

	if (u->name.len && n > 0 && (size_t)n < size)
		snprintf(buf + n, size - (size_t)n, " (%s%.*s)", u->name.data[0] ? "" : "@",
			 (int)u->name.len - (u->name.data[0] ? 0 : 1),
			 (const char *)u->name.data + (u->name.data[0] ? 0 : 1));
	return buf;
}

static socklen_t sk_addr(const UnixSkEntry *u, struct sockaddr_un *a)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	memcpy(a->sun_path, u->name.data, u->name.len);
	return (socklen_t)(offsetof(struct sockaddr_un, sun_path) + u->name.len);
}

/* Send the queued messages of socket @id into @to's queue through @from (or sendto @a). */
static int refill(const struct rimg *r, uint32_t id, int from, const struct sockaddr_un *a,
		  socklen_t alen, const UnixSkEntry *u, pid_t pid, int fd)
{
	int big = INT_MAX / 2;
	size_t n = 0, bytes = 0;
	char what[160];

	for (size_t i = 0; i < r->nr_skq; i++) {
		const struct rimg_skq *q = &r->skq[i];
		size_t off = 0;

		if (q->id_for != id)
			continue;
		if (!n && setsockopt(from, SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof(big)))
			setsockopt(from, SOL_SOCKET, SO_SNDBUF, &big, sizeof(big));
		do { /* a stream's bytes may take several sends */
			ssize_t s = a ? sendto(from, (const char *)q->data + off, q->len - off,
					       MSG_DONTWAIT | MSG_NOSIGNAL,
					       (const struct sockaddr *)a, alen)
				      : send(from, (const char *)q->data + off, q->len - off,
					     MSG_DONTWAIT | MSG_NOSIGNAL);

			if (s < 0) {
				int err = -errno;

				pr_errno(
					err,
					"pid %d fd %d: %s: cannot queue message %zu (%zu bytes) again",
					pid, fd, sk_desc(u, what, sizeof(what)), n, q->len);
				return err;
			}
			off += (size_t)s;
		} while (off < q->len && u->type == SOCK_STREAM);
		n++;
		bytes += q->len;
	}
	if (n)
		pr_debug("pid %d fd %d: %s: %zu message(s), %zu bytes queued again", pid, fd,
			 sk_desc(u, what, sizeof(what)), n, bytes);
	return 0;
}

static int set_int(int sk, int opt, int v)
{
	return setsockopt(sk, SOL_SOCKET, opt, &v, sizeof(v)) ? -errno : 0;
}

static int set_tmo(int sk, int opt, uint64_t sec, uint64_t usec)
{
	struct timeval tv = { .tv_sec = (time_t)sec, .tv_usec = (suseconds_t)usec };

	return setsockopt(sk, SOL_SOCKET, opt, &tv, sizeof(tv)) ? -errno : 0;
}

/* Options, shutdown and file flags of @u on @sk, once its queue is refilled. */
static int finish(int sk, const UnixSkEntry *u, pid_t pid, int fd)
{
	const SkOptsEntry *o = u->opts;
	char what[160];
	int err;

	/* The kernel doubles what it is given: the dump recorded the doubled value. */
	if (set_int(sk, SO_SNDBUFFORCE, (int)(o->so_sndbuf / 2)))
		set_int(sk, SO_SNDBUF, (int)(o->so_sndbuf / 2));
	if (set_int(sk, SO_RCVBUFFORCE, (int)(o->so_rcvbuf / 2)))
		set_int(sk, SO_RCVBUF, (int)(o->so_rcvbuf / 2));
	err = set_int(sk, SO_PASSCRED, o->has_so_passcred && o->so_passcred);
	if (!err)
		err = set_tmo(sk, SO_SNDTIMEO, o->so_snd_tmo_sec, o->so_snd_tmo_usec);
	if (!err)
		err = set_tmo(sk, SO_RCVTIMEO, o->so_rcv_tmo_sec, o->so_rcv_tmo_usec);
	if (!err && u->has_shutdown && u->shutdown != SK_SHUTDOWN__NONE &&
	    shutdown(sk, u->shutdown == SK_SHUTDOWN__READ    ? SHUT_RD
			 : u->shutdown == SK_SHUTDOWN__WRITE ? SHUT_WR
							     : SHUT_RDWR))
		err = -errno;
	if (!err && fcntl(sk, F_SETFL, (int)(u->flags & O_NONBLOCK)) < 0)
		err = -errno;
	if (err)
		pr_errno(err, "pid %d fd %d: %s: cannot set its options, shutdown state or flags",
			 pid, fd, sk_desc(u, what, sizeof(what)));
	return err;
}

/* Bind @sk to the name of @u; a stale socket file at its path goes first. */
static int rebind(int sk, const UnixSkEntry *u, pid_t pid, int fd)
{
	struct sockaddr_un a;
	socklen_t len = sk_addr(u, &a);
	char what[160];
	struct stat st;
	int err;

	if (a.sun_path[0] && !lstat(a.sun_path, &st)) {
		if (!S_ISSOCK(st.st_mode)) {
			pr_err("pid %d fd %d: %s: %s is there and is no socket: not replaced", pid,
			       fd, sk_desc(u, what, sizeof(what)), a.sun_path);
			return -EEXIST;
		}
		if (unlink(a.sun_path)) {
			err = -errno;
			pr_errno(err, "pid %d fd %d: %s: cannot unlink the stale socket file", pid,
				 fd, sk_desc(u, what, sizeof(what)));
			return err;
		}
	}
	if (bind(sk, (struct sockaddr *)&a, len)) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: %s: cannot bind again", pid, fd,
			 sk_desc(u, what, sizeof(what)));
		return err;
	}
	return 0;
}

static int lift(int sk, int base, pid_t pid, int fd)
{
	int nfd = fcntl(sk, F_DUPFD_CLOEXEC, base), err = nfd < 0 ? -errno : 0;

	close(sk);
	if (err)
		pr_errno(err, "pid %d fd %d: cannot move a socket above fd %d", pid, fd, base);
	return err ? err : nfd;
}

static long find_peer(const struct rimg *r, const UnixSkEntry *u)
{
	for (size_t i = 0; i < r->nr_files; i++) {
		const FileEntry *f = r->files[i];

		if (f->type == FD_TYPES__UNIXSK && f->usk->ino == u->peer &&
		    f->usk->peer == u->ino && f->usk->type == u->type)
			return (long)i;
	}
	return -1;
}

/* A socketpair for @idx and its peer @pidx (-1: the peer was gone; its end is closed). */
static int make_pair(const struct rimg *r, long idx, long pidx, int *tmp, pid_t pid, int fd,
		     int base)
{
	const FileEntry *fe = r->files[idx], *pe = pidx >= 0 ? r->files[pidx] : NULL;
	int sv[2], err, mine = -1;
	char what[160];

	if (socketpair(AF_UNIX, (int)fe->usk->type | SOCK_CLOEXEC, 0, sv)) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: %s: cannot make a socketpair", pid, fd,
			 sk_desc(fe->usk, what, sizeof(what)));
		return err;
	}
	err = refill(r, fe->id, sv[1], NULL, 0, fe->usk, pid, fd);
	if (!err && pe)
		err = refill(r, pe->id, sv[0], NULL, 0, pe->usk, pid, fd);
	if (!err)
		err = finish(sv[0], fe->usk, pid, fd);
	if (!err && pe)
		err = finish(sv[1], pe->usk, pid, fd);
	if (err)
		goto fail;
	if (pe) {
		err = lift(sv[1], base, pid, fd);
		sv[1] = -1;
		if (err < 0)
			goto fail;
		tmp[pidx] = err;
	} else {
		close(sv[1]);
		sv[1] = -1;
	}
	mine = lift(sv[0], base, pid, fd);
	sv[0] = -1;
	if (mine < 0) {
		err = mine;
		goto fail;
	}
	return mine;
fail:
	if (sv[0] >= 0)
		close(sv[0]);
	if (sv[1] >= 0)
		close(sv[1]);
	if (pe && tmp[pidx] >= 0) {
		close(tmp[pidx]);
		tmp[pidx] = -1;
	}
	return err;
}

static long find_ino(const struct rimg *r, uint32_t ino)
{
	for (size_t i = 0; i < r->nr_files; i++)
		if (r->files[i]->type == FD_TYPES__UNIXSK && r->files[i]->usk->ino == ino)
			return (long)i;
	return -1;
}

/* Socket @fe connected again to the name of @peer (outside the tree, or a listener of it). */
static int connect_to(const struct rimg *r, const FileEntry *fe, const UnixSkEntry *peer, pid_t pid,
		      int fd, int base)
{
	const UnixSkEntry *u = fe->usk;
	char what[160], pw[160];
	struct sockaddr_un a;
	int sk, err = 0;

	for (size_t i = 0; i < r->nr_skq; i++)
		if (r->skq[i].id_for == fe->id) {
			pr_err("pid %d fd %d: %s has queued data, which only its peer %s could queue again",
			       pid, fd, sk_desc(u, what, sizeof(what)),
			       sk_desc(peer, pw, sizeof(pw)));
			return -EINVAL;
		}
	/* Non-blocking: a full backlog fails at once instead of waiting for an accept. */
	sk = socket(AF_UNIX, (int)u->type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (sk < 0) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: %s: cannot make a socket", pid, fd,
			 sk_desc(u, what, sizeof(what)));
		return err;
	}
	if (u->type == SOCK_DGRAM && u->name.len)
		err = rebind(sk, u, pid, fd);
	if (!err && connect(sk, (struct sockaddr *)&a, sk_addr(peer, &a))) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: %s: cannot connect to %s again", pid, fd,
			 sk_desc(u, what, sizeof(what)), sk_desc(peer, pw, sizeof(pw)));
	}
	if (!err)
		err = finish(sk, u, pid, fd);
	if (err) {
		close(sk);
		return err;
	}
	pr_debug("pid %d fd %d: %s connected to %s again", pid, fd, sk_desc(u, what, sizeof(what)),
		 sk_desc(peer, pw, sizeof(pw)));
	return lift(sk, base, pid, fd);
}

/* @fe was connected to socket @x outside the dumped tree (USK_EXTERN). */
static int connect_external(const struct rimg *r, const FileEntry *fe, const UnixSkEntry *x,
			    pid_t pid, int fd, int base, int ext_unix_sk)
{
	char what[160], pw[160];

	if (!ext_unix_sk) {
		pr_err("pid %d fd %d: %s was connected to %s, outside the dumped tree: restore with --ext-unix-sk to connect it to that name again, or give it a socket with --inherit-fd fd[N]:socket:[%u]",
		       pid, fd, sk_desc(fe->usk, what, sizeof(what)), sk_desc(x, pw, sizeof(pw)),
		       fe->usk->ino);
		return -ENOTSUP;
	}
	if (!x->name.len) {
		pr_err("pid %d fd %d: %s was connected to %s, outside the dumped tree, which has no name to connect to: give it a socket with --inherit-fd fd[N]:socket:[%u]",
		       pid, fd, sk_desc(fe->usk, what, sizeof(what)), sk_desc(x, pw, sizeof(pw)),
		       fe->usk->ino);
		return -ENOTSUP;
	}
	return connect_to(r, fe, x, pid, fd, base);
}

int rfiles_unix_open(const struct rimg *r, long idx, int *tmp, pid_t pid, int fd, int base,
		     int ext_unix_sk)
{
	const FileEntry *fe = r->files[idx];
	const UnixSkEntry *u = fe->usk;
	struct sockaddr_un a;
	char what[160];
	long pidx = -1;
	int sk, err = 0, tx;

	if (u->uflags) {
		pr_err("pid %d fd %d: %s is marked external (outside the dumped tree): no fd of the tree can be it",
		       pid, fd, sk_desc(u, what, sizeof(what)));
		return -EINVAL;
	}
	if (u->state == TCP_ESTABLISHED && u->peer) {
		long xi = find_ino(r, u->peer);
		const UnixSkEntry *x = xi >= 0 ? r->files[xi]->usk : NULL;

		if (x && x->uflags)
			return connect_external(r, fe, x, pid, fd, base, ext_unix_sk);
		if (x && x->state == TCP_LISTEN && u->type != SOCK_DGRAM) {
			/* Not accepted yet at the dump: the listener first, then connect to it. */
			if (tmp[xi] < 0) {
				int l = rfiles_unix_open(r, xi, tmp, pid, fd, base, ext_unix_sk);

				if (l < 0)
					return l;
				tmp[xi] = l;
			}
			return connect_to(r, fe, x, pid, fd, base);
		}
		pidx = find_peer(r, u);
		if (pidx < 0) {
			pr_err("pid %d fd %d: %s is connected to socket:[%u], which is no unix socket of files.img connected back to it",
			       pid, fd, sk_desc(u, what, sizeof(what)), u->peer);
			return -EINVAL;
		}
	}
	if (u->state == TCP_ESTABLISHED && (u->type != SOCK_DGRAM || u->peer))
		return make_pair(r, idx, pidx, tmp, pid, fd, base);
	sk = socket(AF_UNIX, (int)u->type | SOCK_CLOEXEC, 0);
	if (sk < 0) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: %s: cannot make a socket", pid, fd,
			 sk_desc(u, what, sizeof(what)));
		return err;
	}
	if (u->name.len)
		err = rebind(sk, u, pid, fd);
	if (!err && u->state == TCP_LISTEN && listen(sk, (int)u->backlog)) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: %s: cannot listen", pid, fd,
			 sk_desc(u, what, sizeof(what)));
	}
	if (!err && u->state != TCP_LISTEN) {
		/* A bound datagram socket's queue: sent again from a temporary socket. */
		for (size_t i = 0; i < r->nr_skq && !err; i++) {
			if (r->skq[i].id_for != fe->id)
				continue;
			if (!u->name.len || u->type != SOCK_DGRAM) {
				pr_err("pid %d fd %d: %s has queued data but no peer and no name to send it to",
				       pid, fd, sk_desc(u, what, sizeof(what)));
				err = -EINVAL;
				break;
			}
			tx = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
			if (tx < 0) {
				err = -errno;
				break;
			}
			err = refill(r, fe->id, tx, &a, sk_addr(u, &a), u, pid, fd);
			close(tx);
			break;
		}
	}
	if (!err)
		err = finish(sk, u, pid, fd);
	if (err) {
		close(sk);
		return err;
	}
	return lift(sk, base, pid, fd);
}
