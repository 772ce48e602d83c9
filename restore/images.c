// SPDX-License-Identifier: MIT
/*
 * The restore side's image loader (see images.h): every image of a dump is
 * read into one model and checked against the others before anything is
 * restored.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "rimg: "
#include "file_lock.h"
#include "images.h"
#include "img.h"
#include "log.h"
#include "pagemap.pb-c.h"
#include "pagemap_flags.h"
#include "pipe-data.pb-c.h"
#include "pstree.pb-c.h"
#include "seccomp.pb-c.h"

#define RIMG_PAGE 4096ull
#define RIMG_IMG_VERSION 2 /* inventory img_version of CRIU's images v1.1 */
#define RIMG_PE_KNOWN (PE_PARENT | PE_LAZY | PE_PRESENT)

static void msg_free(void *m)
{
	if (m)
		protobuf_c_message_free_unpacked((ProtobufCMessage *)m, NULL);
}

/* The name of value @v of enum @d, for messages. */
static const char *enum_name(const ProtobufCEnumDescriptor *d, int v)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);

	return ev ? ev->name : "unknown";
}

/*
 * Open image @name of directory @dirfd (@dir in messages). Only a regular file
 * inside the directory is read: a symlink could lead anywhere. A missing file
 * returns -ENOENT, logged only if @required.
 */
static int open_img_in(int dirfd, const char *dir, const char *name, const struct img_type *t,
		       int required, struct img **out)
{
	struct stat st;
	int err;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW)) {
		err = -errno;
		if (err != -ENOENT)
			pr_perror("cannot stat %s/%s", dir, name);
		else if (required)
			pr_err("%s/%s: missing", dir, name);
		return err;
	}
	if (!S_ISREG(st.st_mode)) {
		pr_err("%s/%s: not a regular file (images are read only from %s itself)", dir, name,
		       dir);
		return -EINVAL;
	}
	err = img_open(out, dirfd, name, t);
	if (err == -ENOENT)
		pr_err("%s/%s: vanished while being loaded", dir, name);
	return err;
}

/* open_img_in() in the images directory itself. */
static int open_img(const struct rimg *r, const char *name, const struct img_type *t, int required,
		    struct img **out)
{
	return open_img_in(r->dirfd, r->dir, name, t, required, out);
}

/* Read the one entry of a single-entry image. */
static int read_single(const struct rimg *r, const char *name, const struct img_type *t,
		       ProtobufCMessage **msg)
{
	struct img *img;
	int err;

	err = open_img(r, name, t, 1, &img);
	if (err)
		return err;
	err = img_read_entry(img, msg);
	if (!err) {
		pr_err("%s: empty, one %s entry expected", img_name(img), t->name);
		err = -EINVAL;
	} else if (err == 1) {
		err = 0;
	}
	img_close(img);
	return err;
}

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

const struct rimg_page_run *rimg_find_page(const struct rimg_pagemap *pm, uint64_t addr)
{
	size_t lo = 0, hi;

	if (!pm)
		return NULL;
	hi = pm->nr_runs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct rimg_page_run *run = &pm->runs[mid];

		if (addr < run->vaddr)
			hi = mid;
		else if (addr - run->vaddr >= run->nr_pages * RIMG_PAGE)
			lo = mid + 1;
		else
			return run;
	}
	return NULL;
}

int rimg_walk_pieces(const struct rimg_proc *p, rimg_piece_fn *fn, void *arg)
{
	const MmEntry *mm = p->mm;
	const struct rimg_pagemap *pm = p->pm;
	size_t v = 0;
	int err = 0;

	/*
	 * Runs are in address order, whichever level holds them, and so are the
	 * VMAs: one pass over both. A run may span adjacent VMAs (the dump
	 * merges contiguous pages): it is split at their boundaries.
	 */
	for (size_t i = 0; !err && pm && i < pm->nr_runs; i++) {
		const struct rimg_page_run *run = &pm->runs[i];
		uint64_t addr = run->vaddr, end = run->vaddr + run->nr_pages * RIMG_PAGE;
		uint64_t off = run->file_off;

		if (!(run->flags & (PE_PRESENT | PE_PARENT)))
			continue;
		if (run->level >= pm->nr_files) {
			pr_err("pid %d: pages at %#llx are at level %u of the pre-dump chain, which was not loaded",
			       p->pid, (unsigned long long)addr, run->level);
			return -EINVAL;
		}
		while (!err && addr < end) {
			const VmaEntry *vma;
			uint64_t n;

			while (v < mm->n_vmas && mm->vmas[v]->end <= addr)
				v++;
			if (v == mm->n_vmas || mm->vmas[v]->start > addr) {
				pr_err("pid %d: dumped pages at %#llx are in no VMA", p->pid,
				       (unsigned long long)addr);
				return -EINVAL;
			}
			vma = mm->vmas[v];
			n = (vma->end < end ? vma->end : end) - addr;
			err = fn(arg, run, vma, addr, off, n / RIMG_PAGE);
			addr += n;
			off += n;
		}
	}
	return err;
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

int rimg_pipe_data(const struct rimg *r, uint32_t pipe_id, const void **data, size_t *len)
{
	const struct rimg_pipe_data *p = rimg_pipe(r, pipe_id);

	if (!p)
		return -ENOENT;
	*data = p->data;
	*len = p->len;
	return 0;
}

/* ---- inventory and pstree --------------------------------------------------------------- */

static int load_inventory(struct rimg *r)
{
	ProtobufCMessage *m = NULL;
	struct stat st;
	int err;

	if (fstatat(r->dirfd, "inventory.img", &st, AT_SYMLINK_NOFOLLOW) && errno == ENOENT) {
		pr_err("%s/inventory.img: missing: not a complete dump (the dump writes it last)",
		       r->dir);
		return -ENOENT;
	}
	err = read_single(r, "inventory.img", IMG_INVENTORY, &m);
	if (err)
		return err;
	r->inv = (InventoryEntry *)m;
	if (r->inv->img_version != RIMG_IMG_VERSION) {
		pr_err("%s/inventory.img: img_version %u, only %u (CRIU images v1.1) is supported",
		       r->dir, r->inv->img_version, RIMG_IMG_VERSION);
		return -EINVAL;
	}
	if (r->inv->has_fdinfo_per_id && !r->inv->fdinfo_per_id) {
		pr_err("%s/inventory.img: fdinfo_per_id is off (old per-pid fdinfo layout) and not supported",
		       r->dir);
		return -EINVAL;
	}
	if (!fstatat(r->dirfd, "parent", &st, AT_SYMLINK_NOFOLLOW)) {
		r->has_parent = 1;
		pr_debug("%s: has a parent image set", r->dir);
	}
	return 0;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return x < y ? -1 : x > y;
}

/* The first value of sorted @v that appears twice, or 0. */
static pid_t first_dup(pid_t *v, size_t n)
{
	qsort(v, n, sizeof(*v), cmp_pid);
	for (size_t i = 1; i < n; i++)
		if (v[i] == v[i - 1])
			return v[i];
	return 0;
}

static int add_proc(struct rimg *r, const PstreeEntry *e, size_t *cap)
{
	struct rimg_proc *p;

	if (r->nr_procs == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;

		p = realloc(r->procs, nc * sizeof(*p));
		if (!p)
			return -ENOMEM;
		r->procs = p;
		*cap = nc;
	}
	p = &r->procs[r->nr_procs];
	memset(p, 0, sizeof(*p));
	p->parent = -1;
	p->threads = calloc(e->n_threads, sizeof(*p->threads));
	if (!p->threads)
		return -ENOMEM;
	r->nr_procs++;
	p->pid = (pid_t)e->pid;
	p->ppid = (pid_t)e->ppid;
	p->pgid = (pid_t)e->pgid;
	p->sid = (pid_t)e->sid;
	p->nr_threads = e->n_threads;
	for (size_t k = 0; k < e->n_threads; k++)
		p->threads[k].tid = (pid_t)e->threads[k];
	return 0;
}

/* Every process has a parent in the tree, and following parents ends at the root. */
static int link_tree(struct rimg *r)
{
	for (size_t i = 1; i < r->nr_procs; i++) {
		struct rimg_proc *p = &r->procs[i];

		for (size_t k = 0; k < r->nr_procs; k++)
			if (k != i && r->procs[k].pid == p->ppid)
				p->parent = (int)k;
		if (p->parent < 0) {
			pr_err("%s/pstree.img: pid %d: parent pid %d is not in the tree", r->dir,
			       p->pid, p->ppid);
			return -EINVAL;
		}
	}
	for (size_t i = 1; i < r->nr_procs; i++) {
		int at = (int)i;
		size_t steps = 0;

		while (at > 0 && steps++ <= r->nr_procs)
			at = r->procs[at].parent;
		if (at != 0) {
			pr_err("%s/pstree.img: pid %d: its parents form a cycle that misses the root pid %d",
			       r->dir, r->procs[i].pid, r->procs[0].pid);
			return -EINVAL;
		}
	}
	return 0;
}

static int load_pstree(struct rimg *r)
{
	ProtobufCMessage *m = NULL;
	pid_t *pids = NULL, *tids = NULL;
	size_t cap = 0, nt = 0;
	struct img *img;
	pid_t dup;
	int err;

	err = open_img(r, "pstree.img", IMG_PSTREE, 1, &img);
	if (err)
		return err;
	for (;;) {
		size_t at = img_offset(img);
		PstreeEntry *e;

		err = img_read_entry(img, &m);
		if (err <= 0)
			break;
		err = 0;
		e = (PstreeEntry *)m;
		if (!e->pid || e->pid > INT32_MAX) {
			pr_err("%s: offset %zu: invalid pid %u", img_name(img), at, e->pid);
			err = -EINVAL;
			break;
		}
		if (!e->n_threads || e->threads[0] != e->pid) {
			pr_err("%s: offset %zu: pid %u: the first thread is %d, not the pid",
			       img_name(img), at, e->pid, e->n_threads ? (int)e->threads[0] : -1);
			err = -EINVAL;
			break;
		}
		for (size_t k = 0; k < e->n_threads; k++) {
			if (!e->threads[k] || e->threads[k] > INT32_MAX) {
				pr_err("%s: offset %zu: pid %u: invalid tid %u", img_name(img), at,
				       e->pid, e->threads[k]);
				err = -EINVAL;
			}
		}
		if (err)
			break;
		err = add_proc(r, e, &cap);
		if (err)
			break;
		nt += e->n_threads;
		msg_free(m);
		m = NULL;
	}
	if (err < 0)
		goto out;
	err = -EINVAL;
	if (!r->nr_procs) {
		pr_err("%s: no process", img_name(img));
		goto out;
	}
	err = -ENOMEM;
	pids = calloc(r->nr_procs, sizeof(*pids));
	tids = calloc(nt, sizeof(*tids));
	if (!pids || !tids)
		goto out;
	nt = 0;
	for (size_t i = 0; i < r->nr_procs; i++) {
		pids[i] = r->procs[i].pid;
		for (size_t k = 0; k < r->procs[i].nr_threads; k++)
			tids[nt++] = r->procs[i].threads[k].tid;
	}
	err = -EINVAL;
	dup = first_dup(pids, r->nr_procs);
	if (dup) {
		pr_err("%s: pid %d appears twice", img_name(img), dup);
		goto out;
	}
	dup = first_dup(tids, nt);
	if (dup) {
		pr_err("%s: tid %d appears twice", img_name(img), dup);
		goto out;
	}
	err = link_tree(r);
out:
	msg_free(m);
	free(pids);
	free(tids);
	img_close(img);
	return err;
}

/* ---- cores ------------------------------------------------------------------------------ */

/*
 * A thread under seccomp: ferry restore installs no filter, and a restored
 * task that ran confined must not run unconfined.
 */
static int check_seccomp_mode(const struct rimg *r, const char *name, const struct rimg_proc *p,
			      const struct rimg_thread *t)
{
	const CoreEntry *c = t->core;
	int mode = 0;

	if (c->thread_core && c->thread_core->has_seccomp_mode)
		mode = c->thread_core->seccomp_mode;
	else if (c->tc && c->tc->has_old_seccomp_mode) /* older CRIU: per task */
		mode = c->tc->old_seccomp_mode;
	if (mode == SECCOMP_MODE__disabled)
		return 0;
	pr_err("%s/%s: pid %d tid %d runs under seccomp (mode %s): ferry restore installs no seccomp filter",
	       r->dir, name, p->pid, t->tid, enum_name(&seccomp_mode__descriptor, mode));
	return -EOPNOTSUPP;
}

static int load_core(struct rimg *r, struct rimg_proc *p, struct rimg_thread *t, int leader)
{
	ProtobufCMessage *m = NULL;
	char name[64];
	CoreEntry *c;
	int err;

	snprintf(name, sizeof(name), IMG_CORE->file, (unsigned int)t->tid);
	err = read_single(r, name, IMG_CORE, &m);
	if (err) {
		if (err == -ENOENT)
			pr_err("pid %d tid %d: %s/%s is missing", p->pid, t->tid, r->dir, name);
		return err;
	}
	c = t->core = (CoreEntry *)m;
	if (c->mtype != CORE_ENTRY__MARCH__X86_64) {
		pr_err("%s/%s: pid %d tid %d: architecture %s (%d), only x86_64 is supported",
		       r->dir, name, p->pid, t->tid,
		       enum_name(&core_entry__march__descriptor, c->mtype), c->mtype);
		return -EINVAL;
	}
	if (!c->thread_info || !c->thread_info->gpregs || !c->thread_info->fpregs) {
		pr_err("%s/%s: pid %d tid %d: no thread_info with gpregs and fpregs", r->dir, name,
		       p->pid, t->tid);
		return -EINVAL;
	}
	if (leader && !c->tc) {
		pr_err("%s/%s: pid %d: the leader's core has no tc", r->dir, name, p->pid);
		return -EINVAL;
	}
	return check_seccomp_mode(r, name, p, t);
}

/* ---- files ------------------------------------------------------------------------------ */

static int load_ttys(struct rimg *r)
{
	ProtobufCMessage *m = NULL;
	size_t cap = 0;
	struct img *img;
	int err;

	err = open_img(r, IMG_TTY_INFO->file, IMG_TTY_INFO, 0, &img);
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
	msg_free(m);
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
	default:
		return -1;
	}
}

static int load_files(struct rimg *r)
{
	ProtobufCMessage *m = NULL;
	size_t cap = 0;
	struct img *img;
	int err;

	err = open_img(r, IMG_FILES->file, IMG_FILES, 1, &img);
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
			pr_err("%s: offset %zu: file id %u is a %s (type %d): ferry restore restores regular files, pipes and terminals only",
			       img_name(img), at, f->id, enum_name(&fd_types__descriptor, f->type),
			       f->type);
			err = -EOPNOTSUPP;
			break;
		}
		if (!file_body_ok(f)) {
			pr_err("%s: offset %zu: file id %u of type %d has no matching description",
			       img_name(img), at, f->id, f->type);
			err = -EINVAL;
			break;
		}
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
	msg_free(m);
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

static int pipe_in_files(const struct rimg *r, uint32_t pipe_id)
{
	for (size_t i = 0; i < r->nr_files; i++)
		if (r->files[i]->type == FD_TYPES__PIPE && r->files[i]->pipe->pipe_id == pipe_id)
			return 1;
	return 0;
}

static int load_pipes(struct rimg *r)
{
	ProtobufCMessage *m = NULL;
	size_t cap = 0;
	int err;

	err = open_img(r, IMG_PIPES_DATA->file, IMG_PIPES_DATA, 0, &r->pipes_img);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	for (;;) {
		size_t at = img_offset(r->pipes_img);
		struct rimg_pipe_data *pd;
		PipeDataEntry *e;

		err = img_read_entry(r->pipes_img, &m);
		if (err <= 0)
			break;
		e = (PipeDataEntry *)m;
		if (!pipe_in_files(r, e->pipe_id)) {
			pr_err("%s: offset %zu: data for pipe %u, which no pipe of %s uses",
			       img_name(r->pipes_img), at, e->pipe_id, IMG_FILES->file);
			err = -EINVAL;
			break;
		}
		if (r->nr_pipes == cap) {
			size_t nc = cap ? cap * 2 : 4;

			pd = realloc(r->pipes, nc * sizeof(*pd));
			if (!pd) {
				err = -ENOMEM;
				break;
			}
			r->pipes = pd;
			cap = nc;
		}
		pd = &r->pipes[r->nr_pipes];
		pd->pipe_id = e->pipe_id;
		pd->size = e->has_size ? e->size : 0;
		err = img_read_payload(r->pipes_img, m, &pd->data, &pd->len);
		if (err)
			break;
		r->nr_pipes++;
		msg_free(m);
		m = NULL;
	}
	msg_free(m);
	if (err < 0)
		return err;
	if (r->nr_pipes)
		qsort(r->pipes, r->nr_pipes, sizeof(*r->pipes), cmp_pipe);
	for (size_t i = 1; i < r->nr_pipes; i++) {
		if (r->pipes[i].pipe_id == r->pipes[i - 1].pipe_id) {
			pr_err("%s: pipe %u has more than one data entry", img_name(r->pipes_img),
			       r->pipes[i].pipe_id);
			return -EINVAL;
		}
	}
	return 0;
}

static int load_fds(struct rimg *r, struct rimg_proc *p)
{
	uint32_t files_id = p->ids->files_id;
	ProtobufCMessage *m = NULL;
	size_t cap = 0;
	struct img *img;
	char name[64];
	int err;

	snprintf(name, sizeof(name), IMG_FDINFO->file, files_id);
	err = open_img(r, name, IMG_FDINFO, 1, &img);
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
		for (size_t i = 0; i < p->nr_fds; i++) {
			if (p->fds[i]->fd == e->fd) {
				pr_err("%s: offset %zu: pid %d fd %u appears twice", img_name(img),
				       at, p->pid, e->fd);
				err = -EINVAL;
			}
		}
		if (err)
			break;
		if (p->nr_fds == cap) {
			size_t nc = cap ? cap * 2 : 16;
			FdinfoEntry **n = realloc(p->fds, nc * sizeof(*n));

			if (!n) {
				err = -ENOMEM;
				break;
			}
			p->fds = n;
			cap = nc;
		}
		p->fds[p->nr_fds++] = e;
		m = NULL;
	}
	msg_free(m);
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
static int load_locks(struct rimg *r)
{
	ProtobufCMessage *m = NULL;
	size_t cap = 0;
	struct img *img;
	int err;

	err = open_img(r, IMG_FILE_LOCKS->file, IMG_FILE_LOCKS, 0, &img);
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
	msg_free(m);
	img_close(img);
	return err < 0 ? err : 0;
}

static int check_file_ref(const struct rimg *r, const struct rimg_proc *p, const char *img,
			  const char *what, uint32_t id)
{
	if (rimg_file(r, id))
		return 0;
	pr_err("%s/%s: pid %d: %s file id %u is not in %s", r->dir, img, p->pid, what, id,
	       IMG_FILES->file);
	return -EINVAL;
}

static int load_fs(struct rimg *r, struct rimg_proc *p)
{
	ProtobufCMessage *m = NULL;
	char name[64];
	int err;

	snprintf(name, sizeof(name), IMG_FS->file, (unsigned int)p->pid);
	err = read_single(r, name, IMG_FS, &m);
	if (err)
		return err;
	p->fs = (FsEntry *)m;
	err = check_file_ref(r, p, name, "cwd", p->fs->cwd_id);
	if (!err)
		err = check_file_ref(r, p, name, "root", p->fs->root_id);
	return err;
}

/* ---- memory ----------------------------------------------------------------------------- */

static int check_vmas(const struct rimg *r, const struct rimg_proc *p, const char *name)
{
	const MmEntry *mm = p->mm;

	for (size_t i = 0; i < mm->n_vmas; i++) {
		const VmaEntry *v = mm->vmas[i];

		if ((v->start | v->end) & (RIMG_PAGE - 1) || v->start >= v->end) {
			pr_err("%s/%s: pid %d: VMA %zu 0x%llx-0x%llx is empty or not page aligned",
			       r->dir, name, p->pid, i, (unsigned long long)v->start,
			       (unsigned long long)v->end);
			return -EINVAL;
		}
		if (i && v->start < mm->vmas[i - 1]->end) {
			pr_err("%s/%s: pid %d: VMA 0x%llx-0x%llx overlaps or precedes 0x%llx-0x%llx",
			       r->dir, name, p->pid, (unsigned long long)v->start,
			       (unsigned long long)v->end,
			       (unsigned long long)mm->vmas[i - 1]->start,
			       (unsigned long long)mm->vmas[i - 1]->end);
			return -EINVAL;
		}
	}
	return 0;
}

/* Is [start, end) covered by the (sorted) VMAs, with no hole in between? */
static int in_vmas(const MmEntry *mm, uint64_t start, uint64_t end)
{
	size_t lo = 0, hi = mm->n_vmas;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (mm->vmas[mid]->end <= start)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == mm->n_vmas || mm->vmas[lo]->start > start)
		return 0;
	while (mm->vmas[lo]->end < end) {
		if (lo + 1 == mm->n_vmas || mm->vmas[lo + 1]->start != mm->vmas[lo]->end)
			return 0;
		lo++;
	}
	return 1;
}

/*
 * A PE_PARENT run whose level is not known yet has this file_off. It never
 * leaves rimg_load(): a PE_PRESENT run ends below 2^64 - 4096 (no wrap).
 */
#define UNRESOLVED UINT64_MAX

/* A growing array of runs. */
struct runs {
	struct rimg_page_run *v;
	size_t n, cap;
};

static int runs_push(struct runs *rs, const struct rimg_page_run *run)
{
	if (rs->n == rs->cap) {
		size_t nc = rs->cap ? rs->cap * 2 : 64;
		struct rimg_page_run *n = realloc(rs->v, nc * sizeof(*n));

		if (!n)
			return -ENOMEM;
		rs->v = n;
		rs->cap = nc;
	}
	rs->v[rs->n++] = *run;
	return 0;
}

/* One pagemap-PID.img as read; PE_PRESENT runs have their offset in the pages file. */
struct pmap {
	struct runs runs;
	uint32_t pages_id;
	uint64_t need; /* bytes of the pages file the PE_PRESENT runs use */
};

/*
 * Decode entry @e of @dir/@img (at offset @at, of @pid) into @run and check
 * what must hold at every level of a chain: page aligned, not empty, no wrap,
 * known flags, after the previous run @prev (NULL for the first).
 */
static int decode_entry(const char *dir, struct img *img, size_t at, pid_t pid,
			const PagemapEntry *e, const struct rimg_page_run *prev,
			struct rimg_page_run *run)
{
	uint64_t nr = e->has_nr_pages ? e->nr_pages : e->compat_nr_pages;

	run->vaddr = e->vaddr;
	run->nr_pages = nr;
	if (e->has_flags)
		run->flags = e->flags;
	else
		run->flags = e->has_in_parent && e->in_parent ? PE_PARENT : PE_PRESENT;
	if (e->vaddr & (RIMG_PAGE - 1) || !nr || nr > (UINT64_MAX - e->vaddr) / RIMG_PAGE) {
		pr_err("%s: offset %zu: pid %d: run of %llu pages at 0x%llx is empty, not page aligned or wraps",
		       img_name(img), at, pid, (unsigned long long)nr,
		       (unsigned long long)e->vaddr);
		return -EINVAL;
	}
	if ((run->flags & ~RIMG_PE_KNOWN) || !run->flags ||
	    ((run->flags & PE_PARENT) && (run->flags & PE_PRESENT))) {
		pr_err("%s: offset %zu: pid %d: run at 0x%llx has invalid flags 0x%x",
		       img_name(img), at, pid, (unsigned long long)e->vaddr, run->flags);
		return -EINVAL;
	}
	if (prev && e->vaddr < prev->vaddr + prev->nr_pages * RIMG_PAGE) {
		pr_err("%s: offset %zu: pid %d: run at 0x%llx overlaps or precedes the run at 0x%llx",
		       img_name(img), at, pid, (unsigned long long)e->vaddr,
		       (unsigned long long)prev->vaddr);
		return -EINVAL;
	}
	return 0;
}

/* What only the images directory's own pagemap must satisfy: VMAs and the parent link. */
static int check_own_run(const struct rimg *r, const struct rimg_proc *p, struct img *img,
			 size_t at, const struct rimg_page_run *run)
{
	uint64_t end = run->vaddr + run->nr_pages * RIMG_PAGE;

	if ((run->flags & PE_PARENT) && !r->has_parent) {
		pr_err("%s: offset %zu: pid %d: run at 0x%llx is in the parent image set, but %s has no parent link",
		       img_name(img), at, p->pid, (unsigned long long)run->vaddr, r->dir);
		return -EINVAL;
	}
	if (!in_vmas(p->mm, run->vaddr, end)) {
		pr_err("%s: offset %zu: pid %d: run 0x%llx-0x%llx is not inside a VMA of mm-%d.img",
		       img_name(img), at, p->pid, (unsigned long long)run->vaddr,
		       (unsigned long long)end, p->pid);
		return -EINVAL;
	}
	return 0;
}

/*
 * Read pagemap-PID.img of @p from directory @dirfd (@dir), level @level of the
 * chain, into @pm (whose runs the caller frees, also on error). Level 0 is
 * the images directory: its runs are checked against the VMAs too, and a
 * missing file is logged. A parent's runs are checked for their own
 * consistency only (a parent may have no mm image), and a missing file is
 * -ENOENT for the caller to explain.
 */
static int read_pagemap(const struct rimg *r, const struct rimg_proc *p, int dirfd, const char *dir,
			unsigned int level, struct pmap *pm)
{
	ProtobufCMessage *m = NULL;
	struct img *img;
	char name[64];
	int err;

	snprintf(name, sizeof(name), IMG_PAGEMAP->file, (unsigned int)p->pid);
	err = open_img_in(dirfd, dir, name, IMG_PAGEMAP, !level, &img);
	if (err)
		return err;
	err = img_read_entry(img, &m);
	if (err <= 0) {
		if (!err)
			pr_err("%s/%s: pid %d: empty, no pagemap head", dir, name, p->pid);
		err = -EINVAL;
		goto out;
	}
	pm->pages_id = ((PagemapHead *)m)->pages_id;
	msg_free(m);
	m = NULL;
	for (;;) {
		size_t at = img_offset(img);
		struct rimg_page_run run = { 0 };

		err = img_read_entry(img, &m);
		if (err <= 0)
			break;
		err = decode_entry(dir, img, at, p->pid, (PagemapEntry *)m,
				   pm->runs.n ? &pm->runs.v[pm->runs.n - 1] : NULL, &run);
		msg_free(m);
		m = NULL;
		if (!err && !level)
			err = check_own_run(r, p, img, at, &run);
		if (err)
			break;
		if (run.flags & PE_PRESENT) {
			run.file_off = pm->need;
			pm->need += run.nr_pages * RIMG_PAGE;
		} else if (run.flags & PE_PARENT) {
			run.file_off = UNRESOLVED;
		}
		err = runs_push(&pm->runs, &run);
		if (err)
			break;
	}
out:
	img_close(img);
	return err < 0 ? err : 0;
}

/*
 * Open pages-ID.img (@pf->pages_id) of directory @dirfd (@dir) for @pid, whose
 * pagemap @runs use @need bytes of it: the file must have exactly that size.
 * A missing file is fine when no byte of it is needed.
 */
static int open_pages(int dirfd, const char *dir, pid_t pid, const struct rimg_page_run *runs,
		      size_t nr_runs, uint64_t need, int optional, struct rimg_pages_file *pf)
{
	char name[64];
	struct stat st;
	int err;

	snprintf(name, sizeof(name), IMG_PAGES->file, pf->pages_id);
	/* O_NONBLOCK: a FIFO under that name must not block the open (it is refused below). */
	pf->fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (pf->fd < 0) {
		err = -errno;
		if (err == -ENOENT && (!need || optional))
			return 0; /* nothing to read from it, or the pages come from elsewhere */
		if (err == -ELOOP)
			err = -EINVAL;
		pr_errno(err, "pid %d: cannot open %s/%s", pid, dir, name);
		return err;
	}
	if (fstat(pf->fd, &st)) {
		err = -errno;
		pr_perror("pid %d: cannot stat %s/%s", pid, dir, name);
		return err;
	}
	if (!S_ISREG(st.st_mode)) {
		pr_err("pid %d: %s/%s is not a regular file", pid, dir, name);
		return -EINVAL;
	}
	pf->size = (uint64_t)st.st_size;
	if (need > pf->size) {
		uint64_t vaddr = 0;

		/* The first page that has no data. */
		for (size_t i = 0; i < nr_runs; i++) {
			const struct rimg_page_run *run = &runs[i];

			if (run->flags & PE_PRESENT &&
			    run->file_off + run->nr_pages * RIMG_PAGE > pf->size) {
				vaddr = run->vaddr +
					(pf->size > run->file_off
						 ? (pf->size - run->file_off) & ~(RIMG_PAGE - 1)
						 : 0);
				break;
			}
		}
		pr_err("%s/pagemap-%d.img: pid %d: pagemap points past the end of %s (%llu bytes of pages, the file has %llu; first missing page 0x%llx)",
		       dir, pid, pid, name, (unsigned long long)need, (unsigned long long)pf->size,
		       (unsigned long long)vaddr);
		return -EINVAL;
	}
	if (need < pf->size) {
		pr_err("%s/%s: pid %d: %s has %llu trailing bytes after the %llu the pagemap uses",
		       dir, name, pid, name, (unsigned long long)(pf->size - need),
		       (unsigned long long)need);
		return -EINVAL;
	}
	return 0;
}

static int load_pagemap(struct rimg *r, struct rimg_proc *p)
{
	struct pmap pmap = { 0 };
	struct rimg_pagemap *pm;
	int err;

	pm = p->pm = calloc(1, sizeof(*p->pm));
	if (!pm)
		return -ENOMEM;
	pm->pages_fd = -1;
	pm->files = calloc(1, sizeof(*pm->files));
	if (!pm->files)
		return -ENOMEM;
	pm->files[0].fd = -1;
	pm->nr_files = 1;
	err = read_pagemap(r, p, r->dirfd, r->dir, 0, &pmap);
	pm->runs = pmap.runs.v; /* freed with the model, also on error */
	pm->nr_runs = pmap.runs.n;
	pm->pages_id = pm->files[0].pages_id = pmap.pages_id;
	if (!err)
		err = open_pages(r->dirfd, r->dir, p->pid, pm->runs, pm->nr_runs, pmap.need,
				 !!(r->flags & RIMG_PAGES_OPTIONAL), &pm->files[0]);
	pm->pages_fd = pm->files[0].fd;
	pm->pages_size = pm->files[0].size;
	return err;
}

static int load_mm(struct rimg *r, struct rimg_proc *p)
{
	ProtobufCMessage *m = NULL;
	char name[64];
	int err;

	snprintf(name, sizeof(name), IMG_MM->file, (unsigned int)p->pid);
	err = read_single(r, name, IMG_MM, &m);
	if (err)
		return err;
	p->mm = (MmEntry *)m;
	err = check_vmas(r, p, name);
	if (!err && p->mm->exe_file_id)
		err = check_file_ref(r, p, name, "exe", p->mm->exe_file_id);
	if (!err)
		err = load_pagemap(r, p);
	return err;
}

/* ---- the pre-dump chain ----------------------------------------------------------------- */

/* Directory of level @level: 0 is the images directory, k >= 1 is chain[k - 1]. */
static void level_dir(const struct rimg *r, unsigned int level, int *dirfd, const char **dir,
		      int *has_parent)
{
	if (!level) {
		*dirfd = r->dirfd;
		*dir = r->dir;
		*has_parent = r->has_parent;
	} else {
		*dirfd = r->chain[level - 1].dirfd;
		*dir = r->chain[level - 1].dir;
		*has_parent = r->chain[level - 1].has_parent;
	}
}

/* The level below @level already open with the same directory as @st, or -1. */
static long same_dir(const struct rimg *r, unsigned int level, const struct stat *st)
{
	for (unsigned int k = 0; k < level; k++) {
		uint64_t dev = k ? r->chain[k - 1].dev : r->dev;
		uint64_t ino = k ? r->chain[k - 1].ino : r->ino;

		if (dev == (uint64_t)st->st_dev && ino == (uint64_t)st->st_ino)
			return k;
	}
	return -1;
}

/* The path of "parent" of @pdir as it reads: @pdir/TARGET, TARGET if absolute. */
static char *link_path(int pfd, const char *pdir, char *link, size_t size)
{
	ssize_t n = readlinkat(pfd, "parent", link, size - 1);
	size_t len;
	char *path;

	if (n < 0) /* a real directory (EINVAL), or gone: the open says which */
		snprintf(link, size, "parent");
	else
		link[n] = '\0';
	if (link[0] == '/')
		return strdup(link);
	len = strlen(pdir) + strlen(link) + 2;
	path = malloc(len);
	if (path)
		snprintf(path, len, "%s/%s", pdir, link);
	return path;
}

/*
 * Open level @level (>= 1) of the chain, the "parent" of level @level - 1,
 * unless it is open already. @pid and @addr (the first page that needs the
 * level) are for the messages.
 */
static int open_level(struct rimg *r, unsigned int level, pid_t pid, uint64_t addr)
{
	unsigned long long a = (unsigned long long)addr;
	struct rimg_level *chain, lv = { .dirfd = -1 };
	char link[PATH_MAX];
	const char *pdir;
	struct stat st;
	int pfd, has, err;
	long k;

	if (level <= r->nr_chain)
		return 0;
	level_dir(r, level - 1, &pfd, &pdir, &has);
	if (level > RIMG_MAX_CHAIN) {
		pr_err("pid %d: page 0x%llx is in the parent of %s, beyond the %d image sets a pre-dump chain may have",
		       pid, a, pdir, RIMG_MAX_CHAIN);
		return -ELOOP;
	}
	if (!has) {
		pr_err("pid %d: page 0x%llx is in the parent image set of %s, which has no parent link",
		       pid, a, pdir);
		return -EINVAL;
	}
	lv.dir = link_path(pfd, pdir, link, sizeof(link));
	if (!lv.dir)
		return -ENOMEM;
	lv.dirfd = openat(pfd, "parent", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lv.dirfd < 0 || fstat(lv.dirfd, &st)) {
		err = -errno;
		pr_perror("pid %d: page 0x%llx is in the parent image set of %s, "
			  "but %s/parent (-> %s) cannot be opened",
			  pid, a, pdir, pdir, link);
		goto err;
	}
	k = same_dir(r, level, &st);
	if (k >= 0) {
		pr_err("pid %d: page 0x%llx: %s/parent (-> %s) leads back to %s: the pre-dump chain has a loop",
		       pid, a, pdir, link, k ? r->chain[k - 1].dir : r->dir);
		err = -ELOOP;
		goto err;
	}
	lv.dev = (uint64_t)st.st_dev;
	lv.ino = (uint64_t)st.st_ino;
	err = fstatat(lv.dirfd, "inventory.img", &st, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
	if (err || !S_ISREG(st.st_mode)) {
		pr_err("%s/inventory.img: %s: %s, the parent of %s, is not a complete pre-dump (pid %d needs page 0x%llx from it)",
		       lv.dir, err ? strerror(-err) : "not a regular file", lv.dir, pdir, pid, a);
		err = err == -ENOENT ? -ENOENT : -EINVAL;
		goto err;
	}
	lv.has_parent = !fstatat(lv.dirfd, "parent", &st, AT_SYMLINK_NOFOLLOW);
	chain = realloc(r->chain, level * sizeof(*chain));
	if (!chain) {
		err = -ENOMEM;
		goto err;
	}
	r->chain = chain;
	r->chain[r->nr_chain++] = lv;
	pr_debug("level %u of the pre-dump chain: %s", level, lv.dir);
	return 0;
err:
	if (lv.dirfd >= 0)
		close(lv.dirfd);
	free(lv.dir);
	return err;
}

/* Append a piece resolved at @level, merged with the previous one if it continues it. */
static int add_piece(struct runs *out, const struct rimg_page_run *piece)
{
	struct rimg_page_run *last = out->n ? &out->v[out->n - 1] : NULL;

	if (last && last->level == piece->level && last->flags == piece->flags &&
	    last->vaddr + last->nr_pages * RIMG_PAGE == piece->vaddr &&
	    (last->file_off == UNRESOLVED
		     ? piece->file_off == UNRESOLVED
		     : piece->file_off != UNRESOLVED &&
			       last->file_off + last->nr_pages * RIMG_PAGE == piece->file_off)) {
		last->nr_pages += piece->nr_pages;
		return 0;
	}
	return runs_push(out, piece);
}

/*
 * One round of the resolution: the runs of @p that level @level - 1 has in its
 * parent (file_off UNRESOLVED, @first the first page of them) are looked up in
 * pagemap-PID.img of level @level, a merge of the two sorted lists (O(runs)).
 * A piece that level holds gets (level, offset in its pages file); a piece it
 * has in its own parent stays UNRESOLVED for the next round. Parent runs no
 * piece falls in are never looked at.
 */
static int resolve_level(struct rimg *r, struct rimg_proc *p, unsigned int level, uint64_t first)
{
	struct rimg_pagemap *pm = p->pm;
	struct rimg_pages_file *files;
	struct pmap par = { 0 };
	struct runs out = { 0 };
	const char *dir, *cdir;
	int dirfd, cfd, has, err;
	char name[64];
	size_t j = 0;

	err = open_level(r, level, p->pid, first);
	if (err)
		return err;
	level_dir(r, level, &dirfd, &dir, &has);
	level_dir(r, level - 1, &cfd, &cdir, &has);
	snprintf(name, sizeof(name), IMG_PAGEMAP->file, (unsigned int)p->pid);
	err = read_pagemap(r, p, dirfd, dir, level, &par);
	if (err == -ENOENT)
		pr_err("pid %d: page 0x%llx is in the parent image set of %s/%s, but %s/%s is missing",
		       p->pid, (unsigned long long)first, cdir, name, dir, name);
	if (err)
		goto out;
	files = realloc(pm->files, (level + 1) * sizeof(*files));
	if (!files) {
		err = -ENOMEM;
		goto out;
	}
	pm->files = files;
	pm->files[level] = (struct rimg_pages_file){ .pages_id = par.pages_id, .fd = -1 };
	pm->nr_files = level + 1;
	err = open_pages(dirfd, dir, p->pid, par.runs.v, par.runs.n, par.need,
			 !!(r->flags & RIMG_PAGES_OPTIONAL), &pm->files[level]);
	for (size_t i = 0; !err && i < pm->nr_runs; i++) {
		const struct rimg_page_run *run = &pm->runs[i];
		uint64_t a = run->vaddr, end = run->vaddr + run->nr_pages * RIMG_PAGE;

		if (run->file_off != UNRESOLVED) {
			err = runs_push(&out, run);
			continue;
		}
		while (!err && a < end) {
			struct rimg_page_run piece = { .vaddr = a,
						       .flags = run->flags,
						       .level = level };
			const struct rimg_page_run *pr;
			uint64_t e;

			while (j < par.runs.n &&
			       par.runs.v[j].vaddr + par.runs.v[j].nr_pages * RIMG_PAGE <= a)
				j++;
			if (j == par.runs.n || par.runs.v[j].vaddr > a) {
				pr_err("pid %d: page 0x%llx is in the parent image set of %s/%s, but %s/%s does not have it",
				       p->pid, (unsigned long long)a, cdir, name, dir, name);
				err = -EINVAL;
				break;
			}
			pr = &par.runs.v[j];
			e = pr->vaddr + pr->nr_pages * RIMG_PAGE;
			if (e > end)
				e = end;
			piece.nr_pages = (e - a) / RIMG_PAGE;
			if (pr->flags & PE_PRESENT) {
				piece.file_off = pr->file_off + (a - pr->vaddr);
			} else if (pr->flags & PE_PARENT) {
				piece.file_off = UNRESOLVED;
			} else {
				pr_err("pid %d: page 0x%llx is in the parent image set of %s/%s, but %s/%s has it only as lazy (no data)",
				       p->pid, (unsigned long long)a, cdir, name, dir, name);
				err = -EINVAL;
				break;
			}
			err = add_piece(&out, &piece);
			a = e;
		}
	}
	if (err)
		goto out;
	free(pm->runs);
	pm->runs = out.v;
	pm->nr_runs = out.n;
	out.v = NULL;
out:
	free(out.v);
	free(par.runs.v);
	return err;
}

/* Resolve every PE_PARENT page of @p, one level of the chain per round. */
static int resolve_parents(struct rimg *r, struct rimg_proc *p)
{
	for (unsigned int level = 1;; level++) {
		const struct rimg_pagemap *pm = p->pm;
		uint64_t first = 0, pending = 0;
		int err;

		for (size_t i = 0; i < pm->nr_runs; i++) {
			if (pm->runs[i].file_off != UNRESOLVED)
				continue;
			if (!pending)
				first = pm->runs[i].vaddr;
			pending += pm->runs[i].nr_pages;
		}
		if (!pending)
			return 0;
		pr_debug("pid %d: %llu page(s) from 0x%llx on are looked up at level %u", p->pid,
			 (unsigned long long)pending, (unsigned long long)first, level);
		err = resolve_level(r, p, level, first);
		if (err)
			return err;
	}
}

/* ---- the whole set ---------------------------------------------------------------------- */

/* The leader's core ids (ferry's dumps), else ids-PID.img (CRIU 4.x's). */
static int load_ids(struct rimg *r, struct rimg_proc *p)
{
	char name[64];
	int err;

	p->ids = p->threads[0].core->ids;
	if (p->ids)
		return 0;
	snprintf(name, sizeof(name), IMG_IDS->file, (unsigned int)p->pid);
	err = read_single(r, name, IMG_IDS, &p->ids_img);
	if (err) {
		if (err == -ENOENT)
			pr_err("pid %d: the leader's core has no ids and %s/%s is missing", p->pid,
			       r->dir, name);
		return err;
	}
	p->ids = (const TaskKobjIdsEntry *)p->ids_img;
	return 0;
}

/* Whether the CHECKED image @name of type @t holds what restore cannot rebuild. */
static int check_image(const struct rimg *r, const char *name, const struct img_type *t)
{
	ProtobufCMessage *m = NULL;
	size_t n;
	int err;

	if (t == IMG_TIMENS) {
		/* timens-0.img: the clocks of CRIU's own time namespace. */
		if (!strcmp(name, "timens-0.img"))
			return 0;
		pr_err("%s/%s: a dumped time namespace: ferry restore creates no namespaces",
		       r->dir, name);
		return -EOPNOTSUPP;
	}
	if (t != IMG_SECCOMP) {
		pr_err("%s/%s: %s image: no check known", r->dir, name, t->name);
		return -EOPNOTSUPP;
	}
	err = read_single(r, name, t, &m);
	if (err)
		return err;
	n = ((SeccompEntry *)m)->n_seccomp_filters;
	msg_free(m);
	if (!n)
		return 0;
	pr_err("%s/%s: holds %zu seccomp filter(s): ferry restore installs no seccomp filter",
	       r->dir, name, n);
	return -EOPNOTSUPP;
}

/*
 * Every file of the images directory that CRIU's naming makes an image of a
 * type restore does not use: left aside (IMG_RESTORE_IGNORED), checked, or
 * refused. All refused images are named before the dump is refused.
 */
static int check_unused_images(struct rimg *r)
{
	struct dirent *de;
	int fd, err = 0;
	DIR *d;

	fd = openat(r->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		err = -errno;
		pr_perror("cannot list %s", r->dir);
		if (fd >= 0)
			close(fd);
		return err;
	}
	while ((de = readdir(d))) {
		const struct img_type *t = img_type_by_file(de->d_name);
		int ret = 0;

		if (!t || t->restore == IMG_RESTORE_USED)
			continue;
		switch (t->restore) {
		case IMG_RESTORE_IGNORED:
			pr_debug("%s/%s: %s image left aside: %s", r->dir, de->d_name, t->name,
				 t->restore_note);
			break;
		case IMG_RESTORE_CHECKED:
			ret = check_image(r, de->d_name, t);
			break;
		default:
			pr_err("%s/%s: %s image (%s): %s", r->dir, de->d_name, t->name, t->about,
			       t->restore_note);
			ret = -EOPNOTSUPP;
		}
		if (ret && (!err || err == -EOPNOTSUPP))
			err = ret;
	}
	closedir(d);
	if (err == -EOPNOTSUPP)
		pr_err("%s: the dump holds state ferry restore cannot rebuild (see above; ferry decode -i FILE shows an image)",
		       r->dir);
	return err;
}

static int load_proc(struct rimg *r, struct rimg_proc *p)
{
	int err = 0;

	for (size_t k = 0; k < p->nr_threads && !err; k++)
		err = load_core(r, p, &p->threads[k], !k);
	if (!err)
		err = load_ids(r, p);
	if (!err)
		err = load_fds(r, p);
	if (!err)
		err = load_fs(r, p);
	if (!err)
		err = load_mm(r, p);
	return err;
}

int rimg_load(struct rimg **out, const char *dir)
{
	return rimg_load_flags(out, dir, 0);
}

int rimg_load_flags(struct rimg **out, const char *dir, unsigned int flags)
{
	struct rimg *r;
	struct stat st;
	int err;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->flags = flags;
	r->dir = strdup(dir);
	if (!r->dir) {
		free(r);
		return -ENOMEM;
	}
	r->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->dirfd < 0 || fstat(r->dirfd, &st)) {
		err = -errno;
		pr_perror("cannot open images directory %s", dir);
		goto err;
	}
	r->dev = (uint64_t)st.st_dev;
	r->ino = (uint64_t)st.st_ino;
	err = load_inventory(r);
	if (!err)
		err = check_unused_images(r);
	if (!err)
		err = load_pstree(r);
	if (!err)
		err = load_ttys(r);
	if (!err)
		err = load_files(r);
	if (!err)
		err = load_pipes(r);
	for (size_t i = 0; i < r->nr_procs && !err; i++)
		err = load_proc(r, &r->procs[i]);
	if (!err)
		err = load_locks(r);
	for (size_t i = 0; i < r->nr_procs && !err; i++)
		err = resolve_parents(r, &r->procs[i]);
	if (err)
		goto err;
	pr_info("%s: %zu process(es), %zu file(s), %zu pipe buffer(s), %zu file lock(s), %zu "
		"parent image set(s) loaded",
		dir, r->nr_procs, r->nr_files, r->nr_pipes, r->nr_locks, r->nr_chain);
	*out = r;
	return 0;
err:
	if (err == -ENOMEM)
		pr_err("%s: out of memory while loading the images", dir);
	rimg_free(r);
	return err;
}

static void free_proc(struct rimg_proc *p)
{
	for (size_t k = 0; k < p->nr_threads; k++)
		msg_free(p->threads[k].core);
	free(p->threads);
	msg_free(p->mm);
	msg_free(p->fs);
	msg_free(p->ids_img);
	for (size_t i = 0; i < p->nr_fds; i++)
		msg_free(p->fds[i]);
	free(p->fds);
	if (p->pm) {
		/* pages_fd is files[0].fd */
		for (size_t k = 0; k < p->pm->nr_files; k++)
			if (p->pm->files[k].fd >= 0)
				close(p->pm->files[k].fd);
		free(p->pm->files);
		free(p->pm->runs);
		free(p->pm);
	}
}

void rimg_free(struct rimg *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nr_procs; i++)
		free_proc(&r->procs[i]);
	free(r->procs);
	for (size_t i = 0; i < r->nr_files; i++)
		msg_free(r->files[i]);
	free(r->files);
	for (size_t i = 0; i < r->nr_ttys; i++)
		msg_free(r->ttys[i]);
	free(r->ttys);
	for (size_t i = 0; i < r->nr_locks; i++)
		msg_free(r->locks[i]);
	free(r->locks);
	free(r->pipes);
	if (r->pipes_img)
		img_close(r->pipes_img);
	msg_free(r->inv);
	for (size_t k = 0; k < r->nr_chain; k++) {
		close(r->chain[k].dirfd);
		free(r->chain[k].dir);
	}
	free(r->chain);
	if (r->dirfd >= 0)
		close(r->dirfd);
	free(r->dir);
	free(r);
}
