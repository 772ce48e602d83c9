// SPDX-License-Identifier: MIT
/*
 * Soft-dirty bits through /proc/PID/clear_refs and /proc/PID/pagemap (see
 * soft_dirty.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "compat.h"
#include "soft_dirty.h"

#define LOG_PREFIX "soft-dirty: "
#include "log.h"

#define SD_PAGE 4096ULL
#define SD_HUGE (2ULL << 20)

int soft_dirty_probe(uint64_t *clean, uint64_t *dirty)
{
	volatile unsigned char *mem;
	uint64_t c = 0, d = 0;
	int cr = -1, pm = -1, err;

	mem = mmap(NULL, SD_PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mem == MAP_FAILED)
		return -errno;
	mem[0] = 1;
	cr = open("/proc/self/clear_refs", O_WRONLY | O_CLOEXEC);
	pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (cr < 0 || pm < 0) {
		err = -errno;
		goto out;
	}
	if (write(cr, "4", 1) != 1) {
		err = -errno;
		goto out;
	}
	err = mem_pagemap_entry(pm, (uintptr_t)mem, &c);
	if (err)
		goto out;
	mem[0] = 2;
	err = mem_pagemap_entry(pm, (uintptr_t)mem, &d);
	if (err)
		goto out;
	err = (d & PAGEMAP_ENTRY_SOFT_DIRTY) ? 0 : -EOPNOTSUPP;
out:
	if (clean)
		*clean = c;
	if (dirty)
		*dirty = d;
	if (cr >= 0)
		close(cr);
	if (pm >= 0)
		close(pm);
	munmap((void *)mem, SD_PAGE);
	return err;
}

int soft_dirty_supported(void)
{
	static int known = -1;

	if (known < 0)
		known = soft_dirty_probe(NULL, NULL) == 0;
	return known;
}

int soft_dirty_clear(pid_t pid)
{
	char path[64];
	int fd, err = 0;

	snprintf(path, sizeof(path), "/proc/%d/clear_refs", pid);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		pr_perror("pid %d: cannot open %s", pid, path);
		return err;
	}
	if (write(fd, "4", 1) != 1) {
		err = -errno;
		pr_perror("pid %d: cannot clear its soft-dirty bits (%s)", pid, path);
	}
	close(fd);
	return err;
}

/* The PFNs of the zero page and of the huge zero page (0 if unknown), found once. */
static struct {
	int done;
	enum mem_zero_page kind;
	uint64_t pfn, huge_pfn;
} zero;

static uint64_t read_pfn_of(int pm, const volatile unsigned char *p)
{
	uint64_t ent = 0;

	(void)p[0]; /* a read fault maps the zero page */
	if (mem_pagemap_entry(pm, (uintptr_t)p, &ent) || !(ent & PAGEMAP_ENTRY_PRESENT))
		return 0;
	return ent & PAGEMAP_ENTRY_PFN_MASK;
}

static void find_zero_pfns(void)
{
	unsigned char *big;
	int pm;

	zero.done = 1;
	zero.kind = mem_zero_page(&zero.pfn);
	if (zero.kind != MEM_ZERO_SHARED)
		return;
	pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm < 0)
		return;
	big = mmap(NULL, 2 * SD_HUGE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (big != MAP_FAILED) {
		unsigned char *a =
			(unsigned char *)(((uintptr_t)big + SD_HUGE - 1) & ~(SD_HUGE - 1));
		uint64_t pfn;

		madvise(a, SD_HUGE, MADV_HUGEPAGE);
		pfn = read_pfn_of(pm, a);
		if (pfn != zero.pfn)
			zero.huge_pfn = pfn;
		munmap(big, 2 * SD_HUGE);
	}
	close(pm);
	pr_debug("zero page pfn %#llx, huge zero page pfn %#llx", (unsigned long long)zero.pfn,
		 (unsigned long long)zero.huge_pfn);
}

static int maps_zero(uint64_t ent)
{
	uint64_t pfn = ent & PAGEMAP_ENTRY_PFN_MASK;

	if (!(ent & PAGEMAP_ENTRY_PRESENT))
		return 0;
	/* No zero page: a page read after a drop is a new page, soft-dirty as any new one. */
	if (zero.kind == MEM_ZERO_NONE)
		return 0;
	if (!zero.pfn || !pfn) /* PFNs hidden: anything not ours alone may be the zero page */
		return !(ent & (PAGEMAP_ENTRY_EXCLUSIVE | PAGEMAP_ENTRY_FILE));
	return pfn == zero.pfn ||
	       (zero.huge_pfn && pfn >= zero.huge_pfn && pfn < zero.huge_pfn + SD_HUGE / SD_PAGE);
}

/* mem_scan_entries' test: changed since the last clear (see soft_dirty.h). */
static int changed(uint64_t ent, void *arg)
{
	(void)arg;
	if (ent & PAGEMAP_ENTRY_GUARD)
		return 0;
	if ((ent & (PAGEMAP_ENTRY_PRESENT | PAGEMAP_ENTRY_SWAP)) &&
	    (ent & PAGEMAP_ENTRY_SOFT_DIRTY))
		return 1;
	return maps_zero(ent);
}

int soft_dirty_scan(int pagemap_fd, uint64_t start, uint64_t end, struct page_run **runs,
		    size_t *nr, size_t *cap, uint64_t *found)
{
	if ((start | end) & (SD_PAGE - 1) || end < start) {
		pr_err("pagemap fd %d: bad range %#llx-%#llx", pagemap_fd,
		       (unsigned long long)start, (unsigned long long)end);
		return -EINVAL;
	}
	if (!zero.done)
		find_zero_pfns();
	return mem_scan_entries(pagemap_fd, start, end, changed, NULL, runs, nr, cap, found);
}
