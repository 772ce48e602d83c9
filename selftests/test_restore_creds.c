// SPDX-License-Identifier: MIT
/*
 * A restored process keeps its creds, rlimits and cwd.
 * (Suite restore: its TestSuite is in test_restore.c; helpers in
 * restore_helpers.c.)
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <grp.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "helpers.h"
#include "restore_helpers.h"

/* ---- creds, rlimits, cwd ----------------------------------------------------------- */

/* A counter running as nobody, with its own RLIMIT_NOFILE and cwd. */
static pid_t spawn_as_nobody(const char *dir, const char *out_path)
{
	pid_t pid = fork();

	cr_assert_geq(pid, 0);
	if (!pid) {
		struct rlimit rl = { 777, 888 };
		int out = open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int in = open("/dev/null", O_RDONLY);

		if (out < 0 || in < 0 || chdir(dir) || setrlimit(RLIMIT_NOFILE, &rl))
			_exit(126);
		dup2(in, 0);
		dup2(out, 1);
		dup2(out, 2);
		syscall(SYS_close_range, 3, ~0u, 0);
		setpgid(0, 0);
		if (setgroups(0, NULL) || setresgid(65534, 65534, 65534) ||
		    setresuid(65534, 65534, 65534))
			_exit(125);
		execl(t_workload("counter"), "counter", (char *)NULL);
		_exit(127);
	}
	return pid;
}

Test(restore, creds_rlimits_cwd)
{
	char link[64], cwd[600], *line;
	struct rst_rw w;
	ssize_t n;

	rst_rw_init(&w);
	w.pid = spawn_as_nobody(w.dir, w.out);
	line = t_wait_line(w.out, "checksum", 10000);
	cr_assert_not_null(line, "the counter did not start as nobody");
	free(line);
	for (int round = 0; round < 2; round++) {
		int before;

		rst_dump_kill_restore(&w);
		cr_assert_eq(t_proc_field(w.pid, "Uid"), 65534, "uid not restored");
		cr_assert_eq(t_proc_field(w.pid, "Gid"), 65534, "gid not restored");
		{
			char path[64], *st, *p;

			snprintf(path, sizeof(path), "/proc/%d/status", w.pid);
			st = t_read_file(path, NULL);
			cr_assert_not_null(st);
			p = strstr(st, "Uid:");
			cr_assert(p && !strncmp(p, "Uid:\t65534\t65534\t65534\t65534", 27), "%s",
				  st);
			p = strstr(st, "CapEff:");
			cr_assert(p && !strncmp(p, "CapEff:\t0000000000000000", 24),
				  "restored with capabilities: %s", st);
			p = strstr(st, "Groups:");
			cr_assert_not_null(p);
			p += 7;
			p += strspn(p, " \t");
			cr_assert_eq(*p, '\n', "supplementary groups restored wrong: %s", st);
			free(st);
		}
		{
			/* /proc, not prlimit(2): root here lacks CAP_SYS_RESOURCE. */
			char path[64], *lim, *p;
			unsigned long cur = 0, max = 0;

			snprintf(path, sizeof(path), "/proc/%d/limits", w.pid);
			lim = t_read_file(path, NULL);
			p = lim ? strstr(lim, "Max open files") : NULL;
			cr_assert_not_null(p);
			cr_assert_eq(sscanf(p + 26, "%lu %lu", &cur, &max), 2, "%s", p);
			cr_assert_eq(cur, 777, "RLIMIT_NOFILE soft %lu", cur);
			cr_assert_eq(max, 888, "RLIMIT_NOFILE hard %lu", max);
			free(lim);
		}
		snprintf(link, sizeof(link), "/proc/%d/cwd", w.pid);
		n = readlink(link, cwd, sizeof(cwd) - 1);
		cr_assert_gt(n, 0);
		cwd[n] = '\0';
		cr_assert_str_eq(cwd, w.dir, "cwd not restored");
		before = t_count_lines(w.out, "checksum");
		for (int i = 0; i < 300 && t_count_lines(w.out, "checksum") <= before; i++)
			usleep(10000);
		cr_assert_gt(t_count_lines(w.out, "checksum"), before,
			     "the restored counter makes no progress");
	}
	rst_rw_stop(&w);
}
