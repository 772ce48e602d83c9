// SPDX-License-Identifier: MIT
/*
 * mem_scan on real processes: a forked child lays out memory (sparse writes,
 * read-only zero pages, a THP, a private file mapping with a few pages
 * written, a PROT_NONE region, a hole), and both paths (PAGEMAP_SCAN and
 * reading /proc/PID/pagemap) must report what the kernel holds.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compat.h"
#include "helpers.h"
#include "mem_scan.h"

#define PG 4096ul

struct layout {
	uint64_t sparse;   /* 64 pages, pages 0-2, 10, 20-21, 63 written */
	uint64_t readonly; /* 32 pages, each read, none written */
	uint64_t thp;	   /* 2 MiB aligned, MADV_HUGEPAGE, first byte written */
	uint64_t file;	   /* 16 pages MAP_PRIVATE of a file, all read, 3, 7, 8 written */
	uint64_t prot;	   /* 8 pages, 1, 2, 5 written, then PROT_NONE */
	uint64_t holes;	   /* 16 pages all written, 4-7 unmapped */
	int thp_ok;	   /* MADV_HUGEPAGE accepted */
};

static void *map_anon(size_t len, int advice)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		_exit(10);
	if (advice >= 0 && madvise(p, len, advice))
		_exit(11);
	return p;
}

static void touch(volatile uint8_t *base, unsigned page, uint8_t v)
{
	base[page * PG + 17] = v;
}

static void child_layout(struct layout *l, const char *file)
{
	static const unsigned sparse_pages[] = { 0, 1, 2, 10, 20, 21, 63 };
	volatile uint8_t *p;
	uint8_t *raw;
	unsigned i;
	uint8_t sum = 0;
	int fd;

	p = map_anon(64 * PG, MADV_NOHUGEPAGE);
	for (i = 0; i < sizeof(sparse_pages) / sizeof(sparse_pages[0]); i++)
		touch(p, sparse_pages[i], (uint8_t)(i + 1));
	l->sparse = (uintptr_t)p;

	p = map_anon(32 * PG, MADV_NOHUGEPAGE);
	for (i = 0; i < 32; i++)
		sum += p[i * PG + 5];
	l->readonly = (uintptr_t)p;

	raw = map_anon(4u << 20, -1);
	raw = (uint8_t *)(((uintptr_t)raw + (2u << 20) - 1) & ~(uintptr_t)((2u << 20) - 1));
	l->thp_ok = !madvise(raw, 2u << 20, MADV_HUGEPAGE);
	raw[0] = 1;
	l->thp = (uintptr_t)raw;

	fd = open(file, O_RDONLY);
	if (fd < 0)
		_exit(12);
	p = mmap(NULL, 16 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
	if (p == MAP_FAILED)
		_exit(13);
	close(fd);
	for (i = 0; i < 16; i++)
		sum += p[i * PG + 9];
	touch(p, 3, 3);
	touch(p, 7, 7);
	touch(p, 8, 8);
	l->file = (uintptr_t)p;

	p = map_anon(8 * PG, MADV_NOHUGEPAGE);
	touch(p, 1, 1);
	touch(p, 2, 2);
	touch(p, 5, 5);
	if (mprotect((void *)p, 8 * PG, PROT_NONE))
		_exit(14);
	l->prot = (uintptr_t)p;

	p = map_anon(16 * PG, MADV_NOHUGEPAGE);
	for (i = 0; i < 16; i++)
		touch(p, i, (uint8_t)i);
	if (munmap((void *)(p + 4 * PG), 4 * PG))
		_exit(15);
	l->holes = (uintptr_t)p;
	(void)sum;
}

/* t_child_start's setup: the layout, with the private file mapping of file @arg. */
static void setup_layout(void *out, const void *arg)
{
	child_layout(out, arg);
}

static void spawn(struct t_child *c, struct layout *l, const char *file)
{
	t_child_start(c, setup_layout, file, l, sizeof(*l));
}

static int open_pagemap(pid_t pid)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0, "open %s: %s", path, strerror(errno));
	return fd;
}

static int have_pagemap_scan(void)
{
	static char page[PG] __attribute__((aligned(PG)));
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.start = (uintptr_t)page,
		.end = (uintptr_t)page + PG,
	};
	int fd = open("/proc/self/pagemap", O_RDONLY), ret;

	cr_assert_geq(fd, 0);
	ret = ioctl(fd, PAGEMAP_SCAN, &arg);
	close(fd);
	return ret >= 0;
}

/* Scan [base + first, base + last) (pages) and return the runs relative to base, in pages. */
static size_t scan(int pm, uint64_t base, unsigned first, unsigned last, int mode,
		   struct page_run *out, size_t max)
{
	struct page_run *runs = NULL;
	size_t nr = 0, cap = 0, i;
	int err;

	err = mem_scan_range(pm, base + first * PG, base + last * PG, (enum mem_scan_mode)mode,
			     &runs, &nr, &cap);
	cr_assert_eq(err, 0, "mem_scan_range mode 0x%x: %d", mode, err);
	cr_assert_leq(nr, max, "%zu runs, room for %zu", nr, max);
	for (i = 0; i < nr; i++) {
		cr_assert_eq(runs[i].start % PG, 0);
		out[i].start = (runs[i].start - base) / PG;
		out[i].nr_pages = runs[i].nr_pages;
	}
	free(runs);
	return nr;
}

/* Expect the runs (relative, in pages) {s0, n0, s1, n1, ...} from both paths. */
static void expect(int pm, const char *what, uint64_t base, unsigned len, int mode, int paths,
		   const unsigned *want, size_t nwant)
{
	struct page_run got[64];
	size_t n, i;
	int pass;

	for (pass = 0; pass < 2; pass++) {
		int m = mode | (pass ? MEM_SCAN_READ_PAGEMAP : 0);

		if (!(paths & (1 << pass)))
			continue;
		n = scan(pm, base, 0, len, m, got, 64);
		cr_expect_eq(n, nwant / 2, "%s (%s): %zu runs, want %zu", what,
			     pass ? "pagemap read" : "PAGEMAP_SCAN", n, nwant / 2);
		for (i = 0; i < n && i < nwant / 2; i++)
			cr_expect(got[i].start == want[2 * i] && got[i].nr_pages == want[2 * i + 1],
				  "%s (%s): run %zu is +%llu x %llu, want +%u x %u", what,
				  pass ? "pagemap read" : "PAGEMAP_SCAN", i,
				  (unsigned long long)got[i].start,
				  (unsigned long long)got[i].nr_pages, want[2 * i],
				  want[2 * i + 1]);
	}
}

#define BOTH 3
#define SCAN_ONLY 1
#define READ_ONLY 2
#define RUNS(...)                          \
	(const unsigned[]){ __VA_ARGS__ }, \
		sizeof((const unsigned[]){ __VA_ARGS__ }) / sizeof(unsigned)

TestSuite(mem_scan, .timeout = 60);

Test(mem_scan, both_paths_see_what_the_kernel_holds)
{
	struct page_run a[64], b[64];
	struct layout l;
	struct t_child c;
	char *dir, path[256];
	static uint8_t fbuf[16 * PG];
	size_t na, nb, i;
	int pm, mode;

	if (geteuid())
		cr_skip_test("reading another process's pagemap needs root");
	if (!have_pagemap_scan())
		cr_skip_test("no PAGEMAP_SCAN (Linux 6.7+): nothing to compare the fallback with");
	dir = t_tmpdir();
	cr_assert(dir);
	snprintf(path, sizeof(path), "%s/file", dir);
	memset(fbuf, 0x5a, sizeof(fbuf));
	cr_assert_eq(t_write_file(path, fbuf, sizeof(fbuf)), 0);
	spawn(&c, &l, path);
	pm = open_pagemap(c.pid);

	expect(pm, "sparse", l.sparse, 64, MEM_SCAN_ANON, BOTH, RUNS(0, 3, 10, 1, 20, 2, 63, 1));
	/*
	 * Pages only read map the zero page: not dumped; the pagemap read cannot
	 * tell. Where the kernel maps no zero page, reads made pages of their own.
	 */
	if (mem_zero_page(NULL) == MEM_ZERO_NONE)
		expect(pm, "read-only (no zero page)", l.readonly, 32, MEM_SCAN_ANON, BOTH,
		       RUNS(0, 32));
	else
		expect(pm, "read-only", l.readonly, 32, MEM_SCAN_ANON, SCAN_ONLY, NULL, 0);
	expect(pm, "read-only", l.readonly, 32, MEM_SCAN_ANON, READ_ONLY, RUNS(0, 32));
	/* Only the pages changed in the private file mapping. */
	expect(pm, "private file", l.file, 16, MEM_SCAN_PRIVATE_FILE, BOTH, RUNS(3, 1, 7, 2));
	expect(pm, "private file as anon", l.file, 16, MEM_SCAN_ANON, BOTH, RUNS(0, 16));
	/* Written before mprotect(PROT_NONE): still there, still reported. */
	expect(pm, "PROT_NONE", l.prot, 8, MEM_SCAN_ANON, BOTH, RUNS(1, 2, 5, 1));
	/* A hole in the middle of the range is skipped. */
	expect(pm, "hole", l.holes, 16, MEM_SCAN_ANON, BOTH, RUNS(0, 4, 8, 8));

	/* THP: one write populates the whole 2 MiB when the kernel gave a huge page. */
	for (mode = MEM_SCAN_ANON; mode <= MEM_SCAN_PRIVATE_FILE; mode++) {
		na = scan(pm, l.thp, 0, 512, mode, a, 64);
		nb = scan(pm, l.thp, 0, 512, mode | MEM_SCAN_READ_PAGEMAP, b, 64);
		cr_assert_eq(na, 1, "THP region: %zu runs", na);
		cr_assert_eq(nb, na, "THP region: the paths disagree (%zu vs %zu runs)", nb, na);
		for (i = 0; i < na; i++)
			cr_assert(a[i].start == b[i].start && a[i].nr_pages == b[i].nr_pages);
		cr_assert(a[0].start == 0 && (a[0].nr_pages == 512 || a[0].nr_pages == 1),
			  "THP region: +%llu x %llu", (unsigned long long)a[0].start,
			  (unsigned long long)a[0].nr_pages);
		if (mode == MEM_SCAN_ANON)
			cr_log_info("THP region: %s (MADV_HUGEPAGE %s)",
				    a[0].nr_pages == 512 ? "huge page" : "small pages",
				    l.thp_ok ? "accepted" : "refused");
	}
	/* Part of a THP: the scan splits nothing and reports just the part asked. */
	na = scan(pm, l.thp, 0, 1, MEM_SCAN_ANON, a, 64);
	cr_assert(na == 1 && a[0].start == 0 && a[0].nr_pages == 1);

	close(pm);
	t_child_reap(&c);
	t_rmrf(dir);
	free(dir);
}

/* Many small runs: more than one ioctl's output vector, the walk resumes. */
Test(mem_scan, many_runs_resume_the_walk)
{
	size_t n = 4096, i, nr = 0, cap = 0, nr2 = 0, cap2 = 0;
	struct page_run *r = NULL, *r2 = NULL;
	uint8_t *p;
	int pm, err;

	p = mmap(NULL, n * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(p, MAP_FAILED);
	cr_assert_eq(madvise(p, n * PG, MADV_NOHUGEPAGE), 0);
	for (i = 0; i < n; i += 2)
		p[i * PG] = 1;
	pm = open("/proc/self/pagemap", O_RDONLY);
	cr_assert_geq(pm, 0);
	err = mem_scan_range(pm, (uintptr_t)p, (uintptr_t)p + n * PG, MEM_SCAN_ANON, &r, &nr, &cap);
	cr_assert_eq(err, 0);
	err = mem_scan_range(pm, (uintptr_t)p, (uintptr_t)p + n * PG,
			     MEM_SCAN_ANON | MEM_SCAN_READ_PAGEMAP, &r2, &nr2, &cap2);
	cr_assert_eq(err, 0);
	cr_assert_eq(nr, n / 2, "%zu runs, want %zu", nr, n / 2);
	cr_assert_eq(nr2, n / 2, "%zu runs (pagemap read), want %zu", nr2, n / 2);
	for (i = 0; i < nr; i++) {
		cr_assert_eq(r[i].start, (uintptr_t)p + 2 * i * PG, "run %zu", i);
		cr_assert_eq(r[i].nr_pages, 1, "run %zu", i);
		cr_assert(r2[i].start == r[i].start && r2[i].nr_pages == 1, "run %zu", i);
	}
	close(pm);
	free(r);
	free(r2);
	munmap(p, n * PG);
}

Test(mem_scan, merges_adjacent_runs_and_checks_arguments)
{
	struct page_run *r = NULL;
	size_t nr = 0, cap = 0;
	uint8_t *p;
	int pm, m;

	p = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(p, MAP_FAILED);
	memset(p, 1, 8 * PG);
	pm = open("/proc/self/pagemap", O_RDONLY);
	cr_assert_geq(pm, 0);
	for (m = 0; m < 2; m++) {
		int mode = MEM_SCAN_ANON | (m ? MEM_SCAN_READ_PAGEMAP : 0);

		nr = 0;
		cr_assert_eq(mem_scan_range(pm, (uintptr_t)p, (uintptr_t)p + 3 * PG,
					    (enum mem_scan_mode)mode, &r, &nr, &cap),
			     0);
		cr_assert_eq(mem_scan_range(pm, (uintptr_t)p + 3 * PG, (uintptr_t)p + 8 * PG,
					    (enum mem_scan_mode)mode, &r, &nr, &cap),
			     0);
		cr_assert_eq(nr, 1, "two adjacent scans gave %zu runs", nr);
		cr_assert(r[0].start == (uintptr_t)p && r[0].nr_pages == 8);
		/* Empty range: nothing appended. */
		cr_assert_eq(mem_scan_range(pm, (uintptr_t)p, (uintptr_t)p,
					    (enum mem_scan_mode)mode, &r, &nr, &cap),
			     0);
		cr_assert_eq(nr, 1);
	}
	cr_assert_eq(mem_scan_range(pm, (uintptr_t)p + 1, (uintptr_t)p + PG, MEM_SCAN_ANON, &r, &nr,
				    &cap),
		     -EINVAL);
	cr_assert_eq(
		mem_scan_range(pm, (uintptr_t)p + PG, (uintptr_t)p, MEM_SCAN_ANON, &r, &nr, &cap),
		-EINVAL);
	cr_assert_eq(mem_scan_range(pm, (uintptr_t)p, (uintptr_t)p + PG, (enum mem_scan_mode)7, &r,
				    &nr, &cap),
		     -EINVAL);
	cr_assert_eq(nr, 1, "failed calls appended nothing");
	close(pm);
	free(r);
	munmap(p, 8 * PG);
}

/* Guard regions (6.13+) hold no data and fault when read: never reported. */
Test(mem_scan, guard_regions_are_skipped)
{
	struct page_run *r = NULL;
	size_t nr, cap = 0;
	uint8_t *p;
	int pm, m;

	p = mmap(NULL, 8 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	cr_assert_neq(p, MAP_FAILED);
	cr_assert_eq(madvise(p, 8 * PG, MADV_NOHUGEPAGE), 0);
	memset(p, 1, 8 * PG);
	if (madvise(p + 2 * PG, 2 * PG, MADV_GUARD_INSTALL))
		cr_skip_test("MADV_GUARD_INSTALL: %s (Linux 6.13+)", strerror(errno));
	pm = open("/proc/self/pagemap", O_RDONLY);
	cr_assert_geq(pm, 0);
	for (m = 0; m < 2; m++) {
		nr = 0;
		cr_assert_eq(mem_scan_range(pm, (uintptr_t)p, (uintptr_t)p + 8 * PG,
					    (enum mem_scan_mode)(m ? MEM_SCAN_READ_PAGEMAP : 0), &r,
					    &nr, &cap),
			     0);
		cr_assert_eq(nr, 2, "%s: %zu runs", m ? "pagemap read" : "PAGEMAP_SCAN", nr);
		cr_assert(r[0].start == (uintptr_t)p && r[0].nr_pages == 2);
		cr_assert(r[1].start == (uintptr_t)p + 4 * PG && r[1].nr_pages == 4);
	}
	close(pm);
	free(r);
	munmap(p, 8 * PG);
}

/* The pagemap of a process that is gone: the read path says so. */
Test(mem_scan, process_gone)
{
	struct page_run *r = NULL;
	size_t nr = 0, cap = 0;
	pid_t pid;
	int pm, st, err;

	if (geteuid())
		cr_skip_test("reading another process's pagemap needs root");
	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid) {
		pause();
		_exit(0);
	}
	pm = open_pagemap(pid);
	kill(pid, SIGKILL);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	err = mem_scan_range(pm, 0x400000, 0x500000, MEM_SCAN_ANON | MEM_SCAN_READ_PAGEMAP, &r, &nr,
			     &cap);
	cr_assert_eq(err, -ESRCH, "pagemap read of a dead process: %d", err);
	err = mem_scan_range(pm, 0x400000, 0x500000, MEM_SCAN_ANON, &r, &nr, &cap);
	cr_assert(err == -ESRCH || (!err && !nr), "PAGEMAP_SCAN of a dead process: %d, %zu runs",
		  err, nr);
	close(pm);
	free(r);
}
