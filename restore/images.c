// SPDX-License-Identifier: MIT
/*
 * The restore side's image loader (see images.h): every image of a dump is
 * read into one model and checked against the others before anything is
 * restored. This file holds the loading order, the helpers that open and read
 * images (images_priv.h), inventory.img, the refusal of images restore cannot
 * use, and rimg_free(). The images of each kind are read in images_proc.c
 * (pstree, cores, ids, fs), images_files.c (files, tty-info, pipes-data,
 * fdinfo, filelocks) and images_mm.c (mm, pagemap, pages files, the pre-dump
 * chain).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "rimg: "
#include "images.h"
#include "images_priv.h"
#include "ghost.h"
#include "shmem.h"
#include "img.h"
#include "log.h"
#include "seccomp.pb-c.h"

#define RIMG_IMG_VERSION 2 /* inventory img_version of CRIU's images v1.1 */

void rimg_msg_free(void *m)
{
	if (m)
		protobuf_c_message_free_unpacked((ProtobufCMessage *)m, NULL);
}

/* The name of value @v of enum @d, for messages. */
const char *rimg_enum_name(const ProtobufCEnumDescriptor *d, int v)
{
	const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(d, v);

	return ev ? ev->name : "unknown";
}

/*
 * Open image @name of directory @dirfd (@dir in messages). Only a regular file
 * inside the directory is read: a symlink could lead anywhere. A missing file
 * returns -ENOENT, logged only if @required.
 */
int rimg_open_img_in(int dirfd, const char *dir, const char *name, const struct img_type *t,
		     int required, struct img **out)
{
	struct stat st;
	int err;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW)) {
		err = -errno;
		if (err != -ENOENT)
			pr_perror("cannot stat %s/%s", dir, name);
		else if (required)
			pr_err("%s/%s: missing", dir, name);
		return err;
	}
	if (!S_ISREG(st.st_mode)) {
		pr_err("%s/%s: not a regular file (images are read only from %s itself)", dir, name,
		       dir);
		return -EINVAL;
	}
	err = img_open(out, dirfd, name, t);
	if (err == -ENOENT)
		pr_err("%s/%s: vanished while being loaded", dir, name);
	return err;
}

/* rimg_open_img_in() in the images directory itself. */
int rimg_open_img(const struct rimg *r, const char *name, const struct img_type *t, int required,
		  struct img **out)
{
	return rimg_open_img_in(r->dirfd, r->dir, name, t, required, out);
}

/* Read the one entry of a single-entry image. */
int rimg_read_single(const struct rimg *r, const char *name, const struct img_type *t,
		     ProtobufCMessage **msg)
{
	struct img *img;
	int err;

	err = rimg_open_img(r, name, t, 1, &img);
	if (err)
		return err;
	err = img_read_entry(img, msg);
	if (!err) {
		pr_err("%s: empty, one %s entry expected", img_name(img), t->name);
		err = -EINVAL;
	} else if (err == 1) {
		err = 0;
	}
	img_close(img);
	return err;
}

/* ---- inventory -------------------------------------------------------------------------- */

static int load_inventory(struct rimg *r)
{
	ProtobufCMessage *m = NULL;
	struct stat st;
	int err;

	if (fstatat(r->dirfd, "inventory.img", &st, AT_SYMLINK_NOFOLLOW) && errno == ENOENT) {
		pr_err("%s/inventory.img: missing: not a complete dump (the dump writes it last)",
		       r->dir);
		return -ENOENT;
	}
	err = rimg_read_single(r, "inventory.img", IMG_INVENTORY, &m);
	if (err)
		return err;
	r->inv = (InventoryEntry *)m;
	if (r->inv->img_version != RIMG_IMG_VERSION) {
		pr_err("%s/inventory.img: img_version %u, only %u (CRIU images v1.1) is supported",
		       r->dir, r->inv->img_version, RIMG_IMG_VERSION);
		return -EINVAL;
	}
	if (r->inv->has_fdinfo_per_id && !r->inv->fdinfo_per_id) {
		pr_err("%s/inventory.img: fdinfo_per_id is off (old per-pid fdinfo layout) and not supported",
		       r->dir);
		return -EINVAL;
	}
	if (!fstatat(r->dirfd, "parent", &st, AT_SYMLINK_NOFOLLOW)) {
		r->has_parent = 1;
		pr_debug("%s: has a parent image set", r->dir);
	}
	return 0;
}

/* ---- the whole set ---------------------------------------------------------------------- */

/* Whether the CHECKED image @name of type @t holds what restore cannot rebuild. */
static int check_image(const struct rimg *r, const char *name, const struct img_type *t)
{
	ProtobufCMessage *m = NULL;
	size_t n;
	int err;

	if (t == IMG_TIMENS) {
		/* timens-0.img: the clocks of CRIU's own time namespace. */
		if (!strcmp(name, "timens-0.img"))
			return 0;
		pr_err("%s/%s: a dumped time namespace: ferry restore creates no namespaces",
		       r->dir, name);
		return -EOPNOTSUPP;
	}
	if (t != IMG_SECCOMP) {
		pr_err("%s/%s: %s image: no check known", r->dir, name, t->name);
		return -EOPNOTSUPP;
	}
	err = rimg_read_single(r, name, t, &m);
	if (err)
		return err;
	n = ((SeccompEntry *)m)->n_seccomp_filters;
	rimg_msg_free(m);
	if (!n)
		return 0;
	pr_err("%s/%s: holds %zu seccomp filter(s): ferry restore installs no seccomp filter",
	       r->dir, name, n);
	return -EOPNOTSUPP;
}

/*
 * Every file of the images directory that CRIU's naming makes an image of a
 * type restore does not use: left aside (IMG_RESTORE_IGNORED), checked, or
 * refused. All refused images are named before the dump is refused.
 */
static int check_unused_images(struct rimg *r)
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
		const struct img_type *t = img_type_by_file(de->d_name);
		int ret = 0;

		if (!t || t->restore == IMG_RESTORE_USED)
			continue;
		switch (t->restore) {
		case IMG_RESTORE_IGNORED:
			pr_debug("%s/%s: %s image left aside: %s", r->dir, de->d_name, t->name,
				 t->restore_note);
			break;
		case IMG_RESTORE_CHECKED:
			ret = check_image(r, de->d_name, t);
			break;
		default:
			pr_err("%s/%s: %s image (%s): %s", r->dir, de->d_name, t->name, t->about,
			       t->restore_note);
			ret = -EOPNOTSUPP;
		}
		if (ret && (!err || err == -EOPNOTSUPP))
			err = ret;
	}
	closedir(d);
	if (err == -EOPNOTSUPP)
		pr_err("%s: the dump holds state ferry restore cannot rebuild (see above; ferry decode -i FILE shows an image)",
		       r->dir);
	return err;
}

static int load_proc(struct rimg *r, struct rimg_proc *p)
{
	int err = 0;

	for (size_t k = 0; k < p->nr_threads && !err; k++)
		err = rimg_load_core(r, p, &p->threads[k], !k);
	if (!err && p->zombie)
		return 0; /* its core is all that is left of it */
	if (!err)
		err = rimg_load_ids(r, p);
	if (!err)
		err = rimg_load_fds(r, p);
	if (!err)
		err = rimg_load_fs(r, p);
	if (!err)
		err = rimg_load_mm(r, p);
	return err;
}

int rimg_load(struct rimg **out, const char *dir)
{
	return rimg_load_flags(out, dir, 0);
}

int rimg_load_flags(struct rimg **out, const char *dir, unsigned int flags)
{
	struct rimg *r;
	struct stat st;
	int err;

	*out = NULL;
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	r->flags = flags;
	r->dir = strdup(dir);
	if (!r->dir) {
		free(r);
		return -ENOMEM;
	}
	r->dirfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (r->dirfd < 0 || fstat(r->dirfd, &st)) {
		err = -errno;
		pr_perror("cannot open images directory %s", dir);
		goto err;
	}
	r->dev = (uint64_t)st.st_dev;
	r->ino = (uint64_t)st.st_ino;
	err = load_inventory(r);
	if (!err)
		err = check_unused_images(r);
	if (!err)
		err = rimg_load_pstree(r);
	if (!err)
		err = rimg_load_ttys(r);
	if (!err)
		err = rimg_load_files(r);
	if (!err)
		err = rimg_load_ghosts(r);
	if (!err)
		err = rimg_load_pipes(r);
	if (!err)
		err = rimg_load_sk_queues(r);
	for (size_t i = 0; i < r->nr_procs && !err; i++)
		err = load_proc(r, &r->procs[i]);
	if (!err)
		err = rimg_load_locks(r);
	for (size_t i = 0; i < r->nr_procs && !err; i++)
		err = rimg_resolve_parents(r, &r->procs[i]);
	if (!err)
		err = rimg_load_shmem(r);
	if (err)
		goto err;
	pr_info("%s: %zu process(es), %zu file(s), %zu pipe buffer(s), %zu file lock(s), %zu "
		"parent image set(s) loaded",
		dir, r->nr_procs, r->nr_files, r->nr_pipes, r->nr_locks, r->nr_chain);
	*out = r;
	return 0;
err:
	if (err == -ENOMEM)
		pr_err("%s: out of memory while loading the images", dir);
	rimg_free(r);
	return err;
}

static void free_proc(struct rimg_proc *p)
{
	for (size_t k = 0; k < p->nr_threads; k++)
		rimg_msg_free(p->threads[k].core);
	free(p->threads);
	free(p->cow);
	if (p->mm)
		p->mm->n_vmas += p->nr_guards; /* freed with the rest of the message */
	rimg_msg_free(p->mm);
	rimg_msg_free(p->fs);
	rimg_msg_free(p->ids_img);
	for (size_t i = 0; i < p->nr_fds; i++)
		rimg_msg_free(p->fds[i]);
	free(p->fds);
	if (p->pm) {
		/* pages_fd is files[0].fd */
		for (size_t k = 0; k < p->pm->nr_files; k++)
			if (p->pm->files[k].fd >= 0)
				close(p->pm->files[k].fd);
		free(p->pm->files);
		free(p->pm->runs);
		free(p->pm);
	}
}

void rimg_free(struct rimg *r)
{
	if (!r)
		return;
	for (size_t i = 0; i < r->nr_procs; i++)
		free_proc(&r->procs[i]);
	free(r->procs);
	rimg_free_shmem(r);
	rimg_free_ghosts(r);
	for (size_t i = 0; i < r->nr_files; i++)
		rimg_msg_free(r->files[i]);
	free(r->files);
	for (size_t i = 0; i < r->nr_ttys; i++)
		rimg_msg_free(r->ttys[i]);
	free(r->ttys);
	for (size_t i = 0; i < r->nr_locks; i++)
		rimg_msg_free(r->locks[i]);
	free(r->locks);
	free(r->pipes);
	if (r->pipes_img)
		img_close(r->pipes_img);
	free(r->skq);
	if (r->skq_img)
		img_close(r->skq_img);
	free(r->fifos);
	if (r->fifos_img)
		img_close(r->fifos_img);
	rimg_msg_free(r->inv);
	for (size_t k = 0; k < r->nr_chain; k++) {
		close(r->chain[k].dirfd);
		free(r->chain[k].dir);
	}
	free(r->chain);
	if (r->dirfd >= 0)
		close(r->dirfd);
	free(r->dir);
	free(r);
}
