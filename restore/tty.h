/* SPDX-License-Identifier: MIT */
/*
 * The terminal of a shell job (--shell-job), handed to the restored tree as
 * a shell hands it to a foreground job: the dumped settings (raw mode, echo)
 * applied to ferry's terminal, the tree's process group made the terminal's
 * foreground group (keys and Ctrl-C go to it, not to ferry), SIGWINCH so that
 * it draws its screen again; and taken back when the job ends.
 */
#ifndef FERRY_RESTORE_TTY_H
#define FERRY_RESTORE_TTY_H

#include "images.h"

/*
 * rtty_hand_over - call with the tree made and still stopped. If the dump
 * has a terminal (tty-info.img), ferry's own terminal (its stdin, stdout or
 * stderr) gets the dumped termios, and the dumped foreground process group,
 * when it is one of the tree's, becomes the terminal's foreground group.
 * Without a terminal of ferry's, or with a tree that was a session of its own
 * (no controlling terminal to share), it only warns. Returns 0 or -errno
 * (logged); nothing is changed on error.
 */
int rtty_hand_over(const struct rimg *r);

/*
 * rtty_take_back - after the job ended (restore without -d): ferry's process
 * group is the foreground again and the terminal has the settings it had
 * before rtty_hand_over. Does nothing if nothing was handed over.
 */
void rtty_take_back(void);

#endif
