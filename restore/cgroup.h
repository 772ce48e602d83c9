/* SPDX-License-Identifier: MIT */
/*
 * cgroup membership of the restored tasks, from CRIU's cgroup.img and the
 * cg_set of each core (user/dump/dump_cgroup.h writes them).
 *
 * rcgroup_load() reads cgroup.img (a dump without one keeps ferry's cgroups,
 * as before) and checks, before any process exists, that every process's set
 * is in it, that each path is absolute without "." or ".." parts, and that
 * each hierarchy (v1 by its controllers or name=, v2 as "") is mounted here.
 *
 * rcgroup_join() moves a process, before its memory and its other threads
 * exist, into the dumped cgroup of each hierarchy where it is elsewhere: it
 * writes the pid into cgroup.procs of the directory under the hierarchy's
 * mount point, making the directory (and its parents) when it is missing.
 * A cgroup that refuses the process fails the restore, named.
 */
#ifndef FERRY_RESTORE_CGROUP_H
#define FERRY_RESTORE_CGROUP_H

#include "cgroup.pb-c.h"
#include "images.h"
#include "rtask.h"

struct rcgroups {
	CgroupEntry *cg; /* NULL: no cgroup.img */
	char *dir;	 /* the images directory, for messages */
};

int rcgroup_load(struct rcgroups *c, const struct rimg *r);
int rcgroup_join(const struct rcgroups *c, const struct rtask *t);
void rcgroup_free(struct rcgroups *c);

#endif
