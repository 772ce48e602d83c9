// SPDX-License-Identifier: MIT
/*
 * The fd dumper on pipes with buffered data, which the target must still read
 * afterwards: pipes.img, pipes-data.img, either side dumped first.
 * (Suite dump_files: its TestSuite is in test_dump_files.c; helpers in dump_files_helpers.c.)
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "img.h"
#include "fdinfo.pb-c.h"
#include "helpers.h"
#include "dump_files.h"

#include "pipe-data.pb-c.h"

#include "dump_files_helpers.h"

#define PIPE_BYTES (100 * 1024)
#define PIPE_SIZE (256 * 1024)

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
	df_put_fd(p[0], 20, 0);
	df_put_fd(p[1], 21, 0);
	if (fcntl(21, F_SETPIPE_SZ, PIPE_SIZE) < PIPE_SIZE)
		_exit(111);
	for (i = 0; i < PIPE_BYTES; i++)
		buf[i] = df_pattern(i);
	if (write(21, buf, PIPE_BYTES) != PIPE_BYTES)
		_exit(112);
	b = fork();
	if (b < 0)
		_exit(113);
	if (!b) {
		close(21);
		close(sync[0]);
		close(sync[1]); /* A sees EOF: B's table is final */
		df_kid_block();
		while ((n = read(20, buf + got, PIPE_BYTES - got)) > 0 && got < PIPE_BYTES)
			got += (size_t)n;
		n = snprintf(line, sizeof(line), "B %zu %u\n", got,
			     got == PIPE_BYTES ? df_pattern_sum(buf, got) : 0);
		if (write(1, line, (size_t)n) != n)
			_exit(114);
		_exit(0);
	}
	close(20);
	close(sync[1]);
	if (read(sync[0], &c, 1) != 0)
		_exit(115);
	close(sync[0]);
	df_kid_ready(b);
	df_kid_block();
	close(21);
	if (waitpid(b, &st, 0) != b)
		_exit(116);
	_exit(WIFEXITED(st) ? WEXITSTATUS(st) : 117);
}

static void pipe_test(int reader_first)
{
	struct files_dump *fd;
	struct df_entries files, fa, fb;
	struct img *img;
	ProtobufCMessage *msg;
	char *dir = t_tmpdir(), line[64] = "", path[64];
	uint8_t *want = malloc(PIPE_BYTES);
	const void *payload;
	size_t len, i, n;
	struct stat st;
	struct df_kid k;
	pid_t a, b;
	int dirfd, found = 0;
	unsigned long got_bytes, got_sum;

	cr_assert(dir && want);
	for (i = 0; i < PIPE_BYTES; i++)
		want[i] = df_pattern(i);
	df_kid_start(&k, pipe_tree, NULL);
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

	df_read_entries(dirfd, "files.img", IMG_FILES, &files);
	df_read_entries(dirfd, "fdinfo-1.img", IMG_FDINFO, &fa);
	df_read_entries(dirfd, "fdinfo-2.img", IMG_FDINFO, &fb);
	cr_assert_eq(fa.n, 4);
	cr_assert_eq(fb.n, 4);
	/* fork shares stdin, stdout and stderr: one id each across the tree. */
	for (i = 0; i < 3; i++)
		cr_assert_eq(df_fdinfo_of(&fa, (uint32_t)i)->id, df_fdinfo_of(&fb, (uint32_t)i)->id,
			     "fd %zu shared by fork", i);
	cr_assert_eq(df_fdinfo_of(&fa, 21)->type, FD_TYPES__PIPE);
	cr_assert_eq(df_fdinfo_of(&fb, 20)->type, FD_TYPES__PIPE);
	cr_assert_neq(df_fdinfo_of(&fa, 21)->id, df_fdinfo_of(&fb, 20)->id);
	cr_assert_eq(df_file_of_fd(&files, &fa, 21)->pipe->pipe_id, (uint32_t)st.st_ino);
	cr_assert_eq(df_file_of_fd(&files, &fb, 20)->pipe->pipe_id, (uint32_t)st.st_ino);
	cr_assert_eq(df_file_of_fd(&files, &fa, 21)->pipe->flags, O_WRONLY);
	cr_assert_eq(df_file_of_fd(&files, &fb, 20)->pipe->flags, O_RDONLY);
	cr_assert_eq(df_file_of_fd(&files, &fa, 21)->pipe->id, df_fdinfo_of(&fa, 21)->id);
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
	cr_assert_eq(got_sum, df_pattern_sum(want, PIPE_BYTES));
	cr_assert_eq(df_kid_stop(&k), 0);

	df_free_entries(&files);
	df_free_entries(&fa);
	df_free_entries(&fb);
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
