// SPDX-License-Identifier: MIT
/*
 * inotify end to end (issue 18): the inotifier workload's two instances come
 * back with their watches, wd numbers (with a gap), masks and flags, and see
 * events on files made after the restore (the workload checks it all); crit
 * decodes them as ferry does. GNU `tail -f` and `tail -F` report lines
 * appended after the restore. A watched file replaced between dump and
 * restore fails the restore, naming it; a watch on an unlinked file and a
 * fanotify fd are refused at dump, named; damaged inotify entries are refused
 * with file, offset, file id and wd.
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
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdinfo.pb-c.h"
#include "helpers.h"
#include "images.h"
#include "img.h"
#include "log.h"

#define VERDICT_MS 10000

struct iw {
	char *dir;
	char data[512], out[512], img[512];
	pid_t pid;
	int fa, fb;
};

TestSuite(inotify, .timeout = 120);

static void need_root(void)
{
	if (geteuid())
		cr_skip_test("ferry dump needs root");
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
}

static void iw_start(struct iw *w)
{
	const char *argv[] = { "inotifier", NULL, NULL };
	char *line;

	need_root();
	memset(w, 0, sizeof(*w));
	w->dir = t_tmpdir();
	cr_assert_not_null(w->dir);
	snprintf(w->data, sizeof(w->data), "%s/d", w->dir);
	snprintf(w->out, sizeof(w->out), "%s/out", w->dir);
	snprintf(w->img, sizeof(w->img), "%s/img", w->dir);
	cr_assert_eq(mkdir(w->data, 0700), 0);
	argv[1] = w->data;
	w->pid = t_spawn(w->out, argv);
	cr_assert_gt(w->pid, 0);
	line = t_wait_line(w->out, "ready", 10000);
	cr_assert_not_null(line, "the inotifier workload never said ready");
	cr_assert_eq(sscanf(line, "inotifier: pid %*d a %d b %d wds 1 3 4", &w->fa, &w->fb), 2,
		     "ready line: %s", line);
	free(line);
}

static void stop_tree(pid_t pid, char *dir)
{
	if (pid > 0 && !kill(pid, 0))
		t_kill_wait(pid);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	t_rmrf(dir);
	free(dir);
}

static int ferry(char **err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int ferry(char **err, const char *fmt, ...)
{
	char args[1600];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	return t_run(NULL, err, "%s %s", t_ferry_bin(), args);
}

#define FERRY_OK(...)                                                                 \
	do {                                                                          \
		char *err_ = NULL;                                                    \
		int rc_ = ferry(&err_, __VA_ARGS__);                                  \
		cr_assert_eq(rc_, 0, "ferry failed (%d): %s", rc_, err_ ? err_ : ""); \
		free(err_);                                                           \
	} while (0)

static void reap(pid_t pid)
{
	int status;

	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the dump did not kill it");
}

/* The "ify" parts of a decoded files.img, concatenated (malloc'd). */
static char *ify_parts(const char *json)
{
	size_t cap = strlen(json) + 1, len = 0;
	char *out = calloc(1, cap);
	const char *s = json;

	cr_assert_not_null(out);
	while ((s = strstr(s, "\"ify\": {"))) {
		const char *e = strstr(s, "]}");

		cr_assert_not_null(e, "unterminated ify in %s", json);
		memcpy(out + len, s, (size_t)(e - s + 2));
		len += (size_t)(e - s + 2);
		s = e;
	}
	return out;
}

/* ferry decode and crit print the same inotify entries. */
static void decode_like_crit(const char *img, int nr_instances)
{
	char *ours = NULL, *theirs = NULL, *err = NULL, *a, *b;
	int n = 0;

	cr_assert_eq(t_run(&ours, &err, "%s decode -i %s/files.img", t_ferry_bin(), img), 0,
		     "ferry decode: %s", err ? err : "");
	free(err);
	err = NULL;
	for (const char *s = ours; (s = strstr(s, "\"type\": \"INOTIFY\"")); s++)
		n++;
	cr_assert_eq(n, nr_instances, "%s", ours);
	a = ify_parts(ours);
	if (t_crit()) {
		cr_assert_eq(t_run(&theirs, &err, "%s decode -i %s/files.img", t_crit(), img), 0,
			     "crit decode: %s", err ? err : "");
		b = ify_parts(theirs);
		cr_assert_str_eq(a, b);
		free(b);
	}
	free(a);
	free(ours);
	free(theirs);
	free(err);
}

/* dump -> restore, twice: wds, masks, flags kept, events seen; B's one-shot fires once. */
Test(inotify, watches_and_wds_restored)
{
	char img[600];
	struct iw w;

	iw_start(&w);
	for (int round = 0; round < 2; round++) {
		snprintf(img, sizeof(img), "%s%d", w.img, round);
		FERRY_OK("dump -D %s -t %d", img, w.pid);
		reap(w.pid);
		decode_like_crit(img, 2);
		FERRY_OK("restore -D %s -d", img);
		cr_assert_eq(t_proc_field(w.pid, "TracerPid"), 0);
		t_expect_verdict(w.out, w.pid, SIGUSR1, "inotifier: verify ok", "verify BAD",
				 VERDICT_MS);
	}
	stop_tree(w.pid, w.dir);
}

Test(inotify, watches_through_a_predump_chain_and_lazy_restore)
{
	char d1[600], d2[600], log[600];
	struct iw w;

	iw_start(&w);
	snprintf(d1, sizeof(d1), "%s/1", w.dir);
	snprintf(d2, sizeof(d2), "%s/2", w.dir);
	snprintf(log, sizeof(log), "%s/lazy.log", w.dir);
	FERRY_OK("pre-dump -D %s -t %d", d1, w.pid);
	FERRY_OK("dump -D %s -t %d --prev-images-dir ../1", d2, w.pid);
	reap(w.pid);
	FERRY_OK("restore -D %s -d --lazy-pages --log-file %s", d2, log);
	t_expect_verdict(w.out, w.pid, SIGUSR1, "inotifier: verify ok", "verify BAD", VERDICT_MS);
	stop_tree(w.pid, w.dir);
}

/* A watched file replaced since the dump: the restore names it and makes nothing. */
Test(inotify, restore_refused_when_a_watched_file_was_replaced)
{
	char path[700], *err = NULL, want[800];
	struct iw w;
	int rc;

	iw_start(&w);
	FERRY_OK("dump -D %s -t %d", w.img, w.pid);
	reap(w.pid);
	snprintf(path, sizeof(path), "%s/file", w.data);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(t_run(NULL, NULL, "echo new > %s", path), 0);
	rc = ferry(&err, "restore -D %s -d", w.img);
	cr_assert_neq(rc, 0, "restored with a watch on another file");
	snprintf(want, sizeof(want), "pid %d fd %d: inotify watch wd 1: %s is another file now",
		 w.pid, w.fa, path);
	cr_assert(err && strstr(err, want), "no '%s' in:\n%s", want, err ? err : "");
	free(err);
	cr_assert(kill(w.pid, 0) && errno == ESRCH, "pid %d exists after a failed restore", w.pid);
	stop_tree(-1, w.dir);
}

/* ---- GNU tail -------------------------------------------------------------------------- */

static pid_t spawn_tail(const char *opt, const char *file, const char *out_path)
{
	pid_t pid = fork();

	if (pid == 0) {
		int out = open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int in = open("/dev/null", O_RDONLY);

		if (out < 0 || in < 0)
			_exit(126);
		dup2(in, 0);
		dup2(out, 1);
		dup2(out, 2);
		syscall(SYS_close_range, 3, ~0u, 0);
		setpgid(0, 0);
		execlp("tail", "tail", "-s", "30", opt, file, (char *)NULL);
		_exit(127);
	}
	return pid;
}

static void append(const char *file, const char *line)
{
	cr_assert_eq(t_run(NULL, NULL, "echo %s >> %s", line, file), 0);
}

/*
 * tail -f / -F (inotify; -s 30 so that a poll fallback would be too slow to
 * pass) dumped, restored: lines appended while it was gone and after are
 * printed at once.
 */
static void tail_case(const char *opt)
{
	char file[600], out[600], img[600], *line;
	char *dir;
	pid_t pid;

	need_root();
	if (t_run(NULL, NULL, "command -v tail"))
		cr_skip_test("tail is not installed");
	dir = t_tmpdir();
	snprintf(file, sizeof(file), "%s/log", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(img, sizeof(img), "%s/img", dir);
	append(file, "line-before");
	pid = spawn_tail(opt, file, out);
	cr_assert_gt(pid, 0);
	cr_assert_not_null(t_wait_line(out, "line-before", 5000), "tail did not start");
	append(file, "line-live");
	line = t_wait_line(out, "line-live", 5000);
	cr_assert_not_null(line, "tail %s does not follow at once (no inotify?)", opt);
	free(line);
	cr_assert_eq(t_run(NULL, NULL, "grep -q '^inotify wd:' /proc/%d/fdinfo/*", pid), 0,
		     "tail %s holds no inotify watch", opt);
	FERRY_OK("dump -D %s -t %d", img, pid);
	reap(pid);
	decode_like_crit(img, 1);
	append(file, "line-while-dumped");
	FERRY_OK("restore -D %s -d", img);
	append(file, "line-after-restore");
	line = t_wait_line(out, "line-after-restore", 5000);
	cr_assert_not_null(line, "the restored tail %s did not print a line appended after it",
			   opt);
	free(line);
	cr_assert_eq(t_count_lines(out, "line-while-dumped"), 1);
	cr_assert_eq(t_count_lines(out, "line-live"), 1, "a line printed twice");
	stop_tree(pid, dir);
}

Test(inotify, tail_f_follows_after_restore)
{
	tail_case("-f");
}

Test(inotify, tail_F_follows_after_restore)
{
	tail_case("-F");
}

/* tail -f on a file then unlinked: its watch has no path to come back by. */
Test(inotify, watch_on_unlinked_file_refused)
{
	char file[600], out[600], img[600], *err = NULL, want[200];
	char *dir;
	pid_t pid;
	int rc;

	need_root();
	if (t_run(NULL, NULL, "command -v tail"))
		cr_skip_test("tail is not installed");
	dir = t_tmpdir();
	snprintf(file, sizeof(file), "%s/log", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(img, sizeof(img), "%s/img", dir);
	append(file, "line-before");
	pid = spawn_tail("-f", file, out);
	cr_assert_not_null(t_wait_line(out, "line-before", 5000), "tail did not start");
	cr_assert_eq(unlink(file), 0);
	rc = ferry(&err, "dump -D %s -t %d", img, pid);
	cr_assert_neq(rc, 0, "a watch on an unlinked file was dumped");
	snprintf(want, sizeof(want), "pid %d fd 4: inotify watch wd 1 on inode", pid);
	cr_assert(err && strstr(err, want), "no '%s' in:\n%s", want, err ? err : "");
	free(err);
	cr_assert_eq(t_proc_field(pid, "TracerPid"), 0);
	stop_tree(pid, dir);
}

/* ---- damaged inotify entries ---------------------------------------------------------- */

typedef void (*edit_fn)(InotifyFileEntry *ie);

static void rewrite_files(const char *dir, edit_fn edit)
{
	ProtobufCMessage *m = NULL;
	struct img *in, *out;
	int dfd, rc, done = 0;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(dfd, 0);
	cr_assert_eq(img_open(&in, dfd, "files.img", IMG_FILES), 0);
	cr_assert_eq(unlinkat(dfd, "files.img", 0), 0);
	cr_assert_eq(img_create(&out, dfd, "files.img", IMG_FILES), 0);
	while ((rc = img_read_entry(in, &m)) == 1) {
		FileEntry *f = (FileEntry *)m;

		if (f->ify && f->ify->n_wd == 3 && !done) {
			edit(f->ify);
			done = 1;
		}
		cr_assert_eq(img_write_entry(out, m), 0);
		protobuf_c_message_free_unpacked(m, NULL);
	}
	cr_assert_eq(rc, 0);
	cr_assert(done, "no inotify entry with 3 watches");
	cr_assert_eq(img_commit(out), 0);
	img_close(in);
	close(dfd);
}

static void wd_zero(InotifyFileEntry *ie)
{
	ie->wd[0]->wd = 0;
}

static void wd_twice(InotifyFileEntry *ie)
{
	ie->wd[1]->wd = ie->wd[0]->wd;
}

static void wd_huge(InotifyFileEntry *ie)
{
	ie->wd[2]->wd = 0x7fffffff;
}

static void mask_zero(InotifyFileEntry *ie)
{
	ie->wd[1]->mask = 0;
}

static void no_path(InotifyFileEntry *ie)
{
	ie->wd[0]->f_handle->path = NULL;
}

static void handle_too_long(InotifyFileEntry *ie)
{
	ie->wd[0]->f_handle->bytes = 4096;
}

static void other_id(InotifyFileEntry *ie)
{
	ie->wd[2]->id = ie->id + 100;
}

Test(inotify, damaged_entries_refused)
{
	static const struct {
		edit_fn edit;
		const char *why;
	} cases[] = {
		{ wd_zero, "wd out of range" },
		{ wd_twice, "wd appears twice" },
		{ wd_huge, "wd out of range" },
		{ mask_zero, "mask inotify_add_watch does not take" },
		{ no_path, "no absolute path" },
		{ handle_too_long, "bad file handle" },
		{ other_id, "its id is not the file's" },
	};
	char bad[700], logp[800], *log, *err = NULL;
	struct iw w;

	iw_start(&w);
	FERRY_OK("dump -D %s -t %d --leave-running", w.img, w.pid);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct rimg *r = NULL;
		int rc;

		snprintf(bad, sizeof(bad), "%s/bad%zu", w.dir, i);
		snprintf(logp, sizeof(logp), "%s.log", bad);
		cr_assert_eq(t_run(NULL, NULL, "cp -a %s %s", w.img, bad), 0);
		rewrite_files(bad, cases[i].edit);
		cr_assert_eq(log_init(logp, LOG_ERROR, 0), 0);
		rc = rimg_load(&r, bad);
		log_fini();
		log = t_read_file(logp, NULL);
		cr_assert_eq(rc, -EINVAL, "case %zu: rimg_load gave %d; log: %s", i, rc,
			     log ? log : "");
		cr_assert_null(r);
		cr_assert(log && strstr(log, "files.img: offset "), "no file and offset in: %s",
			  log ? log : "");
		cr_assert(strstr(log, "inotify file id"), "%s", log);
		cr_assert(strstr(log, cases[i].why), "no '%s' in: %s", cases[i].why, log);
		free(log);
		rc = ferry(&err, "restore -D %s -d", bad);
		cr_assert_neq(rc, 0, "case %zu restored", i);
		cr_assert(err && strstr(err, cases[i].why), "%s", err ? err : "");
		free(err);
		err = NULL;
	}
	/* Untouched by all this. */
	t_expect_verdict(w.out, w.pid, SIGUSR1, "inotifier: verify ok", "verify BAD", VERDICT_MS);
	stop_tree(w.pid, w.dir);
}
