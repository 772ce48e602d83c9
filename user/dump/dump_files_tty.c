// SPDX-License-Identifier: MIT
/*
 * The settings of the terminals a dumped tree holds (tty-info.img), read
 * once per terminal through ferry's copy of one of its fds.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#define LOG_PREFIX "files: "
#include "log.h"
#include "dump_files.h"
#include "dump_files_priv.h"

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
int files_collect_tty(struct files_dump *d, pid_t pid, const struct task_info *ti,
		      const struct probe *p, int lfd, uint32_t info_id, uint32_t index)
{
	const struct pty_pair *pp = files_pty_find(d, index);
	struct tty_rec *t;
	size_t i;
	int ret, excl = 0;

	for (i = 0; i < d->nt; i++)
		if (d->t[i].id == info_id)
			return 0;
	ret = files_grow((void **)&d->t, &d->capt, d->nt, sizeof(*d->t));
	if (ret)
		return ret;
	t = &d->t[d->nt];
	memset(t, 0, sizeof(*t));
	t->id = info_id;
	t->index = index;
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
	/* The slave of a pair: the session whose controlling terminal it is, from any process. */
	if (pp && !(info_id & 1)) {
		t->sid = (uint32_t)pp->sid;
		t->pgrp = (uint32_t)pp->pgrp;
	} else if (pp) {
		t->sid = 0;
		t->pgrp = 0;
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
