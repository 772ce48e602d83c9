/* SPDX-License-Identifier: MIT */
/*
 * Records and counters of the feature-probe programs (bpf/probe.bpf.c), shared
 * with user/probe/check_bpf.c. Fixed-width types only, layout pinned. The includer
 * provides __u32/__u64.
 */
#ifndef FERRY_BPF_PROBE_H
#define FERRY_BPF_PROBE_H

/* Slots of the 'counters' array map. */
#define PROBE_CNT_FAULT 0	/* page_fault_user hits of targ_tgid */
#define PROBE_CNT_FAULT_WRITE 1 /* ... of which write faults (x86 error_code bit 1) */
#define PROBE_CNT_MMAP 2	/* sys_exit_mmap hits of targ_tgid */
#define PROBE_CNT_FENTRY 3	/* fentry/vfs_read hits */
#define PROBE_CNT_KPROBE 4	/* kprobe/vfs_read hits */
#define PROBE_CNT_RB_DROP 5	/* ring buffer full: event dropped */
#define PROBE_CNT_NR 8

/* probe_event.type */
#define PROBE_EV_FAULT 1
#define PROBE_EV_MMAP 2

/* x86 page fault error_code bits (arch/x86/include/asm/trap_pf.h) */
#define PROBE_PF_PROT (1U << 0)
#define PROBE_PF_WRITE (1U << 1)
#define PROBE_PF_USER (1U << 2)

struct probe_event {
	__u64 ts_ns; /* bpf_ktime_get_ns() */
	__u64 addr;  /* fault address, or mmap's return value */
	__u64 ip;    /* user ip of the fault, 0 for mmap */
	__u64 err;   /* fault error_code, 0 for mmap */
	__u32 tgid;
	__u32 tid;
	__u32 type; /* PROBE_EV_* */
	__u32 __pad;
};

_Static_assert(sizeof(struct probe_event) == 48, "probe_event ABI");

#endif /* FERRY_BPF_PROBE_H */
