// SPDX-License-Identifier: MIT
/*
 * One buffer set shared by several page writers: two writers in turn, abort
 * then reuse, early writeback never disturbs the next writer.
 * (Suite page_writer: its TestSuite is in test_page_writer.c; helpers in
 * page_writer_helpers.c.)
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "mem_scan.h"
#include "page_writer.h"

#include "page_writer_helpers.h"

/* ---- a shared buffer set ------------------------------------------------------------------- */

/* Write the child's layout with a writer on @pb, commit, check every page. */
static void layout_round_trip(struct page_buffers *pb, unsigned flags, int dirfd, pid_t pid,
			      const struct pwt_layout *l, uint32_t id)
{
	struct page_writer_opts o = { .flags = flags, .bufs = pb };
	struct page_writer_stats st;
	struct page_writer *pw;
	struct page_run *runs;
	uint64_t *want;
	size_t nr, nwant, i;

	nr = pwt_scan_layout(pid, l, &runs);
	nwant = pwt_expected_pages(l, &want);
	cr_assert_eq(page_writer_open(&pw, dirfd, pid, id, &o), 0, "open %u on the set", id);
	for (i = 0; i < nr; i++)
		cr_assert_eq(
			page_writer_add(pw, runs[i].start, runs[i].nr_pages), 0,
			"run %zu of %zu: %#llx + %llu pages, after %#llx + %llu (regions %#llx "
			"%#llx %#llx)",
			i, nr, (unsigned long long)runs[i].start,
			(unsigned long long)runs[i].nr_pages,
			i ? (unsigned long long)runs[i - 1].start : 0ULL,
			i ? (unsigned long long)runs[i - 1].nr_pages : 0ULL,
			(unsigned long long)l->r1, (unsigned long long)l->r2,
			(unsigned long long)l->r3);
	cr_assert_eq(page_writer_commit(pw, &st), 0, "commit %u", id);
	cr_assert_eq(st.pages_written, nwant);
	pwt_check_images(dirfd, pid, id, want, nwant, l);
	free(runs);
	free(want);
}

/* pages-@id.img in @dir is @len bytes, all 0x6b (the child's big region). */
static void check_big(const char *dir, uint32_t id, size_t len_want)
{
	char path[600];
	size_t len = 0;
	uint8_t *data;

	snprintf(path, sizeof(path), "%s/pages-%u.img", dir, id);
	data = (uint8_t *)t_read_file(path, &len);
	cr_assert(data, "read %s", path);
	cr_assert_eq(len, len_want, "%s: %zu bytes, want %zu", path, len, len_want);
	for (size_t i = 0; i < len; i++)
		if (data[i] != 0x6b)
			cr_assert_fail("byte %zu of %s is %#x, not 0x6b", i, path, data[i]);
	free(data);
}

/* Two writers in turn on one set, each with its own process; misuse is refused. */
Test(page_writer, shared_set_two_writers_in_turn)
{
	struct page_writer_opts so = { .nr_bufs = 4, .buf_size = 64 << 10 };
	struct page_writer_opts bad = { .nr_bufs = 8 }, lend;
	struct page_buffers_stats bs;
	struct page_buffers *pb;
	struct page_writer *pw, *pw2;
	struct pwt_layout l1, l2;
	struct t_child c1, c2;
	char *dir;
	int dirfd;

	if (geteuid())
		cr_skip_test("reading another process's memory needs root");
	dirfd = pwt_open_dir(&dir);
	pwt_spawn(&c1, &l1, 0);
	pwt_spawn(&c2, &l2, 0);
	cr_assert_eq(page_buffers_create(&pb, &so), 0);
	lend = (struct page_writer_opts){ .bufs = pb };

	layout_round_trip(pb, 0, dirfd, c1.pid, &l1, 1);
	layout_round_trip(pb, PAGE_WRITER_BUFFERED, dirfd, c2.pid, &l2, 2);
	cr_assert_eq(pwt_count_files(dir), 4, "two image pairs");

	/* Lent: a second writer is refused and leaves nothing; other geometry is refused. */
	cr_assert_eq(page_writer_open(&pw, dirfd, c1.pid, 3, &lend), 0);
	cr_assert_eq(page_writer_open(&pw2, dirfd, c2.pid, 4, &lend), -EBUSY);
	cr_assert_eq(pwt_count_files(dir), 6, "the first images and the held writer's two");
	page_writer_abort(pw);
	bad.bufs = pb;
	cr_assert_eq(page_writer_open(&pw2, dirfd, c2.pid, 4, &bad), -EINVAL);
	cr_assert_eq(pwt_count_files(dir), 4);

	/* Given back: the set works again, with the geometry spelled out too. */
	bad.nr_bufs = so.nr_bufs;
	bad.buf_size = so.buf_size;
	cr_assert_eq(page_writer_open(&pw2, dirfd, c2.pid, 4, &bad), 0);
	cr_assert_eq(page_writer_add(pw2, l2.r3, R3_PAGES), 0);
	cr_assert_eq(page_writer_commit(pw2, NULL), 0);

	page_buffers_get_stats(pb, &bs);
	cr_assert_eq(bs.writers, 4);
	page_buffers_destroy(pb);
	page_buffers_destroy(NULL);
	cr_assert_eq(page_buffers_create(&pb, &(struct page_writer_opts){ .buf_size = 1000 }),
		     -EINVAL);
	t_child_reap(&c2); /* it holds c1's control pipe too */
	t_child_reap(&c1);
	pwt_close_dir(dirfd, dir);
}

/*
 * A writer aborted with writes in flight, one failed (its process gone), then
 * writers on the same set: nothing is left of the first two, the next ones
 * see none of their writes or buffers.
 */
Test(page_writer, shared_set_abort_then_reuse)
{
	struct page_writer_opts so = { .nr_bufs = 2, .buf_size = 64 << 10 };
	struct page_writer_opts o;
	struct page_buffers *pb;
	struct page_writer *pw;
	struct page_run *runs;
	struct pwt_layout l, lg;
	struct t_child c, gone;
	char *dir;
	size_t nr, i;
	int dirfd;

	if (geteuid())
		cr_skip_test("reading another process's memory needs root");
	dirfd = pwt_open_dir(&dir);
	pwt_spawn(&c, &l, 0);
	cr_assert_eq(page_buffers_create(&pb, &so), 0);
	o = (struct page_writer_opts){ .bufs = pb };

	/* Aborted mid-way: both buffers written or in flight. */
	nr = pwt_scan_layout(c.pid, &l, &runs);
	cr_assert_eq(page_writer_open(&pw, dirfd, c.pid, 1, &o), 0);
	for (i = 0; i < nr / 2; i++)
		cr_assert_eq(page_writer_add(pw, runs[i].start, runs[i].nr_pages), 0);
	page_writer_abort(pw);
	cr_assert_eq(pwt_count_files(dir), 0, "abort left files");
	free(runs);

	/* Failed: its process died between two adds. */
	pwt_spawn(&gone, &lg, 0);
	cr_assert_eq(page_writer_open(&pw, dirfd, gone.pid, 2, &o), 0);
	cr_assert_eq(page_writer_add(pw, lg.r3, 64), 0);
	kill(gone.pid, SIGKILL);
	cr_assert_eq(waitid(P_PID, gone.pid, NULL, WEXITED | WNOWAIT), 0);
	cr_assert_eq(page_writer_add(pw, lg.r3 + 64 * PG, 64), -ESRCH);
	cr_assert_eq(page_writer_commit(pw, NULL), -ESRCH);
	cr_assert_eq(pwt_count_files(dir), 0, "a failed commit left files");
	close(gone.ctl);
	cr_assert_eq(waitpid(gone.pid, NULL, 0), gone.pid);

	/* Then whole dumps, O_DIRECT and buffered, are exact. */
	layout_round_trip(pb, 0, dirfd, c.pid, &l, 3);
	cr_assert_eq(pwt_count_files(dir), 2);
	cr_assert_eq(unlinkat(dirfd, "pages-3.img", 0), 0);
	{
		char name[64];

		snprintf(name, sizeof(name), "pagemap-%d.img", c.pid);
		cr_assert_eq(unlinkat(dirfd, name, 0), 0);
	}
	layout_round_trip(pb, PAGE_WRITER_BUFFERED | PAGE_WRITER_NOSYNC, dirfd, c.pid, &l, 4);
	page_buffers_destroy(pb);
	t_child_reap(&c);
	pwt_close_dir(dirfd, dir);
}

/*
 * Early writeback requests of a writer are not waited for: they may still be
 * pending when the next writer takes the set. They must never be taken for
 * the next writer's writes, nor run on its file. A writer committed and one
 * aborted, both with writeback requests, then writers with their own; more
 * writers than file slots. Every byte lands where it belongs, and every
 * writeback request completes without error (none ran on a cleared slot).
 */
Test(page_writer, shared_set_early_writeback_never_disturbs_the_next)
{
	/*
	 * 256 KiB of buffers and 8.25 MiB: a request for the first 8 MiB, asked for with the
	 * last write, so that it may still run when its writer ends (likely when it aborts:
	 * every fourth one). 40 writers, more than the set has file slots: slots are reused.
	 */
	const uint64_t pages = (8 << 8) + 64;
	const unsigned mib = 9, nr_writers = 40;
	struct page_writer_opts so = { .nr_bufs = 2, .buf_size = 128 << 10 };
	struct page_writer_opts o;
	struct page_buffers_stats bs;
	struct page_writer_stats st;
	struct page_buffers *pb;
	struct page_writer *pw;
	struct pwt_layout l;
	struct t_child c;
	uint64_t wb = 0, late = 0;
	char *dirs[40];
	int dirfds[40];

	if (geteuid())
		cr_skip_test("reading another process's memory needs root");
	pwt_spawn(&c, &l, mib);
	cr_assert_eq(page_buffers_create(&pb, &so), 0);
	o = (struct page_writer_opts){
		.flags = PAGE_WRITER_BUFFERED | PAGE_WRITER_NOSYNC | PAGE_WRITER_LIVE, .bufs = pb
	};
	for (unsigned w = 0; w < nr_writers; w++) {
		dirfds[w] = pwt_open_dir(&dirs[w]);
		cr_assert_eq(page_writer_open(&pw, dirfds[w], c.pid, w + 1, &o), 0, "writer %u", w);
		cr_assert_eq(page_writer_add(pw, l.big, pages), 0);
		if (w % 4 == 1) {
			/* Aborted with its writeback requests asked for. */
			page_writer_abort(pw);
			cr_assert_eq(pwt_count_files(dirs[w]), 0);
			continue;
		}
		cr_assert_eq(page_writer_commit(pw, &st), 0, "writer %u", w);
		cr_assert_geq(st.wb_requests, 1, "writer %u: %llu writeback requests", w,
			      (unsigned long long)st.wb_requests);
		wb += st.wb_requests;
		page_buffers_get_stats(pb, &bs);
		if (bs.wb_pending)
			late++;
	}
	/* Data first: a writeback request on the wrong file would not show here, errors below. */
	for (unsigned w = 0; w < nr_writers; w++)
		if (w % 4 != 1)
			check_big(dirs[w], w + 1, pages * PG);
	cr_assert_eq(page_buffers_wait_wb(pb, 20000), 0);
	page_buffers_get_stats(pb, &bs);
	cr_log_info("%llu writeback requests, %llu still pending when their writer ended (%llu "
		    "writers left some), %llu failed",
		    (unsigned long long)bs.wb_done, (unsigned long long)bs.wb_late,
		    (unsigned long long)late, (unsigned long long)bs.wb_failed);
	cr_assert_eq(bs.wb_pending, 0);
	cr_assert_geq(bs.wb_done, wb,
		      "%llu writeback requests done, %llu asked by committed writers",
		      (unsigned long long)bs.wb_done, (unsigned long long)wb);
	cr_assert_eq(bs.wb_failed, 0, "a writeback request failed: it ran on a cleared slot?");
	cr_assert_eq(bs.writers, nr_writers);
	page_buffers_destroy(pb);
	for (unsigned w = 0; w < nr_writers; w++)
		pwt_close_dir(dirfds[w], dirs[w]);
	t_child_reap(&c);
}
