// SPDX-License-Identifier: MIT
/*
 * The remote page source: a client of `ferry page-server` (docs/page-server.md).
 *
 * Two TCP connections, one session: urgent requests go on the fault
 * connection, the rest on the background one; the server serves fault
 * requests first. Requests are encoded into a per-connection output buffer
 * and sent without blocking; answers are matched by request id (a hash
 * table) and copied straight from the receive buffer into the caller's
 * page buffer. Memory is bounded by one PDU per connection plus the
 * outstanding requests' bookkeeping.
 *
 * Timeouts: a connection whose oldest outstanding request has waited
 * timeout_ms while nothing at all arrived on it is taken as dead. A server
 * that streams a long backlog keeps its connection alive; one that stops
 * answering does not. A timerfd armed at the next such deadline is one of
 * the polled fds.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "page_source_remote.h"
#include "ps_wire.h"
#include "util.h"

#define LOG_PREFIX "page source: "
#include "log.h"

#define PAGE ((uint64_t)PS_PAGE_SIZE)
/* Receive in pieces of this much; a buffer grows to one whole PDU at most. */
#define IN_CHUNK (256u * 1024)
/* How much one reap() reads per connection before it returns what is done. */
#define READ_BUDGET (8u << 20)
/* destroy(): how long to wait for the server to close after Bye. */
#define BYE_WAIT_MS 1000

enum { FAULT, BACKGROUND, NR_CONNS };

static const char *const chan_names[NR_CONNS] = { "fault", "background" };

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
	uint64_t timer_at; /* armed deadline (mono_ns), 0 if disarmed */
	int dead;	   /* 0, or the -errno every call returns */
	char name[];
};

/* ---- bookkeeping ----------------------------------------------------------- */

static size_t hash_of(const struct remote *r, uint64_t id)
{
	id ^= id >> 29;
	id *= 0xbf58476d1ce4e5b9ull;
	id ^= id >> 32;
	return (size_t)id & (r->hash_size - 1);
}

static int hash_grow(struct remote *r)
{
	size_t size = r->hash_size ? r->hash_size * 2 : 256, i;
	struct rreq **nh = calloc(size, sizeof(*nh)), **old = r->hash;
	size_t old_size = r->hash_size;

	if (!nh)
		return -ENOMEM;
	r->hash = nh;
	r->hash_size = size;
	for (i = 0; i < old_size; i++) {
		struct rreq *q = old[i], *next;

		for (; q; q = next) {
			size_t h = hash_of(r, q->id);

			next = q->hnext;
			q->hnext = nh[h];
			nh[h] = q;
		}
	}
	free(old);
	return 0;
}

static struct rreq *hash_take(struct remote *r, uint64_t id)
{
	struct rreq **pp;

	if (!r->hash_size)
		return NULL;
	for (pp = &r->hash[hash_of(r, id)]; *pp; pp = &(*pp)->hnext)
		if ((*pp)->id == id) {
			struct rreq *q = *pp;

			*pp = q->hnext;
			r->nr_reqs--;
			return q;
		}
	return NULL;
}

static void list_del(struct rconn *c, struct rreq *q)
{
	if (q->prev)
		q->prev->next = q->next;
	else
		c->oldest = q->next;
	if (q->next)
		q->next->prev = q->prev;
	else
		c->newest = q->prev;
	c->nr_out--;
}

static int push_done(struct remote *r, struct page_req *req)
{
	if (r->done_len == r->done_cap) {
		if (r->done_head) {
			memmove(r->done, r->done + r->done_head,
				(r->done_len - r->done_head) * sizeof(*r->done));
			r->done_len -= r->done_head;
			r->done_head = 0;
		} else {
			size_t cap = r->done_cap ? r->done_cap * 2 : 64;
			struct page_req **nd = realloc(r->done, cap * sizeof(*nd));

			if (!nd)
				return -ENOMEM;
			r->done = nd;
			r->done_cap = cap;
		}
	}
	r->done[r->done_len++] = req;
	return 0;
}

static int pop_done(struct remote *r, struct page_req **done)
{
	if (r->done_head == r->done_len)
		return 0;
	*done = r->done[r->done_head++];
	if (r->done_head == r->done_len)
		r->done_head = r->done_len = 0;
	return 1;
}

/* ---- death ----------------------------------------------------------------- */

/* The oldest outstanding request of all, for messages. */
static const struct rreq *oldest_req(const struct remote *r)
{
	const struct rreq *o = NULL;

	for (int i = 0; i < NR_CONNS; i++)
		if (r->c[i].oldest && (!o || r->c[i].oldest->t_submit < o->t_submit))
			o = r->c[i].oldest;
	return o;
}

/*
 * die - the source is dead with @err: log @why once, with the oldest request
 * still outstanding. Returns the source's error.
 */
static int die(struct remote *r, int err, const char *why)
{
	const struct rreq *o;
	char what[200] = "no request was outstanding";

	if (r->dead)
		return r->dead;
	r->dead = err;
	o = oldest_req(r);
	if (o)
		snprintf(what, sizeof(what),
			 "oldest outstanding request: pid %d address 0x%" PRIx64
			 " (%u pages, %s channel, %.1f s ago); %zu outstanding",
			 o->req->pid, o->req->addr, o->req->nr, chan_names[o->conn],
			 (double)(mono_ns() - o->t_submit) / 1e9, r->nr_reqs);
	pr_err("%s: %s; %s", r->name, why, what);
	return err;
}

/* ---- connecting --------------------------------------------------------------- */

static int ms_left(uint64_t deadline)
{
	uint64_t now = mono_ns();

	if (now >= deadline)
		return 0;
	return (int)((deadline - now + 999999) / 1000000);
}

/* split_host_port - "HOST:PORT" or "[V6]:PORT" into @host and @port. */
static int split_host_port(const char *hp, char *host, size_t hsize, char *port, size_t psize)
{
	const char *colon, *h = hp, *end;
	size_t hlen;
	char *e;
	long p;

	if (hp[0] == '[') {
		end = strchr(hp, ']');
		if (!end || end[1] != ':')
			goto bad;
		h = hp + 1;
		hlen = (size_t)(end - h);
		colon = end + 1;
	} else {
		colon = strrchr(hp, ':');
		if (!colon || memchr(hp, ':', (size_t)(colon - hp)))
			goto bad; /* none, or a bare IPv6 address: ambiguous */
		hlen = (size_t)(colon - hp);
	}
	if (!hlen || hlen >= hsize || strlen(colon + 1) >= psize)
		goto bad;
	errno = 0;
	p = strtol(colon + 1, &e, 10);
	if (errno || e == colon + 1 || *e || p < 1 || p > 65535)
		goto bad;
	memcpy(host, h, hlen);
	host[hlen] = '\0';
	snprintf(port, psize, "%ld", p);
	return 0;
bad:
	pr_err("bad page server address '%s': expected HOST:PORT or [IPv6]:PORT (port 1..65535)",
	       hp);
	return -EINVAL;
}

static int connect_addr(const struct addrinfo *ai, uint64_t deadline, int *out)
{
	int fd, err = 0, one = 1;
	socklen_t len = sizeof(err);
	struct pollfd pfd;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
	if (fd < 0)
		return -errno;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) && errno != EINPROGRESS) {
		err = -errno;
		goto out_close;
	}
	pfd = (struct pollfd){ .fd = fd, .events = POLLOUT };
	for (;;) {
		int n = poll(&pfd, 1, ms_left(deadline));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			err = -errno;
			goto out_close;
		}
		if (!n) {
			err = -ETIMEDOUT;
			goto out_close;
		}
		break;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len)) {
		err = -errno;
		goto out_close;
	}
	if (err) {
		err = -err;
		goto out_close;
	}
	/* Requests are small and latency matters: no Nagle. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	*out = fd;
	return 0;
out_close:
	close(fd);
	return err;
}

static int connect_server(struct remote *r, const char *host, const char *port, uint64_t deadline,
			  int *out)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL, *ai;
	int err, gai;

	gai = getaddrinfo(host, port, &hints, &res);
	if (gai) {
		err = gai == EAI_NONAME ? -ENOENT : gai == EAI_SYSTEM ? -errno : -EHOSTUNREACH;
		pr_err("%s: cannot resolve '%s': %s", r->name, host, gai_strerror(gai));
		return err ? err : -EHOSTUNREACH;
	}
	err = -EHOSTUNREACH;
	for (ai = res; ai; ai = ai->ai_next) {
		err = connect_addr(ai, deadline, out);
		if (!err)
			break;
	}
	freeaddrinfo(res);
	if (err)
		pr_err("%s: cannot connect: %s", r->name, strerror(-err));
	return err;
}

/* ---- sending and receiving ----------------------------------------------------- */

/* flush - send what the output buffer holds, without blocking. Returns 0 or -errno. */
static int flush(struct rconn *c)
{
	while (c->out_head < c->out.len) {
		ssize_t n = send(c->fd, c->out.buf + c->out_head, c->out.len - c->out_head,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				return 0;
			return errno == EPIPE ? -ECONNRESET : -errno;
		}
		c->out_head += (size_t)n;
	}
	ber_enc_reset(&c->out);
	c->out_head = 0;
	return 0;
}

/*
 * fill - one recv() into the input buffer, which grows to hold @need octets
 * (a whole PDU) if that is more than it has room for. Returns the octets
 * read, 0 at EOF, -EAGAIN if there is nothing, or -errno.
 */
static ssize_t fill(struct rconn *c, size_t need, int flags)
{
	ssize_t n;

	if (need < c->in_len + IN_CHUNK)
		need = c->in_len + IN_CHUNK;
	if (need > c->in_cap) {
		uint8_t *nb = realloc(c->in, need);

		if (!nb)
			return -ENOMEM;
		c->in = nb;
		c->in_cap = need;
	}
	do
		n = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, flags);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return errno == EWOULDBLOCK ? -EAGAIN : -errno;
	c->in_len += (size_t)n;
	if (n)
		c->last_rx = mono_ns();
	return n;
}

/* consume - drop the first @n octets of the input buffer. */
static void consume(struct rconn *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
	c->in_off += n;
}

static int bad_ber(struct remote *r, int conn, const struct ber_err *e)
{
	char why[300];

	snprintf(why, sizeof(why), "bad BER at offset %zu of the %s connection: %s", e->off,
		 chan_names[conn], e->msg);
	return die(r, -EBADMSG, why);
}

/* ---- the hellos -------------------------------------------------------------------- */

/* hs_send - send the whole output buffer before @deadline. */
static int hs_send(struct rconn *c, uint64_t deadline)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
	int err;

	for (;;) {
		err = flush(c);
		if (err || c->out_head == c->out.len)
			return err;
		err = poll(&pfd, 1, ms_left(deadline));
		if (err < 0 && errno != EINTR)
			return -errno;
		if (!err)
			return -ETIMEDOUT;
	}
}

/* hs_recv - the next whole PDU, before @deadline. */
static int hs_recv(struct remote *r, int conn, uint64_t deadline, struct ps_pdu *p, size_t *len)
{
	struct rconn *c = &r->c[conn];
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	struct ber_err e = { 0 };
	size_t need;
	ssize_t n;
	int ret;

	for (;;) {
		ret = ps_frame(c->in, c->in_len, PS_MAX_PDU, c->in_off, &need, &e);
		if (ret < 0)
			return bad_ber(r, conn, &e);
		if (ret)
			break;
		n = fill(c, need, MSG_DONTWAIT);
		if (n == 0) {
			pr_err("%s: the server closed the %s connection during the hello", r->name,
			       chan_names[conn]);
			return -ECONNRESET;
		}
		if (n > 0)
			continue;
		if (n != -EAGAIN) {
			pr_err("%s: %s connection: %s", r->name, chan_names[conn],
			       strerror((int)-n));
			return (int)n;
		}
		ret = poll(&pfd, 1, ms_left(deadline));
		if (ret < 0 && errno != EINTR)
			return -errno;
		if (!ret) {
			pr_err("%s: no answer to the hello on the %s connection in %" PRIu64 " ms",
			       r->name, chan_names[conn], r->timeout_ns / 1000000);
			return -ETIMEDOUT;
		}
	}
	if (ps_decode(c->in, need, c->in_off, PS_FROM_SERVER, p, &e))
		return bad_ber(r, conn, &e);
	*len = need;
	return 0;
}

static int hello(struct remote *r, int conn, const char *host, const char *port, const uint8_t *sid,
		 const uint8_t *secret, size_t secret_len)
{
	uint64_t deadline = mono_ns() + r->timeout_ns;
	struct rconn *c = &r->c[conn];
	uint8_t proof[PS_PROOF_SIZE];
	struct ps_pdu p;
	char msg[PS_MAX_TEXT + 1];
	size_t len;
	int err;

	err = connect_server(r, host, port, deadline, &c->fd);
	if (err)
		return err;
	err = hs_recv(r, conn, deadline, &p, &len);
	if (err)
		return err;
	if (p.type != PS_SERVER_HELLO) {
		pr_err("%s: expected a ServerHello on the %s connection, got %s", r->name,
		       chan_names[conn], ps_pdu_name(p.type));
		return -EBADMSG;
	}
	if (p.server_hello.page_size != PS_PAGE_SIZE) {
		pr_err("%s: the server's page size is %u, this ferry's %u", r->name,
		       p.server_hello.page_size, PS_PAGE_SIZE);
		return -EPROTO;
	}
	if (p.server_hello.auth_required && !secret) {
		pr_err("%s: the server requires a shared secret: pass --secret-file", r->name);
		return -EACCES;
	}
	if (!p.server_hello.auth_required && secret && conn == FAULT)
		pr_warn("%s: the server does not ask for the secret (it accepts any client)",
			r->name);
	if (p.server_hello.auth_required) {
		err = ps_proof(secret, secret_len, p.server_hello.nonce, (enum ps_channel)conn, sid,
			       proof);
		if (err) {
			pr_err("%s: cannot compute the proof for the %s connection: %s", r->name,
			       chan_names[conn], strerror(-err));
			return err;
		}
	}
	err = ps_enc_client_hello(
		&c->out,
		p.server_hello.version < PS_WIRE_VERSION ? p.server_hello.version : PS_WIRE_VERSION,
		(enum ps_channel)conn, sid, p.server_hello.auth_required ? proof : NULL);
	consume(c, len);
	if (!err)
		err = hs_send(c, deadline);
	if (err) {
		pr_err("%s: cannot send the hello on the %s connection: %s", r->name,
		       chan_names[conn], strerror(-err));
		return err;
	}
	err = hs_recv(r, conn, deadline, &p, &len);
	if (err)
		return err;
	if (p.type == PS_ERROR) {
		pr_err("%s: the server refused the %s connection: %s", r->name, chan_names[conn],
		       ps_printable(p.error.msg, p.error.msg_len, msg, sizeof(msg)));
		return p.error.code == PS_ERR_AUTH_FAILED || p.error.code == PS_ERR_AUTH_REQUIRED
			       ? -EACCES
			       : -EPROTO;
	}
	if (p.type != PS_READY) {
		pr_err("%s: expected Ready on the %s connection, got %s", r->name, chan_names[conn],
		       ps_pdu_name(p.type));
		return -EBADMSG;
	}
	c->server_index = p.ready.connection;
	consume(c, len);
	pr_debug("%s: %s channel ready (the server's connection %" PRIu64 ")", r->name,
		 chan_names[conn], c->server_index);
	return 0;
}

/* ---- the running source ----------------------------------------------------------- */

static void arm_timer(struct remote *r)
{
	struct itimerspec its = { 0 };
	uint64_t next = 0;

	for (int i = 0; i < NR_CONNS; i++) {
		const struct rconn *c = &r->c[i];
		uint64_t since;

		if (!c->oldest)
			continue;
		since = c->oldest->t_submit > c->last_rx ? c->oldest->t_submit : c->last_rx;
		if (!next || since + r->timeout_ns < next)
			next = since + r->timeout_ns;
	}
	if (next == r->timer_at || r->tfd < 0)
		return;
	r->timer_at = next;
	its.it_value.tv_sec = (time_t)(next / 1000000000ull);
	its.it_value.tv_nsec = (long)(next % 1000000000ull);
	timerfd_settime(r->tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static void check_timeouts(struct remote *r)
{
	uint64_t now = mono_ns();
	uint64_t count;

	if (r->tfd >= 0 && read(r->tfd, &count, sizeof(count)) == sizeof(count))
		r->timer_at = 0; /* it fired: disarmed until arm_timer() */
	for (int i = 0; i < NR_CONNS && !r->dead; i++) {
		const struct rconn *c = &r->c[i];
		uint64_t since;
		char why[160];

		if (!c->oldest)
			continue;
		since = c->oldest->t_submit > c->last_rx ? c->oldest->t_submit : c->last_rx;
		if (now - since < r->timeout_ns)
			continue;
		snprintf(why, sizeof(why), "no answer on the %s connection for %" PRIu64 " ms",
			 chan_names[i], (now - since) / 1000000);
		die(r, -ETIMEDOUT, why);
	}
	if (!r->dead)
		arm_timer(r);
}

static struct rreq *take_req(struct remote *r, int conn, uint64_t id, const char *pdu)
{
	struct rreq *q = hash_take(r, id);
	char why[160];

	if (!q || q->conn != conn) {
		snprintf(why, sizeof(why),
			 "%s for request id %" PRIu64 ", not outstanding on the %s connection", pdu,
			 id, chan_names[conn]);
		die(r, -EBADMSG, why);
		return NULL;
	}
	list_del(&r->c[conn], q);
	return q;
}

static void release_req(struct remote *r, struct rreq *q)
{
	q->hnext = r->free_reqs;
	r->free_reqs = q;
}

static int page_errno(uint32_t code)
{
	switch (code) {
	case PS_PAGE_NOT_DUMPED:
		return -ENOENT;
	case PS_PAGE_BAD_REQUEST:
		return -EINVAL;
	default:
		return -EIO;
	}
}

/* handle - one decoded PDU of the running session. */
static int handle(struct remote *r, int conn, const struct ps_pdu *p)
{
	char msg[PS_MAX_TEXT + 1], why[PS_MAX_TEXT + 200];
	struct page_req *req;
	struct rreq *q;

	switch (p->type) {
	case PS_PAGE_REPLY:
		q = take_req(r, conn, p->page_reply.id, "PageReply");
		if (!q)
			return r->dead;
		req = q->req;
		if (p->page_reply.addr != req->addr || p->page_reply.nr_pages != req->nr) {
			snprintf(why, sizeof(why),
				 "PageReply for request id %" PRIu64 " has %u pages at 0x%" PRIx64
				 ", pid %d asked for %u at 0x%" PRIx64,
				 q->id, p->page_reply.nr_pages, p->page_reply.addr, req->pid,
				 req->nr, req->addr);
			release_req(r, q);
			return die(r, -EBADMSG, why);
		}
		req->err = ps_reply_pages(p, req->buf, req->nr);
		break;
	case PS_PAGE_ERROR:
		q = take_req(r, conn, p->page_error.id, "PageError");
		if (!q)
			return r->dead;
		req = q->req;
		req->err = page_errno(p->page_error.code);
		pr_err("%s: the request for %u pages of pid %d at 0x%" PRIx64 " failed: %s",
		       r->name, req->nr, req->pid, req->addr,
		       ps_printable(p->page_error.msg, p->page_error.msg_len, msg, sizeof(msg)));
		break;
	case PS_ERROR:
		snprintf(why, sizeof(why), "the server ended the %s connection: %s (code %u)",
			 chan_names[conn],
			 ps_printable(p->error.msg, p->error.msg_len, msg, sizeof(msg)),
			 p->error.code);
		return die(r, -EPROTO, why);
	default:
		snprintf(why, sizeof(why), "unexpected %s on the %s connection",
			 ps_pdu_name(p->type), chan_names[conn]);
		return die(r, -EBADMSG, why);
	}
	release_req(r, q);
	if (push_done(r, req))
		return die(r, -ENOMEM, "no memory for the list of finished requests");
	return 0;
}

/* receive - read what connection @conn has (up to READ_BUDGET) and handle its PDUs. */
static int receive(struct remote *r, int conn)
{
	struct rconn *c = &r->c[conn];
	size_t got = 0, need = 0, pos;
	struct ber_err e = { 0 };
	struct ps_pdu p;
	char why[200];
	ssize_t n;
	int ret;

	while (!r->dead && got < READ_BUDGET) {
		n = fill(c, need, MSG_DONTWAIT);
		if (n == -EAGAIN)
			break;
		if (n < 0) {
			snprintf(why, sizeof(why), "%s connection: %s", chan_names[conn],
				 strerror((int)-n));
			return die(r, n == -ENOMEM ? -ENOMEM : -ECONNRESET, why);
		}
		if (n == 0) {
			if (c->in_len)
				snprintf(
					why, sizeof(why),
					"the server closed the %s connection in the middle of a PDU (%zu octets of it at offset %" PRIu64
					")",
					chan_names[conn], c->in_len, c->in_off);
			else
				snprintf(why, sizeof(why), "the server closed the %s connection",
					 chan_names[conn]);
			return die(r, -ECONNRESET, why);
		}
		got += (size_t)n;
		pos = 0;
		while (!r->dead) {
			ret = ps_frame(c->in + pos, c->in_len - pos, PS_MAX_PDU, c->in_off + pos,
				       &need, &e);
			if (ret < 0)
				return bad_ber(r, conn, &e);
			if (!ret)
				break;
			if (ps_decode(c->in + pos, need, c->in_off + pos, PS_FROM_SERVER, &p, &e))
				return bad_ber(r, conn, &e);
			handle(r, conn, &p);
			pos += need;
			need = 0;
		}
		consume(c, pos);
	}
	return r->dead;
}

static int progress(struct remote *r)
{
	for (int i = 0; i < NR_CONNS && !r->dead; i++) {
		int err = flush(&r->c[i]);

		if (err) {
			char why[160];

			snprintf(why, sizeof(why), "cannot send on the %s connection: %s",
				 chan_names[i], strerror(-err));
			return die(r, err == -ENOMEM ? err : -ECONNRESET, why);
		}
		receive(r, i);
	}
	if (!r->dead)
		check_timeouts(r);
	return r->dead;
}

static int remote_submit(struct page_source *s, struct page_req *req)
{
	struct remote *r = (struct remote *)s;
	int conn = req->urgent ? FAULT : BACKGROUND;
	struct rconn *c = &r->c[conn];
	struct rreq *q;
	size_t h;
	int err;

	if (r->dead)
		return r->dead;
	if (req->nr < 1 || req->nr > PS_MAX_REQ_PAGES || req->addr % PAGE || req->pid < 1 ||
	    req->addr > UINT64_MAX - req->nr * PAGE + 1) {
		pr_err("%s: pid %d: bad request of %u pages at 0x%" PRIx64
		       " (1..%u pages, page aligned)",
		       r->name, req->pid, req->nr, req->addr, PS_MAX_REQ_PAGES);
		req->err = -EINVAL;
		return push_done(r, req);
	}
	if (r->nr_reqs + 1 > r->hash_size && hash_grow(r))
		return -ENOMEM;
	q = r->free_reqs;
	if (q)
		r->free_reqs = q->hnext;
	else if (!(q = malloc(sizeof(*q))))
		return -ENOMEM;
	err = ps_enc_page_request(&c->out, r->next_id, req->pid, req->addr, req->nr);
	if (err) {
		release_req(r, q);
		ber_enc_reset(&c->out); /* only unsent requests were there: none, on error */
		return die(r, err, "cannot encode a PageRequest");
	}
	*q = (struct rreq){ .req = req, .id = r->next_id++, .t_submit = mono_ns(), .conn = conn };
	h = hash_of(r, q->id);
	q->hnext = r->hash[h];
	r->hash[h] = q;
	r->nr_reqs++;
	q->prev = c->newest;
	if (c->newest)
		c->newest->next = q;
	else
		c->oldest = q;
	c->newest = q;
	c->nr_out++;
	err = flush(c);
	if (err) {
		char why[160];

		snprintf(why, sizeof(why), "cannot send on the %s connection: %s", chan_names[conn],
			 strerror(-err));
		return die(r, -ECONNRESET, why);
	}
	if (!r->timer_at)
		arm_timer(r);
	return 0;
}

static int remote_poll_fds(struct page_source *s, int *fds, int max)
{
	struct remote *r = (struct remote *)s;
	int n = 0;

	for (int i = 0; i < NR_CONNS && n < max; i++)
		if (r->c[i].fd >= 0)
			fds[n++] = r->c[i].fd;
	if (n < max && r->tfd >= 0)
		fds[n++] = r->tfd;
	return n;
}

static int remote_reap(struct page_source *s, struct page_req **done)
{
	struct remote *r = (struct remote *)s;

	if (pop_done(r, done))
		return 1;
	if (r->dead)
		return r->dead;
	progress(r);
	if (pop_done(r, done))
		return 1;
	return r->dead;
}

/* say_bye - Bye on every connection, then wait (briefly) for the server to close them. */
static void say_bye(struct remote *r)
{
	uint64_t deadline = mono_ns() + BYE_WAIT_MS * 1000000ull;
	struct pollfd pfd[NR_CONNS];
	bool open[NR_CONNS] = { false }, shut[NR_CONNS] = { false };
	uint8_t sink[4096];
	int i, n;

	for (i = 0; i < NR_CONNS; i++) {
		if (r->c[i].fd < 0)
			continue;
		open[i] = !ps_enc_bye(&r->c[i].out, NULL);
	}
	for (;;) {
		n = 0;
		for (i = 0; i < NR_CONNS; i++) {
			struct rconn *c = &r->c[i];

			if (!open[i])
				continue;
			if (flush(c)) {
				open[i] = false;
				continue;
			}
			if (c->out_head == c->out.len && !shut[i]) {
				shutdown(c->fd, SHUT_WR);
				shut[i] = true;
			}
			/* Drain what the server still sends, so that closing sends no reset. */
			for (;;) {
				ssize_t k = recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT);

				if (k > 0)
					continue;
				if (k < 0 && (errno == EINTR))
					continue;
				if (k == 0 || errno != EAGAIN)
					open[i] = false;
				break;
			}
			if (open[i])
				pfd[n++] = (struct pollfd){
					.fd = c->fd, .events = POLLIN | (shut[i] ? 0 : POLLOUT)
				};
		}
		if (!n || !ms_left(deadline))
			break;
		if (poll(pfd, (nfds_t)n, ms_left(deadline)) < 0 && errno != EINTR)
			break;
	}
}

static void remote_destroy(struct page_source *s)
{
	struct remote *r = (struct remote *)s;
	struct rreq *q, *next;

	if (!r)
		return;
	if (!r->dead && r->c[FAULT].fd >= 0)
		say_bye(r);
	for (int i = 0; i < NR_CONNS; i++) {
		struct rconn *c = &r->c[i];

		if (c->fd >= 0)
			close(c->fd);
		free(c->in);
		ber_enc_free(&c->out);
		for (q = c->oldest; q; q = next) {
			next = q->next;
			free(q);
		}
	}
	for (q = r->free_reqs; q; q = next) {
		next = q->hnext;
		free(q);
	}
	if (r->tfd >= 0)
		close(r->tfd);
	free(r->hash);
	free(r->done);
	free(r);
}

static const struct page_source_ops remote_ops = {
	.submit = remote_submit,
	.poll_fds = remote_poll_fds,
	.reap = remote_reap,
	.destroy = remote_destroy,
};

int page_source_remote_open(struct page_source **out, const char *host_port,
			    const char *secret_file, long timeout_ms)
{
	size_t name_len = strlen("page server ") + strlen(host_port) + 1;
	uint8_t sid[PS_SESSION_ID_SIZE], *secret = NULL;
	char host[256], port[16];
	size_t secret_len = 0;
	struct remote *r;
	int err;

	*out = NULL;
	err = split_host_port(host_port, host, sizeof(host), port, sizeof(port));
	if (err)
		return err;
	r = calloc(1, sizeof(*r) + name_len);
	if (!r)
		return -ENOMEM;
	snprintf(r->name, name_len, "page server %s", host_port);
	r->src.ops = &remote_ops;
	r->src.name = r->name;
	r->tfd = -1;
	for (int i = 0; i < NR_CONNS; i++) {
		r->c[i].fd = -1;
		ber_enc_init(&r->c[i].out);
	}
	r->timeout_ns =
		(uint64_t)(timeout_ms > 0 ? timeout_ms : PS_REMOTE_DEFAULT_TIMEOUT_MS) * 1000000ull;
	r->next_id = 1;
	if (secret_file) {
		err = ps_secret_load(secret_file, &secret, &secret_len);
		if (err)
			goto out_free;
	}
	if (getrandom(sid, sizeof(sid), 0) != (ssize_t)sizeof(sid)) {
		err = -errno;
		pr_perror("%s: getrandom", r->name);
		goto out_free;
	}
	r->tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (r->tfd < 0) {
		err = -errno;
		pr_perror("%s: timerfd_create", r->name);
		goto out_free;
	}
	for (int i = 0; i < NR_CONNS; i++) {
		err = hello(r, i, host, port, sid, secret, secret_len);
		if (err)
			goto out_free;
	}
	ps_secret_free(secret, secret_len);
	pr_info("%s: connected (fault and background channels)", r->name);
	*out = &r->src;
	return 0;
out_free:
	ps_secret_free(secret, secret_len);
	r->dead = err; /* no Bye: the session never started */
	remote_destroy(&r->src);
	return err;
}
