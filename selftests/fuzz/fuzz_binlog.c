// SPDX-License-Identifier: MIT
/* libFuzzer target: the binlog reader and the log formatter on arbitrary bytes. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "binlog.h"
#include "log.h"

static int quiet;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	FILE *devnull;

	if (!quiet) {
		log_init(NULL, LOG_MSG, 0);
		quiet = 1;
	}
	devnull = fopen("/dev/null", "w");
	if (!devnull)
		abort();
	binlog_print("fuzz.bin", data, size, devnull);
	fclose(devnull);
	return 0;
}
