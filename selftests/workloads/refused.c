// SPDX-License-Identifier: MIT
/*
 * One piece of process state that ferry's dump used to refuse and CRIU keeps
 * (issue "Nothing lost in silence"), set up and then checked by the process
 * itself, zdtm-style:
 *   refused KIND
 * sets KIND up, prints "refused: KIND pid P <details> ready" and idles; on
 * SIGUSR1 it checks the state without changing it and prints
 * "refused: KIND verify ok" or "refused: KIND verify BAD <what>" (one line
 * per failure); on SIGUSR2 it does what changes the state for good (e.g.
 * reaps its zombies) and checks the outcome: "refused: KIND final ok" or
 * "... final BAD <what>".
 * Kinds:
 *  zombie  three children: one exited with status 42, one killed by
 *          SIGTERM, one alive (printed as "zombies Z1 Z2 live L"). The
 *          zombies are not reaped: verify peeks at them (waitid WNOWAIT:
 *          still zombies, of this parent, with their status); final reaps
 *          them with waitpid and checks the statuses, and that the live
 *          child is still running.
 *  o-path DIR  O_PATH fds on DIR/file, on DIR/dir (O_DIRECTORY), on the
 *          symlink DIR/link itself (O_NOFOLLOW), on the FIFO DIR/fifo
 *          (never opened for I/O); verify: each fd is still O_PATH with the
 *          same flags, on the same inode (st_dev, st_ino, type), names the
 *          same path, and read() on it fails with EBADF. Final: as verify.
 *  fifo DIR  named FIFOs: DIR/a open for reading (O_NONBLOCK) and for
 *          writing, holding "hello fifo"; DIR/b open O_RDWR, holding
 *          "both ends"; DIR/c open for writing only (its reader closed),
 *          holding "no reader". Verify: same flags, inode and path per fd,
 *          FIONREAD gives each FIFO's byte count (nothing is read). Final:
 *          reads each FIFO's bytes (c through a new reader), then sends a
 *          byte from a's writer to its reader.
 *  deleted DIR  regular files of DIR (a disk filesystem, not tmpfs) deleted
 *          while in use: DIR/open, open O_RDWR at offset 5, "head" at 0 and
 *          "tail" at 1 MiB (a hole between); DIR/mapped, two pages mapped
 *          MAP_SHARED, its fd closed. Verify: the fd is on a file with no
 *          link left, named "DIR/open (deleted)", at offset 5, with its
 *          bytes and its hole (SEEK_DATA); the mapping holds its bytes and
 *          is of "DIR/mapped (deleted)"; neither path exists. Final: a write
 *          through the fd reads back.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *kind;
static volatile sig_atomic_t got;
static int bad;

static void on_sig(int sig)
{
	got = sig;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printf("refused: %s %s BAD %s\n", kind, got == SIGUSR2 ? "final" : "verify", msg);
	bad = 1;
}

static void die(const char *what)
{
	printf("refused: %s: %s: %s\n", kind, what, strerror(errno));
	exit(1);
}

/* ---- zombie ---- */
static pid_t zexit, zkill, live;

static pid_t child_that(int code)
{
	pid_t c = fork();

	if (c < 0)
		die("fork");
	if (!c) {
		if (code >= 0)
			_exit(code);
		for (;;)
			pause();
	}
	return c;
}

/* Wait until @c is dead without reaping it. */
static void wait_dead(pid_t c)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)c, &si, WEXITED | WNOWAIT))
		die("waitid WNOWAIT");
}

static void setup_zombie(char *info, size_t len)
{
	zexit = child_that(42);
	zkill = child_that(-1);
	live = child_that(-1);
	if (kill(zkill, SIGTERM))
		die("kill");
	wait_dead(zexit);
	wait_dead(zkill);
	snprintf(info, len, "zombies %d %d live %d", zexit, zkill, live);
}

static char state_of(pid_t pid, pid_t *ppid)
{
	char path[64], buf[512], *p, st = '?';
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return '-';
	if (fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		sscanf(p + 2, "%c %d", &st, ppid);
	fclose(f);
	return st;
}

/* Zombie @c as waitid(WNOWAIT) sees it: @code, @status as CLD_EXITED/CLD_KILLED gives them. */
static void peek(pid_t c, int code, int status)
{
	siginfo_t si;
	pid_t ppid = 0;
	char st = state_of(c, &ppid);

	if (st != 'Z' || ppid != getpid())
		fail("pid %d is in state '%c' with parent %d, not a zombie of %d", c, st, ppid,
		     getpid());
	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)c, &si, WEXITED | WNOHANG | WNOWAIT)) {
		fail("waitid(%d): %s", c, strerror(errno));
		return;
	}
	if (si.si_pid != c || si.si_code != code || si.si_status != status)
		fail("pid %d: waitid gives pid %d code %d status %d, not code %d status %d", c,
		     si.si_pid, si.si_code, si.si_status, code, status);
}

static void verify_zombie(void)
{
	pid_t ppid = 0;
	char st = state_of(live, &ppid);

	peek(zexit, CLD_EXITED, 42);
	peek(zkill, CLD_KILLED, SIGTERM);
	if ((st != 'S' && st != 'R') || ppid != getpid())
		fail("live child %d is in state '%c' with parent %d", live, st, ppid);
}

static void reap(pid_t c, int want)
{
	int status = -1;
	pid_t w = waitpid(c, &status, WNOHANG);

	if (w != c)
		fail("waitpid(%d) gives %d (%s)", c, w, w < 0 ? strerror(errno) : "not dead");
	else if (status != want)
		fail("pid %d: wait status %#x, not %#x", c, status, want);
}

static void final_zombie(void)
{
	reap(zexit, 42 << 8);
	reap(zkill, SIGTERM);
	if (waitpid(live, NULL, WNOHANG) != 0)
		fail("the live child %d is gone", live);
}

/* ---- o-path ---- */
#define NR_OPATH 4
static struct opath {
	const char *name;
	int flags, fd, getfl;
	char path[PATH_MAX];
	struct stat st;
} opath[NR_OPATH] = {
	{ "file", O_PATH, -1, 0, "", { 0 } },
	{ "dir", O_PATH | O_DIRECTORY, -1, 0, "", { 0 } },
	{ "link", O_PATH | O_NOFOLLOW, -1, 0, "", { 0 } },
	{ "fifo", O_PATH, -1, 0, "", { 0 } },
};

static void setup_opath(const char *dir, char *info, size_t len)
{
	char p[PATH_MAX];
	size_t off = 0;
	int fd;

	snprintf(p, sizeof(p), "%s/file", dir);
	fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0 || write(fd, "o-path\n", 7) != 7)
		die("create file");
	close(fd);
	snprintf(p, sizeof(p), "%s/dir", dir);
	if (mkdir(p, 0755))
		die("mkdir");
	snprintf(p, sizeof(p), "%s/link", dir);
	if (symlink("file", p))
		die("symlink");
	snprintf(p, sizeof(p), "%s/fifo", dir);
	if (mkfifo(p, 0600))
		die("mkfifo");
	for (int i = 0; i < NR_OPATH; i++) {
		struct opath *o = &opath[i];

		snprintf(o->path, sizeof(o->path), "%s/%s", dir, o->name);
		o->fd = open(o->path, o->flags);
		if (o->fd < 0 || fstat(o->fd, &o->st))
			die(o->name);
		o->getfl = fcntl(o->fd, F_GETFL);
		off += (size_t)snprintf(info + off, len - off, "%s%s fd %d", i ? ", " : "", o->name,
					o->fd);
	}
}

static void verify_opath(void)
{
	for (int i = 0; i < NR_OPATH; i++) {
		const struct opath *o = &opath[i];
		char link[64], path[PATH_MAX], c;
		struct stat st;
		ssize_t n;
		int fl = fcntl(o->fd, F_GETFL);

		if (fl != o->getfl)
			fail("%s fd %d: F_GETFL %#o, not %#o", o->name, o->fd, fl, o->getfl);
		if (fstat(o->fd, &st))
			fail("%s fd %d: fstat: %s", o->name, o->fd, strerror(errno));
		else if (st.st_dev != o->st.st_dev || st.st_ino != o->st.st_ino ||
			 (st.st_mode & S_IFMT) != (o->st.st_mode & S_IFMT))
			fail("%s fd %d: inode %lu mode %o, not %lu mode %o", o->name, o->fd,
			     (unsigned long)st.st_ino, st.st_mode, (unsigned long)o->st.st_ino,
			     o->st.st_mode);
		snprintf(link, sizeof(link), "/proc/self/fd/%d", o->fd);
		n = readlink(link, path, sizeof(path) - 1);
		path[n > 0 ? n : 0] = '\0';
		if (strcmp(path, o->path))
			fail("%s fd %d: names %s, not %s", o->name, o->fd, path, o->path);
		if (read(o->fd, &c, 1) != -1 || errno != EBADF)
			fail("%s fd %d: read() did not fail with EBADF: not an O_PATH fd", o->name,
			     o->fd);
	}
}

/* ---- fifo ---- */
#define NR_FIFO_FDS 4
static struct fifo_fd {
	const char *name, *bytes; /* bytes: what the FIFO holds */
	int flags, fd, getfl;
	char path[PATH_MAX];
	struct stat st;
} fifo_fds[NR_FIFO_FDS] = {
	{ "a", "hello fifo", O_RDONLY | O_NONBLOCK, -1, 0, "", { 0 } },
	{ "a", "hello fifo", O_WRONLY, -1, 0, "", { 0 } },
	{ "b", "both ends", O_RDWR, -1, 0, "", { 0 } },
	{ "c", "no reader", O_WRONLY, -1, 0, "", { 0 } },
};

static void setup_fifo(const char *dir, char *info, size_t len)
{
	size_t off = 0;
	int rc = -1;

	for (int i = 0; i < NR_FIFO_FDS; i++) {
		struct fifo_fd *f = &fifo_fds[i];

		snprintf(f->path, sizeof(f->path), "%s/%s", dir, f->name);
		if (i != 1 && mkfifo(f->path, 0600))
			die("mkfifo");
		if (i == 3) { /* a reader for the writer's open, closed at once */
			rc = open(f->path, O_RDONLY | O_NONBLOCK);
			if (rc < 0)
				die("open c for reading");
		}
		f->fd = open(f->path, f->flags);
		if (f->fd < 0 || fstat(f->fd, &f->st))
			die(f->name);
		f->getfl = fcntl(f->fd, F_GETFL);
		if ((f->flags & O_ACCMODE) != O_RDONLY &&
		    write(f->fd, f->bytes, strlen(f->bytes)) != (ssize_t)strlen(f->bytes))
			die("write");
		off += (size_t)snprintf(info + off, len - off, "%s%s fd %d", i ? ", " : "", f->name,
					f->fd);
	}
	close(rc);
}

static void verify_fifo(void)
{
	for (int i = 0; i < NR_FIFO_FDS; i++) {
		const struct fifo_fd *f = &fifo_fds[i];
		char link[64], path[PATH_MAX];
		struct stat st;
		int fl = fcntl(f->fd, F_GETFL), n = -1;
		ssize_t l;

		if (fl != f->getfl)
			fail("%s fd %d: F_GETFL %#o, not %#o", f->name, f->fd, fl, f->getfl);
		if (fstat(f->fd, &st) || st.st_ino != f->st.st_ino || !S_ISFIFO(st.st_mode))
			fail("%s fd %d: not FIFO inode %lu any more", f->name, f->fd,
			     (unsigned long)f->st.st_ino);
		snprintf(link, sizeof(link), "/proc/self/fd/%d", f->fd);
		l = readlink(link, path, sizeof(path) - 1);
		path[l > 0 ? l : 0] = '\0';
		if (strcmp(path, f->path))
			fail("%s fd %d: names %s, not %s", f->name, f->fd, path, f->path);
		if (ioctl(f->fd, FIONREAD, &n) || n != (int)strlen(f->bytes))
			fail("%s fd %d: holds %d bytes, not %zu", f->name, f->fd, n,
			     strlen(f->bytes));
	}
}

/* Read @want from @fd (non-blocking reads, retried for a while). */
static void read_all(int fd, const char *name, const char *want)
{
	char buf[64] = "";
	ssize_t n = read(fd, buf, sizeof(buf) - 1);

	if (n != (ssize_t)strlen(want) || memcmp(buf, want, strlen(want)))
		fail("%s: read %zd bytes '%.*s', not '%s'", name, n, n > 0 ? (int)n : 0, buf, want);
}

static void final_fifo(void)
{
	int rc;

	verify_fifo();
	read_all(fifo_fds[0].fd, "a", "hello fifo");
	read_all(fifo_fds[2].fd, "b", "both ends");
	rc = open(fifo_fds[3].path, O_RDONLY | O_NONBLOCK);
	if (rc < 0)
		fail("c: cannot open a reader: %s", strerror(errno));
	else
		read_all(rc, "c", "no reader");
	close(rc);
	if (write(fifo_fds[1].fd, "!", 1) != 1)
		fail("a: write: %s", strerror(errno));
	read_all(fifo_fds[0].fd, "a again", "!");
}

/* ---- deleted ---- */
#define DEL_TAIL (1 << 20)
static int del_fd = -1;
static char *del_map;
static char del_open[PATH_MAX], del_mapped[PATH_MAX];

static void setup_deleted(const char *dir, char *info, size_t len)
{
	int fd;

	snprintf(del_open, sizeof(del_open), "%s/open", dir);
	snprintf(del_mapped, sizeof(del_mapped), "%s/mapped", dir);
	del_fd = open(del_open, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (del_fd < 0 || pwrite(del_fd, "head", 4, 0) != 4 ||
	    pwrite(del_fd, "tail", 4, DEL_TAIL) != 4 || lseek(del_fd, 5, SEEK_SET) != 5)
		die("open file");
	fd = open(del_mapped, O_RDWR | O_CREAT | O_EXCL, 0600);
	if (fd < 0 || ftruncate(fd, 8192))
		die("mapped file");
	del_map = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (del_map == MAP_FAILED)
		die("mmap");
	close(fd);
	memcpy(del_map, "page one", 8);
	memcpy(del_map + 4096, "page two", 8);
	if (unlink(del_open) || unlink(del_mapped))
		die("unlink");
	snprintf(info, len, "fd %d map %p", del_fd, (void *)del_map);
}

static void verify_deleted(void)
{
	char link[64], path[PATH_MAX + 16], want[PATH_MAX + 16], buf[8] = "";
	struct stat st;
	ssize_t n;
	off_t data;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", del_fd);
	n = readlink(link, path, sizeof(path) - 1);
	path[n > 0 ? n : 0] = '\0';
	snprintf(want, sizeof(want), "%s (deleted)", del_open);
	if (strcmp(path, want))
		fail("fd %d names '%s', not '%s'", del_fd, path, want);
	if (fstat(del_fd, &st) || st.st_nlink != 0 || st.st_size != DEL_TAIL + 4)
		fail("fd %d: %lu links, %lld bytes, not 0 and %d", del_fd,
		     (unsigned long)st.st_nlink, (long long)st.st_size, DEL_TAIL + 4);
	if (lseek(del_fd, 0, SEEK_CUR) != 5)
		fail("fd %d: at offset %lld, not 5", del_fd, (long long)lseek(del_fd, 0, SEEK_CUR));
	if (pread(del_fd, buf, 4, 0) != 4 || memcmp(buf, "head", 4))
		fail("fd %d: '%.4s' at 0, not 'head'", del_fd, buf);
	if (pread(del_fd, buf, 4, DEL_TAIL) != 4 || memcmp(buf, "tail", 4))
		fail("fd %d: '%.4s' at 1 MiB, not 'tail'", del_fd, buf);
	{
		/* A description of its own: SEEK_DATA moves the offset it is asked on. */
		int probe = open(link, O_RDONLY);

		data = probe < 0 ? -1 : lseek(probe, 4096, SEEK_DATA);
		if (data < DEL_TAIL - 4096)
			fail("fd %d: data at %lld: the hole before 1 MiB was filled", del_fd,
			     (long long)data);
		if (probe >= 0)
			close(probe);
	}
	if (memcmp(del_map, "page one", 8) || memcmp(del_map + 4096, "page two", 8))
		fail("the mapping holds '%.8s' '%.8s'", del_map, del_map + 4096);
	if (!access(del_open, F_OK) || !access(del_mapped, F_OK))
		fail("a deleted file's path exists again");
}

static void final_deleted(void)
{
	char buf[6] = "";

	verify_deleted();
	if (pwrite(del_fd, "again", 5, 100) != 5 || pread(del_fd, buf, 5, 100) != 5 ||
	    memcmp(buf, "again", 5))
		fail("fd %d: a write did not read back", del_fd);
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_sig };
	void (*verify)(void), (*final)(void);
	char info[1024] = "";
	sigset_t none;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		return 2;
	kind = argv[1];
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	/* The signals only arrive inside sigsuspend(): none is lost between test and wait. */
	sigemptyset(&none);
	sigaddset(&none, SIGUSR1);
	sigaddset(&none, SIGUSR2);
	sigprocmask(SIG_BLOCK, &none, NULL);
	sigemptyset(&none);
	if (!strcmp(kind, "zombie")) {
		setup_zombie(info, sizeof(info));
		verify = verify_zombie;
		final = final_zombie;
	} else if (!strcmp(kind, "o-path") && argc > 2) {
		setup_opath(argv[2], info, sizeof(info));
		verify = final = verify_opath;
	} else if (!strcmp(kind, "fifo") && argc > 2) {
		setup_fifo(argv[2], info, sizeof(info));
		verify = verify_fifo;
		final = final_fifo;
	} else if (!strcmp(kind, "deleted") && argc > 2) {
		setup_deleted(argv[2], info, sizeof(info));
		verify = verify_deleted;
		final = final_deleted;
	} else {
		printf("refused: unknown kind %s\n", kind);
		return 2;
	}
	printf("refused: %s pid %d %s ready\n", kind, getpid(), info);
	for (;;) {
		while (!got)
			sigsuspend(&none);
		bad = 0;
		if (got == SIGUSR1)
			verify();
		else
			final();
		if (!bad)
			printf("refused: %s %s ok\n", kind, got == SIGUSR2 ? "final" : "verify");
		got = 0;
	}
}
