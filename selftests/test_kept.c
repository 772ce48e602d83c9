// SPDX-License-Identifier: MIT
/*
 * More state refused once and kept now (issue 22, "Refused today, kept by
 * CRIU"), the way test_refused_kept.c does it: the workload `kept KIND`
 * sets it up, is dumped (the tree killed) and restored, then checks itself.
 *
 * Kept: a pty whose master and slave the tree holds (a terminal emulator
 * and its shell): termios, window size, packet mode, lock, exclusive, the
 * bytes queued each way, the slave as a session's controlling terminal with
 * its foreground group; with --leave-running the queued bytes are put back.
 * pidfds of a live process of the tree, of the process itself and of a dead
 * one; a pidfd of a process outside the tree refused by name. A deleted
 * FIFO (with its bytes) and a removed directory as cwd and fd (ghosts).
 * BPF array and hash maps with their elements, frozen or not, one map open
 * twice; a per-CPU map and a BPF program refused by name. A child holding
 * its parent's /proc/PID/status; one of a process outside the tree refused.
 * An empty AIO context at its id; one with completions not reaped refused.
 * Still refused, named: a process that unmapped its vDSO.
 *
 * The test process is a child subreaper: a tree restored with -d is
 * reparented to it when ferry exits, so it can be reaped here.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdinfo.pb-c.h"
#include "tty.pb-c.h"
#include "bpfmap-data.pb-c.h"
#include "bpfmap-file.pb-c.h"
#include "mm.pb-c.h"
#include "helpers.h"
#include "img.h"
#include "restore_images_helpers.h"

#define VERDICT_MS 10000

struct kw {
	char *dir;
	char out[512], img[600];
	const char *kind;
	pid_t pid;
	char *ready;
};

TestSuite(kept, .timeout = 120);

static void kw_verdict(struct kw *w, int sig)
{
	char ok[64], bad[64];
	const char *what = sig == SIGUSR2 ? "final" : "verify";

	snprintf(ok, sizeof(ok), "kept: %s %s ok", w->kind, what);
	snprintf(bad, sizeof(bad), "%s BAD", what);
	t_expect_verdict(w->out, w->pid, sig, ok, bad, VERDICT_MS);
}

/* Start workload @wl (kept.c, keptpty.c) as `WL KIND [ARG]`; it checks out first. */
static void kw_start_wl(struct kw *w, const char *wl, const char *kind, const char *arg)
{
	const char *argv[] = { wl, kind, arg, NULL };

	memset(w, 0, sizeof(*w));
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	w->dir = t_tmpdir();
	cr_assert_not_null(w->dir);
	snprintf(w->out, sizeof(w->out), "%s/out", w->dir);
	snprintf(w->img, sizeof(w->img), "%s/img", w->dir);
	w->kind = kind;
	w->pid = t_spawn(w->out, argv);
	cr_assert_gt(w->pid, 0);
	w->ready = t_wait_line(w->out, "ready", 10000);
	if (!w->ready) {
		char *why = t_read_file(w->out, NULL);

		cr_assert_fail("%s %s never said ready: %s", wl, kind, why ? why : "");
	}
	kw_verdict(w, SIGUSR1);
}

/* Start `kept KIND [ARG]`. */
static void kw_start(struct kw *w, const char *kind, const char *arg)
{
	kw_start_wl(w, "kept", kind, arg);
}

static void kw_stop(struct kw *w)
{
	if (w->pid > 0 && !kill(w->pid, 0))
		t_kill_wait(w->pid);
	/* Its children notice their parent is gone within 100 ms. */
	for (int i = 0; i < 50 && waitpid(-1, NULL, WNOHANG) >= 0; i++)
		usleep(20 * 1000);
	free(w->ready);
	t_rmrf(w->dir);
	free(w->dir);
}

/* Dump (the tree is killed unless @extra says --leave-running) and reap it. */
static void kw_dump(struct kw *w, const char *extra)
{
	char *err = NULL;
	int rc, status;

	rc = t_run(NULL, &err, "%s dump -t %d -D %s %s", t_ferry_bin(), w->pid, w->img,
		   extra ? extra : "");
	cr_assert_eq(rc, 0, "dump of kept %s (pid %d) failed: %s", w->kind, w->pid, err ? err : "");
	free(err);
	if (extra && strstr(extra, "--leave-running"))
		return;
	cr_assert_eq(waitpid(w->pid, &status, 0), w->pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		  "the dumped tree was not killed");
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static void kw_restore(struct kw *w, const char *extra)
{
	char *err = NULL, *pid, pidfile[700];
	int rc;

	snprintf(pidfile, sizeof(pidfile), "%s/pid", w->dir);
	rc = t_run(NULL, &err, "%s restore -D %s -d --pidfile %s %s", t_ferry_bin(), w->img,
		   pidfile, extra ? extra : "");
	cr_assert_eq(rc, 0, "restore of kept %s failed: %s", w->kind, err ? err : "");
	free(err);
	pid = t_read_file(pidfile, NULL);
	cr_assert(pid && atoi(pid) == w->pid, "the root came back as %s", pid ? pid : "?");
	free(pid);
}

/* `ferry decode` and crit (if installed) both decode IMG/@file, and show @needle. */
static void decoded_has(const struct kw *w, const char *file, const char *needle)
{
	char *ours = NULL, *theirs = NULL, *err = NULL;

	cr_assert_eq(t_run(&ours, &err, "%s decode -i %s/%s", t_ferry_bin(), w->img, file), 0,
		     "ferry decode %s: %s", file, err ? err : "");
	cr_assert(ours && strstr(ours, needle), "%s: no '%s' in %s", file, needle,
		  ours ? ours : "");
	free(err);
	err = NULL;
	if (t_crit()) {
		cr_assert_eq(t_run(&theirs, &err, "%s decode -i %s/%s", t_crit(), w->img, file), 0,
			     "crit decode %s: %s", file, err ? err : "");
		cr_assert(theirs && strstr(theirs, needle), "crit: no '%s' in %s", needle,
			  theirs ? theirs : "");
	}
	free(ours);
	free(theirs);
	free(err);
}

/* ---- ptys ------------------------------------------------------------------------------ */

Test(kept, pty_with_both_ends_in_the_tree)
{
	struct kw w;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	if (access("/dev/ptmx", R_OK | W_OK))
		cr_skip_test("no /dev/ptmx");
	kw_start_wl(&w, "keptpty", "pty", NULL);
	kw_dump(&w, NULL); /* no --shell-job: the terminal is the tree's own */
	/* CRIU's: the master (id index * 2 + 1) locked, in packet mode; the queued bytes. */
	decoded_has(&w, "tty-info.img", "\"packet_mode\": true");
	decoded_has(&w, "tty-data.img", "\"tty_id\"");
	kw_restore(&w, NULL);
	kw_verdict(&w, SIGUSR1);
	kw_verdict(&w, SIGUSR2);
	kw_stop(&w);
}

/* --leave-running: the bytes read out of the pty go back, and the tree goes on as it was. */
Test(kept, pty_queued_bytes_put_back_when_the_tree_goes_on)
{
	struct kw w;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	if (access("/dev/ptmx", R_OK | W_OK))
		cr_skip_test("no /dev/ptmx");
	kw_start_wl(&w, "keptpty", "pty", NULL);
	kw_dump(&w, "--leave-running");
	kw_verdict(&w, SIGUSR1);
	kw_verdict(&w, SIGUSR2);
	kw_stop(&w);
}

static void bad_tty_id(ProtobufCMessage *m, size_t idx, void *arg)
{
	(void)arg;
	if (!idx)
		((TtyDataEntry *)m)->tty_id = 9999;
}

static void too_long(ProtobufCMessage *m, size_t idx, void *arg)
{
	TtyDataEntry *e = (TtyDataEntry *)m;

	(void)arg;
	if (!idx) {
		free(e->data.data); /* freed with the message */
		e->data.data = calloc(1, 8192);
		cr_assert_not_null(e->data.data);
		e->data.len = 8192;
	}
}

Test(kept, damaged_tty_data_refused_with_file_and_offset)
{
	const char *const argv[] = { "keptpty", "pty", NULL };
	struct ri_dump d;
	const char *bad;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	memset(&d, 0, sizeof(d));
	ri_make_dump(&d, argv, "ready");
	bad = ri_copy_dump(&d);
	ri_rewrite(bad, "tty-data.img", IMG_TTY_DATA, bad_tty_id, NULL, 0);
	ri_expect_fail(bad, -EINVAL, "tty-data.img: offset 8: queued bytes for tty file id 9999",
		       "not in files.img");
	t_rmrf(bad);
	bad = ri_copy_dump(&d);
	ri_rewrite(bad, "tty-data.img", IMG_TTY_DATA, too_long, NULL, 0);
	ri_expect_fail(bad, -EINVAL, "tty-data.img: offset 8: 8192 bytes queued", "at most 4096");
	t_rmrf(bad);
	bad = ri_copy_dump(&d);
	ri_rewrite(bad, "tty-data.img", IMG_TTY_DATA, NULL, NULL, 1);
	ri_expect_fail(bad, -EINVAL, "tty-data.img: offset", "a second entry of queued bytes");
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	ri_drop_dump(&d);
}

/* ---- pidfds --------------------------------------------------------------------------- */

/* `ferry decode` shows @needle in IMG/@file; crit (if installed) decodes it too. */
static void ours_has(const struct kw *w, const char *file, const char *needle)
{
	char *ours = NULL, *err = NULL;

	cr_assert_eq(t_run(&ours, &err, "%s decode -i %s/%s", t_ferry_bin(), w->img, file), 0,
		     "ferry decode %s: %s", file, err ? err : "");
	cr_assert(ours && strstr(ours, needle), "%s: no '%s' in %s", file, needle,
		  ours ? ours : "");
	free(ours);
	free(err);
	if (t_crit()) /* crit 3.17 knows no pidfd_entry (CRIU 4.x): it must still read the file */
		cr_assert_eq(t_run(NULL, &err, "%s decode -i %s/%s", t_crit(), w->img, file), 0,
			     "crit decode %s", file);
}

static void pidfds_kept_via(const char *dump_extra, const char *restore_extra)
{
	struct kw w;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	kw_start(&w, "pidfd", NULL);
	kw_dump(&w, dump_extra);
	ours_has(&w, "files.img", "\"nspid\": -1"); /* the dead child's, CRIU's way */
	kw_restore(&w, restore_extra);
	kw_verdict(&w, SIGUSR1);
	kw_verdict(&w, SIGUSR2);
	kw_stop(&w);
}

Test(kept, pidfds_of_live_dead_and_own_processes)
{
	pidfds_kept_via(NULL, NULL);
}

Test(kept, pidfds_kept_through_a_lazy_restore)
{
	pidfds_kept_via(NULL, "--lazy-pages");
}

Test(kept, pidfd_of_a_process_outside_the_tree_refused)
{
	char *err = NULL, want[128];
	struct kw w;
	int rc;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	kw_start(&w, "pidfd-out", NULL);
	rc = t_run(NULL, &err, "%s dump -t %d -D %s", t_ferry_bin(), w.pid, w.img);
	cr_assert_neq(rc, 0, "a pidfd of pid %d (outside the tree) was dumped", getpid());
	snprintf(want, sizeof(want),
		 "pid %d fd 3: pidfd of pid %d, which is not in the dumped tree", w.pid, getpid());
	cr_assert(err && strstr(err, want), "no '%s' in: %s", want, err ? err : "");
	free(err);
	kw_verdict(&w, SIGUSR1); /* released, running, its pidfd as it was */
	kw_stop(&w);
}

static void pidfd_stranger(ProtobufCMessage *m, size_t idx, void *arg)
{
	FileEntry *f = (FileEntry *)m;

	(void)idx;
	(void)arg;
	if (f->type == FD_TYPES__PIDFD && f->pidfd->nspid != -1)
		f->pidfd->nspid = 99999;
}

static void pidfd_thread(ProtobufCMessage *m, size_t idx, void *arg)
{
	FileEntry *f = (FileEntry *)m;

	(void)idx;
	(void)arg;
	if (f->type == FD_TYPES__PIDFD)
		f->pidfd->flags |= O_EXCL; /* PIDFD_THREAD */
}

Test(kept, damaged_pidfd_entries_refused_with_file_and_offset)
{
	const char *const argv[] = { "kept", "pidfd", NULL };
	struct ri_dump d;
	const char *bad;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	memset(&d, 0, sizeof(d));
	ri_make_dump(&d, argv, "ready");
	bad = ri_copy_dump(&d);
	ri_rewrite(bad, "files.img", IMG_FILES, pidfd_stranger, NULL, 0);
	ri_expect_fail(bad, -EINVAL, "files.img: offset",
		       "refers to pid 99999, which is not in the dump's tree");
	t_rmrf(bad);
	bad = ri_copy_dump(&d);
	ri_rewrite(bad, "files.img", IMG_FILES, pidfd_thread, NULL, 0);
	ri_expect_fail(bad, -EINVAL, "files.img: offset", "pidfds with O_NONBLOCK at most");
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	ri_drop_dump(&d);
}

/* ---- a deleted FIFO, a removed cwd ------------------------------------------------------ */

Test(kept, deleted_fifo_and_removed_cwd_kept_as_ghosts)
{
	char sub[700], path[760];
	struct kw w;
	char *dir;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	dir = t_tmpdir();
	cr_assert_not_null(dir);
	snprintf(sub, sizeof(sub), "%s", dir);
	kw_start(&w, "gone", sub);
	kw_dump(&w, NULL);
	/* CRIU's ghosts: the FIFO's and the directory's mode, no bytes. */
	decoded_has(&w, "remap-fpath.img", "\"remap_id\"");
	decoded_has(&w, "ghost-file-1.img", "\"mode\"");
	decoded_has(&w, "ghost-file-2.img", "\"mode\"");
	kw_restore(&w, NULL);
	snprintf(path, sizeof(path), "%s/f", sub);
	cr_assert(access(path, F_OK) && errno == ENOENT, "%s is left after the restore", path);
	snprintf(path, sizeof(path), "%s/d", sub);
	cr_assert(access(path, F_OK) && errno == ENOENT, "%s is left after the restore", path);
	kw_verdict(&w, SIGUSR1);
	kw_verdict(&w, SIGUSR2);
	kw_stop(&w);
	t_rmrf(dir);
	free(dir);
}

/* ---- BPF maps ----------------------------------------------------------------------------- */

static void bpf_skip_unless_usable(void)
{
	char *err = NULL;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	if (t_run(NULL, &err, "test -d /sys/fs/bpf -o -e /sys/kernel/btf/vmlinux"))
		cr_skip_test("no BPF here");
	free(err);
}

static void bpfmaps_kept_via(const char *restore_extra)
{
	struct kw w;

	bpf_skip_unless_usable();
	kw_start(&w, "bpfmap", NULL);
	kw_dump(&w, NULL);
	/* CRIU's: the maps in files.img, their elements in bpfmap-data.img. */
	decoded_has(&w, "bpfmap-data.img", "\"count\": 10");
	decoded_has(&w, "bpfmap-data.img", "\"count\": 16");
	decoded_has(&w, "files.img", "\"map_name\": \"ferry_hash\"");
	kw_restore(&w, restore_extra);
	kw_verdict(&w, SIGUSR1);
	kw_verdict(&w, SIGUSR2);
	kw_stop(&w);
}

Test(kept, bpf_array_and_hash_maps_with_their_elements)
{
	bpfmaps_kept_via(NULL);
}

Test(kept, bpf_maps_kept_through_a_lazy_restore)
{
	bpfmaps_kept_via("--lazy-pages");
}

Test(kept, bpf_percpu_map_and_program_refused)
{
	char *err = NULL, want[160];
	struct kw w;
	int fdm, fdp;

	bpf_skip_unless_usable();
	kw_start(&w, "bpf-other", NULL);
	cr_assert_eq(sscanf(w.ready, "kept: bpf-other pid %*d map %d prog %d", &fdm, &fdp), 2, "%s",
		     w.ready);
	cr_assert_neq(t_run(NULL, &err, "%s dump -t %d -D %s", t_ferry_bin(), w.pid, w.img), 0,
		      "a per-CPU map and a program were dumped");
	snprintf(want, sizeof(want), "pid %d fd %d: BPF map of type %d is not supported", w.pid,
		 fdm, 6 /* BPF_MAP_TYPE_PERCPU_ARRAY */);
	cr_assert(err && strstr(err, want), "no '%s' in: %s", want, err ? err : "");
	snprintf(want, sizeof(want), "pid %d fd %d: BPF program", w.pid, fdp);
	cr_assert(err && strstr(err, want), "no '%s' in: %s", want, err ? err : "");
	free(err);
	kw_verdict(&w, SIGUSR1);
	kw_stop(&w);
}

/* files.img: a map's key size (its elements no longer fit), or its id (none has them). */
static void bpf_key_size(ProtobufCMessage *m, size_t idx, void *arg)
{
	FileEntry *f = (FileEntry *)m;

	(void)idx;
	(void)arg;
	if (f->type == FD_TYPES__BPFMAP && f->bpf->max_entries == 64)
		f->bpf->key_size += 1;
}

static void bpf_map_id(ProtobufCMessage *m, size_t idx, void *arg)
{
	FileEntry *f = (FileEntry *)m;

	(void)idx;
	(void)arg;
	if (f->type == FD_TYPES__BPFMAP)
		f->bpf->map_id += 100000;
}

static void bpf_percpu(ProtobufCMessage *m, size_t idx, void *arg)
{
	FileEntry *f = (FileEntry *)m;

	(void)idx;
	(void)arg;
	if (f->type == FD_TYPES__BPFMAP)
		f->bpf->map_type = 6; /* BPF_MAP_TYPE_PERCPU_ARRAY */
}

Test(kept, damaged_bpf_images_refused_with_file_and_offset)
{
	const char *const argv[] = { "kept", "bpfmap", NULL };
	struct ri_dump d;
	const char *bad;

	bpf_skip_unless_usable();
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	memset(&d, 0, sizeof(d));
	ri_make_dump(&d, argv, "ready");
	bad = ri_copy_dump(&d);
	ri_rewrite(bad, "files.img", IMG_FILES, bpf_key_size, NULL, 0);
	ri_expect_fail(bad, -EINVAL, "bpfmap-data.img: offset ",
		       "not as many as its key and value sizes say");
	t_rmrf(bad);
	bad = ri_copy_dump(&d);
	ri_rewrite(bad, "files.img", IMG_FILES, bpf_map_id, NULL, 0);
	ri_expect_fail(bad, -EINVAL, "bpfmap-data.img: offset 8: elements of BPF map",
		       "no BPF map of files.img has that id");
	t_rmrf(bad);
	bad = ri_copy_dump(&d);
	ri_rewrite(bad, "files.img", IMG_FILES, bpf_percpu, NULL, 0);
	ri_expect_fail(bad, -EINVAL, "files.img: offset", "ferry restores array and hash maps");
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	ri_drop_dump(&d);
}

/* ---- /proc/PID files -------------------------------------------------------------------- */

Test(kept, proc_file_of_the_parent_reopened_at_its_pid)
{
	struct kw w;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	kw_start(&w, "procfile", NULL);
	kw_dump(&w, NULL);
	kw_restore(&w, NULL);
	kw_verdict(&w, SIGUSR1);
	kw_verdict(&w, SIGUSR2);
	kw_stop(&w);
}

Test(kept, proc_file_of_a_process_outside_the_tree_refused)
{
	char *err = NULL, want[160];
	struct kw w;
	int fd;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	kw_start(&w, "procfile-out", NULL);
	cr_assert_eq(sscanf(w.ready, "kept: procfile-out pid %*d parent %*d fd %d", &fd), 1, "%s",
		     w.ready);
	cr_assert_neq(t_run(NULL, &err, "%s dump -t %d -D %s", t_ferry_bin(), w.pid, w.img), 0,
		      "a /proc file of pid %d (outside the tree) was dumped", getpid());
	snprintf(want, sizeof(want), "pid %d fd %d: /proc/%d/status of pid %d, which is not in",
		 w.pid, fd, getpid(), getpid());
	cr_assert(err && strstr(err, want), "no '%s' in: %s", want, err ? err : "");
	free(err);
	kw_verdict(&w, SIGUSR1);
	kw_stop(&w);
}

/* ---- AIO contexts ------------------------------------------------------------------------ */

static void aio_kept_via(const char *restore_extra, int predump)
{
	char name[64], pre[700], *err = NULL;
	struct kw w;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	kw_start(&w, "aio", NULL);
	if (predump) {
		snprintf(pre, sizeof(pre), "%s/pre", w.dir);
		cr_assert_eq(
			t_run(NULL, &err, "%s pre-dump -t %d -D %s", t_ferry_bin(), w.pid, pre), 0,
			"pre-dump: %s", err ? err : "");
		free(err);
		kw_verdict(&w, SIGUSR1);
	}
	kw_dump(&w, predump ? "--prev-images-dir ../pre" : NULL);
	/* CRIU's: an aio_ring_entry in mm.img, the context id its address. */
	snprintf(name, sizeof(name), "mm-%d.img", w.pid);
	decoded_has(&w, name, "\"aios\"");
	kw_restore(&w, restore_extra);
	kw_verdict(&w, SIGUSR1);
	kw_verdict(&w, SIGUSR2);
	kw_stop(&w);
}

Test(kept, aio_context_kept_at_its_id)
{
	aio_kept_via(NULL, 0);
}

Test(kept, aio_context_kept_through_a_lazy_restore)
{
	aio_kept_via("--lazy-pages", 0);
}

Test(kept, aio_context_kept_through_a_pre_dump_chain)
{
	aio_kept_via(NULL, 1);
}

Test(kept, aio_completed_events_not_reaped_refused)
{
	unsigned long long ctx;
	char *err = NULL, want[160];
	struct kw w;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	kw_start(&w, "aio-pending", NULL);
	cr_assert_eq(sscanf(w.ready, "kept: aio-pending pid %*d ctx %llx", &ctx), 1, "%s", w.ready);
	cr_assert_neq(t_run(NULL, &err, "%s dump -t %d -D %s", t_ferry_bin(), w.pid, w.img), 0,
		      "an AIO context with an event not reaped was dumped");
	snprintf(want, sizeof(want), "pid %d: AIO context %#llx holds completed events not reaped",
		 w.pid, ctx);
	cr_assert(err && strstr(err, want), "no '%s' in: %s", want, err ? err : "");
	free(err);
	kw_verdict(&w, SIGUSR1); /* released: its event is still there */
	kw_stop(&w);
}

static void aio_moved(ProtobufCMessage *m, size_t idx, void *arg)
{
	MmEntry *mm = (MmEntry *)m;

	(void)idx;
	(void)arg;
	if (mm->n_aios)
		mm->aios[0]->id += 4096;
}

Test(kept, damaged_aio_ring_entries_refused_with_file)
{
	const char *const argv[] = { "kept", "aio", NULL };
	char name[64], want[128];
	struct ri_dump d;
	const char *bad;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	memset(&d, 0, sizeof(d));
	ri_make_dump(&d, argv, "ready");
	bad = ri_copy_dump(&d);
	snprintf(name, sizeof(name), "mm-%d.img", d.pid);
	snprintf(want, sizeof(want), "%s: offset 8: pid %d: AIO ring 0", name, d.pid);
	ri_rewrite(bad, name, IMG_MM, aio_moved, NULL, 0);
	ri_expect_fail(bad, -EINVAL, want, "is on no private VMA of status AIORING");
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	ri_drop_dump(&d);
}

/* ---- still refused ---------------------------------------------------------------------- */

Test(kept, process_without_vdso_refused)
{
	char *err = NULL, want[128];
	struct kw w;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	kw_start(&w, "novdso", NULL);
	cr_assert_neq(t_run(NULL, &err, "%s dump -t %d -D %s", t_ferry_bin(), w.pid, w.img), 0,
		      "a process without vDSO was dumped");
	snprintf(want, sizeof(want), "pid %d: no vDSO to run remote syscalls from", w.pid);
	cr_assert(err && strstr(err, want) && strstr(err, "objects ferry does not support"),
		  "no '%s' refusal in: %s", want, err ? err : "");
	free(err);
	kw_verdict(&w, SIGUSR1); /* released, running */
	kw_stop(&w);
}
