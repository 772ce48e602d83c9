/* SPDX-License-Identifier: MIT */
/*
 * `ferry migrate --incoming`: the destination of a live migration
 * (docs/migrate.md). Accepts one connection, checks the hello (and the
 * shared secret's proof), keeps every page the sections send in a page
 * store, writes the final section's images into the images directory with
 * pagemap/pages images made from the store (a page sent again in a later
 * round replaces the earlier copy), restores the tree detached, and tells
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
	long timeout_ms;	 /* for the connection and each PDU; <= 0: none */
};

/*
 * migrate_recv - serve one migration. Prints "migrate: listening on
 * ADDR:PORT" to stdout once listening. Returns 0 with *@root the restored
 * root's pid (a child of ours) once the tree runs and the source was told,
 * or -errno (logged).
 */
int migrate_recv(const struct migrate_recv_opts *o, pid_t *root);

/* The final step, in migrate_images.c. */
struct mstore;
/*
 * migrate_write_pages - rewrite every pagemap-PID.img of @dirfd (@dir) so
 * that each run the dump had (its pages copied now or in an earlier round)
 * is PE_PRESENT with its data in a fresh pages-ID.img from @st. Returns 0,
 * -ENOENT if a page the pagemap needs was never sent (logged with pid and
 * address), or -errno.
 */
int migrate_write_pages(int dirfd, const char *dir, const struct mstore *st);

#endif
