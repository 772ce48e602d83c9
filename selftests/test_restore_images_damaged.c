// SPDX-License-Identifier: MIT
/*
 * Damaged copies of a real dump: missing images, a pages file too short or too
 * long, entries edited to contradict each other, a symlinked or FIFO image.
 * Each is refused with the right error and a message naming the culprit.
 * (Suite restore_images: its TestSuite is in test_restore_images.c; helpers in
 * restore_images_helpers.c.)
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "images.h"
#include "log.h"
#include "pagemap.pb-c.h"
#include "pstree.pb-c.h"

#include "restore_images_helpers.h"

Test(restore_images, missing_inventory)
{
	struct ri_dump d;
	char path[700];
	const char *bad;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	ri_start_memhog(&d);
	bad = ri_copy_dump(&d);
	snprintf(path, sizeof(path), "%s/inventory.img", bad);
	cr_assert_eq(unlink(path), 0);
	ri_expect_fail(bad, -ENOENT, "not a complete dump", "inventory.img");
	ri_drop_dump(&d);
}

Test(restore_images, missing_core)
{
	struct ri_dump d;
	char path[700], name[64];
	const char *bad;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	ri_start_memhog(&d);
	bad = ri_copy_dump(&d);
	snprintf(name, sizeof(name), "core-%d.img", d.pid);
	snprintf(path, sizeof(path), "%s/%s", bad, name);
	cr_assert_eq(unlink(path), 0);
	ri_expect_fail(bad, -ENOENT, name, "missing");
	ri_drop_dump(&d);
}

/* Grow (+) or shrink (-) pages-ID.img of the first process by @delta bytes. */
static const char *resize_pages(struct ri_dump *d, long delta, char *name, size_t nsz)
{
	struct rimg *r = ri_load_ok(d->img);
	const char *bad = ri_copy_dump(d);
	char path[800];
	struct stat st;

	snprintf(name, nsz, "pages-%u.img", r->procs[0].pm->pages_id);
	rimg_free(r);
	snprintf(path, sizeof(path), "%s/%s", bad, name);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_gt(st.st_size, 4096);
	cr_assert_eq(truncate(path, st.st_size + delta), 0);
	return bad;
}

Test(restore_images, pages_truncated_by_one_page)
{
	struct ri_dump d;
	char name[64], want[128];
	const char *bad;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	ri_start_memhog(&d);
	bad = resize_pages(&d, -4096, name, sizeof(name));
	snprintf(want, sizeof(want), "pagemap points past the end of %s", name);
	ri_expect_fail(bad, -EINVAL, want, "first missing page 0x");
	ri_drop_dump(&d);
}

Test(restore_images, pages_with_trailing_bytes)
{
	struct ri_dump d;
	char name[64], want[128];
	const char *bad;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	ri_start_memhog(&d);
	bad = resize_pages(&d, 100, name, sizeof(name));
	snprintf(want, sizeof(want), "%s has 100 trailing bytes", name);
	ri_expect_fail(bad, -EINVAL, want, NULL);
	ri_drop_dump(&d);
}

struct move {
	size_t idx;  /* pagemap entry index (the head is 0) */
	uint64_t to; /* its new vaddr */
};

static void move_entry(ProtobufCMessage *m, size_t idx, void *arg)
{
	struct move *mv = arg;

	if (idx == mv->idx)
		((PagemapEntry *)m)->vaddr = mv->to;
}

Test(restore_images, pagemap_entry_past_its_vma)
{
	const struct rimg_proc *p;
	struct move mv = { 0 };
	struct rimg *r;
	struct ri_dump d;
	char name[64], want[160];
	const char *bad;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	ri_start_memhog(&d);
	r = ri_load_ok(d.img);
	p = &r->procs[0];
	/* A run in a VMA followed by a hole: move it to start at that VMA's end. */
	for (size_t i = 0; i < p->pm->nr_runs && !mv.idx; i++) {
		uint64_t end = p->pm->runs[i].vaddr + p->pm->runs[i].nr_pages * PAGE;

		for (size_t v = 0; v < p->mm->n_vmas; v++) {
			const VmaEntry *e = p->mm->vmas[v];

			if (end > e->start && end <= e->end &&
			    (v + 1 == p->mm->n_vmas || p->mm->vmas[v + 1]->start > e->end)) {
				mv.idx = i + 1;
				mv.to = e->end;
				break;
			}
		}
	}
	cr_assert_neq(mv.idx, 0, "no run inside a VMA followed by a hole");
	rimg_free(r);
	bad = ri_copy_dump(&d);
	snprintf(name, sizeof(name), "pagemap-%d.img", d.pid);
	ri_rewrite(bad, name, IMG_PAGEMAP, move_entry, &mv, 0);
	snprintf(want, sizeof(want), "run 0x%llx-", (unsigned long long)mv.to);
	ri_expect_fail(bad, -EINVAL, want, "is not inside a VMA");
	/* The file named once, with its directory once: "DIR/pagemap-N.img: offset". */
	snprintf(want, sizeof(want), "%s/%s: offset ", bad, name);
	ri_expect_fail(bad, -EINVAL, want, NULL);
	ri_drop_dump(&d);
}

Test(restore_images, duplicated_pid)
{
	struct ri_dump d;
	char want[64];
	const char *bad;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	ri_start_memhog(&d);
	bad = ri_copy_dump(&d);
	ri_rewrite(bad, "pstree.img", IMG_PSTREE, NULL, NULL, 1);
	snprintf(want, sizeof(want), "pid %d appears twice", d.pid);
	ri_expect_fail(bad, -EINVAL, want, "pstree.img");
	ri_drop_dump(&d);
}

static void orphan(ProtobufCMessage *m, size_t idx, void *arg)
{
	PstreeEntry *e = (PstreeEntry *)m;

	(void)arg;
	if (idx == 1)
		e->ppid = 0x7ffffff0u;
}

Test(restore_images, ppid_not_in_tree)
{
	const char *argv[] = { "family", NULL };
	struct ri_dump d;
	const char *bad;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	ri_make_dump(&d, argv, "ready");
	bad = ri_copy_dump(&d);
	ri_rewrite(bad, "pstree.img", IMG_PSTREE, orphan, NULL, 0);
	ri_expect_fail(bad, -EINVAL, "parent pid 2147483632 is not in the tree", "pstree.img");
	ri_drop_dump(&d);
}

static void bad_file_id(ProtobufCMessage *m, size_t idx, void *arg)
{
	(void)arg;
	if (idx == 0)
		((FdinfoEntry *)m)->id = 0xdeadbeefu;
}

Test(restore_images, fdinfo_id_not_in_files)
{
	struct rimg *r;
	struct ri_dump d;
	char name[64], want[96];
	const char *bad;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	ri_start_memhog(&d);
	r = ri_load_ok(d.img);
	snprintf(name, sizeof(name), "fdinfo-%u.img", r->procs[0].threads[0].core->ids->files_id);
	rimg_free(r);
	bad = ri_copy_dump(&d);
	ri_rewrite(bad, name, IMG_FDINFO, bad_file_id, NULL, 0);
	snprintf(want, sizeof(want), "file id %u is not in files.img", 0xdeadbeefu);
	ri_expect_fail(bad, -EINVAL, want, name);
	ri_drop_dump(&d);
}

Test(restore_images, symlinked_image_refused)
{
	struct ri_dump d;
	char from[700], to[700], name[64];
	const char *bad;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	ri_start_memhog(&d);
	bad = ri_copy_dump(&d);
	snprintf(name, sizeof(name), "mm-%d.img", d.pid);
	snprintf(from, sizeof(from), "%s/%s", bad, name);
	snprintf(to, sizeof(to), "%s/outside-%s", d.dir, name);
	cr_assert_eq(rename(from, to), 0);
	cr_assert_eq(symlink(to, from), 0);
	ri_expect_fail(bad, -EINVAL, name, "not a regular file");
	ri_drop_dump(&d);
}

/* A FIFO named like the pages image is refused, not opened and waited on. */
Test(restore_images, fifo_pages_image_refused)
{
	struct ri_dump d;
	char path[700];
	const char *bad;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	ri_start_memhog(&d);
	bad = ri_copy_dump(&d);
	snprintf(path, sizeof(path), "%s/pages-1.img", bad);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(mkfifo(path, 0600), 0);
	ri_expect_fail(bad, -EINVAL, "pages-1.img", "not a regular file");
	ri_drop_dump(&d);
}
