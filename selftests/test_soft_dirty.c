// SPDX-License-Identifier: MIT
/*
 * soft_dirty.c on a real child process: clear_refs, then pagemap reads.
 *
 * What every kernel shows: a page dropped with MADV_DONTNEED and then read
 * maps the zero page, and must be reported changed although no soft-dirty
 * bit is set; a page written before the clear and only read since is not.
 * What only a kernel with CONFIG_MEM_SOFT_DIRTY shows (skipped elsewhere,
 * and run in the Debian 6.1 guest by the vm suite): a page written after the
 * clear is reported, and a new clear forgets it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mem_scan.h"
#include "soft_dirty.h"

#define PG 4096ul
#define NPAGES 8

/* A child with NPAGES anonymous pages that does what the test asks, one byte per command. */
struct sd_child {
	pid_t pid;
	int cmd, ack;
	uint64_t base;
};

/* Commands: 'w' N writes page N, 'r' N reads it, 'd' N drops it (MADV_DONTNEED). */
static void child_main(int cmd, int ack)
{
	volatile uint8_t *p =
		mmap(NULL, NPAGES * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	uint64_t base = (uint64_t)(uintptr_t)p;
	unsigned char c[2];
	uint8_t sink = 0;

	if (p == MAP_FAILED || madvise((void *)p, NPAGES * PG, MADV_NOHUGEPAGE))
		_exit(10);
	if (write(ack, &base, sizeof(base)) != sizeof(base))
		_exit(11);
	while (read(cmd, c, 2) == 2) {
		volatile uint8_t *pg = p + (size_t)c[1] * PG;

		if (c[0] == 'w')
			pg[100] = (uint8_t)(pg[100] + 1);
		else if (c[0] == 'r')
			sink = (uint8_t)(sink + pg[100]);
		else if (c[0] == 'd' && madvise((void *)pg, PG, MADV_DONTNEED))
			_exit(12);
		if (write(ack, c, 1) != 1)
			_exit(13);
	}
	_exit(sink == 0xff ? 1 : 0);
}

static void sd_start(struct sd_child *c)
{
	int a[2], b[2];

	cr_assert_eq(pipe(a), 0);
	cr_assert_eq(pipe(b), 0);
	c->pid = fork();
	cr_assert_geq(c->pid, 0);
	if (!c->pid) {
		close(a[1]);
		close(b[0]);
		child_main(a[0], b[1]);
	}
	close(a[0]);
	close(b[1]);
	c->cmd = a[1];
	c->ack = b[0];
	cr_assert_eq(read(c->ack, &c->base, sizeof(c->base)), (ssize_t)sizeof(c->base));
}

static void sd_do(struct sd_child *c, char op, unsigned page)
{
	unsigned char m[2] = { (unsigned char)op, (unsigned char)page }, r;

	cr_assert_eq(write(c->cmd, m, 2), 2);
	cr_assert_eq(read(c->ack, &r, 1), 1, "the child died doing %c %u", op, page);
}

static void sd_stop(struct sd_child *c)
{
	int status;

	close(c->cmd);
	close(c->ack);
	cr_assert_eq(waitpid(c->pid, &status, 0), c->pid);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
}

/* Bit i set if page i of the child's area was reported changed. */
static unsigned sd_scan(struct sd_child *c)
{
	struct page_run *runs = NULL;
	size_t nr = 0, cap = 0;
	uint64_t found = 0, counted = 0;
	unsigned mask = 0;
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", c->pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(soft_dirty_scan(fd, c->base, c->base + NPAGES * PG, &runs, &nr, &cap, &found),
		     0);
	close(fd);
	for (size_t i = 0; i < nr; i++) {
		cr_assert_geq(runs[i].start, c->base);
		for (uint64_t k = 0; k < runs[i].nr_pages; k++)
			mask |= 1u << ((runs[i].start - c->base) / PG + k);
		counted += runs[i].nr_pages;
	}
	cr_expect_eq(found, counted, "found %lu pages, runs hold %lu", found, counted);
	free(runs);
	return mask;
}

TestSuite(soft_dirty, .timeout = 30);

Test(soft_dirty, dropped_then_read_page_counts_as_changed)
{
	struct sd_child c;
	unsigned mask;

	sd_start(&c);
	sd_do(&c, 'w', 0);
	sd_do(&c, 'w', 1);
	sd_do(&c, 'w', 2);
	sd_do(&c, 'r', 5); /* the zero page before the clear: still zero, and reported */
	cr_assert_eq(soft_dirty_clear(c.pid), 0);
	sd_do(&c, 'r', 0); /* read only since the clear: unchanged */
	sd_do(&c, 'd', 1); /* dropped and read: the zero page, contents changed */
	sd_do(&c, 'r', 1);
	sd_do(&c, 'd', 2); /* dropped, not touched again: not present, not reported */
	mask = sd_scan(&c);
	if (mem_zero_page(NULL) == MEM_ZERO_NONE) {
		/*
		 * A kernel that maps no zero page (pvm_no_zero_page=1 here): reads
		 * map new pages. Page 5 was a present page at the clear, unchanged
		 * since; page 1 is a new page, which only its soft-dirty bit tells.
		 */
		unsigned want = soft_dirty_supported() ? 0x2 : 0;

		cr_expect_eq(mask & 0x7, want, "pages 0-2: reported %#x, want %#x (no zero page)",
			     mask & 0x7, want);
		cr_expect_eq(mask & ~0x7u, 0, "untouched pages reported: %#x", mask);
		sd_stop(&c);
		return;
	}
	cr_expect_eq(mask & 0x7, 0x2, "pages 0-2: reported %#x, want only page 1", mask & 0x7);
	cr_expect(mask & (1u << 5), "a page mapping the zero page was not reported (%#x)", mask);
	cr_expect_eq(mask & ~0x27u, 0, "untouched pages reported: %#x", mask);
	sd_stop(&c);
}

Test(soft_dirty, written_pages_are_reported_until_cleared)
{
	struct sd_child c;
	unsigned mask;

	if (!soft_dirty_supported())
		cr_skip_test(
			"this kernel has no soft-dirty bits (CONFIG_MEM_SOFT_DIRTY off); "
			"run in the Debian 6.1 guest by vm_soft_dirty/unit_tests_run_in_the_guest");
	sd_start(&c);
	for (unsigned i = 0; i < NPAGES; i++)
		sd_do(&c, 'w', i);
	cr_assert_eq(soft_dirty_clear(c.pid), 0);
	cr_expect_eq(sd_scan(&c), 0, "pages reported right after the clear");
	sd_do(&c, 'w', 3);
	sd_do(&c, 'w', 6);
	sd_do(&c, 'r', 7);
	mask = sd_scan(&c);
	cr_expect_eq(mask, (1u << 3) | (1u << 6), "reported %#x after writing pages 3 and 6", mask);
	cr_assert_eq(soft_dirty_clear(c.pid), 0);
	cr_expect_eq(sd_scan(&c), 0, "pages reported after a second clear");
	sd_stop(&c);
}

Test(soft_dirty, bad_range_and_gone_process)
{
	struct page_run *runs = NULL;
	size_t nr = 0, cap = 0;
	struct sd_child c;
	char path[64];
	int fd;

	sd_start(&c);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", c.pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_expect_eq(soft_dirty_scan(fd, c.base + 1, c.base + PG, &runs, &nr, &cap, NULL), -EINVAL);
	cr_expect_eq(soft_dirty_scan(fd, c.base + PG, c.base, &runs, &nr, &cap, NULL), -EINVAL);
	sd_stop(&c);
	cr_expect_eq(soft_dirty_scan(fd, c.base, c.base + PG, &runs, &nr, &cap, NULL), -ESRCH);
	cr_expect_eq(nr, 0);
	close(fd);
	free(runs);
	cr_expect_eq(soft_dirty_clear(c.pid), -ENOENT);
}
