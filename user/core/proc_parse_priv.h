/* SPDX-License-Identifier: MIT */
/*
 * Internal to the /proc parsers (proc_parse.c, proc_maps.c, proc_tasks.c;
 * proc_parse.h is the public interface): opening and reading /proc files,
 * defined in proc_parse.c, and number parsing on [p, end), inline here.
 */
#ifndef FERRY_PROC_PARSE_PRIV_H
#define FERRY_PROC_PARSE_PRIV_H

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

/* Room for "/proc/<pid>/task/<tid>/" and a file name. */
#define PROC_PATH_MAX 96

/* /proc/PID/NAME, or /proc/PID/task/TID/NAME when @tid is not 0. */
void proc_path(char *buf, size_t size, pid_t pid, pid_t tid, const char *name);
/* After ENOENT on a file of PID[/task/TID]: -ESRCH if the process is gone, else -ENOENT. */
int proc_gone_or_enoent(pid_t pid, pid_t tid);
/* open(2) of a /proc file: fd, -ESRCH, -ENOENT, or -errno (logged). */
int proc_open(const char *path, pid_t pid, pid_t tid);
/* Read a whole /proc file into a malloc'ed, NUL-terminated buffer. */
int proc_read_whole(const char *path, pid_t pid, pid_t tid, char **out, size_t *len);

/* ---- number parsing on [p, end) ---------------------------------------------------------- */

static inline const char *skip_blanks(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

static inline int digit_value(char c, int base)
{
	int d;

	if (c >= '0' && c <= '9')
		d = c - '0';
	else if (c >= 'a' && c <= 'f')
		d = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		d = c - 'A' + 10;
	else
		return -1;
	return d < base ? d : -1;
}

/*
 * Parse an unsigned number in @base after optional blanks; a leading '-'
 * (base 10 only) stores the two's complement. Advances *pp past the digits.
 * Returns 0, or -EINVAL if there are no digits or the value overflows.
 */
static inline int parse_num(const char **pp, const char *end, int base, uint64_t *out)
{
	const char *p = skip_blanks(*pp, end);
	uint64_t v = 0;
	int neg = 0, d, any = 0;

	if (p < end && *p == '-' && base == 10) {
		neg = 1;
		p++;
	}
	for (; p < end && (d = digit_value(*p, base)) >= 0; p++) {
		if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
			return -EINVAL;
		v = v * (uint64_t)base + (uint64_t)d;
		any = 1;
	}
	if (!any)
		return -EINVAL;
	*out = neg ? (uint64_t)(-(int64_t)v) : v;
	*pp = p;
	return 0;
}

/* The token ends here: end of input, a blank, or a newline. */
static inline int at_token_end(const char *p, const char *end)
{
	return p == end || *p == ' ' || *p == '\t' || *p == '\n';
}

/* The log has no "%.*s": quote at most SNIP_MAX - 1 bytes of [s, s + len) through a buffer. */
#define SNIP_MAX 96
static inline const char *snip(char *dst, const char *s, size_t len)
{
	if (len > SNIP_MAX - 1)
		len = SNIP_MAX - 1;
	memcpy(dst, s, len);
	dst[len] = '\0';
	return dst;
}
#endif
