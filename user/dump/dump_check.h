/* SPDX-License-Identifier: MIT */
/*
 * The preflight of a dump: every object of a frozen tree that ferry cannot
 * dump and restore, found and named all at once, before anything is written
 * (`ferry dump` refuses with the whole list; `ferry check -t PID` shows it
 * and leaves the tree running).
 */
#ifndef FERRY_DUMP_CHECK_H
#define FERRY_DUMP_CHECK_H

#include <stddef.h>

#include "dump_files.h"
#include "pstree.h"

/*
 * dump_check_tree - look at every process of the frozen tree @t (fds with
 * the options @fo, memory mappings, seccomp) and log each object
 * that cannot be dumped as an error naming its pid and the object (fd, range,
 * thread). Goes on through the whole tree whatever it finds. *@bad (may be
 * NULL) gets the number of processes holding such objects. Returns 0 when the
 * tree can be dumped, -ENOTSUP when it cannot (a last line sums it up), or
 * another -errno when /proc could not be read (logged).
 */
int dump_check_tree(const struct pstree *t, const struct files_dump_opts *fo, size_t *bad);

#endif
