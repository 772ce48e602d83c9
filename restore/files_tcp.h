/* SPDX-License-Identifier: MIT */
/*
 * Established TCP connections in a restore (--tcp-established, docs/tcp.md).
 *
 * Each connection's socket is made in ferry from its inet_sk_entry and
 * tcp-stream-INO.img (user/core/tcp_repair.h) and stays in repair mode, so
 * it sends nothing while the tree is rebuilt; ferry keeps a copy of each.
 * Right before the tree resumes, rfiles_tcp_resume() takes them out of
 * repair mode and removes the locks the dump kept. A restore that fails
 * drops ferry's copies (rfiles_tcp_drop): the sockets die with the killed
 * processes, in repair mode, and the locks stay, so the dump can be
 * restored again. One restore per process: the sockets are this module's
 * state.
 */
#ifndef FERRY_FILES_TCP_H
#define FERRY_FILES_TCP_H

#include <sys/types.h>

#include "sk-inet.pb-c.h"

/*
 * rfiles_tcp_setup - the images directory @dir, and whether the user gave
 * --tcp-established (@allowed; without it an established connection is
 * refused, as CRIU does). With it, the locks of dead ferry processes are
 * dealt with first (netlock_clean_stale).
 */
void rfiles_tcp_setup(const char *dir, int allowed);

/*
 * rfiles_tcp_make - the socket of established connection @ie (fd @fd of
 * @pid), in repair mode. Returns it, or -ENOTSUP without --tcp-established,
 * -EINVAL for a bad image (file and offset logged), or the -errno of the
 * rebuild (logged with pid, fd, socket and addresses).
 */
int rfiles_tcp_make(const InetSkEntry *ie, pid_t pid, int fd);

/*
 * rfiles_tcp_resume - every socket made out of repair mode, then the kept
 * locks of their connections removed. Returns 0 or the first -errno.
 */
int rfiles_tcp_resume(void);

/* rfiles_tcp_drop - a failed restore: ferry's copies closed, the locks kept. */
void rfiles_tcp_drop(void);

#endif
