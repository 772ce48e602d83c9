// SPDX-License-Identifier: MIT
/*
 * ferry restore: the order of the steps (see restore.h and docs/restore.md).
 *
 *   load + check images (cgroups too) -> pids free? -> copy-on-write plan (cow.h)
 *   -> open files -> fork the shells (each fills its copy-on-write VMAs before its children)
 *      (a zombie's shell exits with its wait status, unreaped: nothing else is done to it)
 *   -> seize -> per process: cgroups, address space, attributes (attrs.h), threads,
 *      state
 *   -> per process: file locks (--file-locks)
 *   -> per process: pending signals, scratch unmapped, registers
 *   -> SIGSTOP queued for the processes dumped stopped
 *   -> detach every thread (the tree resumes)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "attrs.h"
#include "cgroup.h"
#include "cow.h"
#include "files.h"
#include "files_tcp.h"
#include "fown.h"
#include "ghost.h"
#include "images.h"
#include "lazy.h"
#include "lazy_ws.h"
#include "locks.h"
#include "log.h"
#include "util.h"
#include "mm.h"
#include "pagemap_flags.h"
#include "restore.h"
#include "tty.h"
#include "rsys.h"
#include "rtask.h"
#include "shell.h"
#include "shmem.h"
#include "state.h"

#define READY_TIMEOUT_MS 10000

/*
 * What this restore cannot do yet is refused before anything is made. Pages in
 * a parent image set (PE_PARENT) are fine: rimg_load() resolved them.
 */
static int check_supported(const struct rimg *r)
{
	for (size_t p = 0; p < r->nr_procs; p++) {
		const struct rimg_pagemap *pm = r->procs[p].pm;

		for (size_t i = 0; pm && i < pm->nr_runs; i++)
			if (pm->runs[i].flags & PE_LAZY) {
				pr_err("pid %d: pagemap has lazy pages at %#lx; restoring lazy "
				       "pages is not supported yet",
				       r->procs[p].pid, (unsigned long)pm->runs[i].vaddr);
				return -ENOTSUP;
			}
	}
	return 0;
}

static int write_pidfile(const char *path, pid_t pid)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%d", pid);
	int err = write_file_atomic(path, buf, (size_t)n);

	if (err)
		pr_errno(err, "cannot write pid file %s", path);
	return err;
}

static int seize_all(struct rtask *tasks, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		int err;

		if (tasks[i].ip->zombie)
			continue; /* it exits by itself (shell.c): nothing to rebuild */
		err = rsys_seize_opts(tasks[i].pid, PTRACE_O_EXITKILL | PTRACE_O_TRACECLONE);
		if (err) {
			pr_err("cannot seize restored pid %d", tasks[i].pid);
			return err;
		}
		tasks[i].nr_seized = 1;
	}
	return 0;
}

/*
 * The leader of each process last: a thread let go while the others are
 * still being woken is more likely to be preempted between the kernel's
 * restart of its syscall and its return to it, where a signal is handled
 * without interrupting the call (restart.h).
 */
static void detach_all(struct rtask *tasks, size_t n)
{
	for (size_t i = 0; i < n; i++)
		for (size_t k = tasks[i].nr_seized; k-- > 0;)
			if (ptrace(PTRACE_DETACH, tasks[i].ip->threads[k].tid, NULL, NULL))
				pr_warn("pid %d: cannot detach thread %d (%s)", tasks[i].pid,
					tasks[i].ip->threads[k].tid, strerror(errno));
}

int restore_run(const struct restore_opts *o, pid_t *root)
{
	struct lazy_daemon lazy = { .pid = 0, .sock = -1 };
	struct rtask *tasks = NULL;
	struct rimg *r = NULL;
	struct rfiles f;
	struct rfown fown = { 0 };
	struct rcgroups cg = { 0 };
	char ws_path[4096], lazy_log[4096] = "";
	uint64_t scratch, t0 = mono_us(), nr_threads = 0, cow_bytes = 0;
	size_t nr_cow = 0;
	int err, made = 0, was_subreaper = 0;

	memset(&f, 0, sizeof(f));
	/* Temporary fds go above every restored one: a shell's 1024 is often too few. */
	raise_nofile_limit();
	err = rimg_load_flags(&r, o->dir, o->lazy && o->page_server ? RIMG_PAGES_OPTIONAL : 0);
	if (err)
		goto out;
	err = check_supported(r);
	if (!err)
		err = rcgroup_load(&cg, r);
	if (!err)
		err = rlocks_check(r, o->file_locks);
	if (!err)
		err = rshell_check_pids(r);
	if (!err)
		err = rmm_scratch_addr(r, &scratch);
	/* Pages read by the shells: from the pages files (a page server's are not here). */
	if (!err && !(o->lazy && o->page_server))
		err = rcow_plan(r, scratch, RT_SCRATCH_SIZE, &nr_cow, &cow_bytes);
	if (!err && nr_cow)
		pr_info("%zu VMA(s) shared copy-on-write with a parent (%llu KiB): kept shared%s",
			nr_cow, (unsigned long long)(cow_bytes >> 10),
			o->lazy ? ", filled eagerly before the fork" : "");
	/* Deleted files exist again while fds are opened and VMAs mapped by their path. */
	if (!err)
		err = rghost_create(r);
	/* Lazy shared memory: from the pages files or the page server, as the rest. */
	if (!err && o->lazy)
		rshmem_plan_lazy(r);
	/* Shared memory first, whole: memfd fds and every process's VMAs open it. */
	if (!err)
		err = rshmem_create(r);
	/* Established TCP connections are made by rfiles_open, in repair mode. */
	if (!err)
		rfiles_tcp_setup(o->dir, o->tcp_established);
	if (!err)
		err = rfiles_open(&f, r, o);
	if (err)
		goto out;
	tasks = calloc(r->nr_procs, sizeof(*tasks));
	if (!tasks) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < r->nr_procs; i++) {
		tasks[i].ip = &r->procs[i];
		tasks[i].pid = r->procs[i].pid;
		tasks[i].scratch = scratch;
		tasks[i].lazy = o->lazy;
		nr_threads += r->procs[i].nr_threads;
	}
	prctl(PR_GET_CHILD_SUBREAPER, &was_subreaper);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1)) {
		err = -errno;
		pr_errno(err, "cannot become a child subreaper");
		goto out;
	}
	pr_debug("scratch pages at %#lx, files above fd %d", (unsigned long)scratch, f.base);
	err = rshell_create(r, &f, &cg, scratch, READY_TIMEOUT_MS);
	/* The owners for signals: set once every thread exists (fown.h). */
	if (!err)
		err = rfown_keep(&fown, r, &f);
	rfiles_close(&f);
	if (err)
		goto out;
	made = 1;
	if (o->lazy) {
		/* After the shells: the daemon must not take a pid the tree needs. */
		struct lazy_opts lo = {
			.page_server = o->page_server,
			.secret_file = o->secret_file,
			.page_server_missing_only = o->page_server_missing_only,
			.recent_first = o->recent_first,
			.record_ws = o->record_ws,
			.ws_file = ws_path,
			.timeout_ms = o->timeout_ms,
			.prefetch_delay_ms = o->prefetch_delay_ms,
			.orphan_timeout_ms = o->orphan_timeout_ms > 0 ? o->orphan_timeout_ms
								      : LAZY_ORPHAN_TIMEOUT_MS,
		};

		snprintf(ws_path, sizeof(ws_path), "%s/%s", o->dir, LAZY_WS_FILE);
		if (log_to_stderr()) {
			snprintf(lazy_log, sizeof(lazy_log), "%s/%s", o->dir, LAZY_LOG_FILE);
			lo.log_path = lazy_log;
		}
		err = lazy_start(&lazy, r, &lo);
		if (err)
			goto out;
	}
	err = seize_all(tasks, r->nr_procs);
	for (size_t i = 0; !err && i < r->nr_procs; i++) {
		if (tasks[i].ip->zombie)
			continue;
		/* Its cgroups first: the memory it gets is charged there. */
		err = rcgroup_join(&cg, &tasks[i]);
		if (!err)
			err = rmm_restore(&tasks[i], r);
		if (!err && o->lazy)
			err = lazy_register(&lazy, &tasks[i], r);
		if (!err)
			err = rattrs_restore(&tasks[i]);
		if (!err)
			err = rstate_threads(&tasks[i]);
		if (!err)
			err = rstate_restore(&tasks[i], r);
		if (err)
			pr_err("cannot restore pid %d", tasks[i].pid);
	}
	if (!err)
		err = rfown_apply(&fown, r);
	/* Seals last: F_SEAL_WRITE and the like forbid the writable mappings made above. */
	if (!err)
		err = rshmem_seal(r);
	/* Every process attached its SysV segments: those marked IPC_RMID are again. */
	if (!err)
		rshmem_sysv_finish(r, 1);
	rshmem_close(r);
	rghost_remove(r);
	/* O_ASYNC through each process's own fd (after the owners, rfown_apply). */
	for (size_t i = 0; !err && i < r->nr_procs; i++)
		err = tasks[i].ip->zombie ? 0 : rfown_async(&tasks[i], r);
	/* After every rebuild: a close of any fd on a file drops its POSIX locks (locks.h). */
	for (size_t i = 0; !err && i < r->nr_procs; i++)
		err = tasks[i].ip->zombie ? 0 : rlocks_take(&tasks[i], r);
	for (size_t i = 0; !err && i < r->nr_procs; i++)
		err = tasks[i].ip->zombie ? 0 : rstate_finish(&tasks[i]);
	/* The job's terminal settings and foreground, before it runs (--shell-job). */
	if (!err && o->shell_job)
		err = rtty_hand_over(r);
	if (!err && o->pidfile)
		err = write_pidfile(o->pidfile, r->procs[0].pid);
	/* Then: a timer's time left counts from when the tree resumes. */
	if (!err)
		err = rfiles_event_arm_timers(&f.timers, &f.nr_timers);
	/* Last: a process dumped stopped stops again as soon as it is let go. */
	for (size_t i = 0; !err && i < r->nr_procs; i++)
		err = tasks[i].ip->zombie ? 0 : rattrs_stop(&tasks[i]);
	/* The connections talk again, and the dump's network locks go, as the tree resumes. */
	if (!err)
		err = rfiles_tcp_resume();
	if (err)
		goto out;
	detach_all(tasks, r->nr_procs);
	if (o->lazy)
		lazy_go(&lazy); /* a daemon that is gone has killed what it could not serve */
	if (o->lazy_daemon)
		*o->lazy_daemon = lazy.pid;
	*root = r->procs[0].pid;
	pr_info("restored pid %d: %zu process(es), %llu thread(s), %llu pages (and %llu KiB of "
		"copy-on-write VMAs the shells filled) in %llu us",
		r->procs[0].pid, r->nr_procs, (unsigned long long)nr_threads,
		(unsigned long long)rmm_stats.pages_written, (unsigned long long)(cow_bytes >> 10),
		(unsigned long long)(mono_us() - t0));
	if (o->lazy)
		pr_info("memory: lazy, filled by the lazy-pages daemon (pid %d, its log: %s)",
			lazy.pid, lazy_log[0] ? lazy_log : "ferry's");
	else
		pr_info("memory write %llu us", (unsigned long long)(rmm_stats.write_ns / 1000));
out:
	if (r) {
		rshmem_sysv_finish(r, !err);
		rshmem_close(r);
		rghost_remove(r);
	}
	if (err)
		rtty_take_back();
	if (err)
		lazy_abort(&lazy);
	if (err && made)
		rshell_kill_all(r, 1);
	/* After the kill: the sockets close in repair mode, the locks stay for another try. */
	if (err)
		rfiles_tcp_drop();
	if (made || was_subreaper)
		prctl(PR_SET_CHILD_SUBREAPER, was_subreaper);
	rfiles_close(&f);
	rfown_drop(&fown);
	rfiles_event_drop_timers(&f.timers, &f.nr_timers);
	rcgroup_free(&cg);
	free(tasks);
	rimg_free(r);
	return err;
}
