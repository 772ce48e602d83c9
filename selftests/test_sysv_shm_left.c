// SPDX-License-Identifier: MIT
/*
 * The SysV segment a dump leaves behind (restore/shmem_sysv_left.h): a keyed
 * segment not marked IPC_RMID outlives the tree `ferry dump` killed. A
 * restore on the same host replaces it when nothing touched it since (same
 * id, nobody attached, made and last detached by the dumped processes): the
 * tree comes back with the key, the id and the dumped contents, both
 * processes attached. While another process has it attached, it is refused,
 * the segment untouched. (Touched since: test_sysv_shm.c.)
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "tree_helpers.h"

#define VERDICT_MS 10000

TestSuite(sysv_shm_left, .timeout = 120);

/* The shmem workload with a keyed segment (kind S) and a child; dumped (killed). Its key. */
static key_t start_and_dump(struct t_tree *t)
{
	const char *argv[] = { "shmem", "S", NULL };
	char *line;

	t_tree_init(t);
	line = t_tree_spawn(t, argv);
	cr_assert_eq(sscanf(line, "shmem: pid %*d child %d", &t->child), 1, "%s", line);
	free(line);
	t_expect_verdict(t->out, t->pid, SIGUSR1, "shmem: verify ok", "verify BAD", VERDICT_MS);
	cr_assert_eq(mkdir(t->img, 0700), 0);
	t_tree_dump(t, t->img, NULL);
	return (key_t)(0x66720000 | (t->pid & 0xffff));
}

static void stop(struct t_tree *t, key_t key)
{
	int id = shmget(key, 0, 0);

	t_tree_stop(t);
	if (id >= 0)
		shmctl(id, IPC_RMID, NULL);
}

Test(sysv_shm_left, left_segment_made_again)
{
	struct shmid_ds ds;
	struct t_tree t;
	key_t key = start_and_dump(&t);
	int id = shmget(key, 0, 0);

	cr_assert_geq(id, 0, "the dump left no segment of key %#x", key);
	cr_assert_eq(shmctl(id, IPC_STAT, &ds), 0);
	cr_assert_eq(ds.shm_nattch, 0);
	t_tree_restore(&t, t.img, NULL);
	cr_assert_eq(shmget(key, 0, 0), id, "the key's id after the restore");
	cr_assert_eq(shmctl(id, IPC_STAT, &ds), 0);
	cr_assert_eq(ds.shm_nattch, 2, "%lu attached, not the parent and child",
		     (unsigned long)ds.shm_nattch);
	/* Contents, sharing both ways, the kernel's view (the workload's own checks). */
	t_expect_verdict(t.out, t.pid, SIGUSR1, "shmem: verify ok", "verify BAD", VERDICT_MS);
	t_expect_verdict(t.out, t.pid, SIGUSR1, "shmem: verify ok", "verify BAD", VERDICT_MS);
	stop(&t, key);
}

Test(sysv_shm_left, left_segment_attached_by_another_refused)
{
	struct shmid_ds ds;
	struct t_tree t;
	key_t key = start_and_dump(&t);
	int id = shmget(key, 0, 0), rc;
	char *err = NULL;
	void *at;

	cr_assert_geq(id, 0);
	at = shmat(id, NULL, SHM_RDONLY);
	cr_assert_neq(at, (void *)-1);
	rc = t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), t.img);
	cr_assert_neq(rc, 0, "restore took a segment another process has attached");
	cr_assert(err && strstr(err, "exists on this host") &&
			  strstr(err, "attached by a process now"),
		  "%s", err ? err : "");
	free(err);
	cr_assert_eq(kill(t.pid, 0), -1, "pid %d runs after a refused restore", t.pid);
	cr_assert_eq(shmget(key, 0, 0), id);
	cr_assert_eq(shmctl(id, IPC_STAT, &ds), 0);
	cr_assert_eq(ds.shm_nattch, 1);
	cr_assert_eq(shmdt(at), 0);
	stop(&t, key);
}
