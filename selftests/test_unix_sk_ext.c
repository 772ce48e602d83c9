// SPDX-License-Identifier: MIT
/*
 * Unix sockets connected outside the dumped tree (issue 19): the unixext
 * workload (selftests/workloads/unixext.c) talks to a server this test runs
 * in a thread: a stream listener at DIR/ext.sock (ping/pong) and a datagram
 * socket bound at DIR/ext.dgram. `ferry dump --ext-unix-sk` keeps both peers
 * as external entries (CRIU's USK_EXTERN, crit decodes them); a restore
 * without --ext-unix-sk is refused naming the option; with it the workload's
 * sockets connect to the same names again and the talk goes on (a new
 * connection the server accepts, the round counter going on). Without
 * --ext-unix-sk the dump is refused by name and the tree runs on.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "helpers.h"
#include "tree_helpers.h"
#include "img.h"
#include "fdinfo.pb-c.h"

#define VERDICT_MS 10000

/* The server outside the tree: accepts, answers "ping N" with "pong N", counts datagrams. */
struct ext_srv {
	int lst, dg, sp; /* sp: the test's end of a socketpair with the tree, or -1 */
	int give;	 /* the other end, sent to the first client (SCM_RIGHTS), or -1 */
	pthread_t th;
	volatile int stop;
	volatile int accepted, dgrams;
};

/* Answer one "ping N" read on @c with "pong N"; -1 at end of file. */
static int answer(int c)
{
	char buf[128];
	ssize_t n = read(c, buf, sizeof(buf));

	if (n <= 0)
		return -1;
	if (n > 4 && !memcmp(buf, "ping", 4)) {
		memcpy(buf, "pong", 4);
		if (write(c, buf, (size_t)n) != n)
			return -1;
	}
	return 0;
}

/* Send @fd over @c with one byte (SCM_RIGHTS), then close it here. */
static void give_fd(int c, int fd)
{
	union {
		struct cmsghdr h;
		char b[CMSG_SPACE(sizeof(int))];
	} cb;
	struct iovec iov = { "f", 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	memset(&cb, 0, sizeof(cb));
	mh.msg_control = cb.b;
	mh.msg_controllen = sizeof(cb.b);
	cb.h.cmsg_level = SOL_SOCKET;
	cb.h.cmsg_type = SCM_RIGHTS;
	cb.h.cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(&cb.h), &fd, sizeof(int));
	if (sendmsg(c, &mh, 0) != 1)
		perror("give_fd");
	close(fd);
}

static void *serve(void *arg)
{
	struct ext_srv *s = arg;
	int c = -1;

	while (!s->stop) {
		struct pollfd p[4] = { { s->lst, POLLIN, 0 },
				       { s->dg, POLLIN, 0 },
				       { s->sp, POLLIN, 0 },
				       { c, POLLIN, 0 } };
		char buf[128];

		if (poll(p, c >= 0 ? 4 : 3, 100) <= 0)
			continue;
		if (s->sp >= 0 && (p[2].revents & POLLIN))
			answer(s->sp);
		if (p[0].revents & POLLIN) {
			int nc = accept4(s->lst, NULL, NULL, SOCK_CLOEXEC);

			if (nc >= 0) {
				if (c >= 0)
					close(c); /* the connection of the dumped tree, gone */
				c = nc;
				s->accepted++;
				if (s->give >= 0)
					give_fd(c, s->give);
				s->give = -1;
			}
		}
		if ((p[1].revents & POLLIN) && recv(s->dg, buf, sizeof(buf), 0) > 0)
			s->dgrams++;
		if (c >= 0 && (p[3].revents & (POLLIN | POLLHUP)) && answer(c)) {
			close(c);
			c = -1;
		}
	}
	if (c >= 0)
		close(c);
	return NULL;
}

static void srv_start(struct ext_srv *s, const char *dir)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };

	memset(s, 0, sizeof(*s));
	s->sp = s->give = -1;
	s->lst = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	s->dg = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert(s->lst >= 0 && s->dg >= 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s/ext.sock", dir);
	cr_assert_eq(bind(s->lst, (struct sockaddr *)&a, sizeof(a)), 0, "%s", strerror(errno));
	cr_assert_eq(listen(s->lst, 4), 0);
	snprintf(a.sun_path, sizeof(a.sun_path), "%s/ext.dgram", dir);
	cr_assert_eq(bind(s->dg, (struct sockaddr *)&a, sizeof(a)), 0, "%s", strerror(errno));
	cr_assert_eq(pthread_create(&s->th, NULL, serve, s), 0);
}

static void srv_stop(struct ext_srv *s)
{
	s->stop = 1;
	pthread_join(s->th, NULL);
	close(s->lst);
	close(s->dg);
	if (s->sp >= 0)
		close(s->sp);
}

static void ext_start(struct t_tree *t, struct ext_srv *s)
{
	char sp[700], dp[700], *line;
	const char *argv[] = { "unixext", sp, dp, NULL };

	t_tree_init(t);
	snprintf(sp, sizeof(sp), "%s/ext.sock", t->dir);
	snprintf(dp, sizeof(dp), "%s/ext.dgram", t->dir);
	srv_start(s, t->dir);
	line = t_tree_spawn(t, argv);
	free(line);
	t_expect_verdict(t->out, t->pid, SIGUSR1, "unixext: verify ok 1", "verify BAD", VERDICT_MS);
}

TestSuite(unixsk_ext, .timeout = 60);

Test(unixsk_ext, server_outside_the_tree_keeps_talking_after_restore)
{
	struct ext_srv s;
	struct t_tree t;
	char *out = NULL, *err = NULL;
	int rc;

	ext_start(&t, &s);
	t_tree_dump(&t, t.img, "--ext-unix-sk");
	/* Both outside peers are entries of their own, marked external, decoded by crit. */
	rc = t_run(&out, &err, "%s decode -i %s/files.img", t_ferry_bin(), t.img);
	cr_assert_eq(rc, 0, "ferry decode: %s", err ? err : "");
	cr_assert(strstr(out, "ext.sock") && strstr(out, "ext.dgram"),
		  "the outside peers' names are not in files.img: %s", out);
	free(out);
	free(err);
	if (t_crit()) {
		rc = t_run(&out, &err, "%s decode --pretty -i %s/files.img", t_crit(), t.img);
		cr_assert_eq(rc, 0, "crit decode: %s", err ? err : "");
		cr_assert(strstr(out, "ext.sock") && strstr(out, "\"uflags\": \"0x1\""),
			  "crit sees no external socket: %s", out);
		free(out);
		free(err);
	}
	/* Without the option, the restore names it and leaves nothing behind. */
	rc = t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), t.img);
	cr_assert_neq(rc, 0, "restored without --ext-unix-sk");
	cr_assert(err && strstr(err, "--ext-unix-sk") && strstr(err, "outside the dumped tree"),
		  "the refusal names no option: %s", err);
	free(err);
	t_tree_restore(&t, t.img, "--ext-unix-sk");
	t_expect_verdict(t.out, t.pid, SIGUSR1, "unixext: verify ok 2", "verify BAD", VERDICT_MS);
	t_expect_verdict(t.out, t.pid, SIGUSR1, "unixext: verify ok 3", "verify BAD", VERDICT_MS);
	cr_assert_eq(s.accepted, 2, "the server accepted %d connections, not 2", s.accepted);
	cr_assert_eq(s.dgrams, 3, "the server got %d datagrams, not 3", s.dgrams);
	t_tree_stop(&t);
	srv_stop(&s);
}

Test(unixsk_ext, refused_by_name_without_the_option)
{
	char *err = NULL, pidfd[64];
	struct ext_srv s;
	struct t_tree t;
	int rc;

	ext_start(&t, &s);
	rc = t_run(NULL, &err, "%s dump -t %d -D %s", t_ferry_bin(), t.pid, t.img);
	cr_assert_neq(rc, 0, "the dump was not refused");
	snprintf(pidfd, sizeof(pidfd), "pid %d fd ", t.pid);
	cr_assert(err && strstr(err, pidfd), "the refusal names no pid and fd: %s", err);
	cr_assert(strstr(err, "which no process of the dumped tree holds") &&
			  strstr(err, "--ext-unix-sk"),
		  "no peer and option named in: %s", err);
	free(err);
	t_expect_verdict(t.out, t.pid, SIGUSR1, "unixext: verify ok 2", "verify BAD", VERDICT_MS);
	t_tree_stop(&t);
	srv_stop(&s);
}

/*
 * A socketpair with the test (a peer with no name): kept with --ext-unix-sk,
 * refused at restore without --inherit-fd fd[N]:socket:[INO], and with it the
 * workload talks over the socket the test hands to ferry.
 */
Test(unixsk_ext, unnamed_peer_taken_with_inherit_fd)
{
	char sp[700], dp[700], opt[128], *line, *err = NULL;
	const char *argv[] = { "unixext", sp, dp, "pair", NULL };
	struct ext_srv s;
	struct t_tree t;
	struct stat st;
	int sv[2], rc;

	t_tree_init(&t);
	snprintf(sp, sizeof(sp), "%s/ext.sock", t.dir);
	snprintf(dp, sizeof(dp), "%s/ext.dgram", t.dir);
	/* sv[1] goes to the workload (SCM_RIGHTS from the server); the test keeps sv[0]. */
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(fstat(sv[1], &st), 0);
	srv_start(&s, t.dir);
	s.sp = sv[0];
	s.give = sv[1];
	line = t_tree_spawn(&t, argv);
	free(line);
	t_expect_verdict(t.out, t.pid, SIGUSR1, "unixext: verify ok 1", "verify BAD", VERDICT_MS);
	t_tree_dump(&t, t.img, "--ext-unix-sk");
	rc = t_run(NULL, &err, "%s restore -D %s -d --ext-unix-sk", t_ferry_bin(), t.img);
	cr_assert_neq(rc, 0, "restored a socket with an unnamed outside peer without --inherit-fd");
	snprintf(opt, sizeof(opt), "--inherit-fd fd[N]:socket:[%lu]", (unsigned long)st.st_ino);
	cr_assert(err && strstr(err, opt), "no '%s' in: %s", opt, err);
	free(err);
	/* A new pair: ferry gets one end (inherited through the shell), the server the other. */
	s.stop = 1;
	pthread_join(s.th, NULL);
	close(s.sp);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	fcntl(sv[0], F_SETFD, FD_CLOEXEC);
	s.sp = sv[0];
	s.stop = 0;
	cr_assert_eq(pthread_create(&s.th, NULL, serve, &s), 0);
	snprintf(opt, sizeof(opt), "--ext-unix-sk --inherit-fd 'fd[%d]:socket:[%lu]'", sv[1],
		 (unsigned long)st.st_ino);
	t_tree_restore(&t, t.img, opt);
	close(sv[1]);
	t_expect_verdict(t.out, t.pid, SIGUSR1, "unixext: verify ok 2", "verify BAD", VERDICT_MS);
	t_tree_stop(&t);
	srv_stop(&s);
}

/* files.img again, its external unix entries given uflags @uflags and peer @peer. */
static void put_external(const char *dir, uint32_t uflags, uint32_t peer)
{
	ProtobufCMessage *m[256];
	struct img *in, *out;
	size_t n = 0;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), done = 0;

	cr_assert_geq(dfd, 0);
	cr_assert_eq(img_open(&in, dfd, "files.img", img_type_by_name("FILES")), 0);
	while (n < 256 && img_read_entry(in, &m[n]) == 1)
		n++;
	cr_assert_eq(img_create(&out, dfd, "files.img", img_type_by_name("FILES")), 0);
	for (size_t i = 0; i < n; i++) {
		FileEntry *f = (FileEntry *)m[i];

		if (f->usk && f->usk->uflags) {
			f->usk->uflags = uflags;
			f->usk->peer = peer;
			done++;
		}
		cr_assert_eq(img_write_entry(out, m[i]), 0);
		protobuf_c_message_free_unpacked(m[i], NULL);
	}
	cr_assert_eq(done, 2, "%d external unix sockets in files.img, not 2", done);
	cr_assert_eq(img_commit(out), 0);
	img_close(in);
	close(dfd);
}

static void expect_restore_refused(const char *dir, const char *want1, const char *want2)
{
	char *err = NULL;
	int rc;

	rc = t_run(NULL, &err, "%s restore -D %s -d --ext-unix-sk", t_ferry_bin(), dir);
	cr_assert_neq(rc, 0, "a corrupt dump was restored");
	cr_assert(err && strstr(err, want1), "no '%s' in: %s", want1, err);
	cr_assert(strstr(err, want2), "no '%s' in: %s", want2, err);
	free(err);
}

Test(unixsk_ext, corrupt_external_entries_refused_with_file_and_offset)
{
	struct ext_srv s;
	struct t_tree t;

	ext_start(&t, &s);
	t_tree_dump(&t, t.img, "--ext-unix-sk");
	t.pid = 0; /* nothing runs from here on */
	put_external(t.img, 1, 12345);
	expect_restore_refused(t.img, "files.img: offset ", "the external flag but");
	put_external(t.img, 5, 0);
	expect_restore_refused(t.img, "files.img: offset ", "uflags ferry does not know");
	t_tree_stop(&t);
	srv_stop(&s);
}
