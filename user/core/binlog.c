// SPDX-License-Identifier: MIT
/*
 * Binlog reader: validates each record completely before formatting it, and
 * names the file and byte offset of the first bad one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "binlog: "
#include "binlog.h"
#include "log.h"
#include "log_format.h"

struct rec_ctx {
	const char *rec;
	const struct binlog_hdr *h;
};

static int rec_get(void *ctx, unsigned int i, uint64_t *v)
{
	struct rec_ctx *c = ctx;

	if (c->h->mask & (1u << i))
		return -EINVAL;
	memcpy(v, c->rec + sizeof(*c->h) + i * sizeof(uint64_t), sizeof(*v));
	return 0;
}

static const char *rec_str(void *ctx, unsigned int i)
{
	struct rec_ctx *c = ctx;
	uint64_t off;

	if (!(c->h->mask & (1u << i)))
		return NULL;
	memcpy(&off, c->rec + sizeof(*c->h) + i * sizeof(uint64_t), sizeof(off));
	return c->rec + off; /* checked by rec_check() */
}

/* A string at off must start in the strings area and end with NUL in the record. */
static int str_ok(const char *rec, uint32_t size, uint64_t strings, uint64_t off)
{
	return off >= strings && off < size && memchr(rec + off, '\0', size - off);
}

static const char *rec_check(const char *rec, const struct binlog_hdr *h, size_t avail)
{
	uint64_t strings;
	unsigned int i;

	if (h->magic != BINLOG_MAGIC)
		return "bad magic";
	if (h->version != BINLOG_VERSION)
		return "unsupported version";
	if (h->size < sizeof(*h) || h->size % 8 || h->size > BINLOG_MAX_RECORD)
		return "bad record size";
	if (h->size > avail)
		return "record size past end of file";
	if (h->nargs > BINLOG_MAX_ARGS)
		return "too many arguments";
	if (h->nargs < 32 && (h->mask >> h->nargs))
		return "string mask names a missing argument";
	strings = sizeof(*h) + (uint64_t)h->nargs * sizeof(uint64_t);
	if (strings > h->size)
		return "arguments past end of record";
	if (!str_ok(rec, h->size, strings, h->fmt))
		return "bad format string offset";
	for (i = 0; i < h->nargs; i++) {
		uint64_t off;

		if (!(h->mask & (1u << i)))
			continue;
		memcpy(&off, rec + sizeof(*h) + i * sizeof(uint64_t), sizeof(off));
		if (!str_ok(rec, h->size, strings, off))
			return "bad string argument offset";
	}
	return NULL;
}

int binlog_print(const char *name, const void *buf, size_t len, FILE *out)
{
	const char *p = buf;
	size_t off = 0;
	char line[4096];

	while (off < len) {
		struct binlog_hdr h;
		struct rec_ctx c;
		struct log_fmt_args a;
		const char *why;

		if (len - off < sizeof(h)) {
			pr_err("%s: offset %zu: truncated record header (%zu bytes left)", name,
			       off, len - off);
			return -EINVAL;
		}
		memcpy(&h, p + off, sizeof(h));
		why = rec_check(p + off, &h, len - off);
		if (why) {
			pr_err("%s: offset %zu: %s (magic 0x%08x version %u size %u nargs %u)",
			       name, off, why, h.magic, h.version, h.size, h.nargs);
			return -EINVAL;
		}
		c.rec = p + off;
		c.h = &h;
		a = (struct log_fmt_args){
			.nargs = h.nargs, .get = rec_get, .str = rec_str, .ctx = &c
		};
		log_format(line, sizeof(line), p + off + h.fmt, &a);
		fprintf(out, "%s\n", line);
		off += h.size;
	}
	return 0;
}

int binlog_print_file(const char *path, FILE *out)
{
	struct stat st;
	void *map = NULL;
	int fd, err;

	/* O_NONBLOCK: a FIFO is refused below, not waited on for a writer. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		err = -errno;
		pr_perror("cannot open binary log %s", path);
		return err;
	}
	if (fstat(fd, &st)) {
		err = -errno;
		pr_perror("cannot stat %s", path);
		goto close_fd;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		pr_err("%s: not a regular file (a binary log is one, written with --binlog)", path);
		goto close_fd;
	}
	if (st.st_size == 0) {
		err = 0;
		goto close_fd;
	}
	map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		err = -errno;
		pr_perror("cannot map %s", path);
		goto close_fd;
	}
	err = binlog_print(path, map, (size_t)st.st_size, out);
	munmap(map, (size_t)st.st_size);
close_fd:
	close(fd);
	return err;
}
