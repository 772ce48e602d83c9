/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the core. */
#ifndef FERRY_UTIL_H
#define FERRY_UTIL_H

#include <stddef.h>
#include <stdint.h>

/*
 * write_full - write all of buf to fd, retrying short writes and EINTR.
 * Returns 0 or -errno.
 */
int write_full(int fd, const void *buf, size_t len);

/*
 * mkdir_p - create directory @dir and its missing parents, mode 0700.
 * Returns 0 (also when it exists), -ENAMETOOLONG, or the -errno of mkdir
 * (logged with the path).
 */
int mkdir_p(const char *dir);

/* mono_ns, mono_us - CLOCK_MONOTONIC now, in ns or µs (for durations). */
uint64_t mono_ns(void);
uint64_t mono_us(void);

#endif
