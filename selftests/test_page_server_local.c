// SPDX-License-Identifier: MIT
/*
 * The local page source on a hand-made index over real files: runs of several
 * levels, lazy runs, short files.
 * (Suite page_server: its TestSuite is in test_page_server.c; helpers in
 * page_server_helpers.c.)
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "images.h"
#include "log.h"
#include "page_source_local.h"
#include "pagemap_flags.h"

#include "page_server_helpers.h"

/* ---- the local source on a hand-made index over real files ------------------------------- */

Test(page_server, local_source_runs_levels_and_errors)
{
	char *dir = t_tmpdir(), p0[600], p1[600], logp[600];
	uint8_t data0[4 * PAGE], data1[4 * PAGE], *buf = malloc(8 * PAGE);
	struct rimg_page_run runs[] = {
		{ .vaddr = 0x10000, .nr_pages = 2, .flags = PE_PRESENT, .level = 0, .file_off = 0 },
		{ .vaddr = 0x12000,
		  .nr_pages = 3,
		  .flags = PE_PARENT,
		  .level = 1,
		  .file_off = PAGE },
		{ .vaddr = 0x15000, .nr_pages = 1, .flags = PE_LAZY, .level = 0, .file_off = 0 },
		{ .vaddr = 0x20000,
		  .nr_pages = 2,
		  .flags = PE_PRESENT,
		  .level = 0,
		  .file_off = 3 * PAGE }, /* its second page is past the file's end */
	};
	struct rimg_pages_file files[2];
	struct rimg_pagemap pm = { 0 };
	struct rimg_proc proc = { 0 };
	struct rimg r = { 0 };
	struct page_source *src;
	struct page_req q[7], *got;
	uint64_t miss;
	int fds[2];

	for (size_t i = 0; i < sizeof(data0); i++) {
		data0[i] = (uint8_t)(i / PAGE + 1);
		data1[i] = (uint8_t)(0x80 + i / PAGE);
	}
	snprintf(p0, sizeof(p0), "%s/pages-1.img", dir);
	snprintf(p1, sizeof(p1), "%s/parent-pages-1.img", dir);
	snprintf(logp, sizeof(logp), "%s/log", dir);
	cr_assert_eq(t_write_file(p0, data0, sizeof(data0)), 0);
	cr_assert_eq(t_write_file(p1, data1, sizeof(data1)), 0);
	files[0] = (struct rimg_pages_file){ .fd = open(p0, O_RDONLY), .size = sizeof(data0) };
	files[1] = (struct rimg_pages_file){ .fd = open(p1, O_RDONLY), .size = sizeof(data1) };
	pm.runs = runs;
	pm.nr_runs = sizeof(runs) / sizeof(runs[0]);
	pm.files = files;
	pm.nr_files = 2;
	pm.pages_fd = files[0].fd;
	proc.pid = 4242;
	proc.pm = &pm;
	proc.parent = -1;
	r.procs = &proc;
	r.nr_procs = 1;
	r.dir = dir;

	cr_assert_eq(page_source_local_open(&src, &r), 0);
	cr_assert(strstr(src->name, "images /tmp/ferry-test-"), "%s", src->name);
	cr_assert_eq(page_source_poll_fds(src, fds, 2), 0);
	cr_assert_eq(log_init(logp, LOG_ERROR, 0), 0);
	/* 5 pages across a level-0 run and a level-1 run. */
	q[0] = (struct page_req){ .pid = 4242, .addr = 0x10000, .nr = 5, .buf = buf, .cookie = 0 };
	q[1] = (struct page_req){ .pid = 4242, .addr = 0x14000, .nr = 2, .buf = buf, .cookie = 1 };
	q[2] = (struct page_req){ .pid = 4242, .addr = 0x16000, .nr = 1, .buf = buf, .cookie = 2 };
	q[3] = (struct page_req){ .pid = 4242, .addr = 0x20000, .nr = 2, .buf = buf, .cookie = 3 };
	q[4] = (struct page_req){ .pid = 4243, .addr = 0x10000, .nr = 1, .buf = buf, .cookie = 4 };
	q[5] = (struct page_req){ .pid = 4242, .addr = 0x10001, .nr = 1, .buf = buf, .cookie = 5 };
	q[6] = (struct page_req){ .pid = 4242, .addr = 0x10000, .nr = 0, .buf = buf, .cookie = 6 };
	cr_assert_eq(page_source_submit(src, &q[0]), 0);
	cr_assert_eq(page_source_reap(src, &got), 1);
	cr_assert_eq(got, &q[0]);
	cr_assert_eq(q[0].err, 0);
	cr_assert_eq(memcmp(buf, data0, 2 * PAGE), 0, "level 0, pages 0-1 of its file");
	cr_assert_eq(memcmp(buf + 2 * PAGE, data1 + PAGE, 3 * PAGE), 0,
		     "level 1, from offset 4096 of its file");
	cr_assert_eq(page_source_reap(src, &got), 0);
	for (int i = 1; i < 7; i++)
		cr_assert_eq(page_source_submit(src, &q[i]), 0);
	for (int i = 1; i < 7; i++) {
		cr_assert_eq(page_source_reap(src, &got), 1);
		cr_assert_eq(got, &q[i], "in submission order");
	}
	cr_assert_eq(page_source_reap(src, &got), 0);
	log_fini();
	cr_assert_eq(q[1].err, -ENOENT, "a PE_LAZY page has no data here");
	cr_assert_eq(q[2].err, -ENOENT, "in no run");
	cr_assert_eq(q[3].err, -EIO, "pages file too short");
	cr_assert_eq(q[4].err, -ENOENT, "unknown pid");
	cr_assert_eq(q[5].err, -EINVAL);
	cr_assert_eq(q[6].err, -EINVAL);
	cr_assert_eq(t_count_lines(logp, "pid 4242: page 0x15000 is not in the dump"), 1);
	cr_assert_eq(t_count_lines(logp, "pid 4242: page 0x16000 is not in the dump"), 1);
	cr_assert_eq(t_count_lines(logp, "pid 4242: cannot read page 0x21000"), 1);
	cr_assert_eq(t_count_lines(logp, "pid 4243 is not in the dump"), 1);
	/* The synchronous reader says which page is missing. */
	cr_assert_eq(page_source_local_read(src, 4242, 0x13000, 4, buf, &miss), -ENOENT);
	cr_assert_eq(miss, 0x15000);
	cr_assert_eq(page_source_local_read(src, 4243, 0x10000, 1, buf, &miss), -ESRCH);
	page_source_destroy(src);
	close(files[0].fd);
	close(files[1].fd);
	free(buf);
	t_rmrf(dir);
	free(dir);
}
