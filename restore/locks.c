// SPDX-License-Identifier: MIT
/*
 * File locks taken again inside the restored processes (see locks.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#define LOG_PREFIX "restore: "
#include "file_lock.h"
#include "files.h"
#include "img.h"
#include "locks.h"
#include "log.h"

/* How many of the locks in the way are named in one message. */
#define MAX_HOLDERS 4

static const struct rimg_proc *proc_of(const struct rimg *r, pid_t pid)
{
	for (size_t i = 0; i < r->nr_procs; i++)
		if (r->procs[i].pid == pid)
			return &r->procs[i];
	return NULL;
}

/* What fd @fd of @pid is, for messages: a path, "pipe:[N]" or "a terminal". */
static const char *fd_name(const struct rimg *r, pid_t pid, int fd, char *buf, size_t size)
{
	const struct rimg_proc *p = proc_of(r, pid);
	const FileEntry *fe = NULL;

	for (size_t i = 0; p && i < p->nr_fds && !fe; i++)
		if (p->fds[i]->fd == (uint32_t)fd)
			fe = rimg_file(r, p->fds[i]->id);
	if (fe && fe->type == FD_TYPES__REG && fe->reg)
		return rfiles_reg_path(fe, buf, size);
	if (fe && fe->type == FD_TYPES__PIPE && fe->pipe)
		snprintf(buf, size, "pipe:[%u]", fe->pipe->pipe_id);
	else if (fe && fe->type == FD_TYPES__TTY)
		snprintf(buf, size, "a terminal");
	else
		snprintf(buf, size, "?");
	return buf;
}

static const char *lock_str(const FileLockEntry *l, char *buf, size_t size)
{
	return file_lock_str(l->flag, NULL, (int)l->type, l->start, l->len, buf, size);
}

int rlocks_check(const struct rimg *r, int file_locks)
{
	char what[96], file[PATH_MAX];

	if (file_locks || !r->nr_locks)
		return 0;
	for (size_t i = 0; i < r->nr_locks; i++) {
		const FileLockEntry *l = r->locks[i];

		pr_err("pid %d fd %d: %s: the %s it held is in %s; restore with --file-locks to "
		       "take it again",
		       l->pid, l->fd, fd_name(r, l->pid, l->fd, file, sizeof(file)),
		       lock_str(l, what, sizeof(what)), IMG_FILE_LOCKS->file);
	}
	pr_err("%s/%s: %zu file lock(s): restore with --file-locks (a process restored without "
	       "its locks could lose data to another that takes them meanwhile)",
	       r->dir, IMG_FILE_LOCKS->file, r->nr_locks);
	return -ENOTSUP;
}

/*
 * Name the locks of /proc/locks that stand in the way of lock @l on the file
 * of fd @l->fd of @pid, into @buf ("" if none is found).
 */
static void holders(pid_t pid, const FileLockEntry *l, char *buf, size_t size)
{
	struct file_lock *all = NULL;
	char path[64], what[96];
	size_t nr = 0, named = 0, off = 0;
	struct stat st;

	buf[0] = '\0';
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, l->fd);
	/* Only a message: nothing is named if /proc cannot tell. */
	if (stat(path, &st) || file_lock_read_proc(&all, &nr))
		nr = 0;
	for (size_t i = 0; i < nr && off < size; i++) {
		const struct file_lock *o = &all[i];

		if (o->maj != major(st.st_dev) || o->min != minor(st.st_dev) ||
		    o->ino != (uint64_t)st.st_ino ||
		    !file_lock_conflicts(l->flag, (int)l->type, l->start, l->len, o))
			continue;
		if (named++ == MAX_HOLDERS) {
			snprintf(buf + off, size - off, ", ...");
			break;
		}
		file_lock_desc(o, what, sizeof(what));
		/* An OFD lock shows no pid: it belongs to an open file description. */
		if (o->kind == FILE_LOCK_OFD)
			off += (size_t)snprintf(buf + off, size - off,
						"%san %s of another open file",
						named > 1 ? ", " : "", what);
		else
			off += (size_t)snprintf(buf + off, size - off, "%spid %d's %s",
						named > 1 ? ", " : "", o->pid, what);
	}
	free(all);
}

/* Take lock @l again in process @t, through the fd it was dumped with. */
static int take(struct rtask *t, const struct rimg *r, const FileLockEntry *l)
{
	char what[96], buf[PATH_MAX], who[512], call[64];
	const char *file;
	int err;

	lock_str(l, what, sizeof(what));
	if (l->flag == FILE_LOCK_FLOCK) {
		long op = (l->type == F_WRLCK ? LOCK_EX : LOCK_SH) | LOCK_NB;

		snprintf(call, sizeof(call), "flock(fd %d)", l->fd);
		err = rt_call(t, t->pid, call, NULL, __NR_flock, (uint64_t)l->fd, (uint64_t)op, 0,
			      0, 0, 0);
	} else {
		struct flock fl = {
			.l_type = (short)l->type,
			.l_whence = SEEK_SET,
			.l_start = l->start,
			.l_len = l->len,
		};
		int cmd = l->flag == FILE_LOCK_OFD ? F_OFD_SETLK : F_SETLK;

		snprintf(call, sizeof(call), "fcntl(fd %d, %s)", l->fd,
			 cmd == F_SETLK ? "F_SETLK" : "F_OFD_SETLK");
		err = rt_put(t, 0, &fl, sizeof(fl));
		if (!err)
			err = rt_call(t, t->pid, call, NULL, __NR_fcntl, (uint64_t)l->fd,
				      (uint64_t)cmd, rt_data(t, 0), 0, 0, 0);
	}
	file = fd_name(r, t->pid, l->fd, buf, sizeof(buf));
	if (!err) {
		pr_debug("pid %d fd %d: %s: took the %s again", t->pid, l->fd, file, what);
	} else if (err == -EAGAIN || err == -EACCES) {
		holders(t->pid, l, who, sizeof(who));
		pr_err("pid %d fd %d: %s: cannot take the %s again: held now by %s", t->pid, l->fd,
		       file, what, who[0] ? who : "another process");
	} else {
		pr_errno(err, "pid %d fd %d: %s: cannot take the %s again", t->pid, l->fd, file,
			 what);
	}
	return err;
}

int rlocks_take(struct rtask *t, const struct rimg *r)
{
	int err = 0;

	for (size_t i = 0; i < r->nr_locks && !err; i++)
		if (r->locks[i]->pid == t->pid)
			err = take(t, r, r->locks[i]);
	return err;
}
