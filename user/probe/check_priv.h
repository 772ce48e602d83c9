/* SPDX-License-Identifier: MIT */
/*
 * Internal to ferry check (user/probe/check*.c; check.h is the public
 * interface): the helpers the probes share, and the probes the table in
 * check.c calls, one file per group: check_uffd.c (userfaultfd, PAGEMAP_SCAN,
 * soft-dirty), check_bpf.c (kernel BTF and the BPF program types),
 * check_proc.c (io_uring, processes: clone3, pidfd_getfd, process_vm_readv,
 * ptrace, PROCMAP_QUERY).
 *
 * Each probe fills r->detail and returns 0 or -errno (see check.c).
 */
#ifndef FERRY_CHECK_PRIV_H
#define FERRY_CHECK_PRIV_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/types.h>

#include "check.h"

#define CHILD_TIMEOUT_MS 5000
#define EVENT_TIMEOUT_MS 2000

/* ---- helpers ----------------------------------------------------------------------------------
 */

static inline void __attribute__((format(printf, 2, 3)))
note(struct check_result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
}

/* fail - set detail to "<fmt>: <strerror(-err)>" and return err (a -errno). */
static inline int __attribute__((format(printf, 3, 4)))
fail(struct check_result *r, int err, const char *fmt, ...)
{
	size_t len;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
	len = strlen(r->detail);
	snprintf(r->detail + len, sizeof(r->detail) - len, ": %s", strerror(-err));
	return err;
}

static inline size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/* A private anonymous mapping of its own: no THP, no merging with its neighbours. */
static inline void *map_pages(size_t n)
{
	void *p = mmap(NULL, n * page_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	madvise(p, n * page_size(), MADV_NOHUGEPAGE);
	return p;
}

static inline long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Read a sysctl's first line into @buf; "?" when it cannot be read. */
void check_read_sysctl(const char *path, char *buf, size_t len);

/* ---- children (check.c) -----------------------------------------------------------------------
 */

struct child {
	pid_t pid;
	int sock; /* our end of a socketpair; the child has the other */
};

/* The child's body: returns its exit status. Runs after fork(), so _exit only. */
typedef int (*child_fn)(int sock, void *arg);

/* Fork a child running @fn, with a socketpair to it in c->sock. 0 or -errno. */
int check_child_start(struct child *c, child_fn fn, void *arg);
/* Close the socket, kill the child and reap it. */
void check_child_stop(struct child *c);
int check_recv_all(int fd, void *buf, size_t len);
int check_send_all(int fd, const void *buf, size_t len);
int check_child_park(int sock);
int check_wait_timeout(pid_t pid, int *status, int ms);

/* ---- the probes -------------------------------------------------------------------------------
 */

/* check_uffd.c */
int check_probe_userfaultfd(struct check_result *r);
int check_probe_dev_userfaultfd(struct check_result *r);
int check_probe_uffd_missing(struct check_result *r);
int check_probe_uffd_wp_async(struct check_result *r);
int check_probe_pagemap_scan(struct check_result *r);
int check_probe_uffd_remote_wp(struct check_result *r);
int check_probe_uffd_wp_sync(struct check_result *r);
int check_probe_soft_dirty(struct check_result *r);

/* check_bpf.c */
int check_probe_kernel_btf(struct check_result *r);
int check_probe_bpf_tp_fault(struct check_result *r);
int check_probe_bpf_tp_mmap(struct check_result *r);
int check_probe_bpf_ringbuf(struct check_result *r);
int check_probe_bpf_iter_vma(struct check_result *r);
int check_probe_bpf_fentry(struct check_result *r);
int check_probe_bpf_kprobe(struct check_result *r);

/* check_proc.c */
int check_probe_io_uring(struct check_result *r);
int check_probe_clone3_set_tid(struct check_result *r);
int check_probe_pidfd_getfd(struct check_result *r);
int check_probe_process_vm_readv(struct check_result *r);
int check_probe_ptrace_seize(struct check_result *r);
int check_probe_procmap_query(struct check_result *r);

#endif
