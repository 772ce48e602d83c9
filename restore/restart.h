/* SPDX-License-Identifier: MIT */
/*
 * A thread restored in the middle of an interrupted syscall (pause(),
 * read() of a pipe, wait4(), ...) is given back to the kernel's own restart
 * logic instead of being sent to the syscall instruction.
 *
 * The images hold what CRIU's dump writes for such a thread (ferry's dump
 * does the same, dump_core_fixup_restart): its re-execution, rax = orig_rax
 * = the syscall's number and rip on the 2-byte `syscall` instruction. Set so
 * and let go, the thread would handle a signal that comes before it is back
 * in the call and then block again: a `pause(); after_signal();` program
 * misses its wake-up.
 *
 * rrestart_regs() turns those registers back into "interrupted in syscall
 * N": orig_rax = N, rax = -ERESTART*, rip after the instruction. Set while
 * the thread sits in a ptrace stop, they are read by the kernel's signal
 * code when it is let go (the detach sets TIF_SIGPENDING): with a handler to
 * run, -ERESTARTNOHAND gives -EINTR, -ERESTARTSYS gives -EINTR unless the
 * handler has SA_RESTART, -ERESTARTNOINTR restarts; with none, the syscall is
 * restarted. The -ERESTART* value is lost in the image; it is the one the
 * kernel returns for that syscall (rrestart_code).
 */
#ifndef FERRY_RESTORE_RESTART_H
#define FERRY_RESTORE_RESTART_H

#include <sys/types.h>
#include <sys/user.h>

/*
 * rrestart_code - the -ERESTART* value (positive) the kernel gives when
 * syscall @nr is interrupted by a signal while it blocks: ERESTARTNOHAND for
 * pause, the sigsuspends and the poll/select family, ERESTARTNOINTR for the
 * forks, ERESTARTSYS for the others.
 */
long rrestart_code(long nr);

/*
 * rrestart_regs - @regs are a thread's registers from its image, orig_rax
 * included. If they re-execute a syscall (orig_rax >= 0, rax == orig_rax and
 * the bytes at rip in process @pid are `syscall`), rewrite them as
 * interrupted in it (see above); else set orig_rax to -1 (nothing to
 * restart). *@nr gets the syscall number restarted, or -1.
 * Returns 0 or -errno (the code at rip cannot be read).
 */
int rrestart_regs(pid_t pid, pid_t tid, struct user_regs_struct *regs, long *nr);

#endif
