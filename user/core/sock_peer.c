// SPDX-License-Identifier: MIT
/*
 * Who is at the other end of a TCP connection over loopback: both ends are
 * sockets of this machine, and sock_diag (the interface of ss(8)) names the
 * owner of the other one.
 */
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sock_peer.h"

long sock_peer_uid(int fd)
{
	struct sockaddr_storage me, peer;
	socklen_t ml = sizeof(me), pl = sizeof(peer);
	struct {
		struct nlmsghdr nh;
		struct inet_diag_req_v2 req;
	} q = { 0 };
	union {
		struct nlmsghdr nh;
		char buf[8192];
	} a;
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	long uid = -ENOENT;
	ssize_t n;
	int s;

	if (getsockname(fd, (struct sockaddr *)&me, &ml) ||
	    getpeername(fd, (struct sockaddr *)&peer, &pl))
		return -errno;
	q.nh.nlmsg_len = sizeof(q);
	q.nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
	q.nh.nlmsg_flags = NLM_F_REQUEST;
	q.req.sdiag_family = (uint8_t)me.ss_family;
	q.req.sdiag_protocol = IPPROTO_TCP;
	q.req.idiag_states = ~0u;
	/* The other end's socket: its source is our peer, its destination us. */
	if (me.ss_family == AF_INET) {
		const struct sockaddr_in *m = (void *)&me, *p = (void *)&peer;

		q.req.id.idiag_sport = p->sin_port;
		q.req.id.idiag_dport = m->sin_port;
		memcpy(q.req.id.idiag_src, &p->sin_addr, 4);
		memcpy(q.req.id.idiag_dst, &m->sin_addr, 4);
	} else if (me.ss_family == AF_INET6) {
		const struct sockaddr_in6 *m = (void *)&me, *p = (void *)&peer;

		q.req.id.idiag_sport = p->sin6_port;
		q.req.id.idiag_dport = m->sin6_port;
		memcpy(q.req.id.idiag_src, &p->sin6_addr, 16);
		memcpy(q.req.id.idiag_dst, &m->sin6_addr, 16);
	} else {
		return -EAFNOSUPPORT;
	}
	q.req.id.idiag_cookie[0] = q.req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	s = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (s < 0)
		return -errno;
	if (sendto(s, &q, sizeof(q), 0, (struct sockaddr *)&nl, sizeof(nl)) != sizeof(q)) {
		uid = -errno;
		goto out;
	}
	n = recv(s, &a, sizeof(a), 0);
	if (n < 0) {
		uid = -errno;
		goto out;
	}
	for (struct nlmsghdr *h = &a.nh; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(h);

			uid = e->error ? e->error : -ENOENT;
			break;
		}
		if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
			uid = ((const struct inet_diag_msg *)NLMSG_DATA(h))->idiag_uid;
			break;
		}
	}
out:
	close(s);
	return uid;
}
