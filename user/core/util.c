// SPDX-License-Identifier: MIT
/* Small helpers shared by the core: full reads and writes, files, clocks (see util.h). */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util.h"

#define LOG_PREFIX "util: "
#include "log.h"

int write_full(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* read_full and pread_full: read(2) when @off is negative, else pread(2) at @off. */
static int read_loop(int fd, void *buf, size_t len, int64_t off, size_t *done)
{
	char *p = buf;
	size_t got = 0;
	int err = 0;

	while (got < len) {
		ssize_t n = off < 0 ? read(fd, p + got, len - got)
				    : pread(fd, p + got, len - got, (off_t)(off + (int64_t)got));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			break;
		}
		if (!n) {
			err = -EIO;
			break;
		}
		got += (size_t)n;
	}
	if (done)
		*done = got;
	return err;
}

int read_full(int fd, void *buf, size_t len, size_t *done)
{
	return read_loop(fd, buf, len, -1, done);
}

int pread_full(int fd, void *buf, size_t len, uint64_t off, size_t *done)
{
	if (off > INT64_MAX) { /* pread would say EINVAL too */
		if (done)
			*done = 0;
		return -EINVAL;
	}
	return read_loop(fd, buf, len, (int64_t)off, done);
}

/* read_fd_all's first buffer; it doubles whenever less than a quarter is free. */
#define READ_ALL_FIRST 4096

int read_fd_all(int fd, char **out, size_t *len, size_t max)
{
	size_t cap = READ_ALL_FIRST, used = 0;
	char *buf = malloc(cap), *nbuf;
	int err;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		size_t room = cap - used - 1; /* one byte stays for the '\0' */
		ssize_t n;

		if (room < cap / 4) {
			if (cap > SIZE_MAX / 2) {
				err = -ENOMEM;
				goto err;
			}
			nbuf = realloc(buf, cap * 2);
			if (!nbuf) {
				err = -ENOMEM;
				goto err;
			}
			buf = nbuf;
			cap *= 2;
			room = cap - used - 1;
		}
		/* One byte past @max is enough to know there is too much. */
		if (max - used < room)
			room = max - used + 1;
		n = read(fd, buf + used, room);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			goto err;
		}
		if (!n)
			break;
		used += (size_t)n;
		if (used > max) {
			err = -EFBIG;
			goto err;
		}
	}
	buf[used] = '\0';
	*out = buf;
	*len = used;
	return 0;

err:
	free(buf);
	return err;
}

uint64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

uint64_t mono_us(void)
{
	return mono_ns() / 1000;
}

int mkdir_p(const char *dir)
{
	char path[PATH_MAX];
	size_t len = strlen(dir);

	if (!len || len >= sizeof(path))
		return -ENAMETOOLONG;
	memcpy(path, dir, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (path[i] != '/' && path[i])
			continue;
		path[i] = '\0';
		if (mkdir(path, 0700) && errno != EEXIST) {
			int err = -errno;

			pr_perror("mkdir %s", path);
			return err;
		}
		path[i] = dir[i];
	}
	return 0;
}

int write_file_atomic(const char *path, const void *buf, size_t len)
{
	char tmp[4096];
	int fd, err;

	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	err = write_full(fd, buf, len);
	if (!err && fsync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

unsigned long raise_nofile_limit(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		struct rlimit want = { rl.rlim_max, rl.rlim_max };

		if (!setrlimit(RLIMIT_NOFILE, &want))
			rl.rlim_cur = rl.rlim_max;
	}
	return (unsigned long)rl.rlim_cur;
}

void fault_point(const char *name)
{
	const char *f = getenv("FERRY_FAULT");

	if (f && !strcmp(f, name)) {
		pr_warn("fault point '%s': killing ferry", name);
		kill(getpid(), SIGKILL);
	}
}

pid_t pid_after_prefix(const char *name, const char *prefix)
{
	size_t n = strlen(prefix);
	char *end;
	long v;

	if (strncmp(name, prefix, n) || !name[n])
		return 0;
	errno = 0;
	v = strtol(name + n, &end, 10);
	return errno || *end || v <= 0 || v > INT32_MAX ? 0 : (pid_t)v;
}
