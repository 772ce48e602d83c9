// SPDX-License-Identifier: MIT
/*
 * The lazy-pages daemon (see lazy_daemon.c), ahead of the faults: the
 * background pieces while the tree runs, the dumped pages that are not lazy
 * (written through /proc/PID/mem at registration) and the recorded working
 * set (filled before the process runs).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

#define LOG_PREFIX "lazy-pages: "
#include "lazy_daemon_priv.h"
#include "lazy_index.h"
#include "lazy_ws.h"
#include "log.h"
#include "page_source.h"

/* ---- background ----------------------------------------------------------------- */

/* Start up to @max background pieces, round robin over the address spaces. */
int lzd_background(struct lzd *d, unsigned max)
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
		if (mm->nr_prio) {
			int k = lzd_recent_next(d, m);

			if (k < 0)
				return k;
			if (k) {
				started += k == 1;
				tried = k == 1 ? 0 : tried + 1;
				continue;
			}
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
		err = lzd_submit(d, m, K_BG, s, r->src + (s - r->addr), (uint32_t)n);
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
	return lzd_reap_all(d);
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
			err = lzd_submit(w->d, w->m, K_EAGER, addr, addr, (uint32_t)n);
		addr += n * P;
		nr -= n;
	}
	return err;
}

/*
 * Write the dumped pages of process @p that are not lazy (private file
 * mappings: userfaultfd cannot catch their faults) through /proc/PID/mem.
 */
int lzd_fill_eager(struct lzd *d, size_t m, const struct rimg_proc *p)
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
	err = lzd_walk_pieces(p, 0, eager_piece, &w);
	if (!err)
		err = wait_mm(d, m);
	if (!err)
		err = d->eager_err;
	close(mm->memfd);
	mm->memfd = -1;
	return err;
}

/* Fill the recorded working set of a new address space, in first-touch order. */
int lzd_prefetch_ws(struct lzd *d, size_t m)
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
				err = lzd_submit(d, m, K_WS, s, s, (uint32_t)((e - s) / P));
			a = e;
		}
	}
	if (!err)
		err = wait_mm(d, m);
	return err;
}

/*
 * Fill, before the tree runs, the pages each thread touches first: the code
 * page at its instruction pointer and its stack at and below the stack
 * pointer (where a signal frame goes). A thread restored inside an
 * interrupted syscall goes back into it at once (restore/restart.c); were
 * its code page missing, a signal arriving during that fault would be
 * handled before the syscall is re-entered, and pause() would sleep through
 * it (sigwake/pause_woken_by_a_signal_right_after_lazy_restore).
 */
int lzd_prefetch_resume(struct lzd *d, size_t m, const struct rimg_proc *p)
{
	struct lzd_mm *mm = d->mms[m];
	int err = 0;

	for (size_t t = 0; !err && mm->uffd >= 0 && t < p->nr_threads; t++) {
		const ThreadInfoX86 *ti = p->threads[t].core->thread_info;
		uint64_t want[4];

		if (!ti || !ti->gpregs)
			continue;
		want[0] = ti->gpregs->ip & ~(P - 1);
		want[1] = ti->gpregs->sp & ~(P - 1);
		want[2] = want[1] - P;
		want[3] = want[1] - 2 * P;
		for (int k = 0; !err && k < 4; k++) {
			const struct lz_run *r = lz_next(&mm->idx, want[k]);

			if (!r || r->addr > want[k] || !lz_still(&mm->idx, want[k], want[k], 1))
				continue;
			err = throttle(d);
			if (!err)
				err = lzd_submit(d, m, K_WS, want[k], want[k], 1);
		}
	}
	if (!err)
		err = wait_mm(d, m);
	return err;
}
