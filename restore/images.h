/* SPDX-License-Identifier: MIT */
/*
 * The restore side's view of an images directory.
 *
 * rimg_load() reads every image a dump wrote (inventory, pstree, cores, mm,
 * pagemap, fdinfo, files, pipes-data, fs, tty-info) and cross-checks them
 * before the restore creates a single process: a dump that is incomplete,
 * truncated or inconsistent is refused as a whole, with a message naming the
 * file and the byte offset, pid or address at fault.
 *
 * The model keeps the decoded protobuf messages; the restore reads them and
 * must not free them. Nothing is read outside the images directory: image
 * files that are symlinks are refused, and a "parent" symlink (a pre-dump
 * chain) is only recorded, not followed.
 */
#ifndef FERRY_RESTORE_IMAGES_H
#define FERRY_RESTORE_IMAGES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core.pb-c.h"
#include "fdinfo.pb-c.h"
#include "fs.pb-c.h"
#include "inventory.pb-c.h"
#include "mm.pb-c.h"
#include "tty.pb-c.h"

/* One thread: its tid and its core-TID.img. */
struct rimg_thread {
	pid_t tid;
	CoreEntry *core;
};

/* One run of pages of pagemap-PID.img (one pagemap_entry). */
struct rimg_page_run {
	uint64_t vaddr;	   /* page aligned */
	uint64_t nr_pages; /* > 0 */
	uint32_t flags;	   /* PE_* of pagemap_flags.h */
	/* PE_PRESENT: byte offset of the run's first page in pages-ID.img; else 0. */
	uint64_t file_off;
};

/* The memory index of one process. */
struct rimg_pagemap {
	uint32_t pages_id;
	struct rimg_page_run *runs; /* sorted by vaddr, non-overlapping */
	size_t nr_runs;
	int pages_fd; /* pages-ID.img, O_RDONLY | O_CLOEXEC */
	uint64_t pages_size;
};

/* One process of the tree. */
struct rimg_proc {
	pid_t pid, ppid, pgid, sid;
	struct rimg_thread *threads; /* threads[0] is the leader: its core has tc and ids */
	size_t nr_threads;
	MmEntry *mm;
	FsEntry *fs;
	FdinfoEntry **fds; /* fdinfo-ID.img, ID = the leader's ids->files_id */
	size_t nr_fds;
	struct rimg_pagemap *pm;
	int parent; /* index in rimg.procs, -1 for the root */
};

/* The buffered bytes of one pipe (pipes-data.img). */
struct rimg_pipe_data {
	uint32_t pipe_id;
	const void *data; /* points into the mapped pipes-data.img */
	size_t len;
	uint32_t size; /* the pipe's capacity (F_GETPIPE_SZ) at dump time; 0 if unknown */
};

struct img;

/* A whole images directory. */
struct rimg {
	int dirfd; /* the images directory, O_RDONLY | O_DIRECTORY */
	char *dir;
	InventoryEntry *inv;
	struct rimg_proc *procs; /* pstree order; procs[0] is the root */
	size_t nr_procs;
	FileEntry **files; /* files.img, sorted by id (see rimg_file) */
	size_t nr_files;
	TtyInfoEntry **ttys; /* tty-info.img; none if the file is absent */
	size_t nr_ttys;
	struct rimg_pipe_data *pipes; /* sorted by pipe_id */
	size_t nr_pipes;
	struct img *pipes_img; /* keeps the payloads of pipes mapped */
	int has_parent;	       /* a "parent" symlink exists (pre-dump chain) */
};

/*
 * rimg_load - read and validate the dump in directory @dir.
 * On success *out holds the model (free it with rimg_free()). Returns 0,
 * -ENOENT if inventory.img (the dump is incomplete) or another image that
 * must exist is missing, -EINVAL if an image is corrupt or the images
 * disagree with each other, -ENOMEM, or another -errno from the file system.
 * Every error is logged with the file and offset, pid or address involved.
 */
int rimg_load(struct rimg **out, const char *dir);

/* rimg_free - close and free everything rimg_load() made. NULL is a no-op. */
void rimg_free(struct rimg *r);

/* rimg_file - the files.img entry with id @id, or NULL if there is none. */
const FileEntry *rimg_file(const struct rimg *r, uint32_t id);
/* rimg_file_index - its index in r->files, or -1. */
long rimg_file_index(const struct rimg *r, uint32_t id);

/* rimg_tty_info - the tty-info.img entry with id @id, or NULL. */
const TtyInfoEntry *rimg_tty_info(const struct rimg *r, uint32_t id);

/*
 * rimg_find_page - the run of @pm holding address @addr (binary search), or
 * NULL if the page was not dumped (never touched, or a mapping whose content
 * comes from its file). The byte offset of @addr's page in pages-ID.img is
 * run->file_off + (addr & ~4095 - run->vaddr) for a PE_PRESENT run.
 */
const struct rimg_page_run *rimg_find_page(const struct rimg_pagemap *pm, uint64_t addr);

/*
 * rimg_pipe_data - the buffered bytes dumped for pipe @pipe_id. *data points
 * into the model (valid until rimg_free()). Returns 0, or -ENOENT if
 * pipes-data.img has no entry for that pipe (it was empty).
 */
int rimg_pipe_data(const struct rimg *r, uint32_t pipe_id, const void **data, size_t *len);

/* rimg_pipe - the pipes-data.img entry of pipe @pipe_id, or NULL if it was empty. */
const struct rimg_pipe_data *rimg_pipe(const struct rimg *r, uint32_t pipe_id);

#endif
