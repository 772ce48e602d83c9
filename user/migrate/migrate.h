/* SPDX-License-Identifier: MIT */
/*
 * `ferry migrate -t PID --to HOST:PORT`: the source of a live migration
 * (docs/migrate.md). Pre-copy rounds run the pre-dump (tracking armed in
 * round 1, then only the pages written since); each round's pages go to the
 * destination as an iteration section of the BER stream (migrate_wire.h).
 * When the predicted downtime is under the limit, or after the last round,
 * the tree is dumped frozen (the dump's images and its last dirty pages are
 * the final section) and held frozen until the destination's verdict: killed
 * only if the destination says the tree runs there, released (running, not
 * tracked, nothing write-protected) on any failure before that.
 */
#ifndef FERRY_MIGRATE_H
#define FERRY_MIGRATE_H

#include <stdint.h>
#include <sys/types.h>

#include "tracker.h"

/*
 * --postcopy: never (stop-and-copy of the last dirty set), always (after
 * round 1), auto (when the rounds do not converge within --max-rounds, or
 * the dirty rate stops falling). After the switch the tree is frozen and
 * dumped, its state sent without its last pages, and the destination
 * resumes it at once, pulling those pages from a page server this ferry runs
 * over the dump (docs/migrate.md).
 */
enum migrate_postcopy {
	MIGRATE_POSTCOPY_NEVER = 0,
	MIGRATE_POSTCOPY_AUTO,
	MIGRATE_POSTCOPY_ALWAYS,
};

/*
 * The page server of a post-copy. It lives on the restore side, so the
 * command line lends it: open() loads the images directory @dir and listens
 * on @address (any port, *@port gets it) with @secret_file (may be NULL: a
 * local secret on loopback); run() serves one session until it ends (0 when
 * it ended with Bye); free() closes. run() is called in a child process,
 * which tells the source pages() when it ends.
 */
struct migrate_pager {
	int (*open)(void *arg, const char *dir, const char *address, const char *secret_file,
		    int *port);
	int (*run)(void *arg);
	/* pages - after run(): pages served, *@fault_pages of them for faults. */
	uint64_t (*pages)(void *arg, uint64_t *fault_pages);
	void (*free)(void *arg);
	void *arg;
};

struct migrate_opts {
	pid_t pid;		 /* root of the tree */
	const char *to;		 /* HOST:PORT ("[v6]:PORT") of `ferry migrate --incoming` */
	const char *secret_file; /* the destination's shared secret, or NULL */
	unsigned max_rounds;	 /* pre-copy rounds at most (>= 1) */
	long downtime_ms;	 /* converge when the predicted downtime is under this */
	int json;		 /* one JSON object per line instead of text */
	uint64_t max_bandwidth;	 /* bytes/s on average at most; 0: no limit */
	const char *wire_log;	 /* a copy of every octet sent, or NULL */
	const char *work_dir;	 /* where the rounds' images go; NULL: a temporary directory */
	uint64_t xbzrle_cache;	 /* --xbzrle: bytes of the cache of sent pages; 0: off */
	int auto_converge; /* --auto-converge: throttle a tree whose dirty rate does not fall */
	struct tracker_opts track;
	enum migrate_postcopy postcopy;	   /* when to switch to post-copy */
	const struct migrate_pager *pager; /* required unless postcopy is never */
};

/* The default knobs. */
#define MIGRATE_DEFAULT_ROUNDS 8
#define MIGRATE_DEFAULT_DOWNTIME_MS 300

/*
 * migrate_send - migrate the tree of @o->pid. Returns 0 once the destination
 * said the tree runs there (the source tree is then killed), or -errno
 * (logged, with what became of the source: it runs on, released).
 */
int migrate_send(const struct migrate_opts *o);

#endif
