/* SPDX-License-Identifier: MIT */
/*
 * Inside the remote page source (page_source_remote.h): what its two files
 * share. page_source_remote.c keeps the request table and runs the request
 * pipeline; page_source_remote_conn.c connects, says the hellos, moves octets
 * between the sockets and the buffers, and says Bye.
 */
#ifndef FERRY_PAGE_SOURCE_REMOTE_PRIV_H
#define FERRY_PAGE_SOURCE_REMOTE_PRIV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "page_source_remote.h"
#include "ps_wire.h"

enum { FAULT, BACKGROUND, NR_CONNS };

struct rreq {
	struct page_req *req;
	uint64_t id;
	uint64_t t_submit; /* mono_ns */
	int conn;
	struct rreq *hnext;	  /* hash chain */
	struct rreq *prev, *next; /* the connection's outstanding list, oldest first */
};

struct rconn {
	int fd;
	uint8_t *in;
	size_t in_len, in_cap;
	uint64_t in_off; /* stream offset of in[0] */
	struct ber_enc out;
	size_t out_head;  /* out.buf[out_head .. out.len) is not sent yet */
	uint64_t last_rx; /* mono_ns of the last octets received, 0 before any */
	struct rreq *oldest, *newest;
	size_t nr_out;
	uint64_t server_index; /* Ready.connection */
};

struct remote {
	struct page_source src;
	struct rconn c[NR_CONNS];
	struct rreq **hash;
	size_t hash_size; /* a power of two */
	size_t nr_reqs;
	struct rreq *free_reqs;
	struct page_req **done; /* done[done_head .. done_len) wait for reap() */
	size_t done_head, done_len, done_cap;
	uint64_t next_id;
	uint64_t timeout_ns;
	int tfd;
	uint64_t timer_at;     /* armed deadline (mono_ns), 0 if disarmed */
	int dead;	       /* 0, or the -errno every call returns */
	uint8_t *local_secret; /* the secret of a server on this machine (ps_local_secret_path) */
	size_t local_secret_len;
	char name[];
};

/* The channels' names, for messages, indexed by FAULT and BACKGROUND. */
extern const char *const psr_chan_names[NR_CONNS];

/*
 * psr_die - the source is dead with @err: log @why once, with the oldest request
 * still outstanding. Returns the source's error.
 */
int psr_die(struct remote *r, int err, const char *why);

/* psr_split_host_port - "HOST:PORT" or "[V6]:PORT" into @host and @port. */
int psr_split_host_port(const char *hp, char *host, size_t hsize, char *port, size_t psize);
/*
 * psr_hello - connect connection @conn of session @sid to the server and say
 * the hellos (with the proof of @secret when the server asks for it).
 */
int psr_hello(struct remote *r, int conn, const char *host, const char *port, const uint8_t *sid,
	      const uint8_t *secret, size_t secret_len);
/* psr_say_bye - Bye on every connection, then wait (briefly) for the server to close them. */
void psr_say_bye(struct remote *r);

/* psr_flush - send what the output buffer holds, without blocking. Returns 0 or -errno. */
int psr_flush(struct rconn *c);
/*
 * psr_fill - one recv() into the input buffer, which grows to hold @need octets
 * (a whole PDU) if that is more than it has room for. Returns the octets
 * read, 0 at EOF, -EAGAIN if there is nothing, or -errno.
 */
ssize_t psr_fill(struct rconn *c, size_t need, int flags);
/* psr_consume - drop the first @n octets of the input buffer. */
void psr_consume(struct rconn *c, size_t n);
/* psr_bad_ber - die with -EBADMSG, naming the offset and the connection of @e. */
int psr_bad_ber(struct remote *r, int conn, const struct ber_err *e);

#endif
