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
#include <sys/shm.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "shmem: "
#include "dump_shmem.h"
#include "dump_shmem_parent.h"
#include "img.h"
#include "ipc-shm.pb-c.h"
#include "log.h"
#include "util.h"

#define PAGE_SZ 4096ull

struct shmem_obj {
	uint64_t dev, ino;
	uint32_t shmid;
	pid_t pid;
	char path[64];	     /* read through this /proc path, or "": the VMA below */
	uint64_t start, end; /* ... a VMA of @pid */
	int sysv;	     /* a SysV segment: shmid is its IPC id, @ds its IPC_STAT */
	struct shmid_ds ds;
	int fd; /* opened by shmem_dump_open_all(), else -1 */
};

struct shmem_dump {
	struct shmem_obj *v;
	size_t n, cap;
	uint64_t ipc_ns; /* the inode of the IPC namespace of the SysV segments */
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
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].fd >= 0)
			close(s->v[i].fd);
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
	o->fd = -1;
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

/* The inode of /proc/@pid/ns/ipc, or 0 (logged). */
static uint64_t ipc_ns_of(const char *pid)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), "/proc/%s/ns/ipc", pid);
	if (stat(path, &st)) {
		pr_errno(-errno, "cannot stat %s", path);
		return 0;
	}
	return (uint64_t)st.st_ino;
}

int shmem_sysv_check(pid_t pid, uint64_t start, uint64_t end, uint64_t pgoff, uint64_t ino,
		     struct shmid_ds *ds, uint64_t *ipc_ns)
{
	uint64_t ns, size;
	char spid[16];

	snprintf(spid, sizeof(spid), "%d", pid);
	ns = ipc_ns_of(spid);
	if (!ns || ns != ipc_ns_of("self")) {
		pr_err("pid %d: VMA %#llx-%#llx attaches SysV segment %llu of an IPC namespace "
		       "other than ferry's; not supported",
		       pid, (unsigned long long)start, (unsigned long long)end,
		       (unsigned long long)ino);
		return -ENOTSUP;
	}
	if (ino > INT32_MAX || shmctl((int)ino, IPC_STAT, ds)) {
		pr_errno(-errno, "pid %d: VMA %#llx-%#llx: SysV segment %llu: IPC_STAT", pid,
			 (unsigned long long)start, (unsigned long long)end,
			 (unsigned long long)ino);
		return -ESTALE;
	}
	size = ((uint64_t)ds->shm_segsz + PAGE_SZ - 1) & ~(PAGE_SZ - 1);
	if (pgoff || end - start != size) {
		pr_err("pid %d: VMA %#llx-%#llx maps %llu bytes at offset %llu of SysV segment "
		       "%llu (key %#x, %llu bytes): only whole attachments are supported",
		       pid, (unsigned long long)start, (unsigned long long)end,
		       (unsigned long long)(end - start), (unsigned long long)pgoff,
		       (unsigned long long)ino, (unsigned)ds->shm_perm.__key,
		       (unsigned long long)ds->shm_segsz);
		return -ENOTSUP;
	}
	*ipc_ns = ns;
	return 0;
}

int shmem_dump_add_sysv(struct shmem_dump *s, pid_t pid, uint64_t start, uint64_t end,
			uint64_t pgoff, uint64_t dev, uint64_t ino, uint32_t *shmid)
{
	struct shmem_obj *o = find(s, dev, ino);
	struct shmid_ds ds;
	uint64_t ns;
	int err = shmem_sysv_check(pid, start, end, pgoff, ino, &ds, &ns);

	if (err)
		return err;
	if (!o) {
		o = add(s, dev, ino);
		if (!o)
			return -ENOMEM;
		o->shmid = (uint32_t)ino;
		o->pid = pid;
		o->start = start;
		o->end = end;
		o->sysv = 1;
		o->ds = ds;
		s->ipc_ns = ns;
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
			  const char *what, struct shmem_parent *par, struct shmem_parent_stats *ps)
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
		err = shmem_parent_write_range(par, pw, base, (uint64_t)data,
					       ((uint64_t)hole - (uint64_t)data) / PAGE_SZ, what,
					       ps);
		pos = (uint64_t)hole;
	}
	return err;
}

/* Open the object @o is, checked to be the inode the maps showed. Returns the fd or -errno. */
static int open_obj(const struct shmem_obj *o)
{
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
		close(fd);
		return err;
	}
	if ((uint64_t)sb.st_dev != o->dev || (uint64_t)sb.st_ino != o->ino) {
		pr_err("shmid %u: %s is no longer the object seen in the maps", o->shmid, what);
		close(fd);
		return -ESTALE;
	}
	return fd;
}

int shmem_dump_open_all(struct shmem_dump *s)
{
	for (size_t i = 0; i < s->n; i++) {
		int fd = s->v[i].fd >= 0 ? s->v[i].fd : open_obj(&s->v[i]);

		if (fd < 0)
			return fd;
		s->v[i].fd = fd;
	}
	return 0;
}

static int write_one(const struct shmem_obj *o, int dirfd, int parent_fd, uint32_t pages_id,
		     const struct page_writer_opts *opts, struct shmem_dump_stats *sst)
{
	struct page_writer_stats st = { 0 };
	struct shmem_parent_stats ps = { 0 };
	struct shmem_parent *par = NULL;
	struct page_writer *pw = NULL;
	void *base = MAP_FAILED;
	char what[96];
	struct stat sb;
	int fd = o->fd >= 0 ? o->fd : open_obj(o), err;
	uint64_t t0 = mono_us();

	obj_name(o, what, sizeof(what));
	if (fd < 0)
		return fd;
	if (fstat(fd, &sb)) {
		err = -errno;
		pr_errno(err, "shmid %u: cannot stat %s", o->shmid, what);
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
	err = shmem_parent_open(parent_fd, o->shmid, &par);
	if (err == -ENOENT)
		err = 0;
	if (!err)
		err = page_writer_open_shmem(&pw, dirfd, o->shmid, pages_id,
					     base == MAP_FAILED ? NULL : base, opts);
	if (err)
		goto out;
	if (base != MAP_FAILED)
		err = write_segments(pw, fd, base, (uint64_t)sb.st_size, what, par, &ps);
	if (err) {
		page_writer_abort(pw);
		goto out;
	}
	err = page_writer_commit(pw, &st);
	if (!err) {
		sst->pages_written += st.pages_written;
		sst->pages_parent += st.pages_parent;
		pr_info("shmid %u (%s, %lld bytes): %llu pages in pages-%u.img, %llu unchanged since "
			"the parent's copy (%s), in %llu us",
			o->shmid, what, (long long)sb.st_size, (unsigned long long)st.pages_written,
			pages_id, (unsigned long long)st.pages_parent,
			par ? "compared" : "no parent copy", (unsigned long long)(mono_us() - t0));
	}
out:
	shmem_parent_close(par);
	if (base != MAP_FAILED)
		munmap(base, (size_t)sb.st_size);
	if (fd != o->fd)
		close(fd);
	return err;
}

#define SYSV_CHUNK (1ul << 20)

/*
 * The contents of SysV segment @o after its entry: @size bytes read with
 * pread(2) (an open of map_files has shmem's file operations; a hole reads as
 * zeros and allocates nothing), then zeros up to a multiple of 4 bytes.
 */
static int write_sysv_data(struct img *img, const struct shmem_obj *o, uint64_t size)
{
	uint8_t *buf = malloc(SYSV_CHUNK);
	static const uint8_t pad[4];
	int fd = o->fd >= 0 ? o->fd : open_obj(o), err = 0;

	if (!buf)
		err = -ENOMEM;
	else if (fd < 0)
		err = fd;
	for (uint64_t at = 0; !err && at < size;) {
		size_t n = size - at > SYSV_CHUNK ? SYSV_CHUNK : (size_t)(size - at), done = 0;

		err = pread_full(fd, buf, n, at, &done);
		if (err || done != n) {
			err = err ? err : -EIO;
			pr_errno(err, "SysV segment %u: read %zu of %zu bytes at offset %llu",
				 o->shmid, done, n, (unsigned long long)at);
			break;
		}
		err = img_write_raw(img, buf, n);
		at += n;
	}
	if (!err && (size & 3))
		err = img_write_raw(img, pad, 4 - (size & 3));
	if (fd >= 0 && fd != o->fd)
		close(fd);
	free(buf);
	return err;
}

/*
 * ipcns-shm-<ns>.img: an entry per SysV segment, each followed by its contents
 * (in_pagemaps false). CRIU 4.x writes the contents to pagemap-shmem-<id>.img
 * instead (in_pagemaps true), but every crit up to CRIU's current sources
 * reads ipc_shm_entry as always followed by inline contents and so takes the
 * next entry for data; CRIU's restore reads both layouts. Inline, both read
 * what ferry writes (docs/images.md).
 */
static int write_sysv(const struct shmem_dump *s, int dirfd)
{
	const struct img_type *t = img_type_by_name("IPCNS_SHM");
	struct img *img = NULL;
	char name[64];
	int err = 0;

	for (size_t i = 0; i < s->n && !err; i++) {
		const struct shmem_obj *o = &s->v[i];
		IpcShmEntry e = IPC_SHM_ENTRY__INIT;
		IpcDescEntry d = IPC_DESC_ENTRY__INIT;

		if (!o->sysv)
			continue;
		if (!img) {
			snprintf(name, sizeof(name), t->file, (unsigned)s->ipc_ns);
			err = img_create(&img, dirfd, name, t);
			if (err)
				break;
		}
		d.key = (uint32_t)o->ds.shm_perm.__key;
		d.uid = o->ds.shm_perm.uid;
		d.gid = o->ds.shm_perm.gid;
		d.cuid = o->ds.shm_perm.cuid;
		d.cgid = o->ds.shm_perm.cgid;
		d.mode = o->ds.shm_perm.mode;
		d.id = o->shmid;
		e.desc = &d;
		e.size = o->ds.shm_segsz;
		e.has_in_pagemaps = 1;
		e.in_pagemaps = 0;
		err = img_write_entry(img, &e.base);
		if (!err)
			err = write_sysv_data(img, o, e.size);
		if (!err)
			pr_info("SysV segment %u: key %#x, %llu bytes, mode %#o, owner %u:%u, %lu "
				"attached",
				o->shmid, d.key, (unsigned long long)e.size, d.mode, d.uid, d.gid,
				(unsigned long)o->ds.shm_nattch);
	}
	if (!err && img) {
		err = img_commit(img);
		img = NULL;
	}
	img_abort(img);
	return err;
}

int shmem_dump_write(struct shmem_dump *s, int dirfd, int parent_fd, uint32_t first_pages_id,
		     const struct page_writer_opts *o, unsigned flags, struct shmem_dump_stats *st)
{
	int err = flags & SHMEM_DUMP_NO_SYSV ? 0 : write_sysv(s, dirfd);

	memset(st, 0, sizeof(*st));
	for (size_t i = 0; i < s->n && !err; i++) {
		if (s->v[i].sysv) /* in ipcns-shm */
			continue;
		err = write_one(&s->v[i], dirfd, parent_fd, first_pages_id + (uint32_t)i, o, st);
		if (!err)
			st->objects++;
	}
	return err;
}
