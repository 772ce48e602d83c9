/* SPDX-License-Identifier: MIT */
/*
 * Remote syscalls: run a system call inside a stopped, ptrace-seized thread
 * of another process, as that process (its mm, its fd table, its creds).
 *
 * The engine saves the thread's registers, writes a "syscall; int3" pair over
 * the first bytes of an executable mapping of the target (saving what was
 * there), points the instruction pointer at it with the arguments in the
 * syscall registers, lets the thread run into the int3, reads the result and
 * puts everything back. orig_rax is set to -1 while it runs, so a thread that
 * was stopped inside an interrupted syscall (-ERESTART* in rax) is not
 * restarted into the injected call; restoring the saved registers afterwards
 * lets the kernel restart the original syscall exactly as it would have.
 *
 * x86_64 only for now.
 */
#ifndef FERRY_RSYS_H
#define FERRY_RSYS_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

struct rsys {
	pid_t tid;		      /* seized and stopped thread */
	pid_t tgid;		      /* its process */
	uint64_t code_addr;	      /* where "syscall; int3" is injected */
	uint64_t saved_code;	      /* the 8 bytes that were there */
	struct user_regs_struct regs; /* the thread's registers at stop */
	int prepared;
	int code_owned; /* code_addr already holds "syscall; int3" (rsys_prepare_at) */
};

/*
 * rsys_seize - PTRACE_SEIZE one thread and stop it with PTRACE_INTERRUPT (no
 * SIGSTOP is sent, so the target sees no signal). Returns 0 or -errno
 * (-ESRCH: no such thread, -EPERM: not allowed).
 */
int rsys_seize(pid_t tid);
/*
 * rsys_seize_opts - rsys_seize() with PTRACE_O_* @options set at the seize
 * (e.g. EXITKILL, TRACECLONE for the restore).
 */
int rsys_seize_opts(pid_t tid, unsigned long options);
/* rsys_detach - PTRACE_DETACH; the thread continues. Returns 0 or -errno. */
int rsys_detach(pid_t tid);

/*
 * rsys_prepare - take the register snapshot of a seized, stopped thread and
 * choose the injection address. Returns 0, -ENOEXEC if the process has no
 * executable mapping, or -errno.
 */
int rsys_prepare(struct rsys *r, pid_t tid);

/*
 * rsys_prepare_at - like rsys_prepare(), but inject at @code_addr, a mapping
 * of process @tgid that already holds the 3 bytes "syscall; int3" (0f 05 cc)
 * and is left as it is: no code is written or restored per call. The restore
 * uses it while the process it builds has no other executable mapping.
 */
int rsys_prepare_at(struct rsys *r, pid_t tid, pid_t tgid, uint64_t code_addr);

/*
 * rsys_call - run syscall nr(a0..a5) in the thread. The syscall's own return
 * value (a negative errno is a result, not a failure of the engine) goes to
 * *ret. A call that creates a task (clone/fork with PTRACE_O_TRACECLONE/FORK
 * set) runs through its event stop; the caller waits for the new task. Returns 0 if the call was
 * made, or -errno if the engine failed (the thread's state is restored in every case it can be).
 */
int rsys_call(struct rsys *r, long *ret, long nr, uint64_t a0, uint64_t a1, uint64_t a2,
	      uint64_t a3, uint64_t a4, uint64_t a5);

/*
 * rsys_finish - restore the thread's registers as they were at rsys_prepare()
 * (the injected code is restored after every call). Returns 0 or -errno.
 */
int rsys_finish(struct rsys *r);

/*
 * rsys_getfd - copy descriptor remote_fd of process pid (e.g. one a remote
 * syscall just made) into this process with pidfd_getfd(2). Returns the new
 * local fd or -errno.
 */
int rsys_getfd(pid_t pid, int remote_fd);

#endif
