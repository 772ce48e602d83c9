// SPDX-License-Identifier: MIT
/*
 * Files unlinked while open or mapped, e.g. on tmpfs (/dev/shm: python's
 * multiprocessing heap and semaphores, POSIX shm objects removed with
 * shm_unlink): their contents are saved as CRIU's ghost files. Each such
 * inode gets one ghost-file-<id>.img (a ghost_file_entry with chunks, then a
 * ghost_chunk_entry and its bytes for every data segment, holes left out) and
 * every files.img entry on it an entry of remap-fpath.img (orig_id = the
 * entry, remap_id = the ghost, GHOST). The entry's name is the path the file
 * had, without " (deleted)": restore creates the file there, opens and maps
 * it, and unlinks it before the tree runs.
 *
 * The same for a deleted regular file on any other filesystem (ext4, ...).
 * One larger than FILES_GHOST_MAX stays refused: its bytes are copied into
 * the images. A deleted FIFO and a removed directory (a cwd, an open fd)
 * get a ghost_file_entry with their mode and no bytes, as CRIU's do.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/statfs.h>
#include <unistd.h>

#define LOG_PREFIX "files: "
#include "dump_files_priv.h"
#include "img.h"
#include "log.h"

#include "ghost-file.pb-c.h"
#include "remap-file-path.pb-c.h"

#define CHUNK (1u << 20)

int files_strip_deleted(char *name)
{
	size_t a = strlen(name), b = strlen(DELETED_SUFFIX);

	if (a < b || strcmp(name + a - b, DELETED_SUFFIX))
		return 0;
	name[a - b] = '\0';
	return 1;
}

int files_ghost_check(pid_t pid, const char *what, const char *name, const struct stat *st)
{
	char path[96];
	struct statfs sf;

	if (!strncmp(what, "fd ", 3))
		snprintf(path, sizeof(path), "/proc/%d/fd/%s", pid, what + 3);
	else
		snprintf(path, sizeof(path), "/proc/%d/%s", pid, what);
	if (statfs(path, &sf)) {
		int err = -errno;

		pr_errno(err, "pid %d %s: cannot statfs %s (deleted file %s)", pid, what, path,
			 name);
		return err;
	}
	/*
	 * Any filesystem (CRIU's ghost files are not tied to one): a regular
	 * file's bytes are copied; a FIFO (its bytes go with the FIFO's) and a
	 * removed directory (empty: a cwd, an fd) are made again by their mode.
	 */
	if (S_ISFIFO(st->st_mode) || S_ISDIR(st->st_mode))
		return 0;
	if (!S_ISREG(st->st_mode)) {
		pr_err("pid %d %s: deleted file %s (mode %o) is not supported: only deleted "
		       "regular files, FIFOs and directories are saved (filesystem magic %#lx)",
		       pid, what, name, st->st_mode, (unsigned long)sf.f_type);
		return -ENOTSUP;
	}
	if ((uint64_t)st->st_size > FILES_GHOST_MAX) {
		pr_err("pid %d %s: deleted file %s is not supported: %lld bytes, more than the %llu "
		       "ferry copies of a deleted file",
		       pid, what, name, (long long)st->st_size,
		       (unsigned long long)FILES_GHOST_MAX);
		return -ENOTSUP;
	}
	return 0;
}

/* The data segments of @fd, each as a ghost_chunk_entry and its bytes. */
static int write_chunks(struct img *img, int fd, uint64_t size, const char *src, uint8_t *buf)
{
	uint64_t pos = 0;
	int err = 0;

	while (pos < size && !err) {
		off_t data = lseek(fd, (off_t)pos, SEEK_DATA), hole;
		GhostChunkEntry ce = GHOST_CHUNK_ENTRY__INIT;

		if (data < 0) {
			if (errno != ENXIO) {
				err = -errno;
				pr_errno(err, "%s: SEEK_DATA at %llu", src,
					 (unsigned long long)pos);
			}
			break;
		}
		hole = lseek(fd, data, SEEK_HOLE);
		if (hole < 0 || (uint64_t)hole > size)
			hole = (off_t)size;
		if (hole <= data)
			break;
		ce.off = (uint64_t)data;
		ce.len = (uint64_t)(hole - data);
		err = img_write_entry(img, &ce.base);
		for (uint64_t off = ce.off; !err && off < ce.off + ce.len;) {
			size_t n = ce.off + ce.len - off > CHUNK ? CHUNK : ce.off + ce.len - off;
			ssize_t r = pread(fd, buf, n, (off_t)off);

			if (r != (ssize_t)n) {
				err = r < 0 ? -errno : -EIO;
				pr_errno(err, "%s: read %zu bytes at %llu", src, n,
					 (unsigned long long)off);
				break;
			}
			err = img_write_raw(img, buf, n);
			off += n;
		}
		pos = (uint64_t)hole;
	}
	return err;
}

/* The ghost of a deleted FIFO or a removed directory: its mode and owner, no bytes. */
static int write_ghost_node(int dirfd, const struct desc *e, uint32_t remap_id,
			    const struct stat *st)
{
	const struct img_type *t = img_type_by_name("GHOST_FILE");
	GhostFileEntry ge = GHOST_FILE_ENTRY__INIT;
	char name[64];
	int err;

	ge.uid = st->st_uid;
	ge.gid = st->st_gid;
	ge.mode = st->st_mode;
	snprintf(name, sizeof(name), t->file, remap_id);
	err = img_write_one(dirfd, name, t, &ge.base);
	if (err)
		pr_errno(err, "deleted %s %s: cannot write %s",
			 S_ISDIR(st->st_mode) ? "directory" : "FIFO", e->name, name);
	else
		pr_info("deleted %s %s kept as %s", S_ISDIR(st->st_mode) ? "directory" : "FIFO",
			e->name, name);
	return err;
}

static int write_ghost(int dirfd, const struct desc *e, uint32_t remap_id, uint8_t *buf)
{
	const struct img_type *t = img_type_by_name("GHOST_FILE");
	GhostFileEntry ge = GHOST_FILE_ENTRY__INIT;
	struct img *img = NULL;
	char name[64];
	struct stat st;
	int fd, err;

	if (stat(e->src_path, &st)) {
		err = -errno;
		pr_errno(err, "deleted file %s: cannot stat it through %s", e->name, e->src_path);
		return err;
	}
	if (!S_ISREG(st.st_mode))
		return write_ghost_node(dirfd, e, remap_id, &st);
	/* Never open a FIFO: that could block. */
	fd = open(e->src_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st)) {
		err = -errno;
		pr_errno(err, "deleted file %s: cannot read it through %s", e->name, e->src_path);
		if (fd >= 0)
			close(fd);
		return err;
	}
	ge.uid = st.st_uid;
	ge.gid = st.st_gid;
	ge.mode = st.st_mode;
	ge.has_size = 1;
	ge.size = (uint64_t)st.st_size;
	ge.has_chunks = 1;
	ge.chunks = 1;
	snprintf(name, sizeof(name), t->file, remap_id);
	err = img_create(&img, dirfd, name, t);
	if (!err)
		err = img_write_entry(img, &ge.base);
	if (!err)
		err = write_chunks(img, fd, ge.size, e->src_path, buf);
	if (!err) {
		err = img_commit(img);
		img = NULL;
	}
	if (err)
		pr_errno(err, "deleted file %s: cannot write %s", e->name, name);
	else
		pr_info("deleted file %s (%llu bytes) saved in %s", e->name,
			(unsigned long long)ge.size, name);
	img_abort(img);
	close(fd);
	return err;
}

int files_ghost_write(struct files_dump *d, int dirfd)
{
	struct img *remap = NULL;
	uint32_t *ghost_of = NULL, next = 1;
	uint8_t *buf = NULL;
	int err = 0;

	const struct img_type *t = img_type_by_name("REMAP_FPATH");
	size_t nr = 0;

	for (size_t i = 0; i < d->nd; i++)
		nr += d->d[i].ghost;
	if (!nr)
		return 0;
	ghost_of = calloc(d->nd, sizeof(*ghost_of));
	buf = malloc(CHUNK);
	if (!ghost_of || !buf) {
		err = -ENOMEM;
		goto out;
	}
	err = img_create(&remap, dirfd, t->file, t);
	for (size_t i = 0; i < d->nd && !err; i++) {
		const struct desc *e = &d->d[i];
		RemapFilePathEntry re = REMAP_FILE_PATH_ENTRY__INIT;

		if (!e->ghost)
			continue;
		/* One ghost per inode: the first description on it writes it. */
		for (size_t k = 0; k < i && !ghost_of[i]; k++)
			if (ghost_of[k] && d->d[k].dev == e->dev && d->d[k].ino == e->ino)
				ghost_of[i] = ghost_of[k];
		if (!ghost_of[i]) {
			ghost_of[i] = next++;
			err = write_ghost(dirfd, e, ghost_of[i], buf);
		}
		re.orig_id = e->id;
		re.remap_id = ghost_of[i];
		re.has_remap_type = 1;
		re.remap_type = REMAP_TYPE__GHOST;
		if (!err)
			err = img_write_entry(remap, &re.base);
	}
	if (!err) {
		err = img_commit(remap);
		remap = NULL;
	}
out:
	img_abort(remap);
	free(ghost_of);
	free(buf);
	return err;
}
