// SPDX-License-Identifier: MIT
/* A migration connection (migrate_wire.h): whole PDUs out, whole PDUs in. */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define LOG_PREFIX "migrate: "
#include "log.h"
#include "migrate_wire.h"

void mig_conn_init(struct mig_conn *c, int fd, const char *peer)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->peer = peer;
	c->log_fd = -1;
	ber_enc_init(&c->enc);
}

void mig_conn_free(struct mig_conn *c)
{
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	free(c->buf);
	c->buf = NULL;
	ber_enc_free(&c->enc);
}

/* Sockets get send(MSG_NOSIGNAL): a peer that is gone is -EPIPE, not SIGPIPE. */
static int write_all(int fd, const uint8_t *p, size_t len)
{
	int sock = 1;

	while (len) {
		ssize_t n = sock ? send(fd, p, len, MSG_NOSIGNAL) : write(fd, p, len);

		if (n < 0 && errno == ENOTSOCK) {
			sock = 0;
			continue;
		}

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int mig_send(struct mig_conn *c, struct ber_enc *e)
{
	int err = ber_enc_finish(e);

	if (err) {
		pr_err("%s: cannot encode a PDU: %s", c->peer, strerror(-err));
		goto out;
	}
	err = c->sink ? 0 : write_all(c->fd, e->buf, e->len);
	if (err) {
		pr_err("%s: send of %zu octets at stream offset %llu failed: %s", c->peer, e->len,
		       (unsigned long long)c->sent, strerror(-err));
		goto out;
	}
	if (c->log_fd >= 0 && write_all(c->log_fd, e->buf, e->len))
		pr_warn("%s: the wire log misses octets from offset %llu", c->peer,
			(unsigned long long)c->sent);
	c->sent += e->len;
out:
	ber_enc_reset(e);
	return err;
}

/* Read more octets into the buffer (at least one), waiting up to the timeout. */
static int fill(struct mig_conn *c, size_t want)
{
	ssize_t n;

	if (want > c->cap) {
		size_t cap = c->cap ? c->cap : 65536;
		uint8_t *b;

		while (cap < want)
			cap *= 2;
		b = realloc(c->buf, cap);
		if (!b)
			return -ENOMEM;
		c->buf = b;
		c->cap = cap;
	}
	if (c->timeout_ms > 0) {
		struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
		int r;

		do
			r = poll(&pfd, 1, (int)c->timeout_ms);
		while (r < 0 && errno == EINTR);
		if (r < 0)
			return -errno;
		if (!r)
			return -ETIMEDOUT;
	}
	do
		n = read(c->fd, c->buf + c->len, c->cap - c->len);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if (!n)
		return -ECONNRESET;
	c->len += (size_t)n;
	return 0;
}

int mig_recv(struct mig_conn *c, unsigned int allowed, struct mig_pdu *p)
{
	struct ber_err e = { 0 };
	size_t pdu_len = 0;
	int ret;

	if (c->consumed) {
		memmove(c->buf, c->buf + c->consumed, c->len - c->consumed);
		c->len -= c->consumed;
		c->in_off += c->consumed;
		c->consumed = 0;
	}
	for (;;) {
		ret = ps_frame(c->buf, c->len, MIG_MAX_PDU, c->in_off, &pdu_len, &e);
		if (ret < 0)
			goto bad;
		if (ret > 0)
			break;
		ret = fill(c, pdu_len > c->len ? pdu_len : c->len + 4096);
		if (ret == -ECONNRESET) {
			pr_err("%s: the connection ended at stream offset %zu%s", c->peer,
			       c->in_off + c->len, c->len ? ", inside a PDU" : "");
			return ret;
		}
		if (ret) {
			pr_err("%s: receive at stream offset %zu failed: %s", c->peer,
			       c->in_off + c->len, strerror(-ret));
			return ret;
		}
	}
	ret = mig_decode(c->buf, pdu_len, c->in_off, allowed, p, &e);
	if (ret)
		goto bad;
	c->consumed = pdu_len;
	return 0;
bad:
	pr_err("%s: bad BER at stream offset %zu: %s", c->peer, e.off, e.msg);
	return -EBADMSG;
}
