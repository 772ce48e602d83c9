// SPDX-License-Identifier: MIT
/*
 * Deleted files: load remap-fpath.img and ghost-file-N.img, recreate the
 * files for the restore and delete them again (see ghost.h).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "ghost: "
#include "files.h"
#include "ghost.h"
#include "images_priv.h"
#include "log.h"

#include "remap-file-path.pb-c.h"

static struct rimg_ghost *find(const struct rimg *r, uint32_t remap_id)
{
	for (size_t i = 0; i < r->nr_ghosts; i++)
		if (r->ghosts[i].remap_id == remap_id)
			return &r->ghosts[i];
	return NULL;
}

static int push_chunk(struct rimg_ghost *g, size_t *cap, uint64_t off, uint64_t len,
		      const void *data)
{
	if (g->nr_chunks == *cap) {
		size_t nc = *cap ? *cap * 2 : 8;
		struct rghost_chunk *n = realloc(g->chunks, nc * sizeof(*n));

		if (!n)
			return -ENOMEM;
		g->chunks = n;
		*cap = nc;
	}
	g->chunks[g->nr_chunks++] = (struct rghost_chunk){ off, len, data };
	return 0;
}

/* ghost-file-<remap_id>.img: the entry, then its chunks (or its bytes to the end). */
static int load_ghost(struct rimg *r, struct rimg_ghost *g)
{
	const struct img_type *t = img_type_by_name("GHOST_FILE");
	ProtobufCMessage *m = NULL;
	uint64_t end = 0;
	size_t cap = 0, at;
	char name[64];
	int err;

	snprintf(name, sizeof(name), t->file, g->remap_id);
	err = rimg_open_img(r, name, t, 1, &g->img);
	if (err)
		return err;
	err = img_read_entry(g->img, &m);
	if (err <= 0) {
		pr_err("%s/%s: offset %zu: %s, no ghost_file_entry", r->dir, name,
		       img_offset(g->img), err ? "unreadable" : "empty");
		rimg_msg_free(m);
		return -EINVAL;
	}
	g->ge = (GhostFileEntry *)m;
	if (S_ISFIFO(g->ge->mode) || S_ISDIR(g->ge->mode)) {
		/* Made again by its mode: nothing may follow. */
		at = img_offset(g->img);
		m = NULL;
		err = img_read_entry(g->img, &m);
		rimg_msg_free(m);
		if (err || (g->ge->has_size && g->ge->size)) {
			pr_err("%s/%s: offset %zu: a deleted %s has no bytes", r->dir, name, at,
			       S_ISDIR(g->ge->mode) ? "directory" : "FIFO");
			return -EINVAL;
		}
		return 0;
	}
	if (!S_ISREG(g->ge->mode) || !g->ge->has_size || g->ge->size > RGHOST_MAX) {
		pr_err("%s/%s: mode %o, size %llu: ferry recreates deleted regular files of at "
		       "most %llu bytes (and FIFOs and directories)",
		       r->dir, name, g->ge->mode, (unsigned long long)g->ge->size,
		       (unsigned long long)RGHOST_MAX);
		return -EINVAL;
	}
	if (!(g->ge->has_chunks && g->ge->chunks)) {
		const void *data;
		size_t len;

		err = img_read_payload(g->img, m, &data, &len);
		if (!err && len != g->ge->size)
			err = -EINVAL;
		if (!err && len)
			err = push_chunk(g, &cap, 0, len, data);
		if (err == -EINVAL)
			pr_err("%s/%s: %zu bytes of data for a file of %llu", r->dir, name, len,
			       (unsigned long long)g->ge->size);
		return err;
	}
	for (;;) {
		const GhostChunkEntry *c;
		const void *data = NULL;
		size_t len = 0;

		at = img_offset(g->img);
		err = img_read_entry(g->img, &m);
		if (err <= 0)
			break;
		c = (const GhostChunkEntry *)m;
		err = img_read_payload(g->img, m, &data, &len);
		if (err || !c->len || c->off < end || c->off > g->ge->size ||
		    c->len > g->ge->size - c->off || len != c->len) {
			pr_err("%s/%s: offset %zu: chunk of %llu bytes at %llu is empty, out of "
			       "order, past the file's %llu bytes or truncated",
			       r->dir, name, at, (unsigned long long)c->len,
			       (unsigned long long)c->off, (unsigned long long)g->ge->size);
			err = -EINVAL;
		} else {
			err = push_chunk(g, &cap, c->off, c->len, data);
			end = c->off + c->len;
		}
		rimg_msg_free(m);
		if (err)
			break;
	}
	return err < 0 ? err : 0;
}

/* A ghost-file image no remap entry names. */
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

		if (sscanf(de->d_name, "ghost-file-%x.im%1s", &id, tail) != 2 ||
		    strcmp(tail, "g") || find(r, id))
			continue;
		pr_err("%s/%s: no entry of remap-fpath.img names ghost file %x", r->dir, de->d_name,
		       id);
		err = -EINVAL;
	}
	closedir(d);
	return err;
}

/* One remap-fpath.img entry at offset @at of @img. */
static int add_remap(struct rimg *r, struct img *img, size_t at, const RemapFilePathEntry *e)
{
	const FileEntry *fe = rimg_file(r, e->orig_id);
	struct rimg_ghost *g;

	if (!e->has_remap_type || e->remap_type != REMAP_TYPE__GHOST) {
		pr_err("%s: offset %zu: file %u is remapped as %s: ferry restores ghost files only",
		       img_name(img), at, e->orig_id,
		       rimg_enum_name(&remap_type__descriptor, e->remap_type));
		return -EOPNOTSUPP;
	}
	if (!fe || fe->type != FD_TYPES__REG || !fe->reg || !fe->reg->name ||
	    fe->reg->name[0] != '/') {
		pr_err("%s: offset %zu: file %u is not a regular file of files.img with an "
		       "absolute path",
		       img_name(img), at, e->orig_id);
		return -EINVAL;
	}
	g = find(r, e->remap_id);
	if (!g) {
		struct rimg_ghost *n = realloc(r->ghosts, (r->nr_ghosts + 1) * sizeof(*n));

		if (!n)
			return -ENOMEM;
		r->ghosts = n;
		g = &r->ghosts[r->nr_ghosts++];
		memset(g, 0, sizeof(*g));
		g->remap_id = e->remap_id;
		g->path = fe->reg->name;
		return load_ghost(r, g);
	}
	if (strcmp(g->path, fe->reg->name)) {
		pr_err("%s: offset %zu: ghost %x is %s for file %u and %s for another",
		       img_name(img), at, e->remap_id, fe->reg->name, e->orig_id, g->path);
		return -EINVAL;
	}
	return 0;
}

int rimg_load_ghosts(struct rimg *r)
{
	const struct img_type *t = img_type_by_name("REMAP_FPATH");
	ProtobufCMessage *m = NULL;
	struct img *img = NULL;
	int err;

	err = rimg_open_img(r, t->file, t, 0, &img);
	if (err == -ENOENT)
		return check_strays(r);
	if (err)
		return err;
	for (;;) {
		size_t at = img_offset(img);

		err = img_read_entry(img, &m);
		if (err <= 0)
			break;
		err = add_remap(r, img, at, (const RemapFilePathEntry *)m);
		rimg_msg_free(m);
		if (err)
			break;
	}
	img_close(img);
	if (!err)
		err = check_strays(r);
	return err < 0 ? err : 0;
}

void rimg_free_ghosts(struct rimg *r)
{
	for (size_t i = 0; i < r->nr_ghosts; i++) {
		rimg_msg_free(r->ghosts[i].ge);
		if (r->ghosts[i].img)
			img_close(r->ghosts[i].img);
		free(r->ghosts[i].chunks);
	}
	free(r->ghosts);
	r->ghosts = NULL;
	r->nr_ghosts = 0;
}

/* A deleted FIFO or directory, by its mode and owner. */
static int create_node(struct rimg_ghost *g)
{
	mode_t mode = (mode_t)(g->ge->mode & 07777);
	int dir = S_ISDIR(g->ge->mode), err = 0;

	if (dir ? mkdir(g->path, 0700) : mkfifo(g->path, 0600)) {
		err = -errno;
		pr_errno(err, "cannot create the deleted %s %s again%s", dir ? "directory" : "FIFO",
			 g->path, err == -EEXIST ? ": a file has its name now" : "");
		return err;
	}
	g->created = 1;
	if (lchown(g->path, g->ge->uid, g->ge->gid) || chmod(g->path, mode)) {
		err = -errno;
		pr_errno(err, "%s: cannot set its owner or mode", g->path);
	}
	return err;
}

static int create_one(struct rimg_ghost *g)
{
	int fd, err = 0;

	if (!S_ISREG(g->ge->mode))
		return create_node(g);

	fd = open(g->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		err = -errno;
		pr_errno(err, "cannot create the deleted file %s again%s", g->path,
			 err == -EEXIST ? ": a file has its name now" : "");
		return err;
	}
	g->created = 1;
	for (size_t i = 0; i < g->nr_chunks && !err; i++)
		if (pwrite(fd, g->chunks[i].data, g->chunks[i].len, (off_t)g->chunks[i].off) !=
		    (ssize_t)g->chunks[i].len) {
			err = errno ? -errno : -EIO;
			pr_errno(err, "%s: cannot write %llu bytes at %llu", g->path,
				 (unsigned long long)g->chunks[i].len,
				 (unsigned long long)g->chunks[i].off);
		}
	if (!err && (ftruncate(fd, (off_t)g->ge->size) || fchown(fd, g->ge->uid, g->ge->gid) ||
		     fchmod(fd, g->ge->mode & 07777))) {
		err = -errno;
		pr_errno(err, "%s: cannot set its size, owner or mode", g->path);
	}
	close(fd);
	return err;
}

int rghost_create(struct rimg *r)
{
	int err = 0;

	for (size_t i = 0; i < r->nr_ghosts && !err; i++) {
		err = create_one(&r->ghosts[i]);
		if (!err)
			pr_info("deleted file %s recreated (mode %o, %llu bytes) for the restore",
				r->ghosts[i].path, r->ghosts[i].ge->mode,
				(unsigned long long)r->ghosts[i].ge->size);
	}
	return err;
}

void rghost_remove(struct rimg *r)
{
	for (size_t i = 0; i < r->nr_ghosts; i++) {
		if (!r->ghosts[i].created)
			continue;
		if (S_ISDIR(r->ghosts[i].ge->mode) ? rmdir(r->ghosts[i].path)
						   : unlink(r->ghosts[i].path))
			pr_perror("cannot delete %s again", r->ghosts[i].path);
		r->ghosts[i].created = 0;
	}
}
