/* SPDX-License-Identifier: MIT */
/*
 * Copy-on-write memory of a restore: private anonymous pages a parent and
 * its forked child still shared at dump time come back shared, as CRIU
 * brings them back ("COW VMAs", criu/mem.c).
 *
 * The images are CRIU's: each process's pagemap lists all its pages, the
 * shared ones too (CRIU's dump does the same; a child pagemap that left them
 * out would make CRIU's restore drop them). The sharing is found again at
 * restore: a private anonymous VMA of a child that has the same start, end
 * and flags as one of its parent (same executable, no MAP_GROWSDOWN) is
 * inherited, through every generation that matches.
 *
 * The shells (shell.h) are copies of ferry: before a shell forks its
 * children it maps each such VMA at a temporary "slot" address (free in
 * ferry and in every dumped address space, the same in the whole chain)
 * and fills it: the root of a chain with its pages, an inheriting process
 * by comparing its pages with what it inherited, writing only those that
 * differ (the write breaks the sharing, as the dumped one's did) and
 * dropping (MADV_DONTNEED) those its parent has and it has not. Its
 * children are forked after that and inherit the slots. The rebuild of
 * each process (mm.h) keeps its slots, moves each to its VMA's address
 * (mremap keeps the sharing), sets the protection, and writes no page of
 * it again; a lazy restore leaves these VMAs out of the userfaultfd: they
 * are filled eagerly, before the fork, as shared memory is.
 */
#ifndef FERRY_RESTORE_COW_H
#define FERRY_RESTORE_COW_H

#include <stddef.h>
#include <stdint.h>

#include "images.h"

/* The plan of one VMA of a process (rimg_proc.cow[i] for mm->vmas[i]). */
struct rcow_vma {
	uint64_t slot; /* its temporary address in the shells; 0: not premapped */
	/* the parent's VMA it inherits (index in the parent's mm), -1: the chain's root */
	int32_t parent_vma;
};

/*
 * rcow_plan - find the VMAs shared copy-on-write between a process of @r and
 * its parent and give each chain a slot that is free in ferry now, in no
 * dumped VMA of any process and not in [@busy, @busy + @busy_len) (the
 * scratch pages). Sets r->procs[i].cow (NULL for a process with none).
 * Counts: *nr_vmas inherited VMAs, *bytes of slots. Returns 0, -ENOMEM.
 */
int rcow_plan(struct rimg *r, uint64_t busy, uint64_t busy_len, size_t *nr_vmas, uint64_t *bytes);

/*
 * rcow_premap - in the shell of process @idx, before it forks its children:
 * map and fill its slots (see above). On failure @msg says why, with the pid
 * and VMA. Returns 0 or -errno.
 */
int rcow_premap(const struct rimg *r, size_t idx, char *msg, size_t len);

/* rcow_slot - the slot of VMA @v of @p, 0 if it is not premapped (or @v is not @p's). */
uint64_t rcow_slot(const struct rimg_proc *p, const VmaEntry *v);

#endif
