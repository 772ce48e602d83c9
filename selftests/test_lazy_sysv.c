// SPDX-License-Identifier: MIT
/*
 * SysV shared memory under --lazy-pages (issue 18). The kernel refuses
 * userfaultfd on a SysV attachment (UFFDIO_REGISTER: EINVAL in every mode;
 * its VMA has ipc/shm.c's vm_ops, not shmem's), so a SysV segment cannot be
 * filled on fault: restore writes it before the tree resumes, and only the
 * other shared memory is lazy. Here a parent and its forked child both attach
 * a 32 MiB IPC_PRIVATE segment (marked IPC_RMID) and share a 4 MiB memfd
 * held by its mappings only (selftests/workloads/lazyshm.c, "sysv" mode).
 * After a lazy restore both processes check every page of both, a word one
 * writes is read by the other, both attach the same segment, and the pages
 * missing at resume (the daemon's summary) are only the memfd's: reported.
 * A first test pins the kernel fact, so that the day it changes the segment
 * can be made lazy (rshmem_plan_lazy).
 *
 * The test process is a child subreaper (helpers): a tree restored with -d
 * is reparented to it when ferry exits, so it can be reaped here.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "helpers.h"
#include "tree_helpers.h"

#define VERDICT_MS 30000
/* The memfd's 4 MiB in two address spaces; the SysV segment alone would be 2 x 8192 pages. */
#define MEMFD_PAGES (2 * 1024)

TestSuite(lazy_sysv, .timeout = 120);

static void need_missing_shmem(void)
{
	struct uffdio_api api = { .api = UFFD_API };
	int fd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK), ok = 0;

	if (fd >= 0) {
		ok = !ioctl(fd, UFFDIO_API, &api) && (api.features & UFFD_FEATURE_MISSING_SHMEM);
		close(fd);
	}
	if (!ok)
		cr_skip_test("the kernel has no userfaultfd missing faults on shmem "
			     "(UFFD_FEATURE_MISSING_SHMEM)");
}

static void start(struct t_tree *t)
{
	const char *argv[] = { "lazyshm", "32", "4", "sysv", NULL };
	char *line;

	t_tree_init(t);
	line = t_tree_spawn(t, argv);
	cr_assert_eq(sscanf(line, "lazyshm: pid %*d child %d", &t->child), 1, "ready line: %s",
		     line);
	free(line);
	/* The check itself is sound before any dump. */
	t_expect_verdict(t->out, t->pid, SIGUSR1, "lazyshm: verify ok", "verify BAD", VERDICT_MS);
}

/* The number before @what in @line (-1 if absent). */
static long num_before(const char *line, const char *what)
{
	const char *p = strstr(line, what);

	if (!p)
		return -1;
	while (p > line && p[-1] == ' ')
		p--;
	while (p > line && p[-1] >= '0' && p[-1] <= '9')
		p--;
	return atol(p);
}

/* The inode of @pid's SysV attachment (/proc/PID/maps: "/SYSV<key>"), or 0. */
static unsigned long sysv_inode(pid_t pid)
{
	char path[64], line[512];
	unsigned long ino = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	cr_assert_not_null(f, "%s", path);
	while (!ino && fgets(line, sizeof(line), f))
		if (strstr(line, "/SYSV") && sscanf(line, "%*s %*s %*s %*s %lu", &ino) != 1)
			ino = 0;
	fclose(f);
	return ino;
}

/* Whether @file has @what in it. */
static int log_has(const char *file, const char *what)
{
	char *text = t_read_file(file, NULL);
	int ok = text && strstr(text, what);

	free(text);
	return ok;
}

/*
 * Dump, restore with --lazy-pages, have both processes check every page;
 * returns the daemon's summary line, *@missing the shared memory pages missing
 * when the tree resumed.
 */
static char *lazy_round(struct t_tree *t, const char *log, long *missing)
{
	char args[1200], *line;
	unsigned long a, b;

	t_tree_dump(t, t->img, NULL);
	snprintf(args, sizeof(args), "--lazy-pages -v3 --log-file %s", log);
	t_tree_restore(t, t->img, args);
	line = t_wait_line(log, "the tree runs:", 10000);
	cr_assert_not_null(line, "no 'the tree runs' line in %s", log);
	*missing = num_before(line, "of them of shared memory mappings");
	cr_assert_geq(*missing, 0, "%s", line);
	free(line);
	a = sysv_inode(t->pid);
	b = sysv_inode(t->child);
	cr_assert(a && a == b, "SysV segment: inode %lu in the parent, %lu in the child", a, b);
	t_expect_verdict(t->out, t->pid, SIGUSR1, "lazyshm: verify ok", "verify BAD", VERDICT_MS);
	line = t_wait_line(log, "lazy-pages: done", 30000);
	cr_assert_not_null(line, "the lazy-pages daemon did not finish (%s)", log);
	return line;
}

/*
 * UFFDIO_REGISTER of a SysV attachment fails with EINVAL in every mode, where
 * the same call on shared anonymous memory works: why the segment stays eager.
 */
Test(lazy_sysv, kernel_refuses_userfaultfd_on_a_sysv_attachment)
{
	const uint64_t modes[] = { UFFDIO_REGISTER_MODE_MISSING, UFFDIO_REGISTER_MODE_WP,
				   UFFDIO_REGISTER_MODE_MINOR };
	struct uffdio_api api = { .api = UFFD_API };
	int id, fd, rc[3], e[3], anon;
	void *seg, *shm;

	need_missing_shmem();
	fd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	cr_assert_geq(fd, 0);
	cr_assert_eq(ioctl(fd, UFFDIO_API, &api), 0);
	id = shmget(IPC_PRIVATE, 1 << 20, IPC_CREAT | 0600);
	cr_assert_geq(id, 0, "shmget: %m");
	seg = shmat(id, NULL, 0);
	shmctl(id, IPC_RMID, NULL);
	cr_assert_neq(seg, (void *)-1, "shmat: %m");
	shm = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(shm, MAP_FAILED);
	for (int i = 0; i < 3; i++) {
		struct uffdio_register r = { .range = { (uintptr_t)seg, 1 << 20 },
					     .mode = modes[i] };

		rc[i] = ioctl(fd, UFFDIO_REGISTER, &r);
		e[i] = errno;
	}
	{
		struct uffdio_register r = { .range = { (uintptr_t)shm, 1 << 20 },
					     .mode = UFFDIO_REGISTER_MODE_MISSING };

		anon = ioctl(fd, UFFDIO_REGISTER, &r);
	}
	shmdt(seg);
	munmap(shm, 1 << 20);
	close(fd);
	cr_assert_eq(anon, 0, "MISSING on shared anonymous memory refused: %m");
	for (int i = 0; i < 3; i++)
		cr_assert(rc[i] == -1 && e[i] == EINVAL,
			  "UFFDIO_REGISTER mode %llu of a SysV attachment: %d (%s); the kernel "
			  "takes it now: SysV segments can be lazy (rshmem_plan_lazy)",
			  (unsigned long long)modes[i], rc[i], strerror(e[i]));
}

/* Lazy restore: the segment is written before resume, the memfd is lazy; both processes check. */
Test(lazy_sysv, segment_eager_memfd_lazy_for_parent_and_child)
{
	struct t_tree t;
	char log[700], *line;
	long missing;

	need_missing_shmem();
	start(&t);
	snprintf(log, sizeof(log), "%s/restore.log", t.dir);
	line = lazy_round(&t, log, &missing);
	cr_log_info("lazy_sysv: %ld shared memory pages (both processes) missing at resume; %s",
		    missing, line);
	cr_assert(missing > 0 && missing <= MEMFD_PAGES,
		  "missing at resume: %ld, not the memfd's pages alone", missing);
	cr_assert_eq(num_before(line, " of "), num_before(line, " pages filled"), "%s", line);
	cr_assert(log_has(log, "1 shared memory object(s) served lazily, 1 shared memory "
			       "object(s) restored eagerly (SysV: no userfaultfd"),
		  "%s", log);
	free(line);
	/* Still shared after the daemon let go: a second round trip of the ping. */
	t_expect_verdict(t.out, t.pid, SIGUSR1, "lazyshm: verify ok", "verify BAD", VERDICT_MS);
	t_tree_stop(&t);
}

/* FERRY_LAZY_SHMEM=eager: both objects written before resume. */
Test(lazy_sysv, eager_fallback_when_forced)
{
	struct t_tree t;
	char log[700], *line;
	long missing;

	start(&t);
	snprintf(log, sizeof(log), "%s/restore.log", t.dir);
	setenv("FERRY_LAZY_SHMEM", "eager", 1);
	line = lazy_round(&t, log, &missing);
	unsetenv("FERRY_LAZY_SHMEM");
	cr_assert_eq(missing, 0, "shared memory was lazy: %ld pages", missing);
	cr_assert(log_has(log, "0 shared memory object(s) served lazily, 2 shared memory "
			       "object(s) restored eagerly (FERRY_LAZY_SHMEM=eager)"),
		  "%s", log);
	free(line);
	t_tree_stop(&t);
}
