// SPDX-License-Identifier: MIT
/*
 * The SVG rendering of a dirtyrate report (dr_report_svg): the line chart of
 * dirtied pages per second and the write map of the hot pages. See
 * dirtyrate_report.h for the model and the units.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define LOG_PREFIX "dirtyrate: "
#include "log.h"
#include "dirtyrate_report.h"
#include "dirtyrate_report_priv.h"

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
	size_t n = dr_len_of(s, max), i = 0, l;

	while (i < n) {
		unsigned char c = p[i];

		l = dr_utf8_seq(p + i, n - i);
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
		uint64_t ns = dr_iv_ns(iv);
		double mid = ((double)(iv->t_start_ns - s->t0) + (double)ns / 2) / 1e9;
		double v = dr_per_s(bpf ? iv->bpf_pages : iv->scan_pages, ns);

		fprintf(out, "%s%.1f,%.1f", i ? " " : "", ch_x(a, mid), ch_y(a, v));
	}
	fputs("\"/>\n", out);
	if (r->nr_iv > MARKERS_MAX)
		return;
	for (i = 0; i < r->nr_iv; i++) {
		const struct dr_interval *iv = &r->iv[i];
		uint64_t ns = dr_iv_ns(iv);
		double mid = ((double)(iv->t_start_ns - s->t0) + (double)ns / 2) / 1e9;
		double v = dr_per_s(bpf ? iv->bpf_pages : iv->scan_pages, ns);

		fprintf(out,
			"<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%d\" fill=\"%s\"><title>%s %.3f s: "
			"%.1f pages/s (%llu pages)</title></circle>\n",
			ch_x(a, mid), ch_y(a, v), bpf ? 2 : 3, color,
			bpf ? "BPF" : dr_scan_label(r), mid, v,
			(unsigned long long)(bpf ? iv->bpf_pages : iv->scan_pages));
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
		(unsigned long long)dr_page_size(r));
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
		CH_Y0 + 20, dr_scan_label(r), s->pps, s->mibps);
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

		hm_fill_row(v, i * per_row, to, dr_page_size(r), &row);
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

		hm_fill_row(v, i * per_row, to, dr_page_size(r), &row);
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
		uint64_t ns = dr_iv_ns(&r->iv[i]);
		double sp = dr_per_s(r->iv[i].scan_pages, ns),
		       bp = dr_per_s(r->iv[i].bpf_pages, ns);

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

	dr_summarize(r, &s);
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
	svg_str(out, dr_method(r), SIZE_MAX);
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

	ret = dr_written_sorted(r, &v, &nw);
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
	ret = dr_stream_status(f);
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
