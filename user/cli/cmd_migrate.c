// SPDX-License-Identifier: MIT
/* `ferry migrate`: live migration, the source (-t PID --to) or the destination (--incoming). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_PREFIX ""
#include "cli.h"
#include "log.h"
#include "migrate.h"
#include "migrate_recv.h"
#include "migrate_wire.h"
#include "page_server.h"

/* The page server of a post-copy (migrate.h): ferry page-server's code. */
static struct page_server *pager_ps;

static int pager_open(void *arg, const char *dir, const char *address, const char *secret_file,
		      int *port)
{
	struct page_server_opts po = {
		.dir = dir, .address = address, .secret_file = secret_file, .timeout_ms = 120000
	};
	const char *where, *colon;
	int err = page_server_open(&pager_ps, &po);

	if (err)
		return err;
	where = page_server_where(pager_ps);
	colon = strrchr(where, ':');
	*port = colon ? atoi(colon + 1) : 0;
	return *port > 0 ? 0 : -EINVAL;
}

static int pager_run(void *arg)
{
	return page_server_run(pager_ps);
}

static uint64_t pager_pages(void *arg, uint64_t *fault_pages)
{
	return page_server_pages(pager_ps, fault_pages);
}

static void pager_free(void *arg)
{
	page_server_free(pager_ps);
	pager_ps = NULL;
}

static const struct migrate_pager pager = {
	.open = pager_open,
	.run = pager_run,
	.pages = pager_pages,
	.free = pager_free,
};

static int incoming(struct cli_opts *o)
{
	struct migrate_recv_opts ro = { 0 };
	pid_t root = 0;
	int err;

	ro.address = o->address;
	ro.port = o->port >= 0 ? (int)o->port : MIG_DEFAULT_PORT;
	ro.dir = o->images_dir;
	ro.secret_file = o->secret_file;
	/* --timeout bounds the wait for the source too; by default only its silences. */
	ro.timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : MIGRATE_RECV_DEFAULT_TIMEOUT_MS;
	ro.accept_timeout_ms = o->timeout_ms;
	ro.lazy = o->lazy_pages;
	ro.no_xbzrle = o->no_xbzrle;
	ro.prefetch_delay_ms = o->prefetch_delay_ms;
	ro.from_file = o->from_file;
	ro.address_order = o->address_order;
	err = migrate_recv(&ro, &root);
	if (err)
		return err;
	printf("migrate: the tree runs, root pid %d\n", root);
	fflush(stdout);
	if (getpid() == 1) {
		/* The init of a pid namespace: when it exits, the kernel kills the tree. */
		pr_info("pid 1 of its pid namespace: staying as the tree's reaper until it ends");
		while (wait(NULL) > 0 || errno == EINTR)
			;
	}
	return 0;
}

static int run(struct cli_opts *o)
{
	struct migrate_opts mo = { 0 };

	if (o->argc) {
		fprintf(stderr, "ferry migrate: unexpected argument '%s' (see --help)\n",
			o->argv[0]);
		return -1;
	}
	if (o->from_file && !o->incoming) {
		fprintf(stderr, "ferry migrate: --from-file is for --incoming\n");
		return -1;
	}
	if (o->incoming) {
		if (o->pid || o->to) {
			fprintf(stderr, "ferry migrate: --incoming takes no -t or --to\n");
			return -1;
		}
		return incoming(o);
	}
	if (!o->pid || !o->to) {
		fprintf(stderr, "ferry migrate: -t PID and --to HOST:PORT are required, or "
				"--incoming (see --help)\n");
		return -1;
	}
	mo.pid = o->pid;
	mo.to = o->to;
	mo.secret_file = o->secret_file;
	mo.max_rounds = o->max_rounds ? o->max_rounds : MIGRATE_DEFAULT_ROUNDS;
	mo.downtime_ms = o->downtime_ms >= 0 ? o->downtime_ms : MIGRATE_DEFAULT_DOWNTIME_MS;
	mo.json = o->json;
	mo.max_bandwidth = (uint64_t)o->max_bandwidth;
	mo.wire_log = o->wire_log;
	mo.work_dir = o->images_dir;
	mo.xbzrle_cache = (uint64_t)o->xbzrle_cache;
	mo.auto_converge = o->auto_converge;
	mo.postcopy = o->postcopy == 3	 ? MIGRATE_POSTCOPY_ALWAYS
		      : o->postcopy == 2 ? MIGRATE_POSTCOPY_AUTO
					 : MIGRATE_POSTCOPY_NEVER;
	mo.pager = &pager;
	cli_track_opts(o, &mo.track);
	return migrate_send(&mo);
}

const struct cli_cmd cmd_migrate = {
	.name = "migrate",
	.run = run,
	.summary = "live-migrate a process tree to another ferry (pre-copy over TCP)",
	.usage =
		"Usage: ferry migrate -t PID --to HOST:PORT [--secret-file F] [--max-rounds N]\n"
		"                     [--downtime-limit MS] [--max-bandwidth RATE] [--json]\n"
		"                     [--wire-log FILE] [-D DIR] [--xbzrle[=CACHE_SIZE]]\n"
		"                     [--auto-converge] [--postcopy auto|always|never]\n"
		"                     [--track-mode M] [--no-bpf] [-v[N]] [--log-file F]\n"
		"       ferry migrate --incoming [--address A] [--port P] [-D DIR] [--lazy-pages]\n"
		"                     [--prefetch-delay MS] [--secret-file F] [--timeout S]\n"
		"                     [--no-xbzrle] [--from-file F] [--postcopy-order recent|address]\n"
		"                     [-v[N]] [--log-file F]\n\n"
		"Live migration of the process tree of PID to the machine (or namespace)\n"
		"where `ferry migrate --incoming` listens, over one TCP connection carrying\n"
		"the BER stream of docs/migrate.md.\n\n"
		"The source copies the memory while the tree runs (pre-copy): round 1 sends\n"
		"every page with data, each next round the pages written since (dirty-page\n"
		"tracking as `ferry pre-dump`: uffd-wp async + PAGEMAP_SCAN). After each\n"
		"round it prints the pages, bytes, time, dirty rate, bandwidth and the\n"
		"predicted downtime (what the round sent at the measured bandwidth, plus the\n"
		"freeze); once that is under --downtime-limit (default 300 ms), or after\n"
		"--max-rounds (default 8), it freezes the tree, dumps it and sends its state\n"
		"and last dirty pages. The tree stays frozen until the destination answers:\n"
		"it is killed only once the destination says the tree runs there; if the\n"
		"connection drops or the destination fails before, the tree is released,\n"
		"keeps running, untracked, and ferry exits non-zero.\n\n"
		"The destination accepts one migration, keeps the pages of every round (a\n"
		"page sent again replaces the earlier copy), writes the final images into\n"
		"DIR (default: a temporary directory, removed afterwards), restores the\n"
		"tree detached, sends the verdict, and exits 0 if the tree runs. If it is\n"
		"pid 1 of a pid namespace it then stays, reaping, until the tree ends.\n"
		"Once listening it prints one line to stdout:\n"
		"  migrate: listening on ADDR:PORT\n"
		"and once the tree runs:\n"
		"  migrate: the tree runs, root pid N\n\n"
		"With --postcopy the source switches to post-copy (after round 1 with\n"
		"`always`; with `auto` when the rounds do not converge or the dirty rate\n"
		"stops falling): the frozen tree's state goes without its last pages, the\n"
		"destination resumes it at once with a lazy restore that pulls those pages\n"
		"from a page server the source runs over its dump (same secret), and the\n"
		"source exits once the destination says every page is in. From the switch\n"
		"on, losing the source kills the destination's tree (its memory is gone).\n\n"
		"Not done yet: auto-converge through the tree's cgroup cpu.max.\n\n"
		"Options (source):\n"
		"  -t PID                the root of the tree to migrate\n"
		"  --to HOST:PORT        the destination ([IPv6]:PORT for IPv6)\n"
		"  --max-rounds N        pre-copy rounds at most (1..1000, default 8)\n"
		"  --downtime-limit MS   converge when the predicted downtime is under MS\n"
		"  --max-bandwidth RATE  send at most RATE bytes/s on average (K, M, G\n"
		"                        suffixes); the measured bandwidth then includes it\n"
		"  --postcopy WHEN       never (default), auto or always: see above\n"
		"  --json                one JSON object per round and one at the end\n"
		"  --wire-log FILE       a copy of every octet sent (for openssl asn1parse)\n"
		"  -D DIR                keep the rounds' images in DIR (default: a temporary\n"
		"                        directory, removed afterwards)\n"
		"  --xbzrle[=CACHE_SIZE] keep a cache of the pages sent (default 64M; K, M, G\n"
		"                        suffixes) and send a page sent again as an XBZRLE\n"
		"                        delta (QEMU's encoding) when that is shorter; the\n"
		"                        destination must take them (stream version 2)\n"
		"  --auto-converge       from round 3, when the predicted downtime is over the\n"
		"                        limit and the dirty rate does not fall, throttle the\n"
		"                        tree with SIGSTOP/SIGCONT slices (20%, then +10 points\n"
		"                        a round, at most 99%); paused during every dump, and\n"
		"                        lifted on every way out (a watcher process continues\n"
		"                        the tree even if ferry is killed)\n" CLI_TRACK_OPTS_HELP
		"Options (destination):\n"
		"  --incoming            be the destination\n"
		"  --address A           listen address (default: any)\n"
		"  --port P              listen port (default 27028; 0: any free port)\n"
		"  -D DIR                where the images are written (kept)\n"
		"  --lazy-pages          resume the tree before its memory is in: a lazy-pages\n"
		"                        daemon fills it from the images (docs/lazy.md), so\n"
		"                        the downtime does not grow with the memory size\n"
		"  --prefetch-delay MS   lazily (--lazy-pages, post-copy): start filling the\n"
		"                        memory in the background MS after the resume\n"
		"  --timeout S           wait at most S seconds for the source to connect and\n"
		"                        for each PDU (default: no limit for the connection,\n"
		"                        60 s of silence once connected)\n"
		"  --no-xbzrle           refuse XBZRLE deltas (the source then sends pages whole)\n"
		"  --postcopy-order O    post-copy: the background fills the pages written last\n"
		"                        first (recent: the last dirty set, then the last\n"
		"                        rounds; the default), or in address order (address)\n"
		"  --from-file F         replay a stream captured with the source's --wire-log F\n"
		"                        instead of listening (not a post-copy one; answers\n"
		"                        are dropped)\n"
		"Both:\n"
		"  --secret-file F       a shared secret: the source proves it knows it\n"
		"                        (HMAC-SHA256 over the destination's nonce)\n",
};
