// SPDX-License-Identifier: MIT
/*
 * Netlink sockets of the fd dumper (see dump_netlink_sk.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/ioctl.h>
#include <sys/time.h>
#include <linux/netlink.h>

#define LOG_PREFIX "files: "
#include "log.h"
#include "img.h"
#include "dump_files.h"
#include "dump_files_priv.h"
#include "dump_netlink_sk.h"

#include "fdinfo.pb-c.h"
#include "sk-netlink.pb-c.h"
#include "sk-opts.pb-c.h"

#ifndef NETLINK_LIST_MEMBERSHIPS
#define NETLINK_LIST_MEMBERSHIPS 9
#endif

static int get_u32(int lfd, int level, int opt, uint32_t *v)
{
	int i = 0;
	socklen_t l = sizeof(i);

	if (getsockopt(lfd, level, opt, &i, &l))
		return -errno;
	*v = (uint32_t)i;
	return 0;
}

static int get_tmo(int lfd, int opt, uint64_t *us)
{
	struct timeval tv = { 0 };
	socklen_t l = sizeof(tv);

	if (getsockopt(lfd, SOL_SOCKET, opt, &tv, &l))
		return -errno;
	*us = (uint64_t)tv.tv_sec * 1000000u + (uint64_t)tv.tv_usec;
	return 0;
}

/* Everything about @lfd into @s; -ENOTSUP (logged) for groups above 32. */
static int nl_read(pid_t pid, const struct probe *p, int lfd, struct nlsk_dump *s)
{
	struct sockaddr_nl a = { 0 };
	socklen_t l = sizeof(a);
	uint32_t groups[8] = { 0 };
	socklen_t gl = sizeof(groups);
	int ret;

	ret = get_u32(lfd, SOL_SOCKET, SO_PROTOCOL, &s->protocol);
	if (!ret && getsockname(lfd, (struct sockaddr *)&a, &l))
		ret = -errno;
	if (ret)
		return ret;
	s->portid = a.nl_pid;
	s->groups = a.nl_groups;
	l = sizeof(a);
	memset(&a, 0, sizeof(a));
	if (!getpeername(lfd, (struct sockaddr *)&a, &l) && (a.nl_pid || a.nl_groups)) {
		s->connected = 1;
		s->dst_portid = a.nl_pid;
		s->dst_group = a.nl_groups ? (uint32_t)__builtin_ctz(a.nl_groups) + 1 : 0;
	}
	if (!getsockopt(lfd, SOL_NETLINK, NETLINK_LIST_MEMBERSHIPS, groups, &gl)) {
		for (size_t i = 1; i < sizeof(groups) / sizeof(groups[0]); i++)
			if (groups[i]) {
				pr_err("pid %d fd %d: %s (AF_NETLINK, protocol %u) is a member of a multicast group above 32: not supported",
				       pid, p->fd, p->link, s->protocol);
				return -ENOTSUP;
			}
		s->groups |= groups[0];
	}
	ret = get_u32(lfd, SOL_SOCKET, SO_SNDBUF, &s->sndbuf);
	if (!ret)
		ret = get_u32(lfd, SOL_SOCKET, SO_RCVBUF, &s->rcvbuf);
	if (!ret)
		ret = get_tmo(lfd, SO_SNDTIMEO, &s->snd_tmo_us);
	if (!ret)
		ret = get_tmo(lfd, SO_RCVTIMEO, &s->rcv_tmo_us);
	return ret;
}

int files_netlink_add(struct files_dump *d, pid_t pid, const struct probe *p, int lfd,
		      const struct fown_v *fo, uint32_t *id)
{
	struct nlsk_dump *s = calloc(1, sizeof(*s));
	struct desc *e;
	char b;
	int ret;

	if (!s)
		return -ENOMEM;
	s->ino = (uint32_t)p->st.st_ino;
	ret = nl_read(pid, p, lfd, s);
	if (ret) {
		if (ret != -ENOTSUP)
			pr_errno(ret, "pid %d fd %d: %s: cannot read the netlink socket", pid,
				 p->fd, p->link);
		goto err;
	}
	if (recv(lfd, &b, 1, MSG_PEEK | MSG_DONTWAIT | MSG_TRUNC) >= 0)
		pr_info("pid %d fd %d: %s (AF_NETLINK, protocol %u): its queued messages are dropped",
			pid, p->fd, p->link, s->protocol);
	e = files_desc_new(d, FD_TYPES__NETLINKSK, SRC_FD, pid, p, fo);
	if (!e) {
		ret = -ENOMEM;
		goto err;
	}
	e->nlsk = s;
	*id = e->id;
	return 0;
err:
	free(s);
	return ret;
}

int files_netlink_write(struct img *img, const struct desc *e, FownEntry *fown)
{
	FileEntry fe = FILE_ENTRY__INIT;
	NetlinkSkEntry ne = NETLINK_SK_ENTRY__INIT;
	SkOptsEntry so = SK_OPTS_ENTRY__INIT;
	const struct nlsk_dump *s = e->nlsk;
	uint32_t groups = s->groups;

	so.so_sndbuf = s->sndbuf;
	so.so_rcvbuf = s->rcvbuf;
	so.so_snd_tmo_sec = s->snd_tmo_us / 1000000u;
	so.so_snd_tmo_usec = s->snd_tmo_us % 1000000u;
	so.so_rcv_tmo_sec = s->rcv_tmo_us / 1000000u;
	so.so_rcv_tmo_usec = s->rcv_tmo_us % 1000000u;
	ne.id = e->id;
	ne.ino = s->ino;
	ne.protocol = s->protocol;
	ne.state = s->connected ? 1 : 0; /* the kernel's NETLINK_CONNECTED */
	ne.flags = e->flags;
	ne.portid = s->portid;
	ne.n_groups = groups ? 1 : 0;
	ne.groups = &groups;
	ne.dst_portid = s->dst_portid;
	ne.dst_group = s->dst_group;
	ne.fown = fown;
	ne.opts = &so;
	fe.type = FD_TYPES__NETLINKSK;
	fe.id = e->id;
	fe.nlsk = &ne;
	return img_write_entry(img, &fe.base);
}
