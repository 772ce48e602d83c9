// SPDX-License-Identifier: MIT
/*
 * The fd dumper on file locks: recorded once each, or refused without
 * file_locks.
 * (Suite dump_files: its TestSuite is in test_dump_files.c; helpers in dump_files_helpers.c.)
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "log.h"
#include "dump_files.h"

#include "file-lock.pb-c.h"

#include "dump_files_helpers.h"

/* ---- file locks ------------------------------------------------------------------------------ */

static void set_lock(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock l = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };

	if (fcntl(fd, cmd, &l))
		_exit(130);
}

/*
 * A: a shared flock on fd 30 (DIR/f1, dup'd at 31), POSIX write 10-14 and
 * read 100-EOF through fd 33 (DIR/f2). B, forked after, shares 30, 31 and
 * 33 and takes a POSIX write lock on 0-4 through the inherited fd 30 (a
 * description A's fds came first on) and an OFD read lock on 1 GiB + 510
 * bytes through its own fd 32 (DIR/f2). B's number is A's "ready" extra.
 */
static void locks_tree(void *arg)
{
	const char *dir = arg;
	char f1[PATH_MAX], f2[PATH_MAX], c;
	int sync[2], st;
	pid_t b;

	snprintf(f1, sizeof(f1), "%s/f1", dir);
	snprintf(f2, sizeof(f2), "%s/f2", dir);
	df_put_fd(open(f1, O_RDWR), 30, 0);
	if (dup2(30, 31) != 31 || flock(30, LOCK_SH | LOCK_NB) || pipe(sync))
		_exit(131);
	df_put_fd(open(f2, O_RDWR), 33, 0);
	set_lock(33, F_SETLK, F_WRLCK, 10, 5);
	set_lock(33, F_SETLK, F_RDLCK, 100, 0);
	b = fork();
	if (!b) {
		set_lock(30, F_SETLK, F_WRLCK, 0, 5);
		df_put_fd(open(f2, O_RDONLY), 32, 0);
		set_lock(32, F_OFD_SETLK, F_RDLCK, 1 << 30, 510);
		close(sync[0]);
		close(sync[1]);
		df_kid_block();
		_exit(0);
	}
	close(sync[1]);
	if (read(sync[0], &c, 1) != 0)
		_exit(132);
	close(sync[0]);
	df_kid_ready(b);
	df_kid_block();
	waitpid(b, &st, 0);
	_exit(0);
}

static void locks_files(const char *dir)
{
	char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/f1", dir);
	cr_assert_eq(t_write_file(path, "one", 3), 0);
	snprintf(path, sizeof(path), "%s/f2", dir);
	cr_assert_eq(t_write_file(path, "two", 3), 0);
}

/* How many entries of filelocks.img are this lock. */
static int count_lock(const struct df_entries *e, uint32_t flag, uint32_t type, pid_t pid, int fd,
		      int64_t start, int64_t len)
{
	int n = 0;

	for (size_t i = 0; i < e->n; i++) {
		const FileLockEntry *l = (const FileLockEntry *)e->m[i];

		n += l->flag == flag && l->type == type && l->pid == pid && l->fd == fd &&
		     l->start == start && l->len == len;
	}
	return n;
}

Test(dump_files, locks_recorded_once_each)
{
	struct files_dump_opts o = { .file_locks = 1 };
	struct files_dump *fd;
	struct df_entries locks;
	char *dir = t_tmpdir();
	struct df_kid k;
	pid_t b;
	int dirfd;

	cr_assert_not_null(dir);
	locks_files(dir);
	df_kid_start(&k, locks_tree, dir);
	b = (pid_t)k.extra;
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(files_dump_init(&fd, &o), 0);
	cr_assert_eq(files_dump_check(fd, k.pid), 0);
	cr_assert_eq(files_dump_check(fd, b), 0);
	cr_assert_eq(files_dump_proc(fd, k.pid, 1, dirfd), 0);
	cr_assert_eq(files_dump_proc(fd, b, 2, dirfd), 0);
	cr_assert_eq(files_dump_commit(fd, dirfd), 0);
	files_dump_free(fd);

	df_read_entries(dirfd, "filelocks.img", IMG_FILE_LOCKS, &locks);
	/* The flock shows under 30 and 31 of A and of B: the description's, taken once. */
	cr_assert_eq(count_lock(&locks, 2, F_RDLCK, k.pid, 30, 0, 0), 1);
	cr_assert_eq(count_lock(&locks, 1, F_WRLCK, k.pid, 33, 10, 5), 1);
	cr_assert_eq(count_lock(&locks, 1, F_RDLCK, k.pid, 33, 100, 0), 1);
	/* B's own POSIX lock, through a description first seen in A: B's, once. */
	cr_assert_eq(count_lock(&locks, 1, F_WRLCK, b, 30, 0, 5), 1);
	cr_assert_eq(count_lock(&locks, 4, F_RDLCK, b, 32, 1 << 30, 510), 1);
	cr_assert_eq(locks.n, 5, "%zu entries", locks.n);
	df_free_entries(&locks);
	if (!access(CRIT, X_OK))
		df_crit_decode(dir, "filelocks.img");

	cr_assert_eq(df_kid_stop(&k), 0);
	close(dirfd);
	t_rmrf(dir);
	free(dir);
}

Test(dump_files, locks_refused_without_file_locks)
{
	const char *want[] = {
		"pid A fd 30: DIR/f1: flock shared lock is held",
		"pid A fd 31: DIR/f1: flock shared lock is held",
		"pid A fd 33: DIR/f2: POSIX write lock on bytes 10-14 is held",
		"pid A fd 33: DIR/f2: POSIX read lock on bytes 100-EOF is held",
		"pid B fd 30: DIR/f1: POSIX write lock on bytes 0-4 is held",
		"pid B fd 32: DIR/f2: OFD read lock on bytes 1073741824-1073742333 is held",
		"pid A: 4 file lock(s) on its fds cannot be dumped: dump with --file-locks",
	};
	struct files_dump *fd;
	struct df_logcap l;
	char *dir = t_tmpdir(), *log, line[PATH_MAX + 200];
	struct df_kid k;
	pid_t b;
	int dirfd;

	cr_assert_not_null(dir);
	locks_files(dir);
	df_kid_start(&k, locks_tree, dir);
	b = (pid_t)k.extra;
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(files_dump_init(&fd, NULL), 0);
	df_log_start(&l);
	cr_assert_eq(files_dump_check(fd, k.pid), -ENOTSUP);
	cr_assert_eq(files_dump_check(fd, b), -ENOTSUP);
	log = df_log_end(&l);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		const char *w = want[i];
		char *o = line;

		/* Expand A, B and DIR. */
		while (*w) {
			if (*w == 'A' && w[-1] == ' ' && (w[1] == ' ' || w[1] == ':')) {
				o += sprintf(o, "%d", k.pid);
				w++;
			} else if (*w == 'B' && w[-1] == ' ' && w[1] == ' ') {
				o += sprintf(o, "%d", b);
				w++;
			} else if (!strncmp(w, "DIR", 3)) {
				o += sprintf(o, "%s", dir);
				w += 3;
			} else {
				*o++ = *w++;
			}
		}
		*o = '\0';
		cr_assert(strstr(log, line), "log lacks '%s':\n%s", line, log);
	}
	free(log);

	/* Dumping anyway fails the same way and leaves no image behind. */
	cr_assert_eq(files_dump_proc(fd, k.pid, 1, dirfd), -ENOTSUP);
	cr_assert_eq(df_count_images(dir), 0);
	files_dump_free(fd);

	cr_assert_eq(df_kid_stop(&k), 0);
	close(dirfd);
	t_rmrf(dir);
	free(dir);
}
