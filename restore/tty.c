// SPDX-License-Identifier: MIT
/*
 * The shell job's terminal (see tty.h). The termios fields come from
 * tty-info.img (CRIU's termios_entry): flags and control characters are
 * applied, the line speed of ferry's terminal is kept (a pty has none that
 * matters, and a real line's speed belongs to the line, not to the job).
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#define LOG_PREFIX "restore: "
#include "log.h"
#include "tty.h"

static struct {
	int fd; /* ferry's terminal, or -1 */
	int handed;
	struct termios saved;
} tty = { .fd = -1 };

/*
 * The dumped terminal the tree's fds use: the first tty-info entry that is
 * not an end of a pty the tree holds (one with --shell-job).
 */
static const TtyInfoEntry *dumped_tty(const struct rimg *r)
{
	for (size_t i = 0; i < r->nr_ttys; i++)
		if (!rimg_tty_pair(r, r->ttys[i]->id))
			return r->ttys[i];
	return NULL;
}

static int pgrp_of_tree(const struct rimg *r, pid_t pgrp)
{
	for (size_t i = 0; i < r->nr_procs; i++)
		if (r->procs[i].pgid == pgrp)
			return 1;
	return 0;
}

static void apply_termios(struct termios *t, const TermiosEntry *e)
{
	t->c_iflag = e->c_iflag;
	t->c_oflag = e->c_oflag;
	t->c_cflag = (t->c_cflag & (CBAUD | CBAUDEX | CIBAUD)) |
		     (e->c_cflag & ~(tcflag_t)(CBAUD | CBAUDEX | CIBAUD));
	t->c_lflag = e->c_lflag;
	t->c_line = (cc_t)e->c_line;
	for (size_t i = 0; i < e->n_c_cc && i < NCCS; i++)
		t->c_cc[i] = (cc_t)e->c_cc[i];
}

int rtty_hand_over(const struct rimg *r)
{
	const TtyInfoEntry *ti = dumped_tty(r);
	struct termios now;
	struct winsize ws;
	pid_t pgrp;
	int fd = -1, err;

	if (!ti)
		return 0;
	for (int i = 0; i <= 2 && fd < 0; i++)
		if (isatty(i))
			fd = i;
	if (fd < 0)
		return 0; /* rfiles_open refused the terminal fds already */
	if (tcgetattr(fd, &tty.saved)) {
		err = -errno;
		pr_errno(err, "cannot read the settings of ferry's terminal (fd %d)", fd);
		return err;
	}
	now = tty.saved;
	if (ti->termios) {
		apply_termios(&now, ti->termios);
		if (tcsetattr(fd, TCSANOW, &now)) {
			err = -errno;
			pr_errno(err, "cannot give ferry's terminal the dumped settings");
			return err;
		}
	}
	tty.fd = fd;
	tty.handed = 1;
	pgrp = (pid_t)ti->pgrp;
	if (!pgrp_of_tree(r, pgrp)) {
		pr_info("the terminal's foreground group at the dump, %d, is not the tree's: "
			"ferry's terminal keeps its own",
			pgrp);
		return 0;
	}
	if (tcgetsid(fd) != getsid(0)) {
		pr_warn("ferry's terminal is not its controlling terminal: process group %d "
			"cannot be made its foreground job",
			pgrp);
		return 0;
	}
	/* ferry goes to the background: its writes and tcsetpgrp must not stop it. */
	signal(SIGTTOU, SIG_IGN);
	if (tcsetpgrp(fd, pgrp)) {
		err = -errno;
		pr_warn("process group %d cannot become the terminal's foreground job (%s): it "
			"was in a session of its own at the dump; it keeps the terminal as its "
			"fds, without job control",
			pgrp, strerror(-err));
		return 0;
	}
	pr_info("process group %d is the terminal's foreground job", pgrp);
	/*
	 * The screen is not the one the job drew: SIGWINCH makes a full-screen
	 * program ask for the size (maybe another than the dumped one) and
	 * draw itself again, as after a resize.
	 */
	if (ti->winsize && !ioctl(fd, TIOCGWINSZ, &ws))
		pr_info("the terminal is %ux%u, it was %ux%u at the dump: SIGWINCH to process "
			"group %d",
			ws.ws_col, ws.ws_row, ti->winsize->ws_col, ti->winsize->ws_row, pgrp);
	kill(-pgrp, SIGWINCH);
	return 0;
}

void rtty_take_back(void)
{
	if (!tty.handed)
		return;
	signal(SIGTTOU, SIG_IGN);
	if (tcgetsid(tty.fd) == getsid(0) && tcsetpgrp(tty.fd, getpgrp()))
		pr_warn("cannot take the terminal's foreground back: %s", strerror(errno));
	if (tcsetattr(tty.fd, TCSANOW, &tty.saved))
		pr_warn("cannot give the terminal its settings back: %s", strerror(errno));
	tty.handed = 0;
}
