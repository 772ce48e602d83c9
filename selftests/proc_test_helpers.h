/* SPDX-License-Identifier: MIT */
/* What the /proc parsing tests share (proc_test_helpers.c). */
#ifndef FERRY_PROC_TEST_HELPERS_H
#define FERRY_PROC_TEST_HELPERS_H

#include <pthread.h>
#include <stddef.h>
#include <sys/types.h>

/* A forked child that reports through one pipe and exits when another closes. */
struct pt_kid {
	pid_t pid;
	int from; /* what the child reports */
	int ctl;  /* closing it tells the child (and its descendants) to exit */
};

/* What the child runs: it reports on @rep and waits on @ctl (pt_wait_ctl). */
typedef void (*pt_kid_fn)(int rep, int ctl, void *arg);

/* Fork a child that keeps only its two pipe ends and runs fn(rep, ctl, arg). */
void pt_kid_start(struct pt_kid *k, pt_kid_fn fn, void *arg);
/* Read @len bytes of the child's report (the test fails if it stops short). */
void pt_kid_read(struct pt_kid *k, void *buf, size_t len);
/* Tell the child to exit and reap it; returns its wait status, -1 if not reaped. */
int pt_kid_stop(struct pt_kid *k);
/* In a child: block until the test closes ctl. */
void pt_wait_ctl(int ctl);
/* In a child: write all of @buf to @fd, or _exit(99). */
void pt_put(int fd, const void *buf, size_t len);
/* A pid above pid_max: no process has it. */
pid_t pt_no_such_pid(void);

/* A thread that says who it is, meets the others at a barrier, and sleeps. */
struct pt_th_arg {
	pthread_barrier_t *bar;
	pid_t tid;
	pid_t kid; /* pt_forker(): the child it forked */
	int ctl;
};

/* Thread bodies (of a struct pt_th_arg): report the tid, wait, sleep. */
void *pt_report_tid(void *p);
/* Same, after forking a child of this (non-leader) thread. */
void *pt_forker(void *p);

#endif
