// SPDX-License-Identifier: MIT
/*
 * The tracking watcher (see track_watch.h). A fork of the ferry that armed
 * the tracking, so it needs no program of its own: it closes every fd it
 * inherited, leaves ferry's session and process group (a Ctrl-C for ferry is
 * not for it), and waits in poll() on two fds: a pidfd of the target, and
 * an inotify watch of the tracking state directory.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LOG_PREFIX "trackw: "
#include "log.h"
#include "track_watch.h"
#include "tracker.h"

/* 1 if the state file of @pid is gone. */
static int state_gone(pid_t pid)
{
	char path[128];

	snprintf(path, sizeof(path), TRACK_STATE_DIR "/%d", pid);
	return access(path, F_OK) != 0;
}

static __attribute__((noreturn)) void watch(pid_t pid, int pidfd, int ino)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct pollfd p[2] = { { pidfd, POLLIN, 0 }, { ino, POLLIN, 0 } };

	for (;;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		if (p[0].revents) {
			/* The target ended: its tracking with it (and any other dead one's). */
			tracker_sweep();
			break;
		}
		if (p[1].revents) {
			while (read(ino, buf, sizeof(buf)) > 0)
				;
			if (state_gone(pid))
				break; /* tracking stopped: nothing to watch */
		}
	}
	_exit(0);
}

pid_t track_watch_start(pid_t pid)
{
	int pidfd, ino, err;
	pid_t w;

	pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	if (pidfd < 0) {
		err = -errno;
		pr_warn("pid %d: no watcher for its tracking (pidfd_open: %s): the next ferry "
			"command cleans up after it",
			pid, strerror(-err));
		return err;
	}
	ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (ino < 0 || inotify_add_watch(ino, TRACK_STATE_DIR, IN_DELETE | IN_MOVED_FROM) < 0) {
		err = -errno;
		pr_warn("pid %d: no watcher for its tracking (inotify on %s: %s)", pid,
			TRACK_STATE_DIR, strerror(-err));
		if (ino >= 0)
			close(ino);
		close(pidfd);
		return err;
	}
	fflush(NULL);
	w = fork();
	if (w == 0) {
		sigset_t all;

		int lo = pidfd < ino ? pidfd : ino, hi = pidfd < ino ? ino : pidfd;

		setsid();
		prctl(PR_SET_NAME, "ferry-trackw");
		sigemptyset(&all);
		sigprocmask(SIG_SETMASK, &all, NULL);
		log_init(NULL, LOG_ERROR, 0); /* ferry's log file closed; stderr, closed next */
		/* Only its two fds: nothing of ferry's (pipes, the images, a tty) held open. */
		if (lo > 0)
			syscall(SYS_close_range, 0, lo - 1, 0);
		if (hi > lo + 1)
			syscall(SYS_close_range, lo + 1, hi - 1, 0);
		syscall(SYS_close_range, hi + 1, ~0u, 0);
		watch(pid, pidfd, ino);
	}
	err = w < 0 ? -errno : 0;
	close(pidfd);
	close(ino);
	if (err) {
		pr_warn("pid %d: no watcher for its tracking (fork: %s)", pid, strerror(-err));
		return err;
	}
	pr_debug("pid %d: tracking watcher is pid %d", pid, w);
	return w;
}
