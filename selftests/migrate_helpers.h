/* SPDX-License-Identifier: MIT */
/*
 * What the end-to-end tests of `ferry migrate` share: the destination, run
 * as `ferry migrate --incoming` in network namespace ns (NULL: this one)
 * and in its own pid and mount namespaces.
 */
#ifndef FERRY_TEST_MIGRATE_HELPERS_H
#define FERRY_TEST_MIGRATE_HELPERS_H

#include <sys/types.h>

struct dest {
	pid_t pid; /* ip netns exec / unshare: its process group is the destination */
	char out[600], log[600], host_port[64];
};

/*
 * start_dest - start the destination listening on @addr (any port: d->host_port
 * gets ADDR:PORT), images in @img (NULL: a temporary directory), with the
 * secret file @secret (may be NULL), --lazy-pages if @lazy; its output in
 * @dir/dest.out, its log in @dir/dest.log. Returns 0, or -1 if it did not
 * start listening.
 */
int start_dest(struct dest *d, const char *ns, const char *addr, const char *dir, const char *img,
	       const char *secret, int lazy);
/* start_dest_args - the same with more options @args for the destination's command line. */
int start_dest_args(struct dest *d, const char *ns, const char *addr, const char *dir,
		    const char *img, const char *secret, const char *args);
/* kill_dest - kill the destination (its process group: the namespace's pid 1 too). */
void kill_dest(struct dest *d);
/* host_pid_of - the host pid of the process that is pid @nspid in a child pid namespace, or 0. */
pid_t host_pid_of(pid_t nspid);
/* write_secret - a secret file @path (mode 0600) holding @s. */
void write_secret(const char *path, const char *s);

#endif
