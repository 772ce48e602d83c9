/* SPDX-License-Identifier: MIT */
/*
 * The owner for signals of each restored description (CRIU's fown_entry):
 * F_SETSIG, F_SETOWN_EX with the dumped type (thread, process or process
 * group) and the owner's uids, then O_ASYNC. The owner must exist when it is
 * set, so ferry keeps its own copy of each description that has one
 * (rfown_keep, while it still holds them all) and sets it once every thread
 * of the tree exists (rfown_apply), before the tree runs; O_ASYNC is set by
 * each process itself (rfown_async), so that si_fd is its fd.
 */
#ifndef FERRY_RESTORE_FOWN_H
#define FERRY_RESTORE_FOWN_H

#include <stddef.h>

#include "files.h"
#include "images.h"
#include "rtask.h"

struct rfown {
	int *fd;   /* ferry's copy of the description */
	long *idx; /* its entry: r->files[idx] */
	size_t nr;
};

/*
 * rfown_keep - duplicate (above @f->base) every description of @f whose entry
 * has an owner, a signal or O_ASYNC. Returns 0 or -errno.
 */
int rfown_keep(struct rfown *k, const struct rimg *r, const struct rfiles *f);

/*
 * rfown_apply - set the signal and the owner (as its uids) of each kept
 * description, O_ASYNC off, then close them. An owner that does not exist (outside
 * the tree and gone) fails with -ESRCH, naming the pid, fd and owner.
 */
int rfown_apply(struct rfown *k, const struct rimg *r);

/*
 * rfown_async - O_ASYNC again on each fd of @t whose entry has it, by the
 * process itself: the kernel's si_fd is the fd number O_ASYNC was set
 * through. After rfown_apply (which leaves it off). Returns 0 or -errno.
 */
int rfown_async(struct rtask *t, const struct rimg *r);

/* rfown_drop - close what is kept (after an error) and free it. */
void rfown_drop(struct rfown *k);

#endif
