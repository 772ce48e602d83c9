// SPDX-License-Identifier: MIT
/*
 * XBZRLE (user/core/xbzrle.c) and its place in the migration stream:
 * round trips of random pages with a few bytes changed, all changed, none
 * changed; malformed and overrunning deltas refused with their offset, by
 * the codec and by the stream decoder (the stream offset of the octet at
 * fault); deltas refused when the hello did not agree on them; the hello's
 * negotiation (MigrationHello asks, Ready answers); the sender's cache
 * (user/migrate/migrate_cache.c) and the destination's index of copies
 * (restore/migrate/migrate_copies.c).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "migrate_cache.h"
#include "migrate_copies.h"
#include "migrate_wire.h"
#include "xbzrle.h"

#define PG MIG_PAGE_SIZE

static void random_page(uint8_t *p, unsigned int *seed)
{
	for (size_t i = 0; i < PG; i++)
		p[i] = (uint8_t)rand_r(seed);
}

/* Encode new against old, apply to a copy of old: it must become new. Returns the length. */
static long round_trip(const uint8_t *old, const uint8_t *new, size_t cap)
{
	uint8_t *delta = malloc(cap), copy[PG];
	const char *why = "";
	size_t bad = 0;
	long n = xbzrle_encode(old, new, PG, delta, cap);

	if (n >= 0) {
		memcpy(copy, old, PG);
		cr_assert_eq(xbzrle_check(delta, (size_t)n, PG, &bad, &why), 0,
			     "own delta refused at %zu: %s", bad, why);
		cr_assert_eq(xbzrle_apply(delta, (size_t)n, copy, PG, &bad, &why), 0);
		cr_assert_eq(memcmp(copy, new, PG), 0, "the delta does not rebuild the page");
	}
	free(delta);
	return n;
}

Test(xbzrle, few_bytes_changed)
{
	unsigned int seed = 20;
	uint8_t old[PG], new[PG];

	for (int t = 0; t < 500; t++) {
		int changes = 1 + rand_r(&seed) % 32;
		long n;

		random_page(old, &seed);
		memcpy(new, old, PG);
		for (int c = 0; c < changes; c++) {
			size_t at = (size_t)rand_r(&seed) % PG;

			new[at] = (uint8_t)(old[at] + 1 + rand_r(&seed) % 255);
		}
		n = round_trip(old, new, MIG_MAX_XBZRLE);
		cr_assert_gt(n, 0);
		/* Each changed byte costs at most itself and two lengths of <= 2 octets. */
		cr_assert_leq(n, changes * 5, "%d changes took %ld octets", changes, n);
	}
}

Test(xbzrle, word_at_offset_64)
{
	uint8_t old[PG] = { 0 }, new[PG] = { 0 };
	uint8_t want[] = { 64, 8, 1, 2, 3, 4, 5, 6, 7, 8 };
	uint8_t delta[64];

	for (int i = 0; i < 8; i++)
		new[64 + i] = (uint8_t)(i + 1);
	cr_assert_eq(xbzrle_encode(old, new, PG, delta, sizeof(delta)), (long)sizeof(want));
	cr_assert_eq(memcmp(delta, want, sizeof(want)), 0, "not QEMU's layout");
}

Test(xbzrle, all_changed)
{
	unsigned int seed = 7;
	uint8_t old[PG], new[PG];

	random_page(old, &seed);
	for (size_t i = 0; i < PG; i++)
		new[i] = (uint8_t)~old[i];
	/* Longer than a page: the page goes whole. */
	cr_assert_eq(xbzrle_encode(old, new, PG, (uint8_t[MIG_MAX_XBZRLE]){ 0 }, MIG_MAX_XBZRLE),
		     -ENOSPC);
	/* With room it still round-trips: one pair, 0 then 4096. */
	cr_assert_eq(round_trip(old, new, 2 * PG), PG + 3);
	/* Every other byte changed: one run, still over a page. */
	memcpy(new, old, PG);
	for (size_t i = 0; i < PG; i += 2)
		new[i] ^= 0x55;
	cr_assert_eq(round_trip(old, new, MIG_MAX_XBZRLE), -ENOSPC);
	cr_assert_gt(round_trip(old, new, 2 * PG), 0);
}

Test(xbzrle, none_changed)
{
	unsigned int seed = 3;
	uint8_t old[PG], copy[PG], d[4];
	const char *why = "";
	size_t bad = 0;

	random_page(old, &seed);
	cr_assert_eq(xbzrle_encode(old, old, PG, d, sizeof(d)), 0);
	memcpy(copy, old, PG);
	cr_assert_eq(xbzrle_apply(d, 0, copy, PG, &bad, &why), 0);
	cr_assert_eq(memcmp(copy, old, PG), 0);
}

/* A delta that runs past its page is refused at the length at fault; the page is untouched. */
Test(xbzrle, overrun_refused_with_offset)
{
	/* zero run 4000 (0xa0 0x1f), non-zero run 200 (0xc8 0x01) + 200 bytes: past 4096. */
	uint8_t d[4 + 200] = { 0xa0, 0x1f, 0xc8, 0x01 };
	uint8_t zrun_past[] = { 0x81, 0x20, 0x01, 0xff };	   /* zero run 4097 */
	uint8_t cut[] = { 0x00, 0x05, 1, 2 };			   /* 5 bytes announced, 2 there */
	uint8_t empty_nz[] = { 0x04, 0x00 };			   /* a non-zero run of 0 */
	uint8_t zero_z[] = { 0x00, 0x01, 0xaa, 0x00, 0x01, 0xbb }; /* a second zero run of 0 */
	uint8_t long_len[] = { 0x00, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01 };
	uint8_t page[PG] = { 0 }, zero[PG] = { 0 };
	const char *why = "";
	size_t bad = 99;

	memset(d + 4, 0xee, 200);
	cr_assert_eq(xbzrle_apply(d, sizeof(d), page, PG, &bad, &why), -EBADMSG);
	cr_assert_eq(bad, 2, "offset %zu: %s", bad, why);
	cr_assert(strstr(why, "past the end of the page"), "%s", why);
	cr_assert_eq(memcmp(page, zero, PG), 0, "a refused delta changed the page");
	cr_assert_eq(xbzrle_check(zrun_past, sizeof(zrun_past), PG, &bad, &why), -EBADMSG);
	cr_assert_eq(bad, 0);
	cr_assert_eq(xbzrle_check(cut, sizeof(cut), PG, &bad, &why), -EBADMSG);
	cr_assert_eq(bad, 1);
	cr_assert(strstr(why, "end of the delta"), "%s", why);
	cr_assert_eq(xbzrle_check(empty_nz, sizeof(empty_nz), PG, &bad, &why), -EBADMSG);
	cr_assert_eq(bad, 1);
	cr_assert_eq(xbzrle_check(zero_z, sizeof(zero_z), PG, &bad, &why), -EBADMSG);
	cr_assert_eq(bad, 3);
	cr_assert_eq(xbzrle_check(long_len, sizeof(long_len), PG, &bad, &why), -EBADMSG);
	cr_assert_eq(bad, 1);
	/* A zero run alone (no non-zero run after it) is cut. */
	cr_assert_eq(xbzrle_check(d, 2, PG, &bad, &why), -EBADMSG);
	cr_assert_eq(bad, 2);
}

static size_t find(const struct ber_enc *e, const void *needle, size_t len)
{
	const uint8_t *at = memmem(e->buf, e->len, needle, len);

	cr_assert(at, "not in the PDU");
	return (size_t)(at - e->buf);
}

Test(xbzrle, in_the_stream)
{
	uint8_t good[] = { 0x40, 0x08, 1, 2, 3, 4, 5, 6, 7, 8 };
	uint8_t over[] = { 0xa0, 0x1f, 0xc8, 0x01, 0x77, 0x77 };
	uint8_t page[PG];
	struct ber_err err = { 0 };
	struct mig_page_item it;
	struct ber_enc e;
	struct mig_pdu p;
	size_t pos = 0, at;
	int n = 0;

	memset(page, 0x42, sizeof(page));
	ber_enc_init(&e);
	cr_assert_eq(mig_enc_pages_open(&e, 3, 10), 0);
	cr_assert_eq(mig_enc_page_full(&e, page), 0);
	cr_assert_eq(mig_enc_page_xbzrle(&e, good, sizeof(good)), 0);
	cr_assert_eq(mig_enc_page_xbzrle(&e, NULL, 0), 0); /* unchanged */
	cr_assert_eq(mig_enc_page_zeros(&e, 5), 0);
	cr_assert_eq(mig_enc_pages_close(&e), 0);
	cr_assert_eq(mig_decode(e.buf, e.len, 0, MIG_FROM_SOURCE | MIG_ALLOW_XBZRLE, &p, &err), 0,
		     "%zu: %s", err.off, err.msg);
	cr_assert_eq(p.pages.nr_pages, 8);
	cr_assert_eq(p.pages.nr_items, 4);
	while (mig_pages_next(&p, &pos, &it)) {
		if (n == 1) {
			cr_assert_eq(it.kind, MIG_PAGE_XBZRLE);
			cr_assert_eq(it.len, sizeof(good));
			cr_assert_eq(memcmp(it.data, good, sizeof(good)), 0);
		}
		if (n == 2)
			cr_assert(it.kind == MIG_PAGE_XBZRLE && it.len == 0 && it.count == 1);
		n++;
	}
	cr_assert_eq(n, 4);
	/* Not agreed on in the hello: refused at the element. */
	err = (struct ber_err){ 0 };
	cr_assert_eq(mig_decode(e.buf, e.len, 0, MIG_FROM_SOURCE, &p, &err), -EBADMSG);
	cr_assert(strstr(err.msg, "XBZRLE"), "%s", err.msg);
	cr_assert_eq(err.off, find(&e, good, sizeof(good)) - 2);
	ber_enc_reset(&e);

	/* An overrun, at stream offset 1000: the offset of its non-zero run's length. */
	cr_assert_eq(mig_enc_pages_open(&e, 0, 0), 0);
	cr_assert_eq(mig_enc_page_xbzrle(&e, over, sizeof(over)), 0);
	cr_assert_eq(mig_enc_pages_close(&e), 0);
	at = find(&e, over, sizeof(over));
	err = (struct ber_err){ 0 };
	cr_assert_eq(mig_decode(e.buf, e.len, 1000, MIG_FROM_SOURCE | MIG_ALLOW_XBZRLE, &p, &err),
		     -EBADMSG);
	cr_assert_eq(err.off, 1000 + at + 2, "offset %zu, expected %zu: %s", err.off, 1000 + at + 2,
		     err.msg);
	cr_assert(strstr(err.msg, "past the end of the page"), "%s", err.msg);
	ber_enc_reset(&e);
	/* A delta of a page or more is outside the schema. */
	cr_assert_eq(mig_enc_page_xbzrle(&e, page, PG), -EINVAL);
	ber_enc_free(&e);
}

Test(xbzrle, hello_negotiation)
{
	struct ber_err err = { 0 };
	struct ber_enc e;
	struct mig_pdu p;

	ber_enc_init(&e);
	cr_assert_eq(mig_enc_hello_xbzrle(&e, 1, NULL), -EINVAL, "version 1 has no XBZRLE");
	ber_enc_reset(&e);
	cr_assert_eq(mig_enc_hello_xbzrle(&e, MIG_WIRE_VERSION, NULL), 0);
	cr_assert_eq(mig_decode(e.buf, e.len, 0, MIG_FROM_SOURCE, &p, &err), 0, "%s", err.msg);
	cr_assert(p.type == MIG_HELLO && p.xbzrle && p.hello.version == 2);
	ber_enc_reset(&e);
	cr_assert_eq(mig_enc_hello(&e, 1, NULL), 0);
	cr_assert_eq(mig_decode(e.buf, e.len, 0, MIG_FROM_SOURCE, &p, &err), 0, "%s", err.msg);
	cr_assert(!p.xbzrle && p.hello.version == 1);
	ber_enc_reset(&e);
	/* Ready says yes or no; the page server's own decoder still reads it (extension). */
	for (int yes = 0; yes < 2; yes++) {
		struct ps_pdu q;

		cr_assert_eq(mig_enc_ready(&e, yes), 0);
		cr_assert_eq(mig_decode(e.buf, e.len, 0, MIG_FROM_DEST, &p, &err), 0, "%s",
			     err.msg);
		cr_assert(p.type == MIG_READY && p.xbzrle == yes);
		cr_assert_eq(ps_decode(e.buf, e.len, 0, 1u << PS_READY, &q, &err), 0, "%s",
			     err.msg);
		ber_enc_reset(&e);
	}
	cr_assert_eq(ps_enc_ready(&e, 0), 0);
	cr_assert_eq(mig_decode(e.buf, e.len, 0, MIG_FROM_DEST, &p, &err), 0, "%s", err.msg);
	cr_assert(!p.xbzrle, "a plain Ready (version 1) accepts nothing");
	ber_enc_free(&e);
}

Test(xbzrle, sender_cache)
{
	struct mcache c;
	uint8_t a[PG], b[PG];
	const uint8_t *got;

	memset(a, 1, PG);
	memset(b, 2, PG);
	cr_assert_eq(mcache_init(&c, 2 * PG), 0);
	cr_assert_null(mcache_get(&c, 10, 0x1000));
	mcache_update(&c, 10, 0x1000, a); /* not cached: stays out */
	cr_assert_null(mcache_get(&c, 10, 0x1000));
	mcache_put(&c, 10, 0x1000, a);
	got = mcache_get(&c, 10, 0x1000);
	cr_assert(got && !memcmp(got, a, PG));
	cr_assert_null(mcache_get(&c, 11, 0x1000), "another pid's page");
	mcache_update(&c, 10, 0x1000, b);
	got = mcache_get(&c, 10, 0x1000);
	cr_assert(got && !memcmp(got, b, PG));
	/* Two slots, many pages: some evict others, none comes back wrong. */
	for (uint64_t i = 0; i < 64; i++) {
		memset(a, (int)i, PG);
		mcache_put(&c, 10, 0x100000 + i * PG, a);
	}
	cr_assert_gt(c.evictions, 0);
	for (uint64_t i = 0; i < 64; i++) {
		got = mcache_get(&c, 10, 0x100000 + i * PG);
		if (got)
			cr_assert_eq(got[100], (uint8_t)i);
	}
	mcache_free(&c);
}

Test(xbzrle, destination_copies)
{
	char path[] = "/tmp/ferry-copies-XXXXXX";
	struct mcopies c = { 0 };
	uint8_t page[PG], back[PG];
	uint32_t f;
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	unlink(path);
	cr_assert_eq(mcopies_add_file(&c, fd, &f), 0);
	cr_assert_eq(mcopies_read(&c, 5, 0x7000, back), -ENOENT);
	for (uint64_t i = 0; i < 10000; i++) {
		memset(page, (int)(i * 7), PG);
		cr_assert_eq(pwrite(fd, page, PG, (off_t)(i * PG)), (ssize_t)PG);
		cr_assert_eq(mcopies_put(&c, 5, 0x7000 + i * PG, f, i * PG), 0);
	}
	/* A later copy replaces the earlier one; a hole past the end reads zeros. */
	cr_assert_eq(mcopies_put(&c, 5, 0x7000, f, 42 * PG), 0);
	cr_assert_eq(mcopies_read(&c, 5, 0x7000, back), 0);
	cr_assert_eq(back[0], (uint8_t)(42 * 7));
	cr_assert_eq(mcopies_read(&c, 5, 0x7000 + 9999 * PG, back), 0);
	cr_assert_eq(back[1], (uint8_t)(9999 * 7));
	cr_assert_eq(mcopies_put(&c, 6, 0x7000, f, 20000 * PG), 0);
	memset(back, 1, PG);
	cr_assert_eq(mcopies_read(&c, 6, 0x7000, back), 0);
	cr_assert_eq(back[4095], 0);
	cr_assert_eq(c.used, 10001);
	mcopies_free(&c);
	close(fd);
}

/* The version 2 PDUs decode against the module (docs/pageserver.asn1) with asn1Decoding. */
Test(xbzrle, schema_asn1decoding)
{
	uint8_t delta[] = { 0x40, 0x08, 1, 2, 3, 4, 5, 6, 7, 8 }, proof[PS_PROOF_SIZE] = { 7 };
	static const char *const type[] = { "FerryWire.SourcePdu", "FerryWire.DestinationPdu",
					    "FerryWire.SourcePdu" };
	static const char *const want[] = { "name:xbzrle", "name:xbzrle", "name:xbzrle" };
	char *dir, path[4096], schema[4096], *out = NULL, *err = NULL;
	const char *b = getenv("FERRY_BUILD");
	struct ber_enc e;
	int rc;

	if (t_run(NULL, NULL, "command -v asn1Decoding"))
		cr_skip_test("asn1Decoding is not installed (Debian package libtasn1-bin)");
	snprintf(path, sizeof(path), "%s/../docs/pageserver.asn1", b ? b : ".");
	cr_assert(realpath(path, schema) || realpath("docs/pageserver.asn1", schema),
		  "docs/pageserver.asn1 not found (set FERRY_BUILD)");
	dir = t_tmpdir();
	ber_enc_init(&e);
	for (int i = 0; i < 3; i++) {
		ber_enc_reset(&e);
		if (i == 0) {
			cr_assert_eq(mig_enc_hello_xbzrle(&e, MIG_WIRE_VERSION, proof), 0);
		} else if (i == 1) {
			cr_assert_eq(mig_enc_ready(&e, true), 0);
		} else {
			cr_assert_eq(mig_enc_pages_open(&e, 0, 1), 0);
			cr_assert_eq(mig_enc_page_xbzrle(&e, delta, sizeof(delta)), 0);
			cr_assert_eq(mig_enc_page_xbzrle(&e, NULL, 0), 0);
			cr_assert_eq(mig_enc_pages_close(&e), 0);
		}
		snprintf(path, sizeof(path), "%s/pdu%d.der", dir, i);
		cr_assert_eq(t_write_file(path, e.buf, e.len), 0);
		rc = t_run(&out, &err, "asn1Decoding %s %s %s", schema, path, type[i]);
		cr_assert_eq(rc, 0, "asn1Decoding of %s failed: %s%s", type[i], out ? out : "",
			     err ? err : "");
		cr_assert(out && err && strstr(err, "Decoding: SUCCESS") && strstr(out, want[i]),
			  "%s: %s%s", type[i], out ? out : "", err ? err : "");
		free(out);
		free(err);
	}
	ber_enc_free(&e);
	t_rmrf(dir);
	free(dir);
}
