// SPDX-License-Identifier: MIT
/*
 * cwd, root, exe and map_files (fs-PID.img, the mm's exe_file_id), and crit
 * on a whole set of fd images.
 * (Suite dump_files: its TestSuite is in test_dump_files.c; helpers in dump_files_helpers.c.)
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdinfo.pb-c.h"
#include "helpers.h"
#include "log.h"
#include "dump_files.h"

#include "fs.pb-c.h"

#include "dump_files_helpers.h"

/* ---- cwd, root, exe, map_files -------------------------------------------------------------- */

struct fs_arg {
	char dir[PATH_MAX];
	char shared[PATH_MAX];
	char gone[PATH_MAX];
};

static void fs_child(void *arg)
{
	struct fs_arg *a = arg;
	int fd;

	if (chdir(a->dir))
		_exit(150);
	umask(027);
	fd = open(a->shared, O_RDWR);
	if (mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0) == MAP_FAILED)
		_exit(151);
	close(fd);
	fd = open(a->gone, O_RDONLY);
	if (mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0) == MAP_FAILED)
		_exit(152);
	close(fd);
	unlink(a->gone);
	df_kid_ready(0);
	df_kid_block();
}

/* "map_files/START-END" of the first mapping of pid whose path starts with name. */
static void map_of(pid_t pid, const char *name, char *what, size_t len)
{
	char path[64], line[PATH_MAX + 128];
	unsigned long s, e;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "r");
	cr_assert_not_null(f);
	while (fgets(line, sizeof(line), f)) {
		char *p = strchr(line, '/');

		if (p && !strncmp(p, name, strlen(name)) && sscanf(line, "%lx-%lx", &s, &e) == 2) {
			snprintf(what, len, "map_files/%lx-%lx", s, e);
			fclose(f);
			return;
		}
	}
	fclose(f);
	cr_assert_fail("pid %d maps no %s", pid, name);
}

Test(dump_files, fs_exe_and_map_files)
{
	struct files_dump *fd;
	struct df_entries files, fs;
	char *dir = t_tmpdir(), *data = t_tmpdir(), exe[PATH_MAX], what[128], name[64];
	uint32_t exe_id, id, rw_id, ro_id, gone_id;
	const FileEntry *f;
	const FsEntry *e;
	struct fs_arg a;
	struct df_kid k;
	ssize_t n;
	int dirfd;

	cr_assert(dir && data);
	snprintf(a.dir, sizeof(a.dir), "%s", data);
	snprintf(a.shared, sizeof(a.shared), "%s/shared", data);
	snprintf(a.gone, sizeof(a.gone), "%s/gone", data);
	{
		static char page[4096];

		cr_assert_eq(t_write_file(a.shared, page, sizeof(page)), 0);
		cr_assert_eq(t_write_file(a.gone, page, sizeof(page)), 0);
	}
	df_kid_start(&k, fs_child, &a);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	snprintf(name, sizeof(name), "/proc/%d/exe", k.pid);
	n = readlink(name, exe, sizeof(exe) - 1);
	cr_assert_gt(n, 0);
	exe[n] = '\0';

	cr_assert_eq(files_dump_init(&fd, NULL), 0);
	cr_assert_eq(files_dump_fs(fd, k.pid, dirfd), 0);
	cr_assert_eq(files_dump_path(fd, k.pid, "exe", O_RDONLY, &exe_id), 0);
	cr_assert_eq(files_dump_path(fd, k.pid, "exe", O_RDONLY, &id), 0);
	cr_assert_eq(id, exe_id, "asking twice gives the same entry");
	map_of(k.pid, exe, what, sizeof(what));
	cr_assert_eq(files_dump_path(fd, k.pid, what, O_RDONLY, &id), 0);
	cr_assert_eq(id, exe_id, "the exe's mapping is the same (dev, ino, flags, path)");
	map_of(k.pid, a.shared, what, sizeof(what));
	cr_assert_eq(files_dump_path(fd, k.pid, what, O_RDWR, &rw_id), 0);
	cr_assert_eq(files_dump_path(fd, k.pid, what, O_RDONLY, &ro_id), 0);
	cr_assert_neq(rw_id, ro_id, "other flags, other entry");
	map_of(k.pid, a.gone, what, sizeof(what));
	/* A deleted regular file, here on the disk, is kept as a ghost file. */
	cr_assert_eq(files_dump_path(fd, k.pid, what, O_RDONLY, &gone_id), 0);
	cr_assert_eq(files_dump_commit(fd, dirfd), 0);
	files_dump_free(fd);

	snprintf(name, sizeof(name), "fs-%d.img", k.pid);
	df_read_entries(dirfd, name, IMG_FS, &fs);
	df_read_entries(dirfd, "files.img", IMG_FILES, &files);
	cr_assert_eq(fs.n, 1);
	e = (FsEntry *)fs.m[0];
	cr_assert(e->has_umask && e->umask == 027, "umask %o", e->umask);
	f = df_file_of(&files, e->cwd_id);
	cr_assert_str_eq(f->reg->name, a.dir);
	cr_assert(S_ISDIR(f->reg->mode));
	cr_assert_eq(f->reg->flags, 0, "O_PATH is not recorded");
	cr_assert(f->reg->has_mnt_id && (uint64_t)f->reg->mnt_id == df_mnt_id_of(a.dir));
	f = df_file_of(&files, e->root_id);
	cr_assert_str_eq(f->reg->name, "/");
	f = df_file_of(&files, exe_id);
	cr_assert_str_eq(f->reg->name, exe);
	cr_assert(S_ISREG(f->reg->mode));
	f = df_file_of(&files, rw_id);
	cr_assert_str_eq(f->reg->name, a.shared);
	cr_assert_eq(f->reg->flags, O_RDWR);
	cr_assert_eq(f->reg->size, 4096);
	cr_assert_eq(df_file_of(&files, ro_id)->reg->flags, O_RDONLY);
	cr_assert_str_eq(df_file_of(&files, gone_id)->reg->name, a.gone);
	cr_assert_eq(files.n, 6, "cwd, root, exe, shared rw, shared ro, the deleted file");
	if (!access(CRIT, X_OK))
		df_crit_decode(dir, name);

	df_free_entries(&fs);
	df_free_entries(&files);
	cr_assert_eq(df_kid_stop(&k), 0);
	close(dirfd);
	t_rmrf(dir);
	t_rmrf(data);
	free(dir);
	free(data);
}

/* ---- crit ----------------------------------------------------------------------------------- */

struct crit_arg {
	char file[PATH_MAX];
};

static void crit_child(void *arg)
{
	struct crit_arg *a = arg;
	char buf[1000];
	int p[2];

	memset(buf, 'q', sizeof(buf));
	df_put_fd(open(a->file, O_RDWR), 10, 0);
	if (pipe2(p, O_CLOEXEC) || write(p[1], buf, sizeof(buf)) != sizeof(buf))
		_exit(160);
	df_put_fd(p[0], 20, 1);
	df_put_fd(p[1], 21, 1);
	df_kid_ready(0);
	df_kid_block();
	if (read(20, buf, sizeof(buf)) != sizeof(buf) || buf[999] != 'q')
		_exit(161);
	_exit(0);
}

Test(dump_files, crit_decodes_the_images)
{
	struct files_dump *fd;
	struct crit_arg a;
	char *dir = t_tmpdir(), *out = NULL, name[64];
	struct df_kid k;
	int dirfd;

	if (access(CRIT, X_OK))
		cr_skip_test("%s is missing (Debian package criu)", CRIT);
	cr_assert_not_null(dir);
	snprintf(a.file, sizeof(a.file), "%s/data", dir);
	cr_assert_eq(t_write_file(a.file, "hello", 5), 0);
	df_kid_start(&k, crit_child, &a);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(files_dump_init(&fd, NULL), 0);
	cr_assert_eq(files_dump_check(fd, k.pid), 0);
	cr_assert_eq(files_dump_proc(fd, k.pid, 1, dirfd), 0);
	cr_assert_eq(files_dump_fs(fd, k.pid, dirfd), 0);
	cr_assert_eq(files_dump_commit(fd, dirfd), 0);
	files_dump_free(fd);

	df_crit_decode(dir, "files.img");
	df_crit_decode(dir, "fdinfo-1.img");
	df_crit_decode(dir, "pipes-data.img");
	snprintf(name, sizeof(name), "fs-%d.img", k.pid);
	df_crit_decode(dir, name);
	/* crit's view agrees: the pipe end and the file are there by name. */
	cr_assert_eq(t_run(&out, NULL, "/usr/bin/python3 " CRIT " decode -i '%s/files.img'", dir),
		     0);
	cr_assert(strstr(out, "\"PIPE\"") && strstr(out, a.file), "crit: %s", out);
	free(out);
	cr_assert_eq(t_run(&out, NULL,
			   "/usr/bin/python3 " CRIT
			   " decode -i '%s/pipes-data.img' | grep -c '\"bytes\": 1000'",
			   dir),
		     0, "crit: %s", out);
	free(out);

	cr_assert_eq(write(k.in, "x", 1), 1);
	cr_assert_eq(df_kid_stop(&k), 0, "the child read its 1000 bytes after the dump");
	close(dirfd);
	t_rmrf(dir);
	free(dir);
}
