// SPDX-License-Identifier: MIT
/*
 * The pages of a shared memory object that a dump recorded as unchanged since
 * its parent image set (PE_PARENT in pagemap-shmem-<shmid>.img): found in the
 * parent's pagemap-shmem and pages file (see rimg_shmem_parent()).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "images: "
#include "images_priv.h"
#include "log.h"
#include "pagemap.pb-c.h"
#include "pagemap_flags.h"
#include "shmem.h"

#define RIMG_PAGE 4096ull

struct prun {
	uint64_t off, nr, file_off;
};

/* One level's pagemap-shmem: the runs it holds (with pages file offsets) and those in its parent.
 */
struct lvl_runs {
	struct prun *held, *up;
	size_t nheld, nup, caph, capu;
	uint32_t pages_id;
	uint64_t need; /* bytes of its pages file the held runs use */
};

static int push_prun(struct prun **v, size_t *n, size_t *cap, struct prun r)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		struct prun *x = realloc(*v, nc * sizeof(*x));

		if (!x)
			return -ENOMEM;
		*v = x;
		*cap = nc;
	}
	(*v)[(*n)++] = r;
	return 0;
}

static int read_level(const struct rimg_level *lv, const char *name, uint32_t shmid,
		      struct lvl_runs *l)
{
	const struct img_type *t = img_type_by_name("SHMEM_PAGEMAP");
	ProtobufCMessage *m = NULL;
	uint64_t last_end = 0;
	struct img *img;
	int err, first = 1;

	err = rimg_open_img_in(lv->dirfd, lv->dir, name, t, 1, &img);
	if (err)
		return err;
	while ((err = img_read_entry(img, &m)) == 1) {
		const PagemapEntry *e = (const PagemapEntry *)m;
		/* Not read from the head, which is another message. */
		uint64_t n = first ? 0 : e->has_nr_pages ? e->nr_pages : e->compat_nr_pages;
		uint64_t flags = first ? 0 : e->has_flags ? e->flags : PE_PRESENT;
		size_t at = img_offset(img);

		err = 0;
		if (first) {
			l->pages_id = ((const PagemapHead *)m)->pages_id;
			first = 0;
		} else if ((e->vaddr & (RIMG_PAGE - 1)) || !n ||
			   n > (UINT64_MAX - e->vaddr) / RIMG_PAGE || e->vaddr < last_end ||
			   (flags != PE_PRESENT && flags != PE_PARENT)) {
			pr_err("%s/%s: offset %zu: shmid %u: run of %llu pages at offset 0x%llx "
			       "(flags 0x%llx) is empty, unaligned, out of order, or neither present "
			       "nor in the parent",
			       lv->dir, name, at, shmid, (unsigned long long)n,
			       (unsigned long long)e->vaddr, (unsigned long long)flags);
			err = -EINVAL;
		} else if (flags == PE_PRESENT) {
			last_end = e->vaddr + n * RIMG_PAGE;
			err = push_prun(&l->held, &l->nheld, &l->caph,
					(struct prun){ e->vaddr, n, l->need });
			l->need += n * RIMG_PAGE;
		} else {
			last_end = e->vaddr + n * RIMG_PAGE;
			err = push_prun(&l->up, &l->nup, &l->capu, (struct prun){ e->vaddr, n, 0 });
		}
		rimg_msg_free(m);
		m = NULL;
		if (err)
			break;
	}
	if (!err && first) {
		pr_err("%s/%s: shmid %u: empty, no pagemap head", lv->dir, name, shmid);
		err = -EINVAL;
	}
	img_close(img);
	return err < 0 ? err : 0;
}

static int push(struct rimg_page_run **v, size_t *n, size_t *cap, struct rimg_page_run run)
{
	if (*n == *cap) {
		size_t nc = *cap ? *cap * 2 : 16;
		struct rimg_page_run *x = realloc(*v, nc * sizeof(*x));

		if (!x)
			return -ENOMEM;
		*v = x;
		*cap = nc;
	}
	(*v)[(*n)++] = run;
	return 0;
}

/*
 * Split the ranges of @want (sorted) over level @level's runs @l: a piece the
 * level holds goes to @out (level, offset in its pages file), a piece it has
 * in its own parent to @next; a piece in neither is an error.
 */
static int split_level(const struct rimg *r, const struct rimg_shmem *s, unsigned level,
		       const struct lvl_runs *l, const struct prun *want, size_t nwant,
		       struct rimg_page_run **out, size_t *nout, size_t *capout, struct prun **next,
		       size_t *nnext, size_t *capnext)
{
	size_t h = 0, u = 0;
	int err = 0;

	for (size_t i = 0; i < nwant && !err; i++) {
		uint64_t off = want[i].off, end = off + want[i].nr * RIMG_PAGE;

		while (off < end && !err) {
			while (h < l->nheld && l->held[h].off + l->held[h].nr * RIMG_PAGE <= off)
				h++;
			while (u < l->nup && l->up[u].off + l->up[u].nr * RIMG_PAGE <= off)
				u++;
			if (h < l->nheld && l->held[h].off <= off) {
				uint64_t hi = l->held[h].off + l->held[h].nr * RIMG_PAGE;

				hi = hi < end ? hi : end;
				err = push(out, nout, capout,
					   (struct rimg_page_run){
						   .vaddr = off,
						   .nr_pages = (hi - off) / RIMG_PAGE,
						   .flags = PE_PARENT,
						   .level = level,
						   .file_off = l->held[h].file_off +
							       (off - l->held[h].off) });
				off = hi;
			} else if (u < l->nup && l->up[u].off <= off) {
				uint64_t hi = l->up[u].off + l->up[u].nr * RIMG_PAGE;

				hi = hi < end ? hi : end;
				err = push_prun(next, nnext, capnext,
						(struct prun){ off, (hi - off) / RIMG_PAGE, 0 });
				off = hi;
			} else {
				pr_err("%s/pagemap-shmem-%u.img: shmid %u: the page at offset 0x%llx is "
				       "in the parent image set, but level %u of the chain "
				       "(%s/pagemap-shmem-%u.img) does not hold it",
				       r->dir, s->shmid, s->shmid, (unsigned long long)off, level,
				       r->chain[level - 1].dir, s->shmid);
				err = -EINVAL;
			}
		}
	}
	return err;
}

static int open_level_pages(struct rimg_shmem *s, const struct rimg_level *lv, unsigned level,
			    const struct lvl_runs *l)
{
	char name[64];
	struct stat st;
	int fd, err;

	snprintf(name, sizeof(name), IMG_PAGES->file, l->pages_id);
	fd = openat(lv->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	s->level_fds[level - 1] = fd;
	s->level_ids[level - 1] = l->pages_id;
	if (fd < 0 || fstat(fd, &st)) {
		err = -errno;
		pr_errno(err, "shmid %u: cannot open %s/%s", s->shmid, lv->dir, name);
		return err == -ELOOP ? -EINVAL : err;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != l->need) {
		pr_err("%s/%s: shmid %u: %llu bytes, its pagemap-shmem-%u.img uses %llu", lv->dir,
		       name, s->shmid, (unsigned long long)st.st_size, s->shmid,
		       (unsigned long long)l->need);
		return -EINVAL;
	}
	return 0;
}

static int cmp_run(const void *a, const void *b)
{
	const struct rimg_page_run *x = a, *y = b;

	return x->vaddr < y->vaddr ? -1 : x->vaddr > y->vaddr;
}

int rimg_shmem_parent(struct rimg *r, struct rimg_shmem *s)
{
	struct rimg_page_run *v = NULL;
	struct prun *want = NULL, *next = NULL;
	size_t n = 0, cap = 0, nwant = 0, capwant = 0, nnext = 0, capnext = 0;
	char name[64];
	int err = 0;

	snprintf(name, sizeof(name), "pagemap-shmem-%u.img", s->shmid);
	for (size_t i = 0; i < s->nr_runs && !err; i++) {
		const struct rimg_page_run *run = &s->runs[i];

		err = run->flags == PE_PARENT
			      ? push_prun(&want, &nwant, &capwant,
					  (struct prun){ run->vaddr, run->nr_pages, 0 })
			      : push(&v, &n, &cap, *run);
	}
	for (unsigned level = 1; !err && nwant; level++) {
		struct lvl_runs l = { 0 };
		int *fds;
		uint32_t *ids;

		err = rimg_open_level(r, level, 0, want[0].off);
		if (err) {
			pr_err("%s: shmid %u: offset 0x%llx is in level %u of the pre-dump chain, "
			       "which cannot be read",
			       r->dir, s->shmid, (unsigned long long)want[0].off, level);
			break;
		}
		fds = realloc(s->level_fds, level * sizeof(*fds));
		if (fds)
			s->level_fds = fds;
		ids = fds ? realloc(s->level_ids, level * sizeof(*ids)) : NULL;
		if (ids)
			s->level_ids = ids;
		if (!fds || !ids) {
			err = -ENOMEM;
			break;
		}
		s->level_fds[level - 1] = -1;
		s->level_ids[level - 1] = 0;
		s->nr_levels = level;
		err = read_level(&r->chain[level - 1], name, s->shmid, &l);
		nnext = 0;
		if (!err)
			err = split_level(r, s, level, &l, want, nwant, &v, &n, &cap, &next, &nnext,
					  &capnext);
		if (!err && l.nheld)
			err = open_level_pages(s, &r->chain[level - 1], level, &l);
		free(l.held);
		free(l.up);
		/* What this level has in its own parent is looked for one level down. */
		{
			struct prun *t = want;
			size_t tc = capwant;

			want = next;
			nwant = nnext;
			capwant = capnext;
			next = t;
			capnext = tc;
		}
	}
	free(want);
	free(next);
	if (err) {
		free(v);
		return err;
	}
	qsort(v, n, sizeof(*v), cmp_run);
	free(s->runs);
	s->runs = v;
	s->nr_runs = n;
	return 0;
}
