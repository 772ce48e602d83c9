// SPDX-License-Identifier: MIT
/*
 * Refused once, kept now (issue 22, "Refused today, kept by CRIU"): each
 * piece of state is set up by the workload `refused KIND`, dumped, the
 * tree killed, restored, and then the workload checks itself (zdtm-style).
 * The images are CRIU's (crit decodes them), and a damaged image of the new
 * kind is refused by the loader with the file named.
 *
 * Kept: zombies in the tree, with their exit status (exited, killed);
 * O_PATH fds (on a file, a directory, a symlink itself, a FIFO); named
 * FIFOs open for reading, writing or both, with the bytes they hold;
 * deleted regular files on a disk filesystem (ghost files), open and mapped.
 *
 * The test process is a child subreaper: a tree restored with -d is
 * reparented to it when ferry exits, so it can be reaped here.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core.pb-c.h"
#include "fdinfo.pb-c.h"
#include "pipe-data.pb-c.h"
#include "helpers.h"
#include "tree_helpers.h"
#include "img.h"
#include "restore_images_helpers.h"

#define VERDICT_MS 10000

struct rk {
	struct t_tree t;
	const char *kind;
	char *ready; /* the ready line */
};

TestSuite(refused, .timeout = 120);

static void rk_verdict(struct rk *w, int sig)
{
	char ok[64], bad[64];
	const char *what = sig == SIGUSR2 ? "final" : "verify";

	snprintf(ok, sizeof(ok), "refused: %s %s ok", w->kind, what);
	snprintf(bad, sizeof(bad), "%s BAD", what);
	t_expect_verdict(w->t.out, w->t.pid, sig, ok, bad, VERDICT_MS);
}

static void rk_init(struct rk *w)
{
	memset(w, 0, sizeof(*w));
	t_tree_init(&w->t);
}

/* Start `refused KIND [ARG]` (after rk_init); it checks out before anything is done to it. */
static void rk_start(struct rk *w, const char *kind, const char *arg)
{
	const char *argv[] = { "refused", kind, arg, NULL };

	w->kind = kind;
	w->ready = t_tree_spawn(&w->t, argv);
	rk_verdict(w, SIGUSR1);
}

static void rk_stop(struct rk *w)
{
	free(w->ready);
	t_tree_stop(&w->t);
}

/* Dump (the tree is killed and reaped: root and process group), then restore it. */
static void rk_dump_with(struct rk *w, const char *extra)
{
	t_tree_dump(&w->t, w->t.img, extra);
}

static void rk_dump(struct rk *w)
{
	rk_dump_with(w, NULL);
}

static void rk_restore_with(struct rk *w, const char *extra)
{
	t_tree_restore(&w->t, w->t.img, extra);
}

static void rk_restore(struct rk *w)
{
	rk_restore_with(w, NULL);
}

/* `ferry decode` and crit (if installed) both decode IMG/@file, and show @needle. */
static void decoded_has(const struct rk *w, const char *file, const char *needle)
{
	char *ours = NULL, *theirs = NULL, *err = NULL;

	cr_assert_eq(t_run(&ours, &err, "%s decode -i %s/%s", t_ferry_bin(), w->t.img, file), 0,
		     "ferry decode %s: %s", file, err ? err : "");
	cr_assert(ours && strstr(ours, needle), "%s: no '%s' in %s", file, needle,
		  ours ? ours : "");
	free(err);
	err = NULL;
	if (t_crit()) {
		cr_assert_eq(t_run(&theirs, &err, "%s decode -i %s/%s", t_crit(), w->t.img, file),
			     0, "crit decode %s: %s", file, err ? err : "");
		cr_assert(theirs && strstr(theirs, needle), "crit: no '%s' in %s", needle,
			  theirs ? theirs : "");
	}
	free(ours);
	free(theirs);
	free(err);
}

/* ---- zombies -------------------------------------------------------------------------- */

static void zombie_pids(const struct rk *w, pid_t *zexit, pid_t *zkill, pid_t *live)
{
	cr_assert_eq(sscanf(w->ready, "refused: zombie pid %*d zombies %d %d live %d", zexit, zkill,
			    live),
		     3, "%s", w->ready);
}

Test(refused, zombies_kept_with_their_exit_status)
{
	pid_t zexit, zkill, live;
	char name[64];
	struct rk w;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	rk_init(&w);
	rk_start(&w, "zombie", NULL);
	zombie_pids(&w, &zexit, &zkill, &live);
	cr_assert_eq(t_proc_state(zexit), 'Z');
	rk_dump(&w);
	/* CRIU's zombie: TASK_DEAD (2) and the wait status (42 << 8 = 10752, SIGTERM = 15). */
	snprintf(name, sizeof(name), "core-%d.img", zexit);
	decoded_has(&w, name, "10752");
	snprintf(name, sizeof(name), "core-%d.img", zkill);
	decoded_has(&w, name, "\"exit_code\": 15");
	rk_restore(&w);
	cr_assert_eq(t_proc_state(zexit), 'Z', "pid %d was not restored as a zombie", zexit);
	cr_assert_eq(t_proc_state(zkill), 'Z', "pid %d was not restored as a zombie", zkill);
	cr_assert_neq(t_proc_state(live), 'Z');
	rk_verdict(&w, SIGUSR1);
	/* The parent reaps them and gets their statuses. */
	rk_verdict(&w, SIGUSR2);
	cr_assert_eq(t_proc_state(zexit), 0, "pid %d is still there after its parent reaped it",
		     zexit);
	rk_stop(&w);
}

static void set_exit_code(ProtobufCMessage *m, size_t idx, void *arg)
{
	CoreEntry *c = (CoreEntry *)m;

	(void)idx;
	c->tc->exit_code = *(uint32_t *)arg;
}

static void expect_zombie_refused(uint32_t status, const char *needle)
{
	const char *const argv[] = { "refused", "zombie", NULL };
	pid_t zexit, zkill, live;
	struct ri_dump d;
	char name[64];
	const char *bad;

	memset(&d, 0, sizeof(d));
	ri_make_dump(&d, argv, "ready");
	cr_assert_eq(sscanf(d.line, "refused: zombie pid %*d zombies %d %d live %d", &zexit, &zkill,
			    &live),
		     3, "%s", d.line);
	bad = ri_copy_dump(&d);
	snprintf(name, sizeof(name), "core-%d.img", zexit);
	ri_rewrite(bad, name, IMG_CORE, set_exit_code, &status, 0);
	ri_expect_fail(bad, -EINVAL, name, needle);
	ri_drop_dump(&d);
}

Test(refused, zombie_with_an_impossible_wait_status_refused)
{
	if (geteuid())
		cr_skip_test("ferry dump needs root");
	expect_zombie_refused(0x137f, "no exit status");  /* "stopped by SIGSTOP" */
	expect_zombie_refused(SIGCHLD, "no exit status"); /* SIGCHLD kills nobody */
	expect_zombie_refused(0x10000, "no exit status");
}

/* ---- O_PATH fds ----------------------------------------------------------------------- */

Test(refused, o_path_fds_kept_on_files_dirs_symlinks_and_fifos)
{
	char sub[700];
	struct rk w;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	rk_init(&w);
	snprintf(sub, sizeof(sub), "%s/o", w.t.dir);
	cr_assert_eq(mkdir(sub, 0755), 0);
	rk_start(&w, "o-path", sub);
	rk_dump(&w);
	/* O_PATH (010000000 = 2097152) | O_NOFOLLOW (0400000 = 131072) on the symlink's entry. */
	decoded_has(&w, "files.img", "2228224");
	rk_restore(&w);
	rk_verdict(&w, SIGUSR1);
	rk_stop(&w);
}

/* ---- named FIFOs ---------------------------------------------------------------------- */

Test(refused, named_fifos_kept_with_their_bytes)
{
	char sub[700];
	struct rk w;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	rk_init(&w);
	snprintf(sub, sizeof(sub), "%s/f", w.t.dir);
	cr_assert_eq(mkdir(sub, 0755), 0);
	rk_start(&w, "fifo", sub);
	rk_dump(&w);
	/* CRIU's: fifo entries naming a reg entry, the bytes in fifo-data.img. */
	decoded_has(&w, "files.img", "\"regf_id\"");
	decoded_has(&w, "fifo-data.img", "\"bytes\": 10");
	rk_restore(&w);
	rk_verdict(&w, SIGUSR1);
	rk_verdict(&w, SIGUSR2);
	rk_stop(&w);
}

static void bad_pipe_id(ProtobufCMessage *m, size_t idx, void *arg)
{
	(void)idx;
	(void)arg;
	/* Not +1: the workload's FIFOs have neighbouring inodes. */
	((PipeDataEntry *)m)->pipe_id = 0xfffffff0u;
}

static void break_regf_id(ProtobufCMessage *m, size_t idx, void *arg)
{
	FileEntry *f = (FileEntry *)m;

	(void)idx;
	(void)arg;
	if (f->type == FD_TYPES__FIFO)
		f->fifo->regf_id = 9999;
}

Test(refused, damaged_fifo_images_refused_with_file_and_offset)
{
	char *fdir = t_tmpdir();
	const char *const argv[] = { "refused", "fifo", fdir, NULL };
	struct ri_dump d;
	const char *bad;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	cr_assert_not_null(fdir);
	memset(&d, 0, sizeof(d));
	ri_make_dump(&d, argv, "ready");
	bad = ri_copy_dump(&d);
	ri_rewrite(bad, "fifo-data.img", IMG_FIFO_DATA, bad_pipe_id, NULL, 0);
	ri_expect_fail(bad, -EINVAL, "fifo-data.img: offset 8: data for FIFO",
		       "no FIFO of files.img");
	t_rmrf(bad);
	bad = ri_copy_dump(&d);
	ri_rewrite(bad, "files.img", IMG_FILES, break_regf_id, NULL, 0);
	ri_expect_fail(bad, -EINVAL, "files.img: FIFO file id", "regf_id 9999");
	ri_drop_dump(&d);
	t_rmrf(fdir);
	free(fdir);
}

/* ---- deleted files on a disk filesystem -------------------------------------------------- */

Test(refused, deleted_files_on_disk_kept_as_ghost_files)
{
	char sub[700];
	struct statfs sf;
	struct rk w;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	rk_init(&w);
	snprintf(sub, sizeof(sub), "%s/d", w.t.dir);
	cr_assert_eq(mkdir(sub, 0755), 0);
	cr_assert_eq(statfs(sub, &sf), 0);
	if (sf.f_type == TMPFS_MAGIC)
		cr_skip_test("%s is on tmpfs: test_ghost.c covers that", sub);
	rk_start(&w, "deleted", sub);
	rk_dump(&w);
	/* CRIU's ghost files: one per deleted inode, holes left out. */
	decoded_has(&w, "remap-fpath.img", "\"remap_id\"");
	rk_restore(&w);
	rk_verdict(&w, SIGUSR1);
	rk_verdict(&w, SIGUSR2);
	rk_stop(&w);
}

/* The same through a lazy restore, and through a pre-dump chain (the mapping is memory). */
static void deleted_kept_via(int lazy)
{
	char sub[700], extra[800], *err = NULL;
	struct rk w;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	rk_init(&w);
	snprintf(sub, sizeof(sub), "%s/d", w.t.dir);
	cr_assert_eq(mkdir(sub, 0755), 0);
	rk_start(&w, "deleted", sub);
	if (lazy) {
		rk_dump(&w);
		snprintf(extra, sizeof(extra), "--lazy-pages --log-file %s/lazy.log", w.t.dir);
		rk_restore_with(&w, extra);
	} else {
		snprintf(extra, sizeof(extra), "%s/pre", w.t.dir);
		cr_assert_eq(
			t_run(NULL, &err, "%s pre-dump -t %d -D %s", t_ferry_bin(), w.t.pid, extra),
			0, "pre-dump: %s", err ? err : "");
		free(err);
		rk_verdict(&w, SIGUSR1);
		rk_dump_with(&w, "--prev-images-dir ../pre");
		rk_restore(&w);
	}
	rk_verdict(&w, SIGUSR1);
	rk_verdict(&w, SIGUSR2);
	rk_stop(&w);
}

Test(refused, deleted_files_on_disk_kept_lazily)
{
	deleted_kept_via(1);
}

Test(refused, deleted_files_on_disk_kept_through_a_pre_dump)
{
	deleted_kept_via(0);
}
