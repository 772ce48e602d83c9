// SPDX-License-Identifier: MIT
/*
 * What the image type tests (test_img_types*.c, test_img_all.c) share: a
 * temporary image directory per test, and writing, reading back and crit
 * decoding an image of a type.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "img.h"
#include "helpers.h"

#include "img_test_helpers.h"

char *it_tmpdir;
int it_dfd = -1;

void it_setup(void)
{
	it_tmpdir = t_tmpdir();
	cr_assert_not_null(it_tmpdir, "mkdtemp: %m");
	it_dfd = open(it_tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(it_dfd, 0, "open %s: %m", it_tmpdir);
}

void it_teardown(void)
{
	if (it_dfd >= 0)
		close(it_dfd);
	it_dfd = -1;
	t_rmrf(it_tmpdir);
	free(it_tmpdir);
	it_tmpdir = NULL;
}

uint8_t *it_pack(const ProtobufCMessage *m, size_t *len)
{
	uint8_t *buf;

	*len = protobuf_c_message_get_packed_size(m);
	buf = malloc(*len ? *len : 1);
	cr_assert_not_null(buf);
	cr_assert_eq(protobuf_c_message_pack(m, buf), *len);
	return buf;
}

/* Check the file starts with the type's magics (the inventory: only its own). */
void it_check_header(struct img *img, const struct img_type *t)
{
	const uint8_t *data;
	uint32_t m[2];
	size_t len;

	data = img_data(img, &len);
	cr_assert_geq(len, 8, "%s: too short", t->name);
	memcpy(m, data, sizeof(m));
	if (t->kind_magic) {
		cr_assert_eq(m[0], t->kind_magic, "%s: first magic %#x", t->name, m[0]);
		cr_assert_eq(m[1], t->magic, "%s: type magic %#x", t->name, m[1]);
	} else {
		cr_assert_eq(m[0], t->magic, "%s: magic %#x", t->name, m[0]);
	}
}

/*
 * Write @n entries (with their payloads) to @name, read them back and check
 * each re-packs to the same bytes and carries the same payload.
 */
void it_roundtrip(const struct img_type *t, const char *name, const struct it_ent *e, size_t n)
{
	struct img *img;
	size_t i;
	int ret;

	cr_assert_not_null(t->desc, "%s has no message", t->name);
	ret = img_create(&img, it_dfd, name, t);
	cr_assert_eq(ret, 0, "img_create %s: %d", name, ret);
	for (i = 0; i < n; i++) {
		ret = img_write_entry(img, e[i].msg);
		cr_assert_eq(ret, 0, "img_write_entry %s #%zu: %d", name, i, ret);
		if (e[i].payload) {
			ret = img_write_raw(img, e[i].payload, e[i].plen);
			cr_assert_eq(ret, 0, "img_write_raw %s #%zu: %d", name, i, ret);
		}
	}
	ret = img_commit(img);
	cr_assert_eq(ret, 0, "img_commit %s: %d", name, ret);
	cr_assert_eq(faccessat(it_dfd, name, F_OK, 0), 0, "%s missing after commit", name);

	ret = img_open(&img, it_dfd, name, t);
	cr_assert_eq(ret, 0, "img_open %s: %d", name, ret);
	cr_assert_eq(img_get_type(img), t);
	it_check_header(img, t);
	for (i = 0; i < n; i++) {
		ProtobufCMessage *m;
		uint8_t *want, *got;
		size_t wlen, glen, plen;
		const void *pl;

		ret = img_read_entry(img, &m);
		cr_assert_eq(ret, 1, "img_read_entry %s #%zu: %d", name, i, ret);
		cr_assert_eq(m->descriptor, e[i].msg->descriptor, "%s #%zu: read a %s, wrote a %s",
			     name, i, m->descriptor->name, e[i].msg->descriptor->name);
		want = it_pack(e[i].msg, &wlen);
		got = it_pack(m, &glen);
		cr_assert_eq(glen, wlen, "%s #%zu: %zu bytes re-packed, %zu written", name, i, glen,
			     wlen);
		cr_assert_arr_eq(got, want, wlen, "%s #%zu: re-packed bytes differ", name, i);
		free(want);
		free(got);

		ret = img_read_payload(img, m, &pl, &plen);
		cr_assert_eq(ret, 0, "img_read_payload %s #%zu: %d", name, i, ret);
		cr_assert_eq(plen, e[i].payload ? e[i].plen : 0, "%s #%zu: payload of %zu bytes",
			     name, i, plen);
		if (plen)
			cr_assert_arr_eq(pl, e[i].payload, plen, "%s #%zu: payload differs", name,
					 i);
		protobuf_c_message_free_unpacked(m, NULL);
	}
	{
		ProtobufCMessage *m;

		ret = img_read_entry(img, &m);
		cr_assert_eq(ret, 0, "%s: %d after the last entry", name, ret);
		cr_assert_null(m);
	}
	img_close(img);
}

/* Run "crit decode -i" on the image; check it succeeds and names the magic. */
char *it_crit_decode(const struct img_type *t, const char *name)
{
	char want[64], *out, *err;
	int st;

	if (access(CRIT, X_OK))
		cr_skip_test("%s not found (Debian package criu): skipping the crit check", CRIT);
	st = t_run(&out, &err, CRIT " decode -i '%s/%s'", it_tmpdir, name);
	cr_assert_eq(st, 0, "crit decode %s failed (%d):\n%.4000s", name, st, err ? err : "");
	cr_assert_not_null(out);
	free(err);
	snprintf(want, sizeof(want), "\"magic\": \"%s\"", t->name);
	cr_assert_not_null(strstr(out, want), "crit output lacks %s:\n%.4000s", want, out);
	return out;
}

/* crit's JSON holds @want (e.g. "pid": 4242) followed by a separator. */
void it_expect_json(const char *json, const char *want)
{
	size_t n = strlen(want);
	const char *p;

	for (p = strstr(json, want); p; p = strstr(p + 1, want))
		if (!p[n] || strchr(",}] \n", p[n]))
			return;
	cr_assert_fail("crit output lacks %s:\n%.4000s", want, json);
}

size_t it_count_str(const char *json, const char *s)
{
	size_t n = 0;
	const char *p;

	for (p = strstr(json, s); p; p = strstr(p + strlen(s), s))
		n++;
	return n;
}
