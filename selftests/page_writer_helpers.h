/* SPDX-License-Identifier: MIT */
/* What the page_writer tests share (page_writer_helpers.c). */
#ifndef FERRY_PAGE_WRITER_HELPERS_H
#define FERRY_PAGE_WRITER_HELPERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "helpers.h"
#include "mem_scan.h"

#define PG 4096ul
#define SEED 0x5eed0f00dcafe123ull /* each word of the pattern is its address ^ SEED */

/* R1: 1536 pages; never touched: i % 7 == 3 and 100-129; only read: 130-139; unmapped: 600-663. */
#define R1_PAGES 1536u
/* R2: 16 pages, all but page 4 written, then PROT_NONE. */
#define R2_PAGES 16u
/* R3: 256 pages, all written. */
#define R3_PAGES 256u

/* Where the child put its regions. */
struct pwt_layout {
	uint64_t r1, r2, r3;
	uint64_t big; /* big_mib MiB all written, when asked */
};

/* Fork the child (its memory laid out, with @big_mib MiB more all written if not 0). */
void pwt_spawn(struct t_child *c, struct pwt_layout *l, unsigned big_mib);
/* The pages the child wrote, sorted. */
size_t pwt_expected_pages(const struct pwt_layout *l, uint64_t **out);
/* Scan the three regions (in address order) of the child. */
size_t pwt_scan_layout(pid_t pid, const struct pwt_layout *l, struct page_run **runs);
/* Number of entries in @dir (but . and ..). */
int pwt_count_files(const char *dir);
/*
 * Read the images back: every entry is PE_PRESENT with both counts, the
 * entries cover exactly want[] (as maximal runs), every page matches the
 * pattern (zeros for the pages @l's child only read). Returns the number of
 * entries.
 */
size_t pwt_check_images(int dirfd, pid_t pid, uint32_t id, const uint64_t *want, size_t nwant,
			const struct pwt_layout *l);
/* 1 if @dir holds the file named by @fmt with @v. */
int pwt_has_file(const char *dir, const char *fmt, unsigned v);
/* A fresh test directory, and its fd. */
int pwt_open_dir(char **dir);
/* Close it and remove it. */
void pwt_close_dir(int dirfd, char *dir);

#endif
