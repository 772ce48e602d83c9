// SPDX-License-Identifier: MIT
/*
 * Remote syscalls through ptrace (see rsys.h for the method).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_PREFIX "rsys: "
#include "compat.h"
#include "log.h"
#include "proc_parse.h"
#include "rsys.h"

#if !defined(__x86_64__)
#error "rsys: only x86_64 is implemented"
#endif

/* syscall (0f 05), int3 (cc) */
#define INJECT_LEN 3
static const uint8_t inject_code[INJECT_LEN] = { 0x0f, 0x05, 0xcc };

static int wait_stop(pid_t tid, int *status)
{
	for (;;) {
		pid_t r = waitpid(tid, status, __WALL);

		if (r == tid)
			break;
		if (r < 0 && errno == EINTR)
			continue;
		return r < 0 ? -errno : -ECHILD;
	}
	if (!WIFSTOPPED(*status)) {
		pr_err("thread %d: %s while stopped by ferry", tid,
		       WIFEXITED(*status) ? "exited" : "was killed");
		return -ESRCH;
	}
	return 0;
}

int rsys_seize(pid_t tid)
{
	return rsys_seize_opts(tid, 0);
}

int rsys_seize_opts(pid_t tid, unsigned long options)
{
	int status, err;

	if (ptrace(PTRACE_SEIZE, tid, NULL, (void *)options)) {
		err = -errno;
		pr_perror("thread %d: cannot seize", tid);
		return err;
	}
	if (ptrace(PTRACE_INTERRUPT, tid, NULL, NULL)) {
		err = -errno;
		pr_perror("thread %d: cannot interrupt", tid);
		goto detach;
	}
	for (;;) {
		int sig;

		err = wait_stop(tid, &status);
		if (err)
			return err;
		if ((status >> 16) == PTRACE_EVENT_STOP)
			return 0;
		/*
		 * A signal got there first: let it be delivered as it would have
		 * been, the interrupt is still pending and stops the thread next.
		 */
		sig = WSTOPSIG(status);
		pr_debug("thread %d: signal %d before the interrupt stop, delivering it", tid, sig);
		if (ptrace(PTRACE_CONT, tid, NULL, (void *)(long)sig)) {
			err = -errno;
			pr_perror("thread %d: cannot continue", tid);
			goto detach;
		}
	}
detach:
	ptrace(PTRACE_DETACH, tid, NULL, NULL);
	return err;
}

int rsys_detach(pid_t tid)
{
	if (ptrace(PTRACE_DETACH, tid, NULL, NULL)) {
		int err = -errno;

		pr_perror("thread %d: cannot detach", tid);
		return err;
	}
	return 0;
}

/*
 * The vDSO is the injection site of choice: it is executable in every
 * process, debuggers may write to it (VM_MAYWRITE), and ferry never dumps its
 * contents, so the page copied on write leaves no trace in the images. Any
 * other executable mapping is the fallback.
 */
static int find_code_addr(pid_t pid, uint64_t *addr)
{
	char path[64], line[512], perms[8], name[256];
	uint64_t start, end, fallback = 0;
	FILE *f;
	int err = -ENOEXEC;

	/*
	 * Not every line of the maps when it can be helped: that costs O(VMAs)
	 * for every thread prepared (300 threads x 40000 VMAs took 7 s).
	 */
	if (!proc_vdso(pid, addr))
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	if (!f) {
		err = -errno;
		pr_perror("cannot open %s", path);
		return err;
	}
	while (fgets(line, sizeof(line), f)) {
		name[0] = '\0';
		if (sscanf(line, "%lx-%lx %7s %*s %*s %*s %255s", &start, &end, perms, name) < 3)
			continue;
		if (perms[2] != 'x' || !strcmp(name, "[vsyscall]"))
			continue;
		if (!strcmp(name, "[vdso]")) {
			*addr = start;
			err = 0;
			goto out;
		}
		if (!fallback)
			fallback = start;
	}
	if (fallback) {
		*addr = fallback;
		err = 0;
	}
out:
	fclose(f);
	if (err)
		pr_err("pid %d: no executable mapping to run a syscall from", pid);
	return err;
}

int rsys_prepare(struct rsys *r, pid_t tid)
{
	char path[64];
	pid_t tgid = tid;
	FILE *f;
	int err;

	memset(r, 0, sizeof(*r));
	r->tid = tid;
	/* The mapping is per process: look it up through the thread group. */
	snprintf(path, sizeof(path), "/proc/%d/status", tid);
	f = fopen(path, "re");
	if (f) {
		char line[128];

		while (fgets(line, sizeof(line), f))
			if (sscanf(line, "Tgid: %d", &tgid) == 1)
				break;
		fclose(f);
	}
	r->tgid = tgid;
	err = find_code_addr(tgid, &r->code_addr);
	if (err)
		return err;
	if (ptrace(PTRACE_GETREGS, tid, NULL, &r->regs)) {
		err = -errno;
		pr_perror("thread %d: cannot read registers", tid);
		return err;
	}
	errno = 0;
	r->saved_code = (uint64_t)ptrace(PTRACE_PEEKTEXT, tid, (void *)r->code_addr, NULL);
	if (errno) {
		err = -errno;
		pr_perror("thread %d: cannot read code at %#lx", tid, (unsigned long)r->code_addr);
		return err;
	}
	r->prepared = 1;
	return 0;
}

int rsys_prepare_at(struct rsys *r, pid_t tid, pid_t tgid, uint64_t code_addr)
{
	int err;

	memset(r, 0, sizeof(*r));
	r->tid = tid;
	r->tgid = tgid;
	r->code_addr = code_addr;
	r->code_owned = 1;
	if (ptrace(PTRACE_GETREGS, tid, NULL, &r->regs)) {
		err = -errno;
		pr_perror("thread %d: cannot read registers", tid);
		return err;
	}
	r->prepared = 1;
	return 0;
}

static int poke(pid_t tid, uint64_t addr, uint64_t word)
{
	if (ptrace(PTRACE_POKETEXT, tid, (void *)addr, (void *)word)) {
		int err = -errno;

		pr_perror("thread %d: cannot write code at %#lx", tid, (unsigned long)addr);
		return err;
	}
	return 0;
}

/*
 * A fault of the injected code itself (e.g. a call that unmapped it): the
 * kernel's synchronous signals, which would only come again if held and
 * continued.
 */
static int faulted(pid_t tid, int sig)
{
	siginfo_t si;

	if (sig != SIGSEGV && sig != SIGBUS && sig != SIGILL && sig != SIGFPE)
		return 0;
	if (ptrace(PTRACE_GETSIGINFO, tid, NULL, &si))
		return 1;
	return si.si_code > 0; /* SI_KERNEL or a fault code, not kill()/tgkill() */
}

int rsys_call(struct rsys *r, long *ret, long nr, uint64_t a0, uint64_t a1, uint64_t a2,
	      uint64_t a3, uint64_t a4, uint64_t a5)
{
	struct user_regs_struct regs = r->regs;
	uint64_t word = r->saved_code;
	int status, err, restore_err, sig;
	sigset_t held;

	if (!r->prepared)
		return -EINVAL;
	sigemptyset(&held);
	memcpy(&word, inject_code, INJECT_LEN);
	err = r->code_owned ? 0 : poke(r->tid, r->code_addr, word);
	if (err)
		return err;

	regs.rip = r->code_addr;
	regs.rax = (uint64_t)nr;
	regs.orig_rax = (uint64_t)-1; /* not in a syscall: no restart logic */
	regs.rdi = a0;
	regs.rsi = a1;
	regs.rdx = a2;
	regs.r10 = a3;
	regs.r8 = a4;
	regs.r9 = a5;
	if (ptrace(PTRACE_SETREGS, r->tid, NULL, &regs)) {
		err = -errno;
		pr_perror("thread %d: cannot set registers", r->tid);
		goto restore_code;
	}
	for (;;) {
		if (ptrace(PTRACE_CONT, r->tid, NULL, NULL)) {
			err = -errno;
			pr_perror("thread %d: cannot run syscall %ld", r->tid, nr);
			goto restore_regs;
		}
		err = wait_stop(r->tid, &status);
		if (err)
			goto restore_code;
		if (WSTOPSIG(status) == SIGTRAP && (status >> 16) == 0)
			break;
		if ((status >> 16) == PTRACE_EVENT_STOP)
			continue; /* a group-stop or late interrupt: keep going */
		if ((status >> 16) == PTRACE_EVENT_CLONE || (status >> 16) == PTRACE_EVENT_FORK ||
		    (status >> 16) == PTRACE_EVENT_VFORK)
			continue; /* the call made a task; the caller waits for it */
		if (faulted(r->tid, WSTOPSIG(status))) {
			pr_err("thread %d: syscall %ld faulted (signal %d) instead of returning to "
			       "%#lx",
			       r->tid, nr, WSTOPSIG(status),
			       (unsigned long)(r->code_addr + INJECT_LEN));
			err = -EFAULT;
			goto restore_regs;
		}
		/* A signal arrived while we run: hold it, send it again afterwards. */
		sigaddset(&held, WSTOPSIG(status));
		pr_debug("thread %d: holding signal %d during syscall %ld", r->tid,
			 WSTOPSIG(status), nr);
	}
	if (ptrace(PTRACE_GETREGS, r->tid, NULL, &regs)) {
		err = -errno;
		pr_perror("thread %d: cannot read the result of syscall %ld", r->tid, nr);
		goto restore_regs;
	}
	if (regs.rip != r->code_addr + INJECT_LEN) {
		pr_err("thread %d: syscall %ld stopped at %#llx, expected %#lx", r->tid, nr,
		       regs.rip, (unsigned long)(r->code_addr + INJECT_LEN));
		err = -EFAULT;
		goto restore_regs;
	}
	*ret = (long)regs.rax;
	err = 0;
restore_regs:
	if (ptrace(PTRACE_SETREGS, r->tid, NULL, &r->regs) && !err)
		err = -errno;
restore_code:
	restore_err = r->code_owned ? 0 : poke(r->tid, r->code_addr, r->saved_code);
	if (restore_err && !err)
		err = restore_err;
	for (sig = 1; sig < NSIG; sig++)
		if (sigismember(&held, sig) == 1 && syscall(SYS_tgkill, r->tgid, r->tid, sig))
			pr_warn("thread %d: could not send held signal %d again", r->tid, sig);
	return err;
}

int rsys_finish(struct rsys *r)
{
	int err = 0;

	if (!r->prepared)
		return 0;
	if (ptrace(PTRACE_SETREGS, r->tid, NULL, &r->regs)) {
		err = -errno;
		pr_perror("thread %d: cannot restore registers", r->tid);
	}
	r->prepared = 0;
	return err;
}

int rsys_getfd(pid_t pid, int remote_fd)
{
	int pidfd, fd, err;

	pidfd = (int)syscall(__NR_pidfd_open, pid, 0);
	if (pidfd < 0) {
		err = -errno;
		pr_perror("pid %d: pidfd_open", pid);
		return err;
	}
	fd = (int)syscall(__NR_pidfd_getfd, pidfd, remote_fd, 0);
	if (fd < 0) {
		err = -errno;
		pr_perror("pid %d: cannot take its fd %d", pid, remote_fd);
		close(pidfd);
		return err;
	}
	close(pidfd);
	return fd;
}
