/* SPDX-License-Identifier: MIT */
/* What the parts of bench_track share (common.c), and the parts themselves. */
#ifndef FERRY_BENCH_TRACK_H
#define FERRY_BENCH_TRACK_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "pstree.h"
#include "tracker.h"

#define PAGE 4096UL
#define PM_CHUNK (2UL << 20)	/* pagemap bytes per pread */
#define DIRTY_STRIDE 100	/* 1 page in 100: 1% */
#define IOV_BATCH 1024		/* IOV_MAX */
#define SCAN_ROUNDS 9		/* part 1 */
#define LOAD_MIB 256		/* part 2 buffer */
#define LOAD_ROUNDS 5		/* part 2, per variant */
#define LOAD_TICKS 10		/* part 2: rounds of 100 ms per phase */
#define TICK_NS 100000000ULL	/* 100 ms */
#define PD_REPS 3		/* part 3 */
#define PD_RATE 10000		/* part 3: dirtier pages/s */
#define PD_GAP_NS 1000000000ULL /* part 3: between two pre-dumps */
#define MAX_SIZES 8

/* SIGINT, SIGTERM and SIGHUP, held from the start (bench_hold_signals). */
extern sigset_t bt_held;

/* Peak RSS figures of parts 1 and 3, gathered for the summary of part 4. */
struct bt_scan_rss {
	unsigned long mib[MAX_SIZES];
	double rss_mib[MAX_SIZES];
	size_t nr;
};
struct bt_pd_rss {
	uint64_t pages[2];
	double rss1_mib[2], rss2_mib[2];
	size_t nr;
};
extern struct bt_scan_rss bt_scan_rss;
extern struct bt_pd_rss bt_pd_rss;

/* -EINTR if SIGINT, SIGTERM or SIGHUP is pending (they are held). */
int bt_interrupted(void);
/*
 * In a new child: the held signals act again (@unhold), and with @orphan_kill
 * the child dies with the bench.
 */
void bt_child_setup(int unhold, int orphan_kill);
/* Sleep until CLOCK_MONOTONIC @t (ns). */
void bt_sleep_until_ns(uint64_t t);
double bt_ns_to_ms(uint64_t ns);
/* memhog of @mib MiB (its buffer at *@base), or a dirtier of @pages pages: pid or -errno. */
pid_t bt_start_memhog(unsigned long mib, uint64_t *base);
pid_t bt_start_dirtier(uint64_t pages);
/* Stop the tracking of @pid if any, then kill and reap it. */
void bt_stop_target(pid_t pid);
/* Freeze the tree of @pid (0 or -errno), and thaw it. */
int bt_freeze(struct pstree *tree, pid_t pid);
void bt_thaw(struct pstree *tree);
/*
 * Arm tracking on @pid as pre-dump does, with BPF map sizes @bo (NULL:
 * defaults), or without BPF if @no_bpf. 0 or -errno.
 */
int bt_arm(pid_t pid, const struct dirty_bpf_opts *bo, int no_bpf, struct tracker **t);
void bt_disarm(struct tracker **t);

/* The parts: 0 or -errno (scan: of one size, @mib MiB). */
void print_scan_header(void);
int bench_scan(unsigned long mib);
int bench_load(void);
int bench_predump(uint64_t pages);
int bench_mem(void);
int bench_cross(void);

#endif
