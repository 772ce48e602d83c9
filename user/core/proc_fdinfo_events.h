/* SPDX-License-Identifier: MIT */
/*
 * /proc/PID/fdinfo/N of the event fds: the lines the kernel adds for an
 * eventfd, a signalfd, a timerfd and an epoll instance (fs/eventfd.c,
 * fs/signalfd.c, fs/timerfd.c, fs/eventpoll.c show_fdinfo):
 *
 *   eventfd-count: %16llx      eventfd-semaphore: %d
 *   sigmask:\t%016llx          (signalfd; bit N-1 is signal N)
 *   clockid: %d  ticks: %llu  settime flags: 0%o
 *   it_value: (%llu, %llu)  it_interval: (%llu, %llu)   (timerfd; it_value
 *                              is the time left, also for TFD_TIMER_ABSTIME)
 *   tfd: %8d events: %8x data: %16llx  pos:%lli ino:%lx sdev:%x  (one per
 *                              target of an epoll)
 *
 * The parsers take the text of the whole file (need not be NUL-terminated)
 * and return 0, or -EINVAL if a line they need is missing or does not parse,
 * or -ENOMEM. Lines they do not know are skipped.
 */
#ifndef FERRY_PROC_FDINFO_EVENTS_H
#define FERRY_PROC_FDINFO_EVENTS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct fdinfo_eventfd {
	uint64_t count;
	int semaphore; /* EFD_SEMAPHORE; 0 on kernels before 6.8, which do not print it */
};

struct fdinfo_timerfd {
	uint32_t clockid;
	uint64_t ticks; /* expirations not read yet */
	uint32_t settime_flags;
	uint64_t vsec, vnsec; /* time left until the next expiration; 0 if disarmed */
	uint64_t isec, insec; /* interval */
};

struct fdinfo_tfd {
	uint32_t tfd; /* the fd number the target was added under */
	uint32_t events;
	uint64_t data;
	uint64_t pos;
	uint64_t ino;
	uint32_t sdev;
};

struct fdinfo_epoll {
	struct fdinfo_tfd *tfd; /* malloc'd, NULL if none */
	size_t nr;
};

int proc_fdinfo_eventfd_parse(const char *buf, size_t len, struct fdinfo_eventfd *out);
int proc_fdinfo_signalfd_parse(const char *buf, size_t len, uint64_t *sigmask);
int proc_fdinfo_timerfd_parse(const char *buf, size_t len, struct fdinfo_timerfd *out);
/* On success free out->tfd (nothing to free on error). */
int proc_fdinfo_epoll_parse(const char *buf, size_t len, struct fdinfo_epoll *out);

/*
 * proc_fdinfo_text - the whole text of /proc/PID/fdinfo/FD (an epoll's can
 * be long), malloc'd and NUL-terminated. Returns 0, -ENOENT if the fd is
 * gone, or another -errno (logged with pid and fd).
 */
int proc_fdinfo_text(pid_t pid, int fd, char **buf, size_t *len);

#endif
