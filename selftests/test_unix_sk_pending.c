// SPDX-License-Identifier: MIT
/*
 * Connections not accepted yet (issue 19): the unixpend workload
 * (selftests/workloads/unixpend.c) listens, and two of its children connect
 * without being accepted. After a dump and a restore the listener accepts
 * both and each answers from the right child (kept as CRIU keeps them: the
 * client's entry names the listener as its peer, connected again at
 * restore). A child that sent bytes before being accepted is refused by
 * name (they sit in a socket without fd), and the tree runs on.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "tree_helpers.h"

#define VERDICT_MS 10000

TestSuite(unixsk_pending, .timeout = 60);

static void pend_start(struct t_tree *t, const char *mode)
{
	const char *argv[] = { "unixpend", NULL, mode, NULL };
	char *line;
	int k0, k1;

	t_tree_init(t);
	argv[1] = t->dir;
	line = t_tree_spawn(t, argv);
	cr_assert_eq(sscanf(line, "unixpend: pid %*d children %d %d ready", &k0, &k1), 2, "%s",
		     line);
	t->child = k0;
	free(line);
}

Test(unixsk_pending, two_pending_connections_accepted_after_restore)
{
	char *out = NULL, *err = NULL;
	struct t_tree t;
	int rc;

	pend_start(&t, NULL);
	t_tree_dump(&t, t.img, NULL);
	if (t_crit()) {
		rc = t_run(&out, &err, "%s decode --pretty -i %s/files.img", t_crit(), t.img);
		cr_assert_eq(rc, 0, "crit decode: %s", err ? err : "");
		cr_assert(strstr(out, "\"LISTEN\""), "crit sees no listener: %s", out);
		free(out);
		free(err);
	}
	t_tree_restore(&t, t.img, NULL);
	t_expect_verdict(t.out, t.pid, SIGUSR1, "unixpend: verify ok", "verify BAD", VERDICT_MS);
	t_tree_stop(&t);
}

Test(unixsk_pending, data_sent_before_accept_refused_by_name)
{
	char *err = NULL, pidfd[64];
	struct t_tree t;
	int rc;

	pend_start(&t, "data");
	rc = t_run(NULL, &err, "%s dump -t %d -D %s", t_ferry_bin(), t.pid, t.img);
	cr_assert_neq(rc, 0, "the dump was not refused");
	snprintf(pidfd, sizeof(pidfd), "pid %d fd ", t.child);
	cr_assert(err && strstr(err, pidfd), "the refusal names no child pid and fd: %s", err);
	cr_assert(strstr(err, "not accepted yet, with data sent into it"), "in: %s", err);
	free(err);
	t_expect_verdict(t.out, t.pid, SIGUSR1, "unixpend: verify ok", "verify BAD", VERDICT_MS);
	t_tree_stop(&t);
}
