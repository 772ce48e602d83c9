// SPDX-License-Identifier: MIT
/*
 * ferry check, the userfaultfd group: userfaultfd(2) and /dev/userfaultfd,
 * MISSING faults filled with UFFDIO_COPY, async write-protection,
 * PAGEMAP_SCAN, a target's uffd registered from outside, and soft-dirty bits.
 * The table and the shared helpers are in check.c / check_priv.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>

#include <linux/types.h>
#include <linux/userfaultfd.h>

#include "compat.h"

#include "check_priv.h"
#include "soft_dirty.h"
#include "uffd.h"
#include "mem_scan.h"
#include "rsys.h"

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

int check_probe_userfaultfd(struct check_result *r)
{
	char unpriv[16];
	int fd;

	check_read_sysctl("/proc/sys/vm/unprivileged_userfaultfd", unpriv, sizeof(unpriv));
	fd = uffd_create();
	if (fd < 0)
		return fail(r, fd,
			    "userfaultfd(UFFD_USER_MODE_ONLY)%s (vm.unprivileged_userfaultfd=%s)",
			    fd == -ENOSYS ? ", CONFIG_USERFAULTFD is off" : "", unpriv);
	close(fd);
	note(r, "userfaultfd(2) with UFFD_USER_MODE_ONLY (vm.unprivileged_userfaultfd=%s)", unpriv);
	return 0;
}

int check_probe_dev_userfaultfd(struct check_result *r)
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
int check_probe_uffd_missing(struct check_result *r)
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

int check_probe_uffd_wp_async(struct check_result *r)
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

int check_probe_pagemap_scan(struct check_result *r)
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
	if (check_send_all(sock, &info, sizeof(info)))
		return 1;
	while (read(sock, &idx, 1) == 1) {
		mem[(size_t)(idx & 3) * page_size()] = idx;
		if (check_send_all(sock, &idx, 1))
			return 1;
	}
	return 0;
}

/*
 * The tracker's flow (DESIGN.md): the target creates the uffd, ferry takes it
 * with pidfd_getfd (rsys_getfd), does UFFDIO_API and registers the target's range from
 * outside, then scans /proc/PID/pagemap.
 */
int check_probe_uffd_remote_wp(struct check_result *r)
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

	err = check_child_start(&c, child_uffd_target, NULL);
	if (err)
		return fail(r, err, "fork");
	err = check_recv_all(c.sock, &info, sizeof(info));
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
	err = check_send_all(c.sock, &idx, 1);
	if (!err)
		err = check_recv_all(c.sock, &idx, 1);
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
	check_child_stop(&c);
	return err;
}

struct kreader {
	int fd;
	unsigned char *addr;
	ssize_t ret;
	int err;
};

static void *kernel_write(void *arg)
{
	struct kreader *k = arg;

	k->ret = read(k->fd, k->addr, 1); /* the kernel writes into the protected page */
	k->err = k->ret < 0 ? errno : 0;
	return NULL;
}

/*
 * The background snapshot's userfaultfd (dump --leave-running): synchronous
 * write-protection without UFFD_USER_MODE_ONLY, with the REMOVE/UNMAP/REMAP
 * events; a write the kernel makes (read(2) into a protected page) waits in
 * the fault until the protection is lifted, instead of failing.
 */
int check_probe_uffd_wp_sync(struct check_result *r)
{
	const uint64_t events =
		UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_EVENT_REMAP;
	struct pollfd pfd = { .events = POLLIN };
	struct kreader k = { .fd = -1 };
	struct uffd_msg msg;
	size_t ps = page_size();
	int fd, p[2] = { -1, -1 }, err, ret, joined = 1;
	uint64_t got = 0;
	pthread_t th;

	fd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return fail(r, -errno,
			    "userfaultfd(2) for kernel faults (needs CAP_SYS_PTRACE or "
			    "vm.unprivileged_userfaultfd=1)");
	err = uffd_api(fd, events, &got);
	if (!err && !(got & UFFD_FEATURE_PAGEFAULT_FLAG_WP))
		err = -EOPNOTSUPP;
	if (err) {
		err = fail(r, err, "UFFDIO_API with REMOVE, UNMAP and REMAP events and WP faults");
		goto close_uffd;
	}
	k.addr = map_pages(1);
	if (!k.addr || pipe2(p, O_CLOEXEC)) {
		err = fail(r, -errno, "a test page and a pipe");
		goto unmap;
	}
	k.addr[0] = 1; /* populated: write-protection applies to present pages */
	err = uffd_wp_range(fd, k.addr, ps, r);
	if (err)
		goto unmap;
	if (write(p[1], "\x5a", 1) != 1) {
		err = fail(r, -errno, "write to the pipe");
		goto unmap;
	}
	k.fd = p[0];
	ret = pthread_create(&th, NULL, kernel_write, &k);
	if (ret) {
		err = fail(r, -ret, "pthread_create");
		goto unmap;
	}
	joined = 0;
	pfd.fd = fd;
	ret = poll(&pfd, 1, EVENT_TIMEOUT_MS);
	if (ret <= 0 || read(fd, &msg, sizeof(msg)) != sizeof(msg)) {
		err = fail(r, ret < 0 ? -errno : -ETIMEDOUT,
			   "waiting for the write-protect fault of read(2) at %p", (void *)k.addr);
		goto lift;
	}
	if (msg.event != UFFD_EVENT_PAGEFAULT ||
	    !(msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP)) {
		note(r, "unexpected uffd event 0x%x (flags 0x%llx), wanted a WP fault", msg.event,
		     (unsigned long long)msg.arg.pagefault.flags);
		err = -EIO;
		goto lift;
	}
lift:
	ret = uffd_writeprotect(fd, (uintptr_t)k.addr, ps, 0);
	if (ret && !err)
		err = fail(r, ret, "lifting the protection of %p", (void *)k.addr);
	pthread_join(th, NULL);
	joined = 1;
	if (!err && (k.ret != 1 || k.addr[0] != 0x5a)) {
		note(r, "read(2) into the protected page returned %zd (%s), the page holds 0x%02x",
		     k.ret, strerror(k.err), k.addr[0]);
		err = -EIO;
	}
	if (!err)
		note(r, "a read(2) into a protected page waited in its fault until the protection "
			"was lifted: dump --leave-running copies memory in the background");
unmap:
	if (!joined) {
		uffd_writeprotect(fd, (uintptr_t)k.addr, ps, 0);
		pthread_join(th, NULL);
	}
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	/* Closed first: with UNMAP events on, munmap would wait for this thread to read one. */
	close(fd);
	if (k.addr)
		munmap(k.addr, ps);
	return err;
close_uffd:
	close(fd);
	return err;
}

int check_probe_soft_dirty(struct check_result *r)
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
