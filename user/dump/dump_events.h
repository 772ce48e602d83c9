/* SPDX-License-Identifier: MIT */
/*
 * The event fds of the fd dumper (dump_files.h): eventfd, epoll, signalfd
 * and timerfd, as CRIU 4.x keeps them: file_entry variants of files.img
 * (efd, epfd with its targets, sgfd, tfd), fdinfo_entry.type EVENTFD,
 * EVENTPOLL, SIGNALFD, TIMERFD.
 *
 * What each records (from /proc/PID/fdinfo/N, the target being stopped):
 * - eventfd: the counter, and EFD_SEMAPHORE as bit 0 of flags (an eventfd's
 *   file flags are O_RDWR, so that bit, O_WRONLY's, is free; CRIU keeps the
 *   file flags only and restores every eventfd as a plain counter).
 * - signalfd: the signal mask (bit N-1 for signal N) and the file flags.
 * - timerfd: clock, TFD_TIMER_* settime flags, the time left (fdinfo
 *   it_value) and interval, the expirations not read yet (ticks).
 * - epoll: every target (tfd, events with EPOLLET/EPOLLONESHOT/
 *   EPOLLEXCLUSIVE/EPOLLWAKEUP, data, and the target's dev/inode/pos). The
 *   target must be open in the process dumping the epoll (the first of the
 *   tree seen holding it) under fd tfd: checked with kcmp(KCMP_EPOLL_TFD).
 *   A target whose fd was closed (or now names another file) while another
 *   fd of the same process holds its file is recorded under that fd; one
 *   with no fd in that process is refused, naming where its file is: the
 *   pid and fd of another process of the tree that holds it (found with
 *   kcmp(KCMP_EPOLL_TFD) across processes; CRIU refuses it too: its tfd
 *   entry names an fd of the epoll's own process), or no process of the
 *   tree.
 * Other anonymous-inode files are refused, each named with its kind
 * (io_uring instance, fanotify group, perf event, bpf map, ...).
 */
#ifndef FERRY_DUMP_EVENTS_H
#define FERRY_DUMP_EVENTS_H

#include <sys/types.h>

#include "proc_fdinfo_events.h"

#include "fown.pb-c.h"

struct files_dump;
struct probe;
struct desc;
struct img;
struct fown_v;

/* What one event fd's description holds; a single allocation (free()). */
struct ev_data {
	union {
		struct fdinfo_eventfd efd;
		uint64_t sigmask;
		struct fdinfo_timerfd tfd;
	};
	size_t nr_tfd; /* EVENTPOLL: the targets */
	struct fdinfo_tfd tfd_list[];
};

/*
 * files_event_classify - is p (of @pid) an event fd? Sets p->type and
 * returns 0. Returns -ENOTSUP (logged: pid, fd, kind) for an anonymous file
 * ferry cannot dump, -ENOENT if p is no anonymous-inode file at all (the
 * caller says why it is refused).
 */
int files_event_classify(pid_t pid, struct probe *p);

/*
 * files_event_check - for the preflight: can the classified fd p of @pid be
 * recorded? For an epoll, every target must resolve (see above; each kcmp
 * walks the epoll's targets in the kernel, so it is done here and at the
 * dump, not at each classification). Returns 0, -ENOTSUP (logged, naming
 * pid, epoll fd and target fd) or another -errno.
 */
int files_event_check(const struct files_dump *d, pid_t pid, const struct probe *p);

/*
 * files_event_add - a new description for the event fd p of @pid (copied
 * into ferry as @lfd), with owner @fo; *id is its file id. Returns 0,
 * -ENOTSUP (logged), -ENOMEM or -errno.
 */
int files_event_add(struct files_dump *d, pid_t pid, const struct probe *p, int lfd,
		    const struct fown_v *fo, uint32_t *id);

/*
 * files_event_write - the file_entry of event description @e, with its
 * owner @fown, into @img. Returns 0 or -errno.
 */
int files_event_write(struct img *img, const struct desc *e, FownEntry *fown);

#endif
