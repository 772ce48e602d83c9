// SPDX-License-Identifier: MIT
/*
 * Shared memory against the parent image set (see dump_shmem_parent.h): the
 * pages of an object the parent holds are compared, byte for byte, with the
 * object as it is now; equal pages are recorded PE_PARENT, the others copied.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#define LOG_PREFIX "shmem: "
#include "dump_shmem_parent.h"
#include "img.h"
#include "log.h"
#include "pagemap.pb-c.h"
#include "pagemap_flags.h"
#include "util.h"

#define PAGE_SZ 4096ull
/* Pages compared per read of the parent's pages file and of the object. */
#define CMP_PAGES 64u

/* The longest chain followed below the parent (levels 0 .. SP_MAX_LEVELS - 1). */
#define SP_MAX_LEVELS 16

struct sp_run {
	uint64_t off, nr;  /* offset in the object, pages */
	uint64_t file_off; /* in the pages file of its level */
	unsigned lvl;	   /* 0: the parent, 1: its parent, ... */
};

struct sp_runs {
	struct sp_run *v;
	size_t n, cap;
};

struct shmem_parent {
	uint32_t shmid;
	struct sp_runs runs;	/* every page a level of the chain holds itself, in order */
	int fds[SP_MAX_LEVELS]; /* pages file of each level, -1 if not needed */
	char names[SP_MAX_LEVELS][64];
	uint8_t *live, *old; /* CMP_PAGES pages each */
};

void shmem_parent_close(struct shmem_parent *p)
{
	if (!p)
		return;
	for (unsigned i = 0; i < SP_MAX_LEVELS; i++)
		if (p->fds[i] >= 0)
			close(p->fds[i]);
	free(p->runs.v);
	free(p->live);
	free(p->old);
	free(p);
}

static int push_run(struct sp_runs *r, struct sp_run run)
{
	if (r->n == r->cap) {
		size_t nc = r->cap ? r->cap * 2 : 16;
		struct sp_run *n = realloc(r->v, nc * sizeof(*n));

		if (!n)
			return -ENOMEM;
		r->v = n;
		r->cap = nc;
	}
	r->v[r->n++] = run;
	return 0;
}

/*
 * The entries of pagemap-shmem of level @lvl (@dirfd): the runs it holds
 * itself (with their offsets in its pages file) into @held, the runs it has
 * in its own parent into @up.
 */
static int read_level(struct shmem_parent *p, int dirfd, unsigned lvl, struct sp_runs *held,
		      struct sp_runs *up, uint32_t *pages_id)
{
	const struct img_type *t = img_type_by_name("SHMEM_PAGEMAP");
	ProtobufCMessage *m = NULL;
	uint64_t at_file = 0, last_end = 0;
	struct img *img = NULL;
	char pm[64];
	int err, first = 1;

	snprintf(pm, sizeof(pm), "pagemap-shmem-%u.img", p->shmid);
	err = img_open(&img, dirfd, pm, t);
	if (err) {
		if (err != -ENOENT)
			pr_err("shmid %u: cannot read %s of level %u of the chain", p->shmid, pm,
			       lvl + 1);
		return err;
	}
	while ((err = img_read_entry(img, &m)) == 1) {
		const PagemapEntry *e = (const PagemapEntry *)m;
		/* Not read from the head, which is another message. */
		uint64_t nr = first ? 0 : e->has_nr_pages ? e->nr_pages : e->compat_nr_pages;
		uint64_t flags = first ? 0 : e->has_flags ? e->flags : PE_PRESENT;

		err = 0;
		if (first) {
			*pages_id = ((const PagemapHead *)m)->pages_id;
			first = 0;
		} else if ((e->vaddr & (PAGE_SZ - 1)) || !nr ||
			   nr > (UINT64_MAX - e->vaddr) / PAGE_SZ || e->vaddr < last_end ||
			   (flags & PE_LAZY)) {
			pr_err("%s (level %u of the chain): offset %zu: shmid %u: run of %llu pages "
			       "at %#llx is unaligned, out of order or lazy",
			       pm, lvl + 1, img_offset(img), p->shmid, (unsigned long long)nr,
			       (unsigned long long)e->vaddr);
			err = -EINVAL;
		} else {
			struct sp_run r = { .off = e->vaddr, .nr = nr, .lvl = lvl };

			last_end = e->vaddr + nr * PAGE_SZ;
			if (flags & PE_PRESENT) {
				r.file_off = at_file;
				at_file += nr * PAGE_SZ;
				err = push_run(held, r);
			} else if (flags & PE_PARENT) {
				err = push_run(up, r);
			}
		}
		protobuf_c_message_free_unpacked(m, NULL);
		m = NULL;
		if (err < 0)
			break;
	}
	img_close(img);
	return err < 0 ? err : 0;
}

/* Append the parts of @want (sorted) that @have (sorted) covers, with @have's level and offsets. */
static int intersect(const struct sp_runs *want, const struct sp_runs *have, struct sp_runs *out)
{
	size_t k = 0;
	int err = 0;

	for (size_t i = 0; i < want->n && !err; i++) {
		uint64_t off = want->v[i].off, end = off + want->v[i].nr * PAGE_SZ;

		while (k < have->n && have->v[k].off + have->v[k].nr * PAGE_SZ <= off)
			k++;
		for (size_t j = k; j < have->n && !err; j++) {
			const struct sp_run *h = &have->v[j];
			uint64_t h_end = h->off + h->nr * PAGE_SZ, lo, hi;

			if (h->off >= end)
				break;
			lo = h->off > off ? h->off : off;
			hi = h_end < end ? h_end : end;
			err = push_run(out,
				       (struct sp_run){ .off = lo,
							.nr = (hi - lo) / PAGE_SZ,
							.file_off = h->file_off + (lo - h->off),
							.lvl = h->lvl });
		}
	}
	return err;
}

static int cmp_run(const void *a, const void *b)
{
	const struct sp_run *x = a, *y = b;

	return x->off < y->off ? -1 : x->off > y->off;
}

/*
 * The pages of the object that level @lvl (@dirfd) of the chain holds, or one
 * of its parents does, into @out (sorted by offset); the pages files of the
 * levels used are opened into p->fds.
 */
static int load_chain(struct shmem_parent *p, int dirfd, unsigned lvl, struct sp_runs *out)
{
	struct sp_runs up = { 0 }, deep = { 0 };
	uint32_t pages_id = 0;
	int err = read_level(p, dirfd, lvl, out, &up, &pages_id), gp = -1;

	if (!err && out->n) {
		snprintf(p->names[lvl], sizeof(p->names[lvl]), "pages-%u.img", pages_id);
		p->fds[lvl] = openat(dirfd, p->names[lvl], O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (p->fds[lvl] < 0) {
			err = -errno;
			pr_errno(err, "shmid %u: cannot open %s of level %u of the chain", p->shmid,
				 p->names[lvl], lvl + 1);
		}
	}
	/* Runs in the level's own parent: resolved there, if it can be read. */
	if (!err && up.n && lvl + 1 < SP_MAX_LEVELS) {
		gp = openat(dirfd, "parent", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (gp >= 0)
			err = load_chain(p, gp, lvl + 1, &deep);
		if (err == -ENOENT)
			err = 0; /* not there: those pages are copied again */
		if (!err)
			err = intersect(&up, &deep, out);
		if (!err)
			qsort(out->v, out->n, sizeof(*out->v), cmp_run);
	}
	if (gp >= 0)
		close(gp);
	free(up.v);
	free(deep.v);
	return err;
}

int shmem_parent_open(int parent_fd, uint32_t shmid, struct shmem_parent **out)
{
	struct shmem_parent *p;
	int err;

	*out = NULL;
	if (parent_fd < 0)
		return -ENOENT;
	p = calloc(1, sizeof(*p));
	if (!p)
		return -ENOMEM;
	p->shmid = shmid;
	for (unsigned i = 0; i < SP_MAX_LEVELS; i++)
		p->fds[i] = -1;
	err = load_chain(p, parent_fd, 0, &p->runs);
	if (err == -ENOENT)
		pr_info("shmid %u: the parent has no pagemap-shmem-%u.img: every page is copied",
			shmid, shmid);
	if (!err) {
		p->live = malloc(CMP_PAGES * PAGE_SZ);
		p->old = malloc(CMP_PAGES * PAGE_SZ);
		if (!p->live || !p->old)
			err = -ENOMEM;
	}
	if (err) {
		shmem_parent_close(p);
		return err;
	}
	*out = p;
	return 0;
}

/* Record @nr pages at @off as copied (@parent 0) or in the parent (1). */
static int emit(struct page_writer *pw, const uint8_t *base, uint64_t off, uint64_t nr, int parent,
		struct shmem_parent_stats *st)
{
	uint64_t addr = (uint64_t)(uintptr_t)(base + off);

	if (!nr)
		return 0;
	if (parent) {
		st->pages_parent += nr;
		return page_writer_add_parent(pw, addr, nr);
	}
	st->pages_copied += nr;
	return page_writer_add(pw, addr, nr);
}

/*
 * Compare @nr (<= CMP_PAGES) pages at @off of the object, which run @r of the
 * chain holds, and record each run of equal or changed pages.
 */
static int compare_chunk(struct shmem_parent *p, struct page_writer *pw, const uint8_t *base,
			 uint64_t off, uint64_t nr, const struct sp_run *r,
			 struct shmem_parent_stats *st)
{
	uint64_t file_off = r->file_off + (off - r->off);
	struct iovec local = { .iov_base = p->live, .iov_len = nr * PAGE_SZ };
	struct iovec remote = { .iov_base = (void *)(base + off), .iov_len = nr * PAGE_SZ };
	uint64_t run = 0, live_pages;
	size_t done = 0;
	int err, eq = -1;
	ssize_t n;

	err = pread_full(p->fds[r->lvl], p->old, nr * PAGE_SZ, file_off, &done);
	if (err || done != nr * PAGE_SZ) {
		err = err ? err : -EINVAL;
		pr_errno(err,
			 "shmid %u: %s of level %u of the chain: %zu of %llu bytes at offset %llu",
			 p->shmid, p->names[r->lvl], r->lvl + 1, done,
			 (unsigned long long)(nr * PAGE_SZ), (unsigned long long)file_off);
		return err;
	}
	/* Through the kernel: a page truncated away is EFAULT here, not a SIGBUS of ferry. */
	n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
	live_pages = n > 0 ? (uint64_t)n / PAGE_SZ : 0;
	for (uint64_t i = 0; i < nr; i++) {
		int same = i < live_pages &&
			   !memcmp(p->live + i * PAGE_SZ, p->old + i * PAGE_SZ, PAGE_SZ);

		if (eq >= 0 && same != eq) {
			err = emit(pw, base, off + (i - run) * PAGE_SZ, run, eq, st);
			if (err)
				return err;
			run = 0;
		}
		eq = same;
		run++;
	}
	return emit(pw, base, off + (nr - run) * PAGE_SZ, run, eq, st);
}

int shmem_parent_write_range(struct shmem_parent *p, struct page_writer *pw, const uint8_t *base,
			     uint64_t off, uint64_t nr_pages, const char *what,
			     struct shmem_parent_stats *st)
{
	uint64_t end = off + nr_pages * PAGE_SZ;
	size_t k = 0;
	int err = 0;

	if (!p)
		return emit(pw, base, off, nr_pages, 0, st);
	while (off < end && !err) {
		const struct sp_run *r;
		uint64_t r_end, upto;

		while (k < p->runs.n && p->runs.v[k].off + p->runs.v[k].nr * PAGE_SZ <= off)
			k++;
		r = k < p->runs.n ? &p->runs.v[k] : NULL;
		if (!r || r->off >= end) {
			err = emit(pw, base, off, (end - off) / PAGE_SZ, 0, st);
			break;
		}
		if (r->off > off) { /* not in the parent: copied */
			err = emit(pw, base, off, (r->off - off) / PAGE_SZ, 0, st);
			off = r->off;
			continue;
		}
		r_end = r->off + r->nr * PAGE_SZ;
		upto = r_end < end ? r_end : end;
		if (upto - off > CMP_PAGES * PAGE_SZ)
			upto = off + CMP_PAGES * PAGE_SZ;
		err = compare_chunk(p, pw, base, off, (upto - off) / PAGE_SZ, r, st);
		off = upto;
	}
	if (err)
		pr_err("shmid %u (%s): cannot record its pages against the parent's",
		       p ? p->shmid : 0, what);
	return err;
}
