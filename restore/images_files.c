// SPDX-License-Identifier: MIT
/*
 * The restore side's image loader, files (see images.h): files.img,
 * tty-info.img, pipes-data.img, the fdinfo-ID.img of every process and
 * filelocks.img, and the lookups into them.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#define LOG_PREFIX "rimg: "
#include "file_lock.h"
#include "files_inotify.h"
#include "bpfmap.h"
#include "pidfd.h"
#include "images.h"
#include "images_priv.h"
#include "img.h"
#include "log.h"
#include "pipe-data.pb-c.h"

/* ---- lookups ---------------------------------------------------------------------------- */

static int cmp_file(const void *a, const void *b)
{
	uint32_t x = (*(FileEntry *const *)a)->id, y = (*(FileEntry *const *)b)->id;

	return x < y ? -1 : x > y;
}

long rimg_file_index(const struct rimg *r, uint32_t id)
{
	size_t lo = 0, hi = r->nr_files;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (r->files[mid]->id == id)
			return (long)mid;
		if (r->files[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return -1;
}

const FileEntry *rimg_file(const struct rimg *r, uint32_t id)
{
	long i = rimg_file_index(r, id);

	return i < 0 ? NULL : r->files[i];
}

const TtyInfoEntry *rimg_tty_info(const struct rimg *r, uint32_t id)
{
	for (size_t i = 0; i < r->nr_ttys; i++)
		if (r->ttys[i]->id == id)
			return r->ttys[i];
	return NULL;
}

static int cmp_pipe(const void *a, const void *b)
{
	uint32_t x = ((const struct rimg_pipe_data *)a)->pipe_id;
	uint32_t y = ((const struct rimg_pipe_data *)b)->pipe_id;

	return x < y ? -1 : x > y;
}

const struct rimg_pipe_data *rimg_pipe(const struct rimg *r, uint32_t pipe_id)
{
	struct rimg_pipe_data key = { .pipe_id = pipe_id };

	return r->nr_pipes ? bsearch(&key, r->pipes, r->nr_pipes, sizeof(key), cmp_pipe) : NULL;
}

const struct rimg_pipe_data *rimg_fifo(const struct rimg *r, uint32_t pipe_id)
{
	struct rimg_pipe_data key = { .pipe_id = pipe_id };

	return r->nr_fifos ? bsearch(&key, r->fifos, r->nr_fifos, sizeof(key), cmp_pipe) : NULL;
}

int rimg_pipe_data(const struct rimg *r, uint32_t pipe_id, const void **data, size_t *len)
{
	const struct rimg_pipe_data *p = rimg_pipe(r, pipe_id);

	if (!p)
		return -ENOENT;
	*data = p->data;
	*len = p->len;
	return 0;
}

/* ---- files ------------------------------------------------------------------------------ */

int rimg_load_ttys(struct rimg *r)
{
	ProtobufCMessage *m = NULL;
	size_t cap = 0;
	struct img *img;
	int err;

	err = rimg_open_img(r, IMG_TTY_INFO->file, IMG_TTY_INFO, 0, &img);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	while ((err = img_read_entry(img, &m)) == 1) {
		if (r->nr_ttys == cap) {
			size_t nc = cap ? cap * 2 : 4;
			TtyInfoEntry **n = realloc(r->ttys, nc * sizeof(*n));

			if (!n) {
				err = -ENOMEM;
				break;
			}
			r->ttys = n;
			cap = nc;
		}
		r->ttys[r->nr_ttys++] = (TtyInfoEntry *)m;
		m = NULL;
	}
	rimg_msg_free(m);
	img_close(img);
	return err;
}

/* The sub-message a file entry of its type must carry; -1 for a kind restore cannot open. */
static int file_body_ok(const FileEntry *f)
{
	switch (f->type) {
	case FD_TYPES__REG:
		return !!f->reg;
	case FD_TYPES__PIPE:
		return !!f->pipe;
	case FD_TYPES__FIFO:
		return !!f->fifo;
	case FD_TYPES__TTY:
		return !!f->tty;
	case FD_TYPES__INOTIFY:
		return !!f->ify;
	case FD_TYPES__EVENTFD:
		return !!f->efd;
	case FD_TYPES__EVENTPOLL:
		return !!f->epfd;
	case FD_TYPES__SIGNALFD:
		return !!f->sgfd;
	case FD_TYPES__TIMERFD:
		return !!f->tfd;
	case FD_TYPES__MEMFD:
		return !!f->memfd; /* its inode: rimg_load_shmem() */
	case FD_TYPES__UNIXSK:
		return !!f->usk;
	case FD_TYPES__INETSK:
		return !!f->isk;
	case FD_TYPES__NETLINKSK:
		return !!f->nlsk;
	case FD_TYPES__PIDFD:
		return !!f->pidfd;
	case FD_TYPES__BPFMAP:
		return !!f->bpf;
	default:
		return -1;
	}
}

int rimg_load_files(struct rimg *r)
{
	ProtobufCMessage *m = NULL;
	size_t cap = 0;
	struct img *img;
	int err;

	err = rimg_open_img(r, IMG_FILES->file, IMG_FILES, 1, &img);
	if (err)
		return err;
	for (;;) {
		size_t at = img_offset(img);
		FileEntry *f;

		err = img_read_entry(img, &m);
		if (err <= 0)
			break;
		f = (FileEntry *)m;
		if (file_body_ok(f) < 0) {
			pr_err("%s: offset %zu: file id %u is a %s (type %d): ferry restore restores regular files, pipes, terminals, inotify instances, eventfds, epolls, signalfds, timerfds, memfds, unix, TCP, UDP and netlink sockets, pidfds and BPF maps only",
			       img_name(img), at, f->id,
			       rimg_enum_name(&fd_types__descriptor, f->type), f->type);
			err = -EOPNOTSUPP;
			break;
		}
		if (!file_body_ok(f)) {
			pr_err("%s: offset %zu: file id %u of type %d has no matching description",
			       img_name(img), at, f->id, f->type);
			err = -EINVAL;
			break;
		}
		if (f->type == FD_TYPES__INOTIFY) {
			err = rfiles_inotify_check(img_name(img), at, f);
			if (err)
				break;
		}
		err = rimg_check_event_file(img, at, f);
		if (!err && f->type == FD_TYPES__UNIXSK)
			err = rimg_check_unix_file(img, at, f);
		if (!err && f->type == FD_TYPES__INETSK)
			err = rimg_check_inet_file(img, at, f);
		if (!err && f->type == FD_TYPES__INETSK)
			err = rimg_check_tcp_stream(r, f);
		if (!err && f->type == FD_TYPES__NETLINKSK)
			err = rimg_check_netlink_file(img, at, f);
		if (!err && f->type == FD_TYPES__PIDFD)
			err = rimg_check_pidfd(r, img, at, f);
		if (!err && f->type == FD_TYPES__BPFMAP)
			err = rimg_check_bpfmap(img, at, f);
		if (err)
			break;
		if (f->type == FD_TYPES__TTY && !rimg_tty_info(r, f->tty->tty_info_id)) {
			pr_err("%s: offset %zu: tty file id %u refers to tty %u, not in %s",
			       img_name(img), at, f->id, f->tty->tty_info_id, IMG_TTY_INFO->file);
			err = -EINVAL;
			break;
		}
		if (r->nr_files == cap) {
			size_t nc = cap ? cap * 2 : 16;
			FileEntry **n = realloc(r->files, nc * sizeof(*n));

			if (!n) {
				err = -ENOMEM;
				break;
			}
			r->files = n;
			cap = nc;
		}
		r->files[r->nr_files++] = f;
		m = NULL;
	}
	rimg_msg_free(m);
	if (err < 0)
		goto out;
	err = 0;
	if (r->nr_files)
		qsort(r->files, r->nr_files, sizeof(*r->files), cmp_file);
	for (size_t i = 1; i < r->nr_files; i++) {
		if (r->files[i]->id == r->files[i - 1]->id) {
			pr_err("%s: file id %u appears twice", img_name(img), r->files[i]->id);
			err = -EINVAL;
			break;
		}
	}
out:
	img_close(img);
	return err;
}

static int pipe_in_files(const struct rimg *r, FdTypes type, uint32_t pipe_id)
{
	for (size_t i = 0; i < r->nr_files; i++) {
		const FileEntry *f = r->files[i];

		if (f->type == type && type == FD_TYPES__PIPE && f->pipe->pipe_id == pipe_id)
			return 1;
		if (f->type == type && type == FD_TYPES__FIFO && f->fifo->pipe_id == pipe_id)
			return 1;
	}
	return 0;
}

/*
 * pipes-data.img or fifo-data.img (@t, for the pipes or FIFOs of @type):
 * into *@out (sorted), the image kept open in *@img for the payloads.
 */
static int load_pipe_data(struct rimg *r, const struct img_type *t, FdTypes type,
			  struct rimg_pipe_data **out, size_t *nr, struct img **img)
{
	const char *what = type == FD_TYPES__PIPE ? "pipe" : "FIFO";
	ProtobufCMessage *m = NULL;
	size_t cap = 0;
	int err;

	err = rimg_open_img(r, t->file, t, 0, img);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	for (;;) {
		size_t at = img_offset(*img);
		struct rimg_pipe_data *pd;
		PipeDataEntry *e;

		err = img_read_entry(*img, &m);
		if (err <= 0)
			break;
		e = (PipeDataEntry *)m;
		if (!pipe_in_files(r, type, e->pipe_id)) {
			pr_err("%s: offset %zu: data for %s %u, which no %s of %s uses",
			       img_name(*img), at, what, e->pipe_id, what, IMG_FILES->file);
			err = -EINVAL;
			break;
		}
		if (*nr == cap) {
			size_t nc = cap ? cap * 2 : 4;

			pd = realloc(*out, nc * sizeof(*pd));
			if (!pd) {
				err = -ENOMEM;
				break;
			}
			*out = pd;
			cap = nc;
		}
		pd = &(*out)[*nr];
		pd->pipe_id = e->pipe_id;
		pd->size = e->has_size ? e->size : 0;
		err = img_read_payload(*img, m, &pd->data, &pd->len);
		if (err)
			break;
		(*nr)++;
		rimg_msg_free(m);
		m = NULL;
	}
	rimg_msg_free(m);
	if (err < 0)
		return err;
	if (*nr)
		qsort(*out, *nr, sizeof(**out), cmp_pipe);
	for (size_t i = 1; i < *nr; i++) {
		if ((*out)[i].pipe_id == (*out)[i - 1].pipe_id) {
			pr_err("%s: %s %u has more than one data entry", img_name(*img), what,
			       (*out)[i].pipe_id);
			return -EINVAL;
		}
	}
	return 0;
}

/* Every FIFO names its path through a regular file entry (fifo_entry.regf_id). */
static int check_fifos(const struct rimg *r)
{
	for (size_t i = 0; i < r->nr_files; i++) {
		const FileEntry *f = r->files[i];
		long k;

		if (f->type != FD_TYPES__FIFO)
			continue;
		k = f->fifo->has_regf_id ? rimg_file_index(r, f->fifo->regf_id) : -1;
		if (k < 0 || r->files[k]->type != FD_TYPES__REG) {
			pr_err("%s/%s: FIFO file id %u: its path entry (regf_id %u) is no regular file entry",
			       r->dir, IMG_FILES->file, f->id, f->fifo->regf_id);
			return -EINVAL;
		}
	}
	return 0;
}

int rimg_load_pipes(struct rimg *r)
{
	int err = load_pipe_data(r, IMG_PIPES_DATA, FD_TYPES__PIPE, &r->pipes, &r->nr_pipes,
				 &r->pipes_img);

	if (!err)
		err = check_fifos(r);
	if (!err)
		err = load_pipe_data(r, IMG_FIFO_DATA, FD_TYPES__FIFO, &r->fifos, &r->nr_fifos,
				     &r->fifos_img);
	return err;
}

/* An fd of fdinfo-N.img and the offset of its entry. */
struct fd_at {
	uint32_t fd;
	size_t at;
};

static int cmp_fd_at(const void *a, const void *b)
{
	const struct fd_at *x = a, *y = b;

	if (x->fd != y->fd)
		return x->fd < y->fd ? -1 : 1;
	return x->at < y->at ? -1 : x->at > y->at;
}

/* No fd twice in @p's table (sorted, so that a table of 100k fds is no quadratic scan). */
static int check_unique_fds(const struct img *img, const struct rimg_proc *p, struct fd_at *seen)
{
	if (p->nr_fds < 2)
		return 0;
	qsort(seen, p->nr_fds, sizeof(*seen), cmp_fd_at);
	for (size_t i = 1; i < p->nr_fds; i++) {
		if (seen[i].fd == seen[i - 1].fd) {
			pr_err("%s: offset %zu: pid %d fd %u appears twice (first at offset %zu)",
			       img_name(img), seen[i].at, p->pid, seen[i].fd, seen[i - 1].at);
			return -EINVAL;
		}
	}
	return 0;
}

int rimg_load_fds(struct rimg *r, struct rimg_proc *p)
{
	uint32_t files_id = p->ids->files_id;
	struct fd_at *seen = NULL;
	ProtobufCMessage *m = NULL;
	size_t cap = 0;
	struct img *img;
	char name[64];
	int err;

	snprintf(name, sizeof(name), IMG_FDINFO->file, files_id);
	err = rimg_open_img(r, name, IMG_FDINFO, 1, &img);
	if (err) {
		if (err == -ENOENT)
			pr_err("pid %d: its descriptors (%s) are missing", p->pid, name);
		return err;
	}
	for (;;) {
		size_t at = img_offset(img);
		const FileEntry *f;
		FdinfoEntry *e;

		err = img_read_entry(img, &m);
		if (err <= 0)
			break;
		err = 0;
		e = (FdinfoEntry *)m;
		f = rimg_file(r, e->id);
		if (!f) {
			pr_err("%s: offset %zu: pid %d fd %u: file id %u is not in %s",
			       img_name(img), at, p->pid, e->fd, e->id, IMG_FILES->file);
			err = -EINVAL;
			break;
		}
		if (f->type != e->type) {
			pr_err("%s: offset %zu: pid %d fd %u: type %d, but file id %u has type %d",
			       img_name(img), at, p->pid, e->fd, e->type, e->id, f->type);
			err = -EINVAL;
			break;
		}
		if (e->fd > INT32_MAX) {
			pr_err("%s: offset %zu: pid %d: invalid fd %u", img_name(img), at, p->pid,
			       e->fd);
			err = -EINVAL;
			break;
		}
		if (p->nr_fds == cap) {
			size_t nc = cap ? cap * 2 : 16;
			FdinfoEntry **n = realloc(p->fds, nc * sizeof(*n));
			struct fd_at *na = realloc(seen, nc * sizeof(*na));

			if (na)
				seen = na;
			if (!n || !na) {
				if (n)
					p->fds = n;
				err = -ENOMEM;
				break;
			}
			p->fds = n;
			cap = nc;
		}
		seen[p->nr_fds] = (struct fd_at){ .fd = e->fd, .at = at };
		p->fds[p->nr_fds++] = e;
		m = NULL;
	}
	rimg_msg_free(m);
	if (!err)
		err = check_unique_fds(img, p, seen);
	free(seen);
	img_close(img);
	return err < 0 ? err : 0;
}

/* A lock of filelocks.img must be one ferry takes, through an fd its process has. */
static int check_lock(const struct rimg *r, const struct img *img, size_t at,
		      const FileLockEntry *l)
{
	const struct rimg_proc *p = NULL;
	int found = 0;

	for (size_t i = 0; i < r->nr_procs && !p; i++)
		if (r->procs[i].pid == l->pid)
			p = &r->procs[i];
	if (!p) {
		pr_err("%s: offset %zu: a lock of pid %d, which is not in %s", img_name(img), at,
		       l->pid, IMG_PSTREE->file);
		return -EINVAL;
	}
	for (size_t i = 0; i < p->nr_fds && !found; i++)
		found = l->fd >= 0 && p->fds[i]->fd == (uint32_t)l->fd;
	if (!found) {
		pr_err("%s: offset %zu: pid %d: a lock on fd %d, which it does not have",
		       img_name(img), at, l->pid, l->fd);
		return -EINVAL;
	}
	if (l->flag == FILE_LOCK_LEASE) {
		pr_err("%s: offset %zu: pid %d fd %d: a lease, which ferry cannot restore",
		       img_name(img), at, l->pid, l->fd);
		return -ENOTSUP;
	}
	if ((l->flag != FILE_LOCK_POSIX && l->flag != FILE_LOCK_OFD &&
	     l->flag != FILE_LOCK_FLOCK) ||
	    (l->type != F_RDLCK && l->type != F_WRLCK) || l->start < 0 || l->len < 0) {
		pr_err("%s: offset %zu: pid %d fd %d: invalid lock (flag %u, type %u, start %lld, "
		       "len %lld)",
		       img_name(img), at, l->pid, l->fd, l->flag, l->type, (long long)l->start,
		       (long long)l->len);
		return -EINVAL;
	}
	return 0;
}

/* filelocks.img, if the dump has one (written by a dump with --file-locks). */
int rimg_load_locks(struct rimg *r)
{
	ProtobufCMessage *m = NULL;
	size_t cap = 0;
	struct img *img;
	int err;

	err = rimg_open_img(r, IMG_FILE_LOCKS->file, IMG_FILE_LOCKS, 0, &img);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	for (;;) {
		size_t at = img_offset(img);

		err = img_read_entry(img, &m);
		if (err <= 0)
			break;
		err = check_lock(r, img, at, (FileLockEntry *)m);
		if (err)
			break;
		if (r->nr_locks == cap) {
			size_t nc = cap ? cap * 2 : 8;
			FileLockEntry **n = realloc(r->locks, nc * sizeof(*n));

			if (!n) {
				err = -ENOMEM;
				break;
			}
			r->locks = n;
			cap = nc;
		}
		r->locks[r->nr_locks++] = (FileLockEntry *)m;
		m = NULL;
	}
	rimg_msg_free(m);
	img_close(img);
	return err < 0 ? err : 0;
}

int rimg_check_file_ref(const struct rimg *r, const struct rimg_proc *p, const char *img,
			const char *what, uint32_t id)
{
	if (rimg_file(r, id))
		return 0;
	pr_err("%s/%s: pid %d: %s file id %u is not in %s", r->dir, img, p->pid, what, id,
	       IMG_FILES->file);
	return -EINVAL;
}
