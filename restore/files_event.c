// SPDX-License-Identifier: MIT
/*
 * The event fds of a restore (see files_event.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "files_event.h"
#include "log.h"
#include "util.h"

#ifndef TFD_IOC_SET_TICKS /* CONFIG_CHECKPOINT_RESTORE; not in glibc's header */
#define TFD_IOC_SET_TICKS _IOW('T', 0, uint64_t)
#endif

#define NSEC_PER_SEC 1000000000ll

/* Move @fd to @base or above (closes @fd). Returns the new fd or -errno (logged). */
static int lift(int fd, int base, pid_t pid, int tfd)
{
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, base);
	int err = nfd < 0 ? -errno : 0;

	close(fd);
	if (err)
		pr_errno(err, "pid %d fd %d: cannot move the new fd above %d", pid, tfd, base);
	return err ? err : nfd;
}

static int open_eventfd(const EventfdFileEntry *e, pid_t pid, int fd)
{
	int lfd, err;

	/* eventfd() takes an unsigned int: a larger count is written in. */
	lfd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK | (e->flags & EFD_SEMAPHORE));
	if (lfd < 0) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: eventfd", pid, fd);
		return err;
	}
	if (e->counter && write(lfd, &e->counter, sizeof(e->counter)) != sizeof(e->counter)) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: cannot set the eventfd counter to %llu", pid, fd,
			 (unsigned long long)e->counter);
		goto fail;
	}
	if (!(e->flags & O_NONBLOCK) && fcntl(lfd, F_SETFL, 0) < 0) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: cannot clear O_NONBLOCK of the eventfd", pid, fd);
		goto fail;
	}
	pr_debug("pid %d fd %d: eventfd, counter %llu%s", pid, fd, (unsigned long long)e->counter,
		 (e->flags & EFD_SEMAPHORE) ? ", semaphore" : "");
	return lfd;
fail:
	close(lfd);
	return err;
}

static int open_signalfd(const SignalfdEntry *e, pid_t pid, int fd)
{
	uint64_t mask = e->sigmask;
	int lfd, err;

	/* The raw syscall: glibc's sigaddset() refuses the signals it reserves (32, 33). */
	lfd = (int)syscall(SYS_signalfd4, -1, &mask, sizeof(mask),
			   SFD_CLOEXEC | (e->flags & O_NONBLOCK));
	if (lfd < 0) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: signalfd with mask %#llx", pid, fd,
			 (unsigned long long)mask);
		return err;
	}
	return lfd;
}

static int open_timerfd(const TimerfdEntry *e, pid_t pid, int fd)
{
	int lfd = timerfd_create((int)e->clockid, TFD_CLOEXEC | (e->flags & O_NONBLOCK));
	int err;

	if (lfd < 0) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: timerfd_create(clock %u)", pid, fd, e->clockid);
		return err;
	}
	return lfd;
}

int rfiles_event_arm_timer(const struct rtimer *t)
{
	const TimerfdEntry *e = t->e;
	struct itimerspec its = {
		.it_interval = { (time_t)e->isec, (long)e->insec },
		.it_value = { (time_t)e->vsec, (long)e->vnsec },
	};
	uint64_t ticks = e->ticks;
	struct timespec now;
	int lfd = t->lfd, err, fd = t->fd;
	pid_t pid = t->pid;

	/*
	 * A periodic timer that expired while frozen shows no time left but
	 * unread ticks: it is still armed, next due an interval on.
	 */
	if (!its.it_value.tv_sec && !its.it_value.tv_nsec && ticks &&
	    (its.it_interval.tv_sec || its.it_interval.tv_nsec))
		its.it_value = its.it_interval;
	if ((its.it_value.tv_sec || its.it_value.tv_nsec) &&
	    (e->settime_flags & TFD_TIMER_ABSTIME)) {
		if (clock_gettime((clockid_t)e->clockid, &now)) {
			err = -errno;
			pr_errno(err, "pid %d fd %d: clock_gettime(%u)", pid, fd, e->clockid);
			return err;
		}
		its.it_value.tv_sec += now.tv_sec;
		its.it_value.tv_nsec += now.tv_nsec;
		if (its.it_value.tv_nsec >= NSEC_PER_SEC) {
			its.it_value.tv_sec++;
			its.it_value.tv_nsec -= NSEC_PER_SEC;
		}
	}
	if (timerfd_settime(lfd, (int)e->settime_flags, &its, NULL)) {
		err = -errno;
		pr_errno(err,
			 "pid %d fd %d: timerfd_settime(flags %#x, value %lld.%09ld, interval "
			 "%lld.%09ld)",
			 pid, fd, e->settime_flags, (long long)its.it_value.tv_sec,
			 its.it_value.tv_nsec, (long long)its.it_interval.tv_sec,
			 its.it_interval.tv_nsec);
		return err;
	}
	/* After settime, which zeroes them. */
	if (ticks && ioctl(lfd, TFD_IOC_SET_TICKS, &ticks)) {
		err = -errno;
		pr_errno(err,
			 "pid %d fd %d: cannot give the timerfd its %llu unread expirations "
			 "(TFD_IOC_SET_TICKS needs CONFIG_CHECKPOINT_RESTORE)",
			 pid, fd, (unsigned long long)ticks);
		return err;
	}
	pr_debug("pid %d fd %d: timerfd clock %u, %lld.%09ld left, interval %lld.%09ld, ticks "
		 "%llu",
		 pid, fd, e->clockid, (long long)e->vsec, (long)e->vnsec,
		 (long long)its.it_interval.tv_sec, its.it_interval.tv_nsec,
		 (unsigned long long)ticks);
	return 0;
}

int rfiles_event_open(const FileEntry *fe, pid_t pid, int fd, int base)
{
	int lfd, err;

	switch (fe->type) {
	case FD_TYPES__EVENTFD:
		lfd = open_eventfd(fe->efd, pid, fd);
		break;
	case FD_TYPES__SIGNALFD:
		lfd = open_signalfd(fe->sgfd, pid, fd);
		break;
	case FD_TYPES__TIMERFD:
		lfd = open_timerfd(fe->tfd, pid, fd);
		break;
	case FD_TYPES__EVENTPOLL:
		lfd = epoll_create1(EPOLL_CLOEXEC);
		if (lfd < 0) {
			err = -errno;
			pr_errno(err, "pid %d fd %d: epoll_create1", pid, fd);
			return err;
		}
		break;
	default:
		return -ENOTSUP;
	}
	return lfd < 0 ? lfd : lift(lfd, base, pid, fd);
}

/* The fdinfo entry of fd @fd of @p, or NULL. */
static const FdinfoEntry *proc_fd(const struct rimg_proc *p, uint32_t fd)
{
	for (size_t k = 0; k < p->nr_fds; k++)
		if (p->fds[k]->fd == fd)
			return p->fds[k];
	return NULL;
}

/* The first fd of @p on file @id, or NULL. */
static const FdinfoEntry *proc_file(const struct rimg_proc *p, uint32_t id)
{
	for (size_t k = 0; k < p->nr_fds; k++)
		if (p->fds[k]->id == id)
			return p->fds[k];
	return NULL;
}

/* Is @p the first process of the tree that holds file @id? */
static int registers(const struct rimg *r, size_t p, uint32_t id)
{
	for (size_t i = 0; i < p; i++)
		if (proc_file(&r->procs[i], id))
			return 0;
	return proc_file(&r->procs[p], id) != NULL;
}

int rfiles_event_plan(const struct rimg *r, size_t p, struct repoll_add **out, size_t *nr)
{
	const struct rimg_proc *ip = &r->procs[p];
	struct repoll_add *a = NULL, *na;
	size_t n = 0, cap = 0;
	int err = 0;

	for (size_t i = 0; i < r->nr_files && !err; i++) {
		const FileEntry *fe = r->files[i];
		const FdinfoEntry *ep;

		if (fe->type != FD_TYPES__EVENTPOLL || !registers(r, p, fe->id))
			continue;
		ep = proc_file(ip, fe->id);
		for (size_t t = 0; t < fe->epfd->n_tfd; t++) {
			const EventpollTfdEntry *te = fe->epfd->tfd[t];

			if (!proc_fd(ip, te->tfd)) {
				pr_err("pid %d fd %u: epoll (file id %u) has target fd %u, which the "
				       "process does not have",
				       ip->pid, ep->fd, fe->id, te->tfd);
				err = -EINVAL;
				break;
			}
			if (n == cap) {
				cap = cap ? 2 * cap : 8;
				na = realloc(a, cap * sizeof(*a));
				if (!na) {
					err = -ENOMEM;
					break;
				}
				a = na;
			}
			a[n++] = (struct repoll_add){ .epfd = (int)ep->fd,
						      .tfd = (int)te->tfd,
						      .events = te->events,
						      .data = te->data,
						      .file_id = fe->id };
		}
	}
	if (err) {
		free(a);
		return err;
	}
	*out = a;
	*nr = n;
	return 0;
}

int rfiles_event_arm(const struct repoll_add *a, size_t nr, pid_t pid, char *msg, size_t size)
{
	for (size_t i = 0; i < nr; i++) {
		struct epoll_event ev = { .events = a[i].events, .data.u64 = a[i].data };

		if (epoll_ctl(a[i].epfd, EPOLL_CTL_ADD, a[i].tfd, &ev)) {
			int err = -errno;

			snprintf(msg, size,
				 "pid %d fd %d: cannot add target fd %d (events %#x) to the epoll "
				 "(file id %u): %s",
				 pid, a[i].epfd, a[i].tfd, a[i].events, a[i].file_id,
				 strerror(-err));
			return err;
		}
	}
	return 0;
}

int rfiles_event_keep_timer(struct rtimer **t, size_t *n, int lfd, const TimerfdEntry *e, pid_t pid,
			    int fd, int base)
{
	struct rtimer *nt = realloc(*t, (*n + 1) * sizeof(**t));
	int copy, err;

	if (!nt)
		return -ENOMEM;
	*t = nt;
	copy = fcntl(lfd, F_DUPFD_CLOEXEC, base);
	if (copy < 0) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: cannot keep a copy of the timerfd", pid, fd);
		return err;
	}
	nt[(*n)++] = (struct rtimer){ .lfd = copy, .e = e, .pid = pid, .fd = fd };
	return 0;
}

int rfiles_event_arm_timers(struct rtimer **t, size_t *n)
{
	int err = 0;

	for (size_t i = 0; i < *n && !err; i++)
		err = rfiles_event_arm_timer(&(*t)[i]);
	rfiles_event_drop_timers(t, n);
	return err;
}

void rfiles_event_drop_timers(struct rtimer **t, size_t *n)
{
	for (size_t i = 0; *t && i < *n; i++)
		close((*t)[i].lfd);
	free(*t);
	*t = NULL;
	*n = 0;
}
