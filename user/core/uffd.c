// SPDX-License-Identifier: MIT
/*
 * userfaultfd ioctls and the PAGEMAP_SCAN dirty scan (see uffd.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/userfaultfd.h>

#include "compat.h"
#include "uffd.h"

#define LOG_PREFIX "uffd: "
#include "log.h"

#define UFFD_PAGE 4096ULL
#define SCAN_VEC 512

int uffd_api(int fd, uint64_t features, uint64_t *got)
{
	struct uffdio_api api = { .api = UFFD_API, .features = features };

	if (ioctl(fd, UFFDIO_API, &api))
		return -errno;
	if (got)
		*got = api.features;
	return 0;
}

int uffd_register(int fd, uint64_t start, uint64_t len, uint64_t mode, uint64_t *ioctls)
{
	struct uffdio_register reg = {
		.range = { .start = start, .len = len },
		.mode = mode,
	};

	if (ioctl(fd, UFFDIO_REGISTER, &reg))
		return -errno;
	if (ioctls)
		*ioctls = reg.ioctls;
	return 0;
}

int uffd_unregister(int fd, uint64_t start, uint64_t len)
{
	struct uffdio_range r = { .start = start, .len = len };

	return ioctl(fd, UFFDIO_UNREGISTER, &r) ? -errno : 0;
}

int uffd_writeprotect(int fd, uint64_t start, uint64_t len, int protect)
{
	struct uffdio_writeprotect wp = {
		.range = { .start = start, .len = len },
		.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0,
	};

	return ioctl(fd, UFFDIO_WRITEPROTECT, &wp) ? -errno : 0;
}

int uffd_scan_written(int pagemap_fd, uint64_t start, uint64_t end, int rearm,
		      struct page_run **runs, size_t *nr, size_t *cap, uint64_t *pages)
{
	struct page_region vec[SCAN_VEC];
	uint64_t found = 0;
	int err = 0;

	if (pages)
		*pages = 0;
	if ((start | end) & (UFFD_PAGE - 1) || end < start)
		return -EINVAL;
	while (start < end) {
		struct pm_scan_arg arg = {
			.size = sizeof(arg),
			.flags = PM_SCAN_CHECK_WPASYNC | (rearm ? PM_SCAN_WP_MATCHING : 0),
			.start = start,
			.end = end,
			.vec = (uintptr_t)vec,
			.vec_len = SCAN_VEC,
			.category_mask = PAGE_IS_WRITTEN,
			.return_mask = PAGE_IS_WRITTEN,
		};
		long n = ioctl(pagemap_fd, PAGEMAP_SCAN, &arg);

		if (n < 0) {
			err = -errno;
			break;
		}
		for (long i = 0; i < n && !err; i++) {
			uint64_t np = (vec[i].end - vec[i].start) / UFFD_PAGE;

			err = page_runs_append(runs, nr, cap, vec[i].start, np);
			found += np;
		}
		if (err)
			break;
		/* walk_end says how far the kernel got: short when vec filled up. */
		if (arg.walk_end <= start) {
			err = -EIO;
			pr_err("PAGEMAP_SCAN made no progress at %#llx", (unsigned long long)start);
			break;
		}
		start = arg.walk_end;
	}
	if (pages)
		*pages = found;
	return err;
}
