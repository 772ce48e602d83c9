/* SPDX-License-Identifier: MIT */
/*
 * Kernel interfaces the dump and the restore of per-thread state both speak
 * and glibc does not declare: the raw rt_sigaction struct, the x86 TLS
 * descriptor of PTRACE_{GET,SET}_THREAD_AREA, the rseq configuration of
 * PTRACE_GET_RSEQ_CONFIGURATION, and the counts of signals and rlimits in
 * core images. x86_64 values.
 */
#ifndef FERRY_CORE_ABI_H
#define FERRY_CORE_ABI_H

#include <stdint.h>

#ifndef PTRACE_GET_RSEQ_CONFIGURATION
#define PTRACE_GET_RSEQ_CONFIGURATION 0x420f
#endif
#ifndef PTRACE_GET_THREAD_AREA
#define PTRACE_GET_THREAD_AREA 25
#endif
#ifndef PTRACE_SET_THREAD_AREA
#define PTRACE_SET_THREAD_AREA 26
#endif

#define GDT_ENTRY_TLS_MIN 12 /* x86_64 */
#define GDT_ENTRY_TLS_ENTRIES 3
#define SIGMAX 64     /* signals 1..64; core images hold all but SIGKILL and SIGSTOP */
#define NR_RLIMITS 16 /* RLIMIT_CPU .. RLIMIT_RTTIME */

/* PTRACE_GET_RSEQ_CONFIGURATION's answer. */
struct rseq_config {
	uint64_t rseq_abi_pointer;
	uint32_t rseq_abi_size;
	uint32_t signature;
	uint32_t flags;
	uint32_t pad;
};

/* The kernel's struct sigaction for rt_sigaction(2) (sigsetsize 8). */
struct kernel_sigaction {
	uint64_t handler, flags, restorer, mask;
};

/* struct user_desc of <asm/ldt.h>. */
struct x86_user_desc {
	uint32_t entry_number, base_addr, limit;
	uint32_t seg_32bit : 1, contents : 2, read_exec_only : 1, limit_in_pages : 1,
		seg_not_present : 1, useable : 1, lm : 1;
};

#endif
