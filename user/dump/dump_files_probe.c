// SPDX-License-Identifier: MIT
/*
 * What an fd of the target is, from the outside (stat, readlink, fdinfo of
 * /proc/PID/fd/N), and the preflight of the fd dumper: every fd and file
 * lock a dump cannot take, named (files_dump_check).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/kcmp.h>
#include <linux/major.h>

#define LOG_PREFIX "files: "
#include "log.h"
#include "img.h"
#include "rsys.h"
#include "proc_fdinfo.h"
#include "dump_files.h"
#include "dump_files_priv.h"
#include "dump_events.h"
#include "util.h"

#include "fdinfo.pb-c.h"
#include "regfile.pb-c.h"
#include "pipe.pb-c.h"
#include "pipe-data.pb-c.h"
#include "tty.pb-c.h"
#include "fs.pb-c.h"
#include "fown.pb-c.h"
#include "file-lock.pb-c.h"

int files_read_link(const char *path, char *buf, size_t sz)
{
	ssize_t n = readlink(path, buf, sz);

	if (n < 0)
		return -errno;
	if ((size_t)n >= sz)
		return -ENAMETOOLONG;
	buf[n] = '\0';
	return 0;
}

int files_same_mntns(pid_t pid)
{
	char path[64];
	struct stat a, b;

	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", pid);
	if (stat("/proc/self/ns/mnt", &a) || stat(path, &b))
		return 0;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int files_task_info_read(pid_t pid, struct task_info *ti)
{
	char path[64], buf[1024], *p;
	unsigned int tty_nr;
	ssize_t n;
	int f, ret = 0;

	memset(ti, 0, sizeof(*ti));
	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0) {
		ret = -errno;
		pr_perror("pid %d: cannot open %s", pid, path);
		return ret;
	}
	n = read(f, buf, sizeof(buf) - 1);
	if (n < 0) {
		ret = -errno;
		pr_perror("pid %d: cannot read %s", pid, path);
		goto out;
	}
	buf[n] = '\0';
	/* comm may hold spaces and parentheses: the fields follow the last ')'. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %*c %*d %*d %d %u %d", &ti->sid, &tty_nr, &ti->tpgid) != 3) {
		pr_err("pid %d: cannot parse %s", pid, path);
		ret = -EINVAL;
		goto out;
	}
	/* tty_nr is the kernel's new_encode_dev() of the controlling terminal. */
	ti->has_ctty = tty_nr != 0;
	ti->tty_major = (tty_nr >> 8) & 0xfff;
	ti->tty_minor = (tty_nr & 0xff) | ((tty_nr >> 12) & 0xfff00);
	ti->files_same_mntns = files_same_mntns(pid);
out:
	close(f);
	return ret;
}

static int cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;

	return (x > y) - (x < y);
}

/* The fd numbers of pid, ascending, in a malloc'd array. */
int files_list_fds(pid_t pid, int **out, size_t *nr)
{
	char path[64];
	struct dirent *de;
	size_t n = 0, cap = 0;
	int *fds = NULL, ret = 0;
	DIR *dir;

	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	dir = opendir(path);
	if (!dir) {
		ret = -errno;
		pr_perror("pid %d: cannot open %s", pid, path);
		return ret;
	}
	while ((errno = 0, de = readdir(dir))) {
		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		ret = files_grow((void **)&fds, &cap, n, sizeof(*fds));
		if (ret)
			goto out;
		fds[n++] = atoi(de->d_name);
	}
	if (errno) {
		ret = -errno;
		pr_perror("pid %d: cannot read %s", pid, path);
		goto out;
	}
	qsort(fds, n, sizeof(*fds), cmp_int);
out:
	closedir(dir);
	if (ret) {
		free(fds);
		return ret;
	}
	*out = fds;
	*nr = n;
	return 0;
}

int files_probe_fd(pid_t pid, int fd, struct probe *p)
{
	char path[64];
	int ret;

	proc_fdinfo_release(&p->fi); /* the locks of the fd probed before */
	memset(p, 0, sizeof(*p));
	p->fd = fd;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
	if (stat(path, &p->st)) {
		ret = -errno;
		goto err;
	}
	ret = files_read_link(path, p->link, sizeof(p->link));
	if (ret)
		goto err;
	return proc_fdinfo_read(pid, fd, &p->fi);
err:
	if (ret != -ENOENT)
		pr_errno(ret, "pid %d fd %d: cannot look at %s", pid, fd, path);
	return ret;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

/*
 * Can the object be reopened by its path at restore? what names it in
 * messages ("fd 3", "exe"). Returns 0 or -ENOTSUP (logged).
 */
int files_check_path(pid_t pid, const char *what, const char *name, const struct stat *st,
		     int same_ns)
{
	struct stat now;

	if (name[0] != '/') {
		pr_err("pid %d %s: %s is not supported", pid, what, name);
		return -ENOTSUP;
	}
	if (files_is_memfd(name))
		return files_memfd_check(pid, what, name); /* dumped whole (dump_memfd.c) */
	if (st->st_nlink == 0 || ends_with(name, DELETED_SUFFIX))
		return files_ghost_check(pid, what, name, st);
	/* Seen from another mount namespace the path means something else. */
	if (same_ns && (stat(name, &now) || now.st_dev != st->st_dev || now.st_ino != st->st_ino)) {
		pr_err("pid %d %s: %s, whose path now names another file or none, is not supported",
		       pid, what, name);
		return -ENOTSUP;
	}
	return 0;
}

static int is_pty_slave(dev_t rdev)
{
	unsigned int maj = major(rdev);

	return maj >= UNIX98_PTY_SLAVE_MAJOR &&
	       maj < UNIX98_PTY_SLAVE_MAJOR + UNIX98_PTY_MAJOR_COUNT;
}

uint32_t files_pty_index(dev_t rdev)
{
	return (major(rdev) - UNIX98_PTY_SLAVE_MAJOR) * 256 + minor(rdev);
}

static int is_tty_major(unsigned int maj)
{
	return maj == TTY_MAJOR || maj == TTYAUX_MAJOR ||
	       (maj >= UNIX98_PTY_MASTER_MAJOR &&
		maj < UNIX98_PTY_SLAVE_MAJOR + UNIX98_PTY_MAJOR_COUNT);
}

/*
 * An O_PATH fd opens nothing but a place in the tree: reopened by its path
 * with the same flags (O_PATH, O_NOFOLLOW on a symlink itself), whatever
 * the inode is. A regular file or directory takes the usual path checks
 * (deleted ones are ghost files); any other kind must still be at its
 * path (lstat: a symlink is not followed).
 */
static int classify_o_path(pid_t pid, const char *what, const struct task_info *ti, struct probe *p)
{
	struct stat now;

	p->type = FD_TYPES__REG;
	if (S_ISREG(p->st.st_mode) || S_ISDIR(p->st.st_mode)) {
		if (files_is_memfd(p->link)) {
			pr_err("pid %d %s: an O_PATH fd on memfd %s is not supported", pid, what,
			       p->link);
			return -ENOTSUP;
		}
		return files_check_path(pid, what, p->link, &p->st, ti->files_same_mntns);
	}
	if (p->link[0] != '/' || p->st.st_nlink == 0 || ends_with(p->link, DELETED_SUFFIX)) {
		pr_err("pid %d %s: an O_PATH fd on %s (mode %o), deleted or without a path, is not supported",
		       pid, what, p->link, p->st.st_mode);
		return -ENOTSUP;
	}
	if (ti->files_same_mntns &&
	    (lstat(p->link, &now) || now.st_dev != p->st.st_dev || now.st_ino != p->st.st_ino)) {
		pr_err("pid %d %s: O_PATH fd on %s, whose path now names another file or none, is not supported",
		       pid, what, p->link);
		return -ENOTSUP;
	}
	return 0;
}

/*
 * Decide what p is: sets p->type, or logs why it cannot be dumped and
 * returns -ENOTSUP. seen tracks the one terminal shell_job re-attaches.
 */
int files_classify(const struct files_dump *d, pid_t pid, const struct task_info *ti,
		   struct probe *p, struct tty_seen *seen)
{
	unsigned int maj, min;
	char what[32];
	int ret;

	snprintf(what, sizeof(what), "fd %d", p->fd);
	if (p->fi.flags & O_PATH)
		return classify_o_path(pid, what, ti, p);
	switch (p->st.st_mode & S_IFMT) {
	case S_IFREG:
	case S_IFDIR:
		p->type = files_is_memfd(p->link) ? FD_TYPES__MEMFD : FD_TYPES__REG;
		return files_check_path(pid, what, p->link, &p->st, ti->files_same_mntns);
	case S_IFCHR:
		maj = major(p->st.st_rdev);
		min = minor(p->st.st_rdev);
		if (maj == MEM_MAJOR) {
			p->type = FD_TYPES__REG;
			return files_check_path(pid, what, p->link, &p->st, ti->files_same_mntns);
		}
		if (is_pty_slave(p->st.st_rdev)) {
			if (!d->o.shell_job) {
				pr_err("pid %d fd %d: tty %s is not supported without --shell-job: use --shell-job",
				       pid, p->fd, p->link);
				return -ENOTSUP;
			}
			if (seen->set && seen->rdev != p->st.st_rdev) {
				pr_err("pid %d fd %d: tty %s (%u:%u) is not supported: --shell-job re-attaches one terminal and %u:%u came first",
				       pid, p->fd, p->link, maj, min, major(seen->rdev),
				       minor(seen->rdev));
				return -ENOTSUP;
			}
			seen->set = 1;
			seen->rdev = p->st.st_rdev;
			p->type = FD_TYPES__TTY;
			return 0;
		}
		if (is_tty_major(maj))
			pr_err("pid %d fd %d: tty %s (%u:%u) is not supported (only a pty slave, with --shell-job)",
			       pid, p->fd, p->link, maj, min);
		else
			pr_err("pid %d fd %d: character device %s (%u:%u) is not supported", pid,
			       p->fd, p->link, maj, min);
		return -ENOTSUP;
	case S_IFIFO:
		if (!strncmp(p->link, "pipe:[", 6)) {
			p->type = FD_TYPES__PIPE;
			return 0;
		}
		if (p->link[0] != '/' || p->st.st_nlink == 0 ||
		    ends_with(p->link, DELETED_SUFFIX)) {
			pr_err("pid %d fd %d: fifo %s, deleted or without a path, is not supported",
			       pid, p->fd, p->link);
			return -ENOTSUP;
		}
		p->type = FD_TYPES__FIFO; /* a named FIFO: reopened by its path */
		return files_check_path(pid, what, p->link, &p->st, ti->files_same_mntns);
	case S_IFBLK:
		pr_err("pid %d fd %d: block device %s is not supported", pid, p->fd, p->link);
		return -ENOTSUP;
	case S_IFSOCK:
		ret = files_inet_classify(pid, p); /* TCP/UDP, or every non-unix kind refused */
		if (ret != -ENOENT)
			return ret;
		return files_unix_classify(pid, p);
	default:
		/* inotify (dumped) and fanotify (refused): dump_inotify.c judges. */
		ret = dump_fsnotify_classify(pid, p->fd, p->link, ti->files_same_mntns);
		if (ret <= 0) {
			if (!ret)
				p->type = FD_TYPES__INOTIFY;
			return ret;
		}
		/* eventfd, epoll, signalfd, timerfd; or a named refusal of another kind */
		ret = files_event_classify(pid, p);
		if (ret != -ENOENT)
			return ret;
		/* socket:[1234], ... */
		pr_err("pid %d fd %d: %s is not supported", pid, p->fd, p->link);
		return -ENOTSUP;
	}
}

/*
 * Can lock @l, which fd p of @pid holds, be dumped and taken again? Logs
 * why not, naming the pid, fd, file and lock, and returns -ENOTSUP; or 0.
 */
int files_check_lock(const struct files_dump *d, pid_t pid, const struct probe *p,
		     const struct file_lock *l)
{
	char what[96];

	file_lock_desc(l, what, sizeof(what));
	if (l->kind != FILE_LOCK_POSIX && l->kind != FILE_LOCK_OFD && l->kind != FILE_LOCK_FLOCK) {
		pr_err("pid %d fd %d: %s: %s is not supported", pid, p->fd, p->link, what);
		return -ENOTSUP;
	}
	if (l->type != F_RDLCK && l->type != F_WRLCK) {
		pr_err("pid %d fd %d: %s: %s is not supported", pid, p->fd, p->link, what);
		return -ENOTSUP;
	}
	/* fdinfo shows a POSIX lock of the fd table: another process can share it (CLONE_FILES). */
	if (l->kind == FILE_LOCK_POSIX && l->pid != pid) {
		pr_err("pid %d fd %d: %s: %s belongs to pid %d, which shares this fd table: not "
		       "supported",
		       pid, p->fd, p->link, what, l->pid);
		return -ENOTSUP;
	}
	if (!d->o.file_locks) {
		pr_err("pid %d fd %d: %s: %s is held; file locks are dumped only with --file-locks",
		       pid, p->fd, p->link, what);
		return -ENOTSUP;
	}
	return 0;
}

/* Would --file-locks dump lock @l of fd p of @pid (a kind and type it takes again)? */
static int lock_kept_with_option(pid_t pid, const struct file_lock *l)
{
	if (l->kind != FILE_LOCK_POSIX && l->kind != FILE_LOCK_OFD && l->kind != FILE_LOCK_FLOCK)
		return 0;
	if (l->type != F_RDLCK && l->type != F_WRLCK)
		return 0;
	return l->kind != FILE_LOCK_POSIX || l->pid == pid;
}

int files_dump_check(struct files_dump *d, pid_t pid)
{
	struct tty_seen seen = d->tty;
	struct task_info ti;
	struct probe *p = NULL;
	size_t i, k, nr = 0, refused = 0, locks = 0, fixable = 0;
	int *fds = NULL, ret;

	ret = files_task_info_read(pid, &ti);
	if (ret)
		return ret;
	ret = files_list_fds(pid, &fds, &nr);
	if (ret)
		return ret;
	p = calloc(1, sizeof(*p));
	if (!p) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < nr; i++) {
		ret = files_probe_fd(pid, fds[i], p);
		if (ret == -ENOENT) /* closed since the listing: nothing to dump */
			continue;
		if (ret)
			goto out;
		ret = files_classify(d, pid, &ti, p, &seen);
		if (!ret)
			ret = files_event_check(d, pid, p);
		if (ret == -ENOTSUP)
			refused++;
		else if (ret)
			goto out;
		for (k = 0; k < p->fi.nr_locks; k++) {
			if (!files_check_lock(d, pid, p, &p->fi.locks[k]))
				continue;
			locks++;
			if (!d->o.file_locks && lock_kept_with_option(pid, &p->fi.locks[k]))
				fixable++;
		}
	}
	ret = 0;
	if (refused) {
		pr_err("pid %d: %zu of %zu file descriptors cannot be dumped", pid, refused, nr);
		ret = -ENOTSUP;
	}
	if (locks) {
		/* A flock or OFD lock shows under each fd of its description: counted per fd. */
		if (fixable == locks)
			pr_err("pid %d: %zu file lock(s) on its fds cannot be dumped: dump with "
			       "--file-locks to dump them",
			       pid, locks);
		else if (fixable)
			pr_err("pid %d: %zu file lock(s) on its fds cannot be dumped (%zu of them "
			       "with --file-locks)",
			       pid, locks, fixable);
		else
			pr_err("pid %d: %zu file lock(s) on its fds cannot be dumped", pid, locks);
		ret = -ENOTSUP;
	}
out:
	if (p)
		proc_fdinfo_release(&p->fi);
	free(p);
	free(fds);
	return ret;
}
