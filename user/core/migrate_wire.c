// SPDX-License-Identifier: MIT
/*
 * The live-migration stream's PDUs (migrate_wire.h): encoders, the decoder,
 * and the proof of the MigrationHello.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>

#include "hmac.h"
#include "migrate_wire.h"
#include "xbzrle.h"

const char *mig_pdu_name(unsigned int type)
{
	switch (type) {
	case MIG_AREA:
		return "MemoryArea";
	case MIG_PAGES:
		return "Pages";
	case MIG_ERROR:
		return "Error";
	case MIG_SRV_HELLO:
		return "ServerHello";
	case MIG_IMAGE:
		return "Image";
	case MIG_HELLO:
		return "MigrationHello";
	case MIG_READY:
		return "Ready";
	case MIG_SECTION:
		return "Section";
	case MIG_VERDICT:
		return "Verdict";
	case MIG_END:
		return "EndMark";
	case MIG_POSTCOPY:
		return "PostcopyServer";
	case MIG_PAGES_IN:
		return "PagesIn";
	}
	return "?";
}

const char *mig_section_name(enum mig_section_kind k)
{
	switch (k) {
	case MIG_SEC_SETUP:
		return "setup";
	case MIG_SEC_ITERATION:
		return "iteration";
	case MIG_SEC_FINAL:
		return "final";
	case MIG_SEC_POSTCOPY:
		return "postcopy";
	}
	return "?";
}

/* ---- encoders ------------------------------------------------------------ */

static int enc_hello(struct ber_enc *e, uint32_t version, const uint8_t *proof, bool xbzrle)
{
	if (version < 1 || version > 255 || (xbzrle && version < 2))
		return -EINVAL;
	ber_begin(e, BER_APP(MIG_HELLO));
	ber_put_uint(e, BER_INTEGER, version);
	ber_put_uint(e, BER_INTEGER, MIG_PAGE_SIZE);
	if (proof)
		ber_put_octets(e, BER_OCTET_STRING, proof, PS_PROOF_SIZE);
	if (xbzrle)
		ber_put_bool(e, BER_BOOLEAN, true);
	return ber_end(e);
}

int mig_enc_hello(struct ber_enc *e, uint32_t version, const uint8_t *proof)
{
	return enc_hello(e, version, proof, false);
}

int mig_enc_hello_xbzrle(struct ber_enc *e, uint32_t version, const uint8_t *proof)
{
	return enc_hello(e, version, proof, true);
}

int mig_enc_ready(struct ber_enc *e, bool xbzrle)
{
	ber_begin(e, BER_APP(MIG_READY));
	ber_put_uint(e, BER_INTEGER, 0);
	ber_put_bool(e, BER_BOOLEAN, xbzrle);
	return ber_end(e);
}

int mig_enc_section(struct ber_enc *e, enum mig_section_kind kind, uint64_t round)
{
	if (kind > MIG_SEC_POSTCOPY)
		return -EINVAL;
	ber_begin(e, BER_APP(MIG_SECTION));
	ber_put_uint(e, BER_ENUMERATED, (uint64_t)kind);
	ber_put_uint(e, BER_INTEGER, round);
	return ber_end(e);
}

int mig_enc_area(struct ber_enc *e, uint64_t id, pid_t pid, uint64_t start, uint64_t nr_pages)
{
	if (pid < 1 || start % MIG_PAGE_SIZE || !nr_pages ||
	    nr_pages > (UINT64_MAX - start) / MIG_PAGE_SIZE + 1)
		return -EINVAL;
	ber_begin(e, BER_APP(MIG_AREA));
	ber_put_uint(e, BER_INTEGER, id);
	ber_put_int(e, BER_INTEGER, pid);
	ber_put_uint(e, BER_INTEGER, start);
	ber_put_uint(e, BER_INTEGER, nr_pages);
	return ber_end(e);
}

/* A file name the receiver may create in its directory: no path, no dot files. */
static bool plain_name(const char *s, size_t len)
{
	if (!len || len > MIG_MAX_NAME || s[0] == '.')
		return false;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

int mig_enc_image(struct ber_enc *e, const char *name, const void *data, size_t len)
{
	if (!plain_name(name, strlen(name)) || len > MIG_MAX_IMAGE)
		return -EINVAL;
	ber_begin(e, BER_APP(MIG_IMAGE));
	ber_put_utf8(e, BER_UTF8STRING, name, strlen(name));
	ber_put_octets(e, BER_OCTET_STRING, data, len);
	return ber_end(e);
}

static bool page_is_zero(const uint8_t *p)
{
	static const uint8_t zero[MIG_PAGE_SIZE];

	return !memcmp(p, zero, MIG_PAGE_SIZE);
}

int mig_enc_pages(struct ber_enc *e, uint64_t area, uint64_t first, const void *pages, uint32_t nr)
{
	const uint8_t *p = pages;

	if (!nr || nr > MIG_MAX_PAGE_ITEMS)
		return -EINVAL;
	ber_begin(e, BER_APP(MIG_PAGES));
	ber_put_uint(e, BER_INTEGER, area);
	ber_put_uint(e, BER_INTEGER, first);
	ber_begin(e, BER_SEQUENCE);
	for (uint32_t i = 0; i < nr;) {
		uint32_t run = 0;

		while (i + run < nr && page_is_zero(p + (size_t)(i + run) * MIG_PAGE_SIZE))
			run++;
		if (run) {
			ber_put_uint(e, BER_CTX(MIG_PAGE_ZEROS), run);
			i += run;
			continue;
		}
		ber_put_octets(e, BER_CTX(MIG_PAGE_FULL), p + (size_t)i * MIG_PAGE_SIZE,
			       MIG_PAGE_SIZE);
		i++;
	}
	ber_end(e);
	return ber_end(e);
}

int mig_enc_zeros(struct ber_enc *e, uint64_t area, uint64_t first, uint32_t count)
{
	if (!count)
		return -EINVAL;
	ber_begin(e, BER_APP(MIG_PAGES));
	ber_put_uint(e, BER_INTEGER, area);
	ber_put_uint(e, BER_INTEGER, first);
	ber_begin(e, BER_SEQUENCE);
	ber_put_uint(e, BER_CTX(MIG_PAGE_ZEROS), count);
	ber_end(e);
	return ber_end(e);
}

int mig_enc_pages_open(struct ber_enc *e, uint64_t area, uint64_t first)
{
	ber_begin(e, BER_APP(MIG_PAGES));
	ber_put_uint(e, BER_INTEGER, area);
	ber_put_uint(e, BER_INTEGER, first);
	return ber_begin(e, BER_SEQUENCE);
}

int mig_enc_page_full(struct ber_enc *e, const void *page)
{
	return ber_put_octets(e, BER_CTX(MIG_PAGE_FULL), page, MIG_PAGE_SIZE);
}

int mig_enc_page_zeros(struct ber_enc *e, uint32_t count)
{
	if (!count)
		return -EINVAL;
	return ber_put_uint(e, BER_CTX(MIG_PAGE_ZEROS), count);
}

int mig_enc_page_xbzrle(struct ber_enc *e, const void *delta, size_t len)
{
	if (len > MIG_MAX_XBZRLE)
		return -EINVAL;
	return ber_put_octets(e, BER_CTX(MIG_PAGE_XBZRLE), delta, len);
}

int mig_enc_pages_close(struct ber_enc *e)
{
	ber_end(e);
	return ber_end(e);
}

int mig_enc_end(struct ber_enc *e, uint64_t round, uint64_t items)
{
	ber_begin(e, BER_APP(MIG_END));
	ber_put_uint(e, BER_INTEGER, round);
	ber_put_uint(e, BER_INTEGER, items);
	return ber_end(e);
}

static int enc_verdict(struct ber_enc *e, bool ok, pid_t root, const char *msg, bool times,
		       uint64_t section_us, uint64_t restore_us)
{
	size_t len = msg ? strlen(msg) : 0;

	if (root < 0 || len > PS_MAX_TEXT)
		return -EINVAL;
	ber_begin(e, BER_APP(MIG_VERDICT));
	ber_put_bool(e, BER_BOOLEAN, ok);
	ber_put_int(e, BER_INTEGER, root);
	ber_put_utf8(e, BER_UTF8STRING, msg ? msg : "", len);
	if (times) {
		ber_begin(e, BER_SEQUENCE);
		ber_put_uint(e, BER_INTEGER, section_us);
		ber_put_uint(e, BER_INTEGER, restore_us);
		ber_end(e);
	}
	return ber_end(e);
}

int mig_enc_verdict(struct ber_enc *e, bool ok, pid_t root, const char *msg)
{
	return enc_verdict(e, ok, root, msg, false, 0, 0);
}

int mig_enc_verdict_times(struct ber_enc *e, bool ok, pid_t root, const char *msg,
			  uint64_t section_us, uint64_t restore_us)
{
	return enc_verdict(e, ok, root, msg, true, section_us, restore_us);
}

int mig_enc_postcopy(struct ber_enc *e, uint32_t port)
{
	if (port < 1 || port > 65535)
		return -EINVAL;
	ber_begin(e, BER_APP(MIG_POSTCOPY));
	ber_put_uint(e, BER_INTEGER, port);
	return ber_end(e);
}

int mig_enc_pages_in(struct ber_enc *e, bool ok, uint64_t pages, const char *msg)
{
	size_t len = msg ? strlen(msg) : 0;

	if (len > PS_MAX_TEXT)
		return -EINVAL;
	ber_begin(e, BER_APP(MIG_PAGES_IN));
	ber_put_bool(e, BER_BOOLEAN, ok);
	ber_put_uint(e, BER_INTEGER, pages);
	ber_put_utf8(e, BER_UTF8STRING, msg ? msg : "", len);
	return ber_end(e);
}

/* ---- decoder ------------------------------------------------------------- */

/* The offset of the next element, for messages about its value. */
static size_t next_off(struct ber_dec *d)
{
	struct ber_tlv t;

	return ber_more(d) && !ber_peek(d, &t) ? t.off : d->base + d->pos;
}

static int dec_hello(struct ber_dec *d, struct mig_pdu *p)
{
	const uint8_t *v;
	uint64_t x = 0;
	size_t n;

	ber_enter(d, BER_APP(MIG_HELLO), "MigrationHello");
	ber_get_uint(d, BER_INTEGER, "MigrationHello.version", 1, 255, &x);
	p->hello.version = (uint32_t)x;
	ber_get_uint(d, BER_INTEGER, "MigrationHello.pageSize", 4096, 1048576, &x);
	p->hello.page_size = (uint32_t)x;
	p->hello.proof = NULL;
	if (ber_next_is(d, BER_OCTET_STRING) > 0) {
		ber_get_octets(d, BER_OCTET_STRING, "MigrationHello.proof", PS_PROOF_SIZE,
			       PS_PROOF_SIZE, &v, &n);
		p->hello.proof = v;
	}
	if (ber_next_is(d, BER_BOOLEAN) > 0)
		ber_get_bool(d, BER_BOOLEAN, "MigrationHello.xbzrle", &p->xbzrle);
	return ber_leave(d, true);
}

/* The page server's Ready, with the stream's optional xbzrle answer. */
static int dec_ready(struct ber_dec *d, struct mig_pdu *p)
{
	ber_enter(d, BER_APP(MIG_READY), "Ready");
	ber_get_uint(d, BER_INTEGER, "Ready.connection", 0, UINT64_MAX, &p->ps.ready.connection);
	p->ps.type = PS_READY;
	if (ber_next_is(d, BER_BOOLEAN) > 0)
		ber_get_bool(d, BER_BOOLEAN, "Ready.xbzrle", &p->xbzrle);
	return ber_leave(d, true);
}

static int dec_section(struct ber_dec *d, struct mig_pdu *p)
{
	uint64_t k = 0;

	ber_enter(d, BER_APP(MIG_SECTION), "Section");
	ber_get_uint(d, BER_ENUMERATED, "Section.kind", 0, MIG_SEC_POSTCOPY, &k);
	p->section.kind = (enum mig_section_kind)k;
	ber_get_uint(d, BER_INTEGER, "Section.round", 0, UINT32_MAX, &p->section.round);
	return ber_leave(d, true);
}

static int dec_area(struct ber_dec *d, struct mig_pdu *p)
{
	int64_t pid = 0;
	size_t off;

	ber_enter(d, BER_APP(MIG_AREA), "MemoryArea");
	ber_get_uint(d, BER_INTEGER, "MemoryArea.id", 0, UINT32_MAX, &p->area.id);
	ber_get_int(d, BER_INTEGER, "MemoryArea.pid", 1, INT32_MAX, &pid);
	p->area.pid = (pid_t)pid;
	off = next_off(d);
	ber_get_uint(d, BER_INTEGER, "MemoryArea.start", 0, UINT64_MAX, &p->area.start);
	ber_get_uint(d, BER_INTEGER, "MemoryArea.nrPages", 1, UINT64_MAX / MIG_PAGE_SIZE,
		     &p->area.nr_pages);
	if (d->err.err)
		return d->err.err;
	if (p->area.start % MIG_PAGE_SIZE)
		return ber_fail(d, off, "MemoryArea.start 0x%" PRIx64 " is not page aligned",
				p->area.start);
	if (p->area.nr_pages > (UINT64_MAX - p->area.start) / MIG_PAGE_SIZE + 1)
		return ber_fail(d, off,
				"MemoryArea: %" PRIu64 " pages from 0x%" PRIx64
				" wrap around the address space",
				p->area.nr_pages, p->area.start);
	return ber_leave(d, true);
}

static int dec_image(struct ber_dec *d, struct mig_pdu *p)
{
	const char *s = NULL;
	size_t off, n = 0;

	ber_enter(d, BER_APP(MIG_IMAGE), "Image");
	off = next_off(d);
	ber_get_utf8(d, BER_UTF8STRING, "Image.name", MIG_MAX_NAME, &s, &n);
	if (!d->err.err && !plain_name(s, n))
		return ber_fail(d, off,
				"Image.name is not a plain file name ([A-Za-z0-9._-], not "
				"starting with a dot, 1..%u octets)",
				MIG_MAX_NAME);
	p->image.name = s;
	p->image.name_len = n;
	ber_get_octets(d, BER_OCTET_STRING, "Image.data", 0, MIG_MAX_IMAGE, &p->image.data,
		       &p->image.len);
	return ber_leave(d, true);
}

/* An XBZRLE element's delta: well formed, inside its page. */
static int dec_xbzrle(struct ber_dec *d, const struct ber_tlv *t)
{
	const char *why = "";
	const uint8_t *v;
	size_t len, bad = 0;

	if (ber_get_octets(d, t->tag, "Pages.pages.xbzrle", 0, MIG_MAX_XBZRLE, &v, &len))
		return d->err.err;
	if (xbzrle_check(v, len, MIG_PAGE_SIZE, &bad, &why))
		return ber_fail(d, t->off + t->hdr_len + bad, "Pages.pages.xbzrle: %s", why);
	return 0;
}

static int dec_pages(struct ber_dec *d, struct mig_pdu *p, bool xbzrle)
{
	struct ber_tlv t;
	uint64_t total = 0;
	size_t seq_off;

	ber_enter(d, BER_APP(MIG_PAGES), "Pages");
	ber_get_uint(d, BER_INTEGER, "Pages.area", 0, UINT32_MAX, &p->pages.area);
	ber_get_uint(d, BER_INTEGER, "Pages.first", 0, UINT64_MAX / MIG_PAGE_SIZE, &p->pages.first);
	seq_off = next_off(d);
	if (ber_enter(d, BER_SEQUENCE, "Pages.pages"))
		return d->err.err;
	p->pages.items = d->buf + d->pos;
	p->pages.items_off = d->base + d->pos;
	p->pages.items_len = d->end - d->pos;
	while (ber_more(d)) {
		const uint8_t *v;
		uint64_t n = 0;
		size_t len;

		if (p->pages.nr_items == MIG_MAX_PAGE_ITEMS)
			return ber_fail(d, next_off(d), "Pages.pages: more than %u elements",
					MIG_MAX_PAGE_ITEMS);
		if (ber_peek(d, &t))
			return d->err.err;
		if (t.tag == BER_CTX(MIG_PAGE_FULL)) {
			if (ber_get_octets(d, t.tag, "Pages.pages.full", MIG_PAGE_SIZE,
					   MIG_PAGE_SIZE, &v, &len))
				return d->err.err;
			n = 1;
		} else if (t.tag == BER_CTX(MIG_PAGE_ZEROS)) {
			if (ber_get_uint(d, t.tag, "Pages.pages.zeros", 1, MIG_MAX_ZERO_RUN, &n))
				return d->err.err;
		} else if (t.tag == BER_CTX(MIG_PAGE_XBZRLE) && xbzrle) {
			if (dec_xbzrle(d, &t))
				return d->err.err;
			n = 1;
		} else if (t.tag == BER_CTX(MIG_PAGE_XBZRLE)) {
			return ber_fail(d, t.off,
					"Pages.pages.xbzrle: XBZRLE deltas were not agreed on in "
					"the hello (version 1, or not asked for)");
		} else {
			char name[48];

			return ber_fail(d, t.off, "expected a page ([0] full or [1] zeros), got %s",
					ber_tag_name(t.tag, name, sizeof(name)));
		}
		total += n;
		p->pages.nr_items++;
	}
	ber_leave(d, false);
	if (d->err.err)
		return d->err.err;
	if (!p->pages.nr_items)
		return ber_fail(d, seq_off, "Pages.pages is empty");
	if (p->pages.first > UINT64_MAX / MIG_PAGE_SIZE - total)
		return ber_fail(d, seq_off,
				"Pages: %" PRIu64 " pages from page %" PRIu64 " overflow", total,
				p->pages.first);
	p->pages.nr_pages = total;
	return ber_leave(d, true);
}

static int dec_end(struct ber_dec *d, struct mig_pdu *p)
{
	ber_enter(d, BER_APP(MIG_END), "EndMark");
	ber_get_uint(d, BER_INTEGER, "EndMark.round", 0, UINT32_MAX, &p->end.round);
	ber_get_uint(d, BER_INTEGER, "EndMark.items", 0, UINT64_MAX, &p->end.items);
	return ber_leave(d, true);
}

static int dec_verdict(struct ber_dec *d, struct mig_pdu *p)
{
	int64_t root = 0;

	ber_enter(d, BER_APP(MIG_VERDICT), "Verdict");
	ber_get_bool(d, BER_BOOLEAN, "Verdict.ok", &p->verdict.ok);
	ber_get_int(d, BER_INTEGER, "Verdict.root", 0, INT32_MAX, &root);
	p->verdict.root = (pid_t)root;
	ber_get_utf8(d, BER_UTF8STRING, "Verdict.message", PS_MAX_TEXT, &p->verdict.msg,
		     &p->verdict.msg_len);
	if (ber_next_is(d, BER_SEQUENCE) > 0) {
		ber_enter(d, BER_SEQUENCE, "Verdict.times");
		ber_get_uint(d, BER_INTEGER, "Verdict.times.finalSectionMicros", 0, UINT64_MAX,
			     &p->verdict.section_us);
		ber_get_uint(d, BER_INTEGER, "Verdict.times.restoreMicros", 0, UINT64_MAX,
			     &p->verdict.restore_us);
		p->verdict.has_times = ber_leave(d, true) == 0;
	}
	return ber_leave(d, true);
}

static int dec_postcopy(struct ber_dec *d, struct mig_pdu *p)
{
	uint64_t port = 0;

	ber_enter(d, BER_APP(MIG_POSTCOPY), "PostcopyServer");
	ber_get_uint(d, BER_INTEGER, "PostcopyServer.port", 1, 65535, &port);
	p->postcopy.port = (uint32_t)port;
	return ber_leave(d, true);
}

static int dec_pages_in(struct ber_dec *d, struct mig_pdu *p)
{
	ber_enter(d, BER_APP(MIG_PAGES_IN), "PagesIn");
	ber_get_bool(d, BER_BOOLEAN, "PagesIn.ok", &p->pages_in.ok);
	ber_get_uint(d, BER_INTEGER, "PagesIn.pages", 0, UINT64_MAX, &p->pages_in.pages);
	ber_get_utf8(d, BER_UTF8STRING, "PagesIn.message", PS_MAX_TEXT, &p->pages_in.msg,
		     &p->pages_in.msg_len);
	return ber_leave(d, true);
}

int mig_decode(const void *buf, size_t len, size_t base, unsigned int allowed, struct mig_pdu *p,
	       struct ber_err *e)
{
	struct ber_dec d;
	uint32_t num;
	int ret;

	memset(p, 0, sizeof(*p));
	ret = ber_pdu_begin(&d, buf, len, base, allowed, mig_pdu_name, "the migration stream",
			    &num);
	if (ret)
		goto out;
	p->type = (enum mig_pdu_type)num;
	switch (p->type) {
	case MIG_READY:
		ret = dec_ready(&d, p);
		break;
	case MIG_SRV_HELLO:
	case MIG_ERROR:
		/* The page server's PDUs, decoded by its codec. */
		return ps_decode(buf, len, base, 1u << num, &p->ps, e);
	case MIG_HELLO:
		ret = dec_hello(&d, p);
		break;
	case MIG_SECTION:
		ret = dec_section(&d, p);
		break;
	case MIG_AREA:
		ret = dec_area(&d, p);
		break;
	case MIG_IMAGE:
		ret = dec_image(&d, p);
		break;
	case MIG_PAGES:
		ret = dec_pages(&d, p, allowed & MIG_ALLOW_XBZRLE);
		break;
	case MIG_END:
		ret = dec_end(&d, p);
		break;
	case MIG_VERDICT:
		ret = dec_verdict(&d, p);
		break;
	case MIG_POSTCOPY:
		ret = dec_postcopy(&d, p);
		break;
	case MIG_PAGES_IN:
		ret = dec_pages_in(&d, p);
		break;
	}
	if (!ret)
		ret = ber_done(&d);
out:
	if (ret)
		*e = d.err;
	return ret;
}

int mig_pages_next(const struct mig_pdu *p, size_t *pos, struct mig_page_item *it)
{
	struct ber_dec d;
	struct ber_tlv t;

	if (p->type != MIG_PAGES || *pos >= p->pages.items_len)
		return 0;
	ber_dec_init(&d, p->pages.items + *pos, p->pages.items_len - *pos, 0);
	if (ber_next(&d, &t))
		return 0;
	*pos += d.pos;
	it->len = t.len;
	if (t.tag == BER_CTX(MIG_PAGE_FULL)) {
		it->kind = MIG_PAGE_FULL;
		it->count = 1;
		it->data = t.val;
	} else if (t.tag == BER_CTX(MIG_PAGE_XBZRLE)) {
		it->kind = MIG_PAGE_XBZRLE;
		it->count = 1;
		it->data = t.val;
	} else {
		uint64_t n = 0;

		for (size_t i = 0; i < t.len; i++)
			n = n << 8 | t.val[i];
		it->kind = MIG_PAGE_ZEROS;
		it->count = (uint32_t)n;
		it->data = NULL;
	}
	return 1;
}

int mig_proof(const uint8_t *secret, size_t secret_len, const uint8_t *nonce, uint8_t *out)
{
	static const char label[] = "migrate";
	struct iovec iov[2] = {
		{ .iov_base = (void *)nonce, .iov_len = PS_NONCE_SIZE },
		{ .iov_base = (void *)label, .iov_len = sizeof(label) - 1 },
	};

	return hmac_sha256(secret, secret_len, iov, 2, out);
}
