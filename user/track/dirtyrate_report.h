/* SPDX-License-Identifier: MIT */
/*
 * The report of `ferry dirtyrate`: what a measuring run found, and its three
 * renderings (a text table for people, one JSON object for programs, an SVG
 * file with a chart).
 *
 * The measuring loop (elsewhere) fills a struct dr_report: one dr_interval
 * per measuring interval, with the number of distinct 4 KiB pages written in
 * it as PAGEMAP_SCAN saw them (uffd-wp, re-armed at each scan) and as the BPF
 * page-fault stream saw them; totals per mapping; and, when BPF ran, one
 * dr_page per page written. This file only reads that model: nothing here
 * touches the target.
 *
 * Units. Rates are pages/s and MiB/s (2^20 bytes), over measured interval
 * durations (t_end_ns - t_start_ns), from the PAGEMAP_SCAN counts. The
 * summary also gives the figures in the terms of QEMU's calc-dirty-rate /
 * query-dirty-rate (DirtyRateInfo): "dirty-rate" is an integer in what QEMU
 * calls MB/s, computed as QEMU does, floor((pages * page_size * 1000) / 2^20)
 * / calc_ms with integer division, so its "MB" is a MiB; "calc-time" is the
 * measured run length rounded to whole seconds; "sample-pages" is 0 (every
 * page of the tracked ranges is watched, none sampled, as in QEMU's
 * dirty-ring and dirty-bitmap modes); "mode" is "uffd-wp" ("soft-dirty" when
 * the method starts with "soft-dirty": then the counts labelled PAGEMAP_SCAN
 * are labelled soft-dirty too).
 *
 * Zero page_size in a report is read as 4096, a NULL method as
 * "uffd-wp+pagemap_scan". Intervals with t_end_ns <= t_start_ns count as
 * zero-length (rate 0). name[] and comm[] need not be NUL-terminated; bytes
 * that are not valid UTF-8 are replaced in the outputs (U+FFFD in JSON, '?'
 * in SVG, and control bytes by '?' in text and SVG), so they stay valid
 * documents. None of the functions changes the report; they are safe to
 * call from several threads on the same report.
 */
#ifndef FERRY_DIRTYRATE_REPORT_H
#define FERRY_DIRTYRATE_REPORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

struct dr_interval {
	uint64_t t_start_ns, t_end_ns; /* CLOCK_MONOTONIC, start/end of the interval */
	uint64_t scan_pages;	       /* distinct pages written, from PAGEMAP_SCAN */
	uint64_t bpf_pages;	       /* distinct pages written, from BPF */
	uint64_t bpf_faults;	       /* write faults seen by BPF (>= bpf_pages) */
	uint64_t frozen_ns; /* how long the target was stopped for this interval's scan */
};
struct dr_vma { /* one mapping of the target, totals over the run */
	uint64_t start, end;
	char name[64];	     /* path basename, "[heap]", "[stack]", "[anon]" ... */
	uint64_t scan_pages; /* sum over intervals of its distinct written pages */
	uint64_t wss_pages;  /* distinct pages written at least once during the run */
};
struct dr_page { /* one page from the BPF per-page map */
	uint64_t addr;
	uint32_t writes; /* intervals in which it was written */
	uint64_t first_ns, last_ns;
};
struct dr_report {
	pid_t pid;
	char comm[16];
	uint64_t interval_ms;
	uint64_t page_size; /* 4096 */
	struct dr_interval *iv;
	size_t nr_iv;
	struct dr_vma *vmas;
	size_t nr_vmas;
	struct dr_page *pages;
	size_t nr_pages;	/* may be 0 (no BPF) */
	uint64_t wss_pages;	/* distinct pages written during the whole run */
	uint64_t tracked_pages; /* pages of the tracked (write-protected) ranges */
	int bpf;		/* 1 if BPF counts are valid */
	const char *method;	/* "uffd-wp+pagemap_scan" or "soft-dirty+pagemap" */
};

/* One run of contiguous written pages, as dr_report_hot_ranges() makes them. */
struct dr_hot {
	uint64_t start, end; /* [start, end): end is past the last page */
	uint64_t writes;     /* sum of the pages' writes */
	uint64_t pages;	     /* pages in the run */
};

/*
 * dr_report_rate - the mean rate over the whole run: the sum of all
 * intervals' scan_pages over the sum of their durations, in pages/s into
 * *pages_per_s and MiB/s into *mib_per_s (either pointer may be NULL). Both
 * are 0 when the report has no interval or no measured time.
 */
void dr_report_rate(const struct dr_report *r, double *pages_per_s, double *mib_per_s);

/*
 * dr_report_text - print the report as a human table to @out: one line per
 * interval (offset from the first interval's start in s, pages/s and MiB/s
 * from PAGEMAP_SCAN, BPF pages/s, time frozen, "equal"/"differ" between the
 * two counts, or "-" without BPF), then the summary (mean rate, QEMU's
 * dirty-rate terms, working-set size, BPF agreement), the mappings with the
 * most written pages (top 10 by scan_pages) and the hottest address ranges
 * (top 5, see dr_report_hot_ranges()). Returns 0, or -EIO (or the stream's
 * errno) if writing to @out failed.
 */
int dr_report_text(const struct dr_report *r, FILE *out);

/*
 * dr_report_json - print the report to @out as one JSON object followed by a
 * newline. Keys: pid, comm, interval_ms, page_size, method, mode, bpf,
 * intervals [{t_s, duration_s, scan_pages, bpf_pages, bpf_faults,
 * pages_per_s, mib_per_s, bpf_pages_per_s, equal, bpf_ahead (bpf_pages -
 * scan_pages: up to one per thread, the faults in flight at the interval's
 * stop, see docs/predump.md), frozen_us}] (bpf_*, equal and bpf_ahead are
 * null without BPF), summary {pages_per_s, mib_per_s, dirty_rate
 * (QEMU's MB/s, integer), calc_time (s, integer), calc_time_ms, sample_pages,
 * mode, wss_pages, wss_mib, tracked_pages, bpf_pages, bpf_faults,
 * intervals_equal, frozen_us_total, frozen_us_max}, vmas [{start, end, name,
 * scan_pages, wss_pages}] (in the report's order), hot_ranges [{start, end,
 * pages, writes}] (top 10). Addresses are plain numbers. Strings are escaped
 * and always valid UTF-8. Returns 0, -ENOMEM, or -EIO (or the stream's
 * errno) if writing failed.
 */
int dr_report_json(const struct dr_report *r, FILE *out);

/*
 * dr_report_svg - write a self-contained SVG (no script, no external
 * reference) to @path: a line chart of pages/s per interval (PAGEMAP_SCAN
 * and, with BPF, the BPF series; x = time since the first interval started,
 * or since the first recorded write when there is no interval; points at
 * interval midpoints) and a map of where writes went (see the
 * legend in the file: rows are the written pages in address order, each row a
 * bucket of equally many pages labelled with its first address; a row's bar
 * spans from the earliest first write to the latest last write of its pages,
 * its colour is the mean number of intervals its pages were written in).
 * Empty reports (no interval, no page) give a valid file that says so.
 * The file is written as "@path.tmp", then renamed to @path. Returns 0 or
 * -errno (the temporary file is removed on failure); errors are logged
 * with @path.
 */
int dr_report_svg(const struct dr_report *r, const char *path);

/*
 * dr_report_hot_ranges - the hottest address ranges: the pages with
 * writes > 0 (a page with 0 writes breaks a run), merged into runs of
 * contiguous pages, sorted by total writes (most first; ties by lower start),
 * at most @n of them stored in @out. The pages need not be sorted. Returns the
 * number of ranges stored; with @out NULL or @n 0, the number of runs there
 * are. Returns 0 (errno set to ENOMEM, error logged) if a work copy of the
 * pages cannot be allocated.
 */
size_t dr_report_hot_ranges(const struct dr_report *r, struct dr_hot *out, size_t n);

#endif
