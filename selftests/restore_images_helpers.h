/* SPDX-License-Identifier: MIT */
/* What the restore_images tests share (restore_images_helpers.c). */
#ifndef FERRY_RESTORE_IMAGES_HELPERS_H
#define FERRY_RESTORE_IMAGES_HELPERS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "img.h"
#include "images.h"

#define PAGE 4096ull

/* A workload dumped by ferry into its own test directory. */
struct ri_dump {
	char *dir;     /* test directory */
	char img[512]; /* the images */
	char out[512]; /* the workload's stdout and stderr */
	char line[512];
	pid_t pid;
};

/* SIGKILL the workload's group and reap it. */
void ri_kill_workload(struct ri_dump *d);
/* Run workload @argv until @ready, dump it with --leave-running, then kill it unless @keep. */
void ri_make_dump_keep(struct ri_dump *d, const char *const argv[], const char *ready, int keep);
/* The same, and kill it. */
void ri_make_dump(struct ri_dump *d, const char *const argv[], const char *ready);
/* Remove the test directory. */
void ri_drop_dump(struct ri_dump *d);
/* rimg_load of @dir, which must succeed. */
struct rimg *ri_load_ok(const char *dir);
/* A damaged copy of the dump: DIR/bad. */
const char *ri_copy_dump(struct ri_dump *d);
/* rimg_load on @dir must fail with @want and log a line containing each needle. */
void ri_expect_fail(const char *dir, int want, const char *needle, const char *needle2);
/* memhog's ready line: its buffer and the seed of its contents. */
void ri_parse_memhog(const struct ri_dump *d, uint64_t *base, uint64_t *size, uint64_t *seed);
/* Dump memhog (8 MiB) and kill it. */
void ri_start_memhog(struct ri_dump *d);
/* Rewrite image @name of @dir entry by entry, through @edit (which may add one). */
typedef void (*ri_edit_fn)(ProtobufCMessage *m, size_t idx, void *arg);
/* @edit may be NULL; with @dup_first the first entry is written again at the end. */
void ri_rewrite(const char *dir, const char *name, const struct img_type *t, ri_edit_fn edit,
		void *arg, int dup_first);

#endif
