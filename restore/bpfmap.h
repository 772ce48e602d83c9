/* SPDX-License-Identifier: MIT */
/*
 * BPF maps of the dump (CRIU's bpfmap_file_entry and bpfmap-data.img),
 * made again by ferry (bpfmap.c): an array or hash map with the dumped
 * type, sizes, flags and name, filled with its elements, frozen if it was.
 */
#ifndef FERRY_RESTORE_BPFMAP_H
#define FERRY_RESTORE_BPFMAP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "images.h"

/* The elements of one map (bpfmap-data.img), mapped from the image. */
struct rimg_bpf_data {
	uint32_t map_id, count;
	const uint8_t *keys, *values;
};

/*
 * rimg_load_bpfmaps - bpfmap-data.img, if the dump has one (after
 * rimg_load_files()): each entry's map is a BPFMAP file of files.img, its
 * byte counts are count * the key and value sizes, count at most
 * max_entries, one entry per map; else refused with file and offset.
 */
int rimg_load_bpfmaps(struct rimg *r);
void rimg_free_bpfmaps(struct rimg *r);

/*
 * rimg_check_bpfmap - is BPFMAP entry @f, at @at of @img, a map restore can
 * make (array or hash, sizes and flags it knows)? 0 or -EINVAL (logged).
 */
int rimg_check_bpfmap(const struct img *img, size_t at, const FileEntry *f);

/*
 * rbpfmap_open - a description for BPFMAP entry @fe (fd @fd of @pid) above
 * @base: the map made once per map id (@made/@made_fd: the map ids made so
 * far and ferry's fd of each, room for one per file entry), a new fd of it
 * (BPF_MAP_GET_FD_BY_ID) for another description. Returns the fd or -errno
 * (logged with pid, fd and map).
 */
int rbpfmap_open(const struct rimg *r, const FileEntry *fe, uint32_t *made, int *made_fd,
		 size_t *nr_made, pid_t pid, int fd, int base);

#endif
