/* SPDX-License-Identifier: MIT */
/*
 * The pages of one address space that the lazy-pages daemon still has to
 * fill: sorted, non-overlapping runs, each mapping addresses of the live
 * process to the dump-time addresses whose data the page source holds.
 *
 * A page leaves the index when it is filled, when its range is unmapped or
 * dropped (MADV_DONTNEED: it must read as zeros from then on), and it moves
 * with its range on mremap. So "in the index" always means "missing, and
 * its content is the dumped page at src".
 */
#ifndef FERRY_RESTORE_LAZY_INDEX_H
#define FERRY_RESTORE_LAZY_INDEX_H

#include <stddef.h>
#include <stdint.h>

#define LZ_PAGE 4096ull

struct lz_run {
	uint64_t addr; /* now, page aligned */
	uint64_t nr;   /* pages, > 0 */
	uint64_t src;  /* dump-time address of the first page */
};

struct lz_index {
	struct lz_run *v;
	size_t n, cap;
	uint64_t pages; /* total pages in the index */
};

/*
 * lz_add - add [@addr, @addr + @nr pages) with source @src. It must not
 * overlap what the index holds (-EEXIST). Adjacent runs whose sources are
 * contiguous are merged. Returns 0, -EINVAL, -EEXIST or -ENOMEM.
 */
int lz_add(struct lz_index *x, uint64_t addr, uint64_t nr, uint64_t src);

/* lz_find - the run holding page @addr, or NULL. */
const struct lz_run *lz_find(const struct lz_index *x, uint64_t addr);

/*
 * lz_next - the first run that ends above @addr (holds it or lies after it),
 * or NULL if there is none.
 */
const struct lz_run *lz_next(const struct lz_index *x, uint64_t addr);

/*
 * lz_remove - take [@start, @end) out of the index (runs split as needed).
 * *@removed (may be NULL) gets the number of pages taken. Returns 0 or
 * -ENOMEM (a split needs one more slot).
 */
int lz_remove(struct lz_index *x, uint64_t start, uint64_t end, uint64_t *removed);

/*
 * lz_remove_private - lz_remove() of the pages of [@start, @end) whose
 * source is a process's memory, not a shared memory object's (PS_SHMEM_BIT
 * of page_source.h): MADV_DONTNEED on a shared mapping drops only the
 * process's page table entries, the object keeps its pages. Returns 0 or
 * -ENOMEM.
 */
int lz_remove_private(struct lz_index *x, uint64_t start, uint64_t end);

/*
 * lz_remove_src - take out the pages whose sources lie in [@src, @src +
 * @nr pages), wherever they are (a shared memory page filled through another
 * mapping). *@removed (may be NULL) gets the number of pages taken. Returns 0
 * or -ENOMEM.
 */
int lz_remove_src(struct lz_index *x, uint64_t src, uint64_t nr, uint64_t *removed);

/*
 * lz_move - the pages of [@from, @from + @len) now live at @to (mremap):
 * whatever the index held at the destination is dropped first (the kernel
 * unmapped it), then the moved pages keep their sources at their new
 * addresses. Returns 0 or -ENOMEM.
 */
int lz_move(struct lz_index *x, uint64_t from, uint64_t to, uint64_t len);

/*
 * lz_still - how many pages from @addr on are still in the index with the
 * sources @src, @src + 4096, ... (at most @nr): a fetched piece is filled
 * only where it is still wanted.
 */
uint64_t lz_still(const struct lz_index *x, uint64_t addr, uint64_t src, uint64_t nr);

/* lz_copy - *@dst becomes a copy of @x (fork). Returns 0 or -ENOMEM. */
int lz_copy(struct lz_index *dst, const struct lz_index *x);

void lz_free(struct lz_index *x);

#endif
