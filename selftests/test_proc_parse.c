// SPDX-License-Identifier: MIT
/*
 * /proc parsing on real processes. Here the files of one process: stat,
 * status, auxv and limits. Thread and child lists, kernel threads, links and
 * zombies are in test_proc_parse_tasks.c; text /proc does not write in
 * test_proc_parse_text.c; the smaps VMA reader, checked against what the
 * children know of themselves and against the BPF iterator, in
 * test_proc_parse_maps.c. All are suite proc.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include <unistd.h>

#include "log.h"
#include "proc_parse.h"

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

#define PG 4096UL
#include "proc_test_helpers.h"

TestSuite(proc, .timeout = 60);

/* ---- stat ------------------------------------------------------------------------------------ */

/* In .data: its address lies in [start_data, end_data). */
int proc_test_data_word = 42;

struct stat_rep {
	pid_t pid, ppid, pgid, sid;
	pid_t tids[2];
	uint64_t code, data, brk, arg0;
	uint64_t env[16];
	int nenv;
};

#define GRANDKID_COMM "a) b (c))"

static void fill_stat_rep(struct stat_rep *r)
{
	r->pid = getpid();
	r->ppid = getppid();
	r->pgid = getpgid(0);
	r->sid = getsid(0);
	r->code = (uint64_t)(uintptr_t)&fill_stat_rep;
	r->data = (uint64_t)(uintptr_t)&proc_test_data_word;
	r->brk = (uint64_t)(uintptr_t)sbrk(0);
	r->arg0 = (uint64_t)(uintptr_t)program_invocation_name;
	for (r->nenv = 0; environ[r->nenv] && r->nenv < 16; r->nenv++)
		r->env[r->nenv] = (uint64_t)(uintptr_t)environ[r->nenv];
}

/*
 * The child starts a session; its child (the grandkid) makes its own process
 * group in that session, names itself GRANDKID_COMM and runs 3 threads.
 */
static void stat_kid(int rep, int ctl, void *arg)
{
	struct stat_rep r = { 0 };
	pid_t g;

	(void)arg;
	if (setsid() < 0)
		_exit(2);
	g = fork();
	if (!g) {
		pthread_barrier_t bar;
		struct pt_th_arg t[2] = { { 0 } };
		pthread_t th;

		if (setpgid(0, 0) || prctl(PR_SET_NAME, GRANDKID_COMM) ||
		    sbrk(3 * PG) == (void *)-1)
			_exit(2);
		pthread_barrier_init(&bar, NULL, 3);
		for (int i = 0; i < 2; i++) {
			t[i].bar = &bar;
			if (pthread_create(&th, NULL, pt_report_tid, &t[i]))
				_exit(3);
		}
		pthread_barrier_wait(&bar);
		fill_stat_rep(&r);
		r.tids[0] = t[0].tid;
		r.tids[1] = t[1].tid;
		pt_put(rep, &r, sizeof(r));
		pt_wait_ctl(ctl);
		_exit(0);
	}
	fill_stat_rep(&r);
	pt_put(rep, &r, sizeof(r));
	pt_wait_ctl(ctl);
	waitpid(g, NULL, 0);
	_exit(0);
}

static int in(uint64_t x, uint64_t lo, uint64_t hi)
{
	return x >= lo && x < hi;
}

Test(proc, stat_of_a_session_a_group_and_threads)
{
	struct stat_rep r[2], *c, *g;
	struct proc_stat st;
	struct vma_rec *v;
	struct pt_kid k;
	size_t n, i;
	int env_in = 0, on_stack = 0;

	pt_kid_start(&k, stat_kid, NULL);
	pt_kid_read(&k, &r[0], sizeof(r[0]));
	pt_kid_read(&k, &r[1], sizeof(r[1]));
	c = r[0].pid == k.pid ? &r[0] : &r[1];
	g = r[0].pid == k.pid ? &r[1] : &r[0];
	cr_assert_eq(c->pid, k.pid);
	usleep(20 * 1000); /* let both block in read(2) */

	/* The session leader. */
	cr_assert_eq(proc_parse_stat(k.pid, 0, &st), 0);
	cr_assert_eq(st.pid, k.pid);
	cr_assert_eq(st.ppid, getpid());
	cr_assert_eq(st.pgid, k.pid);
	cr_assert_eq(st.sid, k.pid);
	cr_assert_eq(st.state, 'S');
	cr_assert_eq(st.num_threads, 1);
	cr_assert_eq(st.exit_signal, SIGCHLD);
	cr_assert_eq(st.flags & PF_KTHREAD, 0);

	/* The grandkid: its own group, the kid's session, a name with ") (". */
	cr_assert_eq(proc_parse_stat(g->pid, 0, &st), 0);
	cr_assert_eq(st.pid, g->pid);
	cr_assert_eq(st.ppid, k.pid);
	cr_assert_eq(st.pgid, g->pid);
	cr_assert_eq(st.sid, k.pid);
	cr_assert_eq(g->pgid, g->pid);
	cr_assert_eq(g->sid, k.pid);
	cr_assert_str_eq(st.comm, GRANDKID_COMM);
	cr_assert_eq(st.num_threads, 3);
	cr_assert_neq(st.starttime, 0);
	cr_assert_gt(st.vsize, 0);

	/* Its layout, against what it reported of itself. */
	cr_assert(in(g->code, st.start_code, st.end_code), "code %#lx not in [%#lx, %#lx)",
		  (unsigned long)g->code, (unsigned long)st.start_code, (unsigned long)st.end_code);
	cr_assert(in(g->data, st.start_data, st.end_data), "data %#lx not in [%#lx, %#lx)",
		  (unsigned long)g->data, (unsigned long)st.start_data, (unsigned long)st.end_data);
	cr_assert(st.start_brk && st.start_brk <= g->brk, "start_brk %#lx, brk %#lx",
		  (unsigned long)st.start_brk, (unsigned long)g->brk);
	cr_assert(in(g->arg0, st.arg_start, st.arg_end), "argv[0] %#lx not in [%#lx, %#lx)",
		  (unsigned long)g->arg0, (unsigned long)st.arg_start, (unsigned long)st.arg_end);
	for (i = 0; i < (size_t)g->nenv; i++)
		env_in |= in(g->env[i], st.env_start, st.env_end);
	cr_assert(env_in, "no environ string in [%#lx, %#lx)", (unsigned long)st.env_start,
		  (unsigned long)st.env_end);
	cr_assert_eq(proc_parse_maps(g->pid, &v, &n), 0);
	for (i = 0; i < n; i++)
		if ((v[i].kind & VMA_KIND_STACK) && in(st.start_stack, v[i].start, v[i].end + 1))
			on_stack = 1;
	free(v);
	cr_assert(on_stack, "start_stack %#lx is not in the [stack] VMA",
		  (unsigned long)st.start_stack);

	/* A thread's own stat. */
	for (i = 0; i < 2; i++) {
		cr_assert_eq(proc_parse_stat(g->pid, g->tids[i], &st), 0);
		cr_assert_eq(st.pid, g->tids[i]);
		cr_assert_eq(st.num_threads, 3);
		cr_assert_str_eq(st.comm, GRANDKID_COMM);
	}
	cr_assert_eq(proc_parse_stat(k.pid, g->tids[0], &st), -ESRCH,
		     "a thread of another process");

	cr_assert_eq(pt_kid_stop(&k), 0);
}

/* ---- status ---------------------------------------------------------------------------------- */

#define NR_GROUPS 2000 /* a Groups: line longer than a page */

static void on_term(int sig)
{
	(void)sig;
}

static void status_kid(int rep, int ctl, void *arg)
{
	static gid_t groups[NR_GROUPS];
	sigset_t set;
	char ok = 'k';

	(void)arg;
	for (int i = 0; i < NR_GROUPS; i++)
		groups[i] = (gid_t)(1000 + 3 * i);
	umask(027);
	sigemptyset(&set);
	sigaddset(&set, SIGUSR1);
	sigaddset(&set, SIGUSR2);
	sigaddset(&set, SIGRTMIN + 1);
	if (sigprocmask(SIG_BLOCK, &set, NULL) || raise(SIGUSR1) || kill(getpid(), SIGUSR2) ||
	    signal(SIGPIPE, SIG_IGN) == SIG_ERR || signal(SIGTERM, on_term) == SIG_ERR ||
	    setgroups(NR_GROUPS, groups) || prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) ||
	    setresgid(101, 102, 103) || setresuid(201, 202, 203))
		_exit(2);
	pt_put(rep, &ok, 1);
	pt_wait_ctl(ctl);
	_exit(0);
}

#define SIGBIT(s) (1ULL << ((s)-1))

Test(proc, status_of_a_changed_child)
{
	struct proc_status st;
	struct pt_kid k;
	char ok;

	if (geteuid())
		cr_skip_test("needs root for setgroups and setresuid");
	pt_kid_start(&k, status_kid, NULL);
	pt_kid_read(&k, &ok, 1);

	cr_assert_eq(proc_parse_status(k.pid, 0, &st), 0);
	cr_assert_eq(st.tgid, k.pid);
	cr_assert_eq(st.ppid, getpid());
	cr_assert_eq(st.tracer_pid, 0);
	cr_assert_eq(st.ns_pid, k.pid);
	cr_assert_eq(st.umask, 027);
	cr_assert_eq(st.uid[0], 201);
	cr_assert_eq(st.uid[1], 202);
	cr_assert_eq(st.uid[2], 203);
	cr_assert_eq(st.uid[3], 202);
	cr_assert_eq(st.gid[0], 101);
	cr_assert_eq(st.gid[1], 102);
	cr_assert_eq(st.gid[2], 103);
	cr_assert_eq(st.gid[3], 102);
	cr_assert_eq(st.nr_groups, NR_GROUPS);
	for (int i = 0; i < NR_GROUPS; i++)
		cr_assert_eq(st.groups[i], (uint32_t)(1000 + 3 * i), "group %d", i);
	cr_assert_eq(st.sig_blk, SIGBIT(SIGUSR1) | SIGBIT(SIGUSR2) | SIGBIT(SIGRTMIN + 1));
	cr_assert_eq(st.sig_pnd, SIGBIT(SIGUSR1), "raise() pends on the thread");
	cr_assert_eq(st.shd_pnd, SIGBIT(SIGUSR2), "kill() pends on the process");
	cr_assert(st.sig_ign & SIGBIT(SIGPIPE));
	cr_assert(st.sig_cgt & SIGBIT(SIGTERM));
	cr_assert_eq(st.sig_cgt & SIGBIT(SIGPIPE), 0);
	cr_assert_eq(st.no_new_privs, 1);
	cr_assert_eq(st.seccomp, 0);
	cr_assert_eq(st.cap_eff, 0, "caps are dropped with uid 0");
	cr_assert_neq(st.cap_bnd, 0);
	cr_assert_eq(st.threads, 1);
	/* The kid may still be on its way from write() to read(): wait for it to sleep. */
	for (int i = 0; i < 200 && st.state != 'S'; i++) {
		proc_status_free(&st);
		usleep(5000);
		cr_assert_eq(proc_parse_status(k.pid, 0, &st), 0);
	}
	cr_assert_eq(st.state, 'S');
	proc_status_free(&st);
	proc_status_free(&st);

	/* The thread view: the same thread here. */
	cr_assert_eq(proc_parse_status(k.pid, k.pid, &st), 0);
	cr_assert_eq(st.sig_pnd, SIGBIT(SIGUSR1));
	proc_status_free(&st);

	cr_assert_eq(pt_kid_stop(&k), 0);
	cr_assert_eq(proc_parse_status(k.pid, 0, &st), -ESRCH);
}

/* ---- auxv ------------------------------------------------------------------------------------ */

static void auxv_kid(int rep, int ctl, void *arg)
{
	uint64_t v[3] = { getauxval(AT_PAGESZ), getauxval(AT_ENTRY), getauxval(AT_RANDOM) };

	(void)arg;
	pt_put(rep, v, sizeof(v));
	pt_wait_ctl(ctl);
}

Test(proc, auxv_matches_getauxval)
{
	uint64_t want[3], *a;
	int found = 0;
	struct pt_kid k;
	size_t n, i;

	pt_kid_start(&k, auxv_kid, NULL);
	pt_kid_read(&k, want, sizeof(want));
	cr_assert_eq(proc_read_auxv(k.pid, &a, &n), 0);
	cr_assert(n >= 2 && !(n % 2), "%zu words", n);
	cr_assert_eq(a[n - 2], AT_NULL);
	for (i = 0; i + 1 < n; i += 2) {
		if (a[i] == AT_PAGESZ) {
			cr_assert_eq(a[i + 1], want[0]);
			found |= 1;
		} else if (a[i] == AT_ENTRY) {
			cr_assert_eq(a[i + 1], want[1]);
			found |= 2;
		} else if (a[i] == AT_RANDOM) {
			cr_assert_eq(a[i + 1], want[2]);
			found |= 4;
		}
	}
	free(a);
	cr_assert_eq(found, 7, "AT_PAGESZ, AT_ENTRY and AT_RANDOM all present");
	cr_assert_eq(pt_kid_stop(&k), 0);

	/* A kernel thread has no auxv. */
	cr_assert_eq(proc_read_auxv(2, &a, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(proc_read_auxv(pt_no_such_pid(), &a, &n), -ESRCH);
}

/* /proc/PID/limits, the fallback when prlimit(2) on another uid is not allowed. */
Test(proc, limits_rows_and_errors)
{
	struct rlimit64 rl[16], mine;
	char *buf;
	size_t len;

	cr_assert_eq(proc_parse_limits(getpid(), rl, 16), 0);
	for (int i = 0; i < 16; i++) {
		cr_assert_eq(prlimit64(0, (enum __rlimit_resource)i, NULL, &mine), 0);
		cr_assert_eq(rl[i].rlim_cur, mine.rlim_cur, "limit %d soft", i);
		cr_assert_eq(rl[i].rlim_max, mine.rlim_max, "limit %d hard", i);
	}
	buf = strdup(
		"Limit                     Soft Limit           Hard Limit           Units     \n"
		"Max cpu time              unlimited            unlimited            seconds   \n"
		"Max file size             12x                  unlimited            bytes     \n");
	len = strlen(buf);
	cr_assert_eq(proc_parse_limits_buf(buf, len, "t", rl, 2), -EINVAL, "a bad number passed");
	cr_assert_eq(proc_parse_limits_buf(buf, len, "t", rl, 1), 0);
	cr_assert_eq(rl[0].rlim_cur, RLIM64_INFINITY);
	cr_assert_eq(proc_parse_limits_buf(buf, 40, "t", rl, 1), -EINVAL, "a cut row passed");
	cr_assert_eq(proc_parse_limits_buf("", 0, "t", rl, 1), -EINVAL, "no rows passed");
	free(buf);
}
