// SPDX-License-Identifier: MIT
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_PREFIX "decode: "
#include "cli.h"
#include "img.h"
#include "img_json.h"
#include "log.h"

/* The type @path's base name names (pages-1.img is PAGES), or NULL. */
static const struct img_type *type_by_file_name(const char *path)
{
	char buf[4096];

	snprintf(buf, sizeof(buf), "%s", path);
	return img_type_by_file(basename(buf));
}

/* What ferry restore does with @t, as a phrase for people. */
static const char *restore_phrase(const struct img_type *t)
{
	switch (t->restore) {
	case IMG_RESTORE_USED:
		return "restored from";
	case IMG_RESTORE_IGNORED:
		return "decoded only: ferry restore ignores it";
	case IMG_RESTORE_CHECKED:
		return "decoded only: ferry restore checks it";
	case IMG_RESTORE_REFUSED:
		return "decoded only: ferry restore refuses a dump that has it";
	}
	return "?";
}

static const char *kind_magic_name(uint32_t m)
{
	return m == IMG_COMMON_MAGIC ? "IMG_COMMON" : m == IMG_SERVICE_MAGIC ? "IMG_SERVICE" : "";
}

static void json_str(const char *s)
{
	putchar('"');
	for (; s && *s; s++) {
		if (*s == '"' || *s == '\\')
			putchar('\\');
		putchar(*s);
	}
	putchar('"');
}

/* ferry decode --types [--json]: the table of image types. */
static int print_types(int json)
{
	const struct img_type *t;

	if (json)
		putchar('[');
	else
		printf("%-16s %-10s %-24s %-24s %s\n", "TYPE", "MAGIC", "FILE", "ENTRY", "RESTORE");
	for (t = img_types; t->name; t++) {
		const char *entry = t->desc ? t->desc->name : "-";

		if (!json) {
			printf("%-16s 0x%08x %-24s %-24s %s\n", t->name, t->magic, t->file, entry,
			       img_restore_name(t->restore));
			if (t->restore != IMG_RESTORE_USED)
				printf("%16s %s\n", "", t->restore_note);
			continue;
		}
		printf("%s\n {\"name\": ", t == img_types ? "" : ",");
		json_str(t->name);
		printf(", \"kind_magic\": ");
		json_str(kind_magic_name(t->kind_magic));
		printf(", \"magic\": %u, \"file\": ", t->magic);
		json_str(t->file);
		printf(", \"raw\": %s, \"entry\": ",
		       t->kind == IMG_RAW || t->kind == IMG_BLOB ? "true" : "false");
		json_str(t->desc ? t->desc->name : "");
		if (t->head_desc) {
			printf(", \"head\": ");
			json_str(t->head_desc->name);
		}
		if (t->alias_of) {
			printf(", \"alias_of\": ");
			json_str(t->alias_of->name);
		}
		printf(", \"about\": ");
		json_str(t->about);
		printf(", \"restore\": ");
		json_str(img_restore_name(t->restore));
		if (t->restore_note) {
			printf(", \"restore_note\": ");
			json_str(t->restore_note);
		}
		putchar('}');
	}
	if (json)
		puts("\n]");
	if (fflush(stdout))
		return -errno;
	return 0;
}

static int run(struct cli_opts *o)
{
	const char *path = o->input ? o->input : (o->argc > 0 ? o->argv[0] : NULL);
	const struct img_type *by_name, *t;
	struct img *img;
	char *json = NULL;
	size_t len = 0;
	FILE *mem;
	int err;

	if (o->types)
		return print_types(o->json);
	if (!path) {
		fprintf(stderr, "ferry decode: no image given: ferry decode -i FILE\n");
		return -EINVAL;
	}
	/* Raw images have no magic: they are known by name only, as in CRIU. */
	by_name = type_by_file_name(path);
	err = img_open(&img, AT_FDCWD, path, by_name && by_name->kind == IMG_RAW ? by_name : NULL);
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
	if (err)
		goto out;
	pr_info("%s: decoded %zu bytes", path, img_offset(img));
	fwrite(json, 1, len, stdout);
	if (fflush(stdout)) {
		err = -errno;
		goto out;
	}
	/* The name tells an alias (pagemap-shmem-N.img) from the type of its magic. */
	t = img_get_type(img);
	if (by_name && by_name->alias_of == t)
		t = by_name;
	if (t->restore != IMG_RESTORE_USED)
		fprintf(stderr, "ferry decode: %s: %s, %s: %s: %s\n", path, t->name, t->about,
			restore_phrase(t), t->restore_note);
out:
	free(json);
	img_close(img);
	return err;
}

const struct cli_cmd cmd_decode = {
	.name = "decode",
	.run = run,
	.summary = "print an image file as JSON (like crit decode)",
	.usage = "Usage: ferry decode -i FILE [--pretty]\n"
		 "       ferry decode --types [--json]\n\n"
		 "Prints a CRIU-format image as JSON, in the shape of 'crit decode':\n"
		 "  {\"magic\": \"PSTREE\", \"entries\": [{...}, ...]}\n"
		 "Every image type of CRIU 4.2 is known. Field names are those of the image's\n"
		 "protobuf messages; enums print by name; bytes fields and the extra payloads\n"
		 "that follow entries (pipe and socket data, TCP queues, System V IPC data,\n"
		 "ghost file contents, BPF map data) as base64, as crit prints them. Raw images,\n"
		 "known by their file name (pages-N.img, ip and iptables dumps, tmpfs tarballs),\n"
		 "print their size (pages: also their number of pages).\n\n"
		 "ferry restore uses inventory, pstree, core, ids, mm, pagemap, pages, fdinfo,\n"
		 "files, pipes-data, fs and tty-info images. For any other type, decode says on\n"
		 "stderr what restore does with it: ignores it (stats, cgroup, cpuinfo, ...),\n"
		 "checks it (seccomp.img must hold no filter, timens-0.img is ignored) or refuses\n"
		 "a dump that has it (namespaces, sockets, deleted files, locks, ...).\n\n"
		 "Options:\n"
		 "  -i, --input FILE   the image to decode (or give it as an argument)\n"
		 "  --pretty           indent the output\n"
		 "  --types            list every image type: magic, file name, entry message and\n"
		 "                     what ferry restore does with it (--json: as JSON)\n\n"
		 "A truncated or corrupted image, or one of unknown magic, is refused with an\n"
		 "error naming the file and the byte offset; the exit status is then non-zero.\n",
};
