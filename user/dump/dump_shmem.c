// SPDX-License-Identifier: MIT
/*
 * Shared memory objects: pagemap-shmem-<shmid>.img + pages-<id>.img (see
 * dump_shmem.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "shmem: "
#include "dump_shmem.h"
#include "log.h"

#define PAGE_SZ 4096ull

struct shmem_obj {
	uint64_t dev, ino;
	uint32_t shmid;
	pid_t pid;
	char path[64];	     /* read through this /proc path, or "": the VMA below */
	uint64_t start, end; /* ... a VMA of @pid */
};

struct shmem_dump {
	struct shmem_obj *v;
	size_t n, cap;
};

int shmem_dump_init(struct shmem_dump **out)
{
	*out = calloc(1, sizeof(**out));
	return *out ? 0 : -ENOMEM;
}

void shmem_dump_free(struct shmem_dump *s)
{
	if (!s)
		return;
	free(s->v);
	free(s);
}

static struct shmem_obj *find(struct shmem_dump *s, uint64_t dev, uint64_t ino)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].dev == dev && s->v[i].ino == ino)
			return &s->v[i];
	return NULL;
}

static struct shmem_obj *add(struct shmem_dump *s, uint64_t dev, uint64_t ino)
{
	struct shmem_obj *o;

	if (s->n == s->cap) {
		size_t nc = s->cap ? s->cap * 2 : 8;
		struct shmem_obj *nv = realloc(s->v, nc * sizeof(*nv));

		if (!nv)
			return NULL;
		s->v = nv;
		s->cap = nc;
	}
	o = &s->v[s->n++];
	memset(o, 0, sizeof(*o));
	o->dev = dev;
	o->ino = ino;
	return o;
}

int shmem_dump_add_vma(struct shmem_dump *s, pid_t pid, uint64_t start, uint64_t end, uint64_t dev,
		       uint64_t ino, uint32_t *shmid)
{
	struct shmem_obj *o = find(s, dev, ino);

	if (ino > UINT32_MAX) {
		pr_err("pid %d: VMA %#llx-%#llx: shmem inode %llu does not fit CRIU's 32-bit shmid",
		       pid, (unsigned long long)start, (unsigned long long)end,
		       (unsigned long long)ino);
		return -EOVERFLOW;
	}
	if (!o) {
		o = add(s, dev, ino);
		if (!o)
			return -ENOMEM;
		o->shmid = (uint32_t)ino;
		o->pid = pid;
		o->start = start;
		o->end = end;
	}
	*shmid = o->shmid;
	return 0;
}

int shmem_dump_add_path(struct shmem_dump *s, const char *path, uint64_t dev, uint64_t ino,
			uint32_t shmid)
{
	struct shmem_obj *o = find(s, dev, ino);

	if (o) {
		o->shmid = shmid;
		return 0;
	}
	o = add(s, dev, ino);
	if (!o)
		return -ENOMEM;
	o->shmid = shmid;
	snprintf(o->path, sizeof(o->path), "%s", path);
	return 0;
}

static void obj_name(const struct shmem_obj *o, char *buf, size_t size)
{
	if (o->path[0])
		snprintf(buf, size, "%s", o->path);
	else
		snprintf(buf, size, "/proc/%d/map_files/%llx-%llx", o->pid,
			 (unsigned long long)o->start, (unsigned long long)o->end);
}

/* Copy the data segments of the object mapped at @base (@size bytes) through @pw. */
static int write_segments(struct page_writer *pw, int fd, const uint8_t *base, uint64_t size,
			  const char *what)
{
	uint64_t limit = (size + PAGE_SZ - 1) & ~(PAGE_SZ - 1), pos = 0;
	int err = 0;

	while (pos < limit && !err) {
		off_t data = lseek(fd, (off_t)pos, SEEK_DATA), hole;

		if (data < 0) {
			if (errno != ENXIO) {
				err = -errno;
				pr_errno(err, "%s: SEEK_DATA at %llu", what,
					 (unsigned long long)pos);
			}
			break;
		}
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0) {
			err = -errno;
			pr_errno(err, "%s: SEEK_HOLE at %lld", what, (long long)data);
			break;
		}
		data &= ~(off_t)(PAGE_SZ - 1);
		if ((uint64_t)hole > limit || (uint64_t)hole < pos)
			hole = (off_t)limit;
		hole = (off_t)(((uint64_t)hole + PAGE_SZ - 1) & ~(PAGE_SZ - 1));
		if ((uint64_t)hole <= (uint64_t)data)
			break;
		err = page_writer_add(pw, (uint64_t)(uintptr_t)(base + data),
				      ((uint64_t)hole - (uint64_t)data) / PAGE_SZ);
		pos = (uint64_t)hole;
	}
	return err;
}

static int write_one(const struct shmem_obj *o, int dirfd, uint32_t pages_id,
		     const struct page_writer_opts *opts, uint64_t *pages)
{
	struct page_writer_stats st = { 0 };
	struct page_writer *pw = NULL;
	void *base = MAP_FAILED;
	char what[96];
	struct stat sb;
	int fd, err;

	obj_name(o, what, sizeof(what));
	fd = open(what, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		pr_errno(err, "shmid %u: cannot open %s", o->shmid, what);
		return err;
	}
	if (fstat(fd, &sb)) {
		err = -errno;
		pr_errno(err, "shmid %u: cannot stat %s", o->shmid, what);
		goto out;
	}
	if ((uint64_t)sb.st_dev != o->dev || (uint64_t)sb.st_ino != o->ino) {
		pr_err("shmid %u: %s is no longer the object seen in the maps", o->shmid, what);
		err = -ESTALE;
		goto out;
	}
	if (sb.st_size > 0) {
		base = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
		if (base == MAP_FAILED) {
			err = -errno;
			pr_errno(err, "shmid %u: cannot map %s (%lld bytes)", o->shmid, what,
				 (long long)sb.st_size);
			goto out;
		}
	}
	err = page_writer_open_shmem(&pw, dirfd, o->shmid, pages_id,
				     base == MAP_FAILED ? NULL : base, opts);
	if (err)
		goto out;
	if (base != MAP_FAILED)
		err = write_segments(pw, fd, base, (uint64_t)sb.st_size, what);
	if (err) {
		page_writer_abort(pw);
		goto out;
	}
	err = page_writer_commit(pw, &st);
	if (!err) {
		*pages += st.pages_written;
		pr_info("shmid %u (%s, %lld bytes): %llu pages in pages-%u.img", o->shmid, what,
			(long long)sb.st_size, (unsigned long long)st.pages_written, pages_id);
	}
out:
	if (base != MAP_FAILED)
		munmap(base, (size_t)sb.st_size);
	close(fd);
	return err;
}

int shmem_dump_write(struct shmem_dump *s, int dirfd, uint32_t first_pages_id,
		     const struct page_writer_opts *o, struct shmem_dump_stats *st)
{
	int err = 0;

	memset(st, 0, sizeof(*st));
	for (size_t i = 0; i < s->n && !err; i++) {
		err = write_one(&s->v[i], dirfd, first_pages_id + (uint32_t)i, o,
				&st->pages_written);
		if (!err)
			st->objects++;
	}
	return err;
}
