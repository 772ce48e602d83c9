/* SPDX-License-Identifier: MIT */
/*
 * A shared memory object dumped against the parent image set of a pre-dump
 * chain. Shared memory can be written through any mapping of any process
 * (each has its own page tables, so write-protecting one mapping sees only its
 * own writes), through write(2)/pwrite(2) on an fd of it (no page table at
 * all), or by a process outside the tree: no dirty tracker sees every write.
 * So the pages are compared instead: a page the parent holds in its own pages
 * file is read from there and compared, all 4096 bytes, with the object as it
 * is now; an equal page is recorded PE_PARENT (nothing written), any other
 * page is copied. Whatever wrote it, a page that differs is never called
 * clean. A page the parent has in its own parent is looked for down the
 * chain (up to 16 levels) and compared with the copy of the level that
 * holds it.
 */
#ifndef FERRY_DUMP_SHMEM_PARENT_H
#define FERRY_DUMP_SHMEM_PARENT_H

#include <stdint.h>

#include "page_writer.h"

struct shmem_parent;

struct shmem_parent_stats {
	uint64_t pages_copied; /* written into this image set */
	uint64_t pages_parent; /* recorded PE_PARENT: equal to the parent's copy */
};

/*
 * shmem_parent_open - the pages of object @shmid that the parent image set
 * (@parent_fd, -1 for none) or a level below it holds: the
 * pagemap-shmem-<shmid>.img and pages file of each level used. Returns 0 with *@out set, -ENOENT
 * (no parent, or no such object in it: not logged as an error), -EINVAL for a damaged parent
 * pagemap (logged with file and offset), or another -errno of reading it.
 */
int shmem_parent_open(int parent_fd, uint32_t shmid, struct shmem_parent **out);

/*
 * shmem_parent_write_range - record the pages [@off, @off + @nr_pages * 4096)
 * of the object, mapped by ferry at @base, through @pw (opened with
 * page_writer_open_shmem() at @base): compared with the parent's copy where
 * it has one (@p may be NULL: all copied). The object is read through
 * process_vm_readv of ferry itself: a page truncated away meanwhile counts as
 * changed instead of killing ferry with SIGBUS. Returns 0 or -errno (logged
 * with the object @what and the file).
 */
int shmem_parent_write_range(struct shmem_parent *p, struct page_writer *pw, const uint8_t *base,
			     uint64_t off, uint64_t nr_pages, const char *what,
			     struct shmem_parent_stats *st);

/* shmem_parent_close - free; NULL is accepted. */
void shmem_parent_close(struct shmem_parent *p);

#endif
