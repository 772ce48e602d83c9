// SPDX-License-Identifier: MIT
/*
 * Image types of memory: mm, the VMAs, pagemap and raw pages: round trips and
 * crit.
 * (Suite img_types; the helpers are in img_test_helpers.c.)
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "img.h"
#include "vma.pb-c.h"
#include "pagemap_flags.h"

#include "mm.pb-c.h"
#include "pagemap.pb-c.h"

#include "img_test_helpers.h"

#define PAGE 4096

static void fill_vmas(VmaEntry *v, VmaEntry **vp, size_t n)
{
	static const uint64_t start[] = { 0x400000, 0x7f0000000000ull, 0x7ffc0000d000ull };
	size_t i;

	for (i = 0; i < n; i++) {
		vma_entry__init(&v[i]);
		v[i].start = start[i % 3] + (i / 3) * 0x100000;
		v[i].end = v[i].start + (i + 1) * PAGE;
		v[i].pgoff = i ? 0 : PAGE;
		v[i].shmid = i == 0 ? 7 : 0;
		v[i].prot = i == 0 ? 5 : 3;	/* r-x, rw- */
		v[i].flags = i == 0 ? 2 : 0x22; /* MAP_PRIVATE, MAP_PRIVATE|MAP_ANONYMOUS */
		v[i].status = i == 0 ? 0x41 : 0x201;
		v[i].fd = -1;
		v[i].has_madv = 1;
		v[i].madv = i == 2 ? (1ull << 14) : 0;
		v[i].has_fdflags = i == 0;
		v[i].fdflags = i == 0 ? 0x8000 : 0;
		vp[i] = &v[i];
	}
}

Test(img_types, mm, .timeout = 30, .init = it_setup, .fini = it_teardown)
{
	AioRingEntry aio = AIO_RING_ENTRY__INIT, *aiop[] = { &aio };
	VmaEntry v[3], *vp[3];
	MmEntry mm = MM_ENTRY__INIT;
	uint64_t auxv[38];
	char *json;
	size_t i;

	fill_vmas(v, vp, ARRAY_SIZE(v));
	for (i = 0; i < ARRAY_SIZE(auxv); i++)
		auxv[i] = i % 2 ? 0x1000 * i : i / 2 + 3;
	aio.id = 0x7f0000300000ull;
	aio.nr_req = 128;
	aio.ring_len = 2 * PAGE;

	mm.mm_start_code = 0x400000;
	mm.mm_end_code = 0x401000;
	mm.mm_start_data = 0x402000;
	mm.mm_end_data = 0x403000;
	mm.mm_start_stack = 0x7ffc0000e000ull;
	mm.mm_start_brk = 0x1000000;
	mm.mm_brk = 0x1021000;
	mm.mm_arg_start = 0x7ffc0000ef00ull;
	mm.mm_arg_end = 0x7ffc0000ef20ull;
	mm.mm_env_start = 0x7ffc0000ef20ull;
	mm.mm_env_end = 0x7ffc0000eff0ull;
	mm.exe_file_id = 7;
	mm.n_mm_saved_auxv = ARRAY_SIZE(auxv);
	mm.mm_saved_auxv = auxv;
	mm.n_vmas = ARRAY_SIZE(vp);
	mm.vmas = vp;
	mm.has_dumpable = 1;
	mm.dumpable = 1;
	mm.n_aios = ARRAY_SIZE(aiop);
	mm.aios = aiop;
	mm.has_thp_disabled = mm.thp_disabled = 1;

	it_roundtrip(IMG_MM, "mm-4242.img", IT_ONE(mm), 1);
	json = it_crit_decode(IMG_MM, "mm-4242.img");
	cr_assert_eq(it_count_str(json, "\"start\": "), 3, "vmas:\n%s", json);
	it_expect_json(json, "\"start\": 4194304");
	it_expect_json(json, "\"start\": 139637976727552");
	it_expect_json(json, "\"mm_brk\": 16912384");
	it_expect_json(json, "\"exe_file_id\": 7");
	it_expect_json(json, "\"fd\": -1");
	it_expect_json(json, "\"nr_req\": 128");
	it_expect_json(json, "\"thp_disabled\": true");
	free(json);
}

Test(img_types, vmas, .timeout = 30, .init = it_setup, .fini = it_teardown)
{
	VmaEntry v[6], *vp[6];
	struct it_ent e[6];
	char *json;
	size_t i;

	fill_vmas(v, vp, ARRAY_SIZE(v));
	for (i = 0; i < ARRAY_SIZE(v); i++)
		e[i] = (struct it_ent){ .msg = &v[i].base };

	it_roundtrip(IMG_VMAS, "vmas-4242.img", e, ARRAY_SIZE(e));
	json = it_crit_decode(IMG_VMAS, "vmas-4242.img");
	cr_assert_eq(it_count_str(json, "\"start\": "), 6);
	cr_assert_eq(it_count_str(json, "\"fd\": -1"), 6);
	it_expect_json(json, "\"start\": 4194304");
	it_expect_json(json, "\"start\": 140720308539392");
	it_expect_json(json, "\"madv\": 16384");
	it_expect_json(json, "\"fdflags\": 32768");
	free(json);
}

Test(img_types, pagemap, .timeout = 30, .init = it_setup, .fini = it_teardown)
{
	static const struct {
		uint64_t vaddr;
		uint32_t nr;
		uint32_t flags;
	} runs[] = {
		{ 0x400000, 16, PE_PRESENT },
		{ 0x7f0000000000ull, 300, PE_PARENT },
		{ 0x7ffc0000d000ull, 2, PE_LAZY },
	};
	PagemapHead head = PAGEMAP_HEAD__INIT;
	PagemapEntry pe[3];
	struct it_ent e[4] = { { .msg = &head.base } };
	struct img *img;
	ProtobufCMessage *m;
	PagemapEntry *got;
	char *json;
	size_t i;

	head.pages_id = 1;
	for (i = 0; i < ARRAY_SIZE(pe); i++) {
		pagemap_entry__init(&pe[i]);
		pe[i].vaddr = runs[i].vaddr;
		pe[i].compat_nr_pages = runs[i].nr;
		pe[i].has_nr_pages = 1;
		pe[i].nr_pages = runs[i].nr;
		pe[i].has_flags = 1;
		pe[i].flags = runs[i].flags;
		pe[i].has_in_parent = runs[i].flags == PE_PARENT;
		pe[i].in_parent = runs[i].flags == PE_PARENT;
		e[i + 1] = (struct it_ent){ .msg = &pe[i].base };
	}

	it_roundtrip(IMG_PAGEMAP, "pagemap-4242.img", e, ARRAY_SIZE(e));

	/* The reader hands back a head first, then entries with both counts. */
	cr_assert_eq(img_open(&img, it_dfd, "pagemap-4242.img", IMG_PAGEMAP), 0);
	cr_assert_eq(img_read_entry(img, &m), 1);
	cr_assert_eq(m->descriptor, &pagemap_head__descriptor);
	cr_assert_eq(((PagemapHead *)m)->pages_id, 1);
	protobuf_c_message_free_unpacked(m, NULL);
	cr_assert_eq(img_read_entry(img, &m), 1);
	got = (PagemapEntry *)m;
	cr_assert(got->has_nr_pages);
	cr_assert_eq(got->nr_pages, 16);
	cr_assert_eq(got->compat_nr_pages, 16);
	protobuf_c_message_free_unpacked(m, NULL);
	img_close(img);

	json = it_crit_decode(IMG_PAGEMAP, "pagemap-4242.img");
	it_expect_json(json, "\"pages_id\": 1");
	it_expect_json(json, "\"vaddr\": 4194304");
	it_expect_json(json, "\"vaddr\": 139637976727552");
	/* crit 3.17 reads field 2 as nr_pages and skips field 5. */
	cr_assert_eq(it_count_str(json, "\"nr_pages\": "), 3, "%s", json);
	it_expect_json(json, "\"nr_pages\": 16");
	it_expect_json(json, "\"nr_pages\": 300");
	it_expect_json(json, "\"in_parent\": true");
	it_expect_json(json, "\"flags\": 4");
	it_expect_json(json, "\"flags\": 2");
	free(json);
}

Test(img_types, pages_raw, .timeout = 30, .init = it_setup, .fini = it_teardown)
{
	static uint8_t pages[3 * PAGE], back[PAGE];
	const uint8_t *data;
	struct img *img;
	size_t i, len;

	for (i = 0; i < sizeof(pages); i++)
		pages[i] = (uint8_t)(i * 7 + i / PAGE);
	cr_assert_eq(img_create(&img, it_dfd, "pages-1.img", IMG_PAGES), 0);
	for (i = 0; i < 3; i++)
		cr_assert_eq(img_write_raw(img, pages + i * PAGE, PAGE), 0);
	cr_assert_eq(img_commit(img), 0);

	cr_assert_eq(img_open(&img, it_dfd, "pages-1.img", IMG_PAGES), 0);
	data = img_data(img, &len);
	cr_assert_eq(len, sizeof(pages), "raw image of %zu bytes (magic written?)", len);
	cr_assert_arr_eq(data, pages, sizeof(pages));
	cr_assert_eq(img_read_raw(img, back, PAGE), 0);
	cr_assert_arr_eq(back, pages, PAGE);
	img_close(img);
}
