// SPDX-License-Identifier: MIT
/*
 * BPF maps held by the tree (anon_inode:bpf-map), dumped as CRIU does: a
 * bpfmap_file_entry (type, key and value sizes, max entries, flags, name,
 * id, frozen) in files.img, and the keys then the values of its elements
 * in bpfmap-data.img. Arrays and hashes only: other map types (per-CPU,
 * ring buffers, maps of maps, ...) hold what user space cannot read back or
 * refer to other objects, and are refused by name, as are mmapable,
 * read- or write-only (from user space) and offloaded maps.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>

#define LOG_PREFIX "files: "
#include "log.h"
#include "img.h"
#include "proc_fdinfo_events.h"
#include "dump_files.h"
#include "dump_files_priv.h"

#include "bpfmap-data.pb-c.h"
#include "bpfmap-file.pb-c.h"
#include "fdinfo.pb-c.h"

#define BPF_LINK "anon_inode:bpf-map"

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

/* A number of the map's fdinfo ("map_type:\t1", "map_flags:\t0x0"), or -1. */
static long long fdinfo_num(const char *buf, const char *key)
{
	const char *at = strstr(buf, key);

	return at ? strtoll(at + strlen(key), NULL, 0) : -1;
}

int files_bpfmap_classify(pid_t pid, struct probe *p)
{
	char *buf = NULL;
	size_t len = 0;
	long long type, flags, ifindex;
	int ret;

	if (strcmp(p->link, BPF_LINK))
		return 0;
	ret = proc_fdinfo_text(pid, p->fd, &buf, &len);
	if (ret) {
		pr_errno(ret, "pid %d fd %d: cannot read the fdinfo of its BPF map", pid, p->fd);
		return ret;
	}
	type = fdinfo_num(buf, "map_type:");
	flags = fdinfo_num(buf, "map_flags:");
	ifindex = fdinfo_num(buf, "map_ifindex:");
	free(buf);
	if (type != BPF_MAP_TYPE_HASH && type != BPF_MAP_TYPE_ARRAY) {
		pr_err("pid %d fd %d: BPF map of type %lld is not supported (only arrays and "
		       "hashes are kept)",
		       pid, p->fd, type);
		return -ENOTSUP;
	}
	if (flags < 0 ||
	    (flags & (BPF_F_MMAPABLE | BPF_F_RDONLY | BPF_F_WRONLY | BPF_F_INNER_MAP)) ||
	    ifindex > 0) {
		pr_err("pid %d fd %d: BPF map with flags %#llx%s is not supported (mmapable, "
		       "read-only, write-only, inner or offloaded maps)",
		       pid, p->fd, flags, ifindex > 0 ? " on a device" : "");
		return -ENOTSUP;
	}
	p->type = FD_TYPES__BPFMAP;
	return 1;
}

/* Every key and value of map @lfd (@info) into @b. */
static int read_elems(pid_t pid, int fd, int lfd, const struct bpf_map_info *info,
		      struct bpf_dump *b)
{
	union bpf_attr a;
	uint8_t *key = NULL;
	int ret = 0, first = 1;

	b->keys = malloc((size_t)info->key_size * info->max_entries);
	b->values = malloc((size_t)info->value_size * info->max_entries);
	key = malloc(info->key_size);
	if (!b->keys || !b->values || !key) {
		ret = -ENOMEM;
		goto out;
	}
	for (;;) {
		uint8_t *k = b->keys + (size_t)b->count * info->key_size;

		if (b->count == info->max_entries)
			break;
		memset(&a, 0, sizeof(a));
		a.map_fd = (uint32_t)lfd;
		a.key = first ? 0 : (uint64_t)(uintptr_t)key;
		a.next_key = (uint64_t)(uintptr_t)k;
		if (sys_bpf(BPF_MAP_GET_NEXT_KEY, &a)) {
			if (errno != ENOENT)
				ret = -errno;
			break;
		}
		first = 0;
		memcpy(key, k, info->key_size);
		memset(&a, 0, sizeof(a));
		a.map_fd = (uint32_t)lfd;
		a.key = (uint64_t)(uintptr_t)k;
		a.value = (uint64_t)(uintptr_t)(b->values + (size_t)b->count * info->value_size);
		if (sys_bpf(BPF_MAP_LOOKUP_ELEM, &a)) {
			if (errno == ENOENT)
				continue; /* deleted meanwhile (by a BPF program): not there */
			ret = -errno;
			break;
		}
		b->count++;
	}
	if (ret)
		pr_errno(ret, "pid %d fd %d: cannot read the elements of BPF map %u", pid, fd,
			 info->id);
out:
	free(key);
	return ret;
}

int files_bpfmap_add(struct files_dump *d, pid_t pid, const struct probe *p, int lfd,
		     const struct fown_v *fo, uint32_t *id)
{
	struct bpf_map_info info;
	union bpf_attr a;
	struct bpf_dump *b;
	struct desc *e;
	char *buf = NULL;
	size_t len = 0;
	int ret;

	memset(&info, 0, sizeof(info));
	memset(&a, 0, sizeof(a));
	a.info.bpf_fd = (uint32_t)lfd;
	a.info.info_len = sizeof(info);
	a.info.info = (uint64_t)(uintptr_t)&info;
	if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a)) {
		ret = -errno;
		pr_errno(ret, "pid %d fd %d: BPF_OBJ_GET_INFO_BY_FD of its map", pid, p->fd);
		return ret;
	}
	if ((uint64_t)info.max_entries * (info.key_size + info.value_size) > FILES_BPFMAP_MAX) {
		pr_err("pid %d fd %d: BPF map %u is not supported: %u entries of %u + %u bytes, "
		       "more than the %llu bytes ferry copies",
		       pid, p->fd, info.id, info.max_entries, info.key_size, info.value_size,
		       (unsigned long long)FILES_BPFMAP_MAX);
		return -ENOTSUP;
	}
	b = calloc(1, sizeof(*b));
	if (!b)
		return -ENOMEM;
	b->info = info;
	ret = proc_fdinfo_text(pid, p->fd, &buf, &len);
	if (!ret) {
		b->frozen = fdinfo_num(buf, "frozen:") == 1;
		b->memlock = (uint64_t)fdinfo_num(buf, "memlock:");
		free(buf);
	}
	if (!ret)
		ret = read_elems(pid, p->fd, lfd, &info, b);
	if (!ret) {
		e = files_desc_new(d, FD_TYPES__BPFMAP, SRC_FD, pid, p, fo);
		if (!e)
			ret = -ENOMEM;
	}
	if (ret) {
		files_bpfmap_free(b);
		return ret;
	}
	e->pos = p->fi.pos;
	e->mnt_id = p->fi.mnt_id;
	e->bpf = b;
	*id = e->id;
	pr_debug("pid %d fd %d: BPF map %u '%s' (type %u), %u of %u elements", pid, p->fd, info.id,
		 info.name, info.type, b->count, info.max_entries);
	return 0;
}

void files_bpfmap_free(struct bpf_dump *b)
{
	if (!b)
		return;
	free(b->keys);
	free(b->values);
	free(b);
}

int files_bpfmap_write(struct img *img, const struct desc *e, FownEntry *fown)
{
	FileEntry fe = FILE_ENTRY__INIT;
	BpfmapFileEntry be = BPFMAP_FILE_ENTRY__INIT;
	const struct bpf_map_info *i = &e->bpf->info;
	char name[BPF_OBJ_NAME_LEN + 1];

	memcpy(name, i->name, BPF_OBJ_NAME_LEN);
	name[BPF_OBJ_NAME_LEN] = '\0';
	be.id = e->id;
	be.flags = e->flags;
	be.pos = e->pos;
	be.fown = fown;
	be.map_type = i->type;
	be.key_size = i->key_size;
	be.value_size = i->value_size;
	be.map_id = i->id;
	be.max_entries = i->max_entries;
	be.map_flags = i->map_flags;
	be.memlock = e->bpf->memlock;
	be.frozen = e->bpf->frozen;
	be.map_name = name;
	be.ifindex = i->ifindex;
	be.has_mnt_id = 1;
	be.mnt_id = e->mnt_id;
	be.has_map_extra = 1;
	be.map_extra = i->map_extra;
	fe.type = FD_TYPES__BPFMAP;
	fe.id = e->id;
	fe.bpf = &be;
	return img_write_entry(img, &fe.base);
}

int files_bpfmap_write_data(const struct files_dump *d, int dirfd)
{
	struct img *img = NULL;
	int ret = 0;

	for (size_t i = 0; i < d->nd && !ret; i++) {
		const struct desc *e = &d->d[i];
		BpfmapDataEntry de = BPFMAP_DATA_ENTRY__INIT;
		int seen = 0;

		if (e->type != FD_TYPES__BPFMAP)
			continue;
		/* Once per map: another description of it has the same map id. */
		for (size_t k = 0; k < i; k++)
			seen |= d->d[k].type == FD_TYPES__BPFMAP &&
				d->d[k].bpf->info.id == e->bpf->info.id;
		if (seen)
			continue;
		if (!img)
			ret = img_create(&img, dirfd, IMG_BPFMAP_DATA->file, IMG_BPFMAP_DATA);
		de.map_id = e->bpf->info.id;
		de.count = e->bpf->count;
		de.keys_bytes = e->bpf->count * e->bpf->info.key_size;
		de.values_bytes = e->bpf->count * e->bpf->info.value_size;
		if (!ret)
			ret = img_write_entry(img, &de.base);
		if (!ret && de.keys_bytes)
			ret = img_write_raw(img, e->bpf->keys, de.keys_bytes);
		if (!ret && de.values_bytes)
			ret = img_write_raw(img, e->bpf->values, de.values_bytes);
	}
	if (!ret && img)
		ret = img_commit(img);
	else
		img_abort(img);
	if (ret)
		pr_errno(ret, "cannot write %s", IMG_BPFMAP_DATA->file);
	return ret;
}
