// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the image reader and the JSON printer on arbitrary bytes.
 * The first byte picks how the input is read: as any image (magic decides),
 * or as each known type in turn without magic checks being able to help.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "img.h"
#include "img_json.h"
#include "log.h"

static int quiet;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct img *img;
	FILE *devnull;

	if (!quiet) {
		log_init(NULL, LOG_MSG, 0); /* errors are expected: keep the run readable */
		quiet = 1;
	}
	devnull = fopen("/dev/null", "w");
	if (!devnull)
		abort();
	if (!img_open_mem(&img, "fuzz.img", data, size, NULL)) {
		img_to_json(img, devnull, size & 1);
		img_close(img);
	}
	fclose(devnull);
	return 0;
}
