/* SPDX-License-Identifier: MIT */
/*
 * The page-server protocol on the wire: encoders and a decoder for each PDU
 * of docs/pageserver.asn1 (module FerryWire) on top of ber.[ch], the
 * receive-buffer framer, the shared-secret proof, and the secret file.
 * The protocol itself is described in docs/page-server.md.
 *
 * Decoded PDUs point into the buffer they were decoded from. Every decoding
 * error is -EBADMSG with a struct ber_err (stream offset and message).
 */
#ifndef FERRY_PS_WIRE_H
#define FERRY_PS_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "ber.h"
#include "page_source.h"

/* The revision of FerryWire this code speaks (docs/pageserver.asn1). */
#define PS_WIRE_VERSION 1
#define PS_NONCE_SIZE 32
#define PS_SESSION_ID_SIZE 16
#define PS_PROOF_SIZE 32
/* The longest PDU either side accepts: a PageReply of PS_MAX_REQ_PAGES pages and its headers. */
#define PS_MAX_PDU (PS_MAX_REQ_PAGES * PS_PAGE_SIZE + 4096)
/* The longest PDU a client sends (a server refuses more: nothing a client says is bigger). */
#define PS_MAX_CLIENT_PDU 2048
/* The longest Text (Error and PageError messages, Bye reasons). */
#define PS_MAX_TEXT 1024
/* The port ferry page-server listens on unless told otherwise. */
#define PS_DEFAULT_PORT 27027
/* The longest secret file read. */
#define PS_MAX_SECRET 4096
/* Shorter secrets are refused: a guessable secret protects nothing. */
#define PS_MIN_SECRET 16

/* The PDUs: each is its [APPLICATION n] number. */
enum ps_pdu_type {
	PS_BYE = 2,
	PS_CLIENT_HELLO = 3,
	PS_ERROR = 5,
	PS_SERVER_HELLO = 8,
	PS_PAGE_ERROR = 14,
	PS_READY = 15,
	PS_PAGE_REQUEST = 16,
	PS_PAGE_REPLY = 18,
};

/* What each side may receive, as masks for ps_decode(). */
#define PS_FROM_CLIENT \
	(1u << PS_CLIENT_HELLO | 1u << PS_PAGE_REQUEST | 1u << PS_BYE | 1u << PS_ERROR)
#define PS_FROM_SERVER                                                                   \
	(1u << PS_SERVER_HELLO | 1u << PS_READY | 1u << PS_ERROR | 1u << PS_PAGE_REPLY | \
	 1u << PS_PAGE_ERROR)

enum ps_channel {
	PS_CHAN_FAULT = 0,
	PS_CHAN_BACKGROUND = 1,
};

/* ErrorCode */
enum ps_error_code {
	PS_ERR_BAD_MESSAGE = 1,
	PS_ERR_UNSUPPORTED_VERSION = 2,
	PS_ERR_AUTH_REQUIRED = 3,
	PS_ERR_AUTH_FAILED = 4,
	PS_ERR_SESSION_BUSY = 5,
	PS_ERR_INTERNAL = 6,
	PS_ERR_TIMEOUT = 7,
	PS_ERR_SESSION_FAILED = 8,
};

/* PageErrorCode */
enum ps_page_error_code {
	PS_PAGE_NOT_DUMPED = 1,
	PS_PAGE_BAD_REQUEST = 2,
	PS_PAGE_IO_ERROR = 3,
};

/* One decoded PDU. Pointers point into the decoded buffer. */
struct ps_pdu {
	enum ps_pdu_type type;
	union {
		struct {
			uint32_t version;
			const uint8_t *nonce; /* PS_NONCE_SIZE octets */
			bool auth_required;
			uint32_t page_size;
		} server_hello;
		struct {
			uint32_t version;
			enum ps_channel channel;
			const uint8_t *session_id; /* PS_SESSION_ID_SIZE octets */
			const uint8_t *proof;	   /* PS_PROOF_SIZE octets, or NULL */
		} client_hello;
		struct {
			uint64_t connection;
		} ready;
		struct {
			uint32_t code; /* enum ps_error_code, or a newer one */
			const char *msg;
			size_t msg_len;
		} error;
		struct {
			uint64_t id;
			pid_t pid;
			uint64_t addr;	/* page aligned, the range does not wrap */
			uint32_t count; /* 1..PS_MAX_REQ_PAGES */
		} page_request;
		struct {
			uint64_t id;
			uint64_t addr;
			uint32_t nr_pages; /* the chunks' pages: 1..PS_MAX_REQ_PAGES */
			uint32_t nr_chunks;
			const uint8_t *chunks; /* contents of the SEQUENCE OF (checked) */
			size_t chunks_len;
		} page_reply;
		struct {
			uint64_t id;
			uint32_t code; /* enum ps_page_error_code, or a newer one */
			const char *msg;
			size_t msg_len;
		} page_error;
		struct {
			const char *reason; /* NULL if absent */
			size_t reason_len;
		} bye;
	};
};

/* ps_pdu_name - "PageRequest" etc., "?" for a number that is not a PDU. */
const char *ps_pdu_name(unsigned int type);

/*
 * Encoders: append one PDU to @e. Return 0 or the encoder's error (-ENOMEM,
 * -EINVAL for arguments outside the schema's ranges).
 */
int ps_enc_server_hello(struct ber_enc *e, uint32_t version, const uint8_t *nonce,
			bool auth_required);
int ps_enc_client_hello(struct ber_enc *e, uint32_t version, enum ps_channel channel,
			const uint8_t *session_id, const uint8_t *proof);
int ps_enc_ready(struct ber_enc *e, uint64_t connection);
int ps_enc_error(struct ber_enc *e, uint32_t code, const char *msg);
int ps_enc_page_request(struct ber_enc *e, uint64_t id, pid_t pid, uint64_t addr, uint32_t count);
/*
 * ps_enc_page_reply - the @nr pages at @pages (nr * PS_PAGE_SIZE octets) as
 * a PageReply: consecutive pages with data are one data chunk, consecutive
 * all-zero pages one zeros chunk. The length is computed first, so the page
 * data is copied once, straight to its place.
 */
int ps_enc_page_reply(struct ber_enc *e, uint64_t id, uint64_t addr, const void *pages,
		      uint32_t nr);
int ps_enc_page_error(struct ber_enc *e, uint64_t id, uint32_t code, const char *msg);
/* ps_enc_bye - @reason may be NULL (no reason component). */
int ps_enc_bye(struct ber_enc *e, const char *reason);

/*
 * ps_frame - for a receive buffer holding @len octets of a stream at stream
 * offset @base: is a whole PDU at its start? Returns 1 with *@pdu_len its
 * length when all of it is there; 0 when more octets are needed (*@pdu_len
 * is the PDU's length if its header is complete, else 0); -EBADMSG (with @e)
 * when the first octet is not an [APPLICATION n] constructed tag, the header
 * is malformed, or the PDU would be longer than @max (use PS_MAX_PDU or
 * PS_MAX_CLIENT_PDU).
 */
int ps_frame(const void *buf, size_t len, size_t max, size_t base, size_t *pdu_len,
	     struct ber_err *e);

/*
 * ps_decode - decode the one PDU of exactly @len octets at @buf (stream
 * offset @base) into @p. A PDU whose type is not in the mask @allowed is
 * refused. Components a later version appends to a SEQUENCE are skipped.
 * Returns 0 or -EBADMSG with @e filled.
 */
int ps_decode(const void *buf, size_t len, size_t base, unsigned int allowed, struct ps_pdu *p,
	      struct ber_err *e);

/*
 * ps_reply_pages - expand a decoded PageReply into @buf (p->page_reply.nr_pages
 * pages): data chunks copied, zeros chunks zero-filled. Returns 0, or -EINVAL
 * if @p is not a PageReply or @buf_pages is not its page count.
 */
int ps_reply_pages(const struct ps_pdu *p, void *buf, uint32_t buf_pages);

/*
 * ps_proof - the ClientHello proof: HMAC-SHA256(secret, nonce || channel
 * octet || session id) into @out (PS_PROOF_SIZE octets). Returns 0 or the
 * error of hmac_sha256(), which logs it.
 */
int ps_proof(const uint8_t *secret, size_t secret_len, const uint8_t *nonce,
	     enum ps_channel channel, const uint8_t *session_id, uint8_t *out);

/*
 * ps_secret_load - read the shared secret from @path: its bytes, without one
 * trailing "\n" or "\r\n". Returns 0 with *@secret (free with
 * ps_secret_free()), -EINVAL if it is shorter than PS_MIN_SECRET or longer than
 * PS_MAX_SECRET, or
 * the -errno of open/read; logged with the path. Warns when the file can be
 * read by group or others.
 */
int ps_secret_load(const char *path, uint8_t **secret, size_t *len);
/* ps_secret_free - wipe and free; NULL is a no-op. */
void ps_secret_free(uint8_t *secret, size_t len);

/*
 * The secret a page server on a loopback address makes when it is given no
 * --secret-file: PS_LOCAL_SECRET_DIR/ADDR:PORT.secret (ADDR:PORT as
 * page_server_where() prints it), mode 0600 in a 0700 directory, so only the
 * server's user (and root) can read it; a client on the same machine with no
 * --secret-file reads it for the address it connected to. In
 * ps_local_secret.c; making one also removes the files of servers that are
 * gone (nothing listens on their address).
 */
#define PS_LOCAL_SECRET_DIR "/run/ferry/page-server"

/*
 * ps_local_secret_path - the local secret's path for @where ("ADDR:PORT" or
 * "[V6]:PORT") into @buf. Returns 0, or -ENAMETOOLONG.
 */
int ps_local_secret_path(const char *where, char *buf, size_t size);

/*
 * ps_local_secret_create - make a new random secret (PS_LOCAL_SECRET_BYTES
 * random octets, hex) for the server at @where and write it to its local
 * secret file (written whole under a temporary name, then renamed). Returns 0
 * with *@secret (free with ps_secret_free()) and the path in @path, or -errno,
 * logged with the path.
 */
#define PS_LOCAL_SECRET_BYTES 32
int ps_local_secret_create(const char *where, uint8_t **secret, size_t *len, char *path,
			   size_t path_size);

/*
 * ps_printable - a peer's text made safe to log: at most @size - 1 octets of
 * @s, control characters and non-ASCII as '?', NUL-terminated in @buf.
 */
const char *ps_printable(const char *s, size_t len, char *buf, size_t size);

#endif
