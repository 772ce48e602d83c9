// SPDX-License-Identifier: MIT
/*
 * Lazy restore of shared memory (issue 18): a parent and its forked child
 * share 64 MiB of MAP_SHARED|MAP_ANONYMOUS memory and an 8 MiB memfd held
 * by its mappings only (selftests/workloads/lazyshm.c). Restored with
 * --lazy-pages, both objects are filled by the lazy-pages daemon after the
 * tree resumes: each process checks every page of both itself, a word one
 * writes is read by the other, the objects are one inode in both processes,
 * and the daemon's log says how many shared memory pages were still missing
 * when the tree resumed. FERRY_LAZY_SHMEM=eager forces the eager fallback.
 * With the daemon SIGKILLed, the holder keeps the shared memory's
 * registrations too: the processes wait, and `ferry lazy-pages --attach`
 * fills the objects.
 *
 * The test process is a child subreaper: a tree restored with -d is
 * reparented to it when ferry exits, so it can be reaped here.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "helpers.h"
#include "tree_helpers.h"

#define VERDICT_MS 30000

TestSuite(lazy_shmem, .timeout = 120);

/* Skip unless the kernel offers missing faults on shmem (UFFD_FEATURE_MISSING_SHMEM). */
static void need_missing_shmem(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	int fd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK), ok = 0;

	if (fd >= 0) {
		ok = !ioctl(fd, UFFDIO_API, &api) && (api.features & UFFD_FEATURE_MISSING_SHMEM);
		close(fd);
	}
	if (!ok)
		cr_skip_test("the kernel has no userfaultfd missing faults on shmem "
			     "(UFFD_FEATURE_MISSING_SHMEM)");
}

static void start(struct t_tree *t)
{
	const char *argv[] = { "lazyshm", "64", "8", NULL };
	char *line;

	t_tree_init(t);
	line = t_tree_spawn(t, argv);
	cr_assert_eq(sscanf(line, "lazyshm: pid %*d child %d", &t->child), 1, "ready line: %s",
		     line);
	free(line);
	/* The check itself is sound before any dump. */
	t_expect_verdict(t->out, t->pid, SIGUSR1, "lazyshm: verify ok", "verify BAD", VERDICT_MS);
}

/* The number before @what in @line (-1 if absent). */
static long num_before(const char *line, const char *what)
{
	const char *p = strstr(line, what);

	if (!p)
		return -1;
	while (p > line && p[-1] == ' ')
		p--;
	while (p > line && p[-1] >= '0' && p[-1] <= '9')
		p--;
	return atol(p);
}

/* The inode of @pid's mapping whose name contains @needle, or 0. */
static unsigned long inode_of(pid_t pid, const char *needle)
{
	char path[64], line[512];
	unsigned long ino = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	cr_assert_not_null(f, "%s", path);
	while (!ino && fgets(line, sizeof(line), f))
		if (strstr(line, needle) && sscanf(line, "%*s %*s %*s %*s %lu", &ino) != 1)
			ino = 0;
	fclose(f);
	return ino;
}

static void assert_shared(const struct t_tree *t)
{
	const char *names[] = { "/dev/zero (deleted)", "/memfd:ferry-lazyshm (deleted)" };

	for (int i = 0; i < 2; i++) {
		unsigned long a = inode_of(t->pid, names[i]), b = inode_of(t->child, names[i]);

		cr_assert(a && a == b, "%s: inode %lu in the parent, %lu in the child", names[i], a,
			  b);
	}
}

/*
 * Dump, restore with --lazy-pages @extra, have both processes check every
 * page; returns the daemon's summary line, *@missing the shared memory pages
 * missing when the tree resumed.
 */
static char *lazy_round(struct t_tree *t, const char *extra, long *missing)
{
	char log[700], args[1200], *line;

	t_tree_dump(t, t->img, NULL);
	snprintf(log, sizeof(log), "%s/restore.log", t->dir);
	snprintf(args, sizeof(args), "--lazy-pages -v3 --log-file %s %s", log, extra);
	t_tree_restore(t, t->img, args);
	line = t_wait_line(log, "the tree runs:", 10000);
	cr_assert_not_null(line, "no 'the tree runs' line in %s", log);
	*missing = num_before(line, "of them of shared memory mappings");
	cr_assert_geq(*missing, 0, "%s", line);
	free(line);
	assert_shared(t);
	t_expect_verdict(t->out, t->pid, SIGUSR1, "lazyshm: verify ok", "verify BAD", VERDICT_MS);
	line = t_wait_line(log, "lazy-pages: done", 30000);
	cr_assert_not_null(line, "the lazy-pages daemon did not finish (%s)", log);
	return line;
}

/* Both objects are filled after resume: by faults and by the background. */
Test(lazy_shmem, shared_anon_and_memfd_filled_after_resume)
{
	struct t_tree t;
	char *line, log[700], *text;
	long missing;

	need_missing_shmem();
	start(&t);
	line = lazy_round(&t, "", &missing);
	/* 64 + 8 MiB, less holes and control pages, in two address spaces. */
	cr_assert_gt(missing, 2 * 16000, "shared memory was not left to the daemon: %ld", missing);
	cr_log_info("lazy_shmem: %ld shared memory pages (both processes) missing at resume; %s",
		    missing, line);
	cr_assert_eq(num_before(line, " of "), num_before(line, " pages filled"), "%s", line);
	snprintf(log, sizeof(log), "%s/restore.log", t.dir);
	text = t_read_file(log, NULL);
	cr_assert(text && strstr(text, "2 shared memory object(s) served lazily"), "%s", text);
	free(text);
	free(line);
	/* Still shared after the daemon let go: a second round trip of the ping. */
	t_expect_verdict(t.out, t.pid, SIGUSR1, "lazyshm: verify ok", "verify BAD", VERDICT_MS);
	t_tree_stop(&t);
}

/*
 * Background held back: the parent's reads fault every page in; the child
 * then finds them in the objects (filled through the parent's mappings).
 */
Test(lazy_shmem, pages_filled_by_one_process_are_present_for_the_other)
{
	struct t_tree t;
	char *line;
	long missing;

	need_missing_shmem();
	start(&t);
	line = lazy_round(&t, "--prefetch-delay 3000", &missing);
	cr_log_info("lazy_shmem: %ld missing at resume; %s", missing, line);
	cr_assert_gt(num_before(line, "fault(s)"), 100, "the reads did not fault: %s", line);
	cr_assert_gt(num_before(line, "pages of shared memory filled through another"), 16000,
		     "the child's pages were not filled through the parent's mapping: %s", line);
	cr_assert_eq(num_before(line, " of "), num_before(line, " pages filled"), "%s", line);
	free(line);
	t_tree_stop(&t);
}

/* FERRY_LAZY_SHMEM=eager: the objects are written before resume, as without the kernel feature. */
Test(lazy_shmem, eager_fallback_when_forced)
{
	struct t_tree t;
	char *line, log[700], *text;
	long missing;

	start(&t);
	setenv("FERRY_LAZY_SHMEM", "eager", 1);
	line = lazy_round(&t, "", &missing);
	unsetenv("FERRY_LAZY_SHMEM");
	cr_assert_eq(missing, 0, "shared memory was lazy: %ld pages", missing);
	free(line);
	snprintf(log, sizeof(log), "%s/restore.log", t.dir);
	text = t_read_file(log, NULL);
	cr_assert(text && strstr(text, "0 shared memory object(s) served lazily, 2 shared memory "
				       "object(s) restored eagerly (FERRY_LAZY_SHMEM=eager)"),
		  "%s", text);
	free(text);
	t_tree_stop(&t);
}

/* Our child (the subreaper's) of comm @comm, or 0. */
static pid_t our_child(const char *comm)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	pid_t found = 0;

	while (d && !found && (e = readdir(d))) {
		char path[64], buf[64] = "";
		pid_t p = (pid_t)atoi(e->d_name);
		FILE *f;

		if (p <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/comm", p);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && !strncmp(buf, comm, strlen(comm)) &&
		    buf[strlen(comm)] == '\n' && t_proc_field(p, "PPid") == getpid())
			found = p;
		fclose(f);
	}
	if (d)
		closedir(d);
	return found;
}

/* The exit status of our child @p (128 + signal), or -1 after @ms. */
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

/*
 * The daemon SIGKILLed before any shared memory page is in: both processes
 * wait on their first page (the holder keeps their userfaultfds, shared
 * memory registrations included), then an attached daemon fills the objects.
 */
Test(lazy_shmem, daemon_killed_then_attach_fills_shared_memory)
{
	struct t_tree t;
	char log[700], att_log[700], cmd[2048], *text;
	pid_t d = 0, h, a;
	int rc;

	need_missing_shmem();
	start(&t);
	t_tree_dump(&t, t.img, NULL);
	snprintf(log, sizeof(log), "%s/restore.log", t.dir);
	snprintf(att_log, sizeof(att_log), "%s/attach.log", t.dir);
	snprintf(cmd, sizeof(cmd), "--lazy-pages --prefetch-delay 600000 -v3 --log-file %s", log);
	t_tree_restore(&t, t.img, cmd);
	for (int i = 0; i < 500 && !d; i++, usleep(10000))
		d = our_child("ferry-lazy");
	cr_assert_gt(d, 0, "no lazy-pages daemon");
	cr_assert_eq(kill(d, SIGKILL), 0);
	cr_assert_eq(wait_exit(d, 5000), 128 + SIGKILL);
	rc = t_count_lines(t.out, "verify");
	kill(t.pid, SIGUSR1);
	usleep(500000);
	cr_assert_eq(t_count_lines(t.out, "verify"), rc, "pid %d read shared memory with no daemon",
		     t.pid);
	cr_assert_eq(t_proc_state(t.pid), 'S');
	snprintf(cmd, sizeof(cmd), "exec %s lazy-pages --attach %d -D %s -v3 --log-file %s",
		 t_ferry_bin(), t.pid, t.img, att_log);
	a = fork();
	cr_assert_geq(a, 0);
	if (!a) {
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	t_expect_verdict(t.out, t.pid, 0, "lazyshm: verify ok", "verify BAD", 60000);
	rc = wait_exit(a, 60000);
	text = t_read_file(att_log, NULL);
	cr_assert_eq(rc, 0, "lazy-pages --attach exited %d:\n%s", rc, text ? text : "");
	cr_assert(text && strstr(text, "lazy-pages: done") &&
			  strstr(text, "2 shared memory object(s) served lazily"),
		  "%s", text ? text : "");
	cr_log_info("lazy_shmem: attached: %s", strstr(text, "lazy-pages: done"));
	free(text);
	t_expect_verdict(t.out, t.pid, SIGUSR1, "lazyshm: verify ok", "verify BAD", VERDICT_MS);
	while ((h = our_child("ferry-lazyh")) > 0)
		t_kill_wait(h);
	t_tree_stop(&t);
}

/*
 * From a page server: the restore's directory has no pages file at all, so
 * every shared memory page comes from the server (PS_SHMEM_ADDR requests).
 */
Test(lazy_shmem, shared_memory_from_a_page_server)
{
	struct t_tree t;
	char dir[700], out[700], slog[700], hp[64], args[1600], *line;
	pid_t srv;
	long missing;

	need_missing_shmem();
	start(&t);
	t_tree_dump(&t, t.img, NULL);
	snprintf(dir, sizeof(dir), "%s/nopages", t.dir);
	cr_assert_eq(t_run(NULL, NULL, "mkdir %s && cp %s/* %s/ && rm %s/pages-*.img", dir, t.img,
			   dir, dir),
		     0);
	snprintf(out, sizeof(out), "%s/ps.out", t.dir);
	snprintf(slog, sizeof(slog), "%s/ps.log", t.dir);
	srv = t_page_server(NULL, t.img, "127.0.0.1", NULL, out, slog, hp, sizeof(hp));
	cr_assert_gt(srv, 0);
	snprintf(slog, sizeof(slog), "%s/restore.log", t.dir);
	snprintf(args, sizeof(args), "--lazy-pages --page-server %s -v3 --log-file %s", hp, slog);
	t_tree_restore(&t, dir, args);
	line = t_wait_line(slog, "the tree runs:", 10000);
	cr_assert_not_null(line, "no 'the tree runs' line in %s", slog);
	missing = num_before(line, "of them of shared memory mappings");
	free(line);
	cr_assert_gt(missing, 2 * 16000, "shared memory was not left to the daemon: %ld", missing);
	t_expect_verdict(t.out, t.pid, SIGUSR1, "lazyshm: verify ok", "verify BAD", VERDICT_MS);
	line = t_wait_line(slog, "lazy-pages: done", 30000);
	cr_assert_not_null(line, "the lazy-pages daemon did not finish");
	cr_log_info("lazy_shmem: from a page server: %s", line);
	free(line);
	t_kill_wait(srv);
	t_tree_stop(&t);
}
