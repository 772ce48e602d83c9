/* SPDX-License-Identifier: MIT */
/*
 * Internal to the lazy-pages daemon (lazy_daemon.c, lazy_fault.c,
 * lazy_prefetch.c): its state, its tuning and the functions one file of it
 * calls in another. lazy.h is the interface for the rest of restore.
 */
#ifndef FERRY_RESTORE_LAZY_DAEMON_PRIV_H
#define FERRY_RESTORE_LAZY_DAEMON_PRIV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <sys/socket.h>
#include <linux/userfaultfd.h>

#include "images.h"
#include "lazy_ctl.h"
#include "lazy.h"
#include "lazy_index.h"
#include "lazy_ws.h"
#include "page_source.h"

#define P LZ_PAGE
/* A fault fills the aligned block of this many pages around it (within its run). */
#define WIN_PAGES 16u
/* Background and working-set pieces. */
#define BG_PAGES 64u
#define BG_MAX_INFLIGHT 8u
/* Background pieces started per round, so faults are looked at often. */
#define BG_PER_ROUND 2u
/* With --record-ws the background waits for this long without a fault. */
#define WS_QUIET_MS 1000u
#define MAX_LAT 262144u
#define MAX_POLL 256

/* A piece of dumped pages and the level of the chain that holds it (lazy_recent.c). */
struct lzd_piece {
	uint64_t addr, nr;
	uint32_t level;
};

struct lzd_mm {
	int uffd, pidfd;
	int hold;      /* the holder's socket, to journal its release; -1: none */
	int32_t self;  /* its index in lzd.mms */
	pid_t pid;     /* the process, or 0 while unknown (a forked child) */
	pid_t src_pid; /* the dumped process whose pages it holds */
	struct lz_index idx;
	uint64_t cursor; /* background position */
	unsigned inflight;
	int done;
	int memfd; /* /proc/PID/mem while the pages that are not lazy are written */
	uint64_t faults, fault_pages, bg_pages, ws_pages, zero_pages, eager_pages;
	/* recent_first: the background's first pieces, newest level first */
	struct lzd_piece *prio;
	size_t nr_prio, prio_pos;
	uint64_t recent_pages, prio_level0;
	uint64_t shmem_elsewhere; /* shared memory pages filled through another mapping */
};

/* A fault, a background piece, the working set, a page that is not lazy. */
enum { K_FAULT, K_BG, K_WS, K_EAGER };

struct lzd_req {
	struct page_req pr;
	size_t mm;
	uint64_t addr; /* live address of pr.addr's page */
	uint64_t t0;
	int kind;
	struct lzd_req *next;
};

struct lzd {
	const struct rimg *r;
	struct page_source *src;
	const struct lazy_opts *o;
	const struct lazy_ws *ws;
	struct lazy_ws rec;
	struct lzd_mm **mms;
	size_t nr_mms;
	struct lzd_req *inflight, *free_win, *free_bg;
	unsigned bg_inflight;
	size_t rr;
	int ctl, go;
	uint64_t t_go, t_last_fault, pages_total;
	uint32_t *lat;
	size_t nr_lat;
	int failed;
	int eager_err;
	int hold;	  /* socket to the holder (lazy_holder.c), -1 if none */
	pid_t holder_pid; /* the holder, if this daemon forked it (to reap it), else 0 */
};

/* ---- lazy_daemon.c: address spaces ------------------------------------------ */

/* lzd_mm_release - let address space @mm go (@why, for the log): close its fds, free its index. */
void lzd_mm_release(struct lzd_mm *mm, const char *why);

/* lzd_mm_add - a new address space; *out is its index in d->mms. Returns 0 or -ENOMEM. */
int lzd_mm_add(struct lzd *d, int uffd, int pidfd, pid_t pid, pid_t src_pid, size_t *out);

/*
 * lzd_walk_pieces - call @fn on each piece of dumped pages of @p that lies in
 * one VMA, with lazy_vma() of that VMA equal to @lazy, in address order.
 */
int lzd_walk_pieces(const struct rimg_proc *p, int lazy,
		    int (*fn)(void *arg, uint64_t addr, uint64_t nr), void *arg);

/*
 * lzd_hold_mm - journal new address space @m (forked from @parent, or -1) to
 * the holder, with its uffd and pidfd. A holder that is gone is logged once
 * and forgotten: the restore goes on without it.
 */
void lzd_hold_mm(struct lzd *d, size_t m, int parent);
/* lzd_hold_event - journal event @ev of address space @m to the holder. */
void lzd_hold_event(struct lzd *d, size_t m, const struct uffd_msg *ev);

/* lzd_index_proc - the index of new address space @m: every lazy page of dumped @p. */
int lzd_index_proc(struct lzd *d, size_t m, const struct rimg_proc *p);

/* lzd_run - the daemon's loop over @d until every address space is let go; the exit status. */
int lzd_run(struct lzd *d);

/* ---- lazy_holder.c: the holder of the userfaultfds --------------------------- */

struct sockaddr_un;
/* lazy_hsend - one message, with @nfds descriptors. Returns 0 or -errno. */
int lazy_hsend(int sock, const struct lazy_hmsg *m, const int *fds, int nfds);
/* lazy_hrecv - one message and up to 2 descriptors (-1 if none). Returns 0 or -errno. */
int lazy_hrecv(int sock, struct lazy_hmsg *m, int fds[2]);
/* lazy_holder_name - the abstract address a holder of pid @pid listens on. */
void lazy_holder_name(pid_t pid, struct sockaddr_un *a, socklen_t *len);
/*
 * lazy_holder_start - fork the holder (closing @close_fd in it), its pid in
 * *@holder. Returns the socket to it, or -errno.
 */
int lazy_holder_start(const struct lazy_opts *o, int close_fd, pid_t *holder);

/* ---- lazy_fault.c: requests, faults and events ------------------------------ */

/* lzd_req_free_list - free a list of requests and their buffers. */
void lzd_req_free_list(struct lzd_req *q);

/*
 * lzd_submit - ask the source for @nr pages of @kind at dump-time address
 * @src, to go to live address @addr of address space @m. Returns 0 or -errno.
 */
int lzd_submit(struct lzd *d, size_t m, int kind, uint64_t addr, uint64_t src, uint32_t nr);

/* lzd_reap_all - copy in every answer the source has. Returns 0 or -errno. */
int lzd_reap_all(struct lzd *d);

/*
 * lzd_source_failed - the page source failed with @err: kill every process
 * that still misses pages, naming one it misses. Returns @err.
 */
int lzd_source_failed(struct lzd *d, int err);

/* lzd_drain - read everything the uffd of address space @m has. */
int lzd_drain(struct lzd *d, size_t m);

/* ---- lazy_recent.c: the newest levels first ------------------------------------ */

/* lzd_recent_index - the pieces of dumped @p, newest level of the chain first. */
int lzd_recent_index(struct lzd *d, size_t m, const struct rimg_proc *p);
/*
 * lzd_recent_next - start the next of those pieces for address space @m: 1 if
 * one was started, 2 if the last ones are still on their way, 0 if none is
 * left (the address walk may go on), or -errno.
 */
int lzd_recent_next(struct lzd *d, size_t m);
/* lzd_recent_free - forget the pieces. */
void lzd_recent_free(struct lzd_mm *mm);

/* ---- lazy_prefetch.c: ahead of the faults ----------------------------------- */

/* lzd_background - start up to @max background pieces, round robin over the address spaces. */
int lzd_background(struct lzd *d, unsigned max);

/* lzd_prefetch_resume - fill the code and stack pages each thread of @p runs first. */
int lzd_prefetch_resume(struct lzd *d, size_t m, const struct rimg_proc *p);
/* lzd_fill_eager - write the dumped pages of @p that are not lazy through /proc/PID/mem. */
int lzd_fill_eager(struct lzd *d, size_t m, const struct rimg_proc *p);

/* lzd_prefetch_ws - fill the recorded working set of a new address space. */
int lzd_prefetch_ws(struct lzd *d, size_t m);

#endif
