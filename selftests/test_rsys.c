// SPDX-License-Identifier: MIT
/*
 * The remote-syscall engine on real processes with real ptrace: results of
 * injected calls, fds taken with pidfd_getfd, the target's own blocked
 * syscall restarting correctly afterwards, no trace left in its registers,
 * FPU state, signal mask, stack or vDSO, and a target that goes on by itself
 * when ferry is killed at any step of a call.
 */
#include <criterion/criterion.h>
#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "log.h"
#include "rsys.h"

struct child {
	pid_t pid;
	int in;	 /* write end of its stdin */
	int out; /* read end of its stdout */
};

static void spawn(struct child *c, const char *mode)
{
	int pin[2], pout[2];
	char line[64] = "";
	ssize_t n;

	cr_assert_eq(pipe2(pin, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(pout, O_CLOEXEC), 0);
	c->pid = fork();
	cr_assert_geq(c->pid, 0);
	if (!c->pid) {
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		execl(t_workload("blocked"), "blocked", mode, (char *)NULL);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	c->in = pin[1];
	c->out = pout[0];
	/* One byte at a time: the line may come in more than one write. */
	for (n = 0; n < (ssize_t)sizeof(line) - 1 && read(c->out, line + n, 1) == 1; n++)
		if (line[n] == '\n')
			break;
	cr_assert(!strncmp(line, "ready\n", 6), "workload did not start: '%s'", line);
	usleep(100 * 1000); /* let it block in its syscall */
}

static char *read_rest(int fd)
{
	static char buf[256];
	size_t n = 0;
	ssize_t r;

	while (n < sizeof(buf) - 1 && (r = read(fd, buf + n, sizeof(buf) - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	return buf;
}

static int reap(pid_t pid)
{
	int st;

	cr_assert_eq(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int mapped(pid_t pid, unsigned long addr)
{
	char path[64], line[512];
	unsigned long s, e;
	FILE *f;
	int found = 0;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx", &s, &e) == 2 && addr >= s && addr < e)
			found = 1;
	if (f)
		fclose(f);
	return found;
}

TestSuite(rsys, .timeout = 30);

Test(rsys, calls_in_blocked_read)
{
	struct child c;
	struct rsys r;
	long ret;
	int fd;

	if (geteuid())
		cr_skip_test("needs root for ptrace of a child with pidfd_getfd");
	spawn(&c, "read");
	cr_assert_eq(rsys_seize(c.pid), 0);
	cr_assert_eq(rsys_prepare(&r, c.pid), 0);
	/* It was stopped inside read(2): orig_rax says so. */
	cr_assert_eq((long)r.regs.orig_rax, SYS_read);

	cr_assert_eq(rsys_call(&r, &ret, SYS_getpid, 0, 0, 0, 0, 0, 0), 0);
	cr_assert_eq(ret, c.pid, "getpid in the target");

	cr_assert_eq(rsys_call(&r, &ret, SYS_mmap, 0, 8192, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0),
		     0);
	cr_assert(ret > 0 && !(ret & 4095), "mmap returned %ld", ret);
	cr_assert(mapped(c.pid, (unsigned long)ret), "the new mapping is the target's");
	cr_assert_eq(rsys_call(&r, &ret, SYS_munmap, (uint64_t)ret, 8192, 0, 0, 0, 0), 0);
	cr_assert_eq(ret, 0);

	/* An error is a result: close of a bad fd gives -EBADF. */
	cr_assert_eq(rsys_call(&r, &ret, SYS_close, 999, 0, 0, 0, 0, 0), 0);
	cr_assert_eq(ret, -EBADF);

	/* A descriptor made in the target, taken here: it is the target's stdout. */
	cr_assert_eq(rsys_call(&r, &ret, SYS_dup, 1, 0, 0, 0, 0, 0), 0);
	cr_assert_geq(ret, 3);
	fd = rsys_getfd(c.pid, (int)ret);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "via target fd\n", 14), 14);
	close(fd);
	cr_assert_eq(rsys_call(&r, &ret, SYS_close, (uint64_t)ret, 0, 0, 0, 0, 0), 0);
	cr_assert_eq(ret, 0);

	cr_assert_eq(rsys_finish(&r), 0);
	cr_assert_eq(rsys_detach(c.pid), 0);

	/* Its read(2) restarts and gets our line, as if nothing happened. */
	cr_assert_eq(write(c.in, "hello\n", 6), 6);
	close(c.in);
	cr_assert_str_eq(read_rest(c.out), "via target fd\ngot hello\n");
	cr_assert_eq(reap(c.pid), 0);
	close(c.out);
}

Test(rsys, nanosleep_restarts_with_remaining_time)
{
	struct child c;
	struct rsys r;
	char *out;
	long ret, ms;

	if (geteuid())
		cr_skip_test("needs root");
	spawn(&c, "sleep");
	cr_assert_eq(rsys_seize(c.pid), 0);
	cr_assert_eq(rsys_prepare(&r, c.pid), 0);
	cr_assert_eq(rsys_call(&r, &ret, SYS_getppid, 0, 0, 0, 0, 0, 0), 0);
	cr_assert_eq(ret, getpid());
	cr_assert_eq(rsys_finish(&r), 0);
	cr_assert_eq(rsys_detach(c.pid), 0);

	out = read_rest(c.out);
	cr_assert(sscanf(out, "slept %ld", &ms) == 1, "workload said '%s'", out);
	cr_assert_geq(ms, 1500, "nanosleep must sleep its whole time after the restart");
	cr_assert_eq(reap(c.pid), 0);
	close(c.in);
	close(c.out);
}

Test(rsys, errors_name_the_thread)
{
	char *dir = t_tmpdir(), logp[256], *log;
	pid_t dead;
	int st;

	dead = fork();
	if (!dead)
		_exit(0);
	waitpid(dead, &st, 0);
	snprintf(logp, sizeof(logp), "%s/log", dir);
	cr_assert_eq(log_init(logp, LOG_ERROR, 0), 0);
	cr_assert_eq(rsys_seize(dead), -ESRCH);
	log_fini();
	log = t_read_file(logp, NULL);
	cr_assert(strstr(log, "cannot seize"), "log: %s", log);
	free(log);
	t_rmrf(dir);
	free(dir);
}

/*
 * A code page of the caller's (as the restore's scratch page): calls run from
 * it without any code written per call, also while the vDSO moves away, and a
 * fork made with PTRACE_O_TRACEFORK runs through its event stop. Nothing runs
 * after the syscall instruction, so a call may even unmap that page.
 */
Test(rsys, calls_from_a_caller_owned_page)
{
	static const uint8_t code[8] = { 0x0f, 0x05, 0xcc };
	struct child c;
	struct rsys r, v;
	long page, ret, child = 0;
	int status;

	if (geteuid())
		cr_skip_test("needs root for ptrace");
	spawn(&c, "read");
	cr_assert_eq(rsys_seize_opts(c.pid, PTRACE_O_TRACEFORK | PTRACE_O_EXITKILL), 0);
	cr_assert_eq(rsys_prepare(&v, c.pid), 0);
	cr_assert_eq(rsys_call(&v, &page, SYS_mmap, 0, 4096, PROT_READ | PROT_EXEC,
			       MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0),
		     0);
	cr_assert_gt(page, 0);
	cr_assert_eq(rsys_finish(&v), 0);
	/* ptrace writes through the read-only protection, as a debugger does. */
	cr_assert_eq(ptrace(PTRACE_POKETEXT, c.pid, (void *)page, *(const long *)code), 0);

	cr_assert_eq(rsys_prepare_at(&r, c.pid, c.pid, (uint64_t)page), 0);
	cr_assert_eq(rsys_call(&r, &ret, SYS_getpid, 0, 0, 0, 0, 0, 0), 0);
	cr_assert_eq(ret, c.pid);
	cr_assert_eq(rsys_call(&r, &child, SYS_fork, 0, 0, 0, 0, 0, 0), 0);
	cr_assert_gt(child, 0, "fork in the target gave %ld", child);
	/* The child starts traced and stopped; it never ran the injected int3. */
	cr_assert_eq(waitpid((pid_t)child, &status, __WALL), child);
	cr_assert(WIFSTOPPED(status));
	kill((pid_t)child, SIGKILL);
	waitpid((pid_t)child, &status, __WALL);
	cr_assert_eq(rsys_call(&r, &ret, SYS_munmap, (uint64_t)page, 4096, 0, 0, 0, 0), 0);
	cr_assert_eq(ret, 0, "munmap of its own code page gave %ld", ret);
	cr_assert_not(mapped(c.pid, (unsigned long)page));
	cr_assert_eq(rsys_call(&r, &ret, SYS_getpid, 0, 0, 0, 0, 0, 0), -EFAULT,
		     "a call from a code page that is gone");
	cr_assert_eq(rsys_finish(&r), 0);
	kill(c.pid, SIGKILL);
	reap(c.pid);
	close(c.in);
	close(c.out);
}

/* Start and end of the [vdso] mapping of pid, from /proc/PID/maps; 0 if none. */
static unsigned long vdso_of(pid_t pid, unsigned long *end)
{
	char path[64], line[512];
	unsigned long s, e, found = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	while (f && fgets(line, sizeof(line), f))
		if (strstr(line, "[vdso]") && sscanf(line, "%lx-%lx", &s, &e) == 2) {
			found = s;
			*end = e;
		}
	if (f)
		fclose(f);
	return found;
}

/*
 * Calls are run from the vDSO's padding, found where the kernel put it at
 * exec (the auxv) and still there; a vDSO moved since (as a restored
 * process's is) is found by scanning the maps instead, never at its stale
 * address.
 */
Test(rsys, finds_the_vdso_where_it_is_now)
{
	static const uint8_t code[8] = { 0x0f, 0x05, 0xcc };
	unsigned long start, end, moved, e2;
	struct rsys r, v;
	struct child c;
	long page, to, ret;

	if (geteuid())
		cr_skip_test("needs root for ptrace");
	spawn(&c, "read");
	start = vdso_of(c.pid, &end);
	if (!start)
		cr_skip_test("the workload has no vDSO");
	cr_assert_eq(rsys_seize_opts(c.pid, PTRACE_O_EXITKILL), 0);
	cr_assert_eq(rsys_prepare(&v, c.pid), 0);
	cr_assert(v.code_addr > start && v.code_addr + RSYS_GADGET_LEN <= end,
		  "code at %#lx, the vDSO is at %#lx-%#lx", (unsigned long)v.code_addr, start, end);
	cr_assert_eq(rsys_call(&v, &page, SYS_mmap, 0, 4096, PROT_READ | PROT_EXEC,
			       MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0),
		     0);
	cr_assert_eq(rsys_call(&v, &to, SYS_mmap, 0, end - start, PROT_NONE,
			       MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0),
		     0);
	cr_assert_gt(to, 0);
	cr_assert_eq(rsys_finish(&v), 0);
	cr_assert_eq(ptrace(PTRACE_POKETEXT, c.pid, (void *)page, *(const long *)code), 0);

	/* Move the vDSO from a page of our own (not from the vDSO being moved). */
	cr_assert_eq(rsys_prepare_at(&r, c.pid, c.pid, (uint64_t)page), 0);
	cr_assert_eq(rsys_call(&r, &ret, SYS_mremap, start, end - start, end - start,
			       MREMAP_MAYMOVE | MREMAP_FIXED, (uint64_t)to, 0),
		     0);
	cr_assert_eq(ret, to);
	cr_assert_eq(rsys_finish(&r), 0);
	moved = vdso_of(c.pid, &e2);
	cr_assert_eq(moved, (unsigned long)to, "the vDSO is at %#lx after mremap", moved);

	cr_assert_eq(rsys_prepare(&v, c.pid), 0);
	cr_assert(v.code_addr > moved && v.code_addr + RSYS_GADGET_LEN <= e2,
		  "code at %#lx, the vDSO moved to %#lx-%#lx", (unsigned long)v.code_addr, moved,
		  e2);
	cr_assert_eq(rsys_call(&v, &ret, SYS_getpid, 0, 0, 0, 0, 0, 0), 0);
	cr_assert_eq(ret, c.pid);
	cr_assert_eq(rsys_finish(&v), 0);
	kill(c.pid, SIGKILL);
	reap(c.pid);
	close(c.in);
	close(c.out);
}

/* ---- no trace, and no harm when ferry dies ----------------------------------------- */

/* The vDSO of @pid holds the same bytes as ours (the kernel's image, nothing left in it). */
static void vdso_pristine(pid_t pid)
{
	unsigned long s, e, ms, me;
	uint8_t *theirs;
	char path[64];
	int fd;

	s = vdso_of(pid, &e);
	ms = vdso_of(getpid(), &me);
	cr_assert(s && ms && e - s == me - ms);
	theirs = malloc(e - s);
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_eq(pread(fd, theirs, e - s, (off_t)s), (ssize_t)(e - s));
	close(fd);
	for (size_t i = 0; i < e - s; i++)
		cr_assert_eq(theirs[i], ((uint8_t *)ms)[i],
			     "pid %d: vDSO byte %#zx is %#x, not %#x", pid, i, theirs[i],
			     ((uint8_t *)ms)[i]);
	free(theirs);
}

/* What a remote call must leave as it found it. */
struct snap {
	struct user_regs_struct regs;
	uint8_t xstate[16384];
	size_t xlen;
	uint64_t mask;
	uint8_t stack[8192]; /* up to 4 KiB either side of rsp, below the red zone too */
	uint64_t stack_at;   /* as much of that as its mapping holds */
	size_t stack_len;
	uint8_t vdso[16384];
	size_t vdso_len;
};

/* [rsp - len/2, rsp + len/2) clipped to the mapping rsp is in (the stack may not reach lower). */
static void stack_window(pid_t pid, uint64_t rsp, size_t len, uint64_t *at, size_t *n)
{
	char path[64], line[512];
	unsigned long s, e;
	uint64_t lo = rsp - len / 2, hi = rsp + len / 2;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "%lx-%lx", &s, &e) == 2 && rsp >= s && rsp < e) {
			lo = lo < s ? s : lo;
			hi = hi > e ? e : hi;
		}
	fclose(f);
	*at = lo;
	*n = (size_t)(hi - lo);
}

static void snap_take(pid_t pid, struct snap *s)
{
	struct iovec x = { s->xstate, sizeof(s->xstate) };
	unsigned long vs, ve;
	char path[64];
	ssize_t n;
	int fd;

	memset(s, 0, sizeof(*s));
	cr_assert_eq(ptrace(PTRACE_GETREGS, pid, NULL, &s->regs), 0);
	cr_assert_eq(ptrace(PTRACE_GETREGSET, pid, (void *)NT_X86_XSTATE, &x), 0);
	s->xlen = x.iov_len;
	cr_assert_eq(ptrace(PTRACE_GETSIGMASK, pid, (void *)sizeof(s->mask), &s->mask), 0);
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	stack_window(pid, s->regs.rsp, sizeof(s->stack), &s->stack_at, &s->stack_len);
	n = pread(fd, s->stack, s->stack_len, (off_t)s->stack_at);
	cr_assert_eq(n, (ssize_t)s->stack_len, "the stack around rsp %#llx", s->regs.rsp);
	vs = vdso_of(pid, &ve);
	cr_assert(vs && ve - vs <= sizeof(s->vdso));
	n = pread(fd, s->vdso, ve - vs, (off_t)vs);
	cr_assert_eq(n, (ssize_t)(ve - vs));
	s->vdso_len = (size_t)n;
	close(fd);
}

static void snap_same(const struct snap *a, const struct snap *b, int vdso, const char *when)
{
	const uint64_t *ra = (const uint64_t *)&a->regs, *rb = (const uint64_t *)&b->regs;

	for (size_t i = 0; i < sizeof(a->regs) / 8; i++)
		cr_assert_eq(ra[i], rb[i], "%s: register word %zu: %#lx, was %#lx", when, i,
			     (unsigned long)rb[i], (unsigned long)ra[i]);
	cr_assert_eq(a->xlen, b->xlen);
	cr_assert(!memcmp(a->xstate, b->xstate, a->xlen), "%s: the xsave area changed", when);
	cr_assert_eq(a->mask, b->mask, "%s: the signal mask changed", when);
	cr_assert(a->stack_at == b->stack_at && a->stack_len == b->stack_len);
	cr_assert(!memcmp(a->stack, b->stack, a->stack_len), "%s: the stack changed", when);
	cr_assert_eq(a->vdso_len, b->vdso_len);
	for (size_t i = 0; vdso && i < a->vdso_len; i++)
		cr_assert_eq(a->vdso[i], b->vdso[i], "%s: vDSO byte %#zx is %#x, was %#x", when, i,
			     b->vdso[i], a->vdso[i]);
}

/*
 * Remote calls in a thread holding patterns in its x87, vector and opmask
 * registers (selftests/workloads/fpu): results right, and afterwards its
 * registers, xsave area, signal mask, stack (below rsp too) and the whole vDSO
 * are as they were; it then checks its registers itself.
 */
Test(rsys, leaves_no_trace)
{
	const char *argv[] = { "fpu", NULL };
	char *dir = t_tmpdir(), out[256], *line;
	struct snap *before = malloc(sizeof(*before)), *after = malloc(sizeof(*after));
	struct rsys r;
	long ret, page;
	pid_t pid;

	if (geteuid())
		cr_skip_test("needs root for ptrace");
	snprintf(out, sizeof(out), "%s/out", dir);
	pid = t_spawn(out, argv);
	line = t_wait_line(out, "ready", 10000);
	cr_assert_not_null(line, "fpu did not start");
	free(line);
	for (int round = 0; round < 8; round++) {
		usleep(30 * 1000); /* stopped in its hold loop, its nanosleep or its steps */
		cr_assert_eq(rsys_seize(pid), 0);
		snap_take(pid, before);
		cr_assert_eq(rsys_prepare(&r, pid), 0);
		cr_assert_eq(rsys_call(&r, &ret, SYS_getpid, 0, 0, 0, 0, 0, 0), 0);
		cr_assert_eq(ret, pid);
		cr_assert_eq(rsys_call(&r, &page, SYS_mmap, 0, 4096, PROT_READ | PROT_WRITE,
				       MAP_PRIVATE | MAP_ANONYMOUS, (uint64_t)-1, 0),
			     0);
		cr_assert_gt(page, 0);
		cr_assert_eq(rsys_call(&r, &ret, SYS_munmap, (uint64_t)page, 4096, 0, 0, 0, 0), 0);
		cr_assert_eq(ret, 0);
		cr_assert_eq(rsys_call(&r, &ret, SYS_close, (uint64_t)-1, 0, 0, 0, 0, 0), 0);
		cr_assert_eq(ret, -EBADF);
		snap_take(pid, after);
		snap_same(before, after, 0, "after the calls"); /* the gadget is there until... */
		cr_assert_eq(rsys_finish(&r), 0);
		snap_take(pid, after);
		snap_same(before, after, 1, "after rsys_finish");
		vdso_pristine(pid);
		cr_assert_eq(rsys_detach(pid), 0);
	}
	t_expect_verdict(out, pid, SIGUSR1, "fpu: verify ok", "verify BAD", 10000);
	t_kill_wait(pid);
	free(before);
	free(after);
	t_rmrf(dir);
	free(dir);
}

/* The fault points of rsys_call (rsys.c), in the order a call meets them. */
static const char *const steps[] = { "rsys-gadget", "rsys-regs", "rsys-entry", "rsys-exit",
				     "rsys-own-regs" };

/* Wait until @pid runs again untraced: ferry's death released it. */
static void wait_released(pid_t pid, const char *step)
{
	char st = 0;
	long tracer = -1;

	for (int i = 0; i < 200; i++) {
		st = t_proc_state(pid);
		tracer = t_proc_field(pid, "TracerPid");
		if ((st == 'S' || st == 'R') && tracer == 0)
			return;
		usleep(10 * 1000);
	}
	cr_assert_fail("after a kill at %s, pid %d is in state '%c' with TracerPid %ld", step, pid,
		       st ?: '-', tracer);
}

/* A stand-in for ferry: seize @pid and run calls, killed by FERRY_FAULT=@step. */
static void die_in_call(pid_t pid, const char *step)
{
	pid_t helper = fork();
	int st;

	cr_assert_geq(helper, 0);
	if (!helper) {
		struct rsys r;
		long ret;

		setenv("FERRY_FAULT", step, 1);
		if (rsys_seize(pid) || rsys_prepare(&r, pid))
			_exit(2);
		rsys_call(&r, &ret, SYS_getppid, 0, 0, 0, 0, 0, 0);
		_exit(3); /* the fault point was not met */
	}
	cr_assert_eq(waitpid(helper, &st, 0), helper);
	cr_assert(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL,
		  "the helper was not killed at %s (status %#x)", step, st);
}

/*
 * ferry killed at each step of a call: the thread goes on by itself. A read(2)
 * it was blocked in restarts and gets its data, and a thread holding its FPU
 * and vector registers finds them intact.
 */
Test(rsys, killed_at_every_step)
{
	const char *argv[] = { "fpu", NULL };
	char *dir = t_tmpdir(), out[256], *line;
	struct rsys r;
	long ret;
	pid_t pid;

	if (geteuid())
		cr_skip_test("needs root for ptrace");
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct child c;

		spawn(&c, "read");
		die_in_call(c.pid, steps[i]);
		wait_released(c.pid, steps[i]);
		cr_assert_eq(write(c.in, "hello\n", 6), 6);
		close(c.in);
		cr_assert_str_eq(read_rest(c.out), "got hello\n", "blocked read, killed at %s",
				 steps[i]);
		cr_assert_eq(reap(c.pid), 0);
		close(c.out);
	}
	snprintf(out, sizeof(out), "%s/out", dir);
	pid = t_spawn(out, argv);
	line = t_wait_line(out, "ready", 10000);
	cr_assert_not_null(line, "fpu did not start");
	free(line);
	for (int round = 0; round < 3; round++)
		for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
			usleep(20 * 1000);
			die_in_call(pid, steps[i]);
			wait_released(pid, steps[i]);
		}
	t_expect_verdict(out, pid, SIGUSR1, "fpu: verify ok", "verify BAD", 10000);
	/* The next ferry to make a call there puts back the padding a killed one left. */
	cr_assert_eq(rsys_seize(pid), 0);
	cr_assert_eq(rsys_prepare(&r, pid), 0);
	cr_assert_eq(rsys_call(&r, &ret, SYS_getpid, 0, 0, 0, 0, 0, 0), 0);
	cr_assert_eq(ret, pid);
	cr_assert_eq(rsys_finish(&r), 0);
	vdso_pristine(pid);
	cr_assert_eq(rsys_detach(pid), 0);
	t_kill_wait(pid);
	t_rmrf(dir);
	free(dir);
}

/*
 * A thread a new ferry stops while it is still on a killed ferry's return
 * path (rip inside the gadget, some registers not yet its own): the new
 * ferry finishes that path for it, then its calls work, and the thread ends
 * with its own registers, its read(2) restarting.
 */
Test(rsys, finishes_a_killed_ferrys_way_back)
{
	struct user_regs_struct own, mid, now;
	struct child c;
	struct rsys a, b;
	long ret;

	if (geteuid())
		cr_skip_test("needs root for ptrace");
	spawn(&c, "read");
	cr_assert_eq(rsys_seize(c.pid), 0);
	cr_assert_eq(rsys_prepare(&a, c.pid), 0);
	own = a.regs;
	cr_assert_eq(rsys_call(&a, &ret, SYS_getpid, 0, 0, 0, 0, 0, 0), 0);
	/*
	 * "Killed" here (no rsys_finish): the thread ran the syscall and the first
	 * movabs (rax) of its way back, then was stopped again.
	 */
	mid = own;
	rsys_fixup_restart(&mid);
	mid.orig_rax = (uint64_t)-1;
	mid.rip = a.code_addr + 12;
	mid.rcx = mid.rdx = mid.rsi = mid.rdi = 0xdead;
	mid.r8 = mid.r9 = mid.r10 = mid.r11 = 0xbeef;
	cr_assert_eq(ptrace(PTRACE_SETREGS, c.pid, NULL, &mid), 0);

	cr_assert_eq(rsys_prepare(&b, c.pid), 0);
	cr_assert_eq(b.regs.rip, own.rip - 2, "rip %#llx: not back on its read(2)", b.regs.rip);
	cr_assert_eq(b.regs.rax, own.orig_rax);
	cr_assert_eq(b.regs.rdi, own.rdi);
	cr_assert_eq(b.regs.rsi, own.rsi);
	cr_assert_eq(b.regs.rdx, own.rdx);
	cr_assert_eq(b.regs.r10, own.r10);
	cr_assert_eq(b.regs.r11, own.r11);
	cr_assert_eq(b.regs.rcx, own.rcx);
	cr_assert_eq(rsys_call(&b, &ret, SYS_getppid, 0, 0, 0, 0, 0, 0), 0);
	cr_assert_eq(ret, getpid());
	cr_assert_eq(rsys_finish(&b), 0);
	cr_assert_eq(ptrace(PTRACE_GETREGS, c.pid, NULL, &now), 0);
	cr_assert_eq(now.rip, own.rip - 2);
	vdso_pristine(c.pid);
	cr_assert_eq(rsys_detach(c.pid), 0);
	cr_assert_eq(write(c.in, "hello\n", 6), 6);
	close(c.in);
	cr_assert_str_eq(read_rest(c.out), "got hello\n");
	cr_assert_eq(reap(c.pid), 0);
	close(c.out);
}

/* The same with the real ferry: `dump --leave-running` killed at each step of its first call. */
Test(rsys, ferry_dump_killed_at_every_step, .timeout = 120)
{
	const char *argv[] = { "fpu", NULL };
	char *dir = t_tmpdir(), out[256], *line, *err = NULL;
	pid_t pid;
	int rc;

	if (geteuid())
		cr_skip_test("needs root for ptrace");
	snprintf(out, sizeof(out), "%s/out", dir);
	pid = t_spawn(out, argv);
	line = t_wait_line(out, "ready", 10000);
	cr_assert_not_null(line, "fpu did not start");
	free(line);
	for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		rc = t_run(NULL, &err, "FERRY_FAULT=%s %s dump --leave-running -t %d -D %s/img%zu",
			   steps[i], t_ferry_bin(), pid, dir, i);
		cr_assert_neq(rc, 0, "ferry was not killed at %s", steps[i]);
		cr_assert(err && strstr(err, steps[i]), "ferry did not reach %s: %s", steps[i],
			  err ? err : "");
		free(err);
		err = NULL;
		wait_released(pid, steps[i]);
	}
	t_expect_verdict(out, pid, SIGUSR1, "fpu: verify ok", "verify BAD", 10000);
	t_kill_wait(pid);
	t_rmrf(dir);
	free(dir);
}

/*
 * scripts/kill-campaign.sh, short: ferry dump/pre-dump/track SIGKILLed at
 * random moments; every target must live on unharmed. KILL_TRIALS=N for more
 * (CI's long run uses 100 or more).
 */
Test(rsys, kill_campaign_short, .timeout = 600)
{
	const char *n = getenv("KILL_TRIALS"), *b = getenv("FERRY_BUILD");
	char *out = NULL, *err = NULL, *last;
	int rc;

	if (geteuid())
		cr_skip_test("needs root for ptrace");
	rc = t_run(&out, &err, "bash %s/../scripts/kill-campaign.sh -n %s %s", b ? b : "build",
		   n ? n : "15", b ? b : "build");
	last = out ? strstr(out, "kill-campaign: ") : NULL;
	while (last && strstr(last + 1, "kill-campaign: "))
		last = strstr(last + 1, "kill-campaign: ");
	cr_assert_eq(rc, 0, "the kill campaign failed:\n%s%s", out ? out : "", err ? err : "");
	cr_assert(last && strstr(last, " 0 failed"), "%s", out ? out : "");
	cr_log_info("%s", last);
	free(out);
	free(err);
}
