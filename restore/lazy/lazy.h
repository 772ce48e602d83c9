/* SPDX-License-Identifier: MIT */
/*
 * Lazy (post-copy) restore: the restored processes start before their
 * private anonymous memory (and the shared memory rshmem_plan_lazy() picks)
 * is in place; a lazy-pages daemon fills each page
 * on first touch (userfaultfd MISSING faults) and pushes the rest in the
 * background, from the images or from a page server (page_source.h).
 *
 * The restore side (lazy.c):
 *   lazy_start()     after the shells exist: open the page source, fork the
 *                    daemon (so its pid is not one the tree needs);
 *   lazy_register()  per process, once its VMAs are mapped and its eager
 *                    pages written: the process itself creates a userfaultfd
 *                    (while it still has ferry's credentials), ferry takes it
 *                    with pidfd_getfd, registers the lazy VMAs in MISSING
 *                    mode with the fork/remap/remove/unmap events, and hands
 *                    it to the daemon, which fills the recorded working set
 *                    before it answers;
 *   lazy_go()        the tree runs: background filling may start;
 *   lazy_abort()     the restore failed: the daemon is killed.
 *
 * The daemon (lazy_daemon.c, lazy_fault.c, lazy_prefetch.c) runs until every
 * page of every process is in, or the processes are gone, and says so. If the
 * page source fails it kills the processes that still miss pages, naming a
 * page they miss.
 */
#ifndef FERRY_RESTORE_LAZY_H
#define FERRY_RESTORE_LAZY_H

#include <stdint.h>
#include <sys/types.h>

#include "images.h"

struct rtask;
struct page_source;
struct lazy_ws;

/* The lazy-pages daemon's log in the images directory, when ferry logs to stderr. */
#define LAZY_LOG_FILE "lazy-pages.log"

struct lazy_opts {
	const char *page_server; /* HOST:PORT, or NULL for the local images */
	const char *secret_file; /* the page server's shared secret, or NULL */
	/*
	 * With page_server: pages whose level of the chain has a pages file
	 * here are read here, only the others asked from the page server (a
	 * post-copy migration's destination: page_source_split.h).
	 */
	int page_server_missing_only;
	/*
	 * The background fills the chain's newest levels first (the last dirty
	 * set, then the last rounds), then the rest in address order.
	 */
	int recent_first;
	const char *record_ws;	/* write the first-touch order here, or NULL */
	const char *ws_file;	/* prefetch this working set first if it exists */
	long timeout_ms;	/* a page request unanswered this long kills the source */
	long prefetch_delay_ms; /* background filling starts this long after resume */
	/*
	 * The daemon dies before every page is in: its holder waits this long
	 * for `ferry lazy-pages --attach`, then kills who misses pages.
	 */
	long orphan_timeout_ms;
	/*
	 * Where the daemon logs when ferry logs to stderr: it outlives the
	 * restore and must not write over the restored program's terminal.
	 * NULL: where ferry logs.
	 */
	const char *log_path;
};

struct lazy_daemon {
	pid_t pid; /* the daemon, ferry's child; 0 if none */
	int sock;  /* control socket to it, -1 if none */
};

/*
 * lazy_vma - whether restore leaves the dumped pages of @v to the daemon:
 * private anonymous memory (userfaultfd's MISSING mode does not apply to
 * private file mappings, whose pages are written eagerly).
 */
int lazy_vma(const VmaEntry *v);

/*
 * lazy_start - open the page source (connect to the page server) and fork
 * the daemon. Returns 0 or -errno (logged: the server, the file).
 */
int lazy_start(struct lazy_daemon *d, const struct rimg *r, const struct lazy_opts *o);

/*
 * lazy_register - hand the lazy memory of process @t (seized, VMAs mapped)
 * to the daemon, and wait until it has it: its private anonymous VMAs and
 * every VMA mapping a shared memory object of @r that rshmem_plan_lazy()
 * chose. Returns 0 or -errno.
 */
int lazy_register(struct lazy_daemon *d, struct rtask *t, const struct rimg *r);

/* lazy_go - the tree runs. Closes the control socket. Returns 0 or -errno. */
int lazy_go(struct lazy_daemon *d);

/* lazy_abort - kill and reap the daemon (a failed restore). */
void lazy_abort(struct lazy_daemon *d);

/*
 * lazy_kill_tree - SIGKILL process @pid and every process below it (found in
 * /proc; each is stopped before its children are looked for, so none escapes
 * by forking or by being reparented meanwhile).
 */
void lazy_kill_tree(pid_t pid);

/*
 * lazy_daemon_run - the daemon's main loop, in the forked child: serves the
 * processes registered on control socket @sock from @src until every page
 * is in, journaling to its holder @holder on socket @hold (-1: none). Returns the exit status (0:
 * every page in or every process gone).
 */
int lazy_daemon_run(int sock, int hold, pid_t holder, const struct rimg *r, struct page_source *src,
		    const struct lazy_opts *o, struct lazy_ws *ws);

/*
 * lazy_attach - serve the lazy restore of the tree of @pid whose daemon died:
 * take the userfaultfds and the journal from its holder, rebuild the index
 * from @r (the same dump) and the journal, wake the threads that wait, and
 * run as its daemon until every page is in. Returns the exit status (0: every
 * page in); -errno if there is no holder to attach to (logged).
 */
int lazy_attach(pid_t pid, const struct rimg *r, const struct lazy_opts *o);

/* The orphan timeout when none is given (ms). */
#define LAZY_ORPHAN_TIMEOUT_MS 60000

#endif
