/* SPDX-License-Identifier: MIT */
/*
 * TCP and UDP sockets of a restore (files.h), made in ferry like every other
 * description and inherited by the tree (the fd-sharing machinery gives one
 * socket to every fd and process that shared it). From the inet_sk_entry:
 * socket(family, type, proto); the options that must precede bind
 * (SO_REUSEADDR, SO_REUSEPORT, IPV6_V6ONLY, IP_FREEBIND, SO_BINDTODEVICE);
 * bind to the recorded address and port when it had one; listen with the
 * recorded backlog (a listener) or connect (a connected UDP socket); then the
 * other options (buffers, timeouts, priority, mark, keepalive and its TCP
 * parameters, TCP_NODELAY/CORK, TOS, TTL, linger) and O_NONBLOCK/O_ASYNC.
 * The tree runs only after all of this, so a listener accepts from its
 * first instruction.
 */
#ifndef FERRY_RESTORE_FILES_INET_SK_H
#define FERRY_RESTORE_FILES_INET_SK_H

#include <sys/types.h>

#include "images.h"

/*
 * rfiles_inet_open - make inet socket @fe (first used by fd @fd of @pid) at
 * an fd >= @base and return it. Returns the fd or -errno (logged with pid,
 * fd, socket and address).
 */
int rfiles_inet_open(const FileEntry *fe, pid_t pid, int fd, int base);

/*
 * rfiles_inet_established - the --tcp-established hook: make the socket of
 * an established TCP connection @ie (fd @fd of @pid) and return it.
 * Today it refuses (-ENOTSUP, logged). The tcp-established work fills it:
 * socket(), TCP_REPAIR on, bind to src, TCP_REPAIR_QUEUE + sequence numbers
 * from tcp-stream-<ino>.img (CRIU's tcp_stream_entry), connect to dst (no
 * packet leaves in repair mode), the queues written back, window and
 * options (TCP_REPAIR_OPTIONS, TCP_REPAIR_WINDOW), then repair mode off
 * when the tree resumes. It returns the socket before the common options of
 * rfiles_inet_open() are set.
 */
int rfiles_inet_established(const InetSkEntry *ie, pid_t pid, int fd);

#endif
