/* SPDX-License-Identifier: MIT */
/* What the dump_files tests share (dump_files_helpers.c). */
#ifndef FERRY_DUMP_FILES_HELPERS_H
#define FERRY_DUMP_FILES_HELPERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "img.h"
#include "fdinfo.pb-c.h"

#define CRIT "/usr/bin/crit"
/* The kernel adds it on 64-bit; glibc defines O_LARGEFILE as 0 there. */
#define K_O_LARGEFILE 0100000

/* ---- children that hold fds and block in read(2) ---- */

struct df_kid {
	pid_t pid;
	int in;	       /* write end of its stdin: one byte releases one process */
	int out;       /* read end of its stdout */
	long extra;    /* the number after "ready", if any */
	char line[64]; /* its "ready" line */
};

/* Move fd to number at (with FD_CLOEXEC if cloexec). */
void df_put_fd(int fd, int at, int cloexec);
/* In the child: say "ready EXTRA" to the test. */
void df_kid_ready(long extra);
/* Block in read(2) until the test sends a byte; EOF means "go away". */
void df_kid_block(void);
/*
 * Fork a child whose fd table holds only stdin/stdout pipes to the test,
 * /dev/null as stderr, and what fn(arg) opens. fn must call df_kid_ready().
 */
void df_kid_start(struct df_kid *k, void (*fn)(void *), void *arg);
/* Release the child (and its tree) and reap it; returns its exit status. */
int df_kid_stop(struct df_kid *k);

/* ---- images ---- */

/* All entries of an image, read with img_read_entry. */
struct df_entries {
	ProtobufCMessage **m;
	size_t n;
};

void df_read_entries(int dirfd, const char *name, const struct img_type *t, struct df_entries *e);
void df_free_entries(struct df_entries *e);
/* The entry of fd / of file id (the test fails without one). */
const FdinfoEntry *df_fdinfo_of(const struct df_entries *e, uint32_t fd);
const FileEntry *df_file_of(const struct df_entries *e, uint32_t id);
/* The file entry behind fd of an fdinfo image. */
const FileEntry *df_file_of_fd(const struct df_entries *files, const struct df_entries *fdi,
			       uint32_t fd);
/* Number of image files (finished or temporary) in dir. */
int df_count_images(const char *dir);
/* crit decode of DIR/NAME must succeed. */
void df_crit_decode(const char *dir, const char *name);

/* ---- the error log, captured in a temporary file ---- */

struct df_logcap {
	char dir[64];
	char path[128];
};

/* Start capturing (log_init at LOG_ERROR). */
void df_log_start(struct df_logcap *l);
/* Stop capturing; returns the text (malloc'd) and removes the file. */
char *df_log_end(struct df_logcap *l);

/* FNV-1a of @p; the byte df_pattern(i) at offset i of pipe data. */
uint32_t df_pattern_sum(const uint8_t *p, size_t n);
uint8_t df_pattern(size_t i);
/* The mount id of @path (statx). */
uint64_t df_mnt_id_of(const char *path);

#endif
