/* SPDX-License-Identifier: MIT */
/*
 * cgroup membership of a tree, in CRIU's cgroup.img: one cg_set_entry per
 * distinct /proc/PID/cgroup of the tree (ids from 1), each line of it a
 * cg_member_entry (name: the controllers of a v1 hierarchy, "name=X", or ""
 * for the v2 one; path: the cgroup below the hierarchy's root), and the core
 * of each process and thread names its set (tc.cg_set, thread_core.cg_set).
 * No controller directories or properties are dumped: the restore joins the
 * dumped path, making the directory when it is missing (restore/cgroup.h).
 */
#ifndef FERRY_DUMP_CGROUP_H
#define FERRY_DUMP_CGROUP_H

#include <stdint.h>

#include "pstree.h"

/*
 * dump_cgroup_tree - read the cgroups of every process of @t, write
 * cgroup.img into @dirfd and set @set_of[i] to the set of t->procs[i].
 * Returns 0 or -errno (logged with the pid or the image).
 */
int dump_cgroup_tree(const struct pstree *t, int dirfd, uint32_t *set_of);

#endif
