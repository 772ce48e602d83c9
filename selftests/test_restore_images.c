// SPDX-License-Identifier: MIT
/*
 * The restore side's image loader on real dumps: ferry dumps a real workload,
 * the loader's model must match the workload (processes, threads, memory and
 * its bytes in the pages file, pipe data). Damaged copies of the dump, each to
 * be refused with the right error and a message naming the culprit, are in
 * test_restore_images_damaged.c; images restore cannot use in
 * test_restore_images_unusable.c; pre-dump chains in
 * test_restore_images_chain.c. All are suite restore_images.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "images.h"
#include "log.h"
#include "pagemap_flags.h"
#include "pattern.h"

#include "restore_images_helpers.h"

TestSuite(restore_images, .timeout = 120);

Test(restore_images, memhog_model_and_pages)
{
	uint64_t base, size, seed, buf[PAGE / 8];
	const struct rimg_proc *p;
	struct rimg *r;
	struct ri_dump d;
	size_t holes = 0;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	ri_start_memhog(&d);
	ri_parse_memhog(&d, &base, &size, &seed);
	r = ri_load_ok(d.img);
	cr_assert_eq(r->nr_procs, 1);
	p = &r->procs[0];
	cr_assert_eq(p->pid, d.pid);
	cr_assert_eq(p->parent, -1);
	cr_assert_eq(p->nr_threads, 1);
	cr_assert_eq(p->threads[0].tid, d.pid);
	cr_assert_not_null(p->threads[0].core->tc);
	cr_assert_not_null(p->mm);
	cr_assert_not_null(p->fs);
	cr_assert_gt(p->nr_fds, 0, "stdin/stdout/stderr at least");
	for (size_t i = 0; i < p->nr_fds; i++)
		cr_assert_not_null(rimg_file(r, p->fds[i]->id));
	cr_assert_geq(p->pm->pages_fd, 0);
	cr_assert_gt(p->pm->nr_runs, 0);
	for (size_t i = 1; i < p->pm->nr_runs; i++)
		cr_assert_geq(p->pm->runs[i].vaddr,
			      p->pm->runs[i - 1].vaddr + p->pm->runs[i - 1].nr_pages * PAGE);

	/* Every touched page of the mapping is in the pages file, at the right place. */
	for (uint64_t a = base; a < base + size; a += PAGE) {
		const struct rimg_page_run *run = rimg_find_page(p->pm, a + 123);
		uint64_t off;

		if (((a - base) / PAGE) % PATTERN_HOLE_EVERY == PATTERN_HOLE_EVERY - 1) {
			cr_assert_null(run, "never touched page 0x%llx is in the pagemap",
				       (unsigned long long)a);
			holes++;
			continue;
		}
		cr_assert_not_null(run, "page 0x%llx is not in the pagemap", (unsigned long long)a);
		cr_assert(run->flags & PE_PRESENT);
		off = run->file_off + (a - run->vaddr);
		cr_assert_lt(off + PAGE, p->pm->pages_size + 1);
		cr_assert_eq(pread(p->pm->pages_fd, buf, PAGE, (off_t)off), (ssize_t)PAGE);
		cr_assert_eq(buf[0], pattern_word(a, seed), "page 0x%llx at offset %llu",
			     (unsigned long long)a, (unsigned long long)off);
		cr_assert_eq(buf[PAGE / 8 - 1], pattern_word(a + PAGE - 8, seed));
	}
	cr_assert_eq(holes, size / PAGE / PATTERN_HOLE_EVERY);
	cr_assert_null(rimg_find_page(p->pm, 0));
	cr_assert_null(rimg_find_page(p->pm, UINT64_MAX));
	rimg_free(r);
	ri_drop_dump(&d);
}

Test(restore_images, threads)
{
	const char *argv[] = { "threads", "4", NULL };
	const struct rimg_proc *p;
	struct rimg *r;
	struct ri_dump d;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	ri_make_dump(&d, argv, "ready");
	r = ri_load_ok(d.img);
	cr_assert_eq(r->nr_procs, 1);
	p = &r->procs[0];
	cr_assert_eq(p->nr_threads, 5, "the main thread and 4 workers");
	cr_assert_eq(p->threads[0].tid, d.pid);
	cr_assert_not_null(p->threads[0].core->ids);
	for (size_t k = 0; k < p->nr_threads; k++) {
		cr_assert_not_null(p->threads[k].core->thread_info);
		cr_assert_not_null(strstr(d.line, "tids"));
		if (k) {
			char tid[16];

			snprintf(tid, sizeof(tid), " %d", p->threads[k].tid);
			cr_assert_not_null(strstr(d.line, tid), "tid %d not in '%s'",
					   p->threads[k].tid, d.line);
		}
	}
	rimg_free(r);
	ri_drop_dump(&d);
}

Test(restore_images, family_tree_and_pipe_data)
{
	const char *argv[] = { "family", NULL };
	int parent, reader, busy, found = 0;
	const unsigned char *data;
	struct rimg *r;
	struct ri_dump d;
	size_t bytes, len;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	ri_make_dump(&d, argv, "ready");
	cr_assert_eq(sscanf(strstr(d.line, "family:"),
			    "family: parent %d reader %d busy %d bytes %zu", &parent, &reader,
			    &busy, &bytes),
		     4);
	r = ri_load_ok(d.img);
	cr_assert_eq(r->nr_procs, 3);
	cr_assert_eq(r->procs[0].pid, parent);
	cr_assert_eq(r->procs[0].parent, -1);
	for (size_t i = 1; i < 3; i++) {
		cr_assert_eq(r->procs[i].parent, 0);
		cr_assert_eq(r->procs[i].ppid, parent);
		cr_assert(r->procs[i].pid == reader || r->procs[i].pid == busy);
	}
	/* The pipe the parent writes to holds the bytes in flight. */
	for (size_t i = 0; i < r->nr_files; i++) {
		const FileEntry *f = r->files[i];

		if (f->type != FD_TYPES__PIPE ||
		    rimg_pipe_data(r, f->pipe->pipe_id, (const void **)&data, &len))
			continue;
		found = 1;
		cr_assert_eq(len, bytes);
		for (size_t k = 0; k < len; k++)
			cr_assert_eq(data[k], (unsigned char)((k * 131 + 7) ^ (k >> 8)), "byte %zu",
				     k);
	}
	cr_assert(found, "no pipe with data");
	cr_assert_eq(rimg_pipe_data(r, 0xfffffff0u, (const void **)&data, &len), -ENOENT);
	rimg_free(r);
	ri_drop_dump(&d);
}
