// SPDX-License-Identifier: MIT
/*
 * ferry check, the process group: io_uring, clone3 with set_tid,
 * pidfd_getfd, process_vm_readv, PTRACE_SEIZE, and PROCMAP_QUERY on
 * /proc/PID/maps. The probes that need another process start a child with
 * check_child_start() (check.c). The table and the shared helpers are in
 * check.c / check_priv.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <elf.h>
#include <sys/auxv.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>

#include <linux/sched.h>
#include <linux/types.h>

#include <liburing.h>

#include "compat.h"

#include "check_priv.h"
#include "proc_parse.h"
#include "rsys.h"

/* ---- io_uring ---------------------------------------------------------------------------------
 */

static int uring_wait(struct io_uring *ring, int *res)
{
	struct io_uring_cqe *cqe;
	int err;

	err = io_uring_submit(ring);
	if (err < 0)
		return err;
	err = io_uring_wait_cqe(ring, &cqe);
	if (err)
		return err;
	*res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return 0;
}

static int tmpfile_open(void)
{
	const char *dir = getenv("TMPDIR");
	char path[256];
	int fd;

	if (!dir || !*dir)
		dir = "/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	snprintf(path, sizeof(path), "%s/ferry-check-XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);
	return fd;
}

int check_probe_io_uring(struct check_result *r)
{
	static const char msg[] = "ferry io_uring probe";
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	char disabled[16], back[sizeof(msg)];
	int fd, res, err;

	check_read_sysctl("/proc/sys/kernel/io_uring_disabled", disabled, sizeof(disabled));
	err = io_uring_queue_init(8, &ring, 0);
	if (err)
		return fail(r, err, "io_uring_setup (kernel.io_uring_disabled=%s)", disabled);
	fd = tmpfile_open();
	if (fd < 0) {
		err = fail(r, fd, "temporary file");
		goto exit_ring;
	}
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_nop(sqe);
	err = uring_wait(&ring, &res);
	if (err || res) {
		err = fail(r, err ? err : res, "IORING_OP_NOP");
		goto close_fd;
	}
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_write(sqe, fd, msg, sizeof(msg), 0);
	err = uring_wait(&ring, &res);
	if (err || res != (int)sizeof(msg)) {
		err = err ? err : res < 0 ? res : -EIO;
		fail(r, err, "IORING_OP_WRITE to fd %d (%d bytes done)", fd, res);
		goto close_fd;
	}
	if (pread(fd, back, sizeof(back), 0) != sizeof(back) || memcmp(back, msg, sizeof(msg))) {
		note(r, "IORING_OP_WRITE to fd %d: the file does not hold what was written", fd);
		err = -EIO;
		goto close_fd;
	}
	note(r, "io_uring: NOP and a %zu-byte IORING_OP_WRITE to a temporary file completed",
	     sizeof(msg));
close_fd:
	close(fd);
exit_ring:
	io_uring_queue_exit(&ring);
	return err;
}

/* ---- processes --------------------------------------------------------------------------------
 */

struct clone3_report {
	__s32 err;
	__s32 want;
	__s32 got;
	__s32 grandchild_ok;
};

static int pid_max(void)
{
	char buf[16];

	check_read_sysctl("/proc/sys/kernel/pid_max", buf, sizeof(buf));
	return atoi(buf) > 1000 ? atoi(buf) : 32768;
}

/* A pid nobody uses now, from the upper half of the range (a race is retried). */
static pid_t free_pid(unsigned int seed)
{
	int max = pid_max(), tries;
	pid_t p;

	for (tries = 0; tries < 1000; tries++) {
		p = max / 2 +
		    (pid_t)((seed + (unsigned int)tries * 7919u) % (unsigned int)(max / 2 - 1));
		if (kill(p, 0) && errno == ESRCH)
			return p;
	}
	return max - 1;
}

static int child_clone3(int sock, void *arg)
{
	struct clone3_report rep = { 0 };
	struct clone_args ca;
	pid_t want = 0, got = -1;
	int tries, st;

	(void)arg;
	for (tries = 0; tries < 16; tries++) {
		want = free_pid((unsigned int)getpid() * 2654435761u +
				(unsigned int)tries * 40503u);
		memset(&ca, 0, sizeof(ca));
		ca.exit_signal = SIGCHLD;
		ca.set_tid = (uintptr_t)&want;
		ca.set_tid_size = 1;
		got = (pid_t)syscall(__NR_clone3, &ca, sizeof(ca));
		if (got == 0)
			_exit(getpid() == want ? 0 : 3);
		if (got > 0 || errno != EEXIST)
			break;
	}
	rep.want = want;
	if (got < 0) {
		rep.err = -errno;
	} else {
		rep.got = got;
		if (waitpid(got, &st, 0) == got)
			rep.grandchild_ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	return check_send_all(sock, &rep, sizeof(rep)) ? 1 : 0;
}

int check_probe_clone3_set_tid(struct check_result *r)
{
	struct clone3_report rep;
	struct child c;
	int err;

	err = check_child_start(&c, child_clone3, NULL);
	if (err)
		return fail(r, err, "fork");
	err = check_recv_all(c.sock, &rep, sizeof(rep));
	if (err) {
		fail(r, err, "waiting for child %d", (int)c.pid);
		goto stop_child;
	}
	if (rep.err) {
		err = fail(r, rep.err, "clone3(set_tid=%d) in child %d%s", rep.want, (int)c.pid,
			   rep.err == -EPERM ? " (needs CAP_SYS_ADMIN over the pid namespace: "
					       "run as root)"
					     : "");
		goto stop_child;
	}
	if (rep.got != rep.want || !rep.grandchild_ok) {
		note(r, "clone3(set_tid=%d) gave pid %d%s", rep.want, rep.got,
		     rep.grandchild_ok ? "" : ", and the grandchild saw another getpid()");
		err = -EIO;
		goto stop_child;
	}
	note(r,
	     "clone3 with set_tid: child %d created grandchild with the chosen pid %d (pid_max %d)",
	     (int)c.pid, rep.got, pid_max());
stop_child:
	check_child_stop(&c);
	return err;
}

/* Child of pidfd-getfd: sends its pipe's write end number, echoes what arrives. */
static int child_pipe_echo(int sock, void *arg)
{
	char buf[5];
	int p[2];
	__s32 wfd;

	(void)arg;
	if (pipe(p))
		wfd = -errno;
	else
		wfd = p[1];
	if (check_send_all(sock, &wfd, sizeof(wfd)) || wfd < 0)
		return 1;
	if (read(p[0], buf, sizeof(buf)) != sizeof(buf))
		return 1;
	if (check_send_all(sock, buf, sizeof(buf)))
		return 1;
	return check_child_park(sock);
}

int check_probe_pidfd_getfd(struct check_result *r)
{
	struct child c;
	char back[5];
	__s32 wfd;
	int fd, err;

	err = check_child_start(&c, child_pipe_echo, NULL);
	if (err)
		return fail(r, err, "fork");
	err = check_recv_all(c.sock, &wfd, sizeof(wfd));
	if (err || wfd < 0) {
		fail(r, err ? err : wfd, "pipe in child %d", (int)c.pid);
		err = err ? err : wfd;
		goto stop_child;
	}
	fd = rsys_getfd(c.pid, wfd);
	if (fd < 0) {
		err = fail(r, fd, "pidfd_getfd of fd %d in pid %d", wfd, (int)c.pid);
		goto stop_child;
	}
	if (write(fd, "ferry", 5) != 5) {
		err = fail(r, -errno, "write through the copy of pid %d's fd %d", (int)c.pid, wfd);
		goto close_fd;
	}
	err = check_recv_all(c.sock, back, sizeof(back));
	if (err) {
		fail(r, err, "waiting for child %d's echo", (int)c.pid);
		goto close_fd;
	}
	if (memcmp(back, "ferry", 5)) {
		note(r, "child %d read something else through its pipe", (int)c.pid);
		err = -EIO;
		goto close_fd;
	}
	note(r, "pidfd_open(%d) + pidfd_getfd took its fd %d; a write through the copy reached it",
	     (int)c.pid, wfd);
close_fd:
	close(fd);
stop_child:
	check_child_stop(&c);
	return err;
}

static int child_buffer(int sock, void *arg)
{
	static char buf[64];
	__u64 addr = (uintptr_t)buf;

	(void)arg;
	snprintf(buf, sizeof(buf), "ferry process_vm_readv probe %d", (int)getpid());
	if (check_send_all(sock, &addr, sizeof(addr)))
		return 1;
	return check_child_park(sock);
}

int check_probe_process_vm_readv(struct check_result *r)
{
	char want[64], got[64];
	struct iovec local = { .iov_base = got, .iov_len = sizeof(got) };
	struct iovec remote = { .iov_len = sizeof(got) };
	struct child c;
	ssize_t n;
	__u64 addr;
	int err;

	err = check_child_start(&c, child_buffer, NULL);
	if (err)
		return fail(r, err, "fork");
	err = check_recv_all(c.sock, &addr, sizeof(addr));
	if (err) {
		fail(r, err, "waiting for child %d", (int)c.pid);
		goto stop_child;
	}
	remote.iov_base = (void *)(uintptr_t)addr;
	n = process_vm_readv(c.pid, &local, 1, &remote, 1, 0);
	if (n != (ssize_t)sizeof(got)) {
		err = fail(r, n < 0 ? -errno : -EIO, "process_vm_readv of pid %d at 0x%llx",
			   (int)c.pid, (unsigned long long)addr);
		goto stop_child;
	}
	memset(want, 0, sizeof(want));
	snprintf(want, sizeof(want), "ferry process_vm_readv probe %d", (int)c.pid);
	if (memcmp(want, got, sizeof(want))) {
		note(r, "process_vm_readv of pid %d at 0x%llx read other bytes", (int)c.pid,
		     (unsigned long long)addr);
		err = -EIO;
		goto stop_child;
	}
	note(r, "read %zu bytes of pid %d's memory at 0x%llx", sizeof(got), (int)c.pid,
	     (unsigned long long)addr);
stop_child:
	check_child_stop(&c);
	return err;
}

static int child_idle(int sock, void *arg)
{
	char ready = 'r';

	(void)arg;
	if (check_send_all(sock, &ready, 1))
		return 1;
	return check_child_park(sock);
}

int check_probe_ptrace_seize(struct check_result *r)
{
	struct user_regs_struct regs;
	struct iovec iov = { .iov_base = &regs, .iov_len = sizeof(regs) };
	struct child c;
	char ready, scope[16];
	int status, err;

	check_read_sysctl("/proc/sys/kernel/yama/ptrace_scope", scope, sizeof(scope));
	err = check_child_start(&c, child_idle, NULL);
	if (err)
		return fail(r, err, "fork");
	err = check_recv_all(c.sock, &ready, 1);
	if (err) {
		fail(r, err, "waiting for child %d", (int)c.pid);
		goto stop_child;
	}
	if (ptrace(PTRACE_SEIZE, c.pid, NULL, (void *)(long)PTRACE_O_TRACESYSGOOD)) {
		err = fail(r, -errno, "PTRACE_SEIZE of pid %d (kernel.yama.ptrace_scope=%s)",
			   (int)c.pid, scope);
		goto stop_child;
	}
	if (ptrace(PTRACE_INTERRUPT, c.pid, NULL, NULL)) {
		err = fail(r, -errno, "PTRACE_INTERRUPT of pid %d", (int)c.pid);
		goto detach;
	}
	err = check_wait_timeout(c.pid, &status, CHILD_TIMEOUT_MS);
	if (err) {
		fail(r, err, "waiting for pid %d to stop", (int)c.pid);
		goto detach;
	}
	if (!WIFSTOPPED(status) || (status >> 16) != PTRACE_EVENT_STOP) {
		note(r, "pid %d: wait status 0x%x, not a PTRACE_EVENT_STOP", (int)c.pid, status);
		err = -EIO;
		goto detach;
	}
	if (ptrace(PTRACE_GETREGSET, c.pid, (void *)(long)NT_PRSTATUS, &iov)) {
		err = fail(r, -errno, "PTRACE_GETREGSET of pid %d", (int)c.pid);
		goto detach;
	}
	note(r,
	     "PTRACE_SEIZE + PTRACE_INTERRUPT stopped pid %d; registers read (%zu bytes); "
	     "detached%s%s%s",
	     (int)c.pid, iov.iov_len, strcmp(scope, "?") ? " (kernel.yama.ptrace_scope=" : "",
	     strcmp(scope, "?") ? scope : "", strcmp(scope, "?") ? ")" : "");
detach:
	/* Detaching a running tracee fails with ESRCH: the kill below still ends it. */
	ptrace(PTRACE_DETACH, c.pid, NULL, NULL);
stop_child:
	check_child_stop(&c);
	return err;
}

/* ---- /proc/PID/maps ---------------------------------------------------------------------------
 */

int check_probe_procmap_query(struct check_result *r)
{
	uint64_t addr = 0, at = getauxval(AT_SYSINFO_EHDR);
	int err = proc_vdso(getpid(), &addr, NULL);

	if (err == -ENOTTY) {
		note(r, "no PROCMAP_QUERY ioctl on /proc/PID/maps (before 6.11): ferry reads "
			"the maps line by line to find the vDSO of every thread it stops, which "
			"is slow for many threads with many VMAs");
		return err;
	}
	if (err)
		return fail(r, err, "PROCMAP_QUERY of this process's vDSO at 0x%llx",
			    (unsigned long long)at);
	if (addr != at) {
		note(r, "PROCMAP_QUERY found the vDSO at 0x%llx, the auxv says 0x%llx",
		     (unsigned long long)addr, (unsigned long long)at);
		return -EIO;
	}
	note(r,
	     "the vDSO at 0x%llx confirmed with one ioctl: each stopped thread's remote calls "
	     "start without reading the maps",
	     (unsigned long long)addr);
	return 0;
}
