// SPDX-License-Identifier: MIT
/*
 * Unit tests of the lazy-pages daemon's index for shared memory
 * (lazy_index.h): pages whose source is a shared memory object
 * (PS_SHMEM_ADDR) survive MADV_DONTNEED (lz_remove_private), and a page
 * filled through one mapping leaves every run with that source
 * (lz_remove_src), wherever the object is mapped.
 */
#include <criterion/criterion.h>
#include <stdint.h>

#include "lazy_index.h"
#include "page_source.h"

#define PG LZ_PAGE

TestSuite(lazy_index_shmem, .timeout = 10);

/* DONTNEED over private and shared runs: only the private pages go. */
Test(lazy_index_shmem, remove_private_keeps_shared_memory_pages)
{
	struct lz_index x = { 0 };

	cr_assert_eq(lz_add(&x, 0x10000, 4, 0x10000), 0);	      /* private */
	cr_assert_eq(lz_add(&x, 0x14000, 4, PS_SHMEM_ADDR(1, 0)), 0); /* shared */
	cr_assert_eq(lz_add(&x, 0x18000, 4, 0x50000), 0);	      /* private */
	cr_assert_eq(lz_remove_private(&x, 0x11000, 0x1a000), 0);
	cr_assert_eq(x.pages, 1 + 4 + 2);
	cr_assert_not_null(lz_find(&x, 0x10000));
	cr_assert_null(lz_find(&x, 0x11000));
	for (uint64_t a = 0x14000; a < 0x18000; a += PG)
		cr_assert_not_null(lz_find(&x, a), "shared page %#lx dropped", (unsigned long)a);
	cr_assert_null(lz_find(&x, 0x19000));
	cr_assert_not_null(lz_find(&x, 0x1a000));
	lz_free(&x);
}

/* One object mapped twice: filling offsets 2..5 drops them at both addresses. */
Test(lazy_index_shmem, remove_src_drops_every_mapping_of_the_pages)
{
	struct lz_index x = { 0 };
	uint64_t got = 0;
	const struct lz_run *r;

	cr_assert_eq(lz_add(&x, 0x100000, 8, PS_SHMEM_ADDR(3, 0)), 0);
	cr_assert_eq(lz_add(&x, 0x200000, 8, PS_SHMEM_ADDR(3, 0)), 0);
	cr_assert_eq(lz_add(&x, 0x300000, 8, PS_SHMEM_ADDR(4, 0)), 0); /* another object */
	cr_assert_eq(lz_remove_src(&x, PS_SHMEM_ADDR(3, 2 * PG), 4, &got), 0);
	cr_assert_eq(got, 8);
	cr_assert_eq(x.pages, 24 - 8);
	for (int m = 1; m <= 2; m++) {
		uint64_t base = (uint64_t)m << 20;

		cr_assert_not_null(lz_find(&x, base + PG));
		cr_assert_null(lz_find(&x, base + 2 * PG));
		cr_assert_null(lz_find(&x, base + 5 * PG));
		r = lz_find(&x, base + 6 * PG);
		cr_assert_not_null(r);
		cr_assert_eq(r->src + (base + 6 * PG - r->addr), PS_SHMEM_ADDR(3, 6 * PG));
	}
	cr_assert_not_null(lz_find(&x, 0x303000), "the other object's page went too");
	lz_free(&x);
}
