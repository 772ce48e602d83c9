// SPDX-License-Identifier: MIT
/*
 * Lazy restore, the restore side: start the lazy-pages daemon, give it each
 * process's userfaultfd, tell it when the tree runs (see lazy.h).
 *
 * Control protocol on a SOCK_SEQPACKET pair, restore -> daemon:
 *   struct lazy_ctl { LAZY_REG, pid, has_uffd } + SCM_RIGHTS(pidfd[, uffd])
 *       the daemon writes the process's pages that are not lazy (private
 *       file mappings) through /proc/PID/mem, fills its recorded working
 *       set, and answers with an int32 status;
 *   struct lazy_ctl { LAZY_GO }: the tree runs; then the socket closes.
 * The daemon's first message is an int32 status: its page source is open.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#define LOG_PREFIX "restore: "
#include "compat.h"
#include "cow.h"
#include "vma_status.h"
#include "lazy.h"
#include "lazy_ctl.h"
#include "lazy_daemon_priv.h"
#include "lazy_ws.h"
#include "log.h"
#include "page_source.h"
#include "page_source_local.h"
#include "page_source_remote.h"
#include "page_source_split.h"
#include "pagemap_flags.h"
#include "rsys.h"
#include "rtask.h"
#include "shmem.h"
#include "uffd.h"

/* How long restore waits for the daemon to take a process (it fills the working set first). */
#define REG_TIMEOUT_MS 120000

int lazy_vma(const VmaEntry *v)
{
	/* An AIO ring's placeholder is replaced by the kernel's ring: no pages to serve. */
	return (v->status & VMA_ANON_PRIVATE) &&
	       !(v->status &
		 (VMA_AREA_VDSO | VMA_AREA_VVAR | VMA_AREA_VSYSCALL | VMA_AREA_AIORING));
}

/* Wait for the daemon's int32 status (it may take a while: the working set). */
static int recv_status(struct lazy_daemon *d, const char *what)
{
	struct pollfd p = { .fd = d->sock, .events = POLLIN };
	int32_t st;
	ssize_t n;
	int r;

	do
		r = poll(&p, 1, REG_TIMEOUT_MS);
	while (r < 0 && errno == EINTR);
	if (r == 0) {
		pr_err("lazy-pages daemon (pid %d) did not answer within %d s (%s)", d->pid,
		       REG_TIMEOUT_MS / 1000, what);
		return -ETIMEDOUT;
	}
	n = recv(d->sock, &st, sizeof(st), 0);
	if (n != sizeof(st)) {
		pr_err("lazy-pages daemon (pid %d) is gone (%s)", d->pid, what);
		return -EPIPE;
	}
	if (st)
		pr_err("lazy-pages daemon (pid %d): %s failed: %s", d->pid, what, strerror(-st));
	return st;
}

int lazy_start(struct lazy_daemon *d, const struct rimg *r, const struct lazy_opts *o)
{
	struct lazy_ws ws = { 0 };
	int sv[2], err;
	pid_t pid;

	d->pid = 0;
	d->sock = -1;
	if (!o->record_ws && o->ws_file) {
		err = lazy_ws_read(&ws, o->ws_file);
		if (err == -ENOENT)
			err = 0;
		else if (err)
			return err;
		else
			pr_info("prefetching the working set in %s first (%zu pieces)", o->ws_file,
				ws.n);
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		err = -errno;
		pr_errno(err, "lazy pages: socketpair");
		lazy_ws_free(&ws);
		return err;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		err = -errno;
		pr_errno(err, "cannot fork the lazy-pages daemon");
		close(sv[0]);
		close(sv[1]);
		lazy_ws_free(&ws);
		return err;
	}
	if (pid == 0) {
		struct page_source *src = NULL;
		pid_t holder = 0;
		int32_t st, hold;

		close(sv[0]);
		prctl(PR_SET_NAME, "ferry-lazy");
		if (o->log_path && log_to_stderr() && log_init(o->log_path, log_level, 0))
			log_init("/dev/null", log_level, 0); /* never the restored program's tty */
		/* Before the source: the holder must not keep its connections open. */
		hold = lazy_holder_start(o, sv[1], &holder);
		if (hold < 0)
			pr_warn("no holder for the userfaultfds (%s): if this daemon dies, missing "
				"pages read as zeros",
				strerror(-hold));
		if (!o->page_server)
			st = page_source_local_open(&src, r);
		else
			st = page_source_remote_open(&src, o->page_server, o->secret_file,
						     o->timeout_ms);
		if (o->page_server && !st && o->page_server_missing_only)
			st = page_source_split_open(&src, r, src);
		if (send(sv[1], &st, sizeof(st), MSG_NOSIGNAL) != sizeof(st) || st)
			_exit(1);
		st = lazy_daemon_run(sv[1], hold, holder, r, src, o, &ws);
		page_source_destroy(src);
		fflush(NULL);
		_exit(st);
	}
	close(sv[1]);
	lazy_ws_free(&ws);
	d->pid = pid;
	d->sock = sv[0];
	err = recv_status(d, o->page_server ? "connecting to the page server"
					    : "opening the pages files");
	if (err)
		lazy_abort(d);
	else
		pr_debug("lazy-pages daemon is pid %d", pid);
	return err;
}

/*
 * The lazy VMAs of @t that have dumped pages, as ranges; *n of them, and
 * *@shmem of them map a shared memory object the daemon fills (shmem.h).
 */
static int lazy_ranges(const struct rtask *t, const struct rimg *r, uint64_t (**out)[2], size_t *n,
		       size_t *shmem)
{
	const MmEntry *mm = t->ip->mm;
	const struct rimg_pagemap *pm = t->ip->pm;
	uint64_t(*v)[2];
	size_t k = 0, nv = 0, nr_runs = pm ? pm->nr_runs : 0;

	*out = NULL;
	*n = 0;
	*shmem = 0;
	v = calloc(mm->n_vmas ? mm->n_vmas : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < mm->n_vmas; i++) {
		const VmaEntry *vma = mm->vmas[i];
		const struct rimg_shmem *s;
		size_t obj;

		/* Every mapping of a lazy object: a page missing in it faults in each. */
		s = rshmem_of_vma(r, vma, &obj);
		if (s && s->lazy) {
			v[nv][0] = vma->start;
			v[nv][1] = vma->end;
			nv++;
			(*shmem)++;
			continue;
		}
		/* Filled before the fork, shared with a parent or a child (cow.h). */
		if (!lazy_vma(vma) || rcow_slot(t->ip, vma))
			continue;
		/* Runs are sorted: skip those that end below the VMA. */
		while (k < nr_runs &&
		       pm->runs[k].vaddr + pm->runs[k].nr_pages * RT_PAGE <= vma->start)
			k++;
		for (size_t j = k; j < nr_runs && pm->runs[j].vaddr < vma->end; j++)
			if (pm->runs[j].flags & (PE_PRESENT | PE_PARENT)) {
				v[nv][0] = vma->start;
				v[nv][1] = vma->end;
				nv++;
				break;
			}
	}
	*out = v;
	*n = nv;
	return 0;
}

/* Make the process create a userfaultfd and take it; returns ferry's fd or -errno. */
static int take_uffd(struct rtask *t)
{
	long rfd = -1;
	int fd, err;

	err = rt_call(t, t->pid, "userfaultfd", &rfd, __NR_userfaultfd, O_CLOEXEC | O_NONBLOCK, 0,
		      0, 0, 0, 0);
	if (err) {
		if (err == -EPERM)
			pr_err("pid %d: userfaultfd(2) not allowed (it needs CAP_SYS_PTRACE, or "
			       "vm.unprivileged_userfaultfd=1)",
			       t->pid);
		return err;
	}
	fd = rsys_getfd(t->pid, (int)rfd);
	err = rt_call(t, t->pid, "close(userfaultfd)", NULL, __NR_close, (uint64_t)rfd, 0, 0, 0, 0,
		      0);
	if (fd < 0)
		return fd;
	if (err) {
		close(fd);
		return err;
	}
	return fd;
}

int lazy_register(struct lazy_daemon *d, struct rtask *t, const struct rimg *r)
{
	uint64_t want = UFFD_FEATURE_EVENT_FORK | UFFD_FEATURE_EVENT_REMAP |
			UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP |
			UFFD_FEATURE_THREAD_ID;
	const uint64_t need_ioctls =
		(1ull << _UFFDIO_COPY) | (1ull << _UFFDIO_ZEROPAGE) | (1ull << _UFFDIO_WAKE);
	struct lazy_ctl msg = { .type = LAZY_REG, .pid = t->pid };
	char cbuf[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov = { &msg, sizeof(msg) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct cmsghdr *c;
	uint64_t(*ranges)[2] = NULL, got = 0, ioctls = 0;
	size_t nr = 0, nr_shmem = 0;
	int fd = -1, pidfd = -1, err;

	err = lazy_ranges(t, r, &ranges, &nr, &nr_shmem);
	if (err)
		goto out;
	if (nr_shmem)
		want |= UFFD_FEATURE_MISSING_SHMEM;
	if (!nr)
		goto hand_over; /* only pages that are not lazy */
	fd = take_uffd(t);
	if (fd < 0) {
		err = fd;
		goto out;
	}
	err = uffd_api(fd, want, &got);
	if (err) {
		pr_errno(err,
			 "pid %d: UFFDIO_API with the fork/remap/remove/unmap events "
			 "(features %#llx, kernel has %#llx)",
			 t->pid, (unsigned long long)want, (unsigned long long)got);
		goto out;
	}
	for (size_t i = 0; i < nr; i++) {
		err = uffd_register(fd, ranges[i][0], ranges[i][1] - ranges[i][0],
				    UFFDIO_REGISTER_MODE_MISSING, &ioctls);
		if (!err && (ioctls & need_ioctls) != need_ioctls)
			err = -EOPNOTSUPP;
		if (err) {
			pr_errno(err, "pid %d: cannot register %#lx-%#lx for missing-page faults",
				 t->pid, (unsigned long)ranges[i][0], (unsigned long)ranges[i][1]);
			goto out;
		}
	}
hand_over:
	pidfd = (int)syscall(__NR_pidfd_open, t->pid, 0);
	if (pidfd < 0) {
		err = -errno;
		pr_errno(err, "pid %d: pidfd_open", t->pid);
		goto out;
	}
	mh.msg_control = cbuf;
	mh.msg_controllen = sizeof(cbuf);
	memset(cbuf, 0, sizeof(cbuf));
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	msg.has_uffd = fd >= 0;
	c->cmsg_len = CMSG_LEN((1 + msg.has_uffd) * sizeof(int));
	memcpy(CMSG_DATA(c), (int[]){ pidfd, fd }, (1 + msg.has_uffd) * sizeof(int));
	mh.msg_controllen = CMSG_SPACE((1 + msg.has_uffd) * sizeof(int));
	if (sendmsg(d->sock, &mh, MSG_NOSIGNAL) != sizeof(msg)) {
		err = -errno;
		pr_errno(err, "pid %d: cannot hand its userfaultfd to the lazy-pages daemon",
			 t->pid);
		goto out;
	}
	err = recv_status(d, "taking over its memory");
	if (!err)
		pr_debug(
			"pid %d: %zu VMA(s) handed to the lazy-pages daemon (%zu of shared memory)",
			t->pid, nr, nr_shmem);
out:
	if (pidfd >= 0)
		close(pidfd);
	if (fd >= 0)
		close(fd);
	free(ranges);
	return err;
}

int lazy_go(struct lazy_daemon *d)
{
	struct lazy_ctl msg = { .type = LAZY_GO };
	int err = 0;

	if (d->sock < 0)
		return 0;
	if (send(d->sock, &msg, sizeof(msg), MSG_NOSIGNAL) != sizeof(msg)) {
		err = -errno;
		pr_errno(err, "cannot tell the lazy-pages daemon (pid %d) that the tree runs",
			 d->pid);
	}
	close(d->sock);
	d->sock = -1;
	return err;
}

void lazy_abort(struct lazy_daemon *d)
{
	if (d->sock >= 0)
		close(d->sock);
	d->sock = -1;
	if (d->pid > 0) {
		/*
		 * The closed socket tells it the restore stopped: let it end on its
		 * own for a moment, so that its holder learns it ended and does not
		 * wait for an attach.
		 */
		for (int i = 0; i < 50; i++) {
			if (waitpid(d->pid, NULL, WNOHANG) == d->pid) {
				d->pid = 0;
				return;
			}
			usleep(10000);
		}
		kill(d->pid, SIGKILL);
		while (waitpid(d->pid, NULL, 0) < 0 && errno == EINTR)
			;
	}
	d->pid = 0;
}
