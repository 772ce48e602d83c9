// SPDX-License-Identifier: MIT
/*
 * A dirtyrate report: the figures over the run (summary, rate, hot ranges)
 * and its text and JSON renderings; the SVG plot is in dirtyrate_svg.c. See
 * dirtyrate_report.h for the model and the units.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_PREFIX "dirtyrate: "
#include "log.h"
#include "dirtyrate_report.h"
#include "dirtyrate_report_priv.h"

#define NS_PER_S 1000000000ull
#define MIB (1024.0 * 1024.0)
#define DEFAULT_METHOD "uffd-wp+pagemap_scan"
#define TEXT_TOP_VMAS 10
#define TEXT_TOP_HOT 5
#define JSON_TOP_HOT 10

uint64_t dr_page_size(const struct dr_report *r)
{
	return r->page_size ? r->page_size : 4096;
}

const char *dr_method(const struct dr_report *r)
{
	return r->method ? r->method : DEFAULT_METHOD;
}

/* Was the report measured with soft-dirty bits (a method starting "soft-dirty")? */
static int by_soft_dirty(const struct dr_report *r)
{
	return !strncmp(dr_method(r), "soft-dirty", strlen("soft-dirty"));
}

/* QEMU's "mode" field: how the dirty pages were found ("uffd-wp" or "soft-dirty"). */
static const char *qemu_mode(const struct dr_report *r)
{
	return by_soft_dirty(r) ? "soft-dirty" : "uffd-wp";
}

/* What counted the written pages: "soft-dirty" for that method, else "PAGEMAP_SCAN". */
const char *dr_scan_label(const struct dr_report *r)
{
	return by_soft_dirty(r) ? "soft-dirty" : "PAGEMAP_SCAN";
}

uint64_t dr_iv_ns(const struct dr_interval *iv)
{
	return iv->t_end_ns > iv->t_start_ns ? iv->t_end_ns - iv->t_start_ns : 0;
}

double dr_per_s(uint64_t pages, uint64_t ns)
{
	return ns ? (double)pages * 1e9 / (double)ns : 0.0;
}

static double to_mib(const struct dr_report *r, double pages)
{
	return pages * (double)dr_page_size(r) / MIB;
}

void dr_summarize(const struct dr_report *r, struct dr_sum *s)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < r->nr_iv; i++) {
		const struct dr_interval *iv = &r->iv[i];

		s->scan += iv->scan_pages;
		s->bpf_pages += iv->bpf_pages;
		s->bpf_faults += iv->bpf_faults;
		s->dur_ns += dr_iv_ns(iv);
		s->frozen_ns += iv->frozen_ns;
		if (iv->frozen_ns > s->frozen_max_ns)
			s->frozen_max_ns = iv->frozen_ns;
		if (iv->scan_pages == iv->bpf_pages)
			s->equal++;
		if (!i || iv->t_start_ns < s->t0)
			s->t0 = iv->t_start_ns;
		if (iv->t_end_ns > s->t1)
			s->t1 = iv->t_end_ns;
	}
	dr_report_rate(r, &s->pps, &s->mibps);
	s->calc_ms = s->dur_ns / 1000000;
	s->calc_s = (s->dur_ns + NS_PER_S / 2) / NS_PER_S;
	/* As QEMU: MiB of (pages * 1000), then integer division by the ms. */
	if (s->calc_ms)
		s->qemu_rate =
			(uint64_t)(((unsigned __int128)s->scan * dr_page_size(r) * 1000) >> 20) /
			s->calc_ms;
}

void dr_report_rate(const struct dr_report *r, double *pages_per_s, double *mib_per_s)
{
	uint64_t pages = 0, ns = 0;
	double pps;
	size_t i;

	for (i = 0; i < r->nr_iv; i++) {
		pages += r->iv[i].scan_pages;
		ns += dr_iv_ns(&r->iv[i]);
	}
	pps = dr_per_s(pages, ns);
	if (pages_per_s)
		*pages_per_s = pps;
	if (mib_per_s)
		*mib_per_s = to_mib(r, pps);
}

/* ---- hot ranges ---------------------------------------------------------- */

static int cmp_page_addr(const void *a, const void *b)
{
	const struct dr_page *pa = *(const struct dr_page *const *)a;
	const struct dr_page *pb = *(const struct dr_page *const *)b;

	return pa->addr < pb->addr ? -1 : pa->addr > pb->addr;
}

/*
 * The pages with writes > 0, sorted by address, as a malloc'd array of
 * pointers into r->pages (NULL with *nr 0 when there are none). Returns 0 or
 * -ENOMEM.
 */
int dr_written_sorted(const struct dr_report *r, const struct dr_page ***out, size_t *nr)
{
	const struct dr_page **v = NULL;
	size_t i, n = 0;
	int ret = 0;

	*out = NULL;
	*nr = 0;
	for (i = 0; i < r->nr_pages; i++)
		n += r->pages[i].writes > 0;
	if (!n)
		goto out;
	v = malloc(n * sizeof(*v));
	if (!v) {
		pr_err("pid %d: no memory to sort %zu written pages", r->pid, n);
		ret = -ENOMEM;
		goto out;
	}
	n = 0;
	for (i = 0; i < r->nr_pages; i++)
		if (r->pages[i].writes)
			v[n++] = &r->pages[i];
	qsort(v, n, sizeof(*v), cmp_page_addr);
	*out = v;
	*nr = n;
out:
	return ret;
}

static int hot_before(const struct dr_hot *a, const struct dr_hot *b)
{
	return a->writes > b->writes || (a->writes == b->writes && a->start < b->start);
}

/* Insert h into out[0..*stored), kept sorted by hot_before, at most n long. */
static void hot_insert(struct dr_hot *out, size_t n, size_t *stored, const struct dr_hot *h)
{
	size_t p = 0, last;

	while (p < *stored && !hot_before(h, &out[p]))
		p++;
	if (p >= n)
		return;
	last = *stored < n ? *stored : n - 1;
	memmove(&out[p + 1], &out[p], (last - p) * sizeof(*out));
	out[p] = *h;
	if (*stored < n)
		(*stored)++;
}

size_t dr_report_hot_ranges(const struct dr_report *r, struct dr_hot *out, size_t n)
{
	const uint64_t ps = dr_page_size(r);
	const struct dr_page **v;
	size_t i, nw, runs = 0, stored = 0;
	struct dr_hot cur = { 0 };

	if (dr_written_sorted(r, &v, &nw)) {
		errno = ENOMEM;
		return 0;
	}
	for (i = 0; i < nw; i++) {
		const struct dr_page *p = v[i];

		if (i && p->addr < cur.end) {
			/* The same page twice: its writes count, not a second page. */
			cur.writes += p->writes;
			continue;
		}
		if (i && p->addr == cur.end) {
			cur.end += ps;
			cur.writes += p->writes;
			cur.pages++;
			continue;
		}
		if (i) {
			runs++;
			if (out && n)
				hot_insert(out, n, &stored, &cur);
		}
		cur = (struct dr_hot){
			.start = p->addr, .end = p->addr + ps, .writes = p->writes, .pages = 1
		};
	}
	if (nw) {
		runs++;
		if (out && n)
			hot_insert(out, n, &stored, &cur);
	}
	free(v);
	return out && n ? stored : runs;
}

/* ---- text ---------------------------------------------------------------- */

size_t dr_len_of(const char *s, size_t max)
{
	return s ? strnlen(s, max) : 0;
}

/* Print at most max bytes of s, with control bytes shown as '?'. */
static void text_str(FILE *out, const char *s, size_t max)
{
	size_t i, n = dr_len_of(s, max);

	for (i = 0; i < n; i++)
		fputc((unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i], out);
}

/* Indexes of the (at most TEXT_TOP_VMAS) mappings with the most scan_pages. */
static size_t top_vmas(const struct dr_report *r, size_t *idx)
{
	size_t i, k, p, stored = 0;

	for (i = 0; i < r->nr_vmas; i++) {
		const struct dr_vma *v = &r->vmas[i];

		for (p = 0; p < stored; p++) {
			const struct dr_vma *o = &r->vmas[idx[p]];

			if (v->scan_pages > o->scan_pages ||
			    (v->scan_pages == o->scan_pages && v->start < o->start))
				break;
		}
		if (p >= TEXT_TOP_VMAS)
			continue;
		if (stored < TEXT_TOP_VMAS)
			stored++;
		for (k = stored - 1; k > p; k--)
			idx[k] = idx[k - 1];
		idx[p] = i;
	}
	return stored;
}

/* 0 if everything written to out reached it, else -errno or -EIO. */
int dr_stream_status(FILE *out)
{
	if (fflush(out))
		return -errno;
	return ferror(out) ? -EIO : 0;
}

static void text_intervals(const struct dr_report *r, const struct dr_sum *s, FILE *out)
{
	size_t i;

	fprintf(out, "%10s %12s %10s %12s %11s  %s\n", "time(s)", "pages/s", "MiB/s", "bpf pages/s",
		"frozen(ms)", "scan vs bpf");
	for (i = 0; i < r->nr_iv; i++) {
		const struct dr_interval *iv = &r->iv[i];
		uint64_t ns = dr_iv_ns(iv);
		double pps = dr_per_s(iv->scan_pages, ns);
		double off = iv->t_start_ns >= s->t0 ? (double)(iv->t_start_ns - s->t0) / 1e9 : 0;

		fprintf(out, "%10.3f %12.1f %10.3f ", off, pps, to_mib(r, pps));
		if (r->bpf)
			fprintf(out, "%12.1f", dr_per_s(iv->bpf_pages, ns));
		else
			fprintf(out, "%12s", "-");
		fprintf(out, " %11.3f  %s\n", (double)iv->frozen_ns / 1e6,
			!r->bpf				  ? "-"
			: iv->scan_pages == iv->bpf_pages ? "equal"
							  : "differ");
	}
}

static void text_summary(const struct dr_report *r, const struct dr_sum *s, FILE *out)
{
	double wss_mib = to_mib(r, (double)r->wss_pages);

	fprintf(out,
		"\nmean dirty rate: %.3f MiB/s, %.1f pages/s (%llu pages in %.3f s, %zu intervals)\n",
		s->mibps, s->pps, (unsigned long long)s->scan, (double)s->dur_ns / 1e9, r->nr_iv);
	fprintf(out,
		"as QEMU query-dirty-rate: dirty-rate %llu MB/s, calc-time %llu s (%llu ms), sample-pages 0, mode %s\n",
		(unsigned long long)s->qemu_rate, (unsigned long long)s->calc_s,
		(unsigned long long)s->calc_ms, qemu_mode(r));
	fprintf(out, "working set: %llu pages (%.3f MiB)", (unsigned long long)r->wss_pages,
		wss_mib);
	if (r->tracked_pages)
		fprintf(out, " of %llu tracked pages (%.1f%%)\n",
			(unsigned long long)r->tracked_pages,
			100.0 * (double)r->wss_pages / (double)r->tracked_pages);
	else
		fprintf(out, "\n");
	if (r->bpf)
		fprintf(out,
			"BPF: %zu of %zu intervals equal to %s; %llu pages, %llu write faults\n",
			s->equal, r->nr_iv, dr_scan_label(r), (unsigned long long)s->bpf_pages,
			(unsigned long long)s->bpf_faults);
	else
		fprintf(out, "BPF: not available, counts from %s only\n", dr_scan_label(r));
	fprintf(out, "frozen: %.3f ms in all, at most %.3f ms in one interval\n",
		(double)s->frozen_ns / 1e6, (double)s->frozen_max_ns / 1e6);
}

static void text_vmas(const struct dr_report *r, FILE *out)
{
	size_t idx[TEXT_TOP_VMAS], n = top_vmas(r, idx), i;

	fprintf(out, "\nmappings by written pages (top %zu of %zu):\n", n, r->nr_vmas);
	if (!n)
		return;
	fprintf(out, "  %-33s %12s %12s %10s  %s\n", "range", "written", "working set", "size(KiB)",
		"name");
	for (i = 0; i < n; i++) {
		const struct dr_vma *v = &r->vmas[idx[i]];

		fprintf(out, "  %016llx-%016llx %12llu %12llu %10llu  ",
			(unsigned long long)v->start, (unsigned long long)v->end,
			(unsigned long long)v->scan_pages, (unsigned long long)v->wss_pages,
			(unsigned long long)(v->end > v->start ? (v->end - v->start) / 1024 : 0));
		text_str(out, v->name, sizeof(v->name));
		fputc('\n', out);
	}
}

static void text_hot(const struct dr_report *r, FILE *out)
{
	struct dr_hot hot[TEXT_TOP_HOT];
	size_t runs, n, i;

	if (!r->nr_pages) {
		fprintf(out, "\nhottest ranges: no per-page data%s\n", r->bpf ? "" : " (no BPF)");
		return;
	}
	runs = dr_report_hot_ranges(r, NULL, 0);
	n = dr_report_hot_ranges(r, hot, TEXT_TOP_HOT);
	fprintf(out, "\nhottest ranges (top %zu of %zu):\n", n, runs);
	if (!n)
		return;
	fprintf(out, "  %-33s %10s %12s\n", "range", "pages", "writes");
	for (i = 0; i < n; i++)
		fprintf(out, "  %016llx-%016llx %10llu %12llu\n", (unsigned long long)hot[i].start,
			(unsigned long long)hot[i].end, (unsigned long long)hot[i].pages,
			(unsigned long long)hot[i].writes);
}

int dr_report_text(const struct dr_report *r, FILE *out)
{
	struct dr_sum s;
	int ret;

	dr_summarize(r, &s);
	fprintf(out, "pid %d (", r->pid);
	text_str(out, r->comm, sizeof(r->comm));
	fprintf(out, "): interval %llu ms, %s, page size %llu, BPF %s\n",
		(unsigned long long)r->interval_ms, dr_method(r),
		(unsigned long long)dr_page_size(r), r->bpf ? "on" : "off");
	text_intervals(r, &s, out);
	text_summary(r, &s, out);
	text_vmas(r, out);
	text_hot(r, out);
	ret = dr_stream_status(out);
	if (ret)
		pr_errno(ret, "pid %d: writing the text report", r->pid);
	return ret;
}

/* ---- JSON ---------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
size_t dr_utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;
	size_t len, i;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		len = 2;
	else if (c >= 0xe0 && c <= 0xef)
		len = 3;
	else if (c >= 0xf0 && c <= 0xf4)
		len = 4;
	else
		return 0;
	if (c == 0xe0)
		lo = 0xa0;
	else if (c == 0xed)
		hi = 0x9f; /* no UTF-16 surrogates */
	else if (c == 0xf0)
		lo = 0x90;
	else if (c == 0xf4)
		hi = 0x8f;
	if (n < len || s[1] < lo || s[1] > hi)
		return 0;
	for (i = 2; i < len; i++)
		if ((s[i] & 0xc0) != 0x80)
			return 0;
	return len;
}

/* A JSON string of at most max bytes of s (NULL prints null). */
static void json_str(FILE *out, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = dr_len_of(s, max), i = 0, l;

	if (!s) {
		fputs("null", out);
		return;
	}
	fputc('"', out);
	while (i < n) {
		unsigned char c = p[i];

		l = dr_utf8_seq(p + i, n - i);
		if (!l) {
			fputs("\\ufffd", out);
			i++;
			continue;
		}
		if (l > 1)
			fwrite(p + i, 1, l, out);
		else if (c == '"' || c == '\\')
			fprintf(out, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", out);
		else if (c == '\t')
			fputs("\\t", out);
		else if (c == '\r')
			fputs("\\r", out);
		else if (c < 0x20)
			fprintf(out, "\\u%04x", c);
		else
			fputc(c, out);
		i += l;
	}
	fputc('"', out);
}

static void json_intervals(const struct dr_report *r, const struct dr_sum *s, FILE *out)
{
	size_t i;

	fputs("\"intervals\":[", out);
	for (i = 0; i < r->nr_iv; i++) {
		const struct dr_interval *iv = &r->iv[i];
		uint64_t ns = dr_iv_ns(iv);
		double pps = dr_per_s(iv->scan_pages, ns);
		double off = iv->t_start_ns >= s->t0 ? (double)(iv->t_start_ns - s->t0) / 1e9 : 0;

		fprintf(out,
			"%s{\"t_s\":%.6f,\"duration_s\":%.6f,\"scan_pages\":%llu,"
			"\"pages_per_s\":%.3f,\"mib_per_s\":%.6f,",
			i ? "," : "", off, (double)ns / 1e9, (unsigned long long)iv->scan_pages,
			pps, to_mib(r, pps));
		if (r->bpf)
			fprintf(out,
				"\"bpf_pages\":%llu,\"bpf_faults\":%llu,\"bpf_pages_per_s\":%.3f,"
				"\"equal\":%s,\"bpf_ahead\":%lld,",
				(unsigned long long)iv->bpf_pages,
				(unsigned long long)iv->bpf_faults, dr_per_s(iv->bpf_pages, ns),
				iv->scan_pages == iv->bpf_pages ? "true" : "false",
				(long long)(iv->bpf_pages - iv->scan_pages));
		else
			fputs("\"bpf_pages\":null,\"bpf_faults\":null,\"bpf_pages_per_s\":null,"
			      "\"equal\":null,\"bpf_ahead\":null,",
			      out);
		fprintf(out, "\"frozen_us\":%.3f,\"start_mono_ns\":%llu,\"end_mono_ns\":%llu}",
			(double)iv->frozen_ns / 1e3, (unsigned long long)iv->t_start_ns,
			(unsigned long long)iv->t_end_ns);
	}
	fputs("]", out);
}

static void json_summary(const struct dr_report *r, const struct dr_sum *s, FILE *out)
{
	fprintf(out,
		"\"summary\":{\"pages_per_s\":%.3f,\"mib_per_s\":%.6f,\"dirty_rate\":%llu,"
		"\"calc_time\":%llu,\"calc_time_ms\":%llu,\"sample_pages\":0,\"mode\":\"%s\","
		"\"scan_pages\":%llu,\"wss_pages\":%llu,\"wss_mib\":%.6f,\"tracked_pages\":%llu,",
		s->pps, s->mibps, (unsigned long long)s->qemu_rate, (unsigned long long)s->calc_s,
		(unsigned long long)s->calc_ms, qemu_mode(r), (unsigned long long)s->scan,
		(unsigned long long)r->wss_pages, to_mib(r, (double)r->wss_pages),
		(unsigned long long)r->tracked_pages);
	if (r->bpf)
		fprintf(out, "\"bpf_pages\":%llu,\"bpf_faults\":%llu,\"intervals_equal\":%zu,",
			(unsigned long long)s->bpf_pages, (unsigned long long)s->bpf_faults,
			s->equal);
	else
		fputs("\"bpf_pages\":null,\"bpf_faults\":null,\"intervals_equal\":null,", out);
	fprintf(out, "\"frozen_us_total\":%.3f,\"frozen_us_max\":%.3f}", (double)s->frozen_ns / 1e3,
		(double)s->frozen_max_ns / 1e3);
}

static void json_vmas(const struct dr_report *r, FILE *out)
{
	size_t i;

	fputs("\"vmas\":[", out);
	for (i = 0; i < r->nr_vmas; i++) {
		const struct dr_vma *v = &r->vmas[i];

		fprintf(out, "%s{\"start\":%llu,\"end\":%llu,\"name\":", i ? "," : "",
			(unsigned long long)v->start, (unsigned long long)v->end);
		json_str(out, v->name, sizeof(v->name));
		fprintf(out, ",\"scan_pages\":%llu,\"wss_pages\":%llu}",
			(unsigned long long)v->scan_pages, (unsigned long long)v->wss_pages);
	}
	fputs("]", out);
}

int dr_report_json(const struct dr_report *r, FILE *out)
{
	struct dr_hot hot[JSON_TOP_HOT];
	struct dr_sum s;
	size_t nh = 0, i;
	int ret;

	dr_summarize(r, &s);
	if (r->nr_pages) {
		errno = 0;
		nh = dr_report_hot_ranges(r, hot, JSON_TOP_HOT);
		if (!nh && errno == ENOMEM) {
			ret = -ENOMEM;
			goto out;
		}
	}
	fprintf(out, "{\"pid\":%d,\"comm\":", r->pid);
	json_str(out, r->comm, sizeof(r->comm));
	fprintf(out, ",\"interval_ms\":%llu,\"page_size\":%llu,\"method\":",
		(unsigned long long)r->interval_ms, (unsigned long long)dr_page_size(r));
	json_str(out, dr_method(r), SIZE_MAX);
	fprintf(out, ",\"mode\":\"%s\",\"bpf\":%s,", qemu_mode(r), r->bpf ? "true" : "false");
	json_intervals(r, &s, out);
	fputc(',', out);
	json_summary(r, &s, out);
	fputc(',', out);
	json_vmas(r, out);
	fputs(",\"hot_ranges\":[", out);
	for (i = 0; i < nh; i++)
		fprintf(out, "%s{\"start\":%llu,\"end\":%llu,\"pages\":%llu,\"writes\":%llu}",
			i ? "," : "", (unsigned long long)hot[i].start,
			(unsigned long long)hot[i].end, (unsigned long long)hot[i].pages,
			(unsigned long long)hot[i].writes);
	fputs("]}\n", out);
	ret = dr_stream_status(out);
out:
	if (ret)
		pr_errno(ret, "pid %d: writing the JSON report", r->pid);
	return ret;
}
