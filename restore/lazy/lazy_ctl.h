/* SPDX-License-Identifier: MIT */
/* The messages restore sends its lazy-pages daemon (lazy.c, lazy_daemon.c). */
#ifndef FERRY_RESTORE_LAZY_CTL_H
#define FERRY_RESTORE_LAZY_CTL_H

#include <stdint.h>

enum {
	LAZY_REG = 1, /* + SCM_RIGHTS { pidfd[, uffd] } of process .pid */
	LAZY_GO = 2,  /* the tree runs */
};

struct lazy_ctl {
	uint32_t type;
	int32_t pid;
	uint32_t has_uffd; /* it has lazy memory: its uffd follows the pidfd */
};

#endif
