// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_PREFIX "decode: "
#include "cli.h"
#include "img.h"
#include "img_json.h"
#include "log.h"

/* pages-N.img has no magic: recognise it by name, as CRIU does. */
static const struct img_type *type_by_file_name(const char *path)
{
	char buf[4096];
	const char *base;

	snprintf(buf, sizeof(buf), "%s", path);
	base = basename(buf);
	if (!fnmatch("pages-*.img", base, 0))
		return IMG_PAGES;
	return NULL;
}

static int run(struct cli_opts *o)
{
	const char *path = o->input ? o->input : (o->argc > 0 ? o->argv[0] : NULL);
	struct img *img;
	char *json = NULL;
	size_t len = 0;
	FILE *mem;
	int err;

	if (!path) {
		fprintf(stderr, "ferry decode: no image given: ferry decode -i FILE\n");
		return -EINVAL;
	}
	err = img_open(&img, AT_FDCWD, path, type_by_file_name(path));
	if (err) {
		if (err == -ENOENT)
			pr_err("%s: no such image file", path);
		return err;
	}
	/* Print only a whole decode: a bad entry must not leave half a JSON behind. */
	mem = open_memstream(&json, &len);
	if (!mem) {
		err = -errno;
		img_close(img);
		return err;
	}
	err = img_to_json(img, mem, o->pretty);
	if (fclose(mem) && !err)
		err = -ENOMEM;
	if (!err) {
		pr_info("%s: decoded %zu bytes", path, img_offset(img));
		fwrite(json, 1, len, stdout);
		if (fflush(stdout))
			err = -errno;
	}
	free(json);
	img_close(img);
	return err;
}

const struct cli_cmd cmd_decode = {
	.name = "decode",
	.run = run,
	.summary = "print an image file as JSON (like crit decode)",
	.usage = "Usage: ferry decode -i FILE [--pretty]\n\n"
		 "Prints a CRIU-format image as JSON, in the shape of 'crit decode':\n"
		 "  {\"magic\": \"PSTREE\", \"entries\": [{...}, ...]}\n"
		 "Field names are those of the image's protobuf messages; enums print by name;\n"
		 "bytes fields and extra payloads (pipe data) as base64. pages-N.img files,\n"
		 "which are raw, print their size and page count.\n\n"
		 "Options:\n"
		 "  -i, --input FILE   the image to decode (or give it as an argument)\n"
		 "  --pretty           indent the output\n\n"
		 "A truncated or corrupted image is refused with an error naming the file and\n"
		 "the byte offset of the bad entry; the exit status is then non-zero.\n",
};
