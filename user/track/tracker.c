// SPDX-License-Identifier: MIT
/*
 * The dirty-page tracker: uffd-wp async + PAGEMAP_SCAN, parked uffd, pinned
 * BPF; soft-dirty where uffd-wp async is missing (see tracker.h).
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

#define TRK_PAGE 4096ULL
#define TRK_FEATURES (UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED)

/* x86_64 madvise advice values that drop pages. */
#define TRK_MADV_DONTNEED 4
#define TRK_MADV_FREE 8
#define TRK_MADV_REMOVE 9

const char *tracker_mode_name(enum tracker_mode m)
{
	switch (m) {
	case TRACKER_UFFD_WP:
		return "uffd-wp";
	case TRACKER_SOFT_DIRTY:
		return "soft-dirty";
	default:
		return "auto";
	}
}

int tracker_mode_parse(const char *s, enum tracker_mode *m)
{
	for (int i = TRACKER_AUTO; i <= TRACKER_SOFT_DIRTY; i++) {
		if (!strcmp(s, tracker_mode_name((enum tracker_mode)i))) {
			*m = (enum tracker_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *tracker_scan_name(enum tracker_mode m)
{
	return m == TRACKER_SOFT_DIRTY ? "soft-dirty" : "PAGEMAP_SCAN";
}

static void state_path(pid_t pid, char *buf, size_t len)
{
	snprintf(buf, len, TRACK_STATE_DIR "/%d", pid);
}

static void pin_path(pid_t pid, char *buf, size_t len)
{
	snprintf(buf, len, TRACK_BPF_DIR "/track-%d", pid);
}

static int write_state(const struct tracker *t)
{
	char path[128], tmp[160], line[256];
	int fd, err, n;

	err = mkdir_p(TRACK_STATE_DIR);
	if (err) {
		pr_errno(err, "cannot create %s", TRACK_STATE_DIR);
		return err;
	}
	state_path(t->pid, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	n = snprintf(line, sizeof(line),
		     "pid %d\nstarttime %" PRIu64 "\nparked_fd %d\nround %u\nlast_dir %" PRIu64
		     " %" PRIu64 "\nbpf %d\nmode %s\n",
		     t->pid, t->starttime, t->parked_fd, t->round, t->last_dev, t->last_ino,
		     t->bpf != NULL, tracker_mode_name(t->mode));
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		pr_perror("cannot create %s", tmp);
		return err;
	}
	err = write_full(fd, line, (size_t)n);
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err) {
		pr_errno(err, "cannot write %s", path);
		unlink(tmp);
	}
	return err;
}

struct trk_state {
	pid_t pid;
	enum tracker_mode mode;
	uint64_t starttime, last_dev, last_ino;
	int parked_fd, bpf;
	unsigned round;
};

static int read_state(pid_t pid, struct trk_state *s)
{
	char path[128], mode[16] = "";
	FILE *f;
	int n;

	state_path(pid, path, sizeof(path));
	f = fopen(path, "re");
	if (!f)
		return -errno;
	memset(s, 0, sizeof(*s));
	n = fscanf(f,
		   "pid %d\nstarttime %" SCNu64 "\nparked_fd %d\nround %u\nlast_dir %" SCNu64
		   " %" SCNu64 "\nbpf %d\nmode %15s",
		   &s->pid, &s->starttime, &s->parked_fd, &s->round, &s->last_dev, &s->last_ino,
		   &s->bpf, mode);
	fclose(f);
	if (n != 8 || s->pid != pid || tracker_mode_parse(mode, &s->mode) ||
	    s->mode == TRACKER_AUTO || (s->mode == TRACKER_UFFD_WP) != (s->parked_fd >= 0)) {
		pr_err("%s: malformed tracking state (%d fields)", path, n);
		return -EINVAL;
	}
	return 0;
}

static void remove_state(pid_t pid)
{
	char path[128];

	state_path(pid, path, sizeof(path));
	if (unlink(path) && errno != ENOENT)
		pr_warn("cannot remove %s: %s", path, strerror(errno));
}

static int tracker_state_exists(pid_t pid);

/*
 * The tracked process @pid with @starttime (0: any) still runs: not gone, not
 * a zombie, not a newer process that took its pid. Returns 1 or 0.
 */
static int still_runs(pid_t pid, uint64_t starttime)
{
	struct proc_stat ps;
	int err = proc_parse_stat(pid, 0, &ps);

	if (err == -ESRCH || (!err && (ps.state == 'Z' || ps.state == 'X')))
		return 0;
	if (!err && starttime && ps.starttime != starttime)
		return 0;
	return 1; /* or unreadable: not ours to remove */
}

/* Remove what tracking of @pid left: its state file and its pinned BPF. */
static void remove_leftovers(pid_t pid, const char *why)
{
	char dir[128];
	int had_state = tracker_state_exists(pid), e;

	remove_state(pid);
	pin_path(pid, dir, sizeof(dir));
	e = dirty_bpf_unpin(dir);
	if (had_state || !e)
		pr_info("pid %d %s: its tracking (%s%s) removed", pid, why,
			had_state ? "state file" : "",
			!e ? (had_state ? ", pinned BPF" : "pinned BPF") : "");
}

/* A name in TRACK_STATE_DIR or TRACK_BPF_DIR ("track-PID") as a pid, or 0. */
static pid_t name_pid(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);
	char *end;
	long v;

	if (strncmp(name, prefix, n) || !name[n])
		return 0;
	v = strtol(name + n, &end, 10);
	return *end || v <= 0 || v > INT32_MAX ? 0 : (pid_t)v;
}

int tracker_sweep(void)
{
	static const struct {
		const char *dir, *prefix;
	} where[] = { { TRACK_STATE_DIR, "" }, { TRACK_BPF_DIR, "track-" } };
	struct trk_state s;
	struct dirent *de;
	int removed = 0;
	pid_t pid;
	DIR *d;

	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		d = opendir(where[i].dir);
		if (!d)
			continue;
		while ((de = readdir(d))) {
			pid = name_pid(de->d_name, where[i].prefix);
			if (!pid)
				continue;
			/* A state file names the process; pins alone only the pid. */
			if (read_state(pid, &s))
				s.starttime = 0;
			if (still_runs(pid, s.starttime))
				continue;
			remove_leftovers(pid, "is gone");
			removed++;
		}
		closedir(d);
	}
	return removed;
}

/* Once per run, before the first use of tracking state. */
static void sweep_once(void)
{
	static int swept;

	if (!__atomic_exchange_n(&swept, 1, __ATOMIC_RELAXED))
		tracker_sweep();
}

static int tracker_state_exists(pid_t pid)
{
	char path[128];

	state_path(pid, path, sizeof(path));
	return access(path, F_OK) == 0;
}

int tracker_is_armed(pid_t pid)
{
	char path[128];

	sweep_once();
	state_path(pid, path, sizeof(path));
	return access(path, F_OK) == 0;
}

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

/* The lowest fd number to park the uffd at: high, under RLIMIT_NOFILE, in a small table. */
static long park_min(pid_t pid)
{
	struct rlimit64 rl[RLIMIT_NOFILE + 1];
	uint64_t cur;

	if (proc_parse_limits(pid, rl, RLIMIT_NOFILE + 1))
		return 3;
	cur = rl[RLIMIT_NOFILE].rlim_cur;
	if (cur >= 1064)
		return 1000;
	return cur > 64 ? (long)cur - 32 : 3;
}

/* The target creates a userfaultfd and keeps a copy at a high fd; returns that fd or -errno. */
static int remote_uffd(pid_t pid)
{
	struct rsys r;
	long fd = -1, parked = -1, ret;
	int err;

	err = rsys_prepare(&r, pid);
	if (err)
		return err;
	err = rsys_call(&r, &fd, __NR_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY, 0,
			0, 0, 0, 0);
	if (!err && fd < 0) {
		pr_errno((int)fd, "pid %d: userfaultfd(2) in the target failed", pid);
		err = (int)fd;
	}
	if (!err) {
		err = rsys_call(&r, &parked, __NR_fcntl, (uint64_t)fd, F_DUPFD_CLOEXEC,
				(uint64_t)park_min(pid), 0, 0, 0);
		if (!err && parked < 0) {
			pr_errno((int)parked, "pid %d: cannot park its userfaultfd %ld", pid, fd);
			err = (int)parked;
		}
		rsys_call(&r, &ret, __NR_close, (uint64_t)fd, 0, 0, 0, 0, 0);
	}
	rsys_finish(&r);
	return err ? err : (int)parked;
}

static int remote_close(pid_t pid, int fd)
{
	struct rsys r;
	long ret = 0;
	int err;

	err = rsys_prepare(&r, pid);
	if (err)
		return err;
	err = rsys_call(&r, &ret, __NR_close, (uint64_t)fd, 0, 0, 0, 0, 0);
	rsys_finish(&r);
	if (!err && ret < 0) {
		pr_errno((int)ret, "pid %d: cannot close its parked userfaultfd %d", pid, fd);
		err = (int)ret;
	}
	return err;
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
		err = write_state(t);
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
	pin_path(t->pid, dir, sizeof(dir));
	err = dirty_bpf_pin(t->bpf, dir);
	if (err)
		pr_warn("pid %d: cannot pin the BPF tracker at %s (%s); it lasts as long as this "
			"ferry",
			t->pid, dir, strerror(-err));
}

/*
 * A userfaultfd ferry parked in @pid and lost: ferry was killed while it
 * armed (before the state file), or the state file is gone. Recognised by
 * how ferry makes it: at or above park_min(), O_CLOEXEC|O_NONBLOCK, and
 * either no UFFDIO_API yet or ferry's async write-protection. Returns 1 if
 * @fd of @pid is one, else 0.
 */
static int orphan_uffd(pid_t pid, int fd, long min)
{
	char path[64], link[64], buf[512], *api;
	unsigned long long version, features;
	struct proc_fdinfo fi;
	ssize_t n;
	int f, ours;

	if (fd < min)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return 0;
	link[n] = '\0';
	if (strcmp(link, "anon_inode:[userfaultfd]") || proc_fdinfo_read(pid, fd, &fi))
		return 0;
	ours = (fi.flags & (O_CLOEXEC | O_NONBLOCK)) == (O_CLOEXEC | O_NONBLOCK);
	proc_fdinfo_release(&fi);
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	f = open(path, O_RDONLY | O_CLOEXEC);
	n = f < 0 ? -1 : read(f, buf, sizeof(buf) - 1);
	if (f >= 0)
		close(f);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	api = strstr(buf, "API:");
	if (!api || sscanf(api, "API: %llx:%llx", &version, &features) != 2)
		return 0;
	return ours && (!features || (features & UFFD_FEATURE_WP_ASYNC));
}

int tracker_drop_orphans(pid_t pid)
{
	long min = park_min(pid);
	struct dirent *de;
	int n = 0, err;
	char path[64];
	DIR *d;

	if (tracker_state_exists(pid))
		return 0; /* its parked uffd is known: attach takes it */
	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? -ESRCH : -errno;
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);

		if (de->d_name[0] == '.' || !orphan_uffd(pid, fd, min))
			continue;
		err = remote_close(pid, fd);
		if (err) {
			closedir(d);
			return err;
		}
		pr_info("pid %d: closed the userfaultfd a killed ferry left parked at its fd %d "
			"(its tracking was lost)",
			pid, fd);
		n++;
	}
	closedir(d);
	return n;
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

	t->parked_fd = remote_uffd(t->pid);
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

	sweep_once();
	if (tracker_is_armed(pid)) {
		struct trk_state s;

		/* A state file of a process that is gone, or of an earlier owner of the pid. */
		if (!read_state(pid, &s) && !proc_parse_stat(pid, 0, &ps) &&
		    ps.starttime == s.starttime) {
			pr_err("pid %d is tracked already (%s/%d)", pid, TRACK_STATE_DIR, pid);
			return -EEXIST;
		}
		remove_state(pid);
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
	err = write_state(t);
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

/* readlink of an fd of ours: is it a userfaultfd? */
static int is_uffd(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return 0;
	link[n] = 0;
	return !strcmp(link, "anon_inode:[userfaultfd]");
}

int tracker_attach(struct tracker **out, pid_t pid)
{
	struct trk_state s;
	struct proc_stat ps;
	struct tracker *t;
	char dir[128];
	int err;

	sweep_once();
	err = read_state(pid, &s);
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
	if (t->mode == TRACKER_UFFD_WP && (t->uffd < 0 || !is_uffd(t->uffd))) {
		pr_warn("pid %d: its fd %d is no longer the userfaultfd ferry parked there; "
			"tracking was lost",
			pid, s.parked_fd);
		t->parked_fd = -1; /* not ours to close */
		tracker_free(t);
		goto stale;
	}
	if (s.bpf) {
		pin_path(pid, dir, sizeof(dir));
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
	remove_state(pid);
	pin_path(pid, dir, sizeof(dir));
	dirty_bpf_unpin(dir);
	return -ENOENT;
}

int tracker_unpark(struct tracker *t)
{
	int err;

	if (t->parked_fd < 0)
		return 0;
	err = remote_close(t->pid, t->parked_fd);
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
	err = write_state(t);
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
	pin_path(t->pid, dir, sizeof(dir));
	e = dirty_bpf_unpin(dir);
	if (e && e != -ENOENT && !err)
		err = e;
	remove_state(t->pid);
	tracker_free(t); /* closing ferry's uffd unregisters and unprotects */
	return err;
}

int tracker_stop_pid(pid_t pid, int stopped)
{
	struct tracker *t;
	int err = tracker_attach(&t, pid);

	if (err == -ENOENT && !still_runs(pid, 0)) {
		/* Gone: nothing of it is tracked any more (attach removed what was left). */
		remove_leftovers(pid, "is gone");
		return 0;
	}
	if (err)
		return err;
	return tracker_stop(t, stopped);
}
