// SPDX-License-Identifier: MIT
/*
 * The /proc/PID/fdinfo parser: its fields and its lock lines.
 * (Suite dump_files: its TestSuite is in test_dump_files.c; helpers in dump_files_helpers.c.)
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <unistd.h>

#include "helpers.h"
#include "log.h"
#include "proc_fdinfo.h"

/* ---- /proc/PID/fdinfo parsing --------------------------------------------------------------- */

Test(dump_files, fdinfo_parse)
{
	const char ok[] = "pos:\t12\nflags:\t02100002\nmnt_id:\t27\nino:\t861\nextra: 1\n";
	const char noino[] = "pos:\t0\nflags:\t0100000\n";
	const char noflags[] = "pos:\t0\nmnt_id:\t3\n";
	const char badpos[] = "pos:\tx\nflags:\t0\n";
	const char badflags[] = "pos:\t1\nflags:\t9\n";
	struct proc_fdinfo fi;
	int f;

	cr_assert_eq(proc_fdinfo_parse(ok, sizeof(ok) - 1, &fi), 0);
	cr_assert_eq(fi.pos, 12);
	cr_assert_eq(fi.flags, 02100002);
	cr_assert_eq(fi.mnt_id, 27);
	cr_assert(fi.has_ino && fi.ino == 861);
	cr_assert_eq(proc_fdinfo_parse(noino, sizeof(noino) - 1, &fi), 0);
	cr_assert(!fi.has_ino && fi.mnt_id == -1 && fi.flags == 0100000);
	cr_assert_eq(proc_fdinfo_parse(noflags, sizeof(noflags) - 1, &fi), -EINVAL);
	cr_assert_eq(proc_fdinfo_parse(badpos, sizeof(badpos) - 1, &fi), -EINVAL);
	cr_assert_eq(proc_fdinfo_parse(badflags, sizeof(badflags) - 1, &fi), -EINVAL);
	/* Not NUL-terminated: the length bounds it. */
	cr_assert_eq(proc_fdinfo_parse(ok, 9, &fi), -EINVAL);

	f = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
	cr_assert_geq(f, 0);
	cr_assert_eq(lseek(f, 42, SEEK_SET), 42);
	cr_assert_eq(proc_fdinfo_read(getpid(), f, &fi), 0);
	cr_assert_eq(fi.pos, 42);
	cr_assert_eq(fi.flags & (O_ACCMODE | O_CLOEXEC), O_RDONLY | O_CLOEXEC);
	cr_assert(fi.mnt_id >= 0);
	close(f);
	cr_assert_eq(proc_fdinfo_read(getpid(), f, &fi), -ENOENT);
}

Test(dump_files, fdinfo_lock_lines)
{
	const char text[] = "pos:\t0\nflags:\t0100002\nmnt_id:\t26\nino:\t1046\n"
			    "lock:\t1: POSIX  ADVISORY  WRITE 22532 fe:00:1046 10 14\n"
			    "lock:\t2: OFDLCK ADVISORY  READ -1 fe:00:1046 100 EOF\n"
			    "lock:\t3: FLOCK  ADVISORY  WRITE 22532 fe:00:1046 0 EOF\n"
			    "lock:\t4: LEASE  ACTIVE    READ 22532 fe:00:1046 0 EOF\n";
	const char bad[] = "pos:\t0\nflags:\t0\nlock:\t1: POSIX  ADVISORY  WRITE x 0:0:1 0 EOF\n";
	const char badrange[] = "pos:\t0\nflags:\t0\nlock:\t1: POSIX ADVISORY READ 1 0:0:1 9 8\n";
	struct file_lock waiter;
	struct proc_fdinfo fi;
	char buf[128], path[PATH_MAX], *dir;
	int f;

	cr_assert_eq(proc_fdinfo_parse(text, sizeof(text) - 1, &fi), 0);
	cr_assert_eq(fi.nr_locks, 4);
	cr_assert_eq(fi.locks[0].kind, FILE_LOCK_POSIX);
	cr_assert_eq(fi.locks[0].type, F_WRLCK);
	cr_assert_eq(fi.locks[0].pid, 22532);
	cr_assert(fi.locks[0].maj == 0xfe && fi.locks[0].min == 0 && fi.locks[0].ino == 1046);
	cr_assert(fi.locks[0].start == 10 && fi.locks[0].len == 5);
	cr_assert_str_eq(file_lock_desc(&fi.locks[0], buf, sizeof(buf)),
			 "POSIX write lock on bytes 10-14");
	cr_assert(fi.locks[1].kind == FILE_LOCK_OFD && fi.locks[1].pid == -1);
	cr_assert(fi.locks[1].start == 100 && fi.locks[1].len == 0);
	cr_assert_str_eq(file_lock_desc(&fi.locks[1], buf, sizeof(buf)),
			 "OFD read lock on bytes 100-EOF");
	cr_assert_str_eq(file_lock_desc(&fi.locks[2], buf, sizeof(buf)), "flock exclusive lock");
	cr_assert_eq(fi.locks[3].kind, FILE_LOCK_LEASE);
	cr_assert_str_eq(file_lock_desc(&fi.locks[3], buf, sizeof(buf)), "LEASE read lock");
	/* Who stands in whose way: flock against flock, POSIX and OFD against each other. */
	cr_assert(file_lock_conflicts(FILE_LOCK_OFD, F_RDLCK, 0, 11, &fi.locks[0]));
	cr_assert(!file_lock_conflicts(FILE_LOCK_OFD, F_RDLCK, 15, 0, &fi.locks[0]));
	cr_assert(!file_lock_conflicts(FILE_LOCK_POSIX, F_RDLCK, 0, 0, &fi.locks[1]));
	cr_assert(file_lock_conflicts(FILE_LOCK_POSIX, F_WRLCK, 1000, 1, &fi.locks[1]));
	cr_assert(file_lock_conflicts(FILE_LOCK_FLOCK, F_RDLCK, 0, 0, &fi.locks[2]));
	cr_assert(!file_lock_conflicts(FILE_LOCK_POSIX, F_WRLCK, 0, 0, &fi.locks[2]));
	proc_fdinfo_release(&fi);
	cr_assert_eq(proc_fdinfo_parse(bad, sizeof(bad) - 1, &fi), -EINVAL);
	cr_assert_eq(proc_fdinfo_parse(badrange, sizeof(badrange) - 1, &fi), -EINVAL);
	/* /proc/locks has waiters too. */
	cr_assert_eq(file_lock_parse("7: -> FLOCK  ADVISORY  WRITE 1 08:01:5 0 EOF", 44, &waiter),
		     0);
	cr_assert(waiter.blocked && waiter.kind == FILE_LOCK_FLOCK && waiter.ino == 5);
	cr_assert(!file_lock_conflicts(FILE_LOCK_FLOCK, F_WRLCK, 0, 0, &waiter));

	/* The kernel's own lines, more of them than the first 64 KiB of fdinfo hold. */
	dir = t_tmpdir();
	cr_assert_not_null(dir);
	snprintf(path, sizeof(path), "%s/many", dir);
	f = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	cr_assert_geq(f, 0);
	for (int i = 0; i < 3000; i++) {
		struct flock l = {
			.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 2 * i, .l_len = 1
		};

		cr_assert_eq(fcntl(f, F_SETLK, &l), 0);
	}
	cr_assert_eq(proc_fdinfo_read(getpid(), f, &fi), 0);
	cr_assert_eq(fi.nr_locks, 3000);
	cr_assert(fi.locks[2999].kind == FILE_LOCK_POSIX && fi.locks[2999].pid == getpid());
	proc_fdinfo_release(&fi);
	close(f);
	t_rmrf(dir);
	free(dir);
}
