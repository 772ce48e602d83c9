// SPDX-License-Identifier: MIT
/*
 * The restore side's image loader on real dumps: ferry dumps a real workload,
 * the loader's model must match the workload (processes, threads, memory and
 * its bytes in the pages file, pipe data), and damaged copies of the dump must
 * each be refused with the right error and a message naming the culprit.
 * Pre-dump chains are built from a real dump (and from the page writer on the
 * live workload): the loader must resolve every page to the level holding it,
 * refuse broken chains, and ferry restore must bring the workload back from
 * them.
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

#include "helpers.h"
#include "images.h"
#include "img.h"
#include "log.h"
#include "page_writer.h"
#include "pagemap.pb-c.h"
#include "pagemap_flags.h"
#include "pattern.h"
#include "pstree.pb-c.h"
#include "cgroup.pb-c.h"
#include "cpuinfo.pb-c.h"
#include "seccomp.pb-c.h"
#include "sk-packet.pb-c.h"
#include "stats.pb-c.h"
#include "timens.pb-c.h"

#define PAGE 4096ull

struct dump {
	char *dir;     /* test directory */
	char img[512]; /* the images */
	char out[512]; /* the workload's stdout and stderr */
	char line[512];
	pid_t pid;
};

static void kill_workload(struct dump *d)
{
	kill(-d->pid, SIGKILL);
	t_kill_wait(d->pid);
}

/* Run workload @argv until @ready, dump it with --leave-running, then kill it unless @keep. */
static void make_dump_keep(struct dump *d, const char *const argv[], const char *ready, int keep)
{
	char *line, *err = NULL;
	int rc;

	d->dir = t_tmpdir();
	snprintf(d->out, sizeof(d->out), "%s/out", d->dir);
	snprintf(d->img, sizeof(d->img), "%s/img", d->dir);
	d->pid = t_spawn(d->out, argv);
	cr_assert_gt(d->pid, 0);
	line = t_wait_line(d->out, ready, 10000);
	cr_assert_not_null(line, "workload %s never printed '%s'", argv[0], ready);
	snprintf(d->line, sizeof(d->line), "%s", line);
	free(line);
	rc = t_run(NULL, &err, "%s dump -t %d -D %s --leave-running", t_ferry_bin(), d->pid,
		   d->img);
	if (!keep || rc)
		kill_workload(d);
	cr_assert_eq(rc, 0, "ferry dump failed: %s", err ? err : "");
	free(err);
}

static void make_dump(struct dump *d, const char *const argv[], const char *ready)
{
	make_dump_keep(d, argv, ready, 0);
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
	/* The file named once, with its directory once: "DIR/pagemap-N.img: offset". */
	snprintf(want, sizeof(want), "%s/%s: offset ", bad, name);
	expect_fail(bad, -EINVAL, want, NULL);
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

/* ---- images restore cannot use ---------------------------------------------------------- */

/* Write image @name of type @t into @dir: @msg (if any), then @n raw bytes (if any). */
static void put_image(const char *dir, const char *name, const char *type,
		      const ProtobufCMessage *msg, size_t n)
{
	const struct img_type *t = img_type_by_name(type);
	static const uint8_t bytes[64];
	struct img *img;
	int dfd;

	cr_assert_not_null(t, "%s", type);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(dfd, 0);
	cr_assert_eq(img_create(&img, dfd, name, t), 0, "%s", name);
	if (msg)
		cr_assert_eq(img_write_entry(img, msg), 0);
	if (n)
		cr_assert_eq(img_write_raw(img, bytes, n), 0);
	cr_assert_eq(img_commit(img), 0);
	close(dfd);
}

static void rm_image(const char *dir, const char *name)
{
	char path[700];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cr_assert_eq(unlink(path), 0, "%s: %m", path);
}

/*
 * CRIU writes seccomp.img, timens-0.img and cgroup.img in every dump: with no
 * filter and the clocks of its own time namespace they change nothing, and
 * the dump loads (so do stats, cpuinfo and irmap-cache). A seccomp filter, a
 * dumped time namespace, socket queues, a raw network image or shared memory
 * pages are refused, each image named, by rimg_load and by ferry restore.
 */
Test(restore_images, unusable_images_refused)
{
	SeccompEntry se = SECCOMP_ENTRY__INIT;
	SeccompFilter sf = SECCOMP_FILTER__INIT, *sfs[] = { &sf };
	Timespec ts = TIMESPEC__INIT;
	TimensEntry te = TIMENS_ENTRY__INIT;
	CgroupEntry cg = CGROUP_ENTRY__INIT;
	CpuinfoEntry ci = CPUINFO_ENTRY__INIT;
	StatsEntry st = STATS_ENTRY__INIT;
	SkPacketEntry sk = SK_PACKET_ENTRY__INIT;
	static const char *const refused[] = { "sk-queues.img", "ifaddr-7.img" };
	struct rimg *r;
	struct dump d;
	char *out, *err, *log, logp[700];
	const char *bad;
	int rc;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	start_memhog(&d);
	bad = copy_dump(&d);
	te.monotonic = te.boottime = &ts;
	put_image(bad, "seccomp.img", "SECCOMP", &se.base, 0);
	put_image(bad, "timens-0.img", "TIMENS", &te.base, 0);
	put_image(bad, "cgroup.img", "CGROUP", &cg.base, 0);
	put_image(bad, "cpuinfo.img", "CPUINFO", &ci.base, 0);
	put_image(bad, "stats-dump", "STATS", &st.base, 0);
	put_image(bad, "irmap-cache", "IRMAP_CACHE", NULL, 0);
	r = load_ok(bad);
	rimg_free(r);

	sf.filter.len = 8;
	sf.filter.data = (uint8_t *)"\x06\0\0\0\0\0\xff\x7f";
	se.n_seccomp_filters = 1;
	se.seccomp_filters = sfs;
	put_image(bad, "seccomp.img", "SECCOMP", &se.base, 0);
	expect_fail(bad, -EOPNOTSUPP, "seccomp.img: holds 1 seccomp filter",
		    "ferry restore installs no seccomp filter");
	se.n_seccomp_filters = 0;
	put_image(bad, "seccomp.img", "SECCOMP", &se.base, 0);

	put_image(bad, "timens-4026531834.img", "TIMENS", &te.base, 0);
	expect_fail(bad, -EOPNOTSUPP, "timens-4026531834.img: a dumped time namespace", NULL);
	rm_image(bad, "timens-4026531834.img");

	sk.id_for = 3;
	sk.length = 5;
	put_image(bad, "sk-queues.img", "SK_QUEUES", &sk.base, 5);
	put_image(bad, "ifaddr-7.img", "IFADDR", NULL, 32);
	expect_fail(bad, -EOPNOTSUPP, "ferry restore restores no sockets", NULL);
	/* Every refused image is named, not only the first one found. */
	snprintf(logp, sizeof(logp), "%s.log", bad);
	log = t_read_file(logp, NULL);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		cr_assert(strstr(log, refused[i]), "%s not named: %s", refused[i], log);
	free(log);

	rc = t_run(&out, &err, "%s restore -D %s", t_ferry_bin(), bad);
	cr_assert_neq(rc, 0, "ferry restore took a dump with sockets: %s", err);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		cr_assert(strstr(err, refused[i]), "%s not named: %s", refused[i], err);
	free(out);
	free(err);
	drop_dump(&d);
}

/* Take the ids out of the leader's core, as CRIU 4.x writes it (ids go to ids-PID.img). */
static void drop_core_ids(ProtobufCMessage *m, size_t idx, void *arg)
{
	CoreEntry *c = (CoreEntry *)m;

	(void)idx;
	*(TaskKobjIdsEntry **)arg = c->ids;
	c->ids = NULL;
}

Test(restore_images, ids_from_ids_img)
{
	TaskKobjIdsEntry *ids = NULL;
	struct rimg *r;
	struct dump d;
	char core[64], name[64];
	uint32_t files_id;
	const char *bad;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	start_memhog(&d);
	bad = copy_dump(&d);
	snprintf(core, sizeof(core), "core-%d.img", d.pid);
	rewrite(bad, core, IMG_CORE, drop_core_ids, &ids, 0);
	cr_assert_not_null(ids, "ferry's dump has the ids in the core");
	files_id = ids->files_id;
	snprintf(name, sizeof(name), "ids-%d.img", d.pid);
	put_image(bad, name, "IDS", &ids->base, 0);
	protobuf_c_message_free_unpacked(&ids->base, NULL);

	r = load_ok(bad);
	cr_assert_null(r->procs[0].threads[0].core->ids);
	cr_assert_not_null(r->procs[0].ids);
	cr_assert_eq(r->procs[0].ids->files_id, files_id);
	cr_assert_eq(r->procs[0].nr_fds > 0, 1, "fdinfo-%u.img read through ids-PID.img", files_id);
	rimg_free(r);

	rm_image(bad, name);
	expect_fail(bad, -ENOENT, "the leader's core has no ids", name);
	drop_dump(&d);
}

static void set_seccomp(ProtobufCMessage *m, size_t idx, void *arg)
{
	CoreEntry *c = (CoreEntry *)m;

	(void)idx;
	(void)arg;
	c->thread_core->has_seccomp_mode = 1;
	c->thread_core->seccomp_mode = SECCOMP_MODE__filter;
}

static void make_unix_socket(ProtobufCMessage *m, size_t idx, void *arg)
{
	(void)arg;
	if (!idx)
		((FileEntry *)m)->type = FD_TYPES__UNIXSK;
}

/* A thread under seccomp, or a file restore cannot open, is named with its kind. */
Test(restore_images, seccomp_thread_and_socket_refused)
{
	struct dump d;
	char core[64];
	const char *bad;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	start_memhog(&d);
	bad = copy_dump(&d);
	snprintf(core, sizeof(core), "core-%d.img", d.pid);
	rewrite(bad, core, IMG_CORE, set_seccomp, NULL, 0);
	expect_fail(bad, -EOPNOTSUPP, "runs under seccomp (mode filter)", core);
	t_rmrf(bad);

	bad = copy_dump(&d);
	rewrite(bad, "files.img", IMG_FILES, make_unix_socket, NULL, 0);
	expect_fail(bad, -EOPNOTSUPP, "is a UNIXSK (type 5)",
		    "restores regular files, pipes and terminals only");
	drop_dump(&d);
}

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
	struct dump d;
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

		make_dump_keep(&c->d, argv, "ready", keep);
	}
	parse_memhog(&c->d, &c->base, &c->size, &c->seed);
	r = load_ok(c->d.img);
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
	drop_dump(&c->d);
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
	struct rimg *r = load_ok(c->top);
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
	kill_workload(&c.d);
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
	r = load_ok(c.top);
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
	expect_fail(c.top, -ENOENT, want, "/parent (-> ../nowhere) cannot be opened");
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
	expect_fail(c.top, -ELOOP, "p1/parent (-> ../top) leads back to", "has a loop");
	/* The top is its own parent. */
	link_parent(c.top, ".");
	expect_fail(c.top, -ELOOP, "top/parent (-> .) leads back to", "has a loop");
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
	expect_fail(c.top, -ELOOP, "beyond the 64 image sets", "l64");
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
	expect_fail(c.top, -EINVAL, want, "does not have it");
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
	expect_fail(c.top, -ENOENT, path, "page 0x");
	snprintf(path, sizeof(path), "%s/inventory.img", c.lvl[1]);
	cr_assert_eq(unlink(path), 0);
	expect_fail(c.top, -ENOENT, "is not a complete pre-dump", "inventory.img");
	chain_fini(&c);
}

/* ---- restore from a chain, end to end ---------------------------------------------------- */

/* Restore @dir (-d) as the dumped memhog; it must verify its whole mapping. */
static void restore_memhog(struct dump *d, const char *dir)
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
	struct dump d;

	if (geteuid())
		cr_skip_test("ferry dump and restore need root");
	make_dump(&d, argv, "ready");
	snprintf(d2, sizeof(d2), "%s/d2", d.dir);
	cr_assert_eq(t_run(NULL, NULL, "cp -a %s %s", d.img, d2), 0);
	snprintf(name, sizeof(name), "pagemap-%d.img", d.pid);
	rewrite(d2, name, IMG_PAGEMAP, all_in_parent, NULL, 0);
	r = load_ok(d.img);
	snprintf(path, sizeof(path), "%s/pages-%u.img", d2, r->procs[0].pm->pages_id);
	rimg_free(r);
	cr_assert_eq(truncate(path, 0), 0);
	link_parent(d2, "../img");
	r = load_ok(d2);
	cr_assert_eq(r->nr_chain, 1);
	for (size_t i = 0; i < r->procs[0].pm->nr_runs; i++)
		cr_assert_eq(r->procs[0].pm->runs[i].level, 1);
	rimg_free(r);
	restore_memhog(&d, d2);
	drop_dump(&d);
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
