// SPDX-License-Identifier: MIT
/*
 * cgroup membership of the restored tasks (see cgroup.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "cgroup.h"
#include "img.h"
#include "log.h"

#define CG_LINE 4352

/* The set a process's cores name: the leader's thread_core (CRIU 4.x), else its tc (3.x). */
static uint32_t proc_set(const struct rimg_proc *p)
{
	const CoreEntry *c = p->threads[0].core;

	if (c->thread_core && c->thread_core->has_cg_set)
		return c->thread_core->cg_set;
	if (c->tc && c->tc->has_cg_set)
		return c->tc->cg_set;
	return 0;
}

static const CgSetEntry *find_set(const CgroupEntry *cg, uint32_t id)
{
	for (size_t i = 0; i < cg->n_sets; i++)
		if (cg->sets[i]->id == id)
			return cg->sets[i];
	return NULL;
}

/* An absolute path with no empty, "." or ".." part (a trailing "/" only for the root). */
static int path_ok(const char *p)
{
	if (p[0] != '/')
		return 0;
	for (const char *s = p + 1; *s;) {
		size_t n = strcspn(s, "/");

		if (!n || (n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return 0;
		s += n;
		if (*s == '/' && !*++s)
			return 0;
	}
	return 1;
}

/* Does the comma list @opts hold every item of the comma list @want? */
static int has_all(const char *opts, const char *want)
{
	while (*want) {
		size_t n = strcspn(want, ","), found = 0;

		for (const char *o = opts; *o && !found;) {
			size_t m = strcspn(o, ",");

			found = m == n && !strncmp(o, want, n);
			o += m + (o[m] == ',');
		}
		if (!found)
			return 0;
		want += n + (want[n] == ',');
	}
	return 1;
}

/*
 * Where hierarchy @name ("" for v2) is mounted in ferry's mount namespace:
 * its mount point and the cgroup its root shows. Returns 0 or -ENOENT.
 */
static int find_mount(const char *name, char *mnt, size_t mlen, char *root, size_t rlen)
{
	char line[CG_LINE];
	int err = -ENOENT;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	if (!f)
		return -errno;
	while (err && fgets(line, sizeof(line), f)) {
		char r[CG_LINE], m[CG_LINE], type[64], sopts[CG_LINE];
		const char *dash = strstr(line, " - ");

		if (!dash || sscanf(line, "%*s %*s %*s %4351s %4351s", r, m) != 2 ||
		    sscanf(dash + 3, "%63s %*s %4351s", type, sopts) != 2)
			continue;
		if (name[0] ? strcmp(type, "cgroup") || !has_all(sopts, name)
			    : strcmp(type, "cgroup2"))
			continue;
		snprintf(mnt, mlen, "%s", m);
		snprintf(root, rlen, "%s", r);
		err = 0;
	}
	fclose(f);
	return err;
}

/* The cgroup of @pid in hierarchy @name, from /proc/PID/cgroup. Returns 0 or -ENOENT. */
static int current_path(pid_t pid, const char *name, char *out, size_t len)
{
	char path[64], line[CG_LINE];
	int err = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (err && fgets(line, sizeof(line), f)) {
		char *n = strchr(line, ':'), *p = n ? strchr(n + 1, ':') : NULL;

		if (!p)
			continue;
		*p++ = '\0';
		p[strcspn(p, "\n")] = '\0';
		if (!strcmp(n + 1, name)) {
			snprintf(out, len, "%s", p);
			err = 0;
		}
	}
	fclose(f);
	return err;
}

int rcgroup_load(struct rcgroups *c, const struct rimg *r)
{
	ProtobufCMessage *m = NULL;
	struct img *img = NULL;
	int err;

	memset(c, 0, sizeof(*c));
	c->dir = r->dir;
	err = img_open(&img, r->dirfd, "cgroup.img", IMG_CGROUP);
	if (err == -ENOENT)
		return 0; /* a dump before cgroups were kept: the tasks stay in ferry's */
	if (!err) {
		err = img_read_entry(img, &m);
		err = err == 1 ? 0 : err ? err : -EINVAL;
		if (err)
			pr_err("%s/cgroup.img: no cgroup entry", r->dir);
	}
	img_close(img);
	if (err)
		return err;
	c->cg = (CgroupEntry *)m;
	for (size_t i = 0; i < r->nr_procs; i++) {
		const struct rimg_proc *p = &r->procs[i];
		uint32_t id = proc_set(p);
		const CgSetEntry *s = id ? find_set(c->cg, id) : NULL;

		if (id && !s) {
			pr_err("%s: the core of pid %d names cgroup set %u, which cgroup.img does "
			       "not have",
			       r->dir, p->pid, id);
			err = -EINVAL;
		}
		for (size_t k = 0; s && k < s->n_ctls; k++) {
			const CgMemberEntry *cm = s->ctls[k];
			char mnt[CG_LINE], root[CG_LINE], cur[CG_LINE];
			/* Where ferry is already, its children are: nothing to join there. */
			int here = !current_path(getpid(), cm->name, cur, sizeof(cur)) &&
				   !strcmp(cur, cm->path);

			if (!path_ok(cm->path)) {
				pr_err("%s/cgroup.img: set %u: hierarchy '%s' has the path '%s', "
				       "which is not a clean absolute path",
				       r->dir, id, cm->name, cm->path);
				err = -EINVAL;
			} else if (!here &&
				   find_mount(cm->name, mnt, sizeof(mnt), root, sizeof(root))) {
				pr_err("pid %d: its cgroup %s of the %s%s hierarchy cannot be joined: "
				       "that hierarchy is not mounted here",
				       p->pid, cm->path, cm->name[0] ? "v1 " : "v2", cm->name);
				err = err ? err : -ENOTSUP;
			}
		}
	}
	if (err)
		rcgroup_free(c);
	return err;
}

/* mkdir -p @dir below the mount point @mnt (which exists). */
static int make_dirs(const char *mnt, char *dir)
{
	for (char *s = dir + strlen(mnt) + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(dir, 0755) && errno != EEXIST) {
			*s = '/';
			return -errno;
		}
		*s = '/';
	}
	if (mkdir(dir, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

static int join_one(pid_t pid, const CgMemberEntry *cm)
{
	char mnt[CG_LINE], root[CG_LINE], cur[CG_LINE], dir[2 * CG_LINE], procs[2 * CG_LINE + 16];
	const char *rel = cm->path;
	size_t rl;
	char buf[32];
	int fd, n, err;
	struct stat st;

	if (!current_path(pid, cm->name, cur, sizeof(cur)) && !strcmp(cur, cm->path))
		return 0; /* there already (ferry's own) */
	err = find_mount(cm->name, mnt, sizeof(mnt), root, sizeof(root));
	if (err)
		return err;
	rl = strcmp(root, "/") ? strlen(root) : 0;
	if (rl && (strncmp(rel, root, rl) || (rel[rl] && rel[rl] != '/'))) {
		pr_err("pid %d: its cgroup %s is outside the part %s of the %s hierarchy mounted "
		       "at %s",
		       pid, cm->path, root, cm->name[0] ? cm->name : "v2", mnt);
		return -ENOTSUP;
	}
	rel += rl;
	snprintf(dir, sizeof(dir), "%s%s", mnt, strcmp(rel, "/") ? rel : "");
	if (stat(dir, &st)) {
		err = make_dirs(mnt, dir);
		if (err) {
			pr_errno(err, "pid %d: cannot make its cgroup directory %s", pid, dir);
			return err;
		}
		pr_info("pid %d: made the cgroup %s (%s), which did not exist", pid, dir,
			cm->name[0] ? cm->name : "v2");
	}
	snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
	n = snprintf(buf, sizeof(buf), "%d\n", pid);
	fd = open(procs, O_WRONLY | O_CLOEXEC);
	err = fd < 0 ? -errno : write(fd, buf, (size_t)n) == n ? 0 : -errno;
	if (fd >= 0)
		close(fd);
	if (err)
		pr_errno(err, "pid %d: cannot join its cgroup %s (write to %s)", pid, cm->path,
			 procs);
	else
		pr_debug("pid %d: joined %s", pid, dir);
	return err;
}

int rcgroup_join(const struct rcgroups *c, const struct rtask *t)
{
	uint32_t id;
	const CgSetEntry *s;
	int err = 0;

	if (!c->cg || !(id = proc_set(t->ip)))
		return 0;
	s = find_set(c->cg, id);
	for (size_t k = 0; s && k < s->n_ctls && !err; k++)
		err = join_one(t->pid, s->ctls[k]);
	return err;
}

void rcgroup_free(struct rcgroups *c)
{
	if (c->cg)
		protobuf_c_message_free_unpacked(&c->cg->base, NULL);
	c->cg = NULL;
}
