/* SPDX-License-Identifier: MIT */
/*
 * The address space of a process under restore.
 *
 * From outside, with remote calls through the scratch page (rtask.h): the
 * shell's own mappings (a copy of ferry's) are unmapped, the vDSO and vvar
 * are moved to their dumped addresses (refused if their layout differs from
 * the dump's: another kernel), every dumped VMA is mapped at its address
 * with its protections and flags (file mappings from their files, whose size
 * must not have changed), private memory is filled from pages-N.img and,
 * for pages recorded in a parent, from the pre-dump chain's pages files
 * (process_vm_writev, or /proc/PID/mem where the VMA is not writable), the
 * madvise bits are applied, and prctl(PR_SET_MM_MAP) sets brk, code/data,
 * stack, arg/env, auxv and the exe file.
 */
#ifndef FERRY_RESTORE_MM_H
#define FERRY_RESTORE_MM_H

#include <stdint.h>

#include "images.h"
#include "rtask.h"

/*
 * rmm_scratch_addr - an address for the scratch pages (RT_SCRATCH_SIZE) that
 * no VMA of any process of @r uses and that is free in ferry now (the shells
 * are copies of ferry). Returns 0 or -ENOMEM.
 */
int rmm_scratch_addr(const struct rimg *r, uint64_t *addr);

/*
 * rmm_free_area - the lowest address of @size free bytes that are free in
 * ferry now, in no VMA of any process of @r and not in [@busy, @busy +
 * @busy_len). Returns 0 or -ENOMEM (logged).
 */
int rmm_free_area(const struct rimg *r, uint64_t size, uint64_t busy, uint64_t busy_len,
		  uint64_t *addr);

/*
 * rmm_restore - rebuild the whole address space of @t (only its leader exists).
 * With t->lazy no page is written: the lazy-pages daemon does it (lazy.h).
 */
int rmm_restore(struct rtask *t, const struct rimg *r);

/* Counters of the last rmm_restore() calls, for stats and -v. */
struct rmm_stats {
	uint64_t pages_written;
	uint64_t write_ns;
};
extern struct rmm_stats rmm_stats;

#endif
