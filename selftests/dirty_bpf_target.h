/* SPDX-License-Identifier: MIT */
/* The target process of the dirty_bpf tests and the test side's helpers (dirty_bpf_target.c). */
#ifndef FERRY_DIRTY_BPF_TARGET_H
#define FERRY_DIRTY_BPF_TARGET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define NPAGES 256 /* the write-protected region */
#define NPOP 192   /* its pages [0, NPOP) are populated before protection, the rest empty */
#define NOTHER 64  /* a plain anonymous mapping: not registered, not tracked */
#define MAXIDX 64
#define PIN_PREFIX "test-dirty-bpf-"

/* What the target does on command. */
enum { OP_WRITE = 1, OP_READ, OP_OTHER, OP_VMA, OP_MPROTECT_N, OP_KWRITE, OP_EXIT };

struct db_cmd {
	int op;
	int n;		  /* idx[0..n): written by one thread, in order (repeats allowed) */
	int n2;		  /* idx2[0..n2): written by two threads at once */
	int idx[MAXIDX];  /* page indexes (into the region, or 'other' for OP_OTHER) */
	int idx2[MAXIDX]; /* ... ; for OP_MPROTECT_N, n is the count */
};

struct db_reply {
	long ret;      /* OP_WRITE: pages PAGEMAP_SCAN found written; else 0 or -errno */
	uint64_t a[8]; /* OP_VMA: addresses and results */
};

struct db_target {
	pid_t pid;
	int cmd, rep; /* pipes to and from the child */
	uint64_t region, other;
};

/* The page size, the target, the tracker open on it and its pin directory (if pinned). */
extern size_t db_ps;
extern struct db_target db_tg;
extern struct dirty_bpf *db_trk;
extern char db_pin_dir[256];

/* The suite's .init and .fini: fini closes the tracker, unpins, stops the target. */
void db_suite_init(void);
void db_suite_fini(void);
/* Errors a test provokes on purpose stay out of its output: quiet, then loud. */
void db_quiet(void);
void db_loud(void);
/* Skip the test unless root. */
void db_need_root(void);
/* Start the target (it arms write-protection on its region); skips without root. */
void db_target_start(void);
/* Send @c to the target and return its reply. */
struct db_reply db_target_do(struct db_cmd *c);
/* Tell the target to exit and reap it. */
void db_target_exit(void);
/* Write pages idx[0..n) (one thread) and idx2[0..n2) (two threads), re-arm; pages scanned. */
long db_target_write(const int *idx, int n, const int *idx2, int n2);
/* Command @op with count @n. */
struct db_reply db_target_op(int op, int n);
/* 1 if @v is in a[0..n). */
int db_has(const int *a, int n, int v);
/* Distinct values of a[0..n) ∪ b[0..m). */
int db_distinct(const int *a, int n, const int *b, int m);
/* Open the tracker on the target (dirty_bpf_open). */
void db_open_tracker(uint32_t max_ranges, uint32_t ringbuf);
/* Track the target's region (the tracker's only range). */
void db_track_region(void);
/* A fresh pin directory name (under DIRTY_BPF_PIN_ROOT) in db_pin_dir. */
void db_make_pin_dir(void);

#endif
