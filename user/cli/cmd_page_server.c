// SPDX-License-Identifier: MIT
/* `ferry page-server`: serve a dump's pages to one lazy restore over TCP. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#define LOG_PREFIX ""
#include "cli.h"
#include "log.h"
#include "page_server.h"
#include "ps_wire.h"

static int run(struct cli_opts *o)
{
	struct page_server_opts so = { 0 };
	struct page_server *ps = NULL;
	int err;

	if (!o->images_dir) {
		fprintf(stderr, "ferry page-server: -D DIR is required (see --help)\n");
		return -1;
	}
	if (o->argc) {
		fprintf(stderr, "ferry page-server: unexpected argument '%s' (see --help)\n",
			o->argv[0]);
		return -1;
	}
	so.dir = o->images_dir;
	so.address = o->address;
	so.port = o->port >= 0 ? (int)o->port : PS_DEFAULT_PORT;
	so.secret_file = o->secret_file;
	so.wire_log = o->wire_log;
	so.timeout_ms = o->timeout_ms;
	err = page_server_open(&ps, &so);
	if (err)
		return err;
	/* Scripts and tests wait for this line (and read the port from it). */
	printf("page-server: listening on %s\n", page_server_where(ps));
	fflush(stdout);
	err = page_server_run(ps);
	page_server_free(ps);
	return err;
}

const struct cli_cmd cmd_page_server = {
	.name = "page-server",
	.run = run,
	.summary = "serve a dump's pages to a lazy restore over TCP",
	.usage = "Usage: ferry page-server -D DIR [--address A] [--port P] [--secret-file F]\n"
		 "                         [--wire-log PREFIX] [--timeout S] [-v[N]]\n\n"
		 "Serves the memory pages of the dump in DIR (and of its pre-dump chain) to one\n"
		 "lazy restore session: `ferry restore --lazy-pages --page-server HOST:PORT`\n"
		 "on this or another machine asks for pages as the restored processes touch\n"
		 "them (fault channel, served first) and prefetches the rest (background\n"
		 "channel). Once listening, prints one line to stdout:\n"
		 "  page-server: listening on ADDR:PORT\n"
		 "Exits 0 when the session ends with Bye on all its connections; non-zero if a\n"
		 "connection of the session drops or breaks the protocol, or no client comes\n"
		 "within --timeout. Connections that fail the hello (wrong secret, garbage,\n"
		 "another session) are answered with an Error, logged with their address, and\n"
		 "closed; the server goes on waiting for or serving its session.\n\n"
		 "Options:\n"
		 "  -D, --images-dir DIR  the dump, as written by 'ferry dump'\n"
		 "  --address A           address to listen on (default 127.0.0.1; IPv6 as ::1);\n"
		 "                        anything but a loopback address needs --secret-file\n"
		 "  --port P              TCP port (default 27027; 0 picks a free port, see the\n"
		 "                        line printed on stdout)\n"
		 "  --secret-file F       shared secret: every connection must prove it knows\n"
		 "                        F's contents (HMAC-SHA256 over a fresh nonce); the\n"
		 "                        client uses the same file. Without it (loopback\n"
		 "                        only) the server makes a secret in\n"
		 "                        /run/ferry/page-server/ADDR:PORT.secret, mode 0600,\n"
		 "                        which clients on this machine read: other local\n"
		 "                        users cannot. Pages are not encrypted: use a\n"
		 "                        trusted network or a tunnel (docs/page-server.md)\n"
		 "  --wire-log PREFIX     capture connection N's bytes in PREFIX.N.in (received)\n"
		 "                        and PREFIX.N.out (sent); decode them with\n"
		 "                        'openssl asn1parse -inform DER -in F' or 'unber F'\n"
		 "  --timeout S           exit non-zero if no client starts a session within S\n"
		 "                        seconds (default: wait forever)\n"
		 "  -v[N]                 -v3 logs connections and the session's totals\n\n"
		 "Protocol and schema: docs/page-server.md, docs/pageserver.asn1.\n",
};
