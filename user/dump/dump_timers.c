// SPDX-License-Identifier: MIT
/*
 * POSIX timers of a frozen process (see dump_timers.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "timers: "
#include "dump_timers.h"
#include "log.h"
#include "util.h"

#ifndef SIGEV_THREAD_ID
#define SIGEV_THREAD_ID 4
#endif

/* One timer as /proc/PID/timers shows it. */
struct proc_timer {
	int id, signo, clock, notify, tid;
	uint64_t sival;
};

/* "notify: signal/pid.123" or "notify: none/tid.124" (fs/proc/base.c show_timer) */
static int parse_notify(const char *s, struct proc_timer *t)
{
	char how[16], whom[8];
	int n;

	if (sscanf(s, "%15[a-z]/%7[a-z].%d", how, whom, &n) != 3)
		return -EINVAL;
	if (!strcmp(how, "signal"))
		t->notify = SIGEV_SIGNAL;
	else if (!strcmp(how, "none"))
		t->notify = SIGEV_NONE;
	else if (!strcmp(how, "thread"))
		t->notify = SIGEV_THREAD;
	else
		return -EINVAL;
	if (!strcmp(whom, "tid")) {
		t->notify |= SIGEV_THREAD_ID;
		t->tid = n;
	} else if (strcmp(whom, "pid")) {
		return -EINVAL;
	}
	return 0;
}

/* Reads the whole of /proc/PID/timers (one block of 4 lines per timer) into @out. */
static int read_proc_timers(pid_t pid, char **out)
{
	char path[64];
	size_t len;
	int fd, err;

	snprintf(path, sizeof(path), "/proc/%d/timers", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		pr_perror("cannot open %s", path);
		return err;
	}
	err = read_fd_all(fd, out, &len, SIZE_MAX);
	close(fd);
	if (err)
		pr_errno(err, "cannot read %s", path);
	return err;
}

static int parse_proc_timers(pid_t pid, char *text, struct proc_timer **out, size_t *nr)
{
	struct proc_timer *v = NULL, *cur = NULL;
	size_t n = 0, cap = 0;
	char *save = NULL;
	int err = 0;

	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		int ok = 1;

		if (!strncmp(l, "ID: ", 4)) {
			if (n == cap) {
				struct proc_timer *nv = realloc(v, (cap + 8) * sizeof(*v));

				if (!nv) {
					err = -ENOMEM;
					break;
				}
				v = nv;
				cap += 8;
			}
			cur = &v[n++];
			memset(cur, 0, sizeof(*cur));
			ok = sscanf(l + 4, "%d", &cur->id) == 1 && cur->id >= 0;
		} else if (!cur) {
			ok = 0;
		} else if (!strncmp(l, "signal: ", 8)) {
			ok = sscanf(l + 8, "%d/%" SCNx64, &cur->signo, &cur->sival) == 2;
		} else if (!strncmp(l, "notify: ", 8)) {
			ok = !parse_notify(l + 8, cur);
		} else if (!strncmp(l, "ClockID: ", 9)) {
			ok = sscanf(l + 9, "%d", &cur->clock) == 1;
		}
		if (!ok) {
			pr_err("pid %d: cannot parse /proc/%d/timers line '%s'", pid, pid, l);
			err = -EINVAL;
			break;
		}
	}
	if (err) {
		free(v);
		return err;
	}
	*out = v;
	*nr = n;
	return 0;
}

static int remote_timer_state(pid_t pid, struct rsys *r, uint64_t scratch,
			      const struct proc_timer *pt, struct itimerspec *its, int *overrun)
{
	struct iovec l = { its, sizeof(*its) }, rv = { (void *)scratch, sizeof(*its) };
	long ret = 0;
	int err;

	err = rsys_call(r, &ret, __NR_timer_gettime, (uint64_t)pt->id, scratch, 0, 0, 0, 0);
	if (!err && ret < 0)
		err = (int)ret;
	if (err) {
		pr_errno(err, "pid %d: timer_gettime of POSIX timer %d in the target", pid, pt->id);
		return err;
	}
	if (process_vm_readv(pid, &l, 1, &rv, 1, 0) != (ssize_t)sizeof(*its)) {
		err = errno ? -errno : -EIO;
		pr_errno(err, "pid %d: cannot read timer %d's state at %#" PRIx64, pid, pt->id,
			 scratch);
		return err;
	}
	err = rsys_call(r, &ret, __NR_timer_getoverrun, (uint64_t)pt->id, 0, 0, 0, 0, 0);
	if (!err && ret < 0)
		err = (int)ret;
	if (err) {
		pr_errno(err, "pid %d: timer_getoverrun of POSIX timer %d in the target", pid,
			 pt->id);
		return err;
	}
	*overrun = (int)ret;
	return 0;
}

int dump_timers_posix(pid_t pid, struct rsys *r, uint64_t scratch, struct dump_timers *dt)
{
	struct proc_timer *pt = NULL;
	char *text = NULL;
	size_t n = 0;
	int err;

	memset(dt, 0, sizeof(*dt));
	err = read_proc_timers(pid, &text);
	if (!err)
		err = parse_proc_timers(pid, text, &pt, &n);
	if (err || !n)
		goto out;
	err = -ENOMEM;
	dt->e = calloc(n, sizeof(*dt->e));
	dt->ptrs = calloc(n, sizeof(*dt->ptrs));
	if (!dt->e || !dt->ptrs)
		goto out;
	err = 0;
	for (size_t i = 0; i < n && !err; i++) {
		PosixTimerEntry *e = &dt->e[i];
		struct itimerspec its;
		int overrun = 0;

		err = remote_timer_state(pid, r, scratch, &pt[i], &its, &overrun);
		if (err)
			break;
		posix_timer_entry__init(e);
		e->it_id = (uint32_t)pt[i].id;
		e->clock_id = (uint32_t)pt[i].clock;
		e->si_signo = (uint32_t)pt[i].signo;
		e->it_sigev_notify = (uint32_t)pt[i].notify;
		e->sival_ptr = pt[i].sival;
		e->overrun = (uint32_t)overrun;
		e->isec = (uint64_t)its.it_interval.tv_sec;
		e->insec = (uint64_t)its.it_interval.tv_nsec;
		e->vsec = (uint64_t)its.it_value.tv_sec;
		e->vnsec = (uint64_t)its.it_value.tv_nsec;
		if (pt[i].notify & SIGEV_THREAD_ID) {
			e->has_notify_thread_id = 1;
			e->notify_thread_id = pt[i].tid;
		}
		dt->ptrs[i] = e;
		pr_debug(
			"pid %d: POSIX timer %d clock %d notify %d signal %d: %lds+%ldns left, every %lds+%ldns",
			pid, pt[i].id, pt[i].clock, pt[i].notify, pt[i].signo,
			(long)its.it_value.tv_sec, its.it_value.tv_nsec,
			(long)its.it_interval.tv_sec, its.it_interval.tv_nsec);
	}
	if (!err)
		dt->n = n;
out:
	if (err)
		dump_timers_free(dt);
	free(pt);
	free(text);
	return err;
}

void dump_timers_free(struct dump_timers *dt)
{
	free(dt->e);
	free(dt->ptrs);
	memset(dt, 0, sizeof(*dt));
}
