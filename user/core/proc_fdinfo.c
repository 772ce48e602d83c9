// SPDX-License-Identifier: MIT
/* /proc/PID/fdinfo/N parsing (see proc_fdinfo.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX "fdinfo: "
#include "log.h"
#include "proc_fdinfo.h"

/* fdinfo of a regular file is a few lines; epoll or inotify lists can be long. */
#define FDINFO_MAX (64u << 10)

/* Parse one unsigned number of the given base that ends the line at s..end. */
static int parse_num(const char *s, const char *end, int base, uint64_t *v)
{
	char tmp[32], *ep;
	size_t n;

	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	n = (size_t)(end - s);
	if (!n || n >= sizeof(tmp))
		return -EINVAL;
	memcpy(tmp, s, n);
	tmp[n] = '\0';
	if (tmp[0] == '-')
		return -EINVAL;
	errno = 0;
	*v = strtoull(tmp, &ep, base);
	if (errno || *ep)
		return -EINVAL;
	return 0;
}

void proc_fdinfo_release(struct proc_fdinfo *fi)
{
	free(fi->locks);
	fi->locks = NULL;
	fi->nr_locks = 0;
}

/* Append the lock of one "lock:" line (@s..@end, after the prefix). */
static int add_lock(struct proc_fdinfo *out, const char *s, const char *end, size_t *cap)
{
	struct file_lock *nl;

	if (out->nr_locks == *cap) {
		*cap = *cap ? 2 * *cap : 4;
		nl = realloc(out->locks, *cap * sizeof(*nl));
		if (!nl)
			return -ENOMEM;
		out->locks = nl;
	}
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	if (file_lock_parse(s, (size_t)(end - s), &out->locks[out->nr_locks]))
		return -EINVAL;
	out->nr_locks++;
	return 0;
}

int proc_fdinfo_parse(const char *buf, size_t len, struct proc_fdinfo *out)
{
	const char *p = buf, *end = buf + len, *nl;
	int have_pos = 0, have_flags = 0, ret = 0;
	size_t lock_cap = 0;
	uint64_t v;

	memset(out, 0, sizeof(*out));
	out->mnt_id = -1;
	while (p < end && !ret) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		if (nl - p > 4 && !strncmp(p, "pos:", 4)) {
			ret = parse_num(p + 4, nl, 10, &out->pos);
			have_pos = 1;
		} else if (nl - p > 6 && !strncmp(p, "flags:", 6)) {
			ret = parse_num(p + 6, nl, 8, &v);
			if (!ret && v > UINT32_MAX)
				ret = -EINVAL;
			out->flags = (uint32_t)v;
			have_flags = 1;
		} else if (nl - p > 7 && !strncmp(p, "mnt_id:", 7)) {
			ret = parse_num(p + 7, nl, 10, &v);
			if (!ret && v > INT32_MAX)
				ret = -EINVAL;
			out->mnt_id = (int32_t)v;
		} else if (nl - p > 4 && !strncmp(p, "ino:", 4)) {
			ret = parse_num(p + 4, nl, 10, &out->ino);
			out->has_ino = 1;
		} else if (nl - p > 5 && !strncmp(p, "lock:", 5)) {
			ret = add_lock(out, p + 5, nl, &lock_cap);
		}
		p = nl + 1;
	}
	if (!ret && (!have_pos || !have_flags))
		ret = -EINVAL;
	if (ret)
		proc_fdinfo_release(out);
	return ret;
}

int proc_fdinfo_read(pid_t pid, int fd, struct proc_fdinfo *out)
{
	char path[64], *buf = NULL, *nb;
	size_t len = 0, cap = FDINFO_MAX;
	ssize_t n;
	int f, ret;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0) {
		ret = -errno;
		if (ret != -ENOENT)
			pr_perror("pid %d fd %d: cannot open %s", pid, fd, path);
		return ret;
	}
	buf = malloc(cap);
	if (!buf) {
		ret = -ENOMEM;
		goto out;
	}
	/*
	 * Only the first lines matter; a long tail (epoll targets) is cut. The
	 * lock lines come before any such tail: an fd with more of them than
	 * fit is read whole, never a lock left out.
	 */
	for (;;) {
		if (len == cap) {
			if (!memmem(buf, len, "\nlock:", 6))
				break;
			nb = realloc(buf, 2 * cap);
			if (!nb) {
				ret = -ENOMEM;
				goto out;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(f, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			ret = -errno;
			pr_perror("pid %d fd %d: cannot read %s", pid, fd, path);
			goto out;
		}
		if (!n)
			break;
		len += (size_t)n;
	}
	ret = proc_fdinfo_parse(buf, len, out);
	if (ret)
		pr_errno(ret, "pid %d fd %d: cannot parse %s", pid, fd, path);
out:
	free(buf);
	close(f);
	return ret;
}
