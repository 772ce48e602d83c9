// SPDX-License-Identifier: MIT
/*
 * Zombies through a pre-dump chain (issue 22): the workload `refused zombie`
 * (a parent with a child that exited with 42, one killed by SIGTERM and one
 * alive) is pre-dumped twice while it runs, then dumped on top of the chain;
 * the restore (eager or lazy) brings the zombies back as zombies of their
 * parent, which then reaps them with their statuses. `ferry migrate` of the
 * same tree (its pre-copy rounds are pre-dumps) lands it with its zombies.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "migrate_helpers.h"
#include "tree_helpers.h"

#define VERDICT_MS 10000

TestSuite(zombie_predump, .timeout = 120);

static void zp_verdict(const char *out, pid_t pid, int sig)
{
	const char *ok = sig == SIGUSR2 ? "refused: zombie final ok" : "refused: zombie verify ok";

	t_expect_verdict(out, pid, sig, ok, sig == SIGUSR2 ? "final BAD" : "verify BAD",
			 VERDICT_MS);
}

/* `ferry pre-dump` of @pid into @t's DIR/@name, on top of DIR/@prev if not NULL. */
static void zp_predump(const struct t_tree *t, const char *name, const char *prev)
{
	char *err = NULL;
	int rc;

	rc = t_run(NULL, &err, "%s pre-dump -t %d -D %s/%s %s%s", t_ferry_bin(), t->pid, t->dir,
		   name, prev ? "--prev-images-dir ../" : "", prev ? prev : "");
	cr_assert_eq(rc, 0, "pre-dump %s of pid %d (with zombies) failed: %s", name, t->pid,
		     err ? err : "");
	free(err);
}

static void zombies_through_a_pre_dump_chain(const char *restore_extra)
{
	const char *const argv[] = { "refused", "zombie", NULL };
	pid_t zexit, zkill, live;
	struct t_tree t;
	char *ready;

	t_tree_init(&t);
	ready = t_tree_spawn(&t, argv);
	cr_assert_eq(sscanf(ready, "refused: zombie pid %*d zombies %d %d live %d", &zexit, &zkill,
			    &live),
		     3, "%s", ready);
	zp_verdict(t.out, t.pid, SIGUSR1);
	cr_assert_eq(t_proc_state(zexit), 'Z');
	zp_predump(&t, "pre1", NULL);
	/* The tree goes on between the rounds, zombies included. */
	zp_verdict(t.out, t.pid, SIGUSR1);
	zp_predump(&t, "pre2", "pre1");
	cr_assert_eq(t_proc_state(zkill), 'Z', "pid %d is no zombie after the pre-dumps", zkill);
	t_tree_dump(&t, t.img, "--prev-images-dir ../pre2");
	t_tree_restore(&t, t.img, restore_extra);
	cr_assert_eq(t_proc_state(zexit), 'Z', "pid %d was not restored as a zombie", zexit);
	cr_assert_eq(t_proc_state(zkill), 'Z', "pid %d was not restored as a zombie", zkill);
	cr_assert(t_proc_state(live) && t_proc_state(live) != 'Z', "pid %d is not alive", live);
	/* verify: still its zombies, with their statuses (waitid WNOWAIT) */
	zp_verdict(t.out, t.pid, SIGUSR1);
	/* final: the parent reaps them, exit 42 and SIGTERM */
	zp_verdict(t.out, t.pid, SIGUSR2);
	cr_assert_eq(t_proc_state(zexit), 0, "pid %d is still there after its parent reaped it",
		     zexit);
	free(ready);
	t_tree_stop(&t);
}

Test(zombie_predump, zombies_kept_through_two_pre_dumps_and_a_dump)
{
	zombies_through_a_pre_dump_chain(NULL);
}

Test(zombie_predump, zombies_kept_through_a_pre_dump_chain_and_a_lazy_restore)
{
	zombies_through_a_pre_dump_chain("--lazy-pages");
}

/* `ferry migrate` (pre-copy rounds, then the final dump) to a destination in its own pid ns. */
Test(zombie_predump, zombies_kept_through_a_migration)
{
	const char *const argv[] = { "refused", "zombie", NULL };
	char *ready, *err = NULL;
	struct dest d = { 0 };
	struct t_tree t;
	pid_t copy;
	int rc, status = 0;

	t_tree_init(&t);
	ready = t_tree_spawn(&t, argv);
	zp_verdict(t.out, t.pid, SIGUSR1);
	cr_assert_eq(start_dest(&d, NULL, "127.0.0.1", t.dir, NULL, NULL, 0), 0);
	rc = t_run(NULL, &err, "%s migrate -t %d --to %s --max-rounds 2", t_ferry_bin(), t.pid,
		   d.host_port);
	cr_assert_eq(rc, 0,
		     "ferry migrate of a tree with zombies failed (%d):\n%s\ndestination:\n%s", rc,
		     err ? err : "", t_read_file(d.log, NULL));
	cr_assert_eq(waitpid(t.pid, &status, 0), t.pid);
	copy = host_pid_of(t.pid);
	cr_assert_gt(copy, 0, "no copy of pid %d", t.pid);
	/* The pids inside the destination's namespace are the dumped ones: verify is done there. */
	zp_verdict(t.out, copy, SIGUSR1);
	zp_verdict(t.out, copy, SIGUSR2);
	kill_dest(&d);
	free(err);
	free(ready);
	t.pid = 0;
	t_tree_stop(&t);
}

/* `ferry track` (tracking armed ahead of pre-dumps) does not take zombies: it names one. */
Test(zombie_predump, track_names_the_zombie_it_refuses)
{
	const char *const argv[] = { "refused", "zombie", NULL };
	pid_t zexit, zkill, live;
	char *ready, *err = NULL, want[96];
	struct t_tree t;

	t_tree_init(&t);
	ready = t_tree_spawn(&t, argv);
	cr_assert_eq(sscanf(ready, "refused: zombie pid %*d zombies %d %d live %d", &zexit, &zkill,
			    &live),
		     3, "%s", ready);
	cr_assert_neq(t_run(NULL, &err, "%s track -t %d", t_ferry_bin(), t.pid), 0,
		      "ferry track took a tree with zombies");
	snprintf(want, sizeof(want), "pid %d: is a zombie", zexit);
	cr_assert(err && strstr(err, want), "no '%s' in: %s", want, err ? err : "");
	/* Refused before anything was armed: the tree goes on. */
	zp_verdict(t.out, t.pid, SIGUSR1);
	free(err);
	free(ready);
	t_tree_stop(&t);
}
