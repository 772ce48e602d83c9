/* SPDX-License-Identifier: MIT */
/*
 * The file descriptions of a dump, opened by ferry before the tree is made.
 *
 * Every description of files.img that some fd uses is opened once, in ferry:
 * regular files and devices at their flags and position, pipes re-created
 * with their buffered bytes written back, terminals (with --shell-job) as
 * ferry's own, inotify instances with their watches (files_inotify.h).
 * They are kept at fd numbers above every dumped fd, so the processes of the
 * tree, which inherit ferry's fd table, can dup2 each into place without one
 * clobbering another. A description shared between
 * processes is one open file in all of them, as it was.
 */
#ifndef FERRY_RESTORE_FILES_H
#define FERRY_RESTORE_FILES_H

#include <stddef.h>

#include "files_event.h"
#include "bpfmap.h"
#include "pidfd.h"
#include "pty.h"
#include "images.h"
#include "restore.h"

/*
 * One fd of one process: dup2(tmp, fd), then FD_CLOEXEC if cloexec; or,
 * for a pidfd of a process of the tree (pidfd_pid set, tmp -1), opened by
 * the process itself (pidfd.h).
 */
struct rfd_plan {
	int fd, tmp, cloexec;
	pid_t pidfd_pid;
	int pidfd_flags;
	long file_idx; /* its description: r->files[file_idx] */
	/* a file under /proc/PID of a process of the tree, opened by the process (files_proc.c) */
	pid_t proc_pid;
	const FileEntry *proc_fe;
};

struct rfiles {
	int *tmp;		/* per r->files[i]: ferry's fd for it, or -1 if no fd uses it */
	size_t nr_tmp;		/* r->nr_files */
	int base;		/* every tmp fd is >= base > every dumped fd */
	struct rfd_plan **plan; /* per process (r->procs order) */
	size_t *nr_plan;
	size_t nr_procs;
	/* per process: the epoll targets its shell adds once its fds are in place */
	struct repoll_add **ep_plan;
	size_t *nr_ep_plan;
	/* the timerfds, armed just before the tree resumes (rfiles_event_arm_timers) */
	struct rtimer *timers;
	size_t nr_timers;
	/* ptys whose master the dump holds (pty.h) */
	struct rpty *ptys;
	size_t nr_ptys;
	/* per process (NULL: none at all): ferry's slave it takes as controlling tty, or -1 */
	int *ctty;
	pid_t *ctty_pgrp; /* and the group it puts in front (0: its own) */
};

/*
 * rfiles_open - open every description the dump's fds use. @o->shell_job
 * allows terminals (they become ferry's own); a description whose key an
 * @o->inherit names becomes ferry's fd of that entry. A pipe with only one
 * end in the tree (its other end was outside) is refused unless inherited:
 * a new pipe would leave its writer without a reader, its reader without a
 * writer. Returns 0, -ENOENT if a file vanished, -ENOTSUP for a description
 * that cannot be restored, or -errno; errors name the pid, fd and path. On
 * failure nothing is left open.
 */
int rfiles_open(struct rfiles *f, const struct rimg *r, const struct restore_opts *o);

/*
 * rfiles_close - close ferry's copies (the tree keeps its own) and free the
 * plan; the timers are kept (rfiles_event_arm_timers, _drop_timers).
 */
void rfiles_close(struct rfiles *f);

/*
 * rfiles_fifo_open - a new description of named FIFO @fe (files_fifo.c),
 * opened by its path with its entry's flags; the first description of a
 * FIFO (its pipe_id not among the *@nr_filled of @filled, where it is then
 * added; room for one per file entry) refills it from fifo-data.img.
 * Returns the fd (O_CLOEXEC), or -errno (logged with pid, fd and path).
 */
int rfiles_fifo_open(const struct rimg *r, const FileEntry *fe, uint32_t *filled, size_t *nr_filled,
		     pid_t pid, int fd);

/*
 * rfiles_proc_pid - the PID of a REG entry under /proc/PID/ when PID is a
 * process of the dump's tree (files_proc.c), else 0.
 */
pid_t rfiles_proc_pid(const struct rimg *r, const FileEntry *fe);

/*
 * rfiles_proc_place - in the shell of @pid: open plan entry @k's /proc file
 * (proc_pid set) with its flags and position, once its PID exists (up to a
 * second), or dup an earlier entry of the same description; put it at its
 * fd. Returns 0 or -errno, the reason in @msg.
 */
int rfiles_proc_place(const struct rfd_plan *plan, size_t k, pid_t pid, char *msg, size_t size);

/* rfiles_reg_path - the path of a REG entry ("/" prefixed if the image has none). */
const char *rfiles_reg_path(const FileEntry *fe, char *buf, size_t size);

#endif
