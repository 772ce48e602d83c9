/* SPDX-License-Identifier: MIT */
/*
 * Shared memory objects of a dump, as CRIU writes them: a shmem object (the
 * tmpfs inode behind a MAP_SHARED|MAP_ANONYMOUS or /dev/zero MAP_SHARED
 * mapping, or a memfd) is dumped once for the whole tree, whatever the number
 * of processes and VMAs that map it, into pagemap-shmem-<shmid>.img (a
 * pagemap_head then entries whose vaddr is the offset in the object) and
 * pages-<id>.img, through the page writer. The VMAs that map it say
 * VMA_ANON_SHARED with shmid = the object's inode number.
 *
 * The object is read from a mapping of ferry's own: /proc/PID/map_files of
 * one of its VMAs (or /proc/PID/fd of a memfd) is mapped read-only and shared,
 * and only its data segments (SEEK_DATA/SEEK_HOLE) are copied: holes stay
 * holes, and a page no process ever touched is not allocated by the dump.
 */
#ifndef FERRY_DUMP_SHMEM_H
#define FERRY_DUMP_SHMEM_H

#include <stdint.h>
#include <sys/shm.h>
#include <sys/types.h>

#include "page_writer.h"

struct shmem_dump;

struct shmem_dump_stats {
	uint64_t objects;	/* shmem objects written */
	uint64_t pages_written; /* their pages, all objects */
	uint64_t pages_parent;	/* ... recorded PE_PARENT: equal to the parent's copy */
};

/* shmem_dump_init - an empty table in *@out. Returns 0 or -ENOMEM. */
int shmem_dump_init(struct shmem_dump **out);

/*
 * shmem_dump_add_vma - note that VMA [@start, @end) of @pid maps the shmem
 * inode (@dev, @ino). The object is recorded once; its shmid (the inode
 * number, as CRIU's) goes to *@shmid. Returns 0, -EOVERFLOW for an inode
 * number wider than 32 bits (the pagemap-shmem file name holds 32), or
 * -ENOMEM.
 */
int shmem_dump_add_vma(struct shmem_dump *s, pid_t pid, uint64_t start, uint64_t end, uint64_t dev,
		       uint64_t ino, uint32_t *shmid);

/*
 * shmem_dump_add_sysv - the same for a VMA of @pid attaching a SysV shm
 * segment (path /SYSV<key>, @ino = its IPC id, @pgoff its offset): the
 * segment is read with IPC_STAT and written once, its key, owner, mode,
 * size and contents in ipcns-shm-<IPC namespace inode>.img (CRIU's
 * ipc_shm_entry, in_pagemaps false: the contents inline, which crit reads).
 * Returns 0, -ENOTSUP (another IPC namespace than ferry's, or a VMA that is
 * not the whole segment: logged), -ESTALE (the segment is gone), -ENOMEM.
 */
int shmem_dump_add_sysv(struct shmem_dump *s, pid_t pid, uint64_t start, uint64_t end,
			uint64_t pgoff, uint64_t dev, uint64_t ino, uint32_t *shmid);

/*
 * shmem_sysv_check - can VMA [@start, @end) at @pgoff of @pid, attaching
 * SysV segment @ino, be dumped: ferry's IPC namespace, the whole segment.
 * Fills *@ds (IPC_STAT) and *@ipc_ns (the namespace's inode). Returns 0 or
 * the errors of shmem_dump_add_sysv(), logged with the pid and VMA.
 */
int shmem_sysv_check(pid_t pid, uint64_t start, uint64_t end, uint64_t pgoff, uint64_t ino,
		     struct shmid_ds *ds, uint64_t *ipc_ns);

/*
 * shmem_dump_add_path - note that the shmem file (a memfd) of (@dev, @ino)
 * can be read through @path (/proc/PID/fd/N or map_files); its contents go
 * to pagemap-shmem-<@shmid>.img. Same errors as shmem_dump_add_vma(). An
 * object added both ways is written once.
 */
int shmem_dump_add_path(struct shmem_dump *s, const char *path, uint64_t dev, uint64_t ino,
			uint32_t shmid);

/*
 * shmem_dump_open_all - open every object noted so far (the tree still
 * frozen), so that a write after the tree runs again (pre-dump) reads the
 * objects the VMAs showed even if they are unmapped by then. Returns 0 or
 * -errno (logged with the object).
 */
int shmem_dump_open_all(struct shmem_dump *s);

/* shmem_dump_write flags: no ipcns-shm image (a pre-dump: the pages alone). */
#define SHMEM_DUMP_NO_SYSV (1u << 0)

/*
 * shmem_dump_write - write the pages of every object noted into @dirfd:
 * pages files get ids @first_pages_id, +1, ... With a parent image set
 * (@parent_fd >= 0) each page the parent holds is compared with the object
 * and recorded PE_PARENT when equal (dump_shmem_parent.h). Returns 0 or
 * -errno (logged with the object, the pid and range it was read through,
 * and the file); the images written so far are left for the caller's
 * cleanup of a failed dump.
 */
int shmem_dump_write(struct shmem_dump *s, int dirfd, int parent_fd, uint32_t first_pages_id,
		     const struct page_writer_opts *o, unsigned flags, struct shmem_dump_stats *st);

/* shmem_dump_free - free the table; NULL is accepted. */
void shmem_dump_free(struct shmem_dump *s);

#endif
