// SPDX-License-Identifier: MIT
/*
 * The page-server PDUs (user/core/ps_wire.c): a round trip of each, zeros runs,
 * the receive-buffer framer on a stream split at every point, the size
 * limits, a decode of every truncation of every PDU, semantic refusals, the
 * hello proof and the secret file; and the schema, docs/pageserver.asn1,
 * checked by libtasn1 (asn1Parser, asn1Decoding of what ferry encodes) and by
 * asn1c.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "ps_wire.h"
#include "hmac.h"

#define PAGE PS_PAGE_SIZE

static const uint8_t nonce[PS_NONCE_SIZE] = "0123456789abcdef0123456789abcdef";
static const uint8_t sid[PS_SESSION_ID_SIZE] = "session-id-16-by";

static void decode_ok(const struct ber_enc *e, unsigned int allowed, struct ps_pdu *p)
{
	struct ber_err err = { 0 };
	size_t len = 0;

	cr_assert_eq(e->err, 0);
	cr_assert_eq(ps_frame(e->buf, e->len, PS_MAX_PDU, 0, &len, &err), 1, "%s", err.msg);
	cr_assert_eq(len, e->len);
	cr_assert_eq(ps_decode(e->buf, e->len, 0, allowed, p, &err), 0, "at %zu: %s", err.off,
		     err.msg);
}

static void decode_fails(const void *buf, size_t len, unsigned int allowed, size_t off,
			 const char *needle)
{
	struct ber_err err = { 0 };
	struct ps_pdu p;

	cr_assert_eq(ps_decode(buf, len, 0, allowed, &p, &err), -EBADMSG);
	cr_assert_eq(err.off, off, "error at %zu, want %zu: %s", err.off, off, err.msg);
	cr_assert(strstr(err.msg, needle), "'%s' lacks '%s'", err.msg, needle);
}

/* Pages whose content says which page they are, with zero pages where @zero[i]. */
static uint8_t *make_pages(uint32_t nr, const bool *zero)
{
	uint8_t *p = calloc(nr, PAGE);

	cr_assert_not_null(p);
	for (uint32_t i = 0; i < nr; i++)
		if (!zero || !zero[i])
			for (uint32_t k = 0; k < PAGE; k += 64)
				p[(size_t)i * PAGE + k] = (uint8_t)(i * 31 + k / 64 + 1);
	return p;
}

TestSuite(ps_wire, .timeout = 60);

Test(ps_wire, hello_ready_error_bye)
{
	uint8_t proof[PS_PROOF_SIZE];
	struct ber_enc e;
	struct ps_pdu p;

	memset(proof, 0x42, sizeof(proof));
	ber_enc_init(&e);
	cr_assert_eq(ps_enc_server_hello(&e, PS_WIRE_VERSION, nonce, true), 0);
	cr_assert_eq(e.buf[0], 'h');
	decode_ok(&e, PS_FROM_SERVER, &p);
	cr_assert_eq(p.type, PS_SERVER_HELLO);
	cr_assert_eq(p.server_hello.version, PS_WIRE_VERSION);
	cr_assert_eq(memcmp(p.server_hello.nonce, nonce, PS_NONCE_SIZE), 0);
	cr_assert(p.server_hello.auth_required);
	cr_assert_eq(p.server_hello.page_size, PAGE);

	ber_enc_reset(&e);
	cr_assert_eq(ps_enc_client_hello(&e, 1, PS_CHAN_BACKGROUND, sid, proof), 0);
	cr_assert_eq(e.buf[0], 'c');
	decode_ok(&e, PS_FROM_CLIENT, &p);
	cr_assert_eq(p.type, PS_CLIENT_HELLO);
	cr_assert_eq(p.client_hello.channel, PS_CHAN_BACKGROUND);
	cr_assert_eq(memcmp(p.client_hello.session_id, sid, PS_SESSION_ID_SIZE), 0);
	cr_assert_not_null(p.client_hello.proof);
	cr_assert_eq(memcmp(p.client_hello.proof, proof, PS_PROOF_SIZE), 0);
	ber_enc_reset(&e);
	ps_enc_client_hello(&e, 1, PS_CHAN_FAULT, sid, NULL);
	decode_ok(&e, PS_FROM_CLIENT, &p);
	cr_assert_eq(p.client_hello.channel, PS_CHAN_FAULT);
	cr_assert_null(p.client_hello.proof);
	cr_assert_eq(ps_enc_client_hello(&e, 0, PS_CHAN_FAULT, sid, NULL), -EINVAL);
	cr_assert_eq(ps_enc_client_hello(&e, 1, (enum ps_channel)2, sid, NULL), -EINVAL);

	ber_enc_reset(&e);
	ps_enc_ready(&e, 3);
	cr_assert_eq(e.buf[0], 'o');
	decode_ok(&e, PS_FROM_SERVER, &p);
	cr_assert_eq(p.type, PS_READY);
	cr_assert_eq(p.ready.connection, 3);

	ber_enc_reset(&e);
	ps_enc_error(&e, PS_ERR_AUTH_FAILED, "wrong proof \x01\xff");
	cr_assert_eq(e.buf[0], 'e');
	decode_ok(&e, PS_FROM_SERVER, &p);
	cr_assert_eq(p.type, PS_ERROR);
	cr_assert_eq(p.error.code, PS_ERR_AUTH_FAILED);
	cr_assert_eq(p.error.msg_len, 14);
	cr_assert_eq(memcmp(p.error.msg, "wrong proof ??", 14), 0, "non-ASCII sent as '?'");

	ber_enc_reset(&e);
	ps_enc_bye(&e, NULL);
	cr_assert_eq(e.len, 2);
	cr_assert_eq(memcmp(e.buf, "b\0", 2), 0);
	decode_ok(&e, PS_FROM_CLIENT, &p);
	cr_assert_eq(p.type, PS_BYE);
	cr_assert_null(p.bye.reason);
	ber_enc_reset(&e);
	ps_enc_bye(&e, "done");
	decode_ok(&e, PS_FROM_CLIENT, &p);
	cr_assert_eq(p.bye.reason_len, 4);
	ber_enc_free(&e);
}

Test(ps_wire, request_and_errors)
{
	struct ber_enc e;
	struct ps_pdu p;

	ber_enc_init(&e);
	cr_assert_eq(ps_enc_page_request(&e, UINT64_MAX, 0x7fffffff, 0xfffffffffffff000ull, 1), 0);
	cr_assert_eq(e.buf[0], 'p');
	decode_ok(&e, PS_FROM_CLIENT, &p);
	cr_assert_eq(p.type, PS_PAGE_REQUEST);
	cr_assert_eq(p.page_request.id, UINT64_MAX);
	cr_assert_eq(p.page_request.pid, 0x7fffffff);
	cr_assert_eq(p.page_request.addr, 0xfffffffffffff000ull);
	cr_assert_eq(p.page_request.count, 1);
	ber_enc_reset(&e);
	ps_enc_page_request(&e, 0, 1, 0, PS_MAX_REQ_PAGES);
	decode_ok(&e, PS_FROM_CLIENT, &p);
	cr_assert_eq(p.page_request.count, PS_MAX_REQ_PAGES);
	cr_assert_eq(ps_enc_page_request(&e, 0, 1, 0, 0), -EINVAL);
	cr_assert_eq(ps_enc_page_request(&e, 0, 1, 0, PS_MAX_REQ_PAGES + 1), -EINVAL);
	cr_assert_eq(ps_enc_page_request(&e, 0, 0, 0, 1), -EINVAL);

	ber_enc_reset(&e);
	ps_enc_page_error(&e, 77, PS_PAGE_NOT_DUMPED, "pid 5: page 0x1000 is not in the dump");
	cr_assert_eq(e.buf[0], 'n');
	decode_ok(&e, PS_FROM_SERVER, &p);
	cr_assert_eq(p.type, PS_PAGE_ERROR);
	cr_assert_eq(p.page_error.id, 77);
	cr_assert_eq(p.page_error.code, PS_PAGE_NOT_DUMPED);
	cr_assert_eq(p.page_error.msg_len, strlen("pid 5: page 0x1000 is not in the dump"));

	/* A long message is cut at PS_MAX_TEXT, and still decodes. */
	char *big = malloc(5000);

	memset(big, 'x', 4999);
	big[4999] = '\0';
	ber_enc_reset(&e);
	ps_enc_error(&e, PS_ERR_INTERNAL, big);
	decode_ok(&e, PS_FROM_SERVER, &p);
	cr_assert_eq(p.error.msg_len, PS_MAX_TEXT);
	free(big);
	ber_enc_free(&e);
}

Test(ps_wire, reply_zeros_runs)
{
	/* data, zero, zero, data, data, zero: chunks data(1) zeros(2) data(2) zeros(1). */
	bool zero[6] = { false, true, true, false, false, true };
	uint8_t *pages = make_pages(6, zero), *out = malloc(6 * PAGE);
	struct ber_enc e;
	struct ps_pdu p;

	ber_enc_init(&e);
	cr_assert_eq(ps_enc_page_reply(&e, 9, 0x400000, pages, 6), 0);
	cr_assert_eq(e.buf[0], 'r');
	decode_ok(&e, PS_FROM_SERVER, &p);
	cr_assert_eq(p.type, PS_PAGE_REPLY);
	cr_assert_eq(p.page_reply.id, 9);
	cr_assert_eq(p.page_reply.addr, 0x400000);
	cr_assert_eq(p.page_reply.nr_pages, 6);
	cr_assert_eq(p.page_reply.nr_chunks, 4);
	/* Three data pages and the headers: the zero pages cost a few octets. */
	cr_assert_lt(e.len, 3 * PAGE + 40);
	memset(out, 0xee, 6 * PAGE);
	cr_assert_eq(ps_reply_pages(&p, out, 6), 0);
	cr_assert_eq(memcmp(out, pages, 6 * PAGE), 0);
	cr_assert_eq(ps_reply_pages(&p, out, 5), -EINVAL);
	free(pages);

	/* 256 zero pages: one zeros chunk, a dozen octets. */
	pages = calloc(PS_MAX_REQ_PAGES, PAGE);
	ber_enc_reset(&e);
	ps_enc_page_reply(&e, 1, 0, pages, PS_MAX_REQ_PAGES);
	cr_assert_lt(e.len, 20);
	decode_ok(&e, PS_FROM_SERVER, &p);
	cr_assert_eq(p.page_reply.nr_pages, PS_MAX_REQ_PAGES);
	cr_assert_eq(p.page_reply.nr_chunks, 1);
	free(pages);

	/* 256 data pages: one chunk, within PS_MAX_PDU. */
	pages = make_pages(PS_MAX_REQ_PAGES, NULL);
	ber_enc_reset(&e);
	ps_enc_page_reply(&e, 2, 0x10000, pages, PS_MAX_REQ_PAGES);
	cr_assert_leq(e.len, PS_MAX_PDU);
	decode_ok(&e, PS_FROM_SERVER, &p);
	cr_assert_eq(p.page_reply.nr_chunks, 1);
	free(out);
	out = malloc((size_t)PS_MAX_REQ_PAGES * PAGE);
	cr_assert_eq(ps_reply_pages(&p, out, PS_MAX_REQ_PAGES), 0);
	cr_assert_eq(memcmp(out, pages, (size_t)PS_MAX_REQ_PAGES * PAGE), 0);
	/* A page that is zero but for its last byte is data. */
	memset(pages, 0, PAGE);
	pages[PAGE - 1] = 1;
	ber_enc_reset(&e);
	ps_enc_page_reply(&e, 3, 0, pages, 1);
	cr_assert_gt(e.len, PAGE);
	free(pages);
	free(out);
	ber_enc_free(&e);
}

/* A stream of PDUs cut at every point: the framer finds each one, in order. */
Test(ps_wire, stream_framing)
{
	bool zero[3] = { false, true, false };
	uint8_t *pages = make_pages(3, zero), *buf;
	struct ber_enc e;
	size_t starts[8], nr = 0, len;
	struct ber_err err = { 0 };

	ber_enc_init(&e);
	starts[nr++] = e.len;
	ps_enc_server_hello(&e, 1, nonce, false);
	starts[nr++] = e.len;
	ps_enc_ready(&e, 0);
	starts[nr++] = e.len;
	ps_enc_page_reply(&e, 1, 0x1000, pages, 3);
	starts[nr++] = e.len;
	ps_enc_page_error(&e, 2, PS_PAGE_NOT_DUMPED, "no");
	starts[nr++] = e.len;
	ps_enc_page_reply(&e, 3, 0x5000, pages, 1);
	starts[nr++] = e.len;
	free(pages);
	buf = malloc(e.len);
	/* The receiver has the first k octets; everything complete must come out. */
	for (size_t k = 0; k <= e.len; k++) {
		size_t pos = 0, found = 0;
		int ret;

		memcpy(buf, e.buf, k);
		while ((ret = ps_frame(buf + pos, k - pos, PS_MAX_PDU, pos, &len, &err)) == 1) {
			struct ps_pdu p;

			cr_assert_eq(pos, starts[found]);
			cr_assert_eq(ps_decode(buf + pos, len, pos, PS_FROM_SERVER, &p, &err), 0,
				     "%s", err.msg);
			pos += len;
			found++;
		}
		cr_assert_eq(ret, 0, "k=%zu: %s", k, err.msg);
		cr_assert_eq(pos, starts[found]);
		/* The whole PDU's length is known once its header is in. */
		if (k - pos >= 6 && found + 1 < nr)
			cr_assert_eq(len, starts[found + 1] - starts[found]);
		for (size_t i = 0; i + 1 < nr; i++)
			if (starts[i + 1] <= k)
				cr_assert_geq(found, i + 1, "k=%zu", k);
	}
	free(buf);
	ber_enc_free(&e);
}

Test(ps_wire, size_limits_and_garbage)
{
	struct ber_err err = { 0 };
	uint8_t hdr[8];
	size_t len;

	/* A PageReply header announcing one octet more than PS_MAX_PDU allows. */
	hdr[0] = 0x72;
	hdr[1] = 0x83;
	hdr[2] = (uint8_t)((PS_MAX_PDU - 6) >> 16);
	hdr[3] = (uint8_t)((PS_MAX_PDU - 6) >> 8);
	hdr[4] = (uint8_t)(PS_MAX_PDU - 6);
	cr_assert_eq(ps_frame(hdr, 5, PS_MAX_PDU, 0, &len, &err), 0, "%s", err.msg);
	cr_assert_eq(len, PS_MAX_PDU - 1);
	hdr[4]++;
	cr_assert_eq(ps_frame(hdr, 5, PS_MAX_PDU, 0, &len, &err), 0, "exactly the limit: wait");
	cr_assert_eq(len, PS_MAX_PDU);
	hdr[4]++;
	cr_assert_eq(ps_frame(hdr, 5, PS_MAX_PDU, 1234, &len, &err), -EBADMSG);
	cr_assert_eq(err.off, 1234);
	cr_assert(strstr(err.msg, "longer than the limit"), "%s", err.msg);
	/* A server takes small PDUs only. */
	memset(&err, 0, sizeof(err));
	cr_assert_eq(ps_frame("\x70\x82\x10\x00", 4, PS_MAX_CLIENT_PDU, 0, &len, &err), -EBADMSG);
	/* Not a PDU at all, known from the first octet. */
	memset(&err, 0, sizeof(err));
	cr_assert_eq(ps_frame("G", 1, PS_MAX_PDU, 0, &len, &err), -EBADMSG);
	cr_assert(strstr(err.msg, "expected a PDU"), "%s", err.msg);
	memset(&err, 0, sizeof(err));
	cr_assert_eq(ps_frame("\x30\x00", 2, PS_MAX_PDU, 0, &len, &err), -EBADMSG);
	cr_assert_eq(ps_frame("", 0, PS_MAX_PDU, 0, &len, &err), 0);
	/* Right class, unknown number, or the other side's PDU. */
	decode_fails("\x74\x00", 2, PS_FROM_SERVER, 0, "not a PDU of this protocol");
	decode_fails("\x70\x00", 2, PS_FROM_SERVER, 0, "got PageRequest");
	decode_fails("\x62\x00", 2, PS_FROM_SERVER, 0,
		     "ServerHello, PageError, Ready, PageReply; got Bye");
}

/* Every prefix of every PDU is refused by the decoder; none crashes. */
Test(ps_wire, truncated_everywhere)
{
	uint8_t *pages = make_pages(2, (bool[]){ false, true }), proof[PS_PROOF_SIZE] = { 1 };
	struct ber_enc e;
	size_t starts[16], nr = 0;

	ber_enc_init(&e);
	starts[nr++] = 0;
	ps_enc_server_hello(&e, 1, nonce, true);
	starts[nr++] = e.len;
	ps_enc_client_hello(&e, 1, PS_CHAN_FAULT, sid, proof);
	starts[nr++] = e.len;
	ps_enc_ready(&e, 1);
	starts[nr++] = e.len;
	ps_enc_error(&e, 1, "bad");
	starts[nr++] = e.len;
	ps_enc_page_request(&e, 5, 42, 0x7000, 2);
	starts[nr++] = e.len;
	ps_enc_page_reply(&e, 5, 0x7000, pages, 2);
	starts[nr++] = e.len;
	ps_enc_page_error(&e, 5, 2, "x");
	starts[nr++] = e.len;
	ps_enc_bye(&e, "r");
	starts[nr++] = e.len;
	free(pages);
	for (size_t i = 0; i + 1 < nr; i++) {
		size_t len = starts[i + 1] - starts[i];

		for (size_t k = 0; k < len; k++) {
			/* A copy of exactly k octets: any read beyond is a heap overflow. */
			uint8_t *cut = malloc(k ? k : 1);
			struct ber_err err = { 0 };
			struct ps_pdu p;
			size_t fl;

			memcpy(cut, e.buf + starts[i], k);
			cr_assert_eq(ps_decode(cut, k, 0, ~0u, &p, &err), -EBADMSG,
				     "PDU %zu cut at %zu decoded", i, k);
			cr_assert_leq(err.off, k, "PDU %zu cut at %zu: offset %zu", i, k, err.off);
			cr_assert_eq(ps_frame(cut, k, PS_MAX_PDU, 0, &fl, &err), 0);
			free(cut);
		}
	}
	ber_enc_free(&e);
}

Test(ps_wire, semantic_refusals)
{
	uint8_t buf[64];
	struct ber_enc e;

	ber_enc_init(&e);
	/* PageRequest: unaligned address, count 0 and 257, pid 0, a range that wraps. */
	ber_begin(&e, BER_APP(PS_PAGE_REQUEST));
	ber_put_uint(&e, BER_INTEGER, 1);
	ber_put_uint(&e, BER_INTEGER, 10);
	ber_put_uint(&e, BER_INTEGER, 0x1234);
	ber_put_uint(&e, BER_INTEGER, 1);
	ber_end(&e);
	decode_fails(e.buf, e.len, PS_FROM_CLIENT, 8, "0x1234 is not page aligned");
	ber_enc_reset(&e);
	ps_enc_page_request(&e, 1, 10, 0xfffffffffffff000ull, 1);
	e.buf[e.len - 1] = 2; /* two pages from the last one */
	decode_fails(e.buf, e.len, PS_FROM_CLIENT, 8, "wrap around");
	for (int k = 0; k < 3; k++) {
		ber_enc_reset(&e);
		ber_begin(&e, BER_APP(PS_PAGE_REQUEST));
		ber_put_uint(&e, BER_INTEGER, 1);
		ber_put_uint(&e, BER_INTEGER, k == 2 ? 0 : 10);
		ber_put_uint(&e, BER_INTEGER, 0x1000);
		ber_put_uint(&e, BER_INTEGER, k == 0 ? 0 : k == 1 ? 257 : 1);
		ber_end(&e);
		decode_fails(e.buf, e.len, PS_FROM_CLIENT, k == 2 ? 5 : 12,
			     k == 2   ? "PageRequest.pid in 1..2147483647, got 0"
			     : k == 0 ? "PageRequest.count in 1..256, got 0"
				      : "PageRequest.count in 1..256, got 257");
	}
	/* PageReply: data that is not whole pages, an unknown chunk, no pages, too many. */
	memset(buf, 0, sizeof(buf));
	ber_enc_reset(&e);
	ber_begin(&e, BER_APP(PS_PAGE_REPLY));
	ber_put_uint(&e, BER_INTEGER, 1);
	ber_put_uint(&e, BER_INTEGER, 0);
	ber_begin(&e, BER_SEQUENCE);
	ber_put_header(&e, BER_CTX(0), PAGE + 1);
	for (int i = 0; i < 65; i++)
		ber_put_raw(&e, buf, 64);
	ber_put_raw(&e, buf, 1);
	ber_end(&e);
	ber_end(&e);
	decode_fails(e.buf, e.len, PS_FROM_SERVER, 14, "not a whole number of pages");
	ber_enc_reset(&e);
	ber_begin(&e, BER_APP(PS_PAGE_REPLY));
	ber_put_uint(&e, BER_INTEGER, 1);
	ber_put_uint(&e, BER_INTEGER, 0);
	ber_begin(&e, BER_SEQUENCE);
	ber_put_uint(&e, BER_CTX(1), 200);
	ber_put_uint(&e, BER_CTX(1), 57);
	ber_end(&e);
	ber_end(&e);
	decode_fails(e.buf, e.len, PS_FROM_SERVER, 14, "more than 256 pages");
	ber_enc_reset(&e);
	ber_begin(&e, BER_APP(PS_PAGE_REPLY));
	ber_put_uint(&e, BER_INTEGER, 1);
	ber_put_uint(&e, BER_INTEGER, 0);
	ber_begin(&e, BER_SEQUENCE);
	ber_put_uint(&e, BER_CTX(2), 1);
	ber_end(&e);
	ber_end(&e);
	decode_fails(e.buf, e.len, PS_FROM_SERVER, 10, "expected a PageChunk");
	ber_enc_reset(&e);
	ber_begin(&e, BER_APP(PS_PAGE_REPLY));
	ber_put_uint(&e, BER_INTEGER, 1);
	ber_put_uint(&e, BER_INTEGER, 0);
	ber_begin(&e, BER_SEQUENCE);
	ber_end(&e);
	ber_end(&e);
	decode_fails(e.buf, e.len, PS_FROM_SERVER, 10, "no pages");
	/* A later version's extra component at the end of a SEQUENCE is skipped. */
	ber_enc_reset(&e);
	ber_begin(&e, BER_APP(PS_READY));
	ber_put_uint(&e, BER_INTEGER, 4);
	ber_put_octets(&e, BER_CTX(7), "new", 3);
	ber_end(&e);
	struct ps_pdu p;

	decode_ok(&e, PS_FROM_SERVER, &p);
	cr_assert_eq(p.ready.connection, 4);
	ber_enc_free(&e);
}

Test(ps_wire, proof)
{
	uint8_t msg[PS_NONCE_SIZE + 1 + PS_SESSION_ID_SIZE], want[32], got[32], other[32];
	const struct iovec iov = { .iov_base = msg, .iov_len = sizeof(msg) };
	const uint8_t secret[] = "s3cret";

	memcpy(msg, nonce, PS_NONCE_SIZE);
	msg[PS_NONCE_SIZE] = 1;
	memcpy(msg + PS_NONCE_SIZE + 1, sid, PS_SESSION_ID_SIZE);
	cr_assert_eq(hmac_sha256(secret, 6, &iov, 1, want), 0);
	cr_assert_eq(ps_proof(secret, 6, nonce, PS_CHAN_BACKGROUND, sid, got), 0);
	cr_assert_eq(memcmp(got, want, 32), 0);
	cr_assert_eq(ps_proof(secret, 6, nonce, PS_CHAN_FAULT, sid, other), 0);
	cr_assert_neq(memcmp(got, other, 32), 0, "the channel is part of the proof");
	cr_assert_eq(ps_proof(secret, 5, nonce, PS_CHAN_BACKGROUND, sid, other), 0);
	cr_assert_neq(memcmp(got, other, 32), 0);
}

Test(ps_wire, secret_file)
{
	char *dir = t_tmpdir(), path[PATH_MAX];
	uint8_t *s;
	size_t len;

	snprintf(path, sizeof(path), "%s/secret", dir);
	cr_assert_eq(t_write_file(path, "hunter2 hunter2 hunter2\n", 24), 0);
	chmod(path, 0600);
	cr_assert_eq(ps_secret_load(path, &s, &len), 0);
	cr_assert_eq(len, 23);
	cr_assert_eq(memcmp(s, "hunter2 hunter2 hunter2", 23), 0);
	ps_secret_free(s, len);
	cr_assert_eq(t_write_file(path, "0123456789abcdef\r\n", 18), 0);
	cr_assert_eq(ps_secret_load(path, &s, &len), 0);
	cr_assert_eq(len, 16);
	ps_secret_free(s, len);
	cr_assert_eq(t_write_file(path, "0123456789abcdef\r", 17), 0);
	cr_assert_eq(ps_secret_load(path, &s, &len), 0);
	cr_assert_eq(len, 17, "a lone CR is part of the secret");
	ps_secret_free(s, len);
	cr_assert_eq(t_write_file(path, "\n", 1), 0);
	cr_assert_eq(ps_secret_load(path, &s, &len), -EINVAL);
	cr_assert_null(s);
	/* Under 16 bytes: refused, as guessable. */
	cr_assert_eq(t_write_file(path, "hunter2\n", 8), 0);
	cr_assert_eq(ps_secret_load(path, &s, &len), -EINVAL);
	cr_assert_null(s);
	cr_assert_eq(t_write_file(path, "0123456789abcde\n", 16), 0);
	cr_assert_eq(ps_secret_load(path, &s, &len), -EINVAL, "15 bytes taken");
	char *big = malloc(PS_MAX_SECRET + 1);

	memset(big, 'k', PS_MAX_SECRET + 1);
	cr_assert_eq(t_write_file(path, big, PS_MAX_SECRET + 1), 0);
	cr_assert_eq(ps_secret_load(path, &s, &len), -EINVAL);
	cr_assert_eq(t_write_file(path, big, PS_MAX_SECRET), 0);
	cr_assert_eq(ps_secret_load(path, &s, &len), 0);
	cr_assert_eq(len, PS_MAX_SECRET);
	ps_secret_free(s, len);
	free(big);
	snprintf(path, sizeof(path), "%s/none", dir);
	cr_assert_eq(ps_secret_load(path, &s, &len), -ENOENT);
	t_rmrf(dir);
	free(dir);
}

/* ---- the schema, checked by the tools that will read captures ------------------ */

/* The schema's absolute path: next to FERRY_BUILD, else from the current directory. */
static const char *schema_path(void)
{
	static char path[PATH_MAX], real[PATH_MAX];
	const char *b = getenv("FERRY_BUILD");

	snprintf(path, sizeof(path), "%s/../docs/pageserver.asn1", b ? b : ".");
	if (!realpath(path, real) && !realpath("docs/pageserver.asn1", real))
		cr_assert_fail("docs/pageserver.asn1 not found (set FERRY_BUILD)");
	return real;
}

static bool have(const char *tool)
{
	return t_run(NULL, NULL, "command -v %s", tool) == 0;
}

Test(ps_wire, schema_asn1parser)
{
	char *out = NULL, *err = NULL, *dir;
	int rc;

	if (!have("asn1Parser"))
		cr_skip_test("asn1Parser is not installed (Debian package libtasn1-bin)");
	dir = t_tmpdir();
	rc = t_run(&out, &err, "asn1Parser -o %s/tab.c %s", dir, schema_path());
	cr_assert_eq(rc, 0, "asn1Parser: %s%s", out ? out : "", err ? err : "");
	free(out);
	free(err);
	t_rmrf(dir);
	free(dir);
}

Test(ps_wire, schema_asn1c)
{
	char *out = NULL, *err = NULL, *dir;
	int rc;

	if (!have("asn1c"))
		cr_skip_test("asn1c is not installed (Debian package asn1c)");
	dir = t_tmpdir();
	/* Compile the module into a scratch directory: every type must come out. */
	rc = t_run(&out, &err, "cd %s && asn1c -Werror %s", dir, schema_path());
	cr_assert_eq(rc, 0, "asn1c: %s%s", out ? out : "", err ? err : "");
	free(out);
	free(err);
	rc = t_run(
		NULL, NULL,
		"cd %s && test -f PageRequest.h && test -f PageReply.h && test -f ServerHello.h && test -f ClientPdu.h",
		dir);
	cr_assert_eq(rc, 0, "asn1c did not generate every PDU type");
	t_rmrf(dir);
	free(dir);
}

/* What ps_wire encodes decodes against the schema with libtasn1's asn1Decoding. */
Test(ps_wire, schema_asn1decoding)
{
	uint8_t *pages = make_pages(3, (bool[]){ true, false, true }), proof[PS_PROOF_SIZE] = { 9 };
	static const struct {
		const char *type;
		const char *value; /* a line asn1Decoding prints for it */
	} want[] = {
		{ "FerryWire.PageRequest", "0x7f0000001000" },
		{ "FerryWire.ServerPdu", "name:serverHello" },
		{ "FerryWire.ClientPdu", "name:clientHello" },
		{ "FerryWire.ServerPdu", "name:pageReply" },
		{ "FerryWire.ServerPdu", "name:pageError" },
		{ "FerryWire.ClientPdu", "name:bye" },
		{ "FerryWire.ServerPdu", "name:ready" },
	};
	char *dir, path[PATH_MAX], *out = NULL, *err = NULL;
	struct ber_enc e;
	int rc;

	if (!have("asn1Decoding"))
		cr_skip_test("asn1Decoding is not installed (Debian package libtasn1-bin)");
	dir = t_tmpdir();
	ber_enc_init(&e);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		ber_enc_reset(&e);
		switch (i) {
		case 0:
			ps_enc_page_request(&e, 7, 1234, 0x7f0000001000ull, 3);
			break;
		case 1:
			ps_enc_server_hello(&e, 1, nonce, true);
			break;
		case 2:
			ps_enc_client_hello(&e, 1, PS_CHAN_BACKGROUND, sid, proof);
			break;
		case 3:
			ps_enc_page_reply(&e, 7, 0x7f0000001000ull, pages, 3);
			break;
		case 4:
			ps_enc_page_error(&e, 8, PS_PAGE_NOT_DUMPED, "not dumped");
			break;
		case 5:
			ps_enc_bye(&e, "done");
			break;
		case 6:
			ps_enc_ready(&e, 1);
			break;
		}
		snprintf(path, sizeof(path), "%s/pdu%zu.der", dir, i);
		cr_assert_eq(t_write_file(path, e.buf, e.len), 0);
		rc = t_run(&out, &err, "asn1Decoding %s %s %s", schema_path(), path, want[i].type);
		cr_assert_eq(rc, 0, "asn1Decoding of %s failed: %s%s", want[i].type, out ? out : "",
			     err ? err : "");
		cr_assert(out && err && strstr(err, "Decoding: SUCCESS") &&
				  strstr(out, want[i].value),
			  "%s: %s%s", want[i].type, out ? out : "", err ? err : "");
		free(out);
		free(err);
	}
	/* And the schema does refuse: a PageRequest is not a ServerPdu. */
	ber_enc_reset(&e);
	ps_enc_page_request(&e, 7, 1234, 0x1000, 3);
	snprintf(path, sizeof(path), "%s/req.der", dir);
	t_write_file(path, e.buf, e.len);
	rc = t_run(NULL, NULL, "asn1Decoding %s %s FerryWire.ServerPdu", schema_path(), path);
	cr_assert_neq(rc, 0, "asn1Decoding accepted a PageRequest as a ServerPdu");
	ber_enc_free(&e);
	free(pages);
	t_rmrf(dir);
	free(dir);
}
