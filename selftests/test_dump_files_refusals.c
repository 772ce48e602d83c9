// SPDX-License-Identifier: MIT
/*
 * What the fd dumper refuses (sockets, io_uring, fanotify, deleted files) and that a
 * refused process leaves the file table as it was.
 * (Suite dump_files: its TestSuite is in test_dump_files.c; helpers in dump_files_helpers.c.)
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/io_uring.h>
#include <sys/fanotify.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdinfo.pb-c.h"
#include "helpers.h"
#include "log.h"
#include "dump_files.h"

#include "dump_files_helpers.h"

/* ---- refusals ------------------------------------------------------------------------------- */

static void socket_child(void *arg)
{
	int sv[2];

	(void)arg;
	/* Packet and raw sockets are refused (unix, TCP, UDP, netlink ones are dumped). */
	sv[0] = socket(AF_PACKET, SOCK_DGRAM, 0);
	sv[1] = socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6);
	if (sv[0] < 0 || sv[1] < 0)
		_exit(130);
	df_put_fd(sv[0], 40, 0);
	df_put_fd(sv[1], 41, 0);
	df_kid_ready(0);
	df_kid_block();
}

static void io_uring_child(void *arg)
{
	struct io_uring_params up;

	(void)arg;
	memset(&up, 0, sizeof(up));
	df_put_fd((int)syscall(SYS_io_uring_setup, 4, &up), 40, 0);
	df_kid_ready(0);
	df_kid_block();
}

static void fanotify_child(void *arg)
{
	(void)arg;
	df_put_fd(fanotify_init(FAN_CLASS_NOTIF, O_RDONLY), 40, 0);
	df_kid_ready(0);
	df_kid_block();
}

static void deleted_child(void *arg)
{
	/* A deleted regular file is a ghost file (dump_ghost.c); a removed directory is not. */
	df_put_fd(open(arg, O_RDONLY | O_DIRECTORY), 40, 0);
	rmdir(arg);
	df_kid_ready(0);
	df_kid_block();
}

/* The child's fd 40 is refused with "pid P fd 40: <what>..." and nothing is written. */
static void refuse(void (*fn)(void *), void *arg, const char *what)
{
	struct files_dump *fd;
	struct df_logcap l;
	char *dir = t_tmpdir(), *log, want[128];
	struct df_kid k;
	int dirfd;

	cr_assert_not_null(dir);
	df_kid_start(&k, fn, arg);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(files_dump_init(&fd, NULL), 0);

	df_log_start(&l);
	cr_assert_eq(files_dump_check(fd, k.pid), -ENOTSUP);
	log = df_log_end(&l);
	snprintf(want, sizeof(want), "pid %d fd 40: %s", k.pid, what);
	cr_assert(strstr(log, want), "log lacks '%s': %s", want, log);
	cr_assert(strstr(log, "is not supported"), "log: %s", log);
	cr_assert_null(strstr(log, "fd 0:"), "stdin is fine: %s", log);
	free(log);

	/* Dumping anyway fails the same way and leaves no image behind. */
	cr_assert_eq(files_dump_proc(fd, k.pid, 1, dirfd), -ENOTSUP);
	cr_assert_eq(df_count_images(dir), 0);
	cr_assert_eq(faccessat(dirfd, "files.img", F_OK, 0), -1);
	files_dump_free(fd);

	cr_assert_eq(df_kid_stop(&k), 0);
	close(dirfd);
	t_rmrf(dir);
	free(dir);
}

Test(dump_files, refuses_socket)
{
	refuse(socket_child, NULL, "socket:[");
}

Test(dump_files, refuses_io_uring)
{
	refuse(io_uring_child, NULL, "io_uring instance (anon_inode:[io_uring]) is not supported");
}

Test(dump_files, refuses_fanotify)
{
	refuse(fanotify_child, NULL, "fanotify group (anon_inode:[fanotify]) is not supported");
}

Test(dump_files, refuses_deleted_directory)
{
	char *dir = t_tmpdir(), file[PATH_MAX];

	cr_assert_not_null(dir);
	snprintf(file, sizeof(file), "%s/gone", dir);
	cr_assert_eq(mkdir(file, 0700), 0);
	refuse(deleted_child, file, "deleted file ");
	t_rmrf(dir);
	free(dir);
}

static void devnull_child(void *arg)
{
	(void)arg;
	df_put_fd(open("/dev/null", O_RDWR), 40, 0);
	df_kid_ready(0);
	df_kid_block();
}

/* The inode of a child's fd. */
static ino_t fd_ino(pid_t pid, int fd)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
	cr_assert_eq(stat(path, &st), 0);
	return st.st_ino;
}

/* A failed files_dump_proc leaves the table as it was: commit writes only the good ones. */
Test(dump_files, failed_proc_rolls_back)
{
	struct files_dump *fd;
	struct df_entries files, fdi;
	struct df_kid one, bad, two;
	char *dir = t_tmpdir();
	ino_t bad_in;
	size_t i;
	int dirfd;

	cr_assert_not_null(dir);
	df_kid_start(&one, devnull_child, NULL);
	df_kid_start(&bad, socket_child, NULL);
	df_kid_start(&two, devnull_child, NULL);
	bad_in = fd_ino(bad.pid, 0);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(files_dump_init(&fd, NULL), 0);
	cr_assert_eq(files_dump_proc(fd, one.pid, 1, dirfd), 0);
	/* Its fds 0-2 are fine and registered before fd 40 fails. */
	cr_assert_eq(files_dump_proc(fd, bad.pid, 2, dirfd), -ENOTSUP);
	cr_assert_eq(files_dump_proc(fd, two.pid, 3, dirfd), 0);
	cr_assert_eq(files_dump_commit(fd, dirfd), 0);
	files_dump_free(fd);

	cr_assert_eq(faccessat(dirfd, "fdinfo-2.img", F_OK, 0), -1);
	cr_assert_eq(faccessat(dirfd, "fdinfo-2.img.tmp", F_OK, 0), -1);
	df_read_entries(dirfd, "files.img", IMG_FILES, &files);
	cr_assert_eq(files.n, 8, "4 descriptions in each good child");
	for (i = 0; i < files.n; i++) {
		const FileEntry *f = (FileEntry *)files.m[i];

		cr_assert_eq(f->id, i + 1, "ids stay contiguous after the rollback");
		if (f->pipe)
			cr_assert_neq(f->pipe->pipe_id, (uint32_t)bad_in);
	}
	df_read_entries(dirfd, "fdinfo-3.img", IMG_FDINFO, &fdi);
	cr_assert_eq(df_fdinfo_of(&fdi, 0)->id, 5);
	df_free_entries(&fdi);
	df_read_entries(dirfd, "pipes-data.img", IMG_PIPES_DATA, &fdi);
	cr_assert_eq(fdi.n, 4, "the stdin and stdout pipes of the good children");
	df_free_entries(&fdi);
	df_free_entries(&files);

	cr_assert_eq(df_kid_stop(&one), 0);
	cr_assert_eq(df_kid_stop(&bad), 0);
	cr_assert_eq(df_kid_stop(&two), 0);
	close(dirfd);
	t_rmrf(dir);
	free(dir);
}
