// SPDX-License-Identifier: MIT
/*
 * Renderings of a dirtyrate report: text, JSON, SVG. See dirtyrate_report.h
 * for the model and the units.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX "dirtyrate: "
#include "log.h"
#include "dirtyrate_report.h"

#define NS_PER_S 1000000000ull
#define MIB (1024.0 * 1024.0)
#define DEFAULT_METHOD "uffd-wp+pagemap_scan"
#define TEXT_TOP_VMAS 10
#define TEXT_TOP_HOT 5
#define JSON_TOP_HOT 10

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

static uint64_t page_size(const struct dr_report *r)
{
	return r->page_size ? r->page_size : 4096;
}

static const char *method(const struct dr_report *r)
{
	return r->method ? r->method : DEFAULT_METHOD;
}

/* Was the report measured with soft-dirty bits (a method starting "soft-dirty")? */
static int by_soft_dirty(const struct dr_report *r)
{
	return !strncmp(method(r), "soft-dirty", strlen("soft-dirty"));
}

/* QEMU's "mode" field: how the dirty pages were found ("uffd-wp" or "soft-dirty"). */
static const char *qemu_mode(const struct dr_report *r)
{
	return by_soft_dirty(r) ? "soft-dirty" : "uffd-wp";
}

/* What counted the written pages: "soft-dirty" for that method, else "PAGEMAP_SCAN". */
static const char *scan_label(const struct dr_report *r)
{
	return by_soft_dirty(r) ? "soft-dirty" : "PAGEMAP_SCAN";
}

static uint64_t iv_ns(const struct dr_interval *iv)
{
	return iv->t_end_ns > iv->t_start_ns ? iv->t_end_ns - iv->t_start_ns : 0;
}

static double per_s(uint64_t pages, uint64_t ns)
{
	return ns ? (double)pages * 1e9 / (double)ns : 0.0;
}

static double to_mib(const struct dr_report *r, double pages)
{
	return pages * (double)page_size(r) / MIB;
}

static void summarize(const struct dr_report *r, struct dr_sum *s)
{
	size_t i;

	memset(s, 0, sizeof(*s));
	for (i = 0; i < r->nr_iv; i++) {
		const struct dr_interval *iv = &r->iv[i];

		s->scan += iv->scan_pages;
		s->bpf_pages += iv->bpf_pages;
		s->bpf_faults += iv->bpf_faults;
		s->dur_ns += iv_ns(iv);
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
			(uint64_t)(((unsigned __int128)s->scan * page_size(r) * 1000) >> 20) /
			s->calc_ms;
}

void dr_report_rate(const struct dr_report *r, double *pages_per_s, double *mib_per_s)
{
	uint64_t pages = 0, ns = 0;
	double pps;
	size_t i;

	for (i = 0; i < r->nr_iv; i++) {
		pages += r->iv[i].scan_pages;
		ns += iv_ns(&r->iv[i]);
	}
	pps = per_s(pages, ns);
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
static int written_sorted(const struct dr_report *r, const struct dr_page ***out, size_t *nr)
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
	const uint64_t ps = page_size(r);
	const struct dr_page **v;
	size_t i, nw, runs = 0, stored = 0;
	struct dr_hot cur = { 0 };

	if (written_sorted(r, &v, &nw)) {
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

static size_t len_of(const char *s, size_t max)
{
	return s ? strnlen(s, max) : 0;
}

/* Print at most max bytes of s, with control bytes shown as '?'. */
static void text_str(FILE *out, const char *s, size_t max)
{
	size_t i, n = len_of(s, max);

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
static int stream_status(FILE *out)
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
		uint64_t ns = iv_ns(iv);
		double pps = per_s(iv->scan_pages, ns);
		double off = iv->t_start_ns >= s->t0 ? (double)(iv->t_start_ns - s->t0) / 1e9 : 0;

		fprintf(out, "%10.3f %12.1f %10.3f ", off, pps, to_mib(r, pps));
		if (r->bpf)
			fprintf(out, "%12.1f", per_s(iv->bpf_pages, ns));
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
			s->equal, r->nr_iv, scan_label(r), (unsigned long long)s->bpf_pages,
			(unsigned long long)s->bpf_faults);
	else
		fprintf(out, "BPF: not available, counts from %s only\n", scan_label(r));
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

	summarize(r, &s);
	fprintf(out, "pid %d (", r->pid);
	text_str(out, r->comm, sizeof(r->comm));
	fprintf(out, "): interval %llu ms, %s, page size %llu, BPF %s\n",
		(unsigned long long)r->interval_ms, method(r), (unsigned long long)page_size(r),
		r->bpf ? "on" : "off");
	text_intervals(r, &s, out);
	text_summary(r, &s, out);
	text_vmas(r, out);
	text_hot(r, out);
	ret = stream_status(out);
	if (ret)
		pr_errno(ret, "pid %d: writing the text report", r->pid);
	return ret;
}

/* ---- JSON ---------------------------------------------------------------- */

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if invalid. */
static size_t utf8_seq(const unsigned char *s, size_t n)
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
	size_t n = len_of(s, max), i = 0, l;

	if (!s) {
		fputs("null", out);
		return;
	}
	fputc('"', out);
	while (i < n) {
		unsigned char c = p[i];

		l = utf8_seq(p + i, n - i);
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
		uint64_t ns = iv_ns(iv);
		double pps = per_s(iv->scan_pages, ns);
		double off = iv->t_start_ns >= s->t0 ? (double)(iv->t_start_ns - s->t0) / 1e9 : 0;

		fprintf(out,
			"%s{\"t_s\":%.6f,\"duration_s\":%.6f,\"scan_pages\":%llu,"
			"\"pages_per_s\":%.3f,\"mib_per_s\":%.6f,",
			i ? "," : "", off, (double)ns / 1e9, (unsigned long long)iv->scan_pages,
			pps, to_mib(r, pps));
		if (r->bpf)
			fprintf(out,
				"\"bpf_pages\":%llu,\"bpf_faults\":%llu,\"bpf_pages_per_s\":%.3f,"
				"\"equal\":%s,",
				(unsigned long long)iv->bpf_pages,
				(unsigned long long)iv->bpf_faults, per_s(iv->bpf_pages, ns),
				iv->scan_pages == iv->bpf_pages ? "true" : "false");
		else
			fputs("\"bpf_pages\":null,\"bpf_faults\":null,\"bpf_pages_per_s\":null,"
			      "\"equal\":null,",
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

	summarize(r, &s);
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
		(unsigned long long)r->interval_ms, (unsigned long long)page_size(r));
	json_str(out, method(r), SIZE_MAX);
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
	ret = stream_status(out);
out:
	if (ret)
		pr_errno(ret, "pid %d: writing the JSON report", r->pid);
	return ret;
}

/* ---- SVG ----------------------------------------------------------------- */

#define SVG_W 960
#define CH_X0 90 /* line chart plot area */
#define CH_X1 930
#define CH_Y0 60
#define CH_Y1 330
#define HM_X0 170 /* write map plot area */
#define HM_X1 930
#define HM_Y0 440
#define HM_ROWS_MAX 48
#define HM_ROW_H_MAX 16
#define HM_H_MAX 384
#define MARKERS_MAX 150
#define COLOR_SCAN "#1f77b4"
#define COLOR_BPF "#ff7f0e"

/* Text content or attribute value: XML-escaped, always valid UTF-8. */
static void svg_str(FILE *out, const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n = len_of(s, max), i = 0, l;

	while (i < n) {
		unsigned char c = p[i];

		l = utf8_seq(p + i, n - i);
		/* U+FFFE and U+FFFF are not XML characters either. */
		if (!l || (l == 3 && c == 0xef && p[i + 1] == 0xbf && p[i + 2] >= 0xbe)) {
			fputc('?', out);
			i += l ? l : 1;
			continue;
		}
		if (l > 1)
			fwrite(p + i, 1, l, out);
		else if (c == '&')
			fputs("&amp;", out);
		else if (c == '<')
			fputs("&lt;", out);
		else if (c == '>')
			fputs("&gt;", out);
		else if (c == '"')
			fputs("&quot;", out);
		else if (c == '\'')
			fputs("&apos;", out);
		else if (c < 0x20 || c == 0x7f)
			fputc('?', out);
		else
			fputc(c, out);
		i += l;
	}
}

/* A 1-2-5 step giving about @ticks steps over [0, range]. */
static double nice_step(double range, int ticks)
{
	double raw = range / ticks, mag = 1, f;

	if (!(raw > 0))
		return 1;
	while (mag * 10 <= raw)
		mag *= 10;
	while (mag > raw)
		mag /= 10;
	f = raw / mag;
	return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

/* A tick label: integers without decimals, with k/M suffixes when large. */
static void tick_label(char *buf, size_t len, double v, double step)
{
	if (v >= 1e6 && step >= 1e5)
		snprintf(buf, len, "%gM", v / 1e6);
	else if (v >= 1e4 && step >= 1e3)
		snprintf(buf, len, "%gk", v / 1e3);
	else if (step >= 1)
		snprintf(buf, len, "%.0f", v);
	else
		snprintf(buf, len, "%g", v);
}

struct svg_axes {
	const char *t_label; /* what the time axis counts from */
	double t_span;	     /* seconds shown on x, from the time base */
	double y_max;	     /* pages/s at the top */
	double x_step, y_step;
};

static double ch_x(const struct svg_axes *a, double t)
{
	return CH_X0 + (CH_X1 - CH_X0) * (t / a->t_span);
}

static double ch_y(const struct svg_axes *a, double v)
{
	return CH_Y1 - (CH_Y1 - CH_Y0) * (v / a->y_max);
}

static void svg_x_ticks(FILE *out, double span, double step, double x0, double x1, double y)
{
	double t;
	char lab[32];

	for (t = 0; t <= span * (1 + 1e-9); t += step) {
		double x = x0 + (x1 - x0) * (t / span);

		tick_label(lab, sizeof(lab), t, step);
		fprintf(out,
			"<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"#000\"/>"
			"<text x=\"%.1f\" y=\"%.1f\" text-anchor=\"middle\">%s</text>\n",
			x, y, x, y + 5, x, y + 18, lab);
	}
}

static void svg_series(FILE *out, const struct dr_report *r, const struct dr_sum *s,
		       const struct svg_axes *a, int bpf)
{
	const char *color = bpf ? COLOR_BPF : COLOR_SCAN;
	size_t i;

	/* The scan line is wider: where both agree, it shows around the dashed BPF one. */
	fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"%s\"%s points=\"", color,
		bpf ? "1.5" : "3", bpf ? " stroke-dasharray=\"6 3\"" : "");
	for (i = 0; i < r->nr_iv; i++) {
		const struct dr_interval *iv = &r->iv[i];
		uint64_t ns = iv_ns(iv);
		double mid = ((double)(iv->t_start_ns - s->t0) + (double)ns / 2) / 1e9;
		double v = per_s(bpf ? iv->bpf_pages : iv->scan_pages, ns);

		fprintf(out, "%s%.1f,%.1f", i ? " " : "", ch_x(a, mid), ch_y(a, v));
	}
	fputs("\"/>\n", out);
	if (r->nr_iv > MARKERS_MAX)
		return;
	for (i = 0; i < r->nr_iv; i++) {
		const struct dr_interval *iv = &r->iv[i];
		uint64_t ns = iv_ns(iv);
		double mid = ((double)(iv->t_start_ns - s->t0) + (double)ns / 2) / 1e9;
		double v = per_s(bpf ? iv->bpf_pages : iv->scan_pages, ns);

		fprintf(out,
			"<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%d\" fill=\"%s\"><title>%s %.3f s: "
			"%.1f pages/s (%llu pages)</title></circle>\n",
			ch_x(a, mid), ch_y(a, v), bpf ? 2 : 3, color, bpf ? "BPF" : scan_label(r),
			mid, v, (unsigned long long)(bpf ? iv->bpf_pages : iv->scan_pages));
	}
}

static void svg_chart(FILE *out, const struct dr_report *r, const struct dr_sum *s,
		      const struct svg_axes *a)
{
	double v;
	char lab[32];

	fprintf(out,
		"<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fafafa\" "
		"stroke=\"#ccc\"/>\n",
		CH_X0, CH_Y0, CH_X1 - CH_X0, CH_Y1 - CH_Y0);
	for (v = 0; v <= a->y_max * (1 + 1e-9); v += a->y_step) {
		double y = ch_y(a, v);

		tick_label(lab, sizeof(lab), v, a->y_step);
		fprintf(out,
			"<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#e4e4e4\"/>"
			"<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#000\"/>"
			"<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%s</text>\n",
			CH_X0, y, CH_X1, y, CH_X0 - 5, y, CH_X0, y, CH_X0 - 8, y + 4, lab);
	}
	svg_x_ticks(out, a->t_span, a->x_step, CH_X0, CH_X1, CH_Y1);
	fprintf(out,
		"<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#000\"/>"
		"<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"#000\"/>\n",
		CH_X0, CH_Y0, CH_X0, CH_Y1, CH_X0, CH_Y1, CH_X1, CH_Y1);
	fprintf(out,
		"<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n"
		"<text transform=\"translate(24 %d) rotate(-90)\" text-anchor=\"middle\">dirtied "
		"%llu-byte pages/s</text>\n",
		(CH_X0 + CH_X1) / 2, CH_Y1 + 38, a->t_label, (CH_Y0 + CH_Y1) / 2,
		(unsigned long long)page_size(r));
	if (!r->nr_iv) {
		fprintf(out,
			"<text x=\"%d\" y=\"%d\" text-anchor=\"middle\" font-size=\"16\">no "
			"intervals measured</text>\n",
			(CH_X0 + CH_X1) / 2, (CH_Y0 + CH_Y1) / 2);
		return;
	}
	svg_series(out, r, s, a, 0);
	if (r->bpf)
		svg_series(out, r, s, a, 1);
	/* Legend, top right inside the plot. */
	fprintf(out,
		"<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" stroke-width=\"3\"/>"
		"<text x=\"%d\" y=\"%d\">%s (mean %.1f pages/s, %.3f MiB/s)</text>\n",
		CH_X1 - 330, CH_Y0 + 16, CH_X1 - 305, CH_Y0 + 16, COLOR_SCAN, CH_X1 - 300,
		CH_Y0 + 20, scan_label(r), s->pps, s->mibps);
	if (r->bpf)
		fprintf(out,
			"<line x1=\"%d\" y1=\"%d\" x2=\"%d\" y2=\"%d\" stroke=\"%s\" "
			"stroke-width=\"2\" stroke-dasharray=\"6 3\"/>"
			"<text x=\"%d\" y=\"%d\">BPF write faults (%zu of %zu intervals "
			"equal)</text>\n",
			CH_X1 - 330, CH_Y0 + 34, CH_X1 - 305, CH_Y0 + 34, COLOR_BPF, CH_X1 - 300,
			CH_Y0 + 38, s->equal, r->nr_iv);
	else
		fprintf(out, "<text x=\"%d\" y=\"%d\">(no BPF series: BPF was off)</text>\n",
			CH_X1 - 300, CH_Y0 + 38);
}

/* Colour for f in [0, 1]: pale yellow, orange, dark red. */
static void heat_color(char *buf, size_t len, double f)
{
	static const int stop[3][3] = { { 255, 255, 204 }, { 253, 141, 60 }, { 189, 0, 38 } };
	const int *a, *b;
	double t;

	if (!(f > 0))
		f = 0;
	if (f > 1)
		f = 1;
	a = f < 0.5 ? stop[0] : stop[1];
	b = f < 0.5 ? stop[1] : stop[2];
	t = f < 0.5 ? f * 2 : (f - 0.5) * 2;
	snprintf(buf, len, "#%02x%02x%02x", (int)(a[0] + (b[0] - a[0]) * t + 0.5),
		 (int)(a[1] + (b[1] - a[1]) * t + 0.5), (int)(a[2] + (b[2] - a[2]) * t + 0.5));
}

struct hm_row {
	uint64_t lo, hi; /* first page, end of the last page */
	uint64_t first_ns, last_ns;
	uint64_t writes, pages;
};

static void hm_fill_row(const struct dr_page **v, size_t from, size_t to, uint64_t ps,
			struct hm_row *row)
{
	size_t i;

	memset(row, 0, sizeof(*row));
	row->lo = v[from]->addr;
	row->hi = v[to - 1]->addr + ps;
	row->first_ns = UINT64_MAX;
	for (i = from; i < to; i++) {
		if (v[i]->first_ns < row->first_ns)
			row->first_ns = v[i]->first_ns;
		if (v[i]->last_ns > row->last_ns)
			row->last_ns = v[i]->last_ns;
		row->writes += v[i]->writes;
		row->pages++;
	}
}

/* The write map: rows of written pages in address order, over time. */
static void svg_heatmap(FILE *out, const struct dr_report *r, const struct dr_page **v, size_t nw,
			uint64_t t0, const struct svg_axes *a)
{
	size_t per_row, rows, i;
	struct hm_row row;
	double max_mean = 0, row_h;
	int y_end, k;
	char col[16];

	fprintf(out,
		"<text x=\"%d\" y=\"%d\" font-size=\"15\" font-weight=\"bold\">Where the "
		"writes went (BPF per-page data)</text>\n",
		20, HM_Y0 - 40);
	if (!nw) {
		fprintf(out, "<text x=\"%d\" y=\"%d\">no per-page data: %s</text>\n", HM_X0, HM_Y0,
			!r->bpf	      ? "BPF was off"
			: r->nr_pages ? "no page was written"
				      : "the BPF page map was empty");
		return;
	}
	per_row = (nw + HM_ROWS_MAX - 1) / HM_ROWS_MAX;
	rows = (nw + per_row - 1) / per_row;
	row_h = (double)HM_H_MAX / (double)rows;
	if (row_h > HM_ROW_H_MAX)
		row_h = HM_ROW_H_MAX;
	y_end = HM_Y0 + (int)(row_h * (double)rows + 0.5);
	for (i = 0; i < rows; i++) {
		size_t to = (i + 1) * per_row < nw ? (i + 1) * per_row : nw;

		hm_fill_row(v, i * per_row, to, page_size(r), &row);
		if ((double)row.writes / (double)row.pages > max_mean)
			max_mean = (double)row.writes / (double)row.pages;
	}
	fprintf(out,
		"<text x=\"%d\" y=\"%d\">rows: the %zu written pages in address order, %zu per row "
		"(label: first address); bar: earliest first write to latest last write in the "
		"row</text>\n"
		"<text x=\"%d\" y=\"%d\">colour: mean number of intervals a page of the row was "
		"written in; no per-interval history per page is kept</text>\n",
		20, HM_Y0 - 22, nw, per_row, 20, HM_Y0 - 8);
	fprintf(out,
		"<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fafafa\" "
		"stroke=\"#ccc\"/>\n",
		HM_X0, HM_Y0, HM_X1 - HM_X0, y_end - HM_Y0);
	for (i = 0; i < rows; i++) {
		size_t to = (i + 1) * per_row < nw ? (i + 1) * per_row : nw;
		double y = HM_Y0 + row_h * (double)i, x0, x1, mean;

		hm_fill_row(v, i * per_row, to, page_size(r), &row);
		mean = (double)row.writes / (double)row.pages;
		x0 = HM_X0 +
		     (HM_X1 - HM_X0) * ((double)(row.first_ns > t0 ? row.first_ns - t0 : 0) / 1e9 /
					a->t_span);
		x1 = HM_X0 + (HM_X1 - HM_X0) * ((double)(row.last_ns > t0 ? row.last_ns - t0 : 0) /
						1e9 / a->t_span);
		if (x0 > HM_X1)
			x0 = HM_X1;
		if (x1 > HM_X1)
			x1 = HM_X1;
		if (x1 < x0 + 2)
			x1 = x0 + 2;
		heat_color(col, sizeof(col), max_mean > 0 ? mean / max_mean : 0);
		fprintf(out,
			"<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\" "
			"stroke=\"#999\" stroke-width=\"0.3\"><title>0x%llx-0x%llx: %llu pages, "
			"%.2f intervals written per page</title></rect>\n",
			x0, y, x1 - x0, row_h, col, (unsigned long long)row.lo,
			(unsigned long long)row.hi, (unsigned long long)row.pages, mean);
		/* Rows are at least HM_H_MAX / HM_ROWS_MAX = 8 px: each gets its label. */
		fprintf(out,
			"<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\" font-family=\"monospace\" "
			"font-size=\"%d\">0x%llx</text>\n",
			HM_X0 - 5, y + row_h / 2 + 3, row_h >= 10 ? 11 : 8,
			(unsigned long long)row.lo);
	}
	svg_x_ticks(out, a->t_span, a->x_step, HM_X0, HM_X1, y_end);
	fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">%s</text>\n",
		(HM_X0 + HM_X1) / 2, y_end + 38, a->t_label);
	/* Colour scale. */
	for (k = 0; k <= 10; k++) {
		heat_color(col, sizeof(col), k / 10.0);
		fprintf(out,
			"<rect x=\"%d\" y=\"%d\" width=\"20\" height=\"12\" fill=\"%s\" "
			"stroke=\"#999\" stroke-width=\"0.3\"/>\n",
			HM_X0 + k * 20, y_end + 52, col);
	}
	fprintf(out,
		"<text x=\"%d\" y=\"%d\">0</text><text x=\"%d\" y=\"%d\">%.2f intervals written "
		"per page (row mean)</text>\n",
		HM_X0 - 12, y_end + 62, HM_X0 + 11 * 20 + 6, y_end + 62, max_mean);
}

static void svg_axes_init(const struct dr_report *r, const struct dr_sum *s,
			  const struct dr_page **v, size_t nw, uint64_t *t0, struct svg_axes *a)
{
	uint64_t t1 = 0;
	double top = 0;
	size_t i;

	a->t_label = "time since the first interval started (s)";
	if (r->nr_iv) {
		*t0 = s->t0;
		t1 = s->t1;
	} else {
		a->t_label = "time since the first recorded write (s)";
		*t0 = nw ? UINT64_MAX : 0;
		for (i = 0; i < nw; i++) {
			if (v[i]->first_ns < *t0)
				*t0 = v[i]->first_ns;
			if (v[i]->last_ns > t1)
				t1 = v[i]->last_ns;
		}
	}
	a->t_span = t1 > *t0 ? (double)(t1 - *t0) / 1e9 : 1.0;
	for (i = 0; i < r->nr_iv; i++) {
		uint64_t ns = iv_ns(&r->iv[i]);
		double sp = per_s(r->iv[i].scan_pages, ns), bp = per_s(r->iv[i].bpf_pages, ns);

		if (sp > top)
			top = sp;
		if (r->bpf && bp > top)
			top = bp;
	}
	if (!(top > 0))
		top = 1;
	a->y_step = nice_step(top, 5);
	/* Some headroom above the highest point, up to a whole tick. */
	a->y_max = a->y_step * (double)(uint64_t)(top * 1.2 / a->y_step + 0.999999);
	if (a->y_max < top * 1.2)
		a->y_max += a->y_step;
	a->x_step = nice_step(a->t_span, 8);
	/* Whole ticks only: stretch the axis to the next one. */
	a->t_span = a->x_step * (double)(uint64_t)(a->t_span / a->x_step + 0.999999);
}

static void svg_write(FILE *out, const struct dr_report *r, const struct dr_page **v, size_t nw)
{
	struct svg_axes a;
	struct dr_sum s;
	uint64_t t0;
	int h = HM_Y0 + HM_H_MAX + 100;

	summarize(r, &s);
	svg_axes_init(r, &s, v, nw, &t0, &a);
	fprintf(out,
		"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
		"<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" width=\"%d\" "
		"height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" "
		"font-size=\"12\">\n",
		SVG_W, h, SVG_W, h);
	fprintf(out, "<title>ferry dirtyrate: pid %d (", r->pid);
	svg_str(out, r->comm, sizeof(r->comm));
	fprintf(out, ")</title>\n<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n");
	fprintf(out,
		"<text x=\"20\" y=\"24\" font-size=\"15\" font-weight=\"bold\">ferry "
		"dirtyrate: pid %d (",
		r->pid);
	svg_str(out, r->comm, sizeof(r->comm));
	fprintf(out, ") - dirtied pages per second, every %llu ms (",
		(unsigned long long)r->interval_ms);
	svg_str(out, method(r), SIZE_MAX);
	fprintf(out,
		")</text>\n<text x=\"20\" y=\"42\">mean %.3f MiB/s (%.1f pages/s); QEMU "
		"dirty-rate %llu MB/s over %.3f s; working set %llu pages of %llu tracked</text>\n",
		s.mibps, s.pps, (unsigned long long)s.qemu_rate, (double)s.dur_ns / 1e9,
		(unsigned long long)r->wss_pages, (unsigned long long)r->tracked_pages);
	svg_chart(out, r, &s, &a);
	svg_heatmap(out, r, v, nw, t0, &a);
	fputs("</svg>\n", out);
}

int dr_report_svg(const struct dr_report *r, const char *path)
{
	const struct dr_page **v = NULL;
	char *tmp = NULL;
	FILE *f = NULL;
	size_t nw;
	int ret;

	ret = written_sorted(r, &v, &nw);
	if (ret)
		goto out;
	if (asprintf(&tmp, "%s.tmp", path) < 0) {
		tmp = NULL;
		ret = -ENOMEM;
		pr_err("pid %d: no memory for the name of %s.tmp", r->pid, path);
		goto out;
	}
	f = fopen(tmp, "w");
	if (!f) {
		ret = -errno;
		pr_perror("pid %d: cannot create %s", r->pid, tmp);
		goto out;
	}
	svg_write(f, r, v, nw);
	ret = stream_status(f);
	if (!ret && fsync(fileno(f)))
		ret = -errno;
	if (ret) {
		pr_errno(ret, "pid %d: writing %s", r->pid, tmp);
		goto out;
	}
	if (fclose(f)) {
		f = NULL;
		ret = -errno;
		pr_perror("pid %d: closing %s", r->pid, tmp);
		goto out;
	}
	f = NULL;
	if (rename(tmp, path)) {
		ret = -errno;
		pr_perror("pid %d: cannot rename %s to %s", r->pid, tmp, path);
		goto out;
	}
	pr_debug("pid %d: wrote %s (%zu intervals, %zu written pages)", r->pid, path, r->nr_iv, nw);
out:
	if (f)
		fclose(f);
	if (ret && tmp)
		unlink(tmp);
	free(tmp);
	free(v);
	return ret;
}
