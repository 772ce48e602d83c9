// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the BER decoder (user/ber.c) and the page-server wire
 * format (user/ps_wire.c) on arbitrary bytes.
 *
 * Input: one octet that seeds how the stream is cut into receive chunks,
 * then the stream. The stream is fed to the PDU framer chunk by chunk as a
 * receive buffer would see it, and every whole PDU is decoded the way the
 * server (client PDUs) and the client (server PDUs) decode it. Checked, with
 * an abort when broken:
 *  - the framer agrees with itself whatever the cut, never claims more octets
 *    than it has, never passes a PDU over the limit;
 *  - a decoding error has an offset inside the PDU;
 *  - a decoded PDU re-encodes to one that decodes to the same fields (page
 *    data included), within the same limits;
 *  - a generic walk of the bytes as BER (every element entered or read with
 *    the matching getter) fails or succeeds without reading out of bounds.
 * The seeds (corpus/fuzz_ber/) are captured sessions and one PDU of each kind.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ber.h"
#include "log.h"
#include "ps_wire.h"

#define CHECK(cond)                                                                          \
	do {                                                                                 \
		if (!(cond)) {                                                               \
			fprintf(stderr, "fuzz_ber: %s:%d: broken guarantee: %s\n", __FILE__, \
				__LINE__, #cond);                                            \
			abort();                                                             \
		}                                                                            \
	} while (0)

static uint8_t pages_a[PS_MAX_REQ_PAGES * PS_PAGE_SIZE];
static uint8_t pages_b[PS_MAX_REQ_PAGES * PS_PAGE_SIZE];

/* Walk @d's current element generically, @depth levels at most. */
static void walk(struct ber_dec *d, int depth)
{
	while (ber_more(d)) {
		struct ber_tlv t;
		const uint8_t *p;
		const char *s;
		size_t len;
		uint64_t u;
		int64_t i;
		bool b;

		if (ber_peek(d, &t))
			return;
		CHECK(t.val >= d->buf && t.val + t.len <= d->buf + d->end);
		if (BER_TAG_CONSTRUCTED(t.tag)) {
			if (depth >= BER_MAX_DEPTH + 2)
				return;
			if (ber_enter(d, t.tag, "element"))
				return;
			walk(d, depth + 1);
			if (ber_leave(d, depth & 1))
				return;
			continue;
		}
		switch (t.tag) {
		case BER_INTEGER:
		case BER_ENUMERATED:
			if (t.len && (t.val[0] & 0x80)) {
				if (ber_get_int(d, t.tag, NULL, INT64_MIN, INT64_MAX, &i))
					return;
			} else if (ber_get_uint(d, t.tag, NULL, 0, UINT64_MAX, &u)) {
				return;
			}
			break;
		case BER_BOOLEAN:
			if (ber_get_bool(d, t.tag, NULL, &b))
				return;
			break;
		case BER_UTF8STRING:
			if (ber_get_utf8(d, t.tag, NULL, SIZE_MAX, &s, &len))
				return;
			CHECK(len == t.len);
			break;
		default:
			if (ber_get_octets(d, t.tag, NULL, 0, SIZE_MAX, &p, &len))
				return;
			CHECK(p == t.val && len == t.len);
			break;
		}
	}
}

/* The same fields, and for a PageReply the same pages. */
static void same_pdu(const struct ps_pdu *a, const struct ps_pdu *b)
{
	CHECK(a->type == b->type);
	switch (a->type) {
	case PS_SERVER_HELLO:
		CHECK(a->server_hello.version == b->server_hello.version);
		CHECK(!memcmp(a->server_hello.nonce, b->server_hello.nonce, PS_NONCE_SIZE));
		CHECK(a->server_hello.auth_required == b->server_hello.auth_required);
		break;
	case PS_CLIENT_HELLO:
		CHECK(a->client_hello.version == b->client_hello.version);
		CHECK(a->client_hello.channel == b->client_hello.channel);
		CHECK(!memcmp(a->client_hello.session_id, b->client_hello.session_id,
			      PS_SESSION_ID_SIZE));
		CHECK(!a->client_hello.proof == !b->client_hello.proof);
		CHECK(!a->client_hello.proof ||
		      !memcmp(a->client_hello.proof, b->client_hello.proof, PS_PROOF_SIZE));
		break;
	case PS_READY:
		CHECK(a->ready.connection == b->ready.connection);
		break;
	case PS_ERROR:
		CHECK(a->error.code == b->error.code);
		CHECK(a->error.msg_len == b->error.msg_len);
		break;
	case PS_PAGE_REQUEST:
		CHECK(a->page_request.id == b->page_request.id);
		CHECK(a->page_request.pid == b->page_request.pid);
		CHECK(a->page_request.addr == b->page_request.addr);
		CHECK(a->page_request.count == b->page_request.count);
		break;
	case PS_PAGE_REPLY:
		CHECK(a->page_reply.id == b->page_reply.id);
		CHECK(a->page_reply.addr == b->page_reply.addr);
		CHECK(a->page_reply.nr_pages == b->page_reply.nr_pages);
		CHECK(!ps_reply_pages(b, pages_b, b->page_reply.nr_pages));
		CHECK(!memcmp(pages_a, pages_b, (size_t)a->page_reply.nr_pages * PS_PAGE_SIZE));
		break;
	case PS_PAGE_ERROR:
		CHECK(a->page_error.id == b->page_error.id);
		CHECK(a->page_error.code == b->page_error.code);
		CHECK(a->page_error.msg_len == b->page_error.msg_len);
		break;
	case PS_BYE:
		CHECK(!a->bye.reason == !b->bye.reason);
		CHECK(a->bye.reason_len == b->bye.reason_len);
		break;
	}
}

static void reencode(const struct ps_pdu *p)
{
	char text[PS_MAX_TEXT + 1];
	struct ber_err e = { 0 };
	struct ps_pdu q;
	struct ber_enc enc;
	size_t len = 0;
	int ret = 0;

	ber_enc_init(&enc);
	switch (p->type) {
	case PS_SERVER_HELLO:
		ret = ps_enc_server_hello(&enc, p->server_hello.version, p->server_hello.nonce,
					  p->server_hello.auth_required);
		break;
	case PS_CLIENT_HELLO:
		ret = ps_enc_client_hello(&enc, p->client_hello.version, p->client_hello.channel,
					  p->client_hello.session_id, p->client_hello.proof);
		break;
	case PS_READY:
		ret = ps_enc_ready(&enc, p->ready.connection);
		break;
	case PS_ERROR:
		/* Texts are re-sent as ASCII: compare lengths only (same octet count). */
		ret = ps_enc_error(
			&enc, p->error.code,
			ps_printable(p->error.msg, p->error.msg_len, text, sizeof(text)));
		break;
	case PS_PAGE_REQUEST:
		ret = ps_enc_page_request(&enc, p->page_request.id, p->page_request.pid,
					  p->page_request.addr, p->page_request.count);
		break;
	case PS_PAGE_REPLY:
		CHECK(!ps_reply_pages(p, pages_a, p->page_reply.nr_pages));
		ret = ps_enc_page_reply(&enc, p->page_reply.id, p->page_reply.addr, pages_a,
					p->page_reply.nr_pages);
		break;
	case PS_PAGE_ERROR:
		ret = ps_enc_page_error(
			&enc, p->page_error.id, p->page_error.code,
			ps_printable(p->page_error.msg, p->page_error.msg_len, text, sizeof(text)));
		break;
	case PS_BYE:
		ret = ps_enc_bye(&enc, p->bye.reason
					       ? ps_printable(p->bye.reason, p->bye.reason_len,
							      text, sizeof(text))
					       : NULL);
		break;
	}
	CHECK(!ret);
	CHECK(ps_frame(enc.buf, enc.len, PS_MAX_PDU, 0, &len, &e) == 1 && len == enc.len);
	CHECK(!ps_decode(enc.buf, enc.len, 0, ~0u, &q, &e));
	/* ps_printable turns each non-ASCII octet into one '?': lengths are kept. */
	same_pdu(p, &q);
	ber_enc_free(&enc);
}

static void decode_pdu(const uint8_t *pdu, size_t len, size_t base)
{
	static const unsigned int sides[] = { PS_FROM_CLIENT, PS_FROM_SERVER };
	struct ber_dec d;

	for (size_t i = 0; i < 2; i++) {
		struct ber_err e = { 0 };
		struct ps_pdu p;

		if (ps_decode(pdu, len, base, sides[i], &p, &e)) {
			CHECK(e.err == -EBADMSG);
			CHECK(e.off >= base && e.off <= base + len);
			continue;
		}
		CHECK(sides[i] & (1u << p.type));
		if (p.type == PS_PAGE_REPLY)
			CHECK(p.page_reply.nr_pages >= 1 &&
			      p.page_reply.nr_pages <= PS_MAX_REQ_PAGES);
		if (p.type == PS_PAGE_REQUEST)
			CHECK(!(p.page_request.addr % PS_PAGE_SIZE) && p.page_request.count >= 1 &&
			      p.page_request.count <= PS_MAX_REQ_PAGES);
		reencode(&p);
	}
	ber_dec_init(&d, pdu, len, base);
	walk(&d, 0);
	CHECK(!d.err.err || (d.err.off >= base && d.err.off <= base + len));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int quiet;
	uint32_t rnd;
	size_t have = 0, pos = 0;

	if (!quiet) {
		log_init(NULL, LOG_MSG, 0);
		quiet = 1;
	}
	if (!size)
		return 0;
	rnd = data[0] * 2654435761u + 1;
	data++;
	size--;
	/* The receive buffer holds data[pos .. have); each turn a chunk arrives. */
	while (pos < size) {
		struct ber_err e = { 0 };
		size_t pdu_len = 0, again = 0;
		int ret;

		rnd = rnd * 1103515245u + 12345u;
		have += 1 + (rnd >> 16) % 4096;
		if (have > size)
			have = size;
		for (;;) {
			ret = ps_frame(data + pos, have - pos, PS_MAX_PDU, pos, &pdu_len, &e);
			if (ret < 0) {
				CHECK(e.off >= pos && e.off <= have);
				return 0; /* a receiver drops the connection here */
			}
			if (!ret) {
				CHECK(!pdu_len || pdu_len > have - pos);
				CHECK(pdu_len <= PS_MAX_PDU);
				break;
			}
			CHECK(pdu_len >= 2 && pdu_len <= have - pos && pdu_len <= PS_MAX_PDU);
			/* The length does not depend on how much follows. */
			CHECK(ps_frame(data + pos, pdu_len, PS_MAX_PDU, pos, &again, &e) == 1 &&
			      again == pdu_len);
			/* The server's smaller limit refuses or agrees. */
			ret = ps_frame(data + pos, pdu_len, PS_MAX_CLIENT_PDU, pos, &again, &e);
			CHECK(ret < 0 ? pdu_len > PS_MAX_CLIENT_PDU : again == pdu_len);
			decode_pdu(data + pos, pdu_len, pos);
			pos += pdu_len;
		}
		if (have == size && pos < size)
			break; /* the stream ends inside a PDU */
	}
	return 0;
}
