/* SPDX-License-Identifier: MIT */
/*
 * AIO contexts of the dump (CRIU's aio_ring_entry in mm.img), made again
 * (aio.c): the process itself calls io_setup(2) (a remote syscall), and the
 * new ring is moved with mremap(2) over the placeholder the dumped ring's
 * VMA got, so that its context id (the ring's address) is the dumped one.
 * Only empty rings are dumped (dump_aio.c), so a fresh one is the same.
 */
#ifndef FERRY_RESTORE_AIO_H
#define FERRY_RESTORE_AIO_H

#include "images.h"
#include "rtask.h"

/*
 * rimg_check_aios - every aio_ring_entry of @p's mm (file @name of @dir) is
 * on a VMA of status VMA_AREA_AIORING of its length, with events to ask
 * for; and every such VMA has one. 0 or -EINVAL (logged with the file).
 */
int rimg_check_aios(const char *dir, const char *name, const struct rimg_proc *p);

/*
 * raio_restore - after the VMAs are mapped: each AIO context of @t again at
 * its address. Returns 0 or -errno (logged with pid and context).
 */
int raio_restore(struct rtask *t);

#endif
