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
 * Children that a probe needs (a process to take an fd from, to seize, to
 * read) talk to the probe over a socketpair and die with SIGKILL when the
 * probe is done or when ferry dies (PR_SET_PDEATHSIG).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <elf.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>

#include <linux/sched.h>
#include <linux/types.h>
#include <linux/userfaultfd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <liburing.h>

#include "compat.h"

#define LOG_PREFIX "check: "
#include "bpflog.h"
#include "check.h"
#include "soft_dirty.h"
#include "uffd.h"
#include "log.h"
#include "proc_parse.h"
#include "mem_scan.h"
#include "rsys.h"
#include "vma_iter.h"

#include "../bpf/probe.h"
#include "probe.skel.h"

#define CHILD_TIMEOUT_MS 5000
#define EVENT_TIMEOUT_MS 2000

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

static void __attribute__((format(printf, 2, 3))) note(struct check_result *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
}

/* fail - set detail to "<fmt>: <strerror(-err)>" and return err (a -errno). */
static int __attribute__((format(printf, 3, 4)))
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

/* snprintf without compile-time truncation warnings: details are cut short on purpose. */
static void __attribute__((format(printf, 3, 4)))
bufprintf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

static size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/* A private anonymous mapping of its own: no THP, no merging with its neighbours. */
static void *map_pages(size_t n)
{
	void *p = mmap(NULL, n * page_size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		       -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	madvise(p, n * page_size(), MADV_NOHUGEPAGE);
	return p;
}

static void read_sysctl(const char *path, char *buf, size_t len)
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

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* ---- children ---------------------------------------------------------------------------------
 */

struct child {
	pid_t pid;
	int sock; /* our end of a socketpair; the child has the other */
};

/* The child's body: returns its exit status. Runs after fork(), so _exit only. */
typedef int (*child_fn)(int sock, void *arg);

static int child_start(struct child *c, child_fn fn, void *arg)
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

static void child_stop(struct child *c)
{
	close(c->sock);
	kill(c->pid, SIGKILL);
	while (waitpid(c->pid, NULL, __WALL) < 0 && errno == EINTR)
		;
}

/* Read exactly len bytes, waiting at most CHILD_TIMEOUT_MS for each part. */
static int recv_all(int fd, void *buf, size_t len)
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

static int send_all(int fd, const void *buf, size_t len)
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
static int child_park(int sock)
{
	char c;

	while (read(sock, &c, 1) > 0 || errno == EINTR)
		;
	return 0;
}

/* waitpid with a deadline, for stops that should come at once. */
static int wait_timeout(pid_t pid, int *status, int ms)
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

/* ---- userfaultfd ------------------------------------------------------------------------------
 */

static int uffd_create(void)
{
	int fd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);

	return fd < 0 ? -errno : fd;
}

/* A userfaultfd after the UFFDIO_API handshake asking for @features; fd or -errno. */
static int uffd_open(__u64 features, struct uffdio_api *api)
{
	uint64_t got = 0;
	int fd = uffd_create(), err;

	if (fd < 0)
		return fd;
	memset(api, 0, sizeof(*api));
	api->api = UFFD_API;
	err = uffd_api(fd, features, &got);
	if (err) {
		close(fd);
		return err;
	}
	api->features = got;
	return fd;
}

static int uffd_wp_range(int fd, void *addr, size_t len, struct check_result *r)
{
	uint64_t ioctls = 0;
	int err;

	err = uffd_register(fd, (uintptr_t)addr, len, UFFDIO_REGISTER_MODE_WP, &ioctls);
	if (err)
		return fail(r, err, "UFFDIO_REGISTER_MODE_WP of %p+%zu", addr, len);
	if (!(ioctls & (1ULL << _UFFDIO_WRITEPROTECT))) {
		note(r, "UFFDIO_REGISTER_MODE_WP of %p: no UFFDIO_WRITEPROTECT for the range",
		     addr);
		return -EOPNOTSUPP;
	}
	err = uffd_writeprotect(fd, (uintptr_t)addr, len, 1);
	if (err)
		return fail(r, err, "UFFDIO_WRITEPROTECT of %p+%zu", addr, len);
	return 0;
}

static int probe_userfaultfd(struct check_result *r)
{
	char unpriv[16];
	int fd;

	read_sysctl("/proc/sys/vm/unprivileged_userfaultfd", unpriv, sizeof(unpriv));
	fd = uffd_create();
	if (fd < 0)
		return fail(r, fd,
			    "userfaultfd(UFFD_USER_MODE_ONLY)%s (vm.unprivileged_userfaultfd=%s)",
			    fd == -ENOSYS ? ", CONFIG_USERFAULTFD is off" : "", unpriv);
	close(fd);
	note(r, "userfaultfd(2) with UFFD_USER_MODE_ONLY (vm.unprivileged_userfaultfd=%s)", unpriv);
	return 0;
}

static int probe_dev_userfaultfd(struct check_result *r)
{
	int dev, fd, err = 0;

	dev = open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
	if (dev < 0)
		return fail(r, -errno, "open /dev/userfaultfd");
	fd = ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		err = fail(r, -errno, "USERFAULTFD_IOC_NEW on /dev/userfaultfd");
		goto close_dev;
	}
	close(fd);
	note(r, "/dev/userfaultfd hands out userfaultfds (access by the device node's mode)");
close_dev:
	close(dev);
	return err;
}

struct toucher {
	volatile unsigned char *addr;
	unsigned char seen;
};

static void *touch_page(void *arg)
{
	struct toucher *t = arg;

	t->seen = *t->addr;
	return NULL;
}

/* A missing fault from another thread, caught and resolved with UFFDIO_COPY: lazy restore. */
static int probe_uffd_missing(struct check_result *r)
{
	struct pollfd pfd = { .events = POLLIN };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct uffdio_copy copy = { 0 };
	struct uffdio_api api;
	struct toucher t = { 0 };
	struct uffd_msg msg;
	size_t ps = page_size();
	unsigned char *page, *src = NULL;
	pthread_t th;
	int fd, err, ret, joined = 1;

	fd = uffd_open(0, &api);
	if (fd < 0)
		return fail(r, fd, "userfaultfd + UFFDIO_API");
	page = map_pages(1);
	if (!page) {
		err = fail(r, -errno, "mmap of a test page");
		goto close_uffd;
	}
	reg.range.start = (uintptr_t)page;
	reg.range.len = ps;
	if (ioctl(fd, UFFDIO_REGISTER, &reg)) {
		err = fail(r, -errno, "UFFDIO_REGISTER_MODE_MISSING of %p", (void *)page);
		goto unmap;
	}
	if (!(reg.ioctls & (1ULL << _UFFDIO_COPY))) {
		note(r, "UFFDIO_REGISTER_MODE_MISSING of %p: no UFFDIO_COPY for the range",
		     (void *)page);
		err = -EOPNOTSUPP;
		goto unmap;
	}
	src = malloc(ps);
	if (!src) {
		err = fail(r, -ENOMEM, "page buffer");
		goto unmap;
	}
	memset(src, 0x5a, ps);

	t.addr = page;
	ret = pthread_create(&th, NULL, touch_page, &t);
	if (ret) {
		err = fail(r, -ret, "pthread_create");
		goto free_src;
	}
	joined = 0;
	pfd.fd = fd;
	ret = poll(&pfd, 1, EVENT_TIMEOUT_MS);
	if (ret <= 0) {
		err = fail(r, ret ? -errno : -ETIMEDOUT, "waiting for the missing fault at %p",
			   (void *)page);
		goto join;
	}
	if (read(fd, &msg, sizeof(msg)) != sizeof(msg)) {
		err = fail(r, errno ? -errno : -EIO, "reading uffd %d", fd);
		goto join;
	}
	if (msg.event != UFFD_EVENT_PAGEFAULT ||
	    (msg.arg.pagefault.address & ~(__u64)(ps - 1)) != (uintptr_t)page) {
		note(r, "unexpected uffd event 0x%x at 0x%llx (wanted a fault at %p)", msg.event,
		     (unsigned long long)msg.arg.pagefault.address, (void *)page);
		err = -EIO;
		goto join;
	}
	copy.dst = (uintptr_t)page;
	copy.src = (uintptr_t)src;
	copy.len = ps;
	if (ioctl(fd, UFFDIO_COPY, &copy)) {
		err = fail(r, -errno, "UFFDIO_COPY to %p", (void *)page);
		goto join;
	}
	pthread_join(th, NULL);
	joined = 1;
	if (t.seen != 0x5a) {
		note(r, "the faulting thread read 0x%02x, not the copied 0x5a", t.seen);
		err = -EIO;
		goto free_src;
	}
	note(r, "MISSING fault at %p caught by another thread and resolved with UFFDIO_COPY", page);
	err = 0;

join:
	if (!joined) {
		/* Releasing the uffd wakes the faulting thread; its fault then completes. */
		close(fd);
		fd = -1;
		pthread_join(th, NULL);
	}
free_src:
	free(src);
unmap:
	munmap(page, ps);
close_uffd:
	if (fd >= 0)
		close(fd);
	return err;
}

static int probe_uffd_wp_async(struct check_result *r)
{
	const __u64 want = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED;
	struct uffdio_api api;
	size_t ps = page_size();
	uint64_t before, after;
	unsigned char *mem;
	int fd, pm, err;

	fd = uffd_open(want, &api);
	if (fd == -EINVAL)
		return fail(r, fd,
			    "UFFDIO_API refused UFFD_FEATURE_WP_ASYNC|WP_UNPOPULATED "
			    "(needs Linux 6.7+)");
	if (fd < 0)
		return fail(r, fd, "userfaultfd + UFFDIO_API(WP_ASYNC)");
	mem = map_pages(4);
	if (!mem) {
		err = fail(r, -errno, "mmap of 4 test pages");
		goto close_uffd;
	}
	err = uffd_wp_range(fd, mem, 4 * ps, r);
	if (err)
		goto unmap;
	pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm < 0) {
		err = fail(r, -errno, "open /proc/self/pagemap");
		goto unmap;
	}
	err = mem_pagemap_entry(pm, (uintptr_t)mem, &before);
	if (err) {
		fail(r, err, "reading the pagemap entry of %p", (void *)mem);
		goto close_pm;
	}
	mem[0] = 1; /* would block forever in sync mode: async resolves it in the kernel */
	err = mem_pagemap_entry(pm, (uintptr_t)mem, &after);
	if (err) {
		fail(r, err, "reading the pagemap entry of %p", (void *)mem);
		goto close_pm;
	}
	if (!(before & PAGEMAP_ENTRY_UFFD_WP) || (after & PAGEMAP_ENTRY_UFFD_WP)) {
		note(r, "pagemap uffd-wp bit of %p: %d before the write, %d after (want 1, 0)",
		     (void *)mem, !!(before & PAGEMAP_ENTRY_UFFD_WP),
		     !!(after & PAGEMAP_ENTRY_UFFD_WP));
		err = -EIO;
		goto close_pm;
	}
	note(r,
	     "UFFDIO_API features 0x%llx; a write to a protected page went through and "
	     "cleared its uffd-wp bit",
	     (unsigned long long)api.features);
close_pm:
	close(pm);
unmap:
	munmap(mem, 4 * ps);
close_uffd:
	close(fd);
	return err;
}

/* PAGEMAP_SCAN as the tracker uses it: written pages, re-armed in the same call. */
static int scan_written(int pm, void *start, size_t len, struct page_region *vec, size_t vec_len)
{
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
		.start = (uintptr_t)start,
		.end = (uintptr_t)start + len,
		.vec = (uintptr_t)vec,
		.vec_len = vec_len,
		.category_mask = PAGE_IS_WRITTEN,
		.return_mask = PAGE_IS_WRITTEN,
	};
	int ret = ioctl(pm, PAGEMAP_SCAN, &arg);

	return ret < 0 ? -errno : ret;
}

static int expect_regions(struct check_result *r, const char *when, int n,
			  const struct page_region *vec, int want, const __u64 *want_start,
			  size_t ps)
{
	int i;

	if (n != want) {
		note(r, "PAGEMAP_SCAN %s: %d written regions, want %d", when, n, want);
		return -EIO;
	}
	for (i = 0; i < n; i++) {
		if (vec[i].start != want_start[i] || vec[i].end != want_start[i] + ps) {
			note(r, "PAGEMAP_SCAN %s: region 0x%llx-0x%llx, want 0x%llx-0x%llx", when,
			     (unsigned long long)vec[i].start, (unsigned long long)vec[i].end,
			     (unsigned long long)want_start[i],
			     (unsigned long long)(want_start[i] + ps));
			return -EIO;
		}
	}
	return 0;
}

static int probe_pagemap_scan(struct check_result *r)
{
	struct page_region vec[8];
	struct uffdio_api api;
	size_t ps = page_size(), len = 8 * ps;
	unsigned char *mem;
	__u64 want[2];
	int fd, pm, n, err;

	fd = uffd_open(UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED, &api);
	if (fd < 0)
		return fail(r, fd, "userfaultfd with UFFD_FEATURE_WP_ASYNC (needed by the scan)");
	mem = map_pages(8);
	if (!mem) {
		err = fail(r, -errno, "mmap of 8 test pages");
		goto close_uffd;
	}
	err = uffd_wp_range(fd, mem, len, r);
	if (err)
		goto unmap;
	pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (pm < 0) {
		err = fail(r, -errno, "open /proc/self/pagemap");
		goto unmap;
	}

	mem[3 * ps] = 1;
	n = scan_written(pm, mem, len, vec, 8);
	if (n < 0) {
		err = fail(r, n, "PAGEMAP_SCAN of %p+%zu%s", (void *)mem, len,
			   n == -ENOTTY || n == -EINVAL ? " (needs Linux 6.7+)" : "");
		goto close_pm;
	}
	want[0] = (uintptr_t)mem + 3 * ps;
	err = expect_regions(r, "after writing page 3", n, vec, 1, want, ps);
	if (err)
		goto close_pm;

	n = scan_written(pm, mem, len, vec, 8);
	err = n < 0 ? fail(r, n, "second PAGEMAP_SCAN of %p", (void *)mem)
		    : expect_regions(r, "right after the first scan", n, vec, 0, want, ps);
	if (err)
		goto close_pm;

	mem[3 * ps] = 2;
	mem[5 * ps] = 2;
	n = scan_written(pm, mem, len, vec, 8);
	want[1] = (uintptr_t)mem + 5 * ps;
	err = n < 0 ? fail(r, n, "third PAGEMAP_SCAN of %p", (void *)mem)
		    : expect_regions(r, "after writing pages 3 and 5", n, vec, 2, want, ps);
	if (err)
		goto close_pm;
	note(r, "PAGEMAP_SCAN with WP_MATCHING: exactly the written pages found, and re-armed");
close_pm:
	close(pm);
unmap:
	munmap(mem, len);
close_uffd:
	close(fd);
	return err;
}

struct remote_info {
	__u64 addr;
	__s32 uffd; /* the child's fd number, or -errno */
	__s32 __pad;
};

/* Target side of uffd-remote-wp: makes the uffd, then writes pages on request. */
static int child_uffd_target(int sock, void *arg)
{
	struct remote_info info = { 0 };
	unsigned char *mem = map_pages(4);
	unsigned char idx;

	(void)arg;
	info.addr = (uintptr_t)mem;
	info.uffd = mem ? uffd_create() : -ENOMEM;
	if (send_all(sock, &info, sizeof(info)))
		return 1;
	while (read(sock, &idx, 1) == 1) {
		mem[(size_t)(idx & 3) * page_size()] = idx;
		if (send_all(sock, &idx, 1))
			return 1;
	}
	return 0;
}

/*
 * The tracker's flow (DESIGN.md): the target creates the uffd, ferry takes it
 * with pidfd_getfd (rsys_getfd), does UFFDIO_API and registers the target's range from
 * outside, then scans /proc/PID/pagemap.
 */
static int probe_uffd_remote_wp(struct check_result *r)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED };
	struct page_region vec[4];
	struct remote_info info;
	struct child c;
	size_t ps = page_size();
	char path[64];
	unsigned char idx = 1;
	int uffd, pm, n, err;
	__u64 want;

	err = child_start(&c, child_uffd_target, NULL);
	if (err)
		return fail(r, err, "fork");
	err = recv_all(c.sock, &info, sizeof(info));
	if (err) {
		fail(r, err, "waiting for child %d", (int)c.pid);
		goto stop_child;
	}
	if (info.uffd < 0) {
		err = fail(r, info.uffd, "userfaultfd(2) in child %d", (int)c.pid);
		goto stop_child;
	}
	uffd = rsys_getfd(c.pid, info.uffd);
	if (uffd < 0) {
		err = fail(r, uffd, "pidfd_getfd of uffd %d in pid %d", info.uffd, (int)c.pid);
		goto stop_child;
	}
	if (ioctl(uffd, UFFDIO_API, &api)) {
		err = fail(r, -errno, "UFFDIO_API(WP_ASYNC) on pid %d's uffd", (int)c.pid);
		goto close_uffd;
	}
	err = uffd_wp_range(uffd, (void *)(uintptr_t)info.addr, 4 * ps, r);
	if (err)
		goto close_uffd;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", (int)c.pid);
	pm = open(path, O_RDONLY | O_CLOEXEC);
	if (pm < 0) {
		err = fail(r, -errno, "open %s", path);
		goto close_uffd;
	}
	err = send_all(c.sock, &idx, 1);
	if (!err)
		err = recv_all(c.sock, &idx, 1);
	if (err) {
		fail(r, err, "asking child %d to write a page", (int)c.pid);
		goto close_pm;
	}
	n = scan_written(pm, (void *)(uintptr_t)info.addr, 4 * ps, vec, 4);
	if (n < 0) {
		err = fail(r, n, "PAGEMAP_SCAN of %s", path);
		goto close_pm;
	}
	want = info.addr + ps;
	err = expect_regions(r, "of the child", n, vec, 1, &want, ps);
	if (err)
		goto close_pm;
	note(r,
	     "uffd made in pid %d, taken with pidfd_getfd, registered from outside; "
	     "PAGEMAP_SCAN of its pagemap found the page it wrote",
	     (int)c.pid);
close_pm:
	close(pm);
close_uffd:
	close(uffd);
stop_child:
	child_stop(&c);
	return err;
}

static int probe_procmap_query(struct check_result *r)
{
	uint64_t addr = 0, at = getauxval(AT_SYSINFO_EHDR);
	int err = proc_vdso(getpid(), &addr, NULL);

	if (err == -ENOTTY) {
		note(r, "no PROCMAP_QUERY ioctl on /proc/PID/maps (before 6.11): ferry reads "
			"the maps line by line to find the vDSO of every thread it stops, which "
			"is slow for many threads with many VMAs");
		return err;
	}
	if (err)
		return fail(r, err, "PROCMAP_QUERY of this process's vDSO at 0x%llx",
			    (unsigned long long)at);
	if (addr != at) {
		note(r, "PROCMAP_QUERY found the vDSO at 0x%llx, the auxv says 0x%llx",
		     (unsigned long long)addr, (unsigned long long)at);
		return -EIO;
	}
	note(r,
	     "the vDSO at 0x%llx confirmed with one ioctl: each stopped thread's remote calls "
	     "start without reading the maps",
	     (unsigned long long)addr);
	return 0;
}

static int probe_soft_dirty(struct check_result *r)
{
	uint64_t clean = 0, dirty = 0;
	int err = soft_dirty_probe(&clean, &dirty);

	if (err == -EOPNOTSUPP) {
		note(r,
		     "CONFIG_MEM_SOFT_DIRTY is off: a page written after clear_refs 4 has no "
		     "soft-dirty bit (pagemap bit 55); ferry tracks writes with uffd-wp instead");
		return err;
	}
	if (err)
		return fail(r, err, "clear_refs 4 and pagemap reads of a test page");
	note(r, "soft-dirty bit %d after clear_refs 4, 1 after a write; ferry's fallback tracker",
	     !!(clean & PAGEMAP_ENTRY_SOFT_DIRTY));
	return 0;
}

/* ---- BPF --------------------------------------------------------------------------------------
 */

static int probe_kernel_btf(struct check_result *r)
{
	struct stat st;

	if (stat("/sys/kernel/btf/vmlinux", &st))
		return fail(r, -errno, "/sys/kernel/btf/vmlinux (CONFIG_DEBUG_INFO_BTF off?)");
	note(r, "/sys/kernel/btf/vmlinux, %lld KiB: CO-RE relocations and BTF tracepoints",
	     (long long)st.st_size / 1024);
	return 0;
}

static int tracefs_mounted(void)
{
	return !access("/sys/kernel/tracing/events", F_OK) ||
	       !access("/sys/kernel/debug/tracing/events", F_OK);
}

/* One program of bpf/probe.bpf.c, loaded alone and attached. */
struct bpf_sess {
	struct probe_bpf *skel;
	struct bpf_link *link;
	const char *prog;
};

/* Append a hint to the detail when an error means missing privileges. */
static void bpf_hint(struct check_result *r, int err)
{
	size_t used = strlen(r->detail);

	if ((err == -EPERM || err == -EACCES) && geteuid())
		bufprintf(r->detail + used, sizeof(r->detail) - used,
			  " (needs root: CAP_BPF + CAP_PERFMON)");
}

static int bpf_sess_start(struct check_result *r, struct bpf_sess *s, const char *prog_name)
{
	struct bpf_program *prog = NULL, *p;
	int err;

	bpflog_init();
	s->prog = prog_name;
	s->link = NULL;
	s->skel = probe_bpf__open();
	if (!s->skel)
		return fail(r, -errno, "opening the probe BPF object");
	s->skel->rodata->targ_tgid = (__u32)getpid();
	bpf_object__for_each_program(p, s->skel->obj)
	{
		int on = !strcmp(bpf_program__name(p), prog_name);

		bpf_program__set_autoload(p, on);
		if (on)
			prog = p;
	}
	if (!prog) {
		err = fail(r, -ENOENT, "no BPF program %s", prog_name);
		goto destroy;
	}
	err = probe_bpf__load(s->skel);
	if (err) {
		fail(r, err, "loading %s (%s)", prog_name, bpf_program__section_name(prog));
		bpf_hint(r, err);
		goto destroy;
	}
	s->link = bpf_program__attach(prog);
	if (!s->link) {
		err = -errno;
		fail(r, err, "attaching %s (%s)", prog_name, bpf_program__section_name(prog));
		bpf_hint(r, err);
		goto destroy;
	}
	return 0;
destroy:
	probe_bpf__destroy(s->skel);
	s->skel = NULL;
	return err;
}

static void bpf_sess_stop(struct bpf_sess *s)
{
	bpf_link__destroy(s->link);
	probe_bpf__destroy(s->skel);
}

static __u64 bpf_counter(struct bpf_sess *s, __u32 slot)
{
	__u64 v = 0;

	bpf_map__lookup_elem(s->skel->maps.counters, &slot, sizeof(slot), &v, sizeof(v), 0);
	return v;
}

/*
 * Start a classic tracepoint program, or its BTF (raw) twin when the classic
 * one cannot attach; @why gets the classic one's failure.
 */
static int bpf_tp_start(struct check_result *r, struct bpf_sess *s, const char *classic,
			const char *btf, char *why, size_t why_len)
{
	char first[CHECK_DETAIL_MAX];
	int err, classic_err;

	why[0] = '\0';
	classic_err = bpf_sess_start(r, s, classic);
	if (!classic_err)
		return 0;
	if (!tracefs_mounted())
		bufprintf(first, sizeof(first), "tracefs is not mounted at /sys/kernel/tracing");
	else
		bufprintf(first, sizeof(first), "%s", r->detail);
	err = bpf_sess_start(r, s, btf);
	if (err) {
		char second[CHECK_DETAIL_MAX];

		/* Refused privileges fail both alike: say it once. */
		if (err == classic_err && (err == -EPERM || err == -EACCES))
			return err;
		bufprintf(second, sizeof(second), "%s", r->detail);
		note(r, "%s; %s", first, second);
		return err;
	}
	bufprintf(why, why_len, "%s", first);
	return 0;
}

/* Which program did the work, and why not the classic tracepoint. Truncates. */
static void via_note(char *buf, size_t len, const struct bpf_sess *s, const char *why)
{
	if (why[0])
		bufprintf(buf, len, "%s (classic tp: %s)", s->prog, why);
	else
		bufprintf(buf, len, "%s", s->prog);
}

static int fault_pages(size_t n, unsigned char **out)
{
	unsigned char *mem = map_pages(n);
	size_t i;

	if (!mem)
		return -errno;
	for (i = 0; i < n; i++)
		mem[i * page_size()] = 1;
	*out = mem;
	return 0;
}

static int probe_bpf_tp_fault(struct check_result *r)
{
	const size_t n = 16;
	struct bpf_sess s;
	unsigned char *mem = NULL;
	char why[CHECK_DETAIL_MAX], via[CHECK_DETAIL_MAX];
	__u64 writes, all;
	int err;

	err = bpf_tp_start(r, &s, "tp_fault", "btf_fault", why, sizeof(why));
	if (err)
		return err;
	err = fault_pages(n, &mem);
	if (err) {
		fail(r, err, "mmap of %zu test pages", n);
		goto stop;
	}
	munmap(mem, n * page_size());
	writes = bpf_counter(&s, PROBE_CNT_FAULT_WRITE);
	all = bpf_counter(&s, PROBE_CNT_FAULT);
	via_note(via, sizeof(via), &s, why);
	if (writes < n) {
		note(r,
		     "exceptions:page_fault_user via %s: %llu write faults seen for %zu first "
		     "writes",
		     via, (unsigned long long)writes, n);
		err = -EIO;
		goto stop;
	}
	note(r, "exceptions:page_fault_user via %s: %llu faults, %llu writes for %zu first writes",
	     via, (unsigned long long)all, (unsigned long long)writes, n);
stop:
	bpf_sess_stop(&s);
	return err;
}

struct rb_want {
	__u32 type;
	__u64 lo, hi; /* addr in [lo, hi) */
	size_t events;
	int found;
	__u64 err;
};

static int rb_event(void *ctx, void *data, size_t len)
{
	const struct probe_event *e = data;
	struct rb_want *w = ctx;

	if (len < sizeof(*e))
		return 0;
	w->events++;
	if (e->type == w->type && e->addr >= w->lo && e->addr < w->hi && !w->found) {
		w->found = 1;
		w->err = e->err;
	}
	return 0;
}

/* Poll @s's ring buffer until @w is found or EVENT_TIMEOUT_MS pass. */
static int rb_wait(struct ring_buffer *rb, struct rb_want *w)
{
	long long end = now_ms() + EVENT_TIMEOUT_MS;
	int ret;

	while (!w->found && now_ms() < end) {
		ret = ring_buffer__poll(rb, 100);
		if (ret < 0 && ret != -EINTR)
			return ret;
	}
	return w->found ? 0 : -ETIMEDOUT;
}

static int probe_bpf_ringbuf(struct check_result *r)
{
	struct rb_want w = { .type = PROBE_EV_FAULT };
	struct ring_buffer *rb;
	struct bpf_sess s;
	unsigned char *mem;
	char why[CHECK_DETAIL_MAX];
	size_t ps = page_size();
	int err;

	err = bpf_tp_start(r, &s, "tp_fault", "btf_fault", why, sizeof(why));
	if (err)
		return err;
	rb = ring_buffer__new(bpf_map__fd(s.skel->maps.events), rb_event, &w, NULL);
	if (!rb) {
		err = fail(r, -errno, "ring_buffer__new on map fd %d",
			   bpf_map__fd(s.skel->maps.events));
		goto stop;
	}
	mem = map_pages(4);
	if (!mem) {
		err = fail(r, -errno, "mmap of 4 test pages");
		goto free_rb;
	}
	mem[2 * ps] = 1;
	w.lo = (uintptr_t)mem + 2 * ps;
	w.hi = w.lo + ps;
	err = rb_wait(rb, &w);
	munmap(mem, 4 * ps);
	if (err) {
		fail(r, err,
		     "waiting for the fault at 0x%llx in the ring buffer (%zu other events)",
		     (unsigned long long)w.lo, w.events);
		goto free_rb;
	}
	note(r,
	     "the write fault at 0x%llx (error_code 0x%llx) arrived through "
	     "BPF_MAP_TYPE_RINGBUF (events read: %zu)",
	     (unsigned long long)w.lo, (unsigned long long)w.err, w.events);
free_rb:
	ring_buffer__free(rb);
stop:
	bpf_sess_stop(&s);
	return err;
}

static int probe_bpf_tp_mmap(struct check_result *r)
{
	struct rb_want w = { .type = PROBE_EV_MMAP };
	struct ring_buffer *rb;
	struct bpf_sess s;
	char why[CHECK_DETAIL_MAX], via[CHECK_DETAIL_MAX];
	size_t ps = page_size();
	void *p;
	int err;

	err = bpf_tp_start(r, &s, "tp_mmap_exit", "btf_sys_exit", why, sizeof(why));
	if (err)
		return err;
	rb = ring_buffer__new(bpf_map__fd(s.skel->maps.events), rb_event, &w, NULL);
	if (!rb) {
		err = fail(r, -errno, "ring_buffer__new on map fd %d",
			   bpf_map__fd(s.skel->maps.events));
		goto stop;
	}
	p = mmap(NULL, 3 * ps, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		err = fail(r, -errno, "mmap of 3 test pages");
		goto free_rb;
	}
	munmap(p, 3 * ps);
	w.lo = (uintptr_t)p;
	w.hi = w.lo + 1;
	err = rb_wait(rb, &w);
	via_note(via, sizeof(via), &s, why);
	if (err) {
		fail(r, err,
		     "syscalls:sys_exit_mmap via %s: no event for the mmap that returned %p "
		     "(%llu mmap exits counted)",
		     via, p, (unsigned long long)bpf_counter(&s, PROBE_CNT_MMAP));
		goto free_rb;
	}
	note(r, "syscalls:sys_exit_mmap via %s: reported the address mmap returned (%p)", via, p);
free_rb:
	ring_buffer__free(rb);
stop:
	bpf_sess_stop(&s);
	return err;
}

/* fentry and kprobe: informational, ferry does not depend on them. */
static int probe_bpf_vfs_read(struct check_result *r, const char *prog, __u32 slot)
{
	struct bpf_sess s;
	char buf[64];
	int fd, err;

	err = bpf_sess_start(r, &s, prog);
	if (err) {
		size_t used = strlen(r->detail);

		if (slot == PROBE_CNT_FENTRY && err == -EPERM && !geteuid())
			bufprintf(r->detail + used, sizeof(r->detail) - used,
				  " (this kernel refuses fentry/fexit programs, even to root)");
		else if (slot == PROBE_CNT_KPROBE && err == -ENOENT &&
			 access("/sys/bus/event_source/devices/kprobe", F_OK))
			bufprintf(r->detail + used, sizeof(r->detail) - used,
				  " (no kprobe PMU in /sys/bus/event_source/devices%s)",
				  tracefs_mounted() ? "" : " and no tracefs for kprobe_events");
		return err;
	}
	fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = fail(r, -errno, "open /proc/self/stat");
		goto stop;
	}
	if (read(fd, buf, sizeof(buf)) < 0)
		err = fail(r, -errno, "read /proc/self/stat");
	close(fd);
	if (err)
		goto stop;
	if (!bpf_counter(&s, slot)) {
		note(r, "%s attached but saw no call of vfs_read", prog);
		err = -EIO;
		goto stop;
	}
	note(r, "%s on vfs_read: %llu calls seen", prog, (unsigned long long)bpf_counter(&s, slot));
stop:
	bpf_sess_stop(&s);
	return err;
}

static int probe_bpf_fentry(struct check_result *r)
{
	return probe_bpf_vfs_read(r, "fentry_read", PROBE_CNT_FENTRY);
}

static int probe_bpf_kprobe(struct check_result *r)
{
	return probe_bpf_vfs_read(r, "kprobe_read", PROBE_CNT_KPROBE);
}

/*
 * One iterator read of our own VMAs: finds the r-- middle page of @mem and
 * checks that file mappings carry the path /proc/self/maps gives. Returns 0
 * or -errno with @r's detail saying what was wrong.
 */
static int iter_vma_read_self(struct check_result *r, unsigned char *mem, size_t *nr, size_t *files)
{
	size_t ps = page_size(), n = 0, i;
	struct vma_rec *v = NULL;
	int err, found = 0, stack = 0;
	char link[96], want[VMA_REC_PATH_MAX];

	err = vma_iter_read(getpid(), &v, &n);
	if (err)
		return fail(r, err, "iter/task_vma on pid %d", (int)getpid());
	*files = 0;
	for (i = 0; i < n; i++) {
		if (v[i].start == (uintptr_t)mem + ps && v[i].end == (uintptr_t)mem + 2 * ps &&
		    (v[i].vm_flags & VMA_VM_READ) && !(v[i].vm_flags & VMA_VM_WRITE))
			found = 1;
		if (v[i].kind & VMA_KIND_STACK)
			stack = 1;
		if (!(v[i].kind & VMA_KIND_FILE) || v[i].path[0] != '/')
			continue;
		(*files)++;
		bufprintf(link, sizeof(link), "/proc/self/map_files/%llx-%llx",
			  (unsigned long long)v[i].start, (unsigned long long)v[i].end);
		err = (int)readlink(link, want, sizeof(want) - 1);
		if (err > 0) {
			want[err] = 0;
			if (strcmp(want, v[i].path)) {
				note(r, "iter/task_vma names %llx-%llx '%s', the kernel says '%s'",
				     (unsigned long long)v[i].start, (unsigned long long)v[i].end,
				     v[i].path, want);
				err = -EIO;
				goto out;
			}
		}
	}
	err = 0;
	if (!found) {
		note(r, "iter/task_vma: %zu VMAs of pid %d, none is the test mapping %p-%p r--", n,
		     (int)getpid(), (void *)(mem + ps), (void *)(mem + 2 * ps));
		err = -EIO;
	} else if (!stack || !*files) {
		note(r, "iter/task_vma: %zu VMAs of pid %d, %s, %zu file mappings with paths", n,
		     (int)getpid(), stack ? "[stack]" : "no [stack]", *files);
		err = -EIO;
	}
	*nr = n;
out:
	free(v);
	return err;
}

/*
 * Each variant of the iterator in turn (vma_iter.c): the first that loads and
 * reads our own VMAs right is the one ferry uses. Not required: without any,
 * VMAs are read from /proc/PID/smaps.
 */
static int probe_bpf_iter_vma(struct check_result *r)
{
	static const char *const names[] = { "path", "ident" };
	char refused[256] = "";
	size_t n = 0, files = 0, i, off = 0;
	unsigned char *mem;
	int err = -ENOENT, was_loaded;

	/* Three VMAs: rw- r-- rw-. The middle one is the one to find. */
	mem = map_pages(3);
	if (!mem)
		return fail(r, -errno, "mmap of 3 test pages");
	if (mprotect(mem + page_size(), page_size(), PROT_READ)) {
		err = fail(r, -errno, "mprotect of %p", (void *)(mem + page_size()));
		goto unmap;
	}
	was_loaded = vma_iter_loaded();
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		/* A program loaded before the probe is the one in use: test just it. */
		if (was_loaded && strcmp(vma_iter_variant(), names[i]))
			continue;
		err = vma_iter_preload_variant(names[i]);
		if (!err)
			err = iter_vma_read_self(r, mem, &n, &files);
		else
			fail(r, err, "loading");
		if (!err)
			break;
		if (off < sizeof(refused))
			off += (size_t)snprintf(refused + off, sizeof(refused) - off,
						"; variant %s refused (%s)", names[i], r->detail);
		if (!was_loaded)
			vma_iter_unload();
	}
	if (err) {
		note(r, "no variant works%s: VMAs are read from /proc/PID/smaps", refused);
		bpf_hint(r, err);
		goto unmap;
	}
	note(r,
	     "variant %s in use: %zu VMAs of pid %d, the test mapping found, %zu file paths "
	     "as the kernel names them%s",
	     vma_iter_variant_program(), n, (int)getpid(), files, refused);
	if (!was_loaded)
		vma_iter_unload(); /* a probe leaves nothing loaded behind */
unmap:
	munmap(mem, 3 * page_size());
	return err;
}

/* ---- io_uring ---------------------------------------------------------------------------------
 */

static int uring_wait(struct io_uring *ring, int *res)
{
	struct io_uring_cqe *cqe;
	int err;

	err = io_uring_submit(ring);
	if (err < 0)
		return err;
	err = io_uring_wait_cqe(ring, &cqe);
	if (err)
		return err;
	*res = cqe->res;
	io_uring_cqe_seen(ring, cqe);
	return 0;
}

static int tmpfile_open(void)
{
	const char *dir = getenv("TMPDIR");
	char path[256];
	int fd;

	if (!dir || !*dir)
		dir = "/tmp";
	fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	if (fd >= 0)
		return fd;
	snprintf(path, sizeof(path), "%s/ferry-check-XXXXXX", dir);
	fd = mkostemp(path, O_CLOEXEC);
	if (fd < 0)
		return -errno;
	unlink(path);
	return fd;
}

static int probe_io_uring(struct check_result *r)
{
	static const char msg[] = "ferry io_uring probe";
	struct io_uring ring;
	struct io_uring_sqe *sqe;
	char disabled[16], back[sizeof(msg)];
	int fd, res, err;

	read_sysctl("/proc/sys/kernel/io_uring_disabled", disabled, sizeof(disabled));
	err = io_uring_queue_init(8, &ring, 0);
	if (err)
		return fail(r, err, "io_uring_setup (kernel.io_uring_disabled=%s)", disabled);
	fd = tmpfile_open();
	if (fd < 0) {
		err = fail(r, fd, "temporary file");
		goto exit_ring;
	}
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_nop(sqe);
	err = uring_wait(&ring, &res);
	if (err || res) {
		err = fail(r, err ? err : res, "IORING_OP_NOP");
		goto close_fd;
	}
	sqe = io_uring_get_sqe(&ring);
	io_uring_prep_write(sqe, fd, msg, sizeof(msg), 0);
	err = uring_wait(&ring, &res);
	if (err || res != (int)sizeof(msg)) {
		err = err ? err : res < 0 ? res : -EIO;
		fail(r, err, "IORING_OP_WRITE to fd %d (%d bytes done)", fd, res);
		goto close_fd;
	}
	if (pread(fd, back, sizeof(back), 0) != sizeof(back) || memcmp(back, msg, sizeof(msg))) {
		note(r, "IORING_OP_WRITE to fd %d: the file does not hold what was written", fd);
		err = -EIO;
		goto close_fd;
	}
	note(r, "io_uring: NOP and a %zu-byte IORING_OP_WRITE to a temporary file completed",
	     sizeof(msg));
close_fd:
	close(fd);
exit_ring:
	io_uring_queue_exit(&ring);
	return err;
}

/* ---- processes --------------------------------------------------------------------------------
 */

struct clone3_report {
	__s32 err;
	__s32 want;
	__s32 got;
	__s32 grandchild_ok;
};

static int pid_max(void)
{
	char buf[16];

	read_sysctl("/proc/sys/kernel/pid_max", buf, sizeof(buf));
	return atoi(buf) > 1000 ? atoi(buf) : 32768;
}

/* A pid nobody uses now, from the upper half of the range (a race is retried). */
static pid_t free_pid(unsigned int seed)
{
	int max = pid_max(), tries;
	pid_t p;

	for (tries = 0; tries < 1000; tries++) {
		p = max / 2 +
		    (pid_t)((seed + (unsigned int)tries * 7919u) % (unsigned int)(max / 2 - 1));
		if (kill(p, 0) && errno == ESRCH)
			return p;
	}
	return max - 1;
}

static int child_clone3(int sock, void *arg)
{
	struct clone3_report rep = { 0 };
	struct clone_args ca;
	pid_t want = 0, got = -1;
	int tries, st;

	(void)arg;
	for (tries = 0; tries < 16; tries++) {
		want = free_pid((unsigned int)getpid() * 2654435761u +
				(unsigned int)tries * 40503u);
		memset(&ca, 0, sizeof(ca));
		ca.exit_signal = SIGCHLD;
		ca.set_tid = (uintptr_t)&want;
		ca.set_tid_size = 1;
		got = (pid_t)syscall(__NR_clone3, &ca, sizeof(ca));
		if (got == 0)
			_exit(getpid() == want ? 0 : 3);
		if (got > 0 || errno != EEXIST)
			break;
	}
	rep.want = want;
	if (got < 0) {
		rep.err = -errno;
	} else {
		rep.got = got;
		if (waitpid(got, &st, 0) == got)
			rep.grandchild_ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
	}
	return send_all(sock, &rep, sizeof(rep)) ? 1 : 0;
}

static int probe_clone3_set_tid(struct check_result *r)
{
	struct clone3_report rep;
	struct child c;
	int err;

	err = child_start(&c, child_clone3, NULL);
	if (err)
		return fail(r, err, "fork");
	err = recv_all(c.sock, &rep, sizeof(rep));
	if (err) {
		fail(r, err, "waiting for child %d", (int)c.pid);
		goto stop_child;
	}
	if (rep.err) {
		err = fail(r, rep.err, "clone3(set_tid=%d) in child %d%s", rep.want, (int)c.pid,
			   rep.err == -EPERM ? " (needs CAP_SYS_ADMIN over the pid namespace: "
					       "run as root)"
					     : "");
		goto stop_child;
	}
	if (rep.got != rep.want || !rep.grandchild_ok) {
		note(r, "clone3(set_tid=%d) gave pid %d%s", rep.want, rep.got,
		     rep.grandchild_ok ? "" : ", and the grandchild saw another getpid()");
		err = -EIO;
		goto stop_child;
	}
	note(r,
	     "clone3 with set_tid: child %d created grandchild with the chosen pid %d (pid_max %d)",
	     (int)c.pid, rep.got, pid_max());
stop_child:
	child_stop(&c);
	return err;
}

/* Child of pidfd-getfd: sends its pipe's write end number, echoes what arrives. */
static int child_pipe_echo(int sock, void *arg)
{
	char buf[5];
	int p[2];
	__s32 wfd;

	(void)arg;
	if (pipe(p))
		wfd = -errno;
	else
		wfd = p[1];
	if (send_all(sock, &wfd, sizeof(wfd)) || wfd < 0)
		return 1;
	if (read(p[0], buf, sizeof(buf)) != sizeof(buf))
		return 1;
	if (send_all(sock, buf, sizeof(buf)))
		return 1;
	return child_park(sock);
}

static int probe_pidfd_getfd(struct check_result *r)
{
	struct child c;
	char back[5];
	__s32 wfd;
	int fd, err;

	err = child_start(&c, child_pipe_echo, NULL);
	if (err)
		return fail(r, err, "fork");
	err = recv_all(c.sock, &wfd, sizeof(wfd));
	if (err || wfd < 0) {
		fail(r, err ? err : wfd, "pipe in child %d", (int)c.pid);
		err = err ? err : wfd;
		goto stop_child;
	}
	fd = rsys_getfd(c.pid, wfd);
	if (fd < 0) {
		err = fail(r, fd, "pidfd_getfd of fd %d in pid %d", wfd, (int)c.pid);
		goto stop_child;
	}
	if (write(fd, "ferry", 5) != 5) {
		err = fail(r, -errno, "write through the copy of pid %d's fd %d", (int)c.pid, wfd);
		goto close_fd;
	}
	err = recv_all(c.sock, back, sizeof(back));
	if (err) {
		fail(r, err, "waiting for child %d's echo", (int)c.pid);
		goto close_fd;
	}
	if (memcmp(back, "ferry", 5)) {
		note(r, "child %d read something else through its pipe", (int)c.pid);
		err = -EIO;
		goto close_fd;
	}
	note(r, "pidfd_open(%d) + pidfd_getfd took its fd %d; a write through the copy reached it",
	     (int)c.pid, wfd);
close_fd:
	close(fd);
stop_child:
	child_stop(&c);
	return err;
}

static int child_buffer(int sock, void *arg)
{
	static char buf[64];
	__u64 addr = (uintptr_t)buf;

	(void)arg;
	snprintf(buf, sizeof(buf), "ferry process_vm_readv probe %d", (int)getpid());
	if (send_all(sock, &addr, sizeof(addr)))
		return 1;
	return child_park(sock);
}

static int probe_process_vm_readv(struct check_result *r)
{
	char want[64], got[64];
	struct iovec local = { .iov_base = got, .iov_len = sizeof(got) };
	struct iovec remote = { .iov_len = sizeof(got) };
	struct child c;
	ssize_t n;
	__u64 addr;
	int err;

	err = child_start(&c, child_buffer, NULL);
	if (err)
		return fail(r, err, "fork");
	err = recv_all(c.sock, &addr, sizeof(addr));
	if (err) {
		fail(r, err, "waiting for child %d", (int)c.pid);
		goto stop_child;
	}
	remote.iov_base = (void *)(uintptr_t)addr;
	n = process_vm_readv(c.pid, &local, 1, &remote, 1, 0);
	if (n != (ssize_t)sizeof(got)) {
		err = fail(r, n < 0 ? -errno : -EIO, "process_vm_readv of pid %d at 0x%llx",
			   (int)c.pid, (unsigned long long)addr);
		goto stop_child;
	}
	memset(want, 0, sizeof(want));
	snprintf(want, sizeof(want), "ferry process_vm_readv probe %d", (int)c.pid);
	if (memcmp(want, got, sizeof(want))) {
		note(r, "process_vm_readv of pid %d at 0x%llx read other bytes", (int)c.pid,
		     (unsigned long long)addr);
		err = -EIO;
		goto stop_child;
	}
	note(r, "read %zu bytes of pid %d's memory at 0x%llx", sizeof(got), (int)c.pid,
	     (unsigned long long)addr);
stop_child:
	child_stop(&c);
	return err;
}

static int child_idle(int sock, void *arg)
{
	char ready = 'r';

	(void)arg;
	if (send_all(sock, &ready, 1))
		return 1;
	return child_park(sock);
}

static int probe_ptrace_seize(struct check_result *r)
{
	struct user_regs_struct regs;
	struct iovec iov = { .iov_base = &regs, .iov_len = sizeof(regs) };
	struct child c;
	char ready, scope[16];
	int status, err;

	read_sysctl("/proc/sys/kernel/yama/ptrace_scope", scope, sizeof(scope));
	err = child_start(&c, child_idle, NULL);
	if (err)
		return fail(r, err, "fork");
	err = recv_all(c.sock, &ready, 1);
	if (err) {
		fail(r, err, "waiting for child %d", (int)c.pid);
		goto stop_child;
	}
	if (ptrace(PTRACE_SEIZE, c.pid, NULL, (void *)(long)PTRACE_O_TRACESYSGOOD)) {
		err = fail(r, -errno, "PTRACE_SEIZE of pid %d (kernel.yama.ptrace_scope=%s)",
			   (int)c.pid, scope);
		goto stop_child;
	}
	if (ptrace(PTRACE_INTERRUPT, c.pid, NULL, NULL)) {
		err = fail(r, -errno, "PTRACE_INTERRUPT of pid %d", (int)c.pid);
		goto detach;
	}
	err = wait_timeout(c.pid, &status, CHILD_TIMEOUT_MS);
	if (err) {
		fail(r, err, "waiting for pid %d to stop", (int)c.pid);
		goto detach;
	}
	if (!WIFSTOPPED(status) || (status >> 16) != PTRACE_EVENT_STOP) {
		note(r, "pid %d: wait status 0x%x, not a PTRACE_EVENT_STOP", (int)c.pid, status);
		err = -EIO;
		goto detach;
	}
	if (ptrace(PTRACE_GETREGSET, c.pid, (void *)(long)NT_PRSTATUS, &iov)) {
		err = fail(r, -errno, "PTRACE_GETREGSET of pid %d", (int)c.pid);
		goto detach;
	}
	note(r,
	     "PTRACE_SEIZE + PTRACE_INTERRUPT stopped pid %d; registers read (%zu bytes); "
	     "detached%s%s%s",
	     (int)c.pid, iov.iov_len, strcmp(scope, "?") ? " (kernel.yama.ptrace_scope=" : "",
	     strcmp(scope, "?") ? scope : "", strcmp(scope, "?") ? ")" : "");
detach:
	/* Detaching a running tracee fails with ESRCH: the kill below still ends it. */
	ptrace(PTRACE_DETACH, c.pid, NULL, NULL);
stop_child:
	child_stop(&c);
	return err;
}

/* ---- the table --------------------------------------------------------------------------------
 */

static const struct check_feature features[] = {
	{ "userfaultfd", 1, "userfaultfd(2) with UFFD_USER_MODE_ONLY", probe_userfaultfd },
	{ "dev-userfaultfd", 0, "userfaultfds from /dev/userfaultfd", probe_dev_userfaultfd },
	{ "uffd-missing", 1, "MISSING faults caught and filled with UFFDIO_COPY (lazy restore)",
	  probe_uffd_missing },
	{ "uffd-wp-async", REQ_UNLESS_SOFT_DIRTY,
	  "async write-protection (UFFD_FEATURE_WP_ASYNC + WP_UNPOPULATED)", probe_uffd_wp_async },
	{ "pagemap-scan", REQ_UNLESS_SOFT_DIRTY,
	  "PAGEMAP_SCAN with PM_SCAN_WP_MATCHING on PAGE_IS_WRITTEN", probe_pagemap_scan },
	{ "uffd-remote-wp", REQ_UNLESS_SOFT_DIRTY,
	  "a target's uffd taken and registered from outside, then scanned", probe_uffd_remote_wp },
	{ "soft-dirty", 0, "soft-dirty bits (clear_refs 4, pagemap bit 55)", probe_soft_dirty },
	{ "kernel-btf", 1, "kernel BTF for CO-RE", probe_kernel_btf },
	{ "bpf-tp-fault", 1, "BPF on exceptions:page_fault_user", probe_bpf_tp_fault },
	{ "bpf-tp-mmap", 1, "BPF on syscalls:sys_exit_mmap", probe_bpf_tp_mmap },
	{ "bpf-ringbuf", 1, "events through a BPF ring buffer", probe_bpf_ringbuf },
	{ "bpf-iter-vma", 0, "the iter/task_vma BPF iterator (else /proc/PID/smaps)",
	  probe_bpf_iter_vma },
	{ "bpf-fentry", 0, "fentry BPF programs (ferry does not use them)", probe_bpf_fentry },
	{ "bpf-kprobe", 0, "kprobe BPF programs (ferry does not use them)", probe_bpf_kprobe },
	{ "io-uring", 1, "io_uring NOP and file write (liburing)", probe_io_uring },
	{ "clone3-set-tid", 1, "clone3 with set_tid: restore with the original pids",
	  probe_clone3_set_tid },
	{ "pidfd-getfd", 1, "pidfd_open + pidfd_getfd: take a target's fd", probe_pidfd_getfd },
	{ "process-vm-readv", 1, "process_vm_readv of another process", probe_process_vm_readv },
	{ "ptrace-seize", 1, "PTRACE_SEIZE + PTRACE_INTERRUPT + GETREGSET", probe_ptrace_seize },
	{ "procmap-query", 0, "PROCMAP_QUERY: one VMA of /proc/PID/maps by address",
	  probe_procmap_query },
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
