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
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "mm: "
#include "dump_files.h"
#include "dump_mm.h"
#include "img.h"
#include "log.h"
#include "util.h"
#include "mem_scan.h"
#include "mm.pb-c.h"
#include "proc_parse.h"
#include "rsys.h"

#define PAGE_SZ 4096ull

/* How a VMA is recorded and whether its memory goes into the pages image. */
struct vma_class {
	uint32_t status, flags;
	int dump_pages;
	enum mem_scan_mode mode;
};

static int is_shmem_anon(const struct vma_rec *v)
{
	return !strcmp(v->path, "/dev/zero (deleted)") || !strncmp(v->path, "/SYSV", 5);
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
	if (v->vm_flags & VMA_VM_GROWSDOWN)
		c->flags |= MAP_GROWSDOWN;
	if (v->kind & VMA_KIND_FILE) {
		if (v->kind & VMA_KIND_PATH_ERR) {
			pr_err("pid %d: VMA %#llx-%#llx: the path of its file is unknown", pid,
			       v->start, v->end);
			return -ENOTSUP;
		}
		if (is_shmem_anon(v)) {
			pr_err("pid %d: VMA %#llx-%#llx is shared anonymous or SysV memory (%s); not "
			       "supported yet",
			       pid, v->start, v->end, v->path);
			return -ENOTSUP;
		}
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
	return m;
}

static uint32_t vma_prot(uint64_t vm_flags)
{
	return (vm_flags & VMA_VM_READ ? PROT_READ : 0) |
	       (vm_flags & VMA_VM_WRITE ? PROT_WRITE : 0) |
	       (vm_flags & VMA_VM_EXEC ? PROT_EXEC : 0);
}

static int fill_vma(pid_t pid, const struct vma_rec *v, const struct vma_class *c,
		    struct files_dump *files, VmaEntry *e)
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
	if (!(c->status & (VMA_FILE_PRIVATE | VMA_FILE_SHARED)))
		return 0;
	/* A shared writable mapping needs a writable file on restore. */
	oflags = (c->status & VMA_FILE_SHARED) && (v->vm_flags & VMA_VM_WRITE) ? O_RDWR : O_RDONLY;
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

static int dump_pages(pid_t pid, const struct vma_rec *vmas, const struct vma_class *cls, size_t n,
		      uint32_t pages_id, int dirfd, const struct page_writer_opts *o,
		      struct dump_mm_stats *st)
{
	struct page_writer *pw = NULL;
	struct page_run *runs = NULL;
	size_t nr = 0, cap = 0;
	char path[64];
	int pm, err;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	pm = open(path, O_RDONLY | O_CLOEXEC);
	if (pm < 0) {
		err = -errno;
		pr_perror("cannot open %s", path);
		return err;
	}
	err = page_writer_open(&pw, dirfd, pid, pages_id, o);
	if (err)
		goto out;
	for (size_t i = 0; i < n; i++) {
		uint64_t t0;

		if (!cls[i].dump_pages)
			continue;
		st->pages_scanned += (vmas[i].end - vmas[i].start) / PAGE_SZ;
		nr = 0;
		t0 = mono_ns();
		err = mem_scan_range(pm, vmas[i].start, vmas[i].end, cls[i].mode, &runs, &nr, &cap);
		st->scan_ns += mono_ns() - t0;
		if (err) {
			pr_err("pid %d: cannot scan VMA %#llx-%#llx", pid, vmas[i].start,
			       vmas[i].end);
			goto out;
		}
		for (size_t r = 0; r < nr && !err; r++)
			err = page_writer_add(pw, runs[r].start, runs[r].nr_pages);
		if (err)
			goto out;
	}
	err = page_writer_commit(pw, &st->pw);
	pw = NULL;
out:
	if (pw)
		page_writer_abort(pw);
	free(runs);
	close(pm);
	return err;
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

int dump_mm_proc(pid_t pid, uint32_t pages_id, struct files_dump *files, int dirfd,
		 const struct page_writer_opts *pw_opts, struct dump_mm_stats *st)
{
	MmEntry mm = MM_ENTRY__INIT;
	struct vma_rec *vmas = NULL;
	struct vma_class *cls = NULL;
	VmaEntry *ents = NULL, **ptrs = NULL;
	uint64_t *auxv = NULL;
	struct proc_stat ps;
	size_t n = 0, nauxv = 0;
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
	for (size_t i = 0; i < n; i++) {
		err = classify(pid, &vmas[i], &cls[i]);
		if (!err)
			err = fill_vma(pid, &vmas[i], &cls[i], files, &ents[i]);
		if (err)
			goto out;
		ptrs[i] = &ents[i];
	}
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
	if (err)
		goto out;
	mm.n_mm_saved_auxv = nauxv;
	mm.mm_saved_auxv = auxv;
	mm.n_vmas = n;
	mm.vmas = ptrs;

	err = dump_pages(pid, vmas, cls, n, pages_id, dirfd, pw_opts, st);
	if (!err) {
		char name[64];

		snprintf(name, sizeof(name), "mm-%d.img", pid);
		err = img_write_one(dirfd, name, IMG_MM, &mm.base);
	}
out:
	free(auxv);
	free(ptrs);
	free(ents);
	free(cls);
	free(vmas);
	return err;
}
