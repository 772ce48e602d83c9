// SPDX-License-Identifier: MIT
/* The event fds' lines of /proc/PID/fdinfo/N (see proc_fdinfo_events.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX "fdinfo: "
#include "log.h"
#include "proc_fdinfo_events.h"
#include "util.h"

/* An epoll with 100000 targets prints some 8 MiB. */
#define FDINFO_EVENTS_MAX (64u << 20)

/*
 * The rest of the line that starts with @key in buf..end, NUL-terminated in
 * @line (at most @size bytes); 0, -EINVAL if it is too long, -ENOENT if there is none.
 */
static int find_line(const char *buf, size_t len, const char *key, char *line, size_t size)
{
	const char *p = buf, *end = buf + len, *nl;
	size_t klen = strlen(key), n;

	while (p < end) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		if ((size_t)(nl - p) >= klen && !strncmp(p, key, klen)) {
			n = (size_t)(nl - p) - klen;
			if (n >= size)
				return -EINVAL;
			memcpy(line, p + klen, n);
			line[n] = '\0';
			return 0;
		}
		p = nl + 1;
	}
	return -ENOENT;
}

/* One unsigned number in @s (leading blanks, nothing after but blanks). */
static int num(const char *s, int base, uint64_t *v)
{
	char *ep;

	while (*s == ' ' || *s == '\t')
		s++;
	if (!*s || *s == '-')
		return -EINVAL;
	errno = 0;
	*v = strtoull(s, &ep, base);
	if (errno)
		return -EINVAL;
	while (*ep == ' ' || *ep == '\t')
		ep++;
	return *ep ? -EINVAL : 0;
}

static int key_num(const char *buf, size_t len, const char *key, int base, uint64_t *v)
{
	char line[64];

	return find_line(buf, len, key, line, sizeof(line)) ?: num(line, base, v);
}

/* As key_num(), but a missing line is -EINVAL too. */
static int need_num(const char *buf, size_t len, const char *key, int base, uint64_t *v)
{
	int ret = key_num(buf, len, key, base, v);

	return ret == -ENOENT ? -EINVAL : ret;
}

int proc_fdinfo_eventfd_parse(const char *buf, size_t len, struct fdinfo_eventfd *out)
{
	uint64_t sem = 0;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = need_num(buf, len, "eventfd-count:", 16, &out->count);
	if (ret)
		return ret;
	/* Printed since 6.8: before that, a semaphore cannot be told from outside. */
	ret = key_num(buf, len, "eventfd-semaphore:", 10, &sem);
	if ((ret && ret != -ENOENT) || sem > 1)
		return -EINVAL;
	out->semaphore = (int)sem;
	return 0;
}

int proc_fdinfo_signalfd_parse(const char *buf, size_t len, uint64_t *sigmask)
{
	return need_num(buf, len, "sigmask:", 16, sigmask);
}

/* "(SEC, NSEC)" */
static int pair(const char *buf, size_t len, const char *key, uint64_t *sec, uint64_t *nsec)
{
	unsigned long long a, b;
	char line[96], tail;

	if (find_line(buf, len, key, line, sizeof(line)))
		return -EINVAL;
	if (sscanf(line, " (%llu, %llu%c", &a, &b, &tail) != 3 || tail != ')' || b >= 1000000000ull)
		return -EINVAL;
	*sec = a;
	*nsec = b;
	return 0;
}

int proc_fdinfo_timerfd_parse(const char *buf, size_t len, struct fdinfo_timerfd *out)
{
	uint64_t clk, fl;
	int ret;

	memset(out, 0, sizeof(*out));
	ret = need_num(buf, len, "clockid:", 10, &clk);
	if (!ret)
		ret = need_num(buf, len, "ticks:", 10, &out->ticks);
	if (!ret)
		ret = need_num(buf, len, "settime flags:", 8, &fl);
	if (!ret)
		ret = pair(buf, len, "it_value:", &out->vsec, &out->vnsec);
	if (!ret)
		ret = pair(buf, len, "it_interval:", &out->isec, &out->insec);
	if (ret)
		return ret;
	if (clk > INT32_MAX || fl > UINT32_MAX)
		return -EINVAL;
	out->clockid = (uint32_t)clk;
	out->settime_flags = (uint32_t)fl;
	return 0;
}

static int parse_tfd(const char *s, const char *end, struct fdinfo_tfd *t)
{
	char line[256];
	unsigned long long data, pos, ino;
	unsigned int tfd, events, sdev;
	int n = 0;

	if ((size_t)(end - s) >= sizeof(line))
		return -EINVAL;
	memcpy(line, s, (size_t)(end - s));
	line[end - s] = '\0';
	if (sscanf(line, "tfd: %u events: %x data: %llx pos:%llu ino:%llx sdev:%x%n", &tfd, &events,
		   &data, &pos, &ino, &sdev, &n) != 6 ||
	    line[n] != '\0' || tfd > INT32_MAX)
		return -EINVAL;
	*t = (struct fdinfo_tfd){
		.tfd = tfd, .events = events, .data = data, .pos = pos, .ino = ino, .sdev = sdev
	};
	return 0;
}

int proc_fdinfo_epoll_parse(const char *buf, size_t len, struct fdinfo_epoll *out)
{
	const char *p = buf, *end = buf + len, *nl;
	struct fdinfo_tfd *n;
	size_t cap = 0;
	int ret = 0;

	memset(out, 0, sizeof(*out));
	while (p < end && !ret) {
		nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl)
			nl = end;
		if (nl - p > 4 && !strncmp(p, "tfd:", 4)) {
			if (out->nr == cap) {
				cap = cap ? 2 * cap : 8;
				n = realloc(out->tfd, cap * sizeof(*n));
				if (!n) {
					ret = -ENOMEM;
					break;
				}
				out->tfd = n;
			}
			ret = parse_tfd(p, nl, &out->tfd[out->nr]);
			if (!ret)
				out->nr++;
		}
		p = nl + 1;
	}
	if (ret) {
		free(out->tfd);
		memset(out, 0, sizeof(*out));
	}
	return ret;
}

int proc_fdinfo_text(pid_t pid, int fd, char **buf, size_t *len)
{
	char path[64];
	int f, ret;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0) {
		ret = -errno;
		if (ret != -ENOENT)
			pr_perror("pid %d fd %d: cannot open %s", pid, fd, path);
		return ret;
	}
	ret = read_fd_all(f, buf, len, FDINFO_EVENTS_MAX);
	if (ret)
		pr_errno(ret, "pid %d fd %d: cannot read %s", pid, fd, path);
	close(f);
	return ret;
}
