/* SPDX-License-Identifier: MIT */
/*
 * The BPF side of dirty tracking: loads bpf/dirty_track.bpf.c for one
 * process, and reads what it saw.
 *
 * With userfaultfd async write-protection armed on the target's ranges (the
 * tracker does that), every first write to a protected page is a write fault:
 * in user mode, or in kernel mode when the kernel writes into the target's
 * memory on its behalf (read(2) into a buffer, the rseq area it updates on
 * return to user space). The page_fault_user and page_fault_kernel programs
 * count those faults of the target per interval: distinct pages written, per
 * range and in total, write faults, faults outside every range; and keep, per
 * page, the number of write faults and the first and last time one was seen.
 * The sys_exit program reports every mmap, mprotect, munmap, brk, mremap,
 * madvise, shmat and shmdt of the target (64-bit syscalls), with arguments
 * and result, through a ring buffer: the VMAs the tracker must (re)register.
 *
 * Writes that take no fault are seen by PAGEMAP_SCAN only: pages written
 * through get_user_pages (O_DIRECT reads into them, process_vm_writev or
 * ptrace pokes from another process). A first write to a protected page that
 * was never populated takes two write faults (the page is allocated still
 * protected, the retried write lifts the protection): it counts twice in
 * 'faults' and in dt_page.writes, once in 'distinct'.
 *
 * A tracker can be pinned in bpffs so that it outlives the process that
 * loaded it (e.g. between two ferry pre-dump runs), then reopened from the
 * pins. Pinned layout, one file per object under the pin directory:
 * link_fault, link_kfault, link_sys_exit (the attached programs), state,
 * ranges, range_pages, pages, events (the maps, see bpf/dirty_track.h),
 * rodata (target_tgid, max_ranges).
 *
 * Needs root (CAP_BPF + CAP_PERFMON), kernel BTF, and x86_64 (the fault's
 * error_code bits and the syscall numbers are x86_64's). Not thread-safe: one
 * thread uses a struct dirty_bpf at a time.
 */
#ifndef FERRY_DIRTY_BPF_H
#define FERRY_DIRTY_BPF_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <linux/types.h>

#include "bpf/dirty_track.h"

/* Suggested pin directory of ferry's tracker of a process: DIRTY_BPF_PIN_ROOT/track-<tgid>. */
#define DIRTY_BPF_PIN_ROOT "/sys/fs/bpf/ferry"

#define DIRTY_BPF_DEF_PAGES 262144U
#define DIRTY_BPF_DEF_RANGES 1024U
#define DIRTY_BPF_DEF_RINGBUF 262144U

struct dirty_bpf_opts {
	pid_t tgid;		/* the process to watch */
	uint32_t max_pages;	/* per-page map entries, default 262144 */
	uint32_t max_ranges;	/* default 1024 */
	uint32_t ringbuf_bytes; /* power of two >= 4096, default 262144 */
};

/* A tracked range of the target: [start, end). */
struct dirty_bpf_range {
	uint64_t start, end;
};

/* What one interval saw (dirty_bpf_next_interval). */
struct dirty_bpf_counts {
	uint64_t distinct;  /* pages with a first write fault in the interval */
	uint64_t faults;    /* write faults inside the ranges (see above) */
	uint64_t untracked; /* write faults of the target outside every range */
	uint64_t drops;	    /* VMA events lost because the ring buffer was full */
};

struct dirty_bpf;

/*
 * dirty_bpf_open - load the tracker for process o->tgid and attach its three
 * programs. Zero fields of @o take their defaults. The first interval starts
 * now, with no range: until dirty_bpf_set_ranges(), every write fault of the
 * target counts as untracked. VMA events are queued from now on.
 *
 * On success *@out is set (free it with dirty_bpf_close) and 0 is returned.
 * Errors: -EINVAL for bad options (tgid <= 0, ringbuf_bytes not a power of
 * two >= 4096, max_ranges over DT_MAX_RANGES), -ESRCH if the process does not
 * exist, -EPERM without privileges, -ENOMEM, or the -errno libbpf or the
 * kernel gave while loading, attaching or mapping.
 */
int dirty_bpf_open(struct dirty_bpf **out, const struct dirty_bpf_opts *o);

/*
 * dirty_bpf_close - drop this process's hold on the tracker (fds, mappings)
 * and free @d. A tracker that is not pinned is detached; a pinned one keeps
 * running and counting. NULL is a no-op.
 */
void dirty_bpf_close(struct dirty_bpf *d);

/*
 * dirty_bpf_pin - pin the tracker's links and maps under @dir, created with
 * its parents if needed (mkdir -p). When @dir is under /sys/fs/bpf and bpffs
 * is not mounted there, it is mounted first. The tracker then outlives every
 * fd to it until dirty_bpf_unpin(). Returns 0, -EEXIST if something is
 * already pinned under a name there, -ENOTDIR/-EINVAL if @dir is not a
 * directory on bpffs, or -errno (what was pinned before the failure is
 * removed again).
 */
int dirty_bpf_pin(struct dirty_bpf *d, const char *dir);

/*
 * dirty_bpf_open_pinned - reattach to the tracker pinned under @dir (by this
 * or another process). Counters, the interval and the per-page map continue
 * as they were; VMA events queued meanwhile are drained by the next
 * dirty_bpf_drain_events(). On success *@out is set and 0 is returned.
 * Errors: -ENOENT when no tracker is pinned there (or only part of one),
 * -EINVAL if the pinned objects are not a tracker's, or -errno.
 */
int dirty_bpf_open_pinned(struct dirty_bpf **out, const char *dir);

/*
 * dirty_bpf_unpin - remove the pins of a tracker and then @dir itself. The
 * programs detach once the last fd to them closes (at once if no process
 * holds a struct dirty_bpf on it). Returns 0, also when nothing was pinned
 * there, -ENOTEMPTY if @dir holds files that are not a tracker's pins (they
 * are left), or -errno.
 */
int dirty_bpf_unpin(const char *dir);

/* dirty_bpf_tgid - the process @d watches. */
pid_t dirty_bpf_tgid(const struct dirty_bpf *d);

/*
 * dirty_bpf_set_ranges - track the @n ranges @r (sorted by address,
 * non-overlapping, each start < end); they replace the previous ones, and
 * the per-range page counts restart at 0 (the totals of the interval do
 * not). A write fault that races with the update counts as untracked.
 * Returns 0, -E2BIG if @n is over the tracker's max_ranges, -EINVAL if the
 * ranges are not sorted, overlap or are empty.
 */
int dirty_bpf_set_ranges(struct dirty_bpf *d, const struct dirty_bpf_range *r, size_t n);

/*
 * dirty_bpf_next_interval - end the interval: read its counts into *@c (may
 * be NULL) and the distinct pages of each range into @range_pages[0..@nr)
 * (in dirty_bpf_set_ranges order; entries past the current ranges get 0; @nr
 * may be 0 and @range_pages NULL), zero every counter and start the next
 * interval, where each page counts again on its first write. Each counter is
 * read and zeroed in one atomic exchange, so no fault is lost between two
 * intervals; which interval a fault that races with the call falls in is not
 * defined: exact only if no fault of the target is in flight (the caller
 * freezes it). Returns 0, or -EINVAL if @nr > 0 with @range_pages NULL.
 */
int dirty_bpf_next_interval(struct dirty_bpf *d, struct dirty_bpf_counts *c, uint64_t *range_pages,
			    size_t nr);

/*
 * dirty_bpf_drain_events - call @cb for every queued VMA event, oldest
 * first, and consume it. A non-zero return of @cb stops the drain (that event
 * is consumed, the following ones stay queued) and is returned. Returns 0
 * when the queue is empty, @cb's non-zero value, -EINVAL if @cb is NULL, or
 * -errno. Events lost while the ring buffer was full are counted in
 * dirty_bpf_counts.drops.
 */
int dirty_bpf_drain_events(struct dirty_bpf *d, int (*cb)(const struct dt_vma_event *e, void *arg),
			   void *arg);

/*
 * dirty_bpf_for_each_page - call @cb(page address, its record, @arg) for
 * every page in the per-page map (pages of the ranges with a write fault
 * since the tracker was loaded, least recently written ones evicted when the
 * map is full), in no particular order. A non-zero return of @cb stops the
 * walk and is returned. Returns 0, @cb's value, -EINVAL if @cb is NULL, or
 * -errno.
 */
int dirty_bpf_for_each_page(struct dirty_bpf *d,
			    int (*cb)(uint64_t addr, const struct dt_page *p, void *arg),
			    void *arg);

/*
 * dirty_bpf_mem - kernel memory held by the tracker's maps, in bytes (the
 * sum of "memlock" in /proc/self/fdinfo of each map fd) into *@bytes.
 * Returns 0 or -errno (-EIO if an fdinfo has no memlock line).
 */
int dirty_bpf_mem(struct dirty_bpf *d, uint64_t *bytes);

#endif /* FERRY_DIRTY_BPF_H */
