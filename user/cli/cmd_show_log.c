// SPDX-License-Identifier: MIT
#include <stdio.h>

#include "binlog.h"
#include "cli.h"
#include "log.h"

static int run(struct cli_opts *o)
{
	const char *path = o->argc > 0 ? o->argv[0] : o->log_file;

	if (!path) {
		fprintf(stderr, "ferry show-log: no log file given (see --help)\n");
		return -1;
	}
	return binlog_print_file(path, stdout);
}

const struct cli_cmd cmd_show_log = {
	.name = "show-log",
	.run = run,
	.summary = "print a binary log (--binlog) as text",
	.usage = "Usage: ferry show-log FILE\n"
		 "       ferry --log-file FILE --binlog --print-log\n\n"
		 "Reads a log written with --log-file FILE --binlog and prints each message\n"
		 "exactly as the text log would have, one a line. A malformed record stops the\n"
		 "output with an error naming the file and the record's byte offset, and a\n"
		 "non-zero exit status. The format is described in docs/binlog.md.\n",
};
