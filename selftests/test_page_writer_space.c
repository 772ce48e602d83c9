// SPDX-License-Identifier: MIT
/*
 * What the page writer takes: memory stays bounded, file space is reserved
 * ahead and the rest given back, a full filesystem fails first, buffered
 * writeback starts early only when the target lives.
 * (Suite page_writer: its TestSuite is in test_page_writer.c; helpers in
 * page_writer_helpers.c.)
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "page_writer.h"

#include "page_writer_helpers.h"

/* 256 MiB through 4 x 256 KiB: the writer's peak RSS grows by little. */
Test(page_writer, memory_is_bounded)
{
	struct page_writer_opts o = { .nr_bufs = 4, .buf_size = 256 << 10 };
	struct page_writer_stats st;
	struct page_writer *pw;
	struct rusage ru0, ru1;
	struct pwt_layout l;
	struct t_child c;
	unsigned mib = 256;
	char *dir;
	int dirfd;

	if (geteuid())
		cr_skip_test("reading another process's memory needs root");
	dirfd = pwt_open_dir(&dir);
	pwt_spawn(&c, &l, mib);
	cr_assert_eq(getrusage(RUSAGE_SELF, &ru0), 0);
	cr_assert_eq(page_writer_open(&pw, dirfd, c.pid, 1, &o), 0);
	cr_assert_eq(page_writer_add(pw, l.big, (uint64_t)mib << 8), 0);
	cr_assert_eq(page_writer_commit(pw, &st), 0);
	cr_assert_eq(getrusage(RUSAGE_SELF, &ru1), 0);
	cr_assert_eq(st.pages_written, (uint64_t)mib << 8);
	cr_assert_eq(st.nr_entries, 1);
	cr_log_info("peak RSS %ld KiB -> %ld KiB for %u MiB", ru0.ru_maxrss, ru1.ru_maxrss, mib);
	cr_assert_lt(ru1.ru_maxrss - ru0.ru_maxrss, 8 << 10,
		     "peak RSS grew by %ld KiB writing %u MiB with 1 MiB of buffers",
		     ru1.ru_maxrss - ru0.ru_maxrss, mib);
	t_child_reap(&c);
	pwt_close_dir(dirfd, dir);
}

/* The pages file's blocks, in bytes (st_blocks counts 512-byte units). */
static uint64_t tmp_blocks(const char *dir, const char *name, off_t *size)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cr_assert_eq(stat(path, &st), 0, "stat %s", path);
	*size = st.st_size;
	return (uint64_t)st.st_blocks * 512;
}

/*
 * Space reserved ahead is allocated at once, and what was not written is
 * given back at commit: the pages file holds exactly the pages added.
 */
Test(page_writer, reserve_allocates_ahead_and_gives_back_the_rest)
{
	struct page_writer_opts o = { .flags = PAGE_WRITER_BUFFERED };
	struct page_writer_stats st;
	struct page_writer *pw;
	struct pwt_layout l;
	struct t_child c;
	uint64_t want[R3_PAGES / 2];
	off_t size;
	char *dir;
	int dirfd;

	if (geteuid())
		cr_skip_test("reading another process's memory needs root");
	dirfd = pwt_open_dir(&dir);
	pwt_spawn(&c, &l, 0);
	cr_assert_eq(page_writer_open(&pw, dirfd, c.pid, 3, &o), 0);
	cr_assert_eq(page_writer_reserve(pw, R3_PAGES), 0);
	if (tmp_blocks(dir, "pages-3.img.tmp", &size) == 0)
		cr_skip_test("no fallocate on the filesystem of %s", dir);
	cr_assert_eq(size, (off_t)(R3_PAGES * PG), "reserved file size %lld", (long long)size);
	cr_assert_geq(tmp_blocks(dir, "pages-3.img.tmp", &size), R3_PAGES * PG);
	cr_assert_eq(page_writer_reserve(pw, R3_PAGES / 2), 0, "inside the reservation");
	cr_assert_eq(page_writer_add(pw, l.r3, R3_PAGES / 2), 0);
	cr_assert_eq(page_writer_commit(pw, &st), 0);
	cr_assert_eq(st.pages_written, R3_PAGES / 2);
	for (unsigned i = 0; i < R3_PAGES / 2; i++)
		want[i] = l.r3 + i * PG;
	pwt_check_images(dirfd, c.pid, 3, want, R3_PAGES / 2,
			 NULL); /* checks the file's length too */
	cr_assert_lt(tmp_blocks(dir, "pages-3.img", &size), R3_PAGES * PG,
		     "the unwritten half is still allocated");
	t_child_reap(&c);
	pwt_close_dir(dirfd, dir);
}

/*
 * A filesystem too small for the pages: the reservation fails with ENOSPC
 * before anything is copied, the writer stays failed, and abort leaves nothing.
 */
Test(page_writer, reserve_on_a_full_filesystem_fails_first)
{
	struct page_writer *pw;
	struct pwt_layout l;
	struct t_child c;
	char *dir;
	int dirfd, ret;

	if (geteuid())
		cr_skip_test("mounting a small tmpfs needs root");
	dir = t_tmpdir();
	cr_assert(dir);
	ret = t_small_fs(dir, "256k");
	if (ret) {
		t_rmrf(dir);
		cr_skip_test("cannot mount a tmpfs on %s: %s", dir, strerror(-ret));
	}
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(dirfd, 0);
	pwt_spawn(&c, &l, 0);
	cr_assert_eq(page_writer_open(&pw, dirfd, c.pid, 1, NULL), 0);
	cr_assert_eq(page_writer_reserve(pw, R3_PAGES), -ENOSPC);
	cr_assert_eq(page_writer_add(pw, l.r3, 1), -ENOSPC, "the writer goes on after ENOSPC");
	page_writer_abort(pw);
	cr_assert_eq(pwt_count_files(dir), 0, "abort left files in %s", dir);
	t_child_reap(&c);
	close(dirfd);
	t_small_fs_done(dir);
	t_rmrf(dir);
	free(dir);
}

/*
 * Buffered, larger than the buffers plus one writeback chunk: for a target
 * that runs meanwhile (LIVE) writeback is asked for early (never waited for),
 * for a frozen one never; every byte lands in place either way.
 */
Test(page_writer, buffered_starts_writeback_early_only_when_live)
{
	static const unsigned flags[2] = { PAGE_WRITER_BUFFERED | PAGE_WRITER_NOSYNC |
						   PAGE_WRITER_LIVE,
					   PAGE_WRITER_BUFFERED | PAGE_WRITER_NOSYNC };
	struct page_writer_stats st;
	struct page_writer *pw;
	struct pwt_layout l;
	struct t_child c;
	unsigned mib = 48;
	char *dir, path[600];
	int dirfd;

	if (geteuid())
		cr_skip_test("reading another process's memory needs root");
	dirfd = pwt_open_dir(&dir);
	pwt_spawn(&c, &l, mib);
	for (unsigned k = 0; k < 2; k++) {
		struct page_writer_opts o = { .flags = flags[k] };
		size_t len = 0;
		uint8_t *data;

		cr_assert_eq(page_writer_open(&pw, dirfd, c.pid, k + 1, &o), 0);
		cr_assert_eq(page_writer_add(pw, l.big, (uint64_t)mib << 8), 0);
		cr_assert_eq(page_writer_commit(pw, &st), 0);
		if (k == 0)
			cr_expect_geq(st.wb_requests, 2, "%lu early writeback requests for %u MiB",
				      st.wb_requests, mib);
		else
			cr_expect_eq(st.wb_requests, 0,
				     "%lu early writeback requests for a frozen target",
				     st.wb_requests);
		snprintf(path, sizeof(path), "%s/pages-%u.img", dir, k + 1);
		data = (uint8_t *)t_read_file(path, &len);
		cr_assert_eq(len, (size_t)mib << 20);
		for (size_t i = 0; i < len; i++)
			if (data[i] != 0x6b)
				cr_assert_fail("byte %zu of %s is %#x, not 0x6b", i, path, data[i]);
		free(data);
	}
	t_child_reap(&c);
	pwt_close_dir(dirfd, dir);
}
