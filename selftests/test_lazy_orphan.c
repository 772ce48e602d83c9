// SPDX-License-Identifier: MIT
/*
 * A lazy restore whose lazy-pages daemon dies (issue 16, item 4). The
 * kernel unregisters a userfaultfd's memory when its last reference closes,
 * and the missing pages then read as zeros: the holder ('ferry-lazyh') keeps
 * a reference, so a thread that touches a missing page waits. Then either
 * `ferry lazy-pages --attach PID` serves the rest (and the workload verifies
 * its memory), or, with nobody attaching within --orphan-timeout, the holder
 * kills the processes that miss pages. Never a wrong verdict.
 *
 * Both kill patterns: the daemon alone (restore -d), and the process group
 * of a restore without -d (restore and daemon at once). And a campaign: the
 * daemon killed at random moments while lazyevents forks, mremaps,
 * MADV_DONTNEEDs and munmaps; the journal the holder keeps lets the new
 * daemon follow what the dead one saw.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

struct lo {
	char *dir;
	char out[512], img[512], log[512], att_log[512];
	pid_t pid;
};

static void lo_start(struct lo *w, const char *const argv[])
{
	char *line;
	int status;

	if (geteuid())
		cr_skip_test("lazy restore needs root");
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	w->dir = t_tmpdir();
	snprintf(w->out, sizeof(w->out), "%s/out", w->dir);
	snprintf(w->img, sizeof(w->img), "%s/img", w->dir);
	snprintf(w->log, sizeof(w->log), "%s/lazy.log", w->dir);
	snprintf(w->att_log, sizeof(w->att_log), "%s/attach.log", w->dir);
	w->pid = t_spawn(w->out, argv);
	cr_assert_gt(w->pid, 0);
	line = t_wait_line(w->out, "ready", 20000);
	cr_assert_not_null(line, "workload %s never got ready", argv[0]);
	free(line);
	cr_assert_eq(t_run(NULL, NULL, "%s dump -t %d -D %s", t_ferry_bin(), w->pid, w->img), 0,
		     "dump failed");
	cr_assert_eq(waitpid(w->pid, &status, 0), w->pid);
}

/* The pids whose comm is @comm, up to @max. */
static int by_comm(const char *comm, pid_t *out, int max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d)) && n < max) {
		char path[64], buf[64];
		pid_t p = (pid_t)atoi(e->d_name);
		FILE *f;

		if (p <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/comm", p);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && !strncmp(buf, comm, strlen(comm)) &&
		    buf[strlen(comm)] == '\n')
			out[n++] = p;
		fclose(f);
	}
	if (d)
		closedir(d);
	return n;
}

/* A process of comm @comm that is a child of @parent. */
static pid_t child_of(const char *comm, pid_t parent)
{
	pid_t v[64];
	int n = by_comm(comm, v, 64);

	for (int i = 0; i < n; i++)
		if (t_proc_field(v[i], "PPid") == parent)
			return v[i];
	return 0;
}

/* A process of comm @comm that is our child (reparented to us, the subreaper). */
static pid_t our(const char *comm)
{
	return child_of(comm, getpid());
}

static void lo_stop(struct lo *w)
{
	pid_t h;

	if (w->pid > 0 && !kill(w->pid, 0))
		t_kill_wait(w->pid);
	while ((h = our("ferry-lazyh")) > 0)
		t_kill_wait(h);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	t_rmrf(w->dir);
	free(w->dir);
}

/* `ferry lazy-pages --attach PID -D img [ARGS]` in the background; its pid. */
static pid_t attach_args(struct lo *w, const char *args)
{
	char cmd[2048];
	pid_t p;

	snprintf(cmd, sizeof(cmd), "exec %s lazy-pages --attach %d -D %s -v3 --log-file %s %s",
		 t_ferry_bin(), w->pid, w->img, w->att_log, args);
	p = fork();
	cr_assert_geq(p, 0);
	if (!p) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return p;
}

static pid_t attach(struct lo *w)
{
	return attach_args(w, "");
}

/* @p (our child) has ended: reaped now, or not there. */
static bool gone(pid_t p)
{
	return waitpid(p, NULL, WNOHANG) == p || kill(p, 0);
}

static int wait_exit(pid_t p, int ms)
{
	int status = -1;

	for (int i = 0; i < ms / 10; i++) {
		if (waitpid(p, &status, WNOHANG) == p)
			return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
		usleep(10000);
	}
	return -1;
}

/* The daemon and its holder of the tree just restored; the daemon's pid. */
static pid_t daemon_of(struct lo *w)
{
	pid_t d = 0;

	for (int i = 0; i < 500 && (!d || !child_of("ferry-lazyh", d)); i++) {
		usleep(10000);
		d = d ? d : our("ferry-lazy");
	}
	cr_assert_gt(d, 0, "no lazy-pages daemon:\n%s", t_read_file(w->log, NULL));
	cr_assert_gt(child_of("ferry-lazyh", d), 0, "no holder:\n%s", t_read_file(w->log, NULL));
	return d;
}

/* The workload waits on a missing page: asleep, and it says nothing. */
static void waits(struct lo *w, const char *word, int before)
{
	char path[64], *wchan;

	usleep(500000);
	cr_assert_eq(t_count_lines(w->out, word), before,
		     "pid %d answered with its daemon dead (it read missing pages):\n%s", w->pid,
		     t_read_file(w->out, NULL));
	cr_assert_eq(t_proc_state(w->pid), 'S');
	snprintf(path, sizeof(path), "/proc/%d/wchan", w->pid);
	wchan = t_read_file(path, NULL);
	cr_log_info("pid %d waits in %s", w->pid, wchan ? wchan : "?");
	free(wchan);
}

TestSuite(lazy_orphan, .timeout = 240);

/* restore -d; the daemon alone SIGKILLed; memhog waits; a new daemon attaches. */
Test(lazy_orphan, daemon_killed_then_attach_fills_memory)
{
	const char *argv[] = { "memhog", "64", NULL };
	char *log;
	struct lo w;
	pid_t d, a;
	int rc;

	lo_start(&w, argv);
	cr_assert_eq(t_run(NULL, NULL,
			   "%s restore -D %s -d --lazy-pages --prefetch-delay 600000 -v3 "
			   "--log-file %s",
			   t_ferry_bin(), w.img, w.log),
		     0);
	d = daemon_of(&w);
	cr_assert_eq(kill(d, SIGKILL), 0);
	cr_assert_eq(wait_exit(d, 5000), 128 + SIGKILL);
	kill(w.pid, SIGUSR1);
	waits(&w, "verify", 0);
	log = t_read_file(w.log, NULL);
	cr_expect(log && strstr(log, "lazy-pages daemon is gone") && strstr(log, "--attach"),
		  "the holder did not say what to do:\n%s", log ? log : "");
	free(log);
	a = attach(&w);
	t_expect_verdict(w.out, w.pid, 0, "memhog: verify ok", "BAD", 60000);
	rc = wait_exit(a, 60000);
	cr_assert_eq(rc, 0, "lazy-pages --attach exited %d:\n%s", rc, t_read_file(w.att_log, NULL));
	log = t_read_file(w.att_log, NULL);
	cr_expect(log && strstr(log, "attached to the lazy restore") &&
			  strstr(log, "lazy-pages: done"),
		  "%s", log ? log : "");
	free(log);
	t_expect_verdict(w.out, w.pid, SIGUSR1, "memhog: verify ok", "BAD", 30000);
	lo_stop(&w);
}

/* Nobody attaches: the holder kills the waiting process after --orphan-timeout, named. */
Test(lazy_orphan, nobody_attaches_the_process_is_killed)
{
	const char *argv[] = { "memhog", "32", NULL };
	char *log, needle[64];
	struct lo w;
	pid_t d, h;

	lo_start(&w, argv);
	cr_assert_eq(t_run(NULL, NULL,
			   "%s restore -D %s -d --lazy-pages --prefetch-delay 600000 "
			   "--orphan-timeout 2 -v3 --log-file %s",
			   t_ferry_bin(), w.img, w.log),
		     0);
	d = daemon_of(&w);
	h = child_of("ferry-lazyh", d);
	cr_assert_eq(kill(d, SIGKILL), 0);
	cr_assert_eq(wait_exit(d, 5000), 128 + SIGKILL);
	kill(w.pid, SIGUSR1);
	waits(&w, "verify", 0);
	cr_assert_eq(wait_exit(w.pid, 10000), 128 + SIGKILL, "pid %d was not killed", w.pid);
	cr_expect_eq(t_count_lines(w.out, "verify"), 0);
	snprintf(needle, sizeof(needle), "pid %d: killed", w.pid);
	log = t_read_file(w.log, NULL);
	cr_expect(log && strstr(log, needle), "the holder did not name pid %d:\n%s", w.pid,
		  log ? log : "");
	free(log);
	cr_expect_eq(wait_exit(h, 3000), 1, "the holder did not end with status 1");
	w.pid = -1;
	lo_stop(&w);
}

/*
 * restore without -d in a process group of its own; the group is SIGKILLed
 * (restore and its daemon at once). The holder, in a session of its own,
 * lives on; a new daemon attaches.
 */
Test(lazy_orphan, process_group_kill_then_attach)
{
	const char *argv[] = { "memhog", "64", NULL };
	struct lo w;
	pid_t r, a;
	int rc;

	lo_start(&w, argv);
	r = fork();
	cr_assert_geq(r, 0);
	if (!r) {
		char cmd[2048];

		setpgid(0, 0);
		snprintf(cmd, sizeof(cmd),
			 "exec %s restore -D %s --lazy-pages --prefetch-delay 600000 -v3 "
			 "--log-file %s",
			 t_ferry_bin(), w.img, w.log);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 1000; i++) {
		usleep(10000);
		if (t_count_lines(w.log, "the tree runs") && t_proc_state(w.pid) == 'S' &&
		    t_proc_field(w.pid, "TracerPid") == 0)
			break;
	}
	cr_assert_gt(t_count_lines(w.log, "the tree runs"), 0, "%s", t_read_file(w.log, NULL));
	cr_assert_eq(kill(-r, SIGKILL), 0);
	cr_assert_eq(wait_exit(r, 5000), 128 + SIGKILL);
	kill(w.pid, SIGUSR1);
	waits(&w, "verify", 0);
	a = attach(&w);
	t_expect_verdict(w.out, w.pid, 0, "memhog: verify ok", "BAD", 60000);
	rc = wait_exit(a, 60000);
	cr_assert_eq(rc, 0, "lazy-pages --attach exited %d:\n%s", rc, t_read_file(w.att_log, NULL));
	lo_stop(&w);
}

/*
 * From a page server: the daemon dies, its connections drop (the holder
 * keeps none of them), the server ends its failed session; a new server on
 * the same images serves the attaching daemon.
 */
Test(lazy_orphan, attach_from_a_new_page_server)
{
	const char *argv[] = { "memhog", "32", NULL };
	char out[600], slog[600], hp[64], hp2[64], args[128];
	struct lo w;
	pid_t srv, srv2, d, a;
	int rc;

	lo_start(&w, argv);
	snprintf(out, sizeof(out), "%s/ps.out", w.dir);
	snprintf(slog, sizeof(slog), "%s/ps.log", w.dir);
	srv = t_page_server(NULL, w.img, "127.0.0.1", NULL, out, slog, hp, sizeof(hp));
	cr_assert_gt(srv, 0);
	cr_assert_eq(t_run(NULL, NULL,
			   "%s restore -D %s -d --lazy-pages --page-server %s --prefetch-delay "
			   "600000 -v3 --log-file %s",
			   t_ferry_bin(), w.img, hp, w.log),
		     0);
	d = daemon_of(&w);
	cr_assert_eq(kill(d, SIGKILL), 0);
	cr_assert_eq(wait_exit(d, 5000), 128 + SIGKILL);
	rc = wait_exit(srv, 10000);
	cr_assert(rc > 0, "the first page server did not end its broken session (%d)", rc);
	kill(w.pid, SIGUSR1);
	waits(&w, "verify", 0);
	snprintf(out, sizeof(out), "%s/ps2.out", w.dir);
	snprintf(slog, sizeof(slog), "%s/ps2.log", w.dir);
	srv2 = t_page_server(NULL, w.img, "127.0.0.1", NULL, out, slog, hp2, sizeof(hp2));
	cr_assert_gt(srv2, 0);
	snprintf(args, sizeof(args), "--page-server %s", hp2);
	a = attach_args(&w, args);
	t_expect_verdict(w.out, w.pid, 0, "memhog: verify ok", "BAD", 60000);
	rc = wait_exit(a, 60000);
	cr_assert_eq(rc, 0, "lazy-pages --attach exited %d:\n%s", rc, t_read_file(w.att_log, NULL));
	cr_expect_eq(wait_exit(srv2, 10000), 0, "the second page server:\n%s",
		     t_read_file(slog, NULL));
	lo_stop(&w);
}

/*
 * The campaign: lazyevents starts its events (threads, fork, mremap,
 * DONTNEED, munmap) on missing pages, and the daemon is SIGKILLed at a
 * random moment; half of the trials attach, half let the orphan timeout
 * run. Outcomes: verify ok (after attach, or done before the kill), or
 * killed by the holder without a verdict; never BAD.
 */
Test(lazy_orphan, daemon_killed_at_random_moments)
{
	int trials = getenv("FERRY_LAZY_KILL_TRIALS") ? atoi(getenv("FERRY_LAZY_KILL_TRIALS")) : 6;
	int ok = 0, killed = 0, replayed = 0;

	srand((unsigned)time(NULL) ^ (unsigned)getpid());
	for (int t = 0; t < trials; t++) {
		const char *argv[] = { "lazyevents", "8", NULL };
		int at = rand() % 800, with_attach = t % 2, bad, good;
		struct lo w;
		pid_t d, a = 0;

		lo_start(&w, argv);
		cr_assert_eq(t_run(NULL, NULL,
				   "%s restore -D %s -d --lazy-pages --prefetch-delay 2000 "
				   "--orphan-timeout 2 -v3 --log-file %s",
				   t_ferry_bin(), w.img, w.log),
			     0);
		d = daemon_of(&w);
		kill(w.pid, SIGUSR1);
		usleep((useconds_t)at * 1000);
		kill(d, SIGKILL);
		wait_exit(d, 5000);
		if (with_attach)
			a = attach(&w);
		for (int i = 0; i < 3000; i++) {
			usleep(10000);
			if (t_count_lines(w.out, "verify") || gone(w.pid))
				break;
		}
		bad = t_count_lines(w.out, "BAD");
		good = t_count_lines(w.out, "verify ok");
		cr_assert_eq(bad, 0, "trial %d (kill at %d ms%s): wrong memory:\n%s", t, at,
			     with_attach ? ", attach" : "", t_read_file(w.out, NULL));
		if (good) {
			/* And nothing the daemon filled afterwards brought old data back. */
			t_expect_verdict(w.out, w.pid, SIGUSR1, "lazyevents: verify ok", "BAD",
					 60000);
			ok++;
		} else {
			cr_assert(gone(w.pid),
				  "trial %d: pid %d neither verified nor was killed:\n%s", t, w.pid,
				  t_read_file(w.log, NULL));
			cr_assert(!with_attach, "trial %d: attached, yet pid %d was killed:\n%s", t,
				  w.pid, t_read_file(w.att_log, NULL));
			killed++;
			w.pid = -1;
		}
		if (a) {
			int rc = wait_exit(a, 60000);
			char *log = t_read_file(w.att_log, NULL);

			const char *ev = log ? strstr(log, " event(s) replayed") : NULL;

			while (ev && ev > log && ev[-1] >= '0' && ev[-1] <= '9')
				ev--;
			replayed += ev ? atoi(ev) : 0;
			/* Refused only when the dead daemon had finished: nothing to attach to. */
			cr_assert(!rc || (good && log && strstr(log, "no lazy restore waits")),
				  "trial %d: attach exited %d:\n%s", t, rc, log ? log : "");
			free(log);
		}
		lo_stop(&w);
	}
	cr_log_info("%d trials: %d verified their memory, %d killed by the holder, 0 wrong; %d "
		    "journaled events replayed by the attaching daemons",
		    trials, ok, killed, replayed);
}
