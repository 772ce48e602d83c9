/* SPDX-License-Identifier: MIT */
/*
 * Inside the dump orchestrator (dump.h): what its files share. dump_dir.c
 * handles the images directory (prepared, staging, the previous round's
 * directory and the parent link, sync, the journalled publish); predump.c
 * runs a pre-dump; dump.c a dump, and what both share.
 */
#ifndef FERRY_DUMP_PRIV_H
#define FERRY_DUMP_PRIV_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "dump.h"
#include "dump_core.h"
#include "dump_mm.h"
#include "pstree.h"
#include "tracker.h"

/*
 * The BPF VMA iterator's load costs ~5 ms (light skeleton) to ~25 ms (libbpf
 * CO-RE fallback): it runs in a thread while the tree is frozen and its cores
 * and files are dumped, and is joined before the first address space is read.
 *
 * The page writers' buffer set (page_buffers_create: 16 MiB mapped and
 * registered with io_uring, ~6 ms) is made once per dump, by the main thread
 * just before the freeze while the iterator loads in its thread, and lent to
 * the writer of each process in turn. Not in a thread during the freeze:
 * that was measured to lengthen the frozen window by about as much as it
 * costs (pinning the pages competes for the two cores and, likely, for
 * ferry's mmap lock with the main thread).
 */
struct dump_preload {
	pthread_t thread;
	int started;
};

/* dump.c */
void dump_preload_start(struct dump_preload *p);
void dump_preload_join(struct dump_preload *p);
int dump_interrupted(void);
int dump_write_pstree(const struct pstree *t, int dirfd);
int dump_write_stats(int dirfd, const struct dump_result *r);
int dump_write_inventory(int dirfd, const struct core_ids *root);
void dump_stop_trackers(size_t n, struct tracker **trk, int stopped);
int dump_incr_inputs(const struct dump_opts *o, struct tracker *trk, int parent_fd, pid_t pid,
		     struct tracker_round *round, struct page_run **prun, size_t *nprun,
		     struct dump_mm_incr *inc, int *use, struct dump_result *res);
int dump_bufs_create(const struct dump_opts *o, struct page_buffers **pb);
void dump_hold_signals(sigset_t *old);
/*
 * dump_pw_for - @pw for process @pid: with PAGE_WRITER_NO_PIN when it shares
 * anonymous pages copy-on-write (its smaps_rollup has less Pss_Anon than
 * Anonymous): process_vm_readv()'s pins would unshare them (said at -v3).
 */
struct page_writer_opts dump_pw_for(const struct page_writer_opts *pw, pid_t pid);
int dump_freeze_timed(struct pstree *t, pid_t pid, unsigned int flags, struct dump_result *res,
		      uint64_t *t_frozen);

/* dump_dir.c */
int dump_open_dirs(const struct dump_opts *o, char *staging, size_t len, int *dirfd, int *parent_fd,
		   int *sfd);
void dump_remove_dir(int parent, const char *name);
int dump_sync_images(int sfd, const char *dir);
int dump_publish(int dirfd, const char *staging, const char *dir);
int dump_link_parent(const struct dump_opts *o, int sfd);

#endif
