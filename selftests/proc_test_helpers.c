// SPDX-License-Identifier: MIT
/*
 * What the /proc parsing tests share: a forked child that reports through one
 * pipe and exits when another closes.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

#include "proc_test_helpers.h"

/* ---- a forked child that reports through one pipe and exits when another closes ------------ */

void pt_kid_start(struct pt_kid *k, pt_kid_fn fn, void *arg)
{
	int rep[2], ctl[2];

	cr_assert_eq(pipe2(rep, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(ctl, O_CLOEXEC), 0);
	k->pid = fork();
	cr_assert_geq(k->pid, 0);
	if (!k->pid) {
		/* Keep only our two ends: no other child's ctl may keep ours alive. */
		for (int fd = 3; fd < 1024; fd++)
			if (fd != rep[1] && fd != ctl[0])
				close(fd);
		fn(rep[1], ctl[0], arg);
		_exit(0);
	}
	close(rep[1]);
	close(ctl[0]);
	k->from = rep[0];
	k->ctl = ctl[1];
}

void pt_kid_read(struct pt_kid *k, void *buf, size_t len)
{
	size_t got = 0;
	ssize_t r;

	while (got < len) {
		r = read(k->from, (char *)buf + got, len - got);
		cr_assert_gt(r, 0, "child %d stopped reporting (%zu of %zu bytes)", k->pid, got,
			     len);
		got += (size_t)r;
	}
}

int pt_kid_stop(struct pt_kid *k)
{
	int st = 0;

	close(k->ctl);
	close(k->from);
	if (waitpid(k->pid, &st, 0) != k->pid)
		return -1;
	return st;
}

/* In a child: block until the test closes ctl. */
void pt_wait_ctl(int ctl)
{
	char c;

	while (read(ctl, &c, 1) > 0)
		;
}

void pt_put(int fd, const void *buf, size_t len)
{
	if (write(fd, buf, len) != (ssize_t)len)
		_exit(99);
}

pid_t pt_no_such_pid(void)
{
	char *s = t_read_file("/proc/sys/kernel/pid_max", NULL);
	long max = s ? atol(s) : 4194304;

	free(s);
	return (pid_t)(max + 1);
}

void *pt_report_tid(void *p)
{
	struct pt_th_arg *a = p;

	a->tid = gettid();
	pthread_barrier_wait(a->bar);
	for (;;)
		pause();
	return NULL;
}

/* Same, after forking a child of this (non-leader) thread. */
void *pt_forker(void *p)
{
	struct pt_th_arg *a = p;

	a->tid = gettid();
	a->kid = fork();
	if (!a->kid) {
		pt_wait_ctl(a->ctl);
		_exit(0);
	}
	pthread_barrier_wait(a->bar);
	for (;;)
		pause();
	return NULL;
}
