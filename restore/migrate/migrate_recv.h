/* SPDX-License-Identifier: MIT */
/*
 * `ferry migrate --incoming`: the destination of a live migration
 * (docs/migrate.md). Accepts one connection, checks the hello (and the
 * shared secret's proof), writes each section as a level of a pre-dump
 * chain (migrate_levels.h: round-K directories, the final section in the
 * images directory itself; a page sent again in a later round shadows the
 * earlier copy), restores the tree detached through the chain, and tells
 * the source the verdict. On any failure no process it made is left.
 */
#ifndef FERRY_MIGRATE_RECV_H
#define FERRY_MIGRATE_RECV_H

#include <sys/types.h>

struct migrate_recv_opts {
	const char *address;	 /* listen address; NULL: 127.0.0.1 (else a secret is required) */
	int port;		 /* 0: any free port */
	const char *dir;	 /* images directory; NULL: a temporary one, removed after */
	const char *secret_file; /* require the proof of this shared secret */
	long timeout_ms;	 /* the longest silence of a connected source; <= 0: none */
	long accept_timeout_ms;	 /* how long to wait for the source to connect; <= 0: no limit */
	int lazy;		 /* restore lazily from the chain (the memory fills after resume) */
	int no_xbzrle;		 /* refuse XBZRLE deltas when the source asks */
	long prefetch_delay_ms;	 /* lazily: the background filling starts this late */
	/*
	 * Read the source's half of a stream from this file (a --wire-log
	 * capture) instead of listening; what the destination answers is
	 * dropped. A post-copy stream cannot be replayed (its last pages stay
	 * at the source), nor one whose hello proves a secret under
	 * --secret-file (the proof is bound to the nonce of its own session).
	 */
	const char *from_file;
	/* post-copy: the background in address order, not the newest levels first */
	int address_order;
};

/* The longest silence of a connected source unless --timeout says otherwise. */
#define MIGRATE_RECV_DEFAULT_TIMEOUT_MS 60000

/*
 * migrate_recv - serve one migration. Prints "migrate: listening on
 * ADDR:PORT" to stdout once listening (not with from_file). Returns 0 with *@root the restored
 * root's pid (a child of ours) once the tree runs and the source was told,
 * or -errno (logged).
 */
int migrate_recv(const struct migrate_recv_opts *o, pid_t *root);

#endif
