// SPDX-License-Identifier: MIT
/*
 * Dumping event fds: eventfd, epoll, signalfd, timerfd (see dump_events.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/eventfd.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/kcmp.h>

#define LOG_PREFIX "files: "
#include "log.h"
#include "img.h"
#include "dump_events.h"
#include "dump_files_priv.h"
#include "pstree.h"

#include "eventfd.pb-c.h"
#include "eventpoll.pb-c.h"
#include "signalfd.pb-c.h"
#include "timerfd.pb-c.h"

/*
 * The anonymous files ferry knows by their link name: the four it dumps,
 * and the ones it refuses, with the name of their kind for the refusal.
 */
static const struct anon_kind {
	const char *link;
	FdTypes type; /* FD_TYPES__UND: refused */
	const char *kind;
} anon_kinds[] = {
	{ "anon_inode:[eventfd]", FD_TYPES__EVENTFD, "eventfd" },
	{ "anon_inode:[eventpoll]", FD_TYPES__EVENTPOLL, "epoll" },
	{ "anon_inode:[signalfd]", FD_TYPES__SIGNALFD, "signalfd" },
	{ "anon_inode:[timerfd]", FD_TYPES__TIMERFD, "timerfd" },
	{ "anon_inode:[io_uring]", FD_TYPES__UND, "io_uring instance" },
	{ "anon_inode:[fanotify]", FD_TYPES__UND, "fanotify group" },
	{ "anon_inode:[perf_event]", FD_TYPES__UND, "perf event" },
	{ "anon_inode:bpf-map", FD_TYPES__UND, "BPF map" },
	{ "anon_inode:bpf-prog", FD_TYPES__UND, "BPF program" },
	{ "anon_inode:bpf_link", FD_TYPES__UND, "BPF link" },
	{ "anon_inode:[pidfd]", FD_TYPES__UND, "pidfd" },
	{ "anon_inode:[userfaultfd]", FD_TYPES__UND, "userfaultfd" },
};

static const struct anon_kind *anon_kind(const char *link)
{
	for (size_t i = 0; i < sizeof(anon_kinds) / sizeof(anon_kinds[0]); i++)
		if (!strcmp(link, anon_kinds[i].link))
			return &anon_kinds[i];
	return NULL;
}

/* kcmp(KCMP_EPOLL_TFD): is fd @fd of @pid the target at (@tfd, @toff) of epoll @efd? */
static int is_target(pid_t pid, int efd, uint32_t tfd, uint32_t toff, int fd)
{
	struct kcmp_epoll_slot slot = { .efd = (__u32)efd, .tfd = tfd, .toff = toff };

	return syscall(SYS_kcmp, pid, pid, KCMP_EPOLL_TFD, fd, &slot) == 0;
}

/*
 * Where else the tree holds target (@tfd, @toff) of epoll @efd of @pid: the
 * first fd of another process that is that file (kcmp across processes: the
 * candidate fd's process first, the epoll's second), in
 * *@qpid and *@qfd. Returns 1 if found, 0 if not, -errno.
 */
static int find_in_tree(const struct files_dump *d, pid_t pid, int efd, uint32_t tfd, uint32_t toff,
			pid_t *qpid, int *qfd)
{
	struct kcmp_epoll_slot slot = { .efd = (__u32)efd, .tfd = tfd, .toff = toff };
	const struct pstree *t = d ? d->o.tree : NULL;
	int found = 0;

	for (size_t i = 0; t && i < t->nr && !found; i++) {
		pid_t q = t->procs[i].pid;
		int *fds = NULL, ret;
		size_t nr = 0;

		if (q == pid || t->procs[i].zombie)
			continue;
		ret = files_list_fds(q, &fds, &nr);
		if (ret)
			return ret;
		for (size_t k = 0; k < nr && !found; k++) {
			if (syscall(SYS_kcmp, q, pid, KCMP_EPOLL_TFD, fds[k], &slot) == 0) {
				*qpid = q;
				*qfd = fds[k];
				found = 1;
			}
		}
		free(fds);
	}
	return found;
}

/* Refuse target @t of epoll @efd of @pid, no fd of @pid holding its file: name who does. */
static int refuse_target(const struct files_dump *d, pid_t pid, int efd, const struct fdinfo_tfd *t,
			 uint32_t toff, int found)
{
	pid_t qpid = 0;
	int qfd = -1,
	    in_tree = found == -1 ? find_in_tree(d, pid, efd, t->tfd, toff, &qpid, &qfd) : 0;

	if (in_tree < 0)
		return in_tree;
	if (in_tree)
		pr_err("pid %d fd %d: epoll target fd %u (inode %llu) is closed or names another "
		       "file, and its file is held only by another process of the tree, pid %d fd "
		       "%d: an epoll target registered through another process is not supported "
		       "(CRIU refuses it too)",
		       pid, efd, t->tfd, (unsigned long long)t->ino, qpid, qfd);
	else if (found == -1 && !(d && d->o.tree))
		pr_err("pid %d fd %d: epoll target fd %u (inode %llu) is closed or names another "
		       "file, and no other fd of the process holds its file: not supported",
		       pid, efd, t->tfd, (unsigned long long)t->ino);
	else if (found == -1)
		pr_err("pid %d fd %d: epoll target fd %u (inode %llu) is closed or names another "
		       "file, and no process of the tree holds its file (a process outside the "
		       "tree does, or a message in flight): not supported",
		       pid, efd, t->tfd, (unsigned long long)t->ino);
	else
		pr_err("pid %d fd %d: epoll target fd %u (inode %llu) is closed or names another "
		       "file, and the fd that holds its file is a target too: not supported",
		       pid, efd, t->tfd, (unsigned long long)t->ino);
	return -ENOTSUP;
}

/*
 * Make each target of epoll @efd of @pid name an fd of @pid that holds its
 * file (see dump_events.h). Returns 0, -ENOTSUP (logged) or -errno.
 */
static int resolve_targets(const struct files_dump *d, pid_t pid, int efd, struct fdinfo_epoll *ep)
{
	int *fds = NULL, ret = 0;
	size_t nr = 0;

	for (size_t i = 0; i < ep->nr && !ret; i++) {
		struct fdinfo_tfd *t = &ep->tfd[i];
		uint32_t toff = 0;
		int found = -1;

		/* The kernel's offset among targets added under the same fd number. */
		for (size_t k = 0; k < i; k++)
			toff += ep->tfd[k].tfd == t->tfd;
		if (is_target(pid, efd, t->tfd, toff, (int)t->tfd))
			continue;
		if (!fds) {
			ret = files_list_fds(pid, &fds, &nr);
			if (ret)
				break;
		}
		for (size_t k = 0; k < nr && found < 0; k++)
			if (is_target(pid, efd, t->tfd, toff, fds[k]))
				found = fds[k];
		for (size_t k = 0; k < ep->nr && found >= 0; k++)
			if (ep->tfd[k].tfd == (uint32_t)found)
				found = -2; /* that fd is a target in its own right */
		if (found < 0) {
			ret = refuse_target(d, pid, efd, t, toff, found);
			break;
		}
		pr_info("pid %d fd %d: epoll target fd %u was closed; its file is fd %d, recorded "
			"as the target",
			pid, efd, t->tfd, found);
		t->tfd = (uint32_t)found;
	}
	free(fds);
	return ret;
}

/* The targets of epoll fd p of @pid, resolved; free ep->tfd on success. */
static int epoll_targets(const struct files_dump *d, pid_t pid, const struct probe *p,
			 struct fdinfo_epoll *ep)
{
	char *buf = NULL;
	size_t len = 0;
	int ret;

	ret = proc_fdinfo_text(pid, p->fd, &buf, &len);
	if (ret)
		return ret;
	ret = proc_fdinfo_epoll_parse(buf, len, ep);
	free(buf);
	if (ret) {
		pr_errno(ret, "pid %d fd %d: cannot parse the epoll targets of its fdinfo", pid,
			 p->fd);
		return ret;
	}
	ret = resolve_targets(d, pid, p->fd, ep);
	if (ret) {
		free(ep->tfd);
		ep->tfd = NULL;
	}
	return ret;
}

int files_event_classify(pid_t pid, struct probe *p)
{
	const struct anon_kind *k = anon_kind(p->link);

	if (!k) {
		if (strncmp(p->link, "anon_inode:", 11))
			return -ENOENT;
		pr_err("pid %d fd %d: %s is not supported", pid, p->fd, p->link);
		return -ENOTSUP;
	}
	if (k->type == FD_TYPES__UND) {
		pr_err("pid %d fd %d: %s (%s) is not supported", pid, p->fd, k->kind, p->link);
		return -ENOTSUP;
	}
	p->type = k->type;
	return 0;
}

int files_event_check(const struct files_dump *d, pid_t pid, const struct probe *p)
{
	struct fdinfo_epoll ep;
	int ret;

	if (p->type != FD_TYPES__EVENTPOLL)
		return 0;
	ret = epoll_targets(d, pid, p, &ep);
	if (!ret)
		free(ep.tfd);
	return ret;
}

int files_event_add(struct files_dump *d, pid_t pid, const struct probe *p, int lfd,
		    const struct fown_v *fo, uint32_t *id)
{
	struct fdinfo_epoll ep = { NULL, 0 };
	struct ev_data *ev = NULL;
	struct desc *e;
	char *buf = NULL;
	size_t len = 0;
	int ret;

	(void)lfd;
	if (p->type == FD_TYPES__EVENTPOLL) {
		ret = epoll_targets(d, pid, p, &ep);
		if (ret)
			return ret;
	} else {
		ret = proc_fdinfo_text(pid, p->fd, &buf, &len);
		if (ret)
			return ret;
	}
	ev = calloc(1, sizeof(*ev) + ep.nr * sizeof(ev->tfd_list[0]));
	if (!ev) {
		ret = -ENOMEM;
		goto out;
	}
	switch (p->type) {
	case FD_TYPES__EVENTFD:
		ret = proc_fdinfo_eventfd_parse(buf, len, &ev->efd);
		break;
	case FD_TYPES__SIGNALFD:
		ret = proc_fdinfo_signalfd_parse(buf, len, &ev->sigmask);
		break;
	case FD_TYPES__TIMERFD:
		ret = proc_fdinfo_timerfd_parse(buf, len, &ev->tfd);
		break;
	case FD_TYPES__EVENTPOLL:
		ev->nr_tfd = ep.nr;
		if (ep.nr)
			memcpy(ev->tfd_list, ep.tfd, ep.nr * sizeof(ep.tfd[0]));
		break;
	default:
		ret = -ENOTSUP;
	}
	if (ret) {
		pr_errno(ret, "pid %d fd %d: cannot parse the fdinfo of %s", pid, p->fd, p->link);
		goto out;
	}
	e = files_desc_new(d, p->type, SRC_FD, pid, p, fo);
	if (!e) {
		ret = -ENOMEM;
		goto out;
	}
	e->ev = ev;
	ev = NULL;
	*id = e->id;
	pr_debug("pid %d fd %d: %s, file id %u", pid, p->fd, p->link, *id);
out:
	free(ev);
	free(ep.tfd);
	free(buf);
	return ret;
}

static int write_epoll(struct img *img, FileEntry *fe, const struct desc *e, FownEntry *fown)
{
	EventpollFileEntry ep = EVENTPOLL_FILE_ENTRY__INIT;
	EventpollTfdEntry *tv = NULL, **tp = NULL;
	size_t n = e->ev->nr_tfd;
	int ret;

	if (n) {
		tv = calloc(n, sizeof(*tv));
		tp = calloc(n, sizeof(*tp));
		if (!tv || !tp) {
			ret = -ENOMEM;
			goto out;
		}
	}
	for (size_t i = 0; i < n; i++) {
		const struct fdinfo_tfd *t = &e->ev->tfd_list[i];

		eventpoll_tfd_entry__init(&tv[i]);
		tv[i].id = e->id;
		tv[i].tfd = t->tfd;
		tv[i].events = t->events;
		tv[i].data = t->data;
		tv[i].has_dev = 1;
		tv[i].dev = t->sdev;
		tv[i].has_inode = 1;
		tv[i].inode = t->ino;
		tv[i].has_pos = 1;
		tv[i].pos = t->pos;
		tp[i] = &tv[i];
	}
	ep.id = e->id;
	ep.flags = e->flags;
	ep.fown = fown;
	ep.n_tfd = n;
	ep.tfd = tp;
	fe->epfd = &ep;
	ret = img_write_entry(img, &fe->base);
out:
	free(tv);
	free(tp);
	return ret;
}

int files_event_write(struct img *img, const struct desc *e, FownEntry *fown)
{
	FileEntry fe = FILE_ENTRY__INIT;
	EventfdFileEntry efd = EVENTFD_FILE_ENTRY__INIT;
	SignalfdEntry sfd = SIGNALFD_ENTRY__INIT;
	TimerfdEntry tfd = TIMERFD_ENTRY__INIT;

	fe.type = e->type;
	fe.id = e->id;
	switch (e->type) {
	case FD_TYPES__EVENTFD:
		efd.id = e->id;
		efd.flags = e->flags | (e->ev->efd.semaphore ? EFD_SEMAPHORE : 0);
		efd.fown = fown;
		efd.counter = e->ev->efd.count;
		fe.efd = &efd;
		break;
	case FD_TYPES__SIGNALFD:
		sfd.id = e->id;
		sfd.flags = e->flags;
		sfd.fown = fown;
		sfd.sigmask = e->ev->sigmask;
		fe.sgfd = &sfd;
		break;
	case FD_TYPES__TIMERFD:
		tfd.id = e->id;
		tfd.flags = e->flags;
		tfd.fown = fown;
		tfd.clockid = e->ev->tfd.clockid;
		tfd.ticks = e->ev->tfd.ticks;
		tfd.settime_flags = e->ev->tfd.settime_flags;
		tfd.vsec = e->ev->tfd.vsec;
		tfd.vnsec = e->ev->tfd.vnsec;
		tfd.isec = e->ev->tfd.isec;
		tfd.insec = e->ev->tfd.insec;
		fe.tfd = &tfd;
		break;
	case FD_TYPES__EVENTPOLL:
		return write_epoll(img, &fe, e, fown);
	default:
		return -EINVAL;
	}
	return img_write_entry(img, &fe.base);
}
