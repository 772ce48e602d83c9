// SPDX-License-Identifier: MIT
/*
 * Page-server PDUs (docs/pageserver.asn1) to and from BER, the receive-buffer
 * framer, the hello proof and the secret file.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hmac.h"
#include "ps_wire.h"
#include "util.h"

#define LOG_PREFIX "page-server wire: "
#include "log.h"

#define PAGE PS_PAGE_SIZE

const char *ps_pdu_name(unsigned int type)
{
	switch (type) {
	case PS_BYE:
		return "Bye";
	case PS_CLIENT_HELLO:
		return "ClientHello";
	case PS_ERROR:
		return "Error";
	case PS_SERVER_HELLO:
		return "ServerHello";
	case PS_PAGE_ERROR:
		return "PageError";
	case PS_READY:
		return "Ready";
	case PS_PAGE_REQUEST:
		return "PageRequest";
	case PS_PAGE_REPLY:
		return "PageReply";
	}
	return "?";
}

/* ---- encoders ------------------------------------------------------------ */

/*
 * put_text - a Text: ASCII only (other octets become '?', so that what is sent
 * is always UTF-8), cut at PS_MAX_TEXT octets.
 */
static int put_text(struct ber_enc *e, const char *s)
{
	char buf[PS_MAX_TEXT + 1];

	ps_printable(s ? s : "", s ? strlen(s) : 0, buf, sizeof(buf));
	return ber_put_utf8(e, BER_UTF8STRING, buf, strlen(buf));
}

int ps_enc_server_hello(struct ber_enc *e, uint32_t version, const uint8_t *nonce,
			bool auth_required)
{
	if (version < 1 || version > 255)
		return -EINVAL;
	ber_begin(e, BER_APP(PS_SERVER_HELLO));
	ber_put_uint(e, BER_INTEGER, version);
	ber_put_octets(e, BER_OCTET_STRING, nonce, PS_NONCE_SIZE);
	ber_put_bool(e, BER_BOOLEAN, auth_required);
	ber_put_uint(e, BER_INTEGER, PS_PAGE_SIZE);
	return ber_end(e);
}

int ps_enc_client_hello(struct ber_enc *e, uint32_t version, enum ps_channel channel,
			const uint8_t *session_id, const uint8_t *proof)
{
	if (version < 1 || version > 255 ||
	    (channel != PS_CHAN_FAULT && channel != PS_CHAN_BACKGROUND))
		return -EINVAL;
	ber_begin(e, BER_APP(PS_CLIENT_HELLO));
	ber_put_uint(e, BER_INTEGER, version);
	ber_put_uint(e, BER_ENUMERATED, (uint64_t)channel);
	ber_put_octets(e, BER_OCTET_STRING, session_id, PS_SESSION_ID_SIZE);
	if (proof)
		ber_put_octets(e, BER_OCTET_STRING, proof, PS_PROOF_SIZE);
	return ber_end(e);
}

int ps_enc_ready(struct ber_enc *e, uint64_t connection)
{
	ber_begin(e, BER_APP(PS_READY));
	ber_put_uint(e, BER_INTEGER, connection);
	return ber_end(e);
}

int ps_enc_error(struct ber_enc *e, uint32_t code, const char *msg)
{
	if (code > 255)
		return -EINVAL;
	ber_begin(e, BER_APP(PS_ERROR));
	ber_put_uint(e, BER_INTEGER, code);
	put_text(e, msg);
	return ber_end(e);
}

int ps_enc_page_request(struct ber_enc *e, uint64_t id, pid_t pid, uint64_t addr, uint32_t count)
{
	if (pid < 1 || count < 1 || count > PS_MAX_REQ_PAGES)
		return -EINVAL;
	ber_begin(e, BER_APP(PS_PAGE_REQUEST));
	ber_put_uint(e, BER_INTEGER, id);
	ber_put_uint(e, BER_INTEGER, (uint64_t)pid);
	ber_put_uint(e, BER_INTEGER, addr);
	ber_put_uint(e, BER_INTEGER, count);
	return ber_end(e);
}

static bool page_is_zero(const uint8_t *p)
{
	const uint64_t *w = (const uint64_t *)p;
	uint64_t acc = 0;
	size_t i;

	/* Word by word with an early exit per 512 octets: data pages stop at once. */
	for (i = 0; i < PAGE / 8; i += 64) {
		for (size_t k = 0; k < 64; k++)
			acc |= w[i + k];
		if (acc)
			return false;
	}
	return true;
}

struct chunk {
	uint32_t first, nr;
	bool zeros;
};

static size_t chunk_size(const struct chunk *c)
{
	if (c->zeros)
		return ber_header_size(BER_CTX(1), ber_uint_size(c->nr)) + ber_uint_size(c->nr);
	return ber_header_size(BER_CTX(0), (size_t)c->nr * PAGE) + (size_t)c->nr * PAGE;
}

int ps_enc_page_reply(struct ber_enc *e, uint64_t id, uint64_t addr, const void *pages, uint32_t nr)
{
	struct chunk chunks[PS_MAX_REQ_PAGES];
	const uint8_t *p = pages;
	size_t nr_chunks = 0, seq_len = 0, body;
	uint32_t i;

	if (nr < 1 || nr > PS_MAX_REQ_PAGES)
		return -EINVAL;
	for (i = 0; i < nr; i++) {
		bool zero = page_is_zero(p + (size_t)i * PAGE);

		if (nr_chunks && chunks[nr_chunks - 1].zeros == zero) {
			chunks[nr_chunks - 1].nr++;
			continue;
		}
		chunks[nr_chunks++] = (struct chunk){ .first = i, .nr = 1, .zeros = zero };
	}
	for (i = 0; i < nr_chunks; i++)
		seq_len += chunk_size(&chunks[i]);
	body = ber_header_size(BER_INTEGER, ber_uint_size(id)) + ber_uint_size(id) +
	       ber_header_size(BER_INTEGER, ber_uint_size(addr)) + ber_uint_size(addr) +
	       ber_header_size(BER_SEQUENCE, seq_len) + seq_len;
	ber_put_header(e, BER_APP(PS_PAGE_REPLY), body);
	ber_put_uint(e, BER_INTEGER, id);
	ber_put_uint(e, BER_INTEGER, addr);
	ber_put_header(e, BER_SEQUENCE, seq_len);
	for (i = 0; i < nr_chunks; i++) {
		if (chunks[i].zeros)
			ber_put_uint(e, BER_CTX(1), chunks[i].nr);
		else
			ber_put_octets(e, BER_CTX(0), p + (size_t)chunks[i].first * PAGE,
				       (size_t)chunks[i].nr * PAGE);
	}
	return e->err;
}

int ps_enc_page_error(struct ber_enc *e, uint64_t id, uint32_t code, const char *msg)
{
	if (code > 255)
		return -EINVAL;
	ber_begin(e, BER_APP(PS_PAGE_ERROR));
	ber_put_uint(e, BER_INTEGER, id);
	ber_put_uint(e, BER_INTEGER, code);
	put_text(e, msg);
	return ber_end(e);
}

int ps_enc_bye(struct ber_enc *e, const char *reason)
{
	ber_begin(e, BER_APP(PS_BYE));
	if (reason)
		put_text(e, reason);
	return ber_end(e);
}

/* ---- framing and decoding ------------------------------------------------ */

int ps_frame(const void *buf, size_t len, size_t max, size_t base, size_t *pdu_len,
	     struct ber_err *e)
{
	const uint8_t *p = buf;
	int ret;

	*pdu_len = 0;
	if (!len)
		return 0;
	/* Refuse a stream that does not start like a PDU at its first octet (say "GET /"). */
	if ((p[0] & 0xe0) != 0x60) {
		char name[48];

		e->err = -EBADMSG;
		e->off = base;
		snprintf(
			e->msg, sizeof(e->msg),
			"expected a PDU ([APPLICATION n] constructed), got %s%s (first octet 0x%02x)",
			ber_tag_name(BER_TAG(p[0] >> 6, p[0] & 0x20, p[0] & 0x1f), name,
				     sizeof(name)),
			(p[0] & 0x20) ? "" : " primitive", p[0]);
		return -EBADMSG;
	}
	ret = ber_frame(buf, len, max, base, pdu_len, e);
	if (ret <= 0) {
		if (!ret)
			*pdu_len = 0;
		return ret;
	}
	return len >= *pdu_len ? 1 : 0;
}

static int dec_text(struct ber_dec *d, const char *what, const char **s, size_t *len)
{
	return ber_get_utf8(d, BER_UTF8STRING, what, PS_MAX_TEXT, s, len);
}

static int dec_u32(struct ber_dec *d, uint32_t tag, const char *what, uint64_t min, uint64_t max,
		   uint32_t *v)
{
	uint64_t x = 0;
	int ret = ber_get_uint(d, tag, what, min, max, &x);

	*v = (uint32_t)x;
	return ret;
}

static int dec_server_hello(struct ber_dec *d, struct ps_pdu *p)
{
	const uint8_t *nonce;
	size_t n;

	ber_enter(d, BER_APP(PS_SERVER_HELLO), "ServerHello");
	dec_u32(d, BER_INTEGER, "ServerHello.version", 1, 255, &p->server_hello.version);
	ber_get_octets(d, BER_OCTET_STRING, "ServerHello.nonce", PS_NONCE_SIZE, PS_NONCE_SIZE,
		       &nonce, &n);
	p->server_hello.nonce = nonce;
	ber_get_bool(d, BER_BOOLEAN, "ServerHello.authRequired", &p->server_hello.auth_required);
	dec_u32(d, BER_INTEGER, "ServerHello.pageSize", 4096, 1048576, &p->server_hello.page_size);
	return ber_leave(d, true);
}

static int dec_client_hello(struct ber_dec *d, struct ps_pdu *p)
{
	const uint8_t *v;
	uint32_t chan = 0;
	size_t n;

	ber_enter(d, BER_APP(PS_CLIENT_HELLO), "ClientHello");
	dec_u32(d, BER_INTEGER, "ClientHello.version", 1, 255, &p->client_hello.version);
	dec_u32(d, BER_ENUMERATED, "ClientHello.channel", 0, 1, &chan);
	p->client_hello.channel = (enum ps_channel)chan;
	ber_get_octets(d, BER_OCTET_STRING, "ClientHello.sessionId", PS_SESSION_ID_SIZE,
		       PS_SESSION_ID_SIZE, &v, &n);
	p->client_hello.session_id = v;
	p->client_hello.proof = NULL;
	if (ber_next_is(d, BER_OCTET_STRING) > 0) {
		ber_get_octets(d, BER_OCTET_STRING, "ClientHello.proof", PS_PROOF_SIZE,
			       PS_PROOF_SIZE, &v, &n);
		p->client_hello.proof = v;
	}
	return ber_leave(d, true);
}

static int dec_ready(struct ber_dec *d, struct ps_pdu *p)
{
	ber_enter(d, BER_APP(PS_READY), "Ready");
	ber_get_uint(d, BER_INTEGER, "Ready.connection", 0, UINT64_MAX, &p->ready.connection);
	return ber_leave(d, true);
}

static int dec_error(struct ber_dec *d, struct ps_pdu *p)
{
	ber_enter(d, BER_APP(PS_ERROR), "Error");
	dec_u32(d, BER_INTEGER, "Error.code", 0, 255, &p->error.code);
	dec_text(d, "Error.message", &p->error.msg, &p->error.msg_len);
	return ber_leave(d, true);
}

static int dec_page_request(struct ber_dec *d, struct ps_pdu *p)
{
	struct ber_tlv t;
	int64_t pid = 0;
	size_t addr_off;

	ber_enter(d, BER_APP(PS_PAGE_REQUEST), "PageRequest");
	ber_get_uint(d, BER_INTEGER, "PageRequest.id", 0, UINT64_MAX, &p->page_request.id);
	ber_get_int(d, BER_INTEGER, "PageRequest.pid", 1, INT32_MAX, &pid);
	p->page_request.pid = (pid_t)pid;
	addr_off = ber_more(d) && !ber_peek(d, &t) ? t.off : d->base + d->pos;
	ber_get_uint(d, BER_INTEGER, "PageRequest.addr", 0, UINT64_MAX, &p->page_request.addr);
	dec_u32(d, BER_INTEGER, "PageRequest.count", 1, PS_MAX_REQ_PAGES, &p->page_request.count);
	if (d->err.err)
		return d->err.err;
	if (p->page_request.addr % PAGE)
		return ber_fail(d, addr_off, "PageRequest.addr 0x%" PRIx64 " is not page aligned",
				p->page_request.addr);
	if (p->page_request.addr > UINT64_MAX - (uint64_t)p->page_request.count * PAGE + 1)
		return ber_fail(d, addr_off,
				"PageRequest: %" PRIu32 " pages from 0x%" PRIx64
				" wrap around the address space",
				p->page_request.count, p->page_request.addr);
	return ber_leave(d, true);
}

static int dec_page_reply(struct ber_dec *d, struct ps_pdu *p)
{
	uint64_t total = 0;
	struct ber_tlv t;
	size_t addr_off;

	ber_enter(d, BER_APP(PS_PAGE_REPLY), "PageReply");
	ber_get_uint(d, BER_INTEGER, "PageReply.id", 0, UINT64_MAX, &p->page_reply.id);
	addr_off = ber_more(d) && !ber_peek(d, &t) ? t.off : d->base + d->pos;
	ber_get_uint(d, BER_INTEGER, "PageReply.addr", 0, UINT64_MAX, &p->page_reply.addr);
	if (!d->err.err && p->page_reply.addr % PAGE)
		return ber_fail(d, addr_off, "PageReply.addr 0x%" PRIx64 " is not page aligned",
				p->page_reply.addr);
	if (ber_enter(d, BER_SEQUENCE, "PageReply.pages"))
		return d->err.err;
	p->page_reply.chunks = d->buf + d->pos;
	p->page_reply.chunks_len = d->end - d->pos;
	p->page_reply.nr_chunks = 0;
	while (ber_more(d)) {
		uint64_t n;

		if (ber_peek(d, &t))
			return d->err.err;
		if (t.tag == BER_CTX(0)) {
			const uint8_t *v;
			size_t len;

			if (ber_get_octets(d, BER_CTX(0), "PageChunk.data", PAGE,
					   (size_t)PS_MAX_REQ_PAGES * PAGE, &v, &len))
				return d->err.err;
			if (len % PAGE)
				return ber_fail(
					d, t.off,
					"PageChunk.data of %zu octets is not a whole number of pages",
					len);
			n = len / PAGE;
		} else if (t.tag == BER_CTX(1)) {
			if (ber_get_uint(d, BER_CTX(1), "PageChunk.zeros", 1, PS_MAX_REQ_PAGES, &n))
				return d->err.err;
		} else {
			char got[48];

			return ber_fail(d, t.off,
					"expected a PageChunk (data [0] or zeros [1]), got %s",
					ber_tag_name(t.tag, got, sizeof(got)));
		}
		total += n;
		p->page_reply.nr_chunks++;
		if (total > PS_MAX_REQ_PAGES)
			return ber_fail(d, t.off, "PageReply of more than %u pages",
					PS_MAX_REQ_PAGES);
	}
	if (!total)
		return ber_fail(d, d->base + d->pos, "PageReply with no pages");
	if (p->page_reply.addr > UINT64_MAX - total * PAGE + 1)
		return ber_fail(d, addr_off,
				"PageReply: %" PRIu64 " pages from 0x%" PRIx64
				" wrap around the address space",
				total, p->page_reply.addr);
	p->page_reply.nr_pages = (uint32_t)total;
	if (ber_leave(d, false))
		return d->err.err;
	return ber_leave(d, true);
}

static int dec_page_error(struct ber_dec *d, struct ps_pdu *p)
{
	ber_enter(d, BER_APP(PS_PAGE_ERROR), "PageError");
	ber_get_uint(d, BER_INTEGER, "PageError.id", 0, UINT64_MAX, &p->page_error.id);
	dec_u32(d, BER_INTEGER, "PageError.code", 0, 255, &p->page_error.code);
	dec_text(d, "PageError.message", &p->page_error.msg, &p->page_error.msg_len);
	return ber_leave(d, true);
}

static int dec_bye(struct ber_dec *d, struct ps_pdu *p)
{
	ber_enter(d, BER_APP(PS_BYE), "Bye");
	p->bye.reason = NULL;
	p->bye.reason_len = 0;
	if (ber_next_is(d, BER_UTF8STRING) > 0)
		dec_text(d, "Bye.reason", &p->bye.reason, &p->bye.reason_len);
	return ber_leave(d, true);
}

int ps_decode(const void *buf, size_t len, size_t base, unsigned int allowed, struct ps_pdu *p,
	      struct ber_err *e)
{
	struct ber_dec d;
	uint32_t num;
	int ret;

	memset(p, 0, sizeof(*p));
	ret = ber_pdu_begin(&d, buf, len, base, allowed, ps_pdu_name, "this protocol", &num);
	if (ret)
		goto out;
	p->type = (enum ps_pdu_type)num;
	switch (p->type) {
	case PS_SERVER_HELLO:
		ret = dec_server_hello(&d, p);
		break;
	case PS_CLIENT_HELLO:
		ret = dec_client_hello(&d, p);
		break;
	case PS_READY:
		ret = dec_ready(&d, p);
		break;
	case PS_ERROR:
		ret = dec_error(&d, p);
		break;
	case PS_PAGE_REQUEST:
		ret = dec_page_request(&d, p);
		break;
	case PS_PAGE_REPLY:
		ret = dec_page_reply(&d, p);
		break;
	case PS_PAGE_ERROR:
		ret = dec_page_error(&d, p);
		break;
	case PS_BYE:
		ret = dec_bye(&d, p);
		break;
	}
	if (!ret)
		ret = ber_done(&d);
out:
	if (ret)
		*e = d.err;
	return ret;
}

int ps_reply_pages(const struct ps_pdu *p, void *buf, uint32_t buf_pages)
{
	uint8_t *out = buf;
	struct ber_dec d;
	struct ber_tlv t;

	if (p->type != PS_PAGE_REPLY || buf_pages != p->page_reply.nr_pages)
		return -EINVAL;
	/* Already checked by ps_decode(): walk the chunks again, trusting nothing anyway. */
	ber_dec_init(&d, p->page_reply.chunks, p->page_reply.chunks_len, 0);
	while (ber_more(&d)) {
		size_t n;

		if (ber_next(&d, &t))
			return -EINVAL;
		if (t.tag == BER_CTX(0)) {
			n = t.len;
		} else if (t.tag == BER_CTX(1)) {
			uint64_t k = 0;

			if (t.len < 1 || t.len > 2)
				return -EINVAL;
			for (size_t i = 0; i < t.len; i++)
				k = k << 8 | t.val[i];
			n = (size_t)k * PAGE;
		} else {
			return -EINVAL;
		}
		if (n > (size_t)buf_pages * PAGE - (size_t)(out - (uint8_t *)buf))
			return -EINVAL;
		if (t.tag == BER_CTX(0))
			memcpy(out, t.val, n);
		else
			memset(out, 0, n);
		out += n;
	}
	return out == (uint8_t *)buf + (size_t)buf_pages * PAGE ? 0 : -EINVAL;
}

/* ---- authentication -------------------------------------------------------- */

_Static_assert(PS_PROOF_SIZE == HMAC_SHA256_SIZE, "the proof is one HMAC-SHA256");

int ps_proof(const uint8_t *secret, size_t secret_len, const uint8_t *nonce,
	     enum ps_channel channel, const uint8_t *session_id, uint8_t *out)
{
	uint8_t ch = (uint8_t)channel;
	const struct iovec msg[] = {
		{ .iov_base = (void *)nonce, .iov_len = PS_NONCE_SIZE },
		{ .iov_base = &ch, .iov_len = 1 },
		{ .iov_base = (void *)session_id, .iov_len = PS_SESSION_ID_SIZE },
	};

	return hmac_sha256(secret, secret_len, msg, sizeof(msg) / sizeof(msg[0]), out);
}

int ps_secret_load(const char *path, uint8_t **secret, size_t *len)
{
	uint8_t *buf = NULL;
	size_t n = 0;
	struct stat st;
	int fd, err;

	*secret = NULL;
	*len = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		pr_perror("cannot open the secret file %s", path);
		return err;
	}
	if (fstat(fd, &st)) {
		err = -errno;
		pr_perror("cannot stat the secret file %s", path);
		goto out_close;
	}
	if (S_ISREG(st.st_mode) && (st.st_mode & 077))
		pr_warn("the secret file %s can be read by group or others (mode %04o)", path,
			(unsigned int)(st.st_mode & 07777));
	buf = malloc(PS_MAX_SECRET + 1);
	if (!buf) {
		err = -ENOMEM;
		goto out_close;
	}
	for (;;) {
		ssize_t r = read(fd, buf + n, PS_MAX_SECRET + 1 - n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			err = -errno;
			pr_perror("cannot read the secret file %s", path);
			goto out_free;
		}
		if (!r)
			break;
		n += (size_t)r;
		if (n > PS_MAX_SECRET) {
			err = -EINVAL;
			pr_err("the secret file %s is longer than %d bytes", path, PS_MAX_SECRET);
			goto out_free;
		}
	}
	if (n && buf[n - 1] == '\n') {
		n--;
		if (n && buf[n - 1] == '\r')
			n--;
	}
	if (!n) {
		err = -EINVAL;
		pr_err("the secret file %s is empty", path);
		goto out_free;
	}
	if (n < PS_MIN_SECRET) {
		err = -EINVAL;
		pr_err("the secret file %s holds %zu bytes: a secret of at least %d is needed (e.g. "
		       "head -c 32 /dev/urandom | base64 > %s)",
		       path, n, PS_MIN_SECRET, path);
		goto out_free;
	}
	*secret = buf;
	*len = n;
	close(fd);
	return 0;
out_free:
	explicit_bzero(buf, PS_MAX_SECRET + 1);
	free(buf);
out_close:
	close(fd);
	return err;
}

void ps_secret_free(uint8_t *secret, size_t len)
{
	if (!secret)
		return;
	explicit_bzero(secret, len);
	free(secret);
}

const char *ps_printable(const char *s, size_t len, char *buf, size_t size)
{
	size_t i;

	if (!size)
		return buf;
	for (i = 0; i < len && i + 1 < size; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	buf[i] = '\0';
	return buf;
}
