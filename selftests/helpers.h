/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the Criterion suites. */
#ifndef FERRY_TEST_HELPERS_H
#define FERRY_TEST_HELPERS_H

#include <stddef.h>

/* Path of build/ferry (FERRY_BIN, else build/ferry from the repo root). */
const char *t_ferry_bin(void);
/* Path of a built workload (FERRY_BUILD/workloads/NAME). */
const char *t_workload(const char *name);
/* mkdtemp under /tmp; returns a malloc'd path. */
char *t_tmpdir(void);
/* rm -rf of a test directory. */
void t_rmrf(const char *path);
/* Write/read a whole file. read returns a malloc'd NUL-terminated buffer. */
int t_write_file(const char *path, const void *buf, size_t len);
char *t_read_file(const char *path, size_t *len);
/*
 * t_run - run a shell command, capture stdout and stderr (malloc'd, may be
 * NULL), return its exit status (or -1 if it did not exit normally).
 */
int t_run(char **out, char **err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
