/* SPDX-License-Identifier: MIT */
/*
 * Per-thread and per-process state of a frozen process: core-TID.img.
 *
 * Read from outside where the kernel offers a way (ptrace register sets,
 * PTRACE_GETSIGMASK, PTRACE_PEEKSIGINFO, PTRACE_GET_RSEQ_CONFIGURATION,
 * get_robust_list, prlimit, /proc), and with remote syscalls (rsys.h) for
 * what only the process itself can ask: sigactions, sigaltstack, the
 * set_tid_address pointer, the parent-death signal, itimers, POSIX timers
 * (dump_timers.h), securebits and the child-subreaper flag. Those write
 * their answers into a scratch page the dump maps in the target and unmaps
 * again before the memory is dumped.
 */
#ifndef FERRY_DUMP_CORE_H
#define FERRY_DUMP_CORE_H

#include <stdint.h>
#include <sys/types.h>

#include "pstree.h"

struct core_ids {
	uint32_t vm_id, files_id, fs_id, sighand_id;
	uint32_t cg_set; /* its set in cgroup.img (dump_cgroup.h), 0: none */
};

/*
 * dump_core_proc - write core-TID.img for every thread of @p (frozen) into
 * @dirfd; the leader's carries the process-wide part (tc, ids). Refuses, with
 * a message naming the pid, what the restore could not bring back (seccomp
 * filters). Returns 0 or -errno; images already written are
 * whole (the caller removes the directory's images on failure).
 */
int dump_core_proc(const struct pproc *p, const struct core_ids *ids, int dirfd);

/*
 * dump_core_zombie - write core-PID.img of zombie @p (pproc.zombie) as CRIU
 * does: task_state TASK_DEAD, exit_code its wait status, no thread state.
 * Returns 0 or -errno (-ESTALE if it is no longer a zombie).
 */
int dump_core_zombie(const struct pproc *p, int dirfd);

/*
 * dump_core_check - preflight: the per-process and per-thread state of @p
 * that dump_core_proc cannot take (seccomp, SCHED_DEADLINE), each logged with
 * pid and tid. Returns 0, -ENOTSUP when something was refused, or the -errno
 * of reading /proc.
 */
int dump_core_check(const struct pproc *p);

/*
 * dump_core_fixup_restart - turn the registers of a thread stopped inside an
 * interrupted syscall into those that re-execute it: rax = orig_rax (or
 * restart_syscall for -ERESTART_RESTARTBLOCK) and rip back over the 2-byte
 * syscall instruction, as the kernel does on return to user space.
 */
struct user_regs_struct;
void dump_core_fixup_restart(struct user_regs_struct *regs);

#endif
