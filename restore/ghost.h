/* SPDX-License-Identifier: MIT */
/*
 * Files that were deleted while open or mapped (CRIU's ghost files, written
 * by user/dump/dump_ghost.c for tmpfs files): remap-fpath.img says which
 * files.img entries are ghost N, ghost-file-N.img holds the file's mode,
 * owner, size and data chunks. rimg_load() checks them; the restore creates
 * each ghost at the path its entries name (O_EXCL: a file that has that name
 * now is never overwritten), with its contents, before the fds are opened and
 * the VMAs mapped by that path, and unlinks it once every process is rebuilt:
 * the tree runs with the file open, mapped and deleted again, as it was.
 */
#ifndef FERRY_RESTORE_GHOST_H
#define FERRY_RESTORE_GHOST_H

#include <stdint.h>

#include "ghost-file.pb-c.h"
#include "images.h"

/* The largest deleted file restore recreates (the dump copies at most 64 MiB). */
#define RGHOST_MAX (64ull << 20)

struct rghost_chunk {
	uint64_t off, len;
	const void *data; /* in the mapped ghost-file image */
};

struct rimg_ghost {
	uint32_t remap_id;
	GhostFileEntry *ge;
	struct img *img; /* kept open: the chunks point into it */
	struct rghost_chunk *chunks;
	size_t nr_chunks;
	const char *path; /* the name of its files.img entries */
	int created;	  /* made by rghost_create(), not unlinked yet */
};

/*
 * rimg_load_ghosts - after rimg_load_files(): remap-fpath.img (if any) and
 * the ghost-file images it names. Refused with file and offset: a remap of
 * another kind than GHOST, of an id that is not a regular file, a ghost whose
 * entries name different paths, a ghost that is not a regular file, a FIFO
 * or a directory, a regular one larger than RGHOST_MAX, chunks out of order
 * or past its size, bytes for a FIFO or directory, a ghost image no entry
 * refers to. Returns 0, -ENOENT, -EINVAL, -EOPNOTSUPP or
 * -ENOMEM.
 */
int rimg_load_ghosts(struct rimg *r);

/* rimg_free_ghosts - free what rimg_load_ghosts() made (rimg_free() calls it). */
void rimg_free_ghosts(struct rimg *r);

/*
 * rghost_create - create every ghost of @r at its path with its contents,
 * owner and mode (a FIFO with mkfifo, a directory with mkdir). Returns 0 or
 * -errno (logged: -EEXIST when a file has that name now); those made before
 * an error are removed by rghost_remove().
 */
int rghost_create(struct rimg *r);

/* rghost_remove - unlink (rmdir) the ghosts rghost_create() made. */
void rghost_remove(struct rimg *r);

#endif
