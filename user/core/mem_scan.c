// SPDX-License-Identifier: MIT
/*
 * Which pages to dump (see mem_scan.h): PAGEMAP_SCAN with a category filter,
 * or 64-bit /proc/PID/pagemap entries on kernels without the ioctl.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/mman.h>

#define LOG_PREFIX "mem_scan: "
#include "compat.h"
#include "log.h"
#include "mem_scan.h"
#include "util.h"

#define MS_PAGE_SHIFT 12
#define MS_PAGE_SIZE (1ULL << MS_PAGE_SHIFT)

/* Regions per PAGEMAP_SCAN call; the walk resumes at walk_end when it fills. */
#define MS_VEC_LEN 256
/* pagemap entries per read in the fallback. */
#define MS_PM_BATCH 1024

int page_runs_append(struct page_run **runs, size_t *nr, size_t *cap, uint64_t start,
		     uint64_t nr_pages)
{
	struct page_run *last, *tmp;
	size_t ncap;

	if (!nr_pages)
		return 0;
	if (*nr) {
		uint64_t last_end, end = start + (nr_pages << MS_PAGE_SHIFT);

		last = &(*runs)[*nr - 1];
		last_end = last->start + (last->nr_pages << MS_PAGE_SHIFT);
		if (start <= last_end && start >= last->start) {
			if (end > last_end)
				last->nr_pages = (end - last->start) >> MS_PAGE_SHIFT;
			return 0;
		}
	}
	if (*nr == *cap) {
		ncap = *cap ? *cap * 2 : 64;
		tmp = realloc(*runs, ncap * sizeof(**runs));
		if (!tmp)
			return -ENOMEM;
		*runs = tmp;
		*cap = ncap;
	}
	(*runs)[*nr].start = start;
	(*runs)[*nr].nr_pages = nr_pages;
	(*nr)++;
	return 0;
}

static int dump_wants(uint64_t ent, void *arg);

/*
 * One PAGEMAP_SCAN over [*start, end): appends what it found and moves
 * *start to where the walk stopped. Regions the kernel calls swapped, which
 * includes the uffd-wp markers of a tracked range's never-touched pages, are
 * read entry by entry and the markers left out (dump_wants). Returns 0 or
 * -errno (ioctl's errno).
 */
static int scan_once(int fd, uint64_t *start, uint64_t end, uint64_t excl, uint64_t anyof,
		     enum mem_scan_mode mode, struct page_region *vec, struct page_run **runs,
		     size_t *nr, size_t *cap)
{
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.start = *start,
		.end = end,
		.vec = (uintptr_t)vec,
		.vec_len = MS_VEC_LEN,
		.category_inverted = excl,
		.category_mask = excl,
		.category_anyof_mask = anyof,
		.return_mask = PAGE_IS_PRESENT,
	};
	int n, i, err;

	n = ioctl(fd, PAGEMAP_SCAN, &arg);
	if (n < 0)
		return -errno;
	for (i = 0; i < n; i++) {
		if (vec[i].categories & PAGE_IS_PRESENT)
			err = page_runs_append(runs, nr, cap, vec[i].start,
					       (vec[i].end - vec[i].start) >> MS_PAGE_SHIFT);
		else
			err = mem_scan_entries(fd, vec[i].start, vec[i].end, dump_wants, &mode,
					       runs, nr, cap, NULL);
		if (err)
			return err;
	}
	if (arg.walk_end <= *start || arg.walk_end > end) {
		pr_err("pagemap fd %d: PAGEMAP_SCAN of 0x%llx-0x%llx stopped at 0x%llx", fd,
		       (unsigned long long)*start, (unsigned long long)end,
		       (unsigned long long)arg.walk_end);
		return -EIO;
	}
	*start = arg.walk_end;
	return 0;
}

/*
 * Returns 0, 1 when the kernel has no usable PAGEMAP_SCAN (the first call
 * failed with ENOTTY or EINVAL, nothing appended), or -errno.
 */
static int scan_ioctl(int fd, uint64_t start, uint64_t end, enum mem_scan_mode mode,
		      struct page_run **runs, size_t *nr, size_t *cap)
{
	struct page_region vec[MS_VEC_LEN];
	uint64_t excl = PAGE_IS_PFNZERO | PAGE_IS_GUARD;
	uint64_t anyof = PAGE_IS_PRESENT | PAGE_IS_SWAPPED;
	int err = 0, first = 1;

	if (mode == MEM_SCAN_PRIVATE_FILE)
		excl |= PAGE_IS_FILE;
	while (start < end) {
		err = scan_once(fd, &start, end, excl, anyof, mode, vec, runs, nr, cap);
		if (err == -EINVAL && first && (excl & PAGE_IS_GUARD)) {
			/* 6.7-6.13 know no guard category (and have no guard regions). */
			excl &= ~(uint64_t)PAGE_IS_GUARD;
			continue;
		}
		if ((err == -ENOTTY || err == -EINVAL) && first)
			return 1;
		if (err)
			break;
		first = 0;
	}
	return err;
}

int mem_scan_entries(int fd, uint64_t start, uint64_t end, int (*want)(uint64_t ent, void *arg),
		     void *arg, struct page_run **runs, size_t *nr, size_t *cap, uint64_t *found)
{
	uint64_t *ent, addr = start, run_start = 0, run_len = 0, count = 0;
	size_t i, cnt;
	ssize_t n;
	int err = 0;

	ent = malloc(MS_PM_BATCH * sizeof(*ent));
	if (!ent)
		return -ENOMEM;
	while (addr < end) {
		cnt = (end - addr) >> MS_PAGE_SHIFT;
		if (cnt > MS_PM_BATCH)
			cnt = MS_PM_BATCH;
		n = pread(fd, ent, cnt * sizeof(*ent), (off_t)((addr >> MS_PAGE_SHIFT) * 8));
		if (n < 0) {
			err = -errno;
			pr_perror("pagemap fd %d: cannot read the entries of 0x%llx", fd,
				  (unsigned long long)addr);
			goto out;
		}
		if (n == 0 || n % sizeof(*ent)) {
			/* The mm is gone: pagemap reads as empty. */
			err = -ESRCH;
			pr_err("pagemap fd %d: short read (%zd bytes) at 0x%llx: process gone?", fd,
			       n, (unsigned long long)addr);
			goto out;
		}
		cnt = (size_t)n / sizeof(*ent);
		for (i = 0; i < cnt; i++, addr += MS_PAGE_SIZE) {
			if (want(ent[i], arg)) {
				if (!run_len)
					run_start = addr;
				run_len++;
				count++;
				continue;
			}
			err = page_runs_append(runs, nr, cap, run_start, run_len);
			if (err)
				goto nomem;
			run_len = 0;
		}
	}
	err = page_runs_append(runs, nr, cap, run_start, run_len);
nomem:
	if (err)
		pr_err("pagemap fd %d: no memory for the runs at 0x%llx", fd,
		       (unsigned long long)run_start);
out:
	if (!err && found)
		*found += count;
	free(ent);
	return err;
}

int mem_pagemap_entry(int fd, uint64_t addr, uint64_t *ent)
{
	return pread_full(fd, ent, sizeof(*ent), (addr >> MS_PAGE_SHIFT) * sizeof(*ent), NULL);
}

int mem_pagemap_is_marker(uint64_t ent)
{
	/*
	 * A pte marker is a swap entry of the last swap type, 2^5 - 1 (the
	 * kernel's SWP_PTE_MARKER), shown in the entry's low five bits when
	 * PFNs are shown (CAP_SYS_ADMIN); a swapped page has a swap file's
	 * type there, a smaller number. Without PFNs the field reads 0.
	 */
	return !(ent & PAGEMAP_ENTRY_PRESENT) && (ent & PAGEMAP_ENTRY_SWAP) &&
	       (ent & PAGEMAP_ENTRY_SWAP_TYPE) == PAGEMAP_ENTRY_SWAP_TYPE;
}

/*
 * The pages a dump takes: present or swapped, not a pte marker (uffd-wp or
 * guard: no data), not file-backed for @arg.
 */
static int dump_wants(uint64_t ent, void *arg)
{
	uint64_t excl = PAGEMAP_ENTRY_GUARD;

	if (*(const enum mem_scan_mode *)arg == MEM_SCAN_PRIVATE_FILE)
		excl |= PAGEMAP_ENTRY_FILE;
	return (ent & (PAGEMAP_ENTRY_PRESENT | PAGEMAP_ENTRY_SWAP)) && !(ent & excl) &&
	       !mem_pagemap_is_marker(ent);
}

int mem_scan_range(int pagemap_fd, uint64_t start, uint64_t end, enum mem_scan_mode mode,
		   struct page_run **runs, size_t *nr, size_t *cap)
{
	enum mem_scan_mode kind = (enum mem_scan_mode)(mode & ~MEM_SCAN_READ_PAGEMAP);
	int err;

	if ((start | end) & (MS_PAGE_SIZE - 1) || end < start ||
	    (kind != MEM_SCAN_ANON && kind != MEM_SCAN_PRIVATE_FILE)) {
		pr_err("pagemap fd %d: bad scan of 0x%llx-0x%llx, mode 0x%x", pagemap_fd,
		       (unsigned long long)start, (unsigned long long)end, (unsigned)mode);
		return -EINVAL;
	}
	if (start == end)
		return 0;
	if (!(mode & MEM_SCAN_READ_PAGEMAP)) {
		err = scan_ioctl(pagemap_fd, start, end, kind, runs, nr, cap);
		if (err <= 0) {
			if (err)
				pr_errno(err, "pagemap fd %d: PAGEMAP_SCAN of 0x%llx-0x%llx",
					 pagemap_fd, (unsigned long long)start,
					 (unsigned long long)end);
			return err;
		}
		pr_debug("pagemap fd %d: no PAGEMAP_SCAN, reading entries", pagemap_fd);
	}
	return mem_scan_entries(pagemap_fd, start, end, dump_wants, &kind, runs, nr, cap, NULL);
}

enum mem_zero_page mem_zero_page(uint64_t *pfn)
{
	static enum mem_zero_page kind = MEM_ZERO_UNKNOWN;
	static uint64_t zero_pfn;
	static int done;
	uint64_t ent[2] = { 0, 0 };
	volatile unsigned char *p;
	int pm, i;

	if (!done) {
		done = 1;
		pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
		p = mmap(NULL, 2 * MS_PAGE_SIZE, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (pm >= 0 && p != MAP_FAILED) {
			madvise((void *)p, 2 * MS_PAGE_SIZE, MADV_NOHUGEPAGE);
			for (i = 0; i < 2; i++) {
				(void)p[i * MS_PAGE_SIZE]; /* a read fault */
				if (mem_pagemap_entry(pm, (uintptr_t)p + i * MS_PAGE_SIZE,
						      &ent[i]) ||
				    !(ent[i] & PAGEMAP_ENTRY_PRESENT))
					ent[i] = 0;
				ent[i] &= PAGEMAP_ENTRY_PFN_MASK;
			}
			/* Two reads, one PFN: the zero page. Two PFNs: pages of their own. */
			if (ent[0] && ent[1]) {
				kind = ent[0] == ent[1] ? MEM_ZERO_SHARED : MEM_ZERO_NONE;
				zero_pfn = kind == MEM_ZERO_SHARED ? ent[0] : 0;
			}
		}
		if (p != MAP_FAILED)
			munmap((void *)p, 2 * MS_PAGE_SIZE);
		if (pm >= 0)
			close(pm);
		pr_debug("zero page: %s, pfn %#llx",
			 kind == MEM_ZERO_SHARED ? "shared"
			 : kind == MEM_ZERO_NONE ? "none (reads map pages of their own)"
						 : "unknown",
			 (unsigned long long)zero_pfn);
	}
	if (pfn)
		*pfn = zero_pfn;
	return kind;
}
