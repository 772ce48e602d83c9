// SPDX-License-Identifier: MIT
/*
 * The controlling pty, refused without shell_job and dumped with it.
 * (Suite dump_files: its TestSuite is in test_dump_files.c; helpers in dump_files_helpers.c.)
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include "fdinfo.pb-c.h"
#include "tty.pb-c.h"
#include "helpers.h"
#include "log.h"
#include "dump_files.h"

#include "dump_files_helpers.h"

/* ---- the controlling terminal --------------------------------------------------------------- */

struct tty_arg {
	char pts[64];
};

/* A session leader whose controlling terminal is the pty slave, on fds 40 and 41. */
static void tty_child(void *arg)
{
	struct tty_arg *a = arg;
	int fd;

	if (setsid() < 0)
		_exit(140);
	fd = open(a->pts, O_RDWR | O_NOCTTY);
	if (fd < 0 || ioctl(fd, TIOCSCTTY, 0))
		_exit(141);
	df_put_fd(fd, 40, 0);
	if (dup2(40, 41) != 41)
		_exit(142);
	df_kid_ready(0);
	df_kid_block();
}

/* A pty master (the test keeps it) and its slave's path; skips if there is no devpts. */
static int open_pty(struct tty_arg *a)
{
	int m = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);

	if (m < 0)
		cr_skip_test("posix_openpt: %s (no /dev/ptmx or devpts?)", strerror(errno));
	cr_assert_eq(grantpt(m), 0);
	cr_assert_eq(unlockpt(m), 0);
	cr_assert_eq(ptsname_r(m, a->pts, sizeof(a->pts)), 0);
	return m;
}

Test(dump_files, tty_refused_without_shell_job)
{
	struct files_dump *fd;
	struct tty_arg a;
	struct df_logcap l;
	char *dir = t_tmpdir(), *log, want[128];
	struct df_kid k;
	int m, dirfd;

	cr_assert_not_null(dir);
	m = open_pty(&a);
	df_kid_start(&k, tty_child, &a);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(files_dump_init(&fd, NULL), 0);
	df_log_start(&l);
	cr_assert_eq(files_dump_check(fd, k.pid), -ENOTSUP);
	log = df_log_end(&l);
	snprintf(want, sizeof(want), "pid %d fd 40: tty %s is not supported", k.pid, a.pts);
	cr_assert(strstr(log, want), "log lacks '%s': %s", want, log);
	cr_assert(strstr(log, "use --shell-job"), "log: %s", log);
	free(log);
	cr_assert_eq(files_dump_proc(fd, k.pid, 1, dirfd), -ENOTSUP);
	cr_assert_eq(df_count_images(dir), 0);
	files_dump_free(fd);
	cr_assert_eq(df_kid_stop(&k), 0);
	close(m);
	close(dirfd);
	t_rmrf(dir);
	free(dir);
}

Test(dump_files, tty_dumped_with_shell_job)
{
	struct files_dump_opts o = { .shell_job = 1 };
	struct winsize ws = { .ws_row = 33, .ws_col = 77 };
	struct files_dump *fd;
	struct df_entries files, fdi, ti;
	const TtyInfoEntry *t;
	const FileEntry *f, *reg;
	struct termios tio;
	struct tty_arg a;
	struct stat st;
	char *dir = t_tmpdir();
	struct df_kid k;
	int m, s, dirfd;
	uint32_t index;

	cr_assert_not_null(dir);
	m = open_pty(&a);
	index = (uint32_t)atoi(a.pts + strlen("/dev/pts/"));
	cr_assert_eq(ioctl(m, TIOCSWINSZ, &ws), 0);
	s = open(a.pts, O_RDWR | O_NOCTTY);
	cr_assert_geq(s, 0);
	cr_assert_eq(tcgetattr(s, &tio), 0);
	tio.c_cc[VINTR] = 5;
	tio.c_lflag &= ~(tcflag_t)ECHO;
	cr_assert_eq(tcsetattr(s, TCSANOW, &tio), 0);
	close(s);
	cr_assert_eq(stat(a.pts, &st), 0);
	df_kid_start(&k, tty_child, &a);
	dirfd = open(dir, O_RDONLY | O_DIRECTORY);

	cr_assert_eq(files_dump_init(&fd, &o), 0);
	cr_assert_eq(files_dump_check(fd, k.pid), 0);
	cr_assert_eq(files_dump_proc(fd, k.pid, 1, dirfd), 0);
	cr_assert_eq(files_dump_commit(fd, dirfd), 0);
	files_dump_free(fd);

	df_read_entries(dirfd, "files.img", IMG_FILES, &files);
	df_read_entries(dirfd, "fdinfo-1.img", IMG_FDINFO, &fdi);
	df_read_entries(dirfd, "tty-info.img", IMG_TTY_INFO, &ti);
	cr_assert_eq(df_fdinfo_of(&fdi, 40)->type, FD_TYPES__TTY);
	cr_assert_eq(df_fdinfo_of(&fdi, 41)->type, FD_TYPES__TTY);
	cr_assert_eq(df_fdinfo_of(&fdi, 40)->id, df_fdinfo_of(&fdi, 41)->id,
		     "dup2: one description");
	f = df_file_of_fd(&files, &fdi, 40);
	cr_assert_eq(f->type, FD_TYPES__TTY);
	cr_assert_not_null(f->tty);
	cr_assert_eq(f->tty->id, f->id);
	cr_assert_eq(f->tty->tty_info_id, index * 2);
	cr_assert_eq(f->tty->flags & ~(uint32_t)K_O_LARGEFILE, O_RDWR);
	cr_assert(f->tty->has_regf_id);
	reg = df_file_of(&files, f->tty->regf_id);
	cr_assert_eq(reg->type, FD_TYPES__REG);
	cr_assert_str_eq(reg->reg->name, a.pts);
	cr_assert(S_ISCHR(reg->reg->mode));

	cr_assert_eq(ti.n, 1);
	t = (TtyInfoEntry *)ti.m[0];
	cr_assert_eq(t->id, index * 2);
	cr_assert_eq(t->type, TTY_TYPE__PTY);
	cr_assert_not_null(t->pty);
	cr_assert_eq(t->pty->index, index);
	cr_assert_eq(t->sid, (uint32_t)k.pid, "the child leads the terminal's session");
	cr_assert_eq(t->pgrp, (uint32_t)k.pid, "and is its foreground group");
	cr_assert_eq(t->rdev, (uint32_t)st.st_rdev);
	cr_assert(t->has_uid && t->uid == st.st_uid);
	cr_assert(t->has_gid && t->gid == st.st_gid);
	cr_assert(!t->locked && !t->packet_mode && !t->exclusive);
	cr_assert_not_null(t->winsize);
	cr_assert_eq(t->winsize->ws_row, 33);
	cr_assert_eq(t->winsize->ws_col, 77);
	cr_assert_not_null(t->termios);
	cr_assert_not_null(t->termios_locked);
	cr_assert_eq(t->termios->n_c_cc, 19);
	cr_assert_eq(t->termios->c_cc[VINTR], 5);
	cr_assert_eq(t->termios->c_lflag, (uint32_t)tio.c_lflag);
	cr_assert_eq(t->termios->c_iflag, (uint32_t)tio.c_iflag);
	if (cfgetospeed(&tio) == B38400)
		cr_assert_eq(t->termios->c_ospeed, 38400, "TCGETS2 gives the speed");

	if (!access(CRIT, X_OK)) {
		df_crit_decode(dir, "tty-info.img");
		df_crit_decode(dir, "files.img");
	}
	df_free_entries(&files);
	df_free_entries(&fdi);
	df_free_entries(&ti);
	cr_assert_eq(df_kid_stop(&k), 0);
	close(m);
	close(dirfd);
	t_rmrf(dir);
	free(dir);
}
