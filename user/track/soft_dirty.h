/* SPDX-License-Identifier: MIT */
/*
 * Soft-dirty bits: the tracker's fallback on kernels without uffd-wp async or
 * PAGEMAP_SCAN (before 6.7) that were built with CONFIG_MEM_SOFT_DIRTY.
 *
 * Writing "4" to /proc/PID/clear_refs clears the soft-dirty bit of every page
 * of the process and write-protects them; the first write to a page after it
 * takes a fault that sets the bit again (pagemap bit 55), as does anything
 * that maps a page anew (a write fault, a moved page) or a VMA mapped since
 * (VM_SOFTDIRTY: all its entries read soft-dirty). A round reads the bits of
 * the pages present or swapped and clears them again, with the process
 * stopped for both.
 *
 * One case the bit misses: a page dropped (MADV_DONTNEED) and then read maps
 * the shared zero page with no soft-dirty bit, although its contents changed.
 * The scan reports a page mapping the zero page (or the huge zero page) as
 * dirty too, recognised by its PFN; when the PFNs are hidden (no
 * CAP_SYS_ADMIN), any present page not mapped exclusively is reported.
 */
#ifndef FERRY_SOFT_DIRTY_H
#define FERRY_SOFT_DIRTY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "mem_scan.h"

/*
 * soft_dirty_probe - does this kernel keep soft-dirty bits? Tried on a page
 * of ferry's own: cleared, then written. Returns 0 if the bit is set by the
 * write, -EOPNOTSUPP if it is not (CONFIG_MEM_SOFT_DIRTY off), or -errno if
 * the probe itself failed. *@clean and *@dirty (may be NULL) get the pagemap
 * entries read after the clear and after the write.
 */
int soft_dirty_probe(uint64_t *clean, uint64_t *dirty);

/* soft_dirty_supported - soft_dirty_probe() == 0, probed once. */
int soft_dirty_supported(void);

/*
 * soft_dirty_clear - clear the soft-dirty bits of every page of process @pid
 * (/proc/PID/clear_refs "4"). Returns 0 or -errno (logged with the pid).
 */
int soft_dirty_clear(pid_t pid);

/*
 * soft_dirty_scan - append to the growable array *@runs (see
 * page_runs_append) the pages of [@start, @end) that are present or swapped
 * and soft-dirty, or map the zero page (see above), reading the pagemap
 * entries of the process whose /proc/PID/pagemap is open at @pagemap_fd.
 * *@found (may be NULL) is increased by the number of such pages. Returns 0,
 * -EINVAL for an unaligned or reversed range, -ENOMEM, -ESRCH if the process
 * has no memory any more, or the read's -errno.
 */
int soft_dirty_scan(int pagemap_fd, uint64_t start, uint64_t end, struct page_run **runs,
		    size_t *nr, size_t *cap, uint64_t *found);

#endif
