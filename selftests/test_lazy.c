// SPDX-License-Identifier: MIT
/*
 * Lazy restore end to end: the restored process runs while its memory is
 * still missing, and the lazy-pages daemon fills it through userfaultfd.
 * (The workloads of the restore suite are also restored lazily there, in
 * suite restore_lazy.)
 *
 * Here: faults from several threads and from a forked child, mremap,
 * MADV_DONTNEED and munmap while pages are missing, and no old data coming
 * back after them; the recorded working set; a page source that fails; a
 * bad working-set file. Real userfaultfd, nothing mocked.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

struct lw {
	char *dir;
	char out[512], img[512], log[512];
	pid_t pid;
};

static void lw_start(struct lw *w, const char *const argv[])
{
	int status;

	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	w->dir = t_tmpdir();
	snprintf(w->out, sizeof(w->out), "%s/out", w->dir);
	snprintf(w->img, sizeof(w->img), "%s/img", w->dir);
	snprintf(w->log, sizeof(w->log), "%s/lazy.log", w->dir);
	w->pid = t_spawn_ready(w->out, argv, "ready", 20000, NULL);
	cr_assert_eq(t_run(NULL, NULL, "%s dump -t %d -D %s", t_ferry_bin(), w->pid, w->img), 0,
		     "dump failed");
	cr_assert_eq(waitpid(w->pid, &status, 0), w->pid);
}

static void lw_stop(struct lw *w)
{
	if (w->pid > 0 && !kill(w->pid, 0))
		t_kill_wait(w->pid);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	t_rmrf(w->dir);
	free(w->dir);
}

/* Restore lazily with extra @args; the daemon logs to w->log (truncated first). */
static int lazy_restore(struct lw *w, const char *args, char **err)
{
	unlink(w->log);
	return t_run(NULL, err, "%s restore -D %s -d --lazy-pages -v3 --log-file %s %s",
		     t_ferry_bin(), w->img, w->log, args);
}

static void lazy_restore_ok(struct lw *w, const char *args)
{
	char *err = NULL;
	int rc = lazy_restore(w, args, &err);
	char *log = rc ? t_read_file(w->log, NULL) : NULL;

	cr_assert_eq(rc, 0, "lazy restore failed (%d): %s\n%s", rc, err ? err : "", log ? log : "");
	free(err);
}

/*
 * How long a lazily restored workload has to answer SIGUSR1 with its verdict
 * (t_expect_verdict): its check faults pages in through the lazy-pages daemon,
 * some of them from a page server.
 */
#define VERDICT_MS 30000

/* The daemon's summary line, once it has ended (NULL after @ms). */
static char *summary(struct lw *w, int ms)
{
	char *line = t_wait_line(w->log, "lazy-pages: done", ms);

	return line ? line : t_wait_line(w->log, "lazy-pages: failed", 1);
}

/* The number before @what in the summary line. */
static long summary_num(const char *line, const char *what)
{
	const char *p = strstr(line, what);

	cr_assert_not_null(p, "no '%s' in: %s", what, line);
	while (p > line && p[-1] == ' ')
		p--;
	while (p > line && p[-1] >= '0' && p[-1] <= '9')
		p--;
	return atol(p);
}

TestSuite(lazy, .timeout = 180);

/*
 * With the background held back, every page the workload reads is a fault:
 * from 4 threads at once, from a forked child; then mremap, MADV_DONTNEED and
 * munmap of ranges still missing. After the background has filled the rest,
 * the ranges dropped or moved hold no old data.
 */
Test(lazy, events_while_pages_missing)
{
	const char *argv[] = { "lazyevents", "32", NULL };
	struct lw w;
	char *line;

	lw_start(&w, argv);
	lazy_restore_ok(&w, "--prefetch-delay 3000");
	t_expect_verdict(w.out, w.pid, SIGUSR1, "lazyevents: verify ok", "BAD", VERDICT_MS);
	line = summary(&w, 30000);
	cr_assert_not_null(line, "the daemon did not end");
	cr_assert(strstr(line, "lazy-pages: done"), "%s", line);
	cr_expect_gt(summary_num(line, "fault(s)"), 100, "the reads did not fault: %s", line);
	free(line);
	t_expect_verdict(w.out, w.pid, SIGUSR1, "lazyevents: verify ok", "BAD", VERDICT_MS);
	/* The daemon let it go: no userfaultfd left registered. */
	cr_expect_neq(t_run(NULL, NULL, "grep -q '^VmFlags:.* um' /proc/%d/smaps", w.pid), 0,
		      "memory still registered for missing faults");
	lw_stop(&w);
}

/* No fault at all is needed when the background runs from the start. */
Test(lazy, background_fills_everything)
{
	const char *argv[] = { "memhog", "48", "5", NULL };
	struct lw w;
	char *line;

	lw_start(&w, argv);
	lazy_restore_ok(&w, "");
	line = summary(&w, 30000);
	cr_assert_not_null(line, "the daemon did not end");
	cr_assert(strstr(line, "lazy-pages: done"), "%s", line);
	/* "N of N pages filled": everything arrived. */
	cr_expect_eq(summary_num(line, " of "), summary_num(line, " pages filled"), "%s", line);
	free(line);
	t_expect_verdict(w.out, w.pid, SIGUSR1, "memhog: verify ok", "BAD", VERDICT_MS);
	lw_stop(&w);
}

/*
 * Without --log-file the daemon, which outlives `restore -d`, does not write
 * on ferry's stderr (the restored program's terminal): its summary goes to
 * IMAGES/lazy-pages.log, and restore says so.
 */
Test(lazy, daemon_logs_to_a_file_not_the_terminal)
{
	const char *argv[] = { "memhog", "16", "5", NULL };
	char *err = NULL, path[600], *line;
	struct lw w;
	int rc;

	lw_start(&w, argv);
	/* stderr is a pipe the daemon would hold: t_run returns when the daemon is done. */
	rc = t_run(NULL, &err, "%s restore -D %s -d --lazy-pages -v3", t_ferry_bin(), w.img);
	cr_assert_eq(rc, 0, "lazy restore failed: %s", err ? err : "");
	cr_expect(err && strstr(err, "lazy-pages.log"),
		  "restore does not say where the daemon "
		  "logs:\n%s",
		  err ? err : "");
	cr_expect(!err || !strstr(err, "lazy-pages: done"),
		  "the daemon's summary went to ferry's stderr:\n%s", err);
	free(err);
	snprintf(path, sizeof(path), "%s/lazy-pages.log", w.img);
	line = t_wait_line(path, "lazy-pages: done", 30000);
	cr_expect_not_null(line, "no summary in %s", path);
	free(line);
	t_expect_verdict(w.out, w.pid, SIGUSR1, "memhog: verify ok", "BAD", VERDICT_MS);
	lw_stop(&w);
}

/*
 * --record-ws records the first-touch order; the next lazy restore fills that
 * set before the tree resumes, and takes at least 90% fewer faults.
 */
Test(lazy, working_set_cuts_faults)
{
	const char *argv[] = { "wsreader", "64", "100", NULL };
	long faults[2];
	char ws[600], *line;
	struct stat st;
	struct lw w;

	lw_start(&w, argv);
	snprintf(ws, sizeof(ws), "%s/working-set.ferry", w.img);
	for (int round = 0; round < 2; round++) {
		lazy_restore_ok(&w, round ? "--prefetch-delay 60000"
					  : "--prefetch-delay 60000 --record-ws");
		t_expect_verdict(w.out, w.pid, SIGUSR1, "wsreader: verify ok", "BAD", VERDICT_MS);
		t_kill_wait(w.pid); /* the daemon ends with the process */
		line = summary(&w, 20000);
		cr_assert_not_null(line, "round %d: the daemon did not end", round);
		faults[round] = summary_num(line, "fault(s)");
		if (round) {
			cr_expect_gt(summary_num(line, "from the working set"), 0, "%s", line);
		}
		free(line);
		if (!round)
			cr_assert_eq(stat(ws, &st), 0, "no working-set file %s", ws);
	}
	cr_expect_gt(faults[0], 50, "the first restore took only %ld faults", faults[0]);
	cr_expect_leq(faults[1] * 10, faults[0], "faults: %ld with the working set, %ld without",
		      faults[1], faults[0]);
	w.pid = -1;
	lw_stop(&w);
}

/*
 * The pages file loses its data while pages are missing: the process that
 * faults on one is killed, and the log names the page; nothing hangs.
 */
Test(lazy, lost_pages_kill_with_the_page_named)
{
	const char *argv[] = { "memhog", "32", NULL };
	char pages[600], *log;
	int status = 0;
	struct lw w;

	lw_start(&w, argv);
	lazy_restore_ok(&w, "--prefetch-delay 60000");
	snprintf(pages, sizeof(pages), "%s/pages-1.img", w.img);
	cr_assert_eq(truncate(pages, 0), 0);
	kill(w.pid, SIGUSR1);
	for (int i = 0; i < 1000 && waitpid(w.pid, &status, WNOHANG) != w.pid; i++)
		usleep(10000);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		  "pid %d was not killed (status %#x)", w.pid, status);
	cr_expect_eq(t_count_lines(w.out, "verify ok"), 0);
	log = t_read_file(w.log, NULL);
	cr_assert_not_null(log);
	cr_expect(strstr(log, "killing pid") && strstr(log, "page 0x"),
		  "the log does not name the page:\n%s", log);
	free(log);
	w.pid = -1;
	lw_stop(&w);
}

/* The children of process @pid (from /proc/PID/task/PID/children), at most @max. */
static int children_of(pid_t pid, pid_t *out, int max)
{
	char path[64], *text, *p, *end;
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", pid, pid);
	text = t_read_file(path, NULL);
	for (p = text; p && n < max; p = end) {
		long v = strtol(p, &end, 10);

		if (end == p)
			break;
		out[n++] = (pid_t)v;
	}
	free(text);
	return n;
}

/*
 * Attached (no -d), ferry restore is the parent of the root and of the
 * lazy-pages daemon. The daemon killed while pages are missing (their uffd
 * closes: they would read as zeros): the tree is killed too, and restore
 * says why and fails.
 */
/* @pid runs memhog (its comm), not yet the restore's shell (a fork of ferry). */
static int is_memhog(pid_t pid)
{
	char path[64], *comm;
	int yes;

	snprintf(path, sizeof(path), "/proc/%d/comm", pid);
	comm = t_read_file(path, NULL);
	yes = comm && !strncmp(comm, "memhog", 6);
	free(comm);
	return yes;
}

Test(lazy, daemon_killed_kills_the_tree)
{
	const char *argv[] = { "memhog", "32", NULL };
	char errpath[600], *err;
	pid_t fr, kids[4], daemon = 0;
	int status = 0, n = 0;
	struct lw w;

	lw_start(&w, argv);
	snprintf(errpath, sizeof(errpath), "%s/restore.err", w.dir);
	fr = fork();
	cr_assert_geq(fr, 0);
	if (!fr) {
		int fd = open(errpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

		if (fd < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
			_exit(126);
		execl(t_ferry_bin(), "ferry", "restore", "-D", w.img, "--lazy-pages",
		      "--prefetch-delay", "60000", (char *)NULL);
		_exit(127);
	}
	/*
	 * The tree runs (untraced, asleep in memhog's idle loop) and the daemon
	 * waits. Before the restore, the pid is a shell, a fork of ferry, asleep
	 * and untraced too: its name tells them apart.
	 */
	for (int i = 0; i < 400 && !daemon; i++) {
		usleep(25000);
		n = children_of(fr, kids, 4);
		if (n != 2 || t_proc_state(w.pid) != 'S' || t_proc_field(w.pid, "TracerPid") != 0 ||
		    !is_memhog(w.pid))
			continue;
		daemon = kids[0] == w.pid ? kids[1] : kids[0];
	}
	cr_assert_gt(daemon, 0, "no restored root and daemon under ferry restore %d (%d children)",
		     fr, n);
	cr_assert_eq(kill(daemon, SIGKILL), 0);
	for (int i = 0; i < 1000 && waitpid(fr, &status, WNOHANG) != fr; i++)
		usleep(10000);
	err = t_read_file(errpath, NULL);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) != 0,
		  "ferry restore did not fail (status %#x):\n%s", status, err ? err : "");
	cr_expect(err && strstr(err, "lazy-pages daemon") && strstr(err, "killed by signal 9") &&
			  strstr(err, "killing the restored tree"),
		  "ferry restore did not say why:\n%s", err ? err : "");
	cr_expect_neq(kill(w.pid, 0), 0, "the restored pid %d still runs", w.pid);
	cr_expect_eq(t_count_lines(w.out, "verify"), 0);
	free(err);
	w.pid = -1;
	lw_stop(&w);
}

/* A damaged working-set file is refused with its name and offset; nothing is left running. */
Test(lazy, refuses_a_bad_working_set_file)
{
	const char *argv[] = { "memhog", "8", NULL };
	char ws[600], *err = NULL;
	struct lw w;

	lw_start(&w, argv);
	snprintf(ws, sizeof(ws), "%s/working-set.ferry", w.img);
	cr_assert_eq(t_write_file(ws, "ferry-ws\x01\0\0\0\x05\0\0\0", 16), 0);
	cr_assert_neq(lazy_restore(&w, "", NULL), 0, "restore with a bad working set succeeded");
	err = t_read_file(w.log, NULL);
	cr_assert_not_null(err);
	cr_expect(strstr(err, "working-set.ferry") && strstr(err, "offset 12"), "%s", err);
	free(err);
	cr_expect(kill(w.pid, 0) && errno == ESRCH, "pid %d exists after a failed restore", w.pid);
	cr_expect_eq(waitpid(-1, NULL, WNOHANG), -1, "a failed restore left a child behind");
	w.pid = -1;
	lw_stop(&w);
}

/*
 * A dump of a process whose pages are still arriving is refused (its missing
 * pages cannot be read), and the process goes on, its faults served.
 */
Test(lazy, dump_refused_while_pages_missing)
{
	const char *argv[] = { "memhog", "16", NULL };
	char *err = NULL;
	struct lw w;

	lw_start(&w, argv);
	lazy_restore_ok(&w, "--prefetch-delay 60000");
	cr_assert_neq(t_run(NULL, &err, "%s dump -t %d -D %s/again", t_ferry_bin(), w.pid, w.dir),
		      0, "a dump of a process under lazy restore succeeded");
	cr_expect(err && strstr(err, "missing-page faults"), "%s", err ? err : "");
	free(err);
	cr_assert_eq(t_proc_field(w.pid, "TracerPid"), 0, "the refused dump left it traced");
	t_expect_verdict(w.out, w.pid, SIGUSR1, "memhog: verify ok", "BAD", VERDICT_MS);
	lw_stop(&w);
}

/* ---- from a page server ------------------------------------------------------------ */

/* The namespace and page server of the running test, removed by the fini after a failure. */
static struct t_netns *cur_ns;
static pid_t cur_server;

static void netns_fini(void)
{
	if (cur_server > 0) {
		kill(cur_server, SIGKILL);
		waitpid(cur_server, NULL, 0);
	}
	if (cur_ns)
		t_netns_down(cur_ns);
}

static void netns_up(struct t_netns *n)
{
	int rc = t_netns_up(n);

	if (rc > 0)
		cr_skip_test("cannot make a network namespace");
	cr_assert_eq(rc, 0, "veth setup failed");
	cur_ns = n;
}

struct server {
	pid_t pid;
	char out[600], log[600], addr[64];
};

/* Start `ferry page-server` on w's images, in namespace @ns (NULL: here), on @addr. */
static void server_start(struct server *s, struct lw *w, const char *ns, const char *addr,
			 const char *secret)
{
	snprintf(s->out, sizeof(s->out), "%s/ps.out", w->dir);
	snprintf(s->log, sizeof(s->log), "%s/ps.log", w->dir);
	s->pid = t_page_server(ns, w->img, addr, secret, s->out, s->log, s->addr, sizeof(s->addr));
	cr_assert_gt(s->pid, 0, "the page server did not start: %s", t_read_file(s->log, NULL));
	cur_server = s->pid;
}

/* A copy of the images without the pages files: the pages must come from the server. */
static void images_without_pages(struct lw *w, char *dst, size_t len)
{
	snprintf(dst, len, "%s/client", w->dir);
	cr_assert_eq(t_run(NULL, NULL, "mkdir %s && cp -a %s/. %s/ && rm %s/pages-*.img", dst,
			   w->img, dst, dst),
		     0);
}

static void remote_restore_ok(struct lw *w, const char *dir, const char *server, const char *args)
{
	char *err = NULL, *log;
	int rc;

	unlink(w->log);
	rc = t_run(NULL, &err,
		   "%s restore -D %s -d --lazy-pages --page-server %s -v3 --log-file %s %s",
		   t_ferry_bin(), dir, server, w->log, args);
	log = rc ? t_read_file(w->log, NULL) : NULL;
	cr_assert_eq(rc, 0, "lazy restore from %s failed (%d): %s\n%s", server, rc, err ? err : "",
		     log ? log : "");
	free(err);
}

/*
 * Each workload restored lazily from a page server in another network
 * namespace, over a veth pair, with a shared secret: it verifies its memory
 * (and for lazyevents, faults, fork and layout changes served remotely); the
 * daemon ends, and the server ends its session cleanly.
 */
static void from_netns(const char *const argv[], const char *ok, const char *args)
{
	char client[600], secret[600], *line;
	struct server s;
	static struct t_netns n;
	struct lw w;
	int status;

	netns_up(&n);
	lw_start(&w, argv);
	snprintf(secret, sizeof(secret), "%s/secret", w.dir);
	cr_assert_eq(t_write_file(secret, "correct horse battery staple\n", 29), 0);
	images_without_pages(&w, client, sizeof(client));
	server_start(&s, &w, n.name, n.there, secret);
	{
		char all[1200];

		snprintf(all, sizeof(all), "--secret-file %s %s", secret, args);
		remote_restore_ok(&w, client, s.addr, all);
	}
	t_expect_verdict(w.out, w.pid, SIGUSR1, ok, "BAD", VERDICT_MS);
	line = summary(&w, 60000);
	cr_assert_not_null(line, "the daemon did not end");
	cr_expect(strstr(line, "lazy-pages: done"), "%s", line);
	free(line);
	t_expect_verdict(w.out, w.pid, SIGUSR1, ok, "BAD", VERDICT_MS);
	cr_assert_eq(waitpid(s.pid, &status, 0), s.pid);
	cur_server = 0;
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "the page server ended with status %#x:\n%s", status, t_read_file(s.log, NULL));
	lw_stop(&w);
	t_netns_down(&n);
	cur_ns = NULL;
}

TestSuite(lazy_remote, .timeout = 180, .fini = netns_fini);

Test(lazy_remote, memhog_from_another_netns)
{
	const char *argv[] = { "memhog", "64", "9", NULL };

	from_netns(argv, "memhog: verify ok", "");
}

Test(lazy_remote, events_from_another_netns)
{
	const char *argv[] = { "lazyevents", "16", NULL };

	from_netns(argv, "lazyevents: verify ok", "--prefetch-delay 2000");
}

/*
 * The page server dies (SIGKILL) or stops answering (SIGSTOP) while pages
 * are missing: the restored process is killed with the page named; nothing
 * hangs beyond --lazy-timeout.
 */
static void server_lost(int sig)
{
	const char *argv[] = { "memhog", "32", NULL };
	char client[600], *log;
	struct server s;
	struct lw w;
	int status = 0;

	lw_start(&w, argv);
	images_without_pages(&w, client, sizeof(client));
	server_start(&s, &w, NULL, "127.0.0.1", NULL);
	remote_restore_ok(&w, client, s.addr, "--prefetch-delay 600000 --lazy-timeout 2");
	cr_assert_eq(kill(s.pid, sig), 0);
	kill(w.pid, SIGUSR1);
	for (int i = 0; i < 1500 && waitpid(w.pid, &status, WNOHANG) != w.pid; i++)
		usleep(10000);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		  "pid %d was not killed within 15 s (status %#x)", w.pid, status);
	log = t_wait_line(w.log, "lazy-pages: failed", 5000); /* the daemon ends, too */
	cr_expect_not_null(log, "the daemon did not end with 'failed'");
	free(log);
	log = t_read_file(w.log, NULL);
	cr_assert_not_null(log);
	cr_expect(strstr(log, "cannot be filled") && strstr(log, "page 0x") &&
			  strstr(log, "page server"),
		  "the log does not name the page and the server:\n%s", log);
	free(log);
	kill(s.pid, SIGKILL);
	waitpid(s.pid, NULL, 0);
	cur_server = 0;
	w.pid = -1;
	lw_stop(&w);
}

Test(lazy_remote, server_killed_mid_restore)
{
	server_lost(SIGKILL);
}

Test(lazy_remote, server_stops_answering)
{
	server_lost(SIGSTOP);
}
