/* SPDX-License-Identifier: MIT */
/* What the restore tests share (restore_helpers.c). */
#ifndef FERRY_RESTORE_HELPERS_H
#define FERRY_RESTORE_HELPERS_H

#include <sys/types.h>

#include "helpers.h"

/* How long a restored workload has to answer a signal (t_expect_verdict). */
#define VERDICT_MS 10000

/* A restored workload: its test directory, output, images and pid; rounds of dump/restore. */
struct rst_rw {
	char *dir;
	char out[512];
	char img[512];
	pid_t pid;
	int round;
};

/*
 * Lazy mode (suite restore_lazy): restores add --lazy-pages and log to
 * IMG/lazy.log; the daemon must end saying "done" before the tree is dumped
 * again or the test ends. Remote mode (suite restore_remote): lazy, with the
 * pages from a page server (rst_rserver) in network namespace rst_rns, one per
 * restore. Each test runs in its own process and sets them first.
 */
extern int rst_lazy_mode;
extern int rst_remote_mode;
extern struct t_netns rst_rns;
extern pid_t rst_rserver;

/* The .fini of suite restore_remote: kill the server, remove the namespace. */
void rst_remote_fini(void);
/* The page server of the last restore ends its session well once the daemon is done. */
void rst_remote_server_done(void);
/* Wait for the lazy-pages daemon of the last restore into @img to end well. */
void rst_lazy_wait_done(const char *img);
/* A test directory, as child subreaper. */
void rst_rw_init(struct rst_rw *w);
/* Start the workload (after rst_rw_init) and wait for its @ready line. */
void rst_rw_spawn(struct rst_rw *w, const char *const argv[], const char *ready);
/* rst_rw_init and rst_rw_spawn. */
void rst_rw_start(struct rst_rw *w, const char *const argv[], const char *ready);
/* Wait for the lazy daemon and the server, kill and reap the tree, remove the directory. */
void rst_rw_stop(struct rst_rw *w);
/* Dump (the tree is killed) into a new images dir, reap the old root, restore. */
void rst_dump_kill_restore(struct rst_rw *w);

#endif
