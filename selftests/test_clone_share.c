// SPDX-License-Identifier: MIT
/*
 * Processes that share kernel objects without being threads (issue 22): an
 * fd table shared along clone(CLONE_FILES) from a parent, and cwd/root/umask
 * shared along clone(CLONE_FS), come back shared (CRIU's files_id and fs_id
 * in the cores; the restore clones with the same flag). The workload
 * `clonefiles MODE` checks with kcmp(2) that the object is one, and for the
 * fd table that an fd opened after the restore by one process is the
 * other's too. What is not kept is refused with the pid named, and the tree
 * runs on: an address space with signal handlers (CLONE_VM | CLONE_SIGHAND)
 * and an fd table two siblings share but their parent does not (also in
 * images made so: the restore refuses them before it makes a process).
 *
 * The test process is a child subreaper: a tree restored with -d is
 * reparented to it when ferry exits, so it can be reaped here.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core.pb-c.h"
#include "helpers.h"
#include "img.h"
#include "restore_images_helpers.h"

#define VERDICT_MS 10000

struct cs {
	char *dir;
	char out[512], img[600];
	pid_t pid, child, sibling;
};

TestSuite(clone_share, .timeout = 90);

static void cs_start(struct cs *w, const char *mode)
{
	const char *argv[] = { "clonefiles", mode, NULL };
	char *line = NULL;

	memset(w, 0, sizeof(*w));
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	w->dir = t_tmpdir();
	cr_assert_not_null(w->dir);
	snprintf(w->out, sizeof(w->out), "%s/out", w->dir);
	snprintf(w->img, sizeof(w->img), "%s/img", w->dir);
	t_spawn_ready(w->out, argv, "ready", 10000, &line);
	cr_assert_geq(sscanf(line, "clonefiles: %*s parent %d child %d sibling %d", &w->pid,
			     &w->child, &w->sibling),
		      2, "%s", line);
	free(line);
	/* It checks out before anything is done to it: the check itself works. */
	t_expect_verdict(w->out, w->pid, SIGUSR1, "clonefiles: verify ok", "verify BAD",
			 VERDICT_MS);
}

static void cs_stop(struct cs *w)
{
	pid_t all[] = { w->sibling, w->child, w->pid };

	for (size_t i = 0; i < 3; i++)
		if (all[i] > 0)
			kill(all[i], SIGKILL);
	while (waitpid(-1, NULL, 0) > 0)
		;
	t_rmrf(w->dir);
	free(w->dir);
}

/* `ferry decode` of core-PID.img shows @needle; crit's decode too, if installed. */
static void core_has(const struct cs *w, pid_t pid, const char *needle)
{
	char *out = NULL, *err = NULL;

	cr_assert_eq(t_run(&out, &err, "%s decode -i %s/core-%d.img", t_ferry_bin(), w->img, pid),
		     0, "ferry decode: %s", err ? err : "");
	cr_assert(out && strstr(out, needle), "core-%d.img: no '%s' in %s", pid, needle,
		  out ? out : "");
	free(out);
	free(err);
	out = err = NULL;
	if (t_crit()) {
		cr_assert_eq(
			t_run(&out, &err, "%s decode -i %s/core-%d.img", t_crit(), w->img, pid), 0,
			"crit decode: %s", err ? err : "");
		cr_assert(out && strstr(out, needle), "crit: core-%d.img: no '%s'", pid, needle);
	}
	free(out);
	free(err);
}

static void cs_dump_restore(struct cs *w)
{
	char *err = NULL;
	int status;

	cr_assert_eq(t_run(NULL, &err, "%s dump -t %d -D %s", t_ferry_bin(), w->pid, w->img), 0,
		     "dump: %s", err ? err : "");
	free(err);
	err = NULL;
	cr_assert_eq(waitpid(w->pid, &status, 0), w->pid);
	while (waitpid(-1, NULL, 0) > 0)
		;
	cr_assert_eq(t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), w->img), 0,
		     "restore: %s", err ? err : "");
	free(err);
	cr_assert_eq(t_proc_field(w->pid, "TracerPid"), 0);
	cr_assert_eq(t_proc_field(w->child, "TracerPid"), 0);
}

Test(clone_share, fd_table_shared_after_restore)
{
	struct cs w;
	char *names = NULL;

	cs_start(&w, "files");
	cs_dump_restore(&w);
	/* One fd table: both cores name it, and there is one fdinfo image. */
	core_has(&w, w.pid, "\"files_id\": 2");
	core_has(&w, w.child, "\"files_id\": 2");
	cr_assert_eq(t_run(&names, NULL, "ls %s | grep -c '^fdinfo-'", w.img), 0);
	cr_assert(names && atoi(names) == 1, "fdinfo images: %s", names ? names : "");
	free(names);
	t_expect_verdict(w.out, w.pid, SIGUSR1, "clonefiles: verify ok", "verify BAD", VERDICT_MS);
	cs_stop(&w);
}

Test(clone_share, cwd_root_umask_shared_after_restore)
{
	struct cs w;

	cs_start(&w, "fs");
	cs_dump_restore(&w);
	core_has(&w, w.pid, "\"fs_id\": 3");
	core_has(&w, w.child, "\"fs_id\": 3");
	t_expect_verdict(w.out, w.pid, SIGUSR1, "clonefiles: verify ok", "verify BAD", VERDICT_MS);
	cs_stop(&w);
}

/*
 * The dump is refused naming "pid @who: " (or "pid @who2: ": whichever of two
 * sharers comes second) and @what; no image; the tree runs on.
 */
static void refused(struct cs *w, pid_t who, pid_t who2, const char *what)
{
	char *err = NULL, want[64], want2[64];
	struct dirent *de;
	DIR *d;
	int n = 0;

	cr_assert_neq(t_run(NULL, &err, "%s dump -t %d -D %s", t_ferry_bin(), w->pid, w->img), 0,
		      "the tree was dumped: its sharing would be lost");
	snprintf(want, sizeof(want), "pid %d: ", who);
	snprintf(want2, sizeof(want2), "pid %d: ", who2);
	cr_assert(err && (strstr(err, want) || strstr(err, want2)) && strstr(err, what),
		  "no '%s' and '%s' in: %s", want, what, err ? err : "");
	cr_log_info("refused: %s", err);
	free(err);
	d = opendir(w->img);
	while (d && (de = readdir(d)))
		n += !!strstr(de->d_name, ".img");
	if (d)
		closedir(d);
	cr_assert_eq(n, 0, "a refused dump left %d images", n);
	cr_assert_eq(t_proc_field(w->pid, "TracerPid"), 0);
	t_expect_verdict(w->out, w->pid, SIGUSR1, "clonefiles: verify ok", "verify BAD",
			 VERDICT_MS);
}

Test(clone_share, address_space_and_signal_handlers_refused_by_name)
{
	struct cs w;

	cs_start(&w, "vm");
	refused(&w, w.child, w.child, "address space (CLONE_VM)");
	cs_stop(&w);
}

Test(clone_share, fd_table_of_siblings_not_their_parent_refused_by_name)
{
	struct cs w;

	cs_start(&w, "sibling");
	cr_assert_gt(w.sibling, 0);
	refused(&w, w.sibling, w.child, "fd table (CLONE_FILES) but not with their parents");
	cs_stop(&w);
}

static void read_files_id(ProtobufCMessage *m, size_t idx, void *arg)
{
	(void)idx;
	*(uint32_t *)arg = ((CoreEntry *)m)->ids->files_id;
}

static void set_files_id(ProtobufCMessage *m, size_t idx, void *arg)
{
	(void)idx;
	((CoreEntry *)m)->ids->files_id = *(uint32_t *)arg;
}

/* Images where two siblings share an fd table their parent does not: restore refuses them. */
Test(clone_share, images_with_siblings_sharing_an_fd_table_refused_at_restore)
{
	const char *const argv[] = { "cowshare", "1", NULL };
	char name[64], *err = NULL, want[96], want2[96];
	const char *bad;
	struct ri_dump d;
	pid_t p, a, b;
	uint32_t id = 0;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	memset(&d, 0, sizeof(d));
	ri_make_dump(&d, argv, "ready");
	cr_assert_eq(sscanf(d.line, "cowshare: parent %d a %d b %d", &p, &a, &b), 3, "%s", d.line);
	kill(a, SIGKILL);
	kill(b, SIGKILL);
	bad = ri_copy_dump(&d);
	snprintf(name, sizeof(name), "core-%d.img", a);
	ri_rewrite(bad, name, IMG_CORE, read_files_id, &id, 0);
	cr_assert_neq(id, 0);
	snprintf(name, sizeof(name), "core-%d.img", b);
	ri_rewrite(bad, name, IMG_CORE, set_files_id, &id, 0);
	cr_assert_neq(t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), bad), 0,
		      "a restore made two processes share an fd table their parent has not");
	/* Either of the two is named first, with the other. */
	snprintf(want, sizeof(want), "pid %d: shares its fd table (CLONE_FILES)", a);
	snprintf(want2, sizeof(want2), "pid %d: shares its fd table (CLONE_FILES)", b);
	cr_assert(err && (strstr(err, want) || strstr(err, want2)) &&
			  strstr(err, "neither shares it with its parent"),
		  "no '%s' in: %s", want, err ? err : "");
	free(err);
	cr_assert_eq(kill(p, 0), -1, "pid %d of the refused restore exists", p);
	ri_drop_dump(&d);
}
