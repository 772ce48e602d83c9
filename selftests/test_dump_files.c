// SPDX-License-Identifier: MIT
/*
 * The file-descriptor dumper on real forked children: regular files,
 * directories, /dev/null, and sharing by dup and fork. The other fd kinds
 * have their own files (test_dump_files_*.c: pipes, locks, refusals, tty,
 * fs, fdinfo), in the same suite. Every image is read back with
 * img_read_entry, and crit must decode them.
 *
 * The children are not ptrace-stopped: each blocks in read(2) on its stdin,
 * which is as still as a stopped process for what is dumped here.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdinfo.pb-c.h"
#include "helpers.h"
#include "dump_files.h"

#include "pipe-data.pb-c.h"

#include "dump_files_helpers.h"

/* ---- regular files, directories, /dev/null -------------------------------------------------- */

struct regs_arg {
	char file[PATH_MAX];
	char dir[PATH_MAX];
};

static void regs_child(void *arg)
{
	struct regs_arg *a = arg;
	struct f_owner_ex ox = { F_OWNER_PID, 0 };
	int fd;

	fd = open(a->file, O_RDONLY);
	lseek(fd, 5, SEEK_SET);
	df_put_fd(fd, 10, 0);
	fd = open(a->file, O_RDWR | O_CLOEXEC);
	lseek(fd, 100, SEEK_SET);
	df_put_fd(fd, 11, 1);
	fd = open(a->file, O_WRONLY | O_APPEND);
	if (write(fd, "abc", 3) != 3)
		_exit(104);
	df_put_fd(fd, 12, 0);
	df_put_fd(open(a->dir, O_RDONLY | O_DIRECTORY), 13, 0);
	df_put_fd(open("/dev/null", O_RDWR), 14, 0);
	if (dup3(10, 15, O_CLOEXEC) != 15) /* the same description as fd 10 */
		_exit(105);
	df_put_fd(open(a->file, O_RDONLY), 16, 0); /* the same file, another description */
	fd = open(a->file, O_RDONLY);
	ox.pid = getpid();
	if (fcntl(fd, F_SETOWN_EX, &ox) || fcntl(fd, F_SETSIG, SIGUSR1))
		_exit(106);
	df_put_fd(fd, 17, 0);
	df_kid_ready(0);
	df_kid_block();
}

static void check_reg(const FileEntry *f, const char *name, uint32_t flags, uint64_t pos,
		      const struct stat *st)
{
	const RegFileEntry *r = f->reg;

	cr_assert_eq(f->type, FD_TYPES__REG);
	cr_assert_not_null(r);
	cr_assert_eq(r->id, f->id);
	cr_assert_str_eq(r->name, name);
	cr_assert_eq(r->flags & ~(uint32_t)K_O_LARGEFILE, flags, "%s: flags %o, want %o", name,
		     r->flags, flags);
	cr_assert_eq(r->flags & O_CLOEXEC, 0, "O_CLOEXEC belongs to fdinfo");
	cr_assert_eq(r->pos, pos, "%s: pos %lu, want %lu", name, (unsigned long)r->pos,
		     (unsigned long)pos);
	cr_assert(r->has_size && r->size == (uint64_t)st->st_size);
	cr_assert(r->has_mode && r->mode == st->st_mode);
	cr_assert(r->has_mnt_id && (uint64_t)r->mnt_id == df_mnt_id_of(name));
	cr_assert_not_null(r->fown);
}

static void check_fown_zero(const FileEntry *f)
{
	const FownEntry *o = f->reg->fown;

	cr_assert(!o->uid && !o->euid && !o->signum && !o->pid_type && !o->pid,
		  "fown of %s should be zero", f->reg->name);
}

TestSuite(dump_files, .timeout = 60);

Test(dump_files, regular_files_dir_and_devnull)
{
	struct files_dump *fd;
	struct df_entries files, fdi;
	struct regs_arg a;
	struct stat fst, dst, nst;
	const FileEntry *f;
	char *dir = t_tmpdir(), *data = t_tmpdir(), buf[4096];
	struct df_kid k;
	uint32_t i, id;
	int dirfd;

	cr_assert(dir && data);
	snprintf(a.file, sizeof(a.file), "%s/file", data);
	snprintf(a.dir, sizeof(a.dir), "%s", data);
	memset(buf, 'x', sizeof(buf));
	cr_assert_eq(t_write_file(a.file, buf, sizeof(buf)), 0);
	df_kid_start(&k, regs_child, &a);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);

	cr_assert_eq(files_dump_init(&fd, NULL), 0);
	cr_assert_eq(files_dump_check(fd, k.pid), 0);
	cr_assert_eq(files_dump_proc(fd, k.pid, 7, dirfd), 0);
	cr_assert_eq(files_dump_commit(fd, dirfd), 0);
	files_dump_free(fd);

	cr_assert_eq(stat(a.file, &fst), 0);
	cr_assert_eq(stat(a.dir, &dst), 0);
	cr_assert_eq(stat("/dev/null", &nst), 0);
	cr_assert_eq(fst.st_size, 4099);
	df_read_entries(dirfd, "files.img", IMG_FILES, &files);
	df_read_entries(dirfd, "fdinfo-7.img", IMG_FDINFO, &fdi);

	/* fds 0 1 2 10..17, in order; one id per description, from 1 up. */
	cr_assert_eq(fdi.n, 11);
	cr_assert_eq(files.n, 10);
	for (i = 0; i < files.n; i++)
		cr_assert_eq(((FileEntry *)files.m[i])->id, i + 1, "ids count from 1");
	{
		const uint32_t fds[] = { 0, 1, 2, 10, 11, 12, 13, 14, 15, 16, 17 };
		const uint32_t ids[] = { 1, 2, 3, 4, 5, 6, 7, 8, 4, 9, 10 };
		const uint32_t cloexec[] = { 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0 };

		for (i = 0; i < 11; i++) {
			const FdinfoEntry *e = (FdinfoEntry *)fdi.m[i];

			cr_assert_eq(e->fd, fds[i]);
			cr_assert_eq(e->id, ids[i], "fd %u: id %u, want %u", e->fd, e->id, ids[i]);
			cr_assert_eq(e->flags, cloexec[i] ? FD_CLOEXEC : 0, "fd %u flags", e->fd);
		}
	}
	cr_assert_eq(df_fdinfo_of(&fdi, 0)->type, FD_TYPES__PIPE);
	cr_assert_eq(df_file_of_fd(&files, &fdi, 0)->pipe->flags, O_RDONLY);
	cr_assert_eq(df_file_of_fd(&files, &fdi, 1)->pipe->flags, O_WRONLY);

	f = df_file_of_fd(&files, &fdi, 2);
	check_reg(f, "/dev/null", O_WRONLY, 0, &nst);
	f = df_file_of_fd(&files, &fdi, 10);
	check_reg(f, a.file, O_RDONLY, 5, &fst);
	check_fown_zero(f);
	cr_assert_eq(df_fdinfo_of(&fdi, 10)->type, FD_TYPES__REG);
	check_reg(df_file_of_fd(&files, &fdi, 11), a.file, O_RDWR, 100, &fst);
	check_reg(df_file_of_fd(&files, &fdi, 12), a.file, O_WRONLY | O_APPEND, 4099, &fst);
	check_reg(df_file_of_fd(&files, &fdi, 13), a.dir, O_RDONLY | O_DIRECTORY, 0, &dst);
	cr_assert(S_ISDIR(df_file_of_fd(&files, &fdi, 13)->reg->mode));
	f = df_file_of_fd(&files, &fdi, 14);
	check_reg(f, "/dev/null", O_RDWR, 0, &nst);
	cr_assert(S_ISCHR(f->reg->mode));
	check_reg(df_file_of_fd(&files, &fdi, 16), a.file, O_RDONLY, 0, &fst);

	/* F_SETOWN_EX + F_SETSIG on fd 17. */
	f = df_file_of_fd(&files, &fdi, 17);
	check_reg(f, a.file, O_RDONLY, 0, &fst);
	cr_assert_eq(f->reg->fown->pid, (uint32_t)k.pid);
	cr_assert_eq(f->reg->fown->pid_type, F_OWNER_PID);
	cr_assert_eq(f->reg->fown->signum, SIGUSR1);
	cr_assert_eq(f->reg->fown->uid, getuid());
	cr_assert_eq(f->reg->fown->euid, geteuid());

	/* No pipe held data, and each pipe still has its one pipes-data entry. */
	df_free_entries(&fdi);
	df_read_entries(dirfd, "pipes-data.img", IMG_PIPES_DATA, &fdi);
	cr_assert_eq(fdi.n, 2);
	for (i = 0; i < 2; i++) {
		id = ((PipeDataEntry *)fdi.m[i])->pipe_id;
		cr_assert(id == df_file_of(&files, 1)->pipe->pipe_id ||
			  id == df_file_of(&files, 2)->pipe->pipe_id);
		cr_assert_eq(((PipeDataEntry *)fdi.m[i])->bytes, 0);
	}
	cr_assert_eq(faccessat(dirfd, "tty-info.img", F_OK, 0), -1, "no tty, no tty-info.img");

	df_free_entries(&fdi);
	df_free_entries(&files);
	cr_assert_eq(df_kid_stop(&k), 0);
	close(dirfd);
	t_rmrf(dir);
	t_rmrf(data);
	free(dir);
	free(data);
}

/* ---- sharing -------------------------------------------------------------------------------- */

static void share_tree(void *arg)
{
	const char *file = arg;
	int sync[2], st;
	char c;
	pid_t b;

	df_put_fd(open(file, O_RDONLY), 30, 0);
	lseek(30, 7, SEEK_SET);
	if (dup2(30, 31) != 31 || pipe(sync))
		_exit(120);
	b = fork();
	if (!b) {
		df_put_fd(open(file, O_RDONLY), 32, 0); /* its own description */
		close(sync[0]);
		close(sync[1]);
		df_kid_block();
		_exit(0);
	}
	close(sync[1]);
	if (read(sync[0], &c, 1) != 0)
		_exit(121);
	close(sync[0]);
	df_kid_ready(b);
	df_kid_block();
	waitpid(b, &st, 0);
	_exit(0);
}

Test(dump_files, dup_and_fork_share_one_id)
{
	struct files_dump *fd;
	struct df_entries files, fa, fb;
	char *dir = t_tmpdir(), file[PATH_MAX];
	struct df_kid k;
	int dirfd;

	cr_assert_not_null(dir);
	snprintf(file, sizeof(file), "%s/shared", dir);
	cr_assert_eq(t_write_file(file, "0123456789", 10), 0);
	df_kid_start(&k, share_tree, file);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(files_dump_init(&fd, NULL), 0);
	cr_assert_eq(files_dump_proc(fd, k.pid, 1, dirfd), 0);
	cr_assert_eq(files_dump_proc(fd, (pid_t)k.extra, 2, dirfd), 0);
	cr_assert_eq(files_dump_commit(fd, dirfd), 0);
	files_dump_free(fd);

	df_read_entries(dirfd, "files.img", IMG_FILES, &files);
	df_read_entries(dirfd, "fdinfo-1.img", IMG_FDINFO, &fa);
	df_read_entries(dirfd, "fdinfo-2.img", IMG_FDINFO, &fb);
	/* dup in A, inherited twice by B: one description, one id, one entry. */
	cr_assert_eq(df_fdinfo_of(&fa, 30)->id, df_fdinfo_of(&fa, 31)->id);
	cr_assert_eq(df_fdinfo_of(&fb, 30)->id, df_fdinfo_of(&fa, 30)->id);
	cr_assert_eq(df_fdinfo_of(&fb, 31)->id, df_fdinfo_of(&fa, 30)->id);
	cr_assert_eq(df_file_of_fd(&files, &fa, 30)->reg->pos, 7);
	/* The same file opened again is another description. */
	cr_assert_neq(df_fdinfo_of(&fb, 32)->id, df_fdinfo_of(&fa, 30)->id);
	cr_assert_eq(df_file_of_fd(&files, &fb, 32)->reg->pos, 0);
	cr_assert_str_eq(df_file_of_fd(&files, &fb, 32)->reg->name, file);
	cr_assert_eq(files.n, 3 + 2, "stdin, stdout, stderr, two descriptions of the file");

	df_free_entries(&files);
	df_free_entries(&fa);
	df_free_entries(&fb);
	cr_assert_eq(df_kid_stop(&k), 0);
	close(dirfd);
	t_rmrf(dir);
	free(dir);
}

/*
 * Many descriptions of one inode: N separate opens of /dev/null at fds
 * 100.., a dup of every third at 600.., pipes in between. Descriptions are
 * told apart by kcmp's order, so each open is its own id and each dup
 * shares its original's.
 */
#define MANY 300

static void many_child(void *arg)
{
	(void)arg;
	for (int i = 0; i < MANY; i++) {
		df_put_fd(open("/dev/null", O_RDONLY), 100 + i, 0);
		if (i % 3 == 0 && dup2(100 + i, 600 + i) != 600 + i)
			_exit(121);
		if (i % 50 == 0) {
			int pp[2];

			if (pipe(pp))
				_exit(122);
			df_put_fd(pp[0], 1000 + i, 0);
			df_put_fd(pp[1], 1001 + i, 0);
		}
	}
	df_kid_ready(0);
	df_kid_block();
}

Test(dump_files, many_descriptions_of_one_inode)
{
	struct files_dump *fd;
	struct df_entries files, fa;
	char *dir = t_tmpdir();
	uint32_t ids[MANY];
	struct df_kid k;
	int dirfd;

	cr_assert_not_null(dir);
	df_kid_start(&k, many_child, NULL);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(files_dump_init(&fd, NULL), 0);
	cr_assert_eq(files_dump_proc(fd, k.pid, 1, dirfd), 0);
	cr_assert_eq(files_dump_commit(fd, dirfd), 0);
	files_dump_free(fd);

	df_read_entries(dirfd, "files.img", IMG_FILES, &files);
	df_read_entries(dirfd, "fdinfo-1.img", IMG_FDINFO, &fa);
	for (int i = 0; i < MANY; i++) {
		ids[i] = df_fdinfo_of(&fa, 100 + i)->id;
		for (int j = 0; j < i; j++)
			cr_assert_neq(ids[i], ids[j], "fds %d and %d, two opens, share id %u",
				      100 + i, 100 + j, ids[i]);
		if (i % 3 == 0)
			cr_assert_eq(df_fdinfo_of(&fa, 600 + i)->id, ids[i],
				     "fd %d is a dup of fd %d", 600 + i, 100 + i);
		if (i % 50 == 0)
			cr_assert_neq(df_fdinfo_of(&fa, 1000 + i)->id,
				      df_fdinfo_of(&fa, 1001 + i)->id);
	}
	/* stdin, stdout, stderr, the kid's control fds and the opens; no more. */
	cr_assert_lt(files.n, (size_t)MANY + 10 + 2 * (MANY / 50), "%zu descriptions", files.n);
	cr_assert_geq(files.n, (size_t)MANY + 2 * (MANY / 50));

	df_free_entries(&files);
	df_free_entries(&fa);
	cr_assert_eq(df_kid_stop(&k), 0);
	close(dirfd);
	t_rmrf(dir);
	free(dir);
}
