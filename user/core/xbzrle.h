/* SPDX-License-Identifier: MIT */
/*
 * XBZRLE (XOR-based zero run length encoding, QEMU's page delta format):
 * the difference between the copy of a page the receiver holds and its new
 * contents, as pairs of a zero run (bytes that did not change) and a
 * non-zero run (bytes that did, followed by their new values):
 *
 *   delta = *( zrun nzrun )
 *   zrun  = length             (unchanged bytes; 0 only in the first pair)
 *   nzrun = length byte...     (length >= 1 new bytes)
 *   length = ULEB128
 *
 * The unchanged bytes after the last non-zero run are not encoded, so a
 * page that did not change is the empty delta.
 */
#ifndef FERRY_XBZRLE_H
#define FERRY_XBZRLE_H

#include <stddef.h>
#include <stdint.h>

/*
 * xbzrle_encode - the delta from @old to @new (@len bytes each) into @out
 * (at most @cap bytes). Returns its length (0: no change), or -ENOSPC when
 * it would not fit in @cap (then the page is better sent whole).
 */
long xbzrle_encode(const uint8_t *old, const uint8_t *new, size_t len, uint8_t *out, size_t cap);

/*
 * xbzrle_check - is @delta (@dlen bytes) a well-formed delta for a page of
 * @len bytes? Returns 0, or -EBADMSG with *@bad the offset in @delta of the
 * length or run at fault and @why a static reason ("runs past the page"...).
 */
int xbzrle_check(const uint8_t *delta, size_t dlen, size_t len, size_t *bad, const char **why);

/*
 * xbzrle_apply - apply @delta to @page (@len bytes, the receiver's copy),
 * which becomes the new contents. Checks first as xbzrle_check (the page
 * is untouched on -EBADMSG).
 */
int xbzrle_apply(const uint8_t *delta, size_t dlen, uint8_t *page, size_t len, size_t *bad,
		 const char **why);

#endif
