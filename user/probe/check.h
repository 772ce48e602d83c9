/* SPDX-License-Identifier: MIT */
/*
 * Feature probes: does this kernel (and do our privileges) give ferry what it
 * needs? Each probe exercises the feature for real on objects of its own (a
 * mapping, a child process, a BPF program) and removes them before it
 * returns: it does not infer support from version numbers or config files.
 *
 * Core only: the command line (user/cli/cmd_check.c) formats the results.
 */
#ifndef FERRY_CHECK_H
#define FERRY_CHECK_H

#include <stddef.h>

#define CHECK_DETAIL_MAX 320

struct check_result {
	const char *name;	       /* short feature name, e.g. "pagemap-scan" */
	const char *what;	       /* one line: what the probe does */
	int required;		       /* ferry does not work without it */
	int err;		       /* 0: present; -errno: missing */
	char detail[CHECK_DETAIL_MAX]; /* what was seen, or why it is missing */
};

/* check_count - number of features in the probe table. */
size_t check_count(void);

/*
 * check_describe - fill name/what/required of feature @i without probing.
 * Returns 0, or -EINVAL if @i is out of range.
 */
int check_describe(size_t i, struct check_result *r);

/*
 * check_run - probe feature @i and fill @r. Returns r->err: 0 if the
 * feature works, -errno (with r->detail saying why) if not; -EINVAL if @i is
 * out of range.
 */
int check_run(size_t i, struct check_result *r);

/* check_run_name - like check_run for the feature called @name; -ENOENT if none. */
int check_run_name(const char *name, struct check_result *r);

/*
 * check_run_all - probe every feature into @res (check_count() entries).
 * Returns the number of required features that are missing (0: ferry can
 * run here). The uffd-wp dirty-tracking features (uffd-wp-async,
 * pagemap-scan, uffd-remote-wp) are not required where soft-dirty works:
 * their results then say so and have required 0.
 */
int check_run_all(struct check_result *res);

/*
 * check_dirty_tracking - from check_run_all()'s results, what `ferry
 * pre-dump` and `ferry dirtyrate` will track dirty pages with here
 * (--track-mode auto): "uffd-wp async + PAGEMAP_SCAN", "soft-dirty bits", or
 * "none (pre-dump copies every page)".
 */
const char *check_dirty_tracking(const struct check_result *res);

#endif
