// SPDX-License-Identifier: MIT
/*
 * A real program on unix sockets (issue 19): a python3 asyncio event loop.
 * It wakes itself through a socketpair (its self-pipe, also the signal
 * wakeup fd of loop.add_signal_handler) and waits in epoll. It counts with
 * call_later and answers SIGUSR1 through the loop; after a dump and a
 * restore it goes on counting from where it was (no number skipped or
 * repeated in its output) and still answers the signal.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

TestSuite(unixsk_asyncio, .timeout = 120);

static const char script[] = "import asyncio, signal\n"
			     "n = 0\n"
			     "def tick(loop):\n"
			     "    global n\n"
			     "    n += 1\n"
			     "    print('asyncio: tick %d' % n, flush=True)\n"
			     "    loop.call_later(0.02, tick, loop)\n"
			     "def usr1():\n"
			     "    print('asyncio: usr1 ok at %d' % n, flush=True)\n"
			     "loop = asyncio.new_event_loop()\n"
			     "loop.add_signal_handler(signal.SIGUSR1, usr1)\n"
			     "loop.call_soon(tick, loop)\n"
			     "print('asyncio: ready', flush=True)\n"
			     "loop.run_forever()\n";

static pid_t spawn_python(const char *py, const char *out)
{
	pid_t pid = fork();

	if (pid)
		return pid;
	int fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd < 0 || null < 0 || dup2(null, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		_exit(127);
	setpgid(0, 0);
	syscall(SYS_close_range, 3, ~0u, 0);
	execlp("python3", "python3", py, (char *)NULL);
	_exit(127);
}

/* The ticks of @out are 1, 2, 3, ... with none missing or repeated; returns the last. */
static int ticks_in_order(const char *out)
{
	char *text = t_read_file(out, NULL), *p;
	int want = 1, n;

	cr_assert_not_null(text);
	for (p = text; (p = strstr(p, "asyncio: tick ")); p++) {
		cr_assert_eq(sscanf(p, "asyncio: tick %d", &n), 1);
		cr_assert_eq(n, want, "tick %d where %d was due:\n%s", n, want, text);
		want++;
	}
	free(text);
	return want - 1;
}

Test(unixsk_asyncio, event_loop_keeps_counting_after_restore)
{
	char *dir, py[600], out[600], img[600], *err = NULL, *line;
	struct timespec ms100 = { 0, 100 * 1000 * 1000 };
	int rc, status, before, after;
	pid_t pid;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	if (t_run(NULL, NULL, "python3 -c 'import asyncio'"))
		cr_skip_test("no python3 with asyncio here");
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	dir = t_tmpdir();
	cr_assert_not_null(dir);
	snprintf(py, sizeof(py), "%s/loop.py", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(img, sizeof(img), "%s/img", dir);
	cr_assert_eq(t_write_file(py, script, strlen(script)), 0);
	pid = spawn_python(py, out);
	cr_assert_gt(pid, 0);
	line = t_wait_line(out, "asyncio: tick 5", 20000);
	cr_assert_not_null(line, "python3 asyncio never counted to 5");
	free(line);
	t_expect_verdict(out, pid, SIGUSR1, "asyncio: usr1 ok", NULL, 10000);
	rc = t_run(NULL, &err, "%s dump -t %d -D %s", t_ferry_bin(), pid, img);
	cr_assert_eq(rc, 0, "dump of python3 (pid %d) failed: %s", pid, err ? err : "");
	free(err);
	err = NULL;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	before = ticks_in_order(out);
	rc = t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), img);
	cr_assert_eq(rc, 0, "restore of python3 failed: %s", err ? err : "");
	free(err);
	for (int i = 0; i < 50 && ticks_in_order(out) < before + 10; i++)
		nanosleep(&ms100, NULL);
	after = ticks_in_order(out);
	cr_assert_geq(after, before + 10, "python3 counted %d before the dump, %d after", before,
		      after);
	/* The signal wakes the loop through its socketpair, restored. */
	t_expect_verdict(out, pid, SIGUSR1, "asyncio: usr1 ok", NULL, 10000);
	cr_log_info("python3 asyncio: %d ticks before the dump, %d after the restore", before,
		    after);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	t_rmrf(dir);
	free(dir);
}
