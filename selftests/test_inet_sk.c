// SPDX-License-Identifier: MIT
/*
 * TCP and UDP sockets end to end (issue 19, inet sockets without established
 * connections): the inetsk workload (selftests/workloads/inetsk.c) holds a
 * v4 listener with options set and shared with a forked child, a v6-only
 * and a dual-stack listener, a bound and an unbound TCP socket, and a bound
 * and a connected UDP socket with a datagram queued, and a NETLINK_ROUTE
 * socket bound to a group. After a dump and a
 * restore (eager, lazy, from a pre-dump chain) it checks its sockets' names
 * and options, the child answers on the shared listener, datagrams go both
 * ways, the netlink socket answers an RTM_GETLINK dump; the test connects to the v6 and dual-stack
 * listeners from outside and gets the parent's answer. The images are CRIU's (crit decodes them);
 * corrupt ones are refused with file and offset; established connections,
 * connections not accepted yet, packet and raw sockets are refused
 * by name and the tree goes on. python3 -m http.server serves a file after
 * a restore.
 *
 * The test process is a child subreaper: a tree restored with -d is
 * reparented to it when ferry exits, so it can be reaped here.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "img.h"
#include "fdinfo.pb-c.h"

#define VERDICT_MS 10000
#define V4_FD 3 /* the workload's first socket: it closes every fd above 2 first */

struct iw {
	char *dir;
	char out[512], img[600];
	pid_t pid, child;
	int port4, port6, portd;
};

TestSuite(inetsk, .timeout = 120);

static void iw_start(struct iw *w, const char *mode)
{
	const char *argv[] = { "inetsk", NULL, mode, NULL };
	char *line;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	memset(w, 0, sizeof(*w));
	w->dir = t_tmpdir();
	cr_assert_not_null(w->dir);
	argv[1] = w->dir;
	snprintf(w->out, sizeof(w->out), "%s/out", w->dir);
	snprintf(w->img, sizeof(w->img), "%s/img", w->dir);
	w->pid = t_spawn(w->out, argv);
	cr_assert_gt(w->pid, 0);
	line = t_wait_line(w->out, "ready", 10000);
	cr_assert_not_null(line, "the inetsk workload never said ready");
	cr_assert_eq(sscanf(line, "inetsk: pid %*d child %d ready v4 %d v6 %d dual %d", &w->child,
			    &w->port4, &w->port6, &w->portd),
		     4, "ready line: %s", line);
	free(line);
	/* The check is sound before any dump. */
	t_expect_verdict(w->out, w->pid, SIGUSR1, "inetsk: verify ok", "verify BAD", VERDICT_MS);
}

static void iw_stop(struct iw *w)
{
	if (w->pid > 0)
		kill(w->pid, SIGKILL);
	if (w->child > 0)
		kill(w->child, SIGKILL);
	while (waitpid(-1, NULL, WNOHANG) >= 0 || errno == EINTR)
		if (waitpid(-1, NULL, 0) < 0 && errno == ECHILD)
			break;
	t_rmrf(w->dir);
	free(w->dir);
}

static void iw_dump(struct iw *w, const char *dir, const char *extra)
{
	char *err = NULL;
	int rc, status;

	rc = t_run(NULL, &err, "%s dump -t %d -D %s %s", t_ferry_bin(), w->pid, dir,
		   extra ? extra : "");
	cr_assert_eq(rc, 0, "dump of pid %d failed: %s", w->pid, err ? err : "");
	free(err);
	cr_assert_eq(waitpid(w->pid, &status, 0), w->pid);
	cr_assert_eq(waitpid(w->child, &status, 0), w->child);
}

static void iw_restore(struct iw *w, const char *dir, const char *extra)
{
	char *err = NULL;
	int rc;

	rc = t_run(NULL, &err, "%s restore -D %s -d %s", t_ferry_bin(), dir, extra ? extra : "");
	cr_assert_eq(rc, 0, "restore of %s failed: %s", dir, err ? err : "");
	free(err);
	cr_assert_eq(kill(w->pid, 0), 0, "pid %d is not back", w->pid);
	cr_assert_eq(kill(w->child, 0), 0, "child %d is not back", w->child);
}

/* Connect to @addr:@port from here; the answer must be "@who PID". */
static void expect_answer(int fam, const char *addr, int port, const char *who, pid_t pid)
{
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_port = htons((uint16_t)port) };
	struct sockaddr_in a4 = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	struct timeval tv = { .tv_sec = 5 };
	char buf[64] = "", want[64];
	int s = socket(fam, SOCK_STREAM | SOCK_CLOEXEC, 0), r;
	ssize_t n;

	cr_assert_geq(s, 0);
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (fam == AF_INET6) {
		inet_pton(AF_INET6, addr, &a6.sin6_addr);
		r = connect(s, (struct sockaddr *)&a6, sizeof(a6));
	} else {
		inet_pton(AF_INET, addr, &a4.sin_addr);
		r = connect(s, (struct sockaddr *)&a4, sizeof(a4));
	}
	cr_assert_eq(r, 0, "connect to %s port %d: %s", addr, port, strerror(errno));
	n = read(s, buf, sizeof(buf) - 1);
	close(s);
	snprintf(want, sizeof(want), "%s %d\n", who, pid);
	cr_assert(n > 0 && !strcmp(buf, want), "%s port %d answered '%s', not '%s'", addr, port,
		  buf, want);
}

static void iw_verify(struct iw *w)
{
	t_expect_verdict(w->out, w->pid, SIGUSR1, "inetsk: verify ok", "verify BAD", VERDICT_MS);
	expect_answer(AF_INET6, "::1", w->port6, "parent", w->pid);
	expect_answer(AF_INET, "127.0.0.1", w->portd, "parent", w->pid); /* dual stack */
	expect_answer(AF_INET, "127.0.0.1", w->port4, "child", w->child);
	t_expect_verdict(w->out, w->pid, SIGUSR1, "inetsk: verify ok", "verify BAD", VERDICT_MS);
}

/* files.img of @dir as ferry and crit decode it. */
static void decode_inet(const char *dir)
{
	char *out = NULL, *err = NULL;
	int rc;

	rc = t_run(&out, &err, "%s decode -i %s/files.img", t_ferry_bin(), dir);
	cr_assert_eq(rc, 0, "ferry decode: %s", err ? err : "");
	cr_assert(strstr(out, "\"isk\"") && strstr(out, "\"nlsk\""),
		  "no inet or netlink socket in files.img");
	free(out);
	free(err);
	if (!t_crit())
		return;
	rc = t_run(&out, &err, "%s decode --pretty -i %s/files.img", t_crit(), dir);
	cr_assert_eq(rc, 0, "crit decode: %s", err ? err : "");
	cr_assert(strstr(out, "\"INETSK\"") && strstr(out, "\"LISTEN\""),
		  "crit sees no listening inet socket");
	cr_assert(strstr(out, "\"INET6\"") && strstr(out, "\"UDP\"") && strstr(out, "\"::1\""),
		  "crit sees no v6 or UDP socket");
	cr_assert(strstr(out, "\"NETLINKSK\""), "crit sees no netlink socket");
	free(out);
	free(err);
}

Test(inetsk, listeners_udp_and_shared_listener_after_restore)
{
	char pa[64], pb[64];
	struct stat sa, sb;
	struct iw w;

	iw_start(&w, "");
	iw_dump(&w, w.img, NULL);
	decode_inet(w.img);
	iw_restore(&w, w.img, NULL);
	/* The v4 listener is one socket in parent and child, as it was. */
	snprintf(pa, sizeof(pa), "/proc/%d/fd/%d", w.pid, V4_FD);
	snprintf(pb, sizeof(pb), "/proc/%d/fd/%d", w.child, V4_FD);
	cr_assert_eq(stat(pa, &sa), 0, "%s", pa);
	cr_assert_eq(stat(pb, &sb), 0, "%s", pb);
	cr_assert(S_ISSOCK(sa.st_mode));
	cr_assert_eq(sa.st_ino, sb.st_ino, "%s and %s are two sockets", pa, pb);
	iw_verify(&w);
	iw_stop(&w);
}

Test(inetsk, lazy_restore)
{
	struct iw w;

	iw_start(&w, "");
	iw_dump(&w, w.img, NULL);
	iw_restore(&w, w.img, "--lazy-pages");
	iw_verify(&w);
	iw_stop(&w);
}

Test(inetsk, predump_chain)
{
	char d1[700], d2[700], *err = NULL;
	struct iw w;
	int rc;

	iw_start(&w, "");
	snprintf(d1, sizeof(d1), "%s/1", w.dir);
	snprintf(d2, sizeof(d2), "%s/2", w.dir);
	rc = t_run(NULL, &err, "%s pre-dump -t %d -D %s", t_ferry_bin(), w.pid, d1);
	cr_assert_eq(rc, 0, "pre-dump: %s", err ? err : "");
	free(err);
	t_expect_verdict(w.out, w.pid, SIGUSR1, "inetsk: verify ok", "verify BAD", VERDICT_MS);
	iw_dump(&w, d2, "--prev-images-dir ../1");
	iw_restore(&w, d2, NULL);
	iw_verify(&w);
	iw_stop(&w);
}

/* A dump that must be refused: the message names @want; the tree runs on, unharmed. */
static void expect_dump_refused(struct iw *w, const char *want, const char *want2)
{
	char *err = NULL, pidfd[64];
	int rc;

	rc = t_run(NULL, &err, "%s dump -t %d -D %s", t_ferry_bin(), w->pid, w->img);
	cr_assert_neq(rc, 0, "the dump was not refused");
	snprintf(pidfd, sizeof(pidfd), "pid %d fd ", w->pid);
	cr_assert(err && strstr(err, pidfd), "the refusal names no pid and fd: %s", err);
	cr_assert(strstr(err, want), "no '%s' in: %s", want, err);
	if (want2)
		cr_assert(strstr(err, want2), "no '%s' in: %s", want2, err);
	free(err);
	cr_assert_eq(kill(w->pid, 0), 0, "the refused dump killed the tree");
	t_expect_verdict(w->out, w->pid, SIGUSR1, "inetsk: verify ok", "verify BAD", VERDICT_MS);
}

Test(inetsk, established_connection_refused_by_name)
{
	struct iw w;

	iw_start(&w, "established");
	/* Named with both addresses: "(AF_INET6, TCP) [::1]:P1 -> [::1]:P2" */
	expect_dump_refused(&w, "established connection: needs --tcp-established",
			    "(AF_INET6, TCP) [::1]:");
	iw_stop(&w);
}

Test(inetsk, pending_connection_refused_by_name)
{
	char what[96];
	struct iw w;

	iw_start(&w, "pending");
	snprintf(what, sizeof(what), "listens on [::]:%d with 1 connection(s) not accepted yet",
		 w.portd);
	expect_dump_refused(&w, what, NULL);
	iw_stop(&w);
}

Test(inetsk, packet_socket_refused_by_name)
{
	struct iw w;

	iw_start(&w, "packet");
	expect_dump_refused(&w, "(AF_PACKET, SOCK_DGRAM, protocol 0) is not supported", NULL);
	iw_stop(&w);
}

Test(inetsk, raw_socket_refused_by_name)
{
	struct iw w;

	iw_start(&w, "raw");
	expect_dump_refused(&w, "(AF_INET, SOCK_RAW, protocol 1) is not supported", NULL);
	iw_stop(&w);
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

enum damage { D_FAMILY, D_ADDR_SIZE, D_PORT, D_UDP_LISTEN, D_NL_STATE };

/* files.img of @dir again, with its first inet (or netlink) socket damaged so. */
static void damage_files(const char *dir, enum damage how)
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

		if (!done && how == D_NL_STATE && f->nlsk) {
			f->nlsk->state = 9;
			done = 1;
		} else if (!done && how != D_NL_STATE && f->isk) {
			if (how == D_FAMILY)
				f->isk->family = 99;
			else if (how == D_ADDR_SIZE)
				f->isk->n_src_addr = f->isk->family == AF_INET6 ? 1 : 0;
			else if (how == D_PORT)
				f->isk->src_port = 70000;
			else if (how == D_UDP_LISTEN) {
				f->isk->type = SOCK_DGRAM;
				f->isk->proto = IPPROTO_UDP;
				f->isk->state = 10; /* TCP_LISTEN */
			}
			done = 1;
		}
		cr_assert_eq(img_write_entry(out, m[i]), 0);
		protobuf_c_message_free_unpacked(m[i], NULL);
	}
	cr_assert(done, "no socket to damage in files.img");
	cr_assert_eq(img_commit(out), 0);
	img_close(in);
	close(dfd);
}

Test(inetsk, corrupt_images_refused_with_file_and_offset)
{
	static const struct {
		enum damage how;
		const char *want;
	} cases[] = {
		{ D_FAMILY, "a family other than AF_INET and AF_INET6" },
		{ D_ADDR_SIZE, "addresses of the wrong size for its family" },
		{ D_PORT, "a port above 65535" },
		{ D_UDP_LISTEN, "a listening UDP socket" },
		{ D_NL_STATE, "netlink socket file id" },
	};
	char save[700];
	struct iw w;

	iw_start(&w, "");
	iw_dump(&w, w.img, NULL);
	w.pid = w.child = 0; /* nothing runs from here on */
	snprintf(save, sizeof(save), "%s/saved", w.dir);
	cr_assert_eq(t_run(NULL, NULL, "cp %s/files.img %s", w.img, save), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		cr_assert_eq(t_run(NULL, NULL, "cp %s %s/files.img", save, w.img), 0);
		damage_files(w.img, cases[i].how);
		expect_restore_refused(w.img, "files.img: offset ", cases[i].want);
	}
	/* Truncated in the middle of a socket entry. */
	cr_assert_eq(t_run(NULL, NULL, "cp %s %s/files.img && truncate -s 300 %s/files.img", save,
			   w.img, w.img),
		     0);
	expect_restore_refused(w.img, "files.img", NULL);
	iw_stop(&w);
}
