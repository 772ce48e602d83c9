// SPDX-License-Identifier: MIT
/*
 * A parent and a child that share kernel objects without being threads.
 *   clonefiles [files|fs|vm|sibling]
 * files (default): the child is made by clone(CLONE_FILES) (no CLONE_VM):
 *   one fd table for two processes. Before the clone the parent opens a
 *   file of known bytes at a position; after it the child opens /dev/zero
 *   (the parent sees it: the table is one). The fds opened by the checks are
 *   on /dev/full (/dev/null may be a regular file on a shared test machine).
 * fs: clone(CLONE_FS): one cwd/root/umask. vm: clone(CLONE_VM | CLONE_SIGHAND):
 *   one address space and one signal handler table. sibling: the child is
 *   forked, and makes a sibling S with clone(CLONE_PARENT | CLONE_FILES):
 *   the two share a table their parent does not have.
 * The parent prints "clonefiles: MODE parent P child C ready" ("... child C
 * sibling S ready").
 * SIGUSR1 to the parent: both check the sharing and their state: kcmp(2)
 * says the object is one; for files, an fd the parent opens now is seen by
 * the child and one the child opens is seen by the parent (told through a
 * pipe, closed again), the file opened before reads on at its position and
 * the child's /dev/zero fd is there; the parent prints "clonefiles: verify
 * ok" or "clonefiles: verify BAD (why)". SIGTERM to the parent ends both.
 */
#include <fcntl.h>
#include <linux/kcmp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t got_usr1, got_term;
static int req[2], ans[2]; /* parent -> child, child -> parent */
static int data_fd = -1, zero_fd = -1;
static int kind;
static const char *why = "";
static pid_t sib; /* sibling mode: the child's brother on its fd table */

static void on_sig(int sig)
{
	if (sig == SIGUSR1)
		got_usr1 = 1;
	else
		got_term = 1;
}

static int is_dev(int fd, unsigned maj, unsigned min)
{
	struct stat st;

	return !fstat(fd, &st) && S_ISCHR(st.st_mode) && major(st.st_rdev) == maj &&
	       minor(st.st_rdev) == min;
}

/* The child's side of a check: the fd it opened (-1: none), then 'k' or 'B'. */
static char child_check(int parent_fd)
{
	int fd, bad;
	char c;

	if (kind != KCMP_FILES)
		return 'k';
	bad = !is_dev(parent_fd, 1, 7) || !is_dev(zero_fd, 1, 5);
	fd = open("/dev/full", O_RDONLY);
	c = (char)fd;
	if (write(ans[1], &c, 1) != 1)
		return 'B';
	/* The parent checks it, then closes it: for both of us. */
	return bad || fd < 0 ? 'B' : 'k';
}

static int sibling_main(void *arg)
{
	(void)arg;
	for (;;)
		pause();
	return 0;
}

static int child(void *arg)
{
	(void)arg;
	if (arg) {
		/* sibling mode: a brother on this fd table, told to the parent */
		pid_t s = clone(sibling_main, (char *)arg, CLONE_PARENT | CLONE_FILES, NULL);

		if (s < 0 || write(ans[1], &s, sizeof(s)) != sizeof(s))
			return 1;
	}
	if (kind == KCMP_FILES)
		zero_fd = open("/dev/zero", O_RDONLY);
	for (;;) {
		struct pollfd p = { req[0], POLLIN, 0 };
		char c;

		if (poll(&p, 1, 50) == 1 && read(req[0], &c, 1) == 1) {
			c = child_check((unsigned char)c);
			if (write(ans[1], &c, 1) != 1)
				return 1;
		}
	}
}

static int verify(pid_t kid)
{
	char buf[8], c = 0, theirs = 0;
	int fd = -1, ok = 1;

	if (sib > 0 && syscall(SYS_kcmp, kid, sib, kind, 0, 0) == 0)
		return 1; /* sibling mode: the two share it (the parent does not) */
	if (sib > 0 || syscall(SYS_kcmp, getpid(), kid, kind, 0, 0) != 0) {
		why = "kcmp says the object is not shared";
		return 0;
	}
	if (kind != KCMP_FILES) {
		if (write(req[1], &c, 1) != 1 || read(ans[0], &c, 1) != 1 || c != 'k') {
			why = "the child did not answer";
			return 0;
		}
		return 1;
	}
	if (pread(data_fd, buf, 4, 0) != 4 || memcmp(buf, "0123", 4) ||
	    lseek(data_fd, 0, SEEK_CUR) != 6) {
		why = "the file opened before the clone lost its bytes or position";
		return 0;
	}
	fd = open("/dev/full", O_RDONLY);
	c = (char)fd;
	if (fd < 0 || write(req[1], &c, 1) != 1 || read(ans[0], &theirs, 1) != 1) {
		why = "no answer from the child";
		return 0;
	}
	/* theirs: the fd the child opened (-1: none), then its verdict. */
	if (theirs < 0 || !is_dev((unsigned char)theirs, 1, 7)) {
		why = "the fd the child opened is not in the parent's table";
		ok = 0;
	}
	if (read(ans[0], &c, 1) != 1 || c != 'k') {
		why = "the child does not see the fd the parent opened, or lost its own";
		ok = 0;
	}
	if (theirs >= 0)
		close((unsigned char)theirs);
	close(fd);
	return ok;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "files";
	struct timespec tick = { 0, 20 * 1000 * 1000 };
	size_t stack_size = 256 * 1024;
	char *stack, path[] = "/tmp/clonefiles-XXXXXX";
	int flags;
	pid_t kid;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGUSR1, on_sig);
	signal(SIGTERM, on_sig);
	if (!strcmp(mode, "files")) {
		kind = KCMP_FILES;
		flags = CLONE_FILES;
	} else if (!strcmp(mode, "fs")) {
		kind = KCMP_FS;
		flags = CLONE_FS;
	} else if (!strcmp(mode, "sibling")) {
		kind = KCMP_FILES;
		flags = 0;
	} else if (!strcmp(mode, "vm")) {
		kind = KCMP_VM;
		flags = CLONE_VM | CLONE_SIGHAND;
	} else {
		fprintf(stderr, "clonefiles: unknown mode %s\n", mode);
		return 2;
	}
	data_fd = mkstemp(path);
	if (data_fd < 0 || write(data_fd, "0123456789", 10) != 10 ||
	    lseek(data_fd, 6, SEEK_SET) != 6)
		return 1;
	unlink(path); /* a ghost file: kept by the dump */
	if (pipe(req) || pipe(ans))
		return 1;
	stack = malloc(stack_size);
	if (!stack)
		return 1;
	kid = clone(child, stack + stack_size, flags | SIGCHLD,
		    strcmp(mode, "sibling") ? NULL : stack + stack_size / 2);
	if (kid < 0) {
		perror("clonefiles: clone");
		return 1;
	}
	if (!strcmp(mode, "sibling")) {
		if (read(ans[0], &sib, sizeof(sib)) != sizeof(sib))
			return 1;
		printf("clonefiles: %s parent %d child %d sibling %d ready\n", mode, getpid(), kid,
		       sib);
	} else {
		printf("clonefiles: %s parent %d child %d ready\n", mode, getpid(), kid);
	}
	while (!got_term) {
		if (got_usr1) {
			got_usr1 = 0;
			if (verify(kid))
				printf("clonefiles: verify ok\n");
			else
				printf("clonefiles: verify BAD (%s)\n", why);
		}
		nanosleep(&tick, NULL);
	}
	kill(kid, SIGKILL);
	waitpid(kid, NULL, 0);
	if (sib > 0) {
		kill(sib, SIGKILL);
		waitpid(sib, NULL, 0);
	}
	return 0;
}
