// SPDX-License-Identifier: MIT
/*
 * The remote page source's connections (page_source_remote.c holds the rest):
 * connecting to the server, the socket buffers (flush, fill, consume), the
 * hellos that authenticate and open each channel, and the Bye on close.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "page_source_remote.h"
#include "page_source_remote_priv.h"
#include "ps_wire.h"
#include "sock_peer.h"
#include "util.h"

#define LOG_PREFIX "page source: "
#include "log.h"

/* Receive in pieces of this much; a buffer grows to one whole PDU at most. */
#define IN_CHUNK (256u * 1024)
/* say_bye(): how long to wait for the server to close after Bye. */
#define BYE_WAIT_MS 1000

/* ---- connecting --------------------------------------------------------------- */

static int ms_left(uint64_t deadline)
{
	uint64_t now = mono_ns();

	if (now >= deadline)
		return 0;
	return (int)((deadline - now + 999999) / 1000000);
}

/* psr_split_host_port - "HOST:PORT" or "[V6]:PORT" into @host and @port. */
int psr_split_host_port(const char *hp, char *host, size_t hsize, char *port, size_t psize)
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

/* psr_flush - send what the output buffer holds, without blocking. Returns 0 or -errno. */
int psr_flush(struct rconn *c)
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
 * psr_fill - one recv() into the input buffer, which grows to hold @need octets
 * (a whole PDU) if that is more than it has room for. Returns the octets
 * read, 0 at EOF, -EAGAIN if there is nothing, or -errno.
 */
ssize_t psr_fill(struct rconn *c, size_t need, int flags)
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

/* psr_consume - drop the first @n octets of the input buffer. */
void psr_consume(struct rconn *c, size_t n)
{
	memmove(c->in, c->in + n, c->in_len - n);
	c->in_len -= n;
	c->in_off += n;
}

int psr_bad_ber(struct remote *r, int conn, const struct ber_err *e)
{
	char why[300];

	snprintf(why, sizeof(why), "bad BER at offset %zu of the %s connection: %s", e->off,
		 psr_chan_names[conn], e->msg);
	return psr_die(r, -EBADMSG, why);
}

/* ---- the hellos -------------------------------------------------------------------- */

/* hs_send - send the whole output buffer before @deadline. */
static int hs_send(struct rconn *c, uint64_t deadline)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLOUT };
	int err;

	for (;;) {
		err = psr_flush(c);
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
			return psr_bad_ber(r, conn, &e);
		if (ret)
			break;
		n = psr_fill(c, need, MSG_DONTWAIT);
		if (n == 0) {
			pr_err("%s: the server closed the %s connection during the hello", r->name,
			       psr_chan_names[conn]);
			return -ECONNRESET;
		}
		if (n > 0)
			continue;
		if (n != -EAGAIN) {
			pr_err("%s: %s connection: %s", r->name, psr_chan_names[conn],
			       strerror((int)-n));
			return (int)n;
		}
		ret = poll(&pfd, 1, ms_left(deadline));
		if (ret < 0 && errno != EINTR)
			return -errno;
		if (!ret) {
			pr_err("%s: no answer to the hello on the %s connection in %" PRIu64 " ms",
			       r->name, psr_chan_names[conn], r->timeout_ns / 1000000);
			return -ETIMEDOUT;
		}
	}
	if (ps_decode(c->in, need, c->in_off, PS_FROM_SERVER, p, &e))
		return psr_bad_ber(r, conn, &e);
	*len = need;
	return 0;
}

/*
 * No --secret-file: the server may be one on this machine that made its own
 * secret (ps_local_secret_create), named after the address we reached.
 */
static int load_local_secret(struct remote *r, int fd)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?", where[INET6_ADDRSTRLEN + 16], path[4096];
	unsigned int port = 0;
	struct stat st = { 0 };
	long uid;

	if (r->local_secret)
		return 0;
	if (getpeername(fd, (struct sockaddr *)&ss, &len))
		return -errno;
	if (ss.ss_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(where, sizeof(where), "%s:%u", host, port);
	} else {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(where, sizeof(where), "[%s]:%u", host, port);
	}
	if (ps_local_secret_path(where, path, sizeof(path)) || access(path, F_OK)) {
		pr_err("%s: the server requires a shared secret: pass --secret-file (a server on "
		       "this machine started without one keeps its secret in %s/ADDR:PORT.secret, "
		       "readable by its user only)",
		       r->name, PS_LOCAL_SECRET_DIR);
		return -EACCES;
	}
	if (ps_secret_load(path, &r->local_secret, &r->local_secret_len)) {
		pr_err("%s: cannot read the secret of the server on this machine (%s): only the "
		       "server's user can",
		       r->name, path);
		return -EACCES;
	}
	/*
	 * The file is left by a server of its owner; whoever listens there now
	 * must be that user, or a server of another user (started on the port of
	 * one killed) would feed the restore its own pages.
	 */
	uid = sock_peer_uid(fd);
	if (stat(path, &st) || uid < 0 || (uid_t)uid != st.st_uid) {
		pr_err("%s: the server there is not the one whose secret %s holds: it runs as "
		       "uid %ld, the secret is uid %u's; refusing its pages",
		       r->name, path, uid, (unsigned int)st.st_uid);
		ps_secret_free(r->local_secret, r->local_secret_len);
		r->local_secret = NULL;
		return -EACCES;
	}
	pr_debug("%s: proving the secret in %s", r->name, path);
	return 0;
}

int psr_hello(struct remote *r, int conn, const char *host, const char *port, const uint8_t *sid,
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
		       psr_chan_names[conn], ps_pdu_name(p.type));
		return -EBADMSG;
	}
	if (p.server_hello.page_size != PS_PAGE_SIZE) {
		pr_err("%s: the server's page size is %u, this ferry's %u", r->name,
		       p.server_hello.page_size, PS_PAGE_SIZE);
		return -EPROTO;
	}
	if (p.server_hello.auth_required && !secret) {
		err = load_local_secret(r, c->fd);
		if (err)
			return err;
		secret = r->local_secret;
		secret_len = r->local_secret_len;
	}
	if (!p.server_hello.auth_required && secret && conn == FAULT)
		pr_warn("%s: the server does not ask for the secret (it accepts any client)",
			r->name);
	if (p.server_hello.auth_required) {
		err = ps_proof(secret, secret_len, p.server_hello.nonce, (enum ps_channel)conn, sid,
			       proof);
		if (err) {
			pr_err("%s: cannot compute the proof for the %s connection: %s", r->name,
			       psr_chan_names[conn], strerror(-err));
			return err;
		}
	}
	err = ps_enc_client_hello(
		&c->out,
		p.server_hello.version < PS_WIRE_VERSION ? p.server_hello.version : PS_WIRE_VERSION,
		(enum ps_channel)conn, sid, p.server_hello.auth_required ? proof : NULL);
	psr_consume(c, len);
	if (!err)
		err = hs_send(c, deadline);
	if (err) {
		pr_err("%s: cannot send the hello on the %s connection: %s", r->name,
		       psr_chan_names[conn], strerror(-err));
		return err;
	}
	err = hs_recv(r, conn, deadline, &p, &len);
	if (err)
		return err;
	if (p.type == PS_ERROR) {
		pr_err("%s: the server refused the %s connection: %s", r->name,
		       psr_chan_names[conn],
		       ps_printable(p.error.msg, p.error.msg_len, msg, sizeof(msg)));
		return p.error.code == PS_ERR_AUTH_FAILED || p.error.code == PS_ERR_AUTH_REQUIRED
			       ? -EACCES
			       : -EPROTO;
	}
	if (p.type != PS_READY) {
		pr_err("%s: expected Ready on the %s connection, got %s", r->name,
		       psr_chan_names[conn], ps_pdu_name(p.type));
		return -EBADMSG;
	}
	c->server_index = p.ready.connection;
	psr_consume(c, len);
	pr_debug("%s: %s channel ready (the server's connection %" PRIu64 ")", r->name,
		 psr_chan_names[conn], c->server_index);
	return 0;
}

/* psr_say_bye - Bye on every connection, then wait (briefly) for the server to close them. */
void psr_say_bye(struct remote *r)
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
			if (psr_flush(c)) {
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
