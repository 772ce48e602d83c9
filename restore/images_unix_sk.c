// SPDX-License-Identifier: MIT
/*
 * The restore side's image loader, unix sockets (see images.h): the
 * unix_sk_entry of files.img checked, sk-queues.img read.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <netinet/tcp.h>

#define LOG_PREFIX "rimg: "
#include "images.h"
#include "images_priv.h"
#include "img.h"
#include "log.h"
#include "sk-packet.pb-c.h"

int rimg_check_unix_file(const struct img *img, size_t at, const FileEntry *f)
{
	const UnixSkEntry *u = f->usk;
	int ext = u->uflags == 1; /* USK_EXTERN: a peer outside the dump, no fd */
	const char *why = NULL;

	if (u->type != SOCK_STREAM && u->type != SOCK_DGRAM && u->type != SOCK_SEQPACKET)
		why = "an unknown socket type";
	else if (u->name.len > sizeof(((struct sockaddr_un *)0)->sun_path))
		why = "a name longer than sockaddr_un holds";
	else if (u->name.len && u->name.data[0] != '\0' && u->name.data[0] != '/')
		why = "a relative path as its name";
	else if (u->state != TCP_ESTABLISHED && u->state != TCP_CLOSE && u->state != TCP_LISTEN)
		why = "a state other than established, closed or listening";
	else if (ext && (u->state != TCP_LISTEN || u->peer))
		why = "the external flag but a state other than listening, or a peer";
	else if (!ext && u->state == TCP_LISTEN && u->type == SOCK_DGRAM)
		why = "a listening datagram socket";
	else if (!ext && u->state == TCP_LISTEN && !u->name.len)
		why = "a listening socket with no name";
	else if (u->has_shutdown && (unsigned)u->shutdown > SK_SHUTDOWN__BOTH)
		why = "an unknown shutdown state";
	else if (u->peer && u->state != TCP_ESTABLISHED)
		why = "a peer while not connected";
	else if (u->uflags && !ext)
		why = "uflags ferry does not know (service, callback, inherited, or several)";
	if (!why)
		return 0;
	pr_err("%s: offset %zu: unix socket file id %u (socket:[%u]) has %s", img_name(img), at,
	       f->id, u->ino, why);
	return -EINVAL;
}

static int is_unix_file(const struct rimg *r, uint32_t id)
{
	const FileEntry *f = rimg_file(r, id);

	return f && f->type == FD_TYPES__UNIXSK;
}

int rimg_load_sk_queues(struct rimg *r)
{
	ProtobufCMessage *m = NULL;
	size_t cap = 0;
	int err;

	err = rimg_open_img(r, IMG_SK_QUEUES->file, IMG_SK_QUEUES, 0, &r->skq_img);
	if (err == -ENOENT)
		return 0;
	if (err)
		return err;
	for (;;) {
		size_t at = img_offset(r->skq_img);
		struct rimg_skq *q;
		SkPacketEntry *e;

		err = img_read_entry(r->skq_img, &m);
		if (err <= 0)
			break;
		e = (SkPacketEntry *)m;
		if (!is_unix_file(r, e->id_for)) {
			pr_err("%s: offset %zu: queued data for file id %u, which is no unix socket of %s",
			       img_name(r->skq_img), at, e->id_for, IMG_FILES->file);
			err = -EINVAL;
			break;
		}
		if (e->n_scm) {
			pr_err("%s: offset %zu: a message for file id %u carries control messages (SCM), which ferry does not restore",
			       img_name(r->skq_img), at, e->id_for);
			err = -EINVAL;
			break;
		}
		if (r->nr_skq == cap) {
			size_t nc = cap ? cap * 2 : 8;

			q = realloc(r->skq, nc * sizeof(*q));
			if (!q) {
				err = -ENOMEM;
				break;
			}
			r->skq = q;
			cap = nc;
		}
		q = &r->skq[r->nr_skq];
		q->id_for = e->id_for;
		err = img_read_payload(r->skq_img, m, &q->data, &q->len);
		if (err)
			break;
		r->nr_skq++;
		rimg_msg_free(m);
		m = NULL;
	}
	rimg_msg_free(m);
	return err < 0 ? err : 0;
}
