/* SPDX-License-Identifier: MIT */
/*
 * Shared memory objects of a dump (CRIU's shmem: anonymous shared memory,
 * shared /dev/zero): loaded by rimg_load() from pagemap-shmem-<shmid>.img and
 * its pages file, rebuilt once by ferry before the address spaces, mapped by
 * every VMA of the tree that says VMA_ANON_SHARED with that shmid, so the
 * processes share it again.
 *
 * The object is made in ferry itself: an anonymous shared mapping of its size
 * (the largest pgoff + length of a VMA mapping it), filled from the pages
 * file, kept as an fd from /proc/self/map_files (the same tmpfs inode the
 * kernel gives MAP_SHARED|MAP_ANONYMOUS, so /proc/PID/maps says "/dev/zero
 * (deleted)" again after restore), then unmapped. A restored process opens
 * it through /proc/<ferry>/fd/<fd> and maps it at the VMA's address and
 * offset. Memory is always written eagerly, also under --lazy-pages: the
 * lazy-pages daemon serves private anonymous memory only.
 */
#ifndef FERRY_RESTORE_SHMEM_H
#define FERRY_RESTORE_SHMEM_H

#include <stdint.h>

#include "images.h"
#include "rtask.h"

/* One shmem object: where its pages are and, during a restore, ferry's fd of it. */
struct rimg_shmem {
	uint32_t shmid;
	uint64_t size; /* bytes, page aligned */
	uint32_t pages_id;
	struct rimg_page_run *runs; /* vaddr: offset in the object; file_off in pages_fd */
	size_t nr_runs;
	int pages_fd; /* pages-<pages_id>.img, -1 if the object has no page */
	int fd;	      /* the rebuilt object in ferry (rshmem_create), else -1 */
};

/*
 * rimg_load_shmem - after every mm-PID.img: the objects the VMAs of the tree
 * map (VMA_ANON_SHARED), each with its pagemap-shmem-<shmid>.img and pages
 * file checked (page-aligned runs inside the object, in order, PE_PRESENT
 * only, a pages file of exactly the size they use). A shmem pagemap no VMA
 * refers to is refused too. Returns 0, -ENOENT (a missing image), -EINVAL
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

/* rshmem_close - close ferry's fds of the objects. */
void rshmem_close(struct rimg *r);

/*
 * rshmem_open_in - open object @shmid in process @t (a remote openat of
 * /proc/<ferry>/fd/N, O_RDWR) and put the fd in *@fd. Returns 0, -ENOENT if
 * @r has no such object, or the -errno of the remote call.
 */
int rshmem_open_in(struct rtask *t, const struct rimg *r, uint64_t shmid, int *fd);

#endif
