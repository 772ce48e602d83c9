// SPDX-License-Identifier: MIT
/*
 * SysV shared memory end to end (issue 18): the shmem workload's S (a keyed
 * segment, 5 pages + 100 bytes, mode 0640) and P (an IPC_PRIVATE segment
 * marked IPC_RMID) kinds, attached by a parent and its forked child. After a
 * dump and a restore each process sees the other's writes and the kernel
 * shows the segments with the same id, key, size, mode (SHM_DEST again for
 * P) and both processes attached (the workload checks it itself with
 * IPC_STAT on the ids it had). A dump whose key exists on the host again is
 * refused at restore, the existing segment untouched.
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
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

#define VERDICT_MS 10000

struct sv {
	char *dir;
	char out[512], img[600];
	pid_t pid, child;
	key_t key; /* of the S segment, or IPC_PRIVATE */
};

TestSuite(sysv_shm, .timeout = 120);

static void sv_start(struct sv *w, const char *mode)
{
	const char *argv[] = { "shmem", mode, NULL };
	char *line;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	memset(w, 0, sizeof(*w));
	w->dir = t_tmpdir();
	cr_assert_not_null(w->dir);
	snprintf(w->out, sizeof(w->out), "%s/out", w->dir);
	snprintf(w->img, sizeof(w->img), "%s/img", w->dir);
	w->pid = t_spawn(w->out, argv);
	cr_assert_gt(w->pid, 0);
	w->key = strchr(mode, 'S') ? (key_t)(0x66720000 | (w->pid & 0xffff)) : IPC_PRIVATE;
	line = t_wait_line(w->out, "ready", 10000);
	cr_assert_not_null(line, "the shmem workload never said ready");
	cr_assert_eq(sscanf(line, "shmem: pid %*d child %d", &w->child), 1, "ready line: %s", line);
	free(line);
	/* Both directions and the IPC_STAT checks work before any dump. */
	t_expect_verdict(w->out, w->pid, SIGUSR1, "shmem: verify ok", "verify BAD", VERDICT_MS);
}

/* The id of the segment of key @key now, or -1. */
static int key_id(key_t key)
{
	return key == IPC_PRIVATE ? -1 : shmget(key, 0, 0);
}

static void sv_stop(struct sv *w)
{
	int id = key_id(w->key);

	if (w->pid > 0)
		kill(w->pid, SIGKILL);
	if (w->child > 0)
		kill(w->child, SIGKILL);
	while (waitpid(-1, NULL, WNOHANG) >= 0 || errno == EINTR)
		if (waitpid(-1, NULL, 0) < 0 && errno == ECHILD)
			break;
	/* The keyed segment outlives its processes: not left on the host. */
	if (id >= 0)
		shmctl(id, IPC_RMID, NULL);
	t_rmrf(w->dir);
	free(w->dir);
}

static void sv_dump(struct sv *w)
{
	char *err = NULL;
	int rc, status;

	rc = t_run(NULL, &err, "%s dump -t %d -D %s", t_ferry_bin(), w->pid, w->img);
	cr_assert_eq(rc, 0, "dump of pid %d failed: %s", w->pid, err ? err : "");
	free(err);
	cr_assert_eq(waitpid(w->pid, &status, 0), w->pid);
	cr_assert_eq(waitpid(w->child, &status, 0), w->child);
}

Test(sysv_shm, dump_restore_keeps_key_id_mode_and_sharing)
{
	struct sv w;
	struct shmid_ds ds;
	char *out = NULL, *err = NULL;
	int id, rc;

	sv_start(&w, "ASP");
	id = key_id(w.key);
	cr_assert_geq(id, 0);
	cr_assert_eq(mkdir(w.img, 0700), 0);
	sv_dump(&w);
	/* The dumped processes are gone; their keyed segment stays: take it away. */
	cr_assert_eq(shmctl(id, IPC_RMID, NULL), 0);
	rc = t_run(&out, &err, "%s decode -i %s/ipcns-shm-*.img", t_ferry_bin(), w.img);
	cr_assert_eq(rc, 0, "decode: %s", err ? err : "");
	cr_assert_not_null(strstr(out, "\"in_pagemaps\": true"), "%s", out);
	cr_assert_not_null(strstr(out, "\"mode\": 416"), "S's mode 0640: %s", out);
	free(out);
	free(err);
	err = NULL;
	rc = t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), w.img);
	cr_assert_eq(rc, 0, "restore failed: %s", err ? err : "");
	free(err);
	cr_assert_eq(kill(w.pid, 0), 0, "pid %d is not back", w.pid);
	cr_assert_eq(kill(w.child, 0), 0, "child %d is not back", w.child);
	cr_assert_eq(key_id(w.key), id, "the key's id after restore");
	cr_assert_eq(shmctl(id, IPC_STAT, &ds), 0);
	cr_assert_eq(ds.shm_nattch, 2);
	/* Contents, sharing both ways, and the kernel's view (workload's IPC_STAT checks). */
	t_expect_verdict(w.out, w.pid, SIGUSR1, "shmem: verify ok", "verify BAD", VERDICT_MS);
	t_expect_verdict(w.out, w.pid, SIGUSR1, "shmem: verify ok", "verify BAD", VERDICT_MS);
	sv_stop(&w);
}

Test(sysv_shm, restore_refused_when_the_key_exists)
{
	struct sv w;
	struct shmid_ds ds;
	char *err = NULL;
	int id, rc;

	sv_start(&w, "S");
	id = key_id(w.key);
	cr_assert_geq(id, 0);
	cr_assert_eq(mkdir(w.img, 0700), 0);
	sv_dump(&w);
	/* The segment is still there (not marked IPC_RMID): a restore must not take it. */
	rc = t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), w.img);
	cr_assert_neq(rc, 0, "restore over an existing key succeeded");
	cr_assert_not_null(err);
	cr_assert_not_null(strstr(err, "exists on this host"), "%s", err);
	free(err);
	cr_assert_eq(kill(w.pid, 0), -1, "pid %d runs after a refused restore", w.pid);
	cr_assert_eq(key_id(w.key), id);
	cr_assert_eq(shmctl(id, IPC_STAT, &ds), 0);
	cr_assert_eq(ds.shm_nattch, 0);
	sv_stop(&w);
}
