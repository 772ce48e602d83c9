/* SPDX-License-Identifier: MIT */
/*
 * Binary log record layout (docs/binlog.md). All fields little-endian (the
 * host's order on every architecture ferry runs on), each record 8-aligned:
 *
 *   u32 magic    BINLOG_MAGIC
 *   u32 version  BINLOG_VERSION
 *   u32 size     whole record in bytes, header included, multiple of 8
 *   u32 nargs    number of arguments, <= BINLOG_MAX_ARGS
 *   u32 mask     bit i set: argument i is a string, its value an offset
 *   u32 fmt      offset of the NUL-terminated format string
 *   u64 args[nargs]  numbers by value (doubles as IEEE bits), strings by offset
 *   char strings[]   the format, then each string argument, NUL-terminated,
 *                    zero padding up to size
 *
 * Offsets count from the first byte of the record.
 */
#ifndef FERRY_BINLOG_H
#define FERRY_BINLOG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define BINLOG_MAGIC 0x676f6c66u /* "flog" in a little-endian hex dump */
#define BINLOG_VERSION 1u
#define BINLOG_MAX_ARGS 32u
#define BINLOG_MAX_RECORD (1u << 20)

struct binlog_hdr {
	uint32_t magic;
	uint32_t version;
	uint32_t size;
	uint32_t nargs;
	uint32_t mask;
	uint32_t fmt;
};
_Static_assert(sizeof(struct binlog_hdr) == 24, "binlog ABI");

/*
 * binlog_print - read every record of a binary log from buf and write the
 * formatted messages, one a line, to out. name is used in error messages.
 * Returns 0, or -EINVAL on a malformed record (reported with its byte offset).
 */
int binlog_print(const char *name, const void *buf, size_t len, FILE *out);

/* binlog_print_file - the same for a file. Returns 0 or -errno. */
int binlog_print_file(const char *path, FILE *out);

#endif
