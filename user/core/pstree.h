/* SPDX-License-Identifier: MIT */
/*
 * The process tree being dumped: which processes and threads it holds, and
 * freezing them.
 *
 * Freezing seizes every thread of every process with PTRACE_SEIZE +
 * PTRACE_INTERRUPT (rsys_seize): no SIGSTOP, so neither the target nor its
 * parent sees a signal or a stop notification. A stopped thread can create no
 * thread and a process whose threads are all stopped can fork no child, so
 * the tree is walked top-down, each process's thread list re-read until a
 * pass finds no new thread, and its children listed only then: the result is
 * a stable picture of the whole tree.
 */
#ifndef FERRY_PSTREE_H
#define FERRY_PSTREE_H

#include <stddef.h>
#include <sys/types.h>

struct pproc {
	pid_t pid, ppid, pgid, sid;
	pid_t *tids; /* tids[0] is the leader (== pid) */
	size_t nr_threads;
	int parent;	/* index of the parent in pstree.procs, -1 for the root */
	int stop_signo; /* the signal that stopped it (group stop, e.g. SIGSTOP), or 0 */
	/*
	 * A zombie (dead, not reaped by its parent yet; PSTREE_ZOMBIES only):
	 * not seized, tids[0] == pid only, no children; exit_code is its wait
	 * status (what waitpid() will give its parent).
	 */
	int zombie;
	int exit_code;
	/*
	 * The first process of the tree (an index, its own when none) whose fd
	 * table it shares: made by clone(CLONE_FILES) from its parent, which
	 * has the same files_of. fs_of: the same for cwd/root/umask
	 * (CLONE_FS). Another sharing is refused by pstree_freeze.
	 */
	int files_of, fs_of;
};

struct pstree {
	struct pproc *procs; /* root first, then breadth-first */
	size_t nr;
	pid_t *seized; /* every thread ferry seized, in seizing order */
	size_t nr_seized, cap_seized;
};

/*
 * pstree_freeze - seize and stop every thread of the tree rooted at @root.
 * Refuses (and leaves nothing seized) a pid that does not exist (-ESRCH), a
 * kernel thread, ferry itself or one of its ancestors, a zombie (unless
 * PSTREE_ZOMBIES lets one below the root in) or a process
 * traced by someone else (-EPERM/-EBUSY), each with a message naming the pid.
 * On error every thread already seized is released.
 */
int pstree_freeze(struct pstree *t, pid_t root);
/*
 * PSTREE_ZOMBIES: a zombie below the root is taken into the tree (marked
 * pproc.zombie, not seized) instead of refused; the root is still refused.
 */
#define PSTREE_ZOMBIES 1u
/* pstree_freeze_flags - pstree_freeze() with PSTREE_* @flags. */
int pstree_freeze_flags(struct pstree *t, pid_t root, unsigned int flags);
/* pstree_find - the index of process @pid in the tree, or -1. */
int pstree_find(const struct pstree *t, pid_t pid);
/* pstree_release - detach every seized thread: the tree continues. */
int pstree_release(struct pstree *t);
/*
 * pstree_kill - SIGKILL every process of the tree, then detach; CRIU's
 * default end of a dump.
 */
int pstree_kill(struct pstree *t);
void pstree_free(struct pstree *t);

#endif
