// SPDX-License-Identifier: MIT
/*
 * The dirty-rate measuring loop (see dirtyrate.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dirtyrate.h"
#include "proc_parse.h"
#include "pstree.h"
#include "util.h"

#define LOG_PREFIX "dirtyrate: "
#include "log.h"

#define DR_PAGE 4096ULL

struct runs {
	struct page_run *r;
	size_t nr, cap;
};

static int runs_add(struct runs *s, const struct page_run *r, size_t n)
{
	if (s->nr + n > s->cap) {
		size_t ncap = s->cap ? s->cap : 256;
		struct page_run *p;

		while (ncap < s->nr + n)
			ncap *= 2;
		p = reallocarray(s->r, ncap, sizeof(*p));
		if (!p)
			return -ENOMEM;
		s->r = p;
		s->cap = ncap;
	}
	memcpy(s->r + s->nr, r, n * sizeof(*r));
	s->nr += n;
	return 0;
}

static int cmp_run(const void *a, const void *b)
{
	const struct page_run *x = a, *y = b;

	return x->start < y->start ? -1 : x->start > y->start;
}

/* Sort and merge into a union of runs; returns the pages covered. */
static uint64_t runs_union(struct runs *s)
{
	uint64_t pages = 0;
	size_t o = 0;

	qsort(s->r, s->nr, sizeof(*s->r), cmp_run);
	for (size_t i = 0; i < s->nr; i++) {
		uint64_t end = s->r[i].start + s->r[i].nr_pages * DR_PAGE;

		if (o && s->r[o - 1].start + s->r[o - 1].nr_pages * DR_PAGE >= s->r[i].start) {
			struct page_run *l = &s->r[o - 1];

			if (end > l->start + l->nr_pages * DR_PAGE)
				l->nr_pages = (end - l->start) / DR_PAGE;
			continue;
		}
		s->r[o++] = s->r[i];
	}
	s->nr = o;
	for (size_t i = 0; i < o; i++)
		pages += s->r[i].nr_pages;
	return pages;
}

static void vma_name(const struct vma_rec *v, char *buf, size_t len)
{
	const char *slash = strrchr(v->path, '/');

	if (v->kind & VMA_KIND_HEAP)
		snprintf(buf, len, "[heap]");
	else if (v->kind & VMA_KIND_STACK)
		snprintf(buf, len, "[stack]");
	else if (v->name[0])
		snprintf(buf, len, "%s", v->name);
	else if (v->path[0])
		snprintf(buf, len, "%.63s", slash ? slash + 1 : v->path);
	else
		snprintf(buf, len, "[anon]");
}

/* The report's VMA for [start, end) (found or added), or NULL without memory. */
static struct dr_vma *vma_slot(struct dr_report *rep, const struct vma_rec *v)
{
	struct dr_vma *n;

	for (size_t i = 0; i < rep->nr_vmas; i++)
		if (rep->vmas[i].start == v->start && rep->vmas[i].end == v->end)
			return &rep->vmas[i];
	n = reallocarray(rep->vmas, rep->nr_vmas + 1, sizeof(*n));
	if (!n)
		return NULL;
	rep->vmas = n;
	n = &rep->vmas[rep->nr_vmas++];
	memset(n, 0, sizeof(*n));
	n->start = v->start;
	n->end = v->end;
	vma_name(v, n->name, sizeof(n->name));
	return n;
}

/* Add written runs to the VMAs holding them (*wss 1: count into wss_pages). */
static int attribute(struct dr_report *rep, const struct vma_rec *vmas, size_t nv,
		     const struct page_run *r, size_t n, int wss)
{
	size_t v = 0;

	for (size_t i = 0; i < n; i++) {
		uint64_t a = r[i].start, e = a + r[i].nr_pages * DR_PAGE;

		while (a < e) {
			struct dr_vma *d;
			uint64_t end;

			while (v < nv && vmas[v].end <= a)
				v++;
			if (v == nv || vmas[v].start >= e)
				break; /* unmapped since: not attributed */
			if (vmas[v].start > a)
				a = vmas[v].start;
			end = e < vmas[v].end ? e : vmas[v].end;
			d = vma_slot(rep, &vmas[v]);
			if (!d)
				return -ENOMEM;
			if (wss)
				d->wss_pages += (end - a) / DR_PAGE;
			else
				d->scan_pages += (end - a) / DR_PAGE;
			a = end;
		}
	}
	return 0;
}

static int add_page(uint64_t addr, const struct dt_page *p, void *arg)
{
	struct dr_report *rep = arg;
	struct dr_page *n;

	if (!(rep->nr_pages & (rep->nr_pages + 1)) || !rep->pages) {
		n = reallocarray(rep->pages, (rep->nr_pages + 1) * 2, sizeof(*n));
		if (!n)
			return -ENOMEM;
		rep->pages = n;
	}
	rep->pages[rep->nr_pages++] = (struct dr_page){
		.addr = addr, .writes = p->writes, .first_ns = p->first_ns, .last_ns = p->last_ns
	};
	return 0;
}

/* Wait until @deadline (CLOCK_MONOTONIC ns); 1 if SIGINT/SIGTERM came first. */
static int wait_until(uint64_t deadline, const sigset_t *stop)
{
	for (;;) {
		uint64_t now = mono_ns();
		struct timespec ts;

		if (now >= deadline)
			return 0;
		ts.tv_sec = (time_t)((deadline - now) / 1000000000ULL);
		ts.tv_nsec = (long)((deadline - now) % 1000000000ULL);
		if (sigtimedwait(stop, NULL, &ts) > 0)
			return 1;
	}
}

/* One interval's scan: stop the process, read and re-arm, let it go. */
static int sample(struct tracker *t, struct tracker_round *round, uint64_t *t_scan,
		  uint64_t *frozen_ns)
{
	struct pstree tree;
	uint64_t t0 = mono_ns();
	int err;

	err = pstree_freeze(&tree, t->pid);
	if (err)
		return err;
	*t_scan = mono_ns();
	err = tracker_round(t, round);
	pstree_release(&tree);
	pstree_free(&tree);
	*frozen_ns = mono_ns() - t0;
	return err;
}

/*
 * @start: when the process was stopped for arming. Writes it would have made
 * during that stop are made right after it and counted in the first
 * interval, so the first interval starts there too.
 */
static int measure(const struct dirtyrate_opts *o, struct tracker *t, struct dr_report *rep,
		   struct runs *all, const sigset_t *stop, uint64_t start)
{
	uint64_t interval = (uint64_t)(o->interval_ms ? o->interval_ms : 1000) * 1000000ULL;
	uint64_t duration = (uint64_t)((o->duration_s > 0 ? o->duration_s : 5) * 1e9);
	uint64_t prev = start;
	int err = 0;

	rep->interval_ms = interval / 1000000ULL;
	for (uint64_t k = 1; !err && (k - 1) * interval < duration; k++) {
		struct tracker_round round = { 0 };
		struct vma_rec *vmas = NULL;
		struct dr_interval *iv;
		uint64_t t_scan = 0, frozen = 0, deadline = start + k * interval;
		size_t nv = 0;

		if (deadline > start + duration)
			deadline = start + duration;
		if (wait_until(deadline, stop)) {
			pr_info("pid %d: interrupted: reporting %zu interval(s)", o->pid,
				rep->nr_iv);
			break;
		}
		err = sample(t, &round, &t_scan, &frozen);
		if (err) {
			pr_errno(err, "pid %d: interval %llu", o->pid, (unsigned long long)k);
			tracker_round_free(&round);
			break;
		}
		iv = reallocarray(rep->iv, rep->nr_iv + 1, sizeof(*iv));
		if (!iv) {
			err = -ENOMEM;
			tracker_round_free(&round);
			break;
		}
		rep->iv = iv;
		iv = &rep->iv[rep->nr_iv++];
		*iv = (struct dr_interval){ .t_start_ns = prev,
					    .t_end_ns = t_scan,
					    .scan_pages = round.written_pages,
					    .bpf_pages = round.bpf.distinct,
					    .bpf_faults = round.bpf.faults,
					    .frozen_ns = frozen };
		rep->bpf = round.has_bpf;
		if (round.tracked_pages > rep->tracked_pages)
			rep->tracked_pages = round.tracked_pages;
		prev = t_scan;
		if (round.new_vmas)
			pr_debug("pid %d: %zu new VMA(s) registered", o->pid, round.new_vmas);
		err = runs_add(all, round.written, round.nr_written);
		if (!err)
			err = proc_read_vmas(o->pid, &vmas, &nv, NULL);
		if (!err)
			err = attribute(rep, vmas, nv, round.written, round.nr_written, 0);
		if (!err) {
			/* The union so far, to keep the list short, and each VMA's share of it. */
			rep->wss_pages = runs_union(all);
			for (size_t i = 0; i < rep->nr_vmas; i++)
				rep->vmas[i].wss_pages = 0;
			err = attribute(rep, vmas, nv, all->r, all->nr, 1);
		}
		free(vmas);
		tracker_round_free(&round);
		if (!err)
			pr_info("interval %zu: %llu pages written (%s), %llu (BPF)", rep->nr_iv,
				(unsigned long long)iv->scan_pages, tracker_scan_name(t->mode),
				(unsigned long long)iv->bpf_pages);
	}
	return err;
}

int dirtyrate_measure(const struct dirtyrate_opts *o, struct dr_report *rep)
{
	struct tracker_opts to = o->track;
	struct tracker *t = NULL;
	struct runs all = { 0 };
	struct proc_stat ps;
	struct pstree tree;
	sigset_t stop, old;
	uint64_t t_armed;
	int err;

	memset(rep, 0, sizeof(*rep));
	rep->pid = o->pid;
	rep->page_size = DR_PAGE;
	rep->method = "uffd-wp+pagemap_scan";
	if (tracker_is_armed(o->pid)) {
		pr_err("pid %d is tracked for a pre-dump chain; measuring would re-arm its dirty bits "
		       "and break the chain (ferry track --stop -t %d first)",
		       o->pid, o->pid);
		return -EBUSY;
	}
	err = proc_parse_stat(o->pid, 0, &ps);
	if (err) {
		pr_errno(err, "pid %d", o->pid);
		return err;
	}
	memcpy(rep->comm, ps.comm, sizeof(rep->comm));
	sigemptyset(&stop);
	sigaddset(&stop, SIGINT);
	sigaddset(&stop, SIGTERM);
	sigprocmask(SIG_BLOCK, &stop, &old);

	tracker_load_bpf(o->pid, &to);
	err = pstree_freeze(&tree, o->pid);
	if (err)
		goto out;
	t_armed = mono_ns();
	err = tracker_arm(&t, o->pid, &to);
	pstree_release(&tree);
	pstree_free(&tree);
	if (err)
		goto out;
	if (t->mode == TRACKER_SOFT_DIRTY)
		rep->method = "soft-dirty+pagemap";
	err = measure(o, t, rep, &all, &stop, t_armed);
	if (t->bpf) {
		int e = dirty_bpf_for_each_page(t->bpf, add_page, rep);

		if (e)
			pr_warn("pid %d: cannot read the per-page write counts: %s", o->pid,
				strerror(-e));
	}
	tracker_stop(t, 0);
out:
	if (to.loaded)
		dirty_bpf_close(to.loaded);
	sigprocmask(SIG_SETMASK, &old, NULL);
	free(all.r);
	return err;
}

void dirtyrate_report_free(struct dr_report *rep)
{
	free(rep->iv);
	free(rep->vmas);
	free(rep->pages);
	memset(rep, 0, sizeof(*rep));
}
