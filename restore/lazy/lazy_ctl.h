/* SPDX-License-Identifier: MIT */
/* The messages restore sends its lazy-pages daemon (lazy.c, lazy_daemon.c). */
#ifndef FERRY_RESTORE_LAZY_CTL_H
#define FERRY_RESTORE_LAZY_CTL_H

#include <stdint.h>
#include <linux/userfaultfd.h>

enum {
	LAZY_REG = 1, /* + SCM_RIGHTS { pidfd[, uffd] } of process .pid */
	LAZY_GO = 2,  /* the tree runs */
};

struct lazy_ctl {
	uint32_t type;
	int32_t pid;
	uint32_t has_uffd; /* it has lazy memory: its uffd follows the pidfd */
};

/*
 * The daemon -> holder messages (lazy_holder.c), on a SOCK_SEQPACKET pair: the
 * holder keeps a copy of every userfaultfd and the journal of what changed
 * the daemon's index, so that a new daemon (`ferry lazy-pages --attach`) can
 * rebuild it. Replayed in the same form, in order, to an attaching daemon,
 * then LH_ATTACHED.
 */
enum {
	LH_MM = 1,	 /* new address space .mm: .pid, .src_pid, .parent (fork) or -1;
			  * + SCM_RIGHTS { uffd[, pidfd] } */
	LH_EVENT = 2,	 /* .ev (remap/remove/unmap) happened in address space .mm */
	LH_RELEASE = 3,	 /* address space .mm let go (all in, exited or killed) */
	LH_END = 4,	 /* the daemon is over: every page in, or it killed who lacked pages */
	LH_ATTACHED = 5, /* holder -> new daemon: the journal is replayed */
};

/* .fds of LH_MM: which descriptors follow, in this order. */
#define LH_FD_UFFD 1
#define LH_FD_PIDFD 2

struct lazy_hmsg {
	uint32_t type;
	int32_t mm;
	int32_t pid;
	int32_t src_pid;
	int32_t parent;
	int32_t fds; /* LH_FD_* */
	struct uffd_msg ev;
};

#endif
