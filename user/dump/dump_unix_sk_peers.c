// SPDX-License-Identifier: MIT
/*
 * The peers of the unix sockets of a dump (see dump_unix_sk.h): pending
 * connections pointed at their listener, peers outside the tree kept as
 * external entries (--ext-unix-sk) or refused by name.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <netinet/tcp.h>

#define LOG_PREFIX "files: "
#include "log.h"
#include "dump_files.h"
#include "dump_files_priv.h"
#include "dump_unix_sk.h"

/* " (NAME)" or " (@NAME)" of @u for messages, "" for an unnamed socket. */
static const char *name_of(const struct usk_dump *u, char *buf, size_t size)
{
	buf[0] = '\0';
	if (u->namelen && u->name[0])
		snprintf(buf, size, " (%.*s)", (int)u->namelen, u->name);
	else if (u->namelen > 1)
		snprintf(buf, size, " (@%.*s)", (int)u->namelen - 1, u->name + 1);
	return buf;
}

static struct desc *find_ino(struct files_dump *d, uint32_t ino)
{
	for (size_t i = 0; i < d->nd; i++)
		if (d->d[i].type == FD_TYPES__UNIXSK && d->d[i].usk->ino == ino)
			return &d->d[i];
	return NULL;
}

/* The listener of the tree that client @ino waits on (not accepted yet), or NULL. */
static const struct desc *listener_of(const struct files_dump *d, uint32_t ino)
{
	for (size_t i = 0; i < d->nd; i++) {
		const struct usk_dump *l = d->d[i].usk;

		if (d->d[i].type != FD_TYPES__UNIXSK || l->state != TCP_LISTEN)
			continue;
		for (size_t k = 0; k < l->nr_icons; k++)
			if (l->icons[k] == ino)
				return &d->d[i];
	}
	return NULL;
}

/* Every pending client of listener @e is a socket of the tree? Logs each that is not. */
static size_t check_listener(struct files_dump *d, const struct desc *e)
{
	const struct usk_dump *u = e->usk;
	char nm[140];
	size_t bad = 0;

	for (size_t k = 0; k < u->nr_icons; k++) {
		if (!u->icons[k]) {
			pr_err("pid %d fd %d: socket:[%u]%s has a connection not accepted yet whose client is closed: not supported (what it sent cannot be read)",
			       e->pid, e->fd, u->ino, name_of(u, nm, sizeof(nm)));
			bad++;
		} else if (!find_ino(d, u->icons[k])) {
			pr_err("pid %d fd %d: socket:[%u]%s has a connection not accepted yet from socket:[%u], which no process of the dumped tree holds: not supported",
			       e->pid, e->fd, u->ino, name_of(u, nm, sizeof(nm)), u->icons[k]);
			bad++;
		}
	}
	return bad;
}

/* Client @e of a connection not accepted yet by @l: its peer becomes the listener (CRIU's way). */
static size_t point_at_listener(struct desc *e, const struct desc *l)
{
	struct usk_dump *u = e->usk;
	char nm[140];

	if (u->wqlen) {
		pr_err("pid %d fd %d: socket:[%u] is a connection to socket:[%u]%s not accepted yet, with data sent into it (%u bytes of buffers): not supported (the bytes sit in the server's socket, which has no fd to read them from before accept)",
		       e->pid, e->fd, u->ino, l->usk->ino, name_of(l->usk, nm, sizeof(nm)),
		       u->wqlen);
		return 1;
	}
	u->peer = l->usk->ino;
	pr_debug("pid %d fd %d: socket:[%u] waits to be accepted by socket:[%u]%s", e->pid, e->fd,
		 u->ino, l->usk->ino, name_of(l->usk, nm, sizeof(nm)));
	return 0;
}

/* Peer @p of @e is a socket of the tree: it must be connected back, of the same type. */
static size_t check_inside(const struct desc *e, const struct desc *p)
{
	if (p->usk->peer != e->usk->ino) {
		pr_err("pid %d fd %d: socket:[%u] is connected to socket:[%u] (pid %d fd %d), which is not connected back: not supported",
		       e->pid, e->fd, e->usk->ino, e->usk->peer, p->pid, p->fd);
		return 1;
	}
	if (p->usk->type != e->usk->type) {
		pr_err("pid %d fd %d: socket:[%u] and its peer socket:[%u] differ in type", e->pid,
		       e->fd, e->usk->ino, e->usk->peer);
		return 1;
	}
	return 0;
}

/* Peer of @e outside the tree: kept (its inode added to @ext) or refused. */
static size_t check_outside(const struct files_dump *d, const struct desc *e, uint32_t *ext,
			    size_t *next)
{
	const struct usk_dump *u = e->usk;
	size_t k;

	if (!d->o.ext_unix_sk) {
		pr_err("pid %d fd %d: socket:[%u] is connected to socket:[%u], which no process of the dumped tree holds: not supported without --ext-unix-sk",
		       e->pid, e->fd, u->ino, u->peer);
		return 1;
	}
	if (u->nr_msg) {
		pr_err("pid %d fd %d: socket:[%u] has %zu message(s) queued from socket:[%u] outside the dumped tree: not supported (only that peer could queue them again)",
		       e->pid, e->fd, u->ino, u->nr_msg, u->peer);
		return 1;
	}
	for (k = 0; k < *next && ext[k] != u->peer; k++)
		;
	if (k == *next)
		ext[(*next)++] = u->peer;
	return 0;
}

/* An entry of its own for socket @ino outside the tree (USK_EXTERN). */
static int add_external(struct files_dump *d, uint32_t ino)
{
	struct usk_dump *x = calloc(1, sizeof(*x));
	struct probe *pr = calloc(1, sizeof(*pr));
	struct desc *e;
	char nm[140];
	int ret = -ENOMEM;

	if (!x || !pr)
		goto out;
	ret = files_unix_diag(ino, x);
	if (ret) {
		pr_errno(ret,
			 "socket:[%u], a peer outside the dumped tree: sock_diag does not know it",
			 ino);
		goto out;
	}
	free(x->icons);
	x->icons = NULL;
	x->nr_icons = 0;
	x->ino = ino;
	x->ext = 1;
	x->peer = 0;
	x->state = TCP_LISTEN; /* as CRIU writes it: a name to connect to */
	pr->fd = -1;
	e = files_desc_new(d, FD_TYPES__UNIXSK, SRC_AUX, 0, pr, NULL);
	ret = e ? 0 : -ENOMEM;
	if (ret)
		goto out;
	e->usk = x;
	x = NULL;
	pr_info("socket:[%u]%s: a peer outside the dumped tree, kept as external (--ext-unix-sk)",
		ino, name_of(e->usk, nm, sizeof(nm)));
out:
	files_unix_free(x);
	free(pr);
	return ret;
}

int files_unix_peers(struct files_dump *d)
{
	size_t n = d->nd, bad = 0, next = 0;
	uint32_t *ext = calloc(n ? n : 1, sizeof(*ext));
	int ret = 0;

	if (!ext)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		struct desc *e = &d->d[i];
		const struct desc *p;
		struct usk_dump *u = e->usk;

		if (e->type != FD_TYPES__UNIXSK || u->ext)
			continue;
		if (u->state == TCP_LISTEN) {
			bad += check_listener(d, e);
		} else if (!u->peer) {
			if (u->state == TCP_ESTABLISHED && u->type != SOCK_DGRAM &&
			    (p = listener_of(d, u->ino)))
				bad += point_at_listener(e, p);
		} else if ((p = find_ino(d, u->peer))) {
			bad += check_inside(e, p);
		} else {
			bad += check_outside(d, e, ext, &next);
		}
	}
	if (bad)
		ret = -ENOTSUP;
	for (size_t k = 0; k < next && !ret; k++)
		ret = add_external(d, ext[k]);
	free(ext);
	return ret;
}
