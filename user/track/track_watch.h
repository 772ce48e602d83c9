/* SPDX-License-Identifier: MIT */
/*
 * The watcher that ends tracking when its target ends: without it the BPF
 * programs a tracker pinned on system-wide tracepoints, and its state file,
 * would stay until some later ferry command looked (and every syscall of the
 * machine would pay for them meanwhile).
 */
#ifndef FERRY_TRACK_WATCH_H
#define FERRY_TRACK_WATCH_H

#include <sys/types.h>

/*
 * track_watch_start - start a small process, "ferry-trackw", in a session of
 * its own, that waits on a pidfd of @pid and on the tracking state file of
 * @pid: when the process ends first, it removes what its tracking left
 * (tracker_sweep) and exits; when the state file goes first (tracking
 * stopped), it just exits. If ferry cannot start it, tracking still works
 * and the next ferry command sweeps. Returns the watcher's pid or -errno.
 */
pid_t track_watch_start(pid_t pid);

#endif
