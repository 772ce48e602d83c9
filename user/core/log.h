/* SPDX-License-Identifier: MIT */
/*
 * ferry logging: text by default, binary records with --binlog.
 *
 * Call sites never format. Each pr_*() captures the format literal and its
 * arguments; with a text log they are formatted at once, with a binary log
 * (see docs/binlog.md) the format and raw arguments are written as one record
 * and formatted only when the log is read (ferry show-log).
 *
 * Arguments are classified at compile time with _Generic: char * and
 * const char * are strings (copied into the record), void * is a pointer,
 * double/float are doubles (stored as their bit pattern), everything else is an
 * integer widened to 64 bits. Pass other pointer types cast to (void *).
 *
 * Each file defines LOG_PREFIX before including this header to tag its lines.
 */
#ifndef FERRY_LOG_H
#define FERRY_LOG_H

#include <stdint.h>
#include <string.h>
#include <errno.h>

#ifndef LOG_PREFIX
#define LOG_PREFIX ""
#endif

/* Messages carry no trailing newline: the log adds one per message. */

/* -v levels, as CRIU: 0 messages only, 1 errors, 2 warnings, 3 info, 4 debug. */
enum log_level {
	LOG_MSG = 0,
	LOG_ERROR = 1,
	LOG_WARN = 2,
	LOG_INFO = 3,
	LOG_DEBUG = 4,
};
#define LOG_DEFAULT_LEVEL LOG_WARN

#define LOG_MAX_ARGS 16

/* One captured argument; kind is the LOG_ARG_* class chosen by _Generic. */
enum log_arg_kind { LOG_ARG_INT = 0, LOG_ARG_STR = 1, LOG_ARG_DBL = 2, LOG_ARG_PTR = 3 };
struct log_arg {
	uint64_t v;
	const char *s;
	int kind;
};

static inline struct log_arg log_arg_int(uint64_t v)
{
	return (struct log_arg){ .v = v, .kind = LOG_ARG_INT };
}
static inline struct log_arg log_arg_str(const char *s)
{
	return (struct log_arg){ .s = s, .kind = LOG_ARG_STR };
}
static inline struct log_arg log_arg_dbl(double d)
{
	struct log_arg a = { .kind = LOG_ARG_DBL };

	memcpy(&a.v, &d, sizeof(d));
	return a;
}
static inline struct log_arg log_arg_ptr(const void *p)
{
	return (struct log_arg){ .v = (uintptr_t)p, .kind = LOG_ARG_PTR };
}

#define LOG_ARG(x) \
	_Generic((x), char *: log_arg_str, const char *: log_arg_str, double: log_arg_dbl,          \
		 float: log_arg_dbl, void *: log_arg_ptr, const void *: log_arg_ptr,              \
		 default: log_arg_int)(x)

/* Apply LOG_ARG to each of up to LOG_MAX_ARGS arguments, comma separated. */
#define LOG__N(_0, _1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, _16, N, ...) N
#define LOG__NARGS(...) \
	LOG__N(_, ##__VA_ARGS__, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0)
#define LOG__CAT(a, b) a##b
#define LOG__XCAT(a, b) LOG__CAT(a, b)
#define LOG__M0()
#define LOG__M1(a) , LOG_ARG(a)
#define LOG__M2(a, ...) , LOG_ARG(a) LOG__M1(__VA_ARGS__)
#define LOG__M3(a, ...) , LOG_ARG(a) LOG__M2(__VA_ARGS__)
#define LOG__M4(a, ...) , LOG_ARG(a) LOG__M3(__VA_ARGS__)
#define LOG__M5(a, ...) , LOG_ARG(a) LOG__M4(__VA_ARGS__)
#define LOG__M6(a, ...) , LOG_ARG(a) LOG__M5(__VA_ARGS__)
#define LOG__M7(a, ...) , LOG_ARG(a) LOG__M6(__VA_ARGS__)
#define LOG__M8(a, ...) , LOG_ARG(a) LOG__M7(__VA_ARGS__)
#define LOG__M9(a, ...) , LOG_ARG(a) LOG__M8(__VA_ARGS__)
#define LOG__M10(a, ...) , LOG_ARG(a) LOG__M9(__VA_ARGS__)
#define LOG__M11(a, ...) , LOG_ARG(a) LOG__M10(__VA_ARGS__)
#define LOG__M12(a, ...) , LOG_ARG(a) LOG__M11(__VA_ARGS__)
#define LOG__M13(a, ...) , LOG_ARG(a) LOG__M12(__VA_ARGS__)
#define LOG__M14(a, ...) , LOG_ARG(a) LOG__M13(__VA_ARGS__)
#define LOG__M15(a, ...) , LOG_ARG(a) LOG__M14(__VA_ARGS__)
#define LOG__M16(a, ...) , LOG_ARG(a) LOG__M15(__VA_ARGS__)
#define LOG__ARGS(...) LOG__XCAT(LOG__M, LOG__NARGS(__VA_ARGS__))(__VA_ARGS__)

/* Global state, set once by log_init(); read by the macros. */
extern int log_level;

/*
 * log_init - open the log. path NULL means stderr. binary selects binlog
 * records (path required). Returns 0 or -errno.
 */
int log_init(const char *path, int level, int binary);
void log_fini(void);
int log_is_binary(void);
/* log_to_stderr - 1 while messages go to stderr (no --log-file). */
int log_to_stderr(void);

/*
 * log_emit - format (text) or record (binary) one message. args[0] is a
 * dummy so that a call with no arguments still has an array; nargs counts the
 * real ones from args[1]. Saves and restores errno.
 */
void log_emit(int level, const char *fmt, const struct log_arg *args, unsigned int nargs);

/* Never called: lets the compiler check each format against its arguments. */
static inline __attribute__((format(printf, 1, 2))) void log__check(const char *fmt, ...)
{
	(void)fmt;
}

#define log_msg(lvl, fmt, ...)                                                            \
	do {                                                                              \
		if (0)                                                                    \
			log__check(fmt, ##__VA_ARGS__);                                   \
		if ((lvl) <= log_level) {                                                 \
			const struct log_arg log__a[] = { { 0 } LOG__ARGS(__VA_ARGS__) }; \
			log_emit((lvl), (fmt), log__a + 1,                                \
				 sizeof(log__a) / sizeof(log__a[0]) - 1);                 \
		}                                                                         \
	} while (0)

#define LOG__STR(x) #x
#define LOG__XSTR(x) LOG__STR(x)
#define LOG__WHERE __FILE__ ":" LOG__XSTR(__LINE__)

#define pr_msg(fmt, ...) log_msg(LOG_MSG, fmt, ##__VA_ARGS__)
#define pr_info(fmt, ...) log_msg(LOG_INFO, LOG_PREFIX fmt, ##__VA_ARGS__)
#define pr_debug(fmt, ...) log_msg(LOG_DEBUG, LOG_PREFIX fmt, ##__VA_ARGS__)
#define pr_warn(fmt, ...) \
	log_msg(LOG_WARN, "Warn  (" LOG__WHERE "): " LOG_PREFIX fmt, ##__VA_ARGS__)
#define pr_err(fmt, ...) \
	log_msg(LOG_ERROR, "Error (" LOG__WHERE "): " LOG_PREFIX fmt, ##__VA_ARGS__)
/* pr_perror: like pr_err, with ": strerror(errno)" appended; keeps errno. */
#define pr_perror(fmt, ...)                                             \
	do {                                                            \
		int pr__errno = errno;                                  \
		pr_err(fmt ": %s", ##__VA_ARGS__, strerror(pr__errno)); \
		errno = pr__errno;                                      \
	} while (0)
/* pr_errno: like pr_perror for a -errno return value. */
#define pr_errno(neg, fmt, ...) pr_err(fmt ": %s", ##__VA_ARGS__, strerror(-(neg)))

#endif
