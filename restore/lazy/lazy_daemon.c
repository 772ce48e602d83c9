// SPDX-License-Identifier: MIT
/*
 * The lazy-pages daemon (see lazy.h): one loop, one thread, over
 *   - the userfaultfd of every restored address space (and of every child
 *     they fork): faults and the fork/remap/remove/unmap events;
 *   - their pidfds: exits;
 *   - the page source: answers;
 *   - the control socket from restore: new processes, "the tree runs".
 *
 * Each round reads every uffd first, so a fault is asked of the source
 * before any background piece, on its own channel; background pieces
 * follow, a few at a time, while the tree runs. A piece fetched is copied
 * in only where its pages are still missing with the same source (lz_still):
 * a page dropped, unmapped or moved meanwhile is never overwritten with old
 * data. An address space whose pages are all in is let go: its uffd is
 * closed, and the kernel serves it from then on as if it had never been
 * lazy.
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#define LOG_PREFIX "lazy-pages: "
#include "lazy.h"
#include "lazy_ctl.h"
#include "lazy_index.h"
#include "lazy_ws.h"
#include "log.h"
#include "page_source.h"
#include "pagemap_flags.h"
#include "proc_parse.h"
#include "util.h"

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

struct lzd_mm {
	int uffd, pidfd;
	pid_t pid;     /* the process, or 0 while unknown (a forked child) */
	pid_t src_pid; /* the dumped process whose pages it holds */
	struct lz_index idx;
	uint64_t cursor; /* background position */
	unsigned inflight;
	int done;
	int memfd; /* /proc/PID/mem while the pages that are not lazy are written */
	uint64_t faults, fault_pages, bg_pages, ws_pages, zero_pages, eager_pages;
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
};

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

static void req_free_list(struct lzd_req *q)
{
	while (q) {
		struct lzd_req *n = q->next;

		free(q->pr.buf);
		free(q);
		q = n;
	}
}

static int source_failed(struct lzd *d, int err);

static int submit(struct lzd *d, size_t m, int kind, uint64_t addr, uint64_t src, uint32_t nr)
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
		return source_failed(d, err);
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

/* ---- address spaces ----------------------------------------------------------- */

static void mm_release(struct lzd_mm *mm, const char *why)
{
	if (mm->done)
		return;
	pr_debug("pid %d (dumped pid %d): %s; %llu fault(s), %llu pages by fault, %llu in the "
		 "background, %llu working set, %llu zero",
		 mm->pid, mm->src_pid, why, (unsigned long long)mm->faults,
		 (unsigned long long)mm->fault_pages, (unsigned long long)mm->bg_pages,
		 (unsigned long long)mm->ws_pages, (unsigned long long)mm->zero_pages);
	if (mm->uffd >= 0)
		close(mm->uffd);
	if (mm->pidfd >= 0)
		close(mm->pidfd);
	if (mm->memfd >= 0)
		close(mm->memfd);
	mm->uffd = mm->pidfd = mm->memfd = -1;
	lz_free(&mm->idx);
	mm->done = 1;
}

static int mm_add(struct lzd *d, int uffd, int pidfd, pid_t pid, pid_t src_pid, size_t *out)
{
	struct lzd_mm **v, *mm;

	v = realloc(d->mms, (d->nr_mms + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	d->mms = v;
	mm = calloc(1, sizeof(*mm));
	if (!mm)
		return -ENOMEM;
	mm->uffd = uffd;
	mm->pidfd = pidfd;
	mm->memfd = -1;
	mm->pid = pid;
	mm->src_pid = src_pid;
	d->mms[d->nr_mms] = mm;
	*out = d->nr_mms++;
	return 0;
}

struct piece_filter {
	int lazy;
	int (*fn)(void *arg, uint64_t addr, uint64_t nr);
	void *arg;
};

static int filter_piece(void *arg, const struct rimg_page_run *run, const VmaEntry *vma,
			uint64_t addr, uint64_t file_off, uint64_t nr_pages)
{
	struct piece_filter *f = arg;

	if (!lazy_vma(vma) != !f->lazy)
		return 0;
	return f->fn(f->arg, addr, nr_pages);
}

/*
 * Call @fn on each piece of dumped pages of @p that lies in one VMA, with
 * lazy_vma() of that VMA equal to @lazy, in address order (rimg_walk_pieces()).
 */
static int walk_pieces(const struct rimg_proc *p, int lazy,
		       int (*fn)(void *arg, uint64_t addr, uint64_t nr), void *arg)
{
	struct piece_filter f = { lazy, fn, arg };

	return rimg_walk_pieces(p, filter_piece, &f);
}

static int index_piece(void *arg, uint64_t addr, uint64_t nr)
{
	return lz_add(arg, addr, nr, addr);
}

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

void lazy_kill_tree(pid_t pid)
{
	DIR *dir;
	struct dirent *e;

	if (pid <= 0)
		return;
	/* Stopped first: it can fork no more, and its children stay its own while we look. */
	kill(pid, SIGSTOP);
	dir = opendir("/proc");
	while (dir && (e = readdir(dir))) {
		struct proc_status st;
		pid_t p = (pid_t)atoi(e->d_name);

		if (p <= 0 || proc_parse_status(p, 0, &st))
			continue;
		if (st.ppid == pid)
			lazy_kill_tree(p);
		proc_status_free(&st);
	}
	if (dir)
		closedir(dir);
	kill(pid, SIGKILL);
}

/* ---- filling ------------------------------------------------------------------- */

static void wake(struct lzd_mm *mm, uint64_t addr, uint64_t len)
{
	struct uffdio_range r = { .start = addr, .len = len };

	ioctl(mm->uffd, UFFDIO_WAKE, &r);
}

static void filled(struct lzd_mm *mm, int kind, uint64_t addr, uint64_t n)
{
	lz_remove(&mm->idx, addr, addr + n * P, NULL);
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
		mm_release(mm, "killed");
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
			filled(mm, q->kind, a, k);
			off += (uint32_t)k;
			lim = UINT64_MAX;
			continue;
		}
		switch (errno) {
		case EAGAIN:
			if (c.copy > 0) {
				/* Stopped at a page already there: go on after it. */
				filled(mm, q->kind, a, (uint64_t)c.copy / P);
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
			wake(mm, a, P);
			off++;
			continue;
		case ESRCH:
			mm_release(mm, "exited");
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
		mm_release(mm, "exited");
	else
		wake(mm, addr, P); /* there already, or the layout changes: fault again */
}

static int reap_all(struct lzd *d)
{
	for (;;) {
		struct page_req *pr = NULL;
		struct lzd_req *q;
		int n = page_source_reap(d->src, &pr);

		if (n < 0)
			return source_failed(d, n);
		if (!n)
			return 0;
		q = (struct lzd_req *)(uintptr_t)pr->cookie;
		unlink_inflight(d, q);
		install(d, q);
		req_put(d, q);
	}
}

/* Kill every process that still misses pages, naming one it misses. */
static int source_failed(struct lzd *d, int err)
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
		mm_release(mm, "killed");
	}
	return err;
}

/* ---- faults and events ---------------------------------------------------------- */

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
	return submit(d, m, K_FAULT, s, r->src + (s - r->addr), (uint32_t)((e - s) / P));
}

static int on_fork(struct lzd *d, size_t m, int ufd)
{
	struct lzd_mm *mm = d->mms[m];
	size_t c;
	int err;

	err = mm_add(d, ufd, -1, 0, mm->src_pid, &c);
	if (err) {
		close(ufd);
		return err;
	}
	mm = d->mms[m];
	err = lz_copy(&d->mms[c]->idx, &mm->idx);
	d->pages_total += d->mms[c]->idx.pages;
	if (!err)
		pr_debug("pid %d forked: its child has %llu pages missing", mm->pid,
			 (unsigned long long)mm->idx.pages);
	return err;
}

/* Read everything the uffd of address space @m has. */
static int drain(struct lzd *d, size_t m)
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
			mm_release(mm, "uffd failed");
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
				err = lz_move(&mm->idx, g->arg.remap.from, g->arg.remap.to,
					      g->arg.remap.len);
				break;
			case UFFD_EVENT_REMOVE:
			case UFFD_EVENT_UNMAP:
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

/* ---- background ----------------------------------------------------------------- */

/* Start up to @max background pieces, round robin over the address spaces. */
static int background(struct lzd *d, unsigned max)
{
	unsigned started = 0;
	size_t tried = 0;
	int err = 0;

	while (!err && started < max && d->bg_inflight < BG_MAX_INFLIGHT && tried < d->nr_mms) {
		size_t m = d->rr++ % d->nr_mms;
		struct lzd_mm *mm = d->mms[m];
		const struct lz_run *r;
		uint64_t s, n;

		if (mm->done || !mm->idx.pages) {
			tried++;
			continue;
		}
		r = lz_next(&mm->idx, mm->cursor);
		if (!r && !mm->inflight) {
			/* Wrapped: what is left was dropped on the way (a layout change). */
			mm->cursor = 0;
			r = lz_next(&mm->idx, 0);
		}
		if (!r) {
			tried++;
			continue;
		}
		tried = 0;
		s = r->addr > mm->cursor ? r->addr : mm->cursor;
		n = (r->addr + r->nr * P - s) / P;
		if (n > BG_PAGES)
			n = BG_PAGES;
		mm->cursor = s + n * P;
		err = submit(d, m, K_BG, s, r->src + (s - r->addr), (uint32_t)n);
		started++;
	}
	return err;
}

/* One wait for the page source (up to 50 ms), then collect what it answered. */
static int wait_source(struct lzd *d)
{
	struct pollfd p[4];
	int fds[4], n = page_source_poll_fds(d->src, fds, 4);

	for (int i = 0; i < n; i++)
		p[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
	if (n)
		poll(p, (nfds_t)n, 50);
	return reap_all(d);
}

/* Wait for every request in flight of address space @m (before the tree runs). */
static int wait_mm(struct lzd *d, size_t m)
{
	int err = 0;

	while (!err && d->mms[m]->inflight)
		err = wait_source(d);
	return err;
}

/* Wait until fewer than BG_MAX_INFLIGHT background pieces are on the way. */
static int throttle(struct lzd *d)
{
	int err = 0;

	while (!err && d->bg_inflight >= BG_MAX_INFLIGHT)
		err = wait_source(d);
	return err;
}

struct eager_walk {
	struct lzd *d;
	size_t m;
};

static int eager_piece(void *arg, uint64_t addr, uint64_t nr)
{
	struct eager_walk *w = arg;
	int err = 0;

	while (!err && nr && !w->d->eager_err) {
		uint64_t n = nr < BG_PAGES ? nr : BG_PAGES;

		err = throttle(w->d);
		if (!err)
			err = submit(w->d, w->m, K_EAGER, addr, addr, (uint32_t)n);
		addr += n * P;
		nr -= n;
	}
	return err;
}

/*
 * Write the dumped pages of process @p that are not lazy (private file
 * mappings: userfaultfd cannot catch their faults) through /proc/PID/mem.
 */
static int fill_eager(struct lzd *d, size_t m, const struct rimg_proc *p)
{
	struct lzd_mm *mm = d->mms[m];
	struct eager_walk w = { d, m };
	char path[64];
	int err;

	snprintf(path, sizeof(path), "/proc/%d/mem", mm->pid);
	mm->memfd = open(path, O_RDWR | O_CLOEXEC);
	if (mm->memfd < 0) {
		err = -errno;
		pr_errno(err, "cannot open %s", path);
		return err;
	}
	err = walk_pieces(p, 0, eager_piece, &w);
	if (!err)
		err = wait_mm(d, m);
	if (!err)
		err = d->eager_err;
	close(mm->memfd);
	mm->memfd = -1;
	return err;
}

/* Fill the recorded working set of a new address space, in first-touch order. */
static int prefetch_ws(struct lzd *d, size_t m)
{
	struct lzd_mm *mm = d->mms[m];
	int err = 0;

	for (size_t i = 0; !err && d->ws && i < d->ws->n && !mm->done; i++) {
		const struct lazy_ws_entry *w = &d->ws->v[i];
		uint64_t a = w->addr, end = w->addr + (uint64_t)w->pages * P;

		if ((pid_t)w->pid != mm->src_pid)
			continue;
		while (!err && a < end) {
			const struct lz_run *r = lz_next(&mm->idx, a);
			uint64_t s, e;

			if (!r || r->addr >= end)
				break;
			s = r->addr > a ? r->addr : a;
			e = r->addr + r->nr * P < end ? r->addr + r->nr * P : end;
			if ((e - s) / P > BG_PAGES)
				e = s + BG_PAGES * P;
			err = throttle(d);
			/* At registration the pages are where the dump saw them. */
			if (!err && lz_still(&mm->idx, s, s, 1))
				err = submit(d, m, K_WS, s, s, (uint32_t)((e - s) / P));
			a = e;
		}
	}
	if (!err)
		err = wait_mm(d, m);
	return err;
}

/* ---- control ------------------------------------------------------------------- */

static int on_ctl(struct lzd *d)
{
	struct lazy_ctl msg;
	char cbuf[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov = { &msg, sizeof(msg) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	const struct rimg_proc *p = NULL;
	int fds[2] = { -1, -1 };
	int32_t st = 0;
	size_t m;
	ssize_t n;

	n = recvmsg(d->ctl, &mh, MSG_CMSG_CLOEXEC);
	if (n <= 0) {
		close(d->ctl);
		d->ctl = -1;
		if (!d->go) {
			pr_debug("restore stopped before the tree ran; exiting");
			return -ECANCELED;
		}
		return 0;
	}
	c = CMSG_FIRSTHDR(&mh);
	if (c && c->cmsg_type == SCM_RIGHTS && c->cmsg_len >= CMSG_LEN(sizeof(int)))
		memcpy(fds, CMSG_DATA(c),
		       c->cmsg_len >= CMSG_LEN(2 * sizeof(int)) ? 2 * sizeof(int) : sizeof(int));
	if (n != sizeof(msg)) {
		st = -EPROTO;
	} else if (msg.type == LAZY_GO) {
		d->go = 1;
		d->t_go = mono_ns();
		pr_info("the tree runs: %llu pages to fill in %zu process(es)",
			(unsigned long long)d->pages_total, d->nr_mms);
		return 0;
	} else if (msg.type != LAZY_REG || fds[0] < 0 || (msg.has_uffd && fds[1] < 0)) {
		st = -EPROTO;
	}
	for (size_t i = 0; !st && i < d->r->nr_procs; i++)
		if (d->r->procs[i].pid == msg.pid)
			p = &d->r->procs[i];
	if (!st && !p)
		st = -ESRCH;
	/* fds[0] is the pidfd, fds[1] the uffd if it has lazy memory. */
	if (!st)
		st = mm_add(d, msg.has_uffd ? fds[1] : -1, fds[0], msg.pid, msg.pid, &m);
	if (!st) {
		fds[0] = fds[1] = -1;
		st = fill_eager(d, m, p);
	}
	if (!st && d->mms[m]->uffd >= 0) {
		st = walk_pieces(p, 1, index_piece, &d->mms[m]->idx);
		d->pages_total += d->mms[m]->idx.pages;
	}
	if (!st)
		st = prefetch_ws(d, m);
	if (!st && d->mms[m]->ws_pages)
		pr_info("pid %d: %llu pages of its working set filled before it runs", msg.pid,
			(unsigned long long)d->mms[m]->ws_pages);
	if (!st && d->mms[m]->uffd < 0)
		mm_release(d->mms[m], "no lazy memory");
	if (st)
		pr_errno(st, "cannot take over pid %d", msg.pid);
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	if (send(d->ctl, &st, sizeof(st), MSG_NOSIGNAL) != sizeof(st))
		return -EPIPE;
	return st;
}

/* ---- the loop ------------------------------------------------------------------- */

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

/* VmHWM of this process, in KiB (-1 if unknown). */
static long peak_rss_kib(void)
{
	char buf[4096], *p;
	ssize_t n;
	int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = 0;
	p = strstr(buf, "VmHWM:");
	return p ? atol(p + 6) : -1;
}

static void summary(struct lzd *d)
{
	uint64_t faults = 0, fp = 0, bg = 0, ws = 0, zero = 0, eager = 0;
	uint32_t p50 = 0, p99 = 0;
	long hwm;

	for (size_t i = 0; i < d->nr_mms; i++) {
		faults += d->mms[i]->faults;
		fp += d->mms[i]->fault_pages;
		bg += d->mms[i]->bg_pages;
		ws += d->mms[i]->ws_pages;
		zero += d->mms[i]->zero_pages;
		eager += d->mms[i]->eager_pages;
	}
	hwm = peak_rss_kib();
	if (d->nr_lat) {
		qsort(d->lat, d->nr_lat, sizeof(*d->lat), cmp_u32);
		p50 = d->lat[d->nr_lat / 2];
		p99 = d->lat[(d->nr_lat * 99) / 100];
	}
	pr_msg("lazy-pages: %s: %llu of %llu pages filled in %llu ms after resume: %llu fault(s) "
	       "(%llu pages), %llu pages in the background, %llu from the working set, %llu "
	       "zero pages (and %llu pages written before resume that are not lazy); fault "
	       "service p50 %u us, p99 %u us; peak RSS %ld KiB",
	       d->failed ? "failed" : "done", (unsigned long long)(fp + bg + ws),
	       (unsigned long long)d->pages_total,
	       (unsigned long long)(d->go ? (mono_ns() - d->t_go) / 1000000 : 0),
	       (unsigned long long)faults, (unsigned long long)fp, (unsigned long long)bg,
	       (unsigned long long)ws, (unsigned long long)zero, (unsigned long long)eager, p50,
	       p99, hwm);
}

/* An address space is let go when nothing is missing and nothing is on the way. */
static size_t settle(struct lzd *d)
{
	size_t live = 0;

	for (size_t i = 0; i < d->nr_mms; i++) {
		struct lzd_mm *mm = d->mms[i];

		if (!mm->done && d->go && !mm->idx.pages && !mm->inflight)
			mm_release(mm, "all pages in");
		live += !mm->done;
	}
	return live;
}

int lazy_daemon_run(int sock, const struct rimg *r, struct page_source *src,
		    const struct lazy_opts *o, struct lazy_ws *ws)
{
	struct lzd d = { .r = r, .src = src, .o = o, .ws = ws, .ctl = sock };
	int err = 0;

	d.lat = calloc(MAX_LAT, sizeof(*d.lat));
	if (!d.lat)
		return 1;
	for (;;) {
		struct pollfd p[MAX_POLL];
		size_t who[MAX_POLL];
		nfds_t n = 0;
		int timeout = -1, fds[4], ns, bg_ok;

		if (settle(&d) == 0 && d.go)
			break;
		bg_ok = d.go && d.bg_inflight < BG_MAX_INFLIGHT;
		if (bg_ok && mono_ns() - d.t_go < (uint64_t)o->prefetch_delay_ms * 1000000) {
			bg_ok = 0;
			timeout = 20;
		}
		if (bg_ok && o->record_ws &&
		    mono_ns() - (d.t_last_fault > d.t_go ? d.t_last_fault : d.t_go) <
			    WS_QUIET_MS * 1000000ull) {
			bg_ok = 0;
			timeout = 100;
		}
		if (bg_ok) {
			for (size_t i = 0; i < d.nr_mms && timeout; i++)
				if (!d.mms[i]->done && d.mms[i]->idx.pages)
					timeout = 0;
		}
		if (d.inflight && timeout < 0)
			timeout = 50; /* the source checks its timeouts when reaped */
		if (d.ctl >= 0) {
			who[n] = SIZE_MAX;
			p[n++] = (struct pollfd){ .fd = d.ctl, .events = POLLIN };
		}
		for (size_t i = 0; i < d.nr_mms && n + 6 < MAX_POLL; i++) {
			if (d.mms[i]->done)
				continue;
			who[n] = i;
			p[n++] = (struct pollfd){ .fd = d.mms[i]->uffd, .events = POLLIN };
			if (d.mms[i]->pidfd >= 0) {
				who[n] = i;
				p[n++] = (struct pollfd){ .fd = d.mms[i]->pidfd, .events = POLLIN };
			}
		}
		ns = page_source_poll_fds(src, fds, 4);
		for (int i = 0; i < ns; i++) {
			who[n] = SIZE_MAX - 1;
			p[n++] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
		}
		if (poll(p, n, timeout) < 0 && errno != EINTR) {
			err = -errno;
			pr_errno(err, "poll");
			break;
		}
		/* Faults and events first... */
		for (nfds_t i = 0; !err && i < n; i++) {
			if (!p[i].revents || who[i] >= SIZE_MAX - 1)
				continue;
			if (p[i].fd == d.mms[who[i]]->uffd)
				err = drain(&d, who[i]);
			else if (!d.mms[who[i]]->done)
				mm_release(d.mms[who[i]], "exited");
		}
		/* ...then answers, new processes, background. */
		if (!err)
			err = reap_all(&d);
		if (!err && d.ctl >= 0 && p[0].revents)
			err = on_ctl(&d);
		if (!err && bg_ok)
			err = background(&d, BG_PER_ROUND);
		if (err || d.failed > 1)
			break;
	}
	if (err == -ECANCELED) {
		err = 0;
		d.go = 0;
	} else if (err || d.failed) {
		if (err && !d.failed)
			pr_errno(err, "stopped");
		d.failed = 1;
		source_failed(&d, err ? err : -EIO);
	}
	/* The working set first: the summary line says the daemon is over. */
	if (o->record_ws && d.go && !d.failed) {
		if (!lazy_ws_write(&d.rec, o->record_ws))
			pr_info("working set: %zu piece(s) written to %s", d.rec.n, o->record_ws);
	}
	if (d.go || d.failed)
		summary(&d);
	for (size_t i = 0; i < d.nr_mms; i++) {
		mm_release(d.mms[i], "daemon exits");
		free(d.mms[i]);
	}
	free(d.mms);
	for (struct lzd_req *q = d.inflight; q; q = q->next)
		q->kind = K_BG;
	req_free_list(d.inflight);
	req_free_list(d.free_win);
	req_free_list(d.free_bg);
	lazy_ws_free(&d.rec);
	free(d.lat);
	if (d.ctl >= 0)
		close(d.ctl);
	return d.failed ? 1 : 0;
}
