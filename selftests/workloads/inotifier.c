// SPDX-License-Identifier: MIT
/*
 * inotify instances whose watches, wd numbers and flags must survive a dump
 * and a restore.
 *   inotifier DIR
 * Makes DIR/file and DIR/sub, then
 *  - instance A (IN_NONBLOCK): wd 1 on DIR/file (IN_MODIFY | IN_ATTRIB), a
 *    place-holder wd 2 on DIR removed again, wd 3 on DIR/sub (IN_CREATE |
 *    IN_DELETE | IN_MOVED_TO | IN_EXCL_UNLINK), wd 4 on DIR (IN_CREATE): the
 *    wds have a gap, as a long-running program's do;
 *  - instance B (blocking): wd 1 on DIR/file (IN_CLOSE_WRITE | IN_ONESHOT).
 * Prints "inotifier: pid P a FD b FD wds 1 3 4 ready" and idles. On SIGUSR1
 * (round N = 1, 2, ...) it checks:
 *  - A is non-blocking and B is not; /proc/self/fdinfo shows exactly those
 *    wds, each on the inode of its path, with its mask;
 *  - new events come with the kept wds: it creates DIR/sub/new-N (IN_CREATE
 *    on wd 3 with that name), DIR/top-N (IN_CREATE on wd 4), writes DIR/file
 *    (IN_MODIFY on wd 1), all read from A; B sees IN_CLOSE_WRITE on wd 1
 *    from a blocking read, only in round 1 (IN_ONESHOT: then B's watch is
 *    gone, and round 2 checks that B has no watch left).
 * Prints "inotifier: verify ok" or "inotifier: verify BAD <what>" per failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#define MASK_FILE (IN_MODIFY | IN_ATTRIB)
#define MASK_SUB (IN_CREATE | IN_DELETE | IN_MOVED_TO | IN_EXCL_UNLINK)
#define MASK_DIR IN_CREATE
#define MASK_B (IN_CLOSE_WRITE | IN_ONESHOT)

static volatile sig_atomic_t usr1;
static char dir[3000], pfile[3100], psub[3100];
static int fa, fb, round_no, bad, b_fired;

static void on_usr1(int sig)
{
	(void)sig;
	usr1 = 1;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	printf("inotifier: verify BAD ");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	bad = 1;
}

static int watch(int fd, const char *path, uint32_t mask, int want)
{
	int wd = inotify_add_watch(fd, path, mask);

	if (wd != want) {
		printf("inotifier: watch %s: wd %d, want %d (%s)\n", path, wd, want,
		       strerror(errno));
		exit(1);
	}
	return wd;
}

static void drain(int fd)
{
	char buf[4096];

	while (read(fd, buf, sizeof(buf)) > 0)
		;
}

/* fdinfo of @fd lists exactly the watches (wd, path, mask) given. */
static void check_fdinfo(const char *name, int fd, int n, const int *wds, const char *const *paths,
			 const uint32_t *masks)
{
	char path[64], line[512];
	int seen = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f) {
		fail("%s: %s", path, strerror(errno));
		return;
	}
	while (fgets(line, sizeof(line), f)) {
		unsigned int wd, mask;
		unsigned long ino;
		struct stat st;
		int k;

		if (sscanf(line, "inotify wd:%x ino:%lx sdev:%*x mask:%x", &wd, &ino, &mask) != 3)
			continue;
		seen++;
		for (k = 0; k < n && wds[k] != (int)wd; k++)
			;
		if (k == n) {
			fail("%s: unexpected wd %u", name, wd);
			continue;
		}
		if (stat(paths[k], &st) || st.st_ino != ino)
			fail("%s: wd %u is on inode %lu, not on %s", name, wd, ino, paths[k]);
		if (mask != masks[k])
			fail("%s: wd %u mask %#x, want %#x", name, wd, mask, masks[k]);
	}
	fclose(f);
	if (seen != n)
		fail("%s: %d watches, want %d", name, seen, n);
}

/* Wait for an event on @wd with @mask (and @name if given) from @fd. */
static void expect_event(const char *what, int fd, int wd, uint32_t mask, const char *name)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct pollfd p = { .fd = fd, .events = POLLIN };

	for (int tries = 0; tries < 50; tries++) {
		ssize_t n;

		if (poll(&p, 1, 100) < 0 && errno != EINTR)
			break;
		n = read(fd, buf, sizeof(buf));
		if (n < 0 && errno == EAGAIN)
			continue;
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		for (char *c = buf; c < buf + n;) {
			struct inotify_event *e = (struct inotify_event *)c;

			if (e->wd == wd && (e->mask & mask) && (!name || !strcmp(e->name, name)))
				return;
			c += sizeof(*e) + e->len;
		}
	}
	fail("%s: no event %#x on wd %d%s%s", what, mask, wd, name ? " for " : "",
	     name ? name : "");
}

static void verify(void)
{
	const char *pa[] = { pfile, psub, dir };
	const int wa[] = { 1, 3, 4 };
	const uint32_t ma[] = { MASK_FILE, MASK_SUB, MASK_DIR };
	const int wb[] = { 1 };
	const uint32_t mb[] = { MASK_B };
	char path[3200], name[64];
	int fd;

	bad = 0;
	round_no++;
	if (!(fcntl(fa, F_GETFL) & O_NONBLOCK))
		fail("instance A lost O_NONBLOCK");
	if (fcntl(fb, F_GETFL) & O_NONBLOCK)
		fail("instance B became non-blocking");
	check_fdinfo("A", fa, 3, wa, pa, ma);
	check_fdinfo("B", fb, b_fired ? 0 : 1, wb, pa, mb);

	snprintf(name, sizeof(name), "new-%d-%d", getpid(), round_no);
	snprintf(path, sizeof(path), "%s/%s", psub, name);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	expect_event("create in sub", fa, 3, IN_CREATE, name);
	snprintf(name, sizeof(name), "top-%d-%d", getpid(), round_no);
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		close(fd);
	expect_event("create in dir", fa, 4, IN_CREATE, name);
	fd = open(pfile, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (fd < 0 || write(fd, "x", 1) != 1)
		fail("cannot write %s", pfile);
	if (fd >= 0)
		close(fd);
	expect_event("modify file", fa, 1, IN_MODIFY, NULL);
	if (!b_fired) {
		/* Blocking: the event is there already, the read must not wait. */
		expect_event("close-write on B", fb, 1, IN_CLOSE_WRITE, NULL);
		b_fired = 1;
	}
	drain(fa);
	if (!bad)
		printf("inotifier: verify ok\n");
	else
		printf("inotifier: verify BAD (see above)\n");
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	int fd;

	if (argc < 2)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(dir, sizeof(dir), "%s", argv[1]);
	snprintf(pfile, sizeof(pfile), "%s/file", dir);
	snprintf(psub, sizeof(psub), "%s/sub", dir);
	fd = open(pfile, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || (mkdir(psub, 0700) && errno != EEXIST))
		return 1;
	close(fd);
	fa = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	fb = inotify_init1(IN_CLOEXEC);
	if (fa < 0 || fb < 0)
		return 1;
	watch(fa, pfile, MASK_FILE, 1);
	inotify_rm_watch(fa, watch(fa, dir, IN_DELETE, 2));
	watch(fa, psub, MASK_SUB, 3);
	watch(fa, dir, MASK_DIR, 4);
	watch(fb, pfile, MASK_B, 1);
	drain(fa);
	sigaction(SIGUSR1, &sa, NULL);
	printf("inotifier: pid %d a %d b %d wds 1 3 4 ready\n", getpid(), fa, fb);
	/* Not pause(): a SIGUSR1 right after a restore, before pause() runs again, is lost. */
	for (;;) {
		if (usr1) {
			usr1 = 0;
			verify();
		}
		usleep(20 * 1000);
	}
}
