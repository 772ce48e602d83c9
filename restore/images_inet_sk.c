// SPDX-License-Identifier: MIT
/*
 * The restore side's image loader, inet and netlink sockets (see images.h):
 * the inet_sk_entry and netlink_sk_entry of files.img checked before
 * anything is made.
 */
#include <errno.h>
#include <stdint.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#define LOG_PREFIX "rimg: "
#include "images.h"
#include "images_priv.h"
#include "img.h"
#include "log.h"

int rimg_check_inet_file(const struct img *img, size_t at, const FileEntry *f)
{
	const InetSkEntry *s = f->isk;
	size_t na = s->family == AF_INET6 ? 4 : 1;
	const char *why = NULL;

	if (s->family != AF_INET && s->family != AF_INET6)
		why = "a family other than AF_INET and AF_INET6";
	else if (!(s->type == SOCK_STREAM && s->proto == IPPROTO_TCP) &&
		 !(s->type == SOCK_DGRAM && s->proto == IPPROTO_UDP))
		why = "a type and protocol other than TCP and UDP";
	else if (s->n_src_addr != na || (s->n_dst_addr && s->n_dst_addr != na))
		why = "addresses of the wrong size for its family";
	else if (s->src_port > 65535 || s->dst_port > 65535)
		why = "a port above 65535";
	else if (s->state != TCP_ESTABLISHED && s->state != TCP_CLOSE && s->state != TCP_LISTEN)
		why = "a state other than established, closed or listening";
	else if (s->state == TCP_LISTEN && s->proto != IPPROTO_TCP)
		why = "a listening UDP socket";
	else if (s->state == TCP_ESTABLISHED && (s->n_dst_addr != na || !s->dst_port))
		why = "a connection without a peer address";
	else if (s->backlog > 65535 * 16)
		why = "an absurd backlog";
	else if (s->has_shutdown && (unsigned)s->shutdown > SK_SHUTDOWN__BOTH)
		why = "an unknown shutdown state";
	else if (s->opts->so_snd_tmo_usec >= 1000000 || s->opts->so_rcv_tmo_usec >= 1000000)
		why = "a timeout with 1000000 or more microseconds";
	else if (s->has_ns_id && s->ns_id)
		why = "a network namespace of its own (ns_id), which ferry does not restore";
	if (!why)
		return 0;
	pr_err("%s: offset %zu: inet socket file id %u (socket:[%u]) has %s", img_name(img), at,
	       f->id, s->ino, why);
	return -EINVAL;
}

int rimg_check_netlink_file(const struct img *img, size_t at, const FileEntry *f)
{
	const NetlinkSkEntry *n = f->nlsk;
	const char *why = NULL;

	if (n->protocol >= 32) /* MAX_LINKS */
		why = "an unknown protocol";
	else if (n->state > 1)
		why = "a state other than unconnected and connected";
	else if (n->n_groups > 1)
		why = "multicast groups above 32";
	else if (n->dst_group > 32)
		why = "a peer group above 32";
	else if (n->opts->so_snd_tmo_usec >= 1000000 || n->opts->so_rcv_tmo_usec >= 1000000)
		why = "a timeout with 1000000 or more microseconds";
	else if (n->has_ns_id && n->ns_id)
		why = "a network namespace of its own (ns_id), which ferry does not restore";
	if (!why)
		return 0;
	pr_err("%s: offset %zu: netlink socket file id %u (socket:[%u]) has %s", img_name(img), at,
	       f->id, n->ino, why);
	return -EINVAL;
}
