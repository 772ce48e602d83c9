// SPDX-License-Identifier: MIT
/*
 * The restore side's image loader (see images.h): every image of a dump is
 * read into one model and checked against the others before anything is
 * restored.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "rimg: "
#include "images.h"
#include "img.h"
#include "log.h"
#include "pagemap.pb-c.h"
#include "pagemap_flags.h"
#include "pipe-data.pb-c.h"
#include "pstree.pb-c.h"

#define RIMG_PAGE 4096ull
#define RIMG_IMG_VERSION 2 /* inventory img_version of CRIU's images v1.1 */
#define RIMG_PE_KNOWN (PE_PARENT | PE_LAZY | PE_PRESENT)

static void msg_free(void *m)
{
	if (m)
		protobuf_c_message_free_unpacked((ProtobufCMessage *)m, NULL);
}

/*
 * Open image @name of the images directory. Only a regular file inside the
 * directory is read: a symlink could lead anywhere. A missing file returns
 * -ENOENT, logged only if @required.
 */
static int open_img(const struct rimg *r, const char *name, const struct img_type *t, int required,
		    struct img **out)
{
	struct stat st;
	int err;

	if (fstatat(r->dirfd, name, &st, AT_SYMLINK_NOFOLLOW)) {
		err = -errno;
		if (err != -ENOENT)
			pr_perror("cannot stat %s/%s", r->dir, name);
		else if (required)
			pr_err("%s/%s: missing", r->dir, name);
		return err;
	}
	if (!S_ISREG(st.st_mode)) {
		pr_err("%s/%s: not a regular file (images are read only from %s itself)", r->dir,
		       name, r->dir);
		return -EINVAL;
	}
	err = img_open(out, r->dirfd, name, t);
	if (err == -ENOENT)
		pr_err("%s/%s: vanished while being loaded", r->dir, name);
	return err;
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

static const char *march_name(int v)
{
	const ProtobufCEnumValue *ev =
		protobuf_c_enum_descriptor_get_value(&core_entry__march__descriptor, v);

	return ev ? ev->name : "unknown";
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
		       r->dir, name, p->pid, t->tid, march_name(c->mtype), c->mtype);
		return -EINVAL;
	}
	if (!c->thread_info || !c->thread_info->gpregs || !c->thread_info->fpregs) {
		pr_err("%s/%s: pid %d tid %d: no thread_info with gpregs and fpregs", r->dir, name,
		       p->pid, t->tid);
		return -EINVAL;
	}
	if (leader && (!c->tc || !c->ids)) {
		pr_err("%s/%s: pid %d: the leader's core has no %s", r->dir, name, p->pid,
		       c->tc ? "ids" : "tc");
		return -EINVAL;
	}
	return 0;
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

/* The sub-message a file entry of its type must carry. */
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
		return 0;
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
	uint32_t files_id = p->threads[0].core->ids->files_id;
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

static int add_run(struct rimg_pagemap *pm, const struct rimg_page_run *run, size_t *cap)
{
	if (pm->nr_runs == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct rimg_page_run *n = realloc(pm->runs, nc * sizeof(*n));

		if (!n)
			return -ENOMEM;
		pm->runs = n;
		*cap = nc;
	}
	pm->runs[pm->nr_runs++] = *run;
	return 0;
}

/* Check one pagemap entry against the VMAs and the previous run; fill @run. */
static int check_entry(const struct rimg *r, const struct rimg_proc *p, struct img *img, size_t at,
		       const PagemapEntry *e, struct rimg_page_run *run)
{
	const struct rimg_pagemap *pm = p->pm;
	uint64_t nr = e->has_nr_pages ? e->nr_pages : e->compat_nr_pages;
	uint64_t end;

	run->vaddr = e->vaddr;
	run->nr_pages = nr;
	if (e->has_flags)
		run->flags = e->flags;
	else
		run->flags = e->has_in_parent && e->in_parent ? PE_PARENT : PE_PRESENT;
	if (e->vaddr & (RIMG_PAGE - 1) || !nr || nr > (UINT64_MAX - e->vaddr) / RIMG_PAGE) {
		pr_err("%s: offset %zu: pid %d: run of %llu pages at 0x%llx is empty, not page aligned or wraps",
		       img_name(img), at, p->pid, (unsigned long long)nr,
		       (unsigned long long)e->vaddr);
		return -EINVAL;
	}
	end = e->vaddr + nr * RIMG_PAGE;
	if ((run->flags & ~RIMG_PE_KNOWN) || !run->flags ||
	    ((run->flags & PE_PARENT) && (run->flags & PE_PRESENT))) {
		pr_err("%s: offset %zu: pid %d: run at 0x%llx has invalid flags 0x%x",
		       img_name(img), at, p->pid, (unsigned long long)e->vaddr, run->flags);
		return -EINVAL;
	}
	if ((run->flags & PE_PARENT) && !r->has_parent) {
		pr_err("%s: offset %zu: pid %d: run at 0x%llx is in the parent image set, but %s has no parent link",
		       img_name(img), at, p->pid, (unsigned long long)e->vaddr, r->dir);
		return -EINVAL;
	}
	if (pm->nr_runs) {
		const struct rimg_page_run *prev = &pm->runs[pm->nr_runs - 1];

		if (e->vaddr < prev->vaddr + prev->nr_pages * RIMG_PAGE) {
			pr_err("%s: offset %zu: pid %d: run at 0x%llx overlaps or precedes the run at 0x%llx",
			       img_name(img), at, p->pid, (unsigned long long)e->vaddr,
			       (unsigned long long)prev->vaddr);
			return -EINVAL;
		}
	}
	if (!in_vmas(p->mm, e->vaddr, end)) {
		pr_err("%s: offset %zu: pid %d: run 0x%llx-0x%llx is not inside a VMA of mm-%d.img",
		       img_name(img), at, p->pid, (unsigned long long)e->vaddr,
		       (unsigned long long)end, p->pid);
		return -EINVAL;
	}
	return 0;
}

static int open_pages(const struct rimg *r, struct rimg_proc *p, uint64_t need)
{
	struct rimg_pagemap *pm = p->pm;
	char name[64];
	struct stat st;
	int err;

	snprintf(name, sizeof(name), IMG_PAGES->file, pm->pages_id);
	/* O_NONBLOCK: a FIFO under that name must not block the open (it is refused below). */
	pm->pages_fd = openat(r->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (pm->pages_fd < 0) {
		err = -errno;
		if (err == -ENOENT && !need)
			return 0; /* nothing to read from it */
		if (err == -ELOOP)
			err = -EINVAL;
		pr_errno(err, "pid %d: cannot open %s/%s", p->pid, r->dir, name);
		return err;
	}
	if (fstat(pm->pages_fd, &st)) {
		err = -errno;
		pr_perror("pid %d: cannot stat %s/%s", p->pid, r->dir, name);
		return err;
	}
	if (!S_ISREG(st.st_mode)) {
		pr_err("pid %d: %s/%s is not a regular file", p->pid, r->dir, name);
		return -EINVAL;
	}
	pm->pages_size = (uint64_t)st.st_size;
	if (need > pm->pages_size) {
		uint64_t vaddr = 0;

		/* The first page that has no data. */
		for (size_t i = 0; i < pm->nr_runs; i++) {
			const struct rimg_page_run *run = &pm->runs[i];

			if (run->flags & PE_PRESENT &&
			    run->file_off + run->nr_pages * RIMG_PAGE > pm->pages_size) {
				vaddr = run->vaddr + (pm->pages_size > run->file_off
							      ? (pm->pages_size - run->file_off) &
									~(RIMG_PAGE - 1)
							      : 0);
				break;
			}
		}
		pr_err("%s/pagemap-%d.img: pid %d: pagemap points past the end of %s (%llu bytes of pages, the file has %llu; first missing page 0x%llx)",
		       r->dir, p->pid, p->pid, name, (unsigned long long)need,
		       (unsigned long long)pm->pages_size, (unsigned long long)vaddr);
		return -EINVAL;
	}
	if (need < pm->pages_size) {
		pr_err("%s/%s: pid %d: %s has %llu trailing bytes after the %llu the pagemap uses",
		       r->dir, name, p->pid, name, (unsigned long long)(pm->pages_size - need),
		       (unsigned long long)need);
		return -EINVAL;
	}
	return 0;
}

static int load_pagemap(struct rimg *r, struct rimg_proc *p)
{
	ProtobufCMessage *m = NULL;
	uint64_t need = 0;
	size_t cap = 0;
	struct img *img;
	char name[64];
	int err;

	p->pm = calloc(1, sizeof(*p->pm));
	if (!p->pm)
		return -ENOMEM;
	p->pm->pages_fd = -1;
	snprintf(name, sizeof(name), IMG_PAGEMAP->file, (unsigned int)p->pid);
	err = open_img(r, name, IMG_PAGEMAP, 1, &img);
	if (err)
		return err;
	err = img_read_entry(img, &m);
	if (err <= 0) {
		if (!err)
			pr_err("%s: pid %d: empty, no pagemap head", img_name(img), p->pid);
		err = -EINVAL;
		goto out;
	}
	p->pm->pages_id = ((PagemapHead *)m)->pages_id;
	msg_free(m);
	m = NULL;
	for (;;) {
		size_t at = img_offset(img);
		struct rimg_page_run run = { 0 };

		err = img_read_entry(img, &m);
		if (err <= 0)
			break;
		err = check_entry(r, p, img, at, (PagemapEntry *)m, &run);
		msg_free(m);
		m = NULL;
		if (err)
			break;
		if (run.flags & PE_PRESENT) {
			run.file_off = need;
			need += run.nr_pages * RIMG_PAGE;
		}
		err = add_run(p->pm, &run, &cap);
		if (err)
			break;
	}
	if (err < 0)
		goto out;
	err = open_pages(r, p, need);
out:
	img_close(img);
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

/* ---- the whole set ---------------------------------------------------------------------- */

static int load_proc(struct rimg *r, struct rimg_proc *p)
{
	int err = 0;

	for (size_t k = 0; k < p->nr_threads && !err; k++)
		err = load_core(r, p, &p->threads[k], !k);
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
	struct rimg *r;
	int err;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->dir = strdup(dir);
	if (!r->dir) {
		free(r);
		return -ENOMEM;
	}
	r->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->dirfd < 0) {
		err = -errno;
		pr_perror("cannot open images directory %s", dir);
		goto err;
	}
	err = load_inventory(r);
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
	if (err)
		goto err;
	pr_info("%s: %zu process(es), %zu file(s), %zu pipe buffer(s) loaded", dir, r->nr_procs,
		r->nr_files, r->nr_pipes);
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
	for (size_t i = 0; i < p->nr_fds; i++)
		msg_free(p->fds[i]);
	free(p->fds);
	if (p->pm) {
		if (p->pm->pages_fd >= 0)
			close(p->pm->pages_fd);
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
	free(r->pipes);
	if (r->pipes_img)
		img_close(r->pipes_img);
	msg_free(r->inv);
	if (r->dirfd >= 0)
		close(r->dirfd);
	free(r->dir);
	free(r);
}
