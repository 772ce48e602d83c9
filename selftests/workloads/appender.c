// SPDX-License-Identifier: MIT
/*
 * Two regular files written all the time, whose offsets and flags must
 * survive a dump and a restore.
 *   appender DIR
 * Opens DIR/log with O_WRONLY|O_APPEND|O_CREAT|O_TRUNC|O_CLOEXEC and DIR/data
 * with O_RDWR|O_CREAT|O_TRUNC|O_NONBLOCK (no FD_CLOEXEC), prints
 *   appender: pid P log FD data FD ready
 * then every 20 ms appends "appender line N\n" to log and writes record N
 * (REC_SIZE bytes) into data at offset N * REC_STRIDE, with lseek then write,
 * so data has a hole after every record. Before each write it checks that the
 * data offset is where the last write left it.
 * On SIGUSR1 it checks: the data offset (lseek SEEK_CUR) equals the one kept
 * in memory; F_GETFL of both fds has the open flags; FD_CLOEXEC is set on log
 * and not on data; both fds are still the files at DIR/log and DIR/data; DIR/log
 * read back by path is exactly lines 0..N-1; DIR/data read back by path holds
 * records 0..M-1 at their offsets, zeros in the holes and nothing after.
 * Prints "appender: verify ok lines N records M offset O" or
 * "appender: verify BAD <reason>".
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "pattern.h"

#define REC_WORDS 4
#define REC_SIZE (REC_WORDS * 8)
#define REC_STRIDE 48
#define LOG_FLAGS (O_WRONLY | O_APPEND)
#define DATA_FLAGS (O_RDWR | O_NONBLOCK)
/* The F_GETFL bits compared: access mode and the status flags open() keeps. */
#define FL_MASK (O_ACCMODE | O_APPEND | O_NONBLOCK | O_DSYNC | O_SYNC | O_DIRECT | O_NOATIME)

static volatile sig_atomic_t verify_req;
static char log_path[1024], data_path[1024];
static int log_fd = -1, data_fd = -1;
static long lines, records;
static off_t data_pos;
static char first_bad[256];

static void on_usr1(int sig)
{
	(void)sig;
	verify_req = 1;
}

static void make_record(long n, uint64_t rec[REC_WORDS])
{
	for (int i = 0; i < REC_WORDS; i++)
		rec[i] = pattern_word((uint64_t)n * REC_WORDS + (uint64_t)i, 0xa99e);
}

static int tick(void)
{
	uint64_t rec[REC_WORDS];
	off_t cur, off = (off_t)records * REC_STRIDE;
	char line[64];
	int len;

	cur = lseek(data_fd, 0, SEEK_CUR);
	if (cur != data_pos && !first_bad[0])
		snprintf(first_bad, sizeof(first_bad),
			 "before record %ld: data fd %d offset %lld, want %lld", records, data_fd,
			 (long long)cur, (long long)data_pos);
	len = snprintf(line, sizeof(line), "appender line %ld\n", lines);
	if (write(log_fd, line, (size_t)len) != len) {
		fprintf(stderr, "appender: write %s: %s\n", log_path, strerror(errno));
		return -1;
	}
	lines++;
	make_record(records, rec);
	if (lseek(data_fd, off, SEEK_SET) != off || write(data_fd, rec, REC_SIZE) != REC_SIZE) {
		fprintf(stderr, "appender: write %s at %lld: %s\n", data_path, (long long)off,
			strerror(errno));
		return -1;
	}
	records++;
	data_pos = off + REC_SIZE;
	return 0;
}

static int check_fd(int fd, const char *path, int want_fl, int want_cloexec, char *why, size_t len)
{
	struct stat a, b;
	int fl = fcntl(fd, F_GETFL), fdfl = fcntl(fd, F_GETFD);

	if (fl < 0 || fdfl < 0) {
		snprintf(why, len, "fcntl(%d): %s", fd, strerror(errno));
		return 0;
	}
	if ((fl & FL_MASK) != want_fl) {
		snprintf(why, len, "fd %d (%s) F_GETFL %#o, want %#o", fd, path, fl & FL_MASK,
			 want_fl);
		return 0;
	}
	if (!!(fdfl & FD_CLOEXEC) != want_cloexec) {
		snprintf(why, len, "fd %d (%s) FD_CLOEXEC %s, want %s", fd, path,
			 fdfl & FD_CLOEXEC ? "set" : "clear", want_cloexec ? "set" : "clear");
		return 0;
	}
	if (fstat(fd, &a) || stat(path, &b)) {
		snprintf(why, len, "stat of fd %d or %s: %s", fd, path, strerror(errno));
		return 0;
	}
	if (a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
		snprintf(why, len, "fd %d is inode %llu, %s is inode %llu", fd,
			 (unsigned long long)a.st_ino, path, (unsigned long long)b.st_ino);
		return 0;
	}
	return 1;
}

static int check_log(char *why, size_t len)
{
	FILE *f = fopen(log_path, "r");
	char want[64], *line = NULL;
	size_t cap = 0;
	long n = 0;
	int ok = 1;

	if (!f) {
		snprintf(why, len, "open %s: %s", log_path, strerror(errno));
		return 0;
	}
	while (ok && getline(&line, &cap, f) > 0) {
		snprintf(want, sizeof(want), "appender line %ld\n", n);
		if (n >= lines || strcmp(line, want)) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(
				why, len,
				"%s line %ld is '%.40s', want 'appender line %ld' (%ld lines written)",
				log_path, n + 1, line, n, lines);
			ok = 0;
		}
		n++;
	}
	if (ok && n != lines) {
		snprintf(why, len, "%s has %ld lines, %ld written", log_path, n, lines);
		ok = 0;
	}
	free(line);
	fclose(f);
	return ok;
}

static int check_data(char *why, size_t len)
{
	off_t size = records ? (off_t)(records - 1) * REC_STRIDE + REC_SIZE : 0;
	unsigned char *buf = NULL;
	uint64_t rec[REC_WORDS];
	struct stat st;
	int fd = open(data_path, O_RDONLY), ok = 0;

	if (fd < 0 || fstat(fd, &st)) {
		snprintf(why, len, "open %s: %s", data_path, strerror(errno));
		goto out;
	}
	if (st.st_size != size) {
		snprintf(why, len, "%s is %lld bytes, want %lld (%ld records)", data_path,
			 (long long)st.st_size, (long long)size, records);
		goto out;
	}
	buf = malloc((size_t)size + 1);
	if (!buf || pread(fd, buf, (size_t)size, 0) != size) {
		snprintf(why, len, "read %s: %s", data_path, strerror(errno));
		goto out;
	}
	for (long n = 0; n < records; n++) {
		const unsigned char *p = buf + n * REC_STRIDE;

		make_record(n, rec);
		if (memcmp(p, rec, REC_SIZE)) {
			snprintf(why, len, "%s record %ld at %ld differs", data_path, n,
				 n * REC_STRIDE);
			goto out;
		}
		for (int i = REC_SIZE; i < REC_STRIDE && n + 1 < records; i++)
			if (p[i]) {
				snprintf(why, len, "%s hole after record %ld not zero at %ld",
					 data_path, n, n * REC_STRIDE + i);
				goto out;
			}
	}
	ok = 1;
out:
	free(buf);
	if (fd >= 0)
		close(fd);
	return ok;
}

static void verify(void)
{
	char why[4096];
	off_t cur;

	if (first_bad[0]) {
		printf("appender: verify BAD %s\n", first_bad);
		return;
	}
	cur = lseek(data_fd, 0, SEEK_CUR);
	if (cur != data_pos) {
		printf("appender: verify BAD data fd %d offset %lld, want %lld\n", data_fd,
		       (long long)cur, (long long)data_pos);
		return;
	}
	if (!check_fd(log_fd, log_path, LOG_FLAGS, 1, why, sizeof(why)) ||
	    !check_fd(data_fd, data_path, DATA_FLAGS, 0, why, sizeof(why)) ||
	    !check_log(why, sizeof(why)) || !check_data(why, sizeof(why))) {
		printf("appender: verify BAD %s\n", why);
		return;
	}
	printf("appender: verify ok lines %ld records %ld offset %lld\n", lines, records,
	       (long long)data_pos);
}

int main(int argc, char **argv)
{
	struct timespec t = { 0, 20 * 1000 * 1000 };

	if (argc < 2) {
		fprintf(stderr, "usage: appender DIR\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGUSR1, on_usr1);
	if (snprintf(log_path, sizeof(log_path), "%s/log", argv[1]) >= (int)sizeof(log_path) ||
	    snprintf(data_path, sizeof(data_path), "%s/data", argv[1]) >= (int)sizeof(data_path)) {
		fprintf(stderr, "appender: %s: path too long\n", argv[1]);
		return 2;
	}
	log_fd = open(log_path, LOG_FLAGS | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (log_fd < 0) {
		fprintf(stderr, "appender: open %s: %s\n", log_path, strerror(errno));
		return 1;
	}
	data_fd = open(data_path, DATA_FLAGS | O_CREAT | O_TRUNC, 0644);
	if (data_fd < 0) {
		fprintf(stderr, "appender: open %s: %s\n", data_path, strerror(errno));
		return 1;
	}
	printf("appender: pid %d log %d data %d ready\n", getpid(), log_fd, data_fd);
	for (;;) {
		if (verify_req) {
			verify_req = 0;
			verify();
		}
		if (tick())
			return 1;
		nanosleep(&t, NULL);
	}
}
