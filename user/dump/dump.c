// SPDX-License-Identifier: MIT
/*
 * The dump orchestrator (see dump.h): dump_tree and what pre-dump shares with
 * it (the VMA iterator's preload, the tracker rounds, the buffer set, the
 * tree's images: pstree, stats, inventory; shared through dump_priv.h). The
 * images directory, staging and publish are dump_dir.c; pre-dump is
 * predump.c.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "dump: "
#include "dump.h"
#include "dump_attrs.h"
#include "dump_tcp.h"
#include "netlock.h"
#include "dump_check.h"
#include "dump_core.h"
#include "dump_files.h"
#include "dump_cgroup.h"
#include "dump_shmem.h"
#include "dump_mm.h"
#include "dump_priv.h"
#include "img.h"
#include "inventory.pb-c.h"
#include "log.h"
#include "util.h"
#include "proc_parse.h"
#include "pstree.h"
#include "progress.h"
#include "pstree.pb-c.h"
#include "stats.pb-c.h"
#include "tracker.h"
#include "vma_iter.h"

#define CRIU_IMAGES_V1_1 2 /* inventory img_version CRIU writes */

static void *preload_main(void *arg)
{
	(void)arg;
	vma_iter_preload(); /* a failure shows again, as a fallback, at first use */
	return NULL;
}

void dump_preload_start(struct dump_preload *p)
{
	p->started = !pthread_create(&p->thread, NULL, preload_main, NULL);
}

void dump_preload_join(struct dump_preload *p)
{
	if (p->started)
		pthread_join(p->thread, NULL);
	p->started = 0;
}

/* Signals that would end ferry are held while the tree is frozen, and checked between steps. */
int dump_interrupted(void)
{
	sigset_t pend;

	sigpending(&pend);
	if (sigismember(&pend, SIGINT) == 1 || sigismember(&pend, SIGTERM) == 1 ||
	    sigismember(&pend, SIGHUP) == 1) {
		pr_err("interrupted by a signal: giving up the dump");
		return -EINTR;
	}
	return 0;
}

int dump_write_pstree(const struct pstree *t, int dirfd)
{
	struct img *img;
	int err;

	err = img_create(&img, dirfd, "pstree.img", IMG_PSTREE);
	if (err)
		return err;
	for (size_t i = 0; i < t->nr && !err; i++) {
		const struct pproc *p = &t->procs[i];
		PstreeEntry e = PSTREE_ENTRY__INIT;
		uint32_t *th = calloc(p->nr_threads, sizeof(*th));

		if (!th) {
			err = -ENOMEM;
			break;
		}
		for (size_t k = 0; k < p->nr_threads; k++)
			th[k] = (uint32_t)p->tids[k];
		e.pid = (uint32_t)p->pid;
		/* The root's parent is outside the tree: CRIU writes 0. */
		e.ppid = p->parent < 0 ? 0 : (uint32_t)p->ppid;
		e.pgid = (uint32_t)p->pgid;
		e.sid = (uint32_t)p->sid;
		e.n_threads = p->nr_threads;
		e.threads = th;
		err = img_write_entry(img, &e.base);
		free(th);
	}
	if (err) {
		img_abort(img);
		return err;
	}
	return img_commit(img);
}

int dump_write_stats(int dirfd, const struct dump_result *r)
{
	DumpStatsEntry d = DUMP_STATS_ENTRY__INIT;
	StatsEntry s = STATS_ENTRY__INIT;

	d.freezing_time = (uint32_t)r->freezing_us;
	d.frozen_time = (uint32_t)r->frozen_us;
	d.memdump_time = (uint32_t)r->memdump_us;
	d.memwrite_time = (uint32_t)r->memwrite_us;
	d.pages_scanned = r->pages_scanned;
	d.pages_skipped_parent = r->pages_parent;
	d.pages_written = r->pages_written;
	d.pages_lazy = 0;
	s.dump = &d;
	return img_write_one(dirfd, "stats-dump", IMG_STATS, &s.base);
}

int dump_write_inventory(int dirfd, const struct core_ids *root)
{
	InventoryEntry inv = INVENTORY_ENTRY__INIT;
	TaskKobjIdsEntry ids = TASK_KOBJ_IDS_ENTRY__INIT;

	ids.vm_id = root->vm_id;
	ids.files_id = root->files_id;
	ids.fs_id = root->fs_id;
	ids.sighand_id = root->sighand_id;
	inv.img_version = CRIU_IMAGES_V1_1;
	inv.has_fdinfo_per_id = 1;
	inv.fdinfo_per_id = 1;
	inv.root_ids = &ids;
	inv.has_lsmtype = 1;
	inv.lsmtype = LSMTYPE__NO_LSM;
	return img_write_one(dirfd, "inventory.img", IMG_INVENTORY, &inv.base);
}

/*
 * Take over the tracking of the tracked processes of the frozen tree and
 * close their parked uffds, so that no image sees them.
 */
static int attach_trackers(const struct pstree *t, struct tracker **trk)
{
	int err = 0;

	for (size_t i = 0; i < t->nr && !err; i++) {
		if (t->procs[i].zombie)
			continue; /* no memory: nothing tracked */
		if (!tracker_is_armed(t->procs[i].pid)) {
			/* A uffd a killed ferry left parked is no fd of the program's. */
			err = tracker_drop_orphans(t->procs[i].pid);
			if (err > 0)
				err = 0;
			continue;
		}
		err = tracker_attach(&trk[i], t->procs[i].pid);
		if (err == -ENOENT) {
			trk[i] = NULL;
			err = 0;
			continue;
		}
		if (!err)
			err = tracker_unpark(trk[i]);
	}
	return err;
}

/* Stop every tracker (the tree is frozen: @stopped). */
void dump_stop_trackers(size_t n, struct tracker **trk, int stopped)
{
	for (size_t i = 0; trk && i < n; i++) {
		if (trk[i])
			tracker_stop(trk[i], stopped);
		trk[i] = NULL;
	}
}

/*
 * One process's round: read and re-arm its dirty bits, and when its last
 * round went to the parent directory, the inputs of an incremental pagemap
 * (*@use set). Without tracking, or after a round that went elsewhere,
 * every page is copied.
 */
int dump_incr_inputs(const struct dump_opts *o, struct tracker *trk, int parent_fd, pid_t pid,
		     struct tracker_round *round, struct page_run **prun, size_t *nprun,
		     struct dump_mm_incr *inc, int *use, struct dump_result *res)
{
	int err, parent_ok;

	*use = 0;
	if (!trk) {
		if (parent_fd >= 0)
			pr_warn("pid %d: not tracked since %s: every page is copied", pid,
				o->prev_dir);
		return 0;
	}
	/* Asked before the round, which forgets the last round's directory. */
	parent_ok = parent_fd >= 0 && tracker_parent_ok(trk, parent_fd);
	err = tracker_round(trk, round);
	if (err)
		return err;
	res->tracked_procs++;
	res->written_pages += round->written_pages;
	res->scan_name = tracker_scan_name(trk->mode);
	if (round->has_bpf) {
		res->has_bpf = 1;
		res->bpf_pages += round->bpf.distinct;
		res->bpf_faults += round->bpf.faults;
	}
	tracker_events_add(&res->ev, &round->ev);
	if (round->has_bpf)
		pr_info("pid %d: round %u: %llu pages written since the last round (%s), "
			"%llu (BPF write faults); %zu new VMA(s), %llu pages of untracked VMAs",
			pid, trk->round, (unsigned long long)round->written_pages, res->scan_name,
			(unsigned long long)round->bpf.distinct, round->new_vmas,
			(unsigned long long)round->untracked_pages);
	else
		pr_info("pid %d: round %u: %llu pages written since the last round (%s); "
			"%zu new VMA(s), %llu pages of untracked VMAs",
			pid, trk->round, (unsigned long long)round->written_pages, res->scan_name,
			round->new_vmas, (unsigned long long)round->untracked_pages);
	if (parent_fd < 0)
		return 0;
	if (!parent_ok) {
		pr_warn("pid %d: its last tracked round did not write %s: every page is copied",
			pid, o->prev_dir);
		return 0;
	}
	err = dump_mm_parent_runs(parent_fd, o->prev_dir, pid, prun, nprun);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	inc->dirty = round->dirty;
	inc->nr_dirty = round->nr_dirty;
	inc->parent = *prun;
	inc->nr_parent = *nprun;
	*use = 1;
	return 0;
}

/*
 * Resident anonymous pages (resident less shared, from statm) of @pid and its
 * descendants: what a dump of the tree will copy, roughly. Read before the
 * freeze, so only an estimate; a process that is gone counts 0.
 */
static uint64_t tree_anon_pages(pid_t pid, int depth)
{
	unsigned long long size, res, shared;
	uint64_t pages = 0;
	pid_t *kids = NULL;
	size_t nk = 0;
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/statm", pid);
	f = fopen(path, "re");
	if (f) {
		if (fscanf(f, "%llu %llu %llu", &size, &res, &shared) == 3 && res > shared)
			pages = res - shared;
		fclose(f);
	}
	if (depth < 64 && !proc_list_children(pid, &kids, &nk))
		for (size_t i = 0; i < nk; i++)
			pages += tree_anon_pages(kids[i], depth + 1);
	free(kids);
	return pages;
}

/*
 * The buffer set of a dump's page writers (see struct dump_preload), unless the
 * caller lends one in @o->pw.bufs. Unless @o->pw.nr_bufs says otherwise, it
 * has one 1 MiB buffer per MiB the tree holds, 4 to PAGE_WRITER_NR_BUFS:
 * registering them is most of the set's cost, and a small tree needs few. On
 * error nothing is left (*@pb NULL).
 */
int dump_bufs_create(const struct dump_opts *o, struct page_buffers **pb)
{
	struct page_writer_opts po = o->pw;
	uint64_t t0 = mono_us(), mib = 0;
	int err;

	*pb = NULL;
	if (o->pw.bufs)
		return 0;
	if (!po.nr_bufs && !po.buf_size) {
		uint64_t n;

		mib = (tree_anon_pages(o->pid, 0) * 4096 + (1 << 20) - 1) >> 20;
		n = mib < 4 ? 4 : mib;
		po.nr_bufs = (unsigned)(n < PAGE_WRITER_NR_BUFS ? n : PAGE_WRITER_NR_BUFS);
	}
	err = page_buffers_create(pb, &po);
	if (err) {
		pr_err("cannot set up the page buffers to dump pid %d: %s", o->pid, strerror(-err));
		return err;
	}
	pr_debug(
		"page buffers: %u x 1 MiB for about %llu MiB of anonymous memory, set up in %llu us",
		po.nr_bufs, (unsigned long long)mib, (unsigned long long)(mono_us() - t0));
	return 0;
}

/*
 * Does @pid share anonymous pages with another process (copy-on-write after
 * a fork)? Its smaps_rollup then has less proportional anonymous memory than
 * anonymous memory. 0 when it cannot tell (read with pins then: the sharing
 * may be lost, never the data). Its reads without pins are ~1.5x slower.
 */
static int shares_anon(pid_t pid)
{
	char path[64], line[128];
	long anon = -1, pss_anon = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "Anonymous:", 10))
			anon = atol(line + 10);
		else if (!strncmp(line, "Pss_Anon:", 9))
			pss_anon = atol(line + 9);
	}
	fclose(f);
	return anon > 0 && pss_anon >= 0 && pss_anon < anon;
}

struct page_writer_opts dump_pw_for(const struct page_writer_opts *pw, pid_t pid)
{
	struct page_writer_opts o = *pw;

	if (!(o.flags & PAGE_WRITER_NO_PIN) && shares_anon(pid)) {
		pr_info("pid %d: shares anonymous pages copy-on-write: read through /proc/%d/mem",
			pid, pid);
		o.flags |= PAGE_WRITER_NO_PIN;
	}
	return o;
}

/*
 * Everything written while the tree is frozen. *@filesp is the table of its
 * files, freed by the caller once it knows whether the tree goes on (what
 * was taken out of it, the bytes queued in its ptys, is put back then).
 */
static int dump_frozen(const struct dump_opts *o, const struct pstree *t, int sfd, int parent_fd,
		       struct tracker **trk, struct dump_result *res, struct core_ids *root_ids,
		       struct dump_preload *pl, struct page_buffers *bufs,
		       struct dump_mm_plan *plans, struct files_dump **filesp)
{
	struct files_dump_opts fo = { .shell_job = o->shell_job,
				      .file_locks = o->file_locks,
				      .ext_unix_sk = o->ext_unix_sk,
				      .tree = t };
	struct page_writer_opts pw = o->pw;
	struct files_dump *files = NULL;
	uint32_t *cg_sets = NULL;
	struct shmem_dump *shm = NULL;
	struct shmem_dump_stats ss = { 0 };
	uint64_t t_step[3] = { 0 };
	int err;

	if (bufs)
		pw.bufs = bufs;
	/*
	 * A tree that goes on after the dump is released once its memory is in the page
	 * cache and the images are synced after that (dump_tree); one that is killed keeps
	 * the O_DIRECT writer, which is the faster way to the disk.
	 */
	if (o->leave_running)
		pw.flags |= PAGE_WRITER_BUFFERED | PAGE_WRITER_NOSYNC;
	/* Established TCP connections: refused, or dumped into sfd (dump_tcp.h). */
	dump_tcp_setup(o->tcp_established, sfd);
	err = files_dump_init(&files, &fo);
	if (err)
		return err;
	*filesp = files;
	err = shmem_dump_init(&shm);
	if (err)
		goto out;
	/* Refuse every unsupported object, all named, before anything else is asked of the tree. */
	t_step[0] = mono_us();
	err = dump_check_tree(t, &fo, NULL);
	if (!err)
		err = files_dump_tree(files, t);
	/* Every established connection the preflight saw, locked at once before any is read. */
	if (!err)
		err = dump_tcp_lock_all();
	if (err)
		goto out;
	fault_point("frozen");
	t_step[1] = mono_us();
	cg_sets = calloc(t->nr ? t->nr : 1, sizeof(*cg_sets));
	err = cg_sets ? dump_cgroup_tree(t, sfd, cg_sets) : -ENOMEM;
	if (err)
		goto out;

	for (size_t i = 0; i < t->nr; i++) {
		const struct pproc *p = &t->procs[i];
		/*
		 * No namespace or CLONE_VM/CLONE_SIGHAND sharing: one object of each kind
		 * per process; an fd table or fs info is its first sharer's (CLONE_FILES,
		 * CLONE_FS).
		 */
		struct core_ids ids = { .vm_id = (uint32_t)(4 * i + 1),
					.files_id = (uint32_t)(4 * (size_t)p->files_of + 2),
					.fs_id = (uint32_t)(4 * (size_t)p->fs_of + 3),
					.sighand_id = (uint32_t)(4 * i + 4),
					.cg_set = cg_sets[i] };
		struct dump_mm_stats ms;
		uint64_t t0, t_core;

		err = dump_interrupted();
		if (err)
			goto out;
		if (p->zombie) {
			/* Nothing but its core: no memory, fds or threads left. */
			err = dump_core_zombie(p, sfd);
			if (err)
				goto out;
			continue;
		}
		if (!i)
			*root_ids = ids;
		t_core = mono_us();
		err = dump_core_proc(p, &ids, sfd);
		if (err)
			goto out;
		fault_point("core");
		/* One fdinfo image per fd table: its first sharer wrote a shared one. */
		err = p->files_of == (int)i ? files_dump_proc(files, p->pid, ids.files_id, sfd) : 0;
		if (!err && p->files_of != (int)i)
			pr_info("pid %d: shares the fd table of pid %d (CLONE_FILES): fdinfo-%u.img",
				p->pid, t->procs[p->files_of].pid, ids.files_id);
		if (!err)
			err = files_dump_fs(files, p->pid, sfd);
		if (err)
			goto out;
		fault_point("files");
		dump_preload_join(pl);
		t0 = mono_us();
		{
			struct tracker_round round = { 0 };
			struct dump_mm_incr inc = { 0 };
			struct page_run *prun = NULL;
			size_t nprun = 0;
			int use = 0;

			err = dump_incr_inputs(o, trk[i], parent_fd, p->pid, &round, &prun, &nprun,
					       &inc, &use, res);
			/* Its pages shared copy-on-write must not be unshared by the reads. */
			struct page_writer_opts pwp = dump_pw_for(&pw, p->pid);
			if (!err)
				err = dump_mm_proc(p->pid, (uint32_t)(i + 1), files, shm, sfd, &pwp,
						   use ? &inc : NULL, &ms,
						   plans ? &plans[i] : NULL);
			tracker_round_free(&round);
			free(prun);
		}
		pr_debug("pid %d: core and files %llu us, address space %llu us (%llu us scanning "
			 "pages)",
			 p->pid, (unsigned long long)(t0 - t_core),
			 (unsigned long long)(mono_us() - t0),
			 (unsigned long long)(ms.scan_ns / 1000));
		res->memdump_us += mono_us() - t0;
		res->memwrite_us += ms.pw.write_ns / 1000;
		res->pages_scanned += ms.pages_scanned;
		res->pages_written += ms.pw.pages_written;
		res->pages_parent += ms.pw.pages_parent;
		res->nr_vmas += ms.vmas;
		res->nr_threads += p->nr_threads;
		if (err)
			goto out;
		pr_info("pid %d: %zu thread(s), %llu VMAs (%s), %llu of %llu pages written", p->pid,
			p->nr_threads, (unsigned long long)ms.vmas,
			ms.vmas_bpf ? "BPF iterator" : "/proc/PID/smaps",
			(unsigned long long)ms.pw.pages_written,
			(unsigned long long)ms.pages_scanned);
		fault_point("mm");
	}
	res->nr_procs = t->nr;
	t_step[2] = mono_us();
	/* Shared memory once for the tree, its pages ids after the processes' ones. */
	err = files_dump_memfd_shmem(files, shm);
	{
		uint64_t t0 = mono_us();

		if (!err)
			err = shmem_dump_write(shm, sfd, parent_fd, (uint32_t)(t->nr + 1), &pw, 0,
					       &ss);
		res->memdump_us += mono_us() - t0;
	}
	res->pages_written += ss.pages_written;
	res->pages_parent += ss.pages_parent;
	if (ss.objects)
		pr_info("shared memory: %llu object(s), %llu pages written, %llu unchanged since "
			"the parent image set",
			(unsigned long long)ss.objects, (unsigned long long)ss.pages_written,
			(unsigned long long)ss.pages_parent);
	if (!err)
		err = dump_link_parent(o, sfd);
	if (!err)
		err = files_dump_commit(files, sfd);
	if (!err)
		err = dump_write_pstree(t, sfd);
	fault_point("images");
	pr_debug("frozen steps: preflight %llu us, processes %llu us, shared memory and the "
		 "tree's images %llu us",
		 (unsigned long long)(t_step[1] - t_step[0]),
		 (unsigned long long)(t_step[2] - t_step[1]),
		 (unsigned long long)(mono_us() - t_step[2]));
out:
	free(cg_sets);
	shmem_dump_free(shm);
	return err;
}
/* Hold the signals that would end ferry while a tree is frozen (see dump_interrupted()). */
void dump_hold_signals(sigset_t *old)
{
	sigset_t block;

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, old);
}

/* Freeze the tree of @pid (PSTREE_* @flags); res->freezing_us is how long it took, *@t_frozen when
 * it ended. */
int dump_freeze_timed(struct pstree *t, pid_t pid, unsigned int flags, struct dump_result *res,
		      uint64_t *t_frozen)
{
	uint64_t t_start = mono_us();
	int err = pstree_freeze_flags(t, pid, flags);

	if (err)
		return err;
	*t_frozen = mono_us();
	res->freezing_us = *t_frozen - t_start;
	res->freeze_start_us = t_start;
	return 0;
}

/*
 * One attempt of dump_tree: @bg copies the memory in the background
 * (dump_bg_copy), else while frozen. -EAGAIN: the background snapshot was
 * spoiled, nothing was published.
 */
static int dump_tree_once(const struct dump_opts *o_in, struct dump_result *res, int bg)
{
	struct dump_opts oo = *o_in, *o = &oo;
	struct progress prog;
	struct dump_mm_plan *plans = NULL;
	char staging[64];
	struct pstree t;
	struct core_ids root_ids = { 0 };
	struct dump_preload pl = { 0 };
	struct page_buffers *bufs = NULL;
	struct tracker **trk = NULL;
	struct files_dump *files = NULL;
	sigset_t old;
	uint64_t t_frozen;
	int dirfd = -1, sfd = -1, parent_fd = -1, err, frozen = 0, prev_sync = -1;

	memset(res, 0, sizeof(*res));
	progress_start(&prog, o->progress, "dump",
		       o->progress ? tree_anon_pages(o->pid, 0) * 4096 : 0);
	oo.pw.progress = &prog;
	err = dump_open_dirs(o, staging, sizeof(staging), &dirfd, &parent_fd, &sfd);
	if (err)
		return err;
	dump_hold_signals(&old);
	/*
	 * A tree that goes on is released before the disk syncs: the images written
	 * while it is frozen are synced with the pages files after the release
	 * (dump_sync_images), not one by one inside the frozen window.
	 */
	if (o->leave_running)
		prev_sync = img_sync_on_commit(0);

	/* Locks a ferry killed during its dump left behind (docs/tcp.md). */
	if (o->tcp_established)
		netlock_clean_stale();
	dump_preload_start(&pl);
	err = dump_bufs_create(o, &bufs);
	if (err)
		goto out_sig;
	/*
	 * The background snapshot's frozen window is short: the VMA iterator's
	 * load (tens of ms on a busy machine) is waited for before, not inside it.
	 */
	if (bg)
		dump_preload_join(&pl);
	err = dump_freeze_timed(&t, o->pid, PSTREE_ZOMBIES, res, &t_frozen);
	if (err)
		goto out_sig;
	frozen = 1;
	dump_attrs_cache(1); /* the tree is frozen: its smaps are read once */

	trk = calloc(t.nr, sizeof(*trk));
	if (bg)
		plans = calloc(t.nr ? t.nr : 1, sizeof(*plans));
	err = trk && (plans || !bg) ? attach_trackers(&t, trk) : -ENOMEM;
	if (!err)
		err = dump_frozen(o, &t, sfd, parent_fd, trk, res, &root_ids, &pl, bufs, plans,
				  &files);
	/*
	 * Tracking ends with the dump, whatever its outcome, while the tree is still
	 * frozen: its uffd is gone before the background snapshot registers its own.
	 */
	dump_stop_trackers(t.nr, trk, 1);
	dump_attrs_cache(0);
	if (!err && bg) {
		struct page_writer_opts pw = o->pw;

		/* The tree goes on: the bytes taken out of its ptys go back before it runs. */
		files_dump_free(files);
		files = NULL;
		/* ... and its connections are unlocked. */
		if (dump_tcp_resume())
			pr_err("the tree's TCP connections could not all be released (see above): ferry netlock clean");

		pw.bufs = bufs;
		pw.flags |= PAGE_WRITER_BUFFERED | PAGE_WRITER_NOSYNC;
		err = dump_bg_copy(&t, sfd, plans, &pw, res, t_frozen);
	}
	if (err)
		goto out_release;
	if (o->leave_running) {
		/* Its connections are unlocked before it goes on (a background copy: already). */
		if (!bg && dump_tcp_resume())
			pr_err("the tree's TCP connections could not all be released (see above): ferry netlock clean");
		/* Its memory is copied (into the page cache): it can go on while the disk syncs. */
		if (!bg) {
			/* Before it runs again: the bytes taken out of its ptys go back. */
			files_dump_free(files);
			files = NULL;
			pstree_release(&t);
			res->frozen_us = mono_us() - t_frozen;
		}
		pr_info("released the tree of pid %d; it continues", o->pid);
		err = dump_sync_images(sfd, o->dir);
		img_sync_on_commit(prev_sync);
		prev_sync = -1;
		if (err)
			goto out_failed;
	} else {
		res->frozen_us = mono_us() - t_frozen;
	}
	err = dump_write_stats(sfd, res);
	if (!err)
		err = dump_write_inventory(sfd, &root_ids);
	if (!err)
		err = dump_publish(dirfd, staging, o->dir);
	if (!err && !o->leave_running && o->hold)
		err = o->hold(o->hold_arg, o->dir);
	if (err)
		goto out_release;
	if (!o->leave_running) {
		files_dump_keep_taken(files);
		dump_tcp_silence();
		pstree_kill(&t);
		pr_info("killed the tree of pid %d", o->pid);
		/* Its sockets closed in repair mode: the peers wait, locked out, for the restore.
		 */
		if (dump_tcp_keep())
			pr_err("the dumped TCP connections stay locked by this ferry's tables; the next dump, restore or ferry netlock clean keeps them");
	}
	goto out_free;

out_release:
	dump_tcp_abort();
	/* Before it runs again: the bytes taken out of its ptys go back. */
	files_dump_free(files);
	files = NULL;
	pstree_release(&t);
out_failed:
	pr_err("dump of pid %d failed: %s; the tree was released and continues", o->pid,
	       strerror(-err));
out_free:
	for (size_t i = 0; plans && i < t.nr; i++)
		dump_mm_plan_free(&plans[i]);
	free(plans);
	files_dump_free(files);
	if (frozen)
		pstree_free(&t);
	free(trk);
out_sig:
	progress_end(&prog);
	if (prev_sync >= 0)
		img_sync_on_commit(prev_sync);
	dump_preload_join(&pl);
	vma_iter_unload();
	page_buffers_destroy(bufs);
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(sfd);
	if (parent_fd >= 0)
		close(parent_fd);
	dump_remove_dir(dirfd, staging);
	close(dirfd);
	return err;
}

int dump_tree(const struct dump_opts *o, struct dump_result *res)
{
	int bg = o->leave_running && !o->frozen_copy, err;

	err = dump_tree_once(o, res, bg);
	if (err == -EAGAIN && bg) {
		pr_info("pid %d: the tree changed its memory map under the background copy: taking "
			"the dump again, its memory copied while it is frozen",
			o->pid);
		err = dump_tree_once(o, res, 0);
		res->bg_retried = 1;
	}
	if (!res->copy_path)
		res->copy_path = "frozen";
	return err;
}
