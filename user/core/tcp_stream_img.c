// SPDX-License-Identifier: MIT
/*
 * tcp-stream-INO.img: writer and reader (tcp_stream_img.h). The entry is
 * CRIU's tcp_stream_entry with the fields CRIU 4.x sets (unsq_len always,
 * rcv_wscale with window scaling, timestamp with timestamps, the window
 * when the kernel gave it); the reader also takes the older cork/nodelay.
 */
#define LOG_PREFIX "tcp-stream: "

#include <errno.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "img.h"
#include "log.h"
#include "tcp-stream.pb-c.h"
#include "tcp_stream_img.h"

const char *tcp_stream_img_name(uint32_t ino, char *buf, size_t len)
{
	snprintf(buf, len, "tcp-stream-%x.img", ino);
	return buf;
}

int tcp_stream_img_write(int dirfd, uint32_t ino, const struct tcp_repair_state *st)
{
	TcpStreamEntry e = TCP_STREAM_ENTRY__INIT;
	struct img *img = NULL;
	char name[64];
	int err;

	e.inq_len = st->inq_len;
	e.inq_seq = st->inq_seq;
	e.outq_len = st->outq_len;
	e.outq_seq = st->outq_seq;
	e.has_unsq_len = 1;
	e.unsq_len = st->unsq_len;
	e.opt_mask = st->opt_mask;
	e.mss_clamp = st->mss_clamp;
	if (st->opt_mask & TCPI_OPT_WSCALE) {
		e.snd_wscale = st->snd_wscale;
		e.has_rcv_wscale = 1;
		e.rcv_wscale = st->rcv_wscale;
	}
	if (st->opt_mask & TCPI_OPT_TIMESTAMPS) {
		e.has_timestamp = 1;
		e.timestamp = st->timestamp;
	}
	if (st->has_window) {
		e.has_snd_wl1 = e.has_snd_wnd = e.has_max_window = 1;
		e.has_rcv_wnd = e.has_rcv_wup = 1;
		e.snd_wl1 = st->snd_wl1;
		e.snd_wnd = st->snd_wnd;
		e.max_window = st->max_window;
		e.rcv_wnd = st->rcv_wnd;
		e.rcv_wup = st->rcv_wup;
	}
	tcp_stream_img_name(ino, name, sizeof(name));
	err = img_create(&img, dirfd, name, IMG_TCP_STREAM);
	if (err)
		goto out;
	err = img_write_entry(img, &e.base);
	if (!err && st->inq_len)
		err = img_write_raw(img, st->inq, st->inq_len);
	if (!err && st->outq_len)
		err = img_write_raw(img, st->outq, st->outq_len);
	if (err) {
		img_abort(img);
		goto out;
	}
	err = img_commit(img);
out:
	if (err)
		pr_err("%s: %s", name, strerror(-err));
	return err;
}

/* What in entry @e does not hold together, or NULL. */
static const char *entry_fault(const TcpStreamEntry *e)
{
	if (e->inq_len > TCP_REPAIR_MAX_QUEUE || e->outq_len > TCP_REPAIR_MAX_QUEUE)
		return "a queue larger than 64 MiB";
	if (e->has_unsq_len && e->unsq_len > e->outq_len)
		return "unsq_len larger than outq_len";
	if (e->opt_mask & ~0x7fu)
		return "unknown bits in opt_mask";
	if ((e->opt_mask & TCPI_OPT_WSCALE) && !e->has_rcv_wscale)
		return "window scaling without rcv_wscale";
	if (e->snd_wscale > 14 || (e->has_rcv_wscale && e->rcv_wscale > 14))
		return "a window scale over 14";
	if ((e->opt_mask & TCPI_OPT_TIMESTAMPS) && !e->has_timestamp)
		return "timestamps without a timestamp";
	if (!e->mss_clamp || e->mss_clamp > 65535)
		return "mss_clamp of 0 or over 65535";
	if (e->has_snd_wl1 + e->has_snd_wnd + e->has_max_window + e->has_rcv_wnd + e->has_rcv_wup !=
	    5 * e->has_snd_wnd)
		return "a window with some of its five fields missing";
	return NULL;
}

static int copy_queue(const uint8_t *p, uint32_t len, uint8_t **out)
{
	*out = NULL;
	if (!len)
		return 0;
	*out = malloc(len);
	if (!*out)
		return -ENOMEM;
	memcpy(*out, p, len);
	return 0;
}

int tcp_stream_img_parse(struct img *img, struct tcp_repair_state *st)
{
	ProtobufCMessage *m = NULL;
	const TcpStreamEntry *e;
	const void *data;
	const char *why;
	size_t at = img_offset(img), len;
	int err;

	err = img_read_entry(img, &m);
	if (err == 0) {
		pr_err("%s: offset %zu: no tcp_stream_entry", img_name(img), at);
		err = -EINVAL;
	}
	if (err < 0)
		goto out;
	e = (const TcpStreamEntry *)m;
	why = entry_fault(e);
	if (why) {
		pr_err("%s: offset %zu: %s", img_name(img), at, why);
		err = -EINVAL;
		goto out;
	}
	err = img_read_payload(img, m, &data, &len);
	if (!err && len != (size_t)e->inq_len + e->outq_len) {
		pr_err("%s: offset %zu: %zu bytes of queues, inq_len + outq_len say %u",
		       img_name(img), img_offset(img) - len, len, e->inq_len + e->outq_len);
		err = -EINVAL;
	}
	if (err)
		goto out;
	tcp_repair_state_free(st);
	st->inq_len = e->inq_len;
	st->inq_seq = e->inq_seq;
	st->outq_len = e->outq_len;
	st->outq_seq = e->outq_seq;
	/* CRIU before 2.x: no unsq_len, the whole queue restored as sent. */
	st->unsq_len = e->has_unsq_len ? e->unsq_len : 0;
	st->opt_mask = e->opt_mask;
	st->snd_wscale = e->snd_wscale;
	st->rcv_wscale = e->has_rcv_wscale ? e->rcv_wscale : 0;
	st->mss_clamp = e->mss_clamp;
	st->timestamp = e->has_timestamp ? e->timestamp : 0;
	st->has_window = e->has_snd_wnd;
	st->snd_wl1 = e->snd_wl1;
	st->snd_wnd = e->snd_wnd;
	st->max_window = e->max_window;
	st->rcv_wnd = e->rcv_wnd;
	st->rcv_wup = e->rcv_wup;
	if (e->has_nodelay)
		st->nodelay = e->nodelay;
	if (e->has_cork)
		st->cork = e->cork;
	err = copy_queue(data, e->inq_len, &st->inq);
	/* No payload at all (both queues empty): no pointer to offset. */
	if (!err && e->outq_len)
		err = copy_queue((const uint8_t *)data + e->inq_len, e->outq_len, &st->outq);
	if (err) {
		tcp_repair_state_free(st);
		goto out;
	}
	/* A second entry: img_read_entry refuses it with its offset. */
	protobuf_c_message_free_unpacked(m, NULL);
	m = NULL;
	if (img_read_entry(img, &m) != 0) {
		tcp_repair_state_free(st);
		err = -EINVAL;
	}
out:
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
	return err;
}

int tcp_stream_img_read(int dirfd, uint32_t ino, struct tcp_repair_state *st)
{
	struct img *img = NULL;
	char name[64];
	int err;

	tcp_stream_img_name(ino, name, sizeof(name));
	err = img_open(&img, dirfd, name, IMG_TCP_STREAM);
	if (err) {
		if (err != -ENOENT)
			pr_err("%s: %s", name, strerror(-err));
		return err;
	}
	err = tcp_stream_img_parse(img, st);
	img_close(img);
	return err;
}

void tcp_opts_fill(TcpOptsEntry *o, const struct tcp_repair_state *st)
{
	/* As CRIU: an option at 0 is not written. */
	o->has_nodelay = o->nodelay = !!st->nodelay;
	o->has_cork = o->cork = !!st->cork;
	o->has_keepcnt = !!st->keepcnt;
	o->keepcnt = st->keepcnt;
	o->has_keepidle = !!st->keepidle;
	o->keepidle = st->keepidle;
	o->has_keepintvl = !!st->keepintvl;
	o->keepintvl = st->keepintvl;
}

void tcp_opts_apply(struct tcp_repair_state *st, const TcpOptsEntry *o)
{
	if (o->has_nodelay)
		st->nodelay = o->nodelay;
	if (o->has_cork)
		st->cork = o->cork;
	if (o->has_keepcnt)
		st->keepcnt = o->keepcnt;
	if (o->has_keepidle)
		st->keepidle = o->keepidle;
	if (o->has_keepintvl)
		st->keepintvl = o->keepintvl;
}
