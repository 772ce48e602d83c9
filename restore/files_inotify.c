// SPDX-License-Identifier: MIT
/*
 * inotify instances of a dump, made again (see files_inotify.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "fhandle.h"
#include "files_inotify.h"
#include "log.h"

#define WATCH_BITS (IN_ALL_EVENTS | IN_ONESHOT | IN_EXCL_UNLINK | IN_ONLYDIR | IN_DONT_FOLLOW)
#define FD_FLAGS (O_ACCMODE | O_NONBLOCK | O_LARGEFILE | O_CLOEXEC)

static const char *watch_problem(const InotifyFileEntry *ie, size_t i)
{
	const InotifyWdEntry *w = ie->wd[i];

	if (w->id != ie->id)
		return "its id is not the file's";
	if (!w->wd || w->wd > RFILES_INOTIFY_MAX_WD)
		return "wd out of range (1..1048576)";
	for (size_t k = 0; k < i; k++)
		if (ie->wd[k]->wd == w->wd)
			return "wd appears twice";
	if (!(w->mask & IN_ALL_EVENTS) || (w->mask & ~(uint32_t)WATCH_BITS))
		return "mask inotify_add_watch does not take";
	if (!w->f_handle || w->f_handle->bytes > FH_MAX_BYTES ||
	    (size_t)w->f_handle->bytes > w->f_handle->n_handle * sizeof(uint64_t))
		return "bad file handle";
	if (!w->f_handle->path || w->f_handle->path[0] != '/')
		return "no absolute path (ferry restores a watch by the path the dump found)";
	return NULL;
}

int rfiles_inotify_check(const char *img_name, size_t at, const FileEntry *f)
{
	const InotifyFileEntry *ie = f->ify;

	if (ie->id != f->id) {
		pr_err("%s: offset %zu: file id %u: its inotify entry has id %u", img_name, at,
		       f->id, ie->id);
		return -EINVAL;
	}
	if (ie->flags & ~(uint32_t)FD_FLAGS) {
		pr_err("%s: offset %zu: inotify file id %u: flags %#o are not an inotify fd's",
		       img_name, at, f->id, ie->flags);
		return -EINVAL;
	}
	for (size_t i = 0; i < ie->n_wd; i++) {
		const char *why = watch_problem(ie, i);

		if (why) {
			pr_err("%s: offset %zu: inotify file id %u: watch %zu (wd %u, mask %#x): %s",
			       img_name, at, f->id, i, ie->wd[i]->wd, ie->wd[i]->mask, why);
			return -EINVAL;
		}
	}
	return 0;
}

static int cmp_wd(const void *a, const void *b)
{
	uint32_t x = (*(const InotifyWdEntry *const *)a)->wd;
	uint32_t y = (*(const InotifyWdEntry *const *)b)->wd;

	return x < y ? -1 : x > y;
}

/*
 * An O_PATH fd of the dumped inode of @w: by its handle (which fails with
 * ESTALE for a file deleted or replaced since, even with the inode number
 * reused); where the handle cannot be opened here (no mount of its device,
 * no CAP_DAC_READ_SEARCH), by its path, if that leads to the same device
 * and inode number.
 */
static int open_watched(const InotifyWdEntry *w, pid_t pid, int fd)
{
	const FhEntry *h = w->f_handle;
	dev_t dev = fh_kdev(w->s_dev);
	struct stat st;
	int hfd, err;

	hfd = fh_open(dev, (int)h->type, h->handle, h->bytes, O_PATH);
	if (hfd >= 0)
		return hfd;
	if (hfd == -ESTALE) {
		pr_err("pid %d fd %d: inotify watch wd %u: %s is another file now, or gone: the dumped inode %" PRIu64
		       " on %u:%u no longer exists",
		       pid, fd, w->wd, h->path, w->i_ino, major(dev), minor(dev));
		return -ESTALE;
	}
	pr_debug("pid %d fd %d: inotify watch wd %u: no handle (%s), by path %s", pid, fd, w->wd,
		 strerror(-hfd), h->path);
	hfd = open(h->path, O_PATH | O_CLOEXEC);
	if (hfd < 0) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: inotify watch wd %u: cannot find %s%s", pid, fd, w->wd,
			 h->path, err == -ENOENT ? " (gone since the dump)" : "");
		return err;
	}
	if (fstat(hfd, &st) || st.st_ino != w->i_ino || st.st_dev != dev) {
		pr_err("pid %d fd %d: inotify watch wd %u: %s is another file now (inode %llu on %u:%u, dumped %" PRIu64
		       " on %u:%u)",
		       pid, fd, w->wd, h->path, (unsigned long long)st.st_ino, major(st.st_dev),
		       minor(st.st_dev), w->i_ino, major(dev), minor(dev));
		close(hfd);
		return -ESTALE;
	}
	return hfd;
}

/* Add watch @w to @ifd with its own wd: lower wds are taken and given back. */
static int add_watch(int ifd, const InotifyWdEntry *w, pid_t pid, int fd)
{
	const char *path = w->f_handle->path;
	char link[64];
	int hfd, wd, err = 0;

	hfd = open_watched(w, pid, fd);
	if (hfd < 0)
		return hfd;
	/* The magic link leads to that very inode; IN_DONT_FOLLOW would stop at the link. */
	snprintf(link, sizeof(link), "/proc/self/fd/%d", hfd);
	for (;;) {
		wd = inotify_add_watch(ifd, link, w->mask & ~(uint32_t)IN_DONT_FOLLOW);
		if (wd < 0) {
			err = -errno;
			pr_errno(err,
				 "pid %d fd %d: inotify watch wd %u: inotify_add_watch %s mask %#x",
				 pid, fd, w->wd, path, w->mask);
			break;
		}
		if ((uint32_t)wd == w->wd)
			break;
		if ((uint32_t)wd > w->wd) {
			pr_err("pid %d fd %d: inotify watch on %s came as wd %d, past the dumped wd %u",
			       pid, fd, path, wd, w->wd);
			err = -EEXIST;
			break;
		}
		if (inotify_rm_watch(ifd, wd)) {
			err = -errno;
			pr_errno(err, "pid %d fd %d: cannot remove the place-holder wd %d", pid, fd,
				 wd);
			break;
		}
	}
	close(hfd);
	return err;
}

/* Read off the IN_IGNORED events of the place-holders (@ifd is non-blocking). */
static void drain(int ifd)
{
	char buf[4096];

	while (read(ifd, buf, sizeof(buf)) > 0)
		;
}

int rfiles_inotify_open(const FileEntry *fe, pid_t pid, int fd)
{
	const InotifyFileEntry *ie = fe->ify;
	const InotifyWdEntry **v = NULL;
	int ifd, err = 0;

	ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ifd < 0) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: inotify_init1", pid, fd);
		return err;
	}
	if (ie->n_wd) {
		v = calloc(ie->n_wd, sizeof(*v));
		if (!v) {
			err = -ENOMEM;
			goto out;
		}
		memcpy(v, ie->wd, ie->n_wd * sizeof(*v));
		qsort(v, ie->n_wd, sizeof(*v), cmp_wd);
	}
	for (size_t i = 0; !err && i < ie->n_wd; i++) {
		err = add_watch(ifd, v[i], pid, fd);
		if (!err)
			pr_debug("pid %d fd %d: inotify watch wd %u mask %#x on %s", pid, fd,
				 v[i]->wd, v[i]->mask, v[i]->f_handle->path);
	}
	if (err)
		goto out;
	drain(ifd);
	if (fcntl(ifd, F_SETFL, ie->flags & O_NONBLOCK) < 0) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: cannot set the flags %#o of its inotify fd", pid, fd,
			 ie->flags);
	}
out:
	free(v);
	if (err) {
		close(ifd);
		return err;
	}
	return ifd;
}
