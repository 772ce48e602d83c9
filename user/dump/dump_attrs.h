/* SPDX-License-Identifier: MIT */
/*
 * Process and memory attributes that a dump must keep or refuse by name,
 * never drop (issue "Nothing lost in silence"; docs/coverage.md lists them):
 *  - kept: PR_SET_THP_DISABLE (mm-PID.img thp_disabled, CRIU's field; read
 *    with a remote prctl: /proc's THP_enabled says 1 for the 6.18 variant),
 *    guard regions (MADV_GUARD_INSTALL, seen by PAGEMAP_SCAN's
 *    PAGE_IS_GUARD, 6.14+), as CRIU 4.2 keeps them: vma_entries of status
 *    VMA_AREA_GUARD after the real VMAs of mm-PID.img;
 *    MAP_DROPPABLE mappings (smaps "dp") as CRIU keeps them: MAP_DROPPABLE
 *    in the vma flags, no pages (the kernel may drop them at any time: a
 *    restore with zeros is one it could have done itself);
 *  - refused: ranges locked on fault (smaps "lf"), mlockall(MCL_FUTURE) (a probe page mapped in the
 * target comes out locked), THP disabled except where advised, a new time namespace pending for the
 * children (unshare(CLONE_NEWTIME)). The rest of the list lives where its state is dumped:
 * dump_core.c (stop signal, membarrier, SCHED_RESET_ON_FORK), dump_mm.c (mlock, file modes).
 */
#ifndef FERRY_DUMP_ATTRS_H
#define FERRY_DUMP_ATTRS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mm.pb-c.h"
#include "pstree.h"

/*
 * dump_attrs_mm - fill thp_disabled of @mm (frozen process @pid, remote
 * prctl). Returns 0 or -errno (logged with the pid).
 */
int dump_attrs_mm(pid_t pid, MmEntry *mm);

/*
 * dump_attrs_guards - the guard regions of @pid as VMA_AREA_GUARD entries
 * (*@out, malloc'ed, *@nr of them; none on a kernel that cannot say).
 * Returns 0 or -errno (logged with the pid).
 */
int dump_attrs_guards(pid_t pid, VmaEntry **out, size_t *nr);

/*
 * dump_attrs_droppable - the start addresses of the MAP_DROPPABLE VMAs of
 * @pid, in address order (*@starts malloc'ed, *@nr of them). Returns 0 or
 * -errno (logged).
 */
int dump_attrs_droppable(pid_t pid, uint64_t **starts, size_t *nr);

/*
 * dump_attrs_cache - @on 1: from now on each process's smaps (a page table
 * walk of all its memory) is read once and kept; only while the tree is
 * frozen, so that it cannot change. @on 0: drop what was kept, read afresh.
 */
void dump_attrs_cache(int on);

/*
 * dump_attrs_check - preflight: log every object of the refused list above
 * of @p (frozen) with its pid and address range.
 * Returns 0, -ENOTSUP when something was refused, or the -errno of /proc.
 */
int dump_attrs_check(const struct pproc *p);

#endif
