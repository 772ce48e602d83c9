/* SPDX-License-Identifier: MIT */
/*
 * The file locks of a dump (filelocks.img), taken again by the restored
 * processes themselves.
 *
 * Each lock is taken by a remote call in the process that dumped it, on the
 * fd it was dumped with: fcntl(F_SETLK) for a POSIX lock, which then belongs
 * to that process as before; fcntl(F_OFD_SETLK) and flock() for OFD and
 * flock locks, which belong to the open file description, shared again by
 * every process and fd that shared it. Never blocking: a lock someone else
 * holds now fails the restore, naming who holds what.
 *
 * Locks are taken last, after every process is rebuilt and before any runs:
 * closing any fd on a file drops the POSIX locks of the process on it, and
 * the rebuild opens and closes files in the process (file mappings) and in
 * the shells (their copies of ferry's descriptions).
 */
#ifndef FERRY_RESTORE_LOCKS_H
#define FERRY_RESTORE_LOCKS_H

#include "images.h"
#include "rtask.h"

/*
 * rlocks_check - before anything is made: a dump that holds locks is
 * refused unless @file_locks (--file-locks), each lock named with its pid,
 * fd, file, kind, type and range. Returns 0 or -ENOTSUP.
 */
int rlocks_check(const struct rimg *r, int file_locks);

/*
 * rlocks_take - take the locks of process @t again, in image order. Returns
 * 0, or the -errno of the first that cannot be taken (-EAGAIN or -EACCES:
 * held by someone else now; logged with the pid, fd, file, the lock and the
 * locks in its way from /proc/locks).
 */
int rlocks_take(struct rtask *t, const struct rimg *r);

#endif
