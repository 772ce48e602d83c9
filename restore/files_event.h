/* SPDX-License-Identifier: MIT */
/*
 * The event fds of a restore (files.h): eventfd, signalfd and timerfd are
 * made in ferry with their dumped state, like every other description, and
 * reach the tree by inheritance. An epoll is made empty in ferry; its
 * targets are added by the process of the tree that registers them, in its
 * shell, once every fd of that process is in place (epoll keys a target by
 * file and fd number: the fd must be the process's own). Registering a
 * ready target queues its event again, for edge-triggered ones too, as the
 * kernel does for any new registration.
 *
 * Which process registers: the first of the tree (pstree order) holding the
 * epoll, the one the dump read the targets from (dump_events.h).
 *
 * A timerfd is made disarmed and armed last, just before the tree resumes
 * (rfiles_event_arm_timers): the time it had left counts from then, not
 * from before the memory was written back.
 */
#ifndef FERRY_RESTORE_FILES_EVENT_H
#define FERRY_RESTORE_FILES_EVENT_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "images.h"

/* One epoll_ctl(EPOLL_CTL_ADD) a shell makes. */
struct repoll_add {
	int epfd, tfd;
	uint32_t events;
	uint64_t data;
	uint32_t file_id; /* the epoll's, for messages */
};

/* A timerfd to arm before the tree resumes: ferry's own fd on its description. */
struct rtimer {
	int lfd;
	const TimerfdEntry *e;
	pid_t pid; /* the first fd of the dump using it, for messages */
	int fd;
};

/*
 * rfiles_event_open - make the description of event entry @fe (EVENTFD,
 * EVENTPOLL, SIGNALFD, TIMERFD) in ferry at an fd >= @base: its counter,
 * mask, clock, flags; a timerfd disarmed, for rfiles_event_arm_timer().
 * @pid and @fd (the first fd of the dump using it) name it in messages.
 * Returns the fd, or -errno (logged); -ENOTSUP for another type.
 */
int rfiles_event_open(const FileEntry *fe, pid_t pid, int fd, int base);

/*
 * rfiles_event_arm_timer - arm timerfd @t with the time it had left at the
 * dump, counted from now (TFD_TIMER_ABSTIME kept: the deadline is now + that
 * time), and give it back its unread expirations. Returns 0 or -errno
 * (logged with pid and fd).
 */
int rfiles_event_arm_timer(const struct rtimer *t);

/*
 * rfiles_event_keep_timer - append timerfd @lfd (made for entry @e, first
 * used by fd @fd of @pid) to *@t (*@n of them), as a copy of @lfd at @base or
 * above, to arm it later. Returns 0 or -errno (logged).
 */
int rfiles_event_keep_timer(struct rtimer **t, size_t *n, int lfd, const TimerfdEntry *e, pid_t pid,
			    int fd, int base);

/*
 * rfiles_event_arm_timers - arm every kept timer, then drop them. Returns 0
 * or the first -errno (logged); they are dropped either way.
 */
int rfiles_event_arm_timers(struct rtimer **t, size_t *n);

/* rfiles_event_drop_timers - close ferry's copies of the kept timers, free the list. */
void rfiles_event_drop_timers(struct rtimer **t, size_t *n);

/*
 * rfiles_event_plan - the epoll registrations of process @p (index into
 * r->procs): *out (malloc'd, NULL if none) and *nr. Refuses (-EINVAL,
 * logged with pid and fds) a target whose fd the registering process does
 * not have. Returns 0, -EINVAL or -ENOMEM.
 */
int rfiles_event_plan(const struct rimg *r, size_t p, struct repoll_add **out, size_t *nr);

/*
 * rfiles_event_arm - make the registrations @a[0..@nr) in the calling
 * process (a shell, its fds in place). Returns 0, or -errno with a message
 * in @msg (pid @pid, the epoll and the target fds).
 */
int rfiles_event_arm(const struct repoll_add *a, size_t nr, pid_t pid, char *msg, size_t size);

#endif
