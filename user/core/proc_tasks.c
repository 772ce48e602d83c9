// SPDX-License-Identifier: MIT
/*
 * /proc parsing (see proc_parse.h): the thread and child lists
 * (/proc/PID/task, task/TID/children) and /proc links (proc_read_link,
 * proc_vma_path through map_files). Shared helpers: proc_parse_priv.h.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX "proc: "
#include "log.h"
#include "proc_parse.h"
#include "proc_parse_priv.h"

/* ---- thread and child lists --------------------------------------------------------------- */

struct pid_vec {
	pid_t *v;
	size_t n, cap;
};

static int pid_vec_push(struct pid_vec *pv, pid_t p)
{
	if (pv->n == pv->cap) {
		size_t cap = pv->cap ? pv->cap * 2 : 16;
		pid_t *nv = realloc(pv->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		pv->v = nv;
		pv->cap = cap;
	}
	pv->v[pv->n++] = p;
	return 0;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

/* Sort and drop duplicates. */
static void pid_vec_sort_unique(struct pid_vec *pv)
{
	size_t i, k = 0;

	if (!pv->n)
		return;
	qsort(pv->v, pv->n, sizeof(*pv->v), cmp_pid);
	for (i = 1; i < pv->n; i++)
		if (pv->v[i] != pv->v[k])
			pv->v[++k] = pv->v[i];
	pv->n = k + 1;
}

/* A directory entry name that is a positive decimal pid. */
static int name_to_pid(const char *name, pid_t *out)
{
	const char *p = name, *end = name + strlen(name);
	uint64_t v;

	if (!*name || *name == '-' || parse_num(&p, end, 10, &v) || p != end || !v || v > INT_MAX)
		return -EINVAL;
	*out = (pid_t)v;
	return 0;
}

int proc_list_threads(pid_t pid, pid_t **tids, size_t *n)
{
	struct pid_vec pv = { 0 };
	char path[PROC_PATH_MAX];
	struct dirent *de;
	DIR *d;
	pid_t t;
	int err = 0;

	if (pid <= 0)
		return -ESRCH;
	proc_path(path, sizeof(path), pid, 0, "task");
	d = opendir(path);
	if (!d) {
		err = errno == ENOENT ? -ESRCH : -errno;
		if (err != -ESRCH)
			pr_perror("pid %d: cannot open %s", (int)pid, path);
		return err;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno) {
				err = -errno;
				pr_perror("pid %d: cannot read %s", (int)pid, path);
				goto err;
			}
			break;
		}
		if (name_to_pid(de->d_name, &t))
			continue;
		err = pid_vec_push(&pv, t);
		if (err)
			goto err;
	}
	closedir(d);
	if (!pv.n) /* a process always has a task; none means it was reaped meanwhile */
		return -ESRCH;
	pid_vec_sort_unique(&pv);
	*tids = pv.v;
	*n = pv.n;
	return 0;

err:
	closedir(d);
	free(pv.v);
	return err;
}

/* Add the pids of /proc/PID/task/TID/children to @pv. */
static int add_children(pid_t pid, pid_t tid, struct pid_vec *pv)
{
	char path[PROC_PATH_MAX], *buf, q[SNIP_MAX];
	const char *p, *end;
	uint64_t v;
	size_t len;
	int err;

	proc_path(path, sizeof(path), pid, tid, "children");
	err = proc_read_whole(path, pid, tid, &buf, &len);
	if (err)
		return err;
	p = buf;
	end = buf + len;
	for (;;) {
		while (p < end && (*p == ' ' || *p == '\n'))
			p++;
		if (p == end)
			break;
		if (parse_num(&p, end, 10, &v) || !v || v > INT_MAX || !at_token_end(p, end)) {
			pr_err("pid %d: %s: not a pid list: '%s'", (int)pid, path,
			       snip(q, buf, len));
			err = -EINVAL;
			break;
		}
		err = pid_vec_push(pv, (pid_t)v);
		if (err)
			break;
	}
	free(buf);
	return err;
}

int proc_list_children(pid_t pid, pid_t **kids, size_t *n)
{
	struct pid_vec pv = { 0 };
	size_t i, nt, alive = 0;
	pid_t *tids;
	int err;

	err = proc_list_threads(pid, &tids, &nt);
	if (err)
		return err;
	for (i = 0; i < nt; i++) {
		err = add_children(pid, tids[i], &pv);
		if (err == -ESRCH) /* that thread exited meanwhile */
			continue;
		if (err == -ENOENT) {
			pr_err("pid %d: the kernel has no /proc/PID/task/TID/children "
			       "(CONFIG_PROC_CHILDREN)",
			       (int)pid);
			err = -EOPNOTSUPP;
		}
		if (err)
			goto out;
		alive++;
	}
	if (!alive) {
		err = -ESRCH;
		goto out;
	}
	pid_vec_sort_unique(&pv);
	*kids = pv.v;
	*n = pv.n;
	pv.v = NULL;
	err = 0;
out:
	free(pv.v);
	free(tids);
	return err;
}

/* ---- links -------------------------------------------------------------------------------- */

int proc_read_link(pid_t pid, const char *what, char *buf, size_t size)
{
	char path[PROC_PATH_MAX + PATH_MAX];
	ssize_t got;
	int err;

	if (pid <= 0)
		return -ESRCH;
	if (!size)
		return -ENAMETOOLONG;
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	got = readlink(path, buf, size);
	if (got < 0) {
		err = errno == ENOENT ? proc_gone_or_enoent(pid, 0) : -errno;
		if (err != -ESRCH && err != -ENOENT)
			pr_errno(err, "pid %d: cannot read link %s", (int)pid, path);
		return err;
	}
	if ((size_t)got >= size) {
		pr_err("pid %d: link %s does not fit in %zu bytes", (int)pid, path, size);
		return -ENAMETOOLONG;
	}
	buf[got] = '\0';
	return 0;
}

int proc_vma_path(pid_t pid, uint64_t start, uint64_t end, char **path)
{
	char what[64], *buf;
	int err;

	/* readlink of a /proc link fills at most one page: PATH_MAX + 1 bytes always do. */
	buf = malloc(PATH_MAX + 1);
	if (!buf)
		return -ENOMEM;
	snprintf(what, sizeof(what), "map_files/%llx-%llx", (unsigned long long)start,
		 (unsigned long long)end);
	err = proc_read_link(pid, what, buf, PATH_MAX + 1);
	if (err) {
		free(buf);
		return err;
	}
	*path = buf;
	return 0;
}
