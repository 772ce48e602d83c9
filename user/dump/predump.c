// SPDX-License-Identifier: MIT
/*
 * `ferry pre-dump` (predump_tree, see dump.h): the frozen part (trackers
 * armed or attached, dirty bits read, pages planned), then the pages written
 * while the tree runs, and the images published. What it shares with the dump
 * is in dump.c (dump_priv.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "dump: "
#include "dirty_bpf.h"
#include "dump.h"
#include "dump_core.h"
#include "dump_mm.h"
#include "dump_priv.h"
#include "dump_shmem.h"
#include "log.h"
#include "progress.h"
#include "pstree.h"
#include "tracker.h"
#include "util.h"
#include "vma_iter.h"

/* A failure (not a kill) at a named point, for tests: FERRY_FAIL=name. */
static int fail_point(const char *name)
{
	const char *f = getenv("FERRY_FAIL");

	if (f && !strcmp(f, name)) {
		pr_err("fail point '%s': failing with EIO", name);
		return -EIO;
	}
	return 0;
}

/*
 * Pre-dump, frozen part: per process, arm or attach its tracker, read and
 * re-arm the dirty bits, and plan its pages.
 */
static int predump_frozen(const struct dump_opts *o, const struct pstree *t, int parent_fd,
			  struct tracker_opts *track, struct tracker **trk,
			  struct dump_mm_plan *plans, struct shmem_dump *shm,
			  struct dump_result *res)
{
	int err = 0;

	for (size_t i = 0; i < t->nr && !err; i++) {
		pid_t pid = t->procs[i].pid;
		struct tracker_round round = { 0 };
		struct dump_mm_incr inc = { 0 };
		struct page_run *prun = NULL;
		size_t nprun = 0;
		int use = 0;

		err = dump_interrupted();
		if (err)
			break;
		res->nr_threads += t->procs[i].nr_threads;
		/* A zombie has no memory: nothing to track or copy; it stays in the tree. */
		if (t->procs[i].zombie)
			continue;
		if (tracker_is_armed(pid)) {
			err = tracker_attach(&trk[i], pid);
			if (err == -ENOENT) {
				trk[i] = NULL;
				err = 0;
			}
			if (!err && trk[i])
				err = dump_incr_inputs(o, trk[i], parent_fd, pid, &round, &prun,
						       &nprun, &inc, &use, res);
		}
		if (!err && !trk[i]) {
			/* Arming protects every page: the first round copies them all. */
			struct tracker_opts to = o->track;

			err = tracker_arm(&trk[i], pid, i ? &to : track);
			if (err == -EOPNOTSUPP) {
				/* Neither uffd-wp async nor soft-dirty (see `ferry check`). */
				pr_warn("pid %d: no dirty-page tracking on this kernel: this pre-dump "
					"and every later one copy every page",
					pid);
				trk[i] = NULL;
				err = 0;
			} else if (!err && parent_fd >= 0) {
				pr_warn("pid %d: not tracked before: every page is copied", pid);
			}
		}
		if (!err)
			err = fail_point("predump-frozen");
		if (!err)
			err = dump_mm_plan_proc(pid, use ? &inc : NULL, shm, &plans[i]);
		tracker_round_free(&round);
		free(prun);
		fault_point("predump-frozen");
	}
	/* Read after the release: held open now, whatever the tree unmaps meanwhile. */
	if (!err)
		err = shmem_dump_open_all(shm);
	return err;
}

int predump_tree(const struct dump_opts *o, struct dump_result *res)
{
	struct tracker_opts root_track = o->track;
	struct page_writer_opts pw = o->pw;
	struct core_ids root_ids = { .vm_id = 1, .files_id = 2, .fs_id = 3, .sighand_id = 4 };
	struct dump_mm_plan *plans = NULL;
	struct page_buffers *bufs = NULL;
	struct tracker **trk = NULL;
	struct dump_preload pl = { 0 };
	struct shmem_dump *shm = NULL;
	struct shmem_dump_stats ss = { 0 };
	struct progress prog;
	char staging[64];
	struct pstree t;
	sigset_t old;
	uint64_t t_frozen;
	int dirfd = -1, sfd = -1, parent_fd = -1, err, frozen = 0;

	memset(res, 0, sizeof(*res));
	progress_start(&prog, o->progress, "pre-dump", 0);
	pw.progress = &prog;
	err = dump_open_dirs(o, staging, sizeof(staging), &dirfd, &parent_fd, &sfd);
	if (err)
		return err;
	dump_hold_signals(&old);

	err = shmem_dump_init(&shm);
	if (err)
		goto out_sig;
	dump_preload_start(&pl);
	/*
	 * Used once the tree runs again, but made now: no other work then (see
	 * struct dump_preload).
	 */
	err = dump_bufs_create(o, &bufs);
	if (err)
		goto out_sig;
	if (bufs)
		pw.bufs = bufs;
	/* The root's BPF side loads before the freeze (not needed if it is tracked already). */
	if (!tracker_is_armed(o->pid))
		tracker_load_bpf(o->pid, &root_track);
	/* Zombies are kept in the tree (pstree.img); the final dump writes their cores. */
	err = dump_freeze_timed(&t, o->pid, PSTREE_ZOMBIES, res, &t_frozen);
	if (err)
		goto out_sig;
	frozen = 1;
	res->nr_procs = t.nr;
	trk = calloc(t.nr, sizeof(*trk));
	plans = calloc(t.nr, sizeof(*plans));
	dump_preload_join(&pl);
	err = trk && plans ? predump_frozen(o, &t, parent_fd, &root_track, trk, plans, shm, res)
			   : -ENOMEM;
	if (root_track.loaded) {
		dirty_bpf_close(root_track.loaded);
		root_track.loaded = NULL;
	}
	if (err)
		dump_stop_trackers(t.nr, trk, 1);
	/* The pages are read while the tree runs: a write after the scan is in the next round. */
	pstree_release(&t);
	frozen = 0;
	res->frozen_us = mono_us() - t_frozen;
	if (err)
		goto out_stop;
	pr_info("released the tree of pid %d after %llu us; writing its pages", o->pid,
		(unsigned long long)res->frozen_us);

	pw.flags |= PAGE_WRITER_BUFFERED | PAGE_WRITER_NOSYNC | PAGE_WRITER_LIVE;
	for (size_t i = 0; i < t.nr; i++)
		prog.total += plans[i].pages_data * 4096;
	for (size_t i = 0; i < t.nr && !err; i++) {
		struct page_writer_stats st = { 0 };
		uint64_t t0 = mono_us();
		/* The tree goes on: its copy-on-write sharing must outlive the reads. */
		struct page_writer_opts pwp = dump_pw_for(&pw, t.procs[i].pid);

		if (t.procs[i].zombie)
			continue; /* no memory, no pagemap */
		err = dump_interrupted();
		if (!err)
			err = fail_point("predump-write");
		if (!err)
			err = dump_mm_write_plan(t.procs[i].pid, &plans[i], (uint32_t)(i + 1), sfd,
						 &pwp, &st);
		res->memdump_us += mono_us() - t0;
		res->memwrite_us += st.write_ns / 1000;
		res->pages_scanned += plans[i].pages_scanned;
		res->pages_written += st.pages_written;
		res->pages_parent += st.pages_parent;
		res->pages_vanished += st.pages_vanished;
		fault_point("predump-write");
	}
	/*
	 * Shared memory, compared with the chain's copy (dump_shmem_parent.h): the pages
	 * that differ are written; read while the tree runs, like the private pages.
	 */
	if (!err) {
		uint64_t t0 = mono_us();

		err = shmem_dump_write(shm, sfd, parent_fd, (uint32_t)(t.nr + 1), &pw,
				       SHMEM_DUMP_NO_SYSV, &ss);
		res->memdump_us += mono_us() - t0;
		res->pages_written += ss.pages_written;
		res->pages_parent += ss.pages_parent;
		if (!err && ss.objects)
			pr_info("shared memory: %llu object(s), %llu pages written, %llu unchanged",
				(unsigned long long)ss.objects,
				(unsigned long long)ss.pages_written,
				(unsigned long long)ss.pages_parent);
	}
	if (!err)
		err = dump_link_parent(o, sfd);
	if (!err)
		err = dump_write_pstree(&t, sfd);
	if (!err)
		err = dump_sync_images(sfd, o->dir);
	if (!err)
		err = dump_write_stats(sfd, res);
	if (!err)
		err = dump_write_inventory(sfd, &root_ids);
	if (!err)
		err = dump_publish(dirfd, staging, o->dir);
	if (err)
		goto out_stop;
	/* Tracking goes on; the next round is relative to this directory. */
	for (size_t i = 0; i < t.nr; i++) {
		if (trk[i] && tracker_save(trk[i], dirfd))
			pr_warn("pid %d: tracking goes on but its state was not saved: the next "
				"pre-dump copies every page",
				t.procs[i].pid);
		trk[i] = NULL;
	}
	goto out_free;

out_stop:
	pr_err("pre-dump of pid %d failed: %s; tracking is stopped and the tree continues", o->pid,
	       strerror(-err));
	dump_stop_trackers(t.nr, trk, frozen);
	if (frozen)
		pstree_release(&t);
out_free:
	for (size_t i = 0; plans && i < t.nr; i++)
		dump_mm_plan_free(&plans[i]);
	free(plans);
	free(trk);
	pstree_free(&t);
out_sig:
	shmem_dump_free(shm);
	progress_end(&prog);
	if (root_track.loaded)
		dirty_bpf_close(root_track.loaded);
	dump_preload_join(&pl);
	vma_iter_unload();
	page_buffers_destroy(bufs);
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(sfd);
	dump_remove_dir(dirfd, staging);
	if (parent_fd >= 0)
		close(parent_fd);
	close(dirfd);
	return err;
}
