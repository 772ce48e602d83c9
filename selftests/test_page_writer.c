// SPDX-License-Identifier: MIT
/*
 * The page writer on real processes: a forked child fills memory with a known
 * pattern (page_writer_helpers.c); the test scans it with mem_scan, writes it,
 * reads pagemap-PID.img and pages-ID.img back and checks every byte and that
 * the entries cover exactly the pages written. Also: crit reads the pagemap,
 * abort and failures leave no files, ordering is enforced, short writes are
 * finished. Memory and disk space (bounded memory, reserving, a full
 * filesystem, early writeback) are in test_page_writer_space.c, a buffer set
 * shared by several writers in test_page_writer_shared.c; same suite.
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
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "mem_scan.h"
#include "img.h"
#include "page_writer.h"
#include "pagemap.pb-c.h"
#include "pagemap_flags.h"

#include "page_writer_helpers.h"

static void round_trip(const struct page_writer_opts *opts, int with_crit)
{
	struct page_writer_stats st;
	struct page_writer *pw;
	struct page_run *runs;
	struct pwt_layout l;
	struct t_child c;
	uint64_t *want;
	size_t nr, nwant, nent, i;
	char *dir, *out = NULL, *err = NULL;
	int dirfd, ret;

	if (geteuid())
		cr_skip_test("reading another process's memory needs root");
	dirfd = pwt_open_dir(&dir);
	pwt_spawn(&c, &l, 0);
	nr = pwt_scan_layout(c.pid, &l, &runs);
	nwant = pwt_expected_pages(&l, &want);

	cr_assert_eq(page_writer_open(&pw, dirfd, c.pid, 7, opts), 0);
	for (i = 0; i < nr; i++)
		cr_assert_eq(page_writer_add(pw, runs[i].start, runs[i].nr_pages), 0,
			     "add 0x%llx x %llu", (unsigned long long)runs[i].start,
			     (unsigned long long)runs[i].nr_pages);
	/* Nothing final before commit. */
	cr_assert(!pwt_has_file(dir, "pagemap-%u.img", (unsigned)c.pid));
	cr_assert(!pwt_has_file(dir, "pages-%u.img", 7));
	cr_assert_eq(page_writer_commit(pw, &st), 0);
	cr_assert_eq(pwt_count_files(dir), 2, "only the two images are left");

	nent = pwt_check_images(dirfd, c.pid, 7, want, nwant, &l);
	cr_assert_eq(st.pages_written, nwant);
	cr_assert_eq(st.pages_parent, 0);
	cr_assert_eq(st.nr_entries, nent);
	cr_log_info("%zu pages in %zu entries; read %.3f ms, write %.3f ms", nwant, nent,
		    st.read_ns / 1e6, st.write_ns / 1e6);

	if (with_crit) {
		if (access("/usr/bin/crit", X_OK)) {
			cr_log_info("crit not installed (Debian package criu): decode not checked");
		} else {
			ret = t_run(
				&out, &err,
				"/usr/bin/python3 /usr/bin/crit decode --pretty -i %s/pagemap-%d.img",
				dir, c.pid);
			cr_assert_eq(ret, 0, "crit decode failed: %s", err ? err : "");
			cr_assert(out && strstr(out, "\"pages_id\": 7"), "crit output: %.300s",
				  out ? out : "");
			cr_assert(strstr(out, "\"flags\": \"PE_PRESENT\""), "crit output: %.300s",
				  out);
		}
	}
	t_child_reap(&c);
	free(out);
	free(err);
	free(runs);
	free(want);
	pwt_close_dir(dirfd, dir);
}

TestSuite(page_writer, .timeout = 120);

/* 4 x 64 KiB of buffers for ~6 MiB: each buffer is reused many times. */
Test(page_writer, pattern_round_trip_small_buffers)
{
	struct page_writer_opts o = { .nr_bufs = 4, .buf_size = 64 << 10 };

	round_trip(&o, 1);
}

Test(page_writer, pattern_round_trip_defaults)
{
	round_trip(NULL, 0);
}

/* Through the page cache instead of O_DIRECT. */
Test(page_writer, pattern_round_trip_buffered)
{
	struct page_writer_opts o = { .nr_bufs = 3,
				      .buf_size = 96 << 10,
				      .flags = PAGE_WRITER_BUFFERED };

	round_trip(&o, 0);
}

Test(page_writer, bad_options)
{
	struct page_writer_opts bad[] = {
		{ .nr_bufs = 2, .buf_size = 4096 + 512 },
		{ .nr_bufs = 2000, .buf_size = 4096 },
		{ .nr_bufs = 1, .buf_size = 2ul << 30 },
		{ .nr_bufs = 1, .buf_size = 4096, .flags = 0x80 },
	};
	struct page_writer *pw;
	char *dir = t_tmpdir();
	size_t i;
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY);

	cr_assert_geq(dirfd, 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(page_writer_open(&pw, dirfd, getpid(), 1, &bad[i]), -EINVAL,
			     "options %zu", i);
	cr_assert_eq(pwt_count_files(dir), 0);
	pwt_close_dir(dirfd, dir);
}

/* One page per buffer, one buffer: the most reuse, a write per page. */
Test(page_writer, pattern_round_trip_one_page_buffer)
{
	struct page_writer_opts o = { .nr_bufs = 1, .buf_size = PG };

	round_trip(&o, 0);
}

Test(page_writer, abort_leaves_no_files)
{
	struct page_writer *pw;
	struct page_run *runs;
	struct pwt_layout l;
	struct t_child c;
	size_t nr;
	char *dir;
	int dirfd;

	if (geteuid())
		cr_skip_test("reading another process's memory needs root");
	dirfd = pwt_open_dir(&dir);
	pwt_spawn(&c, &l, 0);
	nr = pwt_scan_layout(c.pid, &l, &runs);
	cr_assert_gt(nr, 2);
	cr_assert_eq(page_writer_open(&pw, dirfd, c.pid, 1, NULL), 0);
	cr_assert_eq(pwt_count_files(dir), 2, "the two temporary files");
	cr_assert_eq(page_writer_add(pw, runs[0].start, runs[0].nr_pages), 0);
	cr_assert_eq(page_writer_add(pw, runs[1].start, runs[1].nr_pages), 0);
	page_writer_abort(pw);
	cr_assert_eq(pwt_count_files(dir), 0, "abort left files in %s", dir);
	page_writer_abort(NULL);
	t_child_reap(&c);
	free(runs);
	pwt_close_dir(dirfd, dir);
}

Test(page_writer, vanished_pid)
{
	struct page_writer *pw;
	struct pwt_layout l;
	struct t_child c;
	char *dir;
	int dirfd, st;
	pid_t pid;

	if (geteuid())
		cr_skip_test("reading another process's memory needs root");
	dirfd = pwt_open_dir(&dir);

	/* Reaped: no such pid at open. */
	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid)
		_exit(0);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert_eq(page_writer_open(&pw, dirfd, pid, 1, NULL), -ESRCH);
	cr_assert_eq(pwt_count_files(dir), 0);

	/* Gone between open and add (a zombie has no memory): -ESRCH, and it sticks. */
	pwt_spawn(&c, &l, 0);
	cr_assert_eq(page_writer_open(&pw, dirfd, c.pid, 1, NULL), 0);
	cr_assert_eq(page_writer_add(pw, l.r3, 4), 0);
	kill(c.pid, SIGKILL);
	cr_assert_eq(waitid(P_PID, c.pid, NULL, WEXITED | WNOWAIT), 0);
	cr_assert_eq(page_writer_add(pw, l.r3 + 4 * PG, 4), -ESRCH);
	cr_assert_eq(page_writer_add(pw, l.r3 + 8 * PG, 4), -ESRCH);
	cr_assert_eq(page_writer_commit(pw, NULL), -ESRCH);
	cr_assert_eq(pwt_count_files(dir), 0, "a failed commit left files in %s", dir);

	/* Same, ending with abort. */
	cr_assert_eq(page_writer_open(&pw, dirfd, c.pid, 1, NULL), 0, "a zombie still exists");
	cr_assert_eq(page_writer_add(pw, l.r3, 4), -ESRCH);
	page_writer_abort(pw);
	cr_assert_eq(pwt_count_files(dir), 0);
	close(c.ctl);
	cr_assert_eq(waitpid(c.pid, &st, 0), c.pid);
	pwt_close_dir(dirfd, dir);
}

Test(page_writer, order_parent_entries_and_split)
{
	struct page_writer_stats st;
	struct page_writer *pw;
	ProtobufCMessage *msg;
	PagemapEntry *e[8];
	struct img *pm;
	struct pwt_layout l;
	struct t_child c;
	uint64_t huge = (1ull << 32) + 5, hbase;
	size_t n = 0, i;
	char *dir, name[64];
	int dirfd;

	if (geteuid())
		cr_skip_test("reading another process's memory needs root");
	dirfd = pwt_open_dir(&dir);
	pwt_spawn(&c, &l, 0);
	cr_assert_eq(page_writer_open(&pw, dirfd, c.pid, 3, NULL), 0);

	cr_assert_eq(page_writer_add_parent(pw, l.r3, 2), 0);
	cr_assert_eq(page_writer_add(pw, l.r3 + 2 * PG, 2), 0);
	cr_assert_eq(page_writer_add(pw, l.r3 + 4 * PG, 1), 0, "contiguous: merged");
	/* Backwards, overlapping, unaligned: refused, and the writer goes on. */
	cr_assert_eq(page_writer_add(pw, l.r3, 1), -EINVAL);
	cr_assert_eq(page_writer_add(pw, l.r3 + 4 * PG, 1), -EINVAL);
	cr_assert_eq(page_writer_add_parent(pw, l.r3 + 3 * PG, 1), -EINVAL);
	cr_assert_eq(page_writer_add(pw, l.r3 + 10 * PG + 8, 1), -EINVAL);
	cr_assert_eq(page_writer_add(pw, ~0ull & ~(PG - 1), 2), -EINVAL);
	cr_assert_eq(page_writer_add(pw, l.r3 + 8 * PG, 0), 0, "empty: nothing to do");
	cr_assert_eq(page_writer_add_parent(pw, l.r3 + 5 * PG, 1), 0, "other flags: new entry");
	cr_assert_eq(page_writer_add(pw, l.r3 + 8 * PG, 1), 0, "gap: new entry");
	/* More pages than compat_nr_pages (uint32) holds: split. */
	hbase = l.r3 + 16 * PG; /* recorded only, never read: it may run past the target's end */
	cr_assert_eq(page_writer_add_parent(pw, hbase, huge), 0);
	cr_assert_eq(page_writer_commit(pw, &st), 0);
	cr_assert_eq(st.pages_written, 4);
	cr_assert_eq(st.pages_parent, 3 + huge);
	cr_assert_eq(st.nr_entries, 6);

	snprintf(name, sizeof(name), "pagemap-%d.img", c.pid);
	cr_assert_eq(img_open(&pm, dirfd, name, IMG_PAGEMAP), 0);
	cr_assert_eq(img_read_entry(pm, &msg), 1);
	protobuf_c_message_free_unpacked(msg, NULL);
	while (n < 8 && img_read_entry(pm, &msg) == 1)
		e[n++] = (PagemapEntry *)msg;
	cr_assert_eq(n, 6);
	cr_assert(e[0]->vaddr == l.r3 && e[0]->nr_pages == 2 && e[0]->flags == PE_PARENT &&
		  e[0]->has_in_parent && e[0]->in_parent);
	cr_assert(e[1]->vaddr == l.r3 + 2 * PG && e[1]->nr_pages == 3 &&
		  e[1]->flags == PE_PRESENT && !e[1]->in_parent);
	cr_assert(e[2]->vaddr == l.r3 + 5 * PG && e[2]->nr_pages == 1 && e[2]->in_parent);
	cr_assert(e[3]->vaddr == l.r3 + 8 * PG && e[3]->nr_pages == 1 && e[3]->flags == PE_PRESENT);
	cr_assert(e[4]->vaddr == hbase && e[4]->nr_pages == UINT32_MAX &&
		  e[4]->compat_nr_pages == UINT32_MAX && e[4]->flags == PE_PARENT);
	cr_assert(e[5]->vaddr == hbase + (uint64_t)UINT32_MAX * PG && e[5]->nr_pages == 6 &&
		  e[5]->compat_nr_pages == 6);
	for (i = 0; i < n; i++) {
		cr_assert_eq(e[i]->compat_nr_pages, (uint32_t)e[i]->nr_pages);
		protobuf_c_message_free_unpacked(&e[i]->base, NULL);
	}
	img_close(pm);
	t_child_reap(&c);
	pwt_close_dir(dirfd, dir);
}

/*
 * RLIMIT_FSIZE cuts the first write short: the writer must send the rest,
 * which then fails with EFBIG; nothing may be left. (Treating the short write
 * as complete would commit a truncated pages file.)
 */
Test(page_writer, short_write_is_finished_or_fails)
{
	struct page_writer_opts o = { .nr_bufs = 1, .buf_size = 256 << 10 };
	struct rlimit rl = { 100 << 10, 100 << 10 };
	struct page_writer *pw;
	struct pwt_layout l;
	struct t_child c;
	char *dir;
	pid_t d;
	int dirfd, st, ret;

	if (geteuid())
		cr_skip_test("reading another process's memory needs root");
	dirfd = pwt_open_dir(&dir);
	pwt_spawn(&c, &l, 0);
	d = fork();
	cr_assert_geq(d, 0);
	if (!d) {
		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl))
			_exit(20);
		if (page_writer_open(&pw, dirfd, c.pid, 1, &o))
			_exit(21);
		ret = page_writer_add(pw, l.r3, 64); /* one 256 KiB write, cut at 100 KiB */
		if (ret)
			page_writer_abort(pw); /* the failure may surface here already */
		else
			ret = page_writer_commit(pw, NULL);
		_exit(ret == -EFBIG ? 0 : ret ? 23 : 24);
	}
	cr_assert_eq(waitpid(d, &st, 0), d);
	cr_assert(WIFEXITED(st), "dumper status 0x%x", st);
	cr_assert_eq(WEXITSTATUS(st), 0, "dumper exit %d (24: a truncated file was committed)",
		     WEXITSTATUS(st));
	cr_assert_eq(pwt_count_files(dir), 0);
	t_child_reap(&c);
	pwt_close_dir(dirfd, dir);
}
