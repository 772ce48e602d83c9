/* SPDX-License-Identifier: MIT */
/*
 * AF_UNIX sockets in the fd dumper (dump_files.h), as CRIU keeps them: a
 * unix_sk_entry in files.img (file_entry.usk, fdinfo type UNIXSK) and the
 * bytes queued on each socket in sk-queues.img (one sk_packet_entry and its
 * payload per message; a stream socket's bytes as one entry).
 *
 * What is read, the tree being frozen: the type (SO_TYPE), state, name, peer
 * inode, shutdown state and queue lengths from sock_diag (NETLINK_SOCK_DIAG,
 * UNIX_DIAG, by inode, in ferry's network namespace), the options SO_SNDBUF,
 * SO_RCVBUF, SO_PASSCRED and the timeouts from ferry's copy of the fd
 * (pidfd_getfd), and the receive queue with MSG_PEEK at SO_PEEK_OFF 0
 * (restored to its value after), one message per recvmsg for datagram and
 * seqpacket sockets.
 *
 * A connection not accepted yet (its server side, the "embryo", has no fd)
 * is kept as CRIU keeps it: the client's entry names the listener as its
 * peer, and the restore connects it to the listener again. sock_diag lists
 * a listener's pending clients (UNIX_DIAG_ICONS, their inodes).
 *
 * With ext_unix_sk (--ext-unix-sk), a peer that no process of the tree
 * holds is recorded as CRIU records it: an entry of its own with uflags
 * USK_EXTERN, its inode, type and name, state listening, no fd; the
 * restore connects to that name again (or takes --inherit-fd
 * fd[N]:socket:[INO] for a peer without a name).
 *
 * Refused, named (pid, fd, socket, reason): a peer that is not a socket of
 * the dumped tree without ext_unix_sk, bytes queued from such a peer (they
 * cannot be sent again from outside), a peer that is not connected back (a
 * datagram socket connect()ed to a bound one), a relative bound path, file
 * descriptors in flight (SCM_RIGHTS), a pending connection whose client is
 * outside the tree or closed, or whose client sent bytes before it was
 * accepted (they sit in the embryo's queue, which nothing can read without
 * accepting it).
 */
#ifndef FERRY_DUMP_UNIX_SK_H
#define FERRY_DUMP_UNIX_SK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fown.pb-c.h"

struct files_dump;
struct probe;
struct desc;
struct img;
struct fown_v;

/* One AF_UNIX socket: its desc's usk (free with files_unix_free). */
struct usk_dump {
	uint32_t ino, peer, type, state, backlog, shutdown;
	uint32_t rqlen;	 /* sock_diag's: pending connections of a listener */
	uint32_t wqlen;	 /* sock_diag's: bytes sent and not read yet (0 for a listener) */
	uint32_t *icons; /* a listener's pending clients (their inodes; 0: closed) */
	size_t nr_icons;
	int ext; /* an external peer: no fd of the tree holds it (USK_EXTERN) */
	uint32_t sndbuf, rcvbuf;
	uint64_t snd_tmo_us, rcv_tmo_us;
	int passcred;
	size_t namelen; /* abstract names start with '\0' */
	char name[108];
	/* the receive queue: nr_msg messages of lens[i] bytes, one after another in buf */
	size_t nr_msg;
	uint32_t *lens;
	uint8_t *buf;
};

/*
 * files_unix_classify - is socket p (of @pid) an AF_UNIX one? Sets p->type
 * and returns 0; returns -ENOTSUP (logged: pid, fd, the family or protocol)
 * for another socket, -ENOENT if p is no socket.
 */
int files_unix_classify(pid_t pid, struct probe *p);

/*
 * files_unix_add - a new description for unix socket p of @pid (copied into
 * ferry as @lfd) with owner @fo; *id its file id. Returns 0, -ENOTSUP
 * (logged) or -errno.
 */
int files_unix_add(struct files_dump *d, pid_t pid, const struct probe *p, int lfd,
		   const struct fown_v *fo, uint32_t *id);

/* USK_EXTERN of unix_sk_entry.uflags: CRIU's bit for a socket outside the dump. */
#define USK_EXTERN_FLAG 1u

/* files_unix_diag - what sock_diag says about unix socket @ino (0, -ENOENT, -errno). */
int files_unix_diag(uint32_t ino, struct usk_dump *u);

/*
 * files_unix_peers - resolve the peers of every unix socket of @d before
 * anything is written: pending connections pointed at their listener,
 * external peers added as entries of their own (with d->o.ext_unix_sk);
 * whatever cannot be kept is logged (pid, fd, socket, peer, why) and makes
 * it return -ENOTSUP, after checking all of them. Returns 0 or -errno.
 */
int files_unix_peers(struct files_dump *d);

/* files_unix_free - what files_unix_add allocated (NULL is fine). */
void files_unix_free(struct usk_dump *u);

/* files_unix_write - the file_entry of socket description @e into @img. Returns 0 or -errno. */
int files_unix_write(struct img *img, const struct desc *e, FownEntry *fown);

/*
 * files_unix_commit - check that every connected socket of @d has its peer
 * in @d, connected back (-ENOTSUP, logged, naming pid, fd and the peer,
 * otherwise), then write sk-queues.img (none if nothing is queued). Returns
 * 0 or -errno.
 */
int files_unix_commit(struct files_dump *d, int dirfd);

#endif
