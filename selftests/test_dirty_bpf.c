// SPDX-License-Identifier: MIT
/*
 * The BPF dirty-page and VMA-change tracker (user/track/dirty_bpf.c) on a real
 * process: a forked child arms userfaultfd async write-protection on its own
 * 256-page region, then writes, reads, maps and unmaps on command, re-arming
 * with PAGEMAP_SCAN after each write round. The counts the programs report
 * are compared with the pages written and with what PAGEMAP_SCAN found.
 *
 * A write to a protected page that is present faults once. A first write to
 * a protected page that was never populated (a WP_UNPOPULATED marker) faults
 * twice: the first fault allocates the page, still protected, the retried
 * write faults again and lifts the protection. Both count in 'faults', the
 * page once in 'distinct'. Most tests write populated pages, where the fault
 * counts are exact.
 *
 * Here the counting; the VMA events and pinning have their own files
 * (test_dirty_bpf_vma.c), in the same suite; the target
 * process is in dirty_bpf_target.c.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "compat.h"
#include "dirty_bpf.h"

#include "dirty_bpf_target.h"

TestSuite(dirty_bpf, .init = db_suite_init, .fini = db_suite_fini, .timeout = 60);

/* ---- counting ----------------------------------------------------------------------------- */

struct page_seen {
	uint64_t lo;
	uint32_t writes[NPAGES];
	uint64_t first[NPAGES], last[NPAGES];
	int outside;
};

static int collect(uint64_t addr, const struct dt_page *p, void *arg)
{
	struct page_seen *s = arg;

	if (addr < s->lo || addr >= s->lo + NPAGES * db_ps) {
		s->outside++;
		return 0;
	}
	s->writes[(addr - s->lo) / db_ps] = p->writes;
	s->first[(addr - s->lo) / db_ps] = p->first_ns;
	s->last[(addr - s->lo) / db_ps] = p->last_ns;
	return 0;
}

Test(dirty_bpf, distinct_pages_per_interval)
{
	/* 7 twice in a row: the second write does not fault. 5 and 12 also come from the threads.
	 */
	static const int w1[] = { 0, 1, 2, 5, 7, 7, 100, 191, 12 };
	static const int t1[] = { 10, 11, 12, 5, 150 };
	/* 200 is empty: read (zero page) in round 2, written here. */
	static const int w3[] = { 0, 7, 50, 50, 51, 200 };
	struct dirty_bpf_counts c;
	struct page_seen seen = { 0 };
	uint64_t rp[2] = { 99, 99 };
	long scanned;
	int want, i;

	db_target_start();
	db_open_tracker(0, 0);
	db_track_region();
	cr_assert_eq(dirty_bpf_next_interval(db_trk, NULL, NULL, 0), 0);

	scanned = db_target_write(w1, 9, t1, 5);
	want = db_distinct(w1, 9, t1, 5);
	cr_assert_eq(dirty_bpf_next_interval(db_trk, &c, rp, 2), 0);
	cr_expect_eq(scanned, want, "PAGEMAP_SCAN saw %ld written pages, %d were", scanned, want);
	cr_expect_eq(c.distinct, (uint64_t)want, "distinct %llu, want %d",
		     (unsigned long long)c.distinct, want);
	cr_expect_eq(rp[0], (uint64_t)want, "range 0: %llu pages", (unsigned long long)rp[0]);
	cr_expect_eq(rp[1], 0, "no range 1: its count must be 0");
	/* 10, 11 and 150 only the two threads write: each may fault in both. */
	cr_expect(c.faults >= (uint64_t)want && c.faults <= (uint64_t)want + 3,
		  "faults %llu for %d pages", (unsigned long long)c.faults, want);

	/* Reads fault (the empty pages get the zero page) but are not writes. */
	db_target_op(OP_READ, 0);
	cr_assert_eq(dirty_bpf_next_interval(db_trk, &c, rp, 1), 0);
	cr_expect_eq(c.distinct, 0, "a read-only round counted %llu pages",
		     (unsigned long long)c.distinct);
	cr_expect_eq(c.faults, 0, "a read-only round counted %llu faults",
		     (unsigned long long)c.faults);
	cr_expect_eq(c.untracked, 0, "a read-only round: untracked %llu",
		     (unsigned long long)c.untracked);
	cr_expect_eq(rp[0], 0);

	/* A new interval: pages written before count again, once each. */
	scanned = db_target_write(w3, 6, NULL, 0);
	cr_assert_eq(dirty_bpf_next_interval(db_trk, &c, rp, 1), 0);
	cr_expect_eq(scanned, 5);
	cr_expect_eq(c.distinct, 5, "third interval: %llu distinct",
		     (unsigned long long)c.distinct);
	cr_expect_eq(rp[0], 5);
	cr_expect_eq(c.faults, 5, "one fault per page (the zero page is present): %llu",
		     (unsigned long long)c.faults);
	cr_expect_eq(c.untracked, 0, "no thread, no write outside: untracked %llu",
		     (unsigned long long)c.untracked);

	/* The per-page map: every page written, with its fault count and times. */
	seen.lo = db_tg.region;
	cr_assert_eq(dirty_bpf_for_each_page(db_trk, collect, &seen), 0);
	cr_expect_eq(seen.outside, 0, "pages outside the region recorded: %d", seen.outside);
	for (i = 0; i < NPAGES; i++) {
		int in1 = db_has(w1, 9, i), th = db_has(t1, 5, i), in3 = db_has(w3, 6, i);
		/* One fault per interval; a page only the threads wrote may fault twice. */
		uint32_t lo = (uint32_t)((in1 || th) + in3), hi = lo + (th && !in1);

		cr_expect(seen.writes[i] >= lo && seen.writes[i] <= hi,
			  "page %d: %u write faults, want %u..%u", i, seen.writes[i], lo, hi);
		if (!lo)
			continue;
		cr_expect_leq(seen.first[i], seen.last[i], "page %d: first after last", i);
		if ((in1 || th) && in3)
			cr_expect_lt(seen.first[i], seen.last[i],
				     "page %d written in two intervals: one time", i);
	}
	db_target_exit();
}

/* The first write to a never-populated protected page: one page, two faults. */
Test(dirty_bpf, empty_page_counts_once)
{
	static const int w[] = { 220, 221 };
	struct dirty_bpf_counts c;
	long scanned;

	db_target_start();
	db_open_tracker(0, 0);
	db_track_region();
	cr_assert_eq(dirty_bpf_next_interval(db_trk, NULL, NULL, 0), 0);
	scanned = db_target_write(w, 2, NULL, 0);
	cr_assert_eq(dirty_bpf_next_interval(db_trk, &c, NULL, 0), 0);
	cr_expect_eq(scanned, 2);
	cr_expect_eq(c.distinct, 2, "distinct %llu", (unsigned long long)c.distinct);
	cr_expect(c.faults >= 2 && c.faults <= 4, "faults %llu", (unsigned long long)c.faults);
	cr_expect_eq(c.untracked, 0);
	/* Now populated: the next interval's writes fault once each. */
	scanned = db_target_write(w, 2, NULL, 0);
	cr_assert_eq(dirty_bpf_next_interval(db_trk, &c, NULL, 0), 0);
	cr_expect_eq(scanned, 2);
	cr_expect_eq(c.distinct, 2);
	cr_expect_eq(c.faults, 2, "faults %llu", (unsigned long long)c.faults);
	db_target_exit();
}

Test(dirty_bpf, ranges_and_untracked)
{
	/* Ranges [0,64) [64,160) [180,256): the pages 160..179 are protected but not tracked. */
	static const int w[] = { 3, 63, 64, 150, 165, 170, 190 };
	struct dirty_bpf_range r[3];
	struct dirty_bpf_counts c;
	uint64_t rp[4];
	long scanned;

	db_target_start();
	db_open_tracker(3, 0);
	r[0] = (struct dirty_bpf_range){ db_tg.region, db_tg.region + 64 * db_ps };
	r[1] = (struct dirty_bpf_range){ db_tg.region + 64 * db_ps, db_tg.region + 160 * db_ps };
	r[2] = (struct dirty_bpf_range){ db_tg.region + 180 * db_ps,
					 db_tg.region + NPAGES * db_ps };

	/* Rejected: over max_ranges, unsorted, overlapping, empty. */
	db_quiet();
	cr_expect_eq(
		dirty_bpf_set_ranges(db_trk, (struct dirty_bpf_range[4]){ r[0], r[1], r[2] }, 4),
		-E2BIG);
	cr_expect_eq(dirty_bpf_set_ranges(db_trk, (struct dirty_bpf_range[2]){ r[1], r[0] }, 2),
		     -EINVAL);
	cr_expect_eq(dirty_bpf_set_ranges(db_trk,
					  (struct dirty_bpf_range[2]){
						  r[0], { db_tg.region + 10 * db_ps, r[1].end } },
					  2),
		     -EINVAL);
	cr_expect_eq(dirty_bpf_set_ranges(
			     db_trk, (struct dirty_bpf_range[1]){ { r[0].start, r[0].start } }, 1),
		     -EINVAL);
	db_loud();
	cr_assert_eq(dirty_bpf_set_ranges(db_trk, r, 3), 0);
	cr_assert_eq(dirty_bpf_next_interval(db_trk, NULL, NULL, 0), 0);

	scanned = db_target_write(w, 7, NULL, 0);
	cr_assert_eq(dirty_bpf_next_interval(db_trk, &c, rp, 4), 0);
	cr_expect_eq(scanned, 7);
	cr_expect_eq(c.distinct, 5, "distinct %llu", (unsigned long long)c.distinct);
	cr_expect_eq(c.faults, 5, "faults %llu", (unsigned long long)c.faults);
	cr_expect_eq(rp[0], 2, "range 0: %llu", (unsigned long long)rp[0]);
	cr_expect_eq(rp[1], 2, "range 1: %llu", (unsigned long long)rp[1]);
	cr_expect_eq(rp[2], 1, "range 2: %llu", (unsigned long long)rp[2]);
	cr_expect_eq(rp[3], 0);
	cr_expect_eq(c.untracked, 2, "the gap's 2 writes: untracked %llu",
		     (unsigned long long)c.untracked);

	/* First writes to 5 pages of a mapping that is no range at all. */
	db_target_op(OP_OTHER, 5);
	cr_assert_eq(dirty_bpf_next_interval(db_trk, &c, rp, 3), 0);
	cr_expect_eq(c.distinct, 0);
	cr_expect_eq(c.faults, 0);
	cr_expect_eq(c.untracked, 5, "other mapping: untracked %llu",
		     (unsigned long long)c.untracked);

	/* No range: everything is untracked. */
	cr_assert_eq(dirty_bpf_set_ranges(db_trk, NULL, 0), 0);
	scanned = db_target_write(w, 2, NULL, 0);
	cr_assert_eq(dirty_bpf_next_interval(db_trk, &c, rp, 3), 0);
	cr_expect_eq(scanned, 2);
	cr_expect_eq(c.distinct, 0);
	cr_expect_eq(c.untracked, 2);
	cr_expect_eq(rp[0], 0);
	db_target_exit();
}

/* 128 one-page ranges on the even pages: the binary search finds each, the odd pages are gaps. */
Test(dirty_bpf, many_ranges)
{
	static struct dirty_bpf_range r[NPAGES / 2];
	static uint64_t rp[NPAGES / 2];
	struct dirty_bpf_counts c;
	int w[40], i;

	db_target_start();
	db_open_tracker(NPAGES / 2, 0);
	for (i = 0; i < NPAGES / 2; i++)
		r[i] = (struct dirty_bpf_range){ db_tg.region + 2 * i * db_ps,
						 db_tg.region + (2 * i + 1) * db_ps };
	cr_assert_eq(dirty_bpf_set_ranges(db_trk, r, NPAGES / 2), 0);
	cr_assert_eq(dirty_bpf_next_interval(db_trk, NULL, NULL, 0), 0);
	for (i = 0; i < 40; i++)
		w[i] = 100 + i;
	cr_assert_eq(db_target_write(w, 40, NULL, 0), 40);
	cr_assert_eq(dirty_bpf_next_interval(db_trk, &c, rp, NPAGES / 2), 0);
	cr_expect_eq(c.distinct, 20, "distinct %llu", (unsigned long long)c.distinct);
	cr_expect_eq(c.faults, 20);
	cr_expect_eq(c.untracked, 20, "the odd pages: untracked %llu",
		     (unsigned long long)c.untracked);
	for (i = 0; i < NPAGES / 2; i++)
		cr_expect_eq(rp[i], i >= 50 && i < 70, "range %d (page %d): %llu", i, 2 * i,
			     (unsigned long long)rp[i]);
	db_target_exit();
}

/* Writes the kernel makes for the target (read(2) into the page) fault in kernel mode: counted. */
Test(dirty_bpf, kernel_writes_count)
{
	struct db_cmd cmd = { .op = OP_KWRITE, .n = 3, .idx = { 20, 21, 22 } };
	struct dirty_bpf_counts c;
	struct db_reply r;

	db_target_start();
	db_open_tracker(0, 0);
	db_track_region();
	cr_assert_eq(dirty_bpf_next_interval(db_trk, NULL, NULL, 0), 0);
	r = db_target_do(&cmd);
	cr_assert_eq(r.ret, 3, "PAGEMAP_SCAN after read(2) into 3 pages: %ld", r.ret);
	cr_assert_eq(dirty_bpf_next_interval(db_trk, &c, NULL, 0), 0);
	cr_expect_eq(c.distinct, 3, "distinct %llu", (unsigned long long)c.distinct);
	cr_expect_eq(c.faults, 3, "faults %llu", (unsigned long long)c.faults);
	cr_expect_eq(c.untracked, 0, "untracked %llu", (unsigned long long)c.untracked);
	db_target_exit();
}

/* ---- options, errors, memory -------------------------------------------------------------- */

Test(dirty_bpf, options_errors_and_memory)
{
	struct dirty_bpf_opts o = { 0 };
	struct dirty_bpf *small;
	uint64_t big_mem = 0, small_mem = 0;
	pid_t dead;
	int st;

	db_need_root();
	db_quiet();
	cr_expect_eq(dirty_bpf_open(&db_trk, &o), -EINVAL, "tgid 0");
	o.tgid = getpid();
	o.ringbuf_bytes = 5000;
	cr_expect_eq(dirty_bpf_open(&db_trk, &o), -EINVAL, "ring of 5000 bytes");
	o.ringbuf_bytes = 2048;
	cr_expect_eq(dirty_bpf_open(&db_trk, &o), -EINVAL, "ring of 2048 bytes");
	o.ringbuf_bytes = 0;
	o.max_ranges = DT_MAX_RANGES + 1;
	cr_expect_eq(dirty_bpf_open(&db_trk, &o), -EINVAL, "too many ranges");
	dead = fork();
	if (!dead)
		_exit(0);
	waitpid(dead, &st, 0);
	o = (struct dirty_bpf_opts){ .tgid = dead };
	cr_expect_eq(dirty_bpf_open(&db_trk, &o), -ESRCH, "pid %d is gone", dead);
	cr_expect_eq(dirty_bpf_open_pinned(&db_trk, DIRTY_BPF_PIN_ROOT "/" PIN_PREFIX "none"),
		     -ENOENT);
	cr_expect_eq(dirty_bpf_unpin(DIRTY_BPF_PIN_ROOT "/" PIN_PREFIX "none"), 0);
	db_loud();

	/* The default: 262144 page records, preallocated by the LRU hash. */
	o = (struct dirty_bpf_opts){ .tgid = getpid() };
	cr_assert_eq(dirty_bpf_open(&db_trk, &o), 0);
	cr_assert_eq(dirty_bpf_mem(db_trk, &big_mem), 0);
	o = (struct dirty_bpf_opts){
		.tgid = getpid(), .max_pages = 1024, .max_ranges = 16, .ringbuf_bytes = 4096
	};
	cr_assert_eq(dirty_bpf_open(&small, &o), 0);
	cr_assert_eq(dirty_bpf_mem(small, &small_mem), 0);
	dirty_bpf_close(small);
	cr_expect_geq(big_mem, (uint64_t)DIRTY_BPF_DEF_PAGES * sizeof(struct dt_page),
		      "default tracker holds %llu bytes", (unsigned long long)big_mem);
	cr_expect_lt(small_mem * 8, big_mem, "small %llu bytes, default %llu",
		     (unsigned long long)small_mem, (unsigned long long)big_mem);
}
