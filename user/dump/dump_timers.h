/* SPDX-License-Identifier: MIT */
/*
 * POSIX timers (timer_create) of a frozen process, in CRIU's format: the
 * posix entries of task_timers_entry in the leader's core image.
 *
 * /proc/PID/timers gives each timer's id, clock, signal, sigev value and
 * notification (none, signal to the process, signal to one thread); the time
 * left, the interval and the overrun only the process can ask for, so they
 * are read with remote timer_gettime()/timer_getoverrun() calls (rsys.h).
 */
#ifndef FERRY_DUMP_TIMERS_H
#define FERRY_DUMP_TIMERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rsys.h"
#include "timer.pb-c.h"

/* The bytes of the scratch area dump_timers_posix() writes into. */
#define DUMP_TIMERS_SCRATCH 32

struct dump_timers {
	PosixTimerEntry *e;
	PosixTimerEntry **ptrs;
	size_t n;
};

/*
 * dump_timers_posix - fill @dt with every POSIX timer of process @pid, whose
 * thread @r is prepared for remote calls; @scratch is the address of at least
 * DUMP_TIMERS_SCRATCH writable bytes in the target. A process without timers
 * gives n = 0. Returns 0, -EINVAL for a /proc/PID/timers ferry cannot parse,
 * or the -errno of a failed remote call (logged with pid and timer id).
 */
int dump_timers_posix(pid_t pid, struct rsys *r, uint64_t scratch, struct dump_timers *dt);

/* dump_timers_free - free what dump_timers_posix() allocated; @dt may be zeroed. */
void dump_timers_free(struct dump_timers *dt);

#endif
