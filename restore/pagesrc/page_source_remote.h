/* SPDX-License-Identifier: MIT */
/*
 * The remote page source: pages asked of a `ferry page-server` over TCP
 * (docs/page-server.md). Two connections of one session: the fault channel
 * carries urgent requests, the background channel the rest, so a fault never
 * waits behind a prefetch. Requests are pipelined: any number in flight.
 */
#ifndef FERRY_PAGE_SOURCE_REMOTE_H
#define FERRY_PAGE_SOURCE_REMOTE_H

#include "page_source.h"

/* Used when page_source_remote_open() gets timeout_ms <= 0. */
#define PS_REMOTE_DEFAULT_TIMEOUT_MS 10000

/*
 * page_source_remote_open - connect to the page server at @host_port
 * ("HOST:PORT", "[IPv6]:PORT"; HOST an address or a name for getaddrinfo),
 * both channels, and do the hellos; with @secret_file (may be NULL) prove
 * the shared secret it holds. Connecting and each hello must finish within
 * @timeout_ms (PS_REMOTE_DEFAULT_TIMEOUT_MS if <= 0), which is also how long
 * an answer may keep the source waiting later.
 *
 * Returns 0 with *@out, or: -EINVAL (a malformed HOST:PORT, or a secret file
 * that is empty or too long), -ENOENT/-EHOSTUNREACH (the name does not
 * resolve), -ECONNREFUSED and other connect errors, -ETIMEDOUT, -EACCES (the
 * server wants a proof and there is no secret, or the proof was refused),
 * -EPROTO (the server refused the hello for another reason: version, busy),
 * -EBADMSG (the server does not speak this protocol), -ECONNRESET, -ENOMEM.
 * Each is logged once with the server's name.
 *
 * Once open, the source is dead after the first connection loss, protocol
 * error, Error PDU from the server, or a request that has waited
 * @timeout_ms while its connection received nothing: reap() then returns
 * (after the requests that did complete) -ECONNRESET, -EBADMSG, -EPROTO or
 * -ETIMEDOUT, and submit() the same; logged once, naming the oldest
 * request still outstanding (pid and address). poll_fds() gives the two
 * sockets and a timer fd that fires at the next timeout, so a caller that
 * polls them without a timeout of its own still learns of a silent server.
 * A PageError fails only its request: ->err is -ENOENT (not in the dump),
 * -EINVAL (refused as malformed) or -EIO (the server could not read it).
 *
 * destroy() sends Bye on both connections and waits for the server to
 * close them (at most about a second), then closes.
 */
int page_source_remote_open(struct page_source **out, const char *host_port,
			    const char *secret_file, long timeout_ms);

#endif
