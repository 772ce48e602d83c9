/* SPDX-License-Identifier: MIT */
/*
 * The dirty-page tracker: which pages of a live process were written since
 * the last round, without soft-dirty.
 *
 * Arming makes the target itself create a userfaultfd (a remote syscall: the
 * uffd belongs to the mm of its creator), takes it with pidfd_getfd(2),
 * enables UFFD_FEATURE_WP_ASYNC + WP_UNPOPULATED, registers the target's
 * writable private VMAs in WP mode and write-protects all of them with one
 * PAGEMAP_SCAN. From then on the first write to each page takes a fault that
 * the kernel resolves by itself (the target never waits for ferry), clearing
 * the page's uffd-wp bit; a round's PAGEMAP_SCAN reports those pages and
 * protects them again, in one pass.
 *
 * Tracking outlives the ferry process that armed it, with no daemon:
 *   - the uffd is parked inside the target, duplicated to a high fd number
 *     (O_CLOEXEC), and fetched again with pidfd_getfd(2) by the next ferry;
 *   - the BPF programs (bpf/dirty_track.bpf.c: write faults and VMA-change
 *     syscalls) are pinned in bpffs, /sys/fs/bpf/ferry/track-PID;
 *   - a state file, TRACK_STATE_DIR/PID, names the parked fd, the process's
 *     start time (a reused pid is not mistaken for the tracked one), the
 *     round count and the images directory of the last round.
 * Closing the last reference to the uffd (the parked one and ferry's)
 * unregisters every range and lifts every protection: that is how tracking
 * stops (tracker_stop).
 *
 * A round needs the target stopped for exact results (pre-dump and dump
 * freeze it; dirtyrate stops it for the scan only): then every write fault
 * the BPF program saw has completed and shows in the scan.
 *
 * Kernels without uffd-wp async or PAGEMAP_SCAN (before 6.7) but with
 * CONFIG_MEM_SOFT_DIRTY get the soft-dirty tracker instead (soft_dirty.h): no
 * uffd and nothing parked; arming and each round clear the bits through
 * /proc/PID/clear_refs, a round reads them from /proc/PID/pagemap. The state
 * file and the BPF side are the same. TRACKER_AUTO picks uffd-wp when it
 * works, else soft-dirty; with neither, arming fails with -EOPNOTSUPP and the
 * caller copies everything.
 *
 * VMAs mapped after a round are not registered: the next round finds them
 * (PAGEMAP_SCAN answers EPERM for a VMA without async WP), registers them and
 * reports all their pages dirty, which is what a new mapping is. A moved
 * VMA (mremap) loses its registration and is found the same way. A VMA that
 * cannot be tracked (read-only now, or the kernel refuses it) is reported
 * dirty in every round: never "clean" by mistake.
 */
#ifndef FERRY_TRACKER_H
#define FERRY_TRACKER_H

#include <stdint.h>
#include <sys/types.h>

#include "dirty_bpf.h"
#include "mem_scan.h"

#define TRACK_STATE_DIR "/run/ferry/track"
#define TRACK_BPF_DIR "/sys/fs/bpf/ferry"

enum tracker_mode {
	TRACKER_AUTO = 0,  /* uffd-wp async if the kernel has it, else soft-dirty */
	TRACKER_UFFD_WP,   /* userfaultfd async write-protection + PAGEMAP_SCAN */
	TRACKER_SOFT_DIRTY /* clear_refs + pagemap bit 55 */
};

/* tracker_mode_name - "auto", "uffd-wp" or "soft-dirty". */
const char *tracker_mode_name(enum tracker_mode m);

/* tracker_mode_parse - the mode named @s into *@m; 0, or -EINVAL for an unknown name. */
int tracker_mode_parse(const char *s, enum tracker_mode *m);

/* tracker_scan_name - what reads the dirty bits in mode @m: "PAGEMAP_SCAN" or "soft-dirty". */
const char *tracker_scan_name(enum tracker_mode m);

struct tracker_opts {
	enum tracker_mode mode;
	int no_bpf;		   /* uffd-wp and PAGEMAP_SCAN only */
	struct dirty_bpf_opts bpf; /* map sizes (tgid is filled in) */
	/*
	 * Loaded beforehand by tracker_load_bpf(), so that the load (tens of
	 * ms) is not spent with the target stopped; tracker_arm() takes it
	 * over (and sets this to NULL), or loads its own if NULL.
	 */
	struct dirty_bpf *loaded;
};

/* VMA-change syscalls seen by BPF since the last round. */
struct tracker_events {
	uint64_t mmap, munmap, mremap, mprotect, brk, madvise, shm;
	uint64_t dontneed_pages; /* pages dropped by MADV_DONTNEED/FREE/REMOVE */
	uint64_t drops;		 /* events lost (ring buffer full) */
};

/* tracker_events_add - add the counts of @src to @dst. */
void tracker_events_add(struct tracker_events *dst, const struct tracker_events *src);

struct tracker_round {
	/*
	 * Pages that may differ from the previous round, sorted, merged:
	 * pages written in tracked VMAs, and every page of VMAs that were not
	 * tracked (new, moved, or untrackable). Everything else is unchanged.
	 */
	struct page_run *dirty;
	size_t nr_dirty, cap_dirty;
	/* The written pages alone (tracked VMAs only), sorted: what dirtyrate counts. */
	struct page_run *written;
	size_t nr_written, cap_written;
	uint64_t written_pages;	  /* the scan: written pages in tracked VMAs */
	uint64_t untracked_pages; /* pages of VMAs reported whole */
	uint64_t tracked_pages;	  /* pages of the registered VMAs */
	size_t tracked_vmas, new_vmas, untracked_vmas;
	int has_bpf;
	struct dirty_bpf_counts bpf; /* write faults since the last round */
	struct tracker_events ev;
	uint64_t scan_ns; /* time spent in PAGEMAP_SCAN */
};

struct tracker {
	pid_t pid;
	enum tracker_mode mode; /* TRACKER_UFFD_WP or TRACKER_SOFT_DIRTY */
	uint64_t starttime;
	int uffd;			/* ferry's reference to the target's userfaultfd */
	int parked_fd;			/* its number inside the target; -1 once unparked */
	int pagemap_fd;			/* /proc/PID/pagemap */
	unsigned round;			/* rounds done since arming */
	uint64_t last_dev, last_ino;	/* images directory of the last round; 0 if none */
	struct dirty_bpf *bpf;		/* NULL when BPF is off or unavailable */
	struct dirty_bpf_range *ranges; /* registered VMAs given to BPF */
	size_t nr_ranges;
};

/*
 * tracker_arm - start tracking process @pid, whose thread @pid is seized and
 * stopped (ptrace). Every writable private VMA is registered and protected;
 * the BPF side is loaded, attached and pinned unless @o->no_bpf (a BPF
 * failure is a warning: tracking works without it). @o->mode picks the
 * tracker (see above). Returns 0 with *@out set, -EEXIST if @pid is tracked
 * already, -EOPNOTSUPP if the kernel lacks what the mode needs (uffd-wp:
 * UFFD_FEATURE_WP_ASYNC/WP_UNPOPULATED and PAGEMAP_SCAN; soft-dirty:
 * CONFIG_MEM_SOFT_DIRTY; auto: both; logged), or -errno.
 * On error nothing is left in the target.
 */
int tracker_arm(struct tracker **out, pid_t pid, struct tracker_opts *o);

/*
 * tracker_load_bpf - load and attach the BPF side for @pid into @o->loaded
 * ahead of tracker_arm(). A failure is a warning (o->loaded stays NULL).
 */
void tracker_load_bpf(pid_t pid, struct tracker_opts *o);

/*
 * tracker_attach - take over the tracking armed by an earlier ferry for @pid
 * (which need not be stopped). Returns 0, -ENOENT if @pid is not tracked (a
 * stale state file, of a process that is gone or a reused pid, is removed),
 * -ESRCH, or -errno. The BPF side is reopened from its pins if they exist.
 */
int tracker_attach(struct tracker **out, pid_t pid);

/* tracker_is_armed - 1 if a state file says @pid is tracked, else 0. */
int tracker_is_armed(pid_t pid);

/*
 * tracker_round - one round: read and re-arm the dirty bits of every VMA,
 * register new VMAs, read the BPF counters and VMA events. Fills *@r (free
 * its array with tracker_round_free). Returns 0 or -errno; on error the
 * caller should tracker_stop().
 */
int tracker_round(struct tracker *t, struct tracker_round *r);
void tracker_round_free(struct tracker_round *r);

/*
 * tracker_unpark - close the parked uffd inside the target (thread @pid must
 * be seized and stopped). Tracking then lives on ferry's reference only, and
 * the target's fd table is as it was before arming (a dump must not see the
 * uffd). Returns 0 or -errno.
 */
int tracker_unpark(struct tracker *t);

/*
 * tracker_save - record the round in the state file (with the images
 * directory @dirfd of the round, or -1) and free @t; tracking goes on.
 * Returns 0 or -errno (then tracking goes on without a usable state file).
 */
int tracker_save(struct tracker *t, int dirfd);

/*
 * tracker_parent_ok - 1 if @dirfd is the images directory of the tracker's
 * last round, so that "not written since the last round" means "as in that
 * directory", else 0.
 */
int tracker_parent_ok(const struct tracker *t, int dirfd);

/*
 * tracker_stop - stop tracking and free @t: the parked uffd is closed inside
 * the target (@stopped says if thread t->pid is seized and stopped already;
 * if not, it is seized and released around the call), ferry's reference is
 * closed (the kernel unregisters the ranges and lifts the protection), the
 * BPF pins and the state file are removed. Never leaves the target stopped.
 * Returns 0 or the first -errno; it goes on with the other steps either way.
 */
int tracker_stop(struct tracker *t, int stopped);

/*
 * tracker_stop_pid - tracker_attach + tracker_stop. A process that is gone
 * (or a zombie) has what its tracking left removed, and 0 is returned; a
 * live process without tracking gives -ENOENT.
 */
int tracker_stop_pid(pid_t pid, int stopped);

/*
 * tracker_drop_orphans - close, inside process @pid (its leader seized and
 * stopped), every userfaultfd a killed ferry left parked there without a
 * state file (see tracker.c: recognised by fd range, flags and features).
 * tracker_arm does it first. Returns how many were closed, or -errno.
 */
int tracker_drop_orphans(pid_t pid);

/*
 * tracker_sweep - remove the tracking state files and pinned BPF of every
 * process that is gone, a zombie, or was followed by another process with
 * its pid (the state file's starttime). Every command that touches tracking
 * does it once per run. Returns how many were removed (each logged at info).
 */
int tracker_sweep(void);

#endif
