// SPDX-License-Identifier: MIT
/*
 * The split page source (page_source_split.h): the chain here first, the
 * page server for the rest. Local parts are read in submit(); remote parts
 * are sub-requests of the remote source, whose completion completes their
 * request. Finished requests wait in a queue whose eventfd is readable while
 * it is not empty, so a caller that polls never misses one.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "images.h"
#include "pagemap_flags.h"
#include "page_source_local.h"
#include "page_source_split.h"

#define LOG_PREFIX "page source: "
#include "log.h"

#define PAGE ((uint64_t)PS_PAGE_SIZE)

/* A request in progress: how many of its remote parts are still out. */
struct whole {
	struct page_req *req;
	unsigned pending;
	int err;
};

struct part {
	struct page_req pr; /* to the remote source; pr.cookie points back here */
	struct whole *w;
};

struct split {
	struct page_source src;
	const struct rimg *r;
	struct page_source *local, *remote;
	int efd;
	struct page_req **done; /* finished requests not reaped yet: done[head .. len) */
	size_t head, len, cap;
	int dead; /* the remote source failed: -errno */
	struct page_source_split_stats st;
	char name[];
};

static const struct page_source_ops split_ops;

static const struct rimg_proc *find_proc(const struct rimg *r, pid_t pid)
{
	for (size_t i = 0; i < r->nr_procs; i++)
		if (r->procs[i].pid == pid)
			return &r->procs[i];
	return NULL;
}

/* Whether page @addr of @p is held here (a pages file of its level); unknown pages are not. */
static int held_here(const struct rimg_proc *p, uint64_t addr)
{
	const struct rimg_page_run *run;

	if (!p || !p->pm)
		return 0;
	run = rimg_find_page(p->pm, addr);
	return run && (run->flags & (PE_PRESENT | PE_PARENT)) && run->level < p->pm->nr_files &&
	       p->pm->files[run->level].fd >= 0;
}

static int push_done(struct split *s, struct page_req *req)
{
	uint64_t one = 1;

	if (s->len == s->cap) {
		if (s->head) {
			memmove(s->done, s->done + s->head, (s->len - s->head) * sizeof(*s->done));
			s->len -= s->head;
			s->head = 0;
		} else {
			size_t cap = s->cap ? s->cap * 2 : 64;
			struct page_req **nd = realloc(s->done, cap * sizeof(*nd));

			if (!nd)
				return -ENOMEM;
			s->done = nd;
			s->cap = cap;
		}
	}
	s->done[s->len++] = req;
	if (write(s->efd, &one, sizeof(one)) != sizeof(one))
		return -errno;
	return 0;
}

/* Pages [i, i + n) of @w's request from the page server. */
static int submit_remote(struct split *s, struct whole *w, uint32_t i, uint32_t n)
{
	struct page_req *req = w->req;
	struct part *pt = calloc(1, sizeof(*pt));
	int err;

	if (!pt)
		return -ENOMEM;
	pt->w = w;
	pt->pr = (struct page_req){ .pid = req->pid,
				    .addr = req->addr + i * PAGE,
				    .nr = n,
				    .urgent = req->urgent,
				    .buf = (uint8_t *)req->buf + (size_t)i * PAGE,
				    .cookie = (uint64_t)(uintptr_t)pt };
	w->pending++;
	err = page_source_submit(s->remote, &pt->pr);
	if (err) {
		w->pending--;
		free(pt);
		return err;
	}
	s->st.remote_pages += n;
	if (req->urgent)
		s->st.remote_urgent_pages += n;
	return 0;
}

/* Pages [i, i + n) of @w's request from the chain here. */
static void read_local(struct split *s, struct whole *w, uint32_t i, uint32_t n)
{
	struct page_req *req = w->req;
	uint64_t missing = 0;
	int err;

	err = page_source_local_read(s->local, req->pid, req->addr + i * PAGE, n,
				     (uint8_t *)req->buf + (size_t)i * PAGE, &missing);
	if (err) {
		pr_err("%s: pid %d: cannot read page 0x%" PRIx64 " here: %s", s->src.name, req->pid,
		       missing, strerror(-err));
		if (!w->err)
			w->err = err == -ESRCH ? -ENOENT : err;
		return;
	}
	s->st.local_pages += n;
}

static int split_submit(struct page_source *src, struct page_req *req)
{
	struct split *s = (struct split *)src;
	const struct rimg_proc *p;
	struct whole *w;
	uint32_t i = 0;
	int err = 0;

	if (s->dead)
		return s->dead;
	if (req->nr < 1 || req->nr > PS_MAX_REQ_PAGES || req->addr % PAGE) {
		req->err = -EINVAL;
		return push_done(s, req);
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->req = req;
	p = find_proc(s->r, req->pid);
	while (i < req->nr && !err) {
		int here = held_here(p, req->addr + i * PAGE);
		uint32_t n = 1;

		while (i + n < req->nr && held_here(p, req->addr + (i + n) * PAGE) == here)
			n++;
		if (here)
			read_local(s, w, i, n);
		else
			err = submit_remote(s, w, i, n);
		i += n;
	}
	if (err && !w->pending) {
		free(w);
		return err; /* the remote source is dead: every later call fails the same */
	}
	if (err) {
		s->dead = err; /* parts already out complete (or fail) through reap() */
		w->err = err;
		return 0;
	}
	if (!w->pending) {
		req->err = w->err;
		free(w);
		return push_done(s, req);
	}
	return 0;
}

static int split_poll_fds(struct page_source *src, int *fds, int max)
{
	struct split *s = (struct split *)src;
	int n;

	if (max < 1)
		return 0;
	fds[0] = s->efd;
	n = page_source_poll_fds(s->remote, fds + 1, max - 1);
	return n < 0 ? 1 : n + 1;
}

static int pop_done(struct split *s, struct page_req **done)
{
	uint64_t v;

	if (s->head == s->len)
		return 0;
	*done = s->done[s->head++];
	if (s->head == s->len) {
		s->head = s->len = 0;
		if (read(s->efd, &v, sizeof(v)) < 0 && errno != EAGAIN)
			return -errno;
	}
	return 1;
}

static int split_reap(struct page_source *src, struct page_req **done)
{
	struct split *s = (struct split *)src;
	struct page_req *pr;
	int n;

	n = pop_done(s, done);
	if (n)
		return n;
	for (;;) {
		struct part *pt;
		struct whole *w;

		n = page_source_reap(s->remote, &pr);
		if (n <= 0)
			return n; /* nothing yet, or the remote source died (it said so) */
		pt = (struct part *)(uintptr_t)pr->cookie;
		w = pt->w;
		if (pr->err && !w->err)
			w->err = pr->err;
		free(pt);
		if (--w->pending)
			continue;
		w->req->err = w->err;
		*done = w->req;
		free(w);
		return 1;
	}
}

static void split_destroy(struct page_source *src)
{
	struct split *s = (struct split *)src;

	pr_info("images %s: %" PRIu64 " pages read here, %" PRIu64 " asked from %s (%" PRIu64
		" for faults)",
		s->r->dir ? s->r->dir : "?", s->st.local_pages, s->st.remote_pages, s->remote->name,
		s->st.remote_urgent_pages);
	/* Parts still out are dropped with the remote source; their wholes leak no fd. */
	page_source_destroy(s->remote);
	page_source_destroy(s->local);
	close(s->efd);
	free(s->done);
	free(s);
}

static const struct page_source_ops split_ops = {
	.submit = split_submit,
	.poll_fds = split_poll_fds,
	.reap = split_reap,
	.destroy = split_destroy,
};

void page_source_split_stats(const struct page_source *src, struct page_source_split_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (src && src->ops == &split_ops)
		*st = ((const struct split *)src)->st;
}

int page_source_split_open(struct page_source **out, const struct rimg *r,
			   struct page_source *remote)
{
	const char *dir = r->dir ? r->dir : "?";
	size_t name_len = strlen(" (the rest: images )") + strlen(dir) + strlen(remote->name) + 1;
	struct split *s;
	int err;

	*out = NULL;
	s = calloc(1, sizeof(*s) + name_len);
	if (!s) {
		page_source_destroy(remote);
		return -ENOMEM;
	}
	s->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (s->efd < 0) {
		err = -errno;
		free(s);
		page_source_destroy(remote);
		return err;
	}
	err = page_source_local_open(&s->local, r);
	if (err) {
		close(s->efd);
		free(s);
		page_source_destroy(remote);
		return err;
	}
	snprintf(s->name, name_len, "%s (the rest: images %s)", remote->name, dir);
	s->r = r;
	s->remote = remote;
	s->src.ops = &split_ops;
	s->src.name = s->name;
	*out = &s->src;
	return 0;
}
