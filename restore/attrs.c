// SPDX-License-Identifier: MIT
/*
 * Attributes of a process under restore that issue "Nothing lost in silence"
 * names (see attrs.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "attrs.h"
#include "compat.h"
#include "log.h"

#define TASK_STOPPED 3 /* CRIU's task_core_entry.task_state */
#define LOGINUID_PATH "/proc/self/loginuid"

static const TaskCoreEntry *task_core(const struct rtask *t)
{
	return t->ip->threads[0].core->tc;
}

/* The loginuid the restored process has now (ferry's, inherited), or -errno. */
static long current_loginuid(pid_t pid)
{
	char path[64], buf[32];
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/loginuid", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return n < 0 ? -errno : -EIO;
	buf[n] = '\0';
	return (long)strtoul(buf, NULL, 10);
}

/* The kernel lets a process write only its own loginuid: it does, by remote calls. */
static int restore_loginuid(struct rtask *t, uint32_t uid)
{
	char val[16];
	long fd, cur = current_loginuid(t->pid);
	int n = snprintf(val, sizeof(val), "%u", uid), err;

	if (cur == (long)uid)
		return 0;
	if (cur == -ENOENT)
		pr_info("pid %d: no audit loginuid in this kernel; dumped %u", t->pid, uid);
	if (cur == -ENOENT)
		return 0;
	err = rt_put(t, 0, LOGINUID_PATH, sizeof(LOGINUID_PATH));
	if (!err)
		err = rt_put(t, 64, val, (size_t)n);
	if (!err)
		err = rt_call(t, t->pid, "open(" LOGINUID_PATH ")", &fd, __NR_open, rt_data(t, 0),
			      O_WRONLY | O_CLOEXEC, 0, 0, 0, 0);
	if (err)
		goto fail;
	err = rt_call(t, t->pid, "write(loginuid)", NULL, __NR_write, (uint64_t)fd, rt_data(t, 64),
		      (uint64_t)n, 0, 0, 0);
	if (rt_call(t, t->pid, "close(loginuid)", NULL, __NR_close, (uint64_t)fd, 0, 0, 0, 0, 0) &&
	    !err)
		err = -EIO;
	if (!err)
		return 0;
fail:
	pr_errno(err, "pid %d: cannot set its audit loginuid back to %u", t->pid, uid);
	return err;
}

/* Each REGISTER_* command the dump saw is issued again (their bits are the commands). */
static int restore_membarrier(struct rtask *t, uint32_t mask)
{
	for (int bit = 0; bit < 32; bit++) {
		char what[64];
		int err;

		if (!(mask & (1u << bit)))
			continue;
		snprintf(what, sizeof(what), "membarrier(register %#x)", 1u << bit);
		err = rt_call(t, t->pid, what, NULL, __NR_membarrier, 1u << bit, 0, 0, 0, 0, 0);
		if (err)
			return err;
	}
	return 0;
}

/*
 * mlock()ed ranges, once their pages are in. Lazily restored, the lock
 * faults them in through the lazy-pages daemon, which serves the process
 * from lazy_register() on: locked memory must be resident, as it was.
 */
static int restore_mlock(struct rtask *t, const MmEntry *mm)
{
	for (size_t i = 0; mm && i < mm->n_vmas; i++) {
		const VmaEntry *v = mm->vmas[i];
		int err;

		if (!(v->flags & MAP_LOCKED))
			continue;
		err = rt_call(t, t->pid, "mlock", NULL, __NR_mlock, v->start, v->end - v->start, 0,
			      0, 0, 0);
		if (err) {
			pr_err("pid %d: cannot lock VMA %#lx-%#lx in memory again", t->pid,
			       (unsigned long)v->start, (unsigned long)v->end);
			return err;
		}
	}
	return 0;
}

/* Guard regions, once the memory around them is in (installing one zaps its pages). */
static int restore_guards(struct rtask *t)
{
	for (size_t i = 0; i < t->ip->nr_guards; i++) {
		const VmaEntry *g = t->ip->guards[i];
		int err = rt_call(t, t->pid, "madvise(MADV_GUARD_INSTALL)", NULL, __NR_madvise,
				  g->start, g->end - g->start, MADV_GUARD_INSTALL, 0, 0, 0);

		if (err) {
			pr_err("pid %d: cannot install the guard region %#lx-%#lx again", t->pid,
			       (unsigned long)g->start, (unsigned long)g->end);
			return err;
		}
	}
	return 0;
}

int rattrs_restore(struct rtask *t)
{
	const TaskCoreEntry *tc = task_core(t);
	const MmEntry *mm = t->ip->mm;
	int err = 0;

	if (tc && tc->has_loginuid)
		err = restore_loginuid(t, tc->loginuid);
	if (!err && mm && mm->has_thp_disabled && mm->thp_disabled)
		err = rt_call(t, t->pid, "prctl(PR_SET_THP_DISABLE)", NULL, __NR_prctl,
			      PR_SET_THP_DISABLE, 1, 0, 0, 0, 0);
	if (!err && tc && tc->has_membarrier_registration_mask)
		err = restore_membarrier(t, tc->membarrier_registration_mask);
	if (!err)
		err = restore_mlock(t, mm);
	if (!err)
		err = restore_guards(t);
	return err;
}

int rattrs_stop(struct rtask *t)
{
	const TaskCoreEntry *tc = task_core(t);

	if (!tc || tc->task_state != TASK_STOPPED)
		return 0;
	/*
	 * SIGSTOP whatever signal stopped it: a handler could catch SIGTSTP and
	 * the others, and the dumped process was stopped, not in a handler.
	 */
	if (kill(t->pid, SIGSTOP)) {
		int err = -errno;

		pr_errno(err, "pid %d: cannot stop it again (it was stopped by signal %u)", t->pid,
			 tc->has_stop_signo ? tc->stop_signo : SIGSTOP);
		return err;
	}
	pr_debug("pid %d: stopped again", t->pid);
	return 0;
}
