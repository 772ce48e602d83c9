// SPDX-License-Identifier: MIT
/*
 * The page server: one poll() loop, one thread, serving the pages of a
 * loaded dump to the connections of one client session.
 *
 * Each connection has a bounded input buffer (client PDUs are small), a
 * queue of decoded requests and an output buffer. Requests are answered
 * from the local page source into one scratch buffer and encoded into the
 * output buffer (a PageReply is sized first, then its data copied once).
 * Fault-channel requests are served before any background ones; background
 * requests are served one per loop turn, so that a fault that arrives
 * meanwhile waits for at most one request. A connection with more than
 * OUT_HIGH octets unsent is not served and not read until its client reads:
 * memory stays bounded whatever the dump's size.
 *
 * Lifetime: the first valid ClientHello starts the session (its sessionId);
 * connections with another sessionId are turned away. The server returns
 * when every connection of the session has closed: 0 if each said Bye
 * first. A session connection that drops without Bye or breaks the
 * protocol fails the session: the other connections get an Error and the
 * server returns an error. Connections that never join the session (bad
 * hello, garbage, wrong secret, another session) are answered with an
 * Error, logged with their peer, and closed; the server keeps waiting for
 * or serving its session.
 *
 * This file: the wire log, the connections (accepted, failed, closed), the
 * ClientHello that admits one into the session, the listening socket and
 * the poll() loop; page_server_serve.c reads, parses and serves the requests
 * and writes the replies.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hmac.h"
#include "images.h"
#include "page_server.h"
#include "page_server_priv.h"
#include "page_source_local.h"
#include "ps_wire.h"
#include "sock_peer.h"
#include "util.h"

#define LOG_PREFIX "page-server: "
#include "log.h"

#define PAGE ((uint64_t)PS_PAGE_SIZE)
/* A connection must send its ClientHello within this. */
#define HELLO_TIMEOUT_MS 10000
/* A connection being closed after an Error is given this long to read it. */
#define LINGER_MS 2000

size_t pgs_pending(const struct conn *c)
{
	return c->out.len - c->out_head;
}

static const char *chan_name(enum ps_channel ch)
{
	return ch == PS_CHAN_FAULT ? "fault" : "background";
}

/* ---- wire log ----------------------------------------------------------------- */

static int open_log(const char *prefix, unsigned int idx, const char *dir)
{
	char path[4096];
	int fd;

	snprintf(path, sizeof(path), "%s.%u.%s", prefix, idx, dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		pr_perror("cannot create the wire log %s", path);
	return fd;
}

void pgs_log_bytes(int *fd, const void *p, size_t len, const struct conn *c)
{
	int err;

	if (*fd < 0 || !len)
		return;
	err = write_full(*fd, p, len);
	if (err) {
		pr_errno(err, "connection %u (%s): writing its wire log; capture stopped", c->idx,
			 c->peer);
		close(*fd);
		*fd = -1;
	}
}

/* ---- connections ---------------------------------------------------------------- */

/*
 * conn_error - queue an Error PDU after what is already queued (a reply may
 * be half sent), drop the queued requests, close once it is sent.
 */
static void conn_error(struct page_server *ps, struct conn *c, uint32_t code, const char *msg)
{
	ps_enc_error(&c->out, code, msg);
	c->state = C_CLOSING;
	c->q_len = 0;
	c->backlog = false;
	c->deadline = mono_ns() + LINGER_MS * 1000000ull;
}

/*
 * pgs_conn_fail - @c broke the protocol or failed a check: log it with the peer,
 * answer with an Error, fail the session if @c was part of it.
 */
__attribute__((format(printf, 4, 5))) void pgs_conn_fail(struct page_server *ps, struct conn *c,
							 uint32_t code, const char *fmt, ...)
{
	char msg[PS_MAX_TEXT];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (c->in_session)
		pr_err("connection %u (%s, %s channel): %s", c->idx, c->peer, chan_name(c->chan),
		       msg);
	else
		pr_warn("connection %u (%s): %s; closing it", c->idx, c->peer, msg);
	conn_error(ps, c, code, msg);
	if (c->in_session) {
		char why[PS_MAX_TEXT + 64];

		snprintf(why, sizeof(why), "connection %u: %s", c->idx, msg);
		pgs_session_fail(ps, c, code == PS_ERR_BAD_MESSAGE ? -EBADMSG : -EPROTO, why);
	}
}

void pgs_session_fail(struct page_server *ps, struct conn *except, int err, const char *why)
{
	char msg[PS_MAX_TEXT];

	if (ps->failed)
		return;
	ps->failed = err;
	snprintf(msg, sizeof(msg), "the session failed: %s", why);
	for (size_t i = 0; i < ps->nr_conns; i++) {
		struct conn *c = ps->conns[i];

		if (c != except && c->fd >= 0 && c->state != C_CLOSING)
			conn_error(ps, c, PS_ERR_SESSION_FAILED, msg);
	}
}

void pgs_conn_close(struct page_server *ps, struct conn *c)
{
	if (c->in_session) {
		ps->session_open--;
		if (!c->bye && !ps->failed) {
			char why[200];

			snprintf(why, sizeof(why),
				 "connection %u (%s, %s channel) closed without Bye", c->idx,
				 c->peer, chan_name(c->chan));
			pr_err("%s", why);
			pgs_session_fail(ps, c, -ECONNRESET, why);
		}
		pr_info("connection %u (%s, %s channel) closed: %" PRIu64 " requests, %" PRIu64
			" pages",
			c->idx, c->peer, chan_name(c->chan), c->requests, c->pages);
	} else {
		pr_debug("connection %u (%s) closed", c->idx, c->peer);
	}
	close(c->fd);
	if (c->log_in >= 0)
		close(c->log_in);
	if (c->log_out >= 0)
		close(c->log_out);
	ber_enc_free(&c->out);
	free(c->in);
	free(c->q);
	c->in = NULL;
	c->q = NULL;
	c->in_len = c->q_len = 0;
	c->backlog = false;
	c->state = C_CLOSING;
	c->fd = -1;
}

static void drop_closed(struct page_server *ps);

static void peer_name(const struct sockaddr_storage *ss, char *buf, size_t size)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned int port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(buf, size, "%s:%u", host, port);
	} else if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(buf, size, "[%s]:%u", host, port);
	} else {
		snprintf(buf, size, "?");
	}
}

/* Accept one connection; false if there was none to accept. */
static bool accept_one(struct page_server *ps)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct conn *c;
	int fd, one = 1;

	fd = accept4(ps->lfd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			pr_perror("accept on %s", ps->where);
		return false;
	}
	c = calloc(1, sizeof(*c));
	if (c) {
		c->in = malloc(IN_CAP);
		c->q = malloc(Q_MAX * sizeof(*c->q));
	}
	if (!c || !c->in || !c->q) {
		pr_err("no memory for a new connection on %s", ps->where);
		if (c) {
			free(c->in);
			free(c->q);
		}
		free(c);
		close(fd);
		return true;
	}
	c->fd = fd;
	c->idx = ps->next_idx++;
	peer_name(&ss, c->peer, sizeof(c->peer));
	c->log_in = c->log_out = -1;
	ber_enc_init(&c->out);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	if (ps->wire_log) {
		c->log_in = open_log(ps->wire_log, c->idx, "in");
		c->log_out = open_log(ps->wire_log, c->idx, "out");
	}
	pgs_peer_identify(c, sock_addr_loopback((const struct sockaddr *)&ss));
	pr_info("connection %u from %s", c->idx, c->peer);
	pgs_peer_admit(ps, c);
	drop_closed(ps);
	if (ps->nr_conns == MAX_CONNS) {
		pgs_conn_fail(ps, c, PS_ERR_SESSION_BUSY, "too many connections (%d)", MAX_CONNS);
	} else if (getrandom(c->nonce, sizeof(c->nonce), 0) != (ssize_t)sizeof(c->nonce)) {
		pr_perror("getrandom");
		conn_error(ps, c, PS_ERR_INTERNAL, "no random nonce");
	} else {
		c->state = C_HELLO;
		c->deadline = mono_ns() + HELLO_TIMEOUT_MS * 1000000ull;
		ps_enc_server_hello(&c->out, PS_WIRE_VERSION, c->nonce, ps->secret != NULL);
	}
	if (ps->nr_conns == MAX_CONNS) {
		/* No slot: the Error is sent in passing, without waiting. */
		if (send(fd, c->out.buf, c->out.len, MSG_NOSIGNAL | MSG_DONTWAIT) > 0)
			pgs_log_bytes(&c->log_out, c->out.buf, c->out.len, c);
		pgs_conn_close(ps, c);
		free(c);
		return true;
	}
	ps->conns[ps->nr_conns++] = c;
	return true;
}

/* ---- what clients say -------------------------------------------------------------- */

void pgs_client_hello(struct page_server *ps, struct conn *c, const struct ps_pdu *p)
{
	uint8_t want[PS_PROOF_SIZE];
	int err;

	/* The proof first: nothing else a peer says is looked at before it is known. */
	if (ps->secret) {
		if (!p->client_hello.proof) {
			pgs_conn_fail(
				ps, c, PS_ERR_AUTH_REQUIRED,
				"authentication failed: the ClientHello has no proof and this server requires the shared secret");
			return;
		}
		err = ps_proof(ps->secret, ps->secret_len, c->nonce, p->client_hello.channel,
			       p->client_hello.session_id, want);
		if (err) {
			pgs_conn_fail(ps, c, PS_ERR_INTERNAL,
				      "cannot compute the proof to check: %s", strerror(-err));
			return;
		}
		if (!hmac_equal(want, p->client_hello.proof, sizeof(want))) {
			pgs_conn_fail(
				ps, c, PS_ERR_AUTH_FAILED,
				"authentication failed: wrong proof (not the server's secret)");
			return;
		}
	}
	if (p->client_hello.version != PS_WIRE_VERSION) {
		pgs_conn_fail(ps, c, PS_ERR_UNSUPPORTED_VERSION,
			      "ClientHello version %u; this server speaks version %d",
			      p->client_hello.version, PS_WIRE_VERSION);
		return;
	}
	if (ps->session && memcmp(ps->sid, p->client_hello.session_id, PS_SESSION_ID_SIZE)) {
		pgs_conn_fail(ps, c, PS_ERR_SESSION_BUSY,
			      "another session is being served (this server serves one)");
		return;
	}
	if (!ps->session) {
		memcpy(ps->sid, p->client_hello.session_id, PS_SESSION_ID_SIZE);
		ps->session = true;
		ps->start_deadline = 0;
		pr_info("session started by connection %u (%s)", c->idx, c->peer);
	}
	c->state = C_SESSION;
	c->chan = p->client_hello.channel;
	c->in_session = true;
	ps->session_open++;
	ps_enc_ready(&c->out, c->idx);
	pr_info("connection %u (%s): %s channel of the session", c->idx, c->peer,
		chan_name(c->chan));
}

/* ---- setup ----------------------------------------------------------------------- */

static int listen_on(struct page_server *ps, const char *address, int port, bool have_secret)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	struct addrinfo *res = NULL;
	char portstr[16];
	int err, gai, one = 1;

	snprintf(portstr, sizeof(portstr), "%d", port);
	gai = getaddrinfo(address, portstr, &hints, &res);
	if (gai) {
		pr_err("bad --address '%s': %s", address, gai_strerror(gai));
		return -EINVAL;
	}
	if (!sock_addr_loopback(res->ai_addr) && !have_secret) {
		pr_err("refusing to listen on %s, which is not a loopback address, without --secret-file: anyone who can connect could read the dumped memory",
		       address);
		err = -EPERM;
		goto out;
	}
	ps->lfd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (ps->lfd < 0) {
		err = -errno;
		pr_perror("socket for %s", address);
		goto out;
	}
	setsockopt(ps->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(ps->lfd, res->ai_addr, res->ai_addrlen) || listen(ps->lfd, 16) ||
	    getsockname(ps->lfd, (struct sockaddr *)&ss, &len)) {
		err = -errno;
		pr_perror("cannot listen on %s port %d", address, port);
		goto out;
	}
	peer_name(&ss, ps->where, sizeof(ps->where));
	err = 0;
out:
	freeaddrinfo(res);
	return err;
}

int page_server_open(struct page_server **out, const struct page_server_opts *o)
{
	const char *address = o->address ? o->address : "127.0.0.1";
	struct page_server *ps;
	int err;

	*out = NULL;
	if (o->port < 0 || o->port > 65535) {
		pr_err("bad port %d (0..65535)", o->port);
		return -EINVAL;
	}
	ps = calloc(1, sizeof(*ps));
	if (!ps)
		return -ENOMEM;
	ps->lfd = -1;
	ps->wire_log = o->wire_log;
	ps->timeout_ms = o->timeout_ms;
	if (o->secret_file) {
		err = ps_secret_load(o->secret_file, &ps->secret, &ps->secret_len);
		if (err)
			goto out_free;
	}
	/* Refuse an unprotected public address before the work of loading the dump. */
	err = listen_on(ps, address, o->port, ps->secret != NULL);
	if (err)
		goto out_free;
	if (!ps->secret) {
		/* Loopback is not "anyone on this machine": a secret only our user can read. */
		err = ps_local_secret_create(ps->where, &ps->secret, &ps->secret_len,
					     ps->secret_path, sizeof(ps->secret_path));
		if (err) {
			pr_err("cannot make the secret for %s (pass --secret-file)", ps->where);
			ps->secret_path[0] = '\0';
			goto out_free;
		}
		pr_info("clients on this machine prove the secret in %s (mode 0600)",
			ps->secret_path);
	}
	err = rimg_load(&ps->r, o->dir);
	if (err) {
		pr_err("cannot serve %s: the dump was refused (%s)", o->dir, strerror(-err));
		goto out_free;
	}
	err = page_source_local_open(&ps->local, ps->r);
	if (err)
		goto out_free;
	ps->scratch = malloc((size_t)PS_MAX_REQ_PAGES * PAGE);
	if (!ps->scratch) {
		err = -ENOMEM;
		goto out_free;
	}
	*out = ps;
	return 0;
out_free:
	page_server_free(ps);
	return err;
}

const char *page_server_where(const struct page_server *ps)
{
	return ps->where;
}

static void drop_closed(struct page_server *ps)
{
	size_t i, k = 0;

	for (i = 0; i < ps->nr_conns; i++) {
		if (ps->conns[i]->fd < 0)
			free(ps->conns[i]);
		else
			ps->conns[k++] = ps->conns[i];
	}
	ps->nr_conns = k;
	if (ps->bg_next >= k)
		ps->bg_next = 0;
}

static void check_deadlines(struct page_server *ps, uint64_t now)
{
	for (size_t i = 0; i < ps->nr_conns; i++) {
		struct conn *c = ps->conns[i];

		if (c->fd < 0 || !c->deadline || now < c->deadline)
			continue;
		if (c->state == C_HELLO) {
			pgs_conn_fail(ps, c, PS_ERR_TIMEOUT, "no ClientHello within %d ms",
				      HELLO_TIMEOUT_MS);
		} else if (c->state == C_CLOSING) {
			pr_debug("connection %u (%s): closed after the linger time", c->idx,
				 c->peer);
			pgs_conn_close(ps, c);
		}
	}
}

static int poll_timeout(const struct page_server *ps, bool work, uint64_t now)
{
	uint64_t next = ps->start_deadline;

	if (work)
		return 0;
	for (size_t i = 0; i < ps->nr_conns; i++) {
		uint64_t d = ps->conns[i]->deadline;

		if (d && ps->conns[i]->state != C_SESSION && (!next || d < next))
			next = d;
	}
	if (!next)
		return -1;
	return next <= now ? 0 : (int)((next - now + 999999) / 1000000);
}

int page_server_run(struct page_server *ps)
{
	struct pollfd pfd[MAX_CONNS + 1];
	bool work = false;
	int err = 0;

	ps->t_start = mono_ns();
	if (ps->timeout_ms > 0)
		ps->start_deadline = ps->t_start + (uint64_t)ps->timeout_ms * 1000000ull;
	pr_info("serving %s on %s%s", ps->r->dir, ps->where,
		ps->secret ? " (clients must prove the shared secret)" : "");
	for (;;) {
		bool listening = !ps->failed;
		uint64_t now;
		size_t n = 0, i;

		if (ps->session && !ps->session_open && !ps->failed) {
			double s = (double)(mono_ns() - ps->t_start) / 1e9;

			pr_info("session ended: %" PRIu64 " requests, %" PRIu64 " pages, %" PRIu64
				" page errors, %" PRIu64 " octets sent in %.2f s",
				ps->requests, ps->pages, ps->page_errors, ps->bytes_out, s);
			break;
		}
		if (ps->failed && !ps->nr_conns) {
			err = ps->failed;
			break;
		}
		if (listening)
			pfd[n++] = (struct pollfd){ .fd = ps->lfd, .events = POLLIN };
		for (i = 0; i < ps->nr_conns; i++) {
			struct conn *c = ps->conns[i];
			short ev = 0;

			if (c->state == C_CLOSING || c->bye ||
			    (c->q_len < Q_MAX && c->in_len < IN_CAP && pgs_pending(c) < OUT_HIGH))
				ev |= POLLIN;
			if (pgs_pending(c))
				ev |= POLLOUT;
			pfd[n++] = (struct pollfd){ .fd = c->fd, .events = ev };
		}
		now = mono_ns();
		if (poll(pfd, (nfds_t)n, poll_timeout(ps, work, now)) < 0 && errno != EINTR) {
			err = -errno;
			pr_perror("poll");
			break;
		}
		now = mono_ns();
		if (ps->start_deadline && now >= ps->start_deadline) {
			pr_err("no client started a session on %s within %.1f s", ps->where,
			       (double)ps->timeout_ms / 1000);
			err = -ETIMEDOUT;
			break;
		}
		/* pfd[] was built from conns[] as it was before this turn's accepts. */
		for (i = 0, n = listening ? 1 : 0; i < ps->nr_conns; i++, n++) {
			struct conn *c = ps->conns[i];

			if ((pfd[n].revents & (POLLIN | POLLHUP | POLLERR)) &&
			    !pgs_conn_read(ps, c)) {
				pgs_conn_close(ps, c);
				continue;
			}
			if (c->state != C_CLOSING && c->in_len && c->q_len < Q_MAX) {
				pgs_parse(ps, c); /* PDUs left waiting for queue room */
				if (c->bye)
					pgs_conn_close(ps, c);
			}
		}
		/* Several per turn: a flood must not keep the real client in the backlog. */
		for (int k = 0; listening && !ps->failed && (pfd[0].revents & POLLIN) && k < 16;
		     k++)
			if (!accept_one(ps))
				break;
		pgs_serve(ps);
		for (i = 0; i < ps->nr_conns; i++) {
			struct conn *c = ps->conns[i];

			if (c->fd < 0)
				continue;
			if (!pgs_conn_write(ps, c))
				pgs_conn_close(ps, c);
		}
		check_deadlines(ps, now);
		drop_closed(ps);
		/*
		 * After the writes: a connection they drained below OUT_HIGH has
		 * work again, and one whose queue was full has PDUs to parse.
		 */
		work = false;
		for (i = 0; i < ps->nr_conns; i++)
			work |= pgs_servable(ps->conns[i]) ||
				(ps->conns[i]->backlog && ps->conns[i]->q_len < Q_MAX);
	}
	for (size_t i = 0; i < ps->nr_conns; i++)
		if (ps->conns[i]->fd >= 0)
			pgs_conn_close(ps, ps->conns[i]);
	drop_closed(ps);
	return err;
}

uint64_t page_server_pages(const struct page_server *ps, uint64_t *fault_pages)
{
	*fault_pages = ps->fault_pages;
	return ps->pages;
}

void page_server_free(struct page_server *ps)
{
	if (!ps)
		return;
	for (size_t i = 0; i < ps->nr_conns; i++) {
		if (ps->conns[i]->fd >= 0)
			pgs_conn_close(ps, ps->conns[i]);
		free(ps->conns[i]);
	}
	if (ps->lfd >= 0)
		close(ps->lfd);
	page_source_destroy(ps->local);
	rimg_free(ps->r);
	ps_secret_free(ps->secret, ps->secret_len);
	if (ps->secret_path[0])
		unlink(ps->secret_path);
	free(ps->scratch);
	free(ps);
}
