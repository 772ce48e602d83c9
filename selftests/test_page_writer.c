// SPDX-License-Identifier: MIT
/*
 * The page writer on real processes: a forked child fills memory with a known
 * pattern (each 8-byte word is its address ^ a seed) with holes, untouched and
 * read-only pages and a PROT_NONE region; the test scans it with mem_scan,
 * writes it, reads pagemap-PID.img and pages-ID.img back and checks every
 * byte and that the entries cover exactly the pages written. Also: crit reads
 * the pagemap, abort and failures leave no files, ordering is enforced, short
 * writes are finished, memory use stays bounded.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "img.h"
#include "mem_scan.h"
#include "page_writer.h"
#include "pagemap.pb-c.h"
#include "pagemap_flags.h"

#define PG 4096ul
#define SEED 0x5eed0f00dcafe123ull

/* R1: 1536 pages; never touched: i % 7 == 3 and 100-129; only read: 130-139; unmapped: 600-663. */
#define R1_PAGES 1536u
/* R2: 16 pages, all but page 4 written, then PROT_NONE. */
#define R2_PAGES 16u
/* R3: 256 pages, all written. */
#define R3_PAGES 256u

struct layout {
	uint64_t r1, r2, r3;
	uint64_t big; /* big_mib MiB all written, when asked */
};

static void fill(uint64_t page)
{
	uint64_t *w = (uint64_t *)(uintptr_t)page;
	unsigned i;

	for (i = 0; i < PG / 8; i++)
		w[i] = (page + 8 * i) ^ SEED;
}

static int r1_written(unsigned i)
{
	return i % 7 != 3 && !(i >= 100 && i < 140) && !(i >= 600 && i < 664);
}

/* Read, not written: the zero page, or a zeroed page of its own on a kernel without one. */
static int r1_read(unsigned i)
{
	return i >= 130 && i < 140;
}

static int r2_written(unsigned i)
{
	return i != 4;
}

static void *map_anon(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	/* Small pages only: a THP would make untouched neighbours present. */
	if (p == MAP_FAILED || madvise(p, len, MADV_NOHUGEPAGE))
		_exit(10);
	return p;
}

static void child_layout(struct layout *l, unsigned big_mib)
{
	volatile uint8_t *p;
	unsigned i;
	uint8_t sum = 0;

	p = map_anon(R1_PAGES * PG);
	for (i = 0; i < R1_PAGES; i++)
		if (r1_written(i))
			fill((uintptr_t)p + i * PG);
	for (i = 0; i < R1_PAGES; i++)
		if (r1_read(i))
			sum += p[i * PG];
	if (munmap((void *)(p + 600 * PG), 64 * PG))
		_exit(11);
	l->r1 = (uintptr_t)p;

	p = map_anon(R2_PAGES * PG);
	for (i = 0; i < R2_PAGES; i++)
		if (r2_written(i))
			fill((uintptr_t)p + i * PG);
	if (mprotect((void *)p, R2_PAGES * PG, PROT_NONE))
		_exit(12);
	l->r2 = (uintptr_t)p;

	p = map_anon(R3_PAGES * PG);
	for (i = 0; i < R3_PAGES; i++)
		fill((uintptr_t)p + i * PG);
	l->r3 = (uintptr_t)p;

	if (big_mib) {
		p = map_anon((size_t)big_mib << 20);
		memset((void *)p, 0x6b, (size_t)big_mib << 20);
		l->big = (uintptr_t)p;
	}
	(void)sum;
}

/* t_child_start's setup: the layout, with *(unsigned *)@arg MiB written in one block. */
static void setup_layout(void *out, const void *arg)
{
	memset(out, 0, sizeof(struct layout));
	child_layout(out, *(const unsigned *)arg);
}

static void spawn(struct t_child *c, struct layout *l, unsigned big_mib)
{
	t_child_start(c, setup_layout, &big_mib, l, sizeof(*l));
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The pages the child wrote, sorted. */
static size_t expected_pages(const struct layout *l, uint64_t **out)
{
	uint64_t *v = malloc((R1_PAGES + R2_PAGES + R3_PAGES) * sizeof(*v));
	size_t n = 0;
	unsigned i;

	cr_assert(v);
	for (i = 0; i < R1_PAGES; i++)
		if (r1_written(i) || (r1_read(i) && mem_zero_page(NULL) == MEM_ZERO_NONE))
			v[n++] = l->r1 + i * PG;
	for (i = 0; i < R2_PAGES; i++)
		if (r2_written(i))
			v[n++] = l->r2 + i * PG;
	for (i = 0; i < R3_PAGES; i++)
		v[n++] = l->r3 + i * PG;
	qsort(v, n, sizeof(*v), cmp_u64);
	*out = v;
	return n;
}

/* Scan the three regions (in address order) of the child. */
static size_t scan_layout(pid_t pid, const struct layout *l, struct page_run **runs)
{
	/*
	 * R1 without the 64 pages the child unmapped from it: a later mapping
	 * (R2, R3) may sit in that hole, and the scans must come in address order.
	 */
	uint64_t reg[4][2] = { { l->r1, 600 },
			       { l->r1 + 664 * PG, R1_PAGES - 664 },
			       { l->r2, R2_PAGES },
			       { l->r3, R3_PAGES } };
	size_t nr = 0, cap = 0;
	char path[64];
	int pm, i;

	qsort(reg, 4, sizeof(reg[0]), cmp_u64);
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	pm = open(path, O_RDONLY);
	cr_assert_geq(pm, 0, "open %s: %s", path, strerror(errno));
	*runs = NULL;
	for (i = 0; i < 4; i++)
		cr_assert_eq(mem_scan_range(pm, reg[i][0], reg[i][0] + reg[i][1] * PG,
					    MEM_SCAN_ANON, runs, &nr, &cap),
			     0);
	close(pm);
	return nr;
}

static int count_files(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	cr_assert(d, "opendir %s", dir);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static int has_file(const char *dir, const char *fmt, unsigned v)
{
	char path[512], name[64];

	snprintf(name, sizeof(name), fmt, v);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return !access(path, F_OK);
}

/* @page of the child (layout @l, may be NULL) was read, never written. */
static int read_only(const struct layout *l, uint64_t page)
{
	return l && page >= l->r1 && page < l->r1 + R1_PAGES * PG && r1_read((page - l->r1) / PG);
}

/*
 * Read the images back: every entry is PE_PRESENT with both counts, the
 * entries cover exactly want[] (as maximal runs), every page matches the
 * pattern (zeros for the pages @l's child only read). Returns the number of
 * entries.
 */
static size_t check_images(int dirfd, pid_t pid, uint32_t id, const uint64_t *want, size_t nwant,
			   const struct layout *l)
{
	ProtobufCMessage *msg;
	PagemapHead *head;
	PagemapEntry *e;
	struct img *pm, *pages;
	const uint8_t *data;
	size_t len, off = 0, k = 0, nent = 0, runs = 0, i, j, w;
	uint64_t prev_end = 0;
	char name[64];

	snprintf(name, sizeof(name), "pagemap-%d.img", pid);
	cr_assert_eq(img_open(&pm, dirfd, name, IMG_PAGEMAP), 0, "open %s", name);
	snprintf(name, sizeof(name), "pages-%u.img", id);
	cr_assert_eq(img_open(&pages, dirfd, name, IMG_PAGES), 0, "open %s", name);
	data = img_data(pages, &len);
	cr_assert_eq(len, nwant * PG, "pages file: %zu bytes, want %zu pages", len, nwant);

	cr_assert_eq(img_read_entry(pm, &msg), 1);
	head = (PagemapHead *)msg;
	cr_assert_eq(head->pages_id, id);
	protobuf_c_message_free_unpacked(msg, NULL);

	for (i = 0; i < nwant; i++)
		if (!i || want[i] != want[i - 1] + PG)
			runs++;
	while (img_read_entry(pm, &msg) == 1) {
		e = (PagemapEntry *)msg;
		nent++;
		cr_assert(e->has_flags && e->flags == PE_PRESENT, "entry %zu: flags %u", nent,
			  e->flags);
		cr_assert(e->has_nr_pages && e->nr_pages == e->compat_nr_pages && e->nr_pages,
			  "entry %zu: nr_pages %llu, compat %u", nent,
			  (unsigned long long)e->nr_pages, e->compat_nr_pages);
		cr_assert(!e->has_in_parent || !e->in_parent);
		cr_assert(nent == 1 || e->vaddr > prev_end,
			  "entry %zu at 0x%llx: not after the previous one (contiguous ones merge)",
			  nent, (unsigned long long)e->vaddr);
		for (j = 0; j < e->nr_pages; j++, k++) {
			uint64_t page = e->vaddr + j * PG;
			const uint64_t *word = (const uint64_t *)(data + off);

			cr_assert_lt(k, nwant, "more pages in the pagemap than written");
			cr_assert_eq(page, want[k], "page %zu is 0x%llx, want 0x%llx", k,
				     (unsigned long long)page, (unsigned long long)want[k]);
			for (w = 0; w < PG / 8; w++)
				if (word[w] != (read_only(l, page) ? 0 : (page + 8 * w) ^ SEED))
					cr_assert_fail("page 0x%llx word %zu: 0x%llx, want 0x%llx",
						       (unsigned long long)page, w,
						       (unsigned long long)word[w],
						       (unsigned long long)((page + 8 * w) ^ SEED));
			off += PG;
		}
		prev_end = e->vaddr + e->nr_pages * PG;
		protobuf_c_message_free_unpacked(msg, NULL);
	}
	cr_assert_eq(k, nwant, "the pagemap covers %zu pages, %zu written", k, nwant);
	cr_assert_eq(nent, runs, "%zu entries for %zu runs of pages", nent, runs);
	img_close(pm);
	img_close(pages);
	return nent;
}

/* A fresh test directory, and its fd. */
static int open_dir(char **dir)
{
	int dirfd;

	*dir = t_tmpdir();
	cr_assert(*dir);
	dirfd = open(*dir, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(dirfd, 0);
	return dirfd;
}

static void close_dir(int dirfd, char *dir)
{
	close(dirfd);
	t_rmrf(dir);
	free(dir);
}

static void round_trip(const struct page_writer_opts *opts, int with_crit)
{
	struct page_writer_stats st;
	struct page_writer *pw;
	struct page_run *runs;
	struct layout l;
	struct t_child c;
	uint64_t *want;
	size_t nr, nwant, nent, i;
	char *dir, *out = NULL, *err = NULL;
	int dirfd, ret;

	if (geteuid())
		cr_skip_test("reading another process's memory needs root");
	dirfd = open_dir(&dir);
	spawn(&c, &l, 0);
	nr = scan_layout(c.pid, &l, &runs);
	nwant = expected_pages(&l, &want);

	cr_assert_eq(page_writer_open(&pw, dirfd, c.pid, 7, opts), 0);
	for (i = 0; i < nr; i++)
		cr_assert_eq(page_writer_add(pw, runs[i].start, runs[i].nr_pages), 0,
			     "add 0x%llx x %llu", (unsigned long long)runs[i].start,
			     (unsigned long long)runs[i].nr_pages);
	/* Nothing final before commit. */
	cr_assert(!has_file(dir, "pagemap-%u.img", (unsigned)c.pid));
	cr_assert(!has_file(dir, "pages-%u.img", 7));
	cr_assert_eq(page_writer_commit(pw, &st), 0);
	cr_assert_eq(count_files(dir), 2, "only the two images are left");

	nent = check_images(dirfd, c.pid, 7, want, nwant, &l);
	cr_assert_eq(st.pages_written, nwant);
	cr_assert_eq(st.pages_parent, 0);
	cr_assert_eq(st.nr_entries, nent);
	cr_log_info("%zu pages in %zu entries; read %.3f ms, write %.3f ms", nwant, nent,
		    st.read_ns / 1e6, st.write_ns / 1e6);

	if (with_crit) {
		if (access("/usr/bin/crit", X_OK)) {
			cr_log_info("crit not installed (Debian package criu): decode not checked");
		} else {
			ret = t_run(
				&out, &err,
				"/usr/bin/python3 /usr/bin/crit decode --pretty -i %s/pagemap-%d.img",
				dir, c.pid);
			cr_assert_eq(ret, 0, "crit decode failed: %s", err ? err : "");
			cr_assert(out && strstr(out, "\"pages_id\": 7"), "crit output: %.300s",
				  out ? out : "");
			cr_assert(strstr(out, "\"flags\": \"PE_PRESENT\""), "crit output: %.300s",
				  out);
		}
	}
	t_child_reap(&c);
	free(out);
	free(err);
	free(runs);
	free(want);
	close_dir(dirfd, dir);
}

TestSuite(page_writer, .timeout = 120);

/* 4 x 64 KiB of buffers for ~6 MiB: each buffer is reused many times. */
Test(page_writer, pattern_round_trip_small_buffers)
{
	struct page_writer_opts o = { .nr_bufs = 4, .buf_size = 64 << 10 };

	round_trip(&o, 1);
}

Test(page_writer, pattern_round_trip_defaults)
{
	round_trip(NULL, 0);
}

/* Through the page cache instead of O_DIRECT. */
Test(page_writer, pattern_round_trip_buffered)
{
	struct page_writer_opts o = { .nr_bufs = 3,
				      .buf_size = 96 << 10,
				      .flags = PAGE_WRITER_BUFFERED };

	round_trip(&o, 0);
}

Test(page_writer, bad_options)
{
	struct page_writer_opts bad[] = {
		{ .nr_bufs = 2, .buf_size = 4096 + 512 },
		{ .nr_bufs = 2000, .buf_size = 4096 },
		{ .nr_bufs = 1, .buf_size = 2ul << 30 },
		{ .nr_bufs = 1, .buf_size = 4096, .flags = 0x80 },
	};
	struct page_writer *pw;
	char *dir = t_tmpdir();
	size_t i;
	int dirfd = open(dir, O_RDONLY | O_DIRECTORY);

	cr_assert_geq(dirfd, 0);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_eq(page_writer_open(&pw, dirfd, getpid(), 1, &bad[i]), -EINVAL,
			     "options %zu", i);
	cr_assert_eq(count_files(dir), 0);
	close_dir(dirfd, dir);
}

/* One page per buffer, one buffer: the most reuse, a write per page. */
Test(page_writer, pattern_round_trip_one_page_buffer)
{
	struct page_writer_opts o = { .nr_bufs = 1, .buf_size = PG };

	round_trip(&o, 0);
}

Test(page_writer, abort_leaves_no_files)
{
	struct page_writer *pw;
	struct page_run *runs;
	struct layout l;
	struct t_child c;
	size_t nr;
	char *dir;
	int dirfd;

	if (geteuid())
		cr_skip_test("reading another process's memory needs root");
	dirfd = open_dir(&dir);
	spawn(&c, &l, 0);
	nr = scan_layout(c.pid, &l, &runs);
	cr_assert_gt(nr, 2);
	cr_assert_eq(page_writer_open(&pw, dirfd, c.pid, 1, NULL), 0);
	cr_assert_eq(count_files(dir), 2, "the two temporary files");
	cr_assert_eq(page_writer_add(pw, runs[0].start, runs[0].nr_pages), 0);
	cr_assert_eq(page_writer_add(pw, runs[1].start, runs[1].nr_pages), 0);
	page_writer_abort(pw);
	cr_assert_eq(count_files(dir), 0, "abort left files in %s", dir);
	page_writer_abort(NULL);
	t_child_reap(&c);
	free(runs);
	close_dir(dirfd, dir);
}

Test(page_writer, vanished_pid)
{
	struct page_writer *pw;
	struct layout l;
	struct t_child c;
	char *dir;
	int dirfd, st;
	pid_t pid;

	if (geteuid())
		cr_skip_test("reading another process's memory needs root");
	dirfd = open_dir(&dir);

	/* Reaped: no such pid at open. */
	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid)
		_exit(0);
	cr_assert_eq(waitpid(pid, &st, 0), pid);
	cr_assert_eq(page_writer_open(&pw, dirfd, pid, 1, NULL), -ESRCH);
	cr_assert_eq(count_files(dir), 0);

	/* Gone between open and add (a zombie has no memory): -ESRCH, and it sticks. */
	spawn(&c, &l, 0);
	cr_assert_eq(page_writer_open(&pw, dirfd, c.pid, 1, NULL), 0);
	cr_assert_eq(page_writer_add(pw, l.r3, 4), 0);
	kill(c.pid, SIGKILL);
	cr_assert_eq(waitid(P_PID, c.pid, NULL, WEXITED | WNOWAIT), 0);
	cr_assert_eq(page_writer_add(pw, l.r3 + 4 * PG, 4), -ESRCH);
	cr_assert_eq(page_writer_add(pw, l.r3 + 8 * PG, 4), -ESRCH);
	cr_assert_eq(page_writer_commit(pw, NULL), -ESRCH);
	cr_assert_eq(count_files(dir), 0, "a failed commit left files in %s", dir);

	/* Same, ending with abort. */
	cr_assert_eq(page_writer_open(&pw, dirfd, c.pid, 1, NULL), 0, "a zombie still exists");
	cr_assert_eq(page_writer_add(pw, l.r3, 4), -ESRCH);
	page_writer_abort(pw);
	cr_assert_eq(count_files(dir), 0);
	close(c.ctl);
	cr_assert_eq(waitpid(c.pid, &st, 0), c.pid);
	close_dir(dirfd, dir);
}

Test(page_writer, order_parent_entries_and_split)
{
	struct page_writer_stats st;
	struct page_writer *pw;
	ProtobufCMessage *msg;
	PagemapEntry *e[8];
	struct img *pm;
	struct layout l;
	struct t_child c;
	uint64_t huge = (1ull << 32) + 5, hbase;
	size_t n = 0, i;
	char *dir, name[64];
	int dirfd;

	if (geteuid())
		cr_skip_test("reading another process's memory needs root");
	dirfd = open_dir(&dir);
	spawn(&c, &l, 0);
	cr_assert_eq(page_writer_open(&pw, dirfd, c.pid, 3, NULL), 0);

	cr_assert_eq(page_writer_add_parent(pw, l.r3, 2), 0);
	cr_assert_eq(page_writer_add(pw, l.r3 + 2 * PG, 2), 0);
	cr_assert_eq(page_writer_add(pw, l.r3 + 4 * PG, 1), 0, "contiguous: merged");
	/* Backwards, overlapping, unaligned: refused, and the writer goes on. */
	cr_assert_eq(page_writer_add(pw, l.r3, 1), -EINVAL);
	cr_assert_eq(page_writer_add(pw, l.r3 + 4 * PG, 1), -EINVAL);
	cr_assert_eq(page_writer_add_parent(pw, l.r3 + 3 * PG, 1), -EINVAL);
	cr_assert_eq(page_writer_add(pw, l.r3 + 10 * PG + 8, 1), -EINVAL);
	cr_assert_eq(page_writer_add(pw, ~0ull & ~(PG - 1), 2), -EINVAL);
	cr_assert_eq(page_writer_add(pw, l.r3 + 8 * PG, 0), 0, "empty: nothing to do");
	cr_assert_eq(page_writer_add_parent(pw, l.r3 + 5 * PG, 1), 0, "other flags: new entry");
	cr_assert_eq(page_writer_add(pw, l.r3 + 8 * PG, 1), 0, "gap: new entry");
	/* More pages than compat_nr_pages (uint32) holds: split. */
	hbase = l.r3 + 16 * PG; /* recorded only, never read: it may run past the target's end */
	cr_assert_eq(page_writer_add_parent(pw, hbase, huge), 0);
	cr_assert_eq(page_writer_commit(pw, &st), 0);
	cr_assert_eq(st.pages_written, 4);
	cr_assert_eq(st.pages_parent, 3 + huge);
	cr_assert_eq(st.nr_entries, 6);

	snprintf(name, sizeof(name), "pagemap-%d.img", c.pid);
	cr_assert_eq(img_open(&pm, dirfd, name, IMG_PAGEMAP), 0);
	cr_assert_eq(img_read_entry(pm, &msg), 1);
	protobuf_c_message_free_unpacked(msg, NULL);
	while (n < 8 && img_read_entry(pm, &msg) == 1)
		e[n++] = (PagemapEntry *)msg;
	cr_assert_eq(n, 6);
	cr_assert(e[0]->vaddr == l.r3 && e[0]->nr_pages == 2 && e[0]->flags == PE_PARENT &&
		  e[0]->has_in_parent && e[0]->in_parent);
	cr_assert(e[1]->vaddr == l.r3 + 2 * PG && e[1]->nr_pages == 3 &&
		  e[1]->flags == PE_PRESENT && !e[1]->in_parent);
	cr_assert(e[2]->vaddr == l.r3 + 5 * PG && e[2]->nr_pages == 1 && e[2]->in_parent);
	cr_assert(e[3]->vaddr == l.r3 + 8 * PG && e[3]->nr_pages == 1 && e[3]->flags == PE_PRESENT);
	cr_assert(e[4]->vaddr == hbase && e[4]->nr_pages == UINT32_MAX &&
		  e[4]->compat_nr_pages == UINT32_MAX && e[4]->flags == PE_PARENT);
	cr_assert(e[5]->vaddr == hbase + (uint64_t)UINT32_MAX * PG && e[5]->nr_pages == 6 &&
		  e[5]->compat_nr_pages == 6);
	for (i = 0; i < n; i++) {
		cr_assert_eq(e[i]->compat_nr_pages, (uint32_t)e[i]->nr_pages);
		protobuf_c_message_free_unpacked(&e[i]->base, NULL);
	}
	img_close(pm);
	t_child_reap(&c);
	close_dir(dirfd, dir);
}

/*
 * RLIMIT_FSIZE cuts the first write short: the writer must send the rest,
 * which then fails with EFBIG; nothing may be left. (Treating the short write
 * as complete would commit a truncated pages file.)
 */
Test(page_writer, short_write_is_finished_or_fails)
{
	struct page_writer_opts o = { .nr_bufs = 1, .buf_size = 256 << 10 };
	struct rlimit rl = { 100 << 10, 100 << 10 };
	struct page_writer *pw;
	struct layout l;
	struct t_child c;
	char *dir;
	pid_t d;
	int dirfd, st, ret;

	if (geteuid())
		cr_skip_test("reading another process's memory needs root");
	dirfd = open_dir(&dir);
	spawn(&c, &l, 0);
	d = fork();
	cr_assert_geq(d, 0);
	if (!d) {
		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl))
			_exit(20);
		if (page_writer_open(&pw, dirfd, c.pid, 1, &o))
			_exit(21);
		ret = page_writer_add(pw, l.r3, 64); /* one 256 KiB write, cut at 100 KiB */
		if (ret)
			page_writer_abort(pw); /* the failure may surface here already */
		else
			ret = page_writer_commit(pw, NULL);
		_exit(ret == -EFBIG ? 0 : ret ? 23 : 24);
	}
	cr_assert_eq(waitpid(d, &st, 0), d);
	cr_assert(WIFEXITED(st), "dumper status 0x%x", st);
	cr_assert_eq(WEXITSTATUS(st), 0, "dumper exit %d (24: a truncated file was committed)",
		     WEXITSTATUS(st));
	cr_assert_eq(count_files(dir), 0);
	t_child_reap(&c);
	close_dir(dirfd, dir);
}

/* 256 MiB through 4 x 256 KiB: the writer's peak RSS grows by little. */
Test(page_writer, memory_is_bounded)
{
	struct page_writer_opts o = { .nr_bufs = 4, .buf_size = 256 << 10 };
	struct page_writer_stats st;
	struct page_writer *pw;
	struct rusage ru0, ru1;
	struct layout l;
	struct t_child c;
	unsigned mib = 256;
	char *dir;
	int dirfd;

	if (geteuid())
		cr_skip_test("reading another process's memory needs root");
	dirfd = open_dir(&dir);
	spawn(&c, &l, mib);
	cr_assert_eq(getrusage(RUSAGE_SELF, &ru0), 0);
	cr_assert_eq(page_writer_open(&pw, dirfd, c.pid, 1, &o), 0);
	cr_assert_eq(page_writer_add(pw, l.big, (uint64_t)mib << 8), 0);
	cr_assert_eq(page_writer_commit(pw, &st), 0);
	cr_assert_eq(getrusage(RUSAGE_SELF, &ru1), 0);
	cr_assert_eq(st.pages_written, (uint64_t)mib << 8);
	cr_assert_eq(st.nr_entries, 1);
	cr_log_info("peak RSS %ld KiB -> %ld KiB for %u MiB", ru0.ru_maxrss, ru1.ru_maxrss, mib);
	cr_assert_lt(ru1.ru_maxrss - ru0.ru_maxrss, 8 << 10,
		     "peak RSS grew by %ld KiB writing %u MiB with 1 MiB of buffers",
		     ru1.ru_maxrss - ru0.ru_maxrss, mib);
	t_child_reap(&c);
	close_dir(dirfd, dir);
}

/* The pages file's blocks, in bytes (st_blocks counts 512-byte units). */
static uint64_t tmp_blocks(const char *dir, const char *name, off_t *size)
{
	char path[PATH_MAX];
	struct stat st;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cr_assert_eq(stat(path, &st), 0, "stat %s", path);
	*size = st.st_size;
	return (uint64_t)st.st_blocks * 512;
}

/*
 * Space reserved ahead is allocated at once, and what was not written is
 * given back at commit: the pages file holds exactly the pages added.
 */
Test(page_writer, reserve_allocates_ahead_and_gives_back_the_rest)
{
	struct page_writer_opts o = { .flags = PAGE_WRITER_BUFFERED };
	struct page_writer_stats st;
	struct page_writer *pw;
	struct layout l;
	struct t_child c;
	uint64_t want[R3_PAGES / 2];
	off_t size;
	char *dir;
	int dirfd;

	if (geteuid())
		cr_skip_test("reading another process's memory needs root");
	dirfd = open_dir(&dir);
	spawn(&c, &l, 0);
	cr_assert_eq(page_writer_open(&pw, dirfd, c.pid, 3, &o), 0);
	cr_assert_eq(page_writer_reserve(pw, R3_PAGES), 0);
	if (tmp_blocks(dir, "pages-3.img.tmp", &size) == 0)
		cr_skip_test("no fallocate on the filesystem of %s", dir);
	cr_assert_eq(size, (off_t)(R3_PAGES * PG), "reserved file size %lld", (long long)size);
	cr_assert_geq(tmp_blocks(dir, "pages-3.img.tmp", &size), R3_PAGES * PG);
	cr_assert_eq(page_writer_reserve(pw, R3_PAGES / 2), 0, "inside the reservation");
	cr_assert_eq(page_writer_add(pw, l.r3, R3_PAGES / 2), 0);
	cr_assert_eq(page_writer_commit(pw, &st), 0);
	cr_assert_eq(st.pages_written, R3_PAGES / 2);
	for (unsigned i = 0; i < R3_PAGES / 2; i++)
		want[i] = l.r3 + i * PG;
	check_images(dirfd, c.pid, 3, want, R3_PAGES / 2, NULL); /* checks the file's length too */
	cr_assert_lt(tmp_blocks(dir, "pages-3.img", &size), R3_PAGES * PG,
		     "the unwritten half is still allocated");
	t_child_reap(&c);
	close_dir(dirfd, dir);
}

/*
 * A filesystem too small for the pages: the reservation fails with ENOSPC
 * before anything is copied, the writer stays failed, and abort leaves nothing.
 */
Test(page_writer, reserve_on_a_full_filesystem_fails_first)
{
	struct page_writer *pw;
	struct layout l;
	struct t_child c;
	char *dir;
	int dirfd, ret;

	if (geteuid())
		cr_skip_test("mounting a small tmpfs needs root");
	dir = t_tmpdir();
	cr_assert(dir);
	ret = t_small_fs(dir, "256k");
	if (ret) {
		t_rmrf(dir);
		cr_skip_test("cannot mount a tmpfs on %s: %s", dir, strerror(-ret));
	}
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(dirfd, 0);
	spawn(&c, &l, 0);
	cr_assert_eq(page_writer_open(&pw, dirfd, c.pid, 1, NULL), 0);
	cr_assert_eq(page_writer_reserve(pw, R3_PAGES), -ENOSPC);
	cr_assert_eq(page_writer_add(pw, l.r3, 1), -ENOSPC, "the writer goes on after ENOSPC");
	page_writer_abort(pw);
	cr_assert_eq(count_files(dir), 0, "abort left files in %s", dir);
	t_child_reap(&c);
	close(dirfd);
	t_small_fs_done(dir);
	t_rmrf(dir);
	free(dir);
}

/*
 * Buffered, larger than the buffers plus one writeback chunk: for a target
 * that runs meanwhile (LIVE) writeback is asked for early (never waited for),
 * for a frozen one never; every byte lands in place either way.
 */
Test(page_writer, buffered_starts_writeback_early_only_when_live)
{
	static const unsigned flags[2] = { PAGE_WRITER_BUFFERED | PAGE_WRITER_NOSYNC |
						   PAGE_WRITER_LIVE,
					   PAGE_WRITER_BUFFERED | PAGE_WRITER_NOSYNC };
	struct page_writer_stats st;
	struct page_writer *pw;
	struct layout l;
	struct t_child c;
	unsigned mib = 48;
	char *dir, path[600];
	int dirfd;

	if (geteuid())
		cr_skip_test("reading another process's memory needs root");
	dirfd = open_dir(&dir);
	spawn(&c, &l, mib);
	for (unsigned k = 0; k < 2; k++) {
		struct page_writer_opts o = { .flags = flags[k] };
		size_t len = 0;
		uint8_t *data;

		cr_assert_eq(page_writer_open(&pw, dirfd, c.pid, k + 1, &o), 0);
		cr_assert_eq(page_writer_add(pw, l.big, (uint64_t)mib << 8), 0);
		cr_assert_eq(page_writer_commit(pw, &st), 0);
		if (k == 0)
			cr_expect_geq(st.wb_requests, 2, "%lu early writeback requests for %u MiB",
				      st.wb_requests, mib);
		else
			cr_expect_eq(st.wb_requests, 0,
				     "%lu early writeback requests for a frozen target",
				     st.wb_requests);
		snprintf(path, sizeof(path), "%s/pages-%u.img", dir, k + 1);
		data = (uint8_t *)t_read_file(path, &len);
		cr_assert_eq(len, (size_t)mib << 20);
		for (size_t i = 0; i < len; i++)
			if (data[i] != 0x6b)
				cr_assert_fail("byte %zu of %s is %#x, not 0x6b", i, path, data[i]);
		free(data);
	}
	t_child_reap(&c);
	close_dir(dirfd, dir);
}

/* ---- a shared buffer set ------------------------------------------------------------------- */

/* Write the child's layout with a writer on @pb, commit, check every page. */
static void layout_round_trip(struct page_buffers *pb, unsigned flags, int dirfd, pid_t pid,
			      const struct layout *l, uint32_t id)
{
	struct page_writer_opts o = { .flags = flags, .bufs = pb };
	struct page_writer_stats st;
	struct page_writer *pw;
	struct page_run *runs;
	uint64_t *want;
	size_t nr, nwant, i;

	nr = scan_layout(pid, l, &runs);
	nwant = expected_pages(l, &want);
	cr_assert_eq(page_writer_open(&pw, dirfd, pid, id, &o), 0, "open %u on the set", id);
	for (i = 0; i < nr; i++)
		cr_assert_eq(
			page_writer_add(pw, runs[i].start, runs[i].nr_pages), 0,
			"run %zu of %zu: %#llx + %llu pages, after %#llx + %llu (regions %#llx "
			"%#llx %#llx)",
			i, nr, (unsigned long long)runs[i].start,
			(unsigned long long)runs[i].nr_pages,
			i ? (unsigned long long)runs[i - 1].start : 0ULL,
			i ? (unsigned long long)runs[i - 1].nr_pages : 0ULL,
			(unsigned long long)l->r1, (unsigned long long)l->r2,
			(unsigned long long)l->r3);
	cr_assert_eq(page_writer_commit(pw, &st), 0, "commit %u", id);
	cr_assert_eq(st.pages_written, nwant);
	check_images(dirfd, pid, id, want, nwant, l);
	free(runs);
	free(want);
}

/* pages-@id.img in @dir is @len bytes, all 0x6b (the child's big region). */
static void check_big(const char *dir, uint32_t id, size_t len_want)
{
	char path[600];
	size_t len = 0;
	uint8_t *data;

	snprintf(path, sizeof(path), "%s/pages-%u.img", dir, id);
	data = (uint8_t *)t_read_file(path, &len);
	cr_assert(data, "read %s", path);
	cr_assert_eq(len, len_want, "%s: %zu bytes, want %zu", path, len, len_want);
	for (size_t i = 0; i < len; i++)
		if (data[i] != 0x6b)
			cr_assert_fail("byte %zu of %s is %#x, not 0x6b", i, path, data[i]);
	free(data);
}

/* Two writers in turn on one set, each with its own process; misuse is refused. */
Test(page_writer, shared_set_two_writers_in_turn)
{
	struct page_writer_opts so = { .nr_bufs = 4, .buf_size = 64 << 10 };
	struct page_writer_opts bad = { .nr_bufs = 8 }, lend;
	struct page_buffers_stats bs;
	struct page_buffers *pb;
	struct page_writer *pw, *pw2;
	struct layout l1, l2;
	struct t_child c1, c2;
	char *dir;
	int dirfd;

	if (geteuid())
		cr_skip_test("reading another process's memory needs root");
	dirfd = open_dir(&dir);
	spawn(&c1, &l1, 0);
	spawn(&c2, &l2, 0);
	cr_assert_eq(page_buffers_create(&pb, &so), 0);
	lend = (struct page_writer_opts){ .bufs = pb };

	layout_round_trip(pb, 0, dirfd, c1.pid, &l1, 1);
	layout_round_trip(pb, PAGE_WRITER_BUFFERED, dirfd, c2.pid, &l2, 2);
	cr_assert_eq(count_files(dir), 4, "two image pairs");

	/* Lent: a second writer is refused and leaves nothing; other geometry is refused. */
	cr_assert_eq(page_writer_open(&pw, dirfd, c1.pid, 3, &lend), 0);
	cr_assert_eq(page_writer_open(&pw2, dirfd, c2.pid, 4, &lend), -EBUSY);
	cr_assert_eq(count_files(dir), 6, "the first images and the held writer's two");
	page_writer_abort(pw);
	bad.bufs = pb;
	cr_assert_eq(page_writer_open(&pw2, dirfd, c2.pid, 4, &bad), -EINVAL);
	cr_assert_eq(count_files(dir), 4);

	/* Given back: the set works again, with the geometry spelled out too. */
	bad.nr_bufs = so.nr_bufs;
	bad.buf_size = so.buf_size;
	cr_assert_eq(page_writer_open(&pw2, dirfd, c2.pid, 4, &bad), 0);
	cr_assert_eq(page_writer_add(pw2, l2.r3, R3_PAGES), 0);
	cr_assert_eq(page_writer_commit(pw2, NULL), 0);

	page_buffers_get_stats(pb, &bs);
	cr_assert_eq(bs.writers, 4);
	page_buffers_destroy(pb);
	page_buffers_destroy(NULL);
	cr_assert_eq(page_buffers_create(&pb, &(struct page_writer_opts){ .buf_size = 1000 }),
		     -EINVAL);
	t_child_reap(&c2); /* it holds c1's control pipe too */
	t_child_reap(&c1);
	close_dir(dirfd, dir);
}

/*
 * A writer aborted with writes in flight, one failed (its process gone), then
 * writers on the same set: nothing is left of the first two, the next ones
 * see none of their writes or buffers.
 */
Test(page_writer, shared_set_abort_then_reuse)
{
	struct page_writer_opts so = { .nr_bufs = 2, .buf_size = 64 << 10 };
	struct page_writer_opts o;
	struct page_buffers *pb;
	struct page_writer *pw;
	struct page_run *runs;
	struct layout l, lg;
	struct t_child c, gone;
	char *dir;
	size_t nr, i;
	int dirfd;

	if (geteuid())
		cr_skip_test("reading another process's memory needs root");
	dirfd = open_dir(&dir);
	spawn(&c, &l, 0);
	cr_assert_eq(page_buffers_create(&pb, &so), 0);
	o = (struct page_writer_opts){ .bufs = pb };

	/* Aborted mid-way: both buffers written or in flight. */
	nr = scan_layout(c.pid, &l, &runs);
	cr_assert_eq(page_writer_open(&pw, dirfd, c.pid, 1, &o), 0);
	for (i = 0; i < nr / 2; i++)
		cr_assert_eq(page_writer_add(pw, runs[i].start, runs[i].nr_pages), 0);
	page_writer_abort(pw);
	cr_assert_eq(count_files(dir), 0, "abort left files");
	free(runs);

	/* Failed: its process died between two adds. */
	spawn(&gone, &lg, 0);
	cr_assert_eq(page_writer_open(&pw, dirfd, gone.pid, 2, &o), 0);
	cr_assert_eq(page_writer_add(pw, lg.r3, 64), 0);
	kill(gone.pid, SIGKILL);
	cr_assert_eq(waitid(P_PID, gone.pid, NULL, WEXITED | WNOWAIT), 0);
	cr_assert_eq(page_writer_add(pw, lg.r3 + 64 * PG, 64), -ESRCH);
	cr_assert_eq(page_writer_commit(pw, NULL), -ESRCH);
	cr_assert_eq(count_files(dir), 0, "a failed commit left files");
	close(gone.ctl);
	cr_assert_eq(waitpid(gone.pid, NULL, 0), gone.pid);

	/* Then whole dumps, O_DIRECT and buffered, are exact. */
	layout_round_trip(pb, 0, dirfd, c.pid, &l, 3);
	cr_assert_eq(count_files(dir), 2);
	cr_assert_eq(unlinkat(dirfd, "pages-3.img", 0), 0);
	{
		char name[64];

		snprintf(name, sizeof(name), "pagemap-%d.img", c.pid);
		cr_assert_eq(unlinkat(dirfd, name, 0), 0);
	}
	layout_round_trip(pb, PAGE_WRITER_BUFFERED | PAGE_WRITER_NOSYNC, dirfd, c.pid, &l, 4);
	page_buffers_destroy(pb);
	t_child_reap(&c);
	close_dir(dirfd, dir);
}

/*
 * Early writeback requests of a writer are not waited for: they may still be
 * pending when the next writer takes the set. They must never be taken for
 * the next writer's writes, nor run on its file. A writer committed and one
 * aborted, both with writeback requests, then writers with their own; more
 * writers than file slots. Every byte lands where it belongs, and every
 * writeback request completes without error (none ran on a cleared slot).
 */
Test(page_writer, shared_set_early_writeback_never_disturbs_the_next)
{
	/*
	 * 256 KiB of buffers and 8.25 MiB: a request for the first 8 MiB, asked for with the
	 * last write, so that it may still run when its writer ends (likely when it aborts:
	 * every fourth one). 40 writers, more than the set has file slots: slots are reused.
	 */
	const uint64_t pages = (8 << 8) + 64;
	const unsigned mib = 9, nr_writers = 40;
	struct page_writer_opts so = { .nr_bufs = 2, .buf_size = 128 << 10 };
	struct page_writer_opts o;
	struct page_buffers_stats bs;
	struct page_writer_stats st;
	struct page_buffers *pb;
	struct page_writer *pw;
	struct layout l;
	struct t_child c;
	uint64_t wb = 0, late = 0;
	char *dirs[40];
	int dirfds[40];

	if (geteuid())
		cr_skip_test("reading another process's memory needs root");
	spawn(&c, &l, mib);
	cr_assert_eq(page_buffers_create(&pb, &so), 0);
	o = (struct page_writer_opts){
		.flags = PAGE_WRITER_BUFFERED | PAGE_WRITER_NOSYNC | PAGE_WRITER_LIVE, .bufs = pb
	};
	for (unsigned w = 0; w < nr_writers; w++) {
		dirfds[w] = open_dir(&dirs[w]);
		cr_assert_eq(page_writer_open(&pw, dirfds[w], c.pid, w + 1, &o), 0, "writer %u", w);
		cr_assert_eq(page_writer_add(pw, l.big, pages), 0);
		if (w % 4 == 1) {
			/* Aborted with its writeback requests asked for. */
			page_writer_abort(pw);
			cr_assert_eq(count_files(dirs[w]), 0);
			continue;
		}
		cr_assert_eq(page_writer_commit(pw, &st), 0, "writer %u", w);
		cr_assert_geq(st.wb_requests, 1, "writer %u: %llu writeback requests", w,
			      (unsigned long long)st.wb_requests);
		wb += st.wb_requests;
		page_buffers_get_stats(pb, &bs);
		if (bs.wb_pending)
			late++;
	}
	/* Data first: a writeback request on the wrong file would not show here, errors below. */
	for (unsigned w = 0; w < nr_writers; w++)
		if (w % 4 != 1)
			check_big(dirs[w], w + 1, pages * PG);
	cr_assert_eq(page_buffers_wait_wb(pb, 20000), 0);
	page_buffers_get_stats(pb, &bs);
	cr_log_info("%llu writeback requests, %llu still pending when their writer ended (%llu "
		    "writers left some), %llu failed",
		    (unsigned long long)bs.wb_done, (unsigned long long)bs.wb_late,
		    (unsigned long long)late, (unsigned long long)bs.wb_failed);
	cr_assert_eq(bs.wb_pending, 0);
	cr_assert_geq(bs.wb_done, wb,
		      "%llu writeback requests done, %llu asked by committed writers",
		      (unsigned long long)bs.wb_done, (unsigned long long)wb);
	cr_assert_eq(bs.wb_failed, 0, "a writeback request failed: it ran on a cleared slot?");
	cr_assert_eq(bs.writers, nr_writers);
	page_buffers_destroy(pb);
	for (unsigned w = 0; w < nr_writers; w++)
		close_dir(dirfds[w], dirs[w]);
	t_child_reap(&c);
}
