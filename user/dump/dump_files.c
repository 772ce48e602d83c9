// SPDX-License-Identifier: MIT
/*
 * Dumping file descriptors (see dump_files.h).
 *
 * Every fd is first looked at from the outside: stat(2) and readlink(2) of
 * /proc/PID/fd/N and its fdinfo say what it is. Only then is it copied into
 * ferry with pidfd_getfd(2), for what needs the description itself: the
 * F_SETOWN owner, the pipe's size and buffered bytes, a terminal's settings.
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
#include "util.h"

#include "fdinfo.pb-c.h"
#include "regfile.pb-c.h"
#include "pipe.pb-c.h"
#include "pipe-data.pb-c.h"
#include "tty.pb-c.h"
#include "fs.pb-c.h"
#include "fown.pb-c.h"
#include "file-lock.pb-c.h"

#ifndef F_GETOWNER_UIDS /* include/uapi/asm-generic/fcntl.h, CONFIG_CHECKPOINT_RESTORE */
#define F_GETOWNER_UIDS 17
#endif

/*
 * The kernel's struct termios2 (asm-generic/termbits.h, x86 layout): TCGETS2
 * gives the line speeds too. Declared here because <asm/termbits.h> clashes
 * with glibc's <termios.h> definitions.
 */
#define KTERM_NCC 19
struct kterm2 {
	uint32_t c_iflag;
	uint32_t c_oflag;
	uint32_t c_cflag;
	uint32_t c_lflag;
	uint8_t c_line;
	uint8_t c_cc[KTERM_NCC];
	uint32_t c_ispeed;
	uint32_t c_ospeed;
};
_Static_assert(sizeof(struct kterm2) == 44, "struct termios2 layout");
#define FERRY_TCGETS2 _IOR('T', 0x2A, struct kterm2)

#define DELETED_SUFFIX " (deleted)"

enum desc_src {
	SRC_FD,	  /* an fd of the tree: shared by kcmp */
	SRC_PATH, /* files_dump_path: shared by (dev, ino, flags, path) */
	SRC_AUX,  /* the path entry of a tty (regf_id): never shared */
};

struct fown_v {
	uint32_t uid, euid, signum, pid_type, pid;
};

/* One open file description: one file_entry of files.img. */
struct desc {
	uint32_t id;
	FdTypes type;
	enum desc_src src;
	pid_t pid; /* SRC_FD: the first fd seen on it, for kcmp */
	int fd;
	dev_t dev;
	ino_t ino;
	uint32_t flags; /* open flags, without O_CLOEXEC */
	struct fown_v fown;
	/* REG */
	char *name;
	uint64_t pos, size;
	uint32_t mode;
	int32_t mnt_id;
	/* PIPE */
	uint32_t pipe_id;
	/* TTY */
	uint32_t tty_info_id, regf_id;
};

/* The buffered bytes of one pipe: one entry of pipes-data.img. */
struct pipe_data {
	uint32_t pipe_id;
	uint32_t size; /* F_GETPIPE_SZ */
	uint32_t len;
	uint8_t *buf;
};

/* One terminal: one entry of tty-info.img. */
struct tty_rec {
	uint32_t id, index, rdev, dev, uid, gid, sid, pgrp;
	int exclusive;
	int hung; /* no termios: the other side is gone */
	struct kterm2 t, locked;
	struct winsize ws;
};

/* One lock to take again at restore: one entry of filelocks.img. */
struct lock_rec {
	pid_t pid;	  /* the process that takes it */
	int fd;		  /* through this fd of it */
	uint32_t file_id; /* the description behind fd */
	struct file_lock l;
};

/* The one terminal --shell-job re-attaches. */
struct tty_seen {
	int set;
	dev_t rdev;
};

struct files_dump {
	struct files_dump_opts o;
	uint32_t next_id;
	struct desc *d;
	size_t nd, capd;
	struct pipe_data *p;
	size_t np, capp;
	struct tty_rec *t;
	size_t nt, capt;
	struct tty_seen tty;
	struct lock_rec *lk;
	size_t nlk, caplk;
	/*
	 * The SRC_FD descriptions (indices into d), sorted by type, dev, ino,
	 * then by kcmp's order of the open file descriptions: find_shared() is
	 * a binary search with O(log n) kcmp calls per fd, not a kcmp against
	 * every earlier fd on the same inode (5000 fds on /dev/null: 13 s).
	 */
	size_t *fdx;
	size_t nfdx, capfdx;
};

/* What ferry learns about one fd of the target before touching it. */
struct probe {
	int fd;
	struct stat st;
	char link[PATH_MAX];
	struct proc_fdinfo fi;
	FdTypes type; /* REG, PIPE or TTY once classified */
};

/* From /proc/PID/stat and the mount namespace links. */
struct task_info {
	pid_t sid, tpgid;
	int has_ctty;
	unsigned int tty_major, tty_minor;
	int same_mntns; /* paths read from /proc mean the same here */
};

/* Grow *arr (of *cap elements of sz bytes) to hold at least n + 1. */
static int grow(void **arr, size_t *cap, size_t n, size_t sz)
{
	size_t ncap;
	void *na;

	if (n < *cap)
		return 0;
	ncap = *cap ? *cap * 2 : 16;
	na = realloc(*arr, ncap * sz);
	if (!na)
		return -ENOMEM;
	*arr = na;
	*cap = ncap;
	return 0;
}

static int read_link(const char *path, char *buf, size_t sz)
{
	ssize_t n = readlink(path, buf, sz);

	if (n < 0)
		return -errno;
	if ((size_t)n >= sz)
		return -ENAMETOOLONG;
	buf[n] = '\0';
	return 0;
}

static int same_mntns(pid_t pid)
{
	char path[64];
	struct stat a, b;

	snprintf(path, sizeof(path), "/proc/%d/ns/mnt", pid);
	if (stat("/proc/self/ns/mnt", &a) || stat(path, &b))
		return 0;
	return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

static int task_info_read(pid_t pid, struct task_info *ti)
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
	ti->same_mntns = same_mntns(pid);
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
static int list_fds(pid_t pid, int **out, size_t *nr)
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
		ret = grow((void **)&fds, &cap, n, sizeof(*fds));
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

static int probe_fd(pid_t pid, int fd, struct probe *p)
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
	ret = read_link(path, p->link, sizeof(p->link));
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
static int check_path(pid_t pid, const char *what, const char *name, const struct stat *st,
		      int same_ns)
{
	struct stat now;

	if (name[0] != '/') {
		pr_err("pid %d %s: %s is not supported", pid, what, name);
		return -ENOTSUP;
	}
	if (!strncmp(name, "/memfd:", 7)) {
		pr_err("pid %d %s: memfd %s is not supported", pid, what, name);
		return -ENOTSUP;
	}
	if (st->st_nlink == 0 || ends_with(name, DELETED_SUFFIX)) {
		pr_err("pid %d %s: deleted file %s is not supported", pid, what, name);
		return -ENOTSUP;
	}
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

static uint32_t pty_index(dev_t rdev)
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
 * Decide what p is: sets p->type, or logs why it cannot be dumped and
 * returns -ENOTSUP. seen tracks the one terminal shell_job re-attaches.
 */
static int classify(const struct files_dump *d, pid_t pid, const struct task_info *ti,
		    struct probe *p, struct tty_seen *seen)
{
	unsigned int maj, min;
	char what[32];

	snprintf(what, sizeof(what), "fd %d", p->fd);
	switch (p->st.st_mode & S_IFMT) {
	case S_IFREG:
	case S_IFDIR:
		p->type = FD_TYPES__REG;
		return check_path(pid, what, p->link, &p->st, ti->same_mntns);
	case S_IFCHR:
		maj = major(p->st.st_rdev);
		min = minor(p->st.st_rdev);
		if (maj == MEM_MAJOR) {
			p->type = FD_TYPES__REG;
			return check_path(pid, what, p->link, &p->st, ti->same_mntns);
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
		pr_err("pid %d fd %d: fifo %s is not supported", pid, p->fd, p->link);
		return -ENOTSUP;
	case S_IFBLK:
		pr_err("pid %d fd %d: block device %s is not supported", pid, p->fd, p->link);
		return -ENOTSUP;
	default:
		/* socket:[1234], anon_inode:[eventfd], anon_inode:[eventpoll], ... */
		pr_err("pid %d fd %d: %s is not supported", pid, p->fd, p->link);
		return -ENOTSUP;
	}
}

int files_dump_init(struct files_dump **out, const struct files_dump_opts *o)
{
	struct files_dump *d = calloc(1, sizeof(*d));

	if (!d)
		return -ENOMEM;
	if (o)
		d->o = *o;
	d->next_id = 1;
	*out = d;
	return 0;
}

void files_dump_free(struct files_dump *d)
{
	size_t i;

	if (!d)
		return;
	for (i = 0; i < d->nd; i++)
		free(d->d[i].name);
	for (i = 0; i < d->np; i++)
		free(d->p[i].buf);
	free(d->d);
	free(d->p);
	free(d->t);
	free(d->fdx);
	free(d->lk);
	free(d);
}

/*
 * Can lock @l, which fd p of @pid holds, be dumped and taken again? Logs
 * why not, naming the pid, fd, file and lock, and returns -ENOTSUP; or 0.
 */
static int check_lock(const struct files_dump *d, pid_t pid, const struct probe *p,
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

int files_dump_check(struct files_dump *d, pid_t pid)
{
	struct tty_seen seen = d->tty;
	struct task_info ti;
	struct probe *p = NULL;
	size_t i, k, nr = 0, refused = 0, locks = 0;
	int *fds = NULL, ret;

	ret = task_info_read(pid, &ti);
	if (ret)
		return ret;
	ret = list_fds(pid, &fds, &nr);
	if (ret)
		return ret;
	p = calloc(1, sizeof(*p));
	if (!p) {
		ret = -ENOMEM;
		goto out;
	}
	for (i = 0; i < nr; i++) {
		ret = probe_fd(pid, fds[i], p);
		if (ret == -ENOENT) /* closed since the listing: nothing to dump */
			continue;
		if (ret)
			goto out;
		ret = classify(d, pid, &ti, p, &seen);
		if (ret == -ENOTSUP)
			refused++;
		else if (ret)
			goto out;
		for (k = 0; k < p->fi.nr_locks; k++)
			if (check_lock(d, pid, p, &p->fi.locks[k]))
				locks++;
	}
	ret = 0;
	if (refused) {
		pr_err("pid %d: %zu of %zu file descriptors cannot be dumped", pid, refused, nr);
		ret = -ENOTSUP;
	}
	if (locks) {
		/* A flock or OFD lock shows under each fd of its description: counted per fd. */
		pr_err("pid %d: %zu file lock(s) on its fds cannot be dumped%s", pid, locks,
		       d->o.file_locks ? "" : ": dump with --file-locks to dump them");
		ret = -ENOTSUP;
	}
out:
	if (p)
		proc_fdinfo_release(&p->fi);
	free(p);
	free(fds);
	return ret;
}

/*
 * Order description e against the fd of p in process pid: by type, dev and
 * ino, then by kcmp(KCMP_FILE), which orders open file descriptions (0:
 * the same one). Sets *res to <0, 0 or >0; returns 0 or -errno.
 */
static int fd_cmp(const struct desc *e, pid_t pid, const struct probe *p, int *res)
{
	long r;

	if (e->type != p->type || e->dev != p->st.st_dev || e->ino != p->st.st_ino) {
		if (e->type != p->type)
			*res = e->type < p->type ? -1 : 1;
		else if (e->dev != p->st.st_dev)
			*res = e->dev < p->st.st_dev ? -1 : 1;
		else
			*res = e->ino < p->st.st_ino ? -1 : 1;
		return 0;
	}
	r = syscall(SYS_kcmp, e->pid, pid, KCMP_FILE, e->fd, p->fd);
	if (r < 0 || r > 2) {
		int err = r < 0 ? -errno : -EINVAL;

		pr_errno(err, "pid %d fd %d: kcmp with pid %d fd %d", pid, p->fd, e->pid, e->fd);
		return err;
	}
	*res = r == 0 ? 0 : r == 1 ? -1 : 1;
	return 0;
}

/*
 * Is p the same open file description as an earlier fd? Returns 1 (*id
 * set), 0 (*at: where its description goes in d->fdx), or -errno.
 */
static int find_shared(struct files_dump *d, pid_t pid, const struct probe *p, uint32_t *id,
		       size_t *at)
{
	size_t lo = 0, hi = d->nfdx;
	int ret, c = 0;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct desc *e = &d->d[d->fdx[mid]];

		ret = fd_cmp(e, pid, p, &c);
		if (ret)
			return ret;
		if (!c) {
			*id = e->id;
			return 1;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*at = lo;
	return 0;
}

/* Put the SRC_FD description registered since d->d[from] into d->fdx at @at. */
static int index_fd(struct files_dump *d, size_t from, size_t at)
{
	size_t i;

	for (i = from; i < d->nd && d->d[i].src != SRC_FD; i++)
		;
	if (i == d->nd)
		return 0;
	if (grow((void **)&d->fdx, &d->capfdx, d->nfdx, sizeof(*d->fdx)))
		return -ENOMEM;
	memmove(&d->fdx[at + 1], &d->fdx[at], (d->nfdx - at) * sizeof(*d->fdx));
	d->fdx[at] = i;
	d->nfdx++;
	return 0;
}

/* The F_SETOWN owner of a description (zero when none is set). */
static int get_fown(pid_t pid, int fd, int lfd, uint32_t flags, struct fown_v *fo)
{
	struct f_owner_ex ox;
	uint32_t uids[2];
	int sig;

	memset(fo, 0, sizeof(*fo));
	if (flags & O_PATH) /* fcntl(F_GETOWN_EX) is not allowed on it, and it has none */
		return 0;
	if (fcntl(lfd, F_GETOWN_EX, &ox) < 0) {
		int err = -errno;

		pr_perror("pid %d fd %d: F_GETOWN_EX", pid, fd);
		return err;
	}
	if (!ox.pid)
		return 0;
	sig = fcntl(lfd, F_GETSIG);
	if (sig < 0 || fcntl(lfd, F_GETOWNER_UIDS, uids) < 0) {
		int err = -errno;

		pr_perror("pid %d fd %d: cannot read the owner's signal and uids", pid, fd);
		return err;
	}
	fo->uid = uids[0];
	fo->euid = uids[1];
	fo->signum = (uint32_t)sig;
	fo->pid_type = (uint32_t)ox.type;
	fo->pid = (uint32_t)ox.pid;
	return 0;
}

/* A new description of fd p of pid, with the fields every type has; fo may be NULL. */
static struct desc *desc_new(struct files_dump *d, FdTypes type, enum desc_src src, pid_t pid,
			     const struct probe *p, const struct fown_v *fo)
{
	struct desc *e;

	if (grow((void **)&d->d, &d->capd, d->nd, sizeof(*d->d)))
		return NULL;
	e = &d->d[d->nd++];
	memset(e, 0, sizeof(*e));
	e->id = d->next_id++;
	e->type = type;
	e->src = src;
	e->mnt_id = -1;
	e->pid = pid;
	e->fd = p->fd;
	e->dev = p->st.st_dev;
	e->ino = p->st.st_ino;
	e->flags = p->fi.flags & ~(uint32_t)O_CLOEXEC;
	if (fo)
		e->fown = *fo;
	return e;
}

/* A REG entry of the fd described by p. */
static int add_reg(struct files_dump *d, enum desc_src src, pid_t pid, const struct probe *p,
		   const struct fown_v *fo, uint32_t *id)
{
	struct desc *e;
	char *name = strdup(p->link);

	if (!name)
		return -ENOMEM;
	e = desc_new(d, FD_TYPES__REG, src, pid, p, fo);
	if (!e) {
		free(name);
		return -ENOMEM;
	}
	e->name = name;
	e->pos = p->fi.pos;
	e->size = (uint64_t)p->st.st_size;
	e->mode = p->st.st_mode;
	e->mnt_id = p->fi.mnt_id;
	*id = e->id;
	return 0;
}

/*
 * Copy the bytes buffered in the pipe of p, once per pipe, without taking
 * them out: tee(2) from its read side into a private pipe of the same size.
 */
static int capture_pipe(struct files_dump *d, pid_t pid, const struct probe *p, int lfd)
{
	uint32_t pipe_id = (uint32_t)p->st.st_ino;
	int rfd = lfd, own = -1, priv[2] = { -1, -1 }, size, avail = 0, ret = 0;
	struct pipe_data *pd;
	uint8_t *buf = NULL;
	char path[64];
	ssize_t n;
	size_t i;

	for (i = 0; i < d->np; i++)
		if (d->p[i].pipe_id == pipe_id)
			return 0;
	if ((p->fi.flags & O_ACCMODE) == O_WRONLY) {
		/* Opening the write end's /proc link for reading gives the pipe's read side. */
		snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, p->fd);
		own = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
		if (own < 0) {
			ret = -errno;
			pr_perror("pid %d fd %d: cannot open the read side of pipe:[%u] through %s",
				  pid, p->fd, pipe_id, path);
			goto out;
		}
		rfd = own;
	}
	size = fcntl(rfd, F_GETPIPE_SZ);
	if (size < 0 || ioctl(rfd, FIONREAD, &avail) < 0) {
		ret = -errno;
		pr_perror("pid %d fd %d: cannot read the size of pipe:[%u]", pid, p->fd, pipe_id);
		goto out;
	}
	if (avail > 0) {
		if (pipe2(priv, O_CLOEXEC)) {
			ret = -errno;
			pr_perror("pid %d fd %d: pipe2", pid, p->fd);
			goto out;
		}
		/* As many slots as the target's pipe: all its buffers fit. */
		if (fcntl(priv[1], F_SETPIPE_SZ, size) < 0) {
			ret = -errno;
			pr_perror(
				"pid %d fd %d: cannot size a private pipe to %d bytes for pipe:[%u]",
				pid, p->fd, size, pipe_id);
			goto out;
		}
		n = tee(rfd, priv[1], (size_t)avail, SPLICE_F_NONBLOCK);
		if (n != avail) {
			ret = n < 0 ? -errno : -EIO;
			pr_errno(ret, "pid %d fd %d: tee of pipe:[%u] copied %zd of %d bytes", pid,
				 p->fd, pipe_id, n, avail);
			goto out;
		}
		buf = malloc((size_t)avail);
		if (!buf) {
			ret = -ENOMEM;
			goto out;
		}
		ret = read_full(priv[0], buf, (size_t)avail, NULL);
		if (ret) {
			pr_errno(ret, "pid %d fd %d: cannot read the copy of pipe:[%u]", pid, p->fd,
				 pipe_id);
			goto out;
		}
	}
	ret = grow((void **)&d->p, &d->capp, d->np, sizeof(*d->p));
	if (ret)
		goto out;
	pd = &d->p[d->np++];
	pd->pipe_id = pipe_id;
	pd->size = (uint32_t)size;
	pd->len = (uint32_t)avail;
	pd->buf = buf;
	buf = NULL;
	pr_debug("pid %d fd %d: pipe:[%u] holds %d of %d bytes", pid, p->fd, pipe_id, avail, size);
out:
	free(buf);
	if (priv[0] >= 0)
		close(priv[0]);
	if (priv[1] >= 0)
		close(priv[1]);
	if (own >= 0)
		close(own);
	return ret;
}

static int add_pipe(struct files_dump *d, pid_t pid, const struct probe *p, int lfd,
		    const struct fown_v *fo, uint32_t *id)
{
	struct desc *e;
	int ret;

	ret = capture_pipe(d, pid, p, lfd);
	if (ret)
		return ret;
	e = desc_new(d, FD_TYPES__PIPE, SRC_FD, pid, p, fo);
	if (!e)
		return -ENOMEM;
	e->pipe_id = (uint32_t)p->st.st_ino;
	*id = e->id;
	return 0;
}

/* A get-ioctl on a tty: 0, 1 if the tty is hung up (EIO), or -errno (logged). */
static int tty_get(pid_t pid, int fd, int lfd, unsigned long req, const char *name, void *arg)
{
	int err;

	if (ioctl(lfd, req, arg) == 0)
		return 0;
	err = -errno;
	if (err == -EIO)
		return 1;
	pr_errno(err, "pid %d fd %d: %s", pid, fd, name);
	return err;
}

/* Record the settings of the terminal of p, once per terminal. */
static int collect_tty(struct files_dump *d, pid_t pid, const struct task_info *ti,
		       const struct probe *p, int lfd, uint32_t info_id)
{
	struct tty_rec *t;
	size_t i;
	int ret, excl = 0;

	for (i = 0; i < d->nt; i++)
		if (d->t[i].id == info_id)
			return 0;
	ret = grow((void **)&d->t, &d->capt, d->nt, sizeof(*d->t));
	if (ret)
		return ret;
	t = &d->t[d->nt];
	memset(t, 0, sizeof(*t));
	t->id = info_id;
	t->index = pty_index(p->st.st_rdev);
	t->rdev = (uint32_t)p->st.st_rdev;
	t->dev = (uint32_t)p->st.st_dev;
	t->uid = p->st.st_uid;
	t->gid = p->st.st_gid;
	/*
	 * TIOCGSID/TIOCGPGRP answer only the terminal's own session: ferry reads
	 * the session and foreground group from /proc when it is the process's
	 * controlling terminal, and records 0 (none) otherwise, as CRIU does.
	 */
	if (ti->has_ctty && ti->tty_major == major(p->st.st_rdev) &&
	    ti->tty_minor == minor(p->st.st_rdev)) {
		t->sid = (uint32_t)ti->sid;
		t->pgrp = ti->tpgid > 0 ? (uint32_t)ti->tpgid : 0;
	}
	ret = tty_get(pid, p->fd, lfd, TIOCGEXCL, "TIOCGEXCL", &excl);
	if (ret < 0)
		return ret;
	t->exclusive = !ret && excl;
	ret = tty_get(pid, p->fd, lfd, FERRY_TCGETS2, "TCGETS2", &t->t);
	if (!ret)
		ret = tty_get(pid, p->fd, lfd, TIOCGLCKTRMIOS, "TIOCGLCKTRMIOS", &t->locked);
	if (!ret)
		ret = tty_get(pid, p->fd, lfd, TIOCGWINSZ, "TIOCGWINSZ", &t->ws);
	if (ret < 0)
		return ret;
	if (ret > 0) {
		/* Its master is gone: only what stat says is left to record. */
		pr_warn("pid %d fd %d: tty %s is hung up", pid, p->fd, p->link);
		t->hung = 1;
	}
	d->nt++;
	return 0;
}

static int add_tty(struct files_dump *d, pid_t pid, const struct task_info *ti,
		   const struct probe *p, int lfd, const struct fown_v *fo, uint32_t *id)
{
	uint32_t info_id = pty_index(p->st.st_rdev) << 1; /* CRIU: index * 2 + is_master */
	struct desc *e;
	uint32_t regf;
	size_t at;
	int ret;

	ret = collect_tty(d, pid, ti, p, lfd, info_id);
	if (ret)
		return ret;
	e = desc_new(d, FD_TYPES__TTY, SRC_FD, pid, p, fo);
	if (!e)
		return -ENOMEM;
	e->tty_info_id = info_id;
	*id = e->id;
	at = d->nd - 1;
	/* The terminal's path, as its own REG entry (tty_file_entry.regf_id). */
	ret = add_reg(d, SRC_AUX, pid, p, NULL, &regf);
	if (ret)
		return ret;
	d->d[at].regf_id = regf; /* add_reg may have moved the array */
	return 0;
}

/*
 * Register the description behind one classified fd; *id is its file id,
 * *shared 1 if an earlier fd (of any process) has it too.
 */
static int register_fd(struct files_dump *d, pid_t pid, const struct task_info *ti,
		       const struct probe *p, int lfd, uint32_t *id, int *shared)
{
	size_t at = 0, from = d->nd;
	struct fown_v fo;
	int ret;

	ret = find_shared(d, pid, p, id, &at);
	*shared = ret > 0;
	if (ret)
		return ret < 0 ? ret : 0;
	ret = get_fown(pid, p->fd, lfd, p->fi.flags, &fo);
	if (ret)
		return ret;
	switch (p->type) {
	case FD_TYPES__REG:
		ret = add_reg(d, SRC_FD, pid, p, &fo, id);
		break;
	case FD_TYPES__PIPE:
		ret = add_pipe(d, pid, p, lfd, &fo, id);
		break;
	case FD_TYPES__TTY:
		ret = add_tty(d, pid, ti, p, lfd, &fo, id);
		break;
	default:
		ret = -ENOTSUP;
	}
	return ret ?: index_fd(d, from, at);
}

/* Is the POSIX lock @l of @pid on description @id recorded already? */
static int have_posix_lock(const struct files_dump *d, pid_t pid, uint32_t id,
			   const struct file_lock *l)
{
	for (size_t i = 0; i < d->nlk; i++) {
		const struct lock_rec *r = &d->lk[i];

		if (r->pid == pid && r->file_id == id && r->l.kind == l->kind &&
		    r->l.type == l->type && r->l.start == l->start && r->l.len == l->len)
			return 1;
	}
	return 0;
}

/*
 * Record the locks fd p of @pid shows, on description @id, once each. A
 * flock or OFD lock belongs to the description and shows under each of its
 * fds in every process: it is taken again through the first fd seen on it,
 * which showed it already when the description is @shared. A POSIX lock
 * shows only in its owner, under every fd of the description it was taken
 * through: recorded once per process. Returns 0, -ENOTSUP for a lock
 * check_lock() refuses, -ENOMEM.
 */
static int record_locks(struct files_dump *d, pid_t pid, const struct probe *p, uint32_t id,
			int shared)
{
	char what[96];
	int ret;

	for (size_t i = 0; i < p->fi.nr_locks; i++) {
		const struct file_lock *l = &p->fi.locks[i];

		ret = check_lock(d, pid, p, l);
		if (ret)
			return ret;
		if (shared && (l->kind != FILE_LOCK_POSIX || have_posix_lock(d, pid, id, l)))
			continue;
		ret = grow((void **)&d->lk, &d->caplk, d->nlk, sizeof(*d->lk));
		if (ret)
			return ret;
		d->lk[d->nlk++] =
			(struct lock_rec){ .pid = pid, .fd = p->fd, .file_id = id, .l = *l };
		pr_debug("pid %d fd %d: %s: %s", pid, p->fd, p->link,
			 file_lock_desc(l, what, sizeof(what)));
	}
	return 0;
}

struct snapshot {
	size_t nd, np, nt, nlk;
	uint32_t next_id;
	struct tty_seen tty;
};

/* Drop everything registered since s. */
static void rollback(struct files_dump *d, const struct snapshot *s)
{
	size_t i, n = 0;

	for (i = 0; i < d->nfdx; i++)
		if (d->fdx[i] < s->nd)
			d->fdx[n++] = d->fdx[i];
	d->nfdx = n;
	while (d->nd > s->nd)
		free(d->d[--d->nd].name);
	while (d->np > s->np)
		free(d->p[--d->np].buf);
	d->nt = s->nt;
	d->nlk = s->nlk;
	d->next_id = s->next_id;
	d->tty = s->tty;
}

int files_dump_proc(struct files_dump *d, pid_t pid, uint32_t files_id, int dirfd)
{
	struct snapshot snap = { d->nd, d->np, d->nt, d->nlk, d->next_id, d->tty };
	struct task_info ti;
	struct probe *p = NULL;
	struct img *img = NULL;
	char name[64];
	size_t i, nr = 0;
	int *fds = NULL, lfd, ret, shared;
	uint32_t id;

	ret = task_info_read(pid, &ti);
	if (ret)
		return ret;
	ret = list_fds(pid, &fds, &nr);
	if (ret)
		return ret;
	p = calloc(1, sizeof(*p));
	if (!p) {
		ret = -ENOMEM;
		goto err;
	}
	snprintf(name, sizeof(name), IMG_FDINFO->file, files_id);
	ret = img_create(&img, dirfd, name, IMG_FDINFO);
	if (ret)
		goto err;
	for (i = 0; i < nr; i++) {
		FdinfoEntry fe = FDINFO_ENTRY__INIT;

		ret = probe_fd(pid, fds[i], p);
		if (ret == -ENOENT)
			pr_err("pid %d fd %d: closed while being dumped (is the process stopped?)",
			       pid, fds[i]);
		if (ret)
			goto err;
		ret = classify(d, pid, &ti, p, &d->tty);
		if (ret)
			goto err;
		lfd = rsys_getfd(pid, p->fd);
		if (lfd < 0) {
			ret = lfd;
			goto err;
		}
		ret = register_fd(d, pid, &ti, p, lfd, &id, &shared);
		close(lfd);
		if (!ret)
			ret = record_locks(d, pid, p, id, shared);
		if (ret)
			goto err;
		fe.id = id;
		fe.flags = (p->fi.flags & O_CLOEXEC) ? FD_CLOEXEC : 0;
		fe.type = p->type;
		fe.fd = (uint32_t)p->fd;
		ret = img_write_entry(img, &fe.base);
		if (ret)
			goto err;
		pr_debug("pid %d fd %d: %s, file id %u", pid, p->fd, p->link, id);
	}
	ret = img_commit(img);
	img = NULL;
err:
	if (ret) {
		img_abort(img);
		rollback(d, &snap);
	}
	if (p)
		proc_fdinfo_release(&p->fi);
	free(p);
	free(fds);
	return ret;
}

int files_dump_path(struct files_dump *d, pid_t pid, const char *what, int open_flags, uint32_t *id)
{
	struct proc_fdinfo fi;
	struct probe *p = NULL;
	uint32_t flags = (uint32_t)open_flags & ~(uint32_t)(O_CLOEXEC | O_PATH);
	char path[PATH_MAX];
	unsigned int maj;
	int lfd, ret;
	size_t i;

	snprintf(path, sizeof(path), "/proc/%d/%s", pid, what);
	lfd = open(path, open_flags | O_CLOEXEC);
	if (lfd < 0) {
		ret = -errno;
		pr_perror("pid %d %s: cannot open %s", pid, what, path);
		return ret;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		ret = -ENOMEM;
		goto out;
	}
	p->fd = -1;
	if (fstat(lfd, &p->st)) {
		ret = -errno;
		pr_perror("pid %d %s: fstat", pid, what);
		goto out;
	}
	ret = read_link(path, p->link, sizeof(p->link));
	if (ret) {
		pr_errno(ret, "pid %d %s: cannot read the link %s", pid, what, path);
		goto out;
	}
	maj = major(p->st.st_rdev);
	if (!S_ISREG(p->st.st_mode) && !S_ISDIR(p->st.st_mode) &&
	    !(S_ISCHR(p->st.st_mode) && maj == MEM_MAJOR)) {
		pr_err("pid %d %s: %s (mode %o) is not supported", pid, what, p->link,
		       p->st.st_mode);
		ret = -ENOTSUP;
		goto out;
	}
	ret = check_path(pid, what, p->link, &p->st, same_mntns(pid));
	if (ret)
		goto out;
	for (i = 0; i < d->nd; i++) {
		const struct desc *e = &d->d[i];

		if (e->src == SRC_PATH && e->dev == p->st.st_dev && e->ino == p->st.st_ino &&
		    e->flags == flags && !strcmp(e->name, p->link)) {
			*id = e->id;
			goto out;
		}
	}
	ret = proc_fdinfo_read(getpid(), lfd, &fi);
	if (ret) {
		pr_errno(ret, "pid %d %s: cannot read the mount id of %s", pid, what, p->link);
		goto out;
	}
	proc_fdinfo_release(&fi);
	p->fi.flags = flags;
	p->fi.mnt_id = fi.mnt_id;
	ret = add_reg(d, SRC_PATH, pid, p, NULL, id);
	if (!ret)
		pr_debug("pid %d %s: %s, file id %u", pid, what, p->link, *id);
out:
	free(p);
	close(lfd);
	return ret;
}

/* The "Umask:" line of /proc/PID/status (4.7+). Returns 0, -ENOENT if absent, or -errno. */
static int read_umask(pid_t pid, uint32_t *umask)
{
	char path[64], line[256];
	unsigned int v;
	int ret = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		pr_perror("pid %d: cannot open %s", pid, path);
		return ret;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "Umask: %o", &v) == 1) {
			*umask = v;
			ret = 0;
			break;
		}
	}
	fclose(f);
	return ret;
}

int files_dump_fs(struct files_dump *d, pid_t pid, int dirfd)
{
	FsEntry fe = FS_ENTRY__INIT;
	char name[64];
	int ret;

	ret = files_dump_path(d, pid, "cwd", O_PATH, &fe.cwd_id);
	if (ret)
		return ret;
	ret = files_dump_path(d, pid, "root", O_PATH, &fe.root_id);
	if (ret)
		return ret;
	ret = read_umask(pid, &fe.umask);
	if (ret && ret != -ENOENT)
		return ret;
	if (ret)
		pr_warn("pid %d: no Umask in /proc/%d/status, the umask is not dumped", pid, pid);
	fe.has_umask = !ret;
	snprintf(name, sizeof(name), IMG_FS->file, (unsigned int)pid);
	return img_write_one(dirfd, name, IMG_FS, &fe.base);
}

static void fown_fill(FownEntry *fe, const struct fown_v *v)
{
	fe->uid = v->uid;
	fe->euid = v->euid;
	fe->signum = v->signum;
	fe->pid_type = v->pid_type;
	fe->pid = v->pid;
}

static int write_file_entry(struct img *img, const struct desc *e)
{
	FileEntry fe = FILE_ENTRY__INIT;
	RegFileEntry reg = REG_FILE_ENTRY__INIT;
	PipeEntry pipe = PIPE_ENTRY__INIT;
	TtyFileEntry tty = TTY_FILE_ENTRY__INIT;
	FownEntry fown = FOWN_ENTRY__INIT;

	fown_fill(&fown, &e->fown);
	fe.type = e->type;
	fe.id = e->id;
	switch (e->type) {
	case FD_TYPES__REG:
		reg.id = e->id;
		reg.flags = e->flags;
		reg.pos = e->pos;
		reg.fown = &fown;
		reg.name = e->name;
		reg.has_mnt_id = e->mnt_id >= 0;
		reg.mnt_id = e->mnt_id;
		reg.has_size = 1;
		reg.size = e->size;
		reg.has_mode = 1;
		reg.mode = e->mode;
		fe.reg = &reg;
		break;
	case FD_TYPES__PIPE:
		pipe.id = e->id;
		pipe.pipe_id = e->pipe_id;
		pipe.flags = e->flags;
		pipe.fown = &fown;
		fe.pipe = &pipe;
		break;
	case FD_TYPES__TTY:
		tty.id = e->id;
		tty.tty_info_id = e->tty_info_id;
		tty.flags = e->flags;
		tty.fown = &fown;
		tty.has_regf_id = 1;
		tty.regf_id = e->regf_id;
		fe.tty = &tty;
		break;
	default:
		return -EINVAL;
	}
	return img_write_entry(img, &fe.base);
}

static void termios_fill(TermiosEntry *te, uint32_t *cc, const struct kterm2 *k)
{
	int i;

	te->c_iflag = k->c_iflag;
	te->c_oflag = k->c_oflag;
	te->c_cflag = k->c_cflag;
	te->c_lflag = k->c_lflag;
	te->c_line = k->c_line;
	te->c_ispeed = k->c_ispeed;
	te->c_ospeed = k->c_ospeed;
	for (i = 0; i < KTERM_NCC; i++)
		cc[i] = k->c_cc[i];
	te->n_c_cc = KTERM_NCC;
	te->c_cc = cc;
}

static int write_tty_info(struct img *img, const struct tty_rec *t)
{
	TtyInfoEntry ie = TTY_INFO_ENTRY__INIT;
	TermiosEntry te = TERMIOS_ENTRY__INIT, tl = TERMIOS_ENTRY__INIT;
	WinsizeEntry ws = WINSIZE_ENTRY__INIT;
	TtyPtyEntry pty = TTY_PTY_ENTRY__INIT;
	uint32_t cc[KTERM_NCC], ccl[KTERM_NCC];

	ie.id = t->id;
	ie.type = TTY_TYPE__PTY;
	ie.locked = 0;	    /* master side only */
	ie.packet_mode = 0; /* master side only */
	ie.exclusive = t->exclusive;
	ie.sid = t->sid;
	ie.pgrp = t->pgrp;
	ie.rdev = t->rdev;
	ie.has_dev = 1;
	ie.dev = t->dev;
	ie.has_uid = 1;
	ie.uid = t->uid;
	ie.has_gid = 1;
	ie.gid = t->gid;
	pty.index = t->index;
	ie.pty = &pty;
	if (!t->hung) {
		termios_fill(&te, cc, &t->t);
		termios_fill(&tl, ccl, &t->locked);
		ws.ws_row = t->ws.ws_row;
		ws.ws_col = t->ws.ws_col;
		ws.ws_xpixel = t->ws.ws_xpixel;
		ws.ws_ypixel = t->ws.ws_ypixel;
		ie.termios = &te;
		ie.termios_locked = &tl;
		ie.winsize = &ws;
	}
	return img_write_entry(img, &ie.base);
}

/*
 * A pipe with only one end in the tree leads out of it (`prog | cat`): it is
 * dumped, and restore wants to be told what to plug in its place.
 */
static void warn_outward_pipes(const struct files_dump *d)
{
	for (size_t i = 0; i < d->nd; i++) {
		const struct desc *e = &d->d[i];
		unsigned ends = 0;

		if (e->type != FD_TYPES__PIPE)
			continue;
		for (size_t k = 0; k < d->nd; k++)
			if (d->d[k].type == FD_TYPES__PIPE && d->d[k].pipe_id == e->pipe_id)
				ends |= (d->d[k].flags & O_ACCMODE) == O_RDONLY ? 1 : 2;
		if (ends != 3)
			pr_warn("pid %d fd %d: pipe:[%u] leads out of the tree (its %s end is not in "
				"it): restore needs --inherit-fd fd[N]:pipe:[%u] with a new pipe to "
				"take its place",
				e->pid, e->fd, e->pipe_id,
				(e->flags & O_ACCMODE) == O_RDONLY ? "write" : "read", e->pipe_id);
	}
}

/* One entry of filelocks.img. */
static int write_lock(struct img *img, const struct lock_rec *r)
{
	FileLockEntry fe = FILE_LOCK_ENTRY__INIT;

	fe.flag = r->l.kind;
	fe.type = (uint32_t)r->l.type;
	fe.pid = r->pid;
	fe.fd = r->fd;
	/* flock locks show "0 EOF": whole file. */
	fe.start = r->l.start;
	fe.len = r->l.len;
	return img_write_entry(img, &fe.base);
}

int files_dump_commit(struct files_dump *d, int dirfd)
{
	struct img *files = NULL, *pdata = NULL, *ttys = NULL, *locks = NULL;
	size_t i;
	int ret;

	warn_outward_pipes(d);
	ret = img_create(&files, dirfd, IMG_FILES->file, IMG_FILES);
	if (ret)
		goto err;
	for (i = 0; i < d->nd && !ret; i++)
		ret = write_file_entry(files, &d->d[i]);
	if (ret)
		goto err;
	ret = img_create(&pdata, dirfd, IMG_PIPES_DATA->file, IMG_PIPES_DATA);
	if (ret)
		goto err;
	for (i = 0; i < d->np && !ret; i++) {
		PipeDataEntry pe = PIPE_DATA_ENTRY__INIT;

		pe.pipe_id = d->p[i].pipe_id;
		pe.bytes = d->p[i].len;
		pe.has_size = 1;
		pe.size = d->p[i].size;
		ret = img_write_entry(pdata, &pe.base);
		if (!ret && d->p[i].len)
			ret = img_write_raw(pdata, d->p[i].buf, d->p[i].len);
	}
	if (ret)
		goto err;
	if (d->nt) {
		ret = img_create(&ttys, dirfd, IMG_TTY_INFO->file, IMG_TTY_INFO);
		if (ret)
			goto err;
		for (i = 0; i < d->nt && !ret; i++)
			ret = write_tty_info(ttys, &d->t[i]);
		if (ret)
			goto err;
	}
	if (d->o.file_locks) {
		ret = img_create(&locks, dirfd, IMG_FILE_LOCKS->file, IMG_FILE_LOCKS);
		if (ret)
			goto err;
		for (i = 0; i < d->nlk && !ret; i++)
			ret = write_lock(locks, &d->lk[i]);
		if (ret)
			goto err;
	}
	/* files.img last: it refers to the others. */
	if (locks) {
		ret = img_commit(locks);
		locks = NULL;
		if (ret)
			goto err;
	}
	if (ttys) {
		ret = img_commit(ttys);
		ttys = NULL;
		if (ret)
			goto err;
	}
	ret = img_commit(pdata);
	pdata = NULL;
	if (ret)
		goto err;
	ret = img_commit(files);
	files = NULL;
	if (ret)
		goto err;
	pr_info("%zu files, %zu pipes, %zu ttys, %zu file locks", d->nd, d->np, d->nt, d->nlk);
	return 0;
err:
	pr_errno(ret, "cannot write the file images");
	img_abort(locks);
	img_abort(ttys);
	img_abort(pdata);
	img_abort(files);
	return ret;
}
