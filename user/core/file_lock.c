// SPDX-License-Identifier: MIT
/* File lock lines of /proc (see file_lock.h). */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_PREFIX "locks: "
#include "file_lock.h"
#include "log.h"

/* The longest line the kernel writes is far below this. */
#define LINE_MAX_LEN 256
/* kind, mode, type, pid, dev, start, end: the fields after the ordinal (and "->"). */
#define NR_FIELDS 7

static int parse_i64(const char *s, int64_t *v)
{
	char *end;

	errno = 0;
	*v = strtoll(s, &end, 10);
	return errno || end == s || *end ? -EINVAL : 0;
}

static uint32_t kind_of(const char *name)
{
	if (!strcmp(name, "POSIX"))
		return FILE_LOCK_POSIX;
	if (!strcmp(name, "FLOCK"))
		return FILE_LOCK_FLOCK;
	if (!strcmp(name, "OFDLCK"))
		return FILE_LOCK_OFD;
	if (!strcmp(name, "LEASE") || !strcmp(name, "DELEG"))
		return FILE_LOCK_LEASE;
	return 0;
}

int file_lock_parse(const char *line, size_t len, struct file_lock *l)
{
	char buf[LINE_MAX_LEN], *tok[NR_FIELDS + 2], *save = NULL, *s, *ord;
	unsigned long long ino;
	int64_t pid, end;
	size_t n = 0, i = 1;

	memset(l, 0, sizeof(*l));
	if (len >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, line, len);
	buf[len] = '\0';
	for (s = strtok_r(buf, " \t\n", &save); s && n < NR_FIELDS + 2;
	     s = strtok_r(NULL, " \t\n", &save))
		tok[n++] = s;
	if (s || n < NR_FIELDS + 1)
		return -EINVAL;
	ord = tok[0];
	if (!*ord || ord[strlen(ord) - 1] != ':')
		return -EINVAL;
	if (!strcmp(tok[1], "->")) {
		l->blocked = 1;
		i = 2;
	}
	if (n - i != NR_FIELDS)
		return -EINVAL;
	snprintf(l->name, sizeof(l->name), "%s", tok[i]);
	l->kind = kind_of(tok[i]);
	/* tok[i + 1] is the mode word: ADVISORY, or a lease's ACTIVE/BREAKING/BREAKER. */
	if (!strcmp(tok[i + 2], "WRITE"))
		l->type = F_WRLCK;
	else if (!strcmp(tok[i + 2], "READ"))
		l->type = F_RDLCK;
	else if (!strcmp(tok[i + 2], "UNLCK"))
		l->type = F_UNLCK;
	else
		return -EINVAL;
	if (parse_i64(tok[i + 3], &pid) || pid < INT32_MIN || pid > INT32_MAX)
		return -EINVAL;
	l->pid = (pid_t)pid;
	/* "<none>:0" when the lock has no inode: left 0:0:0. */
	if (sscanf(tok[i + 4], "%x:%x:%llu", &l->maj, &l->min, &ino) == 3)
		l->ino = ino;
	if (parse_i64(tok[i + 5], &l->start) || l->start < 0)
		return -EINVAL;
	if (!strcmp(tok[i + 6], "EOF")) {
		l->len = 0;
	} else {
		if (parse_i64(tok[i + 6], &end) || end < l->start)
			return -EINVAL;
		l->len = end - l->start + 1;
	}
	return 0;
}

const char *file_lock_str(uint32_t kind, const char *name, int type, int64_t start, int64_t len,
			  char *buf, size_t size)
{
	const char *k, *t;

	switch (kind) {
	case FILE_LOCK_POSIX:
		k = "POSIX";
		break;
	case FILE_LOCK_OFD:
		k = "OFD";
		break;
	case FILE_LOCK_FLOCK:
		k = "flock";
		break;
	default:
		k = name && *name ? name : "unknown";
	}
	if (kind == FILE_LOCK_FLOCK)
		t = type == F_WRLCK ? "exclusive" : type == F_RDLCK ? "shared" : "unlock";
	else
		t = type == F_WRLCK ? "write" : type == F_RDLCK ? "read" : "unlock";
	if (kind != FILE_LOCK_POSIX && kind != FILE_LOCK_OFD)
		snprintf(buf, size, "%s %s lock", k, t);
	else if (len)
		snprintf(buf, size, "%s %s lock on bytes %" PRId64 "-%" PRId64, k, t, start,
			 start + len - 1);
	else
		snprintf(buf, size, "%s %s lock on bytes %" PRId64 "-EOF", k, t, start);
	return buf;
}

const char *file_lock_desc(const struct file_lock *l, char *buf, size_t size)
{
	return file_lock_str(l->kind, l->name, l->type, l->start, l->len, buf, size);
}

/* 1: flock; 2: the byte-range locks (POSIX and OFD share one list); 0: other. */
static int family(uint32_t kind)
{
	if (kind == FILE_LOCK_FLOCK)
		return 1;
	if (kind == FILE_LOCK_POSIX || kind == FILE_LOCK_OFD)
		return 2;
	return 0;
}

int file_lock_conflicts(uint32_t kind, int type, int64_t start, int64_t len,
			const struct file_lock *other)
{
	int64_t end = len ? start + len - 1 : INT64_MAX;
	int64_t oend = other->len ? other->start + other->len - 1 : INT64_MAX;
	int fam = family(kind);

	if (other->blocked || !fam || fam != family(other->kind))
		return 0;
	if (type != F_WRLCK && other->type != F_WRLCK)
		return 0;
	return fam == 1 || (start <= oend && other->start <= end);
}

int file_lock_read_proc(struct file_lock **out, size_t *nr)
{
	struct file_lock *v = NULL, *nv;
	size_t n = 0, cap = 0, lcap = 0;
	char *line = NULL;
	ssize_t len;
	int err = 0;
	FILE *f;

	*out = NULL;
	*nr = 0;
	f = fopen("/proc/locks", "re");
	if (!f) {
		err = -errno;
		pr_perror("cannot open /proc/locks");
		return err;
	}
	while ((len = getline(&line, &lcap, f)) > 0) {
		if (n == cap) {
			cap = cap ? 2 * cap : 32;
			nv = realloc(v, cap * sizeof(*v));
			if (!nv) {
				err = -ENOMEM;
				break;
			}
			v = nv;
		}
		err = file_lock_parse(line, (size_t)len, &v[n]);
		if (err) {
			pr_err("/proc/locks: cannot parse '%.*s'", (int)strcspn(line, "\n"), line);
			break;
		}
		n++;
	}
	if (!err && ferror(f)) {
		err = -EIO;
		pr_err("cannot read /proc/locks");
	}
	free(line);
	fclose(f);
	if (err) {
		free(v);
		return err;
	}
	*out = v;
	*nr = n;
	return 0;
}
