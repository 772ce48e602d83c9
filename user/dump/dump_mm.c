// SPDX-License-Identifier: MIT
/*
 * mm-PID.img, pagemap-PID.img, pages-ID.img (see dump_mm.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "mm: "
#include "compat.h"
#include "dump_attrs.h"
#include "dump_files.h"
#include "dump_mm.h"
#include "dump_shmem.h"
#include "img.h"
#include "log.h"
#include "util.h"
#include "mem_scan.h"
#include "mm.pb-c.h"
#include "pagemap.pb-c.h"
#include "pagemap_flags.h"
#include "proc_parse.h"
#include "rsys.h"

#define PAGE_SZ 4096ull

/* How a VMA is recorded and whether its memory goes into the pages image. */
struct vma_class {
	uint32_t status, flags;
	int dump_pages;
	int shmem; /* its memory is a shmem object's, dumped once by dump_shmem.c */
	int sysv;  /* ... of an attached SysV segment (shmid = its IPC id) */
	enum mem_scan_mode mode;
};

int dump_mm_is_shmem_anon(const struct vma_rec *v)
{
	size_t n = strlen(v->path);

	if (!(v->kind & VMA_KIND_FILE))
		return 0;
	/* Named with PR_SET_VMA_ANON_NAME, /proc shows the name instead of the path. */
	return !strcmp(v->path, "/dev/zero (deleted)") ||
	       (!strncmp(v->path, "[anon_shmem:", 12) && n > 12 && v->path[n - 1] == ']');
}

static int classify(pid_t pid, const struct vma_rec *v, struct vma_class *c)
{
	int shared = !!(v->vm_flags & VMA_VM_MAYSHARE);

	memset(c, 0, sizeof(*c));
	c->status = VMA_AREA_REGULAR;
	if (v->kind & VMA_KIND_VDSO) {
		c->status |= VMA_AREA_VDSO;
		c->flags = MAP_PRIVATE | MAP_ANONYMOUS;
		return 0;
	}
	if (v->kind & VMA_KIND_SPECIAL) {
		if (!strncmp(v->name, "[vvar", 5)) {
			c->status |= VMA_AREA_VVAR;
			c->flags = MAP_PRIVATE | MAP_ANONYMOUS;
			return 0;
		}
		pr_err("pid %d: VMA %#llx-%#llx is the special mapping %s; not supported", pid,
		       v->start, v->end, v->name);
		return -ENOTSUP;
	}
	if (v->vm_flags & (VMA_VM_IO | VMA_VM_PFNMAP | VMA_VM_HUGETLB)) {
		pr_err("pid %d: VMA %#llx-%#llx (%s) is a device or hugetlb mapping; not supported",
		       pid, v->start, v->end, v->path[0] ? v->path : v->name);
		return -ENOTSUP;
	}
	if (v->vm_flags & VMA_VM_UFFD_MISSING) {
		/* Its missing pages are not in memory, and reading them would wait for them. */
		pr_err("pid %d: VMA %#llx-%#llx is registered for userfaultfd missing-page faults "
		       "(a lazy restore still filling it, or a userfaultfd of the process's own); "
		       "not supported: wait for the lazy-pages daemon to finish",
		       pid, v->start, v->end);
		return -ENOTSUP;
	}
	if (v->vm_flags & VMA_VM_GROWSDOWN)
		c->flags |= MAP_GROWSDOWN;
	if (v->kind & VMA_KIND_FILE) {
		if (v->kind & VMA_KIND_PATH_ERR) {
			pr_err("pid %d: VMA %#llx-%#llx: the path of its file is unknown", pid,
			       v->start, v->end);
			return -ENOTSUP;
		}
		if (!strncmp(v->path, "/SYSV", 5)) {
			struct shmid_ds ds;
			uint64_t ns;
			int err;

			if (!shared) {
				pr_err("pid %d: VMA %#llx-%#llx is a private mapping of a SysV "
				       "segment (%s); not supported",
				       pid, v->start, v->end, v->path);
				return -ENOTSUP;
			}
			err = shmem_sysv_check(pid, v->start, v->end, v->offset, v->ino, &ds, &ns);
			if (err)
				return err;
			/* CRIU's layout: VMA_ANON_SHARED | VMA_AREA_SYSVIPC, shmid = the IPC id. */
			c->status |= VMA_ANON_SHARED | VMA_AREA_SYSVIPC;
			c->flags |= MAP_SHARED | MAP_ANONYMOUS;
			c->shmem = 1;
			c->sysv = 1;
			return 0;
		}
		if (dump_mm_is_shmem_anon(v)) {
			if (!shared) {
				pr_err("pid %d: VMA %#llx-%#llx is a private mapping of shared "
				       "anonymous memory (%s); not supported",
				       pid, v->start, v->end, v->path);
				return -ENOTSUP;
			}
			/* CRIU's layout: VMA_ANON_SHARED, shmid = the inode, pages in shmem. */
			c->status |= VMA_ANON_SHARED;
			c->flags |= MAP_SHARED | MAP_ANONYMOUS;
			c->shmem = 1;
			return 0;
		}
		/* A memfd's contents are dumped whole, once (dump_memfd.c). */
		if (!strncmp(v->path, "/memfd:", 7))
			c->status |= VMA_AREA_MEMFD;
		if (shared) {
			c->status |= VMA_FILE_SHARED;
			c->flags |= MAP_SHARED;
			return 0; /* the data is in the file */
		}
		c->status |= VMA_FILE_PRIVATE;
		c->flags |= MAP_PRIVATE;
		c->dump_pages = 1;
		c->mode = MEM_SCAN_PRIVATE_FILE;
		return 0;
	}
	if (shared) {
		pr_err("pid %d: VMA %#llx-%#llx is shared anonymous memory; not supported yet", pid,
		       v->start, v->end);
		return -ENOTSUP;
	}
	c->status |= VMA_ANON_PRIVATE;
	c->flags |= MAP_PRIVATE | MAP_ANONYMOUS;
	if (v->kind & VMA_KIND_HEAP)
		c->status |= VMA_AREA_HEAP;
	if (v->kind & VMA_KIND_STACK)
		c->status |= VMA_AREA_STACK;
	c->dump_pages = 1;
	c->mode = MEM_SCAN_ANON;
	return 0;
}

/* madvise() state visible in vm_flags, as CRIU's vma_entry.madv bit set (1 << MADV_x). */
static uint64_t vma_madv(uint64_t vm_flags)
{
	uint64_t m = 0;

	if (vm_flags & VMA_VM_DONTCOPY)
		m |= 1ull << MADV_DONTFORK;
	if (vm_flags & VMA_VM_HUGEPAGE)
		m |= 1ull << MADV_HUGEPAGE;
	if (vm_flags & VMA_VM_NOHUGEPAGE)
		m |= 1ull << MADV_NOHUGEPAGE;
	if (vm_flags & VMA_VM_MERGEABLE)
		m |= 1ull << MADV_MERGEABLE;
	if (vm_flags & VMA_VM_DONTDUMP)
		m |= 1ull << MADV_DONTDUMP;
	if (vm_flags & VMA_VM_WIPEONFORK)
		m |= 1ull << MADV_WIPEONFORK;
	if (vm_flags & PROC_VM_SEQ_READ)
		m |= 1ull << MADV_SEQUENTIAL;
	if (vm_flags & PROC_VM_RAND_READ)
		m |= 1ull << MADV_RANDOM;
	return m;
}

static uint32_t vma_prot(uint64_t vm_flags)
{
	return (vm_flags & VMA_VM_READ ? PROT_READ : 0) |
	       (vm_flags & VMA_VM_WRITE ? PROT_WRITE : 0) |
	       (vm_flags & VMA_VM_EXEC ? PROT_EXEC : 0);
}

/*
 * MAP_DROPPABLE VMAs (the kernel's bit for it moves between configs: smaps
 * says "dp") are recorded as CRIU does: MAP_DROPPABLE instead of MAP_PRIVATE,
 * and no pages.
 */
static int mark_droppable(pid_t pid, const struct vma_rec *vmas, struct vma_class *cls, size_t n)
{
	uint64_t *dp;
	size_t ndp, k = 0;
	int err = dump_attrs_droppable(pid, &dp, &ndp);

	for (size_t i = 0; !err && i < n && k < ndp; i++) {
		while (k < ndp && dp[k] < vmas[i].start)
			k++;
		if (k == ndp || dp[k] != vmas[i].start || !(cls[i].status & VMA_ANON_PRIVATE))
			continue;
		cls[i].flags = (cls[i].flags & ~(uint32_t)MAP_PRIVATE) | MAP_DROPPABLE;
		cls[i].dump_pages = 0;
	}
	free(dp);
	return err;
}

static int fill_vma(pid_t pid, const struct vma_rec *v, const struct vma_class *c,
		    struct files_dump *files, struct shmem_dump *shm, VmaEntry *e)
{
	char what[64];
	uint32_t id;
	int err, oflags;

	vma_entry__init(e);
	e->start = v->start;
	e->end = v->end;
	e->pgoff = (v->kind & VMA_KIND_FILE) ? v->offset : 0;
	e->prot = vma_prot(v->vm_flags);
	e->flags = c->flags;
	e->status = c->status;
	e->fd = -1;
	e->madv = vma_madv(v->vm_flags);
	e->has_madv = e->madv != 0;
	if (v->vm_flags & VMA_VM_LOCKED)
		e->flags |= MAP_LOCKED; /* mlock()ed: locked again after the restore filled it */
	if (c->shmem) {
		uint32_t shmid;

		if (c->sysv)
			err = shmem_dump_add_sysv(shm, pid, v->start, v->end, v->offset,
						  makedev(v->dev_major, v->dev_minor), v->ino,
						  &shmid);
		else
			err = shmem_dump_add_vma(shm, pid, v->start, v->end,
						 makedev(v->dev_major, v->dev_minor), v->ino,
						 &shmid);
		e->shmid = shmid;
		return err;
	}
	if (!(c->status & (VMA_FILE_PRIVATE | VMA_FILE_SHARED)))
		return 0;
	/*
	 * A shared mapping of a file opened for writing may be made writable
	 * later (mprotect): VM_MAYWRITE says the file allowed it, then the
	 * restore must reopen it writable too.
	 */
	oflags = (c->status & VMA_FILE_SHARED) && (v->vm_flags & PROC_VM_MAYWRITE) ? O_RDWR
										   : O_RDONLY;
	snprintf(what, sizeof(what), "map_files/%llx-%llx", v->start, v->end);
	err = files_dump_path(files, pid, what, oflags, &id);
	if (err) {
		pr_err("pid %d: cannot record the file %s mapped at %#llx-%#llx", pid, v->path,
		       v->start, v->end);
		return err;
	}
	e->shmid = id;
	e->has_fdflags = 1;
	e->fdflags = (uint32_t)oflags;
	return 0;
}

int dump_mm_plan_add(struct dump_mm_plan *p, uint64_t start, uint64_t end, int parent)
{
	struct dump_mm_seg *last = p->nr ? &p->segs[p->nr - 1] : NULL;
	uint64_t pages = (end - start) / PAGE_SZ;

	if (!pages)
		return 0;
	if (parent)
		p->pages_parent += pages;
	else
		p->pages_data += pages;
	if (last && last->parent == parent && last->start + last->nr_pages * PAGE_SZ == start) {
		last->nr_pages += pages;
		return 0;
	}
	if (p->nr == p->cap) {
		size_t ncap = p->cap ? p->cap * 2 : 256;
		struct dump_mm_seg *n = realloc(p->segs, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		p->segs = n;
		p->cap = ncap;
	}
	p->segs[p->nr++] =
		(struct dump_mm_seg){ .start = start, .nr_pages = pages, .parent = parent };
	return 0;
}

void dump_mm_plan_free(struct dump_mm_plan *p)
{
	free(p->segs);
	memset(p, 0, sizeof(*p));
}

/* Where [x, ...) stands against a sorted run list: inside one (*in) and where that changes. */
static uint64_t runs_edge(const struct page_run *r, size_t n, size_t *i, uint64_t x, int *in)
{
	while (*i < n && r[*i].start + r[*i].nr_pages * PAGE_SZ <= x)
		(*i)++;
	if (*i == n) {
		*in = 0;
		return UINT64_MAX;
	}
	*in = r[*i].start <= x;
	return *in ? r[*i].start + r[*i].nr_pages * PAGE_SZ : r[*i].start;
}

/*
 * Split the present run [a, b) into pages to copy and pages the parent image
 * set holds unchanged: in the parent and not dirty. Indexes *di, *pi only move
 * forward: runs come in address order.
 */
static int plan_run(struct dump_mm_plan *p, const struct dump_mm_incr *inc, uint64_t a, uint64_t b,
		    size_t *di, size_t *pi)
{
	int err = 0;

	if (!inc)
		return dump_mm_plan_add(p, a, b, 0);
	while (a < b && !err) {
		int in_dirty, in_parent;
		uint64_t e = b, d, q;

		d = runs_edge(inc->dirty, inc->nr_dirty, di, a, &in_dirty);
		q = runs_edge(inc->parent, inc->nr_parent, pi, a, &in_parent);
		if (d < e)
			e = d;
		if (q < e)
			e = q;
		err = dump_mm_plan_add(p, a, e, !in_dirty && in_parent);
		a = e;
	}
	return err;
}

static int plan_pages(pid_t pid, const struct vma_rec *vmas, const struct vma_class *cls, size_t n,
		      const struct dump_mm_incr *inc, struct dump_mm_plan *plan)
{
	struct page_run *runs = NULL;
	size_t nr = 0, cap = 0, di = 0, pi = 0;
	int pm, err = 0;

	pm = proc_open_pagemap(pid);
	if (pm < 0)
		return pm;
	for (size_t i = 0; i < n && !err; i++) {
		uint64_t t0;

		if (!cls[i].dump_pages)
			continue;
		plan->pages_scanned += (vmas[i].end - vmas[i].start) / PAGE_SZ;
		nr = 0;
		t0 = mono_ns();
		err = mem_scan_range(pm, vmas[i].start, vmas[i].end, cls[i].mode, &runs, &nr, &cap);
		plan->scan_ns += mono_ns() - t0;
		if (err) {
			pr_err("pid %d: cannot scan VMA %#llx-%#llx", pid, vmas[i].start,
			       vmas[i].end);
			break;
		}
		for (size_t r = 0; r < nr && !err; r++)
			err = plan_run(plan, inc, runs[r].start,
				       runs[r].start + runs[r].nr_pages * PAGE_SZ, &di, &pi);
	}
	free(runs);
	close(pm);
	return err;
}

int dump_mm_write_plan(pid_t pid, const struct dump_mm_plan *plan, uint32_t pages_id, int dirfd,
		       const struct page_writer_opts *o, struct page_writer_stats *st)
{
	struct page_writer *pw = NULL;
	int err;

	err = page_writer_open(&pw, dirfd, pid, pages_id, o);
	if (err)
		return err;
	err = page_writer_reserve(pw, plan->pages_data);
	for (size_t i = 0; i < plan->nr && !err; i++) {
		const struct dump_mm_seg *g = &plan->segs[i];

		err = g->parent ? page_writer_add_parent(pw, g->start, g->nr_pages)
				: page_writer_add(pw, g->start, g->nr_pages);
	}
	if (err) {
		page_writer_abort(pw);
		return err;
	}
	return page_writer_commit(pw, st);
}

int dump_mm_check(pid_t pid)
{
	struct vma_rec *vmas = NULL;
	struct vma_class c;
	size_t n = 0, refused = 0;
	int err;

	err = proc_read_vmas(pid, &vmas, &n, NULL);
	if (err) {
		pr_err("pid %d: cannot list its VMAs: %s", pid, strerror(-err));
		return err;
	}
	for (size_t i = 0; i < n; i++) {
		err = classify(pid, &vmas[i], &c);
		if (err == -ENOTSUP)
			refused++;
		else if (err)
			break;
		err = 0;
	}
	free(vmas);
	return err ? err : refused ? -ENOTSUP : 0;
}

/* The shared memory objects VMA @v of @pid maps (class @c), noted in @shm (pre-dump). */
static int note_shmem(pid_t pid, const struct vma_rec *v, const struct vma_class *c,
		      struct shmem_dump *shm)
{
	uint64_t dev = makedev(v->dev_major, v->dev_minor);
	uint32_t shmid;
	char path[96];

	if (c->sysv) /* written whole in ipcns-shm by the final dump */
		return 0;
	if (c->shmem)
		return shmem_dump_add_vma(shm, pid, v->start, v->end, dev, v->ino, &shmid);
	if ((c->status & VMA_AREA_MEMFD) && (c->status & VMA_FILE_SHARED)) {
		if (v->ino > UINT32_MAX)
			return 0; /* refused by the dump itself, named there */
		snprintf(path, sizeof(path), "/proc/%d/map_files/%llx-%llx", pid,
			 (unsigned long long)v->start, (unsigned long long)v->end);
		return shmem_dump_add_path(shm, path, dev, v->ino, (uint32_t)v->ino);
	}
	return 0;
}

int dump_mm_plan_proc(pid_t pid, const struct dump_mm_incr *inc, struct shmem_dump *shm,
		      struct dump_mm_plan *plan)
{
	struct vma_rec *vmas = NULL;
	struct vma_class *cls = NULL;
	size_t n = 0;
	int err;

	err = proc_read_vmas(pid, &vmas, &n, NULL);
	if (err) {
		pr_err("pid %d: cannot list its VMAs: %s", pid, strerror(-err));
		return err;
	}
	cls = calloc(n ? n : 1, sizeof(*cls));
	if (!cls) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n && !err; i++)
		err = classify(pid, &vmas[i], &cls[i]);
	if (!err)
		err = mark_droppable(pid, vmas, cls, n);
	for (size_t i = 0; shm && i < n && !err; i++)
		err = note_shmem(pid, &vmas[i], &cls[i], shm);
	if (!err)
		err = plan_pages(pid, vmas, cls, n, inc, plan);
out:
	free(cls);
	free(vmas);
	return err;
}

int dump_mm_parent_runs(int parent_dirfd, const char *parent_dir, pid_t pid, struct page_run **runs,
			size_t *nr)
{
	ProtobufCMessage *m = NULL;
	struct img *img = NULL;
	size_t cap = 0;
	char name[64];
	int err, first = 1;

	*runs = NULL;
	*nr = 0;
	snprintf(name, sizeof(name), "pagemap-%d.img", pid);
	err = img_open(&img, parent_dirfd, name, IMG_PAGEMAP);
	if (err) {
		if (err == -ENOENT)
			pr_info("pid %d: %s/%s is missing: every page is copied", pid, parent_dir,
				name);
		else
			pr_err("pid %d: cannot read %s/%s", pid, parent_dir, name);
		return err;
	}
	while ((err = img_read_entry(img, &m)) == 1) {
		const PagemapEntry *e = (const PagemapEntry *)m;
		uint64_t end;

		if (first) { /* the pagemap_head */
			first = 0;
			protobuf_c_message_free_unpacked(m, NULL);
			continue;
		}
		end = e->vaddr + e->nr_pages * PAGE_SZ;
		if ((e->vaddr & (PAGE_SZ - 1)) || end <= e->vaddr ||
		    (*nr &&
		     (*runs)[*nr - 1].start + (*runs)[*nr - 1].nr_pages * PAGE_SZ > e->vaddr) ||
		    (e->has_flags && (e->flags & PE_LAZY))) {
			pr_err("%s/%s: offset %zu: entry at %#llx (+%u pages) is out of order, unaligned "
			       "or lazy",
			       parent_dir, name, img_offset(img), (unsigned long long)e->vaddr,
			       (unsigned)e->nr_pages);
			err = -EINVAL;
		} else {
			err = page_runs_append(runs, nr, &cap, e->vaddr, e->nr_pages);
		}
		protobuf_c_message_free_unpacked(m, NULL);
		if (err)
			break;
	}
	img_close(img);
	if (err < 0) {
		free(*runs);
		*runs = NULL;
		*nr = 0;
		return err;
	}
	return 0;
}

/* The exact program break (stat has only start_brk): brk(0) run by the process. */
static int remote_brk(pid_t pid, uint64_t *brk)
{
	struct rsys r;
	long ret = 0;
	int err;

	err = rsys_prepare(&r, pid);
	if (err)
		return err;
	err = rsys_call(&r, &ret, __NR_brk, 0, 0, 0, 0, 0, 0);
	rsys_finish(&r);
	if (err || ret <= 0) {
		pr_err("pid %d: cannot read its program break", pid);
		return err ? err : -EIO;
	}
	*brk = (uint64_t)ret;
	return 0;
}

int dump_mm_proc(pid_t pid, uint32_t pages_id, struct files_dump *files, struct shmem_dump *shm,
		 int dirfd, const struct page_writer_opts *pw_opts, const struct dump_mm_incr *inc,
		 struct dump_mm_stats *st)
{
	struct dump_mm_plan plan = { 0 };
	MmEntry mm = MM_ENTRY__INIT;
	struct vma_rec *vmas = NULL;
	struct vma_class *cls = NULL;
	VmaEntry *ents = NULL, **ptrs = NULL, *guards = NULL;
	uint64_t *auxv = NULL;
	struct proc_stat ps;
	size_t n = 0, nauxv = 0, nguards = 0;
	int err, used_bpf = 0;

	memset(st, 0, sizeof(*st));
	err = proc_read_vmas(pid, &vmas, &n, &used_bpf);
	if (err) {
		pr_err("pid %d: cannot list its VMAs: %s", pid, strerror(-err));
		goto out;
	}
	st->vmas = n;
	st->vmas_bpf = (uint64_t)used_bpf;
	cls = calloc(n ? n : 1, sizeof(*cls));
	ents = calloc(n ? n : 1, sizeof(*ents));
	ptrs = calloc(n ? n : 1, sizeof(*ptrs));
	if (!cls || !ents || !ptrs) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < n && !err; i++)
		err = classify(pid, &vmas[i], &cls[i]);
	if (!err)
		err = mark_droppable(pid, vmas, cls, n);
	for (size_t i = 0; i < n && !err; i++) {
		err = fill_vma(pid, &vmas[i], &cls[i], files, shm, &ents[i]);
		ptrs[i] = &ents[i];
	}
	if (err)
		goto out;
	err = dump_attrs_guards(pid, &guards, &nguards);
	if (!err && nguards) {
		/* After the real VMAs, as CRIU 4.2 writes them. */
		VmaEntry **all = realloc(ptrs, (n + nguards) * sizeof(*all));

		if (!all) {
			err = -ENOMEM;
			goto out;
		}
		ptrs = all;
		for (size_t i = 0; i < nguards; i++)
			ptrs[n + i] = &guards[i];
	}
	if (!err)
		err = proc_parse_stat(pid, 0, &ps);
	if (!err)
		err = proc_read_auxv(pid, &auxv, &nauxv);
	if (!err)
		err = files_dump_path(files, pid, "exe", O_RDONLY, &mm.exe_file_id);
	if (err) {
		pr_err("pid %d: cannot read its mm fields, auxv or exe file", pid);
		goto out;
	}
	mm.mm_start_code = ps.start_code;
	mm.mm_end_code = ps.end_code;
	mm.mm_start_data = ps.start_data;
	mm.mm_end_data = ps.end_data;
	mm.mm_start_stack = ps.start_stack;
	mm.mm_start_brk = ps.start_brk;
	mm.mm_arg_start = ps.arg_start;
	mm.mm_arg_end = ps.arg_end;
	mm.mm_env_start = ps.env_start;
	mm.mm_env_end = ps.env_end;
	err = remote_brk(pid, &mm.mm_brk);
	if (!err)
		err = dump_attrs_mm(pid, &mm);
	if (err)
		goto out;
	mm.n_mm_saved_auxv = nauxv;
	mm.mm_saved_auxv = auxv;
	mm.n_vmas = n + nguards;
	mm.vmas = ptrs;

	err = plan_pages(pid, vmas, cls, n, inc, &plan);
	st->pages_scanned = plan.pages_scanned;
	st->scan_ns = plan.scan_ns;
	if (!err)
		err = dump_mm_write_plan(pid, &plan, pages_id, dirfd, pw_opts, &st->pw);
	if (!err) {
		char name[64];

		snprintf(name, sizeof(name), "mm-%d.img", pid);
		err = img_write_one(dirfd, name, IMG_MM, &mm.base);
	}
out:
	dump_mm_plan_free(&plan);
	free(auxv);
	free(ptrs);
	free(guards);
	free(ents);
	free(cls);
	free(vmas);
	return err;
}
