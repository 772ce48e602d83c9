// SPDX-License-Identifier: MIT
/*
 * Netlink sockets of a restore (see files_netlink_sk.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <linux/netlink.h>

#define LOG_PREFIX "restore: "
#include "files_netlink_sk.h"
#include "log.h"

static int set_int(int sk, int opt, int v)
{
	return setsockopt(sk, SOL_SOCKET, opt, &v, sizeof(v)) ? -errno : 0;
}

static int set_tmo(int sk, int opt, uint64_t sec, uint64_t usec)
{
	struct timeval tv = { .tv_sec = (time_t)sec, .tv_usec = (suseconds_t)usec };

	return setsockopt(sk, SOL_SOCKET, opt, &tv, sizeof(tv)) ? -errno : 0;
}

int rfiles_netlink_open(const FileEntry *fe, pid_t pid, int fd, int base)
{
	const NetlinkSkEntry *n = fe->nlsk;
	const SkOptsEntry *o = n->opts;
	struct sockaddr_nl a = { .nl_family = AF_NETLINK };
	const char *step = "make";
	int sk, nfd, err = 0;

	sk = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, (int)n->protocol);
	if (sk < 0) {
		err = -errno;
		goto fail;
	}
	if (n->portid || n->n_groups) {
		step = "bind";
		a.nl_pid = n->portid;
		a.nl_groups = n->n_groups ? n->groups[0] : 0;
		if (bind(sk, (struct sockaddr *)&a, sizeof(a))) {
			err = -errno;
			if (err == -EADDRINUSE && a.nl_pid) {
				pr_info("pid %d fd %d: netlink socket:[%u]: port id %u is taken: bound to a new one",
					pid, fd, n->ino, n->portid);
				a.nl_pid = 0;
				err = bind(sk, (struct sockaddr *)&a, sizeof(a)) ? -errno : 0;
			}
		}
	}
	if (!err && n->state == 1) {
		struct sockaddr_nl d = { .nl_family = AF_NETLINK, .nl_pid = n->dst_portid };

		step = "connect";
		if (n->dst_group)
			d.nl_groups = 1u << (n->dst_group - 1);
		if (connect(sk, (struct sockaddr *)&d, sizeof(d)))
			err = -errno;
	}
	if (!err) {
		step = "set the options and flags of";
		if (set_int(sk, SO_SNDBUFFORCE, (int)(o->so_sndbuf / 2)))
			set_int(sk, SO_SNDBUF, (int)(o->so_sndbuf / 2));
		if (set_int(sk, SO_RCVBUFFORCE, (int)(o->so_rcvbuf / 2)))
			set_int(sk, SO_RCVBUF, (int)(o->so_rcvbuf / 2));
		err = set_tmo(sk, SO_SNDTIMEO, o->so_snd_tmo_sec, o->so_snd_tmo_usec);
		if (!err)
			err = set_tmo(sk, SO_RCVTIMEO, o->so_rcv_tmo_sec, o->so_rcv_tmo_usec);
		if (!err && fcntl(sk, F_SETFL, (int)(n->flags & (O_NONBLOCK | O_ASYNC))) < 0)
			err = -errno;
	}
	if (err)
		goto fail;
	nfd = fcntl(sk, F_DUPFD_CLOEXEC, base);
	err = nfd < 0 ? -errno : 0;
	close(sk);
	sk = -1;
	if (!err)
		return nfd;
	step = "move above the fds of the tree";
fail:
	pr_errno(err, "pid %d fd %d: cannot %s netlink socket:[%u] (protocol %u, port id %u)", pid,
		 fd, step, n->ino, n->protocol, n->portid);
	if (sk >= 0)
		close(sk);
	return err;
}
