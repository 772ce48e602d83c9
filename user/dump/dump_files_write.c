// SPDX-License-Identifier: MIT
/*
 * The images of the fd dumper: files.img, pipes-data.img, tty-info.img and
 * filelocks.img, from the table of descriptions (dump_files.c).
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
#include "memfd.pb-c.h"
#include "pipe.pb-c.h"
#include "fifo.pb-c.h"
#include "pipe-data.pb-c.h"
#include "tty.pb-c.h"
#include "fs.pb-c.h"
#include "fown.pb-c.h"
#include "file-lock.pb-c.h"
#include "fsnotify.pb-c.h"

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
	FifoEntry fifo = FIFO_ENTRY__INIT;
	TtyFileEntry tty = TTY_FILE_ENTRY__INIT;
	FownEntry fown = FOWN_ENTRY__INIT;
	InotifyFileEntry ify = INOTIFY_FILE_ENTRY__INIT;
	MemfdFileEntry memfd = MEMFD_FILE_ENTRY__INIT;

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
	case FD_TYPES__FIFO:
		/* CRIU's: no flags or owner here, they are the REG entry's (regf_id). */
		fifo.id = e->id;
		fifo.pipe_id = e->pipe_id;
		fifo.has_regf_id = 1;
		fifo.regf_id = e->regf_id;
		fe.fifo = &fifo;
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
	case FD_TYPES__INOTIFY:
		ify.id = e->id;
		ify.flags = e->flags;
		ify.fown = &fown;
		ify.n_wd = e->ify ? e->ify->n : 0;
		ify.wd = e->ify ? e->ify->ptrs : NULL;
		fe.ify = &ify;
		break;
	case FD_TYPES__MEMFD:
		memfd.id = e->id;
		memfd.flags = e->flags;
		memfd.pos = e->pos;
		memfd.fown = &fown;
		memfd.inode_id = e->memfd_inode;
		fe.memfd = &memfd;
		break;
	case FD_TYPES__UNIXSK:
		return files_unix_write(img, e, &fown);
	case FD_TYPES__INETSK:
		return files_inet_write(img, e, &fown);
	case FD_TYPES__NETLINKSK:
		return files_netlink_write(img, e, &fown);
	default:
		return files_event_write(img, e, &fown);
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

/*
 * pipes-data.img (@fifo 0, always written) or fifo-data.img (@fifo 1, only
 * if a FIFO was dumped) into *@out, not committed yet: CRIU's pipe_data_entry
 * with the bytes as payload.
 */
static int write_pipe_data(const struct files_dump *d, int dirfd, int fifo, struct img **out)
{
	const struct img_type *t = fifo ? IMG_FIFO_DATA : IMG_PIPES_DATA;
	int ret = 0, any = !fifo;

	for (size_t i = 0; i < d->nd && !any; i++)
		any = d->d[i].type == FD_TYPES__FIFO;
	if (!any)
		return 0;
	ret = img_create(out, dirfd, t->file, t);
	for (size_t i = 0; i < d->np && !ret; i++) {
		PipeDataEntry pe = PIPE_DATA_ENTRY__INIT;

		if (d->p[i].fifo != fifo)
			continue;
		pe.pipe_id = d->p[i].pipe_id;
		pe.bytes = d->p[i].len;
		pe.has_size = 1;
		pe.size = d->p[i].size;
		ret = img_write_entry(*out, &pe.base);
		if (!ret && d->p[i].len)
			ret = img_write_raw(*out, d->p[i].buf, d->p[i].len);
	}
	return ret;
}

int files_dump_commit(struct files_dump *d, int dirfd)
{
	struct img *files = NULL, *pdata = NULL, *fdata = NULL, *ttys = NULL, *locks = NULL;
	size_t i;
	int ret;

	warn_outward_pipes(d);
	ret = files_memfd_write(d, dirfd);
	if (!ret)
		ret = files_unix_commit(d, dirfd);
	if (ret)
		goto err;
	ret = img_create(&files, dirfd, IMG_FILES->file, IMG_FILES);
	if (ret)
		goto err;
	for (i = 0; i < d->nd && !ret; i++)
		ret = write_file_entry(files, &d->d[i]);
	if (ret)
		goto err;
	ret = write_pipe_data(d, dirfd, 0, &pdata);
	if (!ret)
		ret = write_pipe_data(d, dirfd, 1, &fdata);
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
	ret = files_ghost_write(d, dirfd);
	if (ret)
		goto err;
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
	if (!ret && fdata)
		ret = img_commit(fdata);
	fdata = NULL;
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
	img_abort(fdata);
	img_abort(files);
	return ret;
}
