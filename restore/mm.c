// SPDX-License-Identifier: MIT
/*
 * Rebuild the address space of a process under restore (see mm.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/prctl.h>
#include <linux/rseq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "core_abi.h"
#include "vma_status.h"
#include "files.h"
#include "compat.h"
#include "cow.h"
#include "log.h"
#include "util.h"
#include "mm.h"
#include "shmem.h"
#include "pagemap_flags.h"

#define SPECIAL (VMA_AREA_VDSO | VMA_AREA_VVAR)
#define MIN_ADDR 0x100000ul /* scratch and temporary holes start above 1 MiB */
#define MAX_IOV 1024
#define MAP_KEEP \
	(MAP_SHARED | MAP_PRIVATE | MAP_DROPPABLE | MAP_ANONYMOUS | MAP_GROWSDOWN | MAP_NORESERVE)

struct rmm_stats rmm_stats;

struct range {
	uint64_t start, end;
	char name[32];
};

static int cmp_range(const void *a, const void *b)
{
	const struct range *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

static int push(struct range **v, size_t *n, size_t *cap, uint64_t s, uint64_t e, const char *name)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 64;
		struct range *nv = realloc(*v, nc * sizeof(**v));

		if (!nv)
			return -ENOMEM;
		*v = nv;
		*cap = nc;
	}
	(*v)[*n].start = s;
	(*v)[*n].end = e;
	snprintf((*v)[*n].name, sizeof((*v)[*n].name), "%s", name ? name : "");
	(*n)++;
	return 0;
}

/* The mappings of /proc/PID/maps (pid 0: ferry itself). */
static int read_maps(pid_t pid, struct range **v, size_t *n, size_t *cap)
{
	char path[64], line[512];
	FILE *f;
	int err = 0;

	if (pid)
		snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	else
		snprintf(path, sizeof(path), "/proc/self/maps");
	f = fopen(path, "re");
	if (!f) {
		err = -errno;
		pr_errno(err, "cannot open %s", path);
		return err;
	}
	while (!err && fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		char name[256] = "";

		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %255s", &s, &e, name) < 2)
			continue;
		err = push(v, n, cap, s, e, name);
	}
	fclose(f);
	return err;
}

/* The lowest address >= @from with @size free bytes among sorted @v. */
static uint64_t find_hole(const struct range *v, size_t n, uint64_t size, uint64_t from)
{
	uint64_t a = from;

	for (size_t i = 0; i < n; i++) {
		if (v[i].end <= a)
			continue;
		if (v[i].start >= a + size)
			break;
		a = (v[i].end + RT_PAGE - 1) & ~(RT_PAGE - 1);
	}
	return a + size <= (1ul << 47) - RT_PAGE ? a : 0;
}

int rmm_free_area(const struct rimg *r, uint64_t size, uint64_t busy, uint64_t busy_len,
		  uint64_t *addr)
{
	struct range *v = NULL;
	size_t n = 0, cap = 0;
	int err;

	err = read_maps(0, &v, &n, &cap);
	for (size_t p = 0; !err && p < r->nr_procs; p++) {
		const MmEntry *mm = r->procs[p].mm;

		for (size_t i = 0; !err && mm && i < mm->n_vmas; i++)
			err = push(&v, &n, &cap, mm->vmas[i]->start, mm->vmas[i]->end, NULL);
	}
	if (!err && busy_len)
		err = push(&v, &n, &cap, busy, busy + busy_len, NULL);
	if (!err) {
		qsort(v, n, sizeof(*v), cmp_range);
		*addr = find_hole(v, n, size, MIN_ADDR);
		if (!*addr) {
			pr_err("no free address for %llu bytes of temporary mappings of the restore",
			       (unsigned long long)size);
			err = -ENOMEM;
		}
	}
	free(v);
	return err;
}

int rmm_scratch_addr(const struct rimg *r, uint64_t *addr)
{
	return rmm_free_area(r, RT_SCRATCH_SIZE, 0, 0, addr);
}

static int is_special_name(const char *name)
{
	return !strcmp(name, "[vdso]") || !strncmp(name, "[vvar", 5);
}

/* glibc registered rseq in ferry; its area is about to be unmapped. */
static int unregister_rseq(struct rtask *t)
{
	struct rseq_config rc;

	memset(&rc, 0, sizeof(rc));
	if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, t->pid, (void *)sizeof(rc), &rc) < 0 ||
	    !rc.rseq_abi_pointer)
		return 0;
	return rt_call(t, t->pid, "rseq(unregister)", NULL, __NR_rseq, rc.rseq_abi_pointer,
		       rc.rseq_abi_size, RSEQ_FLAG_UNREGISTER, rc.signature, 0, 0);
}

/* Move the shell's vDSO/vvar to the dumped addresses, through a hole if they overlap. */
static int move_specials(struct rtask *t, const MmEntry *mm, const struct range *cur, size_t nc)
{
	const VmaEntry *want[8];
	struct range *all = NULL;
	size_t nw = 0, na = 0, cap = 0;
	uint64_t delta = 0, tmp;
	int err = 0, overlap = 0;

	for (size_t i = 0; i < mm->n_vmas; i++)
		if (mm->vmas[i]->status & SPECIAL) {
			if (nw == 8) {
				pr_err("pid %d: more than 8 vDSO/vvar mappings in the dump",
				       t->pid);
				return -EINVAL;
			}
			want[nw++] = mm->vmas[i];
		}
	if (nw != nc) {
		pr_err("pid %d: the dump has %zu vDSO/vvar mappings, this kernel %zu: ferry can "
		       "only restore on the kernel the dump was made on",
		       t->pid, nw, nc);
		return -ENOTSUP;
	}
	for (size_t i = 0; i < nw; i++) {
		int vdso = !!(want[i]->status & VMA_AREA_VDSO);

		if (want[i]->end - want[i]->start != cur[i].end - cur[i].start ||
		    vdso != !strcmp(cur[i].name, "[vdso]")) {
			pr_err("pid %d: the dump's %s at %#lx is %lu bytes, this kernel's %s is %lu: "
			       "a different vDSO (another kernel); ferry cannot restore it",
			       t->pid, vdso ? "vDSO" : "vvar", (unsigned long)want[i]->start,
			       (unsigned long)(want[i]->end - want[i]->start), cur[i].name,
			       (unsigned long)(cur[i].end - cur[i].start));
			return -ENOTSUP;
		}
		for (size_t j = 0; j < nc; j++)
			if (want[i]->start < cur[j].end && cur[j].start < want[i]->end)
				overlap = 1;
	}
	if (!nw)
		return 0;
	if (overlap) {
		uint64_t span = cur[nc - 1].end - cur[0].start;

		for (size_t i = 0; !err && i < mm->n_vmas; i++)
			err = push(&all, &na, &cap, mm->vmas[i]->start, mm->vmas[i]->end, NULL);
		for (size_t i = 0; !err && i < nc; i++)
			err = push(&all, &na, &cap, cur[i].start, cur[i].end, NULL);
		if (!err)
			err = push(&all, &na, &cap, t->scratch, t->scratch + RT_SCRATCH_SIZE, NULL);
		if (err)
			goto out;
		qsort(all, na, sizeof(*all), cmp_range);
		tmp = find_hole(all, na, span, MIN_ADDR);
		if (!tmp) {
			err = -ENOMEM;
			goto out;
		}
		delta = tmp - cur[0].start;
		for (size_t i = 0; !err && i < nc; i++)
			err = rt_call(t, t->pid, "mremap(vDSO out of the way)", NULL, __NR_mremap,
				      cur[i].start, cur[i].end - cur[i].start,
				      cur[i].end - cur[i].start, MREMAP_MAYMOVE | MREMAP_FIXED,
				      cur[i].start + delta, 0);
	}
	for (size_t i = 0; !err && i < nc; i++) {
		if (cur[i].start + delta == want[i]->start)
			continue;
		err = rt_call(t, t->pid, "mremap(vDSO)", NULL, __NR_mremap, cur[i].start + delta,
			      cur[i].end - cur[i].start, cur[i].end - cur[i].start,
			      MREMAP_MAYMOVE | MREMAP_FIXED, want[i]->start, 0);
	}
out:
	free(all);
	return err;
}

static int unmap(struct rtask *t, uint64_t s, uint64_t e)
{
	return rt_call(t, t->pid, "munmap(ferry's copy)", NULL, __NR_munmap, s, e - s, 0, 0, 0, 0);
}

/* Unmap [@s, @e) but the ranges of sorted @keep. */
static int unmap_but(struct rtask *t, uint64_t s, uint64_t e, const struct range *keep, size_t nk)
{
	int err = 0;

	for (size_t k = 0; !err && k < nk && s < e; k++) {
		if (keep[k].end <= s || keep[k].start >= e)
			continue;
		if (keep[k].start > s)
			err = unmap(t, s, keep[k].start);
		s = keep[k].end;
	}
	if (!err && s < e)
		err = unmap(t, s, e);
	return err;
}

/*
 * Unmap everything of the shell but the scratch pages, the slots of its
 * copy-on-write VMAs (cow.h) and the vDSO/vvar, then move those last.
 */
static int empty_shell(struct rtask *t, const MmEntry *mm)
{
	struct range *v = NULL, *keep = NULL, cur[8];
	size_t n = 0, cap = 0, nc = 0, nk = 0, kcap = 0;
	int err;

	err = unregister_rseq(t);
	if (!err)
		err = read_maps(t->pid, &v, &n, &cap);
	if (!err)
		err = push(&keep, &nk, &kcap, t->scratch, t->scratch + RT_SCRATCH_SIZE, NULL);
	for (size_t i = 0; !err && t->ip->cow && i < mm->n_vmas; i++)
		if (t->ip->cow[i].slot)
			err = push(&keep, &nk, &kcap, t->ip->cow[i].slot,
				   t->ip->cow[i].slot + (mm->vmas[i]->end - mm->vmas[i]->start),
				   NULL);
	if (!err)
		qsort(keep, nk, sizeof(*keep), cmp_range);
	for (size_t i = 0; !err && i < n; i++) {
		if (!strcmp(v[i].name, "[vsyscall]"))
			continue;
		if (is_special_name(v[i].name)) {
			if (nc < 8)
				cur[nc++] = v[i];
			continue;
		}
		/* A kept range may have merged with a neighbour: keep just it. */
		err = unmap_but(t, v[i].start, v[i].end, keep, nk);
	}
	if (!err)
		err = move_specials(t, mm, cur, nc);
	free(keep);
	free(v);
	return err;
}

struct remote_fd {
	uint32_t id;
	int fd;
};

static int vma_file_fd(struct rtask *t, const struct rimg *r, const VmaEntry *vma,
		       struct remote_fd *fds, size_t *nr, int *out)
{
	const FileEntry *fe = rimg_file(r, (uint32_t)vma->shmid);
	char buf[PATH_MAX];
	const char *path;
	struct stat st;
	long fd;
	int err, mode;

	for (size_t i = 0; i < *nr; i++)
		if (fds[i].id == (uint32_t)vma->shmid) {
			*out = fds[i].fd;
			return 0;
		}
	if (!fe || fe->type != FD_TYPES__REG || !fe->reg) {
		pr_err("pid %d: VMA %#lx-%#lx maps file id %lu, which is not a regular file of "
		       "files.img",
		       t->pid, (unsigned long)vma->start, (unsigned long)vma->end,
		       (unsigned long)vma->shmid);
		return -EINVAL;
	}
	path = rfiles_reg_path(fe, buf, sizeof(buf));
	if (stat(path, &st)) {
		err = -errno;
		pr_errno(err, "pid %d: VMA %#lx-%#lx maps %s%s", t->pid, (unsigned long)vma->start,
			 (unsigned long)vma->end, path,
			 err == -ENOENT ? ", which vanished since the dump" : "");
		return err;
	}
	if (fe->reg->has_size && (uint64_t)st.st_size != fe->reg->size) {
		pr_err("pid %d: %s, mapped at %#lx, changed size since the dump (%llu bytes, now "
		       "%lld)",
		       t->pid, path, (unsigned long)vma->start, (unsigned long long)fe->reg->size,
		       (long long)st.st_size);
		return -ESTALE;
	}
	if (vma->has_fdflags)
		mode = (int)(vma->fdflags & O_ACCMODE);
	else
		mode = (vma->flags & MAP_SHARED) && (vma->prot & PROT_WRITE) ? O_RDWR : O_RDONLY;
	if (strlen(path) >= RT_DATA_SIZE)
		return -ENAMETOOLONG;
	err = rt_put(t, 0, path, strlen(path) + 1);
	if (!err)
		err = rt_call(t, t->pid, "open(mapped file)", &fd, __NR_openat,
			      (uint64_t)(long)AT_FDCWD, rt_data(t, 0), (uint64_t)(mode | O_CLOEXEC),
			      0, 0, 0);
	if (err) {
		pr_err("pid %d: cannot open %s for the VMA at %#lx", t->pid, path,
		       (unsigned long)vma->start);
		return err;
	}
	fds[*nr].id = (uint32_t)vma->shmid;
	fds[*nr].fd = (int)fd;
	(*nr)++;
	*out = (int)fd;
	return 0;
}

/* The slot of a copy-on-write VMA to its address (the pages go with it), with its protection. */
static int move_slot(struct rtask *t, const VmaEntry *v, uint64_t slot)
{
	uint64_t len = v->end - v->start;
	long addr = 0;
	int err;

	err = rt_call(t, t->pid, "mremap(copy-on-write VMA)", &addr, __NR_mremap, slot, len, len,
		      MREMAP_MAYMOVE | MREMAP_FIXED, v->start, 0);
	if (!err && (uint64_t)addr != v->start)
		err = -EFAULT;
	if (!err && v->prot != (PROT_READ | PROT_WRITE))
		err = rt_call(t, t->pid, "mprotect(copy-on-write VMA)", NULL, __NR_mprotect,
			      v->start, len, v->prot, 0, 0, 0);
	return err;
}

static int map_vmas(struct rtask *t, const struct rimg *r, const MmEntry *mm)
{
	struct remote_fd *fds = calloc(mm->n_vmas + 1, sizeof(*fds));
	size_t nfd = 0;
	int err = 0;

	if (!fds)
		return -ENOMEM;
	for (size_t i = 0; !err && i < mm->n_vmas; i++) {
		const VmaEntry *v = mm->vmas[i];
		uint64_t flags = (v->flags & MAP_KEEP) | MAP_FIXED_NOREPLACE;
		long addr = (long)v->start;
		int fd = -1, attached = 0;

		if (v->status & (SPECIAL | VMA_AREA_VSYSCALL))
			continue;
		if (rcow_slot(t->ip, v)) {
			/* Filled in its shell, shared with its parent or children (cow.h). */
			err = move_slot(t, v, rcow_slot(t->ip, v));
			attached = 1;
		} else if (v->status & VMA_AREA_SYSVIPC) {
			/* A SysV segment ferry made again (shmem.h): shmat, not mmap. */
			err = rshmem_attach_in(t, r, v);
			if (err)
				break;
			attached = 1;
		} else if (v->status & VMA_AREA_MEMFD) {
			int mode = v->has_fdflags ? (int)(v->fdflags & O_ACCMODE) : O_RDWR;

			/* The memfd ferry rebuilt (shmem.h), opened here and closed after. */
			err = rshmem_open_memfd_in(t, r, v->shmid, mode, &fd);
			if (err)
				break;
		} else if (v->status & (VMA_FILE_PRIVATE | VMA_FILE_SHARED)) {
			err = vma_file_fd(t, r, v, fds, &nfd, &fd);
			if (err)
				break;
		} else if (v->status & VMA_ANON_SHARED) {
			/* The object ferry rebuilt (shmem.h), opened here and closed after. */
			err = rshmem_open_in(t, r, v->shmid, &fd);
			if (err)
				break;
			flags &= ~(uint64_t)MAP_ANONYMOUS;
		} else if (!(v->status & VMA_ANON_PRIVATE)) {
			pr_err("pid %d: VMA %#lx-%#lx has status %#x, which ferry cannot restore",
			       t->pid, (unsigned long)v->start, (unsigned long)v->end, v->status);
			err = -ENOTSUP;
			break;
		}
		if (!err && !attached)
			err = rt_call(t, t->pid, "mmap", &addr, __NR_mmap, v->start,
				      v->end - v->start, v->prot, flags, (uint64_t)(long)fd,
				      fd >= 0 ? v->pgoff : 0);
		if (fd >= 0 && (v->status & (VMA_ANON_SHARED | VMA_AREA_MEMFD)) &&
		    rt_call(t, t->pid, "close(shared memory)", NULL, __NR_close, (uint64_t)fd, 0, 0,
			    0, 0, 0) &&
		    !err)
			err = -EIO;
		if (!err && (uint64_t)addr != v->start)
			err = -EFAULT;
		if (err) {
			pr_err("pid %d: cannot map VMA %#lx-%#lx (prot %#x flags %#x)", t->pid,
			       (unsigned long)v->start, (unsigned long)v->end, v->prot, v->flags);
			break;
		}
		for (int adv = 0; !err && adv < 64; adv++) {
			if (!(v->madv & (1ull << adv)))
				continue;
			err = rt_call(t, t->pid, "madvise", NULL, __NR_madvise, v->start,
				      v->end - v->start, (uint64_t)adv, 0, 0, 0);
		}
	}
	for (size_t i = 0; i < nfd; i++)
		if (rt_call(t, t->pid, "close(mapped file)", NULL, __NR_close, (uint64_t)fds[i].fd,
			    0, 0, 0, 0, 0) &&
		    !err)
			err = -EIO;
	free(fds);
	return err;
}

/* ---- memory ------------------------------------------------------------------------ */

/*
 * The pages come from the pages file of each level of the pre-dump chain
 * the runs point into (images.h). They are read into one buffer of BUF_SIZE
 * bytes, queued as iovecs, and written into the process with one
 * process_vm_writev() when the buffer is full. The buffer stays in the CPU's
 * cache between the read and the write, so the second copy costs little, and
 * ferry's memory stays at that one buffer whatever the size of the dump (a
 * mapping of the pages files would count in its RSS as it is touched).
 */
#define BUF_SIZE (1ul << 20)

struct filler {
	pid_t pid;
	const struct rimg_proc *p;
	int mem_fd;
	const struct rimg_pagemap *pm;
	uint8_t *buf;
	size_t used; /* bytes of buf queued in l[] */
	struct iovec l[MAX_IOV], rv[MAX_IOV];
	size_t n;
	uint64_t pages; /* written so far, for rmm_stats */
};

static int flush(struct filler *f)
{
	ssize_t n;

	if (!f->n)
		return 0;
	n = process_vm_writev(f->pid, f->l, f->n, f->rv, f->n, 0);
	if (n != (ssize_t)f->used) {
		int err = n < 0 ? -errno : -EIO;

		pr_errno(err, "pid %d: writing memory at %#lx..: %zd of %zu bytes", f->pid,
			 (unsigned long)(uintptr_t)f->rv[0].iov_base, n, f->used);
		return err;
	}
	f->n = 0;
	f->used = 0;
	return 0;
}

/* Read @len bytes at @off of level @level's pages file to the free part of the buffer. */
static int read_pages(struct filler *f, uint32_t level, uint64_t off, size_t len)
{
	const struct rimg_pages_file *pf = &f->pm->files[level];
	size_t done = 0;
	int err;

	if (pf->fd < 0 || off >= pf->size || len > pf->size - off) {
		pr_err("pid %d: offset %llu is past pages-%u.img of level %u (%llu bytes)", f->pid,
		       (unsigned long long)off, pf->pages_id, level, (unsigned long long)pf->size);
		return -EINVAL;
	}
	err = pread_full(pf->fd, f->buf + f->used, len, off, &done);
	if (err)
		pr_errno(err,
			 "pid %d: pages-%u.img of level %u at offset %llu: read %zu of %zu bytes",
			 f->pid, pf->pages_id, level, (unsigned long long)off, done, len);
	return err;
}

/* Queue @len bytes of the buffer's free part for address @addr. */
static void queue(struct filler *f, uint64_t addr, size_t len)
{
	struct iovec *l = &f->l[f->n], *rv = &f->rv[f->n];

	/* A run split at a VMA boundary goes on where the last iovec ends. */
	if (f->n && (uint8_t *)l[-1].iov_base + l[-1].iov_len == f->buf + f->used &&
	    (uint64_t)(uintptr_t)rv[-1].iov_base + rv[-1].iov_len == addr) {
		l[-1].iov_len += len;
		rv[-1].iov_len += len;
	} else {
		l->iov_base = f->buf + f->used;
		l->iov_len = len;
		rv->iov_base = (void *)(uintptr_t)addr;
		rv->iov_len = len;
		f->n++;
	}
	f->used += len;
}

/*
 * rimg_piece_fn: write one piece of dumped pages into the process. Pieces of
 * writable VMAs are queued for process_vm_writev(); the others are written at
 * once through /proc/PID/mem, which (like ptrace) may write where the process
 * itself cannot, while process_vm_writev() may not.
 */
static int fill_piece(void *arg, const struct rimg_page_run *run, const VmaEntry *vma,
		      uint64_t addr, uint64_t off, uint64_t nr_pages)
{
	struct filler *f = arg;
	uint64_t len = nr_pages * RT_PAGE;
	int err = 0;

	if (rcow_slot(f->p, vma))
		return 0; /* its shell filled it before its children were forked (cow.h) */
	f->pages += nr_pages;
	while (!err && len) {
		size_t n;

		if (f->used == BUF_SIZE || f->n == MAX_IOV)
			err = flush(f);
		if (err)
			break;
		n = BUF_SIZE - f->used < len ? BUF_SIZE - f->used : (size_t)len;
		err = read_pages(f, run->level, off, n);
		if (err)
			break;
		if (vma->prot & PROT_WRITE) {
			queue(f, addr, n);
		} else if (pwrite(f->mem_fd, f->buf + f->used, n, (off_t)addr) != (ssize_t)n) {
			err = errno ? -errno : -EIO;
			pr_errno(err, "pid %d: cannot write memory at %#lx through /proc/%d/mem",
				 f->pid, (unsigned long)addr, f->pid);
		}
		addr += n;
		off += n;
		len -= n;
	}
	return err;
}

static int fill_memory(struct rtask *t, const struct rimg_proc *p)
{
	const struct rimg_pagemap *pm = p->pm;
	struct filler *f;
	char path[64];
	uint64_t t0 = mono_ns();
	int err = 0;

	if (!pm || !pm->nr_runs)
		return 0;
	f = calloc(1, sizeof(*f));
	if (!f)
		return -ENOMEM;
	f->pid = t->pid;
	f->p = p;
	f->mem_fd = -1;
	f->pm = pm;
	f->buf = malloc(BUF_SIZE);
	if (!f->buf) {
		err = -ENOMEM;
		goto out;
	}
	snprintf(path, sizeof(path), "/proc/%d/mem", t->pid);
	f->mem_fd = open(path, O_RDWR | O_CLOEXEC);
	if (f->mem_fd < 0) {
		err = -errno;
		pr_errno(err, "cannot open %s", path);
		goto out;
	}
	err = rimg_walk_pieces(p, fill_piece, f);
	if (!err)
		err = flush(f);
out:
	if (f->mem_fd >= 0)
		close(f->mem_fd);
	rmm_stats.pages_written += f->pages;
	free(f->buf);
	free(f);
	rmm_stats.write_ns += mono_ns() - t0;
	return err;
}

/* ---- mm fields --------------------------------------------------------------------- */

#define DATA_AUXV 256
#define DATA_EXE 1024

static int set_mm(struct rtask *t, const struct rimg *r, const MmEntry *mm)
{
	struct prctl_mm_map map;
	uint64_t auxv[64];
	const FileEntry *fe = NULL;
	char buf[PATH_MAX];
	const char *path;
	long fd = -1;
	int err;

	memset(&map, 0, sizeof(map));
	map.start_code = mm->mm_start_code;
	map.end_code = mm->mm_end_code;
	map.start_data = mm->mm_start_data;
	map.end_data = mm->mm_end_data;
	map.start_brk = mm->mm_start_brk;
	map.brk = mm->mm_brk;
	map.start_stack = mm->mm_start_stack;
	map.arg_start = mm->mm_arg_start;
	map.arg_end = mm->mm_arg_end;
	map.env_start = mm->mm_env_start;
	map.env_end = mm->mm_env_end;
	map.exe_fd = (uint32_t)-1;
	if (mm->n_mm_saved_auxv > 64 || mm->n_mm_saved_auxv % 2) {
		pr_err("pid %d: mm image has %zu auxv words", t->pid, mm->n_mm_saved_auxv);
		return -EINVAL;
	}
	for (size_t i = 0; i < mm->n_mm_saved_auxv; i++)
		auxv[i] = mm->mm_saved_auxv[i];
	map.auxv = (__u64 *)(uintptr_t)rt_data(t, DATA_AUXV);
	map.auxv_size = (uint32_t)(mm->n_mm_saved_auxv * sizeof(uint64_t));
	err = rt_put(t, DATA_AUXV, auxv, map.auxv_size);
	if (err)
		return err;
	if (mm->exe_file_id)
		fe = rimg_file(r, mm->exe_file_id);
	if (fe && fe->type == FD_TYPES__REG && fe->reg) {
		path = rfiles_reg_path(fe, buf, sizeof(buf));
		if (strlen(path) >= RT_DATA_SIZE - DATA_EXE)
			return -ENAMETOOLONG;
		err = rt_put(t, DATA_EXE, path, strlen(path) + 1);
		if (!err)
			err = rt_call(t, t->pid, "open(exe)", &fd, __NR_openat,
				      (uint64_t)(long)AT_FDCWD, rt_data(t, DATA_EXE),
				      O_RDONLY | O_CLOEXEC, 0, 0, 0);
		if (err) {
			pr_err("pid %d: cannot open its executable %s", t->pid, path);
			return err;
		}
		map.exe_fd = (uint32_t)fd;
	}
	err = rt_put(t, 0, &map, sizeof(map));
	if (!err)
		err = rt_call(t, t->pid, "prctl(PR_SET_MM_MAP)", NULL, __NR_prctl, PR_SET_MM,
			      PR_SET_MM_MAP, rt_data(t, 0), sizeof(map), 0, 0);
	if (fd >= 0)
		rt_call(t, t->pid, "close(exe)", NULL, __NR_close, (uint64_t)fd, 0, 0, 0, 0, 0);
	return err;
}

int rmm_restore(struct rtask *t, const struct rimg *r)
{
	const MmEntry *mm = t->ip->mm;
	int err;

	err = empty_shell(t, mm);
	if (!err)
		err = map_vmas(t, r, mm);
	/* Lazy restore: the lazy-pages daemon writes every page (lazy.h). */
	if (!err && !t->lazy)
		err = fill_memory(t, t->ip);
	if (!err)
		err = set_mm(t, r, mm);
	return err;
}
