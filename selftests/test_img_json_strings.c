// SPDX-License-Identifier: MIT
/*
 * Strings in `ferry decode` output are escaped the way crit prints them
 * (Python's json.dumps with ensure_ascii): one \uXXXX per code point, a
 * surrogate pair above U+FFFF, DEL and control characters escaped, printable
 * ASCII as is. Checked against the expected text, and against Debian's crit
 * when it is installed.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "img.h"
#include "img_json.h"

#include "pstree.pb-c.h"
#include "regfile.pb-c.h"

/* A name with 2-, 3- and 4-byte UTF-8, DEL, a control character and a quote. */
static const char name[] = "caf\xc3\xa9 \xe2\x82\xac\x7f\x01\"\\ \xf0\x9f\x98\x80/x";
static const char want[] = "\"caf\\u00e9 \\u20ac\\u007f\\u0001\\\"\\\\ \\ud83d\\ude00/x\"";

/* Writes a REG_FILES image of one entry named @n into @dir; returns its path. */
static char *write_regfile(const char *dir, const char *n)
{
	RegFileEntry e = REG_FILE_ENTRY__INIT;
	FownEntry fown = FOWN_ENTRY__INIT;
	const struct img_type *t = img_type_by_name("REG_FILES");
	char *path = NULL;
	int dfd;

	cr_assert_not_null(t, "REG_FILES is not in the image table");
	e.id = 1;
	e.flags = 2;
	e.pos = 0;
	e.fown = &fown;
	e.name = (char *)n;
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(dfd, 0, "%s", dir);
	cr_assert_eq(img_write_one(dfd, "reg-files.img", t, &e.base), 0);
	close(dfd);
	cr_assert_gt(asprintf(&path, "%s/reg-files.img", dir), 0);
	return path;
}

static char *decode_to_string(const char *dir)
{
	struct img *img;
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);

	cr_assert_not_null(f);
	cr_assert_geq(dfd, 0);
	cr_assert_eq(img_open(&img, dfd, "reg-files.img", NULL), 0);
	cr_assert_eq(img_to_json(img, f, 0), 0);
	img_close(img);
	close(dfd);
	fclose(f);
	return buf;
}

Test(img_json, strings_escaped_as_crit_does)
{
	char *dir = t_tmpdir(), *path = write_regfile(dir, name), *json = decode_to_string(dir);
	char *crit = NULL, *err = NULL;

	cr_assert(strstr(json, want), "ferry decode wrote %s, which lacks the name %s", json, want);
	if (t_run(NULL, NULL, "command -v crit >/dev/null")) {
		cr_log_info("crit is not installed: compared with the expected text only");
	} else {
		cr_assert_eq(t_run(&crit, &err, "crit decode -i '%s'", path), 0, "crit: %s", err);
		cr_assert(strstr(crit, want), "crit printed %s, not the name %s", crit, want);
	}
	free(crit);
	free(err);
	free(json);
	free(path);
	t_rmrf(dir);
	free(dir);
}
