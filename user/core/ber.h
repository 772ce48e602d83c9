/* SPDX-License-Identifier: MIT */
/*
 * A small BER codec (ITU-T X.690) for ferry's wire formats: the page server
 * protocol (docs/pageserver.asn1) and, later, the migration stream.
 *
 * The encoder appends to a growable buffer and writes only definite,
 * minimal lengths and minimal INTEGERs, so what it writes is also DER for the
 * types ferry uses. The decoder is a strict cursor over a bounded buffer: it
 * never reads outside it and refuses anything a DER-like peer would not send:
 * indefinite lengths, lengths not in their shortest form or longer than
 * 8 octets, a length that runs past the enclosing element, tag numbers above
 * 2^28 or not in their shortest form, INTEGERs that are empty or not minimal,
 * BOOLEANs other than 0x00/0xff, UTF8Strings that are not UTF-8.
 *
 * Every decoding error returns -EBADMSG and records, once, the stream offset
 * of the offending octet and a message of the form "expected INTEGER, got
 * [APPLICATION 16]", which callers prefix with their context:
 *   pr_err("%s: bad BER at offset %zu: %s", peer, d.err.off, d.err.msg);
 */
#ifndef FERRY_BER_H
#define FERRY_BER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Tag classes (X.690 8.1.2.2). */
enum ber_class {
	BER_UNIVERSAL = 0,
	BER_APPLICATION = 1,
	BER_CONTEXT = 2,
	BER_PRIVATE = 3,
};

/* The largest tag number the decoder accepts (and the encoder writes). */
#define BER_MAX_TAG_NUMBER (1u << 28)
/* The deepest nesting of constructed elements either side handles. */
#define BER_MAX_DEPTH 16
/* The most octets a long-form length may have. */
#define BER_MAX_LEN_OCTETS 8

/*
 * A tag as one number: class in bits 31-30, constructed in bit 29, the tag
 * number (0 .. 2^28) in bits 28-0.
 */
#define BER_TAG(cls, cons, num) \
	((uint32_t)(cls) << 30 | (uint32_t)((cons) ? 1 : 0) << 29 | (uint32_t)(num))
#define BER_TAG_CLASS(t) ((unsigned int)((t) >> 30))
#define BER_TAG_CONSTRUCTED(t) ((unsigned int)(((t) >> 29) & 1))
#define BER_TAG_NUMBER(t) ((uint32_t)(t) & ((1u << 29) - 1))

#define BER_BOOLEAN BER_TAG(BER_UNIVERSAL, 0, 1)
#define BER_INTEGER BER_TAG(BER_UNIVERSAL, 0, 2)
#define BER_OCTET_STRING BER_TAG(BER_UNIVERSAL, 0, 4)
#define BER_NULL BER_TAG(BER_UNIVERSAL, 0, 5)
#define BER_ENUMERATED BER_TAG(BER_UNIVERSAL, 0, 10)
#define BER_UTF8STRING BER_TAG(BER_UNIVERSAL, 0, 12)
#define BER_SEQUENCE BER_TAG(BER_UNIVERSAL, 1, 16)
#define BER_APP(n) BER_TAG(BER_APPLICATION, 1, (n)) /* constructed */
#define BER_CTX(n) BER_TAG(BER_CONTEXT, 0, (n))	    /* primitive */
#define BER_CTX_CONS(n) BER_TAG(BER_CONTEXT, 1, (n))

/*
 * ber_tag_name - "INTEGER", "SEQUENCE", "[APPLICATION 16]", "[2]",
 * "[PRIVATE 7]", "[UNIVERSAL 20]" into @buf (NUL-terminated, truncated at
 * @len). Returns @buf.
 */
const char *ber_tag_name(uint32_t tag, char *buf, size_t len);

/* ---- encoder ------------------------------------------------------------- */

struct ber_enc {
	uint8_t *buf;
	size_t len, cap;
	/* ber_begin(): where each open element's length octet is */
	size_t open[BER_MAX_DEPTH];
	unsigned int depth;
	/* the first error (-ENOMEM, -EOVERFLOW, -EINVAL); every later call returns it */
	int err;
};

/* ber_enc_init - an empty encoder; ber_enc_free() releases its buffer. */
void ber_enc_init(struct ber_enc *e);
void ber_enc_free(struct ber_enc *e);
/* ber_enc_reset - forget the contents and any error, keep the buffer. */
void ber_enc_reset(struct ber_enc *e);

/*
 * All writers append to e->buf and return 0 or the encoder's first error:
 * -ENOMEM, -EOVERFLOW (a length or nesting beyond what BER_MAX_* allow),
 * -EINVAL (a tag number above BER_MAX_TAG_NUMBER, ber_end() with nothing open).
 */
/* ber_put_header - identifier and length octets of an element of @len content octets. */
int ber_put_header(struct ber_enc *e, uint32_t tag, size_t len);
/* ber_put_raw - @len octets as they are (contents after a ber_put_header()). */
int ber_put_raw(struct ber_enc *e, const void *p, size_t len);
/* ber_put_int / ber_put_uint - an INTEGER-encoded value (minimal two's complement). */
int ber_put_int(struct ber_enc *e, uint32_t tag, int64_t v);
int ber_put_uint(struct ber_enc *e, uint32_t tag, uint64_t v);
int ber_put_bool(struct ber_enc *e, uint32_t tag, bool v);
int ber_put_octets(struct ber_enc *e, uint32_t tag, const void *p, size_t len);
/* ber_put_utf8 - @len octets of UTF-8 (not checked: the caller writes its own text). */
int ber_put_utf8(struct ber_enc *e, uint32_t tag, const char *s, size_t len);
/*
 * ber_begin / ber_end - a constructed element whose length is patched in by
 * ber_end() (its contents are moved if the length needs the long form).
 */
int ber_begin(struct ber_enc *e, uint32_t tag);
int ber_end(struct ber_enc *e);
/* ber_enc_finish - 0 if no error happened and no element is left open, else -errno. */
int ber_enc_finish(struct ber_enc *e);

/* Sizes, for writers that compute a length before the contents (two-pass). */
size_t ber_header_size(uint32_t tag, size_t len);
size_t ber_int_size(int64_t v);	  /* content octets of an INTEGER */
size_t ber_uint_size(uint64_t v); /* content octets of an unsigned INTEGER */

/* ---- decoder ------------------------------------------------------------- */

struct ber_err {
	int err;    /* 0, or -EBADMSG once an error was recorded */
	size_t off; /* stream offset of the offending octet */
	char msg[160];
};

/* One element: its tag and where its contents are. */
struct ber_tlv {
	uint32_t tag;
	size_t off;	    /* stream offset of the identifier octet */
	size_t hdr_len;	    /* identifier + length octets */
	size_t len;	    /* content octets */
	const uint8_t *val; /* the contents, inside the decoder's buffer */
};

struct ber_dec {
	const uint8_t *buf;
	size_t pos;  /* cursor, index into buf */
	size_t end;  /* end of the innermost entered element (or of buf) */
	size_t base; /* stream offset of buf[0], for messages */
	size_t ends[BER_MAX_DEPTH];
	const char *what[BER_MAX_DEPTH]; /* names of the entered elements */
	unsigned int depth;
	struct ber_err err;
};

/*
 * ber_dec_init - decode @len octets at @buf; @base is the stream offset of
 * @buf[0] (0, or where this PDU starts in a connection's byte stream), so
 * that error offsets match a capture of the stream.
 */
void ber_dec_init(struct ber_dec *d, const void *buf, size_t len, size_t base);

/*
 * The readers below return 0 or -EBADMSG (with d->err filled the first time).
 * @what names the expected element in the message ("PageRequest.count"); if
 * NULL the tag's name is used. Names given to ber_enter() are kept by pointer
 * (use literals). After an error every reader fails the same way.
 */

/* ber_peek - the header at the cursor, without moving; -EBADMSG at the end of the element too. */
int ber_peek(struct ber_dec *d, struct ber_tlv *t);
/* ber_more - 1 if the innermost element has more contents, 0 at its end (or after an error). */
int ber_more(const struct ber_dec *d);
/*
 * ber_next_is - 1 if the next element has tag @tag, 0 if not or at the end of
 * the innermost element, -EBADMSG if the header there is malformed.
 */
int ber_next_is(struct ber_dec *d, uint32_t tag);
/* ber_next - the next element (any tag); the cursor moves past it. */
int ber_next(struct ber_dec *d, struct ber_tlv *t);
/* ber_expect - the next element, which must have tag @tag. */
int ber_expect(struct ber_dec *d, uint32_t tag, const char *what, struct ber_tlv *t);
/* ber_skip - step over the next element, whatever it is. */
int ber_skip(struct ber_dec *d);
/* ber_enter - step into the next element (tag @tag, constructed). */
int ber_enter(struct ber_dec *d, uint32_t tag, const char *what);
/*
 * ber_leave - step out of the innermost entered element. Elements left in it
 * are skipped when @extensible (a later version's additions at the end of a
 * SEQUENCE, see docs/page-server.md), else refused.
 */
int ber_leave(struct ber_dec *d, bool extensible);
/* ber_get_int - an INTEGER-encoded element with tag @tag, @min <= value <= @max. */
int ber_get_int(struct ber_dec *d, uint32_t tag, const char *what, int64_t min, int64_t max,
		int64_t *v);
/* ber_get_uint - the same for non-negative values up to 2^64 - 1. */
int ber_get_uint(struct ber_dec *d, uint32_t tag, const char *what, uint64_t min, uint64_t max,
		 uint64_t *v);
int ber_get_bool(struct ber_dec *d, uint32_t tag, const char *what, bool *v);
/* ber_get_octets - *@p points into the input; @min <= length <= @max. */
int ber_get_octets(struct ber_dec *d, uint32_t tag, const char *what, size_t min, size_t max,
		   const uint8_t **p, size_t *len);
/* ber_get_utf8 - as ber_get_octets, and the contents must be well-formed UTF-8. */
int ber_get_utf8(struct ber_dec *d, uint32_t tag, const char *what, size_t max, const char **p,
		 size_t *len);
/*
 * ber_fail - record an error found by the caller (a value that decodes but
 * is wrong) at stream offset @off; returns -EBADMSG. The first error wins.
 */
int ber_fail(struct ber_dec *d, size_t off, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* ber_done - 0 if the whole buffer was consumed with nothing left open, else -EBADMSG. */
int ber_done(struct ber_dec *d);

/*
 * ber_frame - for a receive buffer: how long is the element that starts at
 * @buf? Returns 1 and *@total (header + contents) when its header is
 * complete, 0 if more octets are needed to know, -EBADMSG if the header is
 * malformed or announces more than @max octets (with @e filled; @base is the
 * stream offset of @buf[0]). Only the header is looked at.
 */
int ber_frame(const void *buf, size_t len, size_t max, size_t base, size_t *total,
	      struct ber_err *e);

/*
 * ber_pdu_begin - the prelude of a PDU decoder for a protocol whose PDUs are
 * constructed [APPLICATION n] elements, n < 32: start decoding @len octets
 * at @buf (stream offset @base, as ber_dec_init) and read the PDU's tag
 * without moving past it. @name(n) names PDU n, "?" for a number that is
 * not one; @protocol says whose PDUs they are, for the message. A tag that
 * is not a PDU, or a PDU not in the mask @allowed (bit n), is refused at its
 * offset: "expected one of Ready, Error; got Verdict" or "got INTEGER (not a
 * PDU of PROTOCOL)". Returns 0 with *@num, or -EBADMSG (d->err filled).
 */
int ber_pdu_begin(struct ber_dec *d, const void *buf, size_t len, size_t base, unsigned int allowed,
		  const char *(*name)(unsigned int), const char *protocol, uint32_t *num);

#endif
