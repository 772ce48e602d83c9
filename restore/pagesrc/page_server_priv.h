/* SPDX-License-Identifier: MIT */
/*
 * Inside the page server (page_server.h): what its two files share.
 * page_server.c accepts, admits and closes connections, fails the session
 * and runs the poll() loop; page_server_serve.c reads and parses what the
 * connections send, serves their requests and writes the replies.
 */
#ifndef FERRY_PAGE_SERVER_PRIV_H
#define FERRY_PAGE_SERVER_PRIV_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "page_server.h"
#include "ps_wire.h"

/* Unsent octets above which a connection is neither served nor read. */
#define OUT_HIGH (1u << 20)
/* Queued requests per connection above which it is not read. */
#define Q_MAX 4096u
/* Input buffer of a connection: many small PDUs, none longer than PS_MAX_CLIENT_PDU. */
#define IN_CAP (64u * 1024)
#define MAX_CONNS 64
/* Slots kept for the session's connections: never taken by unproved ones. */
#define SESSION_SLOTS 4
/* Connections of one peer (a local uid, or an address) that have not proved the secret. */
#define PEER_WAITING 8

enum cstate {
	C_HELLO,   /* ServerHello sent, waiting for the ClientHello */
	C_SESSION, /* in the session: serving requests */
	C_CLOSING, /* an Error is queued: send it, then close */
};

struct sreq {
	uint64_t id;
	pid_t pid;
	uint64_t addr;
	uint32_t count;
};

struct conn {
	int fd;
	unsigned int idx;
	char peer[INET6_ADDRSTRLEN + 32];
	char peer_key[INET6_ADDRSTRLEN + 16]; /* "uid N" over loopback, else the address */
	enum cstate state;
	enum ps_channel chan;
	bool in_session;
	bool bye;
	bool shut;    /* C_CLOSING: SHUT_WR done */
	bool backlog; /* whole PDUs wait in the input buffer for queue room */
	uint8_t nonce[PS_NONCE_SIZE];
	uint8_t *in;
	size_t in_len;
	uint64_t in_off; /* stream offset of in[0] */
	struct ber_enc out;
	size_t out_head;
	struct sreq *q; /* ring of Q_MAX */
	size_t q_head, q_len;
	int log_in, log_out;
	uint64_t deadline; /* C_HELLO: hello timeout; C_CLOSING: linger; mono_ns */
	uint64_t requests, pages;
};

struct page_server {
	struct rimg *r;
	struct page_source *local;
	int lfd;
	char where[INET6_ADDRSTRLEN + 16];
	uint8_t *secret;
	size_t secret_len;
	char secret_path[4096]; /* the local secret made for loopback, or "" */
	const char *wire_log;
	struct conn *conns[MAX_CONNS];
	size_t nr_conns;
	unsigned int next_idx;
	unsigned int bg_next; /* round robin among background connections */
	bool session;
	uint8_t sid[PS_SESSION_ID_SIZE];
	unsigned int session_open; /* connections of the session still open */
	int failed;		   /* the session failed: -errno */
	long timeout_ms;
	uint64_t start_deadline; /* no session by then: give up; 0: wait forever */
	uint8_t *scratch;	 /* PS_MAX_REQ_PAGES pages */
	uint64_t t_start;
	uint64_t requests, pages, page_errors, bytes_out;
	uint64_t fault_pages; /* of pages: asked on a fault channel */
};

/* Octets in @c's output buffer not sent yet. */
size_t pgs_pending(const struct conn *c);
/* pgs_log_bytes - append @len octets to the wire log @fd of @c (stops it on error). */
void pgs_log_bytes(int *fd, const void *p, size_t len, const struct conn *c);

/*
 * pgs_conn_fail - @c broke the protocol or failed a check: log it with the peer,
 * answer with an Error, fail the session if @c was part of it.
 */
__attribute__((format(printf, 4, 5))) void pgs_conn_fail(struct page_server *ps, struct conn *c,
							 uint32_t code, const char *fmt, ...);
/* pgs_session_fail - fail the session with @err: an Error to every connection but @except. */
void pgs_session_fail(struct page_server *ps, struct conn *except, int err, const char *why);
/* pgs_conn_close - close @c now (fails the session if it was in it without Bye). */
void pgs_conn_close(struct page_server *ps, struct conn *c);

/* pgs_peer_identify - set c->peer_key: its uid if @loopback and sock_diag finds it. */
void pgs_peer_identify(struct conn *c, bool loopback);
/*
 * pgs_peer_admit - make room for new connection @nc (not in ps->conns yet):
 * evict the oldest unproved connection of its peer past PEER_WAITING, or of
 * the busiest peer past MAX_CONNS - SESSION_SLOTS.
 */
void pgs_peer_admit(struct page_server *ps, const struct conn *nc);

/* pgs_client_hello - check @c's ClientHello and admit it into the session (or turn it away). */
void pgs_client_hello(struct page_server *ps, struct conn *c, const struct ps_pdu *p);

/* pgs_parse - decode the whole PDUs in @c's input buffer (while its queue has room). */
void pgs_parse(struct page_server *ps, struct conn *c);
/* pgs_conn_read - read what @c has; returns false when it is to be closed. */
bool pgs_conn_read(struct page_server *ps, struct conn *c);
/* pgs_conn_write - send what @c has queued; returns false when it is to be closed. */
bool pgs_conn_write(struct page_server *ps, struct conn *c);
/* pgs_servable - whether @c has requests to serve and room for their replies. */
bool pgs_servable(const struct conn *c);
/* pgs_serve - answer the fault requests that can be, then at most BG_BATCH background ones. */
void pgs_serve(struct page_server *ps);

#endif
