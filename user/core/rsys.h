/* SPDX-License-Identifier: MIT */
/*
 * Remote syscalls: run a system call inside a stopped, ptrace-seized thread
 * of another process, as that process (its mm, its fd table, its creds).
 *
 * The thread runs one `syscall` instruction with the arguments in its
 * registers, under PTRACE_SYSCALL: ferry stops it at the entry and at the exit
 * of that syscall, reads the result at the exit stop and puts the thread's
 * registers back right there; nothing after the instruction ever runs while
 * ferry is alive. The instruction is the first of a "return path" that ferry
 * writes into the vDSO's padding (the bytes between the end of the
 * vDSO's ELF image and the end of its mapping, which no program reads or
 * runs): it reloads every register the call changed with the thread's own
 * values and jumps back to where the thread was. So if ferry dies (SIGKILL)
 * at any point of a call, the kernel detaches the thread and it goes on, by
 * itself, exactly from where it was stopped; rsys.c enumerates the steps.
 *
 * orig_rax is -1 while the call runs, so a thread stopped inside an
 * interrupted syscall (-ERESTART* in rax) is not restarted into the injected
 * call; its own registers, put back at the exit stop, make the kernel restart
 * its syscall as it would have.
 *
 * ferry makes one remote call at a time (rsys.c keeps what it wrote where),
 * from one thread. x86_64 only for now.
 */
#ifndef FERRY_RSYS_H
#define FERRY_RSYS_H

#include <stdint.h>
#include <sys/types.h>
#include <sys/user.h>

/* Kernel values (include/linux/errno.h, not exported to user space). */
#define ERESTARTSYS 512
#define ERESTARTNOINTR 513
#define ERESTARTNOHAND 514
#define ERESTART_RESTARTBLOCK 516

/* Bytes of the vDSO padding a call uses: the syscall and its return path. */
#define RSYS_GADGET_LEN 112

struct rsys {
	pid_t tid;			/* seized and stopped thread */
	pid_t tgid;			/* its process */
	uint64_t code_addr;		/* the syscall instruction the thread runs */
	struct user_regs_struct regs;	/* the thread's registers at stop */
	uint8_t saved[RSYS_GADGET_LEN]; /* the vDSO padding bytes under the gadget */
	int mem_fd;			/* /proc/TID/mem, to write them (-1: none) */
	int prepared;
	int code_owned; /* code_addr is the caller's (rsys_prepare_at): nothing is written */
	int at_entry;	/* a failed call left the thread at a syscall-entry stop */
	int wrote;	/* the padding holds a gadget of ours: rsys_finish puts it back */
};

/*
 * rsys_seize - PTRACE_SEIZE one thread and stop it with PTRACE_INTERRUPT (no
 * SIGSTOP is sent, so the target sees no signal). PTRACE_O_TRACESYSGOOD is
 * always set: the engine tells its syscall stops by it. Returns 0 or -errno
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
 * find the vDSO padding its calls run from. Returns 0, -ENOEXEC if the
 * process has no vDSO (or one that is not an ELF image), -ENOSPC if the
 * vDSO has no room after its image, -ENOTSUP for a thread running 32-bit
 * code, or -errno.
 */
int rsys_prepare(struct rsys *r, pid_t tid);

/*
 * rsys_prepare_at - like rsys_prepare(), but run the syscall instruction
 * (0f 05) at @code_addr, in a mapping of process @tgid that is the caller's
 * and left as it is: nothing is written. There is no return path after it,
 * so a thread stopped in a call when ferry is killed would not survive it:
 * only for processes that die with ferry (PTRACE_O_EXITKILL), as the
 * restore's, which uses it while the process it builds has no vDSO.
 */
int rsys_prepare_at(struct rsys *r, pid_t tid, pid_t tgid, uint64_t code_addr);

/*
 * rsys_call - run syscall nr(a0..a5) in the thread. The syscall's own return
 * value (a negative errno is a result, not a failure of the engine) goes to
 * *ret. A call that creates a task (clone/fork with PTRACE_O_TRACECLONE/FORK
 * set) runs through its event stop; the caller waits for the new task. A
 * signal that comes for the thread meanwhile is held and sent again after
 * the call. The thread ends at the call's syscall-exit stop with its own
 * registers. Returns 0 if the call was made, or -errno if the engine failed
 * (the thread's state is restored in every case it can be).
 */
int rsys_call(struct rsys *r, long *ret, long nr, uint64_t a0, uint64_t a1, uint64_t a2,
	      uint64_t a3, uint64_t a4, uint64_t a5);

/*
 * rsys_finish - restore the thread's registers as they were at rsys_prepare()
 * (every call already did), put the vDSO padding's bytes back and release
 * what rsys_prepare() took. Returns 0 or -errno.
 */
int rsys_finish(struct rsys *r);

/*
 * rsys_fixup_restart - turn the registers of a thread stopped inside an
 * interrupted syscall into those that re-execute it: rax = orig_rax (or
 * restart_syscall for -ERESTART_RESTARTBLOCK) and rip back over the 2-byte
 * syscall instruction, as the kernel does on return to user space when no
 * handler runs. orig_rax is left as it is.
 */
void rsys_fixup_restart(struct user_regs_struct *regs);

/*
 * rsys_getfd - copy descriptor remote_fd of process pid (e.g. one a remote
 * syscall just made) into this process with pidfd_getfd(2). Returns the new
 * local fd or -errno.
 */
int rsys_getfd(pid_t pid, int remote_fd);

#endif
