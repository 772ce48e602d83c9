// SPDX-License-Identifier: MIT
/*
 * The lazy-pages daemon (see lazy_daemon.c), its requests and faults: the
 * pieces asked of the page source, the copy of each answer into the address
 * space where its pages are still missing, the failure of the source, and
 * what the userfaultfds report (faults, fork, remap, remove, unmap).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#define LOG_PREFIX "lazy-pages: "
#include "lazy.h"
#include "lazy_daemon_priv.h"
#include "lazy_index.h"
#include "lazy_ws.h"
#include "log.h"
#include "page_source.h"
#include "proc_parse.h"
#include "util.h"

/* ---- requests ------------------------------------------------------------------- */

static struct lzd_req *req_get(struct lzd *d, int kind)
{
	struct lzd_req **fl = kind == K_FAULT ? &d->free_win : &d->free_bg;
	size_t size = (kind == K_FAULT ? WIN_PAGES : BG_PAGES) * P;
	struct lzd_req *q = *fl;

	if (q) {
		*fl = q->next;
	} else {
		q = calloc(1, sizeof(*q));
		if (!q)
			return NULL;
		q->pr.buf = malloc(size);
		if (!q->pr.buf) {
			free(q);
			return NULL;
		}
	}
	q->kind = kind;
	q->next = NULL;
	return q;
}

static void req_put(struct lzd *d, struct lzd_req *q)
{
	struct lzd_req **fl = q->kind == K_FAULT ? &d->free_win : &d->free_bg;

	q->next = *fl;
	*fl = q;
}

void lzd_req_free_list(struct lzd_req *q)
{
	while (q) {
		struct lzd_req *n = q->next;

		free(q->pr.buf);
		free(q);
		q = n;
	}
}

int lzd_submit(struct lzd *d, size_t m, int kind, uint64_t addr, uint64_t src, uint32_t nr)
{
	struct lzd_mm *mm = d->mms[m];
	struct lzd_req *q = req_get(d, kind);
	int err;

	if (!q)
		return -ENOMEM;
	q->mm = m;
	q->addr = addr;
	q->t0 = mono_ns();
	q->pr.pid = mm->src_pid;
	q->pr.addr = src;
	q->pr.nr = nr;
	q->pr.urgent = kind == K_FAULT;
	q->pr.cookie = (uint64_t)(uintptr_t)q;
	q->pr.err = 0;
	q->next = d->inflight;
	d->inflight = q;
	mm->inflight++;
	if (kind != K_FAULT)
		d->bg_inflight++;
	err = page_source_submit(d->src, &q->pr);
	if (err) {
		d->inflight = q->next;
		mm->inflight--;
		if (kind != K_FAULT)
			d->bg_inflight--;
		req_put(d, q);
		return lzd_source_failed(d, err);
	}
	return 0;
}

static void unlink_inflight(struct lzd *d, struct lzd_req *q)
{
	for (struct lzd_req **pp = &d->inflight; *pp; pp = &(*pp)->next)
		if (*pp == q) {
			*pp = q->next;
			break;
		}
	d->mms[q->mm]->inflight--;
	if (q->kind != K_FAULT)
		d->bg_inflight--;
}

/* ---- filling ------------------------------------------------------------------- */

static void wake(struct lzd_mm *mm, uint64_t addr, uint64_t len)
{
	struct uffdio_range r = { .start = addr, .len = len };

	ioctl(mm->uffd, UFFDIO_WAKE, &r);
}

/*
 * Pages of a shared memory object from @src on (@n of them) are in its page
 * cache now: no mapping of it misses them any more, in any address space.
 */
static void shmem_filled(struct lzd *d, uint64_t src, uint64_t n)
{
	for (size_t i = 0; i < d->nr_mms; i++) {
		struct lzd_mm *o = d->mms[i];
		uint64_t got = 0;

		if (o->done || !o->idx.pages)
			continue;
		lz_remove_src(&o->idx, src, n, &got);
		o->shmem_elsewhere += got;
	}
}

static void filled(struct lzd *d, struct lzd_mm *mm, int kind, uint64_t addr, uint64_t src,
		   uint64_t n)
{
	lz_remove(&mm->idx, addr, addr + n * P, NULL);
	if (src & PS_SHMEM_BIT)
		shmem_filled(d, src, n);
	if (kind == K_FAULT)
		mm->fault_pages += n;
	else if (kind == K_BG)
		mm->bg_pages += n;
	else
		mm->ws_pages += n;
}

/* A fetched piece has arrived: copy in what is still wanted. */
static void install(struct lzd *d, struct lzd_req *q)
{
	struct lzd_mm *mm = d->mms[q->mm];
	uint64_t lim = UINT64_MAX; /* pages per copy: halved when a copy spans two VMAs */
	uint32_t off = 0;

	if (mm->done)
		return;
	if (q->kind == K_EAGER) {
		size_t len = (size_t)q->pr.nr * P;
		ssize_t n = q->pr.err ? 0 : pwrite(mm->memfd, q->pr.buf, len, (off_t)q->addr);

		if (n != (ssize_t)len) {
			int err = q->pr.err ? q->pr.err : n < 0 ? -errno : -EIO;

			pr_errno(err, "pid %d: cannot write the %u pages at %#llx (from %s)",
				 mm->pid, q->pr.nr, (unsigned long long)q->addr, d->src->name);
			if (!d->eager_err)
				d->eager_err = err;
			return;
		}
		mm->eager_pages += q->pr.nr;
		return;
	}
	if (q->pr.err) {
		pr_err("pid %d: %s has no page %#llx of dumped pid %d (%s): the images and the "
		       "source disagree; killing pid %d",
		       mm->pid, d->src->name, (unsigned long long)q->pr.addr, mm->src_pid,
		       strerror(-q->pr.err), mm->pid);
		lazy_kill_tree(mm->pid);
		lzd_mm_release(mm, "killed");
		d->failed = 1;
		return;
	}
	while (off < q->pr.nr && !mm->done) {
		uint64_t a = q->addr + off * P, s = q->pr.addr + off * P;
		uint64_t k = lz_still(&mm->idx, a, s, q->pr.nr - off);
		struct uffdio_copy c;

		if (k > lim)
			k = lim;
		c = (struct uffdio_copy){ .dst = a,
					  .src = (uint64_t)(uintptr_t)q->pr.buf + off * P,
					  .len = k * P };

		if (!k) {
			off++;
			continue;
		}
		if (!ioctl(mm->uffd, UFFDIO_COPY, &c)) {
			filled(d, mm, q->kind, a, s, k);
			off += (uint32_t)k;
			lim = UINT64_MAX;
			continue;
		}
		switch (errno) {
		case EAGAIN:
			if (c.copy > 0) {
				/* Stopped at a page already there: go on after it. */
				filled(d, mm, q->kind, a, s, (uint64_t)c.copy / P);
				off += (uint32_t)((uint64_t)c.copy / P);
				continue;
			}
			/*
			 * The layout is changing (an event is on its way): drop the
			 * piece; its pages stay missing. A waiting thread faults
			 * again once woken, after the event is read.
			 */
			if (q->kind == K_FAULT)
				wake(mm, q->addr, (uint64_t)q->pr.nr * P);
			return;
		case EEXIST:
			lz_remove(&mm->idx, a, a + P, NULL);
			if (s & PS_SHMEM_BIT) /* filled by another mapping or an attached daemon */
				shmem_filled(d, s, 1);
			wake(mm, a, P);
			off++;
			continue;
		case ESRCH:
			lzd_mm_release(mm, "exited");
			return;
		default:
			/*
			 * -ENOENT: the range is not inside one registered VMA. The
			 * index does not know VMA bounds (adjacent VMAs' pages merge
			 * into one run): try smaller pieces first. A single page that
			 * fails is not registered any more (unmapped, the event is on
			 * its way).
			 */
			if (k > 1) {
				lim = k / 2;
				continue;
			}
			pr_debug("pid %d: UFFDIO_COPY at %#llx: %s; dropped", mm->pid,
				 (unsigned long long)a, strerror(errno));
			lz_remove(&mm->idx, a, a + P, NULL);
			wake(mm, a, P);
			off++;
		}
	}
	/*
	 * A thread may wait on a page another mapping of a shared object filled
	 * meanwhile (it left this index unseen): wake every waiter of the piece.
	 */
	if (q->kind == K_FAULT && !mm->done)
		wake(mm, q->addr, (uint64_t)q->pr.nr * P);
	if (q->kind == K_FAULT && d->nr_lat < MAX_LAT)
		d->lat[d->nr_lat++] = (uint32_t)((mono_ns() - q->t0) / 1000);
}

static void zero_page(struct lzd_mm *mm, uint64_t addr)
{
	struct uffdio_zeropage z = { .range = { .start = addr, .len = P } };

	if (!ioctl(mm->uffd, UFFDIO_ZEROPAGE, &z)) {
		mm->zero_pages++;
		return;
	}
	if (errno == ESRCH)
		lzd_mm_release(mm, "exited");
	else
		wake(mm, addr, P); /* there already, or the layout changes: fault again */
}

int lzd_reap_all(struct lzd *d)
{
	for (;;) {
		struct page_req *pr = NULL;
		struct lzd_req *q;
		int n = page_source_reap(d->src, &pr);

		if (n < 0)
			return lzd_source_failed(d, n);
		if (!n)
			return 0;
		q = (struct lzd_req *)(uintptr_t)pr->cookie;
		unlink_inflight(d, q);
		install(d, q);
		req_put(d, q);
	}
}

/* Kill every process that still misses pages, naming one it misses. */
int lzd_source_failed(struct lzd *d, int err)
{
	if (d->failed > 1)
		return err;
	d->failed = 2;
	for (size_t i = 0; i < d->nr_mms; i++) {
		struct lzd_mm *mm = d->mms[i];
		uint64_t page = 0, src = 0;

		if (mm->done || (!mm->idx.pages && !mm->inflight))
			continue;
		for (struct lzd_req *q = d->inflight; q; q = q->next)
			if (q->mm == i && (q->kind == K_FAULT || !page)) {
				page = q->addr;
				src = q->pr.addr;
			}
		if (!page && mm->idx.n) {
			page = mm->idx.v[0].addr;
			src = mm->idx.v[0].src;
		}
		pr_err("pid %d: page %#llx (dumped pid %d, address %#llx) cannot be filled: %s "
		       "failed (%s); killing pid %d and its children",
		       mm->pid, (unsigned long long)page, mm->src_pid, (unsigned long long)src,
		       d->src->name, strerror(-err), mm->pid);
		lazy_kill_tree(mm->pid);
		if (mm->pidfd >= 0) {
			struct pollfd p = { .fd = mm->pidfd, .events = POLLIN };

			poll(&p, 1, 1000); /* gone before its uffd closes */
		}
		lzd_mm_release(mm, "killed");
	}
	return err;
}

/* ---- faults and events ---------------------------------------------------------- */

/* The thread group of thread @tid (0 if it is gone). */
static pid_t tgid_of(pid_t tid)
{
	struct proc_status st;
	pid_t tg;

	if (proc_parse_status(tid, 0, &st))
		return 0;
	tg = st.tgid;
	proc_status_free(&st);
	return tg;
}

static int on_fault(struct lzd *d, size_t m, uint64_t addr, pid_t tid)
{
	struct lzd_mm *mm = d->mms[m];
	uint64_t page = addr & ~(P - 1), blk, s, e;
	const struct lz_run *r;

	if (!mm->pid && tid > 0)
		mm->pid = tgid_of(tid);
	d->t_last_fault = mono_ns();
	r = lz_find(&mm->idx, page);
	if (!r) {
		zero_page(mm, page);
		return 0;
	}
	for (struct lzd_req *q = d->inflight; q; q = q->next)
		if (q->mm == m && q->kind == K_FAULT && page >= q->addr &&
		    page < q->addr + (uint64_t)q->pr.nr * P)
			return 0; /* asked for already: its copy wakes this thread too */
	blk = page & ~(WIN_PAGES * P - 1);
	s = blk > r->addr ? blk : r->addr;
	e = r->addr + r->nr * P;
	if (e > blk + WIN_PAGES * P)
		e = blk + WIN_PAGES * P;
	mm->faults++;
	if (d->o->record_ws)
		lazy_ws_add(&d->rec, mm->src_pid, r->src + (s - r->addr), (uint32_t)((e - s) / P));
	return lzd_submit(d, m, K_FAULT, s, r->src + (s - r->addr), (uint32_t)((e - s) / P));
}

static int on_fork(struct lzd *d, size_t m, int ufd)
{
	struct lzd_mm *mm = d->mms[m];
	size_t c;
	int err;

	err = lzd_mm_add(d, ufd, -1, 0, mm->src_pid, &c);
	if (err) {
		close(ufd);
		return err;
	}
	lzd_hold_mm(d, c, (int)m);
	mm = d->mms[m];
	err = lz_copy(&d->mms[c]->idx, &mm->idx);
	d->pages_total += d->mms[c]->idx.pages;
	if (!err)
		pr_debug("pid %d forked: its child has %llu pages missing", mm->pid,
			 (unsigned long long)mm->idx.pages);
	return err;
}

/* Read everything the uffd of address space @m has. */
int lzd_drain(struct lzd *d, size_t m)
{
	struct uffd_msg msgs[32];
	int err = 0;

	while (!err && !d->mms[m]->done) {
		struct lzd_mm *mm = d->mms[m];
		ssize_t n = read(mm->uffd, msgs, sizeof(msgs));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			break;
		if (n <= 0) {
			pr_warn("pid %d: reading its userfaultfd: %s", mm->pid,
				n ? strerror(errno) : "end of file");
			lzd_mm_release(mm, "uffd failed");
			break;
		}
		for (size_t i = 0; !err && i < (size_t)n / sizeof(msgs[0]); i++) {
			struct uffd_msg *g = &msgs[i];

			mm = d->mms[m];
			if (mm->done)
				break;
			switch (g->event) {
			case UFFD_EVENT_PAGEFAULT:
				err = on_fault(d, m, g->arg.pagefault.address,
					       (pid_t)g->arg.pagefault.feat.ptid);
				break;
			case UFFD_EVENT_FORK:
				err = on_fork(d, m, (int)g->arg.fork.ufd);
				break;
			case UFFD_EVENT_REMAP:
				lzd_hold_event(d, m, g);
				err = lz_move(&mm->idx, g->arg.remap.from, g->arg.remap.to,
					      g->arg.remap.len);
				break;
			case UFFD_EVENT_REMOVE:
				/* A shared object keeps its pages (lz_remove_private). */
				lzd_hold_event(d, m, g);
				err = lz_remove_private(&mm->idx, g->arg.remove.start,
							g->arg.remove.end);
				break;
			case UFFD_EVENT_UNMAP:
				lzd_hold_event(d, m, g);
				err = lz_remove(&mm->idx, g->arg.remove.start, g->arg.remove.end,
						NULL);
				break;
			default:
				pr_warn("pid %d: unexpected userfaultfd event %u", mm->pid,
					g->event);
			}
		}
	}
	return err;
}
