/* SPDX-License-Identifier: MIT */
/*
 * The SysV segment a dump leaves behind. A segment not marked IPC_RMID
 * outlives its processes: after `ferry dump` killed the tree (PostgreSQL's
 * postmaster keeps such a segment as its interlock), the key is still on the
 * host, unattached, and a restore on the same host would find it taken. It
 * is the dumped segment, not another program's, when nothing has touched it
 * since the tree died: the same id, size, owner and mode, no process
 * attached, and both its creator and the last process that attached or
 * detached it (shm_cpid, shm_lpid) are processes of the dump, whose pids are
 * free now (restore checked). Then it is removed (IPC_RMID: destroyed at
 * once, nobody has it) and made again from the images. Anything else keeps
 * the refusal: the key is somebody's.
 */
#ifndef FERRY_RESTORE_SHMEM_SYSV_LEFT_H
#define FERRY_RESTORE_SHMEM_SYSV_LEFT_H

#include "images.h"
#include "ipc-shm.pb-c.h"

/*
 * rshmem_sysv_remove_left - segment @id holds the key of dumped segment @e:
 * remove it if it is the one the dumped tree left (returns 1), else say why
 * it is not (logged) and return 0; -errno if the kernel fails us.
 */
int rshmem_sysv_remove_left(const struct rimg *r, const IpcShmEntry *e, int id);

#endif
