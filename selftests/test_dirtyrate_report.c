// SPDX-License-Identifier: MIT
/*
 * The dirtyrate report model and its renderings (rate math on a hand-built
 * report, text, JSON parsed by python3, SVG parsed as XML, hot ranges, empty
 * reports). The dirtier workload's pacing is in test_dirtyrate_dirtier.c
 * (same suite).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "dirtyrate_report.h"
#include "helpers.h"
#include "log.h"

#define S 1000000000ull

/* ---- a hand-built report ------------------------------------------------- */

/* A name with every kind of byte JSON and XML must escape or replace. */
static const char weird_name[] = "we\"ird\\na\nme\x01<&>\xff\xc3\xa9";

static struct dr_interval iv3[3] = {
	{ 1 * S, 2 * S, 2000, 2000, 2100, 150000 },
	{ 2 * S, 3 * S, 3000, 2999, 3050, 200000 },
	{ 3 * S, 3 * S + S / 2, 500, 500, 500, 100000 },
};
static struct dr_vma vmas12[12];
static struct dr_page pages7[] = {
	/* unsorted on purpose */
	{ 0x7f0000002000, 3, 1 * S, 3 * S },
	{ 0x555555559000, 1, 1 * S, 1 * S },
	{ 0x7f0000010000, 20, 1 * S + S / 10, 3 * S + S / 4 },
	{ 0x7f0000000000, 3, 1 * S, 3 * S },
	{ 0x55555555b000, 0, 2 * S, 2 * S }, /* breaks the run of 0x...9000 and 0x...c000 */
	{ 0x7f0000005000, 9, 2 * S, 3 * S },
	{ 0x55555555a000, 2, 1 * S, 2 * S },
	{ 0x7f0000001000, 3, 1 * S, 3 * S },
	{ 0x55555555c000, 4, 2 * S, 3 * S },
};

static void vma(struct dr_vma *v, uint64_t start, uint64_t end, const char *name, uint64_t scan,
		uint64_t wss)
{
	memset(v, 0, sizeof(*v));
	v->start = start;
	v->end = end;
	memcpy(v->name, name, strlen(name) < sizeof(v->name) ? strlen(name) : sizeof(v->name));
	v->scan_pages = scan;
	v->wss_pages = wss;
}

static void sample(struct dr_report *r)
{
	char lib[16];
	int i;

	memset(r, 0, sizeof(*r));
	r->pid = 4242;
	memcpy(r->comm, "dirtier", 8);
	r->interval_ms = 1000;
	r->page_size = 4096;
	r->iv = iv3;
	r->nr_iv = 3;
	vma(&vmas12[0], 0x555555559000, 0x55555557a000, "[heap]", 100, 30);
	vma(&vmas12[1], 0x7f0000000000, 0x7f0001000000, "[anon]", 5000, 4000);
	vma(&vmas12[2], 0x7ffffffde000, 0x7ffffffff000, "[stack]", 400, 2);
	vma(&vmas12[3], 0x7f1000000000, 0x7f1000001000, weird_name, 50, 1);
	for (i = 0; i < 8; i++) {
		snprintf(lib, sizeof(lib), "lib%d.so", i + 1);
		vma(&vmas12[4 + i], 0x7f2000000000 + (uint64_t)i * 0x10000,
		    0x7f2000000000 + (uint64_t)i * 0x10000 + 0x4000, lib, (uint64_t)i + 1, 1);
	}
	r->vmas = vmas12;
	r->nr_vmas = 12;
	r->pages = pages7;
	r->nr_pages = sizeof(pages7) / sizeof(pages7[0]);
	r->wss_pages = 4032;
	r->tracked_pages = 8192;
	r->bpf = 1;
	r->method = "uffd-wp+pagemap_scan";
}

static char *render_text(const struct dr_report *r)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	cr_assert_not_null(f);
	cr_assert_eq(dr_report_text(r, f), 0);
	cr_assert_eq(fclose(f), 0);
	return buf;
}

static int count(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle))) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

/* Run python3 @script on @arg; returns its exit status, output in *out. */
static int python(const char *dir, const char *script, const char *arg, char **out)
{
	char path[256];

	snprintf(path, sizeof(path), "%s/check.py", dir);
	cr_assert_eq(t_write_file(path, script, strlen(script)), 0);
	return t_run(out, NULL, "python3 %s %s 2>&1", path, arg);
}

static void need_python(void)
{
	if (t_run(NULL, NULL, "python3 -c 'import json, xml.dom.minidom'"))
		cr_skip_test("python3 with json and xml.dom.minidom is not installed");
}

TestSuite(dirtyrate_report, .timeout = 60);

/* ---- rate math ----------------------------------------------------------- */

Test(dirtyrate_report, rate_math)
{
	struct dr_interval iv[2] = {
		{ 10 * S, 10 * S + S / 4, 1000, 0, 0, 0 },
		{ 20 * S, 20 * S + S / 4, 3000, 0, 0, 0 },
	};
	struct dr_interval bad[1] = { { 5 * S, 4 * S, 700, 0, 0, 0 } };
	struct dr_report r;
	double pps, mibps;

	sample(&r);
	/* 5500 pages in 2.5 s */
	dr_report_rate(&r, &pps, &mibps);
	cr_assert_float_eq(pps, 2200.0, 1e-9);
	cr_assert_float_eq(mibps, 2200.0 * 4096 / 1048576, 1e-12);
	cr_assert_float_eq(mibps, 8.59375, 1e-12);

	/* Gaps between intervals do not count: 4000 pages in 0.5 s of intervals. */
	r.iv = iv;
	r.nr_iv = 2;
	dr_report_rate(&r, &pps, NULL);
	cr_assert_float_eq(pps, 8000.0, 1e-9);
	r.page_size = 0; /* read as 4096 */
	dr_report_rate(&r, NULL, &mibps);
	cr_assert_float_eq(mibps, 31.25, 1e-12);

	/* A backwards interval is zero-length: no time, rate 0, no division by 0. */
	r.iv = bad;
	r.nr_iv = 1;
	dr_report_rate(&r, &pps, &mibps);
	cr_assert_eq(pps, 0.0);
	cr_assert_eq(mibps, 0.0);
}

/* ---- hot ranges ---------------------------------------------------------- */

Test(dirtyrate_report, hot_ranges)
{
	struct dr_hot h[8];
	struct dr_report r;
	struct dr_page dup[] = {
		{ 0x1000, 2, 0, 0 },
		{ 0x2000, 1, 0, 0 },
		{ 0x1000, 5, 0, 0 },
	};
	size_t n;

	sample(&r);
	cr_assert_eq(dr_report_hot_ranges(&r, NULL, 0), 5, "runs: 3 pages, 1, 1, 2 (split), 1");
	n = dr_report_hot_ranges(&r, h, 8);
	cr_assert_eq(n, 5);
	/* 20 writes at 0x7f0000010000 */
	cr_assert_eq(h[0].start, 0x7f0000010000);
	cr_assert_eq(h[0].end, 0x7f0000011000);
	cr_assert_eq(h[0].writes, 20);
	cr_assert_eq(h[0].pages, 1);
	/* three contiguous pages of 3 writes, merged; ties (9) go to the lower start */
	cr_assert_eq(h[1].start, 0x7f0000000000);
	cr_assert_eq(h[1].end, 0x7f0000003000);
	cr_assert_eq(h[1].writes, 9);
	cr_assert_eq(h[1].pages, 3);
	cr_assert_eq(h[2].start, 0x7f0000005000);
	cr_assert_eq(h[2].writes, 9);
	/* the page with 0 writes splits 0x...9000-0x...b000 from 0x...c000 */
	cr_assert_eq(h[3].start, 0x55555555c000);
	cr_assert_eq(h[3].writes, 4);
	cr_assert_eq(h[4].start, 0x555555559000);
	cr_assert_eq(h[4].end, 0x55555555b000);
	cr_assert_eq(h[4].writes, 3);
	cr_assert_eq(h[4].pages, 2);

	/* keep n: the top 2 only */
	memset(h, 0, sizeof(h));
	cr_assert_eq(dr_report_hot_ranges(&r, h, 2), 2);
	cr_assert_eq(h[0].writes, 20);
	cr_assert_eq(h[1].start, 0x7f0000000000);
	cr_assert_eq(h[2].writes, 0, "nothing past n is written");

	/* the same page twice counts its writes once as a page */
	r.pages = dup;
	r.nr_pages = 3;
	cr_assert_eq(dr_report_hot_ranges(&r, h, 8), 1);
	cr_assert_eq(h[0].start, 0x1000);
	cr_assert_eq(h[0].end, 0x3000);
	cr_assert_eq(h[0].pages, 2);
	cr_assert_eq(h[0].writes, 8);

	/* no pages */
	r.nr_pages = 0;
	cr_assert_eq(dr_report_hot_ranges(&r, h, 8), 0);
	cr_assert_eq(dr_report_hot_ranges(&r, NULL, 0), 0);
}

/* ---- text ---------------------------------------------------------------- */

Test(dirtyrate_report, text)
{
	struct dr_report r;
	char *t;
	const char *anon, *stack, *heap;

	sample(&r);
	t = render_text(&r);
	cr_assert(strstr(t, "pid 4242 (dirtier)"), "%s", t);
	cr_assert_eq(count(t, " equal\n"), 2, "%s", t);
	cr_assert_eq(count(t, " differ\n"), 1, "%s", t);
	/* interval 1: 2000 pages in 1 s = 7.8125 MiB/s; starts at offset 0 */
	cr_assert(strstr(t, "     0.000       2000.0      7.812       2000.0       0.150  equal"),
		  "%s", t);
	cr_assert(strstr(t, "     2.000       1000.0      3.906       1000.0       0.100  equal"),
		  "%s", t);
	cr_assert(strstr(t, "mean dirty rate: 8.594 MiB/s, 2200.0 pages/s (5500 pages in 2.500 s"),
		  "%s", t);
	/* QEMU: floor(5500 * 4096 * 1000 / 2^20) = 21484, / 2500 ms = 8 (not 8.59 rounded) */
	cr_assert(strstr(t, "dirty-rate 8 MB/s, calc-time 3 s (2500 ms), sample-pages 0, mode "
			    "uffd-wp"),
		  "%s", t);
	cr_assert(strstr(t, "working set: 4032 pages (15.750 MiB) of 8192 tracked pages (49.2%)"),
		  "%s", t);
	cr_assert(strstr(t, "BPF: 2 of 3 intervals equal to PAGEMAP_SCAN; 5499 pages, 5650 write "
			    "faults"),
		  "%s", t);
	cr_assert(strstr(t, "frozen: 0.450 ms in all, at most 0.200 ms"), "%s", t);
	/* VMAs: top 10 of 12 by scan_pages */
	cr_assert(strstr(t, "(top 10 of 12)"), "%s", t);
	anon = strstr(t, "[anon]");
	stack = strstr(t, "[stack]");
	heap = strstr(t, "[heap]");
	cr_assert(anon && stack && heap && anon < stack && stack < heap, "%s", t);
	cr_assert(strstr(t, "lib3.so") && !strstr(t, "lib2.so") && !strstr(t, "lib1.so"), "%s", t);
	cr_assert(
		strstr(t, "00007f0000000000-00007f0001000000         5000         4000      16384"),
		"%s", t);
	/* control bytes of names never reach the terminal */
	cr_assert(strstr(t, "we\"ird\\na?me?<&>"), "%s", t);
	/* hottest ranges: top 5 of 5, hottest first */
	cr_assert(strstr(t, "hottest ranges (top 5 of 5)"), "%s", t);
	cr_assert(strstr(t, "00007f0000010000-00007f0000011000          1           20"), "%s", t);
	cr_assert(strstr(t, "00007f0000010000") < strstr(t, "00007f0000000000-00007f0000003000"));
	free(t);

	/* Without BPF: no BPF numbers and no comparison. */
	r.bpf = 0;
	r.nr_pages = 0;
	t = render_text(&r);
	cr_assert(strstr(t, "     0.000       2000.0      7.812            -       0.150  -\n"),
		  "%s", t);
	cr_assert(!strstr(t, "equal\n") && !strstr(t, "differ"), "%s", t);
	cr_assert(strstr(t, "BPF: not available"), "%s", t);
	cr_assert(strstr(t, "hottest ranges: no per-page data (no BPF)"), "%s", t);
	free(t);
}

Test(dirtyrate_report, text_write_error)
{
	struct dr_report r;
	FILE *f = fopen("/dev/full", "w");

	if (!f)
		cr_skip_test("no /dev/full");
	sample(&r);
	cr_assert_eq(dr_report_text(&r, f), -ENOSPC);
	fclose(f);
}

/* ---- JSON ---------------------------------------------------------------- */

static const char json_check[] =
	"import json, sys\n"
	"d = json.load(open(sys.argv[1], encoding='utf-8'))\n"
	"def want(cond, what):\n"
	"    if not cond:\n"
	"        print('FAIL', what); sys.exit(1)\n"
	"want(d['pid'] == 4242 and d['comm'] == 'dirtier', 'pid/comm')\n"
	"want(d['interval_ms'] == 1000 and d['page_size'] == 4096, 'interval/page size')\n"
	"want(d['method'] == 'uffd-wp+pagemap_scan' and d['bpf'] is True, 'method/bpf')\n"
	"iv = d['intervals']\n"
	"want(len(iv) == 3, 'three intervals')\n"
	"want(iv[0]['t_s'] == 0 and iv[1]['t_s'] == 1 and iv[2]['t_s'] == 2, 't_s')\n"
	"want(iv[2]['duration_s'] == 0.5, 'duration_s')\n"
	"want([i['scan_pages'] for i in iv] == [2000, 3000, 500], 'scan_pages')\n"
	"want([i['bpf_pages'] for i in iv] == [2000, 2999, 500], 'bpf_pages')\n"
	"want([i['bpf_faults'] for i in iv] == [2100, 3050, 500], 'bpf_faults')\n"
	"want([i['equal'] for i in iv] == [True, False, True], 'equal')\n"
	"want(iv[2]['pages_per_s'] == 1000 and abs(iv[0]['mib_per_s'] - 7.8125) < 1e-6, 'rates')\n"
	"want(iv[0]['frozen_us'] == 150, 'frozen_us')\n"
	"s = d['summary']\n"
	"want(s['pages_per_s'] == 2200 and abs(s['mib_per_s'] - 8.59375) < 1e-6, 'mean')\n"
	"want(s['dirty_rate'] == 8 and isinstance(s['dirty_rate'], int), 'QEMU dirty_rate')\n"
	"want(s['calc_time'] == 3 and s['calc_time_ms'] == 2500, 'calc_time')\n"
	"want(s['mode'] == 'uffd-wp' and s['sample_pages'] == 0, 'mode')\n"
	"want(s['wss_pages'] == 4032 and abs(s['wss_mib'] - 15.75) < 1e-6, 'wss')\n"
	"want(s['tracked_pages'] == 8192 and s['intervals_equal'] == 2, 'tracked/equal')\n"
	"want(s['frozen_us_total'] == 450 and s['frozen_us_max'] == 200, 'frozen')\n"
	"v = d['vmas']\n"
	"want(len(v) == 12 and v[0]['name'] == '[heap]', 'vmas')\n"
	"want(v[1]['start'] == 0x7f0000000000 and v[1]['end'] == 0x7f0001000000, 'vma range')\n"
	"want(v[1]['scan_pages'] == 5000 and v[1]['wss_pages'] == 4000, 'vma counts')\n"
	"want(v[3]['name'] == 'we\"ird\\\\na\\nme\\x01<&>\\ufffd\\u00e9', 'escaped name: %r' % "
	"v[3]['name'])\n"
	"h = d['hot_ranges']\n"
	"want([x['writes'] for x in h] == [20, 9, 9, 4, 3], 'hot writes')\n"
	"want(h[1]['start'] == 0x7f0000000000 and h[1]['end'] == 0x7f0000003000, 'hot range')\n"
	"want(h[1]['pages'] == 3, 'hot pages')\n"
	"print('ok')\n";

static char *write_json(const char *dir, const struct dr_report *r)
{
	char *path;
	FILE *f;

	cr_assert_geq(asprintf(&path, "%s/report.json", dir), 0);
	f = fopen(path, "w");
	cr_assert_not_null(f);
	cr_assert_eq(dr_report_json(r, f), 0);
	cr_assert_eq(fclose(f), 0);
	return path;
}

Test(dirtyrate_report, json)
{
	struct dr_report r;
	char *dir = t_tmpdir(), *path, *out = NULL;

	need_python();
	cr_assert_not_null(dir);
	sample(&r);
	path = write_json(dir, &r);
	cr_assert_eq(t_run(&out, NULL, "python3 -m json.tool %s", path), 0, "not JSON: %s", out);
	free(out);
	cr_assert_eq(python(dir, json_check, path, &out), 0, "%s", out);
	cr_assert_str_eq(out, "ok\n");
	free(out);
	free(path);

	/* Without BPF, the BPF fields are null, not zeros that look measured. */
	r.bpf = 0;
	r.nr_pages = 0;
	path = write_json(dir, &r);
	cr_assert_eq(
		python(dir,
		       "import json, sys\n"
		       "d = json.load(open(sys.argv[1]))\n"
		       "i = d['intervals'][0]\n"
		       "ok = d['bpf'] is False and i['bpf_pages'] is None and i['equal'] is None\n"
		       "ok = ok and d['summary']['intervals_equal'] is None\n"
		       "ok = ok and d['hot_ranges'] == []\n"
		       "print('ok' if ok else d)\n",
		       path, &out),
		0, "%s", out);
	cr_assert_str_eq(out, "ok\n");
	free(out);
	free(path);
	t_rmrf(dir);
	free(dir);
}

/* ---- SVG ----------------------------------------------------------------- */

static const char svg_check[] =
	"import sys, xml.dom.minidom\n"
	"d = xml.dom.minidom.parse(sys.argv[1])\n"
	"root = d.documentElement\n"
	"ok = root.tagName == 'svg' and not d.getElementsByTagName('script')\n"
	"print('ok' if ok else 'bad root')\n";

/* Render @r to DIR/NAME.svg, check it parses as XML; returns its text. */
static char *svg_ok(const char *dir, const char *name, const struct dr_report *r)
{
	char path[256], tmp[300], *out = NULL, *text;
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s.svg", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	cr_assert_eq(dr_report_svg(r, path), 0, "%s", name);
	cr_assert_eq(stat(tmp, &st), -1, "%s: temporary file left", name);
	cr_assert_eq(python(dir, svg_check, path, &out), 0, "%s: %s", name, out);
	cr_assert_str_eq(out, "ok\n", "%s", name);
	free(out);
	text = t_read_file(path, NULL);
	cr_assert_not_null(text);
	cr_assert(!strstr(text, "<script") && !strstr(text, "href"), "%s: not self-contained",
		  name);
	return text;
}

Test(dirtyrate_report, svg)
{
	struct dr_report r;
	char *dir = t_tmpdir(), *t;

	need_python();
	cr_assert_not_null(dir);
	sample(&r);
	t = svg_ok(dir, "full", &r);
	cr_assert(strstr(t, "<title>ferry dirtyrate: pid 4242 (dirtier)</title>"));
	/* both series, one marker per interval each */
	cr_assert_eq(count(t, "<polyline"), 2);
	cr_assert_eq(count(t, "<circle"), 6);
	cr_assert(strstr(t, "PAGEMAP_SCAN (mean 2200.0 pages/s, 8.594 MiB/s)"));
	cr_assert(strstr(t, "BPF write faults (2 of 3 intervals equal)"));
	cr_assert(strstr(t, "time since the first interval started (s)"));
	cr_assert(strstr(t, "dirtied 4096-byte pages/s"));
	/* the write map: 8 written pages (one has 0 writes), one row each */
	cr_assert(strstr(t, "rows: the 8 written pages in address order, 1 per row"), "%s", t);
	cr_assert(strstr(t, "<title>0x7f0000010000-0x7f0000011000: 1 pages, 20.00 intervals"));
	free(t);

	/* A comm that needs escaping. */
	memcpy(r.comm, "a<b&c\"\xff", 8);
	t = svg_ok(dir, "escaped", &r);
	cr_assert(strstr(t, "pid 4242 (a&lt;b&amp;c&quot;?)"), "%s", t);
	free(t);
	memcpy(r.comm, "dirtier", 8);

	/* One interval: a single point is still drawn. */
	r.nr_iv = 1;
	t = svg_ok(dir, "one", &r);
	cr_assert_eq(count(t, "<circle"), 2);
	free(t);

	/* No interval but pages: the map keeps the pages' own times. */
	r.nr_iv = 0;
	t = svg_ok(dir, "noiv", &r);
	cr_assert(strstr(t, "no intervals measured"));
	cr_assert_eq(count(t, "<circle"), 0);
	cr_assert(strstr(t, "rows: the 8 written pages"));
	free(t);

	/* Intervals, no BPF, no pages. */
	r.nr_iv = 3;
	r.bpf = 0;
	r.nr_pages = 0;
	t = svg_ok(dir, "nobpf", &r);
	cr_assert_eq(count(t, "<polyline"), 1);
	cr_assert(strstr(t, "no per-page data: BPF was off"));
	free(t);

	/* Many pages: rows are buckets, at most 48 of them. */
	{
		static struct dr_page many[1000];
		size_t i;

		for (i = 0; i < 1000; i++)
			many[i] = (struct dr_page){ 0x10000000 + i * 4096, (uint32_t)(i % 3 + 1),
						    1 * S + i * 1000000, 2 * S + i * 1000000 };
		r.bpf = 1;
		r.pages = many;
		r.nr_pages = 1000;
		t = svg_ok(dir, "many", &r);
		cr_assert(strstr(t, "rows: the 1000 written pages in address order, 21 per row"),
			  "%s", t);
		cr_assert_leq(count(t, "intervals written per page</title></rect>"), 48);
		free(t);
	}
	t_rmrf(dir);
	free(dir);
}

Test(dirtyrate_report, svg_errors_name_path)
{
	struct dr_report r;
	char *dir = t_tmpdir(), path[256], logp[256], tmp[300], *log;
	struct stat st;

	cr_assert_not_null(dir);
	sample(&r);
	snprintf(logp, sizeof(logp), "%s/log", dir);
	cr_assert_eq(log_init(logp, LOG_ERROR, 0), 0);

	/* No such directory: fails at the temporary file, named in the log. */
	snprintf(path, sizeof(path), "%s/nodir/plot.svg", dir);
	cr_assert_eq(dr_report_svg(&r, path), -ENOENT);

	/* The final name is a directory: the rename fails, no temporary file stays. */
	snprintf(path, sizeof(path), "%s/isdir.svg", dir);
	cr_assert_eq(mkdir(path, 0755), 0);
	cr_assert_eq(dr_report_svg(&r, path), -EISDIR);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	cr_assert_eq(stat(tmp, &st), -1);
	log_fini();

	log = t_read_file(logp, NULL);
	cr_assert_not_null(log);
	cr_assert(strstr(log, "nodir/plot.svg.tmp"), "%s", log);
	cr_assert(strstr(log, "isdir.svg"), "%s", log);
	cr_assert(strstr(log, "pid 4242"), "%s", log);
	free(log);
	t_rmrf(dir);
	free(dir);
}

/* ---- empty report -------------------------------------------------------- */

Test(dirtyrate_report, empty)
{
	struct dr_report r;
	char *dir = t_tmpdir(), *t, *path, *out = NULL;
	double pps = -1, mibps = -1;

	need_python();
	cr_assert_not_null(dir);
	memset(&r, 0, sizeof(r));
	dr_report_rate(&r, &pps, &mibps);
	cr_assert_eq(pps, 0.0);
	cr_assert_eq(mibps, 0.0);
	cr_assert_eq(dr_report_hot_ranges(&r, NULL, 0), 0);

	t = render_text(&r);
	cr_assert(strstr(t, "pid 0 ()"), "%s", t);
	cr_assert(strstr(t, "dirty-rate 0 MB/s, calc-time 0 s"), "%s", t);
	cr_assert(strstr(t, "(top 0 of 0)"), "%s", t);
	free(t);

	path = write_json(dir, &r);
	cr_assert_eq(
		python(dir,
		       "import json, sys\n"
		       "d = json.load(open(sys.argv[1]))\n"
		       "s = d['summary']\n"
		       "ok = d['intervals'] == [] and d['vmas'] == [] and d['hot_ranges'] == []\n"
		       "ok = ok and s['dirty_rate'] == 0 and s['pages_per_s'] == 0\n"
		       "ok = ok and d['method'] == 'uffd-wp+pagemap_scan' and d['comm'] == ''\n"
		       "print('ok' if ok else d)\n",
		       path, &out),
		0, "%s", out);
	cr_assert_str_eq(out, "ok\n");
	free(out);
	free(path);

	t = svg_ok(dir, "empty", &r);
	cr_assert(strstr(t, "no intervals measured"));
	cr_assert(strstr(t, "no per-page data"));
	free(t);
	t_rmrf(dir);
	free(dir);
}
