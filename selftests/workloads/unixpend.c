// SPDX-License-Identifier: MIT
/*
 * A listener with connections not accepted yet, both ends in the tree.
 *   unixpend DIR [data]
 * The parent listens on DIR/pend.sock (backlog 4); two children connect to
 * it and are not accepted. With "data", each child also sends a byte before
 * it is accepted (what a dump refuses: the byte sits in a socket with no
 * fd). The parent prints "unixpend: pid P children A B ready" once both
 * wait in its backlog. On SIGUSR1 the parent accepts both connections, asks
 * each "who\n" and expects "child I PID\n" from two different children
 * whose pids are A and B; prints "unixpend: verify ok" or
 * "unixpend: verify BAD what".
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static volatile sig_atomic_t usr1;

static void on_usr1(int sig)
{
	(void)sig;
	usr1 = 1;
}

static void child(const struct sockaddr_un *a, int idx, int ready, int data)
{
	char buf[64];
	int c = socket(AF_UNIX, SOCK_STREAM, 0), n;

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (c < 0 || connect(c, (const struct sockaddr *)a, sizeof(*a)) ||
	    (data && write(c, "e", 1) != 1) || write(ready, "r", 1) != 1) {
		perror("unixpend: child");
		_exit(1);
	}
	close(ready);
	for (;;) {
		ssize_t r = read(c, buf, sizeof(buf));

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			_exit(0);
		n = snprintf(buf, sizeof(buf), "child %d %d\n", idx, getpid());
		if (write(c, buf, (size_t)n) != n)
			_exit(1);
	}
}

/* Accept both connections and check who they are; NULL or what went wrong. */
static const char *verify(int l, const pid_t kids[2])
{
	int seen[2] = { 0, 0 };

	for (int k = 0; k < 2; k++) {
		struct pollfd p = { .fd = l, .events = POLLIN };
		char buf[64] = "";
		int c, idx, pid;
		ssize_t r;

		if (poll(&p, 1, 5000) != 1)
			return "no connection waiting to be accepted";
		c = accept(l, NULL, NULL);
		if (c < 0)
			return "accept";
		if (write(c, "who\n", 4) != 4)
			return "write to an accepted connection";
		p.fd = c;
		for (size_t len = 0; !strchr(buf, '\n');) { /* "e" first if it sent one early */
			if (poll(&p, 1, 5000) != 1)
				return "no answer on an accepted connection";
			r = read(c, buf + len, sizeof(buf) - 1 - len);
			if (r <= 0)
				return "end of file on an accepted connection";
			len += (size_t)r;
		}
		if (sscanf(buf + strspn(buf, "e"), "child %d %d", &idx, &pid) != 2 || idx < 0 ||
		    idx > 1)
			return "a bad answer on an accepted connection";
		if (pid != kids[idx] || seen[idx]++)
			return "an answer from the wrong child";
		close(c);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int l, pp[2], data = argc > 2 && !strcmp(argv[2], "data");
	pid_t kids[2];
	char b[2];

	if (argc < 2) {
		fprintf(stderr, "usage: unixpend DIR [data]\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	sigaction(SIGUSR1, &sa, NULL);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s/pend.sock", argv[1]);
	unlink(a.sun_path);
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) || listen(l, 4) || pipe(pp)) {
		perror("unixpend: listen");
		return 1;
	}
	for (int i = 0; i < 2; i++) {
		kids[i] = fork();
		if (kids[i] < 0)
			return 1;
		if (!kids[i]) {
			close(l);
			close(pp[0]);
			child(&a, i, pp[1], data);
		}
	}
	close(pp[1]);
	if (read(pp[0], b, 1) != 1 || read(pp[0], b + 1, 1) != 1) {
		fprintf(stderr, "unixpend: a child did not connect\n");
		return 1;
	}
	close(pp[0]);
	printf("unixpend: pid %d children %d %d ready\n", getpid(), kids[0], kids[1]);
	for (;;) {
		const char *why;

		/* Not pause(): a signal between a restore's resume and its re-entry is missed. */
		while (!usr1)
			usleep(10000);
		usr1 = 0;
		why = verify(l, kids);
		if (why)
			printf("unixpend: verify BAD %s\n", why);
		else
			printf("unixpend: verify ok\n");
	}
}
