// SPDX-License-Identifier: MIT
/*
 * Pseudo-terminals whose master (/dev/ptmx) the tree holds: a process
 * running a shell or a child on a pty of its own. Both ends are dumped as
 * CRIU does: a tty_info_entry per end (id = index * 2 + is_master) with the
 * slave's termios, locked termios and window size, the master's packet mode
 * and lock; the session the slave is the controlling terminal of and its
 * foreground group; and the bytes queued each way in tty-data.img (read out
 * of the pair: a terminal cannot be peeked at; put back if the tree goes on).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>
#include <linux/major.h>

#define LOG_PREFIX "files: "
#include "log.h"
#include "img.h"
#include "pstree.h"
#include "proc_fdinfo_events.h"
#include "pty_queue.h"
#include "dump_files.h"
#include "dump_files_priv.h"

#include "tty.pb-c.h"

static int is_ptmx(const struct stat *st)
{
	return S_ISCHR(st->st_mode) && major(st->st_rdev) == TTYAUX_MAJOR &&
	       minor(st->st_rdev) == 2;
}

static int is_slave_major(unsigned int maj)
{
	return maj >= UNIX98_PTY_SLAVE_MAJOR &&
	       maj < UNIX98_PTY_SLAVE_MAJOR + UNIX98_PTY_MAJOR_COUNT;
}

/* The pty index of master fd @fd of @pid ("tty-index:" of its fdinfo). */
static int master_index(pid_t pid, int fd, uint32_t *index)
{
	char *buf = NULL, *at;
	size_t len = 0;
	unsigned int v;
	int ret;

	ret = proc_fdinfo_text(pid, fd, &buf, &len);
	if (ret) {
		pr_errno(ret, "pid %d fd %d: cannot read the fdinfo of /dev/ptmx", pid, fd);
		return ret;
	}
	at = strstr(buf, "tty-index:");
	if (!at || sscanf(at, "tty-index: %u", &v) != 1) {
		pr_err("pid %d fd %d: the fdinfo of /dev/ptmx has no tty-index", pid, fd);
		ret = -EINVAL;
	} else {
		*index = v;
	}
	free(buf);
	return ret;
}

struct pty_pair *files_pty_find(const struct files_dump *d, uint32_t index)
{
	for (size_t i = 0; i < d->npty; i++)
		if (d->pty[i].index == index)
			return &d->pty[i];
	return NULL;
}

static int add_pair(struct files_dump *d, uint32_t index)
{
	struct pty_pair *pp;

	if (files_pty_find(d, index))
		return 0;
	if (files_grow((void **)&d->pty, &d->cappty, d->npty, sizeof(*d->pty)))
		return -ENOMEM;
	pp = &d->pty[d->npty++];
	memset(pp, 0, sizeof(*pp));
	pp->index = index;
	pp->master_fd = -1;
	pp->slave_fd = -1;
	return 0;
}

/* Every pty master among the fds of @pid. */
static int scan_masters(struct files_dump *d, pid_t pid)
{
	int *fds = NULL, ret;
	size_t nr = 0;

	ret = files_list_fds(pid, &fds, &nr);
	if (ret)
		return ret;
	for (size_t i = 0; i < nr && !ret; i++) {
		char path[64];
		struct stat st;
		uint32_t index;

		snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fds[i]);
		if (stat(path, &st) || !is_ptmx(&st))
			continue;
		ret = master_index(pid, fds[i], &index);
		if (!ret)
			ret = add_pair(d, index);
	}
	free(fds);
	return ret;
}

static int in_tree(const struct pstree *t, pid_t pid)
{
	for (size_t i = 0; i < t->nr; i++)
		if (t->procs[i].pid == pid && !t->procs[i].zombie)
			return 1;
	return 0;
}

int files_dump_tree(struct files_dump *d, const struct pstree *t)
{
	int ret = files_pidfd_tree(d, t), refused = 0;

	for (size_t i = 0; i < t->nr && !ret; i++)
		if (!t->procs[i].zombie)
			ret = scan_masters(d, t->procs[i].pid);
	for (size_t i = 0; i < t->nr && !ret; i++) {
		const struct pproc *pr = &t->procs[i];
		struct task_info ti;
		struct pty_pair *pp;

		if (pr->zombie || !d->npty)
			continue;
		ret = files_task_info_read(pr->pid, &ti);
		if (ret || !ti.has_ctty || !is_slave_major(ti.tty_major))
			continue;
		pp = files_pty_find(d,
				    (ti.tty_major - UNIX98_PTY_SLAVE_MAJOR) * 256 + ti.tty_minor);
		if (!pp)
			continue;
		if (!in_tree(t, ti.sid)) {
			pr_err("pid %d: its controlling terminal /dev/pts/%u (whose master the tree "
			       "holds) is the one of session %d, whose leader is not in the tree: "
			       "not supported",
			       pr->pid, pp->index, ti.sid);
			refused = 1;
			continue;
		}
		pp->sid = ti.sid;
		pp->pgrp = ti.tpgid > 0 ? ti.tpgid : 0;
	}
	return ret ?: refused ? -ENOTSUP : 0;
}

int files_pty_classify(const struct files_dump *d, pid_t pid, struct probe *p)
{
	unsigned int maj = major(p->st.st_rdev);
	int ret;

	if (is_ptmx(&p->st)) {
		ret = master_index(pid, p->fd, &p->pty_index);
		if (ret)
			return ret;
		if (!files_pty_find(d, p->pty_index)) {
			/* files_dump_tree() was not called: a bug of the caller */
			pr_err("pid %d fd %d: pty master %u was not seen by the tree scan", pid,
			       p->fd, p->pty_index);
			return -EINVAL;
		}
		p->pty_master = 1;
	} else if (is_slave_major(maj)) {
		p->pty_index = files_pty_index(p->st.st_rdev);
		if (!files_pty_find(d, p->pty_index))
			return 0; /* a terminal from outside: --shell-job's */
		p->pty_master = 0;
	} else {
		return 0;
	}
	p->pty_pair = 1;
	p->type = FD_TYPES__TTY;
	return 1;
}

/* A slave of pair @pp of its own for ferry: settings and queued input (O_NONBLOCK). */
static int open_slave(pid_t pid, int fd, int master, struct pty_pair *pp)
{
	int locked = 0, unlock = 0, s, err = 0;

	/* A locked pty cannot be opened: unlocked for a moment (the tree is frozen). */
	if (ioctl(master, TIOCGPTLCK, &locked))
		locked = 0;
	if (locked && ioctl(master, TIOCSPTLCK, &unlock)) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: cannot unlock pty %u to read its slave", pid, fd,
			 pp->index);
		return err;
	}
	s = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
	if (s < 0) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: cannot open the slave of pty %u", pid, fd, pp->index);
	}
	if (locked && ioctl(master, TIOCSPTLCK, &locked) && !err) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: cannot lock pty %u again", pid, fd, pp->index);
	}
	if (err) {
		if (s >= 0)
			close(s);
		return err;
	}
	pp->slave_fd = s;
	return 0;
}

/* Record the slave's settings through ferry's own slave of the pair. */
static int collect_slave(struct files_dump *d, pid_t pid, const struct task_info *ti,
			 struct pty_pair *pp)
{
	struct probe *sp = calloc(1, sizeof(*sp));
	int ret;

	if (!sp)
		return -ENOMEM;
	sp->fd = -1;
	if (fstat(pp->slave_fd, &sp->st)) {
		ret = -errno;
		pr_errno(ret, "pid %d: fstat of the slave of pty %u", pid, pp->index);
		goto out;
	}
	snprintf(sp->link, sizeof(sp->link), "/dev/pts/%u", pp->index);
	ret = files_collect_tty(d, pid, ti, sp, pp->slave_fd, pp->index << 1, pp->index);
out:
	free(sp);
	return ret;
}

int files_pty_collect(struct files_dump *d, pid_t pid, const struct task_info *ti,
		      const struct probe *p, int lfd)
{
	struct pty_pair *pp = files_pty_find(d, p->pty_index);
	uint32_t id = (p->pty_index << 1) | 1;
	struct tty_rec *t;
	int ret;

	for (size_t i = 0; i < d->nd; i++) {
		const struct desc *e = &d->d[i];

		if (e->type == FD_TYPES__TTY && e->tty_info_id == id) {
			pr_err("pid %d fd %d: a second open description of pty master %u (pid %d fd "
			       "%d has the first) is not supported: a master cannot be opened again",
			       pid, p->fd, p->pty_index, e->pid, e->fd);
			return -ENOTSUP;
		}
	}
	ret = files_collect_tty(d, pid, ti, p, lfd, id, p->pty_index);
	if (ret)
		return ret;
	t = &d->t[d->nt - 1];
	t->master = 1;
	if (ioctl(lfd, TIOCGPTLCK, &t->ptlocked) || ioctl(lfd, TIOCGPKT, &t->packet)) {
		ret = -errno;
		pr_errno(ret, "pid %d fd %d: cannot read the lock and packet mode of pty %u", pid,
			 p->fd, p->pty_index);
		return ret;
	}
	if (pp->master_fd >= 0)
		return 0;
	pp->master_fd = fcntl(lfd, F_DUPFD_CLOEXEC, 0);
	if (pp->master_fd < 0) {
		ret = -errno;
		pr_errno(ret, "pid %d fd %d: dup of pty master %u", pid, p->fd, p->pty_index);
		return ret;
	}
	ret = open_slave(pid, p->fd, lfd, pp);
	if (!ret)
		ret = collect_slave(d, pid, ti, pp);
	if (ret)
		return ret;
	ret = pty_queue_take(pp->slave_fd, 0, pp->in, &pp->inlen);
	if (!ret) {
		pp->taken = 1;
		ret = pty_queue_take(lfd, 1, pp->out, &pp->outlen);
	}
	if (ret) {
		pr_errno(ret, "pid %d fd %d: cannot read the bytes queued in pty %u", pid, p->fd,
			 p->pty_index);
		return ret;
	}
	pr_debug("pid %d fd %d: pty %u: %zu bytes of input, %zu of output queued", pid, p->fd,
		 p->pty_index, pp->inlen, pp->outlen);
	return 0;
}

/* The id of the first file entry on tty info @info_id, or 0. */
static uint32_t file_of(const struct files_dump *d, uint32_t info_id)
{
	for (size_t i = 0; i < d->nd; i++)
		if (d->d[i].type == FD_TYPES__TTY && d->d[i].tty_info_id == info_id)
			return d->d[i].id;
	return 0;
}

/* tty_data_entry of CRIU: the bytes read from the end whose file is @tty_id. */
static int write_data(struct img **img, int dirfd, uint32_t tty_id, const uint8_t *buf, size_t len)
{
	TtyDataEntry e = TTY_DATA_ENTRY__INIT;
	int ret;

	if (!*img) {
		ret = img_create(img, dirfd, IMG_TTY_DATA->file, IMG_TTY_DATA);
		if (ret)
			return ret;
	}
	e.tty_id = tty_id;
	e.data.data = (uint8_t *)buf;
	e.data.len = len;
	return img_write_entry(*img, &e.base);
}

int files_pty_write_data(struct files_dump *d, int dirfd)
{
	struct img *img = NULL;
	int ret = 0;

	for (size_t i = 0; i < d->npty && !ret; i++) {
		const struct pty_pair *pp = &d->pty[i];
		uint32_t slave = file_of(d, pp->index << 1);

		if (pp->inlen && !slave) {
			pr_err("pty %u: %zu bytes of input queued for a slave no fd of the tree "
			       "holds: not supported",
			       pp->index, pp->inlen);
			ret = -ENOTSUP;
			break;
		}
		if (pp->inlen)
			ret = write_data(&img, dirfd, slave, pp->in, pp->inlen);
		if (!ret && pp->outlen)
			ret = write_data(&img, dirfd, file_of(d, (pp->index << 1) | 1), pp->out,
					 pp->outlen);
	}
	if (!ret && img)
		ret = img_commit(img);
	else
		img_abort(img);
	if (ret)
		pr_errno(ret, "cannot write %s", IMG_TTY_DATA->file);
	return ret;
}

void files_pty_release(struct files_dump *d)
{
	for (size_t i = 0; i < d->npty; i++) {
		struct pty_pair *pp = &d->pty[i];
		int ret;

		if (pp->taken && !d->keep_taken && pp->master_fd >= 0 && pp->slave_fd >= 0) {
			ret = pty_queue_put(pp->master_fd, pp->slave_fd, pp->in, pp->inlen, pp->out,
					    pp->outlen);
			if (ret)
				pr_warn("pty %u: cannot put its %zu + %zu queued bytes back: %s",
					pp->index, pp->inlen, pp->outlen, strerror(-ret));
		}
		if (pp->master_fd >= 0)
			close(pp->master_fd);
		if (pp->slave_fd >= 0)
			close(pp->slave_fd);
	}
	free(d->pty);
	d->pty = NULL;
	d->npty = 0;
}

void files_dump_keep_taken(struct files_dump *d)
{
	d->keep_taken = 1;
}
