// SPDX-License-Identifier: MIT
/*
 * The live-migration stream's codec (user/core/migrate_wire.c,
 * migrate_conn.c): every PDU encoded and decoded back; zero runs; what the
 * decoder refuses (truncated, wrong tag, bad lengths and values), each with
 * the offset of the offending octet; the connection over a socketpair; and
 * the schema (docs/pageserver.asn1) decoding what ferry encodes, with
 * libtasn1's asn1Decoding.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"
#include "migrate_wire.h"

#define PG MIG_PAGE_SIZE

static void decode_ok(const struct ber_enc *e, unsigned int allowed, struct mig_pdu *p)
{
	struct ber_err err = { 0 };
	int ret;

	cr_assert_eq(e->err, 0, "encoder error %d", e->err);
	ret = mig_decode(e->buf, e->len, 0, allowed, p, &err);
	cr_assert_eq(ret, 0, "decode failed at offset %zu: %s", err.off, err.msg);
}

/* Decoding @len octets must fail with an offset in [@lo, @hi] and @needle in the message. */
static void decode_fails(const void *buf, size_t len, unsigned int allowed, size_t lo, size_t hi,
			 const char *needle)
{
	struct ber_err err = { 0 };
	struct mig_pdu p;
	int ret = mig_decode(buf, len, 0, allowed, &p, &err);

	cr_assert_eq(ret, -EBADMSG, "decoding %zu octets did not fail (%d)", len, ret);
	cr_assert(err.off >= lo && err.off <= hi, "error offset %zu not in [%zu, %zu]: %s", err.off,
		  lo, hi, err.msg);
	if (needle)
		cr_assert(strstr(err.msg, needle), "message '%s' lacks '%s'", err.msg, needle);
}

static uint8_t *make_pages(uint32_t nr, const char *zero_map)
{
	uint8_t *p = calloc(nr, PG);

	cr_assert(p);
	for (uint32_t i = 0; i < nr; i++)
		if (zero_map[i] != '0')
			memset(p + (size_t)i * PG + 17, 'a' + (int)i, 100);
	return p;
}

Test(migrate_wire, hello_section_area_end_verdict)
{
	uint8_t proof[PS_PROOF_SIZE];
	struct ber_enc e;
	struct mig_pdu p;

	memset(proof, 0x5a, sizeof(proof));
	ber_enc_init(&e);
	mig_enc_hello(&e, MIG_WIRE_VERSION, proof);
	cr_assert_eq(e.buf[0], 'm', "MigrationHello starts with 0x%02x", e.buf[0]);
	decode_ok(&e, MIG_FROM_SOURCE, &p);
	cr_assert_eq(p.type, MIG_HELLO);
	cr_assert_eq(p.hello.version, MIG_WIRE_VERSION);
	cr_assert_eq(p.hello.page_size, PG);
	cr_assert(p.hello.proof && !memcmp(p.hello.proof, proof, sizeof(proof)));

	ber_enc_reset(&e);
	mig_enc_hello(&e, MIG_WIRE_VERSION, NULL);
	decode_ok(&e, MIG_FROM_SOURCE, &p);
	cr_assert_null(p.hello.proof);

	ber_enc_reset(&e);
	mig_enc_section(&e, MIG_SEC_ITERATION, 7);
	cr_assert_eq(e.buf[0], 's');
	decode_ok(&e, MIG_FROM_SOURCE, &p);
	cr_assert_eq(p.type, MIG_SECTION);
	cr_assert_eq(p.section.kind, MIG_SEC_ITERATION);
	cr_assert_eq(p.section.round, 7);

	ber_enc_reset(&e);
	cr_assert_eq(mig_enc_area(&e, 3, 4321, 0x7f0000000000ull, 1ull << 20), 0);
	cr_assert_eq(e.buf[0], 'a');
	decode_ok(&e, MIG_FROM_SOURCE, &p);
	cr_assert_eq(p.area.id, 3);
	cr_assert_eq(p.area.pid, 4321);
	cr_assert_eq(p.area.start, 0x7f0000000000ull);
	cr_assert_eq(p.area.nr_pages, 1ull << 20);

	ber_enc_reset(&e);
	mig_enc_end(&e, 7, 123456);
	cr_assert_eq(e.buf[0], 'z');
	decode_ok(&e, MIG_FROM_SOURCE, &p);
	cr_assert_eq(p.end.round, 7);
	cr_assert_eq(p.end.items, 123456);

	ber_enc_reset(&e);
	mig_enc_verdict(&e, true, 99, "runs");
	cr_assert_eq(e.buf[0], 'v');
	decode_ok(&e, MIG_FROM_DEST, &p);
	cr_assert(p.verdict.ok);
	cr_assert_eq(p.verdict.root, 99);
	cr_assert_eq(p.verdict.msg_len, 4);
	cr_assert(!memcmp(p.verdict.msg, "runs", 4));

	/* The page server's PDUs the stream reuses decode through mig_decode too. */
	ber_enc_reset(&e);
	ps_enc_error(&e, PS_ERR_AUTH_FAILED, "no");
	decode_ok(&e, MIG_FROM_DEST, &p);
	cr_assert_eq(p.type, MIG_ERROR);
	cr_assert_eq(p.ps.error.code, PS_ERR_AUTH_FAILED);

	/* Arguments outside the schema are refused by the encoders. */
	ber_enc_reset(&e);
	cr_assert_eq(mig_enc_area(&e, 0, 1, 0x1001, 1), -EINVAL);
	cr_assert_eq(mig_enc_area(&e, 0, 1, 0x1000, 0), -EINVAL);
	cr_assert_eq(mig_enc_image(&e, "../etc/passwd", "x", 1), -EINVAL);
	cr_assert_eq(mig_enc_image(&e, ".hidden", "x", 1), -EINVAL);
	cr_assert_eq(mig_enc_pages(&e, 0, 0, NULL, 0), -EINVAL);
	ber_enc_free(&e);
}

Test(migrate_wire, image)
{
	static const char data[] = "\x19\x43\x56\x54 some image bytes";
	struct ber_enc e;
	struct mig_pdu p;

	ber_enc_init(&e);
	cr_assert_eq(mig_enc_image(&e, "pstree.img", data, sizeof(data)), 0);
	cr_assert_eq(e.buf[0], 'i');
	decode_ok(&e, MIG_FROM_SOURCE, &p);
	cr_assert_eq(p.type, MIG_IMAGE);
	cr_assert_eq(p.image.name_len, strlen("pstree.img"));
	cr_assert(!memcmp(p.image.name, "pstree.img", p.image.name_len));
	cr_assert_eq(p.image.len, sizeof(data));
	cr_assert(!memcmp(p.image.data, data, sizeof(data)));
	ber_enc_free(&e);
}

/* Full pages one element each, consecutive zero pages one run, in order. */
Test(migrate_wire, pages_zero_runs)
{
	const char *map = "1001110001";
	uint8_t *pages = make_pages(10, map), *back = calloc(10, PG);
	struct mig_page_item it;
	struct ber_enc e;
	struct mig_pdu p;
	size_t pos = 0;
	uint32_t at = 0, items = 0;

	ber_enc_init(&e);
	cr_assert_eq(mig_enc_pages(&e, 2, 40, pages, 10), 0);
	cr_assert_eq(e.buf[0], 'd');
	decode_ok(&e, MIG_FROM_SOURCE, &p);
	cr_assert_eq(p.type, MIG_PAGES);
	cr_assert_eq(p.pages.area, 2);
	cr_assert_eq(p.pages.first, 40);
	cr_assert_eq(p.pages.nr_pages, 10);
	/* 1 | 00 | 111 | 000 | 1: 5 full pages, 2 zero runs. */
	cr_assert_eq(p.pages.nr_items, 7, "%u elements", p.pages.nr_items);
	while (mig_pages_next(&p, &pos, &it)) {
		if (it.kind == MIG_PAGE_FULL) {
			cr_assert_eq(it.count, 1);
			memcpy(back + (size_t)at * PG, it.data, PG);
		} else {
			cr_assert_eq(it.kind, MIG_PAGE_ZEROS);
			cr_assert(it.count == 2 || it.count == 3, "zero run of %u", it.count);
		}
		at += it.count;
		items++;
	}
	cr_assert_eq(items, 7);
	cr_assert_eq(at, 10);
	cr_assert(!memcmp(back, pages, 10 * PG), "the pages did not come back as sent");

	/* A whole Pages of zeros is one element with its count. */
	ber_enc_reset(&e);
	mig_enc_zeros(&e, 0, 0, 1000000);
	cr_assert_lt(e.len, 20, "1000000 zero pages took %zu octets", e.len);
	decode_ok(&e, MIG_FROM_SOURCE, &p);
	cr_assert_eq(p.pages.nr_pages, 1000000);
	cr_assert_eq(p.pages.nr_items, 1);
	ber_enc_free(&e);
	free(pages);
	free(back);
}

/* Every strict prefix of every PDU is refused, with an offset inside what was given. */
Test(migrate_wire, truncated)
{
	uint8_t *pages = make_pages(3, "101");
	struct ber_enc e;

	ber_enc_init(&e);
	mig_enc_pages(&e, 1, 5, pages, 3);
	for (size_t len = 1; len < e.len; len += len < 64 ? 1 : 977)
		decode_fails(e.buf, len, MIG_FROM_SOURCE, 0, len, NULL);
	ber_enc_reset(&e);
	mig_enc_image(&e, "core-1.img", pages, 5000);
	for (size_t len = 1; len < e.len; len += len < 64 ? 1 : 499)
		decode_fails(e.buf, len, MIG_FROM_SOURCE, 0, len, NULL);
	ber_enc_free(&e);
	free(pages);
}

Test(migrate_wire, wrong_tag)
{
	struct ber_enc e;

	ber_enc_init(&e);
	/* A Verdict is not something the source sends. */
	mig_enc_verdict(&e, true, 1, "x");
	decode_fails(e.buf, e.len, MIG_FROM_SOURCE, 0, 0, "got Verdict");
	/* A page server PDU that is not part of the stream. */
	ber_enc_reset(&e);
	ps_enc_page_request(&e, 1, 1, 0x1000, 1);
	decode_fails(e.buf, e.len, MIG_FROM_SOURCE, 0, 0, "not a PDU of the migration stream");
	/* A stream that does not start with a constructed APPLICATION tag: "GET /". */
	decode_fails("GET / HTTP/1.0", 14, MIG_FROM_SOURCE, 0, 0, NULL);
	ber_enc_free(&e);
}

Test(migrate_wire, bad_values)
{
	/* Pages { area 0, first 0, pages { [0] 3 octets } }: a full page must be 4096. */
	static const uint8_t short_page[] = { 0x64, 0x0d, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00,
					      0x30, 0x05, 0x80, 0x03, 0x01, 0x02, 0x03 };
	/* Pages { area 0, first 0, pages { [1] 0 } }: a zero run of no page. */
	static const uint8_t zero_run0[] = { 0x64, 0x0b, 0x02, 0x01, 0x00, 0x02, 0x01,
					     0x00, 0x30, 0x03, 0x81, 0x01, 0x00 };
	/* Pages { area 0, first 0, pages { [2] 1 octet } }: an XBZRLE delta, not in version 1. */
	static const uint8_t xbzrle[] = { 0x64, 0x0b, 0x02, 0x01, 0x00, 0x02, 0x01,
					  0x00, 0x30, 0x03, 0x82, 0x01, 0x00 };
	/* Pages { area 0, first 0, pages { } }: empty. */
	static const uint8_t empty[] = {
		0x64, 0x08, 0x02, 0x01, 0x00, 0x02, 0x01, 0x00, 0x30, 0x00
	};
	/* MemoryArea { id 0, pid 1, start 0x1001, nrPages 1 }: not page aligned. */
	static const uint8_t unaligned[] = { 0x61, 0x0d, 0x02, 0x01, 0x00, 0x02, 0x01, 0x01,
					     0x02, 0x02, 0x10, 0x01, 0x02, 0x01, 0x01 };
	/* Image { name "../x", data '' }: a path. */
	static const uint8_t path_name[] = {
		0x69, 0x08, 0x0c, 0x04, '.', '.', '/', 'x', 0x04, 0x00
	};
	/* Section { kind 4 }: no such kind. */
	static const uint8_t kind3[] = { 0x73, 0x06, 0x0a, 0x01, 0x04, 0x02, 0x01, 0x00 };
	/* EndMark with a length running past the PDU. */
	static const uint8_t long_len[] = { 0x7a, 0x06, 0x02, 0x09, 0x00, 0x02, 0x01, 0x00 };

	decode_fails(short_page, sizeof(short_page), MIG_FROM_SOURCE, 10, 10, "full");
	decode_fails(zero_run0, sizeof(zero_run0), MIG_FROM_SOURCE, 10, 10, "zeros");
	decode_fails(xbzrle, sizeof(xbzrle), MIG_FROM_SOURCE, 10, 10, "XBZRLE");
	decode_fails(empty, sizeof(empty), MIG_FROM_SOURCE, 8, 8, "empty");
	decode_fails(unaligned, sizeof(unaligned), MIG_FROM_SOURCE, 8, 8, "aligned");
	decode_fails(path_name, sizeof(path_name), MIG_FROM_SOURCE, 2, 2, "plain file name");
	decode_fails(kind3, sizeof(kind3), MIG_FROM_SOURCE, 2, 2, "Section.kind");
	decode_fails(long_len, sizeof(long_len), MIG_FROM_SOURCE, 2, 3, NULL);
}

/* The connection: PDUs arrive whole and in order; a peer gone mid-PDU is -ECONNRESET. */
Test(migrate_wire, conn_socketpair)
{
	uint8_t *pages = make_pages(256, "1");
	struct mig_conn a, b;
	struct mig_pdu p;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	mig_conn_init(&a, sv[0], "a");
	mig_conn_init(&b, sv[1], "b");
	b.timeout_ms = 5000;
	mig_enc_section(&a.enc, MIG_SEC_SETUP, 0);
	mig_enc_area(&a.enc, 0, 10, 0x10000, 256);
	cr_assert_eq(mig_send(&a, &a.enc), 0);
	if (fork() == 0) {
		/* A Pages PDU bigger than a socket buffer: the reader gathers it. */
		mig_enc_pages(&a.enc, 0, 0, pages, 256);
		mig_enc_end(&a.enc, 0, 2);
		_exit(mig_send(&a, &a.enc) ? 1 : 0);
	}
	cr_assert_eq(mig_recv(&b, MIG_FROM_SOURCE, &p), 0);
	cr_assert_eq(p.type, MIG_SECTION);
	cr_assert_eq(mig_recv(&b, MIG_FROM_SOURCE, &p), 0);
	cr_assert_eq(p.type, MIG_AREA);
	cr_assert_eq(mig_recv(&b, MIG_FROM_SOURCE, &p), 0);
	cr_assert_eq(p.type, MIG_PAGES);
	cr_assert_eq(p.pages.nr_pages, 256);
	cr_assert_eq(mig_recv(&b, MIG_FROM_SOURCE, &p), 0);
	cr_assert_eq(p.type, MIG_END);
	/* Half a PDU, then the end of the stream. */
	mig_enc_end(&a.enc, 1, 0);
	cr_assert_eq(write(sv[0], a.enc.buf, 3), 3);
	ber_enc_reset(&a.enc);
	mig_conn_free(&a);
	cr_assert_eq(mig_recv(&b, MIG_FROM_SOURCE, &p), -ECONNRESET);
	mig_conn_free(&b);
	free(pages);
}

/* A garbage octet in the stream is reported at its offset in the stream, not the PDU. */
Test(migrate_wire, conn_offsets)
{
	struct mig_conn a, b;
	struct mig_pdu p;
	size_t first;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	mig_conn_init(&a, sv[0], "a");
	mig_conn_init(&b, sv[1], "b");
	mig_enc_section(&a.enc, MIG_SEC_SETUP, 0);
	first = a.enc.len;
	cr_assert_eq(mig_send(&a, &a.enc), 0);
	cr_assert_eq(write(sv[0], "\x30\x00", 2), 2);
	cr_assert_eq(mig_recv(&b, MIG_FROM_SOURCE, &p), 0);
	cr_assert_eq(mig_recv(&b, MIG_FROM_SOURCE, &p), -EBADMSG);
	cr_assert_eq(b.in_off, first, "the bad PDU starts at %zu, not %zu", b.in_off, first);
	mig_conn_free(&a);
	mig_conn_free(&b);
}

/* ---- the schema ----------------------------------------------------------------- */

static const char *schema_path(void)
{
	static char path[PATH_MAX], real[PATH_MAX];
	const char *b = getenv("FERRY_BUILD");

	snprintf(path, sizeof(path), "%s/../docs/pageserver.asn1", b ? b : ".");
	if (!realpath(path, real) && !realpath("docs/pageserver.asn1", real))
		cr_assert_fail("docs/pageserver.asn1 not found (set FERRY_BUILD)");
	return real;
}

/* What migrate_wire encodes decodes against the module with libtasn1's asn1Decoding. */
Test(migrate_wire, schema_asn1decoding)
{
	uint8_t *pages = make_pages(3, "101"), proof[PS_PROOF_SIZE] = { 7 };
	static const struct {
		const char *type;
		const char *value; /* a line asn1Decoding prints for it */
	} want[] = {
		{ "FerryWire.SourcePdu", "name:migrationHello" },
		{ "FerryWire.SourcePdu", "name:section" },
		{ "FerryWire.SourcePdu", "name:memoryArea" },
		{ "FerryWire.SourcePdu", "name:image" },
		{ "FerryWire.SourcePdu", "name:pages" },
		{ "FerryWire.SourcePdu", "name:endMark" },
		{ "FerryWire.DestinationPdu", "name:verdict" },
	};
	char *dir, path[PATH_MAX], *out = NULL, *err = NULL;
	struct ber_enc e;
	int rc;

	if (t_run(NULL, NULL, "command -v asn1Decoding"))
		cr_skip_test("asn1Decoding is not installed (Debian package libtasn1-bin)");
	dir = t_tmpdir();
	ber_enc_init(&e);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		ber_enc_reset(&e);
		switch (i) {
		case 0:
			mig_enc_hello(&e, 1, proof);
			break;
		case 1:
			mig_enc_section(&e, MIG_SEC_FINAL, 4);
			break;
		case 2:
			mig_enc_area(&e, 0, 1234, 0x7f0000001000ull, 3);
			break;
		case 3:
			mig_enc_image(&e, "pstree.img", "abc", 3);
			break;
		case 4:
			mig_enc_pages(&e, 0, 1, pages, 3);
			break;
		case 5:
			mig_enc_end(&e, 4, 9);
			break;
		case 6:
			mig_enc_verdict(&e, true, 1234, "runs");
			break;
		}
		snprintf(path, sizeof(path), "%s/pdu%zu.der", dir, i);
		cr_assert_eq(t_write_file(path, e.buf, e.len), 0);
		rc = t_run(&out, &err, "asn1Decoding %s %s %s", schema_path(), path, want[i].type);
		cr_assert_eq(rc, 0, "asn1Decoding of %s failed: %s%s", want[i].type, out ? out : "",
			     err ? err : "");
		cr_assert(out && err && strstr(err, "Decoding: SUCCESS") &&
				  strstr(out, want[i].value),
			  "%s (%s): %s%s", want[i].type, want[i].value, out ? out : "",
			  err ? err : "");
		free(out);
		free(err);
	}
	ber_enc_free(&e);
	free(pages);
	t_rmrf(dir);
	free(dir);
}
