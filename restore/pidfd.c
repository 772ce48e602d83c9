// SPDX-License-Identifier: MIT
/*
 * pidfds of the dump made again (see pidfd.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "files.h"
#include "img.h"
#include "log.h"
#include "pidfd.h"

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

static int pidfd_open(pid_t pid, unsigned int flags)
{
	return (int)syscall(SYS_pidfd_open, pid, flags);
}

int rpidfd_dead(const FileEntry *fe, pid_t pid, int fd, int base)
{
	unsigned int flags = fe->pidfd->flags & O_NONBLOCK;
	pid_t child;
	int pfd, lfd, err = 0;

	child = fork();
	if (child < 0) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: cannot fork a process for a dead pidfd", pid, fd);
		return err;
	}
	if (!child)
		_exit(0);
	pfd = pidfd_open(child, flags);
	if (pfd < 0)
		err = -errno;
	while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
		;
	if (err) {
		pr_errno(err, "pid %d fd %d: pidfd_open of pid %d", pid, fd, child);
		return err;
	}
	lfd = fcntl(pfd, F_DUPFD_CLOEXEC, base);
	if (lfd < 0) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: cannot move a pidfd above fd %d", pid, fd, base);
	}
	close(pfd);
	return err ? err : lfd;
}

int rpidfd_place(const struct rfd_plan *plan, size_t k, pid_t pid, char *msg, size_t size)
{
	const struct rfd_plan *pl = &plan[k];
	struct timespec ms = { 0, 1000000 };
	int pfd = -1, err;

	for (size_t i = 0; i < k; i++)
		if (plan[i].pidfd_pid && plan[i].file_idx == pl->file_idx) {
			pfd = dup(plan[i].fd); /* placed already: the same description */
			break;
		}
	/* The process it refers to is made by another shell of the tree, maybe not yet. */
	for (int i = 0; pfd < 0 && i < 1000; i++) {
		pfd = pidfd_open(pl->pidfd_pid, (unsigned int)pl->pidfd_flags);
		if (pfd < 0 && errno != ESRCH)
			break;
		if (pfd < 0)
			nanosleep(&ms, NULL);
	}
	if (pfd < 0) {
		err = -errno;
		snprintf(msg, size, "pid %d fd %d: cannot open a pidfd of pid %d: %s", pid, pl->fd,
			 pl->pidfd_pid, strerror(errno));
		return err;
	}
	if ((pfd != pl->fd && dup2(pfd, pl->fd) != pl->fd) ||
	    fcntl(pl->fd, F_SETFD, pl->cloexec ? FD_CLOEXEC : 0)) {
		err = -errno;
		snprintf(msg, size, "pid %d: cannot put its pidfd at fd %d: %s", pid, pl->fd,
			 strerror(errno));
		if (pfd != pl->fd)
			close(pfd);
		return err;
	}
	if (pfd != pl->fd)
		close(pfd);
	return 0;
}

int rimg_check_pidfd(const struct rimg *r, const struct img *img, size_t at, const FileEntry *f)
{
	const PidfdEntry *e = f->pidfd;
	size_t i;

	if (e->id != f->id || (e->flags & ~(uint32_t)O_NONBLOCK)) {
		pr_err("%s: offset %zu: pidfd file id %u (entry id %u, flags %#x): ferry restores "
		       "pidfds with O_NONBLOCK at most",
		       img_name(img), at, f->id, e->id, e->flags);
		return -EINVAL;
	}
	for (i = 0; i < r->nr_procs && r->procs[i].pid != e->nspid; i++)
		;
	if (e->nspid != -1 && i == r->nr_procs) {
		pr_err("%s: offset %zu: pidfd file id %u refers to pid %d, which is not in the "
		       "dump's tree",
		       img_name(img), at, f->id, e->nspid);
		return -EINVAL;
	}
	return 0;
}
