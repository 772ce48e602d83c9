// SPDX-License-Identifier: MIT
/* The SysV segment a dump leaves behind (see shmem_sysv_left.h). */
#include <errno.h>
#include <sys/shm.h>

#define LOG_PREFIX "shmem: "
#include "log.h"
#include "shmem_sysv_left.h"

static int dumped_pid(const struct rimg *r, pid_t pid)
{
	for (size_t i = 0; i < r->nr_procs; i++)
		if (r->procs[i].pid == pid)
			return 1;
	return 0;
}

int rshmem_sysv_remove_left(const struct rimg *r, const IpcShmEntry *e, int id)
{
	const IpcDescEntry *d = e->desc;
	struct shmid_ds ds;
	const char *why = NULL;
	int err = 0;

	if (shmctl(id, IPC_STAT, &ds)) {
		err = -errno;
		pr_errno(err, "SysV segment %d (key %#x): cannot read its state", id, d->key);
		return err;
	}
	if ((uint32_t)id != d->id)
		why = "another id: the key was made again since the dump";
	else if (ds.shm_nattch)
		why = "attached by a process now";
	else if (ds.shm_segsz != e->size || ds.shm_perm.uid != d->uid ||
		 ds.shm_perm.gid != d->gid || (ds.shm_perm.mode & 0777) != (d->mode & 0777))
		why = "another size, owner or mode than the dumped one";
	else if (!dumped_pid(r, ds.shm_cpid) || !dumped_pid(r, ds.shm_lpid))
		why = "made or last attached by a process that is not of the dump";
	if (why) {
		pr_err("SysV segment %u: the segment of key %#x now (id %d, %lu process(es) "
		       "attached, created by pid %d, last attached or detached by pid %d) is not "
		       "the one the dump left: %s",
		       d->id, d->key, id, (unsigned long)ds.shm_nattch, ds.shm_cpid, ds.shm_lpid,
		       why);
		return 0;
	}
	if (shmctl(id, IPC_RMID, NULL)) {
		err = -errno;
		pr_errno(err, "SysV segment %d (key %#x): cannot remove the one the dump left", id,
			 d->key);
		return err;
	}
	pr_info("SysV segment %d (key %#x): left by the dumped tree (created by pid %d, nobody "
		"attached since it died): removed, made again from the images",
		id, d->key, ds.shm_cpid);
	return 1;
}
