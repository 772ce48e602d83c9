// SPDX-License-Identifier: MIT
/*
 * libbpf prints through one global callback. Its messages end in '\n' and
 * may hold several lines (the verifier log comes as one message); ferry's log
 * adds its own newline per message, so each line becomes one message.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/libbpf.h>

#define LOG_PREFIX ""
#include "bpflog.h"
#include "log.h"

static int bpflog_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char *buf, *line, *next;

	(void)level;
	if (log_level < LOG_DEBUG)
		return 0;
	if (vasprintf(&buf, fmt, ap) < 0)
		return 0;
	for (line = buf; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (*line)
			pr_debug("%s", line);
	}
	free(buf);
	return 0;
}

void bpflog_init(void)
{
	libbpf_set_print(bpflog_print);
}
