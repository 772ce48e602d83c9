// SPDX-License-Identifier: MIT
/*
 * Log sinks: text lines (stderr or --log-file) or binlog records (--binlog).
 * The binary sink copies the format pointer's string and the raw arguments
 * into one record and writes it with a single write(2): no formatting happens
 * on the hot path.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "binlog.h"
#include "log.h"
#include "util.h"
#include "log_format.h"

int log_level = LOG_DEFAULT_LEVEL;
static int log_fd = STDERR_FILENO;
static int log_binary;

int log_is_binary(void)
{
	return log_binary;
}

int log_to_stderr(void)
{
	return log_fd == STDERR_FILENO;
}

int log_init(const char *path, int level, int binary)
{
	int fd = STDERR_FILENO;

	if (binary && !path)
		return -EINVAL;
	if (path) {
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
		if (fd < 0)
			return -errno;
	}
	log_fini();
	log_fd = fd;
	log_level = level;
	log_binary = binary;
	return 0;
}

void log_fini(void)
{
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = STDERR_FILENO;
	log_binary = 0;
}

static int arg_get(void *ctx, unsigned int i, uint64_t *v)
{
	const struct log_arg *args = ctx;

	if (args[i].kind == LOG_ARG_STR)
		return -EINVAL;
	*v = args[i].v;
	return 0;
}

static const char *arg_str(void *ctx, unsigned int i)
{
	const struct log_arg *args = ctx;

	if (args[i].kind != LOG_ARG_STR)
		return NULL;
	return args[i].s ? args[i].s : "(null)";
}

static void emit_text(const char *fmt, const struct log_arg *args, unsigned int nargs)
{
	struct log_fmt_args a = {
		.nargs = nargs, .get = arg_get, .str = arg_str, .ctx = (void *)args
	};
	char line[4096];
	size_t n;

	n = log_format(line, sizeof(line) - 1, fmt, &a);
	line[n++] = '\n';
	write_full(log_fd, line, n);
}

static void emit_binary(const char *fmt, const struct log_arg *args, unsigned int nargs)
{
	size_t lens[LOG_MAX_ARGS], fmt_len = strlen(fmt) + 1, size, pos;
	struct binlog_hdr *h;
	uint64_t *vals;
	char stack[1024], *rec = stack;
	unsigned int i;

	if (nargs > LOG_MAX_ARGS)
		nargs = LOG_MAX_ARGS;
	size = sizeof(*h) + nargs * sizeof(uint64_t) + fmt_len;
	for (i = 0; i < nargs; i++) {
		lens[i] = 0;
		if (args[i].kind == LOG_ARG_STR) {
			lens[i] = strlen(args[i].s ? args[i].s : "(null)") + 1;
			size += lens[i];
		}
	}
	size = (size + 7) & ~(size_t)7;
	if (size > BINLOG_MAX_RECORD)
		return;
	if (size > sizeof(stack)) {
		rec = malloc(size);
		if (!rec)
			return;
	}
	memset(rec, 0, size);
	h = (struct binlog_hdr *)rec;
	h->magic = BINLOG_MAGIC;
	h->version = BINLOG_VERSION;
	h->size = (uint32_t)size;
	h->nargs = nargs;
	vals = (uint64_t *)(rec + sizeof(*h));
	pos = sizeof(*h) + nargs * sizeof(uint64_t);
	h->fmt = (uint32_t)pos;
	memcpy(rec + pos, fmt, fmt_len);
	pos += fmt_len;
	for (i = 0; i < nargs; i++) {
		if (args[i].kind != LOG_ARG_STR) {
			vals[i] = args[i].v;
			continue;
		}
		h->mask |= 1u << i;
		vals[i] = pos;
		memcpy(rec + pos, args[i].s ? args[i].s : "(null)", lens[i]);
		pos += lens[i];
	}
	write_full(log_fd, rec, size);
	if (rec != stack)
		free(rec);
}

void log_emit(int level, const char *fmt, const struct log_arg *args, unsigned int nargs)
{
	int saved = errno;

	(void)level;
	if (log_binary)
		emit_binary(fmt, args, nargs);
	else
		emit_text(fmt, args, nargs);
	errno = saved;
}
