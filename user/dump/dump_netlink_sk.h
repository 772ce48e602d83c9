/* SPDX-License-Identifier: MIT */
/*
 * AF_NETLINK sockets in the fd dumper (dump_files.h), as CRIU keeps them: a
 * netlink_sk_entry in files.img (file_entry.nlsk, fdinfo type NETLINKSK).
 * Kept: the protocol (NETLINK_ROUTE, NETLINK_GENERIC, ...), the bound port
 * id and the first 32 multicast groups (getsockname), the peer port id and
 * group of a connected one (getpeername), SO_SNDBUF/SO_RCVBUF and the
 * timeouts, O_NONBLOCK and the owner. A netlink socket's conversation with
 * the kernel is requests and answers: messages queued on it are dropped (a
 * request in flight gets no answer; logged), as CRIU drops them. Refused,
 * named: membership in a group above 32 (CRIU refuses it too).
 */
#ifndef FERRY_DUMP_NETLINK_SK_H
#define FERRY_DUMP_NETLINK_SK_H

#include <stdint.h>
#include <sys/types.h>

#include "fown.pb-c.h"

struct files_dump;
struct probe;
struct desc;
struct img;
struct fown_v;

/* One netlink socket: its desc's nlsk (free()d with the entry). */
struct nlsk_dump {
	uint32_t ino, protocol, portid, groups, dst_portid, dst_group, connected;
	uint32_t sndbuf, rcvbuf;
	uint64_t snd_tmo_us, rcv_tmo_us;
};

/*
 * files_netlink_add - a new description for netlink socket p of @pid
 * (copied into ferry as @lfd) with owner @fo; *id its file id. Returns 0,
 * -ENOTSUP (logged: pid, fd, socket, why) or -errno.
 */
int files_netlink_add(struct files_dump *d, pid_t pid, const struct probe *p, int lfd,
		      const struct fown_v *fo, uint32_t *id);

/* files_netlink_write - the file_entry of socket description @e into @img. Returns 0 or -errno. */
int files_netlink_write(struct img *img, const struct desc *e, FownEntry *fown);

#endif
