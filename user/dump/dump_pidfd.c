// SPDX-License-Identifier: MIT
/*
 * pidfds (pidfd_open(2), clone(CLONE_PIDFD)) held by the tree, dumped as
 * CRIU's pidfd_entry: the pid they refer to (NSpid, -1 once that process
 * is dead and reaped), the inode and the flags. A pidfd of a process
 * outside the tree, or of a thread (PIDFD_THREAD), is refused: after a
 * restore it would refer to another process, or to none.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#define LOG_PREFIX "files: "
#include "log.h"
#include "img.h"
#include "pstree.h"
#include "proc_fdinfo_events.h"
#include "dump_files.h"
#include "dump_files_priv.h"

#include "fdinfo.pb-c.h"
#include "fown.pb-c.h"
#include "pidfd.pb-c.h"

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL /* include/uapi/linux/pidfd.h, 6.9+ */
#endif

#define PIDFD_LINK "anon_inode:[pidfd]"

int files_pidfd_tree(struct files_dump *d, const struct pstree *t)
{
	free(d->tree);
	d->tree = calloc(t->nr ? t->nr : 1, sizeof(*d->tree));
	if (!d->tree)
		return -ENOMEM;
	for (size_t i = 0; i < t->nr; i++)
		d->tree[i] = t->procs[i].pid;
	d->ntree = t->nr;
	return 0;
}

/* The "Pid:" of a pidfd's fdinfo (-1: its process is dead and reaped). */
static int pidfd_pid(pid_t pid, int fd, int32_t *out)
{
	char *buf = NULL, *at;
	size_t len = 0;
	int v, ret;

	ret = proc_fdinfo_text(pid, fd, &buf, &len);
	if (ret) {
		pr_errno(ret, "pid %d fd %d: cannot read the fdinfo of its pidfd", pid, fd);
		return ret;
	}
	at = strstr(buf, "\nPid:");
	if (!at || sscanf(at, "\nPid: %d", &v) != 1) {
		pr_err("pid %d fd %d: the fdinfo of its pidfd has no Pid:", pid, fd);
		ret = -EINVAL;
	} else {
		*out = v;
	}
	free(buf);
	return ret;
}

int files_pidfd_classify(const struct files_dump *d, pid_t pid, struct probe *p)
{
	size_t i;
	int ret;

	if (strcmp(p->link, PIDFD_LINK))
		return 0;
	if (p->fi.flags & PIDFD_THREAD) {
		pr_err("pid %d fd %d: a pidfd of a thread (PIDFD_THREAD) is not supported", pid,
		       p->fd);
		return -ENOTSUP;
	}
	ret = pidfd_pid(pid, p->fd, &p->pidfd_pid);
	if (ret)
		return ret;
	for (i = 0; i < d->ntree && d->tree[i] != p->pidfd_pid; i++)
		;
	if (p->pidfd_pid != -1 && i == d->ntree) {
		pr_err("pid %d fd %d: pidfd of pid %d, which is not in the dumped tree, is not "
		       "supported (after a restore it would refer to another process or none)",
		       pid, p->fd, p->pidfd_pid);
		return -ENOTSUP;
	}
	p->type = FD_TYPES__PIDFD;
	return 1;
}

int files_pidfd_add(struct files_dump *d, pid_t pid, const struct probe *p, const struct fown_v *fo,
		    uint32_t *id)
{
	struct desc *e = files_desc_new(d, FD_TYPES__PIDFD, SRC_FD, pid, p, fo);

	if (!e)
		return -ENOMEM;
	e->pidfd_pid = p->pidfd_pid;
	*id = e->id;
	pr_debug("pid %d fd %d: pidfd of pid %d", pid, p->fd, p->pidfd_pid);
	return 0;
}

int files_pidfd_write(struct img *img, const struct desc *e, FownEntry *fown)
{
	FileEntry fe = FILE_ENTRY__INIT;
	PidfdEntry pe = PIDFD_ENTRY__INIT;

	pe.id = e->id;
	pe.ino = (uint32_t)e->ino;
	pe.flags = e->flags & ~(uint32_t)O_ACCMODE; /* CRIU's: O_NONBLOCK, PIDFD_THREAD */
	pe.nspid = e->pidfd_pid;
	pe.fown = fown;
	fe.type = FD_TYPES__PIDFD;
	fe.id = e->id;
	fe.pidfd = &pe;
	return img_write_entry(img, &fe.base);
}
