// SPDX-License-Identifier: MIT
/*
 * BER (X.690) encoder and strict decoder; see ber.h for what is accepted.
 * Section numbers in comments are X.690's.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ber.h"

static const char *const univ_names[] = {
	[1] = "BOOLEAN",      [2] = "INTEGER",	   [3] = "BIT STRING",
	[4] = "OCTET STRING", [5] = "NULL",	   [6] = "OBJECT IDENTIFIER",
	[10] = "ENUMERATED",  [12] = "UTF8String", [16] = "SEQUENCE",
	[17] = "SET",
};

const char *ber_tag_name(uint32_t tag, char *buf, size_t len)
{
	static const char *const cls[] = { "UNIVERSAL", "APPLICATION", "", "PRIVATE" };
	uint32_t num = BER_TAG_NUMBER(tag);
	unsigned int c = BER_TAG_CLASS(tag);

	if (!len)
		return buf;
	if (c == BER_UNIVERSAL && num < sizeof(univ_names) / sizeof(univ_names[0]) &&
	    univ_names[num] && BER_TAG_CONSTRUCTED(tag) == (num == 16 || num == 17))
		snprintf(buf, len, "%s", univ_names[num]);
	else if (c == BER_CONTEXT)
		snprintf(buf, len, "[%" PRIu32 "]", num);
	else
		snprintf(buf, len, "[%s %" PRIu32 "]", cls[c], num);
	return buf;
}

/* ---- encoder ------------------------------------------------------------- */

void ber_enc_init(struct ber_enc *e)
{
	memset(e, 0, sizeof(*e));
}

void ber_enc_free(struct ber_enc *e)
{
	free(e->buf);
	ber_enc_init(e);
}

void ber_enc_reset(struct ber_enc *e)
{
	e->len = 0;
	e->depth = 0;
	e->err = 0;
}

static int enc_fail(struct ber_enc *e, int err)
{
	if (!e->err)
		e->err = err;
	return e->err;
}

/* reserve - room for @n more octets at e->buf + e->len; NULL (and e->err) on failure. */
static uint8_t *reserve(struct ber_enc *e, size_t n)
{
	if (e->err)
		return NULL;
	if (n > SIZE_MAX / 2 - e->len) {
		enc_fail(e, -EOVERFLOW);
		return NULL;
	}
	if (e->len + n > e->cap) {
		size_t cap = e->cap ? e->cap : 256;
		uint8_t *nb;

		while (cap < e->len + n)
			cap *= 2;
		nb = realloc(e->buf, cap);
		if (!nb) {
			enc_fail(e, -ENOMEM);
			return NULL;
		}
		e->buf = nb;
		e->cap = cap;
	}
	return e->buf + e->len;
}

static size_t len_octets(size_t len)
{
	size_t n = 0;

	if (len < 0x80)
		return 0;
	for (; len; len >>= 8)
		n++;
	return n;
}

static size_t ident_size(uint32_t tag)
{
	uint32_t num = BER_TAG_NUMBER(tag);
	size_t n = 1;

	if (num < 31)
		return 1;
	for (; num; num >>= 7)
		n++;
	return n;
}

size_t ber_header_size(uint32_t tag, size_t len)
{
	return ident_size(tag) + 1 + len_octets(len);
}

/* Identifier octets (8.1.2), high-tag-number form for numbers of 31 and more. */
static int put_ident(struct ber_enc *e, uint32_t tag)
{
	uint32_t num = BER_TAG_NUMBER(tag);
	uint8_t first = (uint8_t)(BER_TAG_CLASS(tag) << 6 | BER_TAG_CONSTRUCTED(tag) << 5);
	size_t n = ident_size(tag), i;
	uint8_t *p;

	if (num > BER_MAX_TAG_NUMBER)
		return enc_fail(e, -EINVAL);
	p = reserve(e, n);
	if (!p)
		return e->err;
	if (n == 1) {
		p[0] = first | (uint8_t)num;
	} else {
		p[0] = first | 0x1f;
		for (i = n - 1; i >= 1; i--, num >>= 7)
			p[i] = (uint8_t)((num & 0x7f) | (i == n - 1 ? 0 : 0x80));
	}
	e->len += n;
	return 0;
}

/* Length octets (8.1.3): short form below 128, else the fewest octets. */
static void write_len(uint8_t *p, size_t len)
{
	size_t n = len_octets(len), i;

	if (!n) {
		p[0] = (uint8_t)len;
		return;
	}
	p[0] = (uint8_t)(0x80 | n);
	for (i = n; i >= 1; i--, len >>= 8)
		p[i] = (uint8_t)len;
}

int ber_put_header(struct ber_enc *e, uint32_t tag, size_t len)
{
	uint8_t *p;

	if (put_ident(e, tag))
		return e->err;
	p = reserve(e, 1 + len_octets(len));
	if (!p)
		return e->err;
	write_len(p, len);
	e->len += 1 + len_octets(len);
	return 0;
}

int ber_put_raw(struct ber_enc *e, const void *src, size_t len)
{
	uint8_t *p = reserve(e, len);

	if (!p)
		return e->err;
	if (len)
		memcpy(p, src, len);
	e->len += len;
	return 0;
}

/* Two's complement big-endian of @v in 9 octets (the first is the sign extension). */
static void int_octets(uint64_t v, int negative, uint8_t out[9])
{
	int i;

	out[0] = negative ? 0xff : 0x00;
	for (i = 8; i >= 1; i--, v >>= 8)
		out[i] = (uint8_t)v;
}

/* 8.3.2: drop leading octets that only repeat the sign. */
static size_t int_skip(const uint8_t o[9])
{
	size_t i = 0;

	while (i < 8 &&
	       ((o[i] == 0x00 && !(o[i + 1] & 0x80)) || (o[i] == 0xff && (o[i + 1] & 0x80))))
		i++;
	return i;
}

size_t ber_int_size(int64_t v)
{
	uint8_t o[9];

	int_octets((uint64_t)v, v < 0, o);
	return 9 - int_skip(o);
}

size_t ber_uint_size(uint64_t v)
{
	uint8_t o[9];

	int_octets(v, 0, o);
	return 9 - int_skip(o);
}

static int put_int_octets(struct ber_enc *e, uint32_t tag, const uint8_t o[9])
{
	size_t skip = int_skip(o);

	if (ber_put_header(e, tag, 9 - skip))
		return e->err;
	return ber_put_raw(e, o + skip, 9 - skip);
}

int ber_put_int(struct ber_enc *e, uint32_t tag, int64_t v)
{
	uint8_t o[9];

	int_octets((uint64_t)v, v < 0, o);
	return put_int_octets(e, tag, o);
}

int ber_put_uint(struct ber_enc *e, uint32_t tag, uint64_t v)
{
	uint8_t o[9];

	int_octets(v, 0, o);
	return put_int_octets(e, tag, o);
}

int ber_put_bool(struct ber_enc *e, uint32_t tag, bool v)
{
	uint8_t b = v ? 0xff : 0x00;

	if (ber_put_header(e, tag, 1))
		return e->err;
	return ber_put_raw(e, &b, 1);
}

int ber_put_octets(struct ber_enc *e, uint32_t tag, const void *p, size_t len)
{
	if (ber_put_header(e, tag, len))
		return e->err;
	return ber_put_raw(e, p, len);
}

int ber_put_utf8(struct ber_enc *e, uint32_t tag, const char *s, size_t len)
{
	return ber_put_octets(e, tag, s, len);
}

int ber_begin(struct ber_enc *e, uint32_t tag)
{
	if (e->err)
		return e->err;
	if (e->depth >= BER_MAX_DEPTH)
		return enc_fail(e, -EOVERFLOW);
	if (put_ident(e, tag) || !reserve(e, 1))
		return e->err;
	e->open[e->depth++] = e->len;
	e->buf[e->len++] = 0; /* patched by ber_end() */
	return 0;
}

int ber_end(struct ber_enc *e)
{
	size_t pos, clen, n;

	if (e->err)
		return e->err;
	if (!e->depth)
		return enc_fail(e, -EINVAL);
	pos = e->open[--e->depth];
	clen = e->len - pos - 1;
	n = len_octets(clen);
	if (n) {
		if (!reserve(e, n))
			return e->err;
		memmove(e->buf + pos + 1 + n, e->buf + pos + 1, clen);
		e->len += n;
	}
	write_len(e->buf + pos, clen);
	return 0;
}

int ber_enc_finish(struct ber_enc *e)
{
	if (!e->err && e->depth)
		enc_fail(e, -EINVAL);
	return e->err;
}

/* ---- decoder ------------------------------------------------------------- */

static int set_err(struct ber_err *e, size_t off, const char *fmt, va_list ap)
{
	if (e->err)
		return -EBADMSG;
	e->err = -EBADMSG;
	e->off = off;
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	return -EBADMSG;
}

static __attribute__((format(printf, 3, 4))) int err_at(struct ber_err *e, size_t off,
							const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = set_err(e, off, fmt, ap);
	va_end(ap);
	return ret;
}

int ber_fail(struct ber_dec *d, size_t off, const char *fmt, ...)
{
	va_list ap;
	int ret;

	va_start(ap, fmt);
	ret = set_err(&d->err, off, fmt, ap);
	va_end(ap);
	return ret;
}

/*
 * parse_header - the identifier and length octets at @p (@avail octets
 * readable; @base is the stream offset of @p[0]). Returns 1 with *@tag,
 * *@hdr_len and *@len, 0 if @avail ends inside the header and @partial, or
 * -EBADMSG (recorded in @e; with !@partial a header cut by @avail is an error
 * against @where, the element that holds it).
 */
static int parse_header(const uint8_t *p, size_t avail, size_t base, bool partial,
			const char *where, struct ber_err *e, uint32_t *tag, size_t *hdr_len,
			uint64_t *len)
{
	uint64_t num, l = 0;
	size_t i = 1, n, k;
	unsigned int b0;

	if (!avail)
		goto cut;
	b0 = p[0];
	num = b0 & 0x1f;
	if (num == 0x1f) {
		/* 8.1.2.4: base 128, bit 8 set on all but the last octet, no leading 0x80. */
		num = 0;
		for (;;) {
			if (i >= avail)
				goto cut;
			if (i == 1 && p[i] == 0x80)
				return err_at(
					e, base + i,
					"tag number not in its shortest form (leading 0x80 octet)");
			num = num << 7 | (p[i] & 0x7f);
			if (num > BER_MAX_TAG_NUMBER)
				return err_at(e, base, "tag number above 2^28");
			if (!(p[i++] & 0x80))
				break;
		}
		if (num < 31)
			return err_at(e, base,
				      "tag number %" PRIu64
				      " in the high-tag-number form (it fits one octet)",
				      num);
	}
	*tag = BER_TAG(b0 >> 6, b0 & 0x20, num);
	if (i >= avail)
		goto cut;
	if (p[i] < 0x80) {
		l = p[i++];
	} else if (p[i] == 0x80) {
		return err_at(e, base + i, "indefinite length (only definite lengths are allowed)");
	} else {
		n = p[i] & 0x7f;
		if (n > BER_MAX_LEN_OCTETS)
			return err_at(e, base + i, "length field of %zu octets (at most %d)", n,
				      BER_MAX_LEN_OCTETS);
		if (avail - i - 1 < n)
			goto cut;
		if (p[i + 1] == 0)
			return err_at(e, base + i,
				      "length not in its shortest form (leading zero octet)");
		for (k = 1; k <= n; k++)
			l = l << 8 | p[i + k];
		if (l < 0x80)
			return err_at(
				e, base + i,
				"length %" PRIu64 " in the long form (it fits the short form)", l);
		i += 1 + n;
	}
	*hdr_len = i;
	*len = l;
	return 1;
cut:
	if (partial)
		return 0;
	return err_at(e, base + avail, "element header cut by the end of %s", where);
}

void ber_dec_init(struct ber_dec *d, const void *buf, size_t len, size_t base)
{
	memset(d, 0, sizeof(*d));
	d->buf = buf;
	d->end = len;
	d->base = base;
}

static const char *cur_where(const struct ber_dec *d)
{
	return d->depth ? d->what[d->depth - 1] : "the input";
}

int ber_more(const struct ber_dec *d)
{
	return !d->err.err && d->pos < d->end;
}

int ber_peek(struct ber_dec *d, struct ber_tlv *t)
{
	size_t avail, hdr;
	uint64_t len;
	int ret;

	if (d->err.err)
		return d->err.err;
	if (d->pos >= d->end)
		return ber_fail(d, d->base + d->pos, "expected an element, got the end of %s",
				cur_where(d));
	avail = d->end - d->pos;
	ret = parse_header(d->buf + d->pos, avail, d->base + d->pos, false, cur_where(d), &d->err,
			   &t->tag, &hdr, &len);
	if (ret < 0)
		return ret;
	if (len > avail - hdr) {
		char name[48];

		return ber_fail(
			d, d->base + d->pos,
			"%s of %" PRIu64 " octets runs past the end of %s (%zu octets left)",
			ber_tag_name(t->tag, name, sizeof(name)), len, cur_where(d), avail - hdr);
	}
	t->off = d->base + d->pos;
	t->hdr_len = hdr;
	t->len = (size_t)len;
	t->val = d->buf + d->pos + hdr;
	return 0;
}

int ber_next_is(struct ber_dec *d, uint32_t tag)
{
	struct ber_tlv t;
	int ret;

	if (!ber_more(d))
		return 0;
	ret = ber_peek(d, &t);
	if (ret)
		return ret;
	return t.tag == tag;
}

int ber_next(struct ber_dec *d, struct ber_tlv *t)
{
	int ret = ber_peek(d, t);

	if (ret)
		return ret;
	d->pos += t->hdr_len + t->len;
	return 0;
}

int ber_skip(struct ber_dec *d)
{
	struct ber_tlv t;

	return ber_next(d, &t);
}

int ber_expect(struct ber_dec *d, uint32_t tag, const char *what, struct ber_tlv *t)
{
	char want[48], got[48];
	int ret;

	if (d->err.err)
		return d->err.err;
	if (!what)
		what = ber_tag_name(tag, want, sizeof(want));
	if (d->pos >= d->end)
		return ber_fail(d, d->base + d->pos, "expected %s, got the end of %s", what,
				cur_where(d));
	ret = ber_peek(d, t);
	if (ret)
		return ret;
	if (t->tag != tag) {
		const char *form = "";

		if ((t->tag ^ tag) == BER_TAG(0, 1, 0))
			form = BER_TAG_CONSTRUCTED(t->tag) ? " (constructed)" : " (primitive)";
		return ber_fail(d, t->off, "expected %s, got %s%s", what,
				ber_tag_name(t->tag, got, sizeof(got)), form);
	}
	d->pos += t->hdr_len + t->len;
	return 0;
}

int ber_enter(struct ber_dec *d, uint32_t tag, const char *what)
{
	struct ber_tlv t;
	char want[48];
	int ret;

	if (!what)
		what = ber_tag_name(tag, want, sizeof(want));
	ret = ber_expect(d, tag, what, &t);
	if (ret)
		return ret;
	if (d->depth >= BER_MAX_DEPTH)
		return ber_fail(d, t.off, "elements nested deeper than %d", BER_MAX_DEPTH);
	/* Names are kept by pointer: the caller's literals, or a fixed generic one. */
	d->what[d->depth] = what == want ? "a constructed element" : what;
	d->ends[d->depth++] = d->end;
	d->end = (size_t)(t.val - d->buf) + t.len;
	d->pos = (size_t)(t.val - d->buf);
	return 0;
}

int ber_leave(struct ber_dec *d, bool extensible)
{
	struct ber_tlv t;
	char got[48];
	int ret;

	if (d->err.err)
		return d->err.err;
	if (!d->depth)
		return ber_fail(d, d->base + d->pos, "leaving an element never entered");
	while (d->pos < d->end) {
		ret = ber_peek(d, &t);
		if (ret)
			return ret;
		if (!extensible)
			return ber_fail(d, t.off, "unexpected %s after the last element of %s",
					ber_tag_name(t.tag, got, sizeof(got)), cur_where(d));
		d->pos += t.hdr_len + t.len;
	}
	d->end = d->ends[--d->depth];
	return 0;
}

/* Contents of an INTEGER (8.3): non-empty, minimal; @is_unsigned allows 9 octets 00 xx... */
static int int_contents(struct ber_dec *d, const struct ber_tlv *t, const char *what,
			bool is_unsigned, uint64_t *raw, bool *negative)
{
	const uint8_t *v = t->val;
	size_t i, max = is_unsigned ? 9 : 8;
	uint64_t x;

	if (!t->len)
		return ber_fail(d, t->off, "%s: INTEGER with no content octets", what);
	if (t->len >= 2 && ((v[0] == 0x00 && !(v[1] & 0x80)) || (v[0] == 0xff && (v[1] & 0x80))))
		return ber_fail(d, t->off + t->hdr_len, "%s: INTEGER not in its shortest form",
				what);
	/*
	 * Nine octets are 2^63..2^64-1 only with a leading 0x00 (the sign
	 * octet); anything else there is 2^64 or more, or below -2^63.
	 */
	if (t->len > max || (t->len == 9 && v[0] != 0x00))
		return ber_fail(d, t->off, "%s: INTEGER of %zu octets does not fit in 64 bits",
				what, t->len);
	*negative = v[0] & 0x80;
	x = *negative ? UINT64_MAX : 0;
	for (i = 0; i < t->len; i++)
		x = x << 8 | v[i];
	*raw = x;
	return 0;
}

int ber_get_int(struct ber_dec *d, uint32_t tag, const char *what, int64_t min, int64_t max,
		int64_t *v)
{
	struct ber_tlv t;
	char name[48];
	bool neg;
	uint64_t raw;
	int64_t x;
	int ret;

	if (!what)
		what = ber_tag_name(tag, name, sizeof(name));
	ret = ber_expect(d, tag, what, &t);
	if (!ret)
		ret = int_contents(d, &t, what, false, &raw, &neg);
	if (ret)
		return ret;
	x = (int64_t)raw;
	if (x < min || x > max)
		return ber_fail(d, t.off, "expected %s in %" PRId64 "..%" PRId64 ", got %" PRId64,
				what, min, max, x);
	*v = x;
	return 0;
}

int ber_get_uint(struct ber_dec *d, uint32_t tag, const char *what, uint64_t min, uint64_t max,
		 uint64_t *v)
{
	struct ber_tlv t;
	char name[48];
	bool neg;
	uint64_t raw;
	int ret;

	if (!what)
		what = ber_tag_name(tag, name, sizeof(name));
	ret = ber_expect(d, tag, what, &t);
	if (!ret)
		ret = int_contents(d, &t, what, true, &raw, &neg);
	if (ret)
		return ret;
	if (neg)
		return ber_fail(d, t.off,
				"expected %s in %" PRIu64 "..%" PRIu64 ", got a negative INTEGER",
				what, min, max);
	if (raw < min || raw > max)
		return ber_fail(d, t.off, "expected %s in %" PRIu64 "..%" PRIu64 ", got %" PRIu64,
				what, min, max, raw);
	*v = raw;
	return 0;
}

int ber_get_bool(struct ber_dec *d, uint32_t tag, const char *what, bool *v)
{
	struct ber_tlv t;
	char name[48];
	int ret;

	if (!what)
		what = ber_tag_name(tag, name, sizeof(name));
	ret = ber_expect(d, tag, what, &t);
	if (ret)
		return ret;
	/* 8.2.2 allows any non-zero TRUE; DER (11.1) only 0xff, and so does ferry. */
	if (t.len != 1 || (t.val[0] != 0x00 && t.val[0] != 0xff))
		return ber_fail(d, t.off, "%s: BOOLEAN must be one octet 0x00 or 0xff", what);
	*v = t.val[0] != 0;
	return 0;
}

int ber_get_octets(struct ber_dec *d, uint32_t tag, const char *what, size_t min, size_t max,
		   const uint8_t **p, size_t *len)
{
	struct ber_tlv t;
	char name[48];
	int ret;

	if (!what)
		what = ber_tag_name(tag, name, sizeof(name));
	ret = ber_expect(d, tag, what, &t);
	if (ret)
		return ret;
	if (t.len < min || t.len > max)
		return ber_fail(d, t.off, "expected %s of %zu..%zu octets, got %zu", what, min, max,
				t.len);
	*p = t.val;
	*len = t.len;
	return 0;
}

/* utf8_bad - index of the first octet that breaks UTF-8 (RFC 3629), or @len if none. */
static size_t utf8_bad(const uint8_t *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		uint32_t c = s[i], min;
		size_t n, k;

		if (c < 0x80) {
			i++;
			continue;
		} else if ((c & 0xe0) == 0xc0) {
			n = 1;
			c &= 0x1f;
			min = 0x80;
		} else if ((c & 0xf0) == 0xe0) {
			n = 2;
			c &= 0x0f;
			min = 0x800;
		} else if ((c & 0xf8) == 0xf0) {
			n = 3;
			c &= 0x07;
			min = 0x10000;
		} else {
			return i;
		}
		if (len - i - 1 < n)
			return i;
		for (k = 1; k <= n; k++) {
			if ((s[i + k] & 0xc0) != 0x80)
				return i;
			c = c << 6 | (s[i + k] & 0x3f);
		}
		/* overlong, surrogate, beyond U+10FFFF */
		if (c < min || (c >= 0xd800 && c <= 0xdfff) || c > 0x10ffff)
			return i;
		i += n + 1;
	}
	return len;
}

int ber_get_utf8(struct ber_dec *d, uint32_t tag, const char *what, size_t max, const char **p,
		 size_t *len)
{
	const uint8_t *v;
	size_t n, bad;
	int ret;

	ret = ber_get_octets(d, tag, what, 0, max, &v, &n);
	if (ret)
		return ret;
	bad = utf8_bad(v, n);
	if (bad != n)
		return ber_fail(d, d->base + (size_t)(v - d->buf) + bad,
				"%s: not UTF-8 at octet %zu", what ? what : "UTF8String", bad);
	*p = (const char *)v;
	*len = n;
	return 0;
}

int ber_done(struct ber_dec *d)
{
	char got[48];
	struct ber_tlv t;

	if (d->err.err)
		return d->err.err;
	if (d->depth)
		return ber_fail(d, d->base + d->pos, "%s not left", cur_where(d));
	if (d->pos < d->end) {
		if (ber_peek(d, &t))
			return d->err.err;
		return ber_fail(d, t.off, "unexpected %s after the end",
				ber_tag_name(t.tag, got, sizeof(got)));
	}
	return 0;
}

int ber_frame(const void *buf, size_t len, size_t max, size_t base, size_t *total,
	      struct ber_err *e)
{
	uint64_t clen;
	uint32_t tag;
	size_t hdr;
	int ret;

	e->err = 0; /* a fresh verdict each call, unlike a decoder's sticky error */
	ret = parse_header(buf, len, base, true, "the input", e, &tag, &hdr, &clen);
	if (ret <= 0)
		return ret;
	if (hdr > max || clen > max - hdr) {
		char name[48];

		return err_at(e, base, "%s of %" PRIu64 " octets is longer than the limit of %zu",
			      ber_tag_name(tag, name, sizeof(name)), clen + hdr, max);
	}
	*total = hdr + (size_t)clen;
	return 1;
}

/* The names of the PDUs in @allowed, ", " between them. */
static void pdu_list(unsigned int allowed, const char *(*name)(unsigned int), char *buf, size_t len)
{
	size_t n = 0;

	buf[0] = 0;
	for (unsigned int i = 0; i < 32 && n < len; i++) {
		if (!(allowed & (1u << i)) || !strcmp(name(i), "?"))
			continue;
		n += (size_t)snprintf(buf + n, len - n, "%s%s", n ? ", " : "", name(i));
	}
}

int ber_pdu_begin(struct ber_dec *d, const void *buf, size_t len, size_t base, unsigned int allowed,
		  const char *(*name)(unsigned int), const char *protocol, uint32_t *num)
{
	char got[48], list[200];
	struct ber_tlv t;
	bool known;
	int ret;

	ber_dec_init(d, buf, len, base);
	ret = ber_peek(d, &t);
	if (ret)
		return ret;
	*num = BER_TAG_NUMBER(t.tag);
	known = BER_TAG_CLASS(t.tag) == BER_APPLICATION && BER_TAG_CONSTRUCTED(t.tag) &&
		*num < 32 && strcmp(name(*num), "?");
	if (known && (allowed & (1u << *num)))
		return 0;
	pdu_list(allowed, name, list, sizeof(list));
	if (known)
		return ber_fail(d, t.off, "expected one of %s; got %s", list, name(*num));
	return ber_fail(d, t.off, "expected one of %s; got %s (not a PDU of %s)", list,
			ber_tag_name(t.tag, got, sizeof(got)), protocol);
}
