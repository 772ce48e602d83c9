// SPDX-License-Identifier: MIT
/*
 * Post-copy pulls only what the destination lacks: the pages the pre-copy
 * rounds brought are read from the destination's own chain, and the
 * source's page server serves only the dirty set left at the switch (the
 * pages the final dump copied). Counted on both sides: the source's
 * `--json` "pages_in" event (pages only the source held, as the destination
 * counted them from its pagemaps, and pages its page server served) and the
 * destination's split page source (pages read here, pages asked from the
 * source). The copy verifies its memory.
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

#define VERDICT_MS 20000

struct sw {
	char *dir;
	char out[512], img[600], secret[600];
	pid_t pid;
	struct t_netns ns;
	struct dest d;
};

static void setup(struct sw *w, const char *const argv[], const char *ready)
{
	char *line;
	int r = t_netns_up(&w->ns);

	if (r == 1)
		cr_skip_test("cannot make a network namespace (ip netns add)");
	cr_assert_eq(r, 0, "network namespace setup failed");
	w->dir = t_tmpdir();
	snprintf(w->out, sizeof(w->out), "%s/w.out", w->dir);
	w->pid = t_spawn(w->out, argv);
	cr_assert_gt(w->pid, 0);
	line = t_wait_line(w->out, ready, 10000);
	cr_assert(line, "%s did not start", argv[0]);
	free(line);
	snprintf(w->img, sizeof(w->img), "%s/dest-img", w->dir);
	snprintf(w->secret, sizeof(w->secret), "%s/secret", w->dir);
	write_secret(w->secret, "the post-copy secret, 32 bytes..");
	cr_assert_eq(start_dest(&w->d, w->ns.name, w->ns.there, w->dir, w->img, w->secret, 0), 0,
		     "the destination did not start");
}

static void teardown(struct sw *w)
{
	kill_dest(&w->d);
	t_netns_down(&w->ns);
	t_rmrf(w->dir);
	free(w->dir);
}

struct counts {
	unsigned long long left, served, faults, here, asked;
	double all_in_ms;
};

/* The source's "pages_in" JSON event and the destination's split source summary. */
static void read_counts(const char *out, const char *log, struct counts *c)
{
	const char *j = out ? strstr(out, "{\"event\":\"pages_in\"") : NULL;
	const char *l = log ? strstr(log, "pages read here, ") : NULL;

	cr_assert(j, "no pages_in event in:\n%s", out ? out : "");
	cr_assert_eq(sscanf(j,
			    "{\"event\":\"pages_in\",\"pages_left\":%llu,\"pages_served\":%llu,"
			    "\"pages_served_for_faults\":%llu,\"all_in_ms\":%lf",
			    &c->left, &c->served, &c->faults, &c->all_in_ms),
		     4, "pages_in event: %.200s", j);
	cr_assert(l, "the destination did not use the split page source:\n%s", log ? log : "");
	l--; /* back over " " to the number of pages read here */
	while (l > log && l[-1] >= '0' && l[-1] <= '9')
		l--;
	cr_assert_eq(sscanf(l, "%llu pages read here, %llu asked", &c->here, &c->asked), 2,
		     "destination summary: %.200s", l);
}

static void migrate(struct sw *w, const char *args, struct counts *c)
{
	char *out = NULL, *err = NULL, *log;
	int rc, status = 0;

	rc = t_run(&out, &err, "%s migrate -t %d --to %s --secret-file %s --json %s", t_ferry_bin(),
		   w->pid, w->d.host_port, w->secret, args);
	log = t_read_file(w->d.log, NULL);
	cr_assert_eq(rc, 0, "ferry migrate failed (%d):\n%s\n%s\ndestination:\n%s", rc,
		     out ? out : "", err ? err : "", log ? log : "");
	read_counts(out, log, c);
	cr_log_info("post-copy: %llu pages only the source held, %llu served by it after the "
		    "switch (%llu for faults), %llu read from the rounds on the destination, "
		    "all in %.1f ms after the verdict",
		    c->left, c->served, c->faults, c->here, c->all_in_ms);
	cr_assert_eq(waitpid(w->pid, &status, 0), w->pid);
	cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the source ended 0x%x",
		  status);
	free(log);
	free(out);
	free(err);
}

/*
 * An idle memhog of 64 MiB, --postcopy always: round 1 brings every page, the
 * switch finds only the few pages written since (its stack, libc's data):
 * only those cross the network again; before, every page did (16 000+).
 */
Test(migrate_postcopy_split, idle_memhog_pulls_only_its_dirty_set)
{
	const char *argv[] = { "memhog", "64", "21", NULL };
	struct sw w = { 0 };
	struct counts c;
	pid_t copy;

	setup(&w, argv, "ready");
	migrate(&w, "--postcopy always", &c);
	/* A fault on a page whose background piece is on its way asks it again. */
	cr_expect(c.served >= c.left && c.served <= c.left + c.faults,
		  "the source served %llu pages, it alone held %llu (%llu for faults)", c.served,
		  c.left, c.faults);
	cr_expect_eq(c.asked, c.served, "the destination asked %llu pages, the source served %llu",
		     c.asked, c.served);
	cr_expect_lt(c.served, 1000, "%llu pages pulled after the switch for an idle memhog",
		     c.served);
	cr_expect_gt(c.here, 15000, "only %llu pages read from the rounds here", c.here);
	copy = host_pid_of(w.pid);
	cr_assert_gt(copy, 0, "no process is pid %d in a child namespace", w.pid);
	t_expect_verdict(w.out, copy, SIGUSR1, "memhog: verify ok", "verify BAD", VERDICT_MS);
	teardown(&w);
}

/*
 * A scribbler rewriting 2000 of its 4096 pages a second (after one pass over
 * all of them): the switch after round 1 leaves the pages written during
 * round 1; the source serves those
 * (a few may go unasked: the scribbler unmaps a side mapping now and then; a
 * few twice: a fault on a page whose background piece is on its way),
 * requests that mix pages of the rounds and of the dirty set are split, and
 * the copy holds the latest write of every page.
 */
Test(migrate_postcopy_split, scribbler_pulls_its_dirty_set)
{
	const char *argv[] = { "scribbler", "4096", "2", NULL };
	struct sw w = { 0 };
	struct counts c;
	pid_t copy;

	setup(&w, argv, "ready");
	usleep(2500 * 1000); /* every page written once */
	migrate(&w, "--postcopy always", &c);
	cr_expect_gt(c.left, 0, "no dirty set left at the switch");
	/* A fault on a page whose background piece is on its way asks it again. */
	cr_expect_leq(c.served, c.left + c.faults,
		      "the source served %llu pages, it alone held %llu (%llu for faults)",
		      c.served, c.left, c.faults);
	cr_expect_eq(c.asked, c.served, "the destination asked %llu, the source served %llu",
		     c.asked, c.served);
	cr_expect_lt(c.served, 4096 / 2, "%llu of 4096 pages pulled after the switch", c.served);
	cr_expect_gt(c.here, 4096 / 2, "only %llu pages read from the rounds here", c.here);
	copy = host_pid_of(w.pid);
	cr_assert_gt(copy, 0, "no process is pid %d in a child namespace", w.pid);
	t_expect_verdict(w.out, copy, SIGUSR1, "verify ok", "verify BAD", VERDICT_MS);
	teardown(&w);
}
