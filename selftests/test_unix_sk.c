// SPDX-License-Identifier: MIT
/*
 * Unix sockets end to end (issue 19, first part): the unixsk workload
 * (selftests/workloads/unixsk.c) holds stream, datagram and seqpacket
 * socketpairs with messages queued both ways, listeners on a path and on an
 * abstract name, a bound datagram socket with a message queued, and a parent
 * and child exchanging a checked counter over a socketpair. After a dump and
 * a restore (eager, lazy, from a pre-dump chain) it checks all of it itself:
 * every queued message with its boundaries, the options, a new connection
 * accepted on each listener, the exchange going on with no counter lost or
 * repeated. The images are CRIU's (crit decodes them); corrupt ones are
 * refused with file and offset; what is not supported (a connection not yet
 * accepted, a peer outside the tree) is refused by name and the tree goes on.
 * A python3 asyncio loop (a socketpair to wake itself, and epoll) keeps
 * counting after a restore.
 *
 * The test process is a child subreaper: a tree restored with -d is
 * reparented to it when ferry exits, so it can be reaped here.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "tree_helpers.h"
#include "img.h"
#include "fdinfo.pb-c.h"
#include "sk-packet.pb-c.h"

#define VERDICT_MS 10000

struct uw {
	struct t_tree t;
	int listener, dup, orig; /* fds: the listener (parent and child), a dup of a pair's end */
};

TestSuite(unixsk, .timeout = 120);

static void uw_start(struct uw *w, const char *mode)
{
	const char *argv[] = { "unixsk", NULL, mode, NULL };
	char *line;

	memset(w, 0, sizeof(*w));
	t_tree_init(&w->t);
	argv[1] = w->t.dir;
	line = t_tree_spawn(&w->t, argv);
	cr_assert_eq(sscanf(line, "unixsk: pid %*d child %d ready listener %d dup %d of %d",
			    &w->t.child, &w->listener, &w->dup, &w->orig),
		     4, "ready line: %s", line);
	free(line);
	/* The check is sound before any dump (it queues every message again). */
	t_expect_verdict(w->t.out, w->t.pid, SIGUSR1, "unixsk: verify ok", "verify BAD",
			 VERDICT_MS);
}

static void uw_verify_twice(struct uw *w)
{
	t_expect_verdict(w->t.out, w->t.pid, SIGUSR1, "unixsk: verify ok", "verify BAD",
			 VERDICT_MS);
	t_expect_verdict(w->t.out, w->t.pid, SIGUSR1, "unixsk: verify ok", "verify BAD",
			 VERDICT_MS);
}

/* files.img and sk-queues.img of @dir, as ferry and crit decode them. */
static void decode_unix(const char *dir)
{
	char *out = NULL, *err = NULL;
	int rc;

	rc = t_run(&out, &err, "%s decode -i %s/files.img", t_ferry_bin(), dir);
	cr_assert_eq(rc, 0, "ferry decode: %s", err ? err : "");
	cr_assert(strstr(out, "\"usk\""), "no unix socket in files.img");
	free(out);
	free(err);
	rc = t_run(&out, &err, "%s decode -i %s/sk-queues.img | grep -o '\"id_for\"' | wc -l",
		   t_ferry_bin(), dir);
	cr_assert_eq(rc, 0, "ferry decode: %s", err ? err : "");
	/* 64 KiB + "back", 4 + 2 datagrams, 2 seqpackets, the bound one (+ counters in flight) */
	cr_assert_geq(atoi(out), 11, "sk-queues.img holds %s entries", out);
	free(out);
	free(err);
	if (!t_crit())
		return;
	rc = t_run(&out, &err,
		   "%s decode --pretty -i %s/files.img && %s decode -i %s/sk-queues.img", t_crit(),
		   dir, t_crit(), dir);
	cr_assert_eq(rc, 0, "crit decode: %s", err ? err : "");
	cr_assert(strstr(out, "\"UNIXSK\""), "crit sees no unix socket");
	cr_assert(strstr(out, "\"SEQPACKET\"") && strstr(out, "\"LISTEN\""),
		  "crit sees no seqpacket or listening socket");
	cr_assert(strstr(out, "\"SK_QUEUES\""), "crit does not read sk-queues.img");
	free(out);
	free(err);
}

/* fd @a of @pa and fd @b of @pb are one socket (same inode). */
static void assert_same_socket(pid_t pa, int a, pid_t pb, int b)
{
	char pa_path[64], pb_path[64];
	struct stat sa, sb;

	snprintf(pa_path, sizeof(pa_path), "/proc/%d/fd/%d", pa, a);
	snprintf(pb_path, sizeof(pb_path), "/proc/%d/fd/%d", pb, b);
	cr_assert_eq(stat(pa_path, &sa), 0, "%s", pa_path);
	cr_assert_eq(stat(pb_path, &sb), 0, "%s", pb_path);
	cr_assert(S_ISSOCK(sa.st_mode));
	cr_assert_eq(sa.st_ino, sb.st_ino, "%s and %s are two sockets", pa_path, pb_path);
}

Test(unixsk, queues_pairs_listeners_and_exchange_after_restore)
{
	char path[700];
	struct stat st;
	struct uw w;

	uw_start(&w, "");
	t_tree_dump(&w.t, w.t.img, NULL);
	decode_unix(w.t.img);
	t_tree_restore(&w.t, w.t.img, NULL);
	snprintf(path, sizeof(path), "%s/listen.sock", w.t.dir);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode), "%s is no socket after restore", path);
	/* Shared as it was: the listener by parent and child, a dup'd end by two fds. */
	assert_same_socket(w.t.pid, w.listener, w.t.child, w.listener);
	assert_same_socket(w.t.pid, w.dup, w.t.pid, w.orig);
	uw_verify_twice(&w);
	t_tree_stop(&w.t);
}

Test(unixsk, lazy_restore)
{
	struct uw w;

	uw_start(&w, "");
	t_tree_dump(&w.t, w.t.img, NULL);
	t_tree_restore(&w.t, w.t.img, "--lazy-pages");
	uw_verify_twice(&w);
	t_tree_stop(&w.t);
}

Test(unixsk, predump_chain)
{
	char d1[700], d2[700], d3[700], *err = NULL;
	struct uw w;
	int rc;

	uw_start(&w, "");
	snprintf(d1, sizeof(d1), "%s/1", w.t.dir);
	snprintf(d2, sizeof(d2), "%s/2", w.t.dir);
	snprintf(d3, sizeof(d3), "%s/3", w.t.dir);
	rc = t_run(NULL, &err, "%s pre-dump -t %d -D %s", t_ferry_bin(), w.t.pid, d1);
	cr_assert_eq(rc, 0, "pre-dump 1: %s", err ? err : "");
	free(err);
	err = NULL;
	t_expect_verdict(w.t.out, w.t.pid, SIGUSR1, "unixsk: verify ok", "verify BAD", VERDICT_MS);
	rc = t_run(NULL, &err, "%s pre-dump -t %d -D %s --prev-images-dir ../1", t_ferry_bin(),
		   w.t.pid, d2);
	cr_assert_eq(rc, 0, "pre-dump 2: %s", err ? err : "");
	free(err);
	t_expect_verdict(w.t.out, w.t.pid, SIGUSR1, "unixsk: verify ok", "verify BAD", VERDICT_MS);
	t_tree_dump(&w.t, d3, "--prev-images-dir ../2");
	t_tree_restore(&w.t, d3, NULL);
	uw_verify_twice(&w);
	t_tree_stop(&w.t);
}

/* A dump that must be refused: the message names @want; the tree runs on, unharmed. */
static void expect_dump_refused(struct uw *w, const char *want)
{
	char *err = NULL, pidfd[64];
	int rc;

	rc = t_run(NULL, &err, "%s dump -t %d -D %s", t_ferry_bin(), w->t.pid, w->t.img);
	cr_assert_neq(rc, 0, "the dump was not refused");
	snprintf(pidfd, sizeof(pidfd), "pid %d fd ", w->t.pid);
	cr_assert(err && strstr(err, pidfd), "the refusal names no pid and fd: %s", err);
	cr_assert(strstr(err, want), "no '%s' in: %s", want, err);
	free(err);
	cr_assert_eq(kill(w->t.pid, 0), 0, "the refused dump killed the tree");
	t_expect_verdict(w->t.out, w->t.pid, SIGUSR1, "unixsk: verify ok", "verify BAD",
			 VERDICT_MS);
}

Test(unixsk, pending_connection_refused_by_name)
{
	struct uw w;

	uw_start(&w, "pending");
	expect_dump_refused(&w, "not accepted yet, with data sent into it");
	t_tree_stop(&w.t);
}

Test(unixsk, fds_in_flight_refused_by_name)
{
	struct uw w;

	uw_start(&w, "rights");
	expect_dump_refused(&w, "file descriptors in flight (SCM_RIGHTS)");
	t_tree_stop(&w.t);
}

Test(unixsk, peer_outside_the_tree_refused_by_name)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	char name[64], mode[80];
	struct uw w;
	int l, c;

	/* The test process holds the other end: a listener here, the workload connects. */
	snprintf(name, sizeof(name), "ferry-unixsk-outside-%d", getpid());
	memcpy(a.sun_path + 1, name, strlen(name));
	l = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_geq(l, 0);
	cr_assert_eq(bind(l, (struct sockaddr *)&a,
			  (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(name))),
		     0, "%s", strerror(errno));
	cr_assert_eq(listen(l, 1), 0);
	snprintf(mode, sizeof(mode), "outside:%s", name);
	uw_start(&w, mode);
	c = accept(l, NULL, NULL);
	cr_assert_geq(c, 0);
	expect_dump_refused(&w, "which no process of the dumped tree holds");
	close(c);
	close(l);
	t_tree_stop(&w.t);
}

static void expect_restore_refused(const char *dir, const char *want1, const char *want2)
{
	char *err = NULL;
	int rc;

	rc = t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), dir);
	cr_assert_neq(rc, 0, "a corrupt dump was restored");
	cr_assert(strstr(err, want1), "no '%s' in: %s", want1, err);
	if (want2)
		cr_assert(strstr(err, want2), "no '%s' in: %s", want2, err);
	free(err);
}

/* sk-queues.img made of one entry for file @id_for announcing @len bytes, holding @have. */
static void put_queue(const char *dir, uint32_t id_for, uint32_t len, uint32_t have)
{
	SkPacketEntry pe = SK_PACKET_ENTRY__INIT;
	static const char bytes[16] = "0123456789abcdef";
	struct img *img;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	cr_assert_geq(dfd, 0);
	pe.id_for = id_for;
	pe.length = len;
	cr_assert_eq(img_create(&img, dfd, "sk-queues.img", img_type_by_name("SK_QUEUES")), 0);
	cr_assert_eq(img_write_entry(img, &pe.base), 0);
	cr_assert_eq(img_write_raw(img, bytes, have), 0);
	cr_assert_eq(img_commit(img), 0);
	close(dfd);
}

/* files.img again, with the type of its first unix socket set to @type. */
static void put_files_usk_type(const char *dir, uint32_t type)
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

		if (!done && f->usk) {
			f->usk->type = type;
			done = 1;
		}
		cr_assert_eq(img_write_entry(out, m[i]), 0);
		protobuf_c_message_free_unpacked(m[i], NULL);
	}
	cr_assert(done, "no unix socket in files.img");
	cr_assert_eq(img_commit(out), 0);
	img_close(in);
	close(dfd);
}

Test(unixsk, corrupt_images_refused_with_file_and_offset)
{
	char save[700];
	struct uw w;

	uw_start(&w, "");
	t_tree_dump(&w.t, w.t.img, NULL);
	w.t.pid = w.t.child = 0; /* nothing runs from here on */
	snprintf(save, sizeof(save), "%s/saved", w.t.dir);
	cr_assert_eq(t_run(NULL, NULL, "cp %s/files.img %s", w.t.img, save), 0);
	/* Queued data for a file id no socket has. */
	put_queue(w.t.img, 99999, 4, 4);
	expect_restore_refused(w.t.img, "sk-queues.img: offset ", "file id 99999");
	/* A payload that runs past the end of the file. */
	put_queue(w.t.img, 3, 100, 4);
	expect_restore_refused(w.t.img, "sk-queues.img", NULL);
	/* A socket of a type that does not exist. */
	cr_assert_eq(t_run(NULL, NULL, "rm %s/sk-queues.img", w.t.img), 0);
	put_files_usk_type(w.t.img, 99);
	expect_restore_refused(w.t.img, "files.img: offset ", "unknown socket type");
	/* Truncated. */
	cr_assert_eq(t_run(NULL, NULL, "cp %s %s/files.img && truncate -s 100 %s/files.img", save,
			   w.t.img, w.t.img),
		     0);
	expect_restore_refused(w.t.img, "files.img", NULL);
	t_tree_stop(&w.t);
}

/* A regular file where the listener's socket file was: never unlinked, the restore fails. */
Test(unixsk, listener_path_taken_by_a_file_refused)
{
	char path[700], *text;
	struct uw w;

	uw_start(&w, "");
	t_tree_dump(&w.t, w.t.img, NULL);
	w.t.pid = w.t.child = 0;
	snprintf(path, sizeof(path), "%s/listen.sock", w.t.dir);
	cr_assert_eq(unlink(path), 0);
	cr_assert_eq(t_write_file(path, "keep", 4), 0);
	expect_restore_refused(w.t.img, "listen.sock is there and is no socket", NULL);
	text = t_read_file(path, NULL);
	cr_assert_str_eq(text, "keep", "the file was replaced");
	free(text);
	t_tree_stop(&w.t);
}
