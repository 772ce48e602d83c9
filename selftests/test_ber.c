// SPDX-License-Identifier: MIT
/*
 * The BER codec (user/core/ber.c): exact encodings of X.690's examples and edge
 * values, round trips, and each rule the strict decoder enforces, with the
 * offset and the message it reports.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ber.h"

/* Hex string ("30 03 02 01 05", spaces ignored) to bytes; returns the length. */
static size_t unhex(const char *s, uint8_t *out, size_t max)
{
	size_t n = 0;

	while (*s) {
		unsigned int b;

		if (*s == ' ') {
			s++;
			continue;
		}
		cr_assert(sscanf(s, "%2x", &b) == 1, "bad hex at '%s'", s);
		cr_assert_lt(n, max);
		out[n++] = (uint8_t)b;
		s += 2;
	}
	return n;
}

static void enc_is(const struct ber_enc *e, const char *want)
{
	uint8_t w[256];
	size_t n = unhex(want, w, sizeof(w));
	char got[3 * 256 + 1] = "";

	for (size_t i = 0; i < e->len && i < 256; i++)
		sprintf(got + 3 * i, "%02x ", e->buf[i]);
	cr_assert_eq(e->err, 0);
	cr_assert_eq(e->len, n, "encoded %s, want %s", got, want);
	cr_assert_eq(memcmp(e->buf, w, n), 0, "encoded %s, want %s", got, want);
}

static void dec_hex(struct ber_dec *d, uint8_t *buf, size_t max, const char *hex, size_t base)
{
	size_t n = unhex(hex, buf, max);

	ber_dec_init(d, buf, n, base);
}

/* The decoder failed at @off with a message containing @needle. */
static void failed_at(const struct ber_dec *d, size_t off, const char *needle)
{
	cr_assert_eq(d->err.err, -EBADMSG);
	cr_assert_eq(d->err.off, off, "error at offset %zu, want %zu (%s)", d->err.off, off,
		     d->err.msg);
	cr_assert(strstr(d->err.msg, needle), "message '%s' lacks '%s'", d->err.msg, needle);
}

TestSuite(ber, .timeout = 30);

Test(ber, integer_encodings)
{
	static const struct {
		int64_t v;
		const char *hex;
	} v[] = {
		{ 0, "02 01 00" },
		{ 1, "02 01 01" },
		{ 127, "02 01 7f" },
		{ 128, "02 02 00 80" },
		{ 255, "02 02 00 ff" },
		{ 256, "02 02 01 00" },
		{ -1, "02 01 ff" },
		{ -128, "02 01 80" },
		{ -129, "02 02 ff 7f" },
		{ INT64_MAX, "02 08 7f ff ff ff ff ff ff ff" },
		{ INT64_MIN, "02 08 80 00 00 00 00 00 00 00" },
	};
	struct ber_enc e;

	ber_enc_init(&e);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		uint8_t buf[16];
		struct ber_dec d;
		int64_t x;

		ber_enc_reset(&e);
		cr_assert_eq(ber_put_int(&e, BER_INTEGER, v[i].v), 0);
		enc_is(&e, v[i].hex);
		cr_assert_eq(ber_int_size(v[i].v) + 2, e.len);
		memcpy(buf, e.buf, e.len);
		ber_dec_init(&d, buf, e.len, 0);
		cr_assert_eq(ber_get_int(&d, BER_INTEGER, "x", INT64_MIN, INT64_MAX, &x), 0, "%s",
			     d.err.msg);
		cr_assert_eq(x, v[i].v);
		cr_assert_eq(ber_done(&d), 0);
	}
	ber_enc_free(&e);
}

Test(ber, unsigned_extremes)
{
	static const struct {
		uint64_t v;
		const char *hex;
	} v[] = {
		{ 0, "02 01 00" },
		{ 1ull << 63, "02 09 00 80 00 00 00 00 00 00 00" },
		{ UINT64_MAX, "02 09 00 ff ff ff ff ff ff ff ff" },
		{ 0x7fffffffffffffffull, "02 08 7f ff ff ff ff ff ff ff" },
	};
	struct ber_enc e;

	ber_enc_init(&e);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		struct ber_dec d;
		uint64_t x;
		int64_t s;

		ber_enc_reset(&e);
		cr_assert_eq(ber_put_uint(&e, BER_INTEGER, v[i].v), 0);
		enc_is(&e, v[i].hex);
		cr_assert_eq(ber_uint_size(v[i].v) + 2, e.len);
		ber_dec_init(&d, e.buf, e.len, 0);
		cr_assert_eq(ber_get_uint(&d, BER_INTEGER, "x", 0, UINT64_MAX, &x), 0, "%s",
			     d.err.msg);
		cr_assert_eq(x, v[i].v);
		/* As a signed 64-bit value, 2^63 and up do not fit. */
		ber_dec_init(&d, e.buf, e.len, 0);
		if (v[i].v > INT64_MAX) {
			cr_assert_eq(ber_get_int(&d, BER_INTEGER, "x", INT64_MIN, INT64_MAX, &s),
				     -EBADMSG);
			failed_at(&d, 0, "does not fit in 64 bits");
		} else {
			cr_assert_eq(ber_get_int(&d, BER_INTEGER, "x", INT64_MIN, INT64_MAX, &s),
				     0);
			cr_assert_eq((uint64_t)s, v[i].v);
		}
	}
	ber_enc_free(&e);
}

Test(ber, integer_rejections)
{
	uint8_t buf[32];
	struct ber_dec d;
	uint64_t u;
	int64_t x;

	/* X.690 8.3.2: the first nine bits must not be all zeros or all ones. */
	dec_hex(&d, buf, sizeof(buf), "02 02 00 7f", 0);
	cr_assert_eq(ber_get_int(&d, BER_INTEGER, "Foo.bar", INT64_MIN, INT64_MAX, &x), -EBADMSG);
	failed_at(&d, 2, "Foo.bar: INTEGER not in its shortest form");
	dec_hex(&d, buf, sizeof(buf), "02 02 ff 80", 0);
	cr_assert_eq(ber_get_int(&d, BER_INTEGER, NULL, INT64_MIN, INT64_MAX, &x), -EBADMSG);
	failed_at(&d, 2, "not in its shortest form");
	dec_hex(&d, buf, sizeof(buf), "02 09 00 00 ff ff ff ff ff ff ff", 0);
	cr_assert_eq(ber_get_uint(&d, BER_INTEGER, NULL, 0, UINT64_MAX, &u), -EBADMSG);
	failed_at(&d, 2, "shortest form");
	dec_hex(&d, buf, sizeof(buf), "02 00", 0);
	cr_assert_eq(ber_get_int(&d, BER_INTEGER, NULL, INT64_MIN, INT64_MAX, &x), -EBADMSG);
	failed_at(&d, 0, "no content octets");
	/* Ten octets: too big even unsigned. */
	dec_hex(&d, buf, sizeof(buf), "02 0a 01 00 00 00 00 00 00 00 00 00", 0);
	cr_assert_eq(ber_get_uint(&d, BER_INTEGER, NULL, 0, UINT64_MAX, &u), -EBADMSG);
	failed_at(&d, 0, "does not fit in 64 bits");
	/* Nine octets: 2^64 + 5 does not wrap to 5, nor does a nine-octet negative. */
	dec_hex(&d, buf, sizeof(buf), "02 09 01 00 00 00 00 00 00 00 05", 0);
	cr_assert_eq(ber_get_uint(&d, BER_INTEGER, "PageRequest.addr", 0, UINT64_MAX, &u), -EBADMSG,
		     "2^64+5 decoded as %llu", (unsigned long long)u);
	failed_at(&d, 0, "PageRequest.addr: INTEGER of 9 octets does not fit in 64 bits");
	dec_hex(&d, buf, sizeof(buf), "02 09 ff 7f ff ff ff ff ff ff ff", 0);
	cr_assert_eq(ber_get_int(&d, BER_INTEGER, NULL, INT64_MIN, INT64_MAX, &x), -EBADMSG);
	failed_at(&d, 0, "does not fit in 64 bits");
	dec_hex(&d, buf, sizeof(buf), "02 09 00 ff ff ff ff ff ff ff ff", 0);
	cr_assert_eq(ber_get_uint(&d, BER_INTEGER, NULL, 0, UINT64_MAX, &u), 0);
	cr_assert_eq(u, UINT64_MAX);
	/* Negative where unsigned is expected. */
	dec_hex(&d, buf, sizeof(buf), "02 01 ff", 0);
	cr_assert_eq(ber_get_uint(&d, BER_INTEGER, "PageRequest.id", 0, UINT64_MAX, &u), -EBADMSG);
	failed_at(&d, 0, "negative");
	/* Ranges, with the value in the message. */
	dec_hex(&d, buf, sizeof(buf), "02 02 01 2c", 0);
	cr_assert_eq(ber_get_uint(&d, BER_INTEGER, "PageRequest.count", 1, 256, &u), -EBADMSG);
	failed_at(&d, 0, "expected PageRequest.count in 1..256, got 300");
	dec_hex(&d, buf, sizeof(buf), "02 01 80", 0);
	cr_assert_eq(ber_get_int(&d, BER_INTEGER, "v", -100, 100, &x), -EBADMSG);
	failed_at(&d, 0, "expected v in -100..100, got -128");
	/* ENUMERATED is its own tag. */
	dec_hex(&d, buf, sizeof(buf), "0a 01 01", 0);
	cr_assert_eq(ber_get_uint(&d, BER_INTEGER, "Channel", 0, 1, &u), -EBADMSG);
	failed_at(&d, 0, "expected Channel, got ENUMERATED");
	dec_hex(&d, buf, sizeof(buf), "0a 01 01", 0);
	cr_assert_eq(ber_get_uint(&d, BER_ENUMERATED, "Channel", 0, 1, &u), 0);
	cr_assert_eq(u, 1);
}

Test(ber, wrong_tag_message)
{
	uint8_t buf[32];
	struct ber_dec d;
	int64_t x;

	dec_hex(&d, buf, sizeof(buf), "02 01 05 70 03 02 01 07", 500);
	cr_assert_eq(ber_get_int(&d, BER_INTEGER, NULL, 0, 10, &x), 0);
	cr_assert_eq(x, 5);
	cr_assert_eq(ber_get_int(&d, BER_INTEGER, NULL, 0, 10, &x), -EBADMSG);
	failed_at(&d, 503, "expected INTEGER, got [APPLICATION 16]");
	/* Sticky: later calls fail the same way and keep the first message. */
	cr_assert_eq(ber_skip(&d), -EBADMSG);
	cr_assert_eq(ber_done(&d), -EBADMSG);
	failed_at(&d, 503, "expected INTEGER, got [APPLICATION 16]");
	/* The form is named when only it differs. */
	dec_hex(&d, buf, sizeof(buf), "22 01 05", 0);
	cr_assert_eq(ber_get_int(&d, BER_INTEGER, NULL, 0, 10, &x), -EBADMSG);
	failed_at(&d, 0, "(constructed)");
}

Test(ber, bool_octets_utf8_null)
{
	const uint8_t *p;
	const char *s;
	struct ber_enc e;
	struct ber_dec d;
	uint8_t buf[64];
	size_t len;
	bool b;

	ber_enc_init(&e);
	ber_put_bool(&e, BER_BOOLEAN, true);
	ber_put_bool(&e, BER_BOOLEAN, false);
	ber_put_octets(&e, BER_OCTET_STRING, "\x01\x02\x03", 3);
	ber_put_octets(&e, BER_OCTET_STRING, NULL, 0);
	ber_put_utf8(&e, BER_UTF8STRING, "h\xc3\xa9", 3);
	ber_put_header(&e, BER_NULL, 0);
	enc_is(&e, "01 01 ff 01 01 00 04 03 01 02 03 04 00 0c 03 68 c3 a9 05 00");
	ber_dec_init(&d, e.buf, e.len, 0);
	cr_assert_eq(ber_get_bool(&d, BER_BOOLEAN, NULL, &b), 0);
	cr_assert(b);
	cr_assert_eq(ber_get_bool(&d, BER_BOOLEAN, NULL, &b), 0);
	cr_assert(!b);
	cr_assert_eq(ber_get_octets(&d, BER_OCTET_STRING, NULL, 0, 10, &p, &len), 0);
	cr_assert_eq(len, 3);
	cr_assert_eq(p, e.buf + 8, "points into the input");
	cr_assert_eq(ber_get_octets(&d, BER_OCTET_STRING, NULL, 0, 10, &p, &len), 0);
	cr_assert_eq(len, 0);
	cr_assert_eq(ber_get_utf8(&d, BER_UTF8STRING, NULL, 10, &s, &len), 0);
	cr_assert_eq(len, 3);
	cr_assert_eq(memcmp(s, "h\xc3\xa9", 3), 0);
	cr_assert_eq(ber_next_is(&d, BER_NULL), 1);
	cr_assert_eq(ber_skip(&d), 0);
	cr_assert_eq(ber_next_is(&d, BER_NULL), 0, "at the end");
	cr_assert_eq(ber_done(&d), 0);
	ber_enc_free(&e);

	/* BOOLEAN: DER's 0x00/0xff only, one octet. */
	dec_hex(&d, buf, sizeof(buf), "01 01 01", 0);
	cr_assert_eq(ber_get_bool(&d, BER_BOOLEAN, "ServerHello.authRequired", &b), -EBADMSG);
	failed_at(&d, 0, "ServerHello.authRequired: BOOLEAN must be one octet");
	dec_hex(&d, buf, sizeof(buf), "01 02 ff ff", 0);
	cr_assert_eq(ber_get_bool(&d, BER_BOOLEAN, NULL, &b), -EBADMSG);
	/* OCTET STRING size bounds. */
	dec_hex(&d, buf, sizeof(buf), "04 02 aa bb", 0);
	cr_assert_eq(ber_get_octets(&d, BER_OCTET_STRING, "nonce", 32, 32, &p, &len), -EBADMSG);
	failed_at(&d, 0, "expected nonce of 32..32 octets, got 2");
	/* UTF-8: a bad continuation, an overlong NUL, a surrogate, beyond U+10FFFF, cut. */
	static const char *const bad[] = { "0c 02 c3 28", "0c 02 c0 80", "0c 03 ed a0 80",
					   "0c 04 f4 90 80 80", "0c 02 61 e2" };
	static const size_t bad_at[] = { 2, 2, 2, 2, 3 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		dec_hex(&d, buf, sizeof(buf), bad[i], 0);
		cr_assert_eq(ber_get_utf8(&d, BER_UTF8STRING, "Error.message", 100, &s, &len),
			     -EBADMSG, "%s", bad[i]);
		failed_at(&d, bad_at[i], "not UTF-8");
	}
}

Test(ber, nested_sequences_and_long_lengths)
{
	static uint8_t big[70000];
	struct ber_enc e;
	struct ber_dec d;
	struct ber_tlv t;
	const uint8_t *p;
	size_t len, sizes[] = { 0, 1, 127, 128, 255, 256, 65535, 65536, 70000 };
	uint64_t u;

	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 7);
	ber_enc_init(&e);
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		ber_enc_reset(&e);
		/* [APPLICATION 16] { INTEGER k, SEQUENCE { OCTET STRING (sizes[k]) } } */
		cr_assert_eq(ber_begin(&e, BER_APP(16)), 0);
		ber_put_uint(&e, BER_INTEGER, k);
		ber_begin(&e, BER_SEQUENCE);
		ber_put_octets(&e, BER_OCTET_STRING, big, sizes[k]);
		ber_end(&e);
		cr_assert_eq(ber_end(&e), 0);
		cr_assert_eq(ber_enc_finish(&e), 0);
		cr_assert_eq(e.buf[0], 0x70, "'p'");
		/* The two-pass size agrees with what ber_end() patched. */
		len = ber_header_size(BER_OCTET_STRING, sizes[k]) + sizes[k];
		len = ber_header_size(BER_SEQUENCE, len) + len;
		len += 3;
		cr_assert_eq(e.len, ber_header_size(BER_APP(16), len) + len);

		ber_dec_init(&d, e.buf, e.len, 0);
		cr_assert_eq(ber_enter(&d, BER_APP(16), "Outer"), 0);
		cr_assert_eq(ber_get_uint(&d, BER_INTEGER, NULL, 0, 100, &u), 0);
		cr_assert_eq(u, k);
		cr_assert_eq(ber_enter(&d, BER_SEQUENCE, "Inner"), 0);
		cr_assert_eq(ber_get_octets(&d, BER_OCTET_STRING, NULL, 0, sizeof(big), &p, &len),
			     0);
		cr_assert_eq(len, sizes[k]);
		cr_assert_eq(memcmp(p, big, len), 0);
		cr_assert_eq(ber_more(&d), 0);
		cr_assert_eq(ber_leave(&d, false), 0);
		cr_assert_eq(ber_leave(&d, false), 0);
		cr_assert_eq(ber_done(&d), 0, "%s", d.err.msg);
	}
	/* Exact length octets: 128 is 81 80, 256 is 82 01 00, 70000 is 83 01 11 70. */
	ber_enc_reset(&e);
	ber_put_header(&e, BER_OCTET_STRING, 128);
	ber_put_header(&e, BER_OCTET_STRING, 256);
	ber_put_header(&e, BER_OCTET_STRING, 70000);
	ber_put_header(&e, BER_OCTET_STRING, 127);
	enc_is(&e, "04 81 80 04 82 01 00 04 83 01 11 70 04 7f");
	/* A header whose length needs all 8 octets: valid form, but runs past. */
	ber_enc_reset(&e);
	ber_put_header(&e, BER_OCTET_STRING, (size_t)1 << 56);
	enc_is(&e, "04 88 01 00 00 00 00 00 00 00");
	ber_dec_init(&d, e.buf, e.len, 0);
	cr_assert_eq(ber_next(&d, &t), -EBADMSG);
	failed_at(&d, 0, "runs past the end of the input");
	ber_enc_free(&e);
}

Test(ber, length_rejections)
{
	uint8_t buf[32];
	struct ber_dec d;
	struct ber_tlv t;
	uint64_t u;

	/* Indefinite length. */
	dec_hex(&d, buf, sizeof(buf), "30 80 02 01 00 00 00", 0);
	cr_assert_eq(ber_enter(&d, BER_SEQUENCE, "S"), -EBADMSG);
	failed_at(&d, 1, "indefinite length");
	/* Length field of 9 octets, and the reserved 0xff. */
	dec_hex(&d, buf, sizeof(buf), "04 89 00 00 00 00 00 00 00 00 01", 0);
	cr_assert_eq(ber_next(&d, &t), -EBADMSG);
	failed_at(&d, 1, "length field of 9 octets (at most 8)");
	dec_hex(&d, buf, sizeof(buf), "04 ff", 0);
	cr_assert_eq(ber_next(&d, &t), -EBADMSG);
	failed_at(&d, 1, "length field of 127 octets");
	/* Lengths not in their shortest form. */
	dec_hex(&d, buf, sizeof(buf), "04 81 05 01 02 03 04 05", 0);
	cr_assert_eq(ber_next(&d, &t), -EBADMSG);
	failed_at(&d, 1, "in the long form");
	dec_hex(&d, buf, sizeof(buf), "04 82 00 80", 0);
	cr_assert_eq(ber_next(&d, &t), -EBADMSG);
	failed_at(&d, 1, "leading zero octet");
	/* A length that runs past the enclosing element (but not past the buffer). */
	dec_hex(&d, buf, sizeof(buf), "30 03 02 05 01 02 03 04 05", 0);
	cr_assert_eq(ber_enter(&d, BER_SEQUENCE, "PageRequest"), 0);
	cr_assert_eq(ber_get_uint(&d, BER_INTEGER, NULL, 0, 9, &u), -EBADMSG);
	failed_at(&d, 2, "INTEGER of 5 octets runs past the end of PageRequest (1 octets left)");
	/* ... and past the input. */
	dec_hex(&d, buf, sizeof(buf), "30 05 02 01 01", 100);
	cr_assert_eq(ber_enter(&d, BER_SEQUENCE, "S"), -EBADMSG);
	failed_at(&d, 100, "runs past the end of the input");
	/* A header cut by the end of its enclosing element. */
	dec_hex(&d, buf, sizeof(buf), "30 02 02 81", 0);
	cr_assert_eq(ber_enter(&d, BER_SEQUENCE, "Seq"), 0);
	cr_assert_eq(ber_next(&d, &t), -EBADMSG);
	failed_at(&d, 4, "cut by the end of Seq");
	/* Reading past the end of an element. */
	dec_hex(&d, buf, sizeof(buf), "30 03 02 01 01 02 01 02", 0);
	cr_assert_eq(ber_enter(&d, BER_SEQUENCE, "Hello"), 0);
	cr_assert_eq(ber_get_uint(&d, BER_INTEGER, NULL, 0, 9, &u), 0);
	cr_assert_eq(ber_get_uint(&d, BER_INTEGER, "Hello.count", 0, 9, &u), -EBADMSG);
	failed_at(&d, 5, "expected Hello.count, got the end of Hello");
}

Test(ber, tag_numbers)
{
	static const struct {
		uint32_t tag;
		const char *hex;
	} v[] = {
		{ BER_TAG(BER_CONTEXT, 0, 30), "9e 00" },
		{ BER_TAG(BER_CONTEXT, 0, 31), "9f 1f 00" },
		{ BER_TAG(BER_APPLICATION, 1, 127), "7f 7f 00" },
		{ BER_TAG(BER_PRIVATE, 0, 128), "df 81 00 00" },
		{ BER_TAG(BER_APPLICATION, 0, 16383), "5f ff 7f 00" },
		{ BER_TAG(BER_CONTEXT, 1, BER_MAX_TAG_NUMBER), "bf 81 80 80 80 00 00" },
	};
	struct ber_enc e;
	struct ber_dec d;
	struct ber_tlv t;
	uint8_t buf[32];
	char name[48];

	ber_enc_init(&e);
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		ber_enc_reset(&e);
		cr_assert_eq(ber_put_header(&e, v[i].tag, 0), 0);
		enc_is(&e, v[i].hex);
		cr_assert_eq(ber_header_size(v[i].tag, 0), e.len);
		ber_dec_init(&d, e.buf, e.len, 0);
		cr_assert_eq(ber_next(&d, &t), 0, "%s", d.err.msg);
		cr_assert_eq(t.tag, v[i].tag, "%s", ber_tag_name(t.tag, name, sizeof(name)));
	}
	/* Above 2^28: the encoder refuses, the decoder too. */
	ber_enc_reset(&e);
	cr_assert_eq(ber_put_header(&e, BER_TAG(BER_CONTEXT, 0, BER_MAX_TAG_NUMBER + 1), 0),
		     -EINVAL);
	ber_enc_free(&e);
	dec_hex(&d, buf, sizeof(buf), "9f 81 80 80 80 01 00", 0);
	cr_assert_eq(ber_next(&d, &t), -EBADMSG);
	failed_at(&d, 0, "tag number above 2^28");
	dec_hex(&d, buf, sizeof(buf), "9f ff ff ff ff ff ff ff ff 7f 00", 0);
	cr_assert_eq(ber_next(&d, &t), -EBADMSG);
	failed_at(&d, 0, "tag number above 2^28");
	/* Not in the shortest form. */
	dec_hex(&d, buf, sizeof(buf), "9f 05 00", 0);
	cr_assert_eq(ber_next(&d, &t), -EBADMSG);
	failed_at(&d, 0, "high-tag-number form");
	dec_hex(&d, buf, sizeof(buf), "9f 80 7f 00", 0);
	cr_assert_eq(ber_next(&d, &t), -EBADMSG);
	failed_at(&d, 1, "leading 0x80");
	/* Cut inside the tag. */
	dec_hex(&d, buf, sizeof(buf), "9f 81", 0);
	cr_assert_eq(ber_next(&d, &t), -EBADMSG);
	failed_at(&d, 2, "cut by the end of the input");
	/* Names. */
	cr_assert_str_eq(ber_tag_name(BER_APP(16), name, sizeof(name)), "[APPLICATION 16]");
	cr_assert_str_eq(ber_tag_name(BER_CTX(1), name, sizeof(name)), "[1]");
	cr_assert_str_eq(ber_tag_name(BER_SEQUENCE, name, sizeof(name)), "SEQUENCE");
	cr_assert_str_eq(ber_tag_name(BER_TAG(BER_PRIVATE, 0, 7), name, sizeof(name)),
			 "[PRIVATE 7]");
	cr_assert_str_eq(ber_tag_name(BER_TAG(BER_UNIVERSAL, 0, 20), name, sizeof(name)),
			 "[UNIVERSAL 20]");
}

Test(ber, extensions_and_trailing)
{
	uint8_t buf[64];
	struct ber_dec d;
	uint64_t u;

	/* A later version appended two elements: skipped when extensible... */
	dec_hex(&d, buf, sizeof(buf), "62 09 02 01 01 04 01 aa 9f 21 00", 0);
	cr_assert_eq(ber_enter(&d, BER_APP(2), "Bye"), 0);
	cr_assert_eq(ber_get_uint(&d, BER_INTEGER, NULL, 0, 9, &u), 0);
	cr_assert_eq(ber_leave(&d, true), 0, "%s", d.err.msg);
	cr_assert_eq(ber_done(&d), 0);
	/* ... refused when not. */
	ber_dec_init(&d, buf, 11, 0);
	cr_assert_eq(ber_enter(&d, BER_APP(2), "Bye"), 0);
	cr_assert_eq(ber_get_uint(&d, BER_INTEGER, NULL, 0, 9, &u), 0);
	cr_assert_eq(ber_leave(&d, false), -EBADMSG);
	failed_at(&d, 5, "unexpected OCTET STRING after the last element of Bye");
	/* Extra elements must still be well formed to be skipped. */
	dec_hex(&d, buf, sizeof(buf), "62 05 02 01 01 04 05", 0);
	cr_assert_eq(ber_enter(&d, BER_APP(2), "Bye"), 0);
	cr_assert_eq(ber_get_uint(&d, BER_INTEGER, NULL, 0, 9, &u), 0);
	cr_assert_eq(ber_leave(&d, true), -EBADMSG);
	failed_at(&d, 5, "runs past the end of Bye");
	/* Data after the top-level element. */
	dec_hex(&d, buf, sizeof(buf), "02 01 01 02 01 02", 0);
	cr_assert_eq(ber_get_uint(&d, BER_INTEGER, NULL, 0, 9, &u), 0);
	cr_assert_eq(ber_done(&d), -EBADMSG);
	failed_at(&d, 3, "unexpected INTEGER after the end");
	/* Left open. */
	dec_hex(&d, buf, sizeof(buf), "30 00", 0);
	cr_assert_eq(ber_enter(&d, BER_SEQUENCE, "S"), 0);
	cr_assert_eq(ber_done(&d), -EBADMSG);
	failed_at(&d, 2, "S not left");
}

Test(ber, nesting_limits)
{
	struct ber_enc e;
	struct ber_dec d;
	int i;

	ber_enc_init(&e);
	for (i = 0; i < BER_MAX_DEPTH; i++)
		cr_assert_eq(ber_begin(&e, BER_SEQUENCE), 0);
	cr_assert_eq(ber_begin(&e, BER_SEQUENCE), -EOVERFLOW);
	cr_assert_eq(ber_enc_finish(&e), -EOVERFLOW, "sticky");
	ber_enc_reset(&e);
	cr_assert_eq(ber_end(&e), -EINVAL, "nothing open");
	ber_enc_reset(&e);
	ber_begin(&e, BER_SEQUENCE);
	cr_assert_eq(ber_enc_finish(&e), -EINVAL, "left open");
	/* 17 nested SEQUENCEs: the decoder stops at 16. */
	ber_enc_reset(&e);
	for (i = 0; i < BER_MAX_DEPTH; i++)
		ber_begin(&e, BER_SEQUENCE);
	ber_put_header(&e, BER_SEQUENCE, 0);
	for (i = 0; i < BER_MAX_DEPTH; i++)
		ber_end(&e);
	cr_assert_eq(ber_enc_finish(&e), 0);
	ber_dec_init(&d, e.buf, e.len, 0);
	for (i = 0; i < BER_MAX_DEPTH; i++)
		cr_assert_eq(ber_enter(&d, BER_SEQUENCE, "S"), 0);
	cr_assert_eq(ber_enter(&d, BER_SEQUENCE, "S"), -EBADMSG);
	failed_at(&d, BER_MAX_DEPTH * 2, "nested deeper than 16");
	ber_enc_free(&e);
}

Test(ber, frame)
{
	uint8_t buf[300];
	struct ber_err e = { 0 };
	struct ber_enc enc;
	size_t total = 0;

	ber_enc_init(&enc);
	ber_begin(&enc, BER_APP(18));
	ber_put_octets(&enc, BER_OCTET_STRING, buf, 200);
	ber_end(&enc);
	cr_assert_eq(enc.len, 206);
	/* Every prefix that cuts the header: more needed. */
	for (size_t n = 0; n < 3; n++)
		cr_assert_eq(ber_frame(enc.buf, n, 1000, 0, &total, &e), 0, "%zu octets", n);
	for (size_t n = 3; n <= enc.len; n++) {
		cr_assert_eq(ber_frame(enc.buf, n, 1000, 0, &total, &e), 1);
		cr_assert_eq(total, 206);
	}
	/* Longer than allowed. */
	cr_assert_eq(ber_frame(enc.buf, 3, 205, 40, &total, &e), -EBADMSG);
	cr_assert_eq(e.off, 40);
	cr_assert(strstr(e.msg, "206 octets is longer than the limit of 205"), "%s", e.msg);
	memset(&e, 0, sizeof(e));
	cr_assert_eq(ber_frame(enc.buf, enc.len, 206, 0, &total, &e), 1);
	/* Malformed headers fail at once. */
	cr_assert_eq(ber_frame("\x70\x80", 2, 1000, 0, &total, &e), -EBADMSG);
	cr_assert(strstr(e.msg, "indefinite"), "%s", e.msg);
	memset(&e, 0, sizeof(e));
	cr_assert_eq(
		ber_frame("\x70\x88\x7f\xff\xff\xff\xff\xff\xff\xff", 10, SIZE_MAX, 0, &total, &e),
		1, "2^63-ish fits SIZE_MAX");
	cr_assert_eq(
		ber_frame("\x70\x88\xff\xff\xff\xff\xff\xff\xff\xff", 10, SIZE_MAX, 0, &total, &e),
		-EBADMSG, "header + 2^64-1 octets overflow");
	ber_enc_free(&enc);
}
