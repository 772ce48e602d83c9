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
 *
 * This file holds the loop, the control socket and the address spaces;
 * lazy_fault.c the requests to the page source, the copies of what they
 * bring, and the faults and events; lazy_prefetch.c the background, the
 * pages that are not lazy and the working set. lazy_daemon_priv.h is what
 * they share.
 */
#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_PREFIX "lazy-pages: "
#include "cow.h"
#include "lazy.h"
#include "lazy_ctl.h"
#include "lazy_daemon_priv.h"
#include "lazy_index.h"
#include "lazy_ws.h"
#include "log.h"
#include "page_source.h"
#include "pagemap_flags.h"
#include "proc_parse.h"
#include "shmem.h"
#include "util.h"

/* ---- address spaces ----------------------------------------------------------- */

void lzd_mm_release(struct lzd_mm *mm, const char *why)
{
	if (mm->done)
		return;
	if (mm->hold >= 0) {
		struct lazy_hmsg m = { .type = LH_RELEASE, .mm = mm->self };

		lazy_hsend(mm->hold, &m, NULL, 0); /* a lost holder is said once, elsewhere */
	}
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
	lzd_recent_free(mm);
	mm->done = 1;
}

int lzd_mm_add(struct lzd *d, int uffd, int pidfd, pid_t pid, pid_t src_pid, size_t *out)
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
	mm->hold = -1;
	mm->self = (int32_t)d->nr_mms;
	mm->pid = pid;
	mm->src_pid = src_pid;
	d->mms[d->nr_mms] = mm;
	*out = d->nr_mms++;
	return 0;
}

static void hold_lost(struct lzd *d, int err)
{
	pr_warn("the holder of the userfaultfds is gone (%s): a death of this daemon would now "
		"leave missing pages reading as zeros",
		strerror(-err));
	close(d->hold);
	d->hold = -1;
	for (size_t i = 0; i < d->nr_mms; i++)
		d->mms[i]->hold = -1;
}

void lzd_hold_mm(struct lzd *d, size_t m, int parent)
{
	struct lzd_mm *mm = d->mms[m];
	struct lazy_hmsg msg = { .type = LH_MM,
				 .mm = (int32_t)m,
				 .pid = mm->pid,
				 .src_pid = mm->src_pid,
				 .parent = parent };
	int fds[2], n = 0, err;

	if (d->hold < 0)
		return;
	if (mm->uffd >= 0) {
		fds[n++] = mm->uffd;
		msg.fds |= LH_FD_UFFD;
	}
	if (mm->pidfd >= 0) {
		fds[n++] = mm->pidfd;
		msg.fds |= LH_FD_PIDFD;
	}
	err = lazy_hsend(d->hold, &msg, fds, n);
	if (err)
		hold_lost(d, err);
	else
		mm->hold = d->hold;
}

void lzd_hold_event(struct lzd *d, size_t m, const struct uffd_msg *ev)
{
	struct lazy_hmsg msg = { .type = LH_EVENT, .mm = (int32_t)m, .ev = *ev };
	int err;

	if (d->hold < 0)
		return;
	err = lazy_hsend(d->hold, &msg, NULL, 0);
	if (err)
		hold_lost(d, err);
}

struct piece_filter {
	const struct rimg_proc *p;
	int lazy;
	int (*fn)(void *arg, uint64_t addr, uint64_t nr);
	void *arg;
};

static int filter_piece(void *arg, const struct rimg_page_run *run, const VmaEntry *vma,
			uint64_t addr, uint64_t file_off, uint64_t nr_pages)
{
	struct piece_filter *f = arg;

	/* Neither: filled by the shells before the fork, shared copy-on-write (cow.h). */
	if (!lazy_vma(vma) != !f->lazy || rcow_slot(f->p, vma))
		return 0;
	return f->fn(f->arg, addr, nr_pages);
}

/*
 * Call @fn on each piece of dumped pages of @p that lies in one VMA, with
 * lazy_vma() of that VMA equal to @lazy, in address order (rimg_walk_pieces()).
 */
int lzd_walk_pieces(const struct rimg_proc *p, int lazy,
		    int (*fn)(void *arg, uint64_t addr, uint64_t nr), void *arg)
{
	struct piece_filter f = { p, lazy, fn, arg };

	return rimg_walk_pieces(p, filter_piece, &f);
}

static int index_piece(void *arg, uint64_t addr, uint64_t nr)
{
	return lz_add(arg, addr, nr, addr);
}

/*
 * The dumped pages of the lazy shared memory objects @p maps, at their
 * addresses in each of its VMAs, with the object and offset as their source
 * (PS_SHMEM_ADDR): a page filled through one mapping leaves every index
 * (lzd_shmem_filled).
 */
static int index_shmem(const struct rimg *r, struct lz_index *x, const struct rimg_proc *p)
{
	int err = 0;

	for (size_t i = 0; i < p->mm->n_vmas && !err; i++) {
		const VmaEntry *v = p->mm->vmas[i];
		uint64_t off0 = v->pgoff, off1 = v->pgoff + (v->end - v->start);
		const struct rimg_shmem *s;
		size_t obj;

		s = rshmem_of_vma(r, v, &obj);
		if (!s || !s->lazy)
			continue;
		for (size_t k = 0; k < s->nr_runs && !err; k++) {
			const struct rimg_page_run *run = &s->runs[k];
			uint64_t a = run->vaddr > off0 ? run->vaddr : off0;
			uint64_t b = run->vaddr + run->nr_pages * P;

			if (b > off1)
				b = off1;
			if (a >= b || !(run->flags & (PE_PRESENT | PE_PARENT)))
				continue;
			err = lz_add(x, v->start + (a - off0), (b - a) / P, PS_SHMEM_ADDR(obj, a));
		}
	}
	return err;
}

int lzd_index_proc(struct lzd *d, size_t m, const struct rimg_proc *p)
{
	int err = lzd_walk_pieces(p, 1, index_piece, &d->mms[m]->idx);

	if (!err)
		err = index_shmem(d->r, &d->mms[m]->idx, p);

	d->pages_total += d->mms[m]->idx.pages;
	return err;
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
		uint64_t left = 0, shm = 0;

		d->go = 1;
		d->t_go = mono_ns();
		for (size_t i = 0; i < d->nr_mms; i++) {
			const struct lz_index *x = &d->mms[i]->idx;

			left += x->pages;
			for (size_t k = 0; k < x->n; k++)
				shm += x->v[k].src & PS_SHMEM_BIT ? x->v[k].nr : 0;
		}
		pr_info("the tree runs: %llu pages to fill in %zu process(es), %llu still "
			"missing (%llu of them of shared memory mappings)",
			(unsigned long long)d->pages_total, d->nr_mms, (unsigned long long)left,
			(unsigned long long)shm);
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
		st = lzd_mm_add(d, msg.has_uffd ? fds[1] : -1, fds[0], msg.pid, msg.pid, &m);
	if (!st) {
		fds[0] = fds[1] = -1;
		lzd_hold_mm(d, m, -1);
		st = lzd_fill_eager(d, m, p);
	}
	if (!st && d->mms[m]->uffd >= 0)
		st = lzd_index_proc(d, m, p);
	if (!st && d->mms[m]->uffd >= 0 && d->o->recent_first)
		st = lzd_recent_index(d, m, p);
	if (!st)
		st = lzd_prefetch_ws(d, m);
	if (!st)
		st = lzd_prefetch_resume(d, m, p);
	if (!st && d->mms[m]->ws_pages)
		pr_info("pid %d: %llu pages of its working set filled before it runs", msg.pid,
			(unsigned long long)d->mms[m]->ws_pages);
	if (!st && d->mms[m]->uffd < 0)
		lzd_mm_release(d->mms[m], "no lazy memory");
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
	uint64_t faults = 0, fp = 0, bg = 0, ws = 0, zero = 0, eager = 0, shm = 0;
	uint32_t p50 = 0, p99 = 0;
	long hwm;

	for (size_t i = 0; i < d->nr_mms; i++) {
		faults += d->mms[i]->faults;
		fp += d->mms[i]->fault_pages;
		bg += d->mms[i]->bg_pages;
		ws += d->mms[i]->ws_pages;
		zero += d->mms[i]->zero_pages;
		eager += d->mms[i]->eager_pages;
		shm += d->mms[i]->shmem_elsewhere;
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
	       "service p50 %u us, p99 %u us; peak RSS %ld KiB; %llu pages of shared memory "
	       "filled through another process's mapping",
	       d->failed ? "failed" : "done", (unsigned long long)(fp + bg + ws + shm),
	       (unsigned long long)d->pages_total,
	       (unsigned long long)(d->go ? (mono_ns() - d->t_go) / 1000000 : 0),
	       (unsigned long long)faults, (unsigned long long)fp, (unsigned long long)bg,
	       (unsigned long long)ws, (unsigned long long)zero, (unsigned long long)eager, p50,
	       p99, hwm, (unsigned long long)shm);
}

/* An address space is let go when nothing is missing and nothing is on the way. */
static size_t settle(struct lzd *d)
{
	size_t live = 0;

	for (size_t i = 0; i < d->nr_mms; i++) {
		struct lzd_mm *mm = d->mms[i];

		if (!mm->done && d->go && !mm->idx.pages && !mm->inflight)
			lzd_mm_release(mm, "all pages in");
		live += !mm->done;
	}
	return live;
}

int lazy_daemon_run(int sock, int hold, pid_t holder, const struct rimg *r, struct page_source *src,
		    const struct lazy_opts *o, struct lazy_ws *ws)
{
	struct lzd d = { .r = r,
			 .src = src,
			 .o = o,
			 .ws = ws,
			 .ctl = sock,
			 .hold = hold < 0 ? -1 : hold,
			 .holder_pid = holder };

	return lzd_run(&d);
}

int lzd_run(struct lzd *dp)
{
	struct lzd d = *dp;
	const struct lazy_opts *o = d.o;
	struct page_source *src = d.src;
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
				err = lzd_drain(&d, who[i]);
			else if (!d.mms[who[i]]->done)
				lzd_mm_release(d.mms[who[i]], "exited");
		}
		/* ...then answers, new processes, background. */
		if (!err)
			err = lzd_reap_all(&d);
		if (!err && d.ctl >= 0 && p[0].revents)
			err = on_ctl(&d);
		if (!err && bg_ok)
			err = lzd_background(&d, BG_PER_ROUND);
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
		lzd_source_failed(&d, err ? err : -EIO);
	}
	/* The working set first: the summary line says the daemon is over. */
	if (o->record_ws && d.go && !d.failed) {
		if (!lazy_ws_write(&d.rec, o->record_ws))
			pr_info("working set: %zu piece(s) written to %s", d.rec.n, o->record_ws);
	}
	if (d.go || d.failed)
		summary(&d);
	if (d.hold >= 0) {
		/*
		 * Over on its own: every page is in, who lacked pages is killed, or
		 * the restore stopped (and kills its tree). The holder may go.
		 */
		struct lazy_hmsg end = { .type = LH_END };

		lazy_hsend(d.hold, &end, NULL, 0);
		close(d.hold);
		d.hold = -1;
		/* It exits at once: reaped here, not left to whoever inherits it. */
		for (int i = 0; d.holder_pid > 0 && i < 100; i++) {
			if (waitpid(d.holder_pid, NULL, WNOHANG) == d.holder_pid)
				break;
			usleep(10000);
		}
		for (size_t i = 0; i < d.nr_mms; i++)
			d.mms[i]->hold = -1;
	}
	for (size_t i = 0; i < d.nr_mms; i++) {
		lzd_mm_release(d.mms[i], "daemon exits");
		free(d.mms[i]);
	}
	free(d.mms);
	for (struct lzd_req *q = d.inflight; q; q = q->next)
		q->kind = K_BG;
	lzd_req_free_list(d.inflight);
	lzd_req_free_list(d.free_win);
	lzd_req_free_list(d.free_bg);
	lazy_ws_free(&d.rec);
	free(d.lat);
	if (d.ctl >= 0)
		close(d.ctl);
	return d.failed ? 1 : 0;
}
