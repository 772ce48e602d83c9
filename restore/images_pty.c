// SPDX-License-Identifier: MIT
/*
 * The restore side's image loader, pseudo-terminals (see images.h):
 * tty-data.img, the bytes queued in a pty whose master the dump holds.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#define LOG_PREFIX "rimg: "
#include "images.h"
#include "images_priv.h"
#include "img.h"
#include "log.h"
#include "pty_queue.h"

int rimg_tty_pair(const struct rimg *r, uint32_t id)
{
	return rimg_tty_info(r, id | 1) != NULL;
}

/* Is tty data entry @e, at @at of @img, one restore can put back? 0 or -EINVAL (logged). */
static int check_data(const struct rimg *r, struct img *img, size_t at, const TtyDataEntry *e)
{
	const FileEntry *f = rimg_file(r, e->tty_id);

	if (!f || f->type != FD_TYPES__TTY) {
		pr_err("%s: offset %zu: queued bytes for tty file id %u, which is %s",
		       img_name(img), at, e->tty_id, f ? "not a terminal" : "not in files.img");
		return -EINVAL;
	}
	if (!rimg_tty_pair(r, f->tty->tty_info_id)) {
		pr_err("%s: offset %zu: queued bytes for tty file id %u (tty %u), which is not an "
		       "end of a pty whose master the dump holds",
		       img_name(img), at, e->tty_id, f->tty->tty_info_id);
		return -EINVAL;
	}
	if (e->data.len > PTY_QUEUE_MAX) {
		pr_err("%s: offset %zu: %zu bytes queued for tty file id %u: a pty holds at most %d",
		       img_name(img), at, e->data.len, e->tty_id, PTY_QUEUE_MAX);
		return -EINVAL;
	}
	for (size_t i = 0; i < r->nr_tty_data; i++) {
		const FileEntry *o = rimg_file(r, r->tty_data[i]->tty_id);

		if (o->tty->tty_info_id == f->tty->tty_info_id) {
			pr_err("%s: offset %zu: a second entry of queued bytes for tty %u",
			       img_name(img), at, f->tty->tty_info_id);
			return -EINVAL;
		}
	}
	return 0;
}

int rimg_load_tty_data(struct rimg *r)
{
	ProtobufCMessage *m = NULL;
	size_t cap = 0;
	struct img *img;
	int err;

	err = rimg_open_img(r, IMG_TTY_DATA->file, IMG_TTY_DATA, 0, &img);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	for (;;) {
		size_t at = img_offset(img);

		err = img_read_entry(img, &m);
		if (err <= 0)
			break;
		err = check_data(r, img, at, (TtyDataEntry *)m);
		if (err)
			break;
		if (r->nr_tty_data == cap) {
			size_t nc = cap ? cap * 2 : 4;
			TtyDataEntry **n = realloc(r->tty_data, nc * sizeof(*n));

			if (!n) {
				err = -ENOMEM;
				break;
			}
			r->tty_data = n;
			cap = nc;
		}
		r->tty_data[r->nr_tty_data++] = (TtyDataEntry *)m;
		m = NULL;
	}
	rimg_msg_free(m);
	img_close(img);
	return err;
}
