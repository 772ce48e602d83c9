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
 *
 * This file: the request table, the source's death, the request pipeline
 * (submit, receive, reap, timeouts), destroy and page_source_remote_open();
 * connecting, the hellos, the socket buffers and the Bye are in
 * page_source_remote_conn.c.
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
#include "page_source_remote_priv.h"
#include "ps_wire.h"
#include "util.h"

#define LOG_PREFIX "page source: "
#include "log.h"

#define PAGE ((uint64_t)PS_PAGE_SIZE)
/* How much one reap() reads per connection before it returns what is done. */
#define READ_BUDGET (8u << 20)

const char *const psr_chan_names[NR_CONNS] = { "fault", "background" };

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
 * psr_die - the source is dead with @err: log @why once, with the oldest request
 * still outstanding. Returns the source's error.
 */
int psr_die(struct remote *r, int err, const char *why)
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
			 o->req->pid, o->req->addr, o->req->nr, psr_chan_names[o->conn],
			 (double)(mono_ns() - o->t_submit) / 1e9, r->nr_reqs);
	pr_err("%s: %s; %s", r->name, why, what);
	return err;
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
			 psr_chan_names[i], (now - since) / 1000000);
		psr_die(r, -ETIMEDOUT, why);
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
			 id, psr_chan_names[conn]);
		psr_die(r, -EBADMSG, why);
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
			return psr_die(r, -EBADMSG, why);
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
			 psr_chan_names[conn],
			 ps_printable(p->error.msg, p->error.msg_len, msg, sizeof(msg)),
			 p->error.code);
		return psr_die(r, -EPROTO, why);
	default:
		snprintf(why, sizeof(why), "unexpected %s on the %s connection",
			 ps_pdu_name(p->type), psr_chan_names[conn]);
		return psr_die(r, -EBADMSG, why);
	}
	release_req(r, q);
	if (push_done(r, req))
		return psr_die(r, -ENOMEM, "no memory for the list of finished requests");
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
		n = psr_fill(c, need, MSG_DONTWAIT);
		if (n == -EAGAIN)
			break;
		if (n < 0) {
			snprintf(why, sizeof(why), "%s connection: %s", psr_chan_names[conn],
				 strerror((int)-n));
			return psr_die(r, n == -ENOMEM ? -ENOMEM : -ECONNRESET, why);
		}
		if (n == 0) {
			if (c->in_len)
				snprintf(
					why, sizeof(why),
					"the server closed the %s connection in the middle of a PDU (%zu octets of it at offset %" PRIu64
					")",
					psr_chan_names[conn], c->in_len, c->in_off);
			else
				snprintf(why, sizeof(why), "the server closed the %s connection",
					 psr_chan_names[conn]);
			return psr_die(r, -ECONNRESET, why);
		}
		got += (size_t)n;
		pos = 0;
		while (!r->dead) {
			ret = ps_frame(c->in + pos, c->in_len - pos, PS_MAX_PDU, c->in_off + pos,
				       &need, &e);
			if (ret < 0)
				return psr_bad_ber(r, conn, &e);
			if (!ret)
				break;
			if (ps_decode(c->in + pos, need, c->in_off + pos, PS_FROM_SERVER, &p, &e))
				return psr_bad_ber(r, conn, &e);
			handle(r, conn, &p);
			pos += need;
			need = 0;
		}
		psr_consume(c, pos);
	}
	return r->dead;
}

static int progress(struct remote *r)
{
	for (int i = 0; i < NR_CONNS && !r->dead; i++) {
		int err = psr_flush(&r->c[i]);

		if (err) {
			char why[160];

			snprintf(why, sizeof(why), "cannot send on the %s connection: %s",
				 psr_chan_names[i], strerror(-err));
			return psr_die(r, err == -ENOMEM ? err : -ECONNRESET, why);
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
		return psr_die(r, err, "cannot encode a PageRequest");
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
	err = psr_flush(c);
	if (err) {
		char why[160];

		snprintf(why, sizeof(why), "cannot send on the %s connection: %s",
			 psr_chan_names[conn], strerror(-err));
		return psr_die(r, -ECONNRESET, why);
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

static void remote_destroy(struct page_source *s)
{
	struct remote *r = (struct remote *)s;
	struct rreq *q, *next;

	if (!r)
		return;
	if (!r->dead && r->c[FAULT].fd >= 0)
		psr_say_bye(r);
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
	ps_secret_free(r->local_secret, r->local_secret_len);
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
	err = psr_split_host_port(host_port, host, sizeof(host), port, sizeof(port));
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
		err = psr_hello(r, i, host, port, sid, secret, secret_len);
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
