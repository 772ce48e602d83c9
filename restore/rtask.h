/* SPDX-License-Identifier: MIT */
/*
 * What the restore steps share about one process under construction: its
 * image model, its threads as ferry sees them, and the scratch mapping used
 * to run system calls inside it.
 *
 * The scratch mapping is two pages at an address that no dumped VMA uses:
 * the first holds "syscall; int3" and is the injection site of every remote
 * call (rsys_prepare_at: only the syscall runs, the engine stops the thread
 * at its exit; the int3 is never reached), the second is where arguments
 * (paths, structs) are written before a call. It is unmapped last, from the
 * restored vDSO.
 */
#ifndef FERRY_RESTORE_RTASK_H
#define FERRY_RESTORE_RTASK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "images.h"

#define RT_PAGE 4096ul
#define RT_SCRATCH_SIZE (2 * RT_PAGE)
#define RT_DATA_SIZE RT_PAGE

struct rtask {
	const struct rimg_proc *ip; /* the images of this process */
	pid_t pid;
	size_t nr_seized; /* threads seized and stopped so far (threads[0] first) */
	uint64_t scratch; /* code page; the data page follows */
	int lazy;	  /* lazy restore: private anonymous pages are left to the daemon */
};

/* The address of byte @off of the data page. */
static inline uint64_t rt_data(const struct rtask *t, size_t off)
{
	return t->scratch + RT_PAGE + off;
}

/*
 * rt_call - run syscall @nr in thread @tid of @t through the scratch code
 * page. A negative result in the target is logged as "@what failed" with
 * the pid and returned; *ret (if not NULL) gets a non-negative result.
 * Returns 0, the syscall's -errno, or an engine -errno.
 */
int rt_call(struct rtask *t, pid_t tid, const char *what, long *ret, long nr, uint64_t a0,
	    uint64_t a1, uint64_t a2, uint64_t a3, uint64_t a4, uint64_t a5);

/* rt_put - copy @len bytes to byte @off of the data page. Returns 0 or -errno. */
int rt_put(struct rtask *t, size_t off, const void *buf, size_t len);

#endif
