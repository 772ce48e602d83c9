/* SPDX-License-Identifier: MIT */
/* The owner of the other end of a loopback TCP connection (sock_diag); loopback addresses. */
#ifndef FERRY_SOCK_PEER_H
#define FERRY_SOCK_PEER_H

#include <stdbool.h>

struct sockaddr;

/*
 * sock_peer_uid - the uid owning the socket at the other end of connected
 * TCP socket @fd, which must be a connection within this machine (loopback).
 * Returns the uid, or -errno: -ENOENT if no such socket is found (the peer is
 * elsewhere, or gone), -EAFNOSUPPORT if @fd is not TCP over IPv4/IPv6, or
 * the error of the netlink socket.
 */
long sock_peer_uid(int fd);

/* sock_addr_loopback - whether @sa is in 127.0.0.0/8, ::1 or ::ffff:127.0.0.0/104. */
bool sock_addr_loopback(const struct sockaddr *sa);

#endif
