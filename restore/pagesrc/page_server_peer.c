// SPDX-License-Identifier: MIT
/*
 * The page server's peers: who a connection comes from, and how many
 * connections that have not proved the secret each peer may hold.
 *
 * A peer is a local user (its uid) for a connection over loopback, found
 * with sock_diag from the connection's addresses: every local user shares
 * 127.0.0.1, and a limit per address would let one user's flood evict
 * another's client. Off loopback a peer is its address.
 *
 * Limits: a peer holds at most PEER_WAITING connections that have not
 * joined the session (waiting for their hello, or closing after an Error);
 * a new one past that evicts the peer's oldest. All peers together hold at
 * most MAX_CONNS - SESSION_SLOTS; past that, a new connection evicts the
 * oldest of the peer with the most. A flood can so only evict its own
 * connections, and the session's connections, once joined, are never
 * evicted and always have their slots.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "page_server_priv.h"
#include "ps_wire.h"
#include "sock_peer.h"

#define LOG_PREFIX "page-server: "
#include "log.h"

void pgs_peer_identify(struct conn *c, bool loopback)
{
	long uid = loopback ? sock_peer_uid(c->fd) : -EAFNOSUPPORT;
	const char *colon = strrchr(c->peer, ':');

	if (uid >= 0) {
		snprintf(c->peer_key, sizeof(c->peer_key), "uid %ld", uid);
		snprintf(c->peer + strlen(c->peer), sizeof(c->peer) - strlen(c->peer), " uid %ld",
			 uid);
		return;
	}
	if (loopback)
		pr_info("connection %u (%s): its user is unknown (%s); limited by its address",
			c->idx, c->peer, strerror((int)-uid));
	snprintf(c->peer_key, sizeof(c->peer_key), "%.*s",
		 colon ? (int)(colon - c->peer) : (int)strlen(c->peer), c->peer);
}

/* Connections not in the session: each may be evicted. */
static bool waiting(const struct conn *c)
{
	return c->fd >= 0 && !c->in_session;
}

static void evict(struct page_server *ps, struct conn *c, const char *why)
{
	pr_warn("connection %u (%s): evicted: %s", c->idx, c->peer, why);
	if (c->state == C_HELLO) {
		char msg[PS_MAX_TEXT];
		struct ber_enc e;

		ber_enc_init(&e);
		snprintf(msg, sizeof(msg), "evicted: %s", why);
		ps_enc_error(&e, PS_ERR_SESSION_BUSY, msg);
		if (send(c->fd, e.buf, e.len, MSG_NOSIGNAL | MSG_DONTWAIT) > 0)
			pgs_log_bytes(&c->log_out, e.buf, e.len, c);
		ber_enc_free(&e);
	}
	pgs_conn_close(ps, c);
}

/* Too many peers at once: the one with the most waiting connections gives up its oldest. */
static void evict_from_busiest(struct page_server *ps, size_t total)
{
	struct conn *victim = NULL;
	size_t most = 0;
	char why[160];

	for (size_t i = 0; i < ps->nr_conns; i++) {
		struct conn *c = ps->conns[i];
		size_t k = 0;

		if (!waiting(c))
			continue;
		for (size_t j = 0; j < ps->nr_conns; j++)
			k += waiting(ps->conns[j]) && !strcmp(ps->conns[j]->peer_key, c->peer_key);
		if (k > most || (k == most && victim && c->idx < victim->idx)) {
			most = k;
			victim = c;
		}
	}
	snprintf(why, sizeof(why), "%zu connections have not proved the secret (at most %d)", total,
		 MAX_CONNS - SESSION_SLOTS);
	if (victim)
		evict(ps, victim, why);
}

void pgs_peer_admit(struct page_server *ps, const struct conn *nc)
{
	struct conn *oldest_mine = NULL;
	size_t total = 0, mine = 0;
	char why[160];

	for (size_t i = 0; i < ps->nr_conns; i++) {
		struct conn *c = ps->conns[i];

		if (!waiting(c))
			continue;
		total++;
		if (!strcmp(c->peer_key, nc->peer_key)) {
			mine++;
			if (!oldest_mine || c->idx < oldest_mine->idx)
				oldest_mine = c;
		}
	}
	if (mine >= PEER_WAITING) {
		snprintf(why, sizeof(why),
			 "%s holds %zu connections that have not proved the secret (at most %d)",
			 nc->peer_key, mine, PEER_WAITING);
		evict(ps, oldest_mine, why);
		return;
	}
	if (total >= MAX_CONNS - SESSION_SLOTS)
		evict_from_busiest(ps, total);
}
