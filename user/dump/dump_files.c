// SPDX-License-Identifier: MIT
/*
 * Dumping file descriptors (see dump_files.h): the table of open file
 * descriptions of a dump, and what goes into it per fd.
 *
 * Every fd is first looked at from the outside (dump_files_probe.c): stat(2)
 * and readlink(2) of /proc/PID/fd/N and its fdinfo say what it is. Only then
 * is it copied into ferry with pidfd_getfd(2), for what needs the description
 * itself: the F_SETOWN owner, the pipe's size and buffered bytes, a
 * terminal's settings. The images are written by dump_files_write.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/kcmp.h>
#include <linux/major.h>

#define LOG_PREFIX "files: "
#include "log.h"
#include "img.h"
#include "rsys.h"
#include "proc_fdinfo.h"
#include "dump_files.h"
#include "dump_files_priv.h"
#include "dump_events.h"
#include "util.h"

#include "fdinfo.pb-c.h"
#include "regfile.pb-c.h"
#include "pipe.pb-c.h"
#include "pipe-data.pb-c.h"
#include "tty.pb-c.h"
#include "fs.pb-c.h"
#include "fown.pb-c.h"
#include "file-lock.pb-c.h"

/* Grow *arr (of *cap elements of sz bytes) to hold at least n + 1. */
int files_grow(void **arr, size_t *cap, size_t n, size_t sz)
{
	size_t ncap;
	void *na;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	na = realloc(*arr, ncap * sz);
	if (!na)
		return -ENOMEM;
	*arr = na;
	*cap = ncap;
	return 0;
}

int files_dump_init(struct files_dump **out, const struct files_dump_opts *o)
{
	struct files_dump *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	if (o)
		d->o = *o;
	d->next_id = 1;
	*out = d;
	return 0;
}

void files_dump_free(struct files_dump *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->nd; i++) {
		free(d->d[i].name);
		dump_inotify_free(d->d[i].ify);
		files_unix_free(d->d[i].usk);
		files_inet_free(d->d[i].isk);
		free(d->d[i].nlsk);
		free(d->d[i].ev);
		free(d->d[i].src_path);
		files_bpfmap_free(d->d[i].bpf);
	}
	for (i = 0; i < d->np; i++)
		free(d->p[i].buf);
	free(d->d);
	free(d->p);
	free(d->t);
	free(d->fdx);
	free(d->lk);
	files_pty_release(d);
	free(d->tree);
	free(d);
}

/*
 * Order description e against the fd of p in process pid: by type, dev and
 * ino, then by kcmp(KCMP_FILE), which orders open file descriptions (0:
 * the same one). Sets *res to <0, 0 or >0; returns 0 or -errno.
 */
static int fd_cmp(const struct desc *e, pid_t pid, const struct probe *p, int *res)
{
	long r;

	if (e->type != p->type || e->dev != p->st.st_dev || e->ino != p->st.st_ino) {
		if (e->type != p->type)
			*res = e->type < p->type ? -1 : 1;
		else if (e->dev != p->st.st_dev)
			*res = e->dev < p->st.st_dev ? -1 : 1;
		else
			*res = e->ino < p->st.st_ino ? -1 : 1;
		return 0;
	}
	r = syscall(SYS_kcmp, e->pid, pid, KCMP_FILE, e->fd, p->fd);
	if (r < 0 || r > 2) {
		int err = r < 0 ? -errno : -EINVAL;

		pr_errno(err, "pid %d fd %d: kcmp with pid %d fd %d", pid, p->fd, e->pid, e->fd);
		return err;
	}
	*res = r == 0 ? 0 : r == 1 ? -1 : 1;
	return 0;
}

/*
 * Is p the same open file description as an earlier fd? Returns 1 (*id
 * set), 0 (*at: where its description goes in d->fdx), or -errno.
 */
static int find_shared(struct files_dump *d, pid_t pid, const struct probe *p, uint32_t *id,
		       size_t *at)
{
	size_t lo = 0, hi = d->nfdx;
	int ret, c = 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct desc *e = &d->d[d->fdx[mid]];

		ret = fd_cmp(e, pid, p, &c);
		if (ret)
			return ret;
		if (!c) {
			*id = e->id;
			return 1;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*at = lo;
	return 0;
}

/* Put the SRC_FD description registered since d->d[from] into d->fdx at @at. */
static int index_fd(struct files_dump *d, size_t from, size_t at)
{
	size_t i;

	for (i = from; i < d->nd && d->d[i].src != SRC_FD; i++)
		;
	if (i == d->nd)
		return 0;
	if (files_grow((void **)&d->fdx, &d->capfdx, d->nfdx, sizeof(*d->fdx)))
		return -ENOMEM;
	memmove(&d->fdx[at + 1], &d->fdx[at], (d->nfdx - at) * sizeof(*d->fdx));
	d->fdx[at] = i;
	d->nfdx++;
	return 0;
}

/* The F_SETOWN owner of a description and its F_SETSIG signal (zero when none is set). */
static int get_fown(pid_t pid, int fd, int lfd, uint32_t flags, struct fown_v *fo)
{
	struct f_owner_ex ox;
	uint32_t uids[2];
	int sig;

	memset(fo, 0, sizeof(*fo));
	if (flags & O_PATH) /* fcntl(F_GETOWN_EX) is not allowed on it, and it has none */
		return 0;
	if (fcntl(lfd, F_GETOWN_EX, &ox) < 0) {
		int err = -errno;

		pr_perror("pid %d fd %d: F_GETOWN_EX", pid, fd);
		return err;
	}
	/* The F_SETSIG signal even with no owner (as CRIU): an owner set later uses it. */
	sig = fcntl(lfd, F_GETSIG);
	if (sig < 0) {
		int err = -errno;

		pr_perror("pid %d fd %d: F_GETSIG", pid, fd);
		return err;
	}
	fo->signum = (uint32_t)sig;
	if (!ox.pid)
		return 0;
	if (fcntl(lfd, F_GETOWNER_UIDS, uids) < 0) {
		int err = -errno;

		pr_perror("pid %d fd %d: cannot read the owner's uids", pid, fd);
		return err;
	}
	fo->uid = uids[0];
	fo->euid = uids[1];
	fo->pid_type = (uint32_t)ox.type;
	fo->pid = (uint32_t)ox.pid;
	return 0;
}

/* A new description of fd p of pid, with the fields every type has; fo may be NULL. */
struct desc *files_desc_new(struct files_dump *d, FdTypes type, enum desc_src src, pid_t pid,
			    const struct probe *p, const struct fown_v *fo)
{
	struct desc *e;

	if (files_grow((void **)&d->d, &d->capd, d->nd, sizeof(*d->d)))
		return NULL;
	e = &d->d[d->nd++];
	memset(e, 0, sizeof(*e));
	e->id = d->next_id++;
	e->type = type;
	e->src = src;
	e->mnt_id = -1;
	e->pid = pid;
	e->fd = p->fd;
	e->dev = p->st.st_dev;
	e->ino = p->st.st_ino;
	e->flags = p->fi.flags & ~(uint32_t)O_CLOEXEC;
	if (fo)
		e->fown = *fo;
	return e;
}

/* A REG (or MEMFD: a memfd is a file too) entry of the fd described by p. */
static int add_reg(struct files_dump *d, enum desc_src src, pid_t pid, const struct probe *p,
		   const struct fown_v *fo, uint32_t *id)
{
	int memfd = files_is_memfd(p->link);
	struct desc *e;
	char *name = strdup(p->link);

	if (!name)
		return -ENOMEM;
	e = files_desc_new(d, memfd ? FD_TYPES__MEMFD : FD_TYPES__REG, src, pid, p, fo);
	if (!e) {
		free(name);
		return -ENOMEM;
	}
	e->name = name;
	if (files_strip_deleted(name) || p->st.st_nlink == 0 || memfd) {
		/* A ghost file (dump_ghost.c) or a memfd: its bytes are read at commit. */
		char from[64];

		e->ghost = !memfd;
		snprintf(from, sizeof(from), "/proc/%d/fd/%d", pid, p->fd);
		e->src_path = strdup(from);
		if (!e->src_path)
			return -ENOMEM;
	}
	e->pos = p->fi.pos;
	e->size = (uint64_t)p->st.st_size;
	e->mode = p->st.st_mode;
	e->mnt_id = p->fi.mnt_id;
	*id = e->id;
	return 0;
}

/*
 * Copy the bytes buffered in the pipe of p, once per pipe, without taking
 * them out: tee(2) from its read side into a private pipe of the same size.
 * A named FIFO's the same way (its write-only fd reopened for reading opens
 * the FIFO as one more reader).
 */
static int capture_pipe(struct files_dump *d, pid_t pid, const struct probe *p, int lfd)
{
	uint32_t pipe_id = (uint32_t)p->st.st_ino;
	int rfd = lfd, own = -1, priv[2] = { -1, -1 }, size, avail = 0, ret = 0;
	int fifo = p->type == FD_TYPES__FIFO;
	struct pipe_data *pd;
	uint8_t *buf = NULL;
	char path[64];
	ssize_t n;
	size_t i;

	for (i = 0; i < d->np; i++)
		if (d->p[i].pipe_id == pipe_id && d->p[i].fifo == fifo)
			return 0;
	if ((p->fi.flags & O_ACCMODE) == O_WRONLY) {
		/* Opening the write end's /proc link for reading gives the pipe's read side. */
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, p->fd);
		own = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (own < 0) {
			ret = -errno;
			pr_perror("pid %d fd %d: cannot open the read side of pipe:[%u] through %s",
				  pid, p->fd, pipe_id, path);
			goto out;
		}
		rfd = own;
	}
	size = fcntl(rfd, F_GETPIPE_SZ);
	if (size < 0 || ioctl(rfd, FIONREAD, &avail) < 0) {
		ret = -errno;
		pr_perror("pid %d fd %d: cannot read the size of pipe:[%u]", pid, p->fd, pipe_id);
		goto out;
	}
	if (avail > 0) {
		if (pipe2(priv, O_CLOEXEC)) {
			ret = -errno;
			pr_perror("pid %d fd %d: pipe2", pid, p->fd);
			goto out;
		}
		/* As many slots as the target's pipe: all its buffers fit. */
		if (fcntl(priv[1], F_SETPIPE_SZ, size) < 0) {
			ret = -errno;
			pr_perror(
				"pid %d fd %d: cannot size a private pipe to %d bytes for pipe:[%u]",
				pid, p->fd, size, pipe_id);
			goto out;
		}
		n = tee(rfd, priv[1], (size_t)avail, SPLICE_F_NONBLOCK);
		if (n != avail) {
			ret = n < 0 ? -errno : -EIO;
			pr_errno(ret, "pid %d fd %d: tee of pipe:[%u] copied %zd of %d bytes", pid,
				 p->fd, pipe_id, n, avail);
			goto out;
		}
		buf = malloc((size_t)avail);
		if (!buf) {
			ret = -ENOMEM;
			goto out;
		}
		ret = read_full(priv[0], buf, (size_t)avail, NULL);
		if (ret) {
			pr_errno(ret, "pid %d fd %d: cannot read the copy of pipe:[%u]", pid, p->fd,
				 pipe_id);
			goto out;
		}
	}
	ret = files_grow((void **)&d->p, &d->capp, d->np, sizeof(*d->p));
	if (ret)
		goto out;
	pd = &d->p[d->np++];
	pd->pipe_id = pipe_id;
	pd->fifo = fifo;
	pd->size = (uint32_t)size;
	pd->len = (uint32_t)avail;
	pd->buf = buf;
	buf = NULL;
	pr_debug("pid %d fd %d: pipe:[%u] holds %d of %d bytes", pid, p->fd, pipe_id, avail, size);
out:
	free(buf);
	if (priv[0] >= 0)
		close(priv[0]);
	if (priv[1] >= 0)
		close(priv[1]);
	if (own >= 0)
		close(own);
	return ret;
}

static int add_pipe(struct files_dump *d, pid_t pid, const struct probe *p, int lfd,
		    const struct fown_v *fo, uint32_t *id)
{
	struct desc *e;
	int ret;

	uint32_t regf;
	size_t at;

	ret = capture_pipe(d, pid, p, lfd);
	if (ret)
		return ret;
	e = files_desc_new(d, p->type, SRC_FD, pid, p, fo);
	if (!e)
		return -ENOMEM;
	e->pipe_id = (uint32_t)p->st.st_ino;
	*id = e->id;
	if (p->type != FD_TYPES__FIFO)
		return 0;
	/* A FIFO's path and open flags, as its own REG entry (fifo_entry.regf_id). */
	at = d->nd - 1;
	ret = add_reg(d, SRC_AUX, pid, p, NULL, &regf);
	if (!ret)
		d->d[at].regf_id = regf; /* add_reg may have moved the array */
	return ret;
}

static int add_tty(struct files_dump *d, pid_t pid, const struct task_info *ti,
		   const struct probe *p, int lfd, const struct fown_v *fo, uint32_t *id)
{
	uint32_t index = p->pty_pair ? p->pty_index : files_pty_index(p->st.st_rdev);
	uint32_t info_id = (index << 1) | (uint32_t)p->pty_master; /* CRIU: index * 2 + is_master */
	struct desc *e;
	uint32_t regf;
	size_t at;
	int ret;

	if (p->pty_master)
		ret = files_pty_collect(d, pid, ti, p, lfd);
	else
		ret = files_collect_tty(d, pid, ti, p, lfd, info_id, index);
	if (ret)
		return ret;
	e = files_desc_new(d, FD_TYPES__TTY, SRC_FD, pid, p, fo);
	if (!e)
		return -ENOMEM;
	e->tty_info_id = info_id;
	*id = e->id;
	at = d->nd - 1;
	/* The terminal's path, as its own REG entry (tty_file_entry.regf_id). */
	ret = add_reg(d, SRC_AUX, pid, p, NULL, &regf);
	if (ret)
		return ret;
	d->d[at].regf_id = regf; /* add_reg may have moved the array */
	return 0;
}

/* An INOTIFY entry of the fd described by p, with its watches. */
static int add_inotify(struct files_dump *d, pid_t pid, const struct task_info *ti,
		       const struct probe *p, const struct fown_v *fo, uint32_t *id)
{
	struct inotify_dump *w = NULL;
	struct desc *e;
	int ret;

	ret = dump_inotify_read(pid, p->fd, d->next_id, ti->files_same_mntns, &w);
	if (ret)
		return ret;
	e = files_desc_new(d, FD_TYPES__INOTIFY, SRC_FD, pid, p, fo);
	if (!e) {
		dump_inotify_free(w);
		return -ENOMEM;
	}
	e->ify = w;
	*id = e->id;
	return 0;
}

/*
 * Register the description behind one classified fd; *id is its file id,
 * *shared 1 if an earlier fd (of any process) has it too.
 */
static int register_fd(struct files_dump *d, pid_t pid, const struct task_info *ti,
		       const struct probe *p, int lfd, uint32_t *id, int *shared)
{
	size_t at = 0, from = d->nd;
	struct fown_v fo;
	int ret;

	ret = find_shared(d, pid, p, id, &at);
	*shared = ret > 0;
	if (ret)
		return ret < 0 ? ret : 0;
	ret = get_fown(pid, p->fd, lfd, p->fi.flags, &fo);
	if (ret)
		return ret;
	switch (p->type) {
	case FD_TYPES__REG:
	case FD_TYPES__MEMFD:
		ret = add_reg(d, SRC_FD, pid, p, &fo, id);
		break;
	case FD_TYPES__PIPE:
	case FD_TYPES__FIFO:
		ret = add_pipe(d, pid, p, lfd, &fo, id);
		break;
	case FD_TYPES__TTY:
		ret = add_tty(d, pid, ti, p, lfd, &fo, id);
		break;
	case FD_TYPES__INOTIFY:
		ret = add_inotify(d, pid, ti, p, &fo, id);
		break;
	case FD_TYPES__UNIXSK:
		ret = files_unix_add(d, pid, p, lfd, &fo, id);
		break;
	case FD_TYPES__INETSK:
		ret = files_inet_add(d, pid, p, lfd, &fo, id);
		break;
	case FD_TYPES__NETLINKSK:
		ret = files_netlink_add(d, pid, p, lfd, &fo, id);
		break;
	case FD_TYPES__PIDFD:
		ret = files_pidfd_add(d, pid, p, &fo, id);
		break;
	case FD_TYPES__BPFMAP:
		ret = files_bpfmap_add(d, pid, p, lfd, &fo, id);
		break;
	default: /* the event fds */
		ret = files_event_add(d, pid, p, lfd, &fo, id);
	}
	return ret ?: index_fd(d, from, at);
}

/* Is the POSIX lock @l of @pid on description @id recorded already? */
static int have_posix_lock(const struct files_dump *d, pid_t pid, uint32_t id,
			   const struct file_lock *l)
{
	for (size_t i = 0; i < d->nlk; i++) {
		const struct lock_rec *r = &d->lk[i];

		if (r->pid == pid && r->file_id == id && r->l.kind == l->kind &&
		    r->l.type == l->type && r->l.start == l->start && r->l.len == l->len)
			return 1;
	}
	return 0;
}

/*
 * Record the locks fd p of @pid shows, on description @id, once each. A
 * flock or OFD lock belongs to the description and shows under each of its
 * fds in every process: it is taken again through the first fd seen on it,
 * which showed it already when the description is @shared. A POSIX lock
 * shows only in its owner, under every fd of the description it was taken
 * through: recorded once per process. Returns 0, -ENOTSUP for a lock
 * files_check_lock() refuses, -ENOMEM.
 */
static int record_locks(struct files_dump *d, pid_t pid, const struct probe *p, uint32_t id,
			int shared)
{
	char what[96];
	int ret;

	for (size_t i = 0; i < p->fi.nr_locks; i++) {
		const struct file_lock *l = &p->fi.locks[i];

		ret = files_check_lock(d, pid, p, l);
		if (ret)
			return ret;
		if (shared && (l->kind != FILE_LOCK_POSIX || have_posix_lock(d, pid, id, l)))
			continue;
		ret = files_grow((void **)&d->lk, &d->caplk, d->nlk, sizeof(*d->lk));
		if (ret)
			return ret;
		d->lk[d->nlk++] =
			(struct lock_rec){ .pid = pid, .fd = p->fd, .file_id = id, .l = *l };
		pr_debug("pid %d fd %d: %s: %s", pid, p->fd, p->link,
			 file_lock_desc(l, what, sizeof(what)));
	}
	return 0;
}

struct snapshot {
	size_t nd, np, nt, nlk;
	uint32_t next_id;
	struct tty_seen tty;
};

/* Drop everything registered since s. */
static void rollback(struct files_dump *d, const struct snapshot *s)
{
	size_t i, n = 0;

	for (i = 0; i < d->nfdx; i++)
		if (d->fdx[i] < s->nd)
			d->fdx[n++] = d->fdx[i];
	d->nfdx = n;
	while (d->nd > s->nd) {
		d->nd--;
		free(d->d[d->nd].name);
		dump_inotify_free(d->d[d->nd].ify);
		files_unix_free(d->d[d->nd].usk);
		files_inet_free(d->d[d->nd].isk);
		free(d->d[d->nd].nlsk);
		free(d->d[d->nd].ev);
		free(d->d[d->nd].src_path);
		files_bpfmap_free(d->d[d->nd].bpf);
	}
	while (d->np > s->np)
		free(d->p[--d->np].buf);
	d->nt = s->nt;
	d->nlk = s->nlk;
	d->next_id = s->next_id;
	d->tty = s->tty;
}

int files_dump_proc(struct files_dump *d, pid_t pid, uint32_t files_id, int dirfd)
{
	struct snapshot snap = { d->nd, d->np, d->nt, d->nlk, d->next_id, d->tty };
	struct task_info ti;
	struct probe *p = NULL;
	struct img *img = NULL;
	char name[64];
	size_t i, nr = 0;
	int *fds = NULL, lfd, ret, shared;
	uint32_t id;

	ret = files_task_info_read(pid, &ti);
	if (ret)
		return ret;
	ret = files_list_fds(pid, &fds, &nr);
	if (ret)
		return ret;
	p = calloc(1, sizeof(*p));
	if (!p) {
		ret = -ENOMEM;
		goto err;
	}
	snprintf(name, sizeof(name), IMG_FDINFO->file, files_id);
	ret = img_create(&img, dirfd, name, IMG_FDINFO);
	if (ret)
		goto err;
	for (i = 0; i < nr; i++) {
		FdinfoEntry fe = FDINFO_ENTRY__INIT;

		ret = files_probe_fd(pid, fds[i], p);
		if (ret == -ENOENT)
			pr_err("pid %d fd %d: closed while being dumped (is the process stopped?)",
			       pid, fds[i]);
		if (ret)
			goto err;
		ret = files_classify(d, pid, &ti, p, &d->tty);
		if (ret)
			goto err;
		lfd = rsys_getfd(pid, p->fd);
		if (lfd < 0) {
			ret = lfd;
			goto err;
		}
		ret = register_fd(d, pid, &ti, p, lfd, &id, &shared);
		close(lfd);
		if (!ret)
			ret = record_locks(d, pid, p, id, shared);
		if (ret)
			goto err;
		fe.id = id;
		fe.flags = (p->fi.flags & O_CLOEXEC) ? FD_CLOEXEC : 0;
		fe.type = p->type;
		fe.fd = (uint32_t)p->fd;
		ret = img_write_entry(img, &fe.base);
		if (ret)
			goto err;
		pr_debug("pid %d fd %d: %s, file id %u", pid, p->fd, p->link, id);
	}
	ret = img_commit(img);
	img = NULL;
err:
	if (ret) {
		img_abort(img);
		rollback(d, &snap);
	}
	if (p)
		proc_fdinfo_release(&p->fi);
	free(p);
	free(fds);
	return ret;
}

int files_dump_path(struct files_dump *d, pid_t pid, const char *what, int open_flags, uint32_t *id)
{
	struct proc_fdinfo fi;
	struct probe *p = NULL;
	uint32_t flags = (uint32_t)open_flags & ~(uint32_t)(O_CLOEXEC | O_PATH);
	char path[PATH_MAX];
	unsigned int maj;
	int lfd, ret;
	size_t i;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, what);
	lfd = open(path, open_flags | O_CLOEXEC);
	if (lfd < 0) {
		ret = -errno;
		pr_perror("pid %d %s: cannot open %s", pid, what, path);
		return ret;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		ret = -ENOMEM;
		goto out;
	}
	p->fd = -1;
	if (fstat(lfd, &p->st)) {
		ret = -errno;
		pr_perror("pid %d %s: fstat", pid, what);
		goto out;
	}
	ret = files_read_link(path, p->link, sizeof(p->link));
	if (ret) {
		pr_errno(ret, "pid %d %s: cannot read the link %s", pid, what, path);
		goto out;
	}
	maj = major(p->st.st_rdev);
	if (!S_ISREG(p->st.st_mode) && !S_ISDIR(p->st.st_mode) &&
	    !(S_ISCHR(p->st.st_mode) && maj == MEM_MAJOR)) {
		pr_err("pid %d %s: %s (mode %o) is not supported", pid, what, p->link,
		       p->st.st_mode);
		ret = -ENOTSUP;
		goto out;
	}
	ret = files_check_path(pid, what, p->link, &p->st, files_same_mntns(pid));
	if (ret)
		goto out;
	for (i = 0; i < d->nd; i++) {
		const struct desc *e = &d->d[i];

		if (e->src == SRC_PATH && e->dev == p->st.st_dev && e->ino == p->st.st_ino &&
		    e->flags == flags && !strcmp(e->name, p->link)) {
			*id = e->id;
			goto out;
		}
	}
	ret = proc_fdinfo_read(getpid(), lfd, &fi);
	if (ret) {
		pr_errno(ret, "pid %d %s: cannot read the mount id of %s", pid, what, p->link);
		goto out;
	}
	proc_fdinfo_release(&fi);
	p->fi.flags = flags;
	p->fi.mnt_id = fi.mnt_id;
	ret = add_reg(d, SRC_PATH, pid, p, NULL, id);
	if (!ret && d->d[d->nd - 1].src_path) {
		/* Read a deleted file or a memfd through the same /proc entry at commit. */
		free(d->d[d->nd - 1].src_path);
		d->d[d->nd - 1].src_path = strdup(path);
		if (!d->d[d->nd - 1].src_path)
			ret = -ENOMEM;
	}
	if (!ret)
		pr_debug("pid %d %s: %s, file id %u", pid, what, p->link, *id);
out:
	free(p);
	close(lfd);
	return ret;
}

/* The "Umask:" line of /proc/PID/status (4.7+). Returns 0, -ENOENT if absent, or -errno. */
static int read_umask(pid_t pid, uint32_t *umask)
{
	char path[64], line[256];
	unsigned int v;
	int ret = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		pr_perror("pid %d: cannot open %s", pid, path);
		return ret;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Umask: %o", &v) == 1) {
			*umask = v;
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

int files_dump_fs(struct files_dump *d, pid_t pid, int dirfd)
{
	FsEntry fe = FS_ENTRY__INIT;
	char name[64];
	int ret;

	ret = files_dump_path(d, pid, "cwd", O_PATH, &fe.cwd_id);
	if (ret)
		return ret;
	ret = files_dump_path(d, pid, "root", O_PATH, &fe.root_id);
	if (ret)
		return ret;
	ret = read_umask(pid, &fe.umask);
	if (ret && ret != -ENOENT)
		return ret;
	if (ret)
		pr_warn("pid %d: no Umask in /proc/%d/status, the umask is not dumped", pid, pid);
	fe.has_umask = !ret;
	snprintf(name, sizeof(name), IMG_FS->file, (unsigned int)pid);
	return img_write_one(dirfd, name, IMG_FS, &fe.base);
}
