// SPDX-License-Identifier: MIT
/*
 * memfds, held as fds or mapped: each description is a memfd_file_entry of
 * files.img (flags, pos, its inode), each inode one memfd_inode_entry of
 * memfd.img (name, owner, mode, size, seals) whose contents are a shmem
 * object, pagemap-shmem-<shmid>.img with shmid = the inode number, written
 * once by dump_shmem.c (files_dump_memfd_shmem() hands the inodes to it).
 * This is CRIU's layout (criu/memfd.c), so crit decodes it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <unistd.h>

#define LOG_PREFIX "files: "
#include "dump_files_priv.h"
#include "dump_shmem.h"
#include "img.h"
#include "log.h"

#include "memfd.pb-c.h"

#define MEMFD_PREFIX "/memfd:"

int files_is_memfd(const char *link)
{
	return !strncmp(link, MEMFD_PREFIX, strlen(MEMFD_PREFIX));
}

int files_memfd_check(pid_t pid, const char *what, const char *name)
{
	struct statfs sf;
	char path[96];

	if (!strncmp(what, "fd ", 3))
		snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, what + 3);
	else
		snprintf(path, sizeof(path), "/proc/%d/%s", pid, what);
	if (statfs(path, &sf)) {
		int err = -errno;

		pr_errno(err, "pid %d %s: cannot statfs %s (memfd %s)", pid, what, path, name);
		return err;
	}
	if (sf.f_type == HUGETLBFS_MAGIC) {
		pr_err("pid %d %s: memfd %s is not supported: a hugetlb memfd", pid, what, name);
		return -ENOTSUP;
	}
	return 0;
}

/* The first MEMFD description of each inode, in order: its index, or -1 for the others. */
static int first_of_inode(const struct files_dump *d, size_t i)
{
	for (size_t k = 0; k < i; k++)
		if (d->d[k].type == FD_TYPES__MEMFD && d->d[k].dev == d->d[i].dev &&
		    d->d[k].ino == d->d[i].ino)
			return (int)k;
	return -1;
}

static int inode_entry(const struct desc *e, uint32_t inode_id, MemfdInodeEntry *me)
{
	struct stat st;
	int fd, seals, err = 0;

	fd = open(e->src_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		err = -errno;
		pr_errno(err, "memfd %s: cannot open it through %s", e->name, e->src_path);
		goto out;
	}
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0) {
		/* Created without MFD_ALLOW_SEALING: sealed with F_SEAL_SEAL, as CRIU says. */
		seals = errno == EINVAL ? F_SEAL_SEAL : -errno;
		if (seals < 0) {
			err = seals;
			pr_errno(err, "memfd %s: F_GET_SEALS through %s", e->name, e->src_path);
			goto out;
		}
	}
	if ((uint64_t)st.st_ino > UINT32_MAX) {
		pr_err("memfd %s: inode %llu does not fit CRIU's 32-bit shmid", e->name,
		       (unsigned long long)st.st_ino);
		err = -EOVERFLOW;
		goto out;
	}
	me->name = (char *)e->name + strlen(MEMFD_PREFIX);
	me->uid = st.st_uid;
	me->gid = st.st_gid;
	me->size = (uint64_t)st.st_size;
	me->shmid = (uint32_t)st.st_ino;
	me->seals = (uint32_t)seals;
	me->inode_id = inode_id;
	me->has_mode = 1;
	me->mode = st.st_mode;
out:
	if (fd >= 0)
		close(fd);
	return err;
}

int files_memfd_write(struct files_dump *d, int dirfd)
{
	const struct img_type *t = img_type_by_name("MEMFD_INODE");
	struct img *img = NULL;
	uint32_t next = 1;
	int err = 0;

	for (size_t i = 0; i < d->nd && !err; i++) {
		MemfdInodeEntry me = MEMFD_INODE_ENTRY__INIT;
		int first;

		if (d->d[i].type != FD_TYPES__MEMFD)
			continue;
		first = first_of_inode(d, i);
		if (first >= 0) {
			d->d[i].memfd_inode = d->d[first].memfd_inode;
			continue;
		}
		if (!img)
			err = img_create(&img, dirfd, t->file, t);
		d->d[i].memfd_inode = next++;
		if (!err)
			err = inode_entry(&d->d[i], d->d[i].memfd_inode, &me);
		if (!err)
			err = img_write_entry(img, &me.base);
		if (!err)
			pr_info("memfd %s: inode %u, %llu bytes, seals %#x", d->d[i].name,
				(unsigned)me.inode_id, (unsigned long long)me.size,
				(unsigned)me.seals);
	}
	if (!err && img) {
		err = img_commit(img);
		img = NULL;
	}
	img_abort(img);
	return err;
}

int files_dump_memfd_shmem(const struct files_dump *d, struct shmem_dump *shm)
{
	int err = 0;

	for (size_t i = 0; i < d->nd && !err; i++) {
		const struct desc *e = &d->d[i];

		if (e->type != FD_TYPES__MEMFD || first_of_inode(d, i) >= 0)
			continue;
		if ((uint64_t)e->ino > UINT32_MAX) {
			pr_err("memfd %s: inode %llu does not fit CRIU's 32-bit shmid", e->name,
			       (unsigned long long)e->ino);
			return -EOVERFLOW;
		}
		err = shmem_dump_add_path(shm, e->src_path, e->dev, e->ino, (uint32_t)e->ino);
	}
	return err;
}
