/* SPDX-License-Identifier: MIT */
/*
 * Inside the dump orchestrator (dump.h): what its files share. dump_dir.c
 * handles the images directory (prepared, staging, the previous round's
 * directory and the parent link, sync, the journalled publish); dump.c runs
 * the dump.
 */
#ifndef FERRY_DUMP_PRIV_H
#define FERRY_DUMP_PRIV_H

#include <stddef.h>

#include "dump.h"

/* dump_dir.c */
int dump_open_dirs(const struct dump_opts *o, char *staging, size_t len, int *dirfd, int *parent_fd,
		   int *sfd);
void dump_remove_dir(int parent, const char *name);
int dump_sync_images(int sfd, const char *dir);
int dump_publish(int dirfd, const char *staging, const char *dir);
int dump_link_parent(const struct dump_opts *o, int sfd);

#endif
