/* SPDX-License-Identifier: MIT */
/*
 * pidfds of the dump (CRIU's pidfd_entry), made again (pidfd.c): one of a
 * process of the tree is opened by the process that holds it, once the
 * process it refers to exists (pidfd_open(2) needs it); one of a dead
 * process is made by ferry, on a child it lets die and reaps.
 */
#ifndef FERRY_RESTORE_PIDFD_H
#define FERRY_RESTORE_PIDFD_H

#include <stddef.h>
#include <sys/types.h>

#include "images.h"

struct rfd_plan;

/*
 * rpidfd_dead - a pidfd of a dead, reaped process, with @fe's flags, above
 * @base, for fd @fd of @pid. Returns the fd or -errno (logged).
 */
int rpidfd_dead(const FileEntry *fe, pid_t pid, int fd, int base);

/*
 * rpidfd_place - in the shell of @pid: put a pidfd of plan entry @k of
 * @plan (pidfd_pid set) at its fd, a dup of an earlier entry of the same
 * description if there is one, else pidfd_open(2) of its pid, waiting up to
 * a second for that process to be made. Returns 0 or -errno, the reason in
 * @msg.
 */
int rpidfd_place(const struct rfd_plan *plan, size_t k, pid_t pid, char *msg, size_t size);

/*
 * rimg_check_pidfd - is pidfd entry @f, at @at of @img, one restore can
 * make: its pid -1 or one of the tree's, flags O_NONBLOCK at most? 0 or
 * -EINVAL (logged with file and offset).
 */
int rimg_check_pidfd(const struct rimg *r, const struct img *img, size_t at, const FileEntry *f);

#endif
