// SPDX-License-Identifier: MIT
/*
 * Opening inodes by file handle (see fhandle.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fhandle.h"
#include "util.h"

/* Does mountinfo line @l name a mount of @dev? Its mount point goes to @mnt. */
static int mount_of(const char *l, dev_t dev, char *mnt, size_t mlen, int *at_root)
{
	char root[PATH_MAX], point[PATH_MAX];
	unsigned int maj, min;

	if (sscanf(l, "%*d %*d %u:%u %4095s %4095s", &maj, &min, root, point) != 4)
		return 0;
	if (makedev(maj, min) != dev)
		return 0;
	snprintf(mnt, mlen, "%s", point);
	*at_root = !strcmp(root, "/");
	return 1;
}

/*
 * A directory fd on a mount of @dev: open_by_handle_at() takes any file of
 * the filesystem, but not an O_PATH one. Mount points with escaped
 * characters (\040) are not decoded: such a mount fails to open.
 */
static int open_mount_of(dev_t dev)
{
	char *text = NULL, *save = NULL, mnt[PATH_MAX], best[PATH_MAX] = "";
	int fd, err, at_root = 0, have = 0;
	size_t len;

	fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	err = read_fd_all(fd, &text, &len, SIZE_MAX);
	close(fd);
	if (err)
		return err;
	for (char *l = strtok_r(text, "\n", &save); l && !at_root;
	     l = strtok_r(NULL, "\n", &save)) {
		int root = 0;

		if (mount_of(l, dev, mnt, sizeof(mnt), &root) && (!have || root)) {
			snprintf(best, sizeof(best), "%s", mnt);
			have = 1;
			at_root = root;
		}
	}
	free(text);
	if (!have)
		return -ENODEV;
	fd = open(best, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return fd < 0 ? -errno : fd;
}

int fh_open(dev_t dev, int type, const void *handle, size_t bytes, int flags)
{
	struct {
		struct file_handle h;
		unsigned char b[FH_MAX_BYTES];
	} fh;
	int mfd, fd, err = 0;

	if (bytes > FH_MAX_BYTES)
		return -EINVAL;
	mfd = open_mount_of(dev);
	if (mfd < 0)
		return mfd;
	fh.h.handle_bytes = (unsigned int)bytes;
	fh.h.handle_type = type;
	memcpy(fh.h.f_handle, handle, bytes);
	fd = open_by_handle_at(mfd, &fh.h, flags | O_CLOEXEC);
	if (fd < 0)
		err = -errno;
	close(mfd);
	return err ? err : fd;
}
