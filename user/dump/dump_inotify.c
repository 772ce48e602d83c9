// SPDX-License-Identifier: MIT
/*
 * inotify instances of a frozen process (see dump_inotify.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#define LOG_PREFIX "inotify: "
#include "dump_inotify.h"
#include "fhandle.h"
#include "log.h"
#include "util.h"

#define DELETED " (deleted)"

/* One "inotify wd:..." line of fdinfo (fs/notify/fdinfo.c). */
struct wd_line {
	uint32_t wd, mask, ignored, sdev, bytes;
	int type;
	uint64_t ino;
	uint8_t handle[FH_MAX_BYTES];
};

static int parse_wd_line(const char *l, struct wd_line *w)
{
	char hex[2 * FH_MAX_BYTES + 1];
	int n = 0;

	memset(w, 0, sizeof(*w));
	if (sscanf(l,
		   "inotify wd:%" SCNx32 " ino:%" SCNx64 " sdev:%" SCNx32 " mask:%" SCNx32
		   " ignored_mask:%" SCNx32 " fhandle-bytes:%" SCNx32
		   " fhandle-type:%x f_handle:%256[0-9a-f]%n",
		   &w->wd, &w->ino, &w->sdev, &w->mask, &w->ignored, &w->bytes, &w->type, hex,
		   &n) != 8 ||
	    !n)
		return -EINVAL;
	if (w->bytes > FH_MAX_BYTES || strlen(hex) != 2 * (size_t)w->bytes)
		return -EINVAL;
	for (uint32_t i = 0; i < w->bytes; i++) {
		unsigned int b;

		if (sscanf(hex + 2 * i, "%2x", &b) != 1)
			return -EINVAL;
		w->handle[i] = (uint8_t)b;
	}
	return 0;
}

/*
 * A path that leads to the watched inode of @w now: the handle opened on a
 * mount of its device, then the fd's link. Returns 0, or -ENOTSUP with the
 * reason logged (naming @pid, @fd and the wd).
 */
static int resolve_watch(pid_t pid, int fd, const struct wd_line *w, char *path, size_t size)
{
	char link[64];
	struct stat st;
	dev_t dev = fh_kdev(w->sdev);
	int hfd, err;
	ssize_t r;
	size_t n;

	hfd = fh_open(dev, w->type, w->handle, w->bytes, O_PATH);
	if (hfd < 0) {
		err = hfd;
		pr_err("pid %d fd %d: inotify watch wd %u on inode %" PRIu64
		       " of device %u:%u: cannot open it by its handle: %s%s",
		       pid, fd, w->wd, w->ino, major(dev), minor(dev), strerror(-err),
		       err == -ESTALE	? " (the inode is gone: unlinked)"
		       : err == -ENODEV ? " (no mount of that device here)"
					: "");
		return -ENOTSUP;
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", hfd);
	r = readlink(link, path, size - 1);
	n = r > 0 ? (size_t)r : 0;
	path[n] = '\0';
	if (fstat(hfd, &st) || st.st_ino != w->ino)
		n = 0;
	close(hfd);
	if (!n || path[0] != '/' ||
	    (n > strlen(DELETED) && !strcmp(path + n - strlen(DELETED), DELETED))) {
		pr_err("pid %d fd %d: inotify watch wd %u on inode %" PRIu64
		       " of device %u:%u: the inode has no path (%s): a watch on an unlinked file is not supported",
		       pid, fd, w->wd, w->ino, major(dev), minor(dev), n ? path : "none");
		return -ENOTSUP;
	}
	if (stat(path, &st) || st.st_ino != w->ino || st.st_dev != dev) {
		pr_err("pid %d fd %d: inotify watch wd %u on inode %" PRIu64
		       ": its path %s leads to another file (a mount over it?): not supported",
		       pid, fd, w->wd, w->ino, path);
		return -ENOTSUP;
	}
	return 0;
}

static int read_fdinfo(pid_t pid, int fd, char **text)
{
	char name[64];
	size_t len;
	int lfd, err;

	snprintf(name, sizeof(name), "/proc/%d/fdinfo/%d", pid, fd);
	lfd = open(name, O_RDONLY | O_CLOEXEC);
	if (lfd < 0) {
		err = -errno;
		pr_perror("pid %d fd %d: cannot open %s", pid, fd, name);
		return err;
	}
	err = read_fd_all(lfd, text, &len, SIZE_MAX);
	close(lfd);
	if (err)
		pr_errno(err, "pid %d fd %d: cannot read %s", pid, fd, name);
	return err;
}

void dump_inotify_free(struct inotify_dump *w)
{
	if (!w)
		return;
	for (size_t i = 0; w->path && i < w->n; i++)
		free(w->path[i]);
	free(w->path);
	free(w->wd);
	free(w->ptrs);
	free(w->fh);
	free(w->handle);
	free(w);
}

/* Room for @cap watches in @w. */
static int grow(struct inotify_dump *w, size_t cap)
{
	InotifyWdEntry *wd = realloc(w->wd, cap * sizeof(*wd));
	FhEntry *fh;
	uint64_t(*h)[16];
	char **p;

	if (!wd)
		return -ENOMEM;
	w->wd = wd;
	fh = realloc(w->fh, cap * sizeof(*fh));
	if (!fh)
		return -ENOMEM;
	w->fh = fh;
	h = realloc(w->handle, cap * sizeof(*h));
	if (!h)
		return -ENOMEM;
	w->handle = h;
	p = realloc(w->path, cap * sizeof(*p));
	if (!p)
		return -ENOMEM;
	w->path = p;
	return 0;
}

int dump_inotify_read(pid_t pid, int fd, uint32_t id, int same_mntns, struct inotify_dump **out)
{
	struct inotify_dump *w;
	char *text = NULL, *save = NULL, path[PATH_MAX];
	size_t cap = 0;
	int err, refused = 0;

	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	err = read_fdinfo(pid, fd, &text);
	for (char *l = err ? NULL : strtok_r(text, "\n", &save); l;
	     l = strtok_r(NULL, "\n", &save)) {
		struct wd_line wl;
		InotifyWdEntry *e;
		FhEntry *f;

		if (strncmp(l, "inotify ", 8))
			continue;
		if (parse_wd_line(l, &wl)) {
			pr_err("pid %d fd %d: cannot parse fdinfo line '%s'", pid, fd, l);
			err = -EINVAL;
			break;
		}
		if (!same_mntns) {
			pr_err("pid %d fd %d: inotify watch wd %u: the process is in another mount namespace; not supported",
			       pid, fd, wl.wd);
			refused = 1;
			continue;
		}
		if (resolve_watch(pid, fd, &wl, path, sizeof(path))) {
			refused = 1;
			continue;
		}
		if (w->n == cap) {
			cap = cap ? 2 * cap : 8;
			err = grow(w, cap);
			if (err)
				break;
		}
		w->path[w->n] = strdup(path);
		if (!w->path[w->n]) {
			err = -ENOMEM;
			break;
		}
		e = &w->wd[w->n];
		f = &w->fh[w->n];
		inotify_wd_entry__init(e);
		fh_entry__init(f);
		memset(w->handle[w->n], 0, sizeof(w->handle[w->n]));
		memcpy(w->handle[w->n], wl.handle, wl.bytes);
		f->bytes = wl.bytes;
		f->type = (uint32_t)wl.type;
		f->n_handle = 16;
		f->path = w->path[w->n];
		e->id = id;
		e->i_ino = wl.ino;
		e->mask = wl.mask;
		e->ignored_mask = wl.ignored;
		e->s_dev = wl.sdev;
		e->wd = wl.wd;
		w->n++;
		pr_debug("pid %d fd %d: watch wd %u mask %#x on %s (inode %" PRIu64 ")", pid, fd,
			 wl.wd, wl.mask, path, wl.ino);
	}
	free(text);
	if (!err && refused)
		err = -ENOTSUP;
	if (!err && w->n) {
		w->ptrs = calloc(w->n, sizeof(*w->ptrs));
		if (!w->ptrs)
			err = -ENOMEM;
	}
	for (size_t i = 0; !err && i < w->n; i++) {
		/* Pointers into arrays that grew: set once they are final. */
		w->fh[i].handle = w->handle[i];
		w->wd[i].f_handle = &w->fh[i];
		w->ptrs[i] = &w->wd[i];
	}
	if (err) {
		dump_inotify_free(w);
		return err;
	}
	*out = w;
	return 0;
}

int dump_fsnotify_classify(pid_t pid, int fd, const char *link, int same_mntns)
{
	struct inotify_dump *w = NULL;
	int err;

	if (!strcmp(link, "anon_inode:[fanotify]")) {
		pr_err("pid %d fd %d: fanotify group (%s) is not supported (its marks and "
		       "permission events cannot be dumped)",
		       pid, fd, link);
		return -ENOTSUP;
	}
	if (strcmp(link, "anon_inode:inotify"))
		return 1;
	err = dump_inotify_read(pid, fd, 0, same_mntns, &w);
	dump_inotify_free(w);
	return err;
}
