// SPDX-License-Identifier: MIT
/*
 * Interrupted syscalls handed back to the kernel's restart logic (restart.h).
 */
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>

#define LOG_PREFIX "restore: "
#include "log.h"
#include "restart.h"
#include "rsys.h"

#define SYSCALL_INSN_LEN 2

long rrestart_code(long nr)
{
	switch (nr) {
	case __NR_restart_syscall:
		return ERESTART_RESTARTBLOCK; /* gives -EINTR here: the restart block stayed behind
					       */
	case __NR_pause:
	case __NR_rt_sigsuspend:
	case __NR_poll:
	case __NR_ppoll:
	case __NR_select:
	case __NR_pselect6:
		return ERESTARTNOHAND;
	case __NR_fork:
	case __NR_vfork:
	case __NR_clone:
	case __NR_clone3:
		return ERESTARTNOINTR;
	default:
		return ERESTARTSYS;
	}
}

int rrestart_regs(pid_t pid, pid_t tid, struct user_regs_struct *regs, long *nr)
{
	static const uint8_t insn[SYSCALL_INSN_LEN] = { 0x0f, 0x05 };
	long orig = (long)regs->orig_rax;
	uint8_t code[SYSCALL_INSN_LEN];
	struct iovec l = { code, sizeof(code) }, r = { (void *)regs->rip, sizeof(code) };
	ssize_t n;

	*nr = -1;
	if (orig < 0 || regs->rax != regs->orig_rax) {
		regs->orig_rax = (unsigned long long)-1;
		return 0;
	}
	/* A completed read() that returned 0 has rax == orig_rax too: rip tells them apart. */
	n = process_vm_readv(pid, &l, 1, &r, 1, 0);
	if (n != (ssize_t)sizeof(code)) {
		int err = n < 0 ? -errno : -EIO;

		pr_errno(err, "pid %d thread %d: cannot read the code at %#llx (syscall %ld)", pid,
			 tid, regs->rip, orig);
		return err;
	}
	if (code[0] != insn[0] || code[1] != insn[1]) {
		regs->orig_rax = (unsigned long long)-1;
		return 0;
	}
	regs->rax = (unsigned long long)-rrestart_code(orig);
	regs->rip += SYSCALL_INSN_LEN;
	*nr = orig;
	return 0;
}
