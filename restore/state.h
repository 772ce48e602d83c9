/* SPDX-License-Identifier: MIT */
/*
 * Threads and everything but memory and files of a process under restore.
 *
 * rstate_threads() makes the other threads with their dumped tids (remote
 * clone3 in the leader, traced from their first instruction).
 * rstate_restore() puts back, with remote calls and ptrace: sigactions,
 * itimers, cwd/root/umask, personality, the child-subreaper flag, rlimits,
 * oom_score_adj, and per thread: sigaltstack, clear_child_tid, robust list,
 * rseq, parent-death signal, name, scheduling, then creds (last: they may
 * drop the rights the other steps need).
 * rstate_finish() queues the pending signals, makes and arms the POSIX timers
 * (timers.h), unmaps the scratch pages and
 * writes each thread's registers, FPU/XSAVE, TLS and signal mask; after it
 * the threads only need to be detached.
 */
#ifndef FERRY_RESTORE_STATE_H
#define FERRY_RESTORE_STATE_H

#include "images.h"
#include "rtask.h"

int rstate_threads(struct rtask *t);
int rstate_restore(struct rtask *t, const struct rimg *r);
int rstate_finish(struct rtask *t);

#endif
