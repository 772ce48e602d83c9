// SPDX-License-Identifier: MIT
/*
 * Rebuild the shared memory objects of a dump and open them in the restored
 * processes (see shmem.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#define LOG_PREFIX "shmem: "
#include "log.h"
#include "mm.h"
#include "shmem.h"
#include "shmem_sysv_left.h"
#include "util.h"
#include "vma_status.h"

/* A memfd of the dumped name, size, owner and mode; no seal yet (rshmem_seal). */
static int make_memfd(struct rimg_shmem *s)
{
	const MemfdInodeEntry *me = s->memfd;
	int err = 0;

	s->fd = memfd_create(me->name, MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (s->fd < 0) {
		err = -errno;
		pr_errno(err, "cannot create memfd %s again", me->name);
		return err;
	}
	if (ftruncate(s->fd, (off_t)me->size) || fchown(s->fd, me->uid, me->gid) ||
	    (me->has_mode && fchmod(s->fd, me->mode & 07777))) {
		err = -errno;
		pr_errno(err, "memfd %s: cannot set its size (%llu), owner or mode", me->name,
			 (unsigned long long)me->size);
	}
	return err;
}

/* An anonymous shared object of s->size bytes, kept as an fd (map_files of a mapping of it). */
static int make_anon(struct rimg_shmem *s)
{
	void *base = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	char path[96];
	int err = 0;

	if (base == MAP_FAILED) {
		err = -errno;
		pr_errno(err, "shmid %u: cannot map %llu bytes of shared memory", s->shmid,
			 (unsigned long long)s->size);
		return err;
	}
	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)(uintptr_t)base,
		 (unsigned long)(uintptr_t)base + s->size);
	s->fd = open(path, O_RDWR | O_CLOEXEC);
	if (s->fd < 0) {
		err = -errno;
		pr_errno(err, "shmid %u: cannot open %s", s->shmid, path);
	}
	munmap(base, s->size);
	return err;
}

/* Ask the kernel for SysV id @id next (CONFIG_CHECKPOINT_RESTORE); -1 clears it. */
static void shm_next_id(int id)
{
	int fd = open("/proc/sys/kernel/shm_next_id", O_WRONLY | O_CLOEXEC);
	char buf[16];
	int n = snprintf(buf, sizeof(buf), "%d", id);

	if (fd < 0 || write(fd, buf, (size_t)n) != n)
		pr_debug("cannot set kernel.shm_next_id to %d: %s", id, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* shmget of the dumped key and size, IPC_EXCL, the dumped id asked for: the id or -errno. */
static int create_key(const IpcShmEntry *e)
{
	int id;

	shm_next_id((int)e->desc->id);
	id = shmget((key_t)e->desc->key, (size_t)e->size,
		    IPC_CREAT | IPC_EXCL | (int)(e->desc->mode & 0777));
	if (id < 0)
		id = -errno;
	shm_next_id(-1);
	return id;
}

/*
 * A SysV segment of the dumped key, size, owner and mode, with the dumped id
 * when it is free; kept as an fd (map_files of ferry's attachment of it, then
 * detached). A key that exists on the host now is refused: the segment may be
 * the one dumped (its processes still running) or another program's; unless
 * it is the segment the dumped tree left behind, untouched since
 * (shmem_sysv_left.h), which is removed and made again.
 */
static int make_sysv(const struct rimg *r, struct rimg_shmem *s)
{
	const IpcDescEntry *d = s->sysv->desc;
	struct shmid_ds ds = { 0 };
	char path[96];
	void *base;
	int err = 0, id = create_key(s->sysv), left;

	if (id == -EEXIST) {
		left = rshmem_sysv_remove_left(r, s->sysv, shmget((key_t)d->key, 0, 0));
		if (left < 0)
			return left;
		if (left)
			id = create_key(s->sysv);
	}
	if (id < 0) {
		err = id;
		if (err == -EEXIST)
			pr_err("SysV segment %u: key %#x exists on this host now (id %d): "
			       "refused, remove it (ipcrm -M %#x) or restore elsewhere",
			       d->id, d->key, shmget((key_t)d->key, 0, 0), d->key);
		else
			pr_errno(err, "SysV segment %u: cannot create key %#x, %llu bytes", d->id,
				 d->key, (unsigned long long)s->sysv->size);
		return err;
	}
	s->sysv_id = id;
	if ((uint32_t)id != d->id)
		pr_warn("SysV segment %u (key %#x) is id %d now: id %u is taken on this host, "
			"a process that kept the id number will not find it",
			d->id, d->key, id, d->id);
	ds.shm_perm.uid = d->uid;
	ds.shm_perm.gid = d->gid;
	ds.shm_perm.mode = (unsigned short)(d->mode & 0777);
	if (shmctl(id, IPC_SET, &ds) || ((d->mode & SHM_LOCKED) && shmctl(id, SHM_LOCK, NULL))) {
		err = -errno;
		pr_errno(err, "SysV segment %d: cannot set owner %u:%u, mode %#o or lock it", id,
			 d->uid, d->gid, d->mode);
		return err;
	}
	base = shmat(id, NULL, 0);
	if (base == (void *)-1) {
		err = -errno;
		pr_errno(err, "SysV segment %d: cannot attach it in ferry", id);
		return err;
	}
	snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx", (unsigned long)(uintptr_t)base,
		 (unsigned long)(uintptr_t)base + s->size);
	s->fd = open(path, O_RDWR | O_CLOEXEC);
	if (s->fd < 0) {
		err = -errno;
		pr_errno(err, "SysV segment %d: cannot open %s", id, path);
	}
	shmdt(base);
	return err;
}

#define FILL_BUF (1ul << 20)

/*
 * Make object @s in ferry (a shared anonymous object or a memfd), kept as an
 * fd, and fill it with pwrite(2) on that fd from @buf, 1 MiB at a time: no
 * page of it is faulted in through a mapping (256 MiB restored in 0.9-2.1 s
 * here instead of 2.4-3.1 s by reading the pages file into a mapping; both
 * bound by the disk).
 */
/* The contents of a SysV segment inline in ipcns-shm: its pages that are not all zeros. */
static int fill_inline(const struct rimg *r, const struct rimg_shmem *s)
{
	uint64_t size = s->sysv->size;

	for (uint64_t at = 0; at < size; at += RT_PAGE) {
		size_t n = size - at < RT_PAGE ? (size_t)(size - at) : RT_PAGE;
		const uint8_t *p = s->sysv_data + at;
		size_t k = 0;

		while (k < n && !p[k])
			k++;
		if (k == n)
			continue; /* a hole stays a hole */
		if (pwrite(s->fd, p, n, (off_t)at) != (ssize_t)n) {
			int err = errno ? -errno : -EIO;

			pr_errno(err,
				 "SysV segment %u: cannot write %zu bytes at offset %llu (from %s)",
				 s->shmid, n, (unsigned long long)at, r->dir);
			return err;
		}
		rmm_stats.pages_written++;
	}
	return 0;
}

static int create_one(const struct rimg *r, struct rimg_shmem *s, uint8_t *buf)
{
	int err = s->memfd ? make_memfd(s) : s->sysv ? make_sysv(r, s) : make_anon(s);

	if (!err && s->sysv_data)
		err = fill_inline(r, s);

	if (!err && !s->lazy && s->nr_runs > s->nr_parent_runs && s->pages_fd < 0) {
		pr_err("shmid %u: pages-%u.img is not in %s: shared memory that is written "
		       "before resume (SysV, a memfd held as an fd or write-sealed) needs its "
		       "pages file here, also with --page-server",
		       s->shmid, s->pages_id, r->dir);
		err = -ENOENT;
	}
	/* A lazy object stays empty: the lazy-pages daemon fills it (rshmem_plan_lazy). */
	for (size_t i = 0; i < s->nr_runs && !err && !s->lazy; i++) {
		const struct rimg_page_run *run = &s->runs[i];
		uint64_t len = run->nr_pages * RT_PAGE;

		for (uint64_t at = 0; at < len && !err;) {
			size_t n = len - at > FILL_BUF ? FILL_BUF : (size_t)(len - at), done = 0;

			err = pread_full(run->level ? s->level_fds[run->level - 1] : s->pages_fd,
					 buf, n, run->file_off + at, &done);
			if (err) {
				pr_errno(err,
					 "shmid %u: pages-%u.img of level %u of %s at offset %llu: "
					 "read %zu of %zu bytes",
					 s->shmid,
					 run->level ? s->level_ids[run->level - 1] : s->pages_id,
					 run->level, r->dir,
					 (unsigned long long)(run->file_off + at), done, n);
			} else if (pwrite(s->fd, buf, n, (off_t)(run->vaddr + at)) != (ssize_t)n) {
				err = errno ? -errno : -EIO;
				pr_errno(err, "shmid %u: cannot write %zu bytes at offset %llu",
					 s->shmid, n, (unsigned long long)(run->vaddr + at));
			}
			at += n;
		}
		if (!err)
			rmm_stats.pages_written += run->nr_pages;
	}
	/* A memfd's last page was written whole: back to its size. */
	if (!err && s->memfd && ftruncate(s->fd, (off_t)s->memfd->size)) {
		err = -errno;
		pr_errno(err, "memfd %s: cannot set its size back to %llu", s->memfd->name,
			 (unsigned long long)s->memfd->size);
	}
	return err;
}

int rshmem_create(struct rimg *r)
{
	uint8_t *buf = r->nr_shmem ? malloc(FILL_BUF) : NULL;
	int err = r->nr_shmem && !buf ? -ENOMEM : 0;

	for (size_t i = 0; i < r->nr_shmem && !err; i++) {
		/* memfd sizes are bytes; the pages go up to the next page. */
		if (r->shmem[i].memfd)
			r->shmem[i].size = (r->shmem[i].memfd->size + RT_PAGE - 1) & ~(RT_PAGE - 1);
		err = create_one(r, &r->shmem[i], buf);
		if (!err)
			pr_debug("shmid %u: %llu bytes, %zu run(s) from pages-%u.img, fd %d",
				 r->shmem[i].shmid, (unsigned long long)r->shmem[i].size,
				 r->shmem[i].nr_runs, r->shmem[i].pages_id, r->shmem[i].fd);
	}
	free(buf);
	return err;
}

static const struct rimg_shmem *memfd_of(const struct rimg *r, uint64_t file_id);

/* Whether the kernel offers missing faults on shmem (a userfaultfd of ferry's own). */
static int kernel_has_missing_shmem(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	int fd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK), ok = 0;

	if (fd < 0) {
		pr_debug("userfaultfd(2): %s", strerror(errno));
		return 0;
	}
	if (!ioctl(fd, UFFDIO_API, &api))
		ok = !!(api.features & UFFD_FEATURE_MISSING_SHMEM);
	close(fd);
	return ok;
}

/* Whether an fd of the tree holds memfd @s. */
static int memfd_held(const struct rimg *r, const struct rimg_shmem *s)
{
	for (size_t i = 0; i < r->nr_procs; i++)
		for (size_t j = 0; j < r->procs[i].nr_fds; j++) {
			const FileEntry *fe = rimg_file(r, r->procs[i].fds[j]->id);

			if (fe && fe->memfd && fe->memfd->inode_id == s->memfd->inode_id)
				return 1;
		}
	return 0;
}

size_t rshmem_plan_lazy(struct rimg *r)
{
	const char *env = getenv("FERRY_LAZY_SHMEM");
	int forced = env && !strcmp(env, "eager"), can = !forced && kernel_has_missing_shmem();
	size_t nr = 0;

	for (size_t i = 0; i < r->nr_shmem; i++) {
		struct rimg_shmem *s = &r->shmem[i];

		s->lazy =
			can && !s->sysv && s->nr_runs && s->size <= RSHMEM_MAX &&
			(!s->memfd || (!(s->memfd->seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE)) &&
				       !memfd_held(r, s)));
		nr += !!s->lazy;
	}
	if (r->nr_shmem)
		pr_info("lazy restore: %zu shared memory object(s) served lazily, %zu "
			"shared memory object(s) restored eagerly (%s)",
			nr, r->nr_shmem - nr,
			forced ? "FERRY_LAZY_SHMEM=eager"
			: !can ? "the kernel has no UFFD_FEATURE_MISSING_SHMEM"
			       : "SysV: no userfaultfd on its attachments; write-sealed or "
				 "open as an fd");
	return nr;
}

const struct rimg_shmem *rshmem_of_vma(const struct rimg *r, const VmaEntry *v, size_t *idx)
{
	const struct rimg_shmem *s = NULL;

	if (v->status & VMA_AREA_SYSVIPC)
		return NULL;
	if (v->status & VMA_AREA_MEMFD)
		s = memfd_of(r, v->shmid);
	else if (v->status & VMA_ANON_SHARED)
		for (size_t i = 0; i < r->nr_shmem && !s; i++)
			if (r->shmem[i].shmid == v->shmid && !r->shmem[i].sysv)
				s = &r->shmem[i];
	if (s)
		*idx = (size_t)(s - r->shmem);
	return s;
}

void rshmem_close(struct rimg *r)
{
	for (size_t i = 0; i < r->nr_shmem; i++) {
		if (r->shmem[i].fd >= 0)
			close(r->shmem[i].fd);
		r->shmem[i].fd = -1;
	}
}

void rshmem_sysv_finish(struct rimg *r, int ok)
{
	for (size_t i = 0; i < r->nr_shmem; i++) {
		struct rimg_shmem *s = &r->shmem[i];

		if (!s->sysv || s->sysv_id < 0)
			continue;
		if ((!ok || (s->sysv->desc->mode & SHM_DEST)) && shmctl(s->sysv_id, IPC_RMID, NULL))
			pr_errno(-errno, "SysV segment %d: IPC_RMID", s->sysv_id);
		else if (!ok)
			pr_info("SysV segment %d (key %#x) made by the failed restore removed",
				s->sysv_id, s->sysv->desc->key);
		s->sysv_id = -1;
	}
}

int rshmem_attach_in(struct rtask *t, const struct rimg *r, const VmaEntry *v)
{
	const struct rimg_shmem *s = NULL;
	int flg = 0, prot = PROT_READ;
	long addr = 0;
	int err;

	for (size_t i = 0; i < r->nr_shmem && !s; i++)
		if (r->shmem[i].sysv && r->shmem[i].shmid == v->shmid)
			s = &r->shmem[i];
	if (!s || s->sysv_id < 0) {
		pr_err("pid %d: SysV segment %llu was not made again", t->pid,
		       (unsigned long long)v->shmid);
		return -ENOENT;
	}
	if (v->prot & PROT_WRITE)
		prot |= PROT_WRITE;
	else
		flg |= SHM_RDONLY;
	if (v->prot & PROT_EXEC) {
		flg |= SHM_EXEC;
		prot |= PROT_EXEC;
	}
	err = rt_call(t, t->pid, "shmat", &addr, __NR_shmat, (uint64_t)s->sysv_id, v->start,
		      (uint64_t)flg, 0, 0, 0);
	if (!err && (uint64_t)addr != v->start)
		err = -EFAULT;
	if (!err && prot != (int)v->prot)
		err = rt_call(t, t->pid, "mprotect(SysV)", NULL, __NR_mprotect, v->start,
			      v->end - v->start, v->prot, 0, 0, 0);
	if (err)
		pr_err("pid %d: cannot attach SysV segment %d (dumped as %llu) at %#llx", t->pid,
		       s->sysv_id, (unsigned long long)v->shmid, (unsigned long long)v->start);
	return err;
}

int rshmem_open_in(struct rtask *t, const struct rimg *r, uint64_t shmid, int *fd)
{
	const struct rimg_shmem *s = NULL;
	char path[64];
	long ret = -1;
	int err;

	for (size_t i = 0; i < r->nr_shmem && !s; i++)
		if (r->shmem[i].shmid == shmid)
			s = &r->shmem[i];
	if (!s || s->fd < 0) {
		pr_err("pid %d: shared memory %llu was not rebuilt", t->pid,
		       (unsigned long long)shmid);
		return -ENOENT;
	}
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", getpid(), s->fd);
	err = rt_put(t, 0, path, strlen(path) + 1);
	if (!err)
		err = rt_call(t, t->pid, "open(shared memory)", &ret, __NR_openat,
			      (uint64_t)(long)AT_FDCWD, rt_data(t, 0), O_RDWR | O_CLOEXEC, 0, 0, 0);
	if (err) {
		pr_err("pid %d: cannot open shared memory %llu through %s", t->pid,
		       (unsigned long long)shmid, path);
		return err;
	}
	*fd = (int)ret;
	return 0;
}

int rshmem_seal(struct rimg *r)
{
	for (size_t i = 0; i < r->nr_shmem; i++) {
		const struct rimg_shmem *s = &r->shmem[i];
		int err;

		if (!s->memfd || !s->memfd->seals || s->fd < 0)
			continue;
		if (fcntl(s->fd, F_ADD_SEALS, (int)s->memfd->seals)) {
			err = -errno;
			pr_errno(err, "memfd %s: cannot add its seals %#x", s->memfd->name,
				 (unsigned)s->memfd->seals);
			return err;
		}
	}
	return 0;
}

static const struct rimg_shmem *memfd_of(const struct rimg *r, uint64_t file_id)
{
	const FileEntry *fe = file_id <= UINT32_MAX ? rimg_file(r, (uint32_t)file_id) : NULL;

	for (size_t i = 0; fe && fe->memfd && i < r->nr_shmem; i++)
		if (r->shmem[i].memfd && r->shmem[i].memfd->inode_id == fe->memfd->inode_id)
			return &r->shmem[i];
	return NULL;
}

int rshmem_open_memfd(const struct rimg *r, const FileEntry *fe, pid_t pid, int fd, int base)
{
	const struct rimg_shmem *s = memfd_of(r, fe->id);
	int lfd, nfd, err;
	char path[64];

	if (!s || s->fd < 0) {
		pr_err("pid %d fd %d: memfd file %u was not rebuilt", pid, fd, fe->id);
		return -ENOENT;
	}
	/* A new description of the same inode, as the dumped one was opened. */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", s->fd);
	lfd = open(path,
		   (int)(fe->memfd->flags & ~(uint32_t)(O_CREAT | O_EXCL | O_TRUNC)) | O_CLOEXEC);
	if (lfd < 0 || lseek(lfd, (off_t)fe->memfd->pos, SEEK_SET) < 0) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: cannot open memfd %s (flags %#x, pos %llu)", pid, fd,
			 s->memfd->name, fe->memfd->flags, (unsigned long long)fe->memfd->pos);
		if (lfd >= 0)
			close(lfd);
		return err;
	}
	nfd = fcntl(lfd, F_DUPFD_CLOEXEC, base);
	err = nfd < 0 ? -errno : 0;
	close(lfd);
	if (err)
		pr_errno(err, "pid %d fd %d: cannot move memfd %s above fd %d", pid, fd,
			 s->memfd->name, base);
	return err ? err : nfd;
}

int rshmem_open_memfd_in(struct rtask *t, const struct rimg *r, uint64_t file_id, int mode, int *fd)
{
	const struct rimg_shmem *s = memfd_of(r, file_id);
	char path[64];
	long ret = -1;
	int err;

	if (!s || s->fd < 0) {
		pr_err("pid %d: memfd file %llu was not rebuilt", t->pid,
		       (unsigned long long)file_id);
		return -ENOENT;
	}
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", getpid(), s->fd);
	err = rt_put(t, 0, path, strlen(path) + 1);
	if (!err)
		err = rt_call(t, t->pid, "open(memfd)", &ret, __NR_openat, (uint64_t)(long)AT_FDCWD,
			      rt_data(t, 0), (uint64_t)(mode | O_CLOEXEC), 0, 0, 0);
	if (err) {
		pr_err("pid %d: cannot open memfd %s through %s", t->pid, s->memfd->name, path);
		return err;
	}
	*fd = (int)ret;
	return 0;
}
