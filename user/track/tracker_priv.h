/* SPDX-License-Identifier: MIT */
/*
 * Inside the tracker (tracker.h): what its three files share. tracker_state.c
 * keeps the state between runs (the state file, the BPF pin directory, the
 * sweep of dead processes' leftovers); tracker_uffd.c the userfaultfd parked
 * in the target (made, closed, recognised when a killed ferry lost it);
 * tracker.c arms, reads and re-arms, attaches and stops.
 */
#ifndef FERRY_TRACKER_PRIV_H
#define FERRY_TRACKER_PRIV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "tracker.h"

#define TRK_PAGE 4096ULL
#define TRK_FEATURES (UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED)

/* x86_64 madvise advice values that drop pages. */
#define TRK_MADV_DONTNEED 4
#define TRK_MADV_FREE 8
#define TRK_MADV_REMOVE 9

/* The state file of a tracked process (TRACK_STATE_DIR/PID). */
struct trk_state {
	pid_t pid;
	enum tracker_mode mode;
	uint64_t starttime, last_dev, last_ino;
	int parked_fd, bpf;
	unsigned round;
};

void trk_pin_path(pid_t pid, char *buf, size_t len);
int trk_write_state(const struct tracker *t);
int trk_read_state(pid_t pid, struct trk_state *s);
void trk_remove_state(pid_t pid);
int trk_still_runs(pid_t pid, uint64_t starttime);
void trk_remove_leftovers(pid_t pid, const char *why);
void trk_sweep_once(void);
int trk_state_exists(pid_t pid);
int trk_remote_uffd(pid_t pid);
int trk_remote_close(pid_t pid, int fd);
int trk_is_uffd(int fd);

#endif
