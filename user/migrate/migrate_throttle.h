/* SPDX-License-Identifier: MIT */
/*
 * Auto-converge (`ferry migrate --auto-converge`): slow the source tree down
 * when its dirty rate does not fall round over round, so that the rounds
 * catch up. The throttle is a CPU share taken from the tree, in QEMU's
 * steps: 20% first, then 10 points more each time, at most 99%.
 *
 * A watcher process (forked by ferry, "ferry-throttle") applies it: with
 * SIGSTOP/SIGCONT slices (stopped for pct of every 100 ms) to every process
 * of the tree. Before each dump (pre-dump round or final freeze) ferry
 * pauses the throttle and waits until the watcher has continued the tree:
 * a SIGSTOP must never reach a process ferry has seized (it would be dumped
 * as stopped). The watcher dies with ferry (PR_SET_PDEATHSIG) and, on every
 * way out (ferry's exit, SIGKILL of ferry, SIGTERM), sends SIGCONT to the
 * tree first: a killed ferry never leaves the tree stopped.
 *
 * The tree's cgroup v2 `cpu.max` is not used yet (see docs/migrate.md).
 * A tree with a process already stopped (state T) is not throttled: SIGCONT
 * would resume what its user stopped.
 */
#ifndef FERRY_MIGRATE_THROTTLE_H
#define FERRY_MIGRATE_THROTTLE_H

#include <stdint.h>
#include <sys/types.h>

struct mthrottle;

/* The throttle's steps, in percent of the CPU time taken. */
#define MTHROTTLE_FIRST 20
#define MTHROTTLE_STEP 10
#define MTHROTTLE_MAX 99

/*
 * mthrottle_start - a watcher for the tree @pids (@nr, copied) at 0%.
 * Returns 0 with *@out, or -errno (-EBUSY: a process is stopped already).
 */
int mthrottle_start(const pid_t *pids, size_t nr, struct mthrottle **out);
/* mthrottle_set - throttle at @pct (0..99) from now on. */
void mthrottle_set(struct mthrottle *t, int pct);
/* mthrottle_pct - the current throttle. */
int mthrottle_pct(const struct mthrottle *t);
/*
 * mthrottle_pause - stop throttling until mthrottle_resume, and wait until
 * the watcher has continued every process. 0 or -ETIMEDOUT (the watcher is
 * gone: then the tree was continued by its own exit path).
 */
int mthrottle_pause(struct mthrottle *t);
void mthrottle_resume(struct mthrottle *t);
/* mthrottle_stop - end the watcher (the tree continued) and free @t. NULL is fine. */
void mthrottle_stop(struct mthrottle *t);

#endif
