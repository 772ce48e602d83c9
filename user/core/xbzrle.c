// SPDX-License-Identifier: MIT
/* XBZRLE page deltas (xbzrle.h). */
#include <errno.h>
#include <string.h>

#include "xbzrle.h"

/* Append @v as ULEB128; 0 if it does not fit. */
static size_t put_uleb(uint8_t *out, size_t room, uint64_t v)
{
	size_t n = 0;

	do {
		uint8_t b = v & 0x7f;

		v >>= 7;
		if (n == room)
			return 0;
		out[n++] = b | (v ? 0x80 : 0);
	} while (v);
	return n;
}

/* Read a ULEB128 at @p (@room bytes): its size, 0 if cut or longer than 32 bits' worth. */
static size_t get_uleb(const uint8_t *p, size_t room, uint64_t *v)
{
	uint64_t x = 0;

	for (size_t n = 0; n < room && n < 5; n++) {
		x |= (uint64_t)(p[n] & 0x7f) << (7 * n);
		if (!(p[n] & 0x80)) {
			*v = x;
			return n + 1;
		}
	}
	return 0;
}

long xbzrle_encode(const uint8_t *old, const uint8_t *new, size_t len, uint8_t *out, size_t cap)
{
	size_t i = 0, d = 0;

	while (i < len) {
		size_t z = i, nz, n;

		while (i < len && old[i] == new[i])
			i++;
		if (i == len)
			break; /* the unchanged tail is not encoded */
		nz = i;
		/* A changed run ends at two equal bytes in a row (one costs less inside it). */
		while (i < len && (old[i] != new[i] || (i + 1 < len && old[i + 1] != new[i + 1])))
			i++;
		n = put_uleb(out + d, cap - d, nz - z);
		if (!n)
			return -ENOSPC;
		d += n;
		n = put_uleb(out + d, cap - d, i - nz);
		if (!n || cap - d - n < i - nz)
			return -ENOSPC;
		d += n;
		memcpy(out + d, new + nz, i - nz);
		d += i - nz;
	}
	return (long)d;
}

int xbzrle_check(const uint8_t *delta, size_t dlen, size_t len, size_t *bad, const char **why)
{
	size_t pos = 0, at = 0;

	while (pos < dlen) {
		uint64_t z, nz;
		size_t n = get_uleb(delta + pos, dlen - pos, &z);

		*bad = pos;
		if (!n) {
			*why = "a zero-run length is cut or too long";
			return -EBADMSG;
		}
		if (!z && pos) {
			*why = "an empty zero run after the first pair";
			return -EBADMSG;
		}
		if (z > len - at) {
			*why = "the zero run goes past the end of the page";
			return -EBADMSG;
		}
		at += z;
		pos += n;
		*bad = pos;
		n = get_uleb(delta + pos, dlen - pos, &nz);
		if (!n) {
			*why = "a non-zero-run length is missing, cut or too long";
			return -EBADMSG;
		}
		if (!nz) {
			*why = "an empty non-zero run";
			return -EBADMSG;
		}
		if (nz > len - at) {
			*why = "the non-zero run goes past the end of the page";
			return -EBADMSG;
		}
		if (nz > dlen - pos - n) {
			*why = "the non-zero run's bytes go past the end of the delta";
			return -EBADMSG;
		}
		at += nz;
		pos += n + nz;
	}
	return 0;
}

int xbzrle_apply(const uint8_t *delta, size_t dlen, uint8_t *page, size_t len, size_t *bad,
		 const char **why)
{
	size_t pos = 0, at = 0;
	int err = xbzrle_check(delta, dlen, len, bad, why);

	while (!err && pos < dlen) {
		uint64_t z = 0, nz = 0;

		pos += get_uleb(delta + pos, dlen - pos, &z);
		at += z;
		pos += get_uleb(delta + pos, dlen - pos, &nz);
		memcpy(page + at, delta + pos, nz);
		at += nz;
		pos += nz;
	}
	return err;
}
