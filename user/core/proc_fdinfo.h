/* SPDX-License-Identifier: MIT */
/*
 * /proc/PID/fdinfo/N: the fields of an open file description that the
 * file dumper needs (position, open flags, mount id, inode number).
 *
 * The kernel prints "flags:" in octal and adds O_CLOEXEC to it when the
 * descriptor (not the description) has FD_CLOEXEC: callers split the two.
 * "lock:" lines become struct file_lock entries (file_lock.h says which
 * locks an fd shows). Lines the parser does not know (eventfd-count:,
 * tfd:, ...) are skipped.
 */
#ifndef FERRY_PROC_FDINFO_H
#define FERRY_PROC_FDINFO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "file_lock.h"

struct proc_fdinfo {
	uint64_t pos;	/* "pos:" */
	uint32_t flags; /* "flags:", octal in the file, O_CLOEXEC included */
	int32_t mnt_id; /* "mnt_id:", -1 if the kernel did not print it */
	uint64_t ino;	/* "ino:" (5.14+), valid if has_ino */
	int has_ino;
	struct file_lock *locks; /* "lock:" lines, malloc'd (NULL if none) */
	size_t nr_locks;
};

/*
 * proc_fdinfo_parse - parse the text of an fdinfo file (len bytes, need not
 * be NUL-terminated). Returns 0, or -EINVAL if "pos:" or "flags:" is
 * missing or a known field (a "lock:" line too) does not parse, -ENOMEM.
 * On success, proc_fdinfo_release() frees the locks; on error nothing is
 * left to free.
 */
int proc_fdinfo_parse(const char *buf, size_t len, struct proc_fdinfo *out);

/* proc_fdinfo_release - free what a successful parse allocated (the locks). */
void proc_fdinfo_release(struct proc_fdinfo *fi);

/*
 * proc_fdinfo_read - read and parse /proc/PID/fdinfo/FD. Returns 0, -ENOENT
 * if the process or the descriptor is gone, -EINVAL if the text does not
 * parse (logged with pid and fd), or another -errno (logged). As
 * proc_fdinfo_parse(), a success is to be released.
 */
int proc_fdinfo_read(pid_t pid, int fd, struct proc_fdinfo *out);

#endif
