/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the core. */
#ifndef FERRY_UTIL_H
#define FERRY_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * write_full - write all of buf to fd, retrying short writes and EINTR.
 * Returns 0 or -errno.
 */
int write_full(int fd, const void *buf, size_t len);

/*
 * read_full - read exactly @len bytes from @fd into @buf, retrying short
 * reads and EINTR. *@done (if @done is not NULL) says how many bytes came,
 * also on error. Returns 0, -EIO at end of file before @len bytes, or the
 * -errno of read(). Not logged: the caller knows what the fd is.
 */
int read_full(int fd, void *buf, size_t len, size_t *done);

/*
 * pread_full - read_full at file offset @off (pread(2): the fd's file
 * position is left alone). Same returns, *@done counted from @off; -EINVAL
 * for an offset past INT64_MAX.
 */
int pread_full(int fd, void *buf, size_t len, uint64_t off, size_t *done);

/*
 * read_fd_all - read @fd to end of file into a malloc'ed buffer, retrying
 * EINTR; the data may come in reads of any size. The buffer has a '\0'
 * after the data, not counted in *@len. Returns 0, -EFBIG if @fd holds more
 * than @max bytes (SIZE_MAX: no limit; at most @max + 1 bytes are read),
 * -ENOMEM, or the -errno of read(); on error *@out and *@len are untouched.
 * Not logged.
 */
int read_fd_all(int fd, char **out, size_t *len, size_t max);

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

/*
 * fault_point - for tests: SIGKILL ferry itself here when FERRY_FAULT names
 * this point ("frozen", "rename", "arm-parked", ...), to check that what a
 * killed ferry leaves is safe.
 */
void fault_point(const char *name);

/*
 * pid_after_prefix - the pid in a file name "PREFIXpid" (a state file, a
 * staging directory of a ferry run), or 0 when @name is not one.
 */
pid_t pid_after_prefix(const char *name, const char *prefix);

#endif
