// SPDX-License-Identifier: MIT
/*
 * Copy-on-write memory of a parent and its forked children (issue 22): the
 * pages they still share at dump time come back shared, by a restore, a lazy
 * restore and through a pre-dump chain (restore/cow.h). The workload
 * `cowshare` checks each process's own view after the restore; the test
 * counts the pages whose physical frame (/proc/PID/pagemap, root) the parent
 * shares with each child before the dump and after the restore, which must
 * be the same, and sums the anonymous PSS of the three. A write after the
 * restore by one child is not seen by the others (the workload checks). A
 * dump that leaves the tree running, and a pre-dump, leave its sharing as it
 * was (the page writer's PAGE_WRITER_NO_PIN).
 *
 * The test process is a child subreaper: a tree restored with -d is
 * reparented to it when ferry exits, so it can be reaped here.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

#define VERDICT_MS 20000

struct cw {
	char *dir;
	char out[512], img[600];
	pid_t pid[3]; /* parent, a, b */
	unsigned long base;
	size_t pages;
};

struct view {
	size_t shared_a, shared_b; /* pages whose frame the parent shares with a, b */
	long pss_anon_kb;	   /* the three processes' */
};

TestSuite(cow, .timeout = 180);

static void cw_start(struct cw *w, const char *mib)
{
	const char *argv[] = { "cowshare", mib, NULL };
	char *line = NULL;

	memset(w, 0, sizeof(*w));
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	w->dir = t_tmpdir();
	cr_assert_not_null(w->dir);
	snprintf(w->out, sizeof(w->out), "%s/out", w->dir);
	snprintf(w->img, sizeof(w->img), "%s/img", w->dir);
	t_spawn_ready(w->out, argv, "ready", 20000, &line);
	cr_assert_eq(sscanf(line, "cowshare: parent %d a %d b %d base %lx pages %zu", &w->pid[0],
			    &w->pid[1], &w->pid[2], &w->base, &w->pages),
		     5, "%s", line);
	free(line);
}

/* Kill and reap the tree. */
static void cw_stop_keep_dir(struct cw *w)
{
	for (int i = 2; i >= 0; i--)
		if (w->pid[i] > 0)
			kill(w->pid[i], SIGKILL);
	while (waitpid(-1, NULL, 0) > 0)
		;
}

static void cw_stop(struct cw *w)
{
	cw_stop_keep_dir(w);
	t_rmrf(w->dir);
	free(w->dir);
}

/* The page frames of @n pages from @base in @pid (0: not present). */
static uint64_t *frames(pid_t pid, unsigned long base, size_t n)
{
	uint64_t *v = calloc(n, sizeof(*v));
	char path[64];
	int fd;

	cr_assert_not_null(v);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0, "%s", path);
	cr_assert_eq(pread(fd, v, n * 8, (off_t)(base / 4096 * 8)), (ssize_t)(n * 8));
	close(fd);
	for (size_t i = 0; i < n; i++)
		v[i] = v[i] >> 63 ? v[i] & ((1ull << 55) - 1) : 0;
	return v;
}

static long rollup_kb(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t kl = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", pid);
	f = fopen(path, "r");
	cr_assert_not_null(f, "%s", path);
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, key, kl) && line[kl] == ':')
			v = atol(line + kl + 1);
	fclose(f);
	return v;
}

static void look(const struct cw *w, struct view *v, const char *when)
{
	uint64_t *p = frames(w->pid[0], w->base, w->pages);
	uint64_t *a = frames(w->pid[1], w->base, w->pages);
	uint64_t *b = frames(w->pid[2], w->base, w->pages);

	memset(v, 0, sizeof(*v));
	/* Frame numbers are shown to root only: else every one reads 0. */
	cr_assert(p[0] != 0, "no page frame numbers in /proc/PID/pagemap (not root?)");
	for (size_t i = 0; i < w->pages; i++) {
		v->shared_a += p[i] && p[i] == a[i];
		v->shared_b += p[i] && p[i] == b[i];
	}
	for (int i = 0; i < 3; i++)
		v->pss_anon_kb += rollup_kb(w->pid[i], "Pss_Anon");
	cr_log_info("cow: %s: of %zu pages the parent shares %zu with a, %zu with b; Pss_Anon "
		    "of the three %ld KiB (Rss of each: %ld %ld %ld KiB)",
		    when, w->pages, v->shared_a, v->shared_b, v->pss_anon_kb,
		    rollup_kb(w->pid[0], "Rss"), rollup_kb(w->pid[1], "Rss"),
		    rollup_kb(w->pid[2], "Rss"));
	free(p);
	free(a);
	free(b);
}

static void verify(const struct cw *w)
{
	t_expect_verdict(w->out, w->pid[0], SIGUSR1, "cowshare: verify ok", "BAD", VERDICT_MS);
}

static uint64_t pages_bytes(const char *dir)
{
	uint64_t sum = 0;
	struct dirent *de;
	DIR *d = opendir(dir);

	while (d && (de = readdir(d))) {
		char path[1024];
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (!strncmp(de->d_name, "pages-", 6) && !stat(path, &st))
			sum += (uint64_t)st.st_size;
	}
	if (d)
		closedir(d);
	return sum;
}

/*
 * Dump (the tree is killed). Its reads must not unshare the pages either
 * (the memory of the dying tree would grow as much): the dump says it reads
 * the children through /proc/PID/mem.
 */
static void dump(struct cw *w, const char *extra)
{
	char *err = NULL, *text, log[700], want[128];
	int status;

	snprintf(log, sizeof(log), "%s/dump.log", w->dir);
	cr_assert_eq(t_run(NULL, &err, "%s dump -t %d -D %s -v3 --log-file %s %s", t_ferry_bin(),
			   w->pid[0], w->img, log, extra ? extra : ""),
		     0, "dump: %s", err ? err : "");
	free(err);
	text = t_read_file(log, NULL);
	snprintf(want, sizeof(want), "pid %d: shares anonymous pages copy-on-write", w->pid[2]);
	cr_assert(text && strstr(text, want), "no '%s' in the dump's log: %s", want,
		  text ? text : "");
	free(text);
	cr_assert_eq(waitpid(w->pid[0], &status, 0), w->pid[0]);
	/* The children are ours too (subreaper) once their parent is gone. */
	while (waitpid(-1, NULL, 0) > 0)
		;
	cr_log_info("cow: pages files of the dump: %llu KiB",
		    (unsigned long long)(pages_bytes(w->img) >> 10));
}

static void restore(struct cw *w, const char *extra)
{
	char *err = NULL, *text, log[700];

	snprintf(log, sizeof(log), "%s/restore.log", w->dir);
	cr_assert_eq(t_run(NULL, &err, "%s restore -D %s -d -v3 --log-file %s %s", t_ferry_bin(),
			   w->img, log, extra ? extra : ""),
		     0, "restore: %s", err ? err : "");
	free(err);
	text = t_read_file(log, NULL);
	cr_assert(text && strstr(text, "shared copy-on-write with a parent"),
		  "restore did not say it kept the sharing: %s", text ? text : "");
	free(text);
	for (int i = 0; i < 3; i++)
		cr_assert_eq(t_proc_field(w->pid[i], "TracerPid"), 0, "pid %d", w->pid[i]);
}

/* After the restore: the same sharing, the same memory, and views that stay apart. */
static void check_after(struct cw *w, const struct view *before)
{
	struct view after;

	verify(w);
	look(w, &after, "after the restore");
	cr_assert_eq(after.shared_a, before->shared_a);
	cr_assert_eq(after.shared_b, before->shared_b);
	cr_assert_leq(after.pss_anon_kb, before->pss_anon_kb + 4096,
		      "%ld KiB of anonymous memory after the restore, %ld before",
		      after.pss_anon_kb, before->pss_anon_kb);
	/* A write by a breaks one shared page, and neither b nor the parent sees it. */
	kill(w->pid[1], SIGUSR2);
	cr_assert_not_null(t_wait_line(w->out, "cowshare: a wrote", VERDICT_MS));
	verify(w);
	look(w, &after, "after a wrote a page");
	cr_assert_eq(after.shared_a, before->shared_a - 1);
	cr_assert_eq(after.shared_b, before->shared_b);
}

Test(cow, shared_pages_come_back_shared)
{
	struct cw w;
	struct view before;

	cw_start(&w, "64");
	verify(&w);
	look(&w, &before, "before the dump");
	/* Most pages are shared: a and the parent rewrote 1/64 + 1/128 of them. */
	cr_assert_gt(before.shared_b, w.pages * 9 / 10);
	dump(&w, NULL);
	restore(&w, NULL);
	check_after(&w, &before);
	cw_stop(&w);
}

Test(cow, shared_pages_come_back_shared_lazily)
{
	struct cw w;
	struct view before;
	cw_start(&w, "16");
	look(&w, &before, "before the dump");
	dump(&w, NULL);
	restore(&w, "--lazy-pages");
	check_after(&w, &before);
	cw_stop(&w);
}

Test(cow, shared_pages_come_back_shared_through_a_pre_dump_chain)
{
	struct cw w;
	struct view before, between;
	char *err = NULL, pre[600];

	cw_start(&w, "16");
	look(&w, &before, "before the pre-dump");
	snprintf(pre, sizeof(pre), "%s/pre", w.dir);
	cr_assert_eq(t_run(NULL, &err, "%s pre-dump -t %d -D %s", t_ferry_bin(), w.pid[0], pre), 0,
		     "pre-dump: %s", err ? err : "");
	free(err);
	/* The tree goes on: the pre-dump's reads must not have unshared its pages. */
	look(&w, &between, "after the pre-dump");
	cr_assert_eq(between.shared_a, before.shared_a);
	cr_assert_eq(between.shared_b, before.shared_b);
	dump(&w, "--prev-images-dir ../pre");
	restore(&w, NULL);
	check_after(&w, &before);
	cw_stop(&w);
}

/*
 * A dump that leaves the tree running reads it without pinning its pages
 * (/proc/PID/mem, not process_vm_readv(): a pin unshares a copy-on-write
 * page): the tree goes on with its memory shared as it was.
 */
Test(cow, dump_leave_running_keeps_the_tree_shared)
{
	struct cw w;
	struct view before, after;
	char *err = NULL;

	cw_start(&w, "16");
	look(&w, &before, "before the dump");
	cr_assert_eq(t_run(NULL, &err, "%s dump -t %d -D %s --leave-running", t_ferry_bin(),
			   w.pid[0], w.img),
		     0, "dump: %s", err ? err : "");
	free(err);
	look(&w, &after, "after the dump");
	cr_assert_eq(after.shared_a, before.shared_a);
	cr_assert_eq(after.shared_b, before.shared_b);
	cr_assert_leq(after.pss_anon_kb, before.pss_anon_kb + 1024);
	verify(&w);
	cw_stop(&w);
}

/* This process's memory cgroup (v1) directory in @buf, or 0 when there is none. */
static int memcg_dir(char *buf, size_t len)
{
	char line[4096], mnt[1024] = "", path[1024] = "";
	FILE *f = fopen("/proc/self/mountinfo", "re");

	while (f && !mnt[0] && fgets(line, sizeof(line), f)) {
		const char *dash = strstr(line, " - cgroup ");

		if (dash && strstr(dash, "memory") &&
		    sscanf(line, "%*s %*s %*s %*s %1023s", mnt) != 1)
			mnt[0] = '\0';
	}
	if (f)
		fclose(f);
	f = fopen("/proc/self/cgroup", "re");
	while (f && !path[0] && fgets(line, sizeof(line), f)) {
		char *m = strstr(line, ":memory:");

		if (m && sscanf(m + 8, "%1023s", path) != 1)
			path[0] = '\0';
	}
	if (f)
		fclose(f);
	if (!mnt[0] || !path[0])
		return 0;
	snprintf(buf, len, "%s%s", mnt, strcmp(path, "/") ? path : "");
	return 1;
}

static long long read_ll(const char *path)
{
	char *t = t_read_file(path, NULL);
	long long v = t ? atoll(t) : -1;

	free(t);
	return v;
}

/*
 * The tree runs in a memory cgroup of its own: restored, the pages the
 * shells fill before the fork are charged there (each shell joins its
 * cgroups first), as the dumped ones were, not to ferry's cgroup.
 */
Test(cow, shared_pages_charged_to_the_tree_s_memory_cgroup)
{
	char own[1100], cg[1200], procs[1300], usage[1300], mib[] = "16";
	const char *argv[] = { "cowshare", mib, NULL };
	struct cw w;
	struct view before;
	char *line;
	long long used;

	if (!memcg_dir(own, sizeof(own)))
		cr_skip_test("no memory cgroup (v1) hierarchy here");
	snprintf(cg, sizeof(cg), "%s/ferry-cow-%d", own, getpid());
	if (mkdir(cg, 0755))
		cr_skip_test("cannot make a memory cgroup %s: %s", cg, strerror(errno));
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", cg);
	snprintf(usage, sizeof(usage), "%s/memory.usage_in_bytes", cg);
	memset(&w, 0, sizeof(w));
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	w.dir = t_tmpdir();
	snprintf(w.out, sizeof(w.out), "%s/out", w.dir);
	snprintf(w.img, sizeof(w.img), "%s/img", w.dir);
	w.pid[0] = fork();
	if (w.pid[0] == 0) {
		/* In the cgroup before the workload touches a page. */
		char me[32];
		int n = snprintf(me, sizeof(me), "%d", getpid());
		int out = open(w.out, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int in = open("/dev/null", O_RDONLY);

		if (out < 0 || in < 0 || t_write_file(procs, me, (size_t)n))
			_exit(126);
		dup2(in, 0);
		dup2(out, 1);
		dup2(out, 2);
		syscall(SYS_close_range, 3, ~0u, 0);
		setpgid(0, 0);
		execv(t_workload(argv[0]), (char *const *)argv);
		_exit(127);
	}
	line = t_wait_line(w.out, "ready", 20000);
	cr_assert_not_null(line, "cowshare did not start in %s", cg);
	cr_assert_eq(sscanf(line, "cowshare: parent %d a %d b %d base %lx pages %zu", &w.pid[0],
			    &w.pid[1], &w.pid[2], &w.base, &w.pages),
		     5, "%s", line);
	free(line);
	look(&w, &before, "before the dump");
	cr_log_info("cow: the tree's memory cgroup uses %lld KiB before the dump",
		    read_ll(usage) >> 10);
	dump(&w, NULL);
	restore(&w, NULL);
	used = read_ll(usage);
	cr_log_info("cow: and %lld KiB after the restore", used >> 10);
	/*
	 * 16 MiB filled by the shells, shared: charged once, to the tree's
	 * cgroup; not the page cache of the pages files they read (49 MiB).
	 */
	cr_assert_geq(used, 14ll << 20, "the tree's cgroup holds %lld KiB after the restore",
		      used >> 10);
	cr_assert_leq(used, 24ll << 20, "the tree's cgroup holds %lld KiB after the restore",
		      used >> 10);
	check_after(&w, &before);
	cw_stop_keep_dir(&w);
	cr_assert_eq(rmdir(cg), 0, "%s: %s", cg, strerror(errno));
	t_rmrf(w.dir);
	free(w.dir);
}
