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
 * write_file_atomic - replace @path with @len bytes of @buf: written to
 * "@path.tmp", fsync'ed, renamed over @path; on error the temporary file is
 * removed and @path is untouched. Returns 0, -ENAMETOOLONG or -errno (not
 * logged: the caller knows what the file is).
 */
int write_file_atomic(const char *path, const void *buf, size_t len);

/*
 * mkdir_p - create directory @dir and its missing parents, mode 0700.
 * Returns 0 (also when it exists), -ENAMETOOLONG, or the -errno of mkdir
 * (logged with the path).
 */
int mkdir_p(const char *dir);

/*
 * raise_nofile_limit - raise this process's soft RLIMIT_NOFILE to its hard
 * limit (shells commonly start at 1024, too low for fds placed above every
 * fd of a restored tree). Returns the soft limit now in force.
 */
unsigned long raise_nofile_limit(void);

/* mono_ns, mono_us - CLOCK_MONOTONIC now, in ns or µs (for durations). */
uint64_t mono_ns(void);
uint64_t mono_us(void);

#endif
