// SPDX-License-Identifier: MIT
/*
 * The network lock's life (user/core/netlock.c) on real loopback connections
 * and real nftables tables:
 * - a lock kept after its ferry exits still drops the connection's packets
 *   (the peer's data stays unacked), and unlocking it lets them through;
 * - a ferry killed during a dump: its lock found by the dead owner; the
 *   target's socket, still open, is taken out of repair mode and unlocked;
 *   a socket gone with its process leaves a kept lock for a restore.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "netlock.h"
#include "tcp_repair.h"

static void need_root(void)
{
	if (geteuid())
		cr_skip_test("nftables and TCP_REPAIR need root (CAP_NET_ADMIN)");
	if (system("nft list tables inet >/dev/null 2>&1"))
		cr_skip_test(
			"nft (Debian package nftables) missing or nf_tables not in this kernel");
}

static void msleep(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A loopback connection: *@a the accepted end, *@b the client. */
static void pair(int *lfd, int *a, int *b)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t sl = sizeof(sa);

	*lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(*lfd, 0);
	cr_assert_eq(bind(*lfd, (struct sockaddr *)&sa, sl), 0);
	cr_assert_eq(listen(*lfd, 4), 0);
	cr_assert_eq(getsockname(*lfd, (struct sockaddr *)&sa, &sl), 0);
	*b = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(connect(*b, (struct sockaddr *)&sa, sl), 0);
	*a = accept4(*lfd, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(*a, 0);
}

static void conn_of(int fd, pid_t pid, struct netlock_conn *c)
{
	socklen_t l = sizeof(c->src);
	struct stat st;

	memset(c, 0, sizeof(*c));
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&c->src, &l), 0);
	l = sizeof(c->dst);
	cr_assert_eq(getpeername(fd, (struct sockaddr *)&c->dst, &l), 0);
	cr_assert_eq(fstat(fd, &st), 0);
	c->ino = (uint32_t)st.st_ino;
	c->fd = fd;
	c->pid = pid;
}

/* Whether nft lists a ferry table whose name starts with @prefix and holds @conn. */
static int table_there(const char *prefix, const struct netlock_conn *c)
{
	char conn[NETLOCK_CONN_MAX], *buf = NULL, *p;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	int found = 0;

	cr_assert_eq(netlock_conn_name(c, conn, sizeof(conn)), 0);
	cr_assert_geq(netlock_list(f), 0);
	fclose(f);
	for (p = strtok(buf, "\n"); p; p = strtok(NULL, "\n"))
		if (!strncmp(p, prefix, strlen(prefix)) && strstr(p, conn))
			found = 1;
	free(buf);
	return found;
}

static uint32_t outq(int fd)
{
	int v = -1;

	cr_assert_eq(ioctl(fd, SIOCOUTQ, &v), 0);
	return (uint32_t)v;
}

/* B's @n bytes: acked within 5 s (@acked) or still unacked after 400 ms. */
static void expect_acked(int b, int acked)
{
	char buf[500] = { 1 };

	cr_assert_eq(send(b, buf, sizeof(buf), MSG_NOSIGNAL), (ssize_t)sizeof(buf));
	if (!acked) {
		msleep(400);
		cr_assert_eq(outq(b), sizeof(buf), "acked through the lock");
		return;
	}
	for (int i = 0; i < 100 && outq(b); i++)
		msleep(50);
	cr_assert_eq(outq(b), 0, "never acked");
}

Test(netlock, kept_lock_drops_until_unlocked, .timeout = 30)
{
	struct netlock_conn c;
	int lfd, a, b;

	t_serial("netlock");
	need_root();
	pair(&lfd, &a, &b);
	conn_of(a, 0, &c);
	cr_assert_eq(netlock_take(&c, 1), 0);
	cr_assert(table_there("ferry_dump_", &c));
	cr_assert_eq(netlock_keep(&c, 1), 0);
	cr_assert(table_there("ferry_kept_", &c));
	cr_assert_not(table_there("ferry_dump_", &c), "keep left the dump-time table");
	/* A cleanup of dead owners leaves a kept lock alone. */
	cr_assert_geq(netlock_clean_stale(), 0);
	cr_assert(table_there("ferry_kept_", &c));
	expect_acked(b, 0);
	cr_assert_eq(netlock_unlock_kept(&c, 1), 0);
	cr_assert_not(table_there("ferry_kept_", &c));
	/* What waited is retransmitted and acked now. */
	for (int i = 0; i < 100 && outq(b); i++)
		msleep(50);
	cr_assert_eq(outq(b), 0, "B's data never acked after the unlock");
	expect_acked(b, 1);
	/* Unlocking what is not locked is no error. */
	cr_assert_eq(netlock_unlock_kept(&c, 1), 0);
	cr_assert_eq(netlock_release(&c, 1), 0);
	close(a);
	close(b);
	close(lfd);
}

Test(netlock, dead_ferry_lock_released_with_the_live_socket, .timeout = 30)
{
	t_serial("netlock");
	struct netlock_conn c;
	int lfd, a, b, st, v = -1;
	socklen_t l = sizeof(v);
	pid_t kid;

	need_root();
	pair(&lfd, &a, &b);
	conn_of(a, getpid(), &c);
	/* A "ferry" that locks the connection, puts the socket in repair mode and dies. */
	kid = fork();
	cr_assert_geq(kid, 0);
	if (!kid)
		_exit(netlock_take(&c, 1) || tcp_repair_on(a) ? 1 : 0);
	cr_assert_eq(waitpid(kid, &st, 0), kid);
	cr_assert(WIFEXITED(st) && !WEXITSTATUS(st));
	cr_assert(table_there("ferry_dump_", &c));
	expect_acked(b, 0);

	cr_assert_geq(netlock_clean_stale(), 0);
	cr_assert_not(table_there("ferry_dump_", &c), "the dead ferry's lock is still there");
	cr_assert_not(table_there("ferry_kept_", &c), "a live socket's lock was kept");
	cr_assert_eq(getsockopt(a, SOL_TCP, TCP_REPAIR, &v, &l), 0);
	cr_assert_eq(v, 0, "the socket is still in repair mode");
	for (int i = 0; i < 100 && outq(b); i++)
		msleep(50);
	cr_assert_eq(outq(b), 0, "B's data never acked after the cleanup");
	close(a);
	close(b);
	close(lfd);
}

Test(netlock, dead_ferry_lock_kept_when_the_socket_is_gone, .timeout = 30)
{
	struct netlock_conn c;
	int pfd[2], st;
	pid_t kid;

	t_serial("netlock");
	need_root();
	cr_assert_eq(pipe(pfd), 0);
	/* The process holding the socket and its ferry both gone (a dump that killed the tree). */
	kid = fork();
	cr_assert_geq(kid, 0);
	if (!kid) {
		int lfd, a, b, ok;

		pair(&lfd, &a, &b);
		conn_of(a, getpid(), &c);
		ok = !netlock_take(&c, 1) && !tcp_repair_on(a);
		if (write(pfd[1], &c, sizeof(c)) != sizeof(c))
			ok = 0;
		_exit(ok ? 0 : 1);
	}
	close(pfd[1]);
	cr_assert_eq(read(pfd[0], &c, sizeof(c)), (ssize_t)sizeof(c));
	close(pfd[0]);
	cr_assert_eq(waitpid(kid, &st, 0), kid);
	cr_assert(WIFEXITED(st) && !WEXITSTATUS(st));
	cr_assert(table_there("ferry_dump_", &c));

	cr_assert_geq(netlock_clean_stale(), 0);
	cr_assert_not(table_there("ferry_dump_", &c));
	cr_assert(table_there("ferry_kept_", &c), "the lock of a gone socket was dropped");
	cr_assert_eq(netlock_unlock_kept(&c, 1), 0);
	cr_assert_not(table_there("ferry_kept_", &c));
}

/* By hand: `ferry netlock list` shows a kept lock, `ferry netlock unlock <conn>` removes it. */
Test(netlock, ferry_netlock_lists_and_unlocks_by_hand, .timeout = 30)
{
	char conn[NETLOCK_CONN_MAX], *out = NULL, *err = NULL;
	struct netlock_conn c;
	int lfd, a, b, rc;

	t_serial("netlock");
	need_root();
	pair(&lfd, &a, &b);
	conn_of(a, 0, &c);
	cr_assert_eq(netlock_conn_name(&c, conn, sizeof(conn)), 0);
	cr_assert_eq(netlock_take(&c, 1), 0);
	cr_assert_eq(netlock_keep(&c, 1), 0);
	rc = t_run(&out, &err, "%s netlock list", t_ferry_bin());
	cr_assert_eq(rc, 0, "%s", err ? err : "");
	cr_assert(strstr(out, conn), "ferry netlock list lacks %s: %s", conn, out);
	free(out);
	free(err);
	rc = t_run(&out, &err, "%s netlock unlock %s", t_ferry_bin(), conn);
	cr_assert_eq(rc, 0, "%s", err ? err : "");
	free(out);
	free(err);
	cr_assert_not(table_there("ferry_kept_", &c));
	/* A name that is no lock of ferry's: refused, nft never asked to run it. */
	rc = t_run(&out, &err, "%s netlock unlock 'x;flush ruleset'", t_ferry_bin());
	cr_assert_neq(rc, 0);
	cr_assert(err && strstr(err, "no name of a ferry lock"), "%s", err ? err : "");
	free(out);
	free(err);
	close(a);
	close(b);
	close(lfd);
}
