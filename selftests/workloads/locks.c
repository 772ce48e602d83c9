// SPDX-License-Identifier: MIT
/*
 * File locks of every kind that must survive a dump and a restore.
 *   locks DIR
 * Creates DIR/posix, DIR/ofd, DIR/flock-ex and DIR/flock-sh (8 KiB each),
 * opens them read-write and takes:
 *  - DIR/posix: POSIX write lock on bytes 0-9, read lock on 100-EOF;
 *  - DIR/ofd: OFD write lock on byte 0, read lock on 4096-8191;
 *  - DIR/flock-ex: flock exclusive;
 *  - DIR/flock-sh: flock shared, the fd dup'ed.
 * Then forks a child that shares all four descriptions and takes its own
 * POSIX write lock on bytes 50-59 of DIR/posix, through the inherited fd,
 * and waits (it dies with its parent). Prints
 *   locks: pid P child C posix FD ofd FD flock-ex FD flock-sh FD dup FD ready
 * and idles. On SIGUSR1 it checks that every lock is still held, with its
 * range, type and owner:
 *  - from a helper process it forks then (no lock of its own; files opened
 *    anew): F_GETLK shows the POSIX locks with their owner's pid and exact
 *    range, and nothing on the bytes around them; F_OFD_GETLK shows the OFD
 *    locks (pid -1); flock() on a new description of flock-ex fails even
 *    shared, of flock-sh succeeds shared and fails exclusive;
 *  - in the process itself: its own POSIX locks and its descriptions' OFD
 *    and flock locks are in nobody's way through its own fds, and in the
 *    way through a new description of the same file (so they are its own,
 *    not someone else's that happens to cover the same bytes).
 * Prints "locks: verify ok" or "locks: verify BAD <what>" per failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define FILE_SIZE 8192

static volatile sig_atomic_t usr1;
static char dir[4096];
static int fd_posix, fd_ofd, fd_ex, fd_sh, fd_sh_dup;
static pid_t self, child;
static int bad;

static void on_usr1(int sig)
{
	(void)sig;
	usr1 = 1;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	printf("locks: verify BAD ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	bad = 1;
}

static int open_in_dir(const char *name, int flags)
{
	char path[4200];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, flags, 0600);
	if (fd < 0) {
		printf("locks: cannot open %s: %s\n", path, strerror(errno));
		exit(1);
	}
	return fd;
}

static void lock_or_die(int fd, int cmd, short type, off_t start, off_t len)
{
	struct flock l = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };

	if (fcntl(fd, cmd, &l)) {
		printf("locks: cannot lock fd %d: %s\n", fd, strerror(errno));
		exit(1);
	}
}

/*
 * Ask (F_GETLK or F_OFD_GETLK on @fd) what stands in the way of a @type
 * lock on @start, @len; expect @want_type (F_UNLCK: nothing) with
 * @want_start, @want_len and @want_pid.
 */
static void expect_getlk(const char *what, int fd, int cmd, short type, off_t start, off_t len,
			 short want_type, off_t want_start, off_t want_len, pid_t want_pid)
{
	struct flock l = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };

	if (fcntl(fd, cmd, &l)) {
		fail("%s: getlk: %s", what, strerror(errno));
		return;
	}
	if (l.l_type != want_type) {
		fail("%s: type %d, want %d (pid %d, %lld+%lld)", what, l.l_type, want_type, l.l_pid,
		     (long long)l.l_start, (long long)l.l_len);
		return;
	}
	if (want_type == F_UNLCK)
		return;
	if (l.l_start != want_start || l.l_len != want_len || l.l_pid != want_pid)
		fail("%s: %lld+%lld pid %d, want %lld+%lld pid %d", what, (long long)l.l_start,
		     (long long)l.l_len, l.l_pid, (long long)want_start, (long long)want_len,
		     want_pid);
}

/* flock(@fd, @op | LOCK_NB) must succeed (@ok) or fail with EWOULDBLOCK; undone after. */
static void expect_flock(const char *what, int fd, int op, int ok)
{
	int r = flock(fd, op | LOCK_NB), err = errno;

	if (ok && r)
		fail("%s: flock: %s", what, strerror(err));
	else if (!ok && !r)
		fail("%s: flock succeeded", what);
	else if (!ok && err != EWOULDBLOCK)
		fail("%s: flock: %s", what, strerror(err));
}

/* What a process that holds no lock sees. */
static void check_from_outside(void)
{
	int p = open_in_dir("posix", O_RDWR), o = open_in_dir("ofd", O_RDWR);
	int ex = open_in_dir("flock-ex", O_RDWR), sh = open_in_dir("flock-sh", O_RDWR);

	expect_getlk("posix 0-9", p, F_GETLK, F_RDLCK, 0, 10, F_WRLCK, 0, 10, self);
	expect_getlk("posix 10", p, F_GETLK, F_WRLCK, 10, 1, F_UNLCK, 0, 0, 0);
	expect_getlk("posix 50-59", p, F_GETLK, F_RDLCK, 50, 10, F_WRLCK, 50, 10, child);
	expect_getlk("posix 49", p, F_GETLK, F_WRLCK, 49, 1, F_UNLCK, 0, 0, 0);
	expect_getlk("posix 60-99", p, F_GETLK, F_WRLCK, 60, 40, F_UNLCK, 0, 0, 0);
	expect_getlk("posix 100-EOF", p, F_GETLK, F_WRLCK, 1000, 1, F_RDLCK, 100, 0, self);
	expect_getlk("posix 100-EOF read", p, F_GETLK, F_RDLCK, 100, 0, F_UNLCK, 0, 0, 0);
	expect_getlk("ofd 0", o, F_OFD_GETLK, F_RDLCK, 0, 1, F_WRLCK, 0, 1, -1);
	expect_getlk("ofd 1-4095", o, F_OFD_GETLK, F_WRLCK, 1, 4095, F_UNLCK, 0, 0, 0);
	expect_getlk("ofd 4096-8191", o, F_OFD_GETLK, F_WRLCK, 4096, 0, F_RDLCK, 4096, 4096, -1);
	expect_getlk("ofd 8192", o, F_OFD_GETLK, F_WRLCK, 8192, 0, F_UNLCK, 0, 0, 0);
	expect_flock("flock-ex shared", ex, LOCK_SH, 0);
	expect_flock("flock-sh shared", sh, LOCK_SH, 1);
	flock(sh, LOCK_UN);
	expect_flock("flock-sh exclusive", sh, LOCK_EX, 0);
	close(p);
	close(o);
	close(ex);
	close(sh);
}

/* What the owner sees: its own locks through its own fds, in the way through new ones. */
static void check_from_inside(void)
{
	int o = open_in_dir("ofd", O_RDWR), ex = open_in_dir("flock-ex", O_RDWR);
	int sh = open_in_dir("flock-sh", O_RDWR);

	expect_getlk("own posix 0-9", fd_posix, F_GETLK, F_WRLCK, 0, 10, F_UNLCK, 0, 0, 0);
	expect_getlk("own posix 100-EOF", fd_posix, F_GETLK, F_WRLCK, 100, 0, F_UNLCK, 0, 0, 0);
	expect_getlk("child's posix 50-59", fd_posix, F_GETLK, F_WRLCK, 50, 10, F_WRLCK, 50, 10,
		     child);
	expect_getlk("own ofd", fd_ofd, F_OFD_GETLK, F_WRLCK, 0, 0, F_UNLCK, 0, 0, 0);
	expect_getlk("other ofd 0", o, F_OFD_GETLK, F_RDLCK, 0, 1, F_WRLCK, 0, 1, -1);
	/* Converting a flock one holds is a no-op; a new description is refused. */
	expect_flock("own flock-ex", fd_ex, LOCK_EX, 1);
	expect_flock("other flock-ex", ex, LOCK_SH, 0);
	expect_flock("own flock-sh dup", fd_sh_dup, LOCK_SH, 1);
	expect_flock("other flock-sh exclusive", sh, LOCK_EX, 0);
	close(o); /* no POSIX lock of ours on these files: closing drops nothing */
	close(ex);
	close(sh);
}

static void verify(void)
{
	pid_t h;
	int st;

	bad = 0;
	check_from_inside();
	h = fork();
	if (h == 0) {
		check_from_outside();
		fflush(stdout);
		_exit(bad);
	}
	if (h < 0 || waitpid(h, &st, 0) != h || !WIFEXITED(st) || WEXITSTATUS(st))
		bad = 1;
	if (!bad)
		printf("locks: verify ok\n");
	else
		printf("locks: verify BAD (see above)\n");
}

int main(int argc, char **argv)
{
	static const char *const names[] = { "posix", "ofd", "flock-ex", "flock-sh" };
	struct sigaction sa = { .sa_handler = on_usr1 };
	int sync[2];
	char c;

	if (argc < 2)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(dir, sizeof(dir), "%s", argv[1]);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		int fd = open_in_dir(names[i], O_RDWR | O_CREAT | O_TRUNC);

		if (ftruncate(fd, FILE_SIZE))
			return 1;
		close(fd);
	}
	self = getpid();
	fd_posix = open_in_dir("posix", O_RDWR);
	fd_ofd = open_in_dir("ofd", O_RDWR);
	fd_ex = open_in_dir("flock-ex", O_RDWR);
	fd_sh = open_in_dir("flock-sh", O_RDWR);
	fd_sh_dup = dup(fd_sh);
	lock_or_die(fd_posix, F_SETLK, F_WRLCK, 0, 10);
	lock_or_die(fd_posix, F_SETLK, F_RDLCK, 100, 0);
	lock_or_die(fd_ofd, F_OFD_SETLK, F_WRLCK, 0, 1);
	lock_or_die(fd_ofd, F_OFD_SETLK, F_RDLCK, 4096, 4096);
	if (fd_sh_dup < 0 || flock(fd_ex, LOCK_EX | LOCK_NB) || flock(fd_sh, LOCK_SH | LOCK_NB) ||
	    pipe(sync))
		return 1;
	child = fork();
	if (child == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		lock_or_die(fd_posix, F_SETLK, F_WRLCK, 50, 10);
		close(sync[0]);
		close(sync[1]);
		for (;;)
			pause();
	}
	close(sync[1]);
	if (child < 0 || read(sync[0], &c, 1) != 0)
		return 1;
	close(sync[0]);
	sigaction(SIGUSR1, &sa, NULL);
	printf("locks: pid %d child %d posix %d ofd %d flock-ex %d flock-sh %d dup %d ready\n",
	       self, child, fd_posix, fd_ofd, fd_ex, fd_sh, fd_sh_dup);
	for (;;) {
		pause();
		if (usr1) {
			usr1 = 0;
			verify();
		}
	}
}
