// SPDX-License-Identifier: MIT
/*
 * The /proc parsers on text that /proc does not write: errors name the file and
 * line; the corners of the maps line.
 * (Suite proc: its TestSuite is in test_proc_parse.c; helpers in proc_test_helpers.c.)
 */
#include <criterion/criterion.h>
#include <limits.h>
#include <linux/capability.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>

#include "helpers.h"
#include "log.h"
#include "proc_parse.h"

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

#define PG 4096UL

/* ---- the parsers on text that /proc does not write: errors name the file and line ------------ */

/* Start a fresh error log in @dir; returns its path. */
static char *log_path(const char *dir)
{
	static char p[PATH_MAX];
	static int seq;

	snprintf(p, sizeof(p), "%s/log%d", dir, seq++);
	cr_assert_eq(log_init(p, LOG_ERROR, 0), 0);
	return p;
}

static void log_has(const char *path, const char *needle)
{
	char *log;

	log_fini();
	log = t_read_file(path, NULL);
	cr_assert(log && strstr(log, needle), "log lacks '%s': %s", needle, log ? log : "(none)");
	free(log);
}

Test(proc, malformed_text_is_einval_with_file_and_line)
{
	static const char stat_ok[] =
		"77 (x) y) z) S 1 77 77 0 -1 4194560 1 0 0 0 0 0 0 0 20 -5 1 0 12345 1000 10 "
		"18446744073709551615 100 200 300 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 400 500 600 700 "
		"800 900 1000 0\n";
	static const char stat_short[] = "77 (x) S 1 77 77 0\n";
	static const char stat_bad[] =
		"77 (x) S 1 77 77 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 12345 1000 10 "
		"18446744073709551615 100 200 300 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0 400 500 60x0 700 "
		"800 900 1000 0\n";
	static const char status_no_uid[] = "Name:\tx\nTgid:\t1\nPPid:\t0\nTracerPid:\t0\n";
	static const char status_bad_hex[] =
		"Tgid:\t1\nPPid:\t0\nTracerPid:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n"
		"Groups:\t \nSigPnd:\t00000000zz000000\n";
	static const char smaps_bad[] = "00400000-00401000 r-xp 00000000 08:01 12 /bin/x\n"
					"Size:                  4 kB\n"
					"this is not smaps\n";
	struct proc_status ps;
	struct proc_stat st;
	struct vma_rec *v;
	char *dir, *lp;
	size_t n;
	FILE *f;

	cr_assert_eq(proc_parse_stat_buf(stat_ok, strlen(stat_ok), "ok", &st), 0);
	cr_assert_str_eq(st.comm, "x) y) z");
	cr_assert_eq(st.nice, -5);
	cr_assert_eq(st.vsize, 1000);
	cr_assert_eq(st.start_code, 100);
	cr_assert_eq(st.start_data, 400);
	cr_assert_eq(st.env_end, 1000);
	cr_assert_eq(st.flags, 4194560);
	cr_assert_eq(st.starttime, 12345);

	dir = t_tmpdir();
	cr_assert(dir);
	lp = log_path(dir);
	cr_assert_eq(proc_parse_stat_buf(stat_short, strlen(stat_short), "/proc/77/stat", &st),
		     -EINVAL);
	log_has(lp, "/proc/77/stat: only 7 fields");

	lp = log_path(dir);
	cr_assert_eq(proc_parse_stat_buf(stat_bad, strlen(stat_bad), "/proc/78/stat", &st),
		     -EINVAL);
	log_has(lp, "/proc/78/stat: field 47 is not a number: '60x0'");

	lp = log_path(dir);
	cr_assert_eq(
		proc_parse_status_buf(status_no_uid, strlen(status_no_uid), "/proc/79/status", &ps),
		-EINVAL);
	log_has(lp, "/proc/79/status: no 'Uid:' line");
	cr_assert_null(ps.groups);

	lp = log_path(dir);
	cr_assert_eq(proc_parse_status_buf(status_bad_hex, strlen(status_bad_hex),
					   "/proc/80/status", &ps),
		     -EINVAL);
	log_has(lp, "/proc/80/status line 7: cannot parse 'SigPnd:");

	lp = log_path(dir);
	f = fmemopen((void *)smaps_bad, strlen(smaps_bad), "r");
	cr_assert(f);
	cr_assert_eq(proc_parse_smaps_stream(f, "/proc/81/smaps", 81, 81, &v, &n), -EINVAL);
	fclose(f);
	log_has(lp, "/proc/81/smaps line 3: unexpected 'this is not smaps'");
	t_rmrf(dir);
	free(dir);
}

/* One maps header line laid out as the kernel does: prefix, blank, pad to column 72, blank, name.
 */
static size_t maps_line(char *out, size_t size, const char *prefix, const char *name)
{
	int len = snprintf(out, size, "%s ", prefix);

	while (len < 72)
		out[len++] = ' ';
	return (size_t)(len + snprintf(out + len, size - (size_t)len, " %s\n", name));
}

/* The corners of the maps line: name column, escapes, long paths, [vsyscall], plain maps. */
Test(proc, smaps_text_corners)
{
	char longname[400], text[8192];
	struct vma_rec *v;
	size_t n, len = 0;
	FILE *f;

	memset(longname, 'L', sizeof(longname) - 1);
	longname[0] = '/';
	longname[sizeof(longname) - 1] = '\0';
	len += maps_line(text + len, sizeof(text) - len,
			 "7f0000000000-7f0000002000 rw-s 00003000 00:1a5 99",
			 "   leading spaces (deleted)");
	len += (size_t)snprintf(text + len, sizeof(text) - len,
				"Size:                  8 kB\n"
				"THPeligible:           0\n"
				"VmFlags: rd wr sh mr mw me ms dc sl xx \n");
	len += maps_line(text + len, sizeof(text) - len,
			 "7f0000002000-7f0000003000 r--p 00000000 fe:00 12", "/a\\012b");
	len += maps_line(text + len, sizeof(text) - len,
			 "7f0000004000-7f0000005000 r--p 00000000 fe:00 13", longname);
	len += maps_line(text + len, sizeof(text) - len,
			 "7ffc00000000-7ffc00021000 rw-p 00000000 00:00 0", "[stack]");
	len += maps_line(text + len, sizeof(text) - len,
			 "ffffffffff600000-ffffffffff601000 --xp 00000000 00:00 0", "[vsyscall]");
	len += (size_t)snprintf(text + len, sizeof(text) - len,
				"VmFlags: ex \n"
				"7ffc00100000-7ffc00101000 rw-p 00000000 00:00 0 \n");
	f = fmemopen(text, len, "r");
	cr_assert(f);
	cr_assert_eq(proc_parse_smaps_stream(f, "text", 5, 6, &v, &n), 0);
	fclose(f);
	cr_assert_eq(n, 5, "[vsyscall] is skipped");

	cr_assert_eq(v[0].start, 0x7f0000000000);
	cr_assert_eq(v[0].end, 0x7f0000002000);
	cr_assert_eq(v[0].offset, 0x3000);
	cr_assert_eq(v[0].pgoff, 3);
	cr_assert_eq(v[0].dev_major, 0);
	cr_assert_eq(v[0].dev_minor, 0x1a5);
	cr_assert_eq(v[0].ino, 99);
	cr_assert_eq(v[0].kind, VMA_KIND_FILE);
	cr_assert_str_eq(v[0].path, "   leading spaces (deleted)");
	cr_assert_eq(v[0].vm_flags,
		     VMA_VM_READ | VMA_VM_WRITE | VMA_VM_SHARED | PROC_VM_MAYREAD |
			     PROC_VM_MAYWRITE | PROC_VM_MAYEXEC | VMA_VM_MAYSHARE | VMA_VM_DONTCOPY,
		     "sl (a high bit) and unknown xx are left out");
	cr_assert_eq(v[0].tgid, 5);
	cr_assert_eq(v[0].tid, 6);

	cr_assert_str_eq(v[1].path, "/a\nb");
	cr_assert_eq(v[1].vm_flags, VMA_VM_READ, "no VmFlags line: from the permissions");

	cr_assert_eq(v[2].kind, VMA_KIND_FILE | VMA_KIND_PATH_ERR, "path too long for vma_rec");
	cr_assert_str_eq(v[2].path, "");

	cr_assert_eq(v[3].kind, VMA_KIND_ANON | VMA_KIND_STACK);
	cr_assert_eq(v[3].pgoff, 0x7ffc00000000 >> 12);
	cr_assert_eq(v[3].offset, 0);

	cr_assert_eq(v[4].kind, VMA_KIND_ANON, "a line with no name");
	cr_assert_str_eq(v[4].path, "");
	cr_assert_eq(v[4].vm_flags, VMA_VM_READ | VMA_VM_WRITE);
	free(v);
}
