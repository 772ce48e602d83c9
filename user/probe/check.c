// SPDX-License-Identifier: MIT
/*
 * ferry check: the kernel features ferry is built on, each probed by using it.
 *
 * A table of {name, required, probe}. A probe returns 0 when the feature
 * worked end to end, or -errno with check_result.detail saying what failed
 * and, where it helps, what to do about it. Probes create their own objects
 * (mappings, children, BPF programs, rings) and undo all of them before they
 * return: children are killed and reaped, fds closed, mappings unmapped,
 * programs detached and unloaded.
 *
 * This file holds the table, the run/describe API of check.h and the helpers
 * the probes share for children (declared in check_priv.h). The probes are
 * in check_uffd.c, check_bpf.c and check_proc.c.
 *
 * Children that a probe needs (a process to take an fd from, to seize, to
 * read) talk to the probe over a socketpair and die with SIGKILL when the
 * probe is done or when ferry dies (PR_SET_PDEATHSIG).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>

#define LOG_PREFIX "check: "
#include "check.h"
#include "check_priv.h"
#include "log.h"

/* check_feature.required: the dirty tracking flow, needed only without soft-dirty. */
#define REQ_UNLESS_SOFT_DIRTY 2

struct check_feature {
	const char *name;
	int required; /* 0, 1, or REQ_UNLESS_SOFT_DIRTY */
	const char *what;
	int (*probe)(struct check_result *r);
};

/* ---- helpers ----------------------------------------------------------------------------------
 */

void check_read_sysctl(const char *path, char *buf, size_t len)
{
	ssize_t got;
	int fd;

	snprintf(buf, len, "?");
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	got = read(fd, buf, len - 1);
	if (got > 0) {
		buf[got] = '\0';
		buf[strcspn(buf, "\n")] = '\0';
	}
	close(fd);
}

/* ---- children ---------------------------------------------------------------------------------
 */

int check_child_start(struct child *c, child_fn fn, void *arg)
{
	int sv[2], err;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -errno;
	c->pid = fork();
	if (c->pid < 0) {
		err = -errno;
		close(sv[0]);
		close(sv[1]);
		return err;
	}
	if (c->pid == 0) {
		close(sv[0]);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		_exit(fn(sv[1], arg));
	}
	close(sv[1]);
	c->sock = sv[0];
	return 0;
}

void check_child_stop(struct child *c)
{
	close(c->sock);
	kill(c->pid, SIGKILL);
	while (waitpid(c->pid, NULL, __WALL) < 0 && errno == EINTR)
		;
}

/* Read exactly len bytes, waiting at most CHILD_TIMEOUT_MS for each part. */
int check_recv_all(int fd, void *buf, size_t len)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	char *p = buf;
	ssize_t got;
	int ret;

	while (len) {
		ret = poll(&pfd, 1, CHILD_TIMEOUT_MS);
		if (ret < 0 && errno == EINTR)
			continue;
		if (ret < 0)
			return -errno;
		if (ret == 0)
			return -ETIMEDOUT;
		got = read(fd, p, len);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			return -errno;
		if (got == 0)
			return -EPIPE; /* the child died */
		p += got;
		len -= (size_t)got;
	}
	return 0;
}

int check_send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;
	ssize_t put;

	while (len) {
		put = send(fd, p, len, MSG_NOSIGNAL);
		if (put < 0 && errno == EINTR)
			continue;
		if (put < 0)
			return -errno;
		p += put;
		len -= (size_t)put;
	}
	return 0;
}

/* In a child: block until the probe closes its end (or kills us). */
int check_child_park(int sock)
{
	char c;

	while (read(sock, &c, 1) > 0 || errno == EINTR)
		;
	return 0;
}

/* waitpid with a deadline, for stops that should come at once. */
int check_wait_timeout(pid_t pid, int *status, int ms)
{
	long long end = now_ms() + ms;
	pid_t ret;

	for (;;) {
		ret = waitpid(pid, status, WNOHANG | __WALL);
		if (ret == pid)
			return 0;
		if (ret < 0 && errno != EINTR)
			return -errno;
		if (now_ms() > end)
			return -ETIMEDOUT;
		usleep(1000);
	}
}

/* ---- the table --------------------------------------------------------------------------------
 */

static const struct check_feature features[] = {
	{ "userfaultfd", 1, "userfaultfd(2) with UFFD_USER_MODE_ONLY", check_probe_userfaultfd },
	{ "dev-userfaultfd", 0, "userfaultfds from /dev/userfaultfd", check_probe_dev_userfaultfd },
	{ "uffd-missing", 1, "MISSING faults caught and filled with UFFDIO_COPY (lazy restore)",
	  check_probe_uffd_missing },
	{ "uffd-wp-async", REQ_UNLESS_SOFT_DIRTY,
	  "async write-protection (UFFD_FEATURE_WP_ASYNC + WP_UNPOPULATED)",
	  check_probe_uffd_wp_async },
	{ "pagemap-scan", REQ_UNLESS_SOFT_DIRTY,
	  "PAGEMAP_SCAN with PM_SCAN_WP_MATCHING on PAGE_IS_WRITTEN", check_probe_pagemap_scan },
	{ "uffd-remote-wp", REQ_UNLESS_SOFT_DIRTY,
	  "a target's uffd taken and registered from outside, then scanned",
	  check_probe_uffd_remote_wp },
	{ "uffd-wp-sync", 0,
	  "sync write-protection, kernel faults too (dump --leave-running in the background)",
	  check_probe_uffd_wp_sync },
	{ "soft-dirty", 0, "soft-dirty bits (clear_refs 4, pagemap bit 55)",
	  check_probe_soft_dirty },
	{ "kernel-btf", 1, "kernel BTF for CO-RE", check_probe_kernel_btf },
	{ "bpf-tp-fault", 1, "BPF on exceptions:page_fault_user", check_probe_bpf_tp_fault },
	{ "bpf-tp-mmap", 1, "BPF on syscalls:sys_exit_mmap", check_probe_bpf_tp_mmap },
	{ "bpf-ringbuf", 1, "events through a BPF ring buffer", check_probe_bpf_ringbuf },
	{ "bpf-iter-vma", 0, "the iter/task_vma BPF iterator (else /proc/PID/smaps)",
	  check_probe_bpf_iter_vma },
	{ "bpf-fentry", 0, "fentry BPF programs (ferry does not use them)",
	  check_probe_bpf_fentry },
	{ "bpf-kprobe", 0, "kprobe BPF programs (ferry does not use them)",
	  check_probe_bpf_kprobe },
	{ "io-uring", 1, "io_uring NOP and file write (liburing)", check_probe_io_uring },
	{ "clone3-set-tid", 1, "clone3 with set_tid: restore with the original pids",
	  check_probe_clone3_set_tid },
	{ "pidfd-getfd", 1, "pidfd_open + pidfd_getfd: take a target's fd",
	  check_probe_pidfd_getfd },
	{ "process-vm-readv", 1, "process_vm_readv of another process",
	  check_probe_process_vm_readv },
	{ "ptrace-seize", 1, "PTRACE_SEIZE + PTRACE_INTERRUPT + GETREGSET",
	  check_probe_ptrace_seize },
	{ "procmap-query", 0, "PROCMAP_QUERY: one VMA of /proc/PID/maps by address",
	  check_probe_procmap_query },
};
#define NR_FEATURES (sizeof(features) / sizeof(features[0]))

size_t check_count(void)
{
	return NR_FEATURES;
}

int check_describe(size_t i, struct check_result *r)
{
	if (i >= NR_FEATURES)
		return -EINVAL;
	memset(r, 0, sizeof(*r));
	r->name = features[i].name;
	r->what = features[i].what;
	r->required = !!features[i].required;
	return 0;
}

int check_run(size_t i, struct check_result *r)
{
	int err = check_describe(i, r);

	if (err)
		return err;
	r->err = features[i].probe(r);
	if (r->err > 0) /* a probe bug: keep the -errno contract */
		r->err = -r->err;
	pr_debug("%s: %s: %s", r->name, r->err ? "missing" : "ok", r->detail);
	return r->err;
}

int check_run_name(const char *name, struct check_result *r)
{
	size_t i;

	for (i = 0; i < NR_FEATURES; i++)
		if (!strcmp(features[i].name, name))
			return check_run(i, r);
	return -ENOENT;
}

/* The result of feature @name in @res (check_count() entries), or NULL. */
static const struct check_result *result_of(const struct check_result *res, const char *name)
{
	for (size_t i = 0; i < NR_FEATURES; i++)
		if (!strcmp(features[i].name, name))
			return &res[i];
	return NULL;
}

const char *check_dirty_tracking(const struct check_result *res)
{
	int uffd_wp = 1;
	const struct check_result *sd = result_of(res, "soft-dirty");

	for (size_t i = 0; i < NR_FEATURES; i++)
		if (features[i].required == REQ_UNLESS_SOFT_DIRTY && res[i].err)
			uffd_wp = 0;
	if (uffd_wp)
		return "uffd-wp async + PAGEMAP_SCAN";
	if (sd && !sd->err)
		return "soft-dirty bits";
	return "none (pre-dump copies every page)";
}

int check_run_all(struct check_result *res)
{
	int missing = 0, soft_dirty = 0;
	size_t i;

	for (i = 0; i < NR_FEATURES; i++)
		if (!check_run(i, &res[i]) && !strcmp(res[i].name, "soft-dirty"))
			soft_dirty = 1;
	for (i = 0; i < NR_FEATURES; i++) {
		if (!res[i].err)
			continue;
		if (soft_dirty && features[i].required == REQ_UNLESS_SOFT_DIRTY) {
			size_t n = strlen(res[i].detail);

			res[i].required = 0;
			snprintf(res[i].detail + n, sizeof(res[i].detail) - n,
				 "; not needed: soft-dirty tracks dirty pages instead");
			continue;
		}
		if (res[i].required)
			missing++;
	}
	return missing;
}
