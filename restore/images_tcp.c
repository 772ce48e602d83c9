// SPDX-License-Identifier: MIT
/*
 * The restore side's image loader, established TCP connections (see
 * images.h): the tcp-stream-INO.img of each one read and checked with the
 * rest of the dump, before anything is made (restore/files_tcp.c reads it
 * again when it makes the socket).
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#define LOG_PREFIX "rimg: "
#include "images.h"
#include "images_priv.h"
#include "img.h"
#include "log.h"
#include "tcp_stream_img.h"

int rimg_check_tcp_stream(const struct rimg *r, const FileEntry *f)
{
	const InetSkEntry *s = f->isk;
	struct tcp_repair_state st = { 0 };
	struct img *img = NULL;
	char name[64];
	int err;

	if (s->proto != IPPROTO_TCP || s->state != TCP_ESTABLISHED)
		return 0;
	tcp_stream_img_name(s->ino, name, sizeof(name));
	err = rimg_open_img(r, name, IMG_TCP_STREAM, 1, &img);
	if (err) {
		pr_err("the established connection of file id %u (socket:[%u]) has no usable %s",
		       f->id, s->ino, name);
		return err == -ENOENT ? -EINVAL : err;
	}
	err = tcp_stream_img_parse(img, &st);
	tcp_repair_state_free(&st);
	img_close(img);
	return err;
}
