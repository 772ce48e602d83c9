/* SPDX-License-Identifier: MIT */
/*
 * A byte stream whose every byte is a function of its position and a seed:
 * a reader that checks each byte against its offset sees a byte lost,
 * repeated or reordered (the TCP tests and the tcpconn workload share it).
 */
#ifndef FERRY_TEST_STREAM_PATTERN_H
#define FERRY_TEST_STREAM_PATTERN_H

#include <stddef.h>
#include <stdint.h>

static inline uint8_t stream_byte(uint32_t seed, uint64_t off)
{
	uint64_t x = (off ^ ((uint64_t)seed << 40)) * 0x9e3779b97f4a7c15ull;

	return (uint8_t)(x >> 56);
}

static inline void stream_fill(uint8_t *buf, size_t len, uint32_t seed, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = stream_byte(seed, off + i);
}

/* Index of the first byte of @buf that is not the stream's at @off, or -1. */
static inline long stream_check(const uint8_t *buf, size_t len, uint32_t seed, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] != stream_byte(seed, off + i))
			return (long)i;
	return -1;
}

#endif
