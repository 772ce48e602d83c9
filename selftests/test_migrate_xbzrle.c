// SPDX-License-Identifier: MIT
/*
 * `ferry migrate --xbzrle` end to end: a workload that rewrites 8 bytes of
 * each of its pages over and over (rewriter) migrated with rounds that never
 * converge (downtime limit 0, 4 rounds), so rounds 2..4 and the final
 * section send pages again: they go as XBZRLE deltas and the rounds' bytes
 * are a small part of pages * 4096; the copy on the destination (its own pid
 * and mount namespaces) verifies every page. A destination that refuses
 * deltas (--no-xbzrle) gets the pages whole, and the copy verifies too.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "migrate_helpers.h"

#define VERDICT_MS 10000

/* The destination on loopback, in its own pid and mount namespaces, images in @dir/dest-img. */
static void start_local_dest(struct dest *d, const char *dir, const char *extra)
{
	char img[700];

	snprintf(img, sizeof(img), "%s/dest-img", dir);
	cr_assert_eq(start_dest_args(d, NULL, "127.0.0.1", dir, img, NULL, extra), 0,
		     "the destination did not start");
}

static unsigned long long json_u(const char *obj, const char *key)
{
	char pat[64];
	const char *at;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	at = strstr(obj, pat);
	cr_assert(at, "no %s in %s", key, obj);
	return strtoull(at + strlen(pat), NULL, 10);
}

/*
 * Migrate a rewriter with --xbzrle to a destination started with @dest_opts.
 * Returns the XBZRLE pages of rounds 2.. and fills *@ratio with their bytes
 * over (their pages * 4096).
 */
static unsigned long long migrate_rewriter(const char *dest_opts, double *ratio)
{
	const char *argv[] = { "rewriter", "4096", "20", NULL };
	unsigned long long xb = 0, pages = 0, bytes = 0;
	char outp[600], *dir = t_tmpdir(), *out = NULL, *err = NULL, *line, *obj;
	struct dest d = { 0 };
	int rc, status = 0;
	pid_t pid, copy;

	snprintf(outp, sizeof(outp), "%s/w.out", dir);
	pid = t_spawn_ready(outp, argv, "ready", 5000, NULL);
	cr_assert_gt(pid, 0, "rewriter did not start");
	start_local_dest(&d, dir, dest_opts);
	rc = t_run(&out, &err,
		   "%s migrate -t %d --to %s --xbzrle=32M --json --downtime-limit 0 "
		   "--max-rounds 4 -v3",
		   t_ferry_bin(), pid, d.host_port);
	cr_assert_eq(rc, 0, "ferry migrate failed (%d):\n%s\n%s\ndestination:\n%s", rc,
		     out ? out : "", err ? err : "", t_read_file(d.log, NULL));
	cr_log_info("migrate --xbzrle: %s", out);
	for (obj = strstr(out, "{\"event\":\"round\""); obj;
	     obj = strstr(obj + 1, "{\"event\":\"round\"")) {
		unsigned long long r = json_u(obj, "round");
		unsigned long long n = json_u(obj, "pages_full") + json_u(obj, "pages_zero") +
				       json_u(obj, "pages_xbzrle");

		if (r < 2)
			continue;
		xb += json_u(obj, "pages_xbzrle");
		pages += n;
		bytes += json_u(obj, "bytes");
	}
	*ratio = pages ? (double)bytes / ((double)pages * 4096) : 1;
	cr_log_info("rounds 2..: %llu pages (%llu xbzrle), %llu bytes: %.3f of pages * 4096", pages,
		    xb, bytes, *ratio);
	cr_assert_gt(pages, 1000, "rounds 2.. sent only %llu pages", pages);
	/* The source is gone once the destination said the tree runs. */
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_expect(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "the source ended 0x%x",
		  status);
	line = t_wait_line(d.out, "the tree runs, root pid", 5000);
	cr_assert(line, "the destination did not report the tree running");
	free(line);
	copy = host_pid_of(pid);
	cr_assert_gt(copy, 0, "no process is pid %d in a child namespace", pid);
	t_expect_verdict(outp, copy, SIGUSR1, "verify ok", "verify BAD", VERDICT_MS);
	free(out);
	free(err);
	kill_dest(&d);
	t_rmrf(dir);
	free(dir);
	return xb;
}

Test(migrate_xbzrle, rewriter_deltas)
{
	double ratio = 1;
	unsigned long long xb = migrate_rewriter("--timeout 60", &ratio);

	cr_expect_gt(xb, 1000, "only %llu pages went as deltas", xb);
	/* 8 bytes change in a page: its delta is 10 octets, its element ~14. */
	cr_expect_lt(ratio, 0.1, "rounds 2.. sent %.3f of their pages' size", ratio);
}

Test(migrate_xbzrle, destination_refuses)
{
	double ratio = 0;
	unsigned long long xb = migrate_rewriter("--no-xbzrle", &ratio);

	cr_expect_eq(xb, 0, "%llu deltas to a destination that refused them", xb);
	cr_expect_gt(ratio, 0.9, "pages sent whole, yet %.3f of their size", ratio);
}
