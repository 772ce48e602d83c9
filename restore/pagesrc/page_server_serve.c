// SPDX-License-Identifier: MIT
/*
 * The page server's request serving (page_server.c holds the rest): a
 * connection's PDUs read and parsed (PageRequests queued, Bye and Error
 * noted), the queued requests answered from the local page source, fault
 * channel first, and the output buffer written out.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "page_server.h"
#include "page_server_priv.h"
#include "page_source_local.h"
#include "ps_wire.h"
#include "util.h"

#define LOG_PREFIX "page-server: "
#include "log.h"

/* Background requests served per loop turn (then fault requests are looked for again). */
#define BG_BATCH 1

static void handle_pdu(struct page_server *ps, struct conn *c, const struct ps_pdu *p)
{
	char msg[PS_MAX_TEXT + 1];

	switch (p->type) {
	case PS_CLIENT_HELLO:
		if (c->state == C_HELLO)
			pgs_client_hello(ps, c, p);
		else
			pgs_conn_fail(ps, c, PS_ERR_BAD_MESSAGE, "a second ClientHello");
		return;
	case PS_PAGE_REQUEST:
		if (c->state != C_SESSION) {
			pgs_conn_fail(ps, c, PS_ERR_BAD_MESSAGE,
				      "PageRequest before the ClientHello");
			return;
		}
		c->q[(c->q_head + c->q_len++) % Q_MAX] = (struct sreq){
			.id = p->page_request.id,
			.pid = p->page_request.pid,
			.addr = p->page_request.addr,
			.count = p->page_request.count,
		};
		return;
	case PS_BYE:
		c->bye = true;
		pr_debug("connection %u (%s): Bye%s%s", c->idx, c->peer, p->bye.reason ? ": " : "",
			 p->bye.reason
				 ? ps_printable(p->bye.reason, p->bye.reason_len, msg, sizeof(msg))
				 : "");
		return;
	case PS_ERROR:
		pgs_conn_fail(ps, c, PS_ERR_BAD_MESSAGE, "the client sent an Error: %s (code %u)",
			      ps_printable(p->error.msg, p->error.msg_len, msg, sizeof(msg)),
			      p->error.code);
		return;
	default:
		pgs_conn_fail(ps, c, PS_ERR_BAD_MESSAGE, "unexpected %s", ps_pdu_name(p->type));
		return;
	}
}

/* pgs_parse - decode the whole PDUs in @c's input buffer (while its queue has room). */
void pgs_parse(struct page_server *ps, struct conn *c)
{
	struct ber_err e = { 0 };
	struct ps_pdu p;
	size_t pos = 0, len;
	int ret;

	c->backlog = false;
	while (c->state != C_CLOSING && !c->bye) {
		if (c->q_len >= Q_MAX) {
			c->backlog = pos < c->in_len;
			break;
		}
		ret = ps_frame(c->in + pos, c->in_len - pos, PS_MAX_CLIENT_PDU, c->in_off + pos,
			       &len, &e);
		if (ret < 0 || (ret > 0 && ps_decode(c->in + pos, len, c->in_off + pos,
						     PS_FROM_CLIENT, &p, &e))) {
			pgs_conn_fail(ps, c, PS_ERR_BAD_MESSAGE, "bad BER at offset %zu: %s", e.off,
				      e.msg);
			break;
		}
		if (!ret)
			break;
		handle_pdu(ps, c, &p);
		pos += len;
	}
	memmove(c->in, c->in + pos, c->in_len - pos);
	c->in_len -= pos;
	c->in_off += pos;
}

/* pgs_conn_read - read what @c has; returns false when it is to be closed. */
bool pgs_conn_read(struct page_server *ps, struct conn *c)
{
	uint8_t sink[4096];
	ssize_t n;

	for (;;) {
		bool closing = c->state == C_CLOSING || c->bye;
		uint8_t *dst = closing ? sink : c->in + c->in_len;
		size_t room = closing ? sizeof(sink) : IN_CAP - c->in_len;

		if (!room || (!closing && c->q_len >= Q_MAX))
			return true; /* parse() makes room once requests are served */
		n = recv(c->fd, dst, room, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return true;
		if (n <= 0)
			break;
		pgs_log_bytes(&c->log_in, dst, (size_t)n, c);
		if (closing)
			continue;
		c->in_len += (size_t)n;
		pgs_parse(ps, c);
		if (c->bye)
			return false; /* nothing after Bye matters: close now */
	}
	if (n < 0 && c->state != C_CLOSING)
		pr_warn("connection %u (%s): %s", c->idx, c->peer, strerror(errno));
	else if (c->in_len && c->state != C_CLOSING)
		pr_warn("connection %u (%s) closed in the middle of a PDU (%zu octets of it at offset %" PRIu64
			")",
			c->idx, c->peer, c->in_len, c->in_off);
	else if (c->state == C_HELLO)
		pr_warn("connection %u (%s) closed before its ClientHello", c->idx, c->peer);
	return false;
}

/* pgs_conn_write - send what @c has queued; returns false when it is to be closed. */
bool pgs_conn_write(struct page_server *ps, struct conn *c)
{
	while (pgs_pending(c)) {
		ssize_t n = send(c->fd, c->out.buf + c->out_head, pgs_pending(c),
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n < 0) {
			if (c->state != C_CLOSING)
				pr_warn("connection %u (%s): %s", c->idx, c->peer, strerror(errno));
			return false;
		}
		pgs_log_bytes(&c->log_out, c->out.buf + c->out_head, (size_t)n, c);
		c->out_head += (size_t)n;
		ps->bytes_out += (uint64_t)n;
	}
	if (!pgs_pending(c)) {
		ber_enc_reset(&c->out);
		c->out_head = 0;
		if (c->state == C_CLOSING && !c->shut) {
			/* The Error is out: say so, then wait for the client to close (linger). */
			shutdown(c->fd, SHUT_WR);
			c->shut = true;
		}
	} else if (c->out_head > OUT_HIGH) {
		memmove(c->out.buf, c->out.buf + c->out_head, pgs_pending(c));
		c->out.len -= c->out_head;
		c->out_head = 0;
	}
	return true;
}

/* ---- serving ---------------------------------------------------------------------- */

bool pgs_servable(const struct conn *c)
{
	return c->fd >= 0 && c->state == C_SESSION && !c->bye && c->q_len &&
	       pgs_pending(c) < OUT_HIGH;
}

static uint32_t page_error_code(int err)
{
	switch (err) {
	case -ENOENT:
	case -ESRCH:
		return PS_PAGE_NOT_DUMPED;
	case -EINVAL:
		return PS_PAGE_BAD_REQUEST;
	default:
		return PS_PAGE_IO_ERROR;
	}
}

static void serve_one(struct page_server *ps, struct conn *c)
{
	struct sreq rq = c->q[c->q_head];
	uint64_t missing = 0;
	char msg[200];
	int err;

	c->q_head = (c->q_head + 1) % Q_MAX;
	c->q_len--;
	c->requests++;
	ps->requests++;
	err = page_source_local_read(ps->local, rq.pid, rq.addr, rq.count, ps->scratch, &missing);
	if (!err) {
		err = ps_enc_page_reply(&c->out, rq.id, rq.addr, ps->scratch, rq.count);
		if (err) {
			pr_errno(err, "connection %u: cannot encode the reply to request %" PRIu64,
				 c->idx, rq.id);
			pgs_session_fail(ps, NULL, err, "out of memory");
			return;
		}
		c->pages += rq.count;
		ps->pages += rq.count;
		if (c->chan == PS_CHAN_FAULT)
			ps->fault_pages += rq.count;
		return;
	}
	ps->page_errors++;
	switch (err) {
	case -ESRCH:
		snprintf(msg, sizeof(msg), "pid %d is not in the dump", rq.pid);
		break;
	case -ENOENT:
		snprintf(msg, sizeof(msg), "pid %d: page 0x%" PRIx64 " is not in the dump", rq.pid,
			 missing);
		break;
	case -EIO:
		snprintf(msg, sizeof(msg),
			 "pid %d: page 0x%" PRIx64
			 ": the pages file is shorter than its pagemap says",
			 rq.pid, missing);
		break;
	default:
		snprintf(msg, sizeof(msg), "pid %d: page 0x%" PRIx64 ": %s", rq.pid, missing,
			 strerror(-err));
		break;
	}
	pr_warn("connection %u (%s): request %" PRIu64 " (%u pages at 0x%" PRIx64 "): %s", c->idx,
		c->peer, rq.id, rq.count, rq.addr, msg);
	ps_enc_page_error(&c->out, rq.id, page_error_code(err), msg);
}

/* pgs_serve - answer the fault requests that can be, then at most BG_BATCH background ones. */
void pgs_serve(struct page_server *ps)
{
	size_t i, k;

	if (ps->failed)
		return;
	for (i = 0; i < ps->nr_conns; i++) {
		struct conn *c = ps->conns[i];

		if (c->chan != PS_CHAN_FAULT)
			continue;
		while (pgs_servable(c) && !ps->failed)
			serve_one(ps, c);
	}
	for (k = 0; k < BG_BATCH && !ps->failed; k++) {
		for (i = 0; i < ps->nr_conns; i++) {
			struct conn *c = ps->conns[(ps->bg_next + i) % ps->nr_conns];

			if (c->chan == PS_CHAN_BACKGROUND && pgs_servable(c)) {
				serve_one(ps, c);
				ps->bg_next = (unsigned int)((ps->bg_next + i + 1) % ps->nr_conns);
				break;
			}
		}
	}
}
