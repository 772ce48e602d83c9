// SPDX-License-Identifier: MIT
/* One sock_diag request and its answer (sock_diag.h). */
#include <errno.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "sock_diag.h"

int sock_diag_query(const void *req, size_t req_len,
		    int (*fn)(void *arg, const void *msg, size_t len), void *arg)
{
	const size_t hdr = (size_t)NLMSG_HDRLEN;
	struct nlmsghdr nh = { .nlmsg_len = (__u32)(hdr + req_len),
			       .nlmsg_type = SOCK_DIAG_BY_FAMILY,
			       .nlmsg_flags = NLM_F_REQUEST };
	struct sockaddr_nl nl = { .nl_family = AF_NETLINK };
	struct iovec iov[2] = { { .iov_base = &nh, .iov_len = hdr },
				{ .iov_base = (void *)req, .iov_len = req_len } };
	struct msghdr mh = {
		.msg_name = &nl, .msg_namelen = sizeof(nl), .msg_iov = iov, .msg_iovlen = 2
	};
	union {
		struct nlmsghdr nh;
		char buf[8192];
	} a;
	int s, ret = -ENOENT;
	ssize_t n;

	s = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (s < 0)
		return -errno;
	if (sendmsg(s, &mh, 0) != (ssize_t)(hdr + req_len)) {
		ret = -errno;
		goto out;
	}
	n = recv(s, &a, sizeof(a), 0);
	if (n < 0) {
		ret = -errno;
		goto out;
	}
	for (struct nlmsghdr *h = &a.nh; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
		if (h->nlmsg_type == NLMSG_ERROR) {
			const struct nlmsgerr *e = NLMSG_DATA(h);

			ret = e->error ? e->error : -ENOENT;
			break;
		}
		if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
			ret = fn(arg, NLMSG_DATA(h), h->nlmsg_len - hdr);
			break;
		}
	}
out:
	close(s);
	return ret;
}
