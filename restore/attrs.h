/* SPDX-License-Identifier: MIT */
/*
 * Process attributes of issue "Nothing lost in silence" put back on a process
 * under restore (docs/coverage.md lists what is kept):
 *
 * rattrs_restore() - after its memory is in place and before its creds drop:
 * the audit loginuid (only the process itself may write it: a remote
 * open/write of /proc/self/loginuid, ferry's CAP_AUDIT_CONTROL still its
 * own), PR_SET_THP_DISABLE (mm thp_disabled), the membarrier registrations
 * (core tc membarrier_registration_mask) and the mlock()ed ranges (MAP_LOCKED
 * in a VMA's flags; with --lazy-pages the lock faults them in through the
 * lazy-pages daemon, already serving the process), then the guard regions
 * (images.h: guards) with madvise(MADV_GUARD_INSTALL).
 *
 * rattrs_stop() - the last step before the detach: a process dumped stopped
 * (core tc task_state TASK_STOPPED) gets SIGSTOP queued while it is still
 * traced, so the first thing it does when it resumes is stop again.
 */
#ifndef FERRY_RESTORE_ATTRS_H
#define FERRY_RESTORE_ATTRS_H

#include "images.h"
#include "rtask.h"

int rattrs_restore(struct rtask *t);
int rattrs_stop(struct rtask *t);

#endif
