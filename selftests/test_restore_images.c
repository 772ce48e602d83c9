// SPDX-License-Identifier: MIT
/*
 * The restore side's image loader on real dumps: ferry dumps a real workload,
 * the loader's model must match the workload (processes, threads, memory and
 * its bytes in the pages file, pipe data), and damaged copies of the dump must
 * each be refused with the right error and a message naming the culprit.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "images.h"
#include "img.h"
#include "log.h"
#include "pagemap.pb-c.h"
#include "pagemap_flags.h"
#include "pattern.h"
#include "pstree.pb-c.h"

#define PAGE 4096ull

struct dump {
	char *dir;     /* test directory */
	char img[512]; /* the images */
	char line[512];
	pid_t pid;
};

/* Run workload @argv until @ready, dump it with --leave-running, then kill it. */
static void make_dump(struct dump *d, const char *const argv[], const char *ready)
{
	char out[512], *line, *err = NULL;
	int rc;

	d->dir = t_tmpdir();
	snprintf(out, sizeof(out), "%s/out", d->dir);
	snprintf(d->img, sizeof(d->img), "%s/img", d->dir);
	d->pid = t_spawn(out, argv);
	cr_assert_gt(d->pid, 0);
	line = t_wait_line(out, ready, 10000);
	cr_assert_not_null(line, "workload %s never printed '%s'", argv[0], ready);
	snprintf(d->line, sizeof(d->line), "%s", line);
	free(line);
	rc = t_run(NULL, &err, "%s dump -t %d -D %s --leave-running", t_ferry_bin(), d->pid,
		   d->img);
	kill(-d->pid, SIGKILL);
	t_kill_wait(d->pid);
	cr_assert_eq(rc, 0, "ferry dump failed: %s", err ? err : "");
	free(err);
}

static void drop_dump(struct dump *d)
{
	t_rmrf(d->dir);
	free(d->dir);
}

static struct rimg *load_ok(const char *dir)
{
	struct rimg *r = NULL;
	int err = rimg_load(&r, dir);

	cr_assert_eq(err, 0, "rimg_load %s: %s", dir, strerror(-err));
	cr_assert_not_null(r);
	return r;
}

/* A damaged copy of the dump: DIR/bad. */
static const char *copy_dump(struct dump *d)
{
	static char bad[600];

	snprintf(bad, sizeof(bad), "%s/bad", d->dir);
	cr_assert_eq(t_run(NULL, NULL, "cp -a %s %s", d->img, bad), 0);
	return bad;
}

/* rimg_load on @dir must fail with @want and log a line containing each needle. */
static void expect_fail(const char *dir, int want, const char *needle, const char *needle2)
{
	char logp[700], *log;
	struct rimg *r = (struct rimg *)1;
	int err;

	snprintf(logp, sizeof(logp), "%s.log", dir);
	cr_assert_eq(log_init(logp, LOG_ERROR, 0), 0);
	err = rimg_load(&r, dir);
	log_fini();
	log = t_read_file(logp, NULL);
	cr_assert_not_null(log);
	cr_assert_eq(err, want, "rimg_load returned %d (%s), want %d; log: %s", err, strerror(-err),
		     want, log);
	cr_assert_null(r, "no model on failure");
	cr_assert(strstr(log, needle), "log lacks '%s': %s", needle, log);
	if (needle2)
		cr_assert(strstr(log, needle2), "log lacks '%s': %s", needle2, log);
	free(log);
}

static void parse_memhog(const struct dump *d, uint64_t *base, uint64_t *size, uint64_t *seed)
{
	unsigned long long b, s, sd;
	int pid;

	cr_assert_eq(sscanf(strstr(d->line, "memhog:"),
			    "memhog: pid %d base %llx size %llu seed %llu", &pid, &b, &s, &sd),
		     4, "memhog said '%s'", d->line);
	*base = b;
	*size = s;
	*seed = sd;
}

static void start_memhog(struct dump *d)
{
	const char *argv[] = { "memhog", "8", "1", NULL };

	make_dump(d, argv, "ready");
}

TestSuite(restore_images, .timeout = 120);

Test(restore_images, memhog_model_and_pages)
{
	uint64_t base, size, seed, buf[PAGE / 8];
	const struct rimg_proc *p;
	struct rimg *r;
	struct dump d;
	size_t holes = 0;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	start_memhog(&d);
	parse_memhog(&d, &base, &size, &seed);
	r = load_ok(d.img);
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
	drop_dump(&d);
}

Test(restore_images, threads)
{
	const char *argv[] = { "threads", "4", NULL };
	const struct rimg_proc *p;
	struct rimg *r;
	struct dump d;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	make_dump(&d, argv, "ready");
	r = load_ok(d.img);
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
	drop_dump(&d);
}

Test(restore_images, family_tree_and_pipe_data)
{
	const char *argv[] = { "family", NULL };
	int parent, reader, busy, found = 0;
	const unsigned char *data;
	struct rimg *r;
	struct dump d;
	size_t bytes, len;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	make_dump(&d, argv, "ready");
	cr_assert_eq(sscanf(strstr(d.line, "family:"),
			    "family: parent %d reader %d busy %d bytes %zu", &parent, &reader,
			    &busy, &bytes),
		     4);
	r = load_ok(d.img);
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
	drop_dump(&d);
}

Test(restore_images, missing_inventory)
{
	struct dump d;
	char path[700];
	const char *bad;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	start_memhog(&d);
	bad = copy_dump(&d);
	snprintf(path, sizeof(path), "%s/inventory.img", bad);
	cr_assert_eq(unlink(path), 0);
	expect_fail(bad, -ENOENT, "not a complete dump", "inventory.img");
	drop_dump(&d);
}

Test(restore_images, missing_core)
{
	struct dump d;
	char path[700], name[64];
	const char *bad;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	start_memhog(&d);
	bad = copy_dump(&d);
	snprintf(name, sizeof(name), "core-%d.img", d.pid);
	snprintf(path, sizeof(path), "%s/%s", bad, name);
	cr_assert_eq(unlink(path), 0);
	expect_fail(bad, -ENOENT, name, "missing");
	drop_dump(&d);
}

/* Grow (+) or shrink (-) pages-ID.img of the first process by @delta bytes. */
static const char *resize_pages(struct dump *d, long delta, char *name, size_t nsz)
{
	struct rimg *r = load_ok(d->img);
	const char *bad = copy_dump(d);
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
	struct dump d;
	char name[64], want[128];
	const char *bad;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	start_memhog(&d);
	bad = resize_pages(&d, -4096, name, sizeof(name));
	snprintf(want, sizeof(want), "pagemap points past the end of %s", name);
	expect_fail(bad, -EINVAL, want, "first missing page 0x");
	drop_dump(&d);
}

Test(restore_images, pages_with_trailing_bytes)
{
	struct dump d;
	char name[64], want[128];
	const char *bad;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	start_memhog(&d);
	bad = resize_pages(&d, 100, name, sizeof(name));
	snprintf(want, sizeof(want), "%s has 100 trailing bytes", name);
	expect_fail(bad, -EINVAL, want, NULL);
	drop_dump(&d);
}

/* Rewrite image @name of @dir entry by entry, through @edit (which may add one). */
typedef void (*edit_fn)(ProtobufCMessage *m, size_t idx, void *arg);

static void rewrite(const char *dir, const char *name, const struct img_type *t, edit_fn edit,
		    void *arg, int dup_first)
{
	ProtobufCMessage *m, *first = NULL;
	struct img *in, *out;
	size_t idx = 0;
	int dfd, rc;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(dfd, 0);
	cr_assert_eq(img_open(&in, dfd, name, t), 0);
	cr_assert_eq(unlinkat(dfd, name, 0), 0); /* the mapping stays readable */
	cr_assert_eq(img_create(&out, dfd, name, t), 0);
	while ((rc = img_read_entry(in, &m)) == 1) {
		if (edit)
			edit(m, idx, arg);
		cr_assert_eq(img_write_entry(out, m), 0);
		if (!idx && dup_first)
			first = m;
		else
			protobuf_c_message_free_unpacked(m, NULL);
		idx++;
	}
	cr_assert_eq(rc, 0);
	if (first) {
		cr_assert_eq(img_write_entry(out, first), 0);
		protobuf_c_message_free_unpacked(first, NULL);
	}
	cr_assert_eq(img_commit(out), 0);
	img_close(in);
	close(dfd);
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
	struct dump d;
	char name[64], want[160];
	const char *bad;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	start_memhog(&d);
	r = load_ok(d.img);
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
	bad = copy_dump(&d);
	snprintf(name, sizeof(name), "pagemap-%d.img", d.pid);
	rewrite(bad, name, IMG_PAGEMAP, move_entry, &mv, 0);
	snprintf(want, sizeof(want), "run 0x%llx-", (unsigned long long)mv.to);
	expect_fail(bad, -EINVAL, want, "is not inside a VMA");
	drop_dump(&d);
}

Test(restore_images, duplicated_pid)
{
	struct dump d;
	char want[64];
	const char *bad;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	start_memhog(&d);
	bad = copy_dump(&d);
	rewrite(bad, "pstree.img", IMG_PSTREE, NULL, NULL, 1);
	snprintf(want, sizeof(want), "pid %d appears twice", d.pid);
	expect_fail(bad, -EINVAL, want, "pstree.img");
	drop_dump(&d);
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
	struct dump d;
	const char *bad;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	make_dump(&d, argv, "ready");
	bad = copy_dump(&d);
	rewrite(bad, "pstree.img", IMG_PSTREE, orphan, NULL, 0);
	expect_fail(bad, -EINVAL, "parent pid 2147483632 is not in the tree", "pstree.img");
	drop_dump(&d);
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
	struct dump d;
	char name[64], want[96];
	const char *bad;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	start_memhog(&d);
	r = load_ok(d.img);
	snprintf(name, sizeof(name), "fdinfo-%u.img", r->procs[0].threads[0].core->ids->files_id);
	rimg_free(r);
	bad = copy_dump(&d);
	rewrite(bad, name, IMG_FDINFO, bad_file_id, NULL, 0);
	snprintf(want, sizeof(want), "file id %u is not in files.img", 0xdeadbeefu);
	expect_fail(bad, -EINVAL, want, name);
	drop_dump(&d);
}

Test(restore_images, symlinked_image_refused)
{
	struct dump d;
	char from[700], to[700], name[64];
	const char *bad;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	start_memhog(&d);
	bad = copy_dump(&d);
	snprintf(name, sizeof(name), "mm-%d.img", d.pid);
	snprintf(from, sizeof(from), "%s/%s", bad, name);
	snprintf(to, sizeof(to), "%s/outside-%s", d.dir, name);
	cr_assert_eq(rename(from, to), 0);
	cr_assert_eq(symlink(to, from), 0);
	expect_fail(bad, -EINVAL, name, "not a regular file");
	drop_dump(&d);
}

/* A FIFO named like the pages image is refused, not opened and waited on. */
Test(restore_images, fifo_pages_image_refused)
{
	struct dump d;
	char path[700];
	const char *bad;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	start_memhog(&d);
	bad = copy_dump(&d);
	snprintf(path, sizeof(path), "%s/pages-1.img", bad);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(mkfifo(path, 0600), 0);
	expect_fail(bad, -EINVAL, "pages-1.img", "not a regular file");
	drop_dump(&d);
}
