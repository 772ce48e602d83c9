// SPDX-License-Identifier: MIT
/*
 * `ferry lazy-pages --attach PID`: a new lazy-pages daemon for a lazy restore
 * whose daemon died (see lazy_holder.c). The holder of the tree of PID hands
 * over its journal with the userfaultfds it kept; the index of each address
 * space is rebuilt from the dump and the journal (forks, remap, remove, unmap,
 * address spaces let go), in the order the dead daemon saw them. Pages that
 * the dead daemon had already filled are found by UFFDIO_COPY (EEXIST) and
 * never overwritten. The threads that wait on a fault the dead daemon had
 * read (the kernel does not repeat it) are woken: they fault again, and are
 * served. Then it runs as the daemon, journaling to the same holder.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#define LOG_PREFIX "lazy-pages: "
#include "lazy.h"
#include "lazy_ctl.h"
#include "lazy_daemon_priv.h"
#include "lazy_index.h"
#include "log.h"
#include "page_source.h"
#include "page_source_local.h"
#include "page_source_remote.h"
#include "proc_parse.h"
#include "util.h"

/* Wake every thread of @uffd's address space that waits on a fault. */
#define WAKE_START 0x10000ull	   /* at or above mmap_min_addr */
#define WAKE_END 0x7ffffffff000ull /* TASK_SIZE of x86_64, 4-level */

static int wake_all(struct lzd_mm *mm)
{
	struct uffdio_range r = { .start = WAKE_START, .len = WAKE_END - WAKE_START };

	if (ioctl(mm->uffd, UFFDIO_WAKE, &r)) {
		int err = -errno;

		pr_errno(err, "pid %d: cannot wake its threads (UFFDIO_WAKE)", mm->pid);
		return err;
	}
	return 0;
}

/* Connect to the holder of @pid, or of the nearest ancestor that has one. */
static int connect_holder(pid_t pid, pid_t *found)
{
	for (pid_t p = pid; p > 1;) {
		struct sockaddr_un a;
		struct proc_status st;
		socklen_t len;
		int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);

		if (s < 0)
			return -errno;
		lazy_holder_name(p, &a, &len);
		if (!connect(s, (struct sockaddr *)&a, len)) {
			struct ucred cr;
			socklen_t cl = sizeof(cr);

			/* Anyone may bind an abstract name: only root's or ours is a holder. */
			if (!getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cr, &cl) &&
			    (cr.uid == 0 || cr.uid == geteuid())) {
				*found = p;
				return s;
			}
			pr_err("@ferry-lazy-%d belongs to pid %d of uid %u, not to a holder of "
			       "root or of uid %u: refusing to serve it",
			       p, (int)cr.pid, (unsigned int)cr.uid, (unsigned int)geteuid());
			close(s);
			return -EPERM;
		}
		close(s);
		if (proc_parse_status(p, 0, &st))
			break;
		p = st.ppid;
		proc_status_free(&st);
	}
	pr_err("no lazy restore waits for a daemon at pid %d or above it (no @ferry-lazy-PID "
	       "socket): its daemon runs, it ended, or its holder is gone",
	       pid);
	return -ENOENT;
}

static const struct rimg_proc *dumped(const struct rimg *r, pid_t pid)
{
	for (size_t i = 0; i < r->nr_procs; i++)
		if (r->procs[i].pid == pid)
			return &r->procs[i];
	return NULL;
}

/* One journal entry, applied as the dead daemon applied it. */
static int apply(struct lzd *d, const struct lazy_hmsg *m, int fds[2])
{
	int uffd = -1, pidfd = -1, k = 0, err = 0;
	size_t idx;

	switch (m->type) {
	case LH_MM:
		if (m->fds & LH_FD_UFFD)
			uffd = fds[k++];
		if (m->fds & LH_FD_PIDFD)
			pidfd = fds[k++];
		fds[0] = fds[1] = -1;
		if (m->mm != (int32_t)d->nr_mms ||
		    (m->parent >= 0 && (size_t)m->parent >= d->nr_mms))
			return -EPROTO;
		err = lzd_mm_add(d, uffd, pidfd, m->pid, m->src_pid, &idx);
		if (err) {
			if (uffd >= 0)
				close(uffd);
			if (pidfd >= 0)
				close(pidfd);
			return err;
		}
		if (uffd < 0) {
			lzd_mm_release(d->mms[idx], "let go before"); /* before the daemon died */
		} else if (m->parent >= 0) {
			err = lz_copy(&d->mms[idx]->idx, &d->mms[m->parent]->idx);
		} else {
			const struct rimg_proc *p = dumped(d->r, m->src_pid);

			if (!p) {
				pr_err("pid %d is not in this dump: attach with the images it was "
				       "restored from",
				       m->src_pid);
				return -ESRCH;
			}
			err = lzd_index_proc(d, idx, p);
		}
		return err;
	case LH_EVENT:
		if (m->mm < 0 || (size_t)m->mm >= d->nr_mms)
			return -EPROTO;
		if (m->ev.event == UFFD_EVENT_REMAP)
			return lz_move(&d->mms[m->mm]->idx, m->ev.arg.remap.from,
				       m->ev.arg.remap.to, m->ev.arg.remap.len);
		if (m->ev.event == UFFD_EVENT_REMOVE)
			return lz_remove_private(&d->mms[m->mm]->idx, m->ev.arg.remove.start,
						 m->ev.arg.remove.end);
		return lz_remove(&d->mms[m->mm]->idx, m->ev.arg.remove.start, m->ev.arg.remove.end,
				 NULL);
	case LH_RELEASE:
		if (m->mm < 0 || (size_t)m->mm >= d->nr_mms)
			return -EPROTO;
		lzd_mm_release(d->mms[m->mm], "let go before");
		return 0;
	default:
		return -EPROTO;
	}
}

int lazy_attach(pid_t pid, const struct rimg *r, const struct lazy_opts *o)
{
	struct lzd d = { .r = r, .o = o, .ctl = -1, .hold = -1, .go = 1 };
	struct page_source *src = NULL;
	size_t live = 0, events = 0;
	pid_t at = 0;
	int err, s;

	s = connect_holder(pid, &at);
	if (s < 0)
		return s;
	if (o->page_server)
		err = page_source_remote_open(&src, o->page_server, o->secret_file, o->timeout_ms);
	else
		err = page_source_local_open(&src, r);
	if (err)
		goto out;
	d.src = src;
	for (;;) {
		struct lazy_hmsg m;
		int fds[2];

		err = lazy_hrecv(s, &m, fds);
		if (!err && m.type == LH_ATTACHED)
			break;
		if (!err)
			err = apply(&d, &m, fds);
		events += !err && m.type == LH_EVENT;
		for (int i = 0; i < 2; i++)
			if (fds[i] >= 0)
				close(fds[i]);
		if (err) {
			pr_errno(err, "cannot take over the lazy restore of pid %d from its holder",
				 at);
			goto out;
		}
	}
	d.hold = s;
	s = -1;
	for (size_t i = 0; i < d.nr_mms; i++) {
		struct lzd_mm *mm = d.mms[i];

		if (mm->done)
			continue;
		mm->hold = d.hold;
		live++;
		err = wake_all(mm);
		if (err)
			goto out;
	}
	d.t_go = mono_ns();
	pr_msg("lazy-pages: attached to the lazy restore of pid %d: %zu address space(s) miss "
	       "%llu pages (%zu event(s) replayed); serving from %s",
	       at, live, (unsigned long long)d.pages_total, events, src->name);
	err = lzd_run(&d);
	page_source_destroy(src);
	return err;
out:
	for (size_t i = 0; i < d.nr_mms; i++) {
		lzd_mm_release(d.mms[i], "attach failed");
		free(d.mms[i]);
	}
	free(d.mms);
	if (d.hold >= 0)
		close(d.hold);
	if (s >= 0)
		close(s);
	page_source_destroy(src);
	return err;
}
