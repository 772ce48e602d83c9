// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the live-migration stream's decoder
 * (user/core/migrate_wire.c) on arbitrary bytes.
 *
 * The input is a stream, cut into PDUs by the framer as a receive buffer
 * would; every whole PDU is decoded as either side decodes it. Checked,
 * with an abort when broken:
 *  - the framer never claims more octets than it has, never passes a PDU
 *    over MIG_MAX_PDU;
 *  - a decoding error has an offset inside the PDU;
 *  - a decoded Pages PDU's elements add up to its page count and each full
 *    page is MIG_PAGE_SIZE octets inside the PDU; re-encoding its pages
 *    decodes to the same pages;
 *  - a decoded MemoryArea, Section or EndMark re-encodes to a PDU that
 *    decodes to the same fields;
 *  - the source's PDUs are decoded with and without XBZRLE agreed on: an
 *    XBZRLE element that decodes applies to a page without error (never
 *    past its end: ASan watches), and is refused when not agreed on.
 * The seeds (corpus/fuzz_migrate_wire/) are pieces of a captured migration.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ber.h"
#include "migrate_wire.h"
#include "xbzrle.h"

#define CHECK(cond)                                                                         \
	do {                                                                                \
		if (!(cond)) {                                                              \
			fprintf(stderr, "fuzz_migrate_wire: %s:%d: broken guarantee: %s\n", \
				__FILE__, __LINE__, #cond);                                 \
			abort();                                                            \
		}                                                                           \
	} while (0)

static uint8_t pages[MIG_MAX_PAGE_ITEMS * MIG_PAGE_SIZE];

static void check_pages(const struct mig_pdu *p, const uint8_t *buf, size_t len)
{
	struct mig_page_item it;
	uint64_t total = 0;
	uint32_t items = 0, full = 0;
	size_t pos = 0;

	while (mig_pages_next(p, &pos, &it)) {
		CHECK(it.count >= 1);
		if (it.kind == MIG_PAGE_FULL) {
			CHECK(it.count == 1);
			CHECK(it.data >= buf && it.data + MIG_PAGE_SIZE <= buf + len);
			memcpy(pages + (size_t)full * MIG_PAGE_SIZE, it.data, MIG_PAGE_SIZE);
			full++;
		} else if (it.kind == MIG_PAGE_XBZRLE) {
			uint8_t page[MIG_PAGE_SIZE] = { 0 };
			const char *why = "";
			size_t bad = 0;

			CHECK(it.count == 1 && it.len <= MIG_MAX_XBZRLE);
			CHECK(it.data >= buf && it.data + it.len <= buf + len);
			CHECK(!xbzrle_apply(it.data, it.len, page, MIG_PAGE_SIZE, &bad, &why));
		} else {
			CHECK(it.kind == MIG_PAGE_ZEROS && !it.data);
		}
		total += it.count;
		items++;
	}
	CHECK(items == p->pages.nr_items);
	CHECK(total == p->pages.nr_pages);
	/* The full pages, sent again, come back the same. */
	if (full) {
		struct ber_enc e;
		struct ber_err err;
		struct mig_pdu q;
		size_t qpos = 0;
		uint32_t k = 0;

		ber_enc_init(&e);
		CHECK(!mig_enc_pages(&e, p->pages.area, p->pages.first, pages, full));
		CHECK(!mig_decode(e.buf, e.len, 0, 1u << MIG_PAGES, &q, &err));
		while (mig_pages_next(&q, &qpos, &it)) {
			for (uint32_t i = 0; i < it.count; i++, k++) {
				if (it.kind == MIG_PAGE_FULL)
					CHECK(!memcmp(it.data, pages + (size_t)k * MIG_PAGE_SIZE,
						      MIG_PAGE_SIZE));
			}
		}
		CHECK(k == full);
		ber_enc_free(&e);
	}
}

/* The PDUs whose every field is a value: re-encoded, they decode to the same fields. */
static void check_reencode(const struct mig_pdu *p)
{
	struct ber_err err;
	struct ber_enc e;
	struct mig_pdu q;
	int ret = 0;

	ber_enc_init(&e);
	switch (p->type) {
	case MIG_SECTION:
		ret = mig_enc_section(&e, p->section.kind, p->section.round);
		break;
	case MIG_AREA:
		ret = mig_enc_area(&e, p->area.id, p->area.pid, p->area.start, p->area.nr_pages);
		break;
	case MIG_END:
		ret = mig_enc_end(&e, p->end.round, p->end.items);
		break;
	default:
		ber_enc_free(&e);
		return;
	}
	CHECK(!ret);
	CHECK(!mig_decode(e.buf, e.len, 0, 1u << p->type, &q, &err));
	switch (p->type) {
	case MIG_SECTION:
		CHECK(q.section.kind == p->section.kind && q.section.round == p->section.round);
		break;
	case MIG_AREA:
		CHECK(q.area.id == p->area.id && q.area.pid == p->area.pid &&
		      q.area.start == p->area.start && q.area.nr_pages == p->area.nr_pages);
		break;
	default:
		CHECK(q.end.round == p->end.round && q.end.items == p->end.items);
		break;
	}
	ber_enc_free(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	while (off < size) {
		struct ber_err err = { 0 };
		struct mig_pdu p;
		size_t pdu_len = 0;
		int ret = ps_frame(data + off, size - off, MIG_MAX_PDU, off, &pdu_len, &err);

		if (ret < 0) {
			CHECK(err.off >= off && err.off <= size);
			return 0;
		}
		if (ret == 0)
			return 0;
		CHECK(pdu_len <= size - off && pdu_len <= MIG_MAX_PDU);
		for (int side = 0; side < 3; side++) {
			unsigned int allowed = side == 1   ? MIG_FROM_DEST
					       : side == 2 ? MIG_FROM_SOURCE | MIG_ALLOW_XBZRLE
							   : MIG_FROM_SOURCE;

			memset(&err, 0, sizeof(err));
			ret = mig_decode(data + off, pdu_len, off, allowed, &p, &err);
			if (ret) {
				CHECK(ret == -EBADMSG);
				CHECK(err.off >= off && err.off <= off + pdu_len);
				continue;
			}
			if (p.type == MIG_PAGES)
				check_pages(&p, data + off, pdu_len);
			check_reencode(&p);
		}
		off += pdu_len;
	}
	return 0;
}
