// SPDX-License-Identifier: MIT
/*
 * Open the dump's file descriptions in ferry (see files.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "files.h"
#include "files_inotify.h"
#include "files_inet_sk.h"
#include "files_netlink_sk.h"
#include "files_unix_sk.h"
#include "shmem.h"
#include "log.h"
#include "util.h"

#define OPEN_FLAGS_DROP (O_CREAT | O_EXCL | O_TRUNC | O_NOCTTY)

const char *rfiles_reg_path(const FileEntry *fe, char *buf, size_t size)
{
	const char *name = fe->reg && fe->reg->name ? fe->reg->name : "";

	if (name[0] == '/')
		return name;
	snprintf(buf, size, "/%s", name);
	return buf;
}

/* Move @fd above every dumped fd; closes @fd. Returns the new fd or -errno. */
static int lift(int fd, int base)
{
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, base);
	int err = nfd < 0 ? -errno : 0;

	close(fd);
	if (err)
		pr_errno(err, "cannot move fd %d above %d", fd, base);
	return err ? err : nfd;
}

static int open_reg(const FileEntry *fe, pid_t pid, int fd, int base)
{
	char buf[4096];
	const char *path = rfiles_reg_path(fe, buf, sizeof(buf));
	int lfd, err;

	lfd = open(path, (int)(fe->reg->flags & ~(uint32_t)OPEN_FLAGS_DROP) | O_CLOEXEC);
	if (lfd < 0) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: cannot open %s%s", pid, fd, path,
			 err == -ENOENT ? " (the file vanished since the dump)" : "");
		return err;
	}
	/* An O_PATH fd has no position (lseek fails with EBADF). */
	if (!(fe->reg->flags & O_PATH) && lseek(lfd, (off_t)fe->reg->pos, SEEK_SET) < 0) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: cannot seek %s to %llu", pid, fd, path,
			 (unsigned long long)fe->reg->pos);
		close(lfd);
		return err;
	}
	return lift(lfd, base);
}

/* A new description on one end of a re-created pipe, with the entry's status flags. */
static int pipe_end(const FileEntry *fe, const int ends[2], pid_t pid, int fd, int base)
{
	int end = (fe->pipe->flags & O_ACCMODE) == O_RDONLY ? 0 : 1;
	int lfd = fcntl(ends[end], F_DUPFD_CLOEXEC, base), err;

	if (lfd < 0) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: cannot duplicate pipe:[%u]", pid, fd,
			 fe->pipe->pipe_id);
		return err;
	}
	/* O_DIRECT: packet mode (pipe2(O_DIRECT)), kept per end as O_NONBLOCK is. */
	if (fcntl(lfd, F_SETFL, fe->pipe->flags & (O_NONBLOCK | O_DIRECT)) < 0) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: cannot set the flags of pipe:[%u]", pid, fd,
			 fe->pipe->pipe_id);
		close(lfd);
		return err;
	}
	return lfd;
}

static int make_pipe(const struct rimg *r, uint32_t pipe_id, pid_t pid, int fd, int out[2])
{
	const struct rimg_pipe_data *pd = rimg_pipe(r, pipe_id);
	int err;

	if (pipe2(out, O_CLOEXEC)) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: cannot create a pipe for pipe:[%u]", pid, fd, pipe_id);
		return err;
	}
	if (!pd)
		return 0;
	if (pd->size && fcntl(out[1], F_SETPIPE_SZ, pd->size) < 0)
		pr_warn("pid %d fd %d: cannot size pipe:[%u] to %u bytes (%s)", pid, fd, pipe_id,
			pd->size, strerror(errno));
	if (fcntl(out[1], F_GETPIPE_SZ) < (long)pd->len &&
	    fcntl(out[1], F_SETPIPE_SZ, pd->len) < 0) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: pipe:[%u] cannot hold its %zu dumped bytes", pid, fd,
			 pipe_id, pd->len);
		goto fail;
	}
	err = write_full(out[1], pd->data, pd->len);
	if (err) {
		pr_errno(err, "pid %d fd %d: cannot write %zu bytes back into pipe:[%u]", pid, fd,
			 pd->len, pipe_id);
		goto fail;
	}
	return 0;
fail:
	close(out[0]);
	close(out[1]);
	return err;
}

static int open_tty(pid_t pid, int fd, int base, int shell_job)
{
	int src = -1;

	if (!shell_job) {
		pr_err("pid %d fd %d: is a terminal; restore with --shell-job to give it ferry's "
		       "terminal",
		       pid, fd);
		return -ENOTSUP;
	}
	for (int i = 0; i <= 2 && src < 0; i++)
		if (isatty(i))
			src = i;
	if (src < 0) {
		pr_err("pid %d fd %d: --shell-job, but none of ferry's stdin, stdout, stderr is a "
		       "terminal",
		       pid, fd);
		return -ENOTTY;
	}
	pr_debug("pid %d fd %d: the terminal becomes ferry's fd %d", pid, fd, src);
	src = fcntl(src, F_DUPFD_CLOEXEC, base);
	return src < 0 ? -errno : src;
}

void rfiles_close(struct rfiles *f)
{
	for (size_t i = 0; f->tmp && i < f->nr_tmp; i++)
		if (f->tmp[i] >= 0)
			close(f->tmp[i]);
	free(f->tmp);
	f->tmp = NULL;
	for (size_t i = 0; f->plan && i < f->nr_procs; i++)
		free(f->plan[i]);
	free(f->plan);
	free(f->nr_plan);
	f->plan = NULL;
	f->nr_plan = NULL;
	for (size_t i = 0; f->ep_plan && i < f->nr_procs; i++)
		free(f->ep_plan[i]);
	free(f->ep_plan);
	free(f->nr_ep_plan);
	f->ep_plan = NULL;
	f->nr_ep_plan = NULL;
	rpty_close(f);
}

int restore_inherit_parse(const char *arg, struct restore_inherit *out)
{
	char *end;
	long n;

	if (strncmp(arg, "fd[", 3))
		goto bad;
	errno = 0;
	n = strtol(arg + 3, &end, 10);
	if (errno || end == arg + 3 || n < 0 || n > INT32_MAX || strncmp(end, "]:", 2) || !end[2])
		goto bad;
	if (fcntl((int)n, F_GETFD) < 0) {
		pr_err("--inherit-fd %s: ferry has no fd %ld open", arg, n);
		return -EINVAL;
	}
	out->fd = (int)n;
	out->key = end + 2;
	return 0;
bad:
	pr_err("--inherit-fd %s: expected fd[N]:KEY, e.g. fd[1]:pipe:[12345]", arg);
	return -EINVAL;
}

/* The key --inherit-fd names description @fe by: "pipe:[ID]" or the file's path. */
static const char *file_key(const FileEntry *fe, char *buf, size_t size)
{
	if (fe->type == FD_TYPES__PIPE) {
		snprintf(buf, size, "pipe:[%u]", fe->pipe->pipe_id);
		return buf;
	}
	if (fe->type == FD_TYPES__REG)
		return rfiles_reg_path(fe, buf, size);
	if (fe->type == FD_TYPES__UNIXSK) {
		snprintf(buf, size, "socket:[%u]", fe->usk->ino);
		return buf;
	}
	return NULL;
}

/* The --inherit-fd entry for @fe, or NULL. */
static const struct restore_inherit *inherited(const struct restore_opts *o, const FileEntry *fe)
{
	char buf[4096];
	const char *key = file_key(fe, buf, sizeof(buf));

	for (size_t i = 0; key && i < o->nr_inherit; i++)
		if (!strcmp(o->inherit[i].key, key))
			return &o->inherit[i];
	return NULL;
}

/*
 * The ends of pipe @pipe_id that fds of the dump hold: bit 0 the read end,
 * bit 1 the write end.
 */
static unsigned pipe_ends_held(const struct rimg *r, uint32_t pipe_id)
{
	unsigned ends = 0;

	for (size_t i = 0; i < r->nr_files; i++) {
		const FileEntry *fe = r->files[i];

		if (fe->type == FD_TYPES__PIPE && fe->pipe->pipe_id == pipe_id)
			ends |= (fe->pipe->flags & O_ACCMODE) == O_RDONLY ? 1 : 2;
	}
	return ends;
}

/* Ferry's fd @in->fd for the fd @fd of @pid, above @base; or the refusal of an outward pipe. */
static int open_inherited_or_refuse(const struct rimg *r, const FileEntry *fe,
				    const struct restore_inherit *in, pid_t pid, int fd, int base)
{
	int lfd;

	if (in) {
		lfd = fcntl(in->fd, F_DUPFD_CLOEXEC, base);
		if (lfd < 0) {
			lfd = -errno;
			pr_errno(lfd, "pid %d fd %d: cannot take ferry's fd %d (--inherit-fd)", pid,
				 fd, in->fd);
		} else {
			pr_info("pid %d fd %d: ferry's fd %d, as --inherit-fd fd[%d]:%s says", pid,
				fd, in->fd, in->fd, in->key);
		}
		return lfd;
	}
	pr_err("pid %d fd %d: pipe:[%u] led out of the dumped tree (no process of it held its "
	       "%s end): a new pipe would leave it %s. Give it ferry's fd that leads where the "
	       "old one did: --inherit-fd fd[%d]:pipe:[%u] (e.g. `ferry restore ... "
	       "--inherit-fd 'fd[%d]:pipe:[%u]' %s`)",
	       pid, fd, fe->pipe->pipe_id,
	       (fe->pipe->flags & O_ACCMODE) == O_RDONLY ? "write" : "read",
	       (fe->pipe->flags & O_ACCMODE) == O_RDONLY ? "reading end-of-file at once"
							 : "writing to no reader (SIGPIPE)",
	       fd, fe->pipe->pipe_id, fd, fe->pipe->pipe_id,
	       (fe->pipe->flags & O_ACCMODE) == O_RDONLY ? "< <(producer)" : "| consumer");
	return -EPIPE;
}

int rfiles_open(struct rfiles *f, const struct rimg *r, const struct restore_opts *o)
{
	int(*ends)[2] = NULL;
	uint32_t *ends_id = NULL, *fifos = NULL, *maps = NULL;
	size_t nr_ends = 0, nr_fifos = 0, nr_maps = 0;
	int *map_fds = NULL;
	int err = 0, maxfd = 2;

	memset(f, 0, sizeof(*f));
	f->nr_tmp = r->nr_files;
	f->nr_procs = r->nr_procs;
	f->tmp = malloc((r->nr_files ? r->nr_files : 1) * sizeof(int));
	f->plan = calloc(r->nr_procs, sizeof(*f->plan));
	f->nr_plan = calloc(r->nr_procs, sizeof(*f->nr_plan));
	f->ep_plan = calloc(r->nr_procs, sizeof(*f->ep_plan));
	f->nr_ep_plan = calloc(r->nr_procs, sizeof(*f->nr_ep_plan));
	ends = calloc(r->nr_files ? r->nr_files : 1, sizeof(*ends));
	ends_id = calloc(r->nr_files ? r->nr_files : 1, sizeof(*ends_id));
	fifos = calloc(r->nr_files ? r->nr_files : 1, sizeof(*fifos));
	maps = calloc(r->nr_files ? r->nr_files : 1, sizeof(*maps));
	map_fds = calloc(r->nr_files ? r->nr_files : 1, sizeof(*map_fds));
	if (!f->tmp || !f->plan || !f->nr_plan || !f->ep_plan || !f->nr_ep_plan || !ends ||
	    !ends_id || !fifos || !maps || !map_fds) {
		err = -ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < r->nr_files; i++)
		f->tmp[i] = -1;
	for (size_t p = 0; p < r->nr_procs; p++)
		for (size_t k = 0; k < r->procs[p].nr_fds; k++)
			if ((int)r->procs[p].fds[k]->fd > maxfd)
				maxfd = (int)r->procs[p].fds[k]->fd;
	f->base = maxfd + 1 < 64 ? 64 : maxfd + 1;

	for (size_t p = 0; p < r->nr_procs && !err; p++) {
		const struct rimg_proc *ip = &r->procs[p];

		f->plan[p] = calloc(ip->nr_fds ? ip->nr_fds : 1, sizeof(**f->plan));
		if (!f->plan[p]) {
			err = -ENOMEM;
			break;
		}
		for (size_t k = 0; k < ip->nr_fds && !err; k++) {
			const FdinfoEntry *fi = ip->fds[k];
			long idx = rimg_file_index(r, fi->id);
			const FileEntry *fe;
			int lfd;

			if (idx < 0) { /* rimg_load checked; be safe */
				err = -EINVAL;
				break;
			}
			fe = r->files[idx];
			if (fe->type == FD_TYPES__PIDFD && fe->pidfd->nspid != -1) {
				/* Opened by the process itself, once its pid exists (pidfd.h). */
				f->plan[p][k] = (struct rfd_plan){
					.fd = (int)fi->fd,
					.tmp = -1,
					.cloexec = !!(fi->flags & FD_CLOEXEC),
					.pidfd_pid = fe->pidfd->nspid,
					.pidfd_flags = (int)(fe->pidfd->flags & O_NONBLOCK),
					.file_idx = idx,
				};
				f->nr_plan[p]++;
				continue;
			}
			if (fe->type == FD_TYPES__REG && rfiles_proc_pid(r, fe)) {
				/* /proc/PID of the tree: opened by the process itself. */
				f->plan[p][k] = (struct rfd_plan){
					.fd = (int)fi->fd,
					.tmp = -1,
					.cloexec = !!(fi->flags & FD_CLOEXEC),
					.file_idx = idx,
					.proc_pid = rfiles_proc_pid(r, fe),
					.proc_fe = fe,
				};
				f->nr_plan[p]++;
				continue;
			}
			if (f->tmp[idx] < 0) {
				const struct restore_inherit *in = inherited(o, fe);

				if (in || (fe->type == FD_TYPES__PIPE &&
					   pipe_ends_held(r, fe->pipe->pipe_id) != 3)) {
					lfd = open_inherited_or_refuse(r, fe, in, ip->pid,
								       (int)fi->fd, f->base);
					if (lfd < 0) {
						err = lfd;
						break;
					}
					f->tmp[idx] = lfd;
				}
			}
			if (f->tmp[idx] < 0) {
				switch (fe->type) {
				case FD_TYPES__REG:
					lfd = open_reg(fe, ip->pid, (int)fi->fd, f->base);
					break;
				case FD_TYPES__PIPE: {
					size_t e;

					for (e = 0; e < nr_ends; e++)
						if (ends_id[e] == fe->pipe->pipe_id)
							break;
					if (e == nr_ends) {
						lfd = make_pipe(r, fe->pipe->pipe_id, ip->pid,
								(int)fi->fd, ends[e]);
						if (lfd)
							break;
						ends_id[nr_ends++] = fe->pipe->pipe_id;
					}
					lfd = pipe_end(fe, ends[e], ip->pid, (int)fi->fd, f->base);
					break;
				}
				case FD_TYPES__FIFO:
					lfd = rfiles_fifo_open(r, fe, fifos, &nr_fifos, ip->pid,
							       (int)fi->fd);
					if (lfd >= 0)
						lfd = lift(lfd, f->base);
					break;
				case FD_TYPES__TTY:
					if (rimg_tty_pair(r, fe->tty->tty_info_id))
						lfd = rpty_open(f, r, fe, ip->pid, (int)fi->fd);
					else
						lfd = open_tty(ip->pid, (int)fi->fd, f->base,
							       o->shell_job);
					break;
				case FD_TYPES__INOTIFY:
					lfd = rfiles_inotify_open(fe, ip->pid, (int)fi->fd);
					if (lfd >= 0)
						lfd = lift(lfd, f->base);
					break;
				case FD_TYPES__EVENTFD:
				case FD_TYPES__EVENTPOLL:
				case FD_TYPES__SIGNALFD:
				case FD_TYPES__TIMERFD:
					lfd = rfiles_event_open(fe, ip->pid, (int)fi->fd, f->base);
					if (lfd >= 0 && fe->type == FD_TYPES__TIMERFD) {
						int kept = rfiles_event_keep_timer(
							&f->timers, &f->nr_timers, lfd, fe->tfd,
							ip->pid, (int)fi->fd, f->base);

						if (kept) {
							close(lfd);
							lfd = kept;
						}
					}
					break;
				case FD_TYPES__UNIXSK:
					lfd = rfiles_unix_open(r, idx, f->tmp, ip->pid, (int)fi->fd,
							       f->base, o->ext_unix_sk);
					break;
				case FD_TYPES__INETSK:
					lfd = rfiles_inet_open(fe, ip->pid, (int)fi->fd, f->base);
					break;
				case FD_TYPES__NETLINKSK:
					lfd = rfiles_netlink_open(fe, ip->pid, (int)fi->fd,
								  f->base);
					break;
				case FD_TYPES__MEMFD:
					lfd = rshmem_open_memfd(r, fe, ip->pid, (int)fi->fd,
								f->base);
					break;
				case FD_TYPES__BPFMAP:
					lfd = rbpfmap_open(r, fe, maps, map_fds, &nr_maps, ip->pid,
							   (int)fi->fd, f->base);
					break;
				case FD_TYPES__PIDFD: /* of a dead process: made here */
					lfd = rpidfd_dead(fe, ip->pid, (int)fi->fd, f->base);
					break;
				default:
					pr_err("pid %d fd %d: files.img entry %u has type %d, which "
					       "ferry cannot restore",
					       ip->pid, fi->fd, fe->id, fe->type);
					lfd = -ENOTSUP;
				}
				if (lfd < 0) {
					err = lfd;
					break;
				}
				f->tmp[idx] = lfd;
			}
			f->plan[p][k].fd = (int)fi->fd;
			f->plan[p][k].tmp = f->tmp[idx];
			f->plan[p][k].cloexec = !!(fi->flags & FD_CLOEXEC);
			f->plan[p][k].file_idx = idx;
			f->nr_plan[p]++;
		}
	}
	if (!err)
		err = rpty_finish(f, r);
	for (size_t p = 0; p < r->nr_procs && !err; p++)
		err = rfiles_event_plan(r, p, &f->ep_plan[p], &f->nr_ep_plan[p]);
	for (size_t i = 0; !err && i < o->nr_inherit; i++) {
		size_t k;

		for (k = 0; k < r->nr_files && inherited(o, r->files[k]) != &o->inherit[i]; k++)
			;
		if (k == r->nr_files)
			pr_warn("--inherit-fd fd[%d]:%s: no file of the dump has that key (see "
				"`ferry decode -i files.img`)",
				o->inherit[i].fd, o->inherit[i].key);
	}
out:
	for (size_t i = 0; i < nr_ends; i++) {
		close(ends[i][0]);
		close(ends[i][1]);
	}
	free(ends);
	free(ends_id);
	free(fifos);
	for (size_t i = 0; i < nr_maps; i++)
		close(map_fds[i]);
	free(maps);
	free(map_fds);
	if (err) {
		rfiles_close(f);
		rfiles_event_drop_timers(&f->timers, &f->nr_timers);
	}
	return err;
}
