// SPDX-License-Identifier: MIT
/*
 * The restore side's image loader, memory (see images.h): mm-PID.img, the
 * pagemap-PID.img and pages-ID.img of every process, and the resolution of
 * its PE_PARENT pages through the pre-dump chain; rimg_find_page() and
 * rimg_walk_pieces() read the result.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "rimg: "
#include "images.h"
#include "images_priv.h"
#include "img.h"
#include "log.h"
#include "pagemap.pb-c.h"
#include "pagemap_flags.h"
#include "vma_status.h"

#define RIMG_PAGE 4096ull
#define RIMG_PE_KNOWN (PE_PARENT | PE_LAZY | PE_PRESENT)

/* ---- lookups ---------------------------------------------------------------------------- */

const struct rimg_page_run *rimg_find_page(const struct rimg_pagemap *pm, uint64_t addr)
{
	size_t lo = 0, hi;

	if (!pm)
		return NULL;
	hi = pm->nr_runs;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct rimg_page_run *run = &pm->runs[mid];

		if (addr < run->vaddr)
			hi = mid;
		else if (addr - run->vaddr >= run->nr_pages * RIMG_PAGE)
			lo = mid + 1;
		else
			return run;
	}
	return NULL;
}

int rimg_walk_pieces(const struct rimg_proc *p, rimg_piece_fn *fn, void *arg)
{
	const MmEntry *mm = p->mm;
	const struct rimg_pagemap *pm = p->pm;
	size_t v = 0;
	int err = 0;

	/*
	 * Runs are in address order, whichever level holds them, and so are the
	 * VMAs: one pass over both. A run may span adjacent VMAs (the dump
	 * merges contiguous pages): it is split at their boundaries.
	 */
	for (size_t i = 0; !err && pm && i < pm->nr_runs; i++) {
		const struct rimg_page_run *run = &pm->runs[i];
		uint64_t addr = run->vaddr, end = run->vaddr + run->nr_pages * RIMG_PAGE;
		uint64_t off = run->file_off;

		if (!(run->flags & (PE_PRESENT | PE_PARENT)))
			continue;
		if (run->level >= pm->nr_files) {
			pr_err("pid %d: pages at %#llx are at level %u of the pre-dump chain, which was not loaded",
			       p->pid, (unsigned long long)addr, run->level);
			return -EINVAL;
		}
		while (!err && addr < end) {
			const VmaEntry *vma;
			uint64_t n;

			while (v < mm->n_vmas && mm->vmas[v]->end <= addr)
				v++;
			if (v == mm->n_vmas || mm->vmas[v]->start > addr) {
				pr_err("pid %d: dumped pages at %#llx are in no VMA", p->pid,
				       (unsigned long long)addr);
				return -EINVAL;
			}
			vma = mm->vmas[v];
			n = (vma->end < end ? vma->end : end) - addr;
			err = fn(arg, run, vma, addr, off, n / RIMG_PAGE);
			addr += n;
			off += n;
		}
	}
	return err;
}

/* ---- memory ----------------------------------------------------------------------------- */

/*
 * CRIU 4.2 writes guard regions as VmaEntries of status VMA_AREA_GUARD after
 * every real VMA: take them out of mm->n_vmas (images.h). A guard entry among
 * the real ones is refused.
 */
static int split_guards(const struct rimg *r, struct rimg_proc *p, const char *name)
{
	MmEntry *mm = p->mm;
	size_t g = mm->n_vmas;

	while (g && mm->vmas[g - 1]->status == VMA_AREA_GUARD)
		g--;
	for (size_t i = 0; i < g; i++)
		if (mm->vmas[i]->status & VMA_AREA_GUARD) {
			pr_err("%s/%s: pid %d: VMA %zu 0x%llx-0x%llx is a guard region (status "
			       "%#x) before a real VMA",
			       r->dir, name, p->pid, i, (unsigned long long)mm->vmas[i]->start,
			       (unsigned long long)mm->vmas[i]->end, mm->vmas[i]->status);
			return -EINVAL;
		}
	p->guards = mm->vmas + g;
	p->nr_guards = mm->n_vmas - g;
	mm->n_vmas = g;
	return 0;
}

static int check_vmas(const struct rimg *r, const struct rimg_proc *p, const char *name)
{
	const MmEntry *mm = p->mm;

	for (size_t i = 0; i < mm->n_vmas; i++) {
		const VmaEntry *v = mm->vmas[i];

		if ((v->start | v->end) & (RIMG_PAGE - 1) || v->start >= v->end) {
			pr_err("%s/%s: pid %d: VMA %zu 0x%llx-0x%llx is empty or not page aligned",
			       r->dir, name, p->pid, i, (unsigned long long)v->start,
			       (unsigned long long)v->end);
			return -EINVAL;
		}
		if (i && v->start < mm->vmas[i - 1]->end) {
			pr_err("%s/%s: pid %d: VMA 0x%llx-0x%llx overlaps or precedes 0x%llx-0x%llx",
			       r->dir, name, p->pid, (unsigned long long)v->start,
			       (unsigned long long)v->end,
			       (unsigned long long)mm->vmas[i - 1]->start,
			       (unsigned long long)mm->vmas[i - 1]->end);
			return -EINVAL;
		}
	}
	return 0;
}

/* Is [start, end) covered by the (sorted) VMAs, with no hole in between? */
static int in_vmas(const MmEntry *mm, uint64_t start, uint64_t end)
{
	size_t lo = 0, hi = mm->n_vmas;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (mm->vmas[mid]->end <= start)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == mm->n_vmas || mm->vmas[lo]->start > start)
		return 0;
	while (mm->vmas[lo]->end < end) {
		if (lo + 1 == mm->n_vmas || mm->vmas[lo + 1]->start != mm->vmas[lo]->end)
			return 0;
		lo++;
	}
	return 1;
}

/* Guard regions: page aligned, sorted, apart, each inside the VMAs. */
static int check_guards(const struct rimg *r, const struct rimg_proc *p, const char *name)
{
	for (size_t i = 0; i < p->nr_guards; i++) {
		const VmaEntry *g = p->guards[i];

		if ((g->start | g->end) & (RIMG_PAGE - 1) || g->start >= g->end ||
		    (i && g->start < p->guards[i - 1]->end) || !in_vmas(p->mm, g->start, g->end)) {
			pr_err("%s/%s: pid %d: guard region 0x%llx-0x%llx is empty, not page "
			       "aligned, out of order or outside the VMAs",
			       r->dir, name, p->pid, (unsigned long long)g->start,
			       (unsigned long long)g->end);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * A PE_PARENT run whose level is not known yet has this file_off. It never
 * leaves rimg_load(): a PE_PRESENT run ends below 2^64 - 4096 (no wrap).
 */
#define UNRESOLVED UINT64_MAX

/* A growing array of runs. */
struct runs {
	struct rimg_page_run *v;
	size_t n, cap;
};

static int runs_push(struct runs *rs, const struct rimg_page_run *run)
{
	if (rs->n == rs->cap) {
		size_t nc = rs->cap ? rs->cap * 2 : 64;
		struct rimg_page_run *n = realloc(rs->v, nc * sizeof(*n));

		if (!n)
			return -ENOMEM;
		rs->v = n;
		rs->cap = nc;
	}
	rs->v[rs->n++] = *run;
	return 0;
}

/* One pagemap-PID.img as read; PE_PRESENT runs have their offset in the pages file. */
struct pmap {
	struct runs runs;
	uint32_t pages_id;
	uint64_t need; /* bytes of the pages file the PE_PRESENT runs use */
};

/*
 * Decode entry @e of @dir/@img (at offset @at, of @pid) into @run and check
 * what must hold at every level of a chain: page aligned, not empty, no wrap,
 * known flags, after the previous run @prev (NULL for the first).
 */
static int decode_entry(const char *dir, struct img *img, size_t at, pid_t pid,
			const PagemapEntry *e, const struct rimg_page_run *prev,
			struct rimg_page_run *run)
{
	uint64_t nr = e->has_nr_pages ? e->nr_pages : e->compat_nr_pages;

	run->vaddr = e->vaddr;
	run->nr_pages = nr;
	if (e->has_flags)
		run->flags = e->flags;
	else
		run->flags = e->has_in_parent && e->in_parent ? PE_PARENT : PE_PRESENT;
	if (e->vaddr & (RIMG_PAGE - 1) || !nr || nr > (UINT64_MAX - e->vaddr) / RIMG_PAGE) {
		pr_err("%s: offset %zu: pid %d: run of %llu pages at 0x%llx is empty, not page aligned or wraps",
		       img_name(img), at, pid, (unsigned long long)nr,
		       (unsigned long long)e->vaddr);
		return -EINVAL;
	}
	if ((run->flags & ~RIMG_PE_KNOWN) || !run->flags ||
	    ((run->flags & PE_PARENT) && (run->flags & PE_PRESENT))) {
		pr_err("%s: offset %zu: pid %d: run at 0x%llx has invalid flags 0x%x",
		       img_name(img), at, pid, (unsigned long long)e->vaddr, run->flags);
		return -EINVAL;
	}
	if (prev && e->vaddr < prev->vaddr + prev->nr_pages * RIMG_PAGE) {
		pr_err("%s: offset %zu: pid %d: run at 0x%llx overlaps or precedes the run at 0x%llx",
		       img_name(img), at, pid, (unsigned long long)e->vaddr,
		       (unsigned long long)prev->vaddr);
		return -EINVAL;
	}
	return 0;
}

/* What only the images directory's own pagemap must satisfy: VMAs and the parent link. */
static int check_own_run(const struct rimg *r, const struct rimg_proc *p, struct img *img,
			 size_t at, const struct rimg_page_run *run)
{
	uint64_t end = run->vaddr + run->nr_pages * RIMG_PAGE;

	if ((run->flags & PE_PARENT) && !r->has_parent) {
		pr_err("%s: offset %zu: pid %d: run at 0x%llx is in the parent image set, but %s has no parent link",
		       img_name(img), at, p->pid, (unsigned long long)run->vaddr, r->dir);
		return -EINVAL;
	}
	if (!in_vmas(p->mm, run->vaddr, end)) {
		pr_err("%s: offset %zu: pid %d: run 0x%llx-0x%llx is not inside a VMA of mm-%d.img",
		       img_name(img), at, p->pid, (unsigned long long)run->vaddr,
		       (unsigned long long)end, p->pid);
		return -EINVAL;
	}
	return 0;
}

/*
 * Read pagemap-PID.img of @p from directory @dirfd (@dir), level @level of the
 * chain, into @pm (whose runs the caller frees, also on error). Level 0 is
 * the images directory: its runs are checked against the VMAs too, and a
 * missing file is logged. A parent's runs are checked for their own
 * consistency only (a parent may have no mm image), and a missing file is
 * -ENOENT for the caller to explain.
 */
static int read_pagemap(const struct rimg *r, const struct rimg_proc *p, int dirfd, const char *dir,
			unsigned int level, struct pmap *pm)
{
	ProtobufCMessage *m = NULL;
	struct img *img;
	char name[64];
	int err;

	snprintf(name, sizeof(name), IMG_PAGEMAP->file, (unsigned int)p->pid);
	err = rimg_open_img_in(dirfd, dir, name, IMG_PAGEMAP, !level, &img);
	if (err)
		return err;
	err = img_read_entry(img, &m);
	if (err <= 0) {
		if (!err)
			pr_err("%s/%s: pid %d: empty, no pagemap head", dir, name, p->pid);
		err = -EINVAL;
		goto out;
	}
	pm->pages_id = ((PagemapHead *)m)->pages_id;
	rimg_msg_free(m);
	m = NULL;
	for (;;) {
		size_t at = img_offset(img);
		struct rimg_page_run run = { 0 };

		err = img_read_entry(img, &m);
		if (err <= 0)
			break;
		err = decode_entry(dir, img, at, p->pid, (PagemapEntry *)m,
				   pm->runs.n ? &pm->runs.v[pm->runs.n - 1] : NULL, &run);
		rimg_msg_free(m);
		m = NULL;
		if (!err && !level)
			err = check_own_run(r, p, img, at, &run);
		if (err)
			break;
		if (run.flags & PE_PRESENT) {
			run.file_off = pm->need;
			pm->need += run.nr_pages * RIMG_PAGE;
		} else if (run.flags & PE_PARENT) {
			run.file_off = UNRESOLVED;
		}
		err = runs_push(&pm->runs, &run);
		if (err)
			break;
	}
out:
	img_close(img);
	return err < 0 ? err : 0;
}

/*
 * Open pages-ID.img (@pf->pages_id) of directory @dirfd (@dir) for @pid, whose
 * pagemap @runs use @need bytes of it: the file must have exactly that size.
 * A missing file is fine when no byte of it is needed.
 */
static int open_pages(int dirfd, const char *dir, pid_t pid, const struct rimg_page_run *runs,
		      size_t nr_runs, uint64_t need, int optional, struct rimg_pages_file *pf)
{
	char name[64];
	struct stat st;
	int err;

	snprintf(name, sizeof(name), IMG_PAGES->file, pf->pages_id);
	/* O_NONBLOCK: a FIFO under that name must not block the open (it is refused below). */
	pf->fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (pf->fd < 0) {
		err = -errno;
		if (err == -ENOENT && (!need || optional))
			return 0; /* nothing to read from it, or the pages come from elsewhere */
		if (err == -ELOOP)
			err = -EINVAL;
		pr_errno(err, "pid %d: cannot open %s/%s", pid, dir, name);
		return err;
	}
	if (fstat(pf->fd, &st)) {
		err = -errno;
		pr_perror("pid %d: cannot stat %s/%s", pid, dir, name);
		return err;
	}
	if (!S_ISREG(st.st_mode)) {
		pr_err("pid %d: %s/%s is not a regular file", pid, dir, name);
		return -EINVAL;
	}
	pf->size = (uint64_t)st.st_size;
	if (need > pf->size) {
		uint64_t vaddr = 0;

		/* The first page that has no data. */
		for (size_t i = 0; i < nr_runs; i++) {
			const struct rimg_page_run *run = &runs[i];

			if (run->flags & PE_PRESENT &&
			    run->file_off + run->nr_pages * RIMG_PAGE > pf->size) {
				vaddr = run->vaddr +
					(pf->size > run->file_off
						 ? (pf->size - run->file_off) & ~(RIMG_PAGE - 1)
						 : 0);
				break;
			}
		}
		pr_err("%s/pagemap-%d.img: pid %d: pagemap points past the end of %s (%llu bytes of pages, the file has %llu; first missing page 0x%llx)",
		       dir, pid, pid, name, (unsigned long long)need, (unsigned long long)pf->size,
		       (unsigned long long)vaddr);
		return -EINVAL;
	}
	if (need < pf->size) {
		pr_err("%s/%s: pid %d: %s has %llu trailing bytes after the %llu the pagemap uses",
		       dir, name, pid, name, (unsigned long long)(pf->size - need),
		       (unsigned long long)need);
		return -EINVAL;
	}
	return 0;
}

static int load_pagemap(struct rimg *r, struct rimg_proc *p)
{
	struct pmap pmap = { 0 };
	struct rimg_pagemap *pm;
	int err;

	pm = p->pm = calloc(1, sizeof(*p->pm));
	if (!pm)
		return -ENOMEM;
	pm->pages_fd = -1;
	pm->files = calloc(1, sizeof(*pm->files));
	if (!pm->files)
		return -ENOMEM;
	pm->files[0].fd = -1;
	pm->nr_files = 1;
	err = read_pagemap(r, p, r->dirfd, r->dir, 0, &pmap);
	pm->runs = pmap.runs.v; /* freed with the model, also on error */
	pm->nr_runs = pmap.runs.n;
	pm->pages_id = pm->files[0].pages_id = pmap.pages_id;
	if (!err)
		err = open_pages(r->dirfd, r->dir, p->pid, pm->runs, pm->nr_runs, pmap.need,
				 !!(r->flags & RIMG_PAGES_OPTIONAL), &pm->files[0]);
	pm->pages_fd = pm->files[0].fd;
	pm->pages_size = pm->files[0].size;
	return err;
}

int rimg_load_mm(struct rimg *r, struct rimg_proc *p)
{
	ProtobufCMessage *m = NULL;
	char name[64];
	int err;

	snprintf(name, sizeof(name), IMG_MM->file, (unsigned int)p->pid);
	err = rimg_read_single(r, name, IMG_MM, &m);
	if (err)
		return err;
	p->mm = (MmEntry *)m;
	err = split_guards(r, p, name);
	if (!err)
		err = check_vmas(r, p, name);
	if (!err)
		err = check_guards(r, p, name);
	if (!err && p->mm->exe_file_id)
		err = rimg_check_file_ref(r, p, name, "exe", p->mm->exe_file_id);
	if (!err)
		err = load_pagemap(r, p);
	return err;
}

/* ---- the pre-dump chain ----------------------------------------------------------------- */

/* Directory of level @level: 0 is the images directory, k >= 1 is chain[k - 1]. */
static void level_dir(const struct rimg *r, unsigned int level, int *dirfd, const char **dir,
		      int *has_parent)
{
	if (!level) {
		*dirfd = r->dirfd;
		*dir = r->dir;
		*has_parent = r->has_parent;
	} else {
		*dirfd = r->chain[level - 1].dirfd;
		*dir = r->chain[level - 1].dir;
		*has_parent = r->chain[level - 1].has_parent;
	}
}

/* The level below @level already open with the same directory as @st, or -1. */
static long same_dir(const struct rimg *r, unsigned int level, const struct stat *st)
{
	for (unsigned int k = 0; k < level; k++) {
		uint64_t dev = k ? r->chain[k - 1].dev : r->dev;
		uint64_t ino = k ? r->chain[k - 1].ino : r->ino;

		if (dev == (uint64_t)st->st_dev && ino == (uint64_t)st->st_ino)
			return k;
	}
	return -1;
}

/* The path of "parent" of @pdir as it reads: @pdir/TARGET, TARGET if absolute. */
static char *link_path(int pfd, const char *pdir, char *link, size_t size)
{
	ssize_t n = readlinkat(pfd, "parent", link, size - 1);
	size_t len;
	char *path;

	if (n < 0) /* a real directory (EINVAL), or gone: the open says which */
		snprintf(link, size, "parent");
	else
		link[n] = '\0';
	if (link[0] == '/')
		return strdup(link);
	len = strlen(pdir) + strlen(link) + 2;
	path = malloc(len);
	if (path)
		snprintf(path, len, "%s/%s", pdir, link);
	return path;
}

/*
 * Open level @level (>= 1) of the chain, the "parent" of level @level - 1,
 * unless it is open already. @pid and @addr (the first page that needs the
 * level) are for the messages.
 */
int rimg_open_level(struct rimg *r, unsigned int level, pid_t pid, uint64_t addr)
{
	unsigned long long a = (unsigned long long)addr;
	struct rimg_level *chain, lv = { .dirfd = -1 };
	char link[PATH_MAX];
	const char *pdir;
	struct stat st;
	int pfd, has, err;
	long k;

	if (level <= r->nr_chain)
		return 0;
	level_dir(r, level - 1, &pfd, &pdir, &has);
	if (level > RIMG_MAX_CHAIN) {
		pr_err("pid %d: page 0x%llx is in the parent of %s, beyond the %d image sets a pre-dump chain may have",
		       pid, a, pdir, RIMG_MAX_CHAIN);
		return -ELOOP;
	}
	if (!has) {
		pr_err("pid %d: page 0x%llx is in the parent image set of %s, which has no parent link",
		       pid, a, pdir);
		return -EINVAL;
	}
	lv.dir = link_path(pfd, pdir, link, sizeof(link));
	if (!lv.dir)
		return -ENOMEM;
	lv.dirfd = openat(pfd, "parent", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (lv.dirfd < 0 || fstat(lv.dirfd, &st)) {
		err = -errno;
		pr_perror("pid %d: page 0x%llx is in the parent image set of %s, "
			  "but %s/parent (-> %s) cannot be opened",
			  pid, a, pdir, pdir, link);
		goto err;
	}
	k = same_dir(r, level, &st);
	if (k >= 0) {
		pr_err("pid %d: page 0x%llx: %s/parent (-> %s) leads back to %s: the pre-dump chain has a loop",
		       pid, a, pdir, link, k ? r->chain[k - 1].dir : r->dir);
		err = -ELOOP;
		goto err;
	}
	lv.dev = (uint64_t)st.st_dev;
	lv.ino = (uint64_t)st.st_ino;
	err = fstatat(lv.dirfd, "inventory.img", &st, AT_SYMLINK_NOFOLLOW) ? -errno : 0;
	if (err || !S_ISREG(st.st_mode)) {
		pr_err("%s/inventory.img: %s: %s, the parent of %s, is not a complete pre-dump (pid %d needs page 0x%llx from it)",
		       lv.dir, err ? strerror(-err) : "not a regular file", lv.dir, pdir, pid, a);
		err = err == -ENOENT ? -ENOENT : -EINVAL;
		goto err;
	}
	lv.has_parent = !fstatat(lv.dirfd, "parent", &st, AT_SYMLINK_NOFOLLOW);
	chain = realloc(r->chain, level * sizeof(*chain));
	if (!chain) {
		err = -ENOMEM;
		goto err;
	}
	r->chain = chain;
	r->chain[r->nr_chain++] = lv;
	pr_debug("level %u of the pre-dump chain: %s", level, lv.dir);
	return 0;
err:
	if (lv.dirfd >= 0)
		close(lv.dirfd);
	free(lv.dir);
	return err;
}

/* Append a piece resolved at @level, merged with the previous one if it continues it. */
static int add_piece(struct runs *out, const struct rimg_page_run *piece)
{
	struct rimg_page_run *last = out->n ? &out->v[out->n - 1] : NULL;

	if (last && last->level == piece->level && last->flags == piece->flags &&
	    last->vaddr + last->nr_pages * RIMG_PAGE == piece->vaddr &&
	    (last->file_off == UNRESOLVED
		     ? piece->file_off == UNRESOLVED
		     : piece->file_off != UNRESOLVED &&
			       last->file_off + last->nr_pages * RIMG_PAGE == piece->file_off)) {
		last->nr_pages += piece->nr_pages;
		return 0;
	}
	return runs_push(out, piece);
}

/*
 * One round of the resolution: the runs of @p that level @level - 1 has in its
 * parent (file_off UNRESOLVED, @first the first page of them) are looked up in
 * pagemap-PID.img of level @level, a merge of the two sorted lists (O(runs)).
 * A piece that level holds gets (level, offset in its pages file); a piece it
 * has in its own parent stays UNRESOLVED for the next round. Parent runs no
 * piece falls in are never looked at.
 */
static int resolve_level(struct rimg *r, struct rimg_proc *p, unsigned int level, uint64_t first)
{
	struct rimg_pagemap *pm = p->pm;
	struct rimg_pages_file *files;
	struct pmap par = { 0 };
	struct runs out = { 0 };
	const char *dir, *cdir;
	int dirfd, cfd, has, err;
	char name[64];
	size_t j = 0;

	err = rimg_open_level(r, level, p->pid, first);
	if (err)
		return err;
	level_dir(r, level, &dirfd, &dir, &has);
	level_dir(r, level - 1, &cfd, &cdir, &has);
	snprintf(name, sizeof(name), IMG_PAGEMAP->file, (unsigned int)p->pid);
	err = read_pagemap(r, p, dirfd, dir, level, &par);
	if (err == -ENOENT)
		pr_err("pid %d: page 0x%llx is in the parent image set of %s/%s, but %s/%s is missing",
		       p->pid, (unsigned long long)first, cdir, name, dir, name);
	if (err)
		goto out;
	files = realloc(pm->files, (level + 1) * sizeof(*files));
	if (!files) {
		err = -ENOMEM;
		goto out;
	}
	pm->files = files;
	pm->files[level] = (struct rimg_pages_file){ .pages_id = par.pages_id, .fd = -1 };
	pm->nr_files = level + 1;
	err = open_pages(dirfd, dir, p->pid, par.runs.v, par.runs.n, par.need,
			 !!(r->flags & RIMG_PAGES_OPTIONAL), &pm->files[level]);
	for (size_t i = 0; !err && i < pm->nr_runs; i++) {
		const struct rimg_page_run *run = &pm->runs[i];
		uint64_t a = run->vaddr, end = run->vaddr + run->nr_pages * RIMG_PAGE;

		if (run->file_off != UNRESOLVED) {
			err = runs_push(&out, run);
			continue;
		}
		while (!err && a < end) {
			struct rimg_page_run piece = { .vaddr = a,
						       .flags = run->flags,
						       .level = level };
			const struct rimg_page_run *pr;
			uint64_t e;

			while (j < par.runs.n &&
			       par.runs.v[j].vaddr + par.runs.v[j].nr_pages * RIMG_PAGE <= a)
				j++;
			if (j == par.runs.n || par.runs.v[j].vaddr > a) {
				pr_err("pid %d: page 0x%llx is in the parent image set of %s/%s, but %s/%s does not have it",
				       p->pid, (unsigned long long)a, cdir, name, dir, name);
				err = -EINVAL;
				break;
			}
			pr = &par.runs.v[j];
			e = pr->vaddr + pr->nr_pages * RIMG_PAGE;
			if (e > end)
				e = end;
			piece.nr_pages = (e - a) / RIMG_PAGE;
			if (pr->flags & PE_PRESENT) {
				piece.file_off = pr->file_off + (a - pr->vaddr);
			} else if (pr->flags & PE_PARENT) {
				piece.file_off = UNRESOLVED;
			} else {
				pr_err("pid %d: page 0x%llx is in the parent image set of %s/%s, but %s/%s has it only as lazy (no data)",
				       p->pid, (unsigned long long)a, cdir, name, dir, name);
				err = -EINVAL;
				break;
			}
			err = add_piece(&out, &piece);
			a = e;
		}
	}
	if (err)
		goto out;
	free(pm->runs);
	pm->runs = out.v;
	pm->nr_runs = out.n;
	out.v = NULL;
out:
	free(out.v);
	free(par.runs.v);
	return err;
}

/* Resolve every PE_PARENT page of @p, one level of the chain per round. */
int rimg_resolve_parents(struct rimg *r, struct rimg_proc *p)
{
	for (unsigned int level = 1;; level++) {
		const struct rimg_pagemap *pm = p->pm;
		uint64_t first = 0, pending = 0;
		int err;

		if (!pm)
			return 0; /* a zombie */
		for (size_t i = 0; i < pm->nr_runs; i++) {
			if (pm->runs[i].file_off != UNRESOLVED)
				continue;
			if (!pending)
				first = pm->runs[i].vaddr;
			pending += pm->runs[i].nr_pages;
		}
		if (!pending)
			return 0;
		pr_debug("pid %d: %llu page(s) from 0x%llx on are looked up at level %u", p->pid,
			 (unsigned long long)pending, (unsigned long long)first, level);
		err = resolve_level(r, p, level, first);
		if (err)
			return err;
	}
}
