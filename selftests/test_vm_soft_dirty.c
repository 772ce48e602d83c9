// SPDX-License-Identifier: MIT
/*
 * The soft-dirty tracker, end to end, where it is the one ferry picks: in a
 * qemu guest on Debian 12's 6.1 kernel (soft-dirty on; no uffd WP_ASYNC, no
 * PAGEMAP_SCAN). This machine's kernel has no soft-dirty, so these are the
 * only runs of that path. Real ptrace, pagemap, BPF inside the guest.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "vm_helpers.h"

TestSuite(vm_soft_dirty, .timeout = 600);

/* The value after @key on the line starting with @line_prefix, or -1. */
static long long field_after(const char *text, const char *line_prefix, const char *key)
{
	const char *p = text;
	size_t n = strlen(line_prefix);

	for (; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		const char *k, *eol = strchrnul(p, '\n');

		if (strncmp(p, line_prefix, n))
			continue;
		k = strstr(p, key);
		if (k && k < eol)
			return strtoll(k + strlen(key), NULL, 10);
	}
	return -1;
}

/* The part of @out between "== @name" and the next "== " line (malloc'd). */
static char *section(const char *out, const char *name)
{
	char mark[64];
	const char *p, *e;

	snprintf(mark, sizeof(mark), "== %s\n", name);
	p = strstr(out, mark);
	cr_assert_not_null(p, "no section '%s' in the guest's output:\n%s", name, out);
	p += strlen(mark);
	e = strstr(p, "\n== ");
	return strndup(p, e ? (size_t)(e - p + 1) : strlen(p));
}

/* The soft_dirty suite of the test binary itself, on a kernel where none of it is skipped. */
Test(vm_soft_dirty, unit_tests_run_in_the_guest)
{
	char extra[PATH_MAX + 64], *out;
	const char *b = getenv("FERRY_BUILD");
	int rc;

	snprintf(extra, sizeof(extra), "-f '%s/selftests/ferry-tests:/bin/ferry-tests'",
		 b ? b : "build");
	rc = vm_run("ferry-tests --filter 'soft_dirty/*' -j1 --verbose 2>&1\n", extra, &out);
	cr_expect_eq(rc, 0, "ferry-tests failed in the guest:\n%s", out);
	cr_expect(strstr(out, "Tested: 3 | Passing: 3 | Failing: 0 | Crashing: 0"),
		  "not every soft_dirty test passed in the guest:\n%s", out);
	cr_expect_null(strstr(out, "[SKIP] soft_dirty::"), "a test was skipped in the guest:\n%s",
		       out);
	free(out);
}

/*
 * An idle process: the second round copies (almost) nothing. A busy writer
 * that maps, unmaps, moves and drops memory: three pre-dumps and a dump,
 * restored from the chain, must hold exactly its last writes (it checks).
 */
static const char chain_script[] =
	"ulimit -Sn 1024\n"
	"cd /tmp\n"
	"wait_for() { for i in $(seq 300); do grep -q \"$2\" \"$1\" && return 0; sleep 0.1; done; "
	"return 1; }\n"
	"echo '== idle'\n"
	"memhog 16 > hog.out 2>&1 &\n"
	"hog=$!\n"
	"wait_for hog.out ready || exit 20\n"
	"ferry pre-dump -t $hog -D /tmp/h1 -v3 2>&1 || exit 21\n"
	"ferry track -t $hog --status --json\n"
	"ferry pre-dump -t $hog -D /tmp/h2 --prev-images-dir ../h1 -v3 2>&1 || exit 22\n"
	"ferry track -t $hog --stop 2>&1 || exit 23\n"
	"ferry track -t $hog --status --json\n"
	"kill -9 $hog; wait $hog\n"
	"echo '== chain'\n"
	"scribbler 4096 16 > s.out 2>&1 &\n"
	"pid=$!\n"
	"wait_for s.out ready || exit 30\n"
	"ferry pre-dump -t $pid -D /tmp/c1 -v3 2>&1 || exit 31\n"
	"sleep 0.5\n"
	"ferry pre-dump -t $pid -D /tmp/c2 --prev-images-dir ../c1 -v3 2>&1 || exit 32\n"
	"sleep 0.5\n"
	"ferry pre-dump -t $pid -D /tmp/c3 --prev-images-dir ../c2 -v3 2>&1 || exit 33\n"
	"sleep 0.5\n"
	"ferry dump -t $pid -D /tmp/c4 --prev-images-dir ../c3 -v3 2>&1 || exit 34\n"
	"wait $pid\n"
	"ferry restore -D /tmp/c4 -d --pidfile /tmp/c.pid 2>&1 || exit 35\n"
	"echo \"restored pid $(cat /tmp/c.pid) was $pid\"\n"
	"kill -USR1 $pid\n"
	"wait_for s.out 'verify' || exit 36\n"
	"grep verify s.out\n"
	"kill -9 $pid\n"
	"echo '== end'\n";

Test(vm_soft_dirty, predump_chain_restores_a_busy_writer)
{
	char *out, *idle, *chain;
	long long first, second, parent;
	int rc;

	rc = vm_run(chain_script, NULL, &out);
	cr_assert_eq(rc, 0, "the guest script failed (exit %d):\n%s", rc, out);
	idle = section(out, "idle");
	chain = section(out, "chain");

	cr_expect(strstr(idle, "tracking armed with soft-dirty bits"), "idle:\n%s", idle);
	cr_expect(strstr(idle, "\"mode\": \"soft-dirty\""), "track --status:\n%s", idle);
	cr_expect(strstr(idle, "\"tracked\": false"), "still tracked after --stop:\n%s", idle);
	first = field_after(idle, "pages written ", "pages written ");
	cr_expect_geq(first, 16 * 256 - 16 * 256 / 64, "first round copied %lld pages:\n%s", first,
		      idle);
	/* The second "pages written" line: the idle round. */
	{
		const char *p = strstr(idle, "pages written ");

		p = p ? strstr(p + 1, "pages written ") : NULL;
		cr_assert_not_null(p, "no second round:\n%s", idle);
		second = strtoll(p + strlen("pages written "), NULL, 10);
		parent = field_after(p, "pages written ", "in the parent images ");
	}
	cr_expect_lt(second, 64, "an idle process had %lld pages copied again:\n%s", second, idle);
	cr_expect_geq(parent, 16 * 256 - 16 * 256 / 64, "only %lld pages left to the parent",
		      parent);
	cr_expect(strstr(idle, "pages written since the last round (soft-dirty)"),
		  "the round does not say it used soft-dirty:\n%s", idle);

	cr_expect(strstr(chain, "verify ok"), "the restored writer did not verify:\n%s", chain);
	cr_expect_null(strstr(chain, "verify BAD"), "the restored writer is wrong:\n%s", chain);
	{
		long long now = -1, was = -2;
		const char *p = strstr(chain, "restored pid ");

		if (p)
			sscanf(p, "restored pid %lld was %lld", &now, &was);
		cr_expect_eq(now, was, "restored with another pid:\n%s", chain);
	}
	cr_expect(strstr(chain, "in the parent images"), "chain:\n%s", chain);
	free(idle);
	free(chain);
	free(out);
}

/*
 * dirtyrate on soft-dirty: QEMU's mode field, BPF agreeing, and the pages
 * counted are the pages the dirtier logged writing in the same intervals
 * (an emulated CPU keeps no pace: the count is checked, not the rate).
 */
Test(vm_soft_dirty, dirtyrate_counts_what_the_writer_wrote)
{
	static const char script[] = "cd /tmp\n"
				     "dirtier --rate 500 --pages 4096 --log /tmp/w > d.out 2>&1 &\n"
				     "pid=$!\n"
				     "for i in $(seq 300); do grep -q ready d.out && break; "
				     "sleep 0.1; done\n"
				     "ferry dirtyrate -t $pid --interval 500 --duration 3 --json "
				     "> r.json || exit 40\n"
				     "kill -TERM $pid; wait $pid || exit 41\n"
				     "echo '== ready'; grep ready d.out\n"
				     "echo '== json'; cat r.json; echo\n"
				     "echo '== writes'; od -An -tu8 -v /tmp/w\n"
				     "echo '== end'\n";
	unsigned long long base = 0, pages = 0, wrote, buf, all, v;
	char *out, *ready, *json, *writes, *dir, jpath[PATH_MAX], lpath[PATH_MAX], *p, *e;
	int rc, nr, equal;
	FILE *f;

	rc = vm_run(script, NULL, &out);
	cr_assert_eq(rc, 0, "the guest script failed (exit %d):\n%s", rc, out);
	cr_expect(strstr(out, "\"mode\":\"soft-dirty\""), "mode:\n%s", out);
	cr_expect(strstr(out, "\"method\":\"soft-dirty+pagemap\""), "method:\n%s", out);
	ready = section(out, "ready");
	json = section(out, "json");
	writes = section(out, "writes");
	cr_assert_eq(sscanf(ready, "ready %llx %llu", &base, &pages), 2, "ready: %s", ready);
	dir = t_tmpdir();
	snprintf(jpath, sizeof(jpath), "%s/r.json", dir);
	snprintf(lpath, sizeof(lpath), "%s/w", dir);
	cr_assert_eq(t_write_file(jpath, json, strlen(json)), 0);
	f = fopen(lpath, "w");
	cr_assert(f);
	for (p = writes; (v = strtoull(p, &e, 10)), e != p; p = e)
		cr_assert_eq(fwrite(&v, sizeof(v), 1, f), 1);
	cr_assert_eq(fclose(f), 0);
	t_dirtyrate_vs_log(jpath, lpath, pages, base, &wrote, &buf, &all, &nr, &equal);
	cr_log_info("vm: %llu pages written in %d intervals, ferry counted %llu (soft-dirty)",
		    wrote, nr, buf);
	cr_expect_geq(nr, 5);
	cr_expect(buf + nr + 1 >= wrote && buf <= wrote + nr + 1,
		  "ferry counted %llu pages, the dirtier wrote %llu in the same %d intervals:\n%s",
		  buf, wrote, nr, json);
	cr_expect(equal, "BPF and the soft-dirty scan differ in some interval:\n%s", json);
	t_rmrf(dir);
	free(dir);
	free(ready);
	free(json);
	free(writes);
	free(out);
}
