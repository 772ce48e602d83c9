/* SPDX-License-Identifier: MIT */
/*
 * `ferry dump`: checkpoint a process tree into a directory of CRIU images.
 *
 * Order: freeze the tree; check every fd of every process before anything is
 * written; per process the core (threads, signals, creds, limits), fds, fs and
 * the address space with its memory; then files.img, pstree.img,
 * stats-dump.img and inventory.img, last. Images are written in a staging
 * directory inside the images directory and moved to their final names only
 * when all of them are complete, inventory.img last: a dump that fails or is
 * killed leaves no image under a final name. Afterwards the tree is killed
 * (CRIU's default) or, with leave_running, released; on any error it is
 * released and continues.
 */
#ifndef FERRY_DUMP_H
#define FERRY_DUMP_H

#include <stdint.h>
#include <sys/types.h>

#include "page_writer.h"

struct dump_opts {
	pid_t pid;	   /* root of the tree */
	const char *dir;   /* images directory (created if missing) */
	int leave_running; /* release the tree instead of killing it */
	int shell_job;	   /* the tree's terminal is the caller's: dump it as a TTY */
	struct page_writer_opts pw;
};

struct dump_result {
	uint64_t freezing_us, frozen_us, memdump_us, memwrite_us;
	uint64_t pages_scanned, pages_written;
	uint64_t nr_procs, nr_threads, nr_vmas;
};

/*
 * dump_tree - run the whole dump. Returns 0 or -errno; every error has been
 * logged with the pid, fd, file or address involved.
 *
 * Fault injection for tests: if FERRY_FAULT names a point ("frozen", "core",
 * "files", "mm", "images", "rename"), ferry SIGKILLs itself there.
 */
int dump_tree(const struct dump_opts *o, struct dump_result *res);

#endif
