/* SPDX-License-Identifier: MIT */
/*
 * Netlink sockets of a restore (files.h): socket(AF_NETLINK, SOCK_RAW,
 * protocol) (the entry has no type: CRIU makes them SOCK_RAW too, and the
 * kernel treats SOCK_DGRAM the same), bound to the recorded port id and
 * groups (a port id taken meanwhile: bound to a new one, logged), connected
 * to the recorded peer, then buffers, timeouts and O_NONBLOCK. Queued
 * messages were dropped by the dump.
 */
#ifndef FERRY_RESTORE_FILES_NETLINK_SK_H
#define FERRY_RESTORE_FILES_NETLINK_SK_H

#include <sys/types.h>

#include "images.h"

/*
 * rfiles_netlink_open - make netlink socket @fe (first used by fd @fd of
 * @pid) at an fd >= @base. Returns the fd or -errno (logged with pid, fd
 * and socket).
 */
int rfiles_netlink_open(const FileEntry *fe, pid_t pid, int fd, int base);

#endif
