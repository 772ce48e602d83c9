/* SPDX-License-Identifier: MIT */
/*
 * The live-migration stream on the wire (docs/migrate.md, module FerryWire
 * in docs/pageserver.asn1): encoders and a decoder for its PDUs on top of
 * ber.[ch], and a connection that sends and receives whole PDUs.
 *
 * A migration is one TCP connection. The destination speaks first with the
 * page server's ServerHello (nonce, authRequired); the source answers with
 * a MigrationHello ('m'); the destination accepts with Ready ('o') or ends
 * with Error ('e'). Then the source sends sections: a Section header ('s'),
 * its items (Image 'i', MemoryArea 'a', Pages 'd'), and an EndMark ('z')
 * that repeats the round and counts the items. After the final section the
 * destination answers with a Verdict ('v').
 *
 * Decoded PDUs point into the buffer they were decoded from. Every decoding
 * error is -EBADMSG with a struct ber_err (stream offset and message).
 */
#ifndef FERRY_MIGRATE_WIRE_H
#define FERRY_MIGRATE_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ber.h"
#include "ps_wire.h"

/*
 * The revision of FerryWire whose migration stream this code speaks: 2 adds
 * XBZRLE deltas (asked for in the MigrationHello, accepted in the Ready).
 * A destination still accepts a version 1 source (no deltas).
 */
#define MIG_WIRE_VERSION 2
#define MIG_WIRE_MIN_VERSION 1
#define MIG_PAGE_SIZE 4096u
/* The most page elements (full pages or zero runs) in one Pages PDU. */
#define MIG_MAX_PAGE_ITEMS 256u
/* The longest image sent whole in an Image PDU (its OCTET STRING bound). */
#define MIG_MAX_IMAGE (16u << 20)
/* The longest image file name. */
#define MIG_MAX_NAME 255u
/* The longest PDU either side accepts: an Image of MIG_MAX_IMAGE and its headers. */
#define MIG_MAX_PDU (MIG_MAX_IMAGE + 4096u)
/* The longest zero run one element carries. */
#define MIG_MAX_ZERO_RUN 0xffffffffu
/* The port `ferry migrate --incoming` listens on unless told otherwise. */
#define MIG_DEFAULT_PORT 27028

/* The PDUs of the stream, each its [APPLICATION n] number. */
enum mig_pdu_type {
	MIG_AREA = 1,	   /* 'a' MemoryArea */
	MIG_PAGES = 4,	   /* 'd' Pages */
	MIG_ERROR = 5,	   /* 'e' Error (the page server's) */
	MIG_SRV_HELLO = 8, /* 'h' ServerHello (the page server's) */
	MIG_IMAGE = 9,	   /* 'i' Image */
	MIG_PAGES_IN = 12, /* 'l' PagesIn (post-copy: every page pulled, "lazy done") */
	MIG_HELLO = 13,	   /* 'm' MigrationHello */
	MIG_READY = 15,	   /* 'o' Ready (the page server's) */
	MIG_SECTION = 19,  /* 's' Section */
	MIG_POSTCOPY = 20, /* 't' PostcopyServer (post-copy: the source's page server) */
	MIG_VERDICT = 22,  /* 'v' Verdict */
	MIG_END = 26,	   /* 'z' EndMark */
};

/* What each side may receive, as masks for mig_decode(). */
#define MIG_FROM_SOURCE                                                           \
	(1u << MIG_HELLO | 1u << MIG_SECTION | 1u << MIG_AREA | 1u << MIG_IMAGE | \
	 1u << MIG_PAGES | 1u << MIG_END | 1u << MIG_ERROR | 1u << MIG_POSTCOPY)
#define MIG_FROM_DEST                                                                  \
	(1u << MIG_SRV_HELLO | 1u << MIG_READY | 1u << MIG_ERROR | 1u << MIG_VERDICT | \
	 1u << MIG_PAGES_IN)
/* Or-ed into a mask: Pages may carry XBZRLE elements (negotiated in the hello). */
#define MIG_ALLOW_XBZRLE (1u << 31)
/* The longest XBZRLE delta: shorter than a page, else the page goes whole. */
#define MIG_MAX_XBZRLE (MIG_PAGE_SIZE - 1)

enum mig_section_kind {
	MIG_SEC_SETUP = 0,
	MIG_SEC_ITERATION = 1,
	MIG_SEC_FINAL = 2,
	/* the frozen tree's images (pagemaps too) and a PostcopyServer; no pages */
	MIG_SEC_POSTCOPY = 3,
};

/* One element of a Pages PDU. */
enum mig_page_kind {
	MIG_PAGE_FULL = 0,   /* [0] one page of data */
	MIG_PAGE_ZEROS = 1,  /* [1] a run of zero pages */
	MIG_PAGE_XBZRLE = 2, /* [2] a delta against the copy the destination holds (version 2) */
};

struct mig_page_item {
	enum mig_page_kind kind;
	uint32_t count;	     /* pages it covers: 1 for FULL and XBZRLE */
	const uint8_t *data; /* FULL: MIG_PAGE_SIZE octets; XBZRLE: the delta (checked) */
	size_t len;	     /* octets at data */
};

struct mig_pdu {
	enum mig_pdu_type type;
	/* MigrationHello: the source asks for XBZRLE; Ready: the destination accepts it. */
	bool xbzrle;
	union {
		struct {
			uint32_t version;
			uint32_t page_size;
			const uint8_t *proof; /* PS_PROOF_SIZE octets or NULL */
		} hello;
		struct {
			enum mig_section_kind kind;
			uint64_t round;
		} section;
		struct {
			uint64_t id;
			pid_t pid;
			uint64_t start; /* page aligned */
			uint64_t nr_pages;
		} area;
		struct {
			const char *name; /* not NUL-terminated; a plain file name (checked) */
			size_t name_len;
			const uint8_t *data;
			size_t len;
		} image;
		struct {
			uint64_t area;
			uint64_t first;	   /* index of the first page in the area */
			uint64_t nr_pages; /* pages the items cover */
			uint32_t nr_items;
			const uint8_t *items; /* contents of the SEQUENCE OF (checked) */
			size_t items_len;
			size_t items_off; /* stream offset of items[0] */
		} pages;
		struct {
			uint64_t round;
			uint64_t items;
		} end;
		struct {
			bool ok;
			pid_t root; /* the restored root's pid, 0 if none */
			const char *msg;
			size_t msg_len;
			/* DestinationTimes, when sent: the final section's and the restore's */
			bool has_times;
			uint64_t section_us, restore_us;
		} verdict;
		struct {
			uint32_t port; /* the source's page server, on the stream's address */
		} postcopy;
		struct {
			bool ok;	/* every page is in the destination's memory */
			uint64_t pages; /* pages pulled from the source's page server */
			const char *msg;
			size_t msg_len;
		} pages_in;
		struct ps_pdu ps; /* MIG_SRV_HELLO, MIG_READY, MIG_ERROR */
	};
};

/* mig_pdu_name - "MigrationHello" etc., "?" for a number that is not a PDU of the stream. */
const char *mig_pdu_name(unsigned int type);
/* mig_section_name - "setup", "iteration", "final". */
const char *mig_section_name(enum mig_section_kind k);

/* Encoders: append one PDU to @e. Return 0 or -ENOMEM / -EINVAL (outside the schema). */
int mig_enc_hello(struct ber_enc *e, uint32_t version, const uint8_t *proof);
/* mig_enc_hello_xbzrle - a MigrationHello that asks for XBZRLE deltas (version >= 2). */
int mig_enc_hello_xbzrle(struct ber_enc *e, uint32_t version, const uint8_t *proof);
/* mig_enc_ready - the destination's Ready (connection 0), saying whether it takes XBZRLE. */
int mig_enc_ready(struct ber_enc *e, bool xbzrle);
int mig_enc_section(struct ber_enc *e, enum mig_section_kind kind, uint64_t round);
int mig_enc_area(struct ber_enc *e, uint64_t id, pid_t pid, uint64_t start, uint64_t nr_pages);
int mig_enc_image(struct ber_enc *e, const char *name, const void *data, size_t len);
/*
 * mig_enc_pages - @nr pages (nr * MIG_PAGE_SIZE octets at @pages, 1..
 * MIG_MAX_PAGE_ITEMS) of area @area from page index @first: a page with data
 * is a full element, consecutive all-zero pages one zero run.
 */
int mig_enc_pages(struct ber_enc *e, uint64_t area, uint64_t first, const void *pages, uint32_t nr);
/* mig_enc_zeros - a Pages PDU of one zero run of @count pages. */
int mig_enc_zeros(struct ber_enc *e, uint64_t area, uint64_t first, uint32_t count);
/*
 * A Pages PDU element by element: open, 1..MIG_MAX_PAGE_ITEMS elements,
 * close (which returns the encoder's error, if any).
 */
int mig_enc_pages_open(struct ber_enc *e, uint64_t area, uint64_t first);
int mig_enc_page_full(struct ber_enc *e, const void *page);
int mig_enc_page_zeros(struct ber_enc *e, uint32_t count);
/* mig_enc_page_xbzrle - a delta of 0..MIG_MAX_XBZRLE octets (xbzrle.h). */
int mig_enc_page_xbzrle(struct ber_enc *e, const void *delta, size_t len);
int mig_enc_pages_close(struct ber_enc *e);
int mig_enc_end(struct ber_enc *e, uint64_t round, uint64_t items);
int mig_enc_verdict(struct ber_enc *e, bool ok, pid_t root, const char *msg);
/* mig_enc_verdict_times - a Verdict with its DestinationTimes (microseconds). */
int mig_enc_verdict_times(struct ber_enc *e, bool ok, pid_t root, const char *msg,
			  uint64_t section_us, uint64_t restore_us);
/* mig_enc_postcopy - PostcopyServer: the page server of a post-copy listens on @port (1..65535). */
int mig_enc_postcopy(struct ber_enc *e, uint32_t port);
/* mig_enc_pages_in - PagesIn: the destination's last word in a post-copy. */
int mig_enc_pages_in(struct ber_enc *e, bool ok, uint64_t pages, const char *msg);

/*
 * mig_decode - decode the one PDU of exactly @len octets at @buf (stream
 * offset @base). A type not in the mask @allowed is refused, and an XBZRLE
 * element unless MIG_ALLOW_XBZRLE is in it (a delta that is malformed or
 * runs past its page is refused with the offset of the length at fault).
 * Returns 0 or -EBADMSG with @e filled.
 */
int mig_decode(const void *buf, size_t len, size_t base, unsigned int allowed, struct mig_pdu *p,
	       struct ber_err *e);

/*
 * mig_pages_next - the next element of a decoded Pages PDU: call with
 * *@pos = 0 first. Returns 1 with @it filled, 0 after the last one.
 * (The elements were checked by mig_decode.)
 */
int mig_pages_next(const struct mig_pdu *p, size_t *pos, struct mig_page_item *it);

/* mig_proof - HMAC-SHA256(secret, nonce || "migrate") into @out (PS_PROOF_SIZE octets). */
int mig_proof(const uint8_t *secret, size_t secret_len, const uint8_t *nonce, uint8_t *out);

/* ---- a connection ------------------------------------------------------- */

struct mig_conn {
	int fd;
	const char *peer;   /* for messages */
	int log_fd;	    /* -1, or a file that gets a copy of every octet sent */
	uint8_t *buf;	    /* receive buffer */
	size_t len, cap;    /* octets in it, its size */
	size_t consumed;    /* octets of the PDU returned last, dropped at the next receive */
	size_t in_off;	    /* stream offset of buf[0] */
	uint64_t sent;	    /* octets sent */
	long timeout_ms;    /* for each receive; <= 0: none */
	int sink;	    /* a stream read from a file: what is sent is counted, not written */
	struct ber_enc enc; /* scratch encoder for senders */
};

void mig_conn_init(struct mig_conn *c, int fd, const char *peer);
/* mig_conn_free - the buffers, and the fd (closed if >= 0). */
void mig_conn_free(struct mig_conn *c);
/*
 * mig_send - write the PDUs encoded in @e (then reset it). Returns 0 or -errno
 * (-EPIPE, -ECONNRESET...), logged with the peer.
 */
int mig_send(struct mig_conn *c, struct ber_enc *e);
/*
 * mig_recv - receive and decode the next PDU (of a type in @allowed) into
 * @p, which points into the connection's buffer until the next call.
 * Returns 0; -ECONNRESET when the peer closed (in the middle of a PDU or
 * not), -ETIMEDOUT, -EBADMSG (logged with the peer and the stream offset),
 * or another -errno.
 */
int mig_recv(struct mig_conn *c, unsigned int allowed, struct mig_pdu *p);

#endif
