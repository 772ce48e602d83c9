// SPDX-License-Identifier: MIT
/*
 * POSIX timers of a process under restore (see timers.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>

#define LOG_PREFIX "timers: "
#include "log.h"
#include "timers.h"

#ifndef SIGEV_THREAD_ID
#define SIGEV_THREAD_ID 4
#endif
#ifndef PR_TIMER_CREATE_RESTORE_IDS
#define PR_TIMER_CREATE_RESTORE_IDS 77
#define PR_TIMER_CREATE_RESTORE_IDS_OFF 0
#define PR_TIMER_CREATE_RESTORE_IDS_ON 1
#define PR_TIMER_CREATE_RESTORE_IDS_GET 2
#endif

#define NSEC_PER_SEC 1000000000ull
#define KSIGMAX 64

/* Where the arguments go in the data page of the scratch mapping. */
#define DATA_SIGEVENT 0 /* struct ksigevent, 64 bytes */
#define DATA_ID 64	/* int */
#define DATA_SPEC 128	/* struct itimerspec */

/* The kernel's struct sigevent (64 bytes): value, signo, notify, then the thread id. */
struct ksigevent {
	uint64_t value;
	int32_t signo;
	int32_t notify;
	int32_t tid;
	int32_t pad[11];
};
_Static_assert(sizeof(struct ksigevent) == 64, "struct sigevent of the kernel");

/* The clocks timer_create() takes for a timer of the process itself. */
static int clock_ok(uint32_t c)
{
	switch (c) {
	case CLOCK_REALTIME:
	case CLOCK_MONOTONIC:
	case CLOCK_PROCESS_CPUTIME_ID:
	case CLOCK_THREAD_CPUTIME_ID:
	case CLOCK_BOOTTIME:
	case CLOCK_REALTIME_ALARM:
	case CLOCK_BOOTTIME_ALARM:
	case CLOCK_TAI:
		return 1;
	}
	return 0;
}

static int has_thread(const struct rimg_proc *p, int32_t tid)
{
	for (size_t i = 0; i < p->nr_threads; i++)
		if (p->threads[i].tid == tid)
			return 1;
	return 0;
}

static const char *timer_problem(const struct rimg_proc *p, const TaskTimersEntry *tt, size_t i)
{
	const PosixTimerEntry *e = tt->posix[i];
	uint32_t how = e->it_sigev_notify & ~(uint32_t)SIGEV_THREAD_ID;

	if (e->it_id > INT32_MAX)
		return "id out of range";
	for (size_t k = 0; k < i; k++)
		if (tt->posix[k]->it_id == e->it_id)
			return "id appears twice";
	if (!clock_ok(e->clock_id))
		return "clock timer_create does not take";
	if (how != SIGEV_SIGNAL && how != SIGEV_NONE && how != SIGEV_THREAD)
		return "unknown notification";
	if ((e->it_sigev_notify & SIGEV_THREAD_ID) && how != SIGEV_SIGNAL)
		return "SIGEV_THREAD_ID without SIGEV_SIGNAL";
	if (how != SIGEV_NONE && (!e->si_signo || e->si_signo > KSIGMAX))
		return "invalid signal";
	if ((e->it_sigev_notify & SIGEV_THREAD_ID) &&
	    (!e->has_notify_thread_id || !has_thread(p, e->notify_thread_id)))
		return "SIGEV_THREAD_ID names no thread of the process";
	if (e->insec >= NSEC_PER_SEC || e->vnsec >= NSEC_PER_SEC)
		return "nanoseconds of a second or more";
	if (e->isec > INT64_MAX || e->vsec > INT64_MAX)
		return "seconds out of range";
	return NULL;
}

int rtimers_check(const char *dir, const char *name, const struct rimg_proc *p,
		  const TaskTimersEntry *tt)
{
	if (!tt)
		return 0;
	for (size_t i = 0; i < tt->n_posix; i++) {
		const PosixTimerEntry *e = tt->posix[i];
		const char *why = timer_problem(p, tt, i);

		if (!why)
			continue;
		/* A single-entry image: its one entry starts after the two magics. */
		pr_err("%s/%s: offset 8: pid %d: POSIX timer %zu (id %u, clock %u, notify %u, signal %u): %s",
		       dir, name, p->pid, i, e->it_id, e->clock_id, e->it_sigev_notify, e->si_signo,
		       why);
		return -EINVAL;
	}
	return 0;
}

/* The id the last timer_create() in @t wrote to the data page. */
static int read_id(struct rtask *t, int *id)
{
	struct iovec l = { id, sizeof(*id) }, r = { (void *)rt_data(t, DATA_ID), sizeof(*id) };

	if (process_vm_readv(t->pid, &l, 1, &r, 1, 0) != (ssize_t)sizeof(*id)) {
		int err = errno ? -errno : -EIO;

		pr_errno(err, "pid %d: cannot read the id of a new timer", t->pid);
		return err;
	}
	return 0;
}

/*
 * Without PR_TIMER_CREATE_RESTORE_IDS: the kernel gives the lowest free id
 * from a per-process counter; dummies fill the ids below the wanted one.
 */
static int create_by_counting(struct rtask *t, const PosixTimerEntry *e)
{
	int id = -1, err = 0;

	while (!err) {
		err = rt_call(t, t->pid, "timer_create", NULL, __NR_timer_create, e->clock_id,
			      rt_data(t, DATA_SIGEVENT), rt_data(t, DATA_ID), 0, 0, 0);
		if (!err)
			err = read_id(t, &id);
		if (err || id == (int)e->it_id)
			break;
		if (id > (int)e->it_id) {
			pr_err("pid %d: the kernel gave timer id %d, past the wanted %u", t->pid,
			       id, e->it_id);
			err = -EEXIST;
			break;
		}
		err = rt_call(t, t->pid, "timer_delete", NULL, __NR_timer_delete, (uint64_t)id, 0,
			      0, 0, 0, 0);
		if (!err)
			pr_debug(
				"pid %d: place-holder timer %d made and deleted on the way to id %u",
				t->pid, id, e->it_id);
	}
	return err;
}

static int create_one(struct rtask *t, const PosixTimerEntry *e, int by_id)
{
	struct ksigevent sev = { 0 };
	struct itimerspec its = { 0 };
	int id = (int)e->it_id, err;

	sev.value = e->sival_ptr;
	sev.signo = (int32_t)e->si_signo;
	sev.notify = (int32_t)e->it_sigev_notify;
	sev.tid = e->has_notify_thread_id ? e->notify_thread_id : 0;
	err = rt_put(t, DATA_SIGEVENT, &sev, sizeof(sev));
	if (!err)
		err = rt_put(t, DATA_ID, &id, sizeof(id));
	if (err)
		return err;
	if (by_id)
		err = rt_call(t, t->pid, "timer_create", NULL, __NR_timer_create, e->clock_id,
			      rt_data(t, DATA_SIGEVENT), rt_data(t, DATA_ID), 0, 0, 0);
	else
		err = create_by_counting(t, e);
	if (err)
		return err;
	if (!e->vsec && !e->vnsec)
		return 0; /* disarmed */
	its.it_interval.tv_sec = (time_t)e->isec;
	its.it_interval.tv_nsec = (long)e->insec;
	its.it_value.tv_sec = (time_t)e->vsec;
	its.it_value.tv_nsec = (long)e->vnsec;
	err = rt_put(t, DATA_SPEC, &its, sizeof(its));
	if (!err)
		err = rt_call(t, t->pid, "timer_settime", NULL, __NR_timer_settime, e->it_id, 0,
			      rt_data(t, DATA_SPEC), 0, 0, 0);
	return err;
}

static int cmp_id(const void *a, const void *b)
{
	uint32_t x = (*(const PosixTimerEntry *const *)a)->it_id;
	uint32_t y = (*(const PosixTimerEntry *const *)b)->it_id;

	return x < y ? -1 : x > y;
}

int rtimers_restore(struct rtask *t, const TaskTimersEntry *tt)
{
	const PosixTimerEntry **v;
	int by_id, err = 0;

	if (!tt || !tt->n_posix)
		return 0;
	/* Counting ids up needs them in ascending order. */
	v = calloc(tt->n_posix, sizeof(*v));
	if (!v)
		return -ENOMEM;
	memcpy(v, tt->posix, tt->n_posix * sizeof(*v));
	qsort(v, tt->n_posix, sizeof(*v), cmp_id);
	/*
	 * Same kernel as the target: ferry's own answer is the target's.
	 * FERRY_TIMER_IDS_BY_COUNTING=1 takes the way of older kernels (tests).
	 */
	by_id = prctl(PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_GET, 0, 0, 0) >= 0 &&
		!getenv("FERRY_TIMER_IDS_BY_COUNTING");
	if (by_id)
		err = rt_call(t, t->pid, "prctl(PR_TIMER_CREATE_RESTORE_IDS, on)", NULL, __NR_prctl,
			      PR_TIMER_CREATE_RESTORE_IDS, PR_TIMER_CREATE_RESTORE_IDS_ON, 0, 0, 0,
			      0);
	for (size_t i = 0; !err && i < tt->n_posix; i++) {
		const PosixTimerEntry *e = v[i];

		err = create_one(t, e, by_id);
		if (err)
			pr_err("pid %d: cannot make POSIX timer %u again (clock %u, notify %u)",
			       t->pid, e->it_id, e->clock_id, e->it_sigev_notify);
		else
			pr_debug("pid %d: POSIX timer %u made, %lus+%luns left", t->pid, e->it_id,
				 (unsigned long)e->vsec, (unsigned long)e->vnsec);
	}
	if (by_id) {
		int off = rt_call(t, t->pid, "prctl(PR_TIMER_CREATE_RESTORE_IDS, off)", NULL,
				  __NR_prctl, PR_TIMER_CREATE_RESTORE_IDS,
				  PR_TIMER_CREATE_RESTORE_IDS_OFF, 0, 0, 0, 0);

		if (!err)
			err = off;
	}
	free(v);
	return err;
}
