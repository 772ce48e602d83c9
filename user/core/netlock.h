/* SPDX-License-Identifier: MIT */
/*
 * The network lock: while a tree's TCP connections are dumped, and until they
 * are restored, the packets of those connections are dropped on this host, so
 * that the peer gets no answer at all (no ACK, no RST) and keeps its data to
 * send again: a closed port would answer with an RST and end the connection.
 *
 * Each locked connection is one nftables table of its own (family inet) with
 * two base chains at priority -300 (before conntrack): "in" drops what the
 * peer sends to the socket, "out" drops what the socket sends to the peer.
 * nft(8) (Debian package nftables) applies each change as one transaction,
 * so a table is there whole or not at all. The table's name says who holds
 * the lock and what it locks:
 *
 *   ferry_dump_<ferry pid>_<its start time>_<target pid>_<fd>_<ino>_<conn>
 *        taken by a running ferry dump; <target pid>/<fd> is the target's
 *        socket (inode <ino>), which that dump has put in repair mode;
 *   ferry_kept_<conn>
 *        left by a dump that succeeded, for the restore to remove once the
 *        socket is made again (the dumped socket is gone: without the lock
 *        the peer's next packet would get an RST);
 *
 * where <conn> is "4_<local hex>_<port>_<remote hex>_<port>" (6 for IPv6).
 *
 * A ferry killed during a dump leaves its ferry_dump_ tables; any later
 * netlock_clean_stale() (every dump and restore runs it; `ferry netlock
 * clean` too) finds them by the dead owner and: if the target's socket is
 * still there (pidfd_getfd, same inode) takes it out of repair mode and drops
 * the lock (the tree runs on, as after a failed dump); if it is gone, keeps
 * the lock as a ferry_kept_ one (the dump may have been complete). A lock
 * with no target (<target pid> 0: a program's own connection) just goes.
 */
#ifndef FERRY_NETLOCK_H
#define FERRY_NETLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/types.h>

struct netlock_conn {
	struct sockaddr_storage src, dst; /* the socket's local and remote address */
	pid_t pid;			  /* the target holding it (0: none, e.g. a test) */
	int fd;				  /* its fd there */
	uint32_t ino;			  /* the socket's inode */
};

/* Longest <conn> and table name ferry makes, with their NUL. */
#define NETLOCK_CONN_MAX 96
#define NETLOCK_NAME_MAX 200

/*
 * netlock_take - lock connections @c[0..@n) for this process, in one
 * transaction. Returns 0, -ENOENT if nft is not installed, -EAFNOSUPPORT for
 * an address that is no IPv4/IPv6, or -EIO if nft refused (its message
 * logged).
 */
int netlock_take(const struct netlock_conn *c, size_t n);

/*
 * netlock_release - remove the locks this process took on @c (every path out
 * of a failed dump, and --leave-running once the tree runs). Returns 0 or
 * -errno as netlock_take; locks already gone are no error.
 */
int netlock_release(const struct netlock_conn *c, size_t n);

/*
 * netlock_keep - turn this process's locks on @c into kept locks, in one
 * transaction (a dump that succeeded and whose tree is gone). Returns 0 or
 * -errno as netlock_take.
 */
int netlock_keep(const struct netlock_conn *c, size_t n);

/*
 * netlock_unlock_kept - remove the kept locks of @c (restore, once the
 * sockets are made again; by hand with `ferry netlock unlock`). Missing
 * locks are no error. Returns 0 or -errno as netlock_take.
 */
int netlock_unlock_kept(const struct netlock_conn *c, size_t n);

/*
 * netlock_clean_stale - deal with the ferry_dump_ locks of ferry processes
 * that are gone (see above). Returns the number of locks handled, or -errno
 * (-ENOENT: no nft, nothing can be locked either).
 */
int netlock_clean_stale(void);

/*
 * netlock_unlock_all_kept - remove every ferry_kept_ lock (`ferry netlock
 * unlock all`: a dump that will never be restored). Returns the number removed,
 * or -errno.
 */
int netlock_unlock_all_kept(void);

/*
 * netlock_unlock_name - remove the lock table @name ("ferry_kept_<conn>",
 * "ferry_dump_...") or the kept lock of <conn> given alone (`ferry netlock
 * unlock NAME`). Returns 0, -EINVAL for a name that is none of ferry's,
 * -ENOENT if there is no such lock, or -errno as netlock_take.
 */
int netlock_unlock_name(const char *name);

/*
 * netlock_lock_name - take a kept lock on connection <conn> (`ferry netlock
 * lock CONN`: on the host or namespace a connection moves to, before its
 * address arrives, so that nothing answers the peer before the restore).
 * Returns 0, -EINVAL for a name that is no connection, or -errno as
 * netlock_take.
 */
int netlock_lock_name(const char *conn);

/* netlock_list - print ferry's lock tables to @out, one a line. Returns their number or -errno. */
int netlock_list(FILE *out);

/* netlock_conn_name - the <conn> part of the table names above, into @buf. */
int netlock_conn_name(const struct netlock_conn *c, char *buf, size_t len);

#endif
