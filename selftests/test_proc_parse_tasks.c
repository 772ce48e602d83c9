// SPDX-License-Identifier: MIT
/*
 * /proc parsing of a process's tasks: thread and child lists, kernel thread
 * detection, links and missing things, zombies.
 * (Suite proc: its TestSuite is in test_proc_parse.c; helpers in proc_test_helpers.c.)
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "proc_parse.h"

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

#define PG 4096UL
#include "proc_test_helpers.h"

/* ---- threads and children -------------------------------------------------------------------- */

#define NR_THREADS 20 /* more than the lists' first allocation */

struct tree_rep {
	pid_t tids[NR_THREADS];
	pid_t kid_of_thread, kid_of_leader;
};

static void tree_kid(int rep, int ctl, void *arg)
{
	static struct pt_th_arg t[NR_THREADS];
	struct tree_rep r = { 0 };
	pthread_barrier_t bar;
	pthread_t th;

	(void)arg;
	pthread_barrier_init(&bar, NULL, NR_THREADS + 1);
	for (int i = 0; i < NR_THREADS; i++) {
		t[i].bar = &bar;
		t[i].ctl = ctl;
		if (pthread_create(&th, NULL, i == NR_THREADS / 2 ? pt_forker : pt_report_tid,
				   &t[i]))
			_exit(3);
	}
	pthread_barrier_wait(&bar);
	r.kid_of_leader = fork();
	if (!r.kid_of_leader) {
		pt_wait_ctl(ctl);
		_exit(0);
	}
	for (int i = 0; i < NR_THREADS; i++)
		r.tids[i] = t[i].tid;
	r.kid_of_thread = t[NR_THREADS / 2].kid;
	pt_put(rep, &r, sizeof(r));
	pt_wait_ctl(ctl);
	_exit(0);
}

static int cmp_pid_t(const void *a, const void *b)
{
	return (*(const pid_t *)a > *(const pid_t *)b) - (*(const pid_t *)a < *(const pid_t *)b);
}

Test(proc, threads_and_children_of_every_thread)
{
	pid_t want[NR_THREADS + 1], kids[2], *got;
	struct tree_rep r;
	struct pt_kid k;
	size_t n, i;

	if (access("/proc/self/task/1/children", F_OK) &&
	    access("/proc/thread-self/children", F_OK))
		cr_skip_test("no /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN off)");
	pt_kid_start(&k, tree_kid, NULL);
	pt_kid_read(&k, &r, sizeof(r));

	want[0] = k.pid;
	memcpy(want + 1, r.tids, sizeof(r.tids));
	qsort(want, NR_THREADS + 1, sizeof(pid_t), cmp_pid_t);
	cr_assert_eq(proc_list_threads(k.pid, &got, &n), 0);
	cr_assert_eq(n, NR_THREADS + 1);
	for (i = 0; i < n; i++)
		cr_assert_eq(got[i], want[i], "thread %zu", i);
	free(got);

	kids[0] = r.kid_of_leader;
	kids[1] = r.kid_of_thread;
	qsort(kids, 2, sizeof(pid_t), cmp_pid_t);
	cr_assert_eq(proc_list_children(k.pid, &got, &n), 0);
	cr_assert_eq(n, 2, "the leader's child and the thread's child");
	cr_assert_eq(got[0], kids[0]);
	cr_assert_eq(got[1], kids[1]);
	free(got);

	/* A childless process. */
	cr_assert_eq(proc_list_children(r.kid_of_leader, &got, &n), 0);
	cr_assert_eq(n, 0);
	free(got);

	cr_assert_eq(pt_kid_stop(&k), 0);
	cr_assert_eq(proc_list_threads(k.pid, &got, &n), -ESRCH);
	cr_assert_eq(proc_list_children(k.pid, &got, &n), -ESRCH);
}

/* ---- kernel threads, links, errors, zombies -------------------------------------------------- */

Test(proc, kernel_thread_detection)
{
	struct proc_stat st;
	struct vma_rec *v;
	size_t n;

	cr_assert_eq(proc_parse_stat(2, 0, &st), 0);
	if (strcmp(st.comm, "kthreadd"))
		cr_skip_test("pid 2 is '%s', not kthreadd (a pid namespace?)", st.comm);
	cr_assert_eq(proc_is_kernel_thread(2), 1);
	cr_assert_eq(proc_is_kernel_thread(getpid()), 0);
	cr_assert_eq(proc_is_kernel_thread(1), 0);
	cr_assert_eq(proc_is_kernel_thread(pt_no_such_pid()), -ESRCH);
	cr_assert_eq(proc_is_kernel_thread(0), -ESRCH);

	/* No mm: no VMAs, and that is not an error. */
	cr_assert_eq(proc_parse_maps(2, &v, &n), 0);
	cr_assert_eq(n, 0);
	free(v);
	cr_assert_eq(proc_parse_maps(pt_no_such_pid(), &v, &n), -ESRCH);
	cr_assert_eq(proc_read_vmas(pt_no_such_pid(), &v, &n, NULL), -ESRCH);
}

Test(proc, links_and_missing_things)
{
	char buf[PATH_MAX], want[PATH_MAX];
	struct proc_stat st;
	ssize_t len;
	int fd;

	len = readlink("/proc/self/exe", want, sizeof(want) - 1);
	cr_assert_gt(len, 0);
	want[len] = '\0';
	cr_assert_eq(proc_read_link(getpid(), "exe", buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, want);
	cr_assert(getcwd(want, sizeof(want)));
	cr_assert_eq(proc_read_link(getpid(), "cwd", buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, want);
	cr_assert_eq(proc_read_link(getpid(), "cwd", buf, 2), -ENAMETOOLONG);

	fd = open("/dev/null", O_RDONLY);
	cr_assert_geq(fd, 0);
	snprintf(want, sizeof(want), "fd/%d", fd);
	cr_assert_eq(proc_read_link(getpid(), want, buf, sizeof(buf)), 0);
	cr_assert_str_eq(buf, "/dev/null");
	close(fd);
	cr_assert_eq(proc_read_link(getpid(), want, buf, sizeof(buf)), -ENOENT, "a closed fd");
	cr_assert_eq(proc_read_link(pt_no_such_pid(), "cwd", buf, sizeof(buf)), -ESRCH);

	cr_assert_eq(proc_parse_stat(pt_no_such_pid(), 0, &st), -ESRCH);
	cr_assert_eq(proc_parse_stat(getpid(), pt_no_such_pid(), &st), -ESRCH);
	cr_assert_eq(proc_parse_stat(-1, 0, &st), -ESRCH);
}

Test(proc, zombie)
{
	struct proc_stat st;
	struct vma_rec *v;
	uint64_t *a;
	size_t n;
	pid_t z;
	int ws;

	z = fork();
	cr_assert_geq(z, 0);
	if (!z)
		_exit(7);
	/* Wait for it to die without reaping it. */
	for (int i = 0; i < 500; i++) {
		cr_assert_eq(proc_parse_stat(z, 0, &st), 0);
		if (st.state == 'Z')
			break;
		usleep(10 * 1000);
	}
	cr_assert_eq(st.state, 'Z');
	cr_assert_eq(st.exit_code, 7 << 8, "the wait status of exit(7)");
	cr_assert_eq(proc_parse_maps(z, &v, &n), 0);
	cr_assert_eq(n, 0, "a zombie has no mm");
	free(v);
	cr_assert_eq(proc_read_auxv(z, &a, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(waitpid(z, &ws, 0), z);
	cr_assert_eq(proc_parse_stat(z, 0, &st), -ESRCH);
	cr_assert_eq(proc_parse_maps(z, &v, &n), -ESRCH);
}
