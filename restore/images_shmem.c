// SPDX-License-Identifier: MIT
/*
 * The shared memory objects of a dump: pagemap-shmem-<shmid>.img and its
 * pages file, for every shmid the VMAs of the tree map (see shmem.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "images: "
#include "images_priv.h"
#include "ipc-shm.pb-c.h"
#include "log.h"
#include "memfd.pb-c.h"
#include "pagemap.pb-c.h"
#include "pagemap_flags.h"
#include "shmem.h"
#include "vma_status.h"

#define RIMG_PAGE 4096ull

static struct rimg_shmem *find(const struct rimg *r, uint64_t shmid)
{
	for (size_t i = 0; i < r->nr_shmem; i++)
		if (r->shmem[i].shmid == shmid)
			return &r->shmem[i];
	return NULL;
}

static struct rimg_shmem *add_obj(struct rimg *r, uint64_t shmid)
{
	struct rimg_shmem *n = realloc(r->shmem, (r->nr_shmem + 1) * sizeof(*n)), *s;

	if (!n)
		return NULL;
	r->shmem = n;
	s = &r->shmem[r->nr_shmem++];
	memset(s, 0, sizeof(*s));
	s->shmid = (uint32_t)shmid;
	s->pages_fd = -1;
	s->fd = -1;
	s->sysv_id = -1;
	return s;
}

static const IpcShmEntry *sysv_entry(const struct rimg *r, uint64_t id)
{
	for (size_t i = 0; i < r->nr_sysv; i++)
		if (r->sysv[i]->desc->id == id)
			return r->sysv[i];
	return NULL;
}

/* The one ipcns-shm-<ns>.img of the directory, or "" (none); -EINVAL for two. */
static int sysv_image(struct rimg *r, char *name, size_t size)
{
	struct dirent *de;
	int fd, err = 0;
	DIR *d;

	name[0] = 0;
	fd = openat(r->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		err = -errno;
		pr_perror("cannot list %s", r->dir);
		if (fd >= 0)
			close(fd);
		return err;
	}
	while ((de = readdir(d)) && !err) {
		unsigned int ns;
		char tail[8];

		if (sscanf(de->d_name, "ipcns-shm-%u.im%1s", &ns, tail) != 2 || strcmp(tail, "g"))
			continue;
		if (name[0]) {
			pr_err("%s: %s and %s: SysV segments of two IPC namespaces", r->dir, name,
			       de->d_name);
			err = -EINVAL;
		}
		if (strlen(de->d_name) < size)
			memcpy(name, de->d_name, strlen(de->d_name) + 1);
	}
	closedir(d);
	return err;
}

/* ipcns-shm-<ns>.img, if any: the SysV segments the tree had attached. */
static int load_sysv(struct rimg *r)
{
	const struct img_type *t = img_type_by_name("IPCNS_SHM");
	ProtobufCMessage *m = NULL;
	struct img *img;
	char name[64];
	int err = sysv_image(r, name, sizeof(name));

	if (err || !name[0])
		return err;
	err = rimg_open_img(r, name, t, 1, &img);
	if (err)
		return err;
	/* Kept open: inline contents are read from its mapping by rshmem_create(). */
	r->sysv_img = img;
	for (;;) {
		size_t at = img_offset(img), len = 0;
		const void *data = NULL, **nd;
		IpcShmEntry *e, **n;

		err = img_read_entry(img, &m);
		if (err <= 0)
			break;
		e = (IpcShmEntry *)m;
		if (!e->desc || !e->size || e->size > RSHMEM_MAX || e->desc->id > INT32_MAX ||
		    (e->has_hugetlb_flag && e->hugetlb_flag) || sysv_entry(r, e->desc->id)) {
			pr_err("%s: offset %zu: SysV segment %u (%llu bytes): a repeated or "
			       "negative id, an empty, hugetlb or larger than %llu bytes segment",
			       img_name(img), at, e->desc ? e->desc->id : 0,
			       (unsigned long long)e->size, (unsigned long long)RSHMEM_MAX);
			rimg_msg_free(m);
			err = -EINVAL;
			break;
		}
		/* Contents inline (ferry, CRIU before 3.x's in_pagemaps) or in pagemap-shmem. */
		if (!(e->has_in_pagemaps && e->in_pagemaps)) {
			err = img_read_payload(img, m, &data, &len);
			if (err) {
				rimg_msg_free(m);
				break;
			}
		}
		n = realloc(r->sysv, (r->nr_sysv + 1) * sizeof(*n));
		nd = n ? realloc(r->sysv_data, (r->nr_sysv + 1) * sizeof(*nd)) : NULL;
		if (n)
			r->sysv = n;
		if (nd)
			r->sysv_data = nd;
		if (!n || !nd) {
			rimg_msg_free(m);
			err = -ENOMEM;
			break;
		}
		r->sysv_data[r->nr_sysv] = data;
		r->sysv[r->nr_sysv++] = e;
	}
	return err < 0 ? err : 0;
}

/* A VMA_AREA_SYSVIPC VMA attaches a whole segment of ipcns-shm (made once). */
static int collect_sysv(struct rimg *r, const struct rimg_proc *p, const VmaEntry *v)
{
	const IpcShmEntry *e = v->shmid <= INT32_MAX ? sysv_entry(r, v->shmid) : NULL;
	struct rimg_shmem *s = e ? find(r, v->shmid) : NULL;

	if (!e || v->pgoff || !(v->status & VMA_ANON_SHARED) || !(v->flags & MAP_SHARED) ||
	    (s && s->sysv != e) ||
	    v->end - v->start != ((e->size + RIMG_PAGE - 1) & ~(RIMG_PAGE - 1))) {
		pr_err("%s/mm-%d.img: pid %d: SysV VMA 0x%llx-0x%llx (status %#x, offset %#llx) "
		       "attaches segment %llu, which is not a whole segment of the dump's "
		       "ipcns-shm image",
		       r->dir, p->pid, p->pid, (unsigned long long)v->start,
		       (unsigned long long)v->end, v->status, (unsigned long long)v->pgoff,
		       (unsigned long long)v->shmid);
		return -EINVAL;
	}
	if (!s)
		s = add_obj(r, v->shmid);
	if (!s)
		return -ENOMEM;
	s->sysv = e;
	for (size_t i = 0; i < r->nr_sysv; i++)
		if (r->sysv[i] == e)
			s->sysv_data = r->sysv_data[i];
	s->size = e->size;
	return 0;
}

static const MemfdInodeEntry *memfd_inode(const struct rimg *r, uint64_t inode_id)
{
	for (size_t i = 0; i < r->nr_memfds; i++)
		if (r->memfds[i]->inode_id == inode_id)
			return r->memfds[i];
	return NULL;
}

/* memfd.img, if any: one shmem object per inode, of the memfd's size. */
static int load_memfds(struct rimg *r)
{
	const struct img_type *t = img_type_by_name("MEMFD_INODE");
	ProtobufCMessage *m = NULL;
	struct img *img;
	int err;

	err = rimg_open_img(r, t->file, t, 0, &img);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	for (;;) {
		size_t at = img_offset(img);
		MemfdInodeEntry *me, **n;

		err = img_read_entry(img, &m);
		if (err <= 0)
			break;
		me = (MemfdInodeEntry *)m;
		if (!me->shmid || memfd_inode(r, me->inode_id) || find(r, me->shmid) ||
		    me->size > RSHMEM_MAX || (me->has_hugetlb_flag && me->hugetlb_flag) ||
		    strlen(me->name) > 249) {
			pr_err("%s: offset %zu: memfd %s (inode %llu, shmid %u, %llu bytes): a "
			       "repeated inode or shmid, a hugetlb memfd, a name longer than 249 "
			       "bytes or more than %llu bytes",
			       img_name(img), at, me->name, (unsigned long long)me->inode_id,
			       me->shmid, (unsigned long long)me->size,
			       (unsigned long long)RSHMEM_MAX);
			rimg_msg_free(m);
			err = -EINVAL;
			break;
		}
		n = realloc(r->memfds, (r->nr_memfds + 1) * sizeof(*n));
		if (!n || !add_obj(r, me->shmid)) {
			if (n)
				r->memfds = n;
			rimg_msg_free(m);
			err = -ENOMEM;
			break;
		}
		r->memfds = n;
		r->memfds[r->nr_memfds++] = me;
		r->shmem[r->nr_shmem - 1].memfd = me;
		r->shmem[r->nr_shmem - 1].size = me->size;
	}
	img_close(img);
	if (err < 0)
		return err;
	/* Every memfd file entry names an inode of memfd.img. */
	for (size_t i = 0; i < r->nr_files; i++) {
		const FileEntry *f = r->files[i];

		if (f->type == FD_TYPES__MEMFD && !memfd_inode(r, f->memfd->inode_id)) {
			pr_err("%s/files.img: memfd file %u has inode %u, which %s/%s does not have",
			       r->dir, f->id, f->memfd->inode_id, r->dir, t->file);
			return -EINVAL;
		}
	}
	return 0;
}

/* A VMA_AREA_MEMFD VMA maps a memfd entry of files.img, whose inode is known. */
static int check_memfd_vma(const struct rimg *r, const struct rimg_proc *p, const VmaEntry *v)
{
	const FileEntry *f = v->shmid <= UINT32_MAX ? rimg_file(r, (uint32_t)v->shmid) : NULL;

	if (f && f->type == FD_TYPES__MEMFD && memfd_inode(r, f->memfd->inode_id) &&
	    (v->status & (VMA_FILE_SHARED | VMA_FILE_PRIVATE)))
		return 0;
	pr_err("%s/mm-%d.img: pid %d: memfd VMA 0x%llx-0x%llx (status %#x) maps file %llu, "
	       "which is no memfd of files.img",
	       r->dir, p->pid, p->pid, (unsigned long long)v->start, (unsigned long long)v->end,
	       v->status, (unsigned long long)v->shmid);
	return -EINVAL;
}

/* Note every object a VMA maps, with the size the VMAs need of it. */
static int collect(struct rimg *r)
{
	for (size_t p = 0; p < r->nr_procs; p++) {
		const MmEntry *mm = r->procs[p].mm;

		for (size_t i = 0; mm && i < mm->n_vmas; i++) {
			const VmaEntry *v = mm->vmas[i];
			struct rimg_shmem *s;
			uint64_t end;

			if (v->status & VMA_AREA_MEMFD) {
				int err = check_memfd_vma(r, &r->procs[p], v);

				if (err)
					return err;
				continue;
			}
			if (v->status & VMA_AREA_SYSVIPC) {
				int err = collect_sysv(r, &r->procs[p], v);

				if (err)
					return err;
				continue;
			}
			if (!(v->status & VMA_ANON_SHARED))
				continue;
			end = v->pgoff + (v->end - v->start);
			if ((v->status & (VMA_ANON_PRIVATE | VMA_FILE_PRIVATE | VMA_FILE_SHARED)) ||
			    (v->pgoff & (RIMG_PAGE - 1)) || end < v->pgoff || !v->shmid ||
			    v->shmid > UINT32_MAX || !(v->flags & MAP_SHARED)) {
				pr_err("%s/mm-%d.img: pid %d: shared anonymous VMA 0x%llx-0x%llx has "
				       "status %#x, flags %#x, offset %#llx, shmid %llu: not a "
				       "mapping of one shmem object",
				       r->dir, r->procs[p].pid, r->procs[p].pid,
				       (unsigned long long)v->start, (unsigned long long)v->end,
				       v->status, v->flags, (unsigned long long)v->pgoff,
				       (unsigned long long)v->shmid);
				return -EINVAL;
			}
			s = find(r, v->shmid);
			if (s && (s->memfd || s->sysv)) {
				pr_err("%s/mm-%d.img: pid %d: VMA 0x%llx-0x%llx maps shmid %llu as "
				       "anonymous memory, which memfd.img or ipcns-shm says is not",
				       r->dir, r->procs[p].pid, r->procs[p].pid,
				       (unsigned long long)v->start, (unsigned long long)v->end,
				       (unsigned long long)v->shmid);
				return -EINVAL;
			}
			if (!s)
				s = add_obj(r, v->shmid);
			if (!s)
				return -ENOMEM;
			if (end > s->size)
				s->size = end;
		}
	}
	return 0;
}

/* Read pagemap-shmem-<shmid>.img into @s; the runs must lie inside the object. */
static int read_pagemap(struct rimg *r, struct rimg_shmem *s, uint64_t *need)
{
	const struct img_type *t = img_type_by_name("SHMEM_PAGEMAP");
	ProtobufCMessage *m = NULL;
	struct img *img;
	char name[64];
	size_t cap = 0;
	int err;

	snprintf(name, sizeof(name), t->file, s->shmid);
	err = rimg_open_img(r, name, t, 1, &img);
	if (err)
		return err;
	err = img_read_entry(img, &m);
	if (err <= 0) {
		pr_err("%s/%s: shmid %u: %s at offset %zu, no pagemap head", r->dir, name, s->shmid,
		       err ? "unreadable" : "empty", img_offset(img));
		err = -EINVAL;
		goto out;
	}
	s->pages_id = ((PagemapHead *)m)->pages_id;
	rimg_msg_free(m);
	*need = 0;
	for (;;) {
		size_t at = img_offset(img);
		const PagemapEntry *e;
		uint64_t nr, flags;

		err = img_read_entry(img, &m);
		if (err <= 0)
			break;
		err = 0;
		e = (const PagemapEntry *)m;
		nr = e->has_nr_pages ? e->nr_pages : e->compat_nr_pages;
		flags = e->has_flags ? e->flags : PE_PRESENT;
		if ((e->vaddr & (RIMG_PAGE - 1)) || !nr || e->vaddr > s->size ||
		    nr > (s->size - e->vaddr) / RIMG_PAGE ||
		    (flags != PE_PRESENT && flags != PE_PARENT) ||
		    (flags == PE_PRESENT && e->has_in_parent && e->in_parent) ||
		    (s->nr_runs &&
		     e->vaddr < s->runs[s->nr_runs - 1].vaddr +
					s->runs[s->nr_runs - 1].nr_pages * RIMG_PAGE)) {
			pr_err("%s/%s: offset %zu: shmid %u: run of %llu pages at offset 0x%llx "
			       "(flags 0x%llx) is empty, unaligned, out of order, not present "
			       "(nor in the parent), or past the object's %llu bytes",
			       r->dir, name, at, s->shmid, (unsigned long long)nr,
			       (unsigned long long)e->vaddr, (unsigned long long)flags,
			       (unsigned long long)s->size);
			err = -EINVAL;
		} else if (s->nr_runs == cap) {
			size_t nc = cap ? cap * 2 : 16;
			struct rimg_page_run *n = realloc(s->runs, nc * sizeof(*n));

			if (!n)
				err = -ENOMEM;
			else {
				s->runs = n;
				cap = nc;
			}
		}
		if (!err) {
			/* A run in the parent gets its level and offset from rimg_shmem_parent().
			 */
			s->runs[s->nr_runs++] = (struct rimg_page_run){ .vaddr = e->vaddr,
									.nr_pages = nr,
									.flags = (uint32_t)flags,
									.file_off = *need };
			if (flags == PE_PRESENT)
				*need += nr * RIMG_PAGE;
			else
				s->nr_parent_runs++;
		}
		rimg_msg_free(m);
		m = NULL;
		if (err)
			break;
	}
out:
	img_close(img);
	return err < 0 ? err : 0;
}

static int open_pages(struct rimg *r, struct rimg_shmem *s, uint64_t need)
{
	struct stat st;
	char name[64];
	int err;

	snprintf(name, sizeof(name), IMG_PAGES->file, s->pages_id);
	s->pages_fd = openat(r->dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (s->pages_fd < 0) {
		err = -errno;
		/* A page server holds it (--page-server): rshmem_create() says if needed. */
		if (err == -ENOENT && (!need || (r->flags & RIMG_PAGES_OPTIONAL)))
			return 0;
		pr_errno(err, "shmid %u: cannot open %s/%s", s->shmid, r->dir, name);
		return err == -ELOOP ? -EINVAL : err;
	}
	if (fstat(s->pages_fd, &st)) {
		err = -errno;
		pr_errno(err, "shmid %u: cannot stat %s/%s", s->shmid, r->dir, name);
		return err;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size != need) {
		pr_err("%s/%s: shmid %u: %llu bytes, its pagemap-shmem-%u.img uses %llu", r->dir,
		       name, s->shmid, (unsigned long long)st.st_size, s->shmid,
		       (unsigned long long)need);
		return -EINVAL;
	}
	return 0;
}

/* A pagemap-shmem image no VMA maps: a dump that lost the VMA, or a stray file. */
static int check_strays(struct rimg *r)
{
	struct dirent *de;
	int fd, err = 0;
	DIR *d;

	fd = openat(r->dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		err = -errno;
		pr_perror("cannot list %s", r->dir);
		if (fd >= 0)
			close(fd);
		return err;
	}
	while ((de = readdir(d))) {
		unsigned int id;
		char tail[8];

		if (sscanf(de->d_name, "pagemap-shmem-%u.im%1s", &id, tail) != 2 ||
		    strcmp(tail, "g") || (find(r, id) && !find(r, id)->sysv_data))
			continue;
		pr_err("%s/%s: no VMA of the dump maps shared memory %u", r->dir, de->d_name, id);
		err = -EINVAL;
	}
	closedir(d);
	return err;
}

int rimg_load_shmem(struct rimg *r)
{
	int err = load_memfds(r);

	if (!err)
		err = load_sysv(r);
	if (!err)
		err = collect(r);
	for (size_t i = 0; i < r->nr_shmem && !err; i++) {
		uint64_t need = 0;

		r->shmem[i].size = (r->shmem[i].size + RIMG_PAGE - 1) & ~(RIMG_PAGE - 1);
		if (r->shmem[i].sysv_data)
			continue; /* inline in ipcns-shm */
		err = read_pagemap(r, &r->shmem[i], &need);
		if (!err)
			err = open_pages(r, &r->shmem[i], need);
		if (!err && r->shmem[i].nr_parent_runs)
			err = rimg_shmem_parent(r, &r->shmem[i]);
	}
	if (!err)
		err = check_strays(r);
	for (size_t i = 0; i < r->nr_sysv && !err; i++) {
		if (find(r, r->sysv[i]->desc->id))
			continue;
		pr_err("%s: no VMA of the dump attaches SysV segment %u", r->dir,
		       r->sysv[i]->desc->id);
		err = -EINVAL;
	}
	return err;
}

void rimg_free_shmem(struct rimg *r)
{
	for (size_t i = 0; i < r->nr_shmem; i++) {
		if (r->shmem[i].pages_fd >= 0)
			close(r->shmem[i].pages_fd);
		for (size_t k = 0; k < r->shmem[i].nr_levels; k++)
			if (r->shmem[i].level_fds[k] >= 0)
				close(r->shmem[i].level_fds[k]);
		free(r->shmem[i].level_fds);
		free(r->shmem[i].level_ids);
		if (r->shmem[i].fd >= 0)
			close(r->shmem[i].fd);
		free(r->shmem[i].runs);
	}
	free(r->shmem);
	r->shmem = NULL;
	r->nr_shmem = 0;
	for (size_t i = 0; i < r->nr_memfds; i++)
		rimg_msg_free(r->memfds[i]);
	free(r->memfds);
	r->memfds = NULL;
	r->nr_memfds = 0;
	for (size_t i = 0; i < r->nr_sysv; i++)
		rimg_msg_free(r->sysv[i]);
	free(r->sysv);
	r->sysv = NULL;
	r->nr_sysv = 0;
	free(r->sysv_data);
	r->sysv_data = NULL;
	if (r->sysv_img)
		img_close(r->sysv_img);
	r->sysv_img = NULL;
}
