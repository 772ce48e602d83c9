/* SPDX-License-Identifier: MIT */
/*
 * Unix sockets of a restore (files.h), made in ferry like every other
 * description and inherited by the tree:
 * - two sockets connected to each other (a socketpair, or both ends of an
 *   accepted connection) become one socketpair() of their type; each end
 *   is handed to its own file entry, so both owners get theirs;
 * - a listening socket is bound again to its name (a stale socket file at
 *   its path is unlinked first; any other file there is an error) and
 *   listens with its backlog;
 * - a bound socket that is not connected is bound again; an unnamed one is
 *   a new socket of its type;
 * - a connected socket whose peer was gone at the dump is a socketpair whose
 *   other end is closed (it reads its queue, then end-of-file);
 * - a connection not accepted yet at the dump (its entry names the listener
 *   as peer) connects to the listener again, the listener made first: the
 *   tree accepts it after the restore;
 * - a socket whose peer was outside the tree (an entry with USK_EXTERN)
 *   connects to that peer's name again with ext_unix_sk (--ext-unix-sk),
 *   or is refused naming the option; one whose outside peer had no name
 *   needs --inherit-fd fd[N]:socket:[INO] (handled by files.c).
 * The messages of sk-queues.img are sent back into each socket's receive
 * queue from its peer (or, for a bound datagram socket, from a temporary
 * socket), one send per message: datagram boundaries are kept. Then the
 * options (buffer sizes, SO_PASSCRED, timeouts), the shutdown state and
 * O_NONBLOCK are set. The senders' credentials of queued messages
 * (SCM_CREDENTIALS) are not kept: ferry sends them again, so they are
 * ferry's.
 */
#ifndef FERRY_RESTORE_FILES_UNIX_SK_H
#define FERRY_RESTORE_FILES_UNIX_SK_H

#include <sys/types.h>

#include "images.h"

/*
 * rfiles_unix_open - make unix socket r->files[@idx] (first used by fd @fd
 * of @pid) at an fd >= @base and return it; for a connected pair, the peer's
 * end goes to tmp[peer's index] too, and so does a listener made first for a
 * pending connection. @ext_unix_sk: connect to peers outside the tree. Returns the fd or -errno
 * (logged with pid, fd, socket and name).
 */
int rfiles_unix_open(const struct rimg *r, long idx, int *tmp, pid_t pid, int fd, int base,
		     int ext_unix_sk);

#endif
