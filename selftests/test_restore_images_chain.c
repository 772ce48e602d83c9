// SPDX-License-Identifier: MIT
/*
 * Pre-dump chains built from a real dump (and from the page writer on the live
 * workload): the loader must resolve every page to the level holding it,
 * refuse broken chains, and ferry restore must bring the workload back from
 * them.
 * (Suite restore_images: its TestSuite is in test_restore_images.c; helpers in
 * restore_images_helpers.c.)
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "images.h"
#include "img.h"
#include "helpers.h"
#include "log.h"
#include "page_writer.h"
#include "pagemap.pb-c.h"
#include "pagemap_flags.h"
#include "pattern.h"

#include "restore_images_helpers.h"

/* ---- pre-dump chains -------------------------------------------------------------------- */

/*
 * A chain is built from a real dump D of memhog: every page D has is given
 * an owner, the level of the chain that holds its data (0 the top directory,
 * a copy of D; 1 top/parent; 2 its parent, ...). Level k has a page as
 * PE_PRESENT with D's bytes if it owns it, as PE_PARENT if a deeper level
 * does, and, for a page an upper level owns, nothing or (stale) a PE_PRESENT
 * page of garbage the resolution must never pick. Owner OWNER_ABSENT: the top
 * says PE_PARENT and no parent has the page.
 */
#define OWNER_ABSENT (-1)

struct chain {
	struct ri_dump d;
	uint64_t *addr; /* every page D has, in address order */
	uint64_t *off;	/* its offset in D's pages file */
	int *owner;	/* its level */
	size_t n;
	int pages_fd;	   /* D's pages file */
	uint32_t pages_id; /* D's pages id */
	uint64_t base, size, seed;
	char top[600];
	char lvl[4][600]; /* lvl[k]: level k >= 1 (lvl[0] unused) */
};

/* Dump memhog into c->d.img and list the pages of the dump. */
static void chain_init(struct chain *c, int keep)
{
	const struct rimg_pagemap *pm;
	char path[700];
	struct rimg *r;
	size_t k = 0;

	memset(c, 0, sizeof(*c));
	{
		const char *argv[] = { "memhog", "8", "1", NULL };

		ri_make_dump_keep(&c->d, argv, "ready", keep);
	}
	ri_parse_memhog(&c->d, &c->base, &c->size, &c->seed);
	r = ri_load_ok(c->d.img);
	pm = r->procs[0].pm;
	c->pages_id = pm->pages_id;
	for (size_t i = 0; i < pm->nr_runs; i++)
		c->n += pm->runs[i].nr_pages;
	c->addr = calloc(c->n, sizeof(*c->addr));
	c->off = calloc(c->n, sizeof(*c->off));
	c->owner = calloc(c->n, sizeof(*c->owner));
	cr_assert(c->addr && c->off && c->owner);
	for (size_t i = 0; i < pm->nr_runs; i++) {
		cr_assert_eq(pm->runs[i].flags, PE_PRESENT, "a plain dump has only present pages");
		for (uint64_t j = 0; j < pm->runs[i].nr_pages; j++, k++) {
			c->addr[k] = pm->runs[i].vaddr + j * PAGE;
			c->off[k] = pm->runs[i].file_off + j * PAGE;
		}
	}
	rimg_free(r);
	snprintf(path, sizeof(path), "%s/pages-%u.img", c->d.img, c->pages_id);
	c->pages_fd = open(path, O_RDONLY | O_CLOEXEC);
	cr_assert_geq(c->pages_fd, 0);
	snprintf(c->top, sizeof(c->top), "%s/top", c->d.dir);
	cr_assert_eq(t_run(NULL, NULL, "cp -a %s %s", c->d.img, c->top), 0);
	for (int l = 1; l < 4; l++) {
		snprintf(c->lvl[l], sizeof(c->lvl[l]), "%s/p%d", c->d.dir, l);
		cr_assert_eq(t_run(NULL, NULL, "mkdir %s && cp %s/inventory.img %s", c->lvl[l],
				   c->d.img, c->lvl[l]),
			     0);
	}
}

static void chain_fini(struct chain *c)
{
	close(c->pages_fd);
	free(c->addr);
	free(c->off);
	free(c->owner);
	ri_drop_dump(&c->d);
}

static int in_memhog(const struct chain *c, size_t i)
{
	return c->addr[i] >= c->base && c->addr[i] < c->base + c->size;
}

enum { E_NONE, E_PRESENT, E_PARENT };

struct entry_writer {
	struct img *pm;
	int kind;
	uint64_t vaddr, nr;
};

static void ew_flush(struct entry_writer *w)
{
	PagemapEntry e = PAGEMAP_ENTRY__INIT;

	if (!w->nr)
		return;
	e.vaddr = w->vaddr;
	e.compat_nr_pages = (uint32_t)w->nr;
	e.has_nr_pages = 1;
	e.nr_pages = w->nr;
	e.has_flags = 1;
	e.flags = w->kind == E_PARENT ? PE_PARENT : PE_PRESENT;
	if (w->kind == E_PARENT) {
		e.has_in_parent = 1;
		e.in_parent = 1;
	}
	cr_assert_eq(img_write_entry(w->pm, &e.base), 0);
	w->nr = 0;
}

static void ew_page(struct entry_writer *w, int kind, uint64_t addr)
{
	if (w->nr && (kind != w->kind || addr != w->vaddr + w->nr * PAGE))
		ew_flush(w);
	if (kind == E_NONE)
		return;
	if (!w->nr) {
		w->kind = kind;
		w->vaddr = addr;
	}
	w->nr++;
}

/*
 * Write pagemap-PID.img and pages-@pages_id.img of level @k into @dir with
 * img_create/img_write_entry (see struct chain). Contiguous pages of one
 * kind are one entry, but for a new entry at every @split-th page (0: never)
 * to let the loader merge them.
 */
static void write_level(struct chain *c, const char *dir, int k, uint32_t pages_id, int stale,
			size_t split)
{
	struct entry_writer w = { 0 };
	PagemapHead head = PAGEMAP_HEAD__INIT;
	unsigned char buf[PAGE];
	struct img *pages;
	char name[64];
	int dfd;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(dfd, 0);
	snprintf(name, sizeof(name), "pagemap-%d.img", c->d.pid);
	cr_assert_eq(img_create(&w.pm, dfd, name, IMG_PAGEMAP), 0);
	head.pages_id = pages_id;
	cr_assert_eq(img_write_entry(w.pm, &head.base), 0);
	snprintf(name, sizeof(name), "pages-%u.img", pages_id);
	cr_assert_eq(img_create(&pages, dfd, name, IMG_PAGES), 0);
	for (size_t i = 0; i < c->n; i++) {
		int o = c->owner[i], kind;

		if (o == OWNER_ABSENT)
			kind = k ? E_NONE : E_PARENT;
		else if (o > k)
			kind = E_PARENT;
		else if (o == k || stale)
			kind = E_PRESENT;
		else
			kind = E_NONE;
		if (split && i % split == 0)
			ew_flush(&w);
		ew_page(&w, kind, c->addr[i]);
		if (kind != E_PRESENT)
			continue;
		if (o == k)
			cr_assert_eq(pread(c->pages_fd, buf, PAGE, (off_t)c->off[i]),
				     (ssize_t)PAGE);
		else
			memset(buf, 0xa0 + k, PAGE); /* stale: never to be read */
		cr_assert_eq(img_write_raw(pages, buf, PAGE), 0);
	}
	ew_flush(&w);
	cr_assert_eq(img_commit(pages), 0);
	cr_assert_eq(img_commit(w.pm), 0);
	close(dfd);
}

/* dir/parent -> target */
static void link_parent(const char *dir, const char *target)
{
	char path[700];

	snprintf(path, sizeof(path), "%s/parent", dir);
	unlink(path);
	cr_assert_eq(symlink(target, path), 0, "symlink %s -> %s", path, target);
}

/* The images of the top directory and of levels 1..@levels-1 (write_level()). */
static void build_chain(struct chain *c, int levels, int stale, size_t split)
{
	write_level(c, c->top, 0, c->pages_id, stale, 0);
	for (int k = 1; k < levels; k++)
		write_level(c, c->lvl[k], k, 100 + (uint32_t)k, stale, split);
}

/* Groups of contiguous pages with one owner: the runs the flattened index must have. */
static size_t expected_runs(const struct chain *c)
{
	size_t n = 0;

	for (size_t i = 0; i < c->n; i++)
		if (!i || c->owner[i] != c->owner[i - 1] || c->addr[i] != c->addr[i - 1] + PAGE)
			n++;
	return n;
}

/*
 * rimg_load on the top directory: every page of D must be found at its owner
 * level with D's bytes (stale bytes or a wrong offset fail), and the index
 * must be flattened into the fewest runs.
 */
static void check_chain(struct chain *c, int levels)
{
	unsigned char got[PAGE], want[PAGE];
	const struct rimg_pagemap *pm;
	struct rimg *r = ri_load_ok(c->top);
	int deepest = 0;

	pm = r->procs[0].pm;
	for (size_t i = 0; i < c->n; i++) {
		const struct rimg_page_run *run = rimg_find_page(pm, c->addr[i] + 17);
		uint64_t off;

		if (c->owner[i] > deepest)
			deepest = c->owner[i];
		cr_assert_not_null(run, "page 0x%llx is not in the index",
				   (unsigned long long)c->addr[i]);
		cr_assert_eq((int)run->level, c->owner[i], "page 0x%llx: level %u, want %d",
			     (unsigned long long)c->addr[i], run->level, c->owner[i]);
		cr_assert_eq(run->flags, c->owner[i] ? PE_PARENT : PE_PRESENT);
		cr_assert_lt(run->level, pm->nr_files);
		off = run->file_off + (c->addr[i] - run->vaddr);
		cr_assert_leq(off + PAGE, pm->files[run->level].size);
		cr_assert_eq(pread(pm->files[run->level].fd, got, PAGE, (off_t)off), (ssize_t)PAGE);
		cr_assert_eq(pread(c->pages_fd, want, PAGE, (off_t)c->off[i]), (ssize_t)PAGE);
		cr_assert(!memcmp(got, want, PAGE), "page 0x%llx (level %d): wrong bytes",
			  (unsigned long long)c->addr[i], c->owner[i]);
		if (in_memhog(c, i))
			cr_assert_eq(((uint64_t *)got)[5], pattern_word(c->addr[i] + 40, c->seed));
	}
	cr_assert_eq(pm->nr_runs, expected_runs(c), "%zu runs, want %zu", pm->nr_runs,
		     expected_runs(c));
	for (size_t i = 1; i < pm->nr_runs; i++)
		cr_assert_geq(pm->runs[i].vaddr,
			      pm->runs[i - 1].vaddr + pm->runs[i - 1].nr_pages * PAGE);
	cr_assert_eq(pm->nr_files, (size_t)deepest + 1);
	cr_assert_eq(r->nr_chain, (size_t)levels - 1);
	cr_assert_eq(pm->pages_fd, pm->files[0].fd);
	rimg_free(r);
}

/* Two levels: owners alternate in groups; top -> parent by absolute path. */
Test(restore_images, chain_two_levels_absolute_link)
{
	struct chain c;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	chain_init(&c, 0);
	for (size_t i = 0; i < c.n; i++)
		c.owner[i] = (i % 5 == 0 || (i / 4) % 3 == 0) ? 0 : 1;
	build_chain(&c, 2, 0, 0);
	link_parent(c.top, c.lvl[1]);
	check_chain(&c, 2);
	chain_fini(&c);
}

/*
 * The three-level chain of the tests below: every 5th page in the top set,
 * the others in level 1 or 2 by turns of three, stale pages in the parents
 * (their entries cut every 2 pages), a relative then an absolute link.
 */
static void three_levels(struct chain *c)
{
	chain_init(c, 0);
	for (size_t i = 0; i < c->n; i++)
		c->owner[i] = i % 5 == 0 ? 0 : (i / 3) % 2 == 0 ? 1 : 2;
	build_chain(c, 3, 1, 2);
	link_parent(c->top, "../p1");
	link_parent(c->lvl[1], c->lvl[2]);
}

/*
 * Three levels, relative then absolute links, stale pages in the parents: a
 * top run in the parent spans several runs of level 1 (present ones and ones
 * in its parent), and a run of level 1 spans several top runs. The parents'
 * entries are cut every 2 pages: the index must merge the pieces again.
 */
Test(restore_images, chain_three_levels_split_merge)
{
	struct chain c;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	three_levels(&c);
	check_chain(&c, 3);
	chain_fini(&c);
}

/* Write the pages of @c owned by level @k with the page writer (from the live memhog). */
static void page_writer_level(struct chain *c, int k)
{
	struct page_writer_stats st;
	struct page_writer *pw;
	int dfd = open(c->lvl[k], O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	cr_assert_geq(dfd, 0);
	cr_assert_eq(page_writer_open(&pw, dfd, c->d.pid, 200 + (uint32_t)k, NULL), 0);
	for (size_t i = 0; i < c->n;) {
		size_t j = i + 1;
		int o = c->owner[i];

		while (j < c->n && c->owner[j] == o && c->addr[j] == c->addr[j - 1] + PAGE)
			j++;
		if (o == k)
			cr_assert_eq(page_writer_add(pw, c->addr[i], j - i), 0);
		else if (o > k)
			cr_assert_eq(page_writer_add_parent(pw, c->addr[i], j - i), 0);
		i = j;
	}
	cr_assert_eq(page_writer_commit(pw, &st), 0);
	close(dfd);
}

/* Levels 1 and 2 written by the page writer from memhog's real memory; no stale pages. */
Test(restore_images, chain_from_page_writer)
{
	struct chain c;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	chain_init(&c, 1);
	/* Only memhog's mapping, which does not change while it idles, is in the parents. */
	for (size_t i = 0; i < c.n; i++)
		c.owner[i] = in_memhog(&c, i) ? (int)((i / 7) % 3) : 0;
	page_writer_level(&c, 2);
	page_writer_level(&c, 1);
	ri_kill_workload(&c.d);
	write_level(&c, c.top, 0, c.pages_id, 0, 0);
	link_parent(c.top, "../p1");
	link_parent(c.lvl[1], "../p2");
	check_chain(&c, 3);
	chain_fini(&c);
}

/* A parent link that no page needs is not followed: a dangling one does not matter. */
Test(restore_images, chain_unused_parent_link_ignored)
{
	struct chain c;
	struct rimg *r;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	chain_init(&c, 0);
	link_parent(c.top, "../nowhere");
	r = ri_load_ok(c.top);
	cr_assert(r->has_parent);
	cr_assert_eq(r->nr_chain, 0);
	cr_assert_eq(r->procs[0].pm->nr_files, 1);
	rimg_free(r);
	chain_fini(&c);
}

/* The first page of @c owned by level @k. */
static uint64_t first_owned(const struct chain *c, int k)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->owner[i] == k)
			return c->addr[i];
	cr_assert_fail("no page at level %d", k);
	return 0;
}

Test(restore_images, chain_missing_parent)
{
	struct chain c;
	char want[800];

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	chain_init(&c, 0);
	for (size_t i = 0; i < c.n; i++)
		c.owner[i] = i % 2;
	build_chain(&c, 2, 0, 0);
	link_parent(c.top, "../nowhere");
	snprintf(want, sizeof(want), "pid %d: page 0x%llx is in the parent image set of %s",
		 c.d.pid, (unsigned long long)first_owned(&c, 1), c.top);
	ri_expect_fail(c.top, -ENOENT, want, "/parent (-> ../nowhere) cannot be opened");
	chain_fini(&c);
}

Test(restore_images, chain_loop)
{
	struct chain c;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	chain_init(&c, 0);
	for (size_t i = 0; i < c.n; i++)
		c.owner[i] = i % 3;
	build_chain(&c, 3, 0, 0);
	/* Level 2 is the top again. */
	link_parent(c.top, "../p1");
	link_parent(c.lvl[1], "../top");
	ri_expect_fail(c.top, -ELOOP, "p1/parent (-> ../top) leads back to", "has a loop");
	/* The top is its own parent. */
	link_parent(c.top, ".");
	ri_expect_fail(c.top, -ELOOP, "top/parent (-> .) leads back to", "has a loop");
	chain_fini(&c);
}

/* 65 levels, each with every page in its parent: longer than RIMG_MAX_CHAIN. */
Test(restore_images, chain_too_long)
{
	struct chain c;
	char dir[700], link[32];

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	chain_init(&c, 0);
	for (size_t i = 0; i < c.n; i++)
		c.owner[i] = RIMG_MAX_CHAIN + 10;
	write_level(&c, c.top, 0, c.pages_id, 0, 0);
	link_parent(c.top, "../l1");
	for (int k = 1; k <= RIMG_MAX_CHAIN + 1; k++) {
		snprintf(dir, sizeof(dir), "%s/l%d", c.d.dir, k);
		cr_assert_eq(
			t_run(NULL, NULL, "mkdir %s && cp %s/inventory.img %s", dir, c.d.img, dir),
			0);
		write_level(&c, dir, k, 1, 0, 0);
		snprintf(link, sizeof(link), "../l%d", k + 1);
		link_parent(dir, link);
	}
	ri_expect_fail(c.top, -ELOOP, "beyond the 64 image sets", "l64");
	chain_fini(&c);
}

/* A page the top has in its parent, which the parent does not have. */
Test(restore_images, chain_page_absent_in_parent)
{
	struct chain c;
	char want[800], name[64];
	size_t victim = 0;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	chain_init(&c, 0);
	for (size_t i = 0; i < c.n; i++) {
		c.owner[i] = (i / 8) % 2;
		if (!victim && c.owner[i] && in_memhog(&c, i) && i % 8 == 3)
			victim = i;
	}
	cr_assert_neq(victim, 0);
	c.owner[victim] = OWNER_ABSENT;
	build_chain(&c, 2, 0, 0);
	link_parent(c.top, "../p1");
	snprintf(name, sizeof(name), "pagemap-%d.img", c.d.pid);
	snprintf(want, sizeof(want), "pid %d: page 0x%llx is in the parent image set of %s/%s",
		 c.d.pid, (unsigned long long)c.addr[victim], c.top, name);
	ri_expect_fail(c.top, -EINVAL, want, "does not have it");
	chain_fini(&c);
}

/* A parent without the pid's pagemap, or without its inventory.img (incomplete). */
Test(restore_images, chain_parent_incomplete)
{
	struct chain c;
	char path[700], name[64];

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	chain_init(&c, 0);
	for (size_t i = 0; i < c.n; i++)
		c.owner[i] = (i / 16) % 2;
	build_chain(&c, 2, 0, 0);
	link_parent(c.top, "../p1");
	snprintf(name, sizeof(name), "pagemap-%d.img", c.d.pid);
	snprintf(path, sizeof(path), "%s/%s", c.lvl[1], name);
	cr_assert_eq(unlink(path), 0);
	snprintf(path, sizeof(path), "%s/../p1/%s is missing", c.top, name);
	ri_expect_fail(c.top, -ENOENT, path, "page 0x");
	snprintf(path, sizeof(path), "%s/inventory.img", c.lvl[1]);
	cr_assert_eq(unlink(path), 0);
	ri_expect_fail(c.top, -ENOENT, "is not a complete pre-dump", "inventory.img");
	chain_fini(&c);
}

/* ---- restore from a chain, end to end ---------------------------------------------------- */

/* Restore @dir (-d) as the dumped memhog; it must verify its whole mapping. */
static void restore_memhog(struct ri_dump *d, const char *dir)
{
	char pidfile[700], *err = NULL, *s;
	int rc;

	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	snprintf(pidfile, sizeof(pidfile), "%s/restored.pid", d->dir);
	rc = t_run(NULL, &err, "%s restore -D %s -d --pidfile %s", t_ferry_bin(), dir, pidfile);
	cr_assert_eq(rc, 0, "restore of %s failed: %s", dir, err ? err : "");
	free(err);
	s = t_read_file(pidfile, NULL);
	cr_assert_not_null(s);
	cr_assert_eq(atoi(s), d->pid, "restored as pid %s", s);
	free(s);
	t_expect_verdict(d->out, d->pid, SIGUSR1, "memhog: verify ok", "verify BAD", 10000);
	t_kill_wait(d->pid);
}

static void all_in_parent(ProtobufCMessage *m, size_t idx, void *arg)
{
	PagemapEntry *e = (PagemapEntry *)m;

	(void)arg;
	if (!idx)
		return;
	e->has_flags = 1;
	e->flags = PE_PARENT;
	e->has_in_parent = 1;
	e->in_parent = 1;
}

/* D2 is D1 with every pagemap entry in the parent and an empty pages file. */
Test(restore_images, chain_restore_all_in_parent)
{
	const char *argv[] = { "memhog", "8", "3", NULL };
	char d2[600], path[700], name[64];
	struct rimg *r;
	struct ri_dump d;

	if (geteuid())
		cr_skip_test("ferry dump and restore need root");
	ri_make_dump(&d, argv, "ready");
	snprintf(d2, sizeof(d2), "%s/d2", d.dir);
	cr_assert_eq(t_run(NULL, NULL, "cp -a %s %s", d.img, d2), 0);
	snprintf(name, sizeof(name), "pagemap-%d.img", d.pid);
	ri_rewrite(d2, name, IMG_PAGEMAP, all_in_parent, NULL, 0);
	r = ri_load_ok(d.img);
	snprintf(path, sizeof(path), "%s/pages-%u.img", d2, r->procs[0].pm->pages_id);
	rimg_free(r);
	cr_assert_eq(truncate(path, 0), 0);
	link_parent(d2, "../img");
	r = ri_load_ok(d2);
	cr_assert_eq(r->nr_chain, 1);
	for (size_t i = 0; i < r->procs[0].pm->nr_runs; i++)
		cr_assert_eq(r->procs[0].pm->runs[i].level, 1);
	rimg_free(r);
	restore_memhog(&d, d2);
	ri_drop_dump(&d);
}

/* The three-level chain with stale pages in the parents, restored. */
Test(restore_images, chain_restore_three_levels)
{
	struct chain c;

	if (geteuid())
		cr_skip_test("ferry dump and restore need root");
	three_levels(&c);
	restore_memhog(&c.d, c.top);
	chain_fini(&c);
}
