/* SPDX-License-Identifier: MIT */
/*
 * Inside the dirtyrate report (dirtyrate_report.h): what its two files share.
 * dirtyrate_report.c sums the run up and writes the text and JSON reports;
 * dirtyrate_svg.c draws the SVG plot.
 */
#ifndef FERRY_DIRTYRATE_REPORT_PRIV_H
#define FERRY_DIRTYRATE_REPORT_PRIV_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "dirtyrate_report.h"

/* Figures over the whole run, computed once per rendering. */
struct dr_sum {
	uint64_t scan, bpf_pages, bpf_faults; /* sums over intervals */
	uint64_t dur_ns;		      /* sum of interval durations */
	uint64_t frozen_ns, frozen_max_ns;
	size_t equal; /* intervals where scan_pages == bpf_pages */
	double pps, mibps;
	uint64_t calc_ms, calc_s; /* run length, QEMU's calc-time */
	uint64_t qemu_rate;	  /* QEMU's dirty-rate, "MB"/s */
	uint64_t t0, t1;	  /* time axis: first start, last end */
};

/* The report's page size, 4096 when unset. */
uint64_t dr_page_size(const struct dr_report *r);
/* The report's method, "uffd-wp+pagemap_scan" when unset. */
const char *dr_method(const struct dr_report *r);
/* What counted the written pages: "soft-dirty" for that method, else "PAGEMAP_SCAN". */
const char *dr_scan_label(const struct dr_report *r);
/* An interval's duration in ns, 0 if it ends before it starts. */
uint64_t dr_iv_ns(const struct dr_interval *iv);
/* Pages per second over ns (0 for 0 ns). */
double dr_per_s(uint64_t pages, uint64_t ns);
/* Fill s with the figures over the whole run of r. */
void dr_summarize(const struct dr_report *r, struct dr_sum *s);
/*
 * The pages with writes > 0, sorted by address, as a malloc'd array of
 * pointers into r->pages (NULL with *nr 0 when there are none). Returns 0 or
 * -ENOMEM.
 */
int dr_written_sorted(const struct dr_report *r, const struct dr_page ***out, size_t *nr);
/* strnlen(s, max), 0 for NULL. */
size_t dr_len_of(const char *s, size_t max);
/* 0 if everything written to out reached it, else -errno or -EIO. */
int dr_stream_status(FILE *out);
/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
size_t dr_utf8_seq(const unsigned char *s, size_t n);

#endif
