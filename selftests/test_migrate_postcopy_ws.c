// SPDX-License-Identifier: MIT
/*
 * Post-copy's working set: the destination's background fills the pages
 * the tree wrote last first (the last dirty set, which only the source
 * holds, then the last pre-copy rounds), then the rest in address order
 * (--postcopy-order recent, the default; address: the address walk only).
 * A hotset workload (64 MiB, 1024 scattered pages rewritten every 100 ms) is
 * migrated with --postcopy always under each order; right after the verdict
 * it is asked to read its hot set, timed by itself, and to verify its whole
 * memory. Checked: under "recent" the daemon started with the last dirty
 * set (the hot set and a few more: the pages only the source held but those
 * of private file mappings, written before the resume); both copies verify. Reported:
 * the hot set's read time and the faults under each order.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "migrate_helpers.h"

struct wsrun {
	unsigned long long hot_us, left, level0, faults;
	int recent_line;
};

static void one(const char *order, struct wsrun *res)
{
	const char *argv[] = { "hotset", "64", "1024", "100", NULL };
	char *dir = t_tmpdir(), wout[512], mout[600], secret[600], pid_s[16], *line, *log, *out;
	char args[64];
	struct t_netns ns;
	struct dest d = { 0 };
	pid_t pid, mig, copy;
	int r = t_netns_up(&ns), status = 0;
	const char *p;

	if (r == 1)
		cr_skip_test("cannot make a network namespace (ip netns add)");
	cr_assert_eq(r, 0, "network namespace setup failed");
	memset(res, 0, sizeof(*res));
	snprintf(wout, sizeof(wout), "%s/w.out", dir);
	snprintf(mout, sizeof(mout), "%s/migrate.out", dir);
	snprintf(secret, sizeof(secret), "%s/secret", dir);
	write_secret(secret, "the working set's secret 32 byte");
	pid = t_spawn_ready(wout, argv, "ready", 20000, NULL);
	snprintf(args, sizeof(args), "--postcopy-order %s", order);
	cr_assert_eq(start_dest_args(&d, ns.name, ns.there, dir, NULL, secret, args), 0,
		     "the destination did not start");
	snprintf(pid_s, sizeof(pid_s), "%d", pid);
	mig = fork();
	if (mig == 0) {
		const char *margv[] = { "ferry", "migrate",    "-t",	 pid_s,
					"--to",	 d.host_port,  "--json", "--secret-file",
					secret,	 "--postcopy", "always", NULL };
		FILE *f = freopen(mout, "w", stdout);

		if (!f || dup2(1, 2) < 0)
			_exit(127);
		syscall(SYS_close_range, 3, ~0u, 0);
		execv(t_ferry_bin(), (char *const *)margv);
		_exit(127);
	}
	cr_assert_gt(mig, 0);
	/* The verdict: the copy runs, its pages are coming. */
	line = t_wait_line(mout, "\"event\":\"done\"", 60000);
	cr_assert(line, "no verdict:\n%s", t_read_file(mout, NULL));
	free(line);
	copy = host_pid_of(pid);
	cr_assert_gt(copy, 0, "no process is pid %d in a child namespace", pid);
	kill(copy, SIGUSR1);
	line = t_wait_line(wout, "hotset: hot set read in", 30000);
	cr_assert(line, "the copy did not read its hot set:\n%s", t_read_file(wout, NULL));
	cr_expect(strstr(line, "verify ok"), "%s", line);
	cr_assert_eq(sscanf(strstr(line, "read in"), "read in %llu us", &res->hot_us), 1);
	free(line);
	cr_assert_eq(waitpid(mig, &status, 0), mig);
	out = t_read_file(mout, NULL);
	log = t_read_file(d.log, NULL);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "ferry migrate ended 0x%x:\n%s\ndestination:\n%s", status, out, log);
	p = strstr(out, "\"pages_left\":");
	cr_assert(p && sscanf(p, "\"pages_left\":%llu", &res->left) == 1, "%s", out);
	p = log ? strstr(log, "the newest levels first: ") : NULL;
	res->recent_line = p != NULL;
	if (p)
		cr_assert_eq(sscanf(p, "the newest levels first: %llu pages", &res->level0), 1,
			     "%s", p);
	p = log ? strstr(log, "lazy-pages: done:") : NULL;
	if (p && (p = strstr(p, "after resume: ")))
		sscanf(p, "after resume: %llu fault", &res->faults);
	cr_log_info("--postcopy-order %s: hot set (1024 pages) read in %llu us after the verdict, "
		    "%llu fault(s); %llu pages only the source held",
		    order, res->hot_us, res->faults, res->left);
	free(out);
	free(log);
	kill_dest(&d);
	t_netns_down(&ns);
	waitpid(pid, NULL, 0);
	t_rmrf(dir);
	free(dir);
}

Test(migrate_postcopy_ws, recent_first_then_address_order, .timeout = 240)
{
	struct wsrun recent, address;

	one("recent", &recent);
	one("address", &address);
	cr_expect(recent.recent_line, "the daemon did not start with the newest levels");
	/* The source held those and the few pages of private file mappings (filled eagerly). */
	cr_expect(recent.level0 >= 1024 && recent.level0 <= recent.left,
		  "%llu pages of the last dirty set first, the source alone held %llu",
		  recent.level0, recent.left);
	cr_expect(!address.recent_line, "--postcopy-order address started with the newest levels");
	cr_log_info("hot set read after resume: %llu us with the newest levels first, %llu us in "
		    "address order (%llu and %llu faults)",
		    recent.hot_us, address.hot_us, recent.faults, address.faults);
}
