// SPDX-License-Identifier: MIT
/*
 * POSIX timers and itimers end to end (issue 18): the ptimers workload's
 * three POSIX timers (periodic SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD_ID)
 * and its ITIMER_REAL come back from a dump with the same ids, clocks and
 * notifications (/proc/PID/timers identical before and after), with their
 * time left and interval, and the periodic one keeps firing (the workload
 * checks all of that itself). Through a plain restore, a lazy one and a
 * pre-dump chain; crit decodes the timers as ferry does; damaged timer
 * entries are refused naming the file, the offset and the timer.
 *
 * The test process is a child subreaper: a tree restored with -d is
 * reparented to it when ferry exits, so it can be reaped here.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core.pb-c.h"
#include "helpers.h"
#include "images.h"
#include "img.h"
#include "log.h"

#define VERDICT_MS 10000

struct tw {
	char *dir;
	char out[512], log[512];
	char timers[4096]; /* /proc/PID/timers when it was started */
	pid_t pid;
	int periodic, none, thread;
};

TestSuite(timers, .timeout = 120);

static void read_timers(pid_t pid, char *buf, size_t size)
{
	char path[64], *s;

	snprintf(path, sizeof(path), "/proc/%d/timers", pid);
	s = t_read_file(path, NULL);
	cr_assert_not_null(s, "cannot read %s", path);
	snprintf(buf, size, "%s", s);
	free(s);
}

static void tw_start(struct tw *w)
{
	const char *argv[] = { "ptimers", NULL };
	char *line;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	memset(w, 0, sizeof(*w));
	w->dir = t_tmpdir();
	cr_assert_not_null(w->dir);
	snprintf(w->out, sizeof(w->out), "%s/out", w->dir);
	snprintf(w->log, sizeof(w->log), "%s/lazy.log", w->dir);
	w->pid = t_spawn(w->out, argv);
	cr_assert_gt(w->pid, 0);
	line = t_wait_line(w->out, "ready", 10000);
	cr_assert_not_null(line, "the ptimers workload never said ready");
	cr_assert_eq(sscanf(line, "ptimers: pid %*d periodic %d none %d thread %d", &w->periodic,
			    &w->none, &w->thread),
		     3, "ready line: %s", line);
	free(line);
	read_timers(w->pid, w->timers, sizeof(w->timers));
	t_expect_verdict(w->out, w->pid, SIGUSR1, "ptimers: verify ok", "verify BAD", VERDICT_MS);
}

static void tw_stop(struct tw *w)
{
	if (w->pid > 0 && !kill(w->pid, 0))
		t_kill_wait(w->pid);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	t_rmrf(w->dir);
	free(w->dir);
}

static void ferry_ok(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void ferry_ok(const char *fmt, ...)
{
	char args[1600], *err = NULL;
	va_list ap;
	int rc;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	rc = t_run(NULL, &err, "%s %s", t_ferry_bin(), args);
	cr_assert_eq(rc, 0, "ferry %s failed (%d): %s", args, rc, err ? err : "");
	free(err);
}

/* The dump killed the workload: reap it. */
static void reap(struct tw *w)
{
	int status;

	cr_assert_eq(waitpid(w->pid, &status, 0), w->pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the dump did not kill it");
}

/* The "posix" array of a decoded core image (JSON text), malloc'd. */
static char *posix_part(const char *json)
{
	const char *a = strstr(json, "\"posix\": [");
	const char *b = a ? strchr(a, ']') : NULL;

	cr_assert(a && b, "no posix timers in the decoded core: %.300s", json);
	return strndup(a, (size_t)(b - a + 1));
}

/* ferry decode and crit show the same three timers, with our ids. */
static void decode_like_crit(const struct tw *w, const char *img)
{
	char *ours = NULL, *theirs = NULL, *err = NULL, *p1, *p2, want[64];

	cr_assert_eq(t_run(&ours, &err, "%s decode -i %s/core-%d.img", t_ferry_bin(), img, w->pid),
		     0, "ferry decode: %s", err ? err : "");
	free(err);
	err = NULL;
	p1 = posix_part(ours);
	snprintf(want, sizeof(want), "\"it_id\": %d", w->periodic);
	cr_assert(strstr(p1, want), "%s", p1);
	snprintf(want, sizeof(want), "\"notify_thread_id\": %d", w->pid);
	cr_assert(strstr(p1, want), "%s", p1);
	if (t_crit()) {
		cr_assert_eq(
			t_run(&theirs, &err, "%s decode -i %s/core-%d.img", t_crit(), img, w->pid),
			0, "crit decode: %s", err ? err : "");
		p2 = posix_part(theirs);
		cr_assert_str_eq(p1, p2);
		free(p2);
	}
	free(p1);
	free(ours);
	free(theirs);
	free(err);
}

/* Back with the same timers, and they work. */
static void check_back(struct tw *w)
{
	char now[4096];

	cr_assert_eq(t_proc_field(w->pid, "TracerPid"), 0);
	read_timers(w->pid, now, sizeof(now));
	cr_assert_str_eq(now, w->timers, "/proc/%d/timers changed", w->pid);
	t_expect_verdict(w->out, w->pid, SIGUSR1, "ptimers: verify ok", "verify BAD", VERDICT_MS);
}

/* dump -> restore, twice (the second dump is of restored timers). */
Test(timers, posix_timers_and_itimer_restored)
{
	char img[600];
	struct tw w;

	tw_start(&w);
	for (int round = 0; round < 2; round++) {
		snprintf(img, sizeof(img), "%s/img%d", w.dir, round);
		ferry_ok("dump -D %s -t %d", img, w.pid);
		reap(&w);
		decode_like_crit(&w, img);
		/* Frozen time must not count: the workload checks the time left. */
		usleep(300 * 1000);
		ferry_ok("restore -D %s -d", img);
		check_back(&w);
	}
	tw_stop(&w);
}

/* The way of kernels before PR_TIMER_CREATE_RESTORE_IDS: dummies up to each id. */
Test(timers, ids_by_counting_without_the_restore_ids_prctl)
{
	char img[600], *err = NULL;
	struct tw w;
	int rc;

	tw_start(&w);
	snprintf(img, sizeof(img), "%s/img", w.dir);
	ferry_ok("dump -D %s -t %d", img, w.pid);
	reap(&w);
	rc = t_run(NULL, &err, "FERRY_TIMER_IDS_BY_COUNTING=1 %s restore -D %s -d", t_ferry_bin(),
		   img);
	cr_assert_eq(rc, 0, "restore: %s", err ? err : "");
	free(err);
	check_back(&w);
	tw_stop(&w);
}

Test(timers, posix_timers_lazy_restore)
{
	char img[600];
	struct tw w;

	tw_start(&w);
	snprintf(img, sizeof(img), "%s/img", w.dir);
	ferry_ok("dump -D %s -t %d", img, w.pid);
	reap(&w);
	ferry_ok("restore -D %s -d --lazy-pages --log-file %s", img, w.log);
	check_back(&w);
	tw_stop(&w);
}

Test(timers, posix_timers_predump_chain)
{
	char d1[600], d2[600];
	struct tw w;

	tw_start(&w);
	snprintf(d1, sizeof(d1), "%s/1", w.dir);
	snprintf(d2, sizeof(d2), "%s/2", w.dir);
	ferry_ok("pre-dump -D %s -t %d", d1, w.pid);
	usleep(100 * 1000);
	ferry_ok("dump -D %s -t %d --prev-images-dir ../1", d2, w.pid);
	reap(&w);
	ferry_ok("restore -D %s -d", d2);
	check_back(&w);
	tw_stop(&w);
}

/* ---- damaged timer entries ------------------------------------------------------------ */

typedef void (*edit_fn)(PosixTimerEntry **v, size_t n);

static void rewrite_core(const char *dir, pid_t pid, edit_fn edit)
{
	ProtobufCMessage *m = NULL;
	struct img *in, *out;
	char name[64];
	CoreEntry *c;
	int dfd;

	snprintf(name, sizeof(name), "core-%d.img", pid);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(dfd, 0);
	cr_assert_eq(img_open(&in, dfd, name, IMG_CORE), 0);
	cr_assert_eq(img_read_entry(in, &m), 1);
	c = (CoreEntry *)m;
	cr_assert(c->tc && c->tc->timers && c->tc->timers->n_posix == 3);
	edit(c->tc->timers->posix, c->tc->timers->n_posix);
	cr_assert_eq(unlinkat(dfd, name, 0), 0);
	cr_assert_eq(img_create(&out, dfd, name, IMG_CORE), 0);
	cr_assert_eq(img_write_entry(out, m), 0);
	cr_assert_eq(img_commit(out), 0);
	protobuf_c_message_free_unpacked(m, NULL);
	img_close(in);
	close(dfd);
}

static void nsec_too_big(PosixTimerEntry **v, size_t n)
{
	v[n - 1]->vnsec = 1000000000;
}

static void same_id(PosixTimerEntry **v, size_t n)
{
	(void)n;
	v[1]->it_id = v[0]->it_id;
}

static void bad_clock(PosixTimerEntry **v, size_t n)
{
	(void)n;
	v[0]->clock_id = 4242;
}

static void no_such_thread(PosixTimerEntry **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i]->has_notify_thread_id)
			v[i]->notify_thread_id = 1;
}

static void bad_signal(PosixTimerEntry **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (v[i]->it_sigev_notify == 0 /* SIGEV_SIGNAL */)
			v[i]->si_signo = 65;
}

Test(timers, damaged_timer_entries_refused)
{
	static const struct {
		edit_fn edit;
		const char *why;
	} cases[] = {
		{ nsec_too_big, "nanoseconds of a second or more" },
		{ same_id, "id appears twice" },
		{ bad_clock, "clock timer_create does not take" },
		{ no_such_thread, "SIGEV_THREAD_ID names no thread of the process" },
		{ bad_signal, "invalid signal" },
	};
	char img[600], bad[700], logp[800], want[200], *log, *err = NULL;
	struct tw w;

	tw_start(&w);
	snprintf(img, sizeof(img), "%s/img", w.dir);
	ferry_ok("dump -D %s -t %d --leave-running", img, w.pid);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rimg *r = NULL;
		int rc;

		snprintf(bad, sizeof(bad), "%s/bad%zu", w.dir, i);
		snprintf(logp, sizeof(logp), "%s.log", bad);
		cr_assert_eq(t_run(NULL, NULL, "cp -a %s %s", img, bad), 0);
		rewrite_core(bad, w.pid, cases[i].edit);
		cr_assert_eq(log_init(logp, LOG_ERROR, 0), 0);
		rc = rimg_load(&r, bad);
		log_fini();
		log = t_read_file(logp, NULL);
		cr_assert_eq(rc, -EINVAL, "case %zu: rimg_load gave %d; log: %s", i, rc,
			     log ? log : "");
		cr_assert_null(r);
		snprintf(want, sizeof(want), "core-%d.img: offset 8: pid %d: POSIX timer", w.pid,
			 w.pid);
		cr_assert(log && strstr(log, want), "no '%s' in: %s", want, log ? log : "");
		cr_assert(strstr(log, cases[i].why), "no '%s' in: %s", cases[i].why, log);
		free(log);
		/* ferry restore refuses it too, and makes nothing. */
		rc = t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), bad);
		cr_assert_neq(rc, 0, "case %zu restored", i);
		cr_assert(err && strstr(err, cases[i].why), "%s", err ? err : "");
		free(err);
		err = NULL;
	}
	/* The workload ran on through all this, untouched. */
	t_expect_verdict(w.out, w.pid, SIGUSR1, "ptimers: verify ok", "verify BAD", VERDICT_MS);
	tw_stop(&w);
}
