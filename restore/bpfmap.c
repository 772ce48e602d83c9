// SPDX-License-Identifier: MIT
/*
 * BPF maps of the dump made again (see bpfmap.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>

#define LOG_PREFIX "restore: "
#include "bpfmap.h"
#include "images_priv.h"
#include "img.h"
#include "log.h"

#include "bpfmap-data.pb-c.h"

/* The map flags ferry makes a map with: what an array or hash takes from user space. */
#define BPF_FLAGS_KNOWN                                                                \
	(BPF_F_NO_PREALLOC | BPF_F_NUMA_NODE | BPF_F_RDONLY_PROG | BPF_F_WRONLY_PROG | \
	 BPF_F_ZERO_SEED)
#define BPF_ELEMS_MAX (64u << 20)

static long sys_bpf(int cmd, union bpf_attr *attr)
{
	return syscall(SYS_bpf, cmd, attr, sizeof(*attr));
}

static const BpfmapFileEntry *map_of(const struct rimg *r, uint32_t map_id)
{
	for (size_t i = 0; i < r->nr_files; i++)
		if (r->files[i]->type == FD_TYPES__BPFMAP && r->files[i]->bpf->map_id == map_id)
			return r->files[i]->bpf;
	return NULL;
}

int rimg_check_bpfmap(const struct img *img, size_t at, const FileEntry *f)
{
	const BpfmapFileEntry *b = f->bpf;

	if (b->id != f->id ||
	    (b->map_type != BPF_MAP_TYPE_HASH && b->map_type != BPF_MAP_TYPE_ARRAY) ||
	    !b->key_size || !b->value_size || !b->max_entries || b->ifindex ||
	    (b->map_flags & ~(uint32_t)BPF_FLAGS_KNOWN) ||
	    (uint64_t)b->max_entries * (b->key_size + b->value_size) > BPF_ELEMS_MAX ||
	    strlen(b->map_name) >= BPF_OBJ_NAME_LEN) {
		pr_err("%s: offset %zu: BPF map file id %u (map %u, type %u, sizes %u/%u, %u "
		       "entries, flags %#x, name '%s'): ferry restores array and hash maps of at "
		       "most %u bytes",
		       img_name(img), at, f->id, b->map_id, b->map_type, b->key_size, b->value_size,
		       b->max_entries, b->map_flags, b->map_name, BPF_ELEMS_MAX);
		return -EINVAL;
	}
	return 0;
}

int rimg_load_bpfmaps(struct rimg *r)
{
	ProtobufCMessage *m = NULL;
	int err;

	err = rimg_open_img(r, IMG_BPFMAP_DATA->file, IMG_BPFMAP_DATA, 0, &r->bpf_img);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	for (;;) {
		size_t at = img_offset(r->bpf_img), len = 0;
		const BpfmapFileEntry *b;
		struct rimg_bpf_data *n;
		const BpfmapDataEntry *e;
		const void *data = NULL;
		size_t i;

		err = img_read_entry(r->bpf_img, &m);
		if (err <= 0)
			break;
		e = (const BpfmapDataEntry *)m;
		b = map_of(r, e->map_id);
		for (i = 0; i < r->nr_bpf && r->bpf[i].map_id != e->map_id; i++)
			;
		if (!b || i < r->nr_bpf || e->count > b->max_entries ||
		    (uint64_t)e->keys_bytes != (uint64_t)e->count * b->key_size ||
		    (uint64_t)e->values_bytes != (uint64_t)e->count * b->value_size) {
			pr_err("%s: offset %zu: elements of BPF map %u (%u, %u + %u bytes): %s",
			       img_name(r->bpf_img), at, e->map_id, e->count, e->keys_bytes,
			       e->values_bytes,
			       !b	       ? "no BPF map of files.img has that id"
			       : i < r->nr_bpf ? "a second entry for the map"
					       : "not as many as its key and value sizes say");
			err = -EINVAL;
			break;
		}
		err = img_read_payload(r->bpf_img, m, &data, &len);
		if (err)
			break;
		n = realloc(r->bpf, (r->nr_bpf + 1) * sizeof(*n));
		if (!n) {
			err = -ENOMEM;
			break;
		}
		r->bpf = n;
		r->bpf[r->nr_bpf++] =
			(struct rimg_bpf_data){ e->map_id, e->count, data,
						(const uint8_t *)data + e->keys_bytes };
		rimg_msg_free(m);
		m = NULL;
	}
	rimg_msg_free(m);
	return err < 0 ? err : 0;
}

void rimg_free_bpfmaps(struct rimg *r)
{
	free(r->bpf);
	r->bpf = NULL;
	r->nr_bpf = 0;
	if (r->bpf_img)
		img_close(r->bpf_img);
	r->bpf_img = NULL;
}

/* Make the map of @b with its elements; ferry's fd of it or -errno. */
static int make_map(const struct rimg *r, const BpfmapFileEntry *b, pid_t pid, int fd)
{
	const struct rimg_bpf_data *data = NULL;
	union bpf_attr a;
	int mfd, err = 0;

	for (size_t i = 0; i < r->nr_bpf; i++)
		if (r->bpf[i].map_id == b->map_id)
			data = &r->bpf[i];
	memset(&a, 0, sizeof(a));
	a.map_type = b->map_type;
	a.key_size = b->key_size;
	a.value_size = b->value_size;
	a.max_entries = b->max_entries;
	a.map_flags = b->map_flags;
	a.map_extra = b->has_map_extra ? b->map_extra : 0;
	strncpy(a.map_name, b->map_name, sizeof(a.map_name) - 1);
	mfd = (int)sys_bpf(BPF_MAP_CREATE, &a);
	if (mfd < 0) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: cannot make BPF map '%s' (type %u) again", pid, fd,
			 b->map_name, b->map_type);
		return err;
	}
	for (uint32_t i = 0; data && i < data->count && !err; i++) {
		memset(&a, 0, sizeof(a));
		a.map_fd = (uint32_t)mfd;
		a.key = (uint64_t)(uintptr_t)(data->keys + (size_t)i * b->key_size);
		a.value = (uint64_t)(uintptr_t)(data->values + (size_t)i * b->value_size);
		a.flags = BPF_ANY;
		if (sys_bpf(BPF_MAP_UPDATE_ELEM, &a)) {
			err = -errno;
			pr_errno(err, "pid %d fd %d: BPF map '%s': cannot put element %u back", pid,
				 fd, b->map_name, i);
		}
	}
	if (!err && b->frozen) {
		memset(&a, 0, sizeof(a));
		a.map_fd = (uint32_t)mfd;
		if (sys_bpf(BPF_MAP_FREEZE, &a)) {
			err = -errno;
			pr_errno(err, "pid %d fd %d: cannot freeze BPF map '%s'", pid, fd,
				 b->map_name);
		}
	}
	if (err) {
		close(mfd);
		return err;
	}
	pr_debug("pid %d fd %d: BPF map '%s' (was map %u) made with %u elements", pid, fd,
		 b->map_name, b->map_id, data ? data->count : 0);
	return mfd;
}

/* A new description of the map ferry holds as @mfd, with @flags' access. */
static int another_fd(int mfd, uint32_t flags)
{
	struct bpf_map_info info;
	union bpf_attr a;

	memset(&info, 0, sizeof(info));
	memset(&a, 0, sizeof(a));
	a.info.bpf_fd = (uint32_t)mfd;
	a.info.info_len = sizeof(info);
	a.info.info = (uint64_t)(uintptr_t)&info;
	if (sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a))
		return -errno;
	memset(&a, 0, sizeof(a));
	a.map_id = info.id;
	a.open_flags = (flags & O_ACCMODE) == O_RDONLY	 ? BPF_F_RDONLY
		       : (flags & O_ACCMODE) == O_WRONLY ? BPF_F_WRONLY
							 : 0;
	{
		long nfd = sys_bpf(BPF_MAP_GET_FD_BY_ID, &a);

		return nfd < 0 ? -errno : (int)nfd;
	}
}

int rbpfmap_open(const struct rimg *r, const FileEntry *fe, uint32_t *made, int *made_fd,
		 size_t *nr_made, pid_t pid, int fd, int base)
{
	const BpfmapFileEntry *b = fe->bpf;
	int lfd = -1, err = 0;
	size_t i;

	for (i = 0; i < *nr_made && made[i] != b->map_id; i++)
		;
	if (i == *nr_made) {
		lfd = make_map(r, b, pid, fd);
		if (lfd < 0)
			return lfd;
		made[*nr_made] = b->map_id;
		made_fd[(*nr_made)++] = lfd; /* closed by the caller */
		lfd = fcntl(lfd, F_DUPFD_CLOEXEC, base);
	} else {
		int nfd = another_fd(made_fd[i], b->flags);

		if (nfd < 0) {
			err = nfd;
			pr_errno(err, "pid %d fd %d: cannot open BPF map '%s' again", pid, fd,
				 b->map_name);
			return err;
		}
		lfd = fcntl(nfd, F_DUPFD_CLOEXEC, base);
		close(nfd);
	}
	if (lfd < 0) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: cannot move BPF map '%s' above fd %d", pid, fd,
			 b->map_name, base);
		return err;
	}
	return lfd;
}
