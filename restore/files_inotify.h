/* SPDX-License-Identifier: MIT */
/*
 * inotify instances of a dump (file_entry.ify), made again in ferry with
 * their watches before the tree inherits them.
 *
 * Each watch is added on the dumped inode itself, opened by its file handle
 * (a file deleted or replaced since the dump fails with ESTALE, even if its
 * inode number was reused); where the handle cannot be opened here, by the
 * path the dump found for it, if that still leads to the same device and inode
 * number. The wd numbers are kept: the kernel hands them out upwards from
 * the last one given, so a watch that comes with a lower wd than dumped is
 * removed and added again until the wd matches (watches in ascending wd
 * order). The IN_IGNORED events those removals queue are read off before the
 * instance is handed over; events that were queued at dump time are not kept.
 */
#ifndef FERRY_RESTORE_FILES_INOTIFY_H
#define FERRY_RESTORE_FILES_INOTIFY_H

#include <stddef.h>
#include <sys/types.h>

#include "images.h"

/* The highest wd the restore reaches by counting (one add and remove per number). */
#define RFILES_INOTIFY_MAX_WD (1 << 20)

/*
 * rfiles_inotify_check - an INOTIFY entry @f of @img_name, read at offset
 * @at, that the restore can make: ids agree, wds unique and in 1..MAX_WD, a
 * mask inotify_add_watch() takes, an absolute path for every watch, flags of
 * an inotify fd. Returns 0 or -EINVAL (logged with the file, the offset, the
 * file id and the wd).
 */
int rfiles_inotify_check(const char *img_name, size_t at, const FileEntry *f);

/*
 * rfiles_inotify_open - a new inotify instance with the watches of @fe, for
 * fd @fd of @pid. Returns the fd (O_CLOEXEC) or -errno: -ENOENT / -ESTALE
 * when a watched file vanished or is another file now, -EEXIST when a wd
 * cannot be had; logged with pid, fd, wd and path.
 */
int rfiles_inotify_open(const FileEntry *fe, pid_t pid, int fd);

#endif
