/* SPDX-License-Identifier: MIT */
/*
 * The restore side's view of an images directory.
 *
 * rimg_load() reads every image a dump wrote (inventory, pstree, cores, ids,
 * mm, pagemap, fdinfo, files, pipes-data, fs, tty-info, filelocks) and cross-checks them
 * before the restore creates a single process: a dump that is incomplete,
 * truncated or inconsistent is refused as a whole, with a message naming the
 * file and the byte offset, pid or address at fault. So is a dump with an
 * image of state restore cannot rebuild (sockets, namespaces, seccomp
 * filters, ...: the IMG_RESTORE_REFUSED and IMG_RESTORE_CHECKED types of
 * user/core/img_types.c), each such image named; images whose content changes
 * nothing in the restored tasks (stats, cgroup.img, timens-0.img, ...) are
 * left aside.
 *
 * The model keeps the decoded protobuf messages; the restore reads them and
 * must not free them. Image files that are symlinks are refused; the one link
 * followed is "parent", the previous image set of a pre-dump chain, and only
 * when a pagemap has pages in it (PE_PARENT). From each parent directory only
 * the pagemap-PID.img and pages-ID.img of the pids that need it are read (and
 * the presence of its inventory.img checked: a pre-dump writes it last).
 *
 * Pre-dump chains: DIR/parent (a relative or absolute symlink) leads to the
 * image set written before, which may have a parent of its own, up to
 * RIMG_MAX_CHAIN levels. A PE_PARENT page of level N is looked up at the same
 * address in pagemap-PID.img of level N + 1, where it is PE_PRESENT (its data
 * is in that level's pages file) or PE_PARENT again. rimg_load() resolves
 * every such page once: each process gets a flattened index of runs, each
 * saying which level's pages file holds its data and at what offset.
 */
#ifndef FERRY_RESTORE_IMAGES_H
#define FERRY_RESTORE_IMAGES_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "core.pb-c.h"
#include "fdinfo.pb-c.h"
#include "file-lock.pb-c.h"
#include "fs.pb-c.h"
#include "inventory.pb-c.h"
#include "mm.pb-c.h"
#include "tty.pb-c.h"

/* One thread: its tid and its core-TID.img. */
struct rimg_thread {
	pid_t tid;
	CoreEntry *core;
};

/* The longest pre-dump chain followed: parents of parents beyond it are refused. */
#define RIMG_MAX_CHAIN 64

/*
 * One run of the flattened memory index of a process: a pagemap_entry of the
 * images directory, or, for an entry in the parent (PE_PARENT), a piece of it
 * that one level of the chain holds.
 */
struct rimg_page_run {
	uint64_t vaddr;	   /* page aligned */
	uint64_t nr_pages; /* > 0 */
	uint32_t flags;	   /* PE_* of the images directory's pagemap_entry */
	/*
	 * The level of the chain whose pages file holds the data: 0 for a
	 * PE_PRESENT run (the images directory itself), 1..RIMG_MAX_CHAIN for a
	 * PE_PARENT one (1 is DIR/parent, 2 DIR/parent/parent, ...).
	 */
	uint32_t level;
	/*
	 * PE_PRESENT or PE_PARENT: byte offset of the run's first page in the
	 * pages file of that level (rimg_pagemap.files[level]); else 0.
	 */
	uint64_t file_off;
};

/* The pages file of one level of the chain, for one process. */
struct rimg_pages_file {
	uint32_t pages_id; /* from the head of that level's pagemap-PID.img */
	int fd;		   /* pages-ID.img, O_RDONLY | O_CLOEXEC; -1 if absent (no data) */
	uint64_t size;
};

/* The memory index of one process. */
struct rimg_pagemap {
	uint32_t pages_id;
	/*
	 * Sorted by vaddr, non-overlapping; every PE_PARENT run is resolved
	 * (level >= 1). Contiguous pieces a parent level holds contiguously are
	 * one run; the directory's own entries are kept as they are.
	 */
	struct rimg_page_run *runs;
	size_t nr_runs;
	int pages_fd; /* pages-ID.img of the directory: the same as files[0].fd */
	uint64_t pages_size;
	/*
	 * files[level] for level 0 .. nr_files - 1: the pages files the runs
	 * point into. nr_files - 1 is the deepest level this process uses.
	 */
	struct rimg_pages_file *files;
	size_t nr_files;
};

struct rcow_vma;

/* One process of the tree. */
struct rimg_proc {
	pid_t pid, ppid, pgid, sid;
	struct rimg_thread *threads; /* threads[0] is the leader: its core has tc */
	size_t nr_threads;
	/*
	 * The kernel objects the task shares: the leader's core ids (ferry's
	 * dumps), else ids-PID.img (CRIU 4.x writes them there only).
	 */
	const TaskKobjIdsEntry *ids;
	ProtobufCMessage *ids_img; /* ids-PID.img, when read */
	MmEntry *mm;
	/*
	 * Guard regions (MADV_GUARD_INSTALL), CRIU 4.2's VMA_AREA_GUARD
	 * entries at the end of mm->vmas: rimg_load() takes them out of
	 * mm->n_vmas (which counts the real VMAs only) and checks them (page
	 * aligned, sorted, each inside a VMA). guards[i] points into mm->vmas.
	 */
	VmaEntry **guards;
	size_t nr_guards;
	FsEntry *fs;
	FdinfoEntry **fds; /* fdinfo-ID.img, ID = the leader's ids->files_id */
	size_t nr_fds;
	struct rimg_pagemap *pm;
	int parent; /* index in rimg.procs, -1 for the root */
	/*
	 * A zombie (its core's task_state TASK_DEAD): only threads[0].core is
	 * loaded (no ids, fds, fs or memory); exit_code is the wait status its
	 * parent is to find.
	 */
	int zombie;
	int exit_code;
	/*
	 * Per VMA of mm, what rcow_plan() found shared copy-on-write with the
	 * parent (cow.h); NULL if nothing.
	 */
	struct rcow_vma *cow;
};

/* The buffered bytes of one pipe (pipes-data.img). */
struct rimg_pipe_data {
	uint32_t pipe_id;
	const void *data; /* points into the mapped pipes-data.img */
	size_t len;
	uint32_t size; /* the pipe's capacity (F_GETPIPE_SZ) at dump time; 0 if unknown */
};

/* One message queued on a unix socket (sk-queues.img), in image order. */
struct rimg_skq {
	uint32_t id_for;  /* the socket's file id */
	const void *data; /* points into the mapped sk-queues.img */
	size_t len;
};

/* One parent directory of a pre-dump chain. */
struct rimg_level {
	int dirfd; /* O_RDONLY | O_DIRECTORY */
	char *dir; /* its path as reached from the images directory, for messages */
	uint64_t dev, ino;
	int has_parent; /* it has a "parent" entry of its own */
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
	struct rimg_skq *skq;  /* sk-queues.img (images_unix_sk.c) */
	size_t nr_skq;
	struct img *skq_img; /* keeps the payloads of the queues mapped */
	/* fifo-data.img: the bytes buffered in named FIFOs, the same way */
	struct rimg_pipe_data *fifos; /* sorted by pipe_id (the FIFO's inode) */
	size_t nr_fifos;
	struct img *fifos_img;
	/*
	 * filelocks.img (none if the file is absent), in image order. Each is
	 * a POSIX, OFD or flock lock (FILE_LOCK_*) of a process of the tree,
	 * on an fd that process has, type F_RDLCK or F_WRLCK, start and len
	 * not negative; anything else was refused by rimg_load().
	 */
	FileLockEntry **locks;
	size_t nr_locks;
	int has_parent; /* a "parent" symlink exists (pre-dump chain) */
	/*
	 * The parent directories opened so far: chain[k] is level k + 1. Only
	 * as many as the deepest PE_PARENT page needs.
	 */
	struct rimg_level *chain;
	size_t nr_chain;
	uint64_t dev, ino;	  /* of the images directory (loop detection) */
	unsigned int flags;	  /* RIMG_* given to rimg_load_flags() */
	struct rimg_shmem *shmem; /* shared memory objects (shmem.h), by first use */
	size_t nr_shmem;
	struct rimg_ghost *ghosts; /* deleted files to recreate (ghost.h) */
	size_t nr_ghosts;
	struct MemfdInodeEntry **memfds; /* memfd.img (shmem.h) */
	size_t nr_memfds;
	struct IpcShmEntry **sysv; /* ipcns-shm-<ns>.img: SysV segments (shmem.h) */
	size_t nr_sysv;
	/* sysv_data[i]: the contents inline after sysv[i] (in sysv_img), NULL: in pagemap-shmem */
	const void **sysv_data;
	struct img *sysv_img;
};

/*
 * rimg_load - read and validate the dump in directory @dir, and resolve its
 * PE_PARENT pages through the pre-dump chain (see above).
 * On success *out holds the model (free it with rimg_free()). Returns 0,
 * -ENOENT if inventory.img (the dump is incomplete) or another image that
 * must exist is missing (also: a parent directory, its inventory.img, or its
 * pagemap-PID.img for a pid with pages there), -EOPNOTSUPP if the directory
 * holds an image of state restore cannot rebuild, or a thread runs under
 * seccomp, -EINVAL if an image is corrupt
 * or the images disagree with each other (also: a PE_PARENT page that the
 * parent does not have, or has only as lazy; a lock on an fd its process
 * does not have), -ENOTSUP for a lease in filelocks.img, -ELOOP if the chain leads back
 * to a directory already in it or is longer than RIMG_MAX_CHAIN, -ENOMEM, or
 * another -errno from the file system. Every error is logged with the
 * directory, file and offset, pid or address involved.
 */
int rimg_load(struct rimg **out, const char *dir);

/*
 * RIMG_PAGES_OPTIONAL: a pages-ID.img that is missing is not an error (its
 * fd stays -1): a lazy restore from a page server gets the pages from there.
 * A pages file that exists is still checked against its pagemap.
 */
#define RIMG_PAGES_OPTIONAL 1u

/* rimg_load_flags - rimg_load() with RIMG_* @flags. */
int rimg_load_flags(struct rimg **out, const char *dir, unsigned int flags);

/* rimg_free - close and free everything rimg_load() made. NULL is a no-op. */
void rimg_free(struct rimg *r);

/* rimg_file - the files.img entry with id @id, or NULL if there is none. */
const FileEntry *rimg_file(const struct rimg *r, uint32_t id);
/* rimg_file_index - its index in r->files, or -1. */
long rimg_file_index(const struct rimg *r, uint32_t id);

/* rimg_tty_info - the tty-info.img entry with id @id, or NULL. */
const TtyInfoEntry *rimg_tty_info(const struct rimg *r, uint32_t id);

/*
 * rimg_find_page - the run of the flattened index of @pm holding address
 * @addr (binary search), or NULL if the page was not dumped (never touched,
 * or a mapping whose content comes from its file). For a PE_PRESENT or
 * PE_PARENT run, the page's data is at byte offset
 * run->file_off + (addr & ~4095 - run->vaddr) of pm->files[run->level].
 */
const struct rimg_page_run *rimg_find_page(const struct rimg_pagemap *pm, uint64_t addr);

/*
 * rimg_piece_fn - called by rimg_walk_pieces() for one piece of dumped pages:
 * @nr_pages pages from address @addr, all in @vma, of the flattened run @run
 * (its level and flags). Their data is at byte offset @file_off of
 * p->pm->files[run->level]. Returns 0 to go on, or a -errno that stops the
 * walk.
 */
typedef int rimg_piece_fn(void *arg, const struct rimg_page_run *run, const VmaEntry *vma,
			  uint64_t addr, uint64_t file_off, uint64_t nr_pages);

/*
 * rimg_walk_pieces - call @fn with @arg on each piece of the PE_PRESENT and
 * PE_PARENT runs of @p split at the boundaries of the VMAs of p->mm, in
 * address order (a run of the dump may span adjacent VMAs). A process with no
 * pagemap has no pieces. Returns 0, -EINVAL if a page is in no VMA or a run
 * is at a level of the chain that was not loaded (both logged with the pid
 * and address), or the first error @fn returns.
 */
int rimg_walk_pieces(const struct rimg_proc *p, rimg_piece_fn *fn, void *arg);

/*
 * rimg_pipe_data - the buffered bytes dumped for pipe @pipe_id. *data points
 * into the model (valid until rimg_free()). Returns 0, or -ENOENT if
 * pipes-data.img has no entry for that pipe (it was empty).
 */
int rimg_pipe_data(const struct rimg *r, uint32_t pipe_id, const void **data, size_t *len);

/* rimg_pipe - the pipes-data.img entry of pipe @pipe_id, or NULL if it was empty. */
const struct rimg_pipe_data *rimg_pipe(const struct rimg *r, uint32_t pipe_id);

/* rimg_fifo - the fifo-data.img entry of FIFO @pipe_id, or NULL if it was empty. */
const struct rimg_pipe_data *rimg_fifo(const struct rimg *r, uint32_t pipe_id);

#endif
