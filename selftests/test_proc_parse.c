// SPDX-License-Identifier: MIT
/*
 * /proc parsing on real processes: stat, status, auxv, thread and child
 * lists, kernel threads, links, and the smaps VMA reader checked against
 * what the children know of themselves and against the BPF iterator.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/capability.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/resource.h>
#include <unistd.h>

#include "helpers.h"
#include "log.h"
#include "proc_parse.h"
#include "vma_iter.h"

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

#define PG 4096UL

/* ---- a forked child that reports through one pipe and exits when another closes ------------ */

struct kid {
	pid_t pid;
	int from; /* what the child reports */
	int ctl;  /* closing it tells the child (and its descendants) to exit */
};

typedef void (*kid_fn)(int rep, int ctl, void *arg);

static void kid_start(struct kid *k, kid_fn fn, void *arg)
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

static void kid_read(struct kid *k, void *buf, size_t len)
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

static int kid_stop(struct kid *k)
{
	int st = 0;

	close(k->ctl);
	close(k->from);
	if (waitpid(k->pid, &st, 0) != k->pid)
		return -1;
	return st;
}

/* In a child: block until the test closes ctl. */
static void wait_ctl(int ctl)
{
	char c;

	while (read(ctl, &c, 1) > 0)
		;
}

static void put(int fd, const void *buf, size_t len)
{
	if (write(fd, buf, len) != (ssize_t)len)
		_exit(99);
}

static pid_t no_such_pid(void)
{
	char *s = t_read_file("/proc/sys/kernel/pid_max", NULL);
	long max = s ? atol(s) : 4194304;

	free(s);
	return (pid_t)(max + 1);
}

TestSuite(proc, .timeout = 60);

/* ---- stat ------------------------------------------------------------------------------------ */

/* In .data: its address lies in [start_data, end_data). */
int proc_test_data_word = 42;

/* A thread that says who it is, meets the others at a barrier, and sleeps. */
struct th_arg {
	pthread_barrier_t *bar;
	pid_t tid;
	pid_t kid; /* forker(): the child it forked */
	int ctl;
};

static void *report_tid(void *p)
{
	struct th_arg *a = p;

	a->tid = gettid();
	pthread_barrier_wait(a->bar);
	for (;;)
		pause();
	return NULL;
}

/* Same, after forking a child of this (non-leader) thread. */
static void *forker(void *p)
{
	struct th_arg *a = p;

	a->tid = gettid();
	a->kid = fork();
	if (!a->kid) {
		wait_ctl(a->ctl);
		_exit(0);
	}
	pthread_barrier_wait(a->bar);
	for (;;)
		pause();
	return NULL;
}

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
		struct th_arg t[2] = { { 0 } };
		pthread_t th;

		if (setpgid(0, 0) || prctl(PR_SET_NAME, GRANDKID_COMM) ||
		    sbrk(3 * PG) == (void *)-1)
			_exit(2);
		pthread_barrier_init(&bar, NULL, 3);
		for (int i = 0; i < 2; i++) {
			t[i].bar = &bar;
			if (pthread_create(&th, NULL, report_tid, &t[i]))
				_exit(3);
		}
		pthread_barrier_wait(&bar);
		fill_stat_rep(&r);
		r.tids[0] = t[0].tid;
		r.tids[1] = t[1].tid;
		put(rep, &r, sizeof(r));
		wait_ctl(ctl);
		_exit(0);
	}
	fill_stat_rep(&r);
	put(rep, &r, sizeof(r));
	wait_ctl(ctl);
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
	struct kid k;
	size_t n, i;
	int env_in = 0, on_stack = 0;

	kid_start(&k, stat_kid, NULL);
	kid_read(&k, &r[0], sizeof(r[0]));
	kid_read(&k, &r[1], sizeof(r[1]));
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

	cr_assert_eq(kid_stop(&k), 0);
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
	put(rep, &ok, 1);
	wait_ctl(ctl);
	_exit(0);
}

#define SIGBIT(s) (1ULL << ((s)-1))

Test(proc, status_of_a_changed_child)
{
	struct proc_status st;
	struct kid k;
	char ok;

	if (geteuid())
		cr_skip_test("needs root for setgroups and setresuid");
	kid_start(&k, status_kid, NULL);
	kid_read(&k, &ok, 1);

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

	cr_assert_eq(kid_stop(&k), 0);
	cr_assert_eq(proc_parse_status(k.pid, 0, &st), -ESRCH);
}

/* ---- auxv ------------------------------------------------------------------------------------ */

static void auxv_kid(int rep, int ctl, void *arg)
{
	uint64_t v[3] = { getauxval(AT_PAGESZ), getauxval(AT_ENTRY), getauxval(AT_RANDOM) };

	(void)arg;
	put(rep, v, sizeof(v));
	wait_ctl(ctl);
}

Test(proc, auxv_matches_getauxval)
{
	uint64_t want[3], *a;
	int found = 0;
	struct kid k;
	size_t n, i;

	kid_start(&k, auxv_kid, NULL);
	kid_read(&k, want, sizeof(want));
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
	cr_assert_eq(kid_stop(&k), 0);

	/* A kernel thread has no auxv. */
	cr_assert_eq(proc_read_auxv(2, &a, &n), 0);
	cr_assert_eq(n, 0);
	cr_assert_eq(proc_read_auxv(no_such_pid(), &a, &n), -ESRCH);
}

/* ---- threads and children -------------------------------------------------------------------- */

#define NR_THREADS 20 /* more than the lists' first allocation */

struct tree_rep {
	pid_t tids[NR_THREADS];
	pid_t kid_of_thread, kid_of_leader;
};

static void tree_kid(int rep, int ctl, void *arg)
{
	static struct th_arg t[NR_THREADS];
	struct tree_rep r = { 0 };
	pthread_barrier_t bar;
	pthread_t th;

	(void)arg;
	pthread_barrier_init(&bar, NULL, NR_THREADS + 1);
	for (int i = 0; i < NR_THREADS; i++) {
		t[i].bar = &bar;
		t[i].ctl = ctl;
		if (pthread_create(&th, NULL, i == NR_THREADS / 2 ? forker : report_tid, &t[i]))
			_exit(3);
	}
	pthread_barrier_wait(&bar);
	r.kid_of_leader = fork();
	if (!r.kid_of_leader) {
		wait_ctl(ctl);
		_exit(0);
	}
	for (int i = 0; i < NR_THREADS; i++)
		r.tids[i] = t[i].tid;
	r.kid_of_thread = t[NR_THREADS / 2].kid;
	put(rep, &r, sizeof(r));
	wait_ctl(ctl);
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
	struct kid k;
	size_t n, i;

	if (access("/proc/self/task/1/children", F_OK) &&
	    access("/proc/thread-self/children", F_OK))
		cr_skip_test("no /proc/PID/task/TID/children (CONFIG_PROC_CHILDREN off)");
	kid_start(&k, tree_kid, NULL);
	kid_read(&k, &r, sizeof(r));

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

	cr_assert_eq(kid_stop(&k), 0);
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
	cr_assert_eq(proc_is_kernel_thread(no_such_pid()), -ESRCH);
	cr_assert_eq(proc_is_kernel_thread(0), -ESRCH);

	/* No mm: no VMAs, and that is not an error. */
	cr_assert_eq(proc_parse_maps(2, &v, &n), 0);
	cr_assert_eq(n, 0);
	free(v);
	cr_assert_eq(proc_parse_maps(no_such_pid(), &v, &n), -ESRCH);
	cr_assert_eq(proc_read_vmas(no_such_pid(), &v, &n, NULL), -ESRCH);
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
	cr_assert_eq(proc_read_link(no_such_pid(), "cwd", buf, sizeof(buf)), -ESRCH);

	cr_assert_eq(proc_parse_stat(no_such_pid(), 0, &st), -ESRCH);
	cr_assert_eq(proc_parse_stat(getpid(), no_such_pid(), &st), -ESRCH);
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

/* ---- the parsers on text that /proc does not write: errors name the file and line ------------ */

/* Start a fresh error log in @dir; returns its path. */
static char *log_path(const char *dir)
{
	static char p[PATH_MAX];
	static int seq;

	snprintf(p, sizeof(p), "%s/log%d", dir, seq++);
	cr_assert_eq(log_init(p, LOG_ERROR, 0), 0);
	return p;
}

static void log_has(const char *path, const char *needle)
{
	char *log;

	log_fini();
	log = t_read_file(path, NULL);
	cr_assert(log && strstr(log, needle), "log lacks '%s': %s", needle, log ? log : "(none)");
	free(log);
}

Test(proc, malformed_text_is_einval_with_file_and_line)
{
	static const char stat_ok[] =
		"77 (x) y) z) S 1 77 77 0 -1 4194560 1 0 0 0 0 0 0 0 20 -5 1 0 12345 1000 10 "
		"18446744073709551615 100 200 300 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 400 500 600 700 "
		"800 900 1000 0\n";
	static const char stat_short[] = "77 (x) S 1 77 77 0\n";
	static const char stat_bad[] =
		"77 (x) S 1 77 77 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 12345 1000 10 "
		"18446744073709551615 100 200 300 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 400 500 60x0 700 "
		"800 900 1000 0\n";
	static const char status_no_uid[] = "Name:\tx\nTgid:\t1\nPPid:\t0\nTracerPid:\t0\n";
	static const char status_bad_hex[] =
		"Tgid:\t1\nPPid:\t0\nTracerPid:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n"
		"Groups:\t \nSigPnd:\t00000000zz000000\n";
	static const char smaps_bad[] = "00400000-00401000 r-xp 00000000 08:01 12 /bin/x\n"
					"Size:                  4 kB\n"
					"this is not smaps\n";
	struct proc_status ps;
	struct proc_stat st;
	struct vma_rec *v;
	char *dir, *lp;
	size_t n;
	FILE *f;

	cr_assert_eq(proc_parse_stat_buf(stat_ok, strlen(stat_ok), "ok", &st), 0);
	cr_assert_str_eq(st.comm, "x) y) z");
	cr_assert_eq(st.nice, -5);
	cr_assert_eq(st.vsize, 1000);
	cr_assert_eq(st.start_code, 100);
	cr_assert_eq(st.start_data, 400);
	cr_assert_eq(st.env_end, 1000);
	cr_assert_eq(st.flags, 4194560);
	cr_assert_eq(st.starttime, 12345);

	dir = t_tmpdir();
	cr_assert(dir);
	lp = log_path(dir);
	cr_assert_eq(proc_parse_stat_buf(stat_short, strlen(stat_short), "/proc/77/stat", &st),
		     -EINVAL);
	log_has(lp, "/proc/77/stat: only 7 fields");

	lp = log_path(dir);
	cr_assert_eq(proc_parse_stat_buf(stat_bad, strlen(stat_bad), "/proc/78/stat", &st),
		     -EINVAL);
	log_has(lp, "/proc/78/stat: field 47 is not a number: '60x0'");

	lp = log_path(dir);
	cr_assert_eq(
		proc_parse_status_buf(status_no_uid, strlen(status_no_uid), "/proc/79/status", &ps),
		-EINVAL);
	log_has(lp, "/proc/79/status: no 'Uid:' line");
	cr_assert_null(ps.groups);

	lp = log_path(dir);
	cr_assert_eq(proc_parse_status_buf(status_bad_hex, strlen(status_bad_hex),
					   "/proc/80/status", &ps),
		     -EINVAL);
	log_has(lp, "/proc/80/status line 7: cannot parse 'SigPnd:");

	lp = log_path(dir);
	f = fmemopen((void *)smaps_bad, strlen(smaps_bad), "r");
	cr_assert(f);
	cr_assert_eq(proc_parse_smaps_stream(f, "/proc/81/smaps", 81, 81, &v, &n), -EINVAL);
	fclose(f);
	log_has(lp, "/proc/81/smaps line 3: unexpected 'this is not smaps'");
	t_rmrf(dir);
	free(dir);
}

/* One maps header line laid out as the kernel does: prefix, blank, pad to column 72, blank, name.
 */
static size_t maps_line(char *out, size_t size, const char *prefix, const char *name)
{
	int len = snprintf(out, size, "%s ", prefix);

	while (len < 72)
		out[len++] = ' ';
	return (size_t)(len + snprintf(out + len, size - (size_t)len, " %s\n", name));
}

/* The corners of the maps line: name column, escapes, long paths, [vsyscall], plain maps. */
Test(proc, smaps_text_corners)
{
	char longname[400], text[8192];
	struct vma_rec *v;
	size_t n, len = 0;
	FILE *f;

	memset(longname, 'L', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	len += maps_line(text + len, sizeof(text) - len,
			 "7f0000000000-7f0000002000 rw-s 00003000 00:1a5 99",
			 "   leading spaces (deleted)");
	len += (size_t)snprintf(text + len, sizeof(text) - len,
				"Size:                  8 kB\n"
				"THPeligible:           0\n"
				"VmFlags: rd wr sh mr mw me ms dc sl xx \n");
	len += maps_line(text + len, sizeof(text) - len,
			 "7f0000002000-7f0000003000 r--p 00000000 fe:00 12", "/a\\012b");
	len += maps_line(text + len, sizeof(text) - len,
			 "7f0000004000-7f0000005000 r--p 00000000 fe:00 13", longname);
	len += maps_line(text + len, sizeof(text) - len,
			 "7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0", "[stack]");
	len += maps_line(text + len, sizeof(text) - len,
			 "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0", "[vsyscall]");
	len += (size_t)snprintf(text + len, sizeof(text) - len,
				"VmFlags: ex \n"
				"7ffc00100000-7ffc00101000 rw-p 00000000 00:00 0 \n");
	f = fmemopen(text, len, "r");
	cr_assert(f);
	cr_assert_eq(proc_parse_smaps_stream(f, "text", 5, 6, &v, &n), 0);
	fclose(f);
	cr_assert_eq(n, 5, "[vsyscall] is skipped");

	cr_assert_eq(v[0].start, 0x7f0000000000);
	cr_assert_eq(v[0].end, 0x7f0000002000);
	cr_assert_eq(v[0].offset, 0x3000);
	cr_assert_eq(v[0].pgoff, 3);
	cr_assert_eq(v[0].dev_major, 0);
	cr_assert_eq(v[0].dev_minor, 0x1a5);
	cr_assert_eq(v[0].ino, 99);
	cr_assert_eq(v[0].kind, VMA_KIND_FILE);
	cr_assert_str_eq(v[0].path, "   leading spaces (deleted)");
	cr_assert_eq(v[0].vm_flags,
		     VMA_VM_READ | VMA_VM_WRITE | VMA_VM_SHARED | PROC_VM_MAYREAD |
			     PROC_VM_MAYWRITE | PROC_VM_MAYEXEC | VMA_VM_MAYSHARE | VMA_VM_DONTCOPY,
		     "sl (a high bit) and unknown xx are left out");
	cr_assert_eq(v[0].tgid, 5);
	cr_assert_eq(v[0].tid, 6);

	cr_assert_str_eq(v[1].path, "/a\nb");
	cr_assert_eq(v[1].vm_flags, VMA_VM_READ, "no VmFlags line: from the permissions");

	cr_assert_eq(v[2].kind, VMA_KIND_FILE | VMA_KIND_PATH_ERR, "path too long for vma_rec");
	cr_assert_str_eq(v[2].path, "");

	cr_assert_eq(v[3].kind, VMA_KIND_ANON | VMA_KIND_STACK);
	cr_assert_eq(v[3].pgoff, 0x7ffc00000000 >> 12);
	cr_assert_eq(v[3].offset, 0);

	cr_assert_eq(v[4].kind, VMA_KIND_ANON, "a line with no name");
	cr_assert_str_eq(v[4].path, "");
	cr_assert_eq(v[4].vm_flags, VMA_VM_READ | VMA_VM_WRITE);
	free(v);
}

/* ---- the VMAs: /proc against the children's own knowledge and against BPF ------------------- */

struct maps_ctx {
	char dir[256];
	char data[PATH_MAX], spaced[PATH_MAX], newline[PATH_MAX], longp[PATH_MAX], gone[PATH_MAX];
};

enum {
	R_FSHARED,
	R_FPRIV,
	R_FEXEC,
	R_SPACED,
	R_NEWLINE,
	R_LONG,
	R_GONE,
	R_MEMFD,
	R_ASHARED,
	R_APRIV,
	R_NONE,
	R_GDOWN,
	R_DONTFORK,
	R_DONTDUMP,
	R_WIPE,
	R_NOHUGE,
	R_NAMED,
	R_LOCKED,
	R_NR,
};

struct maps_rep {
	uint64_t addr[R_NR]; /* 0 if that mapping could not be made */
	uint64_t len[R_NR];
	uint64_t brk;
};

#define SLOT (16 * PG) /* regions sit in their own slots, unmapped gaps between them */

static void *map_at(uint64_t base, int slot, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = mmap((void *)(uintptr_t)(base + (uint64_t)slot * SLOT), len, prot,
		       flags | MAP_FIXED, fd, off);

	return p == MAP_FAILED ? NULL : p;
}

static void maps_kid(int rep, int ctl, void *arg)
{
	struct maps_ctx *c = arg;
	struct maps_rep r = { { 0 } };
	uint64_t base;
	char *p;
	int fd;

	p = mmap(NULL, (R_NR + 1) * SLOT, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		_exit(2);
	munmap(p, (R_NR + 1) * SLOT);
	base = (uint64_t)(uintptr_t)p;

#define MAP(i, l, prot, flags, fd, off)                              \
	do {                                                         \
		void *m_ = map_at(base, i, l, prot, flags, fd, off); \
		r.addr[i] = (uint64_t)(uintptr_t)m_;                 \
		r.len[i] = l;                                        \
	} while (0)

	fd = open(c->data, O_RDWR);
	if (fd < 0)
		_exit(3);
	MAP(R_FSHARED, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 1 * PG);
	MAP(R_FPRIV, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 3 * PG);
	if (r.addr[R_FPRIV])
		*(volatile char *)(uintptr_t)r.addr[R_FPRIV] = 'w'; /* a COW copy */
	MAP(R_FEXEC, PG, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 5 * PG);
	close(fd);
	fd = open(c->spaced, O_RDONLY);
	MAP(R_SPACED, PG, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	fd = open(c->newline, O_RDONLY);
	MAP(R_NEWLINE, PG, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	fd = open(c->longp, O_RDONLY);
	MAP(R_LONG, PG, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	fd = open(c->gone, O_RDWR);
	MAP(R_GONE, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	unlink(c->gone);
	fd = memfd_create("ferry-memfd", 0);
	if (fd >= 0 && !ftruncate(fd, 2 * PG))
		MAP(R_MEMFD, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	MAP(R_ASHARED, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	MAP(R_APRIV, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r.addr[R_APRIV])
		memset((void *)(uintptr_t)r.addr[R_APRIV], 1, 4 * PG);
	MAP(R_NONE, 2 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	MAP(R_GDOWN, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN,
	    -1, 0);
	MAP(R_DONTFORK, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (madvise((void *)(uintptr_t)r.addr[R_DONTFORK], PG, MADV_DONTFORK))
		r.addr[R_DONTFORK] = 0;
	MAP(R_DONTDUMP, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (madvise((void *)(uintptr_t)r.addr[R_DONTDUMP], PG, MADV_DONTDUMP))
		r.addr[R_DONTDUMP] = 0;
	MAP(R_WIPE, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (madvise((void *)(uintptr_t)r.addr[R_WIPE], PG, MADV_WIPEONFORK))
		r.addr[R_WIPE] = 0;
	MAP(R_NOHUGE, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (madvise((void *)(uintptr_t)r.addr[R_NOHUGE], 2 * PG, MADV_NOHUGEPAGE))
		r.addr[R_NOHUGE] = 0;
	MAP(R_NAMED, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, r.addr[R_NAMED], PG, "ferry name"))
		r.addr[R_NAMED] = 0;
	MAP(R_LOCKED, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mlock((void *)(uintptr_t)r.addr[R_LOCKED], PG))
		r.addr[R_LOCKED] = 0;
#undef MAP
	if (sbrk(5 * PG) == (void *)-1)
		_exit(4);
	r.brk = (uint64_t)(uintptr_t)sbrk(0);
	memset((char *)(uintptr_t)r.brk - 5 * PG, 2, 5 * PG);
	put(rep, &r, sizeof(r));
	wait_ctl(ctl);
	_exit(0);
}

static void make_file(const char *path, size_t len, struct stat *sb)
{
	char *buf = malloc(len);

	cr_assert(buf);
	memset(buf, 'f', len);
	cr_assert_eq(t_write_file(path, buf, len), 0, "cannot write %s", path);
	free(buf);
	cr_assert_eq(stat(path, sb), 0);
}

static void maps_setup(struct maps_ctx *c, struct stat sb[R_NR])
{
	char *d = t_tmpdir(), comp[101];
	size_t len;

	cr_assert(d);
	snprintf(c->dir, sizeof(c->dir), "%s", d);
	free(d);
	snprintf(c->data, sizeof(c->data), "%s/data", c->dir);
	make_file(c->data, 8 * PG, &sb[R_FSHARED]);
	sb[R_FPRIV] = sb[R_FEXEC] = sb[R_FSHARED];
	snprintf(c->spaced, sizeof(c->spaced), "%s/ sp ace", c->dir);
	make_file(c->spaced, PG, &sb[R_SPACED]);
	snprintf(c->newline, sizeof(c->newline), "%s/nl\nname", c->dir);
	make_file(c->newline, PG, &sb[R_NEWLINE]);
	snprintf(c->gone, sizeof(c->gone), "%s/gone", c->dir);
	make_file(c->gone, PG, &sb[R_GONE]);
	/* A path longer than vma_rec.path: three 100-byte directories. */
	memset(comp, 'd', 100);
	comp[100] = '\0';
	len = (size_t)snprintf(c->longp, sizeof(c->longp), "%s", c->dir);
	for (int i = 0; i < 3; i++) {
		len += (size_t)snprintf(c->longp + len, sizeof(c->longp) - len, "/%s", comp);
		cr_assert_eq(mkdir(c->longp, 0700), 0);
	}
	snprintf(c->longp + len, sizeof(c->longp) - len, "/long");
	make_file(c->longp, PG, &sb[R_LONG]);
}

static const struct vma_rec *find_vma(const struct vma_rec *v, size_t n, uint64_t start)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].start == start)
			return &v[i];
	return NULL;
}

static const struct vma_rec *containing(const struct vma_rec *v, size_t n, uint64_t addr)
{
	for (size_t i = 0; i < n; i++)
		if (addr >= v[i].start && addr < v[i].end)
			return &v[i];
	return NULL;
}

static void check_file_vma(const struct vma_rec *v, size_t n, const struct maps_rep *r, int i,
			   const struct stat *sb, const char *path, uint64_t off)
{
	const struct vma_rec *x = find_vma(v, n, r->addr[i]);

	cr_assert(x, "region %d at %#lx is not listed", i, (unsigned long)r->addr[i]);
	cr_assert_eq(x->end, r->addr[i] + r->len[i], "region %d", i);
	cr_assert_eq(x->kind, VMA_KIND_FILE, "region %d kind %#x", i, x->kind);
	cr_assert_eq(x->ino, sb->st_ino, "region %d", i);
	cr_assert_eq(x->dev_major, major(sb->st_dev), "region %d", i);
	cr_assert_eq(x->dev_minor, minor(sb->st_dev), "region %d", i);
	cr_assert_eq(x->offset, off, "region %d", i);
	cr_assert_eq(x->pgoff, off / PG, "region %d", i);
	if (path)
		cr_assert_str_eq(x->path, path, "region %d", i);
}

static const struct vma_rec *check_anon_vma(const struct vma_rec *v, size_t n,
					    const struct maps_rep *r, int i)
{
	const struct vma_rec *x = find_vma(v, n, r->addr[i]);

	cr_assert(x, "region %d at %#lx is not listed", i, (unsigned long)r->addr[i]);
	cr_assert_eq(x->end, r->addr[i] + r->len[i], "region %d", i);
	cr_assert_eq(x->kind, VMA_KIND_ANON, "region %d kind %#x", i, x->kind);
	cr_assert_eq(x->offset, 0);
	cr_assert_eq(x->ino, 0);
	cr_assert_eq(x->pgoff, x->start / PG);
	return x;
}

/* What the children know: each region where it was made, with the right file and flags. */
static void check_known(const struct vma_rec *v, size_t n, const struct maps_rep *r,
			const struct maps_ctx *c, const struct stat *sb)
{
	const uint64_t rw = VMA_VM_READ | VMA_VM_WRITE | PROC_VM_MAYREAD | PROC_VM_MAYWRITE;
	const struct vma_rec *x;
	char want[PATH_MAX + 16];
	int stack = 0, vdso = 0, vvar = 0;

	check_file_vma(v, n, r, R_FSHARED, &sb[R_FSHARED], c->data, PG);
	x = find_vma(v, n, r->addr[R_FSHARED]);
	cr_assert_eq(x->vm_flags & (rw | VMA_VM_SHARED | VMA_VM_MAYSHARE | VMA_VM_EXEC),
		     rw | VMA_VM_SHARED | VMA_VM_MAYSHARE);
	check_file_vma(v, n, r, R_FPRIV, &sb[R_FPRIV], c->data, 3 * PG);
	x = find_vma(v, n, r->addr[R_FPRIV]);
	cr_assert_eq(x->vm_flags & (rw | VMA_VM_SHARED | VMA_VM_MAYSHARE), rw);
	if (r->addr[R_FEXEC]) {
		check_file_vma(v, n, r, R_FEXEC, &sb[R_FEXEC], c->data, 5 * PG);
		x = find_vma(v, n, r->addr[R_FEXEC]);
		cr_assert_eq(x->vm_flags & (VMA_VM_READ | VMA_VM_WRITE | VMA_VM_EXEC),
			     VMA_VM_READ | VMA_VM_EXEC);
	}
	check_file_vma(v, n, r, R_SPACED, &sb[R_SPACED], c->spaced, 0);
	check_file_vma(v, n, r, R_NEWLINE, &sb[R_NEWLINE], c->newline, 0);
	x = find_vma(v, n, r->addr[R_LONG]);
	cr_assert(x);
	cr_assert_eq(x->kind, VMA_KIND_FILE | VMA_KIND_PATH_ERR);
	cr_assert_eq(x->ino, sb[R_LONG].st_ino);
	snprintf(want, sizeof(want), "%s (deleted)", c->gone);
	check_file_vma(v, n, r, R_GONE, &sb[R_GONE], want, 0);
	if (r->addr[R_MEMFD]) {
		x = find_vma(v, n, r->addr[R_MEMFD]);
		cr_assert(x);
		cr_assert_eq(x->kind, VMA_KIND_FILE);
		cr_assert_str_eq(x->path, "/memfd:ferry-memfd (deleted)");
	}
	x = find_vma(v, n, r->addr[R_ASHARED]);
	cr_assert(x);
	cr_assert_eq(x->kind, VMA_KIND_FILE, "shared anonymous memory is a shmem file");
	cr_assert_str_eq(x->path, "/dev/zero (deleted)");
	cr_assert_eq(x->vm_flags & (VMA_VM_SHARED | VMA_VM_MAYSHARE),
		     VMA_VM_SHARED | VMA_VM_MAYSHARE);

	x = check_anon_vma(v, n, r, R_APRIV);
	cr_assert_eq(x->vm_flags & (rw | VMA_VM_SHARED | VMA_VM_EXEC), rw);
	x = check_anon_vma(v, n, r, R_NONE);
	cr_assert_eq(x->vm_flags & (VMA_VM_READ | VMA_VM_WRITE | VMA_VM_EXEC), 0);
	x = check_anon_vma(v, n, r, R_GDOWN);
	cr_assert(x->vm_flags & VMA_VM_GROWSDOWN);
	if (r->addr[R_DONTFORK])
		cr_assert(check_anon_vma(v, n, r, R_DONTFORK)->vm_flags & VMA_VM_DONTCOPY);
	if (r->addr[R_DONTDUMP])
		cr_assert(check_anon_vma(v, n, r, R_DONTDUMP)->vm_flags & VMA_VM_DONTDUMP);
	if (r->addr[R_WIPE])
		cr_assert(check_anon_vma(v, n, r, R_WIPE)->vm_flags & VMA_VM_WIPEONFORK);
	if (r->addr[R_NOHUGE])
		cr_assert(check_anon_vma(v, n, r, R_NOHUGE)->vm_flags & VMA_VM_NOHUGEPAGE);
	if (r->addr[R_NAMED])
		check_anon_vma(v, n, r, R_NAMED);
	if (r->addr[R_LOCKED])
		cr_assert(check_anon_vma(v, n, r, R_LOCKED)->vm_flags & VMA_VM_LOCKED);

	x = containing(v, n, r->brk - 1);
	cr_assert(x, "no VMA holds the break %#lx", (unsigned long)r->brk);
	cr_assert_eq(x->kind, VMA_KIND_ANON | VMA_KIND_HEAP);
	for (size_t i = 0; i < n; i++) {
		stack += !!(v[i].kind & VMA_KIND_STACK);
		if (v[i].kind & VMA_KIND_VDSO) {
			vdso++;
			cr_assert_eq(v[i].kind, VMA_KIND_ANON | VMA_KIND_VDSO | VMA_KIND_SPECIAL);
			cr_assert_str_eq(v[i].name, "[vdso]");
			cr_assert(v[i].vm_flags & VMA_VM_EXEC);
		}
		if (!strncmp(v[i].name, "[vvar", 5)) {
			vvar++;
			cr_assert_eq(v[i].kind, VMA_KIND_ANON | VMA_KIND_SPECIAL);
		}
		if (i)
			cr_assert_geq(v[i].start, v[i - 1].end, "address order");
	}
	cr_assert_eq(stack, 1);
	cr_assert_eq(vdso, 1);
	cr_assert_geq(vvar, 1);
}

static void print_vma(const char *who, const struct vma_rec *x)
{
	cr_log_error("%s: %#llx-%#llx off %#llx pgoff %#llx ino %llu dev %u:%u kind %#x flags "
		     "%#llx name '%s' path '%s'",
		     who, (unsigned long long)x->start, (unsigned long long)x->end,
		     (unsigned long long)x->offset, (unsigned long long)x->pgoff,
		     (unsigned long long)x->ino, x->dev_major, x->dev_minor, x->kind,
		     (unsigned long long)x->vm_flags, x->name, x->path);
}

/*
 * proc_parse_maps and vma_iter_read on the same stopped address space. Compared:
 * start, end, offset, ino, dev, path, kind, name, tgid, pgoff of file VMAs, and
 * vm_flags under PROC_VMFLAGS_KNOWN (bits 0-31 minus bit 11 and VM_SOFTDIRTY:
 * what VmFlags always shows and this parser maps). Anonymous pgoff is not
 * compared: /proc does not show it.
 */
static void compare_with_bpf(pid_t pid, const struct vma_rec *p, size_t np)
{
	struct vma_rec *b;
	size_t nb, i;
	int err;

	err = vma_iter_read(pid, &b, &nb);
	if (err)
		cr_skip_test("vma_iter_read: %s; the comparison with BPF is skipped",
			     strerror(-err));
	for (i = 0; i < np && i < nb; i++) {
		const struct vma_rec *x = &p[i], *y = &b[i];
		int same =
			x->start == y->start && x->end == y->end && x->offset == y->offset &&
			x->ino == y->ino && x->dev_major == y->dev_major &&
			x->dev_minor == y->dev_minor && x->kind == y->kind &&
			!strcmp(x->path, y->path) && !strcmp(x->name, y->name) &&
			x->tgid == y->tgid &&
			(x->vm_flags & PROC_VMFLAGS_KNOWN) == (y->vm_flags & PROC_VMFLAGS_KNOWN) &&
			(!(x->kind & VMA_KIND_FILE) || x->pgoff == y->pgoff);

		if (!same) {
			print_vma("proc", x);
			print_vma("bpf ", y);
			cr_assert_fail("VMA %zu differs between /proc and BPF", i);
		}
	}
	cr_assert_eq(np, nb, "/proc lists %zu VMAs, BPF %zu", np, nb);
	free(b);
}

Test(proc, maps_agree_with_the_children_and_with_bpf)
{
	struct stat sb[R_NR];
	struct maps_ctx c;
	struct maps_rep r;
	struct vma_rec *v;
	struct kid k;
	char *full;
	size_t n;
	int used;

	memset(sb, 0, sizeof(sb));
	maps_setup(&c, sb);
	kid_start(&k, maps_kid, &c);
	kid_read(&k, &r, sizeof(r));
	for (int i = 0; i < R_NR; i++)
		if (i != R_FEXEC && i != R_MEMFD && i != R_DONTFORK && i != R_DONTDUMP &&
		    i != R_WIPE && i != R_NOHUGE && i != R_NAMED && i != R_LOCKED)
			cr_assert(r.addr[i], "the child could not make region %d", i);

	cr_assert_eq(proc_parse_maps(k.pid, &v, &n), 0);
	cr_assert_gt(n, R_NR);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(v[i].tgid, k.pid);
		cr_assert_eq(v[i].tid, k.pid);
	}
	check_known(v, n, &r, &c, sb);

	/* The path too long for vma_rec, in full. */
	if (!geteuid()) {
		cr_assert_eq(proc_vma_path(k.pid, r.addr[R_LONG], r.addr[R_LONG] + PG, &full), 0);
		cr_assert_str_eq(full, c.longp);
		free(full);
	}
	cr_assert_eq(proc_vma_path(k.pid, r.addr[R_APRIV], r.addr[R_APRIV] + 4 * PG, &full),
		     -ENOENT, "anonymous memory has no map_files link");

	/* proc_read_vmas gives the same list, whichever way it took. */
	{
		struct vma_rec *w;
		size_t nw;

		cr_assert_eq(proc_read_vmas(k.pid, &w, &nw, &used), 0);
		cr_assert_eq(nw, n);
		for (size_t i = 0; i < n; i++)
			cr_assert(w[i].start == v[i].start && w[i].end == v[i].end);
		free(w);
	}

	compare_with_bpf(k.pid, v, n);
	free(v);
	cr_assert_eq(kid_stop(&k), 0);
	t_rmrf(c.dir);
}

#define MANY 6000

static void many_kid(int rep, int ctl, void *arg)
{
	char *p;

	(void)arg;
	p = mmap(NULL, 2 * MANY * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		_exit(2);
	for (int i = 0; i < MANY; i++)
		if (mprotect(p + 2 * (size_t)i * PG, PG, PROT_READ))
			_exit(3);
	put(rep, &p, sizeof(p));
	wait_ctl(ctl);
	_exit(0);
}

Test(proc, thousands_of_vmas)
{
	struct vma_rec *v;
	struct kid k;
	size_t n;
	char *p;

	kid_start(&k, many_kid, NULL);
	kid_read(&k, &p, sizeof(p));
	cr_assert_eq(proc_parse_maps(k.pid, &v, &n), 0);
	cr_assert_geq(n, 2 * MANY);
	cr_assert(find_vma(v, n, (uint64_t)(uintptr_t)p));
	compare_with_bpf(k.pid, v, n);
	free(v);
	cr_assert_eq(kid_stop(&k), 0);
}

/* The leader exits, a thread runs on: the leader's smaps is empty, the thread's is not. */
static void *survivor(void *arg)
{
	int *fds = arg;
	struct proc_stat st;
	char ok = 'k';

	for (int i = 0; i < 1000; i++) {
		if (!proc_parse_stat(getpid(), 0, &st) && st.state == 'Z')
			break;
		usleep(5 * 1000);
	}
	put(fds[0], &ok, 1);
	wait_ctl(fds[1]);
	_exit(0);
	return NULL;
}

static void leaderless_kid(int rep, int ctl, void *arg)
{
	static int fds[2];
	pthread_t th;

	(void)arg;
	fds[0] = rep;
	fds[1] = ctl;
	if (pthread_create(&th, NULL, survivor, fds))
		_exit(2);
	syscall(SYS_exit, 0); /* this thread only */
}

Test(proc, maps_of_a_process_whose_leader_exited)
{
	struct proc_stat st;
	struct vma_rec *v;
	pid_t *tids;
	struct kid k;
	size_t n, nt;
	char ok;

	kid_start(&k, leaderless_kid, NULL);
	kid_read(&k, &ok, 1);
	cr_assert_eq(proc_parse_stat(k.pid, 0, &st), 0);
	cr_assert_eq(st.state, 'Z');
	cr_assert_eq(proc_list_threads(k.pid, &tids, &nt), 0);
	cr_assert_eq(nt, 2);
	cr_assert_eq(proc_parse_maps(k.pid, &v, &n), 0);
	cr_assert_gt(n, 0, "read through the live thread");
	cr_assert_eq(v[0].tgid, k.pid);
	cr_assert_eq(v[0].tid, tids[0] == k.pid ? tids[1] : tids[0]);
	free(v);
	cr_assert_eq(proc_read_vmas(k.pid, &v, &n, NULL), 0);
	cr_assert_gt(n, 0);
	free(v);
	free(tids);
	cr_assert_eq(kid_stop(&k), 0);
}

/* Without CAP_BPF/CAP_PERFMON/CAP_SYS_ADMIN the iterator fails and /proc takes over, warning once.
 */
static int fallback_reader(pid_t target, const char *logp)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	struct vma_rec *v = NULL;
	int used = -1, drop[] = { CAP_SYS_ADMIN, CAP_BPF, CAP_PERFMON };
	size_t n;
	char *log, *s;
	int warns = 0;

	if (syscall(SYS_capget, &h, d))
		return 10;
	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		d[drop[i] / 32].effective &= ~(1U << (drop[i] % 32));
	if (syscall(SYS_capset, &h, d))
		return 11;
	if (log_init(logp, LOG_WARN, 0))
		return 12;
	for (int round = 0; round < 2; round++) {
		if (proc_read_vmas(target, &v, &n, &used) || used != 0 || n == 0)
			return 13 + round;
		free(v);
	}
	log_fini();
	log = t_read_file(logp, NULL);
	for (s = log; s && (s = strstr(s, "no task_vma iterator variant loads here")); s++)
		warns++;
	free(log);
	return warns == 1 ? 0 : 20 + warns;
}

static void idle_kid(int rep, int ctl, void *arg)
{
	char ok = 'k';

	(void)arg;
	put(rep, &ok, 1);
	wait_ctl(ctl);
}

Test(proc, read_vmas_falls_back_to_proc_without_bpf_privileges)
{
	char *dir = t_tmpdir(), logp[PATH_MAX], ok;
	struct kid k;
	pid_t rd;
	int st;

	if (geteuid())
		cr_skip_test("needs root: the test drops capabilities from a root process");
	snprintf(logp, sizeof(logp), "%s/log", dir);
	kid_start(&k, idle_kid, NULL);
	kid_read(&k, &ok, 1);
	rd = fork();
	cr_assert_geq(rd, 0);
	if (!rd)
		_exit(fallback_reader(k.pid, logp));
	cr_assert_eq(waitpid(rd, &st, 0), rd);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "reader failed with %d",
		  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	cr_assert_eq(kid_stop(&k), 0);
	t_rmrf(dir);
	free(dir);
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
