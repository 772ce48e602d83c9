// SPDX-License-Identifier: MIT
/*
 * The owner for signals of the restored descriptions (see fown.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "fown.h"
#include "log.h"

/* The fown_entry and the status flags of @fe's own entry; NULL if it has none. */
static const FownEntry *entry_fown(const FileEntry *fe, uint32_t *flags)
{
#define FOWN_OF(m)                     \
	do {                           \
		if (!fe->m)            \
			return NULL;   \
		*flags = fe->m->flags; \
		return fe->m->fown;    \
	} while (0)
	switch (fe->type) {
	case FD_TYPES__REG:
		FOWN_OF(reg);
	case FD_TYPES__PIPE:
		FOWN_OF(pipe);
	case FD_TYPES__TTY:
		FOWN_OF(tty);
	case FD_TYPES__INOTIFY:
		FOWN_OF(ify);
	case FD_TYPES__MEMFD:
		FOWN_OF(memfd);
	case FD_TYPES__UNIXSK:
		FOWN_OF(usk);
	case FD_TYPES__INETSK:
		FOWN_OF(isk);
	case FD_TYPES__NETLINKSK:
		FOWN_OF(nlsk);
	case FD_TYPES__EVENTFD:
		FOWN_OF(efd);
	case FD_TYPES__EVENTPOLL:
		FOWN_OF(epfd);
	case FD_TYPES__SIGNALFD:
		FOWN_OF(sgfd);
	case FD_TYPES__TIMERFD:
		FOWN_OF(tfd);
	default:
		return NULL;
	}
#undef FOWN_OF
}

/* Does @fe ask for anything here? */
static int wants_fown(const FileEntry *fe)
{
	uint32_t flags = 0;
	const FownEntry *fo = entry_fown(fe, &flags);

	return (fo && (fo->pid || fo->signum)) || (flags & O_ASYNC);
}

/* A process of the tree holding r->files[idx], and its fd there. */
static pid_t holder(const struct rimg *r, long idx, int *fd)
{
	for (size_t p = 0; p < r->nr_procs; p++)
		for (size_t k = 0; k < r->procs[p].nr_fds; k++)
			if (r->procs[p].fds[k]->id == r->files[idx]->id) {
				*fd = (int)r->procs[p].fds[k]->fd;
				return r->procs[p].pid;
			}
	*fd = -1;
	return 0;
}

int rfown_keep(struct rfown *k, const struct rimg *r, const struct rfiles *f)
{
	int err = 0;

	memset(k, 0, sizeof(*k));
	k->fd = calloc(f->nr_tmp ? f->nr_tmp : 1, sizeof(*k->fd));
	k->idx = calloc(f->nr_tmp ? f->nr_tmp : 1, sizeof(*k->idx));
	if (!k->fd || !k->idx)
		err = -ENOMEM;
	for (size_t i = 0; !err && i < f->nr_tmp; i++) {
		int fd;

		if (f->tmp[i] < 0 || !wants_fown(r->files[i]))
			continue;
		fd = fcntl(f->tmp[i], F_DUPFD_CLOEXEC, f->base);
		if (fd < 0) {
			err = -errno;
			pr_errno(err, "file entry %u: cannot keep its description for its owner",
				 r->files[i]->id);
			break;
		}
		k->fd[k->nr] = fd;
		k->idx[k->nr++] = (long)i;
	}
	if (err)
		rfown_drop(k);
	return err;
}

/* Set the owner of @lfd as the uids it was set with (this thread's uids only). */
static int set_owner(int lfd, const FownEntry *fo, pid_t pid, int fd)
{
	struct f_owner_ex ox = { .type = (int)fo->pid_type, .pid = (pid_t)fo->pid };
	uid_t ruid, euid, suid;
	int err = 0, as = 0;

	if (getresuid(&ruid, &euid, &suid)) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: getresuid", pid, fd);
		return err;
	}
	/* The raw syscall: glibc's setresuid would change every thread of ferry. */
	if ((fo->uid != ruid || fo->euid != euid) &&
	    syscall(SYS_setresuid, fo->uid, fo->euid, suid)) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: cannot take the owner's uids %u/%u", pid, fd, fo->uid,
			 fo->euid);
		return err;
	}
	as = fo->uid != ruid || fo->euid != euid;
	if (fcntl(lfd, F_SETOWN_EX, &ox)) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: cannot give the description to its owner %s %u%s", pid,
			 fd,
			 ox.type == F_OWNER_TID	   ? "thread"
			 : ox.type == F_OWNER_PGRP ? "process group"
						   : "process",
			 fo->pid,
			 err == -ESRCH ? " (no such owner: it was outside the tree?)" : "");
	}
	if (as && syscall(SYS_setresuid, ruid, euid, suid)) {
		int e = -errno;

		pr_errno(e, "cannot take ferry's uids back");
		if (!err)
			err = e;
	}
	return err;
}

/* The signal, the owner and O_ASYNC of one description; 0 or -errno. */
static int apply_one(int lfd, const FileEntry *fe, pid_t pid, int fd)
{
	uint32_t flags = 0;
	const FownEntry *fo = entry_fown(fe, &flags);
	int err = 0, fl;

	if (fo && fo->signum && fcntl(lfd, F_SETSIG, (int)fo->signum)) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: cannot set its signal %u", pid, fd, fo->signum);
	}
	if (!err && fo && fo->pid)
		err = set_owner(lfd, fo, pid, fd);
	/* O_ASYNC the other way round: off here (on again by rfown_async, in the tree). */
	if (!err && (flags & O_ASYNC)) {
		fl = fcntl(lfd, F_GETFL);
		if (fl < 0 || fcntl(lfd, F_SETFL, fl & ~O_ASYNC)) {
			err = -errno;
			pr_errno(err, "pid %d fd %d: cannot clear O_ASYNC", pid, fd);
		}
	}
	if (!err && fo && fo->pid)
		pr_debug("pid %d fd %d: owner %u (type %u), signal %u%s", pid, fd, fo->pid,
			 fo->pid_type, fo->signum, flags & O_ASYNC ? ", O_ASYNC" : "");
	return err;
}

int rfown_apply(struct rfown *k, const struct rimg *r)
{
	int err = 0;

	for (size_t i = 0; !err && i < k->nr; i++) {
		int fd;
		pid_t pid = holder(r, k->idx[i], &fd);

		err = apply_one(k->fd[i], r->files[k->idx[i]], pid, fd);
	}
	rfown_drop(k);
	return err;
}

int rfown_async(struct rtask *t, const struct rimg *r)
{
	const struct rimg_proc *ip = t->ip;
	int err = 0;

	for (size_t k = 0; !err && k < ip->nr_fds; k++) {
		long idx = rimg_file_index(r, ip->fds[k]->id), fl = 0;
		uint32_t flags = 0;
		char what[64];

		if (idx < 0 || !entry_fown(r->files[idx], &flags) || !(flags & O_ASYNC))
			continue;
		snprintf(what, sizeof(what), "fcntl(fd %u, F_SETFL, O_ASYNC)", ip->fds[k]->fd);
		err = rt_call(t, t->pid, what, &fl, __NR_fcntl, ip->fds[k]->fd, F_GETFL, 0, 0, 0,
			      0);
		if (!err)
			err = rt_call(t, t->pid, what, NULL, __NR_fcntl, ip->fds[k]->fd, F_SETFL,
				      (uint64_t)(fl | O_ASYNC), 0, 0, 0);
	}
	return err;
}

void rfown_drop(struct rfown *k)
{
	for (size_t i = 0; k->fd && i < k->nr; i++)
		close(k->fd[i]);
	free(k->fd);
	free(k->idx);
	memset(k, 0, sizeof(*k));
}
