/* SPDX-License-Identifier: MIT */
/* One request to sock_diag (NETLINK_SOCK_DIAG, the interface of ss(8)), one answer. */
#ifndef FERRY_SOCK_DIAG_H
#define FERRY_SOCK_DIAG_H

#include <stddef.h>

/*
 * sock_diag_query - send the SOCK_DIAG_BY_FAMILY request @req (@req_len
 * octets: an inet_diag_req_v2, a unix_diag_req, ...; the netlink header is
 * added here) and hand the payload of the first answer to @fn, whose result
 * is returned. Returns -ENOENT when the kernel knows no such socket (or
 * answers nothing), the kernel's -errno when it answers an error, or the
 * -errno of the netlink socket.
 */
int sock_diag_query(const void *req, size_t req_len,
		    int (*fn)(void *arg, const void *msg, size_t len), void *arg);

#endif
