/* SPDX-License-Identifier: MIT */
/*
 * userfaultfd and PAGEMAP_SCAN, the two kernel interfaces dirty tracking and
 * lazy restore are built on.
 *
 * A userfaultfd belongs to the mm of the process that created it, but every
 * ioctl below works on whichever process that is: ferry takes a target's
 * uffd with pidfd_getfd(2) and registers the target's ranges from outside.
 *
 * PAGEMAP_SCAN (6.7+) on /proc/PID/pagemap walks page tables without
 * touching memory. With PM_SCAN_WP_MATCHING it write-protects again the pages
 * it reports, in the same pass: with UFFD_FEATURE_WP_ASYNC that is "read and
 * clear the dirty bits" (uffd_scan_written).
 */
#ifndef FERRY_UFFD_H
#define FERRY_UFFD_H

#include <stddef.h>
#include <stdint.h>

#include "mem_scan.h"

/*
 * uffd_api - the UFFDIO_API handshake on @fd asking for @features.
 * *@got (may be NULL) receives the features the kernel reports.
 * Returns 0, -EINVAL if the kernel lacks one of @features, or -errno.
 */
int uffd_api(int fd, uint64_t features, uint64_t *got);

/*
 * uffd_register - UFFDIO_REGISTER [@start, @start + @len) with @mode
 * (UFFDIO_REGISTER_MODE_*). *@ioctls (may be NULL) receives the ioctls the
 * range supports. Returns 0 or -errno (-EINVAL for a range the kernel cannot
 * register, -EBUSY if another uffd has it, -ENOMEM/-ESRCH if the mm is gone).
 */
int uffd_register(int fd, uint64_t start, uint64_t len, uint64_t mode, uint64_t *ioctls);

/* uffd_unregister - UFFDIO_UNREGISTER of a range. Returns 0 or -errno. */
int uffd_unregister(int fd, uint64_t start, uint64_t len);

/*
 * uffd_writeprotect - UFFDIO_WRITEPROTECT a registered range (@protect 1) or
 * lift the protection (0). Returns 0 or -errno.
 */
int uffd_writeprotect(int fd, uint64_t start, uint64_t len, int protect);

/*
 * uffd_scan_written - the pages of [@start, @end) written since they were
 * last write-protected, appended as runs to *@runs (*@nr used, *@cap
 * allocated; same growable-array rules as mem_scan_range()). With @rearm the
 * same PAGEMAP_SCAN write-protects them again (PM_SCAN_WP_MATCHING).
 *
 * Every page of the range must be in a VMA registered with an async WP
 * userfaultfd (PM_SCAN_CHECK_WPASYNC): -EPERM otherwise, before anything in
 * the range is touched when the range is one VMA. Only PAGE_IS_WRITTEN is
 * asked for, as category and return mask: other masks misreport pages
 * dropped with MADV_DONTNEED on some kernels. Pages never populated are not
 * "written".
 *
 * Returns 0, -EINVAL for unaligned bounds, -EPERM as above, -ENOTTY without
 * PAGEMAP_SCAN, -ENOMEM, or the ioctl's -errno. *@pages (may be NULL) gets
 * the number of pages appended.
 */
int uffd_scan_written(int pagemap_fd, uint64_t start, uint64_t end, int rearm,
		      struct page_run **runs, size_t *nr, size_t *cap, uint64_t *pages);

#endif
