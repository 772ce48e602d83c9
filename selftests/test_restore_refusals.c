// SPDX-License-Identifier: MIT
/*
 * Restores refused with a clear message, leaving no process behind: missing or
 * truncated images, a mapped file changed or gone, another kernel's vDSO, a
 * taken pid; and a dumped zombie waited for.
 * (Suite restore: its TestSuite is in test_restore.c; helpers in
 * restore_helpers.c.)
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "img.h"
#include "mm.pb-c.h"
#include "pagemap.pb-c.h"
#include "restore_helpers.h"

/* ---- refusals ---------------------------------------------------------------------- */

/* The restore must fail with a message containing @needle and leave no process. */
static void expect_refused(struct rst_rw *w, const char *needle)
{
	char *err = NULL;
	int rc = t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), w->img);

	cr_assert_neq(rc, 0, "restore of bad images succeeded");
	cr_assert_not_null(err);
	cr_assert(strstr(err, needle), "no '%s' in the error:\n%s", needle, err);
	free(err);
	cr_assert(kill(w->pid, 0) && errno == ESRCH, "pid %d exists after a failed restore",
		  w->pid);
	cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1, "a failed restore left a child behind");
}

static void dumped(struct rst_rw *w, const char *const argv[])
{
	int status;

	rst_rw_start(w, argv, "ready");
	snprintf(w->img, sizeof(w->img), "%s/img", w->dir);
	cr_assert_eq(t_run(NULL, NULL, "%s dump -t %d -D %s", t_ferry_bin(), w->pid, w->img), 0);
	waitpid(w->pid, &status, 0);
}

Test(restore, refuses_missing_core)
{
	const char *argv[] = { "memhog", "4", "1", NULL };
	char path[700];
	struct rst_rw w;

	dumped(&w, argv);
	snprintf(path, sizeof(path), "%s/core-%d.img", w.img, w.pid);
	cr_assert_eq(unlink(path), 0);
	expect_refused(&w, "core-");
	w.pid = -1;
	rst_rw_stop(&w);
}

Test(restore, refuses_truncated_pages)
{
	const char *argv[] = { "memhog", "4", "1", NULL };
	char path[700];
	struct stat st;
	struct rst_rw w;

	dumped(&w, argv);
	snprintf(path, sizeof(path), "%s/pages-1.img", w.img);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(truncate(path, st.st_size - 4096 * 3 - 100), 0);
	expect_refused(&w, "pages-1.img");
	w.pid = -1;
	rst_rw_stop(&w);
}

/* One more page in a pagemap entry than pages-1.img holds. */
Test(restore, refuses_pagemap_past_pages)
{
	const char *argv[] = { "memhog", "4", "1", NULL };
	ProtobufCMessage *m[4096];
	struct img *in, *out;
	char name[64];
	size_t n = 0;
	struct rst_rw w;
	int dfd;

	dumped(&w, argv);
	dfd = open(w.img, O_RDONLY | O_DIRECTORY);
	snprintf(name, sizeof(name), "pagemap-%d.img", w.pid);
	cr_assert_eq(img_open(&in, dfd, name, NULL), 0);
	while (n < 4096 && img_read_entry(in, &m[n]) == 1)
		n++;
	cr_assert_gt(n, 2);
	/* The first run of the 4 MiB anonymous block ends at a hole: room for one more page. */
	for (size_t i = 1; i < n; i++) {
		PagemapEntry *pe = (PagemapEntry *)m[i];

		if (pe->nr_pages >= 63) {
			pe->nr_pages++;
			break;
		}
	}
	cr_assert_eq(img_create(&out, dfd, name, img_get_type(in)), 0);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(img_write_entry(out, m[i]), 0);
	cr_assert_eq(img_commit(out), 0);
	img_close(in);
	close(dfd);
	expect_refused(&w, "pages-1.img");
	w.pid = -1;
	rst_rw_stop(&w);
}

/* mmapfile, dumped (and killed) into w->img. */
static void dumped_mmapfile(struct rst_rw *w)
{
	int status;

	rst_rw_init(w);
	{
		const char *argv[] = { "mmapfile", w->dir, NULL };

		rst_rw_spawn(w, argv, "ready");
	}
	snprintf(w->img, sizeof(w->img), "%s/img", w->dir);
	cr_assert_eq(t_run(NULL, NULL, "%s dump -t %d -D %s", t_ferry_bin(), w->pid, w->img), 0);
	waitpid(w->pid, &status, 0);
}

/* A mapped file that changed size since the dump: refused, nothing left. */
Test(restore, refuses_mapped_file_resized)
{
	char path[600];
	struct rst_rw w;

	dumped_mmapfile(&w);
	snprintf(path, sizeof(path), "%s/map", w.dir);
	cr_assert_eq(truncate(path, 4096 * 3), 0);
	expect_refused(&w, "changed size");
	w.pid = -1;
	rst_rw_stop(&w);
}

Test(restore, refuses_vanished_mapped_file)
{
	char path[600];
	struct rst_rw w;

	dumped_mmapfile(&w);
	snprintf(path, sizeof(path), "%s/shared", w.dir);
	cr_assert_eq(unlink(path), 0);
	expect_refused(&w, "vanished");
	w.pid = -1;
	rst_rw_stop(&w);
}

/* A vDSO laid out unlike this kernel's (as after a kernel change) is refused. */
Test(restore, refuses_another_kernels_vdso)
{
	const char *argv[] = { "memhog", "4", "1", NULL };
	ProtobufCMessage *m;
	struct img *in, *out;
	char name[64];
	struct rst_rw w;
	int dfd, changed = 0;

	dumped(&w, argv);
	dfd = open(w.img, O_RDONLY | O_DIRECTORY);
	snprintf(name, sizeof(name), "mm-%d.img", w.pid);
	cr_assert_eq(img_open(&in, dfd, name, NULL), 0);
	cr_assert_eq(img_read_entry(in, &m), 1);
	for (size_t i = 0; i < ((MmEntry *)m)->n_vmas; i++) {
		VmaEntry *v = ((MmEntry *)m)->vmas[i];

		if ((v->status & (1u << 3)) && v->end - v->start > 4096) { /* VMA_AREA_VDSO */
			v->end -= 4096;
			changed = 1;
		}
	}
	cr_assert(changed, "no vDSO in the dump");
	cr_assert_eq(img_create(&out, dfd, name, img_get_type(in)), 0);
	cr_assert_eq(img_write_entry(out, m), 0);
	cr_assert_eq(img_commit(out), 0);
	img_close(in);
	close(dfd);
	expect_refused(&w, "vDSO");
	w.pid = -1;
	rst_rw_stop(&w);
}

Test(restore, refuses_taken_pid)
{
	const char *argv[] = { "memhog", "4", "1", NULL };
	char *err = NULL;
	struct rst_rw w;
	int rc;

	rst_rw_start(&w, argv, "ready");
	snprintf(w.img, sizeof(w.img), "%s/img", w.dir);
	cr_assert_eq(t_run(NULL, NULL, "%s dump --leave-running -t %d -D %s", t_ferry_bin(), w.pid,
			   w.img),
		     0);
	rc = t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), w.img);
	cr_assert_neq(rc, 0);
	cr_assert(err && strstr(err, "taken"), "error: %s", err ? err : "");
	cr_assert(strstr(err, "memhog"), "the holder is not named: %s", err);
	free(err);
	/* The holder is untouched. */
	t_expect_verdict(w.out, w.pid, SIGUSR1, "memhog: verify ok", "verify BAD", VERDICT_MS);
	cr_assert_eq(waitpid(-1, NULL, WNOHANG), 0, "a failed restore left a child behind");
	rst_rw_stop(&w);
}

static void *reap_later(void *arg)
{
	pid_t pid = *(pid_t *)arg;

	usleep(200000);
	waitpid(pid, NULL, 0);
	return NULL;
}

/*
 * `ferry dump` (which kills the tree) then `ferry restore` at once: the pid
 * may still be a zombie its parent has not reaped. Restore waits a moment for
 * that; if the parent never reaps, it says so, naming the parent.
 */
Test(restore, waits_for_the_dumped_zombie)
{
	const char *argv[] = { "memhog", "4", "1", NULL };
	char *err = NULL, parent[32];
	struct rst_rw w;
	pthread_t th;
	pid_t pid;

	rst_rw_start(&w, argv, "ready");
	pid = w.pid;
	snprintf(w.img, sizeof(w.img), "%s/img", w.dir);
	cr_assert_eq(t_run(NULL, NULL, "%s dump -t %d -D %s", t_ferry_bin(), w.pid, w.img), 0);
	cr_assert_eq(t_proc_state(pid), 'Z', "the dumped process is no zombie of ours");
	cr_assert_neq(t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), w.img), 0);
	snprintf(parent, sizeof(parent), "parent, pid %d,", getpid());
	cr_assert(err && strstr(err, "zombie (memhog)") && strstr(err, parent),
		  "the zombie and its parent are not named: %s", err ? err : "");
	free(err);

	/* Reaped while restore waits: the restore goes through. */
	cr_assert_eq(pthread_create(&th, NULL, reap_later, &pid), 0);
	cr_assert_eq(t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), w.img), 0, "%s",
		     err ? err : "");
	free(err);
	pthread_join(th, NULL);
	t_expect_verdict(w.out, w.pid, SIGUSR1, "memhog: verify ok", "verify BAD", VERDICT_MS);
	rst_rw_stop(&w);
}
