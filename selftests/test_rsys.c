// SPDX-License-Identifier: MIT
/*
 * The remote-syscall engine on real processes with real ptrace: results of
 * injected calls, fds taken with pidfd_getfd, and the target's own blocked
 * syscall restarting correctly afterwards.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/ptrace.h>
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
 * fork made with PTRACE_O_TRACEFORK runs through its event stop.
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
	cr_assert_eq(rsys_call(&r, &ret, SYS_munmap, (uint64_t)page, 4096, 0, 0, 0, 0), -EFAULT,
		     "a call that unmaps its own code page cannot return to it");
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
 * Calls are run from the vDSO, found where the kernel put it at exec (the
 * auxv) and still there; a vDSO moved since (as a restored process's is)
 * is found by scanning the maps instead, never at its stale address.
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
	cr_assert_eq(v.code_addr, start, "code at %#lx, the vDSO is at %#lx",
		     (unsigned long)v.code_addr, start);
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
	cr_assert_eq(v.code_addr, moved, "code at %#lx, the vDSO moved to %#lx",
		     (unsigned long)v.code_addr, moved);
	cr_assert_eq(rsys_call(&v, &ret, SYS_getpid, 0, 0, 0, 0, 0, 0), 0);
	cr_assert_eq(ret, c.pid);
	cr_assert_eq(rsys_finish(&v), 0);
	kill(c.pid, SIGKILL);
	reap(c.pid);
	close(c.in);
	close(c.out);
}
