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
 *
 * The page writers of all the processes share one buffer set (page_buffers
 * in page_writer.h), set up just before the tree is frozen and torn down at
 * the end: registering buffers with io_uring is paid once, outside the
 * frozen window, not per process inside it. Pre-dump does the same.
 *
 * A tracked process (an earlier pre-dump armed tracking) has its parked
 * userfaultfd closed first, so the dump never sees it, and its tracking is
 * stopped at the end, whatever the outcome.
 */
#ifndef FERRY_DUMP_H
#define FERRY_DUMP_H

#include <stdint.h>
#include <sys/types.h>

#include "bgsnap.h"
#include "page_writer.h"
#include "tracker.h"

struct dump_opts {
	pid_t pid;	   /* root of the tree */
	const char *dir;   /* images directory (created if missing) */
	int leave_running; /* release the tree instead of killing it */
	/*
	 * With leave_running: copy the memory while the tree is frozen (the
	 * path before the background snapshot, bgsnap.h), not after its release.
	 */
	int frozen_copy;
	int progress;	/* draw a progress line on stderr (progress.h) */
	int shell_job;	/* the tree's terminal is the caller's: dump it as a TTY */
	int file_locks; /* dump the file locks the tree holds (else: refused) */
	/* Dump established TCP connections (else: refused); docs/tcp.md. */
	int tcp_established;
	int ext_unix_sk; /* unix peers outside the tree recorded as external (else: refused) */
	/*
	 * The previous images directory of a pre-dump chain, relative to @dir
	 * (CRIU's --prev-images-dir) or absolute; becomes the "parent" symlink.
	 * Pages unchanged since then are recorded PE_PARENT instead of copied,
	 * for the processes whose tracking ran since that directory was written.
	 */
	const char *prev_dir;
	struct tracker_opts track;
	struct page_writer_opts pw;
	/*
	 * Without leave_running: called once the images are published in @dir,
	 * the tree still frozen; the tree is killed if it returns 0, else
	 * released and dump_tree returns that error (`ferry migrate`: the
	 * destination's verdict decides).
	 */
	int (*hold)(void *arg, const char *dir);
	void *hold_arg;
};

struct dump_result {
	uint64_t freezing_us, frozen_us, memdump_us, memwrite_us;
	uint64_t freeze_start_us; /* mono_us() when the freezing began */
	uint64_t pages_scanned, pages_written, pages_parent, pages_vanished;
	uint64_t nr_procs, nr_threads, nr_vmas;
	/* Tracking, summed over the processes (pre-dump, or a dump ending a chain). */
	uint64_t tracked_procs, written_pages, bpf_pages, bpf_faults;
	struct tracker_events ev;
	int has_bpf;
	const char *scan_name; /* what counted written_pages: "PAGEMAP_SCAN" or "soft-dirty" */
	/*
	 * How the memory was copied: "frozen", or "background" (leave_running:
	 * bgsnap.h) with its counters in @bg; bg_copy_us is the copy after the
	 * release, bg_retried 1 if a spoiled background snapshot was taken again
	 * frozen.
	 */
	const char *copy_path;
	struct bgsnap_stats bg;
	uint64_t bg_copy_us, bg_frozen_procs;
	int bg_retried;
};

/*
 * dump_tree - run the whole dump. Returns 0 or -errno; every error has been
 * logged with the pid, fd, file or address involved.
 *
 * Fault injection for tests: if FERRY_FAULT names a point ("frozen", "core",
 * "files", "mm", "images", "rename"; pre-dump: "predump-frozen",
 * "predump-write"), ferry SIGKILLs itself there. FERRY_FAIL names a pre-dump
 * point ("predump-frozen", "predump-write") where it fails with EIO instead.
 */
int dump_tree(const struct dump_opts *o, struct dump_result *res);

/*
 * predump_tree - `ferry pre-dump`: copy the memory of a live tree, the tree
 * frozen only while its dirty bits are read and its pages listed, not while
 * they are written. Arms tracking (tracker.h) on processes not tracked yet
 * (their every page is copied); on tracked ones, with @o->prev_dir the
 * directory of their last round, copies only the pages written since and
 * records the others PE_PARENT. Writes inventory.img, pstree.img,
 * pagemap-PID.img, pages-N.img, stats-dump and the "parent" symlink; no
 * core, mm or file images (the final `dump` writes those). Tracking goes on
 * after success and is stopped on every process on failure. Returns 0 or
 * -errno.
 */
int predump_tree(const struct dump_opts *o, struct dump_result *res);

#endif
