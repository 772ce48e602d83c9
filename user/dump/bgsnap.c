// SPDX-License-Identifier: MIT
/*
 * Background snapshot (see bgsnap.h): the synchronous userfaultfd of each
 * process, the store of pages copied ahead of the writer, the fault thread,
 * and the page writer hook.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#define LOG_PREFIX "bgsnap: "
#include "bgsnap.h"
#include "compat.h"
#include "log.h"
#include "rsys.h"
#include "uffd.h"
#include "util.h"

#define PG 4096ull
#define BLOCK_PAGES 256u	   /* pages per block of the store */
#define PRESAVE_MAX (256ull << 20) /* more file-private memory than this: copy frozen */
#define EVENTS (UFFD_FEATURE_EVENT_REMOVE | UFFD_FEATURE_EVENT_UNMAP | UFFD_FEATURE_EVENT_REMAP)

/* Pages copied ahead of the writer, by address: open addressing, keys are address + 1. */
struct page_store {
	uint64_t *keys;
	uint32_t *slot;
	size_t cap, nr;
	uint8_t **blocks;
	size_t nr_blocks;
};

struct bgsnap_proc {
	struct bgsnap *b;
	pid_t pid;
	int uffd;
	const struct dump_mm_plan *plan;
	struct dump_mm_range *wp; /* the registered ranges, in address order */
	size_t nr_wp;
	uint64_t frontier; /* the writer copied and released every page below this */
	struct page_store store;
};

struct bgsnap {
	pthread_mutex_t lock; /* the procs' stores and frontiers, the counters */
	pthread_t thread;
	int started, stop_fd, err, spoiled;
	unsigned chunks; /* read by the writer so far */
	struct bgsnap_proc *procs;
	size_t nr, max;
	struct bgsnap_stats st;
};

/* ---- the store ------------------------------------------------------------------------------ */

static size_t store_hash(uint64_t addr, size_t cap)
{
	return (size_t)(((addr >> 12) * 0x9E3779B97F4A7C15ull) >> 20) & (cap - 1);
}

static uint8_t *store_page(const struct page_store *s, uint32_t slot)
{
	return s->blocks[slot / BLOCK_PAGES] + (size_t)(slot % BLOCK_PAGES) * PG;
}

static uint8_t *store_find(const struct page_store *s, uint64_t addr)
{
	if (!s->nr)
		return NULL;
	for (size_t i = store_hash(addr, s->cap);; i = (i + 1) & (s->cap - 1)) {
		if (!s->keys[i])
			return NULL;
		if (s->keys[i] == addr + 1)
			return store_page(s, s->slot[i]);
	}
}

static int store_grow(struct page_store *s)
{
	size_t ncap = s->cap ? s->cap * 2 : 1024;
	uint64_t *keys = calloc(ncap, sizeof(*keys));
	uint32_t *slot = calloc(ncap, sizeof(*slot));

	if (!keys || !slot) {
		free(keys);
		free(slot);
		return -ENOMEM;
	}
	for (size_t i = 0; i < s->cap; i++) {
		size_t j;

		if (!s->keys[i])
			continue;
		for (j = store_hash(s->keys[i] - 1, ncap); keys[j]; j = (j + 1) & (ncap - 1))
			;
		keys[j] = s->keys[i];
		slot[j] = s->slot[i];
	}
	free(s->keys);
	free(s->slot);
	s->keys = keys;
	s->slot = slot;
	s->cap = ncap;
	return 0;
}

/* A page of the store for @addr (new, not filled), or NULL without memory. */
static uint8_t *store_add(struct page_store *s, uint64_t addr)
{
	size_t i;

	if ((s->nr + 1) * 2 > s->cap && store_grow(s))
		return NULL;
	if (s->nr / BLOCK_PAGES == s->nr_blocks) {
		uint8_t **nb = realloc(s->blocks, (s->nr_blocks + 1) * sizeof(*nb));
		uint8_t *blk = malloc(BLOCK_PAGES * PG);

		if (!nb || !blk) {
			if (nb)
				s->blocks = nb;
			free(blk);
			return NULL;
		}
		s->blocks = nb;
		s->blocks[s->nr_blocks++] = blk;
	}
	for (i = store_hash(addr, s->cap); s->keys[i]; i = (i + 1) & (s->cap - 1))
		;
	s->keys[i] = addr + 1;
	s->slot[i] = (uint32_t)s->nr++;
	return store_page(s, s->slot[i]);
}

static void store_free(struct page_store *s)
{
	for (size_t i = 0; i < s->nr_blocks; i++)
		free(s->blocks[i]);
	free(s->blocks);
	free(s->keys);
	free(s->slot);
	memset(s, 0, sizeof(*s));
}

/* ---- setting up, frozen --------------------------------------------------------------------- */

int bgsnap_create(struct bgsnap **out, size_t max_procs)
{
	struct bgsnap *b = calloc(1, sizeof(*b));

	*out = NULL;
	if (!b)
		return -ENOMEM;
	b->procs = calloc(max_procs ? max_procs : 1, sizeof(*b->procs));
	if (!b->procs) {
		free(b);
		return -ENOMEM;
	}
	b->max = max_procs;
	b->stop_fd = -1;
	{
		pthread_mutexattr_t a;

		/* The fault thread runs SCHED_FIFO: the writer holding the lock inherits that. */
		pthread_mutexattr_init(&a);
		pthread_mutexattr_setprotocol(&a, PTHREAD_PRIO_INHERIT);
		pthread_mutex_init(&b->lock, &a);
		pthread_mutexattr_destroy(&a);
	}
	*out = b;
	return 0;
}

/*
 * The target makes a userfaultfd (sync: no UFFD_USER_MODE_ONLY), ferry takes
 * it and the target's copy is closed at once. Returns ferry's fd, -EOPNOTSUPP
 * when the target may not make one (the reason logged), or -errno.
 */
static int remote_uffd(pid_t pid)
{
	struct rsys r;
	long fd = -1, ret = 0;
	int err, local = -1;

	err = rsys_prepare(&r, pid);
	if (err)
		return err;
	err = rsys_call(&r, &fd, __NR_userfaultfd, O_CLOEXEC | O_NONBLOCK, 0, 0, 0, 0, 0);
	if (!err && fd < 0) {
		pr_info("pid %d: userfaultfd(2) for kernel faults refused in the target (%s): "
			"its memory is copied while it is frozen",
			pid, strerror((int)-fd));
		err = -EOPNOTSUPP;
	}
	if (!err) {
		local = rsys_getfd(pid, (int)fd);
		if (local < 0) {
			err = local;
			pr_errno(err, "pid %d: pidfd_getfd of its userfaultfd %ld", pid, fd);
		}
		/* ferry holds the only reference from here: its death releases the uffd. */
		rsys_call(&r, &ret, __NR_close, (uint64_t)fd, 0, 0, 0, 0, 0);
	}
	rsys_finish(&r);
	return err ? err : local;
}

/* The first registered range of @p that ends above @addr (p->nr_wp if none): they are sorted. */
static size_t wp_first(const struct bgsnap_proc *p, uint64_t addr)
{
	size_t lo = 0, hi = p->nr_wp;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (p->wp[mid].end <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Bytes of [a, e) inside @p's registered ranges. */
static uint64_t wp_bytes(const struct bgsnap_proc *p, uint64_t a, uint64_t e)
{
	uint64_t n = 0;

	for (size_t k = wp_first(p, a); k < p->nr_wp && p->wp[k].start < e; k++) {
		uint64_t s = p->wp[k].start > a ? p->wp[k].start : a;
		uint64_t t = p->wp[k].end < e ? p->wp[k].end : e;

		n += t - s;
	}
	return n;
}

/* Copy [a, e) of @p's memory into its store (while frozen), through /proc/PID/mem. */
static int presave(struct bgsnap_proc *p, int mem, uint64_t a, uint64_t e)
{
	for (; a < e; a += PG) {
		uint8_t *dst = store_add(&p->store, a);
		ssize_t n;

		if (!dst)
			return -ENOMEM;
		n = pread(mem, dst, PG, (off_t)a);
		if (n != (ssize_t)PG) {
			int err = n < 0 ? -errno : -EIO;

			pr_errno(err, "pid %d: cannot read the page at %#llx", p->pid,
				 (unsigned long long)a);
			return err;
		}
		p->b->st.pages_presaved++;
	}
	return 0;
}

/* Copy the part of [a, e) outside the registered ranges now; count the rest. */
static int arm_seg(struct bgsnap_proc *p, int mem, uint64_t a, uint64_t e)
{
	int err = 0;

	for (size_t k = wp_first(p, a); k < p->nr_wp && a < e && !err; k++) {
		const struct dump_mm_range *w = &p->wp[k];
		uint64_t s, t;

		if (w->start >= e)
			break;
		s = w->start > a ? w->start : a;
		t = w->end < e ? w->end : e;
		if (s > a)
			err = presave(p, mem, a, s);
		p->b->st.pages_wp += (t - s) / PG;
		a = t;
	}
	if (!err && a < e)
		err = presave(p, mem, a, e);
	return err;
}

/*
 * Protect every registered range, whole, one call each (pages not in the plan
 * are not present, or in the parent images: a write to one only lifts its
 * protection). The kernel's page table work is most of the frozen time of a
 * large process (35-160 ms per GiB on these loaded VMs). Two threads
 * sharing it were tried: no gain showed (72-104 ms per GiB), so one.
 */
static int protect_all(const struct bgsnap_proc *p)
{
	int err = 0;

	for (size_t k = 0; k < p->nr_wp && !err; k++) {
		err = uffd_writeprotect(p->uffd, p->wp[k].start, p->wp[k].end - p->wp[k].start, 1);
		if (err)
			pr_errno(err, "pid %d: cannot write-protect %#llx-%#llx", p->pid,
				 (unsigned long long)p->wp[k].start,
				 (unsigned long long)p->wp[k].end);
	}
	return err;
}

/* Register @p's anonymous VMAs; -EOPNOTSUPP (logged) if one has a userfaultfd already. */
static int register_vmas(struct bgsnap_proc *p)
{
	const struct dump_mm_plan *plan = p->plan;
	int err = 0;

	p->wp = calloc(plan->nr_anon ? plan->nr_anon : 1, sizeof(*p->wp));
	if (!p->wp)
		return -ENOMEM;
	for (size_t i = 0; i < plan->nr_anon && !err; i++) {
		const struct dump_mm_range *v = &plan->anon[i];
		uint64_t ioctls = 0;

		err = uffd_register(p->uffd, v->start, v->end - v->start, UFFDIO_REGISTER_MODE_WP,
				    &ioctls);
		if (err == -EBUSY) {
			pr_info("pid %d: VMA %#llx-%#llx has a userfaultfd already (the program's "
				"own): its memory is copied while it is frozen",
				p->pid, (unsigned long long)v->start, (unsigned long long)v->end);
			return -EOPNOTSUPP;
		}
		if (err == -EINVAL) {
			/* A kind the kernel does not write-protect: copied while frozen. */
			pr_debug("pid %d: VMA %#llx-%#llx cannot be write-protected", p->pid,
				 (unsigned long long)v->start, (unsigned long long)v->end);
			err = 0;
			continue;
		}
		if (err) {
			pr_errno(err, "pid %d: cannot register VMA %#llx-%#llx", p->pid,
				 (unsigned long long)v->start, (unsigned long long)v->end);
			return err;
		}
		if (!(ioctls & (1ull << _UFFDIO_WRITEPROTECT))) {
			pr_info("pid %d: no UFFDIO_WRITEPROTECT on %#llx-%#llx: its memory is "
				"copied while it is frozen",
				p->pid, (unsigned long long)v->start, (unsigned long long)v->end);
			return -EOPNOTSUPP;
		}
		p->wp[p->nr_wp++] = *v;
	}
	return err;
}

int bgsnap_add_proc(struct bgsnap *b, pid_t pid, const struct dump_mm_plan *plan,
		    struct bgsnap_proc **out)
{
	struct bgsnap_proc *p;
	uint64_t got = 0, presave_bytes = 0, t[4] = { 0 };
	char path[64];
	int err, mem = -1;

	*out = NULL;
	if (b->nr == b->max)
		return -ENOSPC;
	p = &b->procs[b->nr];
	memset(p, 0, sizeof(*p));
	p->b = b;
	p->pid = pid;
	p->plan = plan;
	p->uffd = -1;
	/* File-private pages are copied now: too many of them and the copy may as well be frozen.
	 */
	for (size_t i = 0; i < plan->nr; i++)
		if (!plan->segs[i].parent)
			presave_bytes += plan->segs[i].nr_pages * PG;
	t[0] = mono_us();
	p->uffd = remote_uffd(pid);
	t[1] = mono_us();
	if (p->uffd < 0) {
		err = p->uffd;
		p->uffd = -1;
		goto fail;
	}
	err = uffd_api(p->uffd, EVENTS, &got);
	if (!err && !(got & UFFD_FEATURE_PAGEFAULT_FLAG_WP))
		err = -EINVAL;
	if (err) {
		pr_info("pid %d: no synchronous uffd-wp with REMOVE/UNMAP/REMAP events here (%s): "
			"its memory is copied while it is frozen",
			pid, strerror(-err));
		err = -EOPNOTSUPP;
		goto fail;
	}
	err = register_vmas(p);
	if (err)
		goto fail;
	t[2] = mono_us();
	for (size_t i = 0; i < plan->nr; i++) {
		const struct dump_mm_seg *g = &plan->segs[i];

		if (!g->parent)
			presave_bytes -= wp_bytes(p, g->start, g->start + g->nr_pages * PG);
	}
	if (presave_bytes > PRESAVE_MAX) {
		pr_info("pid %d: %llu MiB of private file mappings: its memory is copied while it "
			"is frozen",
			pid, (unsigned long long)(presave_bytes >> 20));
		err = -EOPNOTSUPP;
		goto fail;
	}
	snprintf(path, sizeof(path), "/proc/%d/mem", pid);
	mem = open(path, O_RDONLY | O_CLOEXEC);
	if (mem < 0) {
		err = -errno;
		pr_perror("pid %d: cannot open %s", pid, path);
		goto fail;
	}
	err = protect_all(p);
	t[3] = mono_us();
	for (size_t i = 0; i < plan->nr && !err; i++) {
		const struct dump_mm_seg *g = &plan->segs[i];

		if (!g->parent)
			err = arm_seg(p, mem, g->start, g->start + g->nr_pages * PG);
	}
	close(mem);
	if (err)
		goto fail;
	b->nr++;
	b->st.procs++;
	*out = p;
	pr_debug("pid %d: %zu VMA(s) write-protected for the background copy: userfaultfd made "
		 "in %llu us, registered in %llu us, protected in %llu us, file pages copied in "
		 "%llu us",
		 pid, p->nr_wp, (unsigned long long)(t[1] - t[0]),
		 (unsigned long long)(t[2] - t[1]), (unsigned long long)(t[3] - t[2]),
		 (unsigned long long)(mono_us() - t[3]));
	return 0;
fail:
	if (p->uffd >= 0)
		close(p->uffd); /* the last reference: unregisters, lifts the protection */
	store_free(&p->store);
	free(p->wp);
	memset(p, 0, sizeof(*p));
	return err;
}

/* ---- the fault thread ----------------------------------------------------------------------- */

/* Does [a, e) hold pages of the plan not copied yet (at or above the frontier)? */
static int holds_uncopied(const struct bgsnap_proc *p, uint64_t a, uint64_t e)
{
	const struct dump_mm_plan *plan = p->plan;

	size_t lo = 0, hi = plan->nr;

	if (a < p->frontier)
		a = p->frontier;
	/* The segments are sorted and disjoint: the first one ending after @a. */
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (plan->segs[mid].start + plan->segs[mid].nr_pages * PG <= a)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (size_t i = lo; i < plan->nr && a < e; i++) {
		const struct dump_mm_seg *g = &plan->segs[i];
		uint64_t ge = g->start + g->nr_pages * PG;

		if (g->start >= e)
			break;
		if (!g->parent && ge > a)
			return 1;
	}
	return 0;
}

static int in_wp(const struct bgsnap_proc *p, uint64_t addr)
{
	size_t k = wp_first(p, addr);

	return k < p->nr_wp && p->wp[k].start <= addr;
}

/* A write-protect fault: copy the page first if the writer has not, then let the thread go. */
static void on_fault(struct bgsnap_proc *p, uint64_t addr, uint64_t t0)
{
	struct bgsnap *b = p->b;
	uint64_t page = addr & ~(PG - 1), dt;
	struct uffdio_range wake = { .start = page, .len = PG };
	int err;

	pthread_mutex_lock(&b->lock);
	if (page >= p->frontier && in_wp(p, page) && !store_find(&p->store, page) &&
	    holds_uncopied(p, page, page + PG)) {
		uint8_t *dst = store_add(&p->store, page);
		struct iovec l = { .iov_base = dst, .iov_len = PG };
		struct iovec r = { .iov_base = (void *)(uintptr_t)page, .iov_len = PG };

		if (!dst || process_vm_readv(p->pid, &l, 1, &r, 1, 0) != (ssize_t)PG) {
			err = dst ? -errno : -ENOMEM;
			pr_errno(err, "pid %d: cannot copy the page at %#llx before its write",
				 p->pid, (unsigned long long)page);
			if (!b->err)
				b->err = err ? err : -EIO;
		} else {
			b->st.pages_first++;
		}
	}
	/* Lifting the protection wakes the thread; a range gone meanwhile needs a plain wake. */
	if (uffd_writeprotect(p->uffd, page, PG, 0))
		ioctl(p->uffd, UFFDIO_WAKE, &wake);
	dt = mono_ns() - t0;
	b->st.faults++;
	b->st.fault_ns_sum += dt;
	if (dt > b->st.fault_ns_max)
		b->st.fault_ns_max = dt;
	pthread_mutex_unlock(&b->lock);
}

static void on_event(struct bgsnap_proc *p, const struct uffd_msg *m)
{
	struct bgsnap *b = p->b;
	uint64_t a, e;
	const char *what;

	switch (m->event) {
	case UFFD_EVENT_REMOVE:
	case UFFD_EVENT_UNMAP:
		a = m->arg.remove.start;
		e = m->arg.remove.end;
		what = m->event == UFFD_EVENT_REMOVE ? "dropped (madvise)" : "unmapped";
		break;
	case UFFD_EVENT_REMAP:
		a = m->arg.remap.from;
		e = a + m->arg.remap.len;
		what = "moved (mremap)";
		break;
	default:
		return;
	}
	pthread_mutex_lock(&b->lock);
	b->st.events++;
	if (holds_uncopied(p, a, e)) {
		if (!b->spoiled)
			pr_info("pid %d: %#llx-%#llx %s before its pages were copied: the "
				"background snapshot is spoiled",
				p->pid, (unsigned long long)a, (unsigned long long)e, what);
		b->spoiled = 1;
	}
	pthread_mutex_unlock(&b->lock);
}

static void drain_uffd(struct bgsnap_proc *p)
{
	struct uffd_msg msgs[16];
	ssize_t n;

	while ((n = read(p->uffd, msgs, sizeof(msgs))) > 0) {
		uint64_t t0 = mono_ns();

		for (size_t i = 0; i < (size_t)n / sizeof(msgs[0]); i++) {
			if (msgs[i].event == UFFD_EVENT_PAGEFAULT)
				on_fault(p, msgs[i].arg.pagefault.address, t0);
			else
				on_event(p, &msgs[i]);
		}
	}
}

static void *fault_main(void *arg)
{
	struct bgsnap *b = arg;
	struct pollfd *pfd = calloc(b->nr + 1, sizeof(*pfd));

	if (!pfd) {
		b->err = -ENOMEM;
		return NULL;
	}
	pfd[0] = (struct pollfd){ .fd = b->stop_fd, .events = POLLIN };
	for (size_t i = 0; i < b->nr; i++)
		pfd[i + 1] = (struct pollfd){ .fd = b->procs[i].uffd, .events = POLLIN };
	for (;;) {
		int n = poll(pfd, b->nr + 1, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			b->err = -errno;
			break;
		}
		for (size_t i = 0; i < b->nr; i++)
			if (pfd[i + 1].revents & POLLIN)
				drain_uffd(&b->procs[i]);
		if (pfd[0].revents & POLLIN)
			break;
	}
	free(pfd);
	return NULL;
}

int bgsnap_start(struct bgsnap *b)
{
	int err;

	b->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (b->stop_fd < 0)
		return -errno;
	err = -pthread_create(&b->thread, NULL, fault_main, b);
	if (err) {
		pr_errno(err, "cannot start the fault thread");
		return err;
	}
	b->started = 1;
	/*
	 * A thread of the target waits in its write fault until this thread runs:
	 * on a busy machine, scheduling latency would be most of that wait.
	 */
	{
		struct sched_param sp = { .sched_priority = 1 };
		int e = pthread_setschedparam(b->thread, SCHED_FIFO, &sp);

		if (e)
			pr_debug("the fault thread stays SCHED_OTHER: %s", strerror(e));
	}
	return 0;
}

/* ---- the writer's hook ---------------------------------------------------------------------- */

/*
 * No lock over the read (no hook before it): a page of the chunk the fault
 * thread releases while it is read was copied into the store first (it is
 * above the frontier), and that copy replaces whatever the read found, under
 * the lock, after it.
 */
static int hook_after(void *arg, uint8_t *buf, uint64_t addr, size_t len, int err)
{
	struct bgsnap_proc *p = arg;
	struct bgsnap *b = p->b;
	uint64_t e = addr + len;

	pthread_mutex_lock(&b->lock);
	if (!err && p->store.nr)
		for (uint64_t a = addr; a < e; a += PG) {
			const uint8_t *s = store_find(&p->store, a);

			if (s)
				memcpy(buf + (a - addr), s, PG);
		}
	for (size_t k = wp_first(p, addr); k < p->nr_wp && p->wp[k].start < e && !err; k++) {
		uint64_t s = p->wp[k].start > addr ? p->wp[k].start : addr;
		uint64_t t = p->wp[k].end < e ? p->wp[k].end : e;

		if (s >= t)
			continue;
		err = uffd_writeprotect(p->uffd, s, t - s, 0);
		if (err)
			pr_errno(err, "pid %d: cannot lift the write-protection of %#llx-%#llx",
				 p->pid, (unsigned long long)s, (unsigned long long)t);
	}
	if (!err && e > p->frontier)
		p->frontier = e;
	if (err && b->spoiled)
		err = -EAGAIN; /* the memory changed under the copy: the caller starts again */
	pthread_mutex_unlock(&b->lock);
	if (++b->chunks == 4)
		fault_point("bg-mid"); /* tests: ferry killed with most of the memory protected */
	return err;
}

void bgsnap_hook(struct bgsnap_proc *p, struct page_writer_hook *h)
{
	h->before = NULL;
	h->after = hook_after;
	h->arg = p;
}

int bgsnap_destroy(struct bgsnap *b, struct bgsnap_stats *st)
{
	int err;

	if (!b)
		return 0;
	if (b->started) {
		uint64_t one = 1;

		if (write(b->stop_fd, &one, sizeof(one)) != sizeof(one))
			pr_perror("cannot stop the fault thread");
		pthread_join(b->thread, NULL);
	}
	/*
	 * An unmap or mremap is reported after it happened: read what is still
	 * queued, so that one the copy ran into is known as such (spoiled).
	 */
	for (size_t i = 0; i < b->nr; i++)
		drain_uffd(&b->procs[i]);
	for (size_t i = 0; i < b->nr; i++) {
		struct bgsnap_proc *p = &b->procs[i];

		/* Explicitly, though closing the last reference does it too. */
		for (size_t k = 0; k < p->nr_wp; k++)
			uffd_writeprotect(p->uffd, p->wp[k].start, p->wp[k].end - p->wp[k].start,
					  0);
		close(p->uffd);
		b->st.store_bytes += p->store.nr * PG;
		store_free(&p->store);
		free(p->wp);
	}
	if (b->stop_fd >= 0)
		close(b->stop_fd);
	err = b->err;
	b->st.spoiled = b->spoiled;
	if (st)
		*st = b->st;
	pthread_mutex_destroy(&b->lock);
	free(b->procs);
	free(b);
	return err;
}
