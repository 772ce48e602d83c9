/* SPDX-License-Identifier: MIT */
/*
 * Which pages of a process to dump.
 *
 * The scan looks at the page tables of another process through its
 * /proc/PID/pagemap, with the PAGEMAP_SCAN ioctl (6.7+) when the kernel has
 * it, or by reading the 64-bit pagemap entries otherwise. It never touches
 * the memory itself, so it does not fault anything in.
 *
 * Results are runs of whole 4 KiB pages, appended in address order to an
 * array the caller owns; a run that starts where the previous one ended is
 * merged into it.
 *
 * Swapped entries are reported as pages to dump: besides real swap (whose
 * contents matter) they include migration entries and the uffd-wp markers of
 * pages never populated. The latter read back as zeros; dumping them is
 * wasteful but not wrong. Guard regions (MADV_GUARD_INSTALL, 6.13+) are
 * never reported: they have no contents and reading them faults.
 */
#ifndef FERRY_MEM_SCAN_H
#define FERRY_MEM_SCAN_H

#include <stddef.h>
#include <stdint.h>

/* A run of pages: [start, start + nr_pages * 4096), start page-aligned. */
struct page_run {
	uint64_t start;
	uint64_t nr_pages;
};

/*
 * page_runs_append - append [start, start + nr_pages * 4096) to the growable
 * array *@runs (*@nr used, *@cap allocated; realloc'ed as needed). Runs must
 * come in address order: one that touches or overlaps the last run (starting
 * inside it or at its end) extends it. Returns 0 or -ENOMEM.
 */
int page_runs_append(struct page_run **runs, size_t *nr, size_t *cap, uint64_t start,
		     uint64_t nr_pages);

enum mem_scan_mode {
	/*
	 * Private or shared anonymous memory: pages present or swapped, except
	 * those mapping the shared zero page (read but never written). The zero
	 * page is only recognised by the PAGEMAP_SCAN path.
	 */
	MEM_SCAN_ANON = 0,
	/*
	 * Private file mapping: only the pages the process changed, i.e. its
	 * own anonymous copies (not PAGE_IS_FILE). Pages still shared with the
	 * page cache are restored from the file and not reported.
	 */
	MEM_SCAN_PRIVATE_FILE = 1,
	/*
	 * A flag, ORed into one of the above: skip the PAGEMAP_SCAN ioctl and
	 * read /proc/PID/pagemap entries, as on kernels older than 6.7. Meant
	 * for tests and for comparing the two paths.
	 */
	MEM_SCAN_READ_PAGEMAP = 0x100,
};

/*
 * mem_scan_range - find the pages worth dumping in [start, end) of the
 * process whose /proc/PID/pagemap is open (read-only) at @pagemap_fd.
 *
 * @mode is one of enum mem_scan_mode, optionally ORed with
 * MEM_SCAN_READ_PAGEMAP. The runs found are appended to the growable array
 * *@runs of *@nr used and *@cap allocated elements (realloc'ed as needed;
 * start with NULL, 0, 0 and free() it when done). A run adjacent to the last
 * one already in the array is merged into it. Holes (unmapped addresses) in
 * the range are skipped.
 *
 * Falls back to reading pagemap entries by itself when the ioctl answers
 * ENOTTY or EINVAL (a kernel without PAGEMAP_SCAN).
 *
 * Returns 0, -EINVAL if @start or @end is not page-aligned, @end < @start or
 * @mode is unknown, -ENOMEM, -ESRCH if the process has no memory any more
 * (pagemap read path), or the -errno of the ioctl or read. On error the
 * runs already appended stay in the array.
 */
int mem_scan_range(int pagemap_fd, uint64_t start, uint64_t end, enum mem_scan_mode mode,
		   struct page_run **runs, size_t *nr, size_t *cap);

/*
 * mem_scan_entries - read the 64-bit /proc/PID/pagemap entries of [start,
 * end) (page-aligned, checked by the caller) from @fd and append the pages
 * for which @want(entry, @arg) is true to the growable array *@runs (as
 * mem_scan_range does); *@found (may be NULL) is increased by their number.
 * Returns 0, -ENOMEM, -ESRCH if the process has no memory any more, or the
 * read's -errno (each logged with the fd and address).
 */
int mem_scan_entries(int fd, uint64_t start, uint64_t end, int (*want)(uint64_t ent, void *arg),
		     void *arg, struct page_run **runs, size_t *nr, size_t *cap, uint64_t *found);

/*
 * mem_pagemap_entry - the pagemap entry of the page holding @addr, read from
 * the /proc/PID/pagemap open at @fd, into *@ent. Returns 0 or -errno (-EIO on
 * a short read); not logged.
 */
int mem_pagemap_entry(int fd, uint64_t addr, uint64_t *ent);

/*
 * mem_pagemap_is_marker - 1 if pagemap entry @ent is a pte marker (the
 * uffd-wp marker left on a never-touched page of a write-protected range, or
 * a guard region): no page, no data. Needs PFNs shown (root); reads 0 without.
 */
int mem_pagemap_is_marker(uint64_t ent);

/* mem_zero_page: what a read fault on untouched private anonymous memory maps. */
enum mem_zero_page {
	MEM_ZERO_SHARED,  /* the shared zero page (its PFN known when PFNs are shown) */
	MEM_ZERO_NONE,	  /* a page of its own: this kernel maps no zero page
			   * (e.g. a guest booted with pvm_no_zero_page=1) */
	MEM_ZERO_UNKNOWN, /* PFNs hidden (no CAP_SYS_ADMIN), or the test failed */
};

/*
 * mem_zero_page - probe once per process, by reading two fresh pages of our
 * own, whether the kernel maps the shared zero page on a read fault; *@pfn
 * (may be NULL) gets its PFN for MEM_ZERO_SHARED, else 0. Cannot fail.
 */
enum mem_zero_page mem_zero_page(uint64_t *pfn);

#endif
