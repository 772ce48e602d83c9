// SPDX-License-Identifier: MIT
/*
 * CRIU-format image I/O (see img.h). Writers buffer entries and write them to
 * a temporary file that is renamed into place on commit. Readers map the file
 * and check every size against the end before touching the bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "img: "
#include "img.h"
#include "log.h"
#include "util.h"

#define IMG_WBUF (256u << 10)

struct img {
	const struct img_type *t;
	char path[PATH_MAX]; /* for messages: directory/name */

	/* writing */
	int dirfd;
	int fd;
	char *name;
	char *tmpname;
	uint8_t *wbuf;
	size_t used;

	/* reading */
	const uint8_t *data;
	size_t len;
	size_t off;
	size_t map_len; /* non-zero when data is our mapping */
	unsigned long nr_read;
	const uint8_t *payload;
	size_t payload_len;
};

static void img_set_path(struct img *img, int dirfd, const char *name)
{
	char link[64], dir[PATH_MAX];
	ssize_t n;

	if (name[0] == '/' || dirfd == AT_FDCWD) {
		snprintf(img->path, sizeof(img->path), "%s", name);
		return;
	}
	snprintf(link, sizeof(link), "/proc/self/fd/%d", dirfd);
	n = readlink(link, dir, sizeof(dir) - 1);
	if (n <= 0) {
		snprintf(img->path, sizeof(img->path), "%s", name);
		return;
	}
	dir[n] = '\0';
	if (snprintf(img->path, sizeof(img->path), "%s/%s", dir, name) >= (int)sizeof(img->path))
		snprintf(img->path, sizeof(img->path), "%s", name);
}

const char *img_name(const struct img *img)
{
	return img->path;
}

const struct img_type *img_get_type(const struct img *img)
{
	return img->t;
}

size_t img_offset(const struct img *img)
{
	return img->off;
}

/* ---- writing ---------------------------------------------------------------- */

static int img_flush(struct img *img)
{
	int err;

	if (!img->used)
		return 0;
	err = write_full(img->fd, img->wbuf, img->used);
	if (err) {
		pr_errno(err, "cannot write %s", img->path);
		return err;
	}
	img->used = 0;
	return 0;
}

int img_create(struct img **out, int dirfd, const char *name, const struct img_type *t)
{
	struct img *img;
	uint32_t magic[2];
	int err = -ENOMEM, n = 0;

	img = calloc(1, sizeof(*img));
	if (!img)
		goto fail;
	img->fd = -1;
	img->t = t;
	img->dirfd = dirfd;
	img_set_path(img, dirfd, name);
	img->wbuf = malloc(IMG_WBUF);
	img->name = strdup(name);
	if (!img->wbuf || !img->name || asprintf(&img->tmpname, "%s.tmp", name) < 0) {
		img->tmpname = NULL;
		goto free_img;
	}
	img->fd = openat(dirfd, img->tmpname, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (img->fd < 0) {
		err = -errno;
		pr_perror("cannot create %s.tmp", img->path);
		goto free_img;
	}
	if (t->kind != IMG_RAW) {
		if (t->kind_magic)
			magic[n++] = t->kind_magic;
		magic[n++] = t->magic;
		memcpy(img->wbuf, magic, n * sizeof(uint32_t));
		img->used = n * sizeof(uint32_t);
	}
	*out = img;
	return 0;

free_img:
	img_abort(img);
fail:
	return err;
}

int img_write_raw(struct img *img, const void *buf, size_t len)
{
	int err;

	if (len <= IMG_WBUF - img->used) {
		memcpy(img->wbuf + img->used, buf, len);
		img->used += len;
		return 0;
	}
	err = img_flush(img);
	if (err)
		return err;
	if (len < IMG_WBUF) {
		memcpy(img->wbuf, buf, len);
		img->used = len;
		return 0;
	}
	err = write_full(img->fd, buf, len);
	if (err)
		pr_errno(err, "cannot write %s", img->path);
	return err;
}

int img_write_entry(struct img *img, const ProtobufCMessage *msg)
{
	size_t size = protobuf_c_message_get_packed_size(msg);
	uint32_t size32 = (uint32_t)size;
	uint8_t *tmp;
	int err;

	if (size > IMG_MAX_ENTRY) {
		pr_err("%s: entry of %zu bytes exceeds the %u byte limit", img->path, size,
		       IMG_MAX_ENTRY);
		return -E2BIG;
	}
	if (size + 4 > IMG_WBUF - img->used) {
		err = img_flush(img);
		if (err)
			return err;
	}
	if (size + 4 <= IMG_WBUF) {
		memcpy(img->wbuf + img->used, &size32, 4);
		protobuf_c_message_pack(msg, img->wbuf + img->used + 4);
		img->used += size + 4;
		return 0;
	}
	tmp = malloc(size);
	if (!tmp)
		return -ENOMEM;
	protobuf_c_message_pack(msg, tmp);
	err = img_write_raw(img, &size32, 4);
	if (!err)
		err = img_write_raw(img, tmp, size);
	free(tmp);
	return err;
}

/* img_sync_on_commit's setting: 1 unless a caller syncs the images itself. */
static int sync_on_commit = 1;

int img_sync_on_commit(int on)
{
	int prev = sync_on_commit;

	sync_on_commit = !!on;
	return prev;
}

int img_commit(struct img *img)
{
	int err;

	err = img_flush(img);
	if (err)
		goto abort;
	if (sync_on_commit && fdatasync(img->fd)) {
		err = -errno;
		pr_perror("cannot sync %s", img->path);
		goto abort;
	}
	if (close(img->fd)) {
		err = -errno;
		img->fd = -1;
		pr_perror("cannot close %s", img->path);
		goto abort;
	}
	img->fd = -1;
	if (renameat(img->dirfd, img->tmpname, img->dirfd, img->name)) {
		err = -errno;
		pr_perror("cannot rename %s.tmp into place", img->path);
		goto abort;
	}
	free(img->tmpname);
	img->tmpname = NULL;
	img_abort(img);
	return 0;

abort:
	img_abort(img);
	return err;
}

int img_write_one(int dirfd, const char *name, const struct img_type *t,
		  const ProtobufCMessage *msg)
{
	struct img *img;
	int err;

	err = img_create(&img, dirfd, name, t);
	if (err)
		return err;
	err = img_write_entry(img, msg);
	if (err) {
		img_abort(img);
		return err;
	}
	return img_commit(img);
}

void img_abort(struct img *img)
{
	if (!img)
		return;
	if (img->fd >= 0)
		close(img->fd);
	if (img->tmpname)
		unlinkat(img->dirfd, img->tmpname, 0);
	free(img->tmpname);
	free(img->name);
	free(img->wbuf);
	free(img);
}

/* ---- reading ---------------------------------------------------------------- */

static uint32_t get_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Read the magics and settle img->t; check it against expect. */
static int img_parse_magic(struct img *img, const struct img_type *expect)
{
	const struct img_type *t;
	uint32_t m1, m2;

	if (expect && expect->kind == IMG_RAW) {
		img->t = expect;
		return 0;
	}
	if (img->len < 4) {
		pr_err("%s: offset 0: file too short for an image magic (%zu bytes)", img->path,
		       img->len);
		return -EINVAL;
	}
	m1 = get_u32(img->data);
	if (m1 == IMG_COMMON_MAGIC || m1 == IMG_SERVICE_MAGIC) {
		if (img->len < 8) {
			pr_err("%s: offset 4: file ends before the type magic", img->path);
			return -EINVAL;
		}
		m2 = get_u32(img->data + 4);
		t = img_type_by_magic(m2);
		if (!t) {
			pr_err("%s: offset 4: unknown image type magic 0x%08x", img->path, m2);
			return -EINVAL;
		}
		if (t->kind_magic != m1) {
			pr_err("%s: offset 0: %s image with the wrong first magic 0x%08x",
			       img->path, t->name, m1);
			return -EINVAL;
		}
		img->off = 8;
	} else {
		t = img_type_by_magic(m1);
		if (!t || t->kind_magic) {
			pr_err("%s: offset 0: unknown image magic 0x%08x", img->path, m1);
			return -EINVAL;
		}
		img->off = 4;
	}
	/* An alias (SHMEM_PAGEMAP) has the magic of the type it names again (PAGEMAP). */
	if (expect && expect->alias_of == t)
		t = expect;
	if (expect && t != expect) {
		pr_err("%s: is a %s image, expected %s", img->path, t->name, expect->name);
		return -EINVAL;
	}
	img->t = t;
	return 0;
}

static struct img *img_alloc_reader(const char *name)
{
	struct img *img = calloc(1, sizeof(*img));

	if (!img)
		return NULL;
	img->fd = -1;
	snprintf(img->path, sizeof(img->path), "%s", name);
	return img;
}

int img_open_mem(struct img **out, const char *name, const void *buf, size_t len,
		 const struct img_type *expect)
{
	struct img *img = img_alloc_reader(name);
	int err;

	if (!img)
		return -ENOMEM;
	img->data = buf;
	img->len = len;
	err = img_parse_magic(img, expect);
	if (err) {
		img_close(img);
		return err;
	}
	*out = img;
	return 0;
}

int img_open(struct img **out, int dirfd, const char *name, const struct img_type *expect)
{
	struct img *img = img_alloc_reader(name);
	struct stat st;
	void *map;
	int fd, err;

	if (!img)
		return -ENOMEM;
	img_set_path(img, dirfd, name);
	/* O_NONBLOCK: a FIFO is refused below, not waited on for a writer. */
	fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		err = -errno;
		if (err != -ENOENT)
			pr_perror("cannot open %s", img->path);
		goto free_img;
	}
	if (fstat(fd, &st)) {
		err = -errno;
		pr_perror("cannot stat %s", img->path);
		goto close_fd;
	}
	if (!S_ISREG(st.st_mode)) {
		err = -EINVAL;
		pr_err("%s: not a regular file", img->path);
		goto close_fd;
	}
	if (st.st_size > 0) {
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (map == MAP_FAILED) {
			err = -errno;
			pr_perror("cannot map %s", img->path);
			goto close_fd;
		}
		img->data = map;
		img->len = img->map_len = (size_t)st.st_size;
	}
	close(fd);
	err = img_parse_magic(img, expect);
	if (err)
		goto free_img;
	pr_debug("%s: %s image, %zu bytes", img->path, img->t->name, img->len);
	*out = img;
	return 0;

close_fd:
	close(fd);
free_img:
	img_close(img);
	return err;
}

int img_read_entry(struct img *img, ProtobufCMessage **msg)
{
	const ProtobufCMessageDescriptor *d = img->t->desc;
	size_t at = img->off, left = img->len - img->off, plen, bad;
	ProtobufCMessage *m;
	uint32_t size;

	*msg = NULL;
	img->payload = NULL;
	img->payload_len = 0;
	if (!left)
		return 0;
	if (img->t->kind == IMG_RAW || img->t->kind == IMG_BLOB || !d) {
		pr_err("%s: %s images hold no entries", img->path, img->t->name);
		return -EINVAL;
	}
	if (img->t->kind == IMG_SINGLE && img->nr_read) {
		pr_err("%s: offset %zu: %zu bytes of trailing data after the single %s entry",
		       img->path, at, left, img->t->name);
		return -EINVAL;
	}
	if (left < 4) {
		pr_err("%s: offset %zu: truncated entry size (%zu of 4 bytes)", img->path, at,
		       left);
		return -EINVAL;
	}
	size = get_u32(img->data + at);
	if (size > IMG_MAX_ENTRY) {
		pr_err("%s: offset %zu: entry size %u exceeds the %u byte limit", img->path, at,
		       size, IMG_MAX_ENTRY);
		return -EINVAL;
	}
	if (size > left - 4) {
		pr_err("%s: offset %zu: entry of %u bytes runs past the end of the file (%zu bytes left)",
		       img->path, at, size, left - 4);
		return -EINVAL;
	}
	if (img->t->head_desc && !img->nr_read)
		d = img->t->head_desc;
	m = protobuf_c_message_unpack(d, NULL, size, img->data + at + 4);
	if (!m) {
		pr_err("%s: offset %zu: entry of %u bytes is not a valid %s", img->path, at, size,
		       d->name);
		return -EINVAL;
	}
	img->off = at + 4 + size;
	if (img_type_extra_len(img->t, m, img->data + img->off, img->len - img->off, &plen, &bad)) {
		if (img->t->extra == IMG_EXTRA_IPC_MSG)
			pr_err("%s: offset %zu: message record %zu bytes after the queue entry is truncated or corrupt",
			       img->path, img->off + bad, bad);
		else
			pr_err("%s: offset %zu: payload of %zu bytes runs past the end of the file (%zu bytes left)",
			       img->path, img->off, plen, img->len - img->off);
		protobuf_c_message_free_unpacked(m, NULL);
		img->off = at;
		return -EINVAL;
	}
	if (plen) {
		img->payload = img->data + img->off;
		img->payload_len = plen;
		img->off += plen;
	}
	img->nr_read++;
	*msg = m;
	return 1;
}

int img_read_payload(struct img *img, const ProtobufCMessage *msg, const void **data, size_t *len)
{
	(void)msg;
	*data = img->payload;
	*len = img->payload_len;
	return 0;
}

int img_read_raw(struct img *img, void *buf, size_t len)
{
	if (len > img->len - img->off) {
		pr_err("%s: offset %zu: %zu bytes wanted, the file ends after %zu", img->path,
		       img->off, len, img->len - img->off);
		return -EINVAL;
	}
	memcpy(buf, img->data + img->off, len);
	img->off += len;
	return 0;
}

const void *img_data(const struct img *img, size_t *len)
{
	*len = img->len;
	return img->data;
}

void img_close(struct img *img)
{
	if (!img)
		return;
	if (img->map_len)
		munmap((void *)img->data, img->map_len);
	free(img);
}
