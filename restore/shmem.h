/* SPDX-License-Identifier: MIT */
/*
 * Shared memory objects of a dump (CRIU's shmem: anonymous shared memory,
 * shared /dev/zero, memfds): loaded by rimg_load() from
 * pagemap-shmem-<shmid>.img and its pages file, rebuilt once by ferry before
 * the fds and address spaces, mapped by every VMA of the tree that says
 * VMA_ANON_SHARED with that shmid, so the processes share it again. A memfd
 * (memfd.img: name, size, seals, its shmid) is made with memfd_create(2);
 * its fds (memfd_file_entry) and VMAs (VMA_AREA_MEMFD, shmid = a memfd file
 * id) open it through /proc/<ferry>/fd/N, and its seals are added once every
 * process is rebuilt (a seal may forbid the writable mappings made before).
 *
 * The object is made in ferry itself: an anonymous shared mapping of its size
 * (the largest pgoff + length of a VMA mapping it), filled from the pages
 * file, kept as an fd from /proc/self/map_files (the same tmpfs inode the
 * kernel gives MAP_SHARED|MAP_ANONYMOUS, so /proc/PID/maps says "/dev/zero
 * (deleted)" again after restore), then unmapped. A restored process opens
 * it through /proc/<ferry>/fd/<fd> and maps it at the VMA's address and
 * offset. Its memory is written then, but under --lazy-pages the objects
 * rshmem_plan_lazy() picks stay empty and the lazy-pages daemon fills them
 * (docs/lazy.md, "Shared memory").
 *
 * A SysV segment (ipcns-shm-<ns>.img, VMA_AREA_SYSVIPC VMAs, shmid = its
 * IPC id) is made with shmget(2) in the host's IPC namespace: the dumped
 * key (IPC_EXCL: a key that exists is refused, unless it is the segment the
 * dumped tree left behind: shmem_sysv_left.h), size, owner and mode, the
 * dumped id asked for through kernel.shm_next_id; filled through an fd of
 * ferry's attachment like the others, attached by each VMA with a remote
 * shmat(2), and marked IPC_RMID again once every process has it if it was.
 */
#ifndef FERRY_RESTORE_SHMEM_H
#define FERRY_RESTORE_SHMEM_H

#include <stdint.h>

#include "fdinfo.pb-c.h"
#include "images.h"
#include "ipc-shm.pb-c.h"
#include "memfd.pb-c.h"
#include "rtask.h"

/* The largest memfd restore recreates. */
#define RSHMEM_MAX (1ull << 40)

/* One shmem object: where its pages are and, during a restore, ferry's fd of it. */
struct rimg_shmem {
	uint32_t shmid;
	const struct MemfdInodeEntry *memfd; /* a memfd's inode (memfd.img), else NULL */
	uint64_t size;			     /* bytes, page aligned */
	uint32_t pages_id;
	struct rimg_page_run *runs; /* vaddr: offset in the object; file_off in pages_fd */
	size_t nr_runs;
	int pages_fd; /* pages-<pages_id>.img, -1 if the object has no page */
	/*
	 * Runs of level k >= 1 (PE_PARENT) are in the pages file of level k of
	 * the pre-dump chain (1: DIR/parent, 2: its parent, ...): file_off in
	 * level_fds[k - 1] (pages-<level_ids[k - 1]>.img), -1 where unused.
	 */
	size_t nr_parent_runs;
	int *level_fds;
	uint32_t *level_ids;
	size_t nr_levels;
	int fd;				/* the rebuilt object in ferry (rshmem_create), else -1 */
	const struct IpcShmEntry *sysv; /* a SysV segment (ipcns-shm-<ns>.img), else NULL */
	const uint8_t *sysv_data; /* ... its contents inline in ipcns-shm, else NULL (pagemap) */
	int sysv_id;		  /* ... made again by rshmem_create() with this id, else -1 */
	/*
	 * rshmem_plan_lazy() chose it for the lazy-pages daemon: rshmem_create()
	 * makes it empty, every VMA of the tree mapping it is registered for
	 * missing faults, and the daemon fills it (index of it in rimg.shmem:
	 * PS_SHMEM_ADDR in page_source.h).
	 */
	int lazy;
};

/*
 * rimg_load_shmem - after every mm-PID.img: the objects the VMAs of the tree
 * map (VMA_ANON_SHARED), each with its pagemap-shmem-<shmid>.img and pages
 * file checked (page-aligned runs inside the object, in order, PE_PRESENT
 * or PE_PARENT, a pages file of exactly the size the present ones use; a
 * PE_PARENT page must be held by a level of the pre-dump chain); a
 * SysV segment with its contents inline in ipcns-shm has no pagemap. A
 * shmem pagemap no VMA refers to is refused too. Returns 0, -ENOENT (a missing image), -EINVAL
 * (logged with file and offset), -ENOMEM.
 */
int rimg_load_shmem(struct rimg *r);

/* rimg_free_shmem - free what rimg_load_shmem() made (rimg_free() calls it). */
void rimg_free_shmem(struct rimg *r);

/*
 * rshmem_create - rebuild every object of @r in ferry (see above). Returns 0
 * or -errno, logged with the shmid and the pages file; the objects made so
 * far stay for rshmem_close().
 */
int rshmem_create(struct rimg *r);

/*
 * rshmem_plan_lazy - for a lazy restore, choose the objects the lazy-pages
 * daemon fills (rimg_shmem.lazy): shared anonymous memory and memfds that no
 * fd of the tree holds and that have no write seal, when the kernel offers
 * UFFD_FEATURE_MISSING_SHMEM. SysV segments, write-sealed memfds and memfds
 * held as fds are written eagerly: read(2)/write(2) through an fd do not
 * fault, so they would see holes where pages are still to come; and the
 * kernel refuses UFFDIO_REGISTER (EINVAL, every mode) on a SysV attachment,
 * whose VMA has ipc/shm.c's vm_ops, not shmem's (test_lazy_sysv.c).
 * The environment variable FERRY_LAZY_SHMEM=eager makes every object eager
 * (the fallback, for tests). Logs which ran. Returns the number of lazy objects.
 */
size_t rshmem_plan_lazy(struct rimg *r);

/*
 * rshmem_of_vma - the object VMA @v maps (VMA_ANON_SHARED or
 * VMA_AREA_MEMFD; not a SysV one), its index in r->shmem in *@idx, or NULL.
 */
const struct rimg_shmem *rshmem_of_vma(const struct rimg *r, const VmaEntry *v, size_t *idx);

/* rshmem_close - close ferry's fds of the objects. */
void rshmem_close(struct rimg *r);

/*
 * rshmem_attach_in - attach the SysV segment rshmem_create() made for VMA @v
 * (VMA_AREA_SYSVIPC) in process @t, at its address and protection (a remote
 * shmat(2)). Returns 0, -ENOENT, or the -errno of the remote call (logged).
 */
int rshmem_attach_in(struct rtask *t, const struct rimg *r, const VmaEntry *v);

/*
 * rshmem_sysv_finish - the restore is over: with @ok, mark IPC_RMID again the
 * segments that were (SHM_DEST), now that every process attached them;
 * without, remove every segment rshmem_create() made.
 */
void rshmem_sysv_finish(struct rimg *r, int ok);

/*
 * rshmem_seal - add the dumped seals of every memfd. Returns 0 or -errno
 * (logged with the memfd's name).
 */
int rshmem_seal(struct rimg *r);

/*
 * rshmem_open_memfd - a new description of the memfd of files.img entry @fe
 * (type MEMFD) in ferry, with its flags and position, moved to @base or
 * above (for rfiles_open()). Returns the fd or -errno (logged with @pid, @fd).
 */
int rshmem_open_memfd(const struct rimg *r, const FileEntry *fe, pid_t pid, int fd, int base);

/*
 * rshmem_open_in - open object @shmid in process @t (a remote openat of
 * /proc/<ferry>/fd/N, O_RDWR) and put the fd in *@fd. Returns 0, -ENOENT if
 * @r has no such object, or the -errno of the remote call.
 */
int rshmem_open_in(struct rtask *t, const struct rimg *r, uint64_t shmid, int *fd);

/*
 * rshmem_open_memfd_in - the same for a VMA_AREA_MEMFD VMA: @file_id is the
 * memfd's files.img entry, @mode O_RDONLY or O_RDWR.
 */
int rshmem_open_memfd_in(struct rtask *t, const struct rimg *r, uint64_t file_id, int mode,
			 int *fd);

#endif
