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

struct sp_run {
	uint64_t off, nr;  /* offset in the object, pages */
	uint64_t file_off; /* in the parent's pages file */
};

struct shmem_parent {
	uint32_t shmid;
	struct sp_run *runs;
	size_t nr;
	int pages_fd;
	uint8_t *live, *old; /* CMP_PAGES pages each */
	char name[64];	     /* pages-<id>.img of the parent, for messages */
};

void shmem_parent_close(struct shmem_parent *p)
{
	if (!p)
		return;
	if (p->pages_fd >= 0)
		close(p->pages_fd);
	free(p->runs);
	free(p->live);
	free(p->old);
	free(p);
}

static int push_run(struct shmem_parent *p, size_t *cap, uint64_t off, uint64_t nr,
		    uint64_t file_off)
{
	if (p->nr == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		struct sp_run *n = realloc(p->runs, nc * sizeof(*n));

		if (!n)
			return -ENOMEM;
		p->runs = n;
		*cap = nc;
	}
	p->runs[p->nr++] = (struct sp_run){ .off = off, .nr = nr, .file_off = file_off };
	return 0;
}

/* The entries of the parent's pagemap-shmem: the runs it holds itself, with their file offsets. */
static int read_runs(struct shmem_parent *p, struct img *img, const char *pm, uint32_t *pages_id)
{
	ProtobufCMessage *m = NULL;
	uint64_t at_file = 0;
	size_t cap = 0;
	int err, first = 1;

	while ((err = img_read_entry(img, &m)) == 1) {
		const PagemapEntry *e = (const PagemapEntry *)m;
		/* Not read from the head, which is another message. */
		uint64_t nr = first ? 0 : e->has_nr_pages ? e->nr_pages : e->compat_nr_pages;
		uint64_t flags = first ? 0 : e->has_flags ? e->flags : PE_PRESENT;
		const struct sp_run *last = p->nr ? &p->runs[p->nr - 1] : NULL;

		if (first) {
			*pages_id = ((const PagemapHead *)m)->pages_id;
			first = 0;
		} else if ((e->vaddr & (PAGE_SZ - 1)) || !nr ||
			   nr > (UINT64_MAX - e->vaddr) / PAGE_SZ ||
			   (last && last->off + last->nr * PAGE_SZ > e->vaddr) ||
			   (flags & PE_LAZY)) {
			pr_err("%s: offset %zu: shmid %u: run of %llu pages at %#llx is unaligned, "
			       "out of order or lazy",
			       pm, img_offset(img), p->shmid, (unsigned long long)nr,
			       (unsigned long long)e->vaddr);
			err = -EINVAL;
		} else if (flags & PE_PRESENT) {
			err = push_run(p, &cap, e->vaddr, nr, at_file);
			at_file += nr * PAGE_SZ;
		}
		/* A run the parent has in its own parent is not compared: copied again. */
		protobuf_c_message_free_unpacked(m, NULL);
		m = NULL;
		if (err < 0)
			break;
	}
	return err < 0 ? err : 0;
}

int shmem_parent_open(int parent_fd, uint32_t shmid, struct shmem_parent **out)
{
	struct shmem_parent *p;
	struct img *img = NULL;
	uint32_t pages_id = 0;
	char pm[64];
	int err;

	*out = NULL;
	if (parent_fd < 0)
		return -ENOENT;
	snprintf(pm, sizeof(pm), "pagemap-shmem-%u.img", shmid);
	err = img_open(&img, parent_fd, pm, img_type_by_name("SHMEM_PAGEMAP"));
	if (err == -ENOENT) {
		pr_info("shmid %u: the parent has no %s: every page is copied", shmid, pm);
		return err;
	}
	if (err) {
		pr_err("shmid %u: cannot read parent/%s", shmid, pm);
		return err;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		img_close(img);
		return -ENOMEM;
	}
	p->shmid = shmid;
	p->pages_fd = -1;
	err = read_runs(p, img, pm, &pages_id);
	img_close(img);
	if (!err && p->nr) {
		snprintf(p->name, sizeof(p->name), "pages-%u.img", pages_id);
		p->pages_fd = openat(parent_fd, p->name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (p->pages_fd < 0) {
			err = -errno;
			pr_errno(err, "shmid %u: cannot open parent/%s", shmid, p->name);
		}
	}
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
 * Compare @nr (<= CMP_PAGES) pages at @off of the object, which the parent
 * holds at @file_off, and record each run of equal or changed pages.
 */
static int compare_chunk(struct shmem_parent *p, struct page_writer *pw, const uint8_t *base,
			 uint64_t off, uint64_t nr, uint64_t file_off,
			 struct shmem_parent_stats *st)
{
	struct iovec local = { .iov_base = p->live, .iov_len = nr * PAGE_SZ };
	struct iovec remote = { .iov_base = (void *)(base + off), .iov_len = nr * PAGE_SZ };
	uint64_t run = 0, live_pages;
	size_t done = 0;
	int err, eq = -1;
	ssize_t n;

	err = pread_full(p->pages_fd, p->old, nr * PAGE_SZ, file_off, &done);
	if (err || done != nr * PAGE_SZ) {
		err = err ? err : -EINVAL;
		pr_errno(err, "shmid %u: parent/%s: %zu of %llu bytes at offset %llu", p->shmid,
			 p->name, done, (unsigned long long)(nr * PAGE_SZ),
			 (unsigned long long)file_off);
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

		while (k < p->nr && p->runs[k].off + p->runs[k].nr * PAGE_SZ <= off)
			k++;
		r = k < p->nr ? &p->runs[k] : NULL;
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
		err = compare_chunk(p, pw, base, off, (upto - off) / PAGE_SZ,
				    r->file_off + (off - r->off), st);
		off = upto;
	}
	if (err)
		pr_err("shmid %u (%s): cannot record its pages against the parent's",
		       p ? p->shmid : 0, what);
	return err;
}
