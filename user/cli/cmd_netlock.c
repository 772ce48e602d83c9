// SPDX-License-Identifier: MIT
/*
 * ferry netlock: show and remove the network locks of TCP connections
 * (user/core/netlock.h) that dumps with --tcp-established leave.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "netlock.h"

static int run(struct cli_opts *o)
{
	const char *what = o->argc > 0 ? o->argv[0] : "list";
	int n;

	if (!strcmp(what, "list") && o->argc <= 1) {
		n = netlock_list(stdout);
		return n < 0 ? n : 0;
	}
	if (!strcmp(what, "clean") && o->argc <= 1) {
		n = netlock_clean_stale();
		if (n >= 0)
			printf("%d lock(s) of dead ferry processes dealt with\n", n);
		return n < 0 ? n : 0;
	}
	if (!strcmp(what, "unlock") && o->argc == 2 && !strcmp(o->argv[1], "all")) {
		n = netlock_unlock_all_kept();
		if (n >= 0)
			printf("%d kept lock(s) removed\n", n);
		return n < 0 ? n : 0;
	}
	if (!strcmp(what, "lock") && o->argc >= 2) {
		for (int i = 1; i < o->argc; i++) {
			n = netlock_lock_name(o->argv[i]);
			if (n)
				return n;
		}
		return 0;
	}
	if (!strcmp(what, "unlock") && o->argc >= 2) {
		for (int i = 1; i < o->argc; i++) {
			n = netlock_unlock_name(o->argv[i]);
			if (n)
				return n;
		}
		return 0;
	}
	fprintf(stderr,
		"ferry netlock: list, clean, lock CONN..., unlock NAME... or unlock all (see --help)\n");
	return -EINVAL;
}

const struct cli_cmd cmd_netlock = {
	.name = "netlock",
	.run = run,
	.summary = "show or remove the network locks of dumped TCP connections",
	.usage =
		"Usage: ferry netlock [list]\n"
		"       ferry netlock clean\n"
		"       ferry netlock unlock NAME...\n"
		"       ferry netlock unlock all\n\n"
		"A dump with --tcp-established drops the packets of the tree's TCP connections\n"
		"while it reads them (no ACK, no RST reaches the peer), with one nftables table\n"
		"per connection. A dump that succeeds leaves the lock (\"ferry_kept_<conn>\") for\n"
		"the restore, which removes it once the sockets are made again; otherwise the\n"
		"peer's next packet would meet a closed port and get an RST.\n\n"
		"  list      print ferry's lock tables, one a line: ferry_kept_<conn> (kept for a\n"
		"            restore) and ferry_dump_<ferry pid>_... (held by a running dump)\n"
		"  clean     deal with the locks of ferry processes that died during a dump (every\n"
		"            dump and restore does it too): a socket still open is taken out of\n"
		"            repair mode and unlocked, a socket gone keeps its lock as kept\n"
		"  unlock    remove the named locks (a table name, or <conn> for its kept lock);\n"
		"            'all' removes every kept lock: for dumps that will never be restored.\n"
		"            The peers of the connections then get an RST at their next packet.\n\n"
		"<conn> is 4_<local address hex>_<port>_<remote address hex>_<port> (6_ for IPv6).\n"
		"Needs nft (Debian package nftables) and root. See docs/tcp.md.\n",
};
