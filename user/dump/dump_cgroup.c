// SPDX-License-Identifier: MIT
/*
 * cgroup.img of a tree (see dump_cgroup.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_PREFIX "dump: "
#include "cgroup.pb-c.h"
#include "dump_cgroup.h"
#include "img.h"
#include "log.h"

#define CG_MAX_LINE 4352

struct cg_set {
	CgSetEntry e;
	CgMemberEntry *ctls;
	CgMemberEntry **ptrs;
	char *text; /* /proc/PID/cgroup as read: the names and paths point into it */
};

static void free_set(struct cg_set *s)
{
	free(s->ctls);
	free(s->ptrs);
	free(s->text);
}

static int cmp_member(const void *a, const void *b)
{
	const CgMemberEntry *x = a, *y = b;

	return strcmp(x->name, y->name);
}

/* Parse /proc/@pid/cgroup into @s: "ID:NAME:PATH" per line, sorted by NAME. */
static int read_set(pid_t pid, struct cg_set *s)
{
	char path[64], line[CG_MAX_LINE];
	size_t n = 0, cap = 0, used = 0;
	int err = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/cgroup", pid);
	f = fopen(path, "re");
	if (!f) {
		err = -errno;
		pr_perror("pid %d: cannot open %s", pid, path);
		return err;
	}
	memset(s, 0, sizeof(*s));
	while (!err && fgets(line, sizeof(line), f)) {
		size_t len = strlen(line);
		char *name, *cpath, *copy;

		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		name = strchr(line, ':');
		cpath = name ? strchr(name + 1, ':') : NULL;
		if (!cpath || cpath[1] != '/') {
			pr_err("pid %d: %s: cannot parse the line '%s'", pid, path, line);
			err = -EINVAL;
			break;
		}
		if (n == cap) {
			size_t ncap = cap ? 2 * cap : 16;
			CgMemberEntry *m = realloc(s->ctls, ncap * sizeof(*m));

			if (!m) {
				err = -ENOMEM;
				break;
			}
			s->ctls = m;
			cap = ncap;
		}
		copy = realloc(s->text, used + len + 1);
		if (!copy) {
			err = -ENOMEM;
			break;
		}
		/* Offsets now, pointers once the text stops moving. */
		memcpy(copy + used, line, len + 1);
		s->text = copy;
		copy[used + (size_t)(name - line) + 1 + (size_t)(cpath - name - 1)] = '\0';
		cg_member_entry__init(&s->ctls[n]);
		s->ctls[n].name = (char *)(uintptr_t)(used + (size_t)(name - line) + 1);
		s->ctls[n].path = (char *)(uintptr_t)(used + (size_t)(cpath - line) + 1);
		n++;
		used += len + 1;
	}
	fclose(f);
	if (!err && !n)
		return 0; /* a kernel without cgroups (or none mounted ever): no set */
	if (!err)
		s->ptrs = calloc(n, sizeof(*s->ptrs));
	if (!err && !s->ptrs)
		err = -ENOMEM;
	if (err) {
		free_set(s);
		return err;
	}
	for (size_t i = 0; i < n; i++) {
		s->ctls[i].name = s->text + (uintptr_t)s->ctls[i].name;
		s->ctls[i].path = s->text + (uintptr_t)s->ctls[i].path;
	}
	qsort(s->ctls, n, sizeof(*s->ctls), cmp_member);
	cg_set_entry__init(&s->e);
	for (size_t i = 0; i < n; i++)
		s->ptrs[i] = &s->ctls[i];
	s->e.n_ctls = n;
	s->e.ctls = s->ptrs;
	return 0;
}

static int same_set(const struct cg_set *a, const struct cg_set *b)
{
	if (a->e.n_ctls != b->e.n_ctls)
		return 0;
	for (size_t i = 0; i < a->e.n_ctls; i++)
		if (strcmp(a->ctls[i].name, b->ctls[i].name) ||
		    strcmp(a->ctls[i].path, b->ctls[i].path))
			return 0;
	return 1;
}

int dump_cgroup_tree(const struct pstree *t, int dirfd, uint32_t *set_of)
{
	struct cg_set *sets = calloc(t->nr ? t->nr : 1, sizeof(*sets));
	CgSetEntry **ptrs = calloc(t->nr ? t->nr : 1, sizeof(*ptrs));
	CgroupEntry cg = CGROUP_ENTRY__INIT;
	size_t nr = 0;
	int err = 0;

	if (!sets || !ptrs) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < t->nr && !err; i++) {
		size_t k;

		if (t->procs[i].zombie) {
			set_of[i] = 0; /* a zombie has left its cgroups */
			continue;
		}
		err = read_set(t->procs[i].pid, &sets[nr]);
		if (err)
			break;
		if (!sets[nr].e.n_ctls) {
			set_of[i] = 0; /* the core names no set */
			free_set(&sets[nr]);
			continue;
		}
		for (k = 0; k < nr && !same_set(&sets[k], &sets[nr]); k++)
			;
		if (k < nr) {
			free_set(&sets[nr]);
		} else {
			sets[nr].e.id = (uint32_t)(nr + 1);
			ptrs[nr] = &sets[nr].e;
			nr++;
		}
		set_of[i] = (uint32_t)(k + 1);
	}
	if (err)
		goto out;
	cg.n_sets = nr;
	cg.sets = ptrs;
	err = img_write_one(dirfd, "cgroup.img", IMG_CGROUP, &cg.base);
	if (err)
		pr_err("cannot write cgroup.img");
out:
	for (size_t i = 0; sets && i < nr; i++)
		free_set(&sets[i]);
	free(sets);
	free(ptrs);
	return err;
}
