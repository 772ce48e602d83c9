/* SPDX-License-Identifier: MIT */
/*
 * Pseudo-terminals whose master the dump holds, made again (see pty.c):
 * a new pair per dumped one, on the same index when it is free, with the
 * slave's termios, locked termios and window size, the master's packet
 * mode and lock, the bytes queued each way, and the session it is the
 * controlling terminal of (with its foreground group).
 */
#ifndef FERRY_RESTORE_PTY_H
#define FERRY_RESTORE_PTY_H

#include <sys/types.h>

#include "images.h"

struct rfiles;

/* One pair, both ends held by ferry (above the dumped fds) until the tree has them. */
struct rpty {
	uint32_t index;	 /* the dumped index */
	uint32_t now;	 /* the index it has now */
	int master;	 /* ferry's master */
	int slave;	 /* ferry's own slave (O_NOCTTY), for TIOCSCTTY */
	int master_used; /* a file entry has the master's description */
};

/*
 * rpty_open - a description for TTY entry @fe of a pair (rimg_tty_pair),
 * for fd @fd of @pid, above f->base: the pair's master, or a new
 * description of its slave with the entry's flags. The first entry of a
 * pair makes the pair. Returns the fd or -errno (logged with pid and fd).
 */
int rpty_open(struct rfiles *f, const struct rimg *r, const FileEntry *fe, pid_t pid, int fd);

/*
 * rpty_finish - once every description is open: lock the pairs that were
 * locked, and say which session leader takes which pair as its controlling
 * terminal (f->ctty, f->ctty_pgrp). Returns 0 or -errno (logged).
 */
int rpty_finish(struct rfiles *f, const struct rimg *r);

/*
 * rpty_take_ctty - in a restored session leader: make @fd (its pair's slave)
 * its controlling terminal, then @pgrp (0: its own) the foreground group,
 * waiting up to a second for the group to exist. Returns 0 or -errno, with
 * the reason in @msg.
 */
int rpty_take_ctty(int fd, pid_t pgrp, pid_t pid, char *msg, size_t size);

/* rpty_close - close ferry's ends of every pair. */
void rpty_close(struct rfiles *f);

#endif
