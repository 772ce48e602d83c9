/* SPDX-License-Identifier: MIT */
/*
 * The memory pattern the workloads write and the tests check: every 8-byte
 * word is a function of its own address and a seed, so a page found at the
 * wrong address, a stale page or a zero page all fail the comparison.
 */
#ifndef FERRY_TEST_PATTERN_H
#define FERRY_TEST_PATTERN_H

#include <stdint.h>

static inline uint64_t pattern_word(uint64_t addr, uint64_t seed)
{
	uint64_t x = (addr ^ seed) * 0x9e3779b97f4a7c15ull;

	return x ^ (x >> 29);
}

/* memhog leaves every PATTERN_HOLE_EVERY-th page untouched (never populated). */
#define PATTERN_HOLE_EVERY 64

#endif
