// SPDX-License-Identifier: MIT
/*
 * Who is at the other end of a TCP connection over loopback: both ends are
 * sockets of this machine, and sock_diag (the interface of ss(8)) names the
 * owner of the other one. And which addresses are loopback ones.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/inet_diag.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>

#include "sock_diag.h"
#include "sock_peer.h"

static int peer_uid(void *arg, const void *msg, size_t len)
{
	if (len < sizeof(struct inet_diag_msg))
		return -EBADMSG;
	*(long *)arg = ((const struct inet_diag_msg *)msg)->idiag_uid;
	return 0;
}

long sock_peer_uid(int fd)
{
	struct sockaddr_storage me, peer;
	socklen_t ml = sizeof(me), pl = sizeof(peer);
	struct inet_diag_req_v2 req = { 0 };
	long uid = -ENOENT;
	int err;

	if (getsockname(fd, (struct sockaddr *)&me, &ml) ||
	    getpeername(fd, (struct sockaddr *)&peer, &pl))
		return -errno;
	req.sdiag_family = (uint8_t)me.ss_family;
	req.sdiag_protocol = IPPROTO_TCP;
	req.idiag_states = ~0u;
	/* The other end's socket: its source is our peer, its destination us. */
	if (me.ss_family == AF_INET) {
		const struct sockaddr_in *m = (void *)&me, *p = (void *)&peer;

		req.id.idiag_sport = p->sin_port;
		req.id.idiag_dport = m->sin_port;
		memcpy(req.id.idiag_src, &p->sin_addr, 4);
		memcpy(req.id.idiag_dst, &m->sin_addr, 4);
	} else if (me.ss_family == AF_INET6) {
		const struct sockaddr_in6 *m = (void *)&me, *p = (void *)&peer;

		req.id.idiag_sport = p->sin6_port;
		req.id.idiag_dport = m->sin6_port;
		memcpy(req.id.idiag_src, &p->sin6_addr, 16);
		memcpy(req.id.idiag_dst, &m->sin6_addr, 16);
	} else {
		return -EAFNOSUPPORT;
	}
	req.id.idiag_cookie[0] = req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
	err = sock_diag_query(&req, sizeof(req), peer_uid, &uid);
	return err ? err : uid;
}

bool sock_addr_loopback(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)sa)->sin_addr.s_addr) >> 24) == 127;
	if (sa->sa_family == AF_INET6) {
		const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;

		return IN6_IS_ADDR_LOOPBACK(a) ||
		       (IN6_IS_ADDR_V4MAPPED(a) && a->s6_addr[12] == 127);
	}
	return false;
}
