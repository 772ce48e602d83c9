/* SPDX-License-Identifier: MIT */
/*
 * Real services (issue 19) driven by a test: a Debian program started in a
 * temporary directory, checkpointed in one of three ways (a dump, a dump
 * restored with lazy pages, a pre-dump chain), with the dump and restore
 * times and the image size measured, and spoken to over TCP on 127.0.0.1.
 */
#ifndef FERRY_TEST_SERVICES_HELPERS_H
#define FERRY_TEST_SERVICES_HELPERS_H

#include <stddef.h>
#include <sys/types.h>

#include "tree_helpers.h"

enum svc_mode {
	SVC_EAGER,   /* dump, restore */
	SVC_LAZY,    /* dump, restore --lazy-pages, background filling 2 s late */
	SVC_PREDUMP, /* pre-dump, (the service changes), dump --prev-images-dir, restore */
};

/* svc_program - @path if it is an executable; else the test is skipped, naming @pkg. */
void svc_program(const char *path, const char *pkg);
/* svc_free_port - a TCP port of 127.0.0.1 that nothing listens on just now. */
int svc_free_port(void);
/*
 * svc_spawn - start @argv (argv[0] an absolute path) in t's directory with
 * its output in t->out, and wait up to 20 s for a line of t->out containing
 * @needle, returned (malloc'd). Fails the test, printing the output, if not.
 */
char *svc_spawn(struct t_tree *t, const char *const argv[], const char *needle);
/*
 * svc_checkpoint - checkpoint t's service in @mode and restore it detached
 * (the pid is kept). For SVC_PREDUMP, @between(@arg) runs between the
 * pre-dump and the dump (the service running, tracked). Logs one line
 * "services: NAME MODE: dump X ms, restore Y ms, images Z KiB" (pre-dump:
 * the pre-dump's time and images too).
 */
void svc_checkpoint(struct t_tree *t, enum svc_mode mode, void (*between)(void *), void *arg);
/*
 * svc_checkpoint_reap - svc_checkpoint, and after the dump reap @reap
 * (@nr_reap pids): processes of the tree outside the root's process group,
 * which come to the test (subreaper) when the root dies.
 */
void svc_checkpoint_reap(struct t_tree *t, enum svc_mode mode, void (*between)(void *), void *arg,
			 const pid_t *reap, int nr_reap);
/*
 * svc_files_decode - files.img of image directory @dir read by ferry decode
 * and, if installed, by CRIU's crit: both must succeed and name every file
 * kind of @kinds (NULL-terminated: "INETSK", "UNIXSK", ...).
 */
void svc_files_decode(const char *dir, const char *const kinds[]);
/* svc_img_dir - the image directory svc_checkpoint restored t from. */
void svc_img_dir(const struct t_tree *t, char *buf, size_t len);
/*
 * svc_request - connect to 127.0.0.1:@port, write @req, read until the
 * peer closes or @until (if not NULL) has arrived; returns what was read
 * (malloc'd, NUL-terminated). Fails the test on connect error or a 10 s
 * silence.
 */
char *svc_request(int port, const char *req, size_t len, const char *until);
/* svc_http_get - GET @path over HTTP/1.0 from 127.0.0.1:@port; the whole answer (malloc'd). */
char *svc_http_get(int port, const char *path);

#endif
