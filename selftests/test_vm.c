// SPDX-License-Identifier: MIT
/*
 * ferry in a qemu VM on Debian 12's 6.1 cloud kernel, which has soft-dirty
 * but lacks uffd WP_ASYNC and PAGEMAP_SCAN (scripts/vm-kernel.sh fetches it,
 * scripts/vm-run.sh boots it with selftests/vm/init.c as PID 1). vm_run() is
 * shared with other suites through vm_helpers.h. Skipped when qemu or the
 * kernel package cannot be had.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <dirent.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "vm_helpers.h"

TestSuite(vm, .timeout = 600);

/* Guest-side timeout of one vm_run (vm-run.sh -t), under the suite's. */
#define VM_TIMEOUT_S 300

static char vm_kver[128];

const char *vm_kernel_version(void)
{
	return vm_kver[0] ? vm_kver : NULL;
}

static const char *vm_build_dir(void)
{
	const char *b = getenv("FERRY_BUILD");

	return b ? b : "build";
}

/* The source tree: the cwd when tests run from it (run-tests.sh), else FERRY_BUILD/.. */
static const char *vm_repo(void)
{
	static char repo[PATH_MAX];
	char *slash;

	if (!access("scripts/vm-run.sh", R_OK))
		return ".";
	if (!realpath(vm_build_dir(), repo))
		return ".";
	slash = strrchr(repo, '/');
	if (slash && slash != repo)
		*slash = '\0';
	return repo;
}

/* Strip trailing newlines and blanks in place. */
static char *chomp(char *s)
{
	size_t n = s ? strlen(s) : 0;

	while (n && (s[n - 1] == '\n' || s[n - 1] == ' ' || s[n - 1] == '\r'))
		s[--n] = '\0';
	return s;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int vm_run(const char *script_text, const char *extra, char **out)
{
	const char *build = vm_build_dir(), *repo = vm_repo();
	char *kout = NULL, *kerr = NULL, *verr = NULL, *dir, *ver;
	char init[PATH_MAX], script[PATH_MAX], path[PATH_MAX];
	double t0;
	int rc;

	*out = NULL;
	if (t_run(NULL, NULL, "command -v qemu-system-x86_64"))
		cr_skip_test("qemu-system-x86_64 is not installed (scripts/install-deps.sh)");
	rc = t_run(&kout, &kerr, "bash '%s/scripts/vm-kernel.sh' '%s'", repo, build);
	if (rc == 2)
		cr_skip_test("no kernel for the VM: %s", chomp(kerr));
	cr_assert_eq(rc, 0, "scripts/vm-kernel.sh %s: exit %d: %s", build, rc, kerr ? kerr : "");
	chomp(kout);
	snprintf(path, sizeof(path), "%s/vm/kernel-version", build);
	ver = t_read_file(path, NULL);
	cr_assert_not_null(ver, "%s: not written by vm-kernel.sh", path);
	snprintf(vm_kver, sizeof(vm_kver), "%s", chomp(ver));
	free(ver);

	snprintf(init, sizeof(init), "%s/vm/init", build);
	cr_assert(!access(init, X_OK), "%s is missing: make BUILD=%s %s", init, build, init);
	dir = t_tmpdir();
	cr_assert_not_null(dir);
	snprintf(script, sizeof(script), "%s/test.sh", dir);
	cr_assert_eq(t_write_file(script, script_text, strlen(script_text)), 0, "%s", script);

	t0 = now_s();
	rc = t_run(
		out, &verr,
		"bash '%s/scripts/vm-run.sh' -k '%s' -i '%s' -o '%s/vm' -t %d -f '%s:/bin/ferry' "
		"-f '%s/workloads:/bin' %s '%s'",
		repo, kout, init, dir, VM_TIMEOUT_S, t_ferry_bin(), build, extra ? extra : "",
		script);
	cr_log_info("vm: %s booted, ran the script and powered off in %.1f s (exit %d)", vm_kver,
		    now_s() - t0, rc);
	/* vm-run.sh says "guest exited N" only when the guest reported N. */
	cr_assert(rc >= 0 && verr && strstr(verr, "vm-run: guest exited"),
		  "vm-run.sh exit %d (VM files kept in %s/vm):\n%s", rc, dir, verr ? verr : "");
	cr_assert_not_null(*out);
	free(kout);
	free(kerr);
	free(verr);
	t_rmrf(dir);
	free(dir);
	return rc;
}

/* Whether @text has a line that is exactly @line. */
static int has_line(const char *text, const char *line)
{
	size_t n = strlen(line);
	const char *p;

	for (p = text; (p = strstr(p, line)); p++)
		if ((p == text || p[-1] == '\n') && (p[n] == '\n' || !p[n]))
			return 1;
	return 0;
}

/* A feature's state in `ferry check`'s text: 1 ok, 0 missing, -1 not listed. */
static int check_state(const char *text, const char *name)
{
	char state[16], feat[64];
	const char *p;

	for (p = text; p && *p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
		if (sscanf(p, "%15s %63s", state, feat) != 2 || strcmp(feat, name))
			continue;
		if (!strcmp(state, "ok"))
			return 1;
		if (!strcmp(state, "missing"))
			return 0;
	}
	return -1;
}

Test(vm, ferry_check_on_debian_6_1)
{
	const char *kver;
	char *out;
	int rc;

	rc = vm_run("uname -r\nferry check\n", NULL, &out);
	kver = vm_kernel_version();
	cr_assert(kver && !strncmp(kver, "6.1.", 4), "not a 6.1 kernel: %s", kver ? kver : "?");
	cr_assert(has_line(out, kver), "guest did not run %s:\n%s", kver, out);

	cr_assert_eq(check_state(out, "soft-dirty"), 1, "soft-dirty not ok on %s:\n%s", kver, out);
	cr_assert_eq(check_state(out, "uffd-wp-async"), 0, "uffd-wp-async not missing:\n%s", out);
	cr_assert_eq(check_state(out, "pagemap-scan"), 0, "pagemap-scan not missing:\n%s", out);
	cr_expect_eq(check_state(out, "procmap-query"), 0, "procmap-query not missing:\n%s", out);
	cr_expect(strstr(out, "no PROCMAP_QUERY ioctl on /proc/PID/maps (before 6.11)"),
		  "procmap-query does not say why:\n%s", out);

	/* With soft-dirty, the uffd-wp flow is not required: ferry can run here. */
	cr_assert_eq(rc, 0, "ferry check exited %d on %s:\n%s", rc, kver, out);
	cr_assert(strstr(out, "every required feature is present"), "summary:\n%s", out);
	cr_expect(strstr(out, "dirty tracking for pre-dump and dirtyrate: soft-dirty bits\n"),
		  "ferry check does not name the tracker:\n%s", out);
	cr_expect(strstr(out, "not needed: soft-dirty tracks dirty pages instead"),
		  "the missing uffd-wp features do not say why they are not needed:\n%s", out);
	free(out);
}

/* Occurrences of @needle in @text. */
static int count_str(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; (p = strstr(p, needle)); p += strlen(needle))
		n++;
	return n;
}

/*
 * Checkpoint here, restore there: on the 6.1 kernel (no PAGEMAP_SCAN: the
 * dump reads pagemap entries), a threaded workload and a patterned one are
 * dumped, restored eagerly and lazily (uffd MISSING, which 6.1 has), and
 * check themselves. From a shell with the usual 1024 fds. Output files are
 * opened O_APPEND: a restored process writes at its dumped file position.
 */
static const char restore_script[] =
	"ulimit -Sn 1024\n"
	"cd /tmp\n"
	"wait_for() { n=$3; for i in $(seq 300); do [ $(grep -c \"$2\" \"$1\") -gt $n ] && "
	"return 0; sleep 0.1; done; return 1; }\n"
	"memhog 32 >> m.out 2>&1 &\n"
	"pid=$!\n"
	"wait_for m.out ready 0 || exit 10\n"
	"ferry dump -t $pid -D /tmp/m 2>&1 || exit 11\n"
	"wait $pid\n"
	"echo '== eager'\n"
	"ferry restore -D /tmp/m -d 2>&1 || exit 12\n"
	"kill -USR1 $pid; wait_for m.out 'verify ok' 0 || exit 13\n"
	"kill -9 $pid\n"
	"echo '== lazy'\n"
	"ferry restore -D /tmp/m -d --lazy-pages 2>&1 || exit 14\n"
	"kill -USR1 $pid; wait_for m.out 'verify ok' 1 || exit 15\n"
	"kill -9 $pid\n"
	"echo '== threads'\n"
	"threads 4 >> t.out 2>&1 &\n"
	"tp=$!\n"
	"wait_for t.out ready 0 || exit 16\n"
	"ferry dump -t $tp -D /tmp/t 2>&1 || exit 17\n"
	"wait $tp\n"
	"ferry restore -D /tmp/t -d 2>&1 || exit 18\n"
	"grep -E '^(State|Threads)' /proc/$tp/status\n"
	"kill -USR1 $tp; wait_for t.out 'verify ok' 0 || exit 19\n"
	"kill -9 $tp\n"
	"echo '== output'\n"
	"cat m.out t.out\n";

Test(vm, dump_and_restore_on_debian_6_1)
{
	char *out;
	int rc;

	rc = vm_run(restore_script, NULL, &out);
	cr_assert_eq(rc, 0, "the guest script failed (exit %d):\n%s", rc, out);
	cr_expect_eq(count_str(out, "memhog: verify ok"), 2, "eager and lazy:\n%s", out);
	cr_expect_eq(count_str(out, "threads: verify ok"), 1, "threads:\n%s", out);
	cr_expect_null(strstr(out, "verify BAD"), "%s", out);
	cr_expect(strstr(out, "Threads:\t5"), "the threaded workload did not come back whole:\n%s",
		  out);
	free(out);
}

/*
 * The remote-syscall engine's own suite on 6.1, which has no PROCMAP_QUERY:
 * the vDSO is found by scanning the maps there, moved or not.
 */
Test(vm, remote_syscalls_on_debian_6_1)
{
	char extra[3 * PATH_MAX], *out;
	const char *b = getenv("FERRY_BUILD");
	int rc;

	b = b ? b : "build";
	snprintf(extra, sizeof(extra),
		 "-f '%s/selftests/ferry-tests:/bin/ferry-tests' "
		 "-f '%s/workloads/blocked:/w/workloads/blocked' "
		 "-f '%s/workloads/fpu:/w/workloads/fpu'",
		 b, b, b);
	/* Every rsys test but the kill campaign, which needs the repository's scripts. */
	rc = vm_run("FERRY_BUILD=/w FERRY_BIN=/bin/ferry ferry-tests "
		    "--filter 'rsys/!(kill_campaign_short)' -j1 --verbose 2>&1\n",
		    extra, &out);
	cr_expect_eq(rc, 0, "ferry-tests failed in the guest:\n%s", out);
	cr_expect(strstr(out, "Tested: 9 | Passing: 9 | Failing: 0 | Crashing: 0"),
		  "not every rsys test passed in the guest:\n%s", out);
	for (const char *p = out; (p = strstr(p, "[SKIP] rsys::")); p++)
		cr_expect(!strncmp(p + 13, "kill_campaign_short:", 20),
			  "a test was skipped in the guest:\n%s", out);
	free(out);
}
