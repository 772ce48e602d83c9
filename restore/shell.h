/* SPDX-License-Identifier: MIT */
/*
 * The process tree of a restore, made of "shells": copies of ferry forked
 * with the dumped pids.
 *
 * Each shell is a fork of ferry running ferry's code (shell.c). It blocks
 * every signal, asks for SIGKILL on its parent's death, takes its session
 * and process group, forks its own children with clone3(set_tid) so each
 * process has its dumped pid and parent, maps the scratch pages
 * (rtask.h), dup2s its fds into place from the descriptions ferry opened
 * (files.h), closes every other fd, reports to ferry and waits. ferry then
 * seizes it and replaces everything else from outside. Before it forks its
 * children it fills the memory they share copy-on-write (cow.h). A child
 * with its parent's files_id or fs_id is cloned with CLONE_FILES or
 * CLONE_FS; on its parent's fd table it forks its children, reports and
 * leaves the fds to its parent, which waits for that before placing them.
 */
#ifndef FERRY_RESTORE_SHELL_H
#define FERRY_RESTORE_SHELL_H

#include <stdint.h>
#include <sys/types.h>

#include "cgroup.h"
#include "files.h"
#include "images.h"

/*
 * rshell_check_pids - every pid and tid of the dump must be free: the first
 * one taken is named (with the command of the process holding it).
 * Returns 0 or -EEXIST.
 */
int rshell_check_pids(const struct rimg *r);

/*
 * rshell_create - fork the tree and wait until every shell is ready (or
 * @timeout_ms passes). A shell with copy-on-write memory to fill joins its
 * cgroups of @cg first. ferry must be a child subreaper (so that what a failed
 * attempt leaves can be reaped). Returns 0, or -errno with the failing pid
 * and step logged; on failure every shell made is killed and reaped.
 */
int rshell_create(const struct rimg *r, const struct rfiles *f, const struct rcgroups *cg,
		  uint64_t scratch, int timeout_ms);

/*
 * rshell_kill_all - SIGKILL the root (and, with @all_made, every pid of the
 * dump: once every shell reported, all of them are ferry's) and reap every
 * child of ferry until none is left. Shells that were not reached die with
 * their parents (PR_SET_PDEATHSIG) and come to ferry, a subreaper.
 */
void rshell_kill_all(const struct rimg *r, int all_made);

#endif
