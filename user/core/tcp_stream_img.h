/* SPDX-License-Identifier: MIT */
/*
 * tcp-stream-INO.img (CRIU's TCP_STREAM image): one tcp_stream_entry for the
 * connection of socket inode INO (hex in the name), then inq_len bytes of its
 * receive queue and outq_len bytes of its send queue, as CRIU lays it out.
 * The addresses and the state are not in it: they are the inet_sk_entry's
 * (files.img), as are nodelay, cork and keepalive (inet_sk_entry.tcp_opts).
 */
#ifndef FERRY_TCP_STREAM_IMG_H
#define FERRY_TCP_STREAM_IMG_H

#include <stddef.h>
#include <stdint.h>

#include "sk-inet.pb-c.h"
#include "tcp_repair.h"

struct img;

/* tcp_stream_img_name - "tcp-stream-%x.img" of inode @ino into @buf. */
const char *tcp_stream_img_name(uint32_t ino, char *buf, size_t len);

/*
 * tcp_stream_img_write - write tcp-stream-INO.img for @st into @dirfd (via a
 * temporary name, see img.h). Returns 0 or -errno.
 */
int tcp_stream_img_write(int dirfd, uint32_t ino, const struct tcp_repair_state *st);

/*
 * tcp_stream_img_read - read tcp-stream-INO.img from @dirfd into the stream
 * part of @st (sequences, queues, options, window; the queues malloc'd, see
 * tcp_repair_state_free()); addresses and state are left as they are.
 * Returns 0, -ENOENT if there is no such image, -EINVAL for an image that
 * does not hold together (logged with file and offset), -ENOMEM.
 */
int tcp_stream_img_read(int dirfd, uint32_t ino, struct tcp_repair_state *st);

/* tcp_stream_img_parse - the same on an opened image (fuzzers, tests). */
int tcp_stream_img_parse(struct img *img, struct tcp_repair_state *st);

/* tcp_opts_fill / tcp_opts_apply - @st's stream options to and from inet_sk_entry.tcp_opts. */
void tcp_opts_fill(TcpOptsEntry *o, const struct tcp_repair_state *st);
void tcp_opts_apply(struct tcp_repair_state *st, const TcpOptsEntry *o);

#endif
