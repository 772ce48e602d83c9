// SPDX-License-Identifier: MIT
/*
 * The restore side's image loader, event fds (see images.h): the eventfd,
 * epoll, signalfd and timerfd entries of files.img, checked as they are read
 * so that a corrupt one is refused with the image's name and offset before
 * anything is made.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <time.h>

#define LOG_PREFIX "rimg: "
#include "images.h"
#include "images_priv.h"
#include "img.h"
#include "log.h"

#define NSEC_PER_SEC 1000000000ull
/* The largest value an eventfd counter holds (fs/eventfd.c: ULLONG_MAX - 1). */
#define EVENTFD_MAX (UINT64_MAX - 1)
/* What epoll_ctl() takes (and fdinfo shows: it adds EPOLLERR | EPOLLHUP). */
#define EPOLL_KNOWN                                                                         \
	(EPOLLIN | EPOLLPRI | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLRDNORM | EPOLLRDBAND |  \
	 EPOLLWRNORM | EPOLLWRBAND | EPOLLMSG | EPOLLRDHUP | EPOLLEXCLUSIVE | EPOLLWAKEUP | \
	 EPOLLONESHOT | EPOLLET)
#define TFD_SETTIME_KNOWN (TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET)

static int clock_ok(uint32_t c)
{
	return c == CLOCK_REALTIME || c == CLOCK_MONOTONIC || c == CLOCK_BOOTTIME ||
	       c == CLOCK_REALTIME_ALARM || c == CLOCK_BOOTTIME_ALARM;
}

int rimg_check_event_file(const struct img *img, size_t at, const FileEntry *f)
{
	const char *name = img_name(img);

	switch (f->type) {
	case FD_TYPES__EVENTFD:
		if (f->efd->id != f->id || f->efd->counter > EVENTFD_MAX)
			goto bad;
		return 0;
	case FD_TYPES__SIGNALFD:
		if (f->sgfd->id != f->id)
			goto bad;
		return 0;
	case FD_TYPES__TIMERFD: {
		const TimerfdEntry *t = f->tfd;

		if (t->id != f->id || !clock_ok(t->clockid) ||
		    (t->settime_flags & ~(uint32_t)TFD_SETTIME_KNOWN) || t->vnsec >= NSEC_PER_SEC ||
		    t->insec >= NSEC_PER_SEC || t->vsec > INT64_MAX || t->isec > INT64_MAX)
			goto bad;
		return 0;
	}
	case FD_TYPES__EVENTPOLL:
		if (f->epfd->id != f->id)
			goto bad;
		for (size_t i = 0; i < f->epfd->n_tfd; i++) {
			const EventpollTfdEntry *t = f->epfd->tfd[i];

			if (t->tfd > INT32_MAX || (t->events & ~(uint32_t)EPOLL_KNOWN)) {
				pr_err("%s: offset %zu: epoll file id %u: target %zu (fd %u, events "
				       "%#x) is invalid",
				       name, at, f->id, i, t->tfd, t->events);
				return -EINVAL;
			}
			for (size_t k = 0; k < i; k++)
				if (f->epfd->tfd[k]->tfd == t->tfd) {
					pr_err("%s: offset %zu: epoll file id %u: fd %u is a target "
					       "twice",
					       name, at, f->id, t->tfd);
					return -EINVAL;
				}
		}
		return 0;
	default:
		return 0;
	}
bad:
	pr_err("%s: offset %zu: %s file id %u: invalid entry (its own id, clock, flags, counter "
	       "or times out of range)",
	       name, at, rimg_enum_name(&fd_types__descriptor, f->type), f->id);
	return -EINVAL;
}
