// SPDX-License-Identifier: MIT
/*
 * Fork the process tree of a restore (see shell.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/sched.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "cgroup.h"
#include "cow.h"
#include "log.h"
#include "proc_parse.h"
#include "rtask.h"
#include "shell.h"

/* What a shell sends ferry: ready (err 0), or why it failed. */
struct shell_report {
	int32_t idx;
	int32_t err;
	char msg[200];
};

struct shell_ctx {
	const struct rimg *r;
	const struct rfiles *f;
	const struct rcgroups *cg;
	uint64_t scratch;
	int report_fd;
	int sync_fd; /* on the parent's fd table: tells the parent its children are made; else -1 */
};

static const uint8_t shell_code[] = { 0x0f, 0x05, 0xcc }; /* syscall; int3 */

/* The id of @p's fd table (@fs 0) or fs info (@fs 1) in its core's ids. */
static uint32_t obj_id(const struct rimg_proc *p, int fs)
{
	return fs ? p->ids->fs_id : p->ids->files_id;
}

/*
 * Process @j shares its parent's fd table (@fs 0: the same files_id, the
 * dumped one was made by clone(CLONE_FILES)) or fs info (@fs 1: the same
 * fs_id, CLONE_FS). rshell_check_pids() refused any other sharing.
 */
static int shares_parent(const struct rimg *r, size_t j, int fs)
{
	const struct rimg_proc *c = &r->procs[j], *p;

	if (c->parent < 0 || c->zombie || !c->ids)
		return 0;
	p = &r->procs[c->parent];
	return !p->zombie && p->ids && obj_id(p, fs) == obj_id(c, fs);
}

static int check_sharing(const struct rimg *r)
{
	static const char *const what[] = { "fd table (CLONE_FILES)", "cwd/root/umask (CLONE_FS)" };

	for (int fs = 0; fs < 2; fs++)
		for (size_t j = 0; j < r->nr_procs; j++) {
			const struct rimg_proc *c = &r->procs[j];

			if (c->zombie || !c->ids || shares_parent(r, j, fs))
				continue;
			for (size_t i = 0; i < r->nr_procs; i++) {
				const struct rimg_proc *o = &r->procs[i];

				if (i == j || o->zombie || !o->ids ||
				    obj_id(o, fs) != obj_id(c, fs) || shares_parent(r, i, fs))
					continue;
				pr_err("pid %d: shares its %s (id %u) with pid %d, and neither shares "
				       "it with its parent: ferry restores one shared along clones "
				       "from a parent only",
				       c->pid, what[fs], obj_id(c, fs), o->pid);
				return -ENOTSUP;
			}
		}
	return 0;
}

/*
 * A pid of the dump still in use: by a zombie (the dump killed it and its
 * parent has not reaped it yet: wait up to ZOMBIE_WAIT_MS for that), or by
 * a live process. Returns 0 once it is free, else -EEXIST (logged).
 */
#define ZOMBIE_WAIT_MS 1000

static int pid_free(pid_t id, int is_tid)
{
	const char *what = is_tid ? "tid" : "pid";
	struct proc_stat st;
	int ret;

	for (int waited = 0;; waited += 10) {
		ret = proc_parse_stat(id, 0, &st);
		if (ret == -ESRCH || (ret && kill(id, 0) && errno == ESRCH))
			return 0;
		if (ret) {
			pr_errno(
				ret,
				"%s %d of the dump is in use and cannot be read; nothing was restored",
				what, id);
			return -EEXIST;
		}
		if (st.state != 'Z' || waited >= ZOMBIE_WAIT_MS)
			break;
		usleep(10000);
	}
	if (st.state == 'Z')
		pr_err("%s %d of the dump is taken by a zombie (%s) that its parent, pid %d, has not "
		       "reaped after %d ms; nothing was restored",
		       what, id, st.comm, st.ppid, ZOMBIE_WAIT_MS);
	else
		pr_err("%s %d of the dump is taken by a running process (%s); nothing was restored",
		       what, id, st.comm);
	return -EEXIST;
}

int rshell_check_pids(const struct rimg *r)
{
	int err = check_sharing(r);

	if (err)
		return err;
	for (size_t p = 0; p < r->nr_procs; p++) {
		const struct rimg_proc *ip = &r->procs[p];

		for (size_t t = 0; t < ip->nr_threads; t++) {
			int err = pid_free(ip->threads[t].tid, t != 0);

			if (err)
				return err;
		}
	}
	return 0;
}

static pid_t clone_with_pid(pid_t pid, uint64_t flags)
{
	struct clone_args a;

	memset(&a, 0, sizeof(a));
	a.flags = flags;
	a.exit_signal = SIGCHLD;
	a.set_tid = (uint64_t)(uintptr_t)&pid;
	a.set_tid_size = 1;
	return (pid_t)syscall(SYS_clone3, &a, sizeof(a));
}

/* A pipe above every dumped fd (as the report pipe): no dup2 of a shell can close it. */
static int sync_pipe(const struct shell_ctx *c, int fds[2])
{
	int p[2];

	if (pipe2(p, O_CLOEXEC))
		return -1;
	fds[0] = fcntl(p[0], F_DUPFD_CLOEXEC, c->f->base);
	fds[1] = fcntl(p[1], F_DUPFD_CLOEXEC, c->f->base);
	close(p[0]);
	close(p[1]);
	if (fds[0] >= 0 && fds[1] >= 0)
		return 0;
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	return -1;
}

static void report(const struct shell_ctx *c, size_t idx, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void report(const struct shell_ctx *c, size_t idx, int err, const char *fmt, ...)
{
	struct shell_report rep;
	va_list ap;

	memset(&rep, 0, sizeof(rep));
	rep.idx = (int32_t)idx;
	rep.err = err;
	va_start(ap, fmt);
	vsnprintf(rep.msg, sizeof(rep.msg), fmt, ap);
	va_end(ap);
	if (write(c->report_fd, &rep, sizeof(rep)) != sizeof(rep))
		_exit(2);
}

static int cmp_int(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/* Close every fd but the dumped ones and the report pipe. */
static int close_others(const struct shell_ctx *c, size_t idx)
{
	size_t n = c->f->nr_plan[idx], k = 0;
	int *keep = malloc((n + 1) * sizeof(int)), from = 0;

	if (!keep)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		keep[k++] = c->f->plan[idx][i].fd;
	keep[k++] = c->report_fd;
	qsort(keep, k, sizeof(int), cmp_int);
	for (size_t i = 0; i < k; i++) {
		if (keep[i] > from)
			syscall(SYS_close_range, from, keep[i] - 1, 0);
		from = keep[i] + 1;
	}
	syscall(SYS_close_range, from, ~0u, 0);
	free(keep);
	return 0;
}

/*
 * A zombie's shell: says ready, then ends with the dumped wait status. Its
 * parent's shell blocks every signal and never waits, so it stays a zombie
 * until the restored parent reaps it, as the dumped one would have.
 */
static __attribute__((noreturn)) void zombie_exit(const struct shell_ctx *c, size_t idx)
{
	const struct rimg_proc *ip = &c->r->procs[idx];
	struct rlimit no_core = { 0, 0 };
	sigset_t one;

	report(c, idx, 0, "ready");
	close(c->report_fd);
	if (!WIFSIGNALED(ip->exit_code))
		_exit(WEXITSTATUS(ip->exit_code));
	/* No core file is written for it (the dumped one wrote its own, if any). */
	setrlimit(RLIMIT_CORE, &no_core);
	signal(WTERMSIG(ip->exit_code), SIG_DFL);
	sigemptyset(&one);
	sigaddset(&one, WTERMSIG(ip->exit_code));
	sigprocmask(SIG_UNBLOCK, &one, NULL);
	raise(WTERMSIG(ip->exit_code));
	_exit(128 + WTERMSIG(ip->exit_code)); /* not reached: the loader checked the signal */
}

static __attribute__((noreturn)) void shell_main(const struct shell_ctx *c, size_t idx,
						 pid_t parent)
{
	const struct rimg *r = c->r;
	const struct rimg_proc *ip = &r->procs[idx];
	sigset_t all;
	void *m;

	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, NULL);
	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || getppid() != parent)
		_exit(1); /* the parent is gone already: nothing to report to */

	if (ip->sid == ip->pid) {
		if (setsid() < 0) {
			report(c, idx, -errno, "pid %d: setsid: %s", ip->pid, strerror(errno));
			_exit(1);
		}
	} else if (ip->pgid == ip->pid) {
		if (setpgid(0, 0)) {
			report(c, idx, -errno, "pid %d: setpgid: %s", ip->pid, strerror(errno));
			_exit(1);
		}
	} else {
		for (size_t j = 0; j < r->nr_procs; j++) {
			if (r->procs[j].pid != ip->pgid || getpgid(0) == ip->pgid)
				continue;
			if (setpgid(0, ip->pgid)) {
				report(c, idx, -errno, "pid %d: cannot join process group %d: %s",
				       ip->pid, ip->pgid, strerror(errno));
				_exit(1);
			}
		}
	}

	if (ip->zombie)
		zombie_exit(c, idx); /* the loader made sure it has no children */
	if (ip->cow) {
		/*
		 * Before the children: they inherit these pages, shared (cow.h). In
		 * its cgroups first, which the pages are charged to (the dumped
		 * process's were); ferry finds it there when it seizes it.
		 */
		struct rtask self = { .ip = ip, .pid = ip->pid, .scratch = c->scratch };
		char msg[200] = "";
		int err = rcgroup_join(c->cg, &self);

		if (err)
			snprintf(msg, sizeof(msg), "pid %d: cannot join its cgroups: %s", ip->pid,
				 strerror(-err));
		else
			err = rcow_premap(r, idx, msg, sizeof(msg));
		if (err) {
			report(c, idx, err, "%s", msg);
			_exit(1);
		}
	}
	for (size_t j = 0; j < r->nr_procs; j++) {
		int shared = shares_parent(r, j, 0), sync[2] = { -1, -1 };
		uint64_t flags =
			(shared ? CLONE_FILES : 0) | (shares_parent(r, j, 1) ? CLONE_FS : 0);
		pid_t child;
		char b;

		if (r->procs[j].parent != (int)idx)
			continue;
		if (shared && sync_pipe(c, sync)) {
			report(c, idx, -errno, "pid %d: pipe: %s", ip->pid, strerror(errno));
			_exit(1);
		}
		child = clone_with_pid(r->procs[j].pid, flags);
		if (child == 0) {
			struct shell_ctx cc = *c;

			cc.sync_fd = sync[1];
			shell_main(&cc, j, ip->pid);
		}
		if (child < 0) {
			int e = errno;

			report(c, idx, -e, "pid %d: cannot create child pid %d: %s%s", ip->pid,
			       r->procs[j].pid, strerror(e),
			       e == EEXIST ? " (the pid is taken)" : "");
			_exit(1);
		}
		/*
		 * A child on this fd table forks its own children first: they must
		 * copy the table before this shell puts its fds in place.
		 */
		if (shared && read(sync[0], &b, 1) != 1)
			_exit(1); /* the child died: ferry sees it missing, kills the tree */
		if (shared) {
			close(sync[0]);
			close(sync[1]);
		}
	}

	m = mmap((void *)c->scratch, RT_SCRATCH_SIZE, PROT_READ | PROT_WRITE | PROT_EXEC,
		 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (m != (void *)c->scratch) {
		report(c, idx, -EEXIST, "pid %d: cannot map the scratch pages at %#lx: %s", ip->pid,
		       (unsigned long)c->scratch,
		       m == MAP_FAILED ? strerror(errno) : "placed elsewhere");
		_exit(1);
	}
	memcpy(m, shell_code, sizeof(shell_code));
	if (c->sync_fd >= 0) {
		/*
		 * On its parent's fd table (CLONE_FILES): the parent puts the fds
		 * in place and closes the report pipe, for both; this shell closes
		 * nothing.
		 */
		report(c, idx, 0, "ready");
		if (write(c->sync_fd, "s", 1) != 1)
			_exit(1);
		for (;;)
			pause();
	}

	for (size_t k = 0; k < c->f->nr_plan[idx]; k++) {
		const struct rfd_plan *pl = &c->f->plan[idx][k];

		if (pl->pidfd_pid || pl->proc_pid) {
			char msg[200];
			int err = pl->pidfd_pid ? rpidfd_place(c->f->plan[idx], k, ip->pid, msg,
							       sizeof(msg))
						: rfiles_proc_place(c->f->plan[idx], k, ip->pid,
								    msg, sizeof(msg));

			if (err) {
				report(c, idx, err, "%s", msg);
				_exit(1);
			}
			continue;
		}
		if (dup2(pl->tmp, pl->fd) != pl->fd ||
		    fcntl(pl->fd, F_SETFD, pl->cloexec ? FD_CLOEXEC : 0)) {
			report(c, idx, -errno, "pid %d: cannot put fd %d in place: %s", ip->pid,
			       pl->fd, strerror(errno));
			_exit(1);
		}
	}
	/* After every fd is in place: epoll keys a target by its fd number. */
	if (c->f->nr_ep_plan[idx]) {
		char msg[200];
		int err = rfiles_event_arm(c->f->ep_plan[idx], c->f->nr_ep_plan[idx], ip->pid, msg,
					   sizeof(msg));

		if (err) {
			report(c, idx, err, "%s", msg);
			_exit(1);
		}
	}
	/* A session leader whose controlling terminal is a pty of the dump takes it again. */
	if (c->f->ctty && c->f->ctty[idx] >= 0) {
		char msg[200];
		int err = rpty_take_ctty(c->f->ctty[idx], c->f->ctty_pgrp[idx], ip->pid, msg,
					 sizeof(msg));

		if (err) {
			report(c, idx, err, "%s", msg);
			_exit(1);
		}
	}
	if (close_others(c, idx)) {
		report(c, idx, -ENOMEM, "pid %d: out of memory", ip->pid);
		_exit(1);
	}
	report(c, idx, 0, "ready");
	close(c->report_fd);
	for (;;)
		pause();
}

void rshell_kill_all(const struct rimg *r, int all_made)
{
	int status;

	/* Only pids ferry made: before every shell reported, a pid may be someone else's. */
	for (size_t i = 0; i < (all_made ? r->nr_procs : 1); i++)
		kill(r->procs[i].pid, SIGKILL);
	/* The others die with their parents (PDEATHSIG) and come to ferry, a subreaper. */
	for (;;) {
		pid_t w = waitpid(-1, &status, __WALL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			break;
	}
}

static long ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (t.tv_sec - t0->tv_sec) * 1000 + (t.tv_nsec - t0->tv_nsec) / 1000000;
}

int rshell_create(const struct rimg *r, const struct rfiles *f, const struct rcgroups *cg,
		  uint64_t scratch, int timeout_ms)
{
	struct shell_ctx c = { .r = r, .f = f, .cg = cg, .scratch = scratch, .sync_fd = -1 };
	struct timespec t0;
	size_t ready = 0;
	int rp[2], err = 0, lfd;
	pid_t root, self = getpid();
	sigset_t all, old;

	if (pipe2(rp, O_CLOEXEC))
		return -errno;
	/*
	 * Above every dumped fd (the shells dup2 only onto those), apart from
	 * ferry's copies of the files: no dup2 in a shell can close it.
	 */
	lfd = fcntl(rp[1], F_DUPFD_CLOEXEC, f->base);
	close(rp[1]);
	if (lfd < 0) {
		struct rlimit rl = { 0, 0 };

		err = -errno;
		close(rp[0]);
		getrlimit(RLIMIT_NOFILE, &rl);
		pr_errno(err, "cannot place the report pipe at fd %d or above (RLIMIT_NOFILE %llu)",
			 f->base, (unsigned long long)rl.rlim_cur);
		return err;
	}
	c.report_fd = lfd;
	/*
	 * The root is born blocking every signal: one sent to its pid as soon as
	 * it exists (the dumped process's peers know it) stays pending until the
	 * restored process can take it, instead of killing the shell.
	 */
	sigfillset(&all);
	sigprocmask(SIG_SETMASK, &all, &old);
	root = clone_with_pid(r->procs[0].pid, 0);
	if (root == 0)
		shell_main(&c, 0, self);
	err = root < 0 ? -errno : 0;
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(lfd);
	if (err) {
		pr_errno(err, "cannot create the root, pid %d%s", r->procs[0].pid,
			 err == -EEXIST ? " (the pid is taken)" : "");
		close(rp[0]);
		return err;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (ready < r->nr_procs) {
		struct pollfd pfd = { rp[0], POLLIN, 0 };
		struct shell_report rep;
		long left = timeout_ms - ms_since(&t0);
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
			pr_err("the restored tree was not ready after %d ms (%zu of %zu processes)",
			       timeout_ms, ready, r->nr_procs);
			err = -ETIMEDOUT;
			break;
		}
		n = read(rp[0], &rep, sizeof(rep));
		if (n < 0 && errno == EINTR)
			continue;
		if (n != sizeof(rep)) {
			pr_err("a process of the restored tree died before it was ready (%zu of "
			       "%zu ready)",
			       ready, r->nr_procs);
			err = -ECHILD;
			break;
		}
		if (rep.err) {
			rep.msg[sizeof(rep.msg) - 1] = '\0';
			pr_err("%s", rep.msg);
			err = rep.err;
			break;
		}
		ready++;
	}
	/*
	 * Every shell said ready, but each closes its copy of the report pipe
	 * only after saying it: the end of the pipe (every copy closed) is
	 * what tells that no shell holds an fd the dump did not have.
	 */
	while (!err) {
		struct pollfd pfd = { rp[0], POLLIN, 0 };
		long left = timeout_ms - ms_since(&t0);
		char c;
		ssize_t n;

		if (left <= 0 || poll(&pfd, 1, (int)left) == 0) {
			pr_err("the restored tree kept the report pipe open for %d ms", timeout_ms);
			err = -ETIMEDOUT;
			break;
		}
		n = read(rp[0], &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			break;
		pr_err("a process of the restored tree wrote to the report pipe after it was ready");
		err = -EPROTO;
	}
	close(rp[0]);
	if (err)
		rshell_kill_all(r, 0);
	return err;
}
