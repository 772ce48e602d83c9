/* SPDX-License-Identifier: MIT */
/*
 * A workload tree driven by a test: one workload process (and maybe a child
 * of it), started in a temporary directory, dumped by ferry (which kills it)
 * and restored detached. The steps every end-to-end suite repeats.
 */
#ifndef FERRY_TEST_TREE_HELPERS_H
#define FERRY_TEST_TREE_HELPERS_H

#include <sys/types.h>

struct t_tree {
	char *dir;	  /* the test's temporary directory (malloc'd) */
	char out[512];	  /* DIR/out: the workload's stdout and stderr */
	char img[600];	  /* DIR/img: where a test usually dumps */
	pid_t pid;	  /* the workload */
	pid_t child;	  /* its child, if the test recorded one; else 0 */
	const char *name; /* the workload's name, for messages */
};

/*
 * t_tree_init - skip the test unless root; become a child subreaper (the
 * restored tree's orphans come to us); make the directory and the paths.
 */
void t_tree_init(struct t_tree *t);
/*
 * t_tree_spawn - start workload @argv (after t_tree_init) and wait for its
 * line containing "ready", which is returned (malloc'd). Fails the test,
 * printing the workload's output, if it never says it.
 */
char *t_tree_spawn(struct t_tree *t, const char *const argv[]);
/* t_tree_stop - SIGKILL the workload, its process group and its child, reap all, remove the
 * directory. */
void t_tree_stop(struct t_tree *t);
/*
 * t_tree_dump - `ferry dump -t PID -D @dir @extra`, which must succeed and
 * kill the tree: the root must die of SIGKILL; it, the child and the rest
 * of its process group are reaped.
 */
void t_tree_dump(struct t_tree *t, const char *dir, const char *extra);
/*
 * t_tree_restore - `ferry restore -D @dir -d @extra`, which must succeed:
 * the root back under its pid (the pidfile says so), untraced, and the
 * child alive if there is one.
 */
void t_tree_restore(struct t_tree *t, const char *dir, const char *extra);

#endif
