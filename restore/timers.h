/* SPDX-License-Identifier: MIT */
/*
 * POSIX timers of a process under restore (the posix entries of the leader's
 * task_timers_entry), made again by the process itself with the ids it had.
 *
 * The ids: with prctl(PR_TIMER_CREATE_RESTORE_IDS) (Linux 6.17+, probed here)
 * timer_create() takes the wanted id from its third argument; without it the
 * kernel hands out ids from 0 upwards, so dummies are created and deleted
 * until the wanted id comes (ids in ascending order, as the dump lists them).
 * Each timer is armed with the time it had left at the dump, relative to
 * now, and its interval; a SIGEV_THREAD_ID timer names the same thread id,
 * which the restore recreated.
 */
#ifndef FERRY_RESTORE_TIMERS_H
#define FERRY_RESTORE_TIMERS_H

#include "images.h"
#include "rtask.h"

/*
 * rtimers_check - the POSIX timers of @tt (in @dir/@name, the core image of
 * process @p) are ones the restore can make: unique ids, a clock timer_create
 * takes, a known notification with a valid signal, a thread of @p for
 * SIGEV_THREAD_ID, nanoseconds below one second. Returns 0 or -EINVAL (logged
 * with the file, the entry's offset and the timer).
 */
int rtimers_check(const char *dir, const char *name, const struct rimg_proc *p,
		  const TaskTimersEntry *tt);

/*
 * rtimers_restore - create and arm the POSIX timers of @tt in @t (stopped,
 * signals blocked, threads made). Returns 0 or -errno (logged with the pid
 * and the timer id).
 */
int rtimers_restore(struct rtask *t, const TaskTimersEntry *tt);

#endif
