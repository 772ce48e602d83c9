// SPDX-License-Identifier: MIT
/*
 * `ferry dump` when it fails (suite dump_faults): killed at each step, a full
 * disk, fds it refuses, every blocker of a tree named, a vanished pid, a
 * kernel thread, a shared address space, another pid namespace. The workload
 * must go on unharmed and no image be left behind. (Helpers in dump_helpers.c.)
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

#define PAGE 4096ull
#include "dump_helpers.h"

/* ---- failures: the target always continues, no image under a final name ---- */

static void fault_case(const char *point)
{
	const char *argv[] = { "counter", NULL };
	struct dt_wl w;
	char *err = NULL;
	int rc;

	dt_wl_start(&w, argv, "ready");
	rc = t_run(NULL, &err, "FERRY_FAULT=%s %s dump -t %d -D %s", point, t_ferry_bin(), w.pid,
		   w.img);
	cr_assert_neq(rc, 0, "ferry survived fault point %s", point);
	free(err);
	cr_assert_eq(dt_count_images(w.img), 0, "images left under final names after '%s'", point);
	dt_assert_running(&w, w.out, "counter:");
	/* A later dump into the same directory works and clears the leftovers. */
	cr_assert_eq(dt_ferry_dump(&w, "--leave-running", NULL), 0);
	cr_assert_gt(dt_count_images(w.img), 0);
	dt_wl_stop(&w);
}

Test(dump_faults, killed_while_frozen, .timeout = 60)
{
	fault_case("frozen");
}

Test(dump_faults, killed_after_core, .timeout = 60)
{
	fault_case("core");
}

Test(dump_faults, killed_after_files, .timeout = 60)
{
	fault_case("files");
}

Test(dump_faults, killed_after_memory, .timeout = 60)
{
	fault_case("mm");
}

Test(dump_faults, killed_before_rename, .timeout = 60)
{
	fault_case("images");
}

Test(dump_faults, killed_while_renaming, .timeout = 60)
{
	const char *argv[] = { "counter", NULL };
	struct dt_wl w;
	char inv[600], *err = NULL;

	dt_wl_start(&w, argv, "ready");
	cr_assert_neq(t_run(NULL, NULL, "FERRY_FAULT=rename %s dump -t %d -D %s", t_ferry_bin(),
			    w.pid, w.img),
		      0);
	/* Killed between moving the images and inventory.img: without it there is no dump. */
	snprintf(inv, sizeof(inv), "%s/inventory.img", w.img);
	cr_assert_neq(access(inv, F_OK), 0, "inventory.img exists after an interrupted dump");
	dt_assert_running(&w, w.out, "counter:");
	/*
	 * The next dump into the same directory undoes the killed publish (its
	 * journal lists what it moved) and its staging, and succeeds.
	 */
	cr_assert_eq(t_run(NULL, &err, "%s dump -t %d -D %s --leave-running", t_ferry_bin(), w.pid,
			   w.img),
		     0, "a dump after a killed publish: %s", err ? err : "");
	free(err);
	cr_assert_eq(access(inv, F_OK), 0);
	cr_assert_eq(t_run(NULL, NULL, "ls -A %s | grep -q '^\\.ferry-'", w.img), 1,
		     "a staging directory or journal is left in %s", w.img);
	cr_assert_gt(dt_check_all_images(w.img), 0);
	dt_assert_running(&w, w.out, "counter:");
	dt_wl_stop(&w);
}

/*
 * Images on a filesystem too small for the memory: the dump fails on the
 * pages file's reservation, says which file and why, leaves no image, and
 * the target runs on with its memory intact (CRIU's default mode, which
 * would kill it after a successful dump).
 */
Test(dump_faults, full_disk, .timeout = 60)
{
	const char *argv[] = { "memhog", "16", "5", NULL };
	struct dt_wl w;
	char *err = NULL;
	int ret;

	dt_wl_start(&w, argv, "ready");
	ret = t_small_fs(w.img, "1m");
	if (ret) {
		dt_wl_stop(&w);
		cr_skip_test("cannot mount a tmpfs: %s", strerror(-ret));
	}
	cr_assert_neq(dt_ferry_dump(&w, NULL, &err), 0, "16 MiB dumped into 1 MiB");
	cr_assert(err && strstr(err, "pages-1.img") && strstr(err, "No space left on device"),
		  "the error names neither the file nor the cause: %s", err ? err : "");
	free(err);
	cr_assert_eq(dt_count_images(w.img), 0);
	dt_assert_running(&w, NULL, NULL);
	t_expect_verdict(w.out, w.pid, SIGUSR1, "verify ok", "verify BAD", 10000);
	t_small_fs_done(w.img);
	dt_wl_stop(&w);
}

static void refuse_fd(const char *kind, const char *what)
{
	const char *argv[] = { "fdkinds", kind, NULL };
	struct dt_wl w;
	char *err = NULL, *line, needle[64];
	int fd;

	dt_wl_start(&w, argv, "ready");
	line = t_wait_line(w.out, "ready", 100);
	cr_assert_eq(sscanf(strstr(line, "fd "), "fd %d", &fd), 1);
	free(line);
	cr_assert_neq(dt_ferry_dump(&w, NULL, &err), 0, "a %s was dumped", kind);
	snprintf(needle, sizeof(needle), "pid %d fd %d", w.pid, fd);
	cr_assert(err && strstr(err, needle), "error does not name pid and fd: %s", err);
	cr_assert(strstr(err, what), "error does not name the type '%s': %s", what, err);
	free(err);
	cr_assert_eq(dt_count_images(w.img), 0);
	cr_assert_eq(t_proc_field(w.pid, "TracerPid"), 0);
	cr_assert(t_proc_state(w.pid) == 'S');
	dt_wl_stop(&w);
}

Test(dump_faults, refuses_socket, .timeout = 60)
{
	refuse_fd("socket", "socket");
}

Test(dump_faults, refuses_io_uring, .timeout = 60)
{
	refuse_fd("io_uring", "io_uring instance");
}

Test(dump_faults, refuses_fanotify, .timeout = 60)
{
	refuse_fd("fanotify", "fanotify group");
}

/*
 * A tree whose two processes hold five objects ferry refuses: dump names
 * every one with its pid (not just the first process's first), writes
 * nothing and lets the tree go on; `ferry check -t` says the same and
 * leaves it running too.
 */
Test(dump_faults, names_every_blocker_of_the_tree, .timeout = 60)
{
	const char *argv[] = { "blockers", NULL };
	char *err = NULL, *out = NULL, *line, n[5][96];
	int parent, child, efd, sfd, xfd, fan, rc;
	unsigned long shm;
	struct dt_wl w;

	dt_wl_start(&w, argv, "ready");
	line = t_wait_line(w.out, "ready", 100);
	cr_assert_eq(
		sscanf(line,
		       "blockers: parent %d child %d io_uring %d shm %lx fanotify %d socket %d "
		       "fanotify %d",
		       &parent, &child, &efd, &shm, &fan, &sfd, &xfd),
		7, "%s", line);
	free(line);
	snprintf(n[0], sizeof(n[0]), "pid %d fd %d: io_uring instance", parent, efd);
	snprintf(n[1], sizeof(n[1]), "pid %d: VMA %#lx-", parent, shm);
	snprintf(n[2], sizeof(n[2]), "pid %d fd %d: fanotify group", parent, fan);
	snprintf(n[3], sizeof(n[3]), "pid %d fd %d: socket:[", child, sfd);
	snprintf(n[4], sizeof(n[4]), "pid %d fd %d: fanotify group", child, xfd);

	cr_assert_neq(dt_ferry_dump(&w, NULL, &err), 0, "a tree of blockers was dumped");
	for (int i = 0; i < 5; i++)
		dt_expect_named(err, n[i]);
	dt_expect_named(err, "2 of its 2 process(es)");
	free(err);
	err = NULL;
	cr_assert_eq(dt_count_images(w.img), 0);
	dt_assert_running(&w, NULL, NULL);
	cr_assert_eq(t_proc_field(child, "TracerPid"), 0);
	cr_assert(strchr("SR", t_proc_state(child)), "the child is in state %c",
		  t_proc_state(child));

	rc = t_run(&out, &err, "%s check -t %d", t_ferry_bin(), w.pid);
	cr_expect_eq(rc, 1, "check -t of a tree that cannot be dumped exited %d", rc);
	for (int i = 0; i < 5; i++)
		dt_expect_named(err, n[i]);
	dt_expect_named(out, "cannot be dumped");
	free(out);
	free(err);
	dt_assert_running(&w, NULL, NULL);
	cr_assert(strchr("SR", t_proc_state(child)));
	dt_wl_stop(&w);
}

Test(dump_faults, vanished_pid, .timeout = 30)
{
	char dir[] = "/tmp/ferry-vanished-XXXXXX", *err = NULL, needle[64];
	pid_t pid = fork();

	if (!pid)
		_exit(0);
	waitpid(pid, NULL, 0); /* a pid that existed a moment ago */
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_neq(t_run(NULL, &err, "%s dump -t %d -D %s/img", t_ferry_bin(), pid, dir), 0);
	snprintf(needle, sizeof(needle), "pid %d: no such process", pid);
	cr_assert(err && strstr(err, needle), "%s", err);
	free(err);
	t_rmrf(dir);
}

Test(dump_faults, kernel_thread, .timeout = 30)
{
	char dir[] = "/tmp/ferry-kthread-XXXXXX", *err = NULL;

	cr_assert_not_null(mkdtemp(dir));
	cr_assert_neq(t_run(NULL, &err, "%s dump -t 2 -D %s/img", t_ferry_bin(), dir), 0);
	cr_assert(err && strstr(err, "pid 2: is a kernel thread"), "%s", err);
	free(err);
	t_rmrf(dir);
}

Test(dump_faults, refuses_shared_address_space, .timeout = 60)
{
	const char *argv[] = { "sharevm", NULL };
	struct dt_wl w;
	char *err = NULL;

	dt_wl_start(&w, argv, "ready");
	cr_assert_neq(dt_ferry_dump(&w, NULL, &err), 0, "two processes with one mm were dumped");
	cr_assert(err && strstr(err, "share their address space"), "%s", err);
	free(err);
	cr_assert_eq(dt_count_images(w.img), 0);
	cr_assert_eq(t_proc_field(w.pid, "TracerPid"), 0);
	kill(-w.pid, SIGKILL);
	dt_wl_stop(&w);
}

Test(dump_faults, refuses_another_pid_namespace, .timeout = 60)
{
	char *dir = t_tmpdir(), *err = NULL, out[600], needle[80];
	pid_t outer = 0, inner = 0;
	FILE *f;

	snprintf(out, sizeof(out), "%s/out", dir);
	/* unshare forks; the sleep is pid 1 of the new namespace. */
	cr_assert_eq(t_run(NULL, NULL,
			   "unshare --pid --fork sleep 30 >/dev/null 2>&1 & echo $! > %s", out),
		     0);
	f = fopen(out, "r");
	cr_assert(f && fscanf(f, "%d", &outer) == 1);
	fclose(f);
	for (int i = 0; i < 200 && !inner; i++) {
		char path[64], *kids;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", outer, outer);
		kids = t_read_file(path, NULL);
		if (kids)
			inner = atoi(kids);
		free(kids);
		if (!inner)
			usleep(10000);
	}
	cr_assert_gt(inner, 0, "unshare made no child");
	cr_assert_neq(t_run(NULL, &err, "%s dump -t %d -D %s/img", t_ferry_bin(), inner, dir), 0);
	snprintf(needle, sizeof(needle), "pid %d: lives in another pid namespace", inner);
	cr_assert(err && strstr(err, needle), "%s", err);
	free(err);
	cr_assert_eq(t_proc_field(inner, "TracerPid"), 0);
	kill(outer, SIGKILL);
	kill(inner, SIGKILL);
	t_rmrf(dir);
	free(dir);
}
