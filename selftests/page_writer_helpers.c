// SPDX-License-Identifier: MIT
/*
 * What the page writer tests share: a forked child that fills memory with a
 * known pattern (each 8-byte word is its address ^ a seed) with holes,
 * untouched and read-only pages and a PROT_NONE region; scanning it with
 * mem_scan; reading pagemap-PID.img and pages-ID.img back and checking every
 * byte and that the entries cover exactly the pages written.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "helpers.h"
#include "mem_scan.h"
#include "img.h"
#include "pagemap.pb-c.h"
#include "pagemap_flags.h"

#include "page_writer_helpers.h"

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

static void child_layout(struct pwt_layout *l, unsigned big_mib)
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
	memset(out, 0, sizeof(struct pwt_layout));
	child_layout(out, *(const unsigned *)arg);
}

void pwt_spawn(struct t_child *c, struct pwt_layout *l, unsigned big_mib)
{
	t_child_start(c, setup_layout, &big_mib, l, sizeof(*l));
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The pages the child wrote, sorted. */
size_t pwt_expected_pages(const struct pwt_layout *l, uint64_t **out)
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
size_t pwt_scan_layout(pid_t pid, const struct pwt_layout *l, struct page_run **runs)
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

int pwt_count_files(const char *dir)
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

int pwt_has_file(const char *dir, const char *fmt, unsigned v)
{
	char path[512], name[64];

	snprintf(name, sizeof(name), fmt, v);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return !access(path, F_OK);
}

/* @page of the child (layout @l, may be NULL) was read, never written. */
static int read_only(const struct pwt_layout *l, uint64_t page)
{
	return l && page >= l->r1 && page < l->r1 + R1_PAGES * PG && r1_read((page - l->r1) / PG);
}

/*
 * Read the images back: every entry is PE_PRESENT with both counts, the
 * entries cover exactly want[] (as maximal runs), every page matches the
 * pattern (zeros for the pages @l's child only read). Returns the number of
 * entries.
 */
size_t pwt_check_images(int dirfd, pid_t pid, uint32_t id, const uint64_t *want, size_t nwant,
			const struct pwt_layout *l)
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
int pwt_open_dir(char **dir)
{
	int dirfd;

	*dir = t_tmpdir();
	cr_assert(*dir);
	dirfd = open(*dir, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(dirfd, 0);
	return dirfd;
}

void pwt_close_dir(int dirfd, char *dir)
{
	close(dirfd);
	t_rmrf(dir);
	free(dir);
}
