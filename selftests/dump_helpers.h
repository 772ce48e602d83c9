/* SPDX-License-Identifier: MIT */
/* What the dump tests share (dump_helpers.c). */
#ifndef FERRY_DUMP_HELPERS_H
#define FERRY_DUMP_HELPERS_H

#include <sys/types.h>

/* A workload under test. */
struct dt_wl {
	char *dir;     /* test directory */
	char out[512]; /* workload output */
	char img[512]; /* images directory */
	pid_t pid;
};

/* Start @argv in a new test directory and wait for its @ready line. */
void dt_wl_start(struct dt_wl *w, const char *const argv[], const char *ready);
/* Kill it and remove the test directory. */
void dt_wl_stop(struct dt_wl *w);
/* `ferry dump -t PID -D IMG EXTRA`; its exit status, its stderr in *@err. */
int dt_ferry_dump(struct dt_wl *w, const char *extra, char **err);
/*
 * The target runs normally: not stopped, not traced, and still making progress
 * (more lines with @progress in file @path), unless @path is NULL.
 */
void dt_assert_running(struct dt_wl *w, const char *path, const char *progress);
/* Every image ferry wrote decodes with ferry and, if installed, with crit. */
int dt_check_all_images(const char *dir);
/* Image files (and stats-*) in @dir; 0 if it does not exist. */
int dt_count_images(const char *dir);
/* Each of @needles (printf'd with its arguments) appears in @text. */
void dt_expect_named(const char *text, const char *needle);

#endif
