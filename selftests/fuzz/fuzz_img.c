// SPDX-License-Identifier: MIT
/*
 * libFuzzer target: the image reader and the JSON printer on arbitrary bytes.
 * The first byte picks how the input is read: as any image (magic decides),
 * or as each known type in turn without magic checks being able to help.
 * A tcp-stream image also goes through tcp_stream_img_parse(), the reader
 * the restore of established connections uses.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "img.h"
#include "img_json.h"
#include "log.h"
#include "tcp_stream_img.h"

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
		int tcp = img_get_type(img) == IMG_TCP_STREAM;

		img_to_json(img, devnull, size & 1);
		img_close(img);
		/* The restore side's reader of the same image (tcp_stream_img.c). */
		if (tcp && !img_open_mem(&img, "fuzz.img", data, size, IMG_TCP_STREAM)) {
			struct tcp_repair_state st = { 0 };

			tcp_stream_img_parse(img, &st);
			tcp_repair_state_free(&st);
			img_close(img);
		}
	}
	fclose(devnull);
	return 0;
}
