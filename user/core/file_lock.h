/* SPDX-License-Identifier: MIT */
/*
 * File locks as the kernel shows them: the "lock:" lines of
 * /proc/PID/fdinfo/N and the lines of /proc/locks, e.g.
 *
 *   1: POSIX  ADVISORY  WRITE 4242 fe:00:10961046 10 14
 *   2: OFDLCK ADVISORY  READ -1 fe:00:10961047 1073741824 EOF
 *   3: FLOCK  ADVISORY  READ 4242 fe:00:10961048 0 EOF
 *   4: -> POSIX  ADVISORY  WRITE 4243 fe:00:10961046 0 EOF    (a waiter)
 *
 * fields: an ordinal, "->" for a request blocked behind the line before
 * (/proc/locks only), the kind, a mode word (ADVISORY; a lease's state),
 * the type, the pid, major:minor:inode (hex, hex, decimal), the first and
 * the last byte (EOF: to the end and beyond). A POSIX lock's pid is the
 * process that owns it; an OFD lock shows -1 (it belongs to the open file
 * description); a flock lock shows the process that took it, but it too
 * belongs to the description. flock locks are whole-file: "0 EOF".
 *
 * fdinfo N lists the locks taken through the description of fd N and held
 * by it (flock, OFD) or by the fd table that N is in (POSIX): the same
 * flock lock shows under every fd of every process that shares the
 * description, a POSIX lock only in its owner and under the fds of the
 * description it was taken through.
 *
 * The kinds are numbered as CRIU's file_lock_entry.flag (filelocks.img).
 */
#ifndef FERRY_FILE_LOCK_H
#define FERRY_FILE_LOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define FILE_LOCK_POSIX 1u
#define FILE_LOCK_FLOCK 2u
#define FILE_LOCK_OFD 4u
#define FILE_LOCK_LEASE 8u /* leases and delegations: never dumped */

struct file_lock {
	uint32_t kind; /* FILE_LOCK_*, or 0 for a kind ferry does not know */
	char name[16]; /* the kind as the kernel printed it: "POSIX", "DELEG", ... */
	int type;      /* F_RDLCK or F_WRLCK (flock: shared or exclusive), F_UNLCK */
	pid_t pid;     /* as printed (see above) */
	unsigned int maj, min;
	uint64_t ino;
	int64_t start; /* first byte */
	int64_t len;   /* bytes; 0: to the end of the file and beyond (EOF) */
	int blocked;   /* a "->" line: a request waiting, not a lock held */
};

/*
 * file_lock_parse - parse one line (@len bytes, no newline needed, without
 * the "lock:" prefix of fdinfo). Returns 0, or -EINVAL if it does not read
 * as above. An unknown kind parses, with kind 0.
 */
int file_lock_parse(const char *line, size_t len, struct file_lock *l);

/*
 * file_lock_str - "POSIX write lock on bytes 10-14", "OFD read lock on
 * bytes 100-EOF", "flock exclusive lock", "LEASE read lock" into @buf.
 * Returns @buf.
 */
const char *file_lock_str(uint32_t kind, const char *name, int type, int64_t start, int64_t len,
			  char *buf, size_t size);

/* file_lock_desc - file_lock_str() of a parsed lock. */
const char *file_lock_desc(const struct file_lock *l, char *buf, size_t size);

/*
 * file_lock_conflicts - whether a lock of @kind, @type and range can be
 * refused because of lock @other: same family (flock against flock; POSIX
 * and OFD against each other), overlapping ranges, and one of them a write
 * lock. Held locks only: a waiter never conflicts.
 */
int file_lock_conflicts(uint32_t kind, int type, int64_t start, int64_t len,
			const struct file_lock *other);

/*
 * file_lock_read_proc - every line of /proc/locks into a malloc'd array.
 * Returns 0, or -errno if it cannot be read, -EINVAL if a line does not
 * parse (logged with the line).
 */
int file_lock_read_proc(struct file_lock **out, size_t *nr);

#endif
