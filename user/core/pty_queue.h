/* SPDX-License-Identifier: MIT */
/*
 * The bytes a pseudo-terminal pair holds in its queues: the input its
 * slave has not read (written to the master) and the output its master has
 * not read (written to the slave). Both sides need them: the dump takes
 * them out (a terminal has no way to peek) and puts them back if the tree
 * goes on; the restore puts them into the new pair.
 */
#ifndef FERRY_PTY_QUEUE_H
#define FERRY_PTY_QUEUE_H

#include <stddef.h>

/* At most this many bytes each way: n_tty's buffer is 4 KiB. */
#define PTY_QUEUE_MAX 4096

/*
 * pty_queue_put - put @in (@inlen bytes for the slave to read) and @out
 * (@outlen bytes for the master to read) into the pair (@master, @slave).
 * The slave's echo, signal characters and input and output processing are
 * off while they go in (they were processed once already), then its
 * termios is given back (IXON is left alone: a master in packet mode would
 * see its change); in canonical mode the lines stay lines. Waits up
 * to a second for the line discipline to take them. Returns 0 or -errno
 * (not logged).
 */
int pty_queue_put(int master, int slave, const void *in, size_t inlen, const void *out,
		  size_t outlen);

/*
 * pty_queue_take - read what @fd (a master, or a slave) has queued for
 * reading: the FIONREAD count (complete lines in canonical mode), at most
 * PTY_QUEUE_MAX bytes, into @buf; *@len is how many. A master in packet
 * mode is read with packet mode off (no status bytes), then switched back.
 * Returns 0 or -errno (not logged).
 */
int pty_queue_take(int fd, int is_master, void *buf, size_t *len);

#endif
