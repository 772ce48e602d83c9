/* SPDX-License-Identifier: MIT */
/* The owner of the other end of a loopback TCP connection (sock_diag). */
#ifndef FERRY_SOCK_PEER_H
#define FERRY_SOCK_PEER_H

/*
 * sock_peer_uid - the uid owning the socket at the other end of connected
 * TCP socket @fd, which must be a connection within this machine (loopback).
 * Returns the uid, or -errno: -ENOENT if no such socket is found (the peer is
 * elsewhere, or gone), -EAFNOSUPPORT if @fd is not TCP over IPv4/IPv6, or
 * the error of the netlink socket.
 */
long sock_peer_uid(int fd);

#endif
