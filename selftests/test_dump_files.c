// SPDX-License-Identifier: MIT
/*
 * The file-descriptor dumper on real forked children: regular files,
 * directories, /dev/null, pipes with buffered data (which the target must
 * still read afterwards), sharing by dup and fork, the controlling pty with
 * and without shell_job, cwd/root/exe/map_files, file locks (recorded once
 * each, or refused without file_locks), and the refusals. Every
 * image is read back with img_read_entry, and crit must decode them.
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
#include <linux/io_uring.h>
#include <sys/fanotify.h>
#include <sys/file.h>
#include <sys/syscall.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "helpers.h"
#include "img.h"
#include "log.h"
#include "dump_files.h"
#include "proc_fdinfo.h"

#include "fdinfo.pb-c.h"
#include "file-lock.pb-c.h"
#include "fs.pb-c.h"
#include "pipe-data.pb-c.h"
#include "tty.pb-c.h"

#define CRIT "/usr/bin/crit"
/* The kernel adds it on 64-bit; glibc defines O_LARGEFILE as 0 there. */
#define K_O_LARGEFILE 0100000
#define PIPE_BYTES (100 * 1024)
#define PIPE_SIZE (256 * 1024)

/* ---- children ------------------------------------------------------------------------------- */

struct kid {
	pid_t pid;
	int in;	       /* write end of its stdin: one byte releases one process */
	int out;       /* read end of its stdout */
	long extra;    /* the number after "ready", if any */
	char line[64]; /* its "ready" line */
};

/* Move fd to number at (with FD_CLOEXEC if cloexec). */
static void put(int fd, int at, int cloexec)
{
	if (fd < 0)
		_exit(100);
	if (fd == at) {
		if (cloexec)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
		return;
	}
	if (dup3(fd, at, cloexec ? O_CLOEXEC : 0) != at)
		_exit(101);
	close(fd);
}

static void kid_ready(long extra)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "ready %ld\n", extra);

	if (write(1, buf, (size_t)n) != n)
		_exit(102);
}

/* Block in read(2) until the test sends a byte; EOF means "go away". */
static void kid_block(void)
{
	char c;

	if (read(0, &c, 1) != 1)
		_exit(0);
}

/*
 * Fork a child whose fd table holds only stdin/stdout pipes to the test,
 * /dev/null as stderr, and what fn(arg) opens. fn must call kid_ready().
 */
static void kid_start(struct kid *k, void (*fn)(void *), void *arg)
{
	int pin[2], pout[2], nul;
	ssize_t n;

	memset(k, 0, sizeof(*k));
	cr_assert_eq(pipe2(pin, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(pout, O_CLOEXEC), 0);
	k->pid = fork();
	cr_assert_geq(k->pid, 0);
	if (!k->pid) {
		nul = open("/dev/null", O_WRONLY);
		if (dup2(pin[0], 0) != 0 || dup2(pout[1], 1) != 1 || dup2(nul, 2) != 2)
			_exit(103);
		close_range(3, ~0U, 0);
		fn(arg);
		_exit(0);
	}
	close(pin[0]);
	close(pout[1]);
	k->in = pin[1];
	k->out = pout[0];
	for (n = 0; n < (ssize_t)sizeof(k->line) - 1 && read(k->out, k->line + n, 1) == 1; n++)
		if (k->line[n] == '\n')
			break;
	cr_assert(sscanf(k->line, "ready %ld", &k->extra) == 1, "child did not start: '%s'",
		  k->line);
	usleep(50 * 1000); /* let it reach its read(2) */
}

/* Release the child (and its tree) and reap it; returns its exit status. */
static int kid_stop(struct kid *k)
{
	int st;

	close(k->in);
	cr_assert_eq(waitpid(k->pid, &st, 0), k->pid);
	close(k->out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- images --------------------------------------------------------------------------------- */

struct entries {
	ProtobufCMessage **m;
	size_t n;
};

static void read_entries(int dirfd, const char *name, const struct img_type *t, struct entries *e)
{
	ProtobufCMessage *msg;
	struct img *img;
	int r;

	memset(e, 0, sizeof(*e));
	cr_assert_eq(img_open(&img, dirfd, name, t), 0, "cannot open %s", name);
	while ((r = img_read_entry(img, &msg)) == 1) {
		e->m = realloc(e->m, (e->n + 1) * sizeof(*e->m));
		cr_assert_not_null(e->m);
		e->m[e->n++] = msg;
	}
	cr_assert_eq(r, 0, "%s ends badly", name);
	img_close(img);
}

static void free_entries(struct entries *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		protobuf_c_message_free_unpacked(e->m[i], NULL);
	free(e->m);
}

static const FdinfoEntry *fdinfo_of(const struct entries *e, uint32_t fd)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		if (((FdinfoEntry *)e->m[i])->fd == fd)
			return (FdinfoEntry *)e->m[i];
	cr_assert_fail("no fdinfo entry for fd %u", fd);
	return NULL;
}

static const FileEntry *file_of(const struct entries *e, uint32_t id)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		if (((FileEntry *)e->m[i])->id == id)
			return (FileEntry *)e->m[i];
	cr_assert_fail("no file entry with id %u", id);
	return NULL;
}

/* The file entry behind fd of an fdinfo image. */
static const FileEntry *file_of_fd(const struct entries *files, const struct entries *fdi,
				   uint32_t fd)
{
	return file_of(files, fdinfo_of(fdi, fd)->id);
}

/* Number of image files (finished or temporary) in dir. */
static int count_images(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	cr_assert_not_null(d);
	while ((de = readdir(d)))
		if (strstr(de->d_name, ".img"))
			n++;
	closedir(d);
	return n;
}

static void crit_decode(const char *dir, const char *name)
{
	char *out = NULL, *err = NULL;
	int st;

	st = t_run(&out, &err, "/usr/bin/python3 " CRIT " decode -i '%s/%s'", dir, name);
	cr_assert_eq(st, 0, "crit decode %s failed: %s", name, err ? err : "");
	cr_assert(out && strstr(out, "\"entries\""), "crit said: %s", out ? out : "");
	free(out);
	free(err);
}

struct logcap {
	char dir[64];
	char path[128];
};

static void log_start(struct logcap *l)
{
	char *d = t_tmpdir();

	cr_assert_not_null(d);
	snprintf(l->dir, sizeof(l->dir), "%s", d);
	free(d);
	snprintf(l->path, sizeof(l->path), "%s/log", l->dir);
	cr_assert_eq(log_init(l->path, LOG_ERROR, 0), 0);
}

/* Stop capturing; returns the text (malloc'd) and removes the file. */
static char *log_end(struct logcap *l)
{
	char *text;

	log_fini();
	text = t_read_file(l->path, NULL);
	cr_assert_not_null(text);
	t_rmrf(l->dir);
	return text;
}

static uint32_t pattern_sum(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

static uint8_t pattern(size_t i)
{
	return (uint8_t)(i * 7 + 3 + (i >> 9));
}

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
	put(fd, 10, 0);
	fd = open(a->file, O_RDWR | O_CLOEXEC);
	lseek(fd, 100, SEEK_SET);
	put(fd, 11, 1);
	fd = open(a->file, O_WRONLY | O_APPEND);
	if (write(fd, "abc", 3) != 3)
		_exit(104);
	put(fd, 12, 0);
	put(open(a->dir, O_RDONLY | O_DIRECTORY), 13, 0);
	put(open("/dev/null", O_RDWR), 14, 0);
	if (dup3(10, 15, O_CLOEXEC) != 15) /* the same description as fd 10 */
		_exit(105);
	put(open(a->file, O_RDONLY), 16, 0); /* the same file, another description */
	fd = open(a->file, O_RDONLY);
	ox.pid = getpid();
	if (fcntl(fd, F_SETOWN_EX, &ox) || fcntl(fd, F_SETSIG, SIGUSR1))
		_exit(106);
	put(fd, 17, 0);
	kid_ready(0);
	kid_block();
}

static uint64_t mnt_id_of(const char *path)
{
	struct statx sx;

	cr_assert_eq(statx(AT_FDCWD, path, 0, STATX_MNT_ID, &sx), 0);
	cr_assert(sx.stx_mask & STATX_MNT_ID);
	return sx.stx_mnt_id;
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
	cr_assert(r->has_mnt_id && (uint64_t)r->mnt_id == mnt_id_of(name));
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
	struct entries files, fdi;
	struct regs_arg a;
	struct stat fst, dst, nst;
	const FileEntry *f;
	char *dir = t_tmpdir(), *data = t_tmpdir(), buf[4096];
	struct kid k;
	uint32_t i, id;
	int dirfd;

	cr_assert(dir && data);
	snprintf(a.file, sizeof(a.file), "%s/file", data);
	snprintf(a.dir, sizeof(a.dir), "%s", data);
	memset(buf, 'x', sizeof(buf));
	cr_assert_eq(t_write_file(a.file, buf, sizeof(buf)), 0);
	kid_start(&k, regs_child, &a);
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
	read_entries(dirfd, "files.img", IMG_FILES, &files);
	read_entries(dirfd, "fdinfo-7.img", IMG_FDINFO, &fdi);

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
	cr_assert_eq(fdinfo_of(&fdi, 0)->type, FD_TYPES__PIPE);
	cr_assert_eq(file_of_fd(&files, &fdi, 0)->pipe->flags, O_RDONLY);
	cr_assert_eq(file_of_fd(&files, &fdi, 1)->pipe->flags, O_WRONLY);

	f = file_of_fd(&files, &fdi, 2);
	check_reg(f, "/dev/null", O_WRONLY, 0, &nst);
	f = file_of_fd(&files, &fdi, 10);
	check_reg(f, a.file, O_RDONLY, 5, &fst);
	check_fown_zero(f);
	cr_assert_eq(fdinfo_of(&fdi, 10)->type, FD_TYPES__REG);
	check_reg(file_of_fd(&files, &fdi, 11), a.file, O_RDWR, 100, &fst);
	check_reg(file_of_fd(&files, &fdi, 12), a.file, O_WRONLY | O_APPEND, 4099, &fst);
	check_reg(file_of_fd(&files, &fdi, 13), a.dir, O_RDONLY | O_DIRECTORY, 0, &dst);
	cr_assert(S_ISDIR(file_of_fd(&files, &fdi, 13)->reg->mode));
	f = file_of_fd(&files, &fdi, 14);
	check_reg(f, "/dev/null", O_RDWR, 0, &nst);
	cr_assert(S_ISCHR(f->reg->mode));
	check_reg(file_of_fd(&files, &fdi, 16), a.file, O_RDONLY, 0, &fst);

	/* F_SETOWN_EX + F_SETSIG on fd 17. */
	f = file_of_fd(&files, &fdi, 17);
	check_reg(f, a.file, O_RDONLY, 0, &fst);
	cr_assert_eq(f->reg->fown->pid, (uint32_t)k.pid);
	cr_assert_eq(f->reg->fown->pid_type, F_OWNER_PID);
	cr_assert_eq(f->reg->fown->signum, SIGUSR1);
	cr_assert_eq(f->reg->fown->uid, getuid());
	cr_assert_eq(f->reg->fown->euid, geteuid());

	/* No pipe held data, and each pipe still has its one pipes-data entry. */
	free_entries(&fdi);
	read_entries(dirfd, "pipes-data.img", IMG_PIPES_DATA, &fdi);
	cr_assert_eq(fdi.n, 2);
	for (i = 0; i < 2; i++) {
		id = ((PipeDataEntry *)fdi.m[i])->pipe_id;
		cr_assert(id == file_of(&files, 1)->pipe->pipe_id ||
			  id == file_of(&files, 2)->pipe->pipe_id);
		cr_assert_eq(((PipeDataEntry *)fdi.m[i])->bytes, 0);
	}
	cr_assert_eq(faccessat(dirfd, "tty-info.img", F_OK, 0), -1, "no tty, no tty-info.img");

	free_entries(&fdi);
	free_entries(&files);
	cr_assert_eq(kid_stop(&k), 0);
	close(dirfd);
	t_rmrf(dir);
	t_rmrf(data);
	free(dir);
	free(data);
}

/* ---- pipes ---------------------------------------------------------------------------------- */

/*
 * A holds the write end (fd 21) of a pipe with PIPE_BYTES buffered, its
 * child B the read end (fd 20). Released, B reads the pipe to EOF and
 * reports "B <bytes> <sum>".
 */
static void pipe_tree(void *arg)
{
	int p[2], sync[2], st;
	uint8_t *buf = malloc(PIPE_BYTES);
	char line[64], c;
	size_t i, got = 0;
	ssize_t n;
	pid_t b;

	(void)arg;
	if (!buf || pipe(p) || pipe(sync))
		_exit(110);
	put(p[0], 20, 0);
	put(p[1], 21, 0);
	if (fcntl(21, F_SETPIPE_SZ, PIPE_SIZE) < PIPE_SIZE)
		_exit(111);
	for (i = 0; i < PIPE_BYTES; i++)
		buf[i] = pattern(i);
	if (write(21, buf, PIPE_BYTES) != PIPE_BYTES)
		_exit(112);
	b = fork();
	if (b < 0)
		_exit(113);
	if (!b) {
		close(21);
		close(sync[0]);
		close(sync[1]); /* A sees EOF: B's table is final */
		kid_block();
		while ((n = read(20, buf + got, PIPE_BYTES - got)) > 0 && got < PIPE_BYTES)
			got += (size_t)n;
		n = snprintf(line, sizeof(line), "B %zu %u\n", got,
			     got == PIPE_BYTES ? pattern_sum(buf, got) : 0);
		if (write(1, line, (size_t)n) != n)
			_exit(114);
		_exit(0);
	}
	close(20);
	close(sync[1]);
	if (read(sync[0], &c, 1) != 0)
		_exit(115);
	close(sync[0]);
	kid_ready(b);
	kid_block();
	close(21);
	if (waitpid(b, &st, 0) != b)
		_exit(116);
	_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 117);
}

static void pipe_test(int reader_first)
{
	struct files_dump *fd;
	struct entries files, fa, fb;
	struct img *img;
	ProtobufCMessage *msg;
	char *dir = t_tmpdir(), line[64] = "", path[64];
	uint8_t *want = malloc(PIPE_BYTES);
	const void *payload;
	size_t len, i, n;
	struct stat st;
	struct kid k;
	pid_t a, b;
	int dirfd, found = 0;
	unsigned long got_bytes, got_sum;

	cr_assert(dir && want);
	for (i = 0; i < PIPE_BYTES; i++)
		want[i] = pattern(i);
	kid_start(&k, pipe_tree, NULL);
	a = k.pid;
	b = (pid_t)k.extra;
	cr_assert_gt(b, 0);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	snprintf(path, sizeof(path), "/proc/%d/fd/21", a);
	cr_assert_eq(stat(path, &st), 0);

	cr_assert_eq(files_dump_init(&fd, NULL), 0);
	cr_assert_eq(files_dump_check(fd, a), 0);
	cr_assert_eq(files_dump_check(fd, b), 0);
	if (reader_first) {
		cr_assert_eq(files_dump_proc(fd, b, 2, dirfd), 0);
		cr_assert_eq(files_dump_proc(fd, a, 1, dirfd), 0);
	} else {
		/* A has only the write end: the dumper opens the read side itself. */
		cr_assert_eq(files_dump_proc(fd, a, 1, dirfd), 0);
		cr_assert_eq(files_dump_proc(fd, b, 2, dirfd), 0);
	}
	cr_assert_eq(files_dump_commit(fd, dirfd), 0);
	files_dump_free(fd);

	read_entries(dirfd, "files.img", IMG_FILES, &files);
	read_entries(dirfd, "fdinfo-1.img", IMG_FDINFO, &fa);
	read_entries(dirfd, "fdinfo-2.img", IMG_FDINFO, &fb);
	cr_assert_eq(fa.n, 4);
	cr_assert_eq(fb.n, 4);
	/* fork shares stdin, stdout and stderr: one id each across the tree. */
	for (i = 0; i < 3; i++)
		cr_assert_eq(fdinfo_of(&fa, (uint32_t)i)->id, fdinfo_of(&fb, (uint32_t)i)->id,
			     "fd %zu shared by fork", i);
	cr_assert_eq(fdinfo_of(&fa, 21)->type, FD_TYPES__PIPE);
	cr_assert_eq(fdinfo_of(&fb, 20)->type, FD_TYPES__PIPE);
	cr_assert_neq(fdinfo_of(&fa, 21)->id, fdinfo_of(&fb, 20)->id);
	cr_assert_eq(file_of_fd(&files, &fa, 21)->pipe->pipe_id, (uint32_t)st.st_ino);
	cr_assert_eq(file_of_fd(&files, &fb, 20)->pipe->pipe_id, (uint32_t)st.st_ino);
	cr_assert_eq(file_of_fd(&files, &fa, 21)->pipe->flags, O_WRONLY);
	cr_assert_eq(file_of_fd(&files, &fb, 20)->pipe->flags, O_RDONLY);
	cr_assert_eq(file_of_fd(&files, &fa, 21)->pipe->id, fdinfo_of(&fa, 21)->id);
	cr_assert_eq(files.n, 5, "stdin, stdout, stderr, and two pipe ends");

	/* One pipes-data entry per pipe (stdin, stdout, the data pipe). */
	cr_assert_eq(img_open(&img, dirfd, "pipes-data.img", IMG_PIPES_DATA), 0);
	n = 0;
	while (img_read_entry(img, &msg) == 1) {
		PipeDataEntry *e = (PipeDataEntry *)msg;

		n++;
		cr_assert_eq(img_read_payload(img, msg, &payload, &len), 0);
		cr_assert_eq(len, e->bytes);
		if (e->pipe_id == (uint32_t)st.st_ino) {
			found++;
			cr_assert_eq(e->bytes, PIPE_BYTES);
			cr_assert(e->has_size && e->size == PIPE_SIZE, "size %u", e->size);
			cr_assert(!memcmp(payload, want, PIPE_BYTES), "payload differs");
		} else {
			cr_assert_eq(e->bytes, 0);
		}
		protobuf_c_message_free_unpacked(msg, NULL);
	}
	img_close(img);
	cr_assert_eq(found, 1);
	cr_assert_eq(n, 3);

	/* The data is still in the pipe: B reads all of it. */
	cr_assert_eq(write(k.in, "ab", 2), 2);
	for (i = 0; i < sizeof(line) - 1 && read(k.out, line + i, 1) == 1; i++)
		if (line[i] == '\n')
			break;
	cr_assert_eq(sscanf(line, "B %lu %lu", &got_bytes, &got_sum), 2, "B said '%s'", line);
	cr_assert_eq(got_bytes, PIPE_BYTES);
	cr_assert_eq(got_sum, pattern_sum(want, PIPE_BYTES));
	cr_assert_eq(kid_stop(&k), 0);

	free_entries(&files);
	free_entries(&fa);
	free_entries(&fb);
	close(dirfd);
	t_rmrf(dir);
	free(dir);
	free(want);
}

Test(dump_files, pipe_writer_first_opens_read_side)
{
	pipe_test(0);
}

Test(dump_files, pipe_reader_first_uses_its_fd)
{
	pipe_test(1);
}

/* ---- sharing -------------------------------------------------------------------------------- */

static void share_tree(void *arg)
{
	const char *file = arg;
	int sync[2], st;
	char c;
	pid_t b;

	put(open(file, O_RDONLY), 30, 0);
	lseek(30, 7, SEEK_SET);
	if (dup2(30, 31) != 31 || pipe(sync))
		_exit(120);
	b = fork();
	if (!b) {
		put(open(file, O_RDONLY), 32, 0); /* its own description */
		close(sync[0]);
		close(sync[1]);
		kid_block();
		_exit(0);
	}
	close(sync[1]);
	if (read(sync[0], &c, 1) != 0)
		_exit(121);
	close(sync[0]);
	kid_ready(b);
	kid_block();
	waitpid(b, &st, 0);
	_exit(0);
}

Test(dump_files, dup_and_fork_share_one_id)
{
	struct files_dump *fd;
	struct entries files, fa, fb;
	char *dir = t_tmpdir(), file[PATH_MAX];
	struct kid k;
	int dirfd;

	cr_assert_not_null(dir);
	snprintf(file, sizeof(file), "%s/shared", dir);
	cr_assert_eq(t_write_file(file, "0123456789", 10), 0);
	kid_start(&k, share_tree, file);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(files_dump_init(&fd, NULL), 0);
	cr_assert_eq(files_dump_proc(fd, k.pid, 1, dirfd), 0);
	cr_assert_eq(files_dump_proc(fd, (pid_t)k.extra, 2, dirfd), 0);
	cr_assert_eq(files_dump_commit(fd, dirfd), 0);
	files_dump_free(fd);

	read_entries(dirfd, "files.img", IMG_FILES, &files);
	read_entries(dirfd, "fdinfo-1.img", IMG_FDINFO, &fa);
	read_entries(dirfd, "fdinfo-2.img", IMG_FDINFO, &fb);
	/* dup in A, inherited twice by B: one description, one id, one entry. */
	cr_assert_eq(fdinfo_of(&fa, 30)->id, fdinfo_of(&fa, 31)->id);
	cr_assert_eq(fdinfo_of(&fb, 30)->id, fdinfo_of(&fa, 30)->id);
	cr_assert_eq(fdinfo_of(&fb, 31)->id, fdinfo_of(&fa, 30)->id);
	cr_assert_eq(file_of_fd(&files, &fa, 30)->reg->pos, 7);
	/* The same file opened again is another description. */
	cr_assert_neq(fdinfo_of(&fb, 32)->id, fdinfo_of(&fa, 30)->id);
	cr_assert_eq(file_of_fd(&files, &fb, 32)->reg->pos, 0);
	cr_assert_str_eq(file_of_fd(&files, &fb, 32)->reg->name, file);
	cr_assert_eq(files.n, 3 + 2, "stdin, stdout, stderr, two descriptions of the file");

	free_entries(&files);
	free_entries(&fa);
	free_entries(&fb);
	cr_assert_eq(kid_stop(&k), 0);
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
		put(open("/dev/null", O_RDONLY), 100 + i, 0);
		if (i % 3 == 0 && dup2(100 + i, 600 + i) != 600 + i)
			_exit(121);
		if (i % 50 == 0) {
			int pp[2];

			if (pipe(pp))
				_exit(122);
			put(pp[0], 1000 + i, 0);
			put(pp[1], 1001 + i, 0);
		}
	}
	kid_ready(0);
	kid_block();
}

Test(dump_files, many_descriptions_of_one_inode)
{
	struct files_dump *fd;
	struct entries files, fa;
	char *dir = t_tmpdir();
	uint32_t ids[MANY];
	struct kid k;
	int dirfd;

	cr_assert_not_null(dir);
	kid_start(&k, many_child, NULL);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(files_dump_init(&fd, NULL), 0);
	cr_assert_eq(files_dump_proc(fd, k.pid, 1, dirfd), 0);
	cr_assert_eq(files_dump_commit(fd, dirfd), 0);
	files_dump_free(fd);

	read_entries(dirfd, "files.img", IMG_FILES, &files);
	read_entries(dirfd, "fdinfo-1.img", IMG_FDINFO, &fa);
	for (int i = 0; i < MANY; i++) {
		ids[i] = fdinfo_of(&fa, 100 + i)->id;
		for (int j = 0; j < i; j++)
			cr_assert_neq(ids[i], ids[j], "fds %d and %d, two opens, share id %u",
				      100 + i, 100 + j, ids[i]);
		if (i % 3 == 0)
			cr_assert_eq(fdinfo_of(&fa, 600 + i)->id, ids[i], "fd %d is a dup of fd %d",
				     600 + i, 100 + i);
		if (i % 50 == 0)
			cr_assert_neq(fdinfo_of(&fa, 1000 + i)->id, fdinfo_of(&fa, 1001 + i)->id);
	}
	/* stdin, stdout, stderr, the kid's control fds and the opens; no more. */
	cr_assert_lt(files.n, (size_t)MANY + 10 + 2 * (MANY / 50), "%zu descriptions", files.n);
	cr_assert_geq(files.n, (size_t)MANY + 2 * (MANY / 50));

	free_entries(&files);
	free_entries(&fa);
	cr_assert_eq(kid_stop(&k), 0);
	close(dirfd);
	t_rmrf(dir);
	free(dir);
}

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
	put(open(f1, O_RDWR), 30, 0);
	if (dup2(30, 31) != 31 || flock(30, LOCK_SH | LOCK_NB) || pipe(sync))
		_exit(131);
	put(open(f2, O_RDWR), 33, 0);
	set_lock(33, F_SETLK, F_WRLCK, 10, 5);
	set_lock(33, F_SETLK, F_RDLCK, 100, 0);
	b = fork();
	if (!b) {
		set_lock(30, F_SETLK, F_WRLCK, 0, 5);
		put(open(f2, O_RDONLY), 32, 0);
		set_lock(32, F_OFD_SETLK, F_RDLCK, 1 << 30, 510);
		close(sync[0]);
		close(sync[1]);
		kid_block();
		_exit(0);
	}
	close(sync[1]);
	if (read(sync[0], &c, 1) != 0)
		_exit(132);
	close(sync[0]);
	kid_ready(b);
	kid_block();
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
static int count_lock(const struct entries *e, uint32_t flag, uint32_t type, pid_t pid, int fd,
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
	struct entries locks;
	char *dir = t_tmpdir();
	struct kid k;
	pid_t b;
	int dirfd;

	cr_assert_not_null(dir);
	locks_files(dir);
	kid_start(&k, locks_tree, dir);
	b = (pid_t)k.extra;
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(files_dump_init(&fd, &o), 0);
	cr_assert_eq(files_dump_check(fd, k.pid), 0);
	cr_assert_eq(files_dump_check(fd, b), 0);
	cr_assert_eq(files_dump_proc(fd, k.pid, 1, dirfd), 0);
	cr_assert_eq(files_dump_proc(fd, b, 2, dirfd), 0);
	cr_assert_eq(files_dump_commit(fd, dirfd), 0);
	files_dump_free(fd);

	read_entries(dirfd, "filelocks.img", IMG_FILE_LOCKS, &locks);
	/* The flock shows under 30 and 31 of A and of B: the description's, taken once. */
	cr_assert_eq(count_lock(&locks, 2, F_RDLCK, k.pid, 30, 0, 0), 1);
	cr_assert_eq(count_lock(&locks, 1, F_WRLCK, k.pid, 33, 10, 5), 1);
	cr_assert_eq(count_lock(&locks, 1, F_RDLCK, k.pid, 33, 100, 0), 1);
	/* B's own POSIX lock, through a description first seen in A: B's, once. */
	cr_assert_eq(count_lock(&locks, 1, F_WRLCK, b, 30, 0, 5), 1);
	cr_assert_eq(count_lock(&locks, 4, F_RDLCK, b, 32, 1 << 30, 510), 1);
	cr_assert_eq(locks.n, 5, "%zu entries", locks.n);
	free_entries(&locks);
	if (!access(CRIT, X_OK))
		crit_decode(dir, "filelocks.img");

	cr_assert_eq(kid_stop(&k), 0);
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
	struct logcap l;
	char *dir = t_tmpdir(), *log, line[PATH_MAX + 200];
	struct kid k;
	pid_t b;
	int dirfd;

	cr_assert_not_null(dir);
	locks_files(dir);
	kid_start(&k, locks_tree, dir);
	b = (pid_t)k.extra;
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(files_dump_init(&fd, NULL), 0);
	log_start(&l);
	cr_assert_eq(files_dump_check(fd, k.pid), -ENOTSUP);
	cr_assert_eq(files_dump_check(fd, b), -ENOTSUP);
	log = log_end(&l);
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
	cr_assert_eq(count_images(dir), 0);
	files_dump_free(fd);

	cr_assert_eq(kid_stop(&k), 0);
	close(dirfd);
	t_rmrf(dir);
	free(dir);
}

/* ---- refusals ------------------------------------------------------------------------------- */

static void socket_child(void *arg)
{
	int sv[2];

	(void)arg;
	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		_exit(130);
	put(sv[0], 40, 0);
	put(sv[1], 41, 0);
	kid_ready(0);
	kid_block();
}

static void io_uring_child(void *arg)
{
	struct io_uring_params up;

	(void)arg;
	memset(&up, 0, sizeof(up));
	put((int)syscall(SYS_io_uring_setup, 4, &up), 40, 0);
	kid_ready(0);
	kid_block();
}

static void fanotify_child(void *arg)
{
	(void)arg;
	put(fanotify_init(FAN_CLASS_NOTIF, O_RDONLY), 40, 0);
	kid_ready(0);
	kid_block();
}

static void deleted_child(void *arg)
{
	put(open(arg, O_RDWR), 40, 0);
	unlink(arg);
	kid_ready(0);
	kid_block();
}

/* The child's fd 40 is refused with "pid P fd 40: <what>..." and nothing is written. */
static void refuse(void (*fn)(void *), void *arg, const char *what)
{
	struct files_dump *fd;
	struct logcap l;
	char *dir = t_tmpdir(), *log, want[128];
	struct kid k;
	int dirfd;

	cr_assert_not_null(dir);
	kid_start(&k, fn, arg);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(files_dump_init(&fd, NULL), 0);

	log_start(&l);
	cr_assert_eq(files_dump_check(fd, k.pid), -ENOTSUP);
	log = log_end(&l);
	snprintf(want, sizeof(want), "pid %d fd 40: %s", k.pid, what);
	cr_assert(strstr(log, want), "log lacks '%s': %s", want, log);
	cr_assert(strstr(log, "is not supported"), "log: %s", log);
	cr_assert_null(strstr(log, "fd 0:"), "stdin is fine: %s", log);
	free(log);

	/* Dumping anyway fails the same way and leaves no image behind. */
	cr_assert_eq(files_dump_proc(fd, k.pid, 1, dirfd), -ENOTSUP);
	cr_assert_eq(count_images(dir), 0);
	cr_assert_eq(faccessat(dirfd, "files.img", F_OK, 0), -1);
	files_dump_free(fd);

	cr_assert_eq(kid_stop(&k), 0);
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

Test(dump_files, refuses_deleted_file)
{
	char *dir = t_tmpdir(), file[PATH_MAX];

	cr_assert_not_null(dir);
	snprintf(file, sizeof(file), "%s/gone", dir);
	cr_assert_eq(t_write_file(file, "x", 1), 0);
	refuse(deleted_child, file, "deleted file ");
	t_rmrf(dir);
	free(dir);
}

static void devnull_child(void *arg)
{
	(void)arg;
	put(open("/dev/null", O_RDWR), 40, 0);
	kid_ready(0);
	kid_block();
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
	struct entries files, fdi;
	struct kid one, bad, two;
	char *dir = t_tmpdir();
	ino_t bad_in;
	size_t i;
	int dirfd;

	cr_assert_not_null(dir);
	kid_start(&one, devnull_child, NULL);
	kid_start(&bad, socket_child, NULL);
	kid_start(&two, devnull_child, NULL);
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
	read_entries(dirfd, "files.img", IMG_FILES, &files);
	cr_assert_eq(files.n, 8, "4 descriptions in each good child");
	for (i = 0; i < files.n; i++) {
		const FileEntry *f = (FileEntry *)files.m[i];

		cr_assert_eq(f->id, i + 1, "ids stay contiguous after the rollback");
		if (f->pipe)
			cr_assert_neq(f->pipe->pipe_id, (uint32_t)bad_in);
	}
	read_entries(dirfd, "fdinfo-3.img", IMG_FDINFO, &fdi);
	cr_assert_eq(fdinfo_of(&fdi, 0)->id, 5);
	free_entries(&fdi);
	read_entries(dirfd, "pipes-data.img", IMG_PIPES_DATA, &fdi);
	cr_assert_eq(fdi.n, 4, "the stdin and stdout pipes of the good children");
	free_entries(&fdi);
	free_entries(&files);

	cr_assert_eq(kid_stop(&one), 0);
	cr_assert_eq(kid_stop(&bad), 0);
	cr_assert_eq(kid_stop(&two), 0);
	close(dirfd);
	t_rmrf(dir);
	free(dir);
}

/* ---- the controlling terminal --------------------------------------------------------------- */

struct tty_arg {
	char pts[64];
};

/* A session leader whose controlling terminal is the pty slave, on fds 40 and 41. */
static void tty_child(void *arg)
{
	struct tty_arg *a = arg;
	int fd;

	if (setsid() < 0)
		_exit(140);
	fd = open(a->pts, O_RDWR | O_NOCTTY);
	if (fd < 0 || ioctl(fd, TIOCSCTTY, 0))
		_exit(141);
	put(fd, 40, 0);
	if (dup2(40, 41) != 41)
		_exit(142);
	kid_ready(0);
	kid_block();
}

/* A pty master (the test keeps it) and its slave's path; skips if there is no devpts. */
static int open_pty(struct tty_arg *a)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (m < 0)
		cr_skip_test("posix_openpt: %s (no /dev/ptmx or devpts?)", strerror(errno));
	cr_assert_eq(grantpt(m), 0);
	cr_assert_eq(unlockpt(m), 0);
	cr_assert_eq(ptsname_r(m, a->pts, sizeof(a->pts)), 0);
	return m;
}

Test(dump_files, tty_refused_without_shell_job)
{
	struct files_dump *fd;
	struct tty_arg a;
	struct logcap l;
	char *dir = t_tmpdir(), *log, want[128];
	struct kid k;
	int m, dirfd;

	cr_assert_not_null(dir);
	m = open_pty(&a);
	kid_start(&k, tty_child, &a);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(files_dump_init(&fd, NULL), 0);
	log_start(&l);
	cr_assert_eq(files_dump_check(fd, k.pid), -ENOTSUP);
	log = log_end(&l);
	snprintf(want, sizeof(want), "pid %d fd 40: tty %s is not supported", k.pid, a.pts);
	cr_assert(strstr(log, want), "log lacks '%s': %s", want, log);
	cr_assert(strstr(log, "use --shell-job"), "log: %s", log);
	free(log);
	cr_assert_eq(files_dump_proc(fd, k.pid, 1, dirfd), -ENOTSUP);
	cr_assert_eq(count_images(dir), 0);
	files_dump_free(fd);
	cr_assert_eq(kid_stop(&k), 0);
	close(m);
	close(dirfd);
	t_rmrf(dir);
	free(dir);
}

Test(dump_files, tty_dumped_with_shell_job)
{
	struct files_dump_opts o = { .shell_job = 1 };
	struct winsize ws = { .ws_row = 33, .ws_col = 77 };
	struct files_dump *fd;
	struct entries files, fdi, ti;
	const TtyInfoEntry *t;
	const FileEntry *f, *reg;
	struct termios tio;
	struct tty_arg a;
	struct stat st;
	char *dir = t_tmpdir();
	struct kid k;
	int m, s, dirfd;
	uint32_t index;

	cr_assert_not_null(dir);
	m = open_pty(&a);
	index = (uint32_t)atoi(a.pts + strlen("/dev/pts/"));
	cr_assert_eq(ioctl(m, TIOCSWINSZ, &ws), 0);
	s = open(a.pts, O_RDWR | O_NOCTTY);
	cr_assert_geq(s, 0);
	cr_assert_eq(tcgetattr(s, &tio), 0);
	tio.c_cc[VINTR] = 5;
	tio.c_lflag &= ~(tcflag_t)ECHO;
	cr_assert_eq(tcsetattr(s, TCSANOW, &tio), 0);
	close(s);
	cr_assert_eq(stat(a.pts, &st), 0);
	kid_start(&k, tty_child, &a);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);

	cr_assert_eq(files_dump_init(&fd, &o), 0);
	cr_assert_eq(files_dump_check(fd, k.pid), 0);
	cr_assert_eq(files_dump_proc(fd, k.pid, 1, dirfd), 0);
	cr_assert_eq(files_dump_commit(fd, dirfd), 0);
	files_dump_free(fd);

	read_entries(dirfd, "files.img", IMG_FILES, &files);
	read_entries(dirfd, "fdinfo-1.img", IMG_FDINFO, &fdi);
	read_entries(dirfd, "tty-info.img", IMG_TTY_INFO, &ti);
	cr_assert_eq(fdinfo_of(&fdi, 40)->type, FD_TYPES__TTY);
	cr_assert_eq(fdinfo_of(&fdi, 41)->type, FD_TYPES__TTY);
	cr_assert_eq(fdinfo_of(&fdi, 40)->id, fdinfo_of(&fdi, 41)->id, "dup2: one description");
	f = file_of_fd(&files, &fdi, 40);
	cr_assert_eq(f->type, FD_TYPES__TTY);
	cr_assert_not_null(f->tty);
	cr_assert_eq(f->tty->id, f->id);
	cr_assert_eq(f->tty->tty_info_id, index * 2);
	cr_assert_eq(f->tty->flags & ~(uint32_t)K_O_LARGEFILE, O_RDWR);
	cr_assert(f->tty->has_regf_id);
	reg = file_of(&files, f->tty->regf_id);
	cr_assert_eq(reg->type, FD_TYPES__REG);
	cr_assert_str_eq(reg->reg->name, a.pts);
	cr_assert(S_ISCHR(reg->reg->mode));

	cr_assert_eq(ti.n, 1);
	t = (TtyInfoEntry *)ti.m[0];
	cr_assert_eq(t->id, index * 2);
	cr_assert_eq(t->type, TTY_TYPE__PTY);
	cr_assert_not_null(t->pty);
	cr_assert_eq(t->pty->index, index);
	cr_assert_eq(t->sid, (uint32_t)k.pid, "the child leads the terminal's session");
	cr_assert_eq(t->pgrp, (uint32_t)k.pid, "and is its foreground group");
	cr_assert_eq(t->rdev, (uint32_t)st.st_rdev);
	cr_assert(t->has_uid && t->uid == st.st_uid);
	cr_assert(t->has_gid && t->gid == st.st_gid);
	cr_assert(!t->locked && !t->packet_mode && !t->exclusive);
	cr_assert_not_null(t->winsize);
	cr_assert_eq(t->winsize->ws_row, 33);
	cr_assert_eq(t->winsize->ws_col, 77);
	cr_assert_not_null(t->termios);
	cr_assert_not_null(t->termios_locked);
	cr_assert_eq(t->termios->n_c_cc, 19);
	cr_assert_eq(t->termios->c_cc[VINTR], 5);
	cr_assert_eq(t->termios->c_lflag, (uint32_t)tio.c_lflag);
	cr_assert_eq(t->termios->c_iflag, (uint32_t)tio.c_iflag);
	if (cfgetospeed(&tio) == B38400)
		cr_assert_eq(t->termios->c_ospeed, 38400, "TCGETS2 gives the speed");

	if (!access(CRIT, X_OK)) {
		crit_decode(dir, "tty-info.img");
		crit_decode(dir, "files.img");
	}
	free_entries(&files);
	free_entries(&fdi);
	free_entries(&ti);
	cr_assert_eq(kid_stop(&k), 0);
	close(m);
	close(dirfd);
	t_rmrf(dir);
	free(dir);
}

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
	kid_ready(0);
	kid_block();
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
	struct entries files, fs;
	char *dir = t_tmpdir(), *data = t_tmpdir(), exe[PATH_MAX], what[128], name[64];
	uint32_t exe_id, id, rw_id, ro_id;
	const FileEntry *f;
	const FsEntry *e;
	struct fs_arg a;
	struct logcap l;
	struct kid k;
	ssize_t n;
	int dirfd;
	char *log;

	cr_assert(dir && data);
	snprintf(a.dir, sizeof(a.dir), "%s", data);
	snprintf(a.shared, sizeof(a.shared), "%s/shared", data);
	snprintf(a.gone, sizeof(a.gone), "%s/gone", data);
	{
		static char page[4096];

		cr_assert_eq(t_write_file(a.shared, page, sizeof(page)), 0);
		cr_assert_eq(t_write_file(a.gone, page, sizeof(page)), 0);
	}
	kid_start(&k, fs_child, &a);
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
	log_start(&l);
	cr_assert_eq(files_dump_path(fd, k.pid, what, O_RDONLY, &id), -ENOTSUP);
	log = log_end(&l);
	cr_assert(strstr(log, "deleted file"), "log: %s", log);
	free(log);
	cr_assert_eq(files_dump_commit(fd, dirfd), 0);
	files_dump_free(fd);

	snprintf(name, sizeof(name), "fs-%d.img", k.pid);
	read_entries(dirfd, name, IMG_FS, &fs);
	read_entries(dirfd, "files.img", IMG_FILES, &files);
	cr_assert_eq(fs.n, 1);
	e = (FsEntry *)fs.m[0];
	cr_assert(e->has_umask && e->umask == 027, "umask %o", e->umask);
	f = file_of(&files, e->cwd_id);
	cr_assert_str_eq(f->reg->name, a.dir);
	cr_assert(S_ISDIR(f->reg->mode));
	cr_assert_eq(f->reg->flags, 0, "O_PATH is not recorded");
	cr_assert(f->reg->has_mnt_id && (uint64_t)f->reg->mnt_id == mnt_id_of(a.dir));
	f = file_of(&files, e->root_id);
	cr_assert_str_eq(f->reg->name, "/");
	f = file_of(&files, exe_id);
	cr_assert_str_eq(f->reg->name, exe);
	cr_assert(S_ISREG(f->reg->mode));
	f = file_of(&files, rw_id);
	cr_assert_str_eq(f->reg->name, a.shared);
	cr_assert_eq(f->reg->flags, O_RDWR);
	cr_assert_eq(f->reg->size, 4096);
	cr_assert_eq(file_of(&files, ro_id)->reg->flags, O_RDONLY);
	cr_assert_eq(files.n, 5, "cwd, root, exe, shared rw, shared ro");
	if (!access(CRIT, X_OK))
		crit_decode(dir, name);

	free_entries(&fs);
	free_entries(&files);
	cr_assert_eq(kid_stop(&k), 0);
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
	put(open(a->file, O_RDWR), 10, 0);
	if (pipe2(p, O_CLOEXEC) || write(p[1], buf, sizeof(buf)) != sizeof(buf))
		_exit(160);
	put(p[0], 20, 1);
	put(p[1], 21, 1);
	kid_ready(0);
	kid_block();
	if (read(20, buf, sizeof(buf)) != sizeof(buf) || buf[999] != 'q')
		_exit(161);
	_exit(0);
}

Test(dump_files, crit_decodes_the_images)
{
	struct files_dump *fd;
	struct crit_arg a;
	char *dir = t_tmpdir(), *out = NULL, name[64];
	struct kid k;
	int dirfd;

	if (access(CRIT, X_OK))
		cr_skip_test("%s is missing (Debian package criu)", CRIT);
	cr_assert_not_null(dir);
	snprintf(a.file, sizeof(a.file), "%s/data", dir);
	cr_assert_eq(t_write_file(a.file, "hello", 5), 0);
	kid_start(&k, crit_child, &a);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(files_dump_init(&fd, NULL), 0);
	cr_assert_eq(files_dump_check(fd, k.pid), 0);
	cr_assert_eq(files_dump_proc(fd, k.pid, 1, dirfd), 0);
	cr_assert_eq(files_dump_fs(fd, k.pid, dirfd), 0);
	cr_assert_eq(files_dump_commit(fd, dirfd), 0);
	files_dump_free(fd);

	crit_decode(dir, "files.img");
	crit_decode(dir, "fdinfo-1.img");
	crit_decode(dir, "pipes-data.img");
	snprintf(name, sizeof(name), "fs-%d.img", k.pid);
	crit_decode(dir, name);
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
	cr_assert_eq(kid_stop(&k), 0, "the child read its 1000 bytes after the dump");
	close(dirfd);
	t_rmrf(dir);
	free(dir);
}

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
