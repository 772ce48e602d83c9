// SPDX-License-Identifier: MIT
/*
 * Remote syscalls through ptrace (see rsys.h for the method).
 *
 * Where the return path lives. It must be code the thread can run alone if
 * ferry dies, in memory the program does not use, present in every process
 * without a remote call to make it (the first call would need one itself).
 * The vDSO is mapped in every process and a tracer may write to it (the page
 * is copied on write, as for a debugger's breakpoint), and its mapping is
 * whole pages while its ELF image is not: on 6.18 the image ends at 0x1a60
 * of 0x2000 bytes, and the rest is zeros that no header, section or symbol
 * refers to, so neither the dynamic loader nor the program reads or runs
 * them. Rejected: the thread's stack below its red zone (goroutines and
 * other user-managed stacks have live neighbours just below their stack
 * pointer, and a thread on a sigaltstack may be at its bottom); a page ferry
 * maps first (that mmap is itself a remote call that needs a safe return);
 * an rt_sigreturn frame (it needs a stack to live on and the whole xsave
 * area, when a call changes only rax, rcx, r11 and the argument registers,
 * which immediates can restore); the old
 * "syscall; int3" over the vDSO's first bytes (the int3 kills a thread that
 * ferry's death sets free, and those bytes are the ELF header programs read).
 *
 * The return path, with this thread's values, written before its first call
 * (and again if another thread's was written since), put back by
 * rsys_finish (or, after a call that may remap it, at once):
 *	syscall
 *	movabs $rax, %rax	and the same for rcx, rdx, rsi, rdi, r8, r9, r10, r11
 *	jmp *target(%rip)
 *	target (8-aligned): .quad rip
 * rax..r11 are the registers a call sets or the syscall instruction
 * clobbers; no instruction after the syscall changes the flags (the syscall
 * returns with the thread's own, the kernel restores them), the stack, the
 * FPU/AVX state, the signal mask or any other register. For a thread
 * stopped inside an interrupted syscall the values are those the kernel's
 * restart gives (rsys_fixup_restart): it runs its syscall again, with its
 * restart block. (The one difference from a thread never stopped: a signal
 * whose handler comes right then finds the syscall restarted, where an
 * -ERESTARTNOHAND one would have returned -EINTR.)
 *
 * What the thread does if ferry is killed at each step of rsys_call (the
 * kernel detaches it and wakes it up; PTRACE_O_TRACESYSGOOD makes a syscall
 * stop's code 0x85, which is not a signal, so nothing is sent to it):
 *  1. gadget written: the thread still has its own registers and goes on;
 *     the padding keeps bytes nothing reads (the next ferry to prepare a
 *     call there recognizes them and puts zeros back, the kernel's bytes).
 *  2. registers set to run the gadget: it makes the syscall, then the return
 *     path reloads its registers and jumps back.
 *  3. a signal-delivery stop before the syscall: the signal is delivered (the
 *     stop's code) on the thread's own stack, rsp being its own; the handler
 *     returns into the gadget, then 2. A signal held before (suppressed, to be
 *     sent again after the call) is lost.
 *  4. syscall-entry stop, 5. event stop (clone, fork): the syscall completes,
 *     then the return path.
 *  6. syscall-exit stop: the return path.
 *  7. own registers put back at the exit stop: the wake-up on detach sets
 *     TIF_SIGPENDING, so on its way out of the syscall the kernel runs its
 *     restart logic on those registers, as when a freeze stop ends (a read(2)
 *     the thread was blocked in restarts: test rsys/killed_at_every_step).
 * Steps 2 to 7 repeat while a call is interrupted and restarted. Between
 * calls and after rsys_finish the thread has its own registers and no longer
 * uses the padding.
 */
#include <elf.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
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

#define SYSCALL_LEN 2	  /* 0f 05 */
#define GADGET_JMP 92	  /* syscall + 9 movabs */
#define GADGET_TARGET 104 /* the jump's target address, 8-aligned */
_Static_assert(GADGET_TARGET + 8 == RSYS_GADGET_LEN, "gadget layout");

void rsys_fixup_restart(struct user_regs_struct *regs)
{
	if ((long)regs->orig_rax < 0)
		return; /* not stopped in a syscall */
	switch ((long)regs->rax) {
	case -ERESTARTSYS:
	case -ERESTARTNOINTR:
	case -ERESTARTNOHAND:
		regs->rax = regs->orig_rax;
		regs->rip -= SYSCALL_LEN;
		break;
	case -ERESTART_RESTARTBLOCK:
		regs->rax = __NR_restart_syscall;
		regs->rip -= SYSCALL_LEN;
		break;
	}
}

static int is_restart(long rval)
{
	return rval == -ERESTARTSYS || rval == -ERESTARTNOINTR || rval == -ERESTARTNOHAND ||
	       rval == -ERESTART_RESTARTBLOCK;
}

/* The syscall, then the return path to @own (layout in the header comment). */
static void build_gadget(const struct user_regs_struct *own, uint8_t *g)
{
	static const uint8_t movabs[9][2] = {
		{ 0x48, 0xb8 }, { 0x48, 0xb9 }, { 0x48, 0xba }, { 0x48, 0xbe }, { 0x48, 0xbf },
		{ 0x49, 0xb8 }, { 0x49, 0xb9 }, { 0x49, 0xba }, { 0x49, 0xbb },
	};
	struct user_regs_struct r = *own;
	int32_t disp = GADGET_TARGET - (GADGET_JMP + 6);
	uint64_t v[9];
	size_t n = 0;

	rsys_fixup_restart(&r);
	v[0] = r.rax, v[1] = r.rcx, v[2] = r.rdx, v[3] = r.rsi, v[4] = r.rdi;
	v[5] = r.r8, v[6] = r.r9, v[7] = r.r10, v[8] = r.r11;
	memset(g, 0xcc, RSYS_GADGET_LEN);
	g[n++] = 0x0f;
	g[n++] = 0x05;
	for (int i = 0; i < 9; i++) {
		g[n++] = movabs[i][0];
		g[n++] = movabs[i][1];
		memcpy(g + n, &v[i], 8);
		n += 8;
	}
	g[n++] = 0xff; /* jmp *disp32(%rip) */
	g[n++] = 0x25;
	memcpy(g + n, &disp, 4);
	memcpy(g + GADGET_TARGET, &r.rip, 8);
}

/* Bytes a ferry left in a padding: one killed in a call, or a call not finished. */
static int is_gadget(const uint8_t *g)
{
	static const uint8_t jmp[6] = { 0xff, 0x25, GADGET_TARGET - GADGET_JMP - 6, 0, 0, 0 };

	return g[0] == 0x0f && g[1] == 0x05 && g[2] == 0x48 && g[3] == 0xb8 &&
	       !memcmp(g + GADGET_JMP, jmp, sizeof(jmp));
}

/*
 * The gadget ferry wrote last and has not put back. ferry makes one remote
 * call at a time, so these are the bytes at @addr in process @tgid: the
 * calls of a thread after its first do not write them again.
 */
static struct {
	pid_t tgid; /* 0: none */
	uint64_t addr;
	uint8_t bytes[RSYS_GADGET_LEN];
} written;

/*
 * Where the padding of the last process prepared is, and its own bytes:
 * the threads of a process share them, and a dump prepares each in turn.
 */
static struct {
	pid_t tgid; /* 0: none */
	uint64_t vdso, code_addr;
	uint8_t saved[RSYS_GADGET_LEN];
} site;

/*
 * FERRY_FAULT=rsys-STEP kills ferry at that step of a remote call (tests of
 * what the thread does then; names in rsys_call).
 */
static void fault_point(const char *name)
{
	const char *f = getenv("FERRY_FAULT");

	if (f && !strcmp(f, name)) {
		pr_warn("fault point '%s': killing ferry", name);
		kill(getpid(), SIGKILL);
	}
}

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

	options |= PTRACE_O_TRACESYSGOOD;
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

/* The [vdso] mapping of @pid: one ioctl when it is where exec put it, else the maps. */
static int vdso_range(pid_t pid, uint64_t *start, uint64_t *end)
{
	char path[64], line[512], name[256];
	uint64_t s, e;
	FILE *f;
	int err = -ENOEXEC;

	/*
	 * Not every line of the maps when it can be helped: that costs O(VMAs)
	 * for every thread prepared (300 threads x 40000 VMAs took 7 s).
	 */
	if (!proc_vdso(pid, start, end))
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
		if (sscanf(line, "%lx-%lx %*s %*s %*s %*s %255s", &s, &e, name) == 3 &&
		    !strcmp(name, "[vdso]")) {
			*start = s;
			*end = e;
			err = 0;
			break;
		}
	}
	fclose(f);
	if (err)
		pr_err("pid %d: no vDSO to run remote syscalls from (it unmapped it?): not "
		       "supported",
		       pid);
	return err;
}

static int mem_read(const struct rsys *r, uint64_t addr, void *buf, size_t len)
{
	ssize_t n = pread(r->mem_fd, buf, len, (off_t)addr);

	if (n != (ssize_t)len) {
		int err = n < 0 ? -errno : -EIO;

		pr_errno(err, "thread %d: cannot read %zu bytes at %#lx", r->tid, len,
			 (unsigned long)addr);
		return err;
	}
	return 0;
}

/* Write @len bytes at the gadget's place (through the vDSO's protection, as a debugger). */
static int mem_write_code(const struct rsys *r, const void *buf, size_t len)
{
	ssize_t n = pwrite(r->mem_fd, buf, len, (off_t)r->code_addr);

	if (n != (ssize_t)len) {
		int err = n < 0 ? -errno : -EIO;

		pr_errno(err, "thread %d: cannot write the vDSO padding at %#lx", r->tid,
			 (unsigned long)r->code_addr);
		return err;
	}
	return 0;
}

/*
 * The first 16-aligned byte after the vDSO's ELF image (its headers, the
 * extent of every segment and the section header table), if the gadget fits
 * before the end of the mapping.
 */
static int find_padding(struct rsys *r, uint64_t start, uint64_t end)
{
	Elf64_Ehdr eh;
	Elf64_Phdr ph[16];
	uint64_t img;
	int err;

	err = mem_read(r, start, &eh, sizeof(eh));
	if (err)
		return err;
	if (memcmp(eh.e_ident, ELFMAG, SELFMAG) || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
	    eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 16 ||
	    (eh.e_shnum && eh.e_shentsize != sizeof(Elf64_Shdr)) || eh.e_phoff > end - start ||
	    eh.e_shoff > end - start) {
		pr_err("pid %d: the vDSO at %#lx is not a 64-bit ELF image", r->tgid,
		       (unsigned long)start);
		return -ENOEXEC;
	}
	img = sizeof(eh);
	if (eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr) > img)
		img = eh.e_phoff + (uint64_t)eh.e_phnum * sizeof(Elf64_Phdr);
	if (eh.e_shoff + (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr) > img)
		img = eh.e_shoff + (uint64_t)eh.e_shnum * sizeof(Elf64_Shdr);
	if (img > end - start) {
		pr_err("pid %d: the vDSO's image (%#lx bytes) is larger than its mapping", r->tgid,
		       (unsigned long)img);
		return -ENOEXEC;
	}
	err = eh.e_phnum ? mem_read(r, start + eh.e_phoff, ph, eh.e_phnum * sizeof(ph[0])) : 0;
	if (err)
		return err;
	for (int i = 0; i < eh.e_phnum; i++) {
		if (ph[i].p_offset > end - start || ph[i].p_filesz > end - start) {
			pr_err("pid %d: the vDSO's segment %d lies outside its mapping", r->tgid,
			       i);
			return -ENOEXEC;
		}
		if (ph[i].p_offset + ph[i].p_filesz > img)
			img = ph[i].p_offset + ph[i].p_filesz;
	}
	r->code_addr = start + ((img + 15) & ~15ull);
	if (r->code_addr + RSYS_GADGET_LEN > end) {
		pr_err("pid %d: no room after the vDSO's image (%#lx of %#lx bytes) to run remote "
		       "syscalls from",
		       r->tgid, (unsigned long)img, (unsigned long)(end - start));
		return -ENOSPC;
	}
	return 0;
}

static int read_regs(struct rsys *r)
{
	if (ptrace(PTRACE_GETREGS, r->tid, NULL, &r->regs)) {
		int err = -errno;

		pr_perror("thread %d: cannot read registers", r->tid);
		return err;
	}
	if (r->regs.cs != 0x33) {
		pr_err("thread %d runs 32-bit code (cs %#llx): no remote syscalls", r->tid,
		       r->regs.cs);
		return -ENOTSUP;
	}
	return 0;
}

/*
 * A thread stopped inside a return path (a killed ferry's: it was on its way
 * back when it was seized): finish it here, its own values are the gadget's
 * immediates. At the syscall (rip on it) the old call is simply dropped.
 */
static int finish_return_path(struct rsys *r)
{
	uint64_t off = r->regs.rip - r->code_addr, v;
	uint8_t g[RSYS_GADGET_LEN];
	unsigned long long *reg[9] = { &r->regs.rax, &r->regs.rcx, &r->regs.rdx,
				       &r->regs.rsi, &r->regs.rdi, &r->regs.r8,
				       &r->regs.r9,  &r->regs.r10, &r->regs.r11 };
	int err;

	if (r->regs.rip < r->code_addr || off >= RSYS_GADGET_LEN)
		return 0;
	err = mem_read(r, r->code_addr, g, sizeof(g));
	if (err)
		return err;
	if (!is_gadget(g) || off > GADGET_JMP || (off && off < SYSCALL_LEN) ||
	    (off > SYSCALL_LEN && (off - SYSCALL_LEN) % 10)) {
		pr_err("thread %d: stopped at %#llx, inside the vDSO padding but not on a return "
		       "path's instruction",
		       r->tid, r->regs.rip);
		return -EFAULT;
	}
	for (int i = 0; i < 9; i++)
		if (SYSCALL_LEN + 10 * (uint64_t)i >= off) {
			memcpy(&v, g + SYSCALL_LEN + 10 * i + 2, 8);
			*reg[i] = v;
		}
	memcpy(&v, g + GADGET_TARGET, 8);
	r->regs.rip = v;
	r->regs.orig_rax = (uint64_t)-1; /* nothing of the old call is restarted */
	pr_warn("thread %d: was on a killed ferry's way back to %#llx; finished it", r->tid,
		r->regs.rip);
	if (ptrace(PTRACE_SETREGS, r->tid, NULL, &r->regs)) {
		err = -errno;
		pr_perror("thread %d: cannot set its registers", r->tid);
		return err;
	}
	return 0;
}

int rsys_prepare(struct rsys *r, pid_t tid)
{
	char path[64];
	uint64_t start, end;
	pid_t tgid = tid;
	FILE *f;
	int err;

	memset(r, 0, sizeof(*r));
	r->tid = tid;
	r->mem_fd = -1;
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
	err = read_regs(r);
	if (err)
		return err;
	err = vdso_range(tgid, &start, &end);
	if (err)
		return err;
	snprintf(path, sizeof(path), "/proc/%d/mem", tid);
	r->mem_fd = open(path, O_RDWR | O_CLOEXEC);
	if (r->mem_fd < 0) {
		err = -errno;
		pr_perror("cannot open %s", path);
		return err;
	}
	if (site.tgid == tgid && site.vdso == start) {
		r->code_addr = site.code_addr;
		memcpy(r->saved, site.saved, sizeof(r->saved));
	} else {
		site.tgid = 0;
		err = find_padding(r, start, end);
		if (!err)
			err = mem_read(r, r->code_addr, r->saved, sizeof(r->saved));
		if (err) {
			close(r->mem_fd);
			r->mem_fd = -1;
			return err;
		}
		/* The kernel's padding is zeros: what a killed ferry left is cleaned up too. */
		if (is_gadget(r->saved))
			memset(r->saved, 0, sizeof(r->saved));
		site.tgid = tgid;
		site.vdso = start;
		site.code_addr = r->code_addr;
		memcpy(site.saved, r->saved, sizeof(r->saved));
	}
	err = finish_return_path(r);
	if (err) {
		close(r->mem_fd);
		r->mem_fd = -1;
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
	r->mem_fd = -1;
	err = read_regs(r);
	if (err)
		return err;
	r->prepared = 1;
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

/*
 * Put the thread's own registers back. At a syscall-entry stop (an engine
 * failure there) the kernel would run syscall orig_rax next: give it the
 * restarted form instead, with no syscall pending.
 */
static int put_own_regs(struct rsys *r, int at_entry)
{
	struct user_regs_struct regs = r->regs;

	r->at_entry = at_entry;
	if (at_entry) {
		rsys_fixup_restart(&regs);
		regs.orig_rax = (uint64_t)-1;
	}
	if (ptrace(PTRACE_SETREGS, r->tid, NULL, &regs)) {
		int err = -errno;

		pr_perror("thread %d: cannot restore its registers", r->tid);
		return err;
	}
	return 0;
}

/* Calls that may map something else where the gadget was. */
static int may_remap(long nr)
{
	return nr == __NR_mmap || nr == __NR_munmap || nr == __NR_mremap || nr == __NR_shmat ||
	       nr == __NR_shmdt || nr == __NR_remap_file_pages || nr == __NR_madvise;
}

/* The padding as it was, and nothing of ours left there. */
static int put_back_padding(struct rsys *r)
{
	if (!r->wrote)
		return 0;
	r->wrote = 0;
	if (written.tgid == r->tgid && written.addr == r->code_addr)
		written.tgid = 0;
	return mem_write_code(r, r->saved, sizeof(r->saved));
}

/* After a call that may have mapped something else where the padding was. */
static int check_padding(struct rsys *r, long nr, const uint8_t *gadget)
{
	uint8_t now[RSYS_GADGET_LEN];

	if (!may_remap(nr))
		return 0;
	if (pread(r->mem_fd, now, sizeof(now), (off_t)r->code_addr) != (ssize_t)sizeof(now) ||
	    memcmp(now, gadget, sizeof(now))) {
		pr_warn("thread %d: the vDSO padding at %#lx changed during syscall %ld; left as "
			"it is",
			r->tid, (unsigned long)r->code_addr, nr);
		r->wrote = 0;
		written.tgid = 0;
		return 0;
	}
	return put_back_padding(r);
}

int rsys_call(struct rsys *r, long *ret, long nr, uint64_t a0, uint64_t a1, uint64_t a2,
	      uint64_t a3, uint64_t a4, uint64_t a5)
{
	struct user_regs_struct regs = r->regs;
	struct __ptrace_syscall_info si;
	uint8_t gadget[RSYS_GADGET_LEN];
	int status, err, restore_err, sig, at_entry = 0, in_call = 0;
	long expect = nr;
	sigset_t held;

	if (!r->prepared)
		return -EINVAL;
	sigemptyset(&held);
	if (!r->code_owned) {
		build_gadget(&r->regs, gadget);
		r->wrote = 1; /* the padding holds a gadget now: rsys_finish puts it back */
		if (written.tgid != r->tgid || written.addr != r->code_addr ||
		    memcmp(written.bytes, gadget, sizeof(gadget))) {
			written.tgid = 0;
			err = mem_write_code(r, gadget, sizeof(gadget));
			if (err)
				return err;
			written.tgid = r->tgid;
			written.addr = r->code_addr;
			memcpy(written.bytes, gadget, sizeof(gadget));
		}
		fault_point("rsys-gadget");
	}

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
	fault_point("rsys-regs");
	for (;;) {
		if (ptrace(PTRACE_SYSCALL, r->tid, NULL, NULL)) {
			err = -errno;
			pr_perror("thread %d: cannot run syscall %ld", r->tid, nr);
			goto restore_regs;
		}
		err = wait_stop(r->tid, &status);
		if (err)
			goto restore_code;
		at_entry = 0;
		sig = WSTOPSIG(status);
		/*
		 * A group-stop or late interrupt (PTRACE_EVENT_STOP): keep going. A
		 * task the call made (clone/fork events): the caller waits for it.
		 */
		if (status >> 16)
			continue;
		if (sig == (SIGTRAP | 0x80) || sig == SIGTRAP) {
			/*
			 * Syscall stops alternate, entry first: the thread was at no
			 * syscall stop when it was sent to the gadget. Only a plain
			 * SIGTRAP (a tracee seized without TRACESYSGOOD) needs asking.
			 */
			si.op = in_call ? PTRACE_SYSCALL_INFO_EXIT : PTRACE_SYSCALL_INFO_ENTRY;
			if ((in_call || sig == SIGTRAP) &&
			    ptrace(PTRACE_GET_SYSCALL_INFO, r->tid, (void *)sizeof(si), &si) < 0) {
				err = -errno;
				pr_perror("thread %d: cannot read its syscall stop", r->tid);
				goto restore_regs;
			}
			if (si.op == PTRACE_SYSCALL_INFO_ENTRY) {
				at_entry = in_call = 1;
				fault_point("rsys-entry");
				continue;
			}
			if (si.op == PTRACE_SYSCALL_INFO_EXIT) {
				in_call = 0;
				if (si.instruction_pointer != r->code_addr + SYSCALL_LEN) {
					pr_err("thread %d: left syscall %ld at %#llx, expected %#lx",
					       r->tid, expect,
					       (unsigned long long)si.instruction_pointer,
					       (unsigned long)(r->code_addr + SYSCALL_LEN));
					err = -EFAULT;
					goto restore_regs;
				}
				if (!is_restart(si.exit.rval))
					break;
				/*
				 * Interrupted (by a signal held, a stop): run it again as
				 * the kernel's restart would, but set here, so that the
				 * thread never goes on into the return path meanwhile.
				 */
				expect = si.exit.rval == -ERESTART_RESTARTBLOCK
						 ? __NR_restart_syscall
						 : nr;
				regs.rip = r->code_addr;
				regs.rax = (uint64_t)expect;
				if (ptrace(PTRACE_SETREGS, r->tid, NULL, &regs)) {
					err = -errno;
					pr_perror("thread %d: cannot restart syscall %ld", r->tid,
						  nr);
					goto restore_regs;
				}
				continue;
			}
		}
		if (faulted(r->tid, sig)) {
			pr_err("thread %d: syscall %ld faulted (signal %d) at %#lx", r->tid, nr,
			       sig, (unsigned long)r->code_addr);
			err = -EFAULT;
			goto restore_regs;
		}
		/* A signal arrived while we run: hold it, send it again afterwards. */
		sigaddset(&held, sig);
		pr_debug("thread %d: holding signal %d during syscall %ld", r->tid, sig, nr);
	}
	*ret = (long)si.exit.rval;
	err = 0;
	fault_point("rsys-exit");
restore_regs:
	restore_err = put_own_regs(r, at_entry);
	if (restore_err && !err)
		err = restore_err;
	fault_point("rsys-own-regs");
restore_code:
	restore_err = r->code_owned ? 0 : check_padding(r, nr, gadget);
	if (restore_err && !err)
		err = restore_err;
	for (sig = 1; sig < NSIG; sig++)
		if (sigismember(&held, sig) == 1 && syscall(SYS_tgkill, r->tgid, r->tid, sig))
			pr_warn("thread %d: could not send held signal %d again", r->tid, sig);
	return err;
}

int rsys_finish(struct rsys *r)
{
	int err, e;

	if (!r->prepared)
		return 0;
	/* Every call put them back already; a no-op unless the caller moved the thread. */
	err = put_own_regs(r, r->at_entry);
	if (r->mem_fd >= 0 && (e = put_back_padding(r)) && !err)
		err = e;
	if (r->mem_fd >= 0)
		close(r->mem_fd);
	r->mem_fd = -1;
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
