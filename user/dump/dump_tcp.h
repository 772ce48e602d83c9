/* SPDX-License-Identifier: MIT */
/*
 * Established TCP connections in a dump (--tcp-established, docs/tcp.md).
 *
 * The preflight notes every connection of the frozen tree (dump_tcp_check),
 * dump_tcp_lock_all() locks them all in one transaction (user/core/netlock.h),
 * then for each: the socket put in repair mode and read
 * (user/core/tcp_repair.h), tcp-stream-INO.img written, the socket out of
 * repair mode again (the lock keeps it quiet). ferry keeps its copy of each
 * socket until the dump ends, and then one of:
 *   dump_tcp_abort   the dump failed: the locks removed;
 *   dump_tcp_resume  --leave-running: the same, before the tree goes on;
 *   dump_tcp_silence + the tree killed + dump_tcp_keep: the sockets put in
 *                    repair mode (their close sends nothing), the locks kept
 *                    for the restore.
 * A ferry killed in between leaves locks netlock_clean_stale() resolves.
 * One dump per process: the connections are this module's state.
 */
#ifndef FERRY_DUMP_TCP_H
#define FERRY_DUMP_TCP_H

#include <stdint.h>
#include <sys/types.h>

#include "tcp_repair.h"

/*
 * dump_tcp_setup - whether established connections are dumped (the user
 * gave --tcp-established: @enabled), and the directory the images go to
 * (@dirfd; -1 for a dry run, `ferry check -t`).
 */
void dump_tcp_setup(int enabled, int dirfd);

/* dump_tcp_allowed - 1 if dump_tcp_setup() enabled established connections. */
int dump_tcp_allowed(void);

/*
 * dump_tcp_check - the preflight's look at established connection socket
 * @ino (fd @fd of @pid; addresses in network order, 1 or 4 words by
 * @family; ports in host order): can it be dumped? In a real dump it is
 * noted for dump_tcp_lock_all(). Returns 0, or -ENOTSUP (logged) if @pid
 * is in another network namespace than ferry (the lock is made in
 * ferry's), or -errno.
 */
int dump_tcp_check(pid_t pid, int fd, uint32_t ino, uint32_t family, const uint32_t *src,
		   uint32_t src_port, const uint32_t *dst, uint32_t dst_port);

/*
 * dump_tcp_lock_all - lock every connection the preflight noted, in one
 * transaction, before any is read. Returns 0 or -errno (none locked then).
 */
int dump_tcp_lock_all(void);

/*
 * dump_tcp_conn - lock and dump the connection of socket @lfd (ferry's copy
 * of fd @fd of @pid, inode @ino) into tcp-stream-INO.img. @st gets
 * what was read (for inet_sk_entry: addresses, buffers, tcp_opts; its queues
 * already freed). Returns 0, -EOPNOTSUPP (a state other than ESTABLISHED,
 * logged with pid, fd and addresses), -ENOENT (no nft), or -errno; the lock
 * and repair mode are undone on error.
 */
int dump_tcp_conn(pid_t pid, int fd, int lfd, uint32_t ino, struct tcp_repair_state *st);

/* dump_tcp_count - how many connections were dumped so far. */
unsigned dump_tcp_count(void);

/* dump_tcp_abort - every dumped connection unlocked. Never fails. */
void dump_tcp_abort(void);

/* dump_tcp_resume - the same for a tree that goes on (--leave-running). Returns 0 or -errno. */
int dump_tcp_resume(void);

/* dump_tcp_silence - every dumped socket in repair mode: the tree's death sends nothing. */
void dump_tcp_silence(void);

/*
 * dump_tcp_keep - the tree is gone: turn the locks into kept ones (one
 * transaction) and drop ferry's copies of the sockets. Returns 0 or -errno
 * (the locks stay as they were: netlock_clean_stale() keeps them).
 */
int dump_tcp_keep(void);

#endif
