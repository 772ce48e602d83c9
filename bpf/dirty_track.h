/* SPDX-License-Identifier: MIT */
/*
 * Maps and records of the dirty-page and VMA-change tracker
 * (bpf/dirty_track.bpf.c), shared with user/track/dirty_bpf.c. Fixed-width types
 * only, layouts pinned by _Static_assert. The includer provides __u32/__u64/
 * __s64 (vmlinux.h on the BPF side, <linux/types.h> in user space).
 */
#ifndef FERRY_BPF_DIRTY_TRACK_H
#define FERRY_BPF_DIRTY_TRACK_H

/* Page size the per-page map keys use: key = address >> DT_PAGE_SHIFT. */
#define DT_PAGE_SHIFT 12

/* x86 page fault error_code bit: the access was a write (arch/x86/include/asm/trap_pf.h). */
#define DT_PF_WRITE (1U << 1)

/* Steps of the binary search over the ranges: enough for 2^DT_SEARCH_STEPS - 1 ranges. */
#define DT_SEARCH_STEPS 24
#define DT_MAX_RANGES ((1U << DT_SEARCH_STEPS) - 1)

/* The syscalls whose exits are reported (x86_64 numbers). */
#define DT_NR_MMAP 9
#define DT_NR_MPROTECT 10
#define DT_NR_MUNMAP 11
#define DT_NR_BRK 12
#define DT_NR_MREMAP 25
#define DT_NR_MADVISE 28
#define DT_NR_SHMAT 30
#define DT_NR_SHMDT 67

/*
 * The one entry of the 'state' array map (BPF_F_MMAPABLE: user space maps it
 * and reads-and-zeroes the counters with atomic exchanges).
 */
struct dt_state {
	__u64 gen;	 /* current interval, set by user space; starts at 1 */
	__u64 nr_ranges; /* valid entries of 'ranges', set by user space */
	__u64 distinct;	 /* pages first written in this interval */
	__u64 faults;	 /* write faults in tracked ranges */
	__u64 untracked; /* write faults of the target outside every range */
	__u64 drops;	 /* VMA events lost: ring buffer full */
};

/* One entry of the 'ranges' array map: [start, end), sorted, non-overlapping. */
struct dt_range {
	__u64 start;
	__u64 end;
};

/* Value of the 'pages' LRU hash map, key = page address >> DT_PAGE_SHIFT. */
struct dt_page {
	__u32 writes;	/* write faults seen on the page, all intervals */
	__u32 gen;	/* interval of the last counted first write (low 32 bits) */
	__u64 first_ns; /* bpf_ktime_get_ns() of the first write fault seen */
	__u64 last_ns;	/* ... of the last one */
};

/* A VMA-changing syscall of the target, as it returned ('events' ring buffer). */
struct dt_vma_event {
	__u64 ts_ns;   /* bpf_ktime_get_ns() at the syscall's exit */
	__u32 nr;      /* syscall number, DT_NR_* */
	__u32 tid;     /* the calling thread */
	__u64 args[5]; /* rdi rsi rdx r10 r8: the first five arguments */
	__s64 ret;     /* return value (-errno on failure) */
};

_Static_assert(sizeof(struct dt_state) == 48, "dt_state ABI");
_Static_assert(sizeof(struct dt_range) == 16, "dt_range ABI");
_Static_assert(sizeof(struct dt_page) == 24, "dt_page ABI");
_Static_assert(sizeof(struct dt_vma_event) == 64, "dt_vma_event ABI");

#endif /* FERRY_BPF_DIRTY_TRACK_H */
