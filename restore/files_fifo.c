// SPDX-License-Identifier: MIT
/*
 * Named FIFOs (see files.h): each description is opened again by its path,
 * with the flags of its regular file entry (fifo_entry.regf_id), the way
 * CRIU does it: a first open O_RDWR never blocks and holds both ends, so
 * the real open (through /proc/self/fd of that one) finds a peer whatever
 * its mode and O_NONBLOCK. The bytes the FIFO held (fifo-data.img) are
 * written through that first open, once per FIFO.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "files: "
#include "files.h"
#include "images.h"
#include "log.h"

#define OPEN_FLAGS_DROP (O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY)

/* Put @pd's bytes into the FIFO held open (both ends) as @hold. */
static int refill(int hold, const struct rimg_pipe_data *pd, pid_t pid, int fd, const char *path)
{
	size_t off = 0;

	if (pd->size && fcntl(hold, F_GETPIPE_SZ) < (int)pd->size &&
	    fcntl(hold, F_SETPIPE_SZ, (int)pd->size) < 0) {
		int err = -errno;

		pr_errno(err, "pid %d fd %d: cannot size FIFO %s to %u bytes", pid, fd, path,
			 pd->size);
		return err;
	}
	while (off < pd->len) {
		ssize_t n = write(hold, (const char *)pd->data + off, pd->len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			int err = n < 0 ? -errno : -EIO;

			pr_errno(err, "pid %d fd %d: FIFO %s took %zu of its %zu bytes", pid, fd,
				 path, off, pd->len);
			return err;
		}
		off += (size_t)n;
	}
	return 0;
}

int rfiles_fifo_open(const struct rimg *r, const FileEntry *fe, uint32_t *filled, size_t *nr_filled,
		     pid_t pid, int fd)
{
	const FileEntry *rf = r->files[rimg_file_index(r, fe->fifo->regf_id)]; /* checked */
	const struct rimg_pipe_data *pd = rimg_fifo(r, fe->fifo->pipe_id);
	char buf[4096], self[64];
	const char *path = rfiles_reg_path(rf, buf, sizeof(buf));
	struct stat st;
	int hold, lfd = -1, err = 0;
	size_t i;

	hold = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (hold < 0) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: cannot open FIFO %s", pid, fd, path);
		return err;
	}
	if (fstat(hold, &st) || !S_ISFIFO(st.st_mode)) {
		err = -ENXIO;
		pr_err("pid %d fd %d: %s is no FIFO any more", pid, fd, path);
		goto out;
	}
	for (i = 0; i < *nr_filled && filled[i] != fe->fifo->pipe_id; i++)
		;
	if (i == *nr_filled) {
		if (pd)
			err = refill(hold, pd, pid, fd, path);
		if (err)
			goto out;
		filled[(*nr_filled)++] = fe->fifo->pipe_id;
	}
	snprintf(self, sizeof(self), "/proc/self/fd/%d", hold);
	lfd = open(self, (int)(rf->reg->flags & ~(uint32_t)OPEN_FLAGS_DROP) | O_CLOEXEC);
	if (lfd < 0) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: cannot open FIFO %s with flags %#o", pid, fd, path,
			 rf->reg->flags);
	}
out:
	close(hold);
	return err ? err : lfd;
}
