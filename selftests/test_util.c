// SPDX-License-Identifier: MIT
/*
 * The read helpers of user/core/util.c: read_full, pread_full and read_fd_all on
 * pipes fed in small pieces by a thread, a read interrupted by a signal
 * (EINTR retried), end of file before the length asked for (-EIO and how
 * much came), preads at an offset that leave the file position alone, the
 * size limit of read_fd_all, and bad fds.
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <stdio.h>
#include "helpers.h"
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util.h"

/* A thread writing @len bytes of @data to @fd in @piece-byte writes, @delay_us apart. */
struct feeder {
	pthread_t thr;
	int fd;
	const uint8_t *data;
	size_t len, piece;
	unsigned int delay_us;
	/* Before the first write: wait @signal_after_us, then send SIGUSR1 to @target. */
	unsigned int signal_after_us;
	pthread_t target;
};

static void *feed(void *arg)
{
	struct feeder *f = arg;

	if (f->signal_after_us) {
		usleep(f->signal_after_us);
		pthread_kill(f->target, SIGUSR1);
		usleep(f->signal_after_us);
	}
	for (size_t off = 0; off < f->len; off += f->piece) {
		size_t n = f->len - off < f->piece ? f->len - off : f->piece;

		if (f->delay_us)
			usleep(f->delay_us);
		if (write_full(f->fd, f->data + off, n))
			break;
	}
	close(f->fd); /* the reader sees end of file after the data */
	return NULL;
}

static void feeder_start(struct feeder *f, int fd, const void *data, size_t len, size_t piece,
			 unsigned int delay_us)
{
	f->fd = fd;
	f->data = data;
	f->len = len;
	f->piece = piece;
	f->delay_us = delay_us;
	cr_assert_eq(pthread_create(&f->thr, NULL, feed, f), 0);
}

static void pattern(uint8_t *buf, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(i * 131 + seed + (i >> 8));
}

/* A memfd holding @len bytes of pattern(seed 7). */
static int pattern_file(size_t len)
{
	uint8_t *buf = malloc(len);
	int fd = memfd_create("test_util", MFD_CLOEXEC);

	cr_assert(buf);
	cr_assert_geq(fd, 0);
	pattern(buf, len, 7);
	cr_assert_eq(write_full(fd, buf, len), 0);
	cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
	free(buf);
	return fd;
}

static volatile sig_atomic_t signals_seen;

static void on_usr1(int sig)
{
	(void)sig;
	signals_seen++;
}

/* SIGUSR1 with a handler and no SA_RESTART: a blocked read() fails with EINTR. */
static void catch_usr1(void)
{
	struct sigaction sa = { .sa_handler = on_usr1 };

	sigemptyset(&sa.sa_mask);
	cr_assert_eq(sigaction(SIGUSR1, &sa, NULL), 0);
	signals_seen = 0;
}

TestSuite(util, .timeout = 30);

Test(util, read_full_whole_pipe)
{
	uint8_t in[1000], out[1000];
	size_t done = 12345;
	int p[2];

	pattern(in, sizeof(in), 1);
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(write_full(p[1], in, sizeof(in)), 0);
	cr_assert_eq(read_full(p[0], out, sizeof(out), &done), 0);
	cr_assert_eq(done, sizeof(out));
	cr_assert_arr_eq(in, out, sizeof(in));
	/* A zero length reads nothing and needs no data. */
	done = 1;
	cr_assert_eq(read_full(p[0], out, 0, &done), 0);
	cr_assert_eq(done, 0);
	close(p[0]);
	close(p[1]);
}

Test(util, read_full_short_pipe_reads)
{
	static const size_t pieces[] = { 1, 7, 4096, 5000 };

	for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
		size_t len = 100000, done = 0;
		uint8_t *in = malloc(len), *out = calloc(1, len);
		struct feeder f = { 0 };
		int p[2];

		cr_assert(in && out);
		pattern(in, len, (unsigned int)k);
		cr_assert_eq(pipe(p), 0);
		/* Pieces of 1 and 7 bytes come as fast as they can, the others 1 ms apart. */
		feeder_start(&f, p[1], in, len, pieces[k], pieces[k] > 7 ? 1000 : 0);
		cr_assert_eq(read_full(p[0], out, len, &done), 0, "pieces of %zu", pieces[k]);
		cr_assert_eq(done, len);
		cr_assert_arr_eq(in, out, len, "pieces of %zu", pieces[k]);
		pthread_join(f.thr, NULL);
		close(p[0]);
		free(in);
		free(out);
	}
}

Test(util, read_full_retries_eintr)
{
	uint8_t in[300], out[300];
	struct feeder f = { .signal_after_us = 100000, .target = pthread_self() };
	size_t done = 0;
	int p[2];

	catch_usr1();
	pattern(in, sizeof(in), 2);
	cr_assert_eq(pipe(p), 0);
	/* The reader blocks on the empty pipe, is interrupted, then the data comes. */
	feeder_start(&f, p[1], in, sizeof(in), 100, 1000);
	cr_assert_eq(read_full(p[0], out, sizeof(out), &done), 0);
	cr_assert_eq(signals_seen, 1);
	cr_assert_eq(done, sizeof(out));
	cr_assert_arr_eq(in, out, sizeof(in));
	pthread_join(f.thr, NULL);
	close(p[0]);
}

Test(util, read_full_early_eof)
{
	uint8_t in[100], out[300];
	struct feeder f = { 0 };
	size_t done = 0;
	int p[2];

	pattern(in, sizeof(in), 3);
	cr_assert_eq(pipe(p), 0);
	feeder_start(&f, p[1], in, sizeof(in), 30, 1000);
	cr_assert_eq(read_full(p[0], out, sizeof(out), &done), -EIO);
	cr_assert_eq(done, sizeof(in), "done %zu", done);
	cr_assert_arr_eq(in, out, sizeof(in));
	pthread_join(f.thr, NULL);
	/* Nothing at all, and @done may be NULL. */
	cr_assert_eq(read_full(p[0], out, 1, &done), -EIO);
	cr_assert_eq(done, 0);
	cr_assert_eq(read_full(p[0], out, 1, NULL), -EIO);
	close(p[0]);
}

Test(util, pread_full_at_offset)
{
	size_t len = 3 * 4096 + 17, done = 0;
	uint8_t *want = malloc(len), *out = malloc(len);
	int fd = pattern_file(len);

	cr_assert(want && out);
	pattern(want, len, 7);
	cr_assert_eq(pread_full(fd, out, 5000, 1234, &done), 0);
	cr_assert_eq(done, 5000);
	cr_assert_arr_eq(out, want + 1234, 5000);
	/* The file position is not moved. */
	cr_assert_eq(lseek(fd, 0, SEEK_CUR), 0);
	cr_assert_eq(pread_full(fd, out, len, 0, NULL), 0);
	cr_assert_arr_eq(out, want, len);
	/* Up to the last byte exactly. */
	cr_assert_eq(pread_full(fd, out, 17, len - 17, &done), 0);
	cr_assert_eq(done, 17);
	cr_assert_arr_eq(out, want + len - 17, 17);
	close(fd);
	free(want);
	free(out);
}

Test(util, pread_full_early_eof)
{
	size_t len = 4096 + 100, done = 0;
	uint8_t *want = malloc(len), out[300];
	int fd = pattern_file(len);

	cr_assert(want);
	pattern(want, len, 7);
	/* 60 bytes are left at len - 60: they come, then -EIO. */
	cr_assert_eq(pread_full(fd, out, sizeof(out), len - 60, &done), -EIO);
	cr_assert_eq(done, 60);
	cr_assert_arr_eq(out, want + len - 60, 60);
	/* At or past the end: nothing. */
	done = 1;
	cr_assert_eq(pread_full(fd, out, 1, len, &done), -EIO);
	cr_assert_eq(done, 0);
	cr_assert_eq(pread_full(fd, out, 1, len + 1000000, &done), -EIO);
	cr_assert_eq(done, 0);
	close(fd);
	free(want);
}

Test(util, bad_fd)
{
	uint8_t buf[16];
	char *out = (char *)buf;
	size_t done = 99, len = 99;
	int p[2];

	cr_assert_eq(read_full(-1, buf, sizeof(buf), &done), -EBADF);
	cr_assert_eq(done, 0);
	done = 99;
	cr_assert_eq(pread_full(-1, buf, sizeof(buf), 0, &done), -EBADF);
	cr_assert_eq(done, 0);
	cr_assert_eq(read_fd_all(-1, &out, &len, SIZE_MAX), -EBADF);
	cr_assert_eq(out, (char *)buf, "*out changed on error");
	cr_assert_eq(len, 99, "*len changed on error");
	/* A pipe has no offsets; its write end cannot be read. */
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(pread_full(p[0], buf, sizeof(buf), 0, &done), -ESPIPE);
	cr_assert_eq(read_full(p[1], buf, sizeof(buf), &done), -EBADF);
	close(p[0]);
	close(p[1]);
}

Test(util, read_fd_all_pipe_in_pieces)
{
	static const size_t sizes[] = { 0, 1, 4095, 4096, 4097, 300000 };

	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		size_t len = sizes[k], got = 0;
		uint8_t *in = malloc(len + 1);
		struct feeder f = { 0 };
		char *out = NULL;
		int p[2];

		cr_assert(in);
		pattern(in, len, (unsigned int)k);
		cr_assert_eq(pipe(p), 0);
		feeder_start(&f, p[1], in, len, 3001, 200);
		cr_assert_eq(read_fd_all(p[0], &out, &got, SIZE_MAX), 0, "%zu bytes", len);
		cr_assert_eq(got, len);
		cr_assert_arr_eq(out, in, len, "%zu bytes", len);
		cr_assert_eq(out[len], '\0', "no NUL after %zu bytes", len);
		pthread_join(f.thr, NULL);
		close(p[0]);
		free(out);
		free(in);
	}
}

Test(util, read_fd_all_retries_eintr)
{
	uint8_t in[5000];
	struct feeder f = { .signal_after_us = 100000, .target = pthread_self() };
	size_t got = 0;
	char *out = NULL;
	int p[2];

	catch_usr1();
	pattern(in, sizeof(in), 4);
	cr_assert_eq(pipe(p), 0);
	feeder_start(&f, p[1], in, sizeof(in), 1000, 1000);
	cr_assert_eq(read_fd_all(p[0], &out, &got, SIZE_MAX), 0);
	cr_assert_eq(signals_seen, 1);
	cr_assert_eq(got, sizeof(in));
	cr_assert_arr_eq(out, in, sizeof(in));
	pthread_join(f.thr, NULL);
	close(p[0]);
	free(out);
}

Test(util, read_fd_all_max)
{
	size_t len = 10000, got = 0;
	uint8_t *in = malloc(len), rest[8];
	char *out = NULL;
	int p[2], fd;

	cr_assert(in);
	pattern(in, len, 5);
	/* Exactly @max bytes are fine. */
	fd = pattern_file(len);
	cr_assert_eq(read_fd_all(fd, &out, &got, len), 0);
	cr_assert_eq(got, len);
	free(out);
	out = NULL;
	/* One more is -EFBIG, and no more than @max + 1 bytes are taken. */
	cr_assert_eq(lseek(fd, 0, SEEK_SET), 0);
	cr_assert_eq(read_fd_all(fd, &out, &got, len - 1), -EFBIG);
	cr_assert_null(out);
	cr_assert_eq(lseek(fd, 0, SEEK_CUR), (off_t)len);
	close(fd);
	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(write_full(p[1], in, 20), 0);
	cr_assert_eq(read_fd_all(p[0], &out, &got, 10), -EFBIG);
	cr_assert_eq(read(p[0], rest, sizeof(rest)), (ssize_t)sizeof(rest));
	cr_assert_arr_eq(rest, in + 11, sizeof(rest));
	/* An empty fd with @max 0. */
	close(p[1]);
	cr_assert_eq(read(p[0], rest, 1), 1);
	cr_assert_eq(read_fd_all(p[0], &out, &got, 0), 0);
	cr_assert_eq(got, 0);
	cr_assert_str_eq(out, "");
	free(out);
	close(p[0]);
	/* An endless source stops at the limit. */
	fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(read_fd_all(fd, &out, &got, 1 << 20), -EFBIG);
	close(fd);
	free(in);
}

/*
 * scripts/layers.sh (make lint): a tree whose includes point one way passes;
 * the core including a dump-side header, or the restore side including the
 * dump side, fails and names the file and the include.
 */
Test(util, layers_check_catches_wrong_includes)
{
	char *dir = t_tmpdir(), *err = NULL, script[PATH_MAX];
	const char *b = getenv("FERRY_BUILD");
	int rc;

	cr_assert(dir);
	/* FERRY_BUILD is REPO/build: the script is REPO/scripts/layers.sh. */
	snprintf(script, sizeof(script), "%s/../scripts/layers.sh", b ? b : "build");
	cr_assert_eq(t_run(NULL, NULL,
			   "cd %s && mkdir -p user/core user/dump user/track user/probe user/cli "
			   "restore/lazy restore/pagesrc bpf proto && "
			   "printf '#include \"c.h\"\\n' > user/dump/d.c && : > user/core/c.h && "
			   ": > user/dump/d.h && printf '#include \"c.h\"\\n' > restore/r.c",
			   dir),
		     0);
	rc = t_run(NULL, &err, "LAYERS_ROOT=%s bash %s", dir, script);
	cr_assert_eq(rc, 0, "a good tree was refused: %s", err ? err : "");
	free(err);
	cr_assert_eq(t_run(NULL, NULL, "printf '#include \"d.h\"\\n' > %s/user/core/c.c", dir), 0);
	rc = t_run(NULL, &err, "LAYERS_ROOT=%s bash %s", dir, script);
	cr_expect_eq(rc, 1, "core including the dump side passed");
	cr_expect(err && strstr(err, "user/core/c.c includes \"d.h\""), "%s", err ? err : "");
	free(err);
	cr_assert_eq(t_run(NULL, NULL,
			   "rm %s/user/core/c.c && printf '#include \"d.h\"\\n' > %s/restore/r.c",
			   dir, dir),
		     0);
	rc = t_run(NULL, &err, "LAYERS_ROOT=%s bash %s", dir, script);
	cr_expect_eq(rc, 1, "the restore side including the dump side passed");
	cr_expect(err && strstr(err, "restore/r.c includes \"d.h\""), "%s", err ? err : "");
	free(err);
	t_rmrf(dir);
	free(dir);
}

/* The man page `make install` installs renders without a warning and names every command. */
Test(util, man_page)
{
	static const char *const cmds[] = { "check",	    "dump",	    "pre-dump",
					    "restore",	    "track",	    "dirtyrate",
					    "page-server",  "decode",	    "show-log",
					    "--inherit-fd", "--file-locks", "--shell-job" };
	const char *b = getenv("FERRY_BUILD");
	char *out = NULL, *err = NULL;
	int rc;

	if (t_run(NULL, NULL, "command -v man"))
		cr_skip_test("man is not installed");
	rc = t_run(&out, &err, "MANWIDTH=80 man --warnings -l %s/ferry.8", b ? b : "build");
	cr_assert_eq(rc, 0, "man: %s", err ? err : "");
	cr_expect(!err || !*err, "man warns: %s", err);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++)
		cr_expect(out && strstr(out, cmds[i]), "the man page does not name %s", cmds[i]);
	free(out);
	free(err);
}
