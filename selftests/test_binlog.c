// SPDX-License-Identifier: MIT
/*
 * Binary log: a golden file built byte by byte from docs/binlog.md, the
 * writer checked against the text log, and every kind of malformed record.
 */
#include <criterion/criterion.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "binlog.h"
#include "helpers.h"
#include "log.h"

/* Builds records the way the documentation describes them, not via log.c. */
struct rec {
	uint8_t b[512];
	size_t len;
};

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = v & 0xff;
	p[1] = (v >> 8) & 0xff;
	p[2] = (v >> 16) & 0xff;
	p[3] = (v >> 24) & 0xff;
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

/* kinds: 'n' number (val), 's' string (str) */
static void build(struct rec *r, const char *fmt, const char *kinds, const uint64_t *vals,
		  const char *const *strs)
{
	uint32_t nargs = (uint32_t)strlen(kinds), mask = 0, i;
	size_t pos = 24 + nargs * 8;

	memset(r, 0, sizeof(*r));
	put32(r->b + 20, (uint32_t)pos);
	memcpy(r->b + pos, fmt, strlen(fmt) + 1);
	pos += strlen(fmt) + 1;
	for (i = 0; i < nargs; i++) {
		if (kinds[i] == 's') {
			mask |= 1u << i;
			put64(r->b + 24 + i * 8, pos);
			memcpy(r->b + pos, strs[i], strlen(strs[i]) + 1);
			pos += strlen(strs[i]) + 1;
		} else {
			put64(r->b + 24 + i * 8, vals[i]);
		}
	}
	pos = (pos + 7) & ~(size_t)7;
	put32(r->b + 0, 0x676f6c66);
	put32(r->b + 4, 1);
	put32(r->b + 8, (uint32_t)pos);
	put32(r->b + 12, nargs);
	put32(r->b + 16, mask);
	r->len = pos;
}

static char *print_buf(const void *buf, size_t len, int *ret)
{
	char *out = NULL;
	size_t olen = 0;
	FILE *f = open_memstream(&out, &olen);

	*ret = binlog_print("golden.bin", buf, len, f);
	fclose(f);
	return out;
}

Test(binlog, golden_records, .timeout = 10)
{
	struct rec r1, r2, r3;
	uint64_t v1[] = { (uint64_t)-7, 3, 0, 0x7f00, 0 };
	const char *s1[] = { NULL, NULL, "pipe:[123]", NULL, "ok" };
	double d = 2.5;
	uint64_t v2[2] = { 0, 42 };
	uint8_t file[2048];
	size_t n = 0;
	char *out;
	int ret;

	build(&r1, "pid %d fd %u name %s at 0x%lx: %s", "nnsns", v1, s1);
	memcpy(&v2[0], &d, 8);
	build(&r2, "rate %.2f MiB/s, %5zu%%", "nn", v2, NULL);
	build(&r3, "no arguments at all", "", NULL, NULL);
	memcpy(file + n, r1.b, r1.len), n += r1.len;
	memcpy(file + n, r2.b, r2.len), n += r2.len;
	memcpy(file + n, r3.b, r3.len), n += r3.len;

	out = print_buf(file, n, &ret);
	cr_assert_eq(ret, 0);
	cr_assert_str_eq(out, "pid -7 fd 3 name pipe:[123] at 0x7f00: ok\n"
			      "rate 2.50 MiB/s,    42%\n"
			      "no arguments at all\n");
	free(out);
}

/* The writer's records print exactly what the text log writes. */
Test(binlog, matches_text_log, .timeout = 10)
{
	char *dir = t_tmpdir(), text[256], bin[256], *want, *got = NULL;
	size_t glen = 0;
	FILE *f;
	int pass;

	cr_assert(dir);
	snprintf(text, sizeof(text), "%s/text.log", dir);
	snprintf(bin, sizeof(bin), "%s/bin.log", dir);
	for (pass = 0; pass < 2; pass++) {
		const char *s = "a string";
		char arr[] = "an array";
		long neg = -123456789012L;
		unsigned char uc = 200;
		size_t sz = 4096;
		void *p = (void *)0x1000;

		cr_assert_eq(log_init(pass ? bin : text, LOG_DEBUG, pass), 0);
		pr_msg("plain message");
		pr_info("int %d unsigned %u long %ld size %zu hex %#lx", -1, 7u, neg, sz, 0xdeadUL);
		pr_debug("str '%s' arr '%s' char %c uchar %hhu dbl %g ptr %p", s, arr, 'x', uc,
			 0.125, p);
		pr_warn("width [%8s] [%-6d] [%08.3f] %%", "r", 42, 3.14159);
		pr_err("errno text: %s", strerror(2));
		errno = 13;
		pr_perror("cannot open %s", "/nonexistent");
		cr_assert_eq(errno, 13, "pr_perror keeps errno");
		log_fini();
	}
	want = t_read_file(text, NULL);
	cr_assert(want);
	f = open_memstream(&got, &glen);
	cr_assert_eq(binlog_print_file(bin, f), 0);
	fclose(f);
	cr_assert_str_eq(got, want);
	cr_assert(strstr(want, "int -1 unsigned 7 long -123456789012 size 4096 hex 0xdead\n"));
	cr_assert(strstr(want, "Permission denied"));
	free(got);
	free(want);
	t_rmrf(dir);
	free(dir);
}

/* Below the level, nothing is written at all. */
Test(binlog, level_filters, .timeout = 10)
{
	char *dir = t_tmpdir(), path[256];
	size_t len = 1;

	snprintf(path, sizeof(path), "%s/l.bin", dir);
	cr_assert_eq(log_init(path, LOG_WARN, 1), 0);
	pr_info("not written %d", 1);
	pr_debug("not written either");
	log_fini();
	free(t_read_file(path, &len));
	cr_assert_eq(len, 0);
	t_rmrf(dir);
	free(dir);
}

struct bad_case {
	const char *name;
	size_t at;  /* byte to patch in the second record */
	uint32_t v; /* value (u32) */
	size_t cut; /* if non-zero, truncate the file to this many bytes */
	const char *want;
};

Test(binlog, malformed_records, .timeout = 10)
{
	static const struct bad_case cases[] = {
		{ "bad magic", 0, 0x12345678, 0, "bad magic" },
		{ "bad version", 4, 2, 0, "unsupported version" },
		{ "size below header", 8, 12, 0, "bad record size" },
		{ "size not 8-aligned", 8, 60, 0, "bad record size" },
		{ "size past end", 8, 4096, 0, "past end of file" },
		{ "huge size", 8, 0xfffffff8, 0, "bad record size" },
		{ "too many args", 12, 40, 0, "too many arguments" },
		{ "args past record", 12, 30, 0, "past end of record" },
		{ "mask beyond nargs", 16, 0x10, 0, "string mask" },
		{ "fmt offset outside", 20, 4000, 0, "format string offset" },
		{ "fmt offset in args", 20, 24, 0, "format string offset" },
		{ "string offset bad", 24 + 8, 9999, 0, "string argument offset" },
		{ "truncated header", 0, 0, 0, "truncated record header" },
	};
	uint64_t vals[] = { 5, 0 };
	const char *strs[] = { NULL, "xyz" };
	struct rec good, bad;
	char *dir = t_tmpdir(), logp[256];
	size_t i;

	snprintf(logp, sizeof(logp), "%s/err.log", dir);
	build(&good, "first %d", "n", vals, NULL);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad_case *c = &cases[i];
		uint8_t file[1024];
		size_t n = 0;
		char *out, *log, want_off[32];
		int ret;

		build(&bad, "second %d %s", "ns", vals, strs);
		memcpy(file, good.b, good.len), n = good.len;
		if (!strcmp(c->name, "truncated header")) {
			memcpy(file + n, bad.b, 10);
			n += 10;
		} else {
			put32(bad.b + c->at, c->v);
			memcpy(file + n, bad.b, bad.len);
			n += bad.len;
		}
		cr_assert_eq(log_init(logp, LOG_ERROR, 0), 0);
		out = print_buf(file, c->cut ? c->cut : n, &ret);
		log_fini();
		log = t_read_file(logp, NULL);
		cr_assert_eq(ret, -EINVAL, "%s: returned %d", c->name, ret);
		cr_assert_str_eq(out, "first 5\n", "%s: the good record before must print",
				 c->name);
		snprintf(want_off, sizeof(want_off), "offset %zu", good.len);
		cr_assert(strstr(log, "golden.bin") && strstr(log, want_off), "%s: log '%s'",
			  c->name, log);
		cr_assert(strstr(log, c->want), "%s: log '%s' lacks '%s'", c->name, log, c->want);
		free(out);
		free(log);
	}
	t_rmrf(dir);
	free(dir);
}

/* The command line: show-log and --print-log, good and bad files. */
Test(binlog, cli_show_log, .timeout = 30)
{
	char *dir = t_tmpdir(), path[256], *out = NULL, *err = NULL;
	uint8_t junk[40] = { 0x66, 0x6c, 0x6f, 0x67, 1, 0, 0, 0, 0x10, 0 };
	struct rec r;
	uint64_t v[] = { 99 };
	int st;

	snprintf(path, sizeof(path), "%s/good.bin", dir);
	build(&r, "value %d", "n", v, NULL);
	cr_assert_eq(t_write_file(path, r.b, r.len), 0);
	st = t_run(&out, &err, "%s show-log %s", t_ferry_bin(), path);
	cr_assert_eq(st, 0, "stderr: %s", err);
	cr_assert_str_eq(out, "value 99\n");
	free(out);
	free(err);
	st = t_run(&out, &err, "%s --log-file %s --binlog --print-log", t_ferry_bin(), path);
	cr_assert_eq(st, 0, "stderr: %s", err);
	cr_assert_str_eq(out, "value 99\n");
	free(out);
	free(err);

	snprintf(path, sizeof(path), "%s/bad.bin", dir);
	cr_assert_eq(t_write_file(path, junk, sizeof(junk)), 0);
	st = t_run(&out, &err, "%s show-log %s", t_ferry_bin(), path);
	cr_assert_neq(st, 0);
	cr_assert(strstr(err, "bad.bin") && strstr(err, "offset 0") &&
			  strstr(err, "bad record size"),
		  "stderr: %s", err);
	free(out);
	free(err);

	/* Not files: a FIFO is refused at once (no wait for a writer), so is /dev/zero. */
	snprintf(path, sizeof(path), "%s/fifo", dir);
	cr_assert_eq(mkfifo(path, 0600), 0);
	st = t_run(&out, &err, "timeout 10 %s show-log %s", t_ferry_bin(), path);
	cr_assert_eq(st, 1, "show-log of a FIFO: exit %d, stderr: %s", st, err);
	cr_assert(strstr(err, "fifo: not a regular file"), "stderr: %s", err);
	free(out);
	free(err);
	st = t_run(&out, &err, "timeout 10 %s decode -i %s", t_ferry_bin(), path);
	cr_assert_eq(st, 1, "decode of a FIFO: exit %d, stderr: %s", st, err);
	cr_assert(strstr(err, "fifo: not a regular file"), "stderr: %s", err);
	free(out);
	free(err);
	st = t_run(&out, &err, "timeout 10 %s show-log /dev/zero", t_ferry_bin());
	cr_assert_eq(st, 1, "show-log /dev/zero: exit %d", st);
	cr_assert(strstr(err, "/dev/zero: not a regular file"), "stderr: %s", err);
	free(out);
	free(err);
	t_rmrf(dir);
	free(dir);
}
