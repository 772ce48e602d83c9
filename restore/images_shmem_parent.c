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

/* The present runs of the parent's pagemap-shmem-<shmid>.img, with their pages file offsets. */
static int read_parent(const struct rimg_level *lv, const char *name, uint32_t shmid,
		       struct prun **out, size_t *nr, uint32_t *pages_id, uint64_t *need)
{
	const struct img_type *t = img_type_by_name("SHMEM_PAGEMAP");
	ProtobufCMessage *m = NULL;
	struct img *img;
	size_t cap = 0;
	int err, first = 1;

	*out = NULL;
	*nr = 0;
	*need = 0;
	err = rimg_open_img_in(lv->dirfd, lv->dir, name, t, 1, &img);
	if (err)
		return err;
	while ((err = img_read_entry(img, &m)) == 1) {
		const PagemapEntry *e = (const PagemapEntry *)m;
		/* Not read from the head, which is another message. */
		uint64_t n = first ? 0 : e->has_nr_pages ? e->nr_pages : e->compat_nr_pages;
		uint64_t flags = first ? 0 : e->has_flags ? e->flags : PE_PRESENT;
		const struct prun *last = *nr ? &(*out)[*nr - 1] : NULL;
		size_t at = img_offset(img);

		err = 0;
		if (first) {
			*pages_id = ((const PagemapHead *)m)->pages_id;
			first = 0;
		} else if ((e->vaddr & (RIMG_PAGE - 1)) || !n ||
			   n > (UINT64_MAX - e->vaddr) / RIMG_PAGE ||
			   (last && last->off + last->nr * RIMG_PAGE > e->vaddr)) {
			pr_err("%s/%s: offset %zu: shmid %u: run of %llu pages at offset 0x%llx is "
			       "empty, unaligned or out of order",
			       lv->dir, name, at, shmid, (unsigned long long)n,
			       (unsigned long long)e->vaddr);
			err = -EINVAL;
		} else if (flags == PE_PRESENT) {
			if (*nr == cap) {
				size_t nc = cap ? cap * 2 : 16;
				struct prun *v = realloc(*out, nc * sizeof(*v));

				if (!v)
					err = -ENOMEM;
				else {
					*out = v;
					cap = nc;
				}
			}
			if (!err) {
				(*out)[(*nr)++] = (struct prun){ e->vaddr, n, *need };
				*need += n * RIMG_PAGE;
			}
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

/* Split PE_PARENT run @run over the parent's runs @p (@np of them) into @v. */
static int split(const struct rimg *r, const struct rimg_shmem *s, const struct rimg_page_run *run,
		 const struct prun *p, size_t np, struct rimg_page_run **v, size_t *n, size_t *cap)
{
	uint64_t off = run->vaddr, end = run->vaddr + run->nr_pages * RIMG_PAGE;
	size_t k = 0;
	int err = 0;

	while (off < end && !err) {
		uint64_t upto;

		while (k < np && p[k].off + p[k].nr * RIMG_PAGE <= off)
			k++;
		if (k == np || p[k].off > off) {
			pr_err("%s/pagemap-shmem-%u.img: shmid %u: the page at offset 0x%llx is in "
			       "the parent image set, whose pagemap-shmem-%u.img does not hold it",
			       r->dir, s->shmid, s->shmid, (unsigned long long)off, s->shmid);
			return -EINVAL;
		}
		upto = p[k].off + p[k].nr * RIMG_PAGE;
		if (upto > end)
			upto = end;
		err = push(v, n, cap,
			   (struct rimg_page_run){ .vaddr = off,
						   .nr_pages = (upto - off) / RIMG_PAGE,
						   .flags = PE_PARENT,
						   .level = 1,
						   .file_off = p[k].file_off + (off - p[k].off) });
		off = upto;
	}
	return err;
}

static int open_parent_pages(struct rimg_shmem *s, const struct rimg_level *lv, uint64_t need)
{
	char name[64];
	struct stat st;
	int err;

	snprintf(name, sizeof(name), IMG_PAGES->file, s->parent_pages_id);
	s->parent_pages_fd =
		openat(lv->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (s->parent_pages_fd < 0 || fstat(s->parent_pages_fd, &st)) {
		err = -errno;
		pr_errno(err, "shmid %u: cannot open %s/%s", s->shmid, lv->dir, name);
		return err == -ELOOP ? -EINVAL : err;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != need) {
		pr_err("%s/%s: shmid %u: %llu bytes, its pagemap-shmem-%u.img uses %llu", lv->dir,
		       name, s->shmid, (unsigned long long)st.st_size, s->shmid,
		       (unsigned long long)need);
		return -EINVAL;
	}
	return 0;
}

int rimg_shmem_parent(struct rimg *r, struct rimg_shmem *s)
{
	struct rimg_page_run *v = NULL, *first = NULL;
	struct prun *p = NULL;
	size_t np = 0, n = 0, cap = 0;
	uint64_t need = 0;
	char name[64];
	int err;

	for (size_t i = 0; i < s->nr_runs && !first; i++)
		if (s->runs[i].flags == PE_PARENT)
			first = &s->runs[i];
	if (!first)
		return 0;
	err = rimg_open_level(r, 1, 0, first->vaddr);
	if (err) {
		pr_err("%s: shmid %u: offset 0x%llx is in the parent image set, which cannot be "
		       "read",
		       r->dir, s->shmid, (unsigned long long)first->vaddr);
		return err;
	}
	snprintf(name, sizeof(name), "pagemap-shmem-%u.img", s->shmid);
	err = read_parent(&r->chain[0], name, s->shmid, &p, &np, &s->parent_pages_id, &need);
	for (size_t i = 0; i < s->nr_runs && !err; i++)
		err = s->runs[i].flags == PE_PARENT ? split(r, s, &s->runs[i], p, np, &v, &n, &cap)
						    : push(&v, &n, &cap, s->runs[i]);
	if (!err)
		err = open_parent_pages(s, &r->chain[0], need);
	free(p);
	if (err) {
		free(v);
		return err;
	}
	free(s->runs);
	s->runs = v;
	s->nr_runs = n;
	return 0;
}
