/* SPDX-License-Identifier: MIT */
/*
 * `ferry page-server`: serves the pages of a dump to one lazy-restore session
 * over TCP (protocol: docs/page-server.md, schema: docs/pageserver.asn1).
 */
#ifndef FERRY_PAGE_SERVER_H
#define FERRY_PAGE_SERVER_H

#include <stdint.h>

struct page_server_opts {
	const char *dir;	 /* the images directory */
	const char *address;	 /* bind address; NULL: 127.0.0.1 */
	int port;		 /* 0: any free port */
	const char *secret_file; /* NULL: no authentication (loopback only) */
	const char *wire_log;	 /* NULL, or PREFIX for PREFIX.N.in / PREFIX.N.out */
	long timeout_ms;	 /* > 0: give up if no client starts a session in time */
};

struct page_server;

/*
 * page_server_open - check the options, load the dump in o->dir, read the
 * secret and listen. A bind address outside 127.0.0.0/8 and ::1 without a
 * secret file is refused (-EPERM). Returns 0 with *@out, or -errno: -EINVAL
 * (bad address or secret file), -EPERM, the rimg_load() error for a bad
 * dump, or the socket's. Everything is logged.
 */
int page_server_open(struct page_server **out, const struct page_server_opts *o);

/* page_server_where - "ADDR:PORT" (IPv6 as "[ADDR]:PORT") it listens on, port resolved. */
const char *page_server_where(const struct page_server *ps);

/*
 * page_server_run - serve until the session ends. Returns 0 when every
 * connection of the session ended with Bye; -ECONNRESET if one dropped
 * without Bye, -EBADMSG if one broke the protocol, -ETIMEDOUT if no session
 * started within o->timeout_ms, or another -errno (logged).
 */
int page_server_run(struct page_server *ps);

/* page_server_pages - pages served so far; *@fault_pages of them on fault channels. */
uint64_t page_server_pages(const struct page_server *ps, uint64_t *fault_pages);

/* page_server_free - close and free. NULL is a no-op. */
void page_server_free(struct page_server *ps);

#endif
