// SPDX-License-Identifier: MIT
/*
 * Shared anonymous memory named with PR_SET_VMA_ANON_NAME (issue 18): the
 * maps show "[anon_shmem:NAME]" instead of "/dev/zero (deleted)", and the
 * dump must still take it as shared anonymous memory (CRIU finds it by the
 * device of its file; it keeps no name, and neither does ferry: vma_entry
 * has no field for it). The classification is checked on the maps line
 * itself; end to end with the anonshm workload where the kernel can name
 * shared memory (CONFIG_ANON_VMA_NAME), else skipped with the reason.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dump_mm.h"
#include "helpers.h"
#include "proc_parse.h"

TestSuite(anon_shmem_named, .timeout = 60);

/* Parse one smaps-style record of @line and classify it. */
static int classify_line(const char *line, struct vma_rec *r)
{
	char buf[512];
	struct vma_rec *v = NULL;
	size_t n = 0;
	FILE *f;
	int err;

	snprintf(buf, sizeof(buf), "%s\nVmFlags: rd wr sh mr mw me ms sd\n", line);
	f = fmemopen(buf, strlen(buf), "r");
	cr_assert_not_null(f);
	err = proc_parse_smaps_stream(f, "test", getpid(), getpid(), &v, &n);
	fclose(f);
	cr_assert_eq(err, 0, "parse: %s", strerror(-err));
	cr_assert_eq(n, 1);
	*r = v[0];
	free(v);
	return dump_mm_is_shmem_anon(r);
}

Test(anon_shmem_named, the_named_maps_line_is_shared_anonymous_memory)
{
	struct vma_rec r;

	cr_assert(classify_line("7f0000000000-7f0000004000 rw-s 00000000 00:01 4242"
				"                       [anon_shmem:ferry-named]",
				&r),
		  "path '%s' kind %#x", r.path, r.kind);
	cr_assert_eq(r.ino, 4242);
	cr_assert(classify_line("7f0000000000-7f0000004000 rw-s 00000000 00:01 4242"
				"                       /dev/zero (deleted)",
				&r));
	/* Not shared anonymous memory: a memfd, a file named like it, private "[anon:x]". */
	cr_assert(!classify_line("7f0000000000-7f0000004000 rw-s 00000000 00:01 4242"
				 "                       /memfd:x (deleted)",
				 &r));
	cr_assert(!classify_line("7f0000000000-7f0000004000 rw-s 00000000 08:01 4242"
				 "                       /tmp/[anon_shmem:x",
				 &r));
	cr_assert(!classify_line("7f0000000000-7f0000004000 rw-p 00000000 00:00 0"
				 "                       [anon:x]",
				 &r));
}

Test(anon_shmem_named, named_shared_memory_is_dumped_and_shared_again)
{
	const char *argv[] = { "anonshm", NULL };
	char *dir, out[512], img[600], *line, *err = NULL, maps[64], *text;
	int named = 0, rc;
	pid_t pid, child = 0;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	dir = t_tmpdir();
	cr_assert_not_null(dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(img, sizeof(img), "%s/img", dir);
	pid = t_spawn(out, argv);
	cr_assert_gt(pid, 0);
	line = t_wait_line(out, "ready", 10000);
	cr_assert_not_null(line);
	cr_assert_eq(sscanf(line, "anonshm: pid %*d child %d named %d", &child, &named), 2, "%s",
		     line);
	if (!named) {
		kill(pid, SIGKILL);
		kill(child, SIGKILL);
		while (waitpid(-1, NULL, 0) >= 0 || errno == EINTR)
			;
		t_rmrf(dir);
		free(dir);
		cr_skip_test("this kernel cannot name shared anonymous memory "
			     "(PR_SET_VMA_ANON_NAME: %s; CONFIG_ANON_VMA_NAME off?)",
			     line);
	}
	free(line);
	snprintf(maps, sizeof(maps), "/proc/%d/maps", pid);
	text = t_read_file(maps, NULL);
	cr_assert(text && strstr(text, "[anon_shmem:ferry-named]"), "%s", text ? text : "");
	free(text);
	t_expect_verdict(out, pid, SIGUSR1, "anonshm: verify ok", "verify BAD", 10000);
	rc = t_run(NULL, &err, "%s dump -t %d -D %s", t_ferry_bin(), pid, img);
	cr_assert_eq(rc, 0, "dump: %s", err ? err : "");
	free(err);
	cr_assert_eq(waitpid(pid, NULL, 0), pid);
	cr_assert_eq(waitpid(child, NULL, 0), child);
	err = NULL;
	rc = t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), img);
	cr_assert_eq(rc, 0, "restore: %s", err ? err : "");
	free(err);
	t_expect_verdict(out, pid, SIGUSR1, "anonshm: verify ok", "verify BAD", 10000);
	kill(pid, SIGKILL);
	kill(child, SIGKILL);
	while (waitpid(-1, NULL, 0) >= 0 || errno == EINTR)
		;
	t_rmrf(dir);
	free(dir);
}
