// SPDX-License-Identifier: MIT
/*
 * Pseudo-terminals whose master the dump holds (see pty.h). The termios
 * fields come from the slave's tty_info_entry (CRIU's); its line speeds are
 * applied too. The master's own termios is the kernel's default, as for any
 * new master (a program sets the slave's).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "files.h"
#include "log.h"
#include "pty.h"
#include "pty_queue.h"

/* Ask for pty @index: open /dev/ptmx until it gets it or a higher one (the lowest free). */
#define PTMX_TRIES 4096

/* Move @fd above every dumped fd; closes @fd. Returns the new fd or -errno. */
static int above(int fd, int base)
{
	int nfd = fcntl(fd, F_DUPFD_CLOEXEC, base);
	int err = nfd < 0 ? -errno : 0;

	close(fd);
	return err ? err : nfd;
}

/* A new master, on pty @index if it is free; *now is the index it got. */
static int open_master(uint32_t index, uint32_t *now)
{
	int held[64], nheld = 0, fd = -1, err = 0;
	unsigned int n = 0;

	for (int i = 0; i < PTMX_TRIES; i++) {
		fd = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
		if (fd < 0 || ioctl(fd, TIOCGPTN, &n)) {
			err = -errno;
			break;
		}
		if (n >= index || nheld == (int)(sizeof(held) / sizeof(held[0])))
			break;
		held[nheld++] = fd; /* a lower free index: keep it taken while asking again */
		fd = -1;
	}
	if (!err && n != index && nheld) {
		/* @index is taken: the lowest free one, as any new pty gets. */
		close(fd);
		fd = held[0];
		held[0] = -1;
		ioctl(fd, TIOCGPTN, &n);
	}
	for (int i = 0; i < nheld; i++)
		if (held[i] >= 0)
			close(held[i]);
	if (err) {
		if (fd >= 0)
			close(fd);
		return err;
	}
	*now = n;
	return fd;
}

static void termios_from(struct termios *t, const TermiosEntry *e)
{
	t->c_iflag = e->c_iflag;
	t->c_oflag = e->c_oflag;
	t->c_cflag = e->c_cflag;
	t->c_lflag = e->c_lflag;
	t->c_line = (cc_t)e->c_line;
	for (size_t i = 0; i < e->n_c_cc && i < NCCS; i++)
		t->c_cc[i] = (cc_t)e->c_cc[i];
}

/* The bytes tty-data.img holds for pair @index: read from its slave (in) and master (out). */
static void queued(const struct rimg *r, uint32_t index, const TtyDataEntry **in,
		   const TtyDataEntry **out)
{
	*in = *out = NULL;
	for (size_t i = 0; i < r->nr_tty_data; i++) {
		const FileEntry *fe = rimg_file(r, r->tty_data[i]->tty_id);
		uint32_t id = fe->tty->tty_info_id; /* the loader checked it is a TTY entry */

		if (id >> 1 != index)
			continue;
		if (id & 1)
			*out = r->tty_data[i];
		else
			*in = r->tty_data[i];
	}
}

/* The slave's settings and the queued bytes; the master's packet mode. */
static int set_up(const struct rimg *r, struct rpty *pp, pid_t pid, int fd)
{
	const TtyInfoEntry *si = rimg_tty_info(r, pp->index << 1);
	const TtyInfoEntry *mi = rimg_tty_info(r, (pp->index << 1) | 1);
	const TtyDataEntry *in, *out;
	struct termios t;
	int on = 1, err;

	if (si && si->termios) {
		if (tcgetattr(pp->slave, &t))
			goto fail;
		termios_from(&t, si->termios);
		if (tcsetattr(pp->slave, TCSANOW, &t))
			goto fail;
	}
	if (si && si->winsize) {
		struct winsize ws = { .ws_row = (unsigned short)si->winsize->ws_row,
				      .ws_col = (unsigned short)si->winsize->ws_col,
				      .ws_xpixel = (unsigned short)si->winsize->ws_xpixel,
				      .ws_ypixel = (unsigned short)si->winsize->ws_ypixel };

		if (ioctl(pp->slave, TIOCSWINSZ, &ws))
			goto fail;
	}
	queued(r, pp->index, &in, &out);
	err = pty_queue_put(pp->master, pp->slave, in ? in->data.data : NULL, in ? in->data.len : 0,
			    out ? out->data.data : NULL, out ? out->data.len : 0);
	if (err) {
		pr_errno(err, "pid %d fd %d: cannot put the queued bytes back into pty %u", pid, fd,
			 pp->now);
		return err;
	}
	/* Locked termios last: the kernel's struct termios is a prefix of glibc's. */
	if (si && si->termios_locked) {
		memset(&t, 0, sizeof(t));
		termios_from(&t, si->termios_locked);
		if (ioctl(pp->slave, TIOCSLCKTRMIOS, &t))
			goto fail;
	}
	if (mi && mi->packet_mode && ioctl(pp->master, TIOCPKT, &on))
		goto fail;
	if (si && si->exclusive && ioctl(pp->slave, TIOCEXCL))
		goto fail;
	return 0;
fail:
	err = -errno;
	pr_errno(err, "pid %d fd %d: cannot give pty %u (was %u) its dumped settings", pid, fd,
		 pp->now, pp->index);
	return err;
}

static int make_pair(struct rfiles *f, const struct rimg *r, uint32_t index, pid_t pid, int fd,
		     struct rpty **out)
{
	struct rpty *n = realloc(f->ptys, (f->nr_ptys + 1) * sizeof(*n)), *pp;
	int unlock = 0, err, m, s;

	if (!n)
		return -ENOMEM;
	f->ptys = n;
	pp = &f->ptys[f->nr_ptys];
	memset(pp, 0, sizeof(*pp));
	pp->index = index;
	pp->master = pp->slave = -1;
	m = open_master(index, &pp->now);
	if (m < 0) {
		pr_errno(m, "pid %d fd %d: cannot open /dev/ptmx for pty %u", pid, fd, index);
		return m;
	}
	if (ioctl(m, TIOCSPTLCK, &unlock)) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: cannot unlock pty %u", pid, fd, pp->now);
		close(m);
		return err;
	}
	s = ioctl(m, TIOCGPTPEER, O_RDWR | O_NOCTTY | O_CLOEXEC);
	if (s < 0) {
		err = -errno;
		pr_errno(err, "pid %d fd %d: cannot open the slave of pty %u", pid, fd, pp->now);
		close(m);
		return err;
	}
	pp->master = above(m, f->base);
	pp->slave = above(s, f->base);
	f->nr_ptys++; /* rpty_close closes what it has */
	if (pp->master < 0 || pp->slave < 0) {
		err = pp->master < 0 ? pp->master : pp->slave;
		pr_errno(err, "pid %d fd %d: cannot move pty %u above fd %d", pid, fd, pp->now,
			 f->base);
		return err;
	}
	if (pp->now != index)
		pr_info("pty %u is taken: pty %u takes its place (its slave is /dev/pts/%u)", index,
			pp->now, pp->now);
	err = set_up(r, pp, pid, fd);
	if (!err)
		*out = pp;
	return err;
}

int rpty_open(struct rfiles *f, const struct rimg *r, const FileEntry *fe, pid_t pid, int fd)
{
	uint32_t id = fe->tty->tty_info_id, index = id >> 1;
	int flags = (int)(fe->tty->flags & (O_ACCMODE | O_NONBLOCK));
	struct rpty *pp = NULL;
	int lfd, err;

	for (size_t i = 0; i < f->nr_ptys; i++)
		if (f->ptys[i].index == index)
			pp = &f->ptys[i];
	if (!pp) {
		err = make_pair(f, r, index, pid, fd, &pp);
		if (err)
			return err;
	}
	if (id & 1) {
		if (pp->master_used) {
			pr_err("pid %d fd %d: file id %u is a second open description of the master "
			       "of pty %u: a master cannot be opened again",
			       pid, fd, fe->id, index);
			return -ENOTSUP;
		}
		pp->master_used = 1;
		lfd = fcntl(pp->master, F_DUPFD_CLOEXEC, f->base);
		if (lfd >= 0 && fcntl(lfd, F_SETFL, flags & O_NONBLOCK)) {
			close(lfd);
			lfd = -1;
		}
	} else {
		lfd = ioctl(pp->master, TIOCGPTPEER, flags | O_NOCTTY | O_CLOEXEC);
		if (lfd >= 0)
			lfd = above(lfd, f->base);
		else
			lfd = -errno;
	}
	if (lfd < 0) {
		err = lfd == -1 ? -errno : lfd;
		pr_errno(err, "pid %d fd %d: cannot open the %s of pty %u", pid, fd,
			 id & 1 ? "master" : "slave", pp->now);
		return err;
	}
	return lfd;
}

int rpty_finish(struct rfiles *f, const struct rimg *r)
{
	int lock = 1, err;

	for (size_t i = 0; i < f->nr_ptys; i++) {
		const TtyInfoEntry *mi = rimg_tty_info(r, (f->ptys[i].index << 1) | 1);

		if (mi && mi->locked && ioctl(f->ptys[i].master, TIOCSPTLCK, &lock)) {
			err = -errno;
			pr_errno(err, "cannot lock pty %u", f->ptys[i].now);
			return err;
		}
	}
	if (!f->nr_ptys)
		return 0;
	f->ctty = malloc(r->nr_procs * sizeof(*f->ctty));
	f->ctty_pgrp = calloc(r->nr_procs, sizeof(*f->ctty_pgrp));
	if (!f->ctty || !f->ctty_pgrp)
		return -ENOMEM;
	for (size_t p = 0; p < r->nr_procs; p++) {
		const struct rimg_proc *ip = &r->procs[p];

		f->ctty[p] = -1;
		if (ip->sid != ip->pid || ip->zombie)
			continue;
		for (size_t i = 0; i < f->nr_ptys; i++) {
			const TtyInfoEntry *si = rimg_tty_info(r, f->ptys[i].index << 1);

			if (!si || (pid_t)si->sid != ip->pid)
				continue;
			f->ctty[p] = f->ptys[i].slave;
			f->ctty_pgrp[p] = (pid_t)si->pgrp;
			pr_debug("pid %d: pty %u is its controlling terminal, group %u in front",
				 ip->pid, f->ptys[i].now, si->pgrp);
		}
	}
	return 0;
}

int rpty_take_ctty(int fd, pid_t pgrp, pid_t pid, char *msg, size_t size)
{
	struct timespec ms = { 0, 1000000 };
	int err;

	if (ioctl(fd, TIOCSCTTY, 0)) {
		err = -errno;
		snprintf(msg, size, "pid %d: cannot take its pty as controlling terminal: %s", pid,
			 strerror(errno));
		return err;
	}
	if (!pgrp || pgrp == getpgrp())
		return 0;
	/* The group's leader is made by another shell of the tree, maybe not yet. */
	for (int i = 0; i < 1000 && kill(-pgrp, 0); i++)
		nanosleep(&ms, NULL);
	if (tcsetpgrp(fd, pgrp)) {
		err = -errno;
		snprintf(msg, size, "pid %d: cannot make group %d the foreground of its pty: %s",
			 pid, pgrp, strerror(errno));
		return err;
	}
	return 0;
}

void rpty_close(struct rfiles *f)
{
	for (size_t i = 0; i < f->nr_ptys; i++) {
		if (f->ptys[i].master >= 0)
			close(f->ptys[i].master);
		if (f->ptys[i].slave >= 0)
			close(f->ptys[i].slave);
	}
	free(f->ptys);
	f->ptys = NULL;
	f->nr_ptys = 0;
	free(f->ctty);
	free(f->ctty_pgrp);
	f->ctty = NULL;
	f->ctty_pgrp = NULL;
}
