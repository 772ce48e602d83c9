/* SPDX-License-Identifier: MIT */
/*
 * File handles (name_to_handle_at / open_by_handle_at) of inodes the kernel
 * names by device and handle, as inotify's fdinfo does.
 */
#ifndef FERRY_FHANDLE_H
#define FERRY_FHANDLE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/sysmacros.h>
#include <sys/types.h>

#define FH_MAX_BYTES 128 /* MAX_HANDLE_SZ */

/* The kernel's internal dev_t (major << 20 | minor), as fdinfo prints it, in user space's. */
static inline dev_t fh_kdev(uint32_t k)
{
	return makedev(k >> 20, k & 0xfffff);
}

/*
 * fh_open - open the inode that handle @handle (@bytes bytes, of type
 * @type) names on device @dev, through a mount of @dev in ferry's mount
 * namespace (one mounted at the filesystem's root if there is one), with
 * @flags (O_PATH is fine). Needs CAP_DAC_READ_SEARCH. Returns the fd, or
 * -ENODEV (no mount of @dev), -ESTALE (the inode is gone: deleted, or the
 * number reused by another file), -EINVAL, or the -errno of the calls. Not
 * logged: the caller knows what the inode is.
 */
int fh_open(dev_t dev, int type, const void *handle, size_t bytes, int flags);

#endif
