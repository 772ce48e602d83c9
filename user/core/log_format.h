/* SPDX-License-Identifier: MIT */
#ifndef FERRY_LOG_FORMAT_H
#define FERRY_LOG_FORMAT_H

#include <stddef.h>
#include <stdint.h>

/*
 * Argument source for log_format(): get(i, &v) returns the number for
 * argument i, str(i) its string (NULL when argument i is not a string or
 * does not exist). One formatter serves the text log and the binlog reader,
 * so both print the same bytes.
 */
struct log_fmt_args {
	unsigned int nargs;
	int (*get)(void *ctx, unsigned int i, uint64_t *v);
	const char *(*str)(void *ctx, unsigned int i);
	void *ctx;
};

/*
 * log_format - expand fmt into buf (always NUL-terminated, truncated at len).
 * Supports %[flags][width][.prec][hh|h|l|ll|z|j|t](d i u o x X c s p f F e E g G a A) and %%.
 * A missing or mistyped argument prints "<?>", never reads out of bounds.
 * Returns the length written (excluding the NUL).
 */
size_t log_format(char *buf, size_t len, const char *fmt, const struct log_fmt_args *a);

#endif
