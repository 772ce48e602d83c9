/* SPDX-License-Identifier: MIT */
/*
 * AF_INET and AF_INET6 sockets in the fd dumper (dump_files.h), as CRIU
 * keeps them: an inet_sk_entry in files.img (file_entry.isk, fdinfo type
 * INETSK) with its sk_opts_entry, ip_opts_entry and tcp_opts_entry.
 *
 * Dumped (the tree being frozen; read from ferry's copy of the fd, taken with
 * pidfd_getfd): TCP sockets listening, or not connected (created, maybe
 * bound), or closed; UDP sockets bound or connected. The family, type and
 * protocol come from SO_DOMAIN/SO_TYPE/SO_PROTOCOL, the addresses from
 * getsockname/getpeername, a TCP socket's state and a listener's backlog and
 * accept queue from TCP_INFO (tcpi_state, tcpi_sacked = the backlog,
 * tcpi_unacked = connections not accepted yet). Options: SO_SNDBUF/RCVBUF
 * (and whether the user locked them, SO_BUF_LOCK), timeouts, SO_REUSEADDR,
 * SO_REUSEPORT, SO_PRIORITY, SO_RCVLOWAT, SO_MARK, SO_KEEPALIVE,
 * SO_BROADCAST, SO_OOBINLINE, SO_LINGER, SO_BINDTODEVICE, TCP_NODELAY,
 * TCP_CORK, TCP_KEEPIDLE/INTVL/CNT, IP_FREEBIND (IPV6_FREEBIND), IP_TOS,
 * IP_TTL (unicast hops for v6), IPV6_V6ONLY; the open flags (O_NONBLOCK)
 * and the owner (fown) as every file.
 *
 * Not kept: datagrams queued on a UDP socket are dropped, as a network may
 * drop them (CRIU does the same); the socket works after restore.
 *
 * Refused, named with pid, fd, socket, family, type and protocol: packet,
 * raw and every other family or protocol (SCTP, UDP-Lite, ...), an
 * established TCP connection ("established connection: needs
 * --tcp-established", with both addresses) and the TCP states on the way
 * to or from it (SYN_SENT, FIN_WAIT, TIME_WAIT, CLOSE_WAIT, ...), a listener
 * with connections not accepted yet (those have no fd: CRIU cannot keep them
 * either without --tcp-established).
 *
 * Where established connections plug in (the --tcp-established work): a
 * socket in TCP_ESTABLISHED reaches the static isk_established() in
 * dump_inet_sk.c with its struct isk_dump filled (4-tuple, state, family,
 * ino, options), once from the preflight files_inet_classify() (dumping 0:
 * only judge, e.g. refuse without --tcp-established; nothing may change the
 * socket there) and once from files_inet_add() (dumping 1: the tree is
 * frozen). Today it refuses both times. That function is the one hook to
 * replace: with --tcp-established, at dumping 1, it puts the socket in
 * repair mode (user/core/tcp_repair.c), writes tcp-stream-<ino>.img (CRIU's
 * tcp_stream_entry) and returns 0; files_inet_add() then records it like any
 * other socket (state ESTABLISHED, both addresses, in files_inet_write()).
 * The option has to reach it through struct files_dump_opts (dump_files.h). The restore
 * side's twin is rfiles_inet_established() in restore/files_inet_sk.h.
 */
#ifndef FERRY_DUMP_INET_SK_H
#define FERRY_DUMP_INET_SK_H

#include <stdint.h>
#include <sys/types.h>

#include "fown.pb-c.h"

struct files_dump;
struct probe;
struct desc;
struct img;
struct fown_v;

/* One TCP or UDP socket: its desc's isk (free with files_inet_free). */
struct isk_dump {
	uint32_t ino, family, type, proto, state;
	uint32_t src_port, dst_port;  /* host order */
	uint32_t src[4], dst[4];      /* network order; [0] only for AF_INET */
	uint32_t backlog, unaccepted; /* a listener's (TCP_INFO) */
	/* SOL_SOCKET */
	uint32_t sndbuf, rcvbuf, buf_lock, priority, rcvlowat, mark;
	uint64_t snd_tmo_us, rcv_tmo_us;
	int reuseaddr, reuseport, keepalive, broadcast, oobinline;
	int linger_on;
	uint32_t linger_s;
	char bound_dev[16]; /* SO_BINDTODEVICE, "" if none */
	/* SOL_TCP */
	int nodelay, cork;
	uint32_t keepcnt, keepidle, keepintvl;
	/* SOL_IP / SOL_IPV6 */
	int v6only, freebind;
	uint32_t tos, ttl;
};

/*
 * files_inet_classify - is socket p (of @pid) a TCP or UDP socket that can be
 * dumped (p->type = INETSK), or a netlink one (NETLINKSK)? Returns 0 then; -ENOENT for an AF_UNIX
 * socket (for dump_unix_sk.c); -ENOTSUP (logged: pid, fd, socket, family, type, protocol and why)
 * for every other socket and for a TCP state ferry cannot keep; -errno if the socket cannot be
 * read.
 */
int files_inet_classify(pid_t pid, struct probe *p);

/*
 * files_inet_add - a new description for inet socket p of @pid (copied into
 * ferry as @lfd) with owner @fo; *id its file id. Returns 0, -ENOTSUP
 * (logged) or -errno.
 */
int files_inet_add(struct files_dump *d, pid_t pid, const struct probe *p, int lfd,
		   const struct fown_v *fo, uint32_t *id);

/* files_inet_free - what files_inet_add allocated (NULL is fine). */
void files_inet_free(struct isk_dump *s);

/* files_inet_write - the file_entry of socket description @e into @img. Returns 0 or -errno. */
int files_inet_write(struct img *img, const struct desc *e, FownEntry *fown);

#endif
