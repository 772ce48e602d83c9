/* SPDX-License-Identifier: MIT */
/* What the page_server tests share (page_server_helpers.c). */
#ifndef FERRY_PAGE_SERVER_HELPERS_H
#define FERRY_PAGE_SERVER_HELPERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "page_source.h"

#define PAGE 4096ull

/* memhog, dumped into a test directory and left running. */
struct pst_dump {
	char *dir;
	char img[512];
	char out[512];
	pid_t pid; /* the workload, still running (dumped with --leave-running) */
	uint64_t base, size, seed;
};

/* Start memhog with @mib MiB, dump it with --leave-running. */
void pst_dump_memhog(struct pst_dump *d, const char *mib);
/* Kill the workload and remove the test directory. */
void pst_drop_dump(struct pst_dump *d);

/* `ferry page-server` as a child process. */
struct pst_srv {
	pid_t pid;
	int port;
	char out[600], err[600];
	int status; /* exit status once reaped, -1 before */
};

/* Start `ferry page-server -D @img --port 0 ARGS...`; wait for its line unless @no_wait. */
void pst_srv_start_argv(struct pst_srv *s, const char *tmp, const char *img,
			const char *const *args, bool no_wait);
void pst_srv_start(struct pst_srv *s, const struct pst_dump *d, const char *const *args);
/* pst_srv_wait - the server's exit status, waiting up to @ms; -1 if it still runs. */
int pst_srv_wait(struct pst_srv *s, int ms);
/* SIGKILL the server and reap it. */
void pst_srv_kill(struct pst_srv *s);
/* The server's stderr must contain @needle. */
void pst_srv_logged(const struct pst_srv *s, const char *needle);
/* "HOST:PORT" into @buf. */
void pst_host_port(char *buf, size_t size, const char *host, int port);
/* A remote page source on the server (127.0.0.1), with @secret unless NULL. */
struct page_source *pst_remote_open(const struct pst_srv *s, const char *secret, long timeout_ms);
/*
 * pst_wait_one - poll the source's fds (with @poll_ms, -1 for none of our own)
 * and reap until one request is done; returns it, or NULL with *@err set if
 * the source died.
 */
struct page_req *pst_wait_one(struct page_source *src, int poll_ms, int *err);

#endif
