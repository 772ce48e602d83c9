// SPDX-License-Identifier: MIT
/*
 * The dirty-page tracker: uffd-wp async + PAGEMAP_SCAN, parked uffd, pinned
 * BPF; soft-dirty where uffd-wp async is missing (see tracker.h). This file
 * arms, reads and re-arms (rounds), attaches and stops; the state between
 * runs is tracker_state.c's, the parked userfaultfd tracker_uffd.c's.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "compat.h"
#include "proc_fdinfo.h"
#include "proc_parse.h"
#include "rsys.h"
#include "soft_dirty.h"
#include "track_watch.h"
#include "tracker.h"
#include "uffd.h"
#include "util.h"

#define LOG_PREFIX "track: "
#include "log.h"
#include "tracker_priv.h"

static void tracker_free(struct tracker *t)
{
	if (!t)
		return;
	if (t->bpf)
		dirty_bpf_close(t->bpf);
	if (t->uffd >= 0)
		close(t->uffd);
	if (t->pagemap_fd >= 0)
		close(t->pagemap_fd);
	free(t->ranges);
	free(t);
}

static struct tracker *tracker_new(pid_t pid)
{
	struct tracker *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	t->pid = pid;
	t->uffd = t->parked_fd = t->pagemap_fd = -1;
	return t;
}

static int open_pagemap(struct tracker *t)
{
	t->pagemap_fd = proc_open_pagemap(t->pid);
	return t->pagemap_fd < 0 ? t->pagemap_fd : 0;
}

/* A VMA ferry registers: private, writable, ordinary memory. */
static int vma_trackable(const struct vma_rec *v)
{
	if (v->vm_flags &
	    (VMA_VM_SHARED | VMA_VM_MAYSHARE | VMA_VM_PFNMAP | VMA_VM_IO | VMA_VM_HUGETLB))
		return 0;
	if (v->kind & (VMA_KIND_VDSO | VMA_KIND_SPECIAL))
		return 0;
	return !!(v->vm_flags & VMA_VM_WRITE);
}

/* Memory a dump never takes as private pages: shared, special, I/O mappings. */
static int vma_ignored(const struct vma_rec *v)
{
	return (v->vm_flags & (VMA_VM_SHARED | VMA_VM_MAYSHARE | VMA_VM_PFNMAP | VMA_VM_IO)) ||
	       (v->kind & (VMA_KIND_VDSO | VMA_KIND_SPECIAL));
}

static int add_range(struct tracker *t, size_t *cap, uint64_t start, uint64_t end)
{
	if (t->nr_ranges && t->ranges[t->nr_ranges - 1].end == start) {
		t->ranges[t->nr_ranges - 1].end = end;
		return 0;
	}
	if (t->nr_ranges == *cap) {
		size_t ncap = *cap ? *cap * 2 : 64;
		struct dirty_bpf_range *n = realloc(t->ranges, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		t->ranges = n;
		*cap = ncap;
	}
	t->ranges[t->nr_ranges].start = start;
	t->ranges[t->nr_ranges].end = end;
	t->nr_ranges++;
	return 0;
}

static int add_dirty(struct tracker_round *r, uint64_t start, uint64_t end)
{
	return page_runs_append(&r->dirty, &r->nr_dirty, &r->cap_dirty, start,
				(end - start) / TRK_PAGE);
}

/* Register and protect one VMA; -errno if the kernel refuses it. */
static int track_vma(struct tracker *t, const struct vma_rec *v)
{
	uint64_t ioctls = 0;
	int err;

	err = uffd_register(t->uffd, v->start, v->end - v->start, UFFDIO_REGISTER_MODE_WP, &ioctls);
	if (err) {
		pr_debug("pid %d: VMA %#llx-%#llx not registered: %s", t->pid,
			 (unsigned long long)v->start, (unsigned long long)v->end, strerror(-err));
		return err;
	}
	/* The scan protects every page, present or not (WP_UNPOPULATED markers). */
	{
		struct page_run *runs = NULL;
		size_t nr = 0, cap = 0;

		err = uffd_scan_written(t->pagemap_fd, v->start, v->end, 1, &runs, &nr, &cap, NULL);
		free(runs);
	}
	if (err)
		pr_debug("pid %d: VMA %#llx-%#llx registered but not protected: %s", t->pid,
			 (unsigned long long)v->start, (unsigned long long)v->end, strerror(-err));
	return err;
}

/*
 * uffd-wp: scan (and re-arm) the registered VMAs, register the new trackable
 * ones. With @r NULL only registers (arming). Rebuilds t->ranges.
 */
static int walk_uffd(struct tracker *t, struct tracker_round *r, const struct vma_rec *vmas,
		     size_t n)
{
	size_t cap = 0;
	int err = 0;

	for (size_t i = 0; i < n && !err; i++) {
		const struct vma_rec *v = &vmas[i];
		uint64_t pages = (v->end - v->start) / TRK_PAGE, found = 0, t0 = mono_ns();
		struct page_run *dummy = NULL;
		size_t dn = 0, dc = 0;

		if (vma_ignored(v))
			continue;
		if (r) {
			size_t first = r->nr_written;

			err = uffd_scan_written(t->pagemap_fd, v->start, v->end, 1, &r->written,
						&r->nr_written, &r->cap_written, &found);
			/* A run merged into the previous VMA's last one is added again: harmless.
			 */
			for (size_t k = first ? first - 1 : 0; !err && k < r->nr_written; k++)
				err = add_dirty(r, r->written[k].start,
						r->written[k].start +
							r->written[k].nr_pages * TRK_PAGE);
		} else
			err = uffd_scan_written(t->pagemap_fd, v->start, v->end, 0, &dummy, &dn,
						&dc, NULL);
		free(dummy);
		if (r)
			r->scan_ns += mono_ns() - t0;
		if (!err) {
			if (r) {
				r->written_pages += found;
				r->tracked_pages += pages;
				r->tracked_vmas++;
			}
			err = add_range(t, &cap, v->start, v->end);
			continue;
		}
		if (err != -EPERM) {
			pr_errno(err, "pid %d: PAGEMAP_SCAN of %#llx-%#llx", t->pid,
				 (unsigned long long)v->start, (unsigned long long)v->end);
			break;
		}
		err = 0;
		/* Not registered: new since the last round, moved, or not trackable. */
		if (vma_trackable(v) && !track_vma(t, v)) {
			err = add_range(t, &cap, v->start, v->end);
			if (r)
				r->new_vmas++;
		} else if (r) {
			r->untracked_vmas++;
		}
		if (r && !err) {
			r->untracked_pages += pages;
			err = add_dirty(r, v->start, v->end);
		}
	}
	return err;
}

/*
 * soft-dirty: read the bits of every VMA a dump takes (with @r), then clear
 * them all (arming too). Every such VMA is tracked: the bits work on any
 * mapping, and a VMA mapped since the last clear reads all dirty. The
 * writable private ones are the "written" pages and the BPF ranges.
 */
static int walk_soft_dirty(struct tracker *t, struct tracker_round *r, const struct vma_rec *vmas,
			   size_t n)
{
	struct page_run *runs = NULL;
	uint64_t t0 = mono_ns();
	size_t cap = 0, nr = 0, rcap = 0;
	int err = 0;

	for (size_t i = 0; i < n && !err; i++) {
		const struct vma_rec *v = &vmas[i];
		int writable = vma_trackable(v);
		uint64_t found = 0;

		if (vma_ignored(v))
			continue;
		if (writable)
			err = add_range(t, &cap, v->start, v->end);
		if (err || !r)
			continue;
		r->tracked_pages += (v->end - v->start) / TRK_PAGE;
		r->tracked_vmas++;
		nr = 0;
		err = soft_dirty_scan(t->pagemap_fd, v->start, v->end, &runs, &nr, &rcap, &found);
		for (size_t k = 0; !err && k < nr; k++) {
			err = add_dirty(r, runs[k].start,
					runs[k].start + runs[k].nr_pages * TRK_PAGE);
			if (!err && writable)
				err = page_runs_append(&r->written, &r->nr_written, &r->cap_written,
						       runs[k].start, runs[k].nr_pages);
		}
		if (writable)
			r->written_pages += found;
	}
	free(runs);
	if (!err)
		err = soft_dirty_clear(t->pid);
	if (r)
		r->scan_ns += mono_ns() - t0;
	return err;
}

/* Walk the VMAs in the tracker's mode; rebuilds t->ranges and gives them to BPF. */
static int walk_vmas(struct tracker *t, struct tracker_round *r)
{
	struct vma_rec *vmas = NULL;
	size_t n = 0;
	int err;

	err = proc_read_vmas(t->pid, &vmas, &n, NULL);
	if (err) {
		pr_errno(err, "pid %d: cannot list its VMAs", t->pid);
		return err;
	}
	t->nr_ranges = 0;
	if (t->mode == TRACKER_SOFT_DIRTY)
		err = walk_soft_dirty(t, r, vmas, n);
	else
		err = walk_uffd(t, r, vmas, n);
	free(vmas);
	if (!err && t->bpf) {
		err = dirty_bpf_set_ranges(t->bpf, t->ranges, t->nr_ranges);
		if (err) {
			pr_warn("pid %d: BPF range table (%zu ranges): %s; BPF counts are off",
				t->pid, t->nr_ranges, strerror(-err));
			dirty_bpf_close(t->bpf);
			t->bpf = NULL;
			err = 0;
		}
	}
	return err;
}

static int count_event(const struct dt_vma_event *e, void *arg)
{
	struct tracker_events *ev = arg;

	switch (e->nr) {
	case __NR_mmap:
		ev->mmap++;
		break;
	case __NR_munmap:
		ev->munmap++;
		break;
	case __NR_mremap:
		ev->mremap++;
		break;
	case __NR_mprotect:
		ev->mprotect++;
		break;
	case __NR_brk:
		ev->brk++;
		break;
	case __NR_madvise:
		ev->madvise++;
		if (!e->ret && (e->args[2] == TRK_MADV_DONTNEED || e->args[2] == TRK_MADV_FREE ||
				e->args[2] == TRK_MADV_REMOVE))
			ev->dontneed_pages += (e->args[1] + TRK_PAGE - 1) / TRK_PAGE;
		break;
	default:
		ev->shm++;
		break;
	}
	return 0;
}

void tracker_events_add(struct tracker_events *dst, const struct tracker_events *src)
{
	dst->mmap += src->mmap;
	dst->munmap += src->munmap;
	dst->mremap += src->mremap;
	dst->mprotect += src->mprotect;
	dst->brk += src->brk;
	dst->madvise += src->madvise;
	dst->shm += src->shm;
	dst->dontneed_pages += src->dontneed_pages;
	dst->drops += src->drops;
}

int tracker_round(struct tracker *t, struct tracker_round *r)
{
	int err;

	memset(r, 0, sizeof(*r));
	/*
	 * The scan re-arms the pages it reports: from here on "unchanged since
	 * the last round" no longer refers to the last round's directory. The
	 * state says so until the caller saves the new one, so that a ferry
	 * killed in between leaves a full copy, not a wrong chain, for the next.
	 */
	if (t->last_ino) {
		t->last_dev = t->last_ino = 0;
		err = trk_write_state(t);
		if (err)
			return err;
	}
	if (t->bpf) {
		err = dirty_bpf_drain_events(t->bpf, count_event, &r->ev);
		if (!err)
			err = dirty_bpf_next_interval(t->bpf, &r->bpf, NULL, 0);
		if (err) {
			pr_warn("pid %d: cannot read the BPF tracker: %s", t->pid, strerror(-err));
		} else {
			r->has_bpf = 1;
			r->ev.drops = r->bpf.drops;
		}
	}
	err = walk_vmas(t, r);
	if (err)
		return err;
	t->round++;
	pr_debug("pid %d: round %u: %" PRIu64 " pages written in %zu tracked VMAs, %zu new and %zu "
		 "untracked VMAs (%" PRIu64 " pages)",
		 t->pid, t->round, r->written_pages, r->tracked_vmas, r->new_vmas,
		 r->untracked_vmas, r->untracked_pages);
	return 0;
}

void tracker_round_free(struct tracker_round *r)
{
	free(r->dirty);
	free(r->written);
	r->dirty = r->written = NULL;
	r->nr_dirty = r->cap_dirty = r->nr_written = r->cap_written = 0;
}

void tracker_load_bpf(pid_t pid, struct tracker_opts *o)
{
	struct dirty_bpf_opts bo = o->bpf;
	int err;

	o->loaded = NULL;
	if (o->no_bpf)
		return;
	bo.tgid = pid;
	err = dirty_bpf_open(&o->loaded, &bo);
	if (err) {
		pr_warn("pid %d: BPF write-fault tracking unavailable (%s); tracking with "
			"uffd-wp + PAGEMAP_SCAN only",
			pid, strerror(-err));
		o->loaded = NULL;
	}
}

static void take_bpf(struct tracker *t, struct tracker_opts *o)
{
	struct tracker_opts mine = { 0 };
	char dir[128];
	int err;

	if (o && o->loaded && dirty_bpf_tgid(o->loaded) == t->pid) {
		t->bpf = o->loaded;
		o->loaded = NULL;
	} else {
		if (o)
			mine = *o;
		mine.loaded = NULL;
		tracker_load_bpf(t->pid, &mine);
		t->bpf = mine.loaded;
	}
	if (!t->bpf)
		return;
	trk_pin_path(t->pid, dir, sizeof(dir));
	err = dirty_bpf_pin(t->bpf, dir);
	if (err)
		pr_warn("pid %d: cannot pin the BPF tracker at %s (%s); it lasts as long as this "
			"ferry",
			t->pid, dir, strerror(-err));
}

/*
 * The target makes a userfaultfd, ferry takes it, asks for async WP and
 * protects every writable private VMA. -EOPNOTSUPP if the kernel cannot
 * (logged as an error unless @quiet, when the caller has a fallback).
 */
static int arm_uffd(struct tracker *t, int quiet)
{
	uint64_t got = 0;
	int err;

	t->parked_fd = trk_remote_uffd(t->pid);
	if (t->parked_fd < 0) {
		err = t->parked_fd;
		t->parked_fd = -1;
		return err;
	}
	fault_point("arm-parked");
	t->uffd = rsys_getfd(t->pid, t->parked_fd);
	if (t->uffd < 0) {
		err = t->uffd;
		t->uffd = -1;
		return err;
	}
	err = uffd_api(t->uffd, TRK_FEATURES, &got);
	if (err) {
		if (quiet)
			pr_info("pid %d: no UFFD_FEATURE_WP_ASYNC|WP_UNPOPULATED on this kernel "
				"(6.7+): trying soft-dirty",
				t->pid);
		else
			pr_err("pid %d: userfaultfd without UFFD_FEATURE_WP_ASYNC|WP_UNPOPULATED "
			       "(%s): this kernel (< 6.7?) cannot track with uffd-wp",
			       t->pid, strerror(-err));
		return -EOPNOTSUPP;
	}
	err = walk_vmas(t, NULL);
	if (err == -ENOTTY) {
		if (quiet)
			pr_info("pid %d: no PAGEMAP_SCAN on this kernel (6.7+): trying soft-dirty",
				t->pid);
		else
			pr_err("pid %d: no PAGEMAP_SCAN on this kernel (6.7+)", t->pid);
		err = -EOPNOTSUPP;
	}
	return err;
}

/* Undo arm_uffd: the parked copy closed in the target, ours closed (all unregistered). */
static int drop_uffd(struct tracker *t)
{
	int err = tracker_unpark(t);

	if (err) {
		pr_errno(err, "pid %d: cannot close the userfaultfd parked at its fd %d", t->pid,
			 t->parked_fd);
		return err;
	}
	if (t->uffd >= 0)
		close(t->uffd);
	t->uffd = -1;
	t->nr_ranges = 0;
	return 0;
}

static int arm_soft_dirty(struct tracker *t, const char *neither)
{
	if (!soft_dirty_supported()) {
		pr_err("pid %d: this kernel has %ssoft-dirty bits (CONFIG_MEM_SOFT_DIRTY): no "
		       "dirty-page tracking",
		       t->pid, neither);
		return -EOPNOTSUPP;
	}
	return walk_vmas(t, NULL);
}

int tracker_arm(struct tracker **out, pid_t pid, struct tracker_opts *o)
{
	enum tracker_mode mode = o ? o->mode : TRACKER_AUTO;
	struct proc_stat ps;
	struct tracker *t;
	int err;

	trk_sweep_once();
	if (tracker_is_armed(pid)) {
		struct trk_state s;

		/* A state file of a process that is gone, or of an earlier owner of the pid. */
		if (!trk_read_state(pid, &s) && !proc_parse_stat(pid, 0, &ps) &&
		    ps.starttime == s.starttime) {
			pr_err("pid %d is tracked already (%s/%d)", pid, TRACK_STATE_DIR, pid);
			return -EEXIST;
		}
		trk_remove_state(pid);
	}
	err = proc_parse_stat(pid, 0, &ps);
	if (err)
		return err;
	err = tracker_drop_orphans(pid);
	if (err < 0)
		return err;
	t = tracker_new(pid);
	if (!t)
		return -ENOMEM;
	t->starttime = ps.starttime;
	err = open_pagemap(t);
	if (err)
		goto err;
	if (!o || !o->no_bpf)
		take_bpf(t, o);
	if (mode != TRACKER_SOFT_DIRTY) {
		t->mode = TRACKER_UFFD_WP;
		err = arm_uffd(t, mode == TRACKER_AUTO);
		if (err == -EOPNOTSUPP && mode == TRACKER_AUTO) {
			err = drop_uffd(t);
			mode = TRACKER_SOFT_DIRTY;
		}
	}
	if (!err && mode == TRACKER_SOFT_DIRTY) {
		t->mode = TRACKER_SOFT_DIRTY;
		err = arm_soft_dirty(t, o && o->mode == TRACKER_AUTO ? "neither uffd-wp async nor "
								     : "");
	}
	if (err)
		goto err;
	/* Counters start now: what BPF saw while arming is not a round's. */
	if (t->bpf) {
		struct dirty_bpf_counts c;
		struct tracker_events ev = { 0 };

		dirty_bpf_drain_events(t->bpf, count_event, &ev);
		dirty_bpf_next_interval(t->bpf, &c, NULL, 0);
	}
	err = trk_write_state(t);
	if (err)
		goto err;
	/* Tracking ends with the target, whether or not ferry runs then. */
	track_watch_start(pid);
	if (t->mode == TRACKER_SOFT_DIRTY)
		pr_info("pid %d: tracking armed with soft-dirty bits: %zu writable ranges, bits "
			"cleared%s",
			pid, t->nr_ranges, t->bpf ? ", BPF attached" : "");
	else
		pr_info("pid %d: tracking armed: %zu ranges write-protected, uffd parked at fd %d%s",
			pid, t->nr_ranges, t->parked_fd, t->bpf ? ", BPF attached" : "");
	*out = t;
	return 0;
err:
	tracker_stop(t, 1);
	return err;
}

int tracker_attach(struct tracker **out, pid_t pid)
{
	struct trk_state s;
	struct proc_stat ps;
	struct tracker *t;
	char dir[128];
	int err;

	trk_sweep_once();
	err = trk_read_state(pid, &s);
	if (err == -ENOENT)
		return -ENOENT;
	if (err)
		goto stale;
	err = proc_parse_stat(pid, 0, &ps);
	if (err == -ESRCH || (!err && ps.starttime != s.starttime)) {
		pr_info("pid %d: tracking state of an earlier process with this pid: removed", pid);
		goto stale;
	}
	if (err)
		return err;
	t = tracker_new(pid);
	if (!t)
		return -ENOMEM;
	t->mode = s.mode;
	t->starttime = s.starttime;
	t->parked_fd = s.parked_fd;
	t->round = s.round;
	t->last_dev = s.last_dev;
	t->last_ino = s.last_ino;
	err = open_pagemap(t);
	if (err)
		goto err;
	if (t->mode == TRACKER_UFFD_WP)
		t->uffd = rsys_getfd(pid, s.parked_fd);
	if (t->mode == TRACKER_UFFD_WP && (t->uffd < 0 || !trk_is_uffd(t->uffd))) {
		pr_warn("pid %d: its fd %d is no longer the userfaultfd ferry parked there; "
			"tracking was lost",
			pid, s.parked_fd);
		t->parked_fd = -1; /* not ours to close */
		tracker_free(t);
		goto stale;
	}
	if (s.bpf) {
		trk_pin_path(pid, dir, sizeof(dir));
		err = dirty_bpf_open_pinned(&t->bpf, dir);
		if (err) {
			pr_warn("pid %d: pinned BPF tracker at %s: %s; going on without it", pid,
				dir, strerror(-err));
			t->bpf = NULL;
		}
	}
	*out = t;
	return 0;
err:
	tracker_free(t);
	return err;
stale:
	trk_remove_state(pid);
	trk_pin_path(pid, dir, sizeof(dir));
	dirty_bpf_unpin(dir);
	return -ENOENT;
}

int tracker_unpark(struct tracker *t)
{
	int err;

	if (t->parked_fd < 0)
		return 0;
	err = trk_remote_close(t->pid, t->parked_fd);
	if (!err)
		t->parked_fd = -1;
	return err;
}

int tracker_parent_ok(const struct tracker *t, int dirfd)
{
	struct stat st;

	if (!t->last_ino || fstat(dirfd, &st))
		return 0;
	return (uint64_t)st.st_dev == t->last_dev && (uint64_t)st.st_ino == t->last_ino;
}

int tracker_save(struct tracker *t, int dirfd)
{
	struct stat st;
	int err;

	if (dirfd >= 0 && !fstat(dirfd, &st)) {
		t->last_dev = (uint64_t)st.st_dev;
		t->last_ino = (uint64_t)st.st_ino;
	}
	err = trk_write_state(t);
	tracker_free(t);
	return err;
}

/* Seize and stop the leader for one remote call, then let it go. */
static int unpark_unstopped(struct tracker *t)
{
	int err = rsys_seize(t->pid);

	if (err) {
		pr_errno(err, "pid %d: cannot stop it to close its parked userfaultfd", t->pid);
		return err;
	}
	err = tracker_unpark(t);
	rsys_detach(t->pid);
	return err;
}

int tracker_stop(struct tracker *t, int stopped)
{
	char dir[128];
	int err = 0, e;

	if (!t)
		return 0;
	if (t->parked_fd >= 0) {
		e = stopped ? tracker_unpark(t) : unpark_unstopped(t);
		if (e == -ESRCH)
			e = 0; /* gone: its fd table went with it */
		if (e) {
			pr_warn("pid %d: its parked userfaultfd (fd %d) stays open: tracking goes on "
				"until it exits",
				t->pid, t->parked_fd);
			err = e;
		}
	}
	if (t->bpf) {
		dirty_bpf_close(t->bpf);
		t->bpf = NULL;
	}
	trk_pin_path(t->pid, dir, sizeof(dir));
	e = dirty_bpf_unpin(dir);
	if (e && e != -ENOENT && !err)
		err = e;
	trk_remove_state(t->pid);
	tracker_free(t); /* closing ferry's uffd unregisters and unprotects */
	return err;
}

int tracker_stop_pid(pid_t pid, int stopped)
{
	struct tracker *t;
	int err = tracker_attach(&t, pid);

	if (err == -ENOENT && !trk_still_runs(pid, 0)) {
		/* Gone: nothing of it is tracked any more (attach removed what was left). */
		trk_remove_leftovers(pid, "is gone");
		return 0;
	}
	if (err)
		return err;
	return tracker_stop(t, stopped);
}
