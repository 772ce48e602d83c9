// SPDX-License-Identifier: MIT
/*
 * Files under /proc/PID of a process of the tree (see files.h): a child
 * reading its parent's /proc/PPID/status, a process its own /proc/PID/maps.
 * They cannot be opened before the tree exists: the process that holds one
 * opens it itself, once PID is there (the pids are the dumped ones).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "files.h"
#include "log.h"

#define OPEN_FLAGS_DROP (O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY)

pid_t rfiles_proc_pid(const struct rimg *r, const FileEntry *fe)
{
	const char *name = fe->reg && fe->reg->name ? fe->reg->name : "";
	char *end;
	long pid;

	if (strncmp(name, "/proc/", 6) || name[6] < '1' || name[6] > '9')
		return 0;
	pid = strtol(name + 6, &end, 10);
	if (*end != '/' && *end != '\0')
		return 0;
	for (size_t i = 0; i < r->nr_procs; i++)
		if (r->procs[i].pid == (pid_t)pid)
			return (pid_t)pid;
	return 0;
}

int rfiles_proc_place(const struct rfd_plan *plan, size_t k, pid_t pid, char *msg, size_t size)
{
	const struct rfd_plan *pl = &plan[k];
	const RegFileEntry *reg = pl->proc_fe->reg;
	struct timespec ms = { 0, 1000000 };
	int lfd = -1, err;

	for (size_t i = 0; i < k; i++)
		if (plan[i].proc_pid && plan[i].file_idx == pl->file_idx) {
			lfd = dup(plan[i].fd); /* placed already: the same description */
			break;
		}
	/* The process it names is made by another shell of the tree, maybe not yet. */
	for (int i = 0; lfd < 0 && i < 1000 && kill(pl->proc_pid, 0); i++)
		nanosleep(&ms, NULL);
	if (lfd < 0) {
		lfd = open(reg->name, (int)(reg->flags & ~(uint32_t)OPEN_FLAGS_DROP) | O_CLOEXEC);
		if (lfd >= 0 && !(reg->flags & O_PATH) &&
		    lseek(lfd, (off_t)reg->pos, SEEK_SET) < 0) {
			err = -errno;
			snprintf(msg, size, "pid %d fd %d: cannot seek %s to %llu: %s", pid, pl->fd,
				 reg->name, (unsigned long long)reg->pos, strerror(errno));
			close(lfd);
			return err;
		}
	}
	if (lfd < 0) {
		err = -errno;
		snprintf(msg, size, "pid %d fd %d: cannot open %s: %s", pid, pl->fd, reg->name,
			 strerror(errno));
		return err;
	}
	if ((lfd != pl->fd && dup2(lfd, pl->fd) != pl->fd) ||
	    fcntl(pl->fd, F_SETFD, pl->cloexec ? FD_CLOEXEC : 0)) {
		err = -errno;
		snprintf(msg, size, "pid %d: cannot put %s at fd %d: %s", pid, reg->name, pl->fd,
			 strerror(errno));
		if (lfd != pl->fd)
			close(lfd);
		return err;
	}
	if (lfd != pl->fd)
		close(lfd);
	return 0;
}
