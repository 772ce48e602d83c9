/* SPDX-License-Identifier: MIT */
/*
 * inotify instances of a frozen process, in CRIU's format: a file_entry of
 * type INOTIFY whose inotify_file_entry lists the watches (inotify_wd_entry:
 * wd, mask, inode, device and the inode's file handle).
 *
 * The watches come from the "inotify wd:... ino:... sdev:... mask:...
 * f_handle:..." lines of /proc/PID/fdinfo/FD. Each watched inode is opened
 * here by its handle (open_by_handle_at on a mount of its device) to learn a
 * path to it, which goes into the handle entry's path: the restore adds the
 * watch by that path and checks it still leads to the same inode. A watch on
 * an inode without a name (unlinked), or one ferry cannot open, is refused;
 * so is every fanotify instance.
 */
#ifndef FERRY_DUMP_INOTIFY_H
#define FERRY_DUMP_INOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "fsnotify.pb-c.h"

/* The watches of one inotify fd. */
struct inotify_dump {
	size_t n;
	InotifyWdEntry *wd;
	InotifyWdEntry **ptrs;
	FhEntry *fh;
	uint64_t (*handle)[16]; /* per watch: MAX_HANDLE_SZ bytes, as CRIU stores them */
	char **path;
};

/*
 * dump_fsnotify_classify - is fd @fd of @pid, whose /proc link is @link, an
 * inotify instance ferry can dump? Returns 1 if @link is no fsnotify kind
 * (not ours to judge), 0 for an inotify fd whose every watch resolves to a
 * path (@same_mntns: the target sees paths as ferry does; needed), -ENOTSUP
 * for a fanotify fd or a watch that cannot be dumped (each logged with pid,
 * fd and wd), or another -errno.
 */
int dump_fsnotify_classify(pid_t pid, int fd, const char *link, int same_mntns);

/*
 * dump_inotify_read - the watches of inotify fd @fd of @pid, for file id
 * @id, into *@out (malloc'd; dump_inotify_free). Returns 0, -ENOTSUP for a
 * watch that cannot be dumped (logged), -EINVAL for fdinfo text ferry cannot
 * parse (logged), or -errno.
 */
int dump_inotify_read(pid_t pid, int fd, uint32_t id, int same_mntns, struct inotify_dump **out);

/* dump_inotify_free - free what dump_inotify_read() made; NULL is fine. */
void dump_inotify_free(struct inotify_dump *w);

#endif
