// SPDX-License-Identifier: MIT
/*
 * ferry dump/restore --tcp-established, end to end (docs/tcp.md), with the
 * tcpconn workload (selftests/workloads/tcpconn.c) streaming position-checked
 * bytes both ways without pause:
 * - a server and its client both in the tree: the dump keeps both ends'
 *   connections locked, the restore makes them again and unlocks them, and
 *   the streams go on with no byte lost, repeated or reordered (eager, lazy);
 * - a client outside the tree (a child of the test) keeps sending and
 *   checking across the dump and the restore;
 * - --leave-running: the tree goes on, nothing stays locked;
 * - without --tcp-established: dump refused, named, the tree goes on; a
 *   restore without it refused too, the locks kept for the next try.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "helpers.h"
#include "stream_pattern.h"
#include "tree_helpers.h"

#define SEED_SERVER 0x5eu
#define SEED_CLIENT 0xc1u
#define VERIFY_MS 20000

static void need_nft(void)
{
	if (system("nft list tables inet >/dev/null 2>&1"))
		cr_skip_test(
			"nft (Debian package nftables) missing or nf_tables not in this kernel");
}

/* The lines of `ferry netlock list` naming port @port (a connection of the test's). */
static char *locks_of(int port)
{
	char *out = NULL, *err = NULL, *res, *save = NULL, pat[16], *line;
	size_t len = 0;
	FILE *f;

	cr_assert_eq(t_run(&out, &err, "%s netlock list", t_ferry_bin()), 0, "%s", err ? err : "");
	free(err);
	f = open_memstream(&res, &len);
	snprintf(pat, sizeof(pat), "_%d_", port);
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		size_t n = strlen(line), pl = strlen(pat) - 1;

		/* The remote port ends the name: "_<port>" with no "_" after. */
		if (strstr(line, pat) || (n > pl && !strncmp(line + n - pl, pat, pl)))
			fprintf(f, "%s\n", line);
	}
	fclose(f);
	free(out);
	return res;
}

static void unlock_port(int port)
{
	char *l = locks_of(port), *save = NULL, *line;

	for (line = strtok_r(l, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *out = NULL, *err = NULL;

		t_run(&out, &err, "%s netlock unlock %s", t_ferry_bin(), line);
		free(out);
		free(err);
	}
	free(l);
}

static int ready_port(const char *line)
{
	const char *p = strstr(line, "port ");

	cr_assert_not_null(p, "no port in '%s'", line);
	return atoi(p + 5);
}

/* pid and child of "tcpconn: pid P child C ready port N". */
static void ready_pids(struct t_tree *t, const char *line)
{
	int pid, kid;

	cr_assert_eq(sscanf(line, "tcpconn: pid %d child %d", &pid, &kid), 2, "%s", line);
	cr_assert_eq(pid, t->pid);
	t->child = kid;
}

static void count_locks(int port, int want, const char *when)
{
	char *l = locks_of(port);
	int n = 0;

	for (char *p = l; (p = strchr(p, '\n')); p++)
		n++;
	cr_assert_eq(n, want, "%s: %d lock(s) on port %d, want %d:\n%s", when, n, port, want, l);
	free(l);
}

/*
 * @want tcp-stream images in @dir, each decoded by crit (if installed) and
 * by ferry; their queues hold bytes (the workload reads slower than it writes).
 */
static void check_images(const char *dir, int want)
{
	char *out = NULL, *err = NULL;
	int rc, n = 0, queued = 0;

	rc = t_run(&out, &err, "ls %s | grep '^tcp-stream-.*\\.img$'", dir);
	cr_assert_eq(rc, 0, "no tcp-stream image in %s", dir);
	for (char *save = NULL, *f = strtok_r(out, "\n", &save); f;
	     f = strtok_r(NULL, "\n", &save)) {
		char *json = NULL, *e2 = NULL;

		n++;
		rc = t_run(&json, &e2, "%s decode -i %s/%s", t_ferry_bin(), dir, f);
		cr_assert_eq(rc, 0, "ferry decode %s: %s", f, e2 ? e2 : "");
		if (!strstr(json, "\"inq_len\": 0,") || !strstr(json, "\"outq_len\": 0,"))
			queued++;
		free(json);
		free(e2);
		if (t_crit()) {
			rc = t_run(&json, &e2, "%s decode -i %s/%s", t_crit(), dir, f);
			cr_assert_eq(rc, 0, "crit decode %s: %s", f, e2 ? e2 : "");
			free(json);
			free(e2);
		}
	}
	free(out);
	free(err);
	cr_assert_eq(n, want, "%d tcp-stream images, want %d", n, want);
	cr_assert_gt(queued, 0, "every queue was empty at the dump");
}

/* The pair in the tree, dumped and restored with @restore_extra. */
static void pair_roundtrip(const char *restore_extra)
{
	const char *argv[] = { t_workload("tcpconn"), "pair", NULL };
	struct t_tree t;
	char *line;
	int port;

	t_tree_init(&t);
	need_nft();
	line = t_tree_spawn(&t, argv);
	ready_pids(&t, line);
	port = ready_port(line);
	free(line);
	t_tree_dump(&t, t.img, "--tcp-established");
	/* Both ends of the connection are the tree's: two sockets, two locks. */
	count_locks(port, 2, "after the dump");
	check_images(t.img, 2);
	t_tree_restore(&t, t.img, restore_extra);
	count_locks(port, 0, "after the restore");
	t_expect_verdict(t.out, t.pid, SIGUSR1, "verify ok", "verify BAD", VERIFY_MS);
	unlock_port(port);
	t_tree_stop(&t);
}

Test(tcp_established, pair_in_the_tree_streams_on, .timeout = 90)
{
	t_serial("netlock");
	pair_roundtrip("--tcp-established");
}

Test(tcp_established, pair_in_the_tree_streams_on_after_a_lazy_restore, .timeout = 90)
{
	t_serial("netlock");
	pair_roundtrip("--tcp-established --lazy-pages");
}

Test(tcp_established, leave_running_unlocks_and_goes_on, .timeout = 90)
{
	const char *argv[] = { t_workload("tcpconn"), "pair", NULL };
	struct t_tree t;
	char *line, *err = NULL;
	int port, rc;

	t_serial("netlock");
	t_tree_init(&t);
	need_nft();
	line = t_tree_spawn(&t, argv);
	ready_pids(&t, line);
	port = ready_port(line);
	free(line);
	rc = t_run(NULL, &err, "%s dump -t %d -D %s --tcp-established --leave-running",
		   t_ferry_bin(), t.pid, t.img);
	cr_assert_eq(rc, 0, "dump --leave-running: %s", err ? err : "");
	free(err);
	count_locks(port, 0, "after the dump");
	t_expect_verdict(t.out, t.pid, SIGUSR1, "verify ok", "verify BAD", VERIFY_MS);
	t_tree_stop(&t);
}

Test(tcp_established, refused_without_the_option, .timeout = 90)
{
	const char *argv[] = { t_workload("tcpconn"), "pair", NULL };
	struct t_tree t;
	char *line, *err = NULL;
	int port, rc;

	t_serial("netlock");
	t_tree_init(&t);
	need_nft();
	line = t_tree_spawn(&t, argv);
	ready_pids(&t, line);
	port = ready_port(line);
	free(line);
	rc = t_run(NULL, &err, "%s dump -t %d -D %s", t_ferry_bin(), t.pid, t.img);
	cr_assert_neq(rc, 0, "a dump of established connections without --tcp-established");
	cr_assert(err && strstr(err, "--tcp-established"), "not named: %s", err ? err : "");
	free(err);
	count_locks(port, 0, "after the refused dump");
	t_expect_verdict(t.out, t.pid, SIGUSR1, "verify ok", "verify BAD", VERIFY_MS);

	/* Dumped with it, restored without it: refused, the locks kept; then with it. */
	t_tree_dump(&t, t.img, "--tcp-established");
	rc = t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), t.img);
	cr_assert_neq(rc, 0, "restored without --tcp-established");
	cr_assert(err && strstr(err, "--tcp-established"), "not named: %s", err ? err : "");
	free(err);
	count_locks(port, 2, "after the refused restore");
	t_tree_restore(&t, t.img, "--tcp-established");
	count_locks(port, 0, "after the restore");
	t_expect_verdict(t.out, t.pid, SIGUSR1, "verify ok", "verify BAD", VERIFY_MS);
	unlock_port(port);
	t_tree_stop(&t);
}

/*
 * The client outside the tree: a child of the test that streams with the
 * server until a byte arrives on @ctl, then writes "sent got error" on @res.
 */
static void outside_client(const char *addr, int port, int ctl, int res)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	static uint8_t buf[65536];
	uint64_t sent = 0, got = 0;
	char why[200] = "";
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	inet_pton(AF_INET, addr, &sa.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		snprintf(why, sizeof(why), "connect: %s", strerror(errno));
		goto out;
	}
	for (;;) {
		struct pollfd p[2] = { { fd, POLLIN | POLLOUT, 0 }, { ctl, POLLIN, 0 } };

		if (poll(p, 2, 10) < 0 && errno != EINTR) {
			snprintf(why, sizeof(why), "poll: %s", strerror(errno));
			break;
		}
		if (p[1].revents)
			break;
		if (p[0].revents & POLLOUT) {
			ssize_t w;

			stream_fill(buf, 4096, SEED_CLIENT, sent);
			w = send(fd, buf, 4096, MSG_DONTWAIT | MSG_NOSIGNAL);
			/* The route away while the address moves: soft errors, TCP goes on. */
			if (w < 0 && errno != EAGAIN && errno != EHOSTUNREACH &&
			    errno != ENETUNREACH) {
				snprintf(why, sizeof(why), "send: %s", strerror(errno));
				break;
			}
			if (w > 0)
				sent += (uint64_t)w;
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);
			long bad;

			if (r < 0 &&
			    (errno == EAGAIN || errno == EHOSTUNREACH || errno == ENETUNREACH))
				continue;
			if (r <= 0) {
				snprintf(why, sizeof(why), "the connection ended: %s",
					 r ? strerror(errno) : "EOF");
				break;
			}
			bad = stream_check(buf, (size_t)r, SEED_SERVER, got);
			if (bad >= 0) {
				snprintf(why, sizeof(why), "byte %llu is wrong",
					 (unsigned long long)(got + (uint64_t)bad));
				break;
			}
			got += (uint64_t)r;
		}
		usleep(2000);
	}
out:
	dprintf(res, "%llu %llu %s\n", (unsigned long long)sent, (unsigned long long)got,
		why[0] ? why : "ok");
	_exit(0);
}

Test(tcp_established, client_outside_the_tree_streams_on, .timeout = 90)
{
	t_serial("netlock");
	const char *argv[] = { t_workload("tcpconn"), "server", "127.0.0.1", "0", NULL };
	struct t_tree t;
	char *line, res[300] = "", verdict[200] = "";
	unsigned long long sent = 0, got = 0;
	int port, ctl[2], rp[2], st;
	pid_t client;
	ssize_t n;

	t_tree_init(&t);
	need_nft();
	/* Its listener is up before it says "listening": the client connects, then it is ready. */
	cr_assert_eq(pipe(ctl), 0);
	cr_assert_eq(pipe(rp), 0);
	{
		pid_t pid = t_spawn(t.out, argv);

		cr_assert_gt(pid, 0);
		t.pid = pid;
		t.name = "tcpconn";
		line = t_wait_line(t.out, "listening port", 10000);
		cr_assert_not_null(line, "tcpconn server never listened");
		port = atoi(strstr(line, "port ") + 5);
		free(line);
	}
	client = fork();
	cr_assert_geq(client, 0);
	if (!client) {
		close(ctl[1]);
		close(rp[0]);
		outside_client("127.0.0.1", port, ctl[0], rp[1]);
	}
	close(ctl[0]);
	close(rp[1]);
	line = t_wait_line(t.out, "ready", 10000);
	cr_assert_not_null(line, "tcpconn server never got its client");
	free(line);

	t_tree_dump(&t, t.img, "--tcp-established");
	count_locks(port, 1, "after the dump");
	/* The client goes on sending into the lock: unacked, no RST. */
	usleep(300000);
	t_tree_restore(&t, t.img, "--tcp-established");
	count_locks(port, 0, "after the restore");
	t_expect_verdict(t.out, t.pid, SIGUSR1, "verify ok", "verify BAD", VERIFY_MS);

	cr_assert_eq(write(ctl[1], "x", 1), 1);
	n = read(rp[0], res, sizeof(res) - 1);
	cr_assert_gt(n, 0);
	cr_assert_eq(waitpid(client, &st, 0), client);
	cr_assert_eq(sscanf(res, "%llu %llu %199[^\n]", &sent, &got, verdict), 3, "%s", res);
	cr_assert_str_eq(verdict, "ok", "the client outside the tree: %s", verdict);
	cr_log_info("client outside the tree: sent %llu, got %llu bytes, all in order", sent, got);
	cr_assert_gt(got, 256 * 1024, "the client got only %llu bytes", got);
	close(ctl[1]);
	close(rp[0]);
	unlock_port(port);
	t_tree_stop(&t);
}

/*
 * ferry SIGKILLed once the first connection is read (it is out of repair
 * mode again; both are locked): the tree resumes (ptrace ends with ferry)
 * and the connection stalls, its packets dropped; the next `ferry netlock
 * clean` finds the dead dump's locks, sees the sockets still open in the
 * tree and unlocks them, and the streams go on, every byte checked.
 */
Test(tcp_established, ferry_killed_during_the_dump_is_cleaned_up, .timeout = 90)
{
	const char *argv[] = { t_workload("tcpconn"), "pair", NULL };
	struct t_tree t;
	char *line, *out = NULL, *err = NULL;
	int port, rc;

	t_serial("netlock");
	t_tree_init(&t);
	need_nft();
	line = t_tree_spawn(&t, argv);
	ready_pids(&t, line);
	port = ready_port(line);
	free(line);
	rc = t_run(NULL, &err, "FERRY_FAULT=tcp-dumped %s dump -t %d -D %s --tcp-established",
		   t_ferry_bin(), t.pid, t.img);
	cr_assert_neq(rc, 0, "the dump was not killed at tcp-dumped");
	free(err);
	cr_assert_eq(kill(t.pid, 0), 0, "the tree died with ferry");
	/* Both ends' connections were locked together, before the first was read. */
	count_locks(port, 2, "after the killed dump");
	rc = t_run(&out, &err, "%s netlock clean", t_ferry_bin());
	cr_assert_eq(rc, 0, "ferry netlock clean: %s", err ? err : "");
	cr_assert(strstr(out, "2 lock(s)"), "%s", out);
	free(out);
	free(err);
	count_locks(port, 0, "after ferry netlock clean");
	t_expect_verdict(t.out, t.pid, SIGUSR1, "verify ok", "verify BAD", VERIFY_MS);
	t_tree_stop(&t);
}

/*
 * The floating address: the server runs in network namespace A (veth to
 * this one), its client here. A's ferry dumps it (the lock lives in A), A
 * goes, namespace B locks the connection (ferry netlock lock) and takes A's
 * address, B's ferry restores the server there: the client, which kept
 * sending, gets every byte in order.
 */
Test(tcp_established, restored_in_a_namespace_that_took_the_address, .timeout = 120)
{
	struct t_netns a = { 0 }, b = { 0 };
	struct t_tree t;
	char ns[64], *line, *err = NULL, res[300] = "", verdict[200] = "", pidfile[700], *pid;
	char *conn = NULL;
	unsigned long long sent = 0, got = 0;
	int port, ctl[2], rp[2], st, rc;
	pid_t client;

	t_serial("netlock");
	t_tree_init(&t);
	need_nft();
	if (access("/usr/bin/nsenter", X_OK))
		cr_skip_test("nsenter (util-linux) missing");
	rc = t_netns_up(&a);
	if (rc == 1)
		cr_skip_test("cannot make network namespaces here");
	cr_assert_eq(rc, 0, "network namespace A");
	snprintf(ns, sizeof(ns), "--net=/run/netns/%s", a.name);
	{
		const char *argv[] = {
			"/usr/bin/nsenter", ns, t_workload("tcpconn"), "server", a.there, "0", NULL
		};

		t.pid = t_spawn(t.out, argv);
		t.name = "tcpconn";
		cr_assert_gt(t.pid, 0);
	}
	line = t_wait_line(t.out, "listening port", 10000);
	cr_assert_not_null(line, "tcpconn server never listened in namespace A");
	port = atoi(strstr(line, "port ") + 5);
	free(line);
	cr_assert_eq(pipe(ctl), 0);
	cr_assert_eq(pipe(rp), 0);
	client = fork();
	cr_assert_geq(client, 0);
	if (!client) {
		close(ctl[1]);
		close(rp[0]);
		outside_client(a.there, port, ctl[0], rp[1]);
	}
	close(ctl[0]);
	close(rp[1]);
	line = t_wait_line(t.out, "ready", 10000);
	cr_assert_not_null(line, "tcpconn server never got its client");
	free(line);

	/* Dumped by a ferry in A: the lock is made where the packets go. */
	rc = t_run(NULL, &err, "nsenter %s %s dump -t %d -D %s --tcp-established", ns,
		   t_ferry_bin(), t.pid, t.img);
	cr_assert_eq(rc, 0, "dump in namespace A: %s", err ? err : "");
	free(err);
	rc = t_run(&conn, &err, "nsenter %s %s netlock list | sed -n 's/^ferry_kept_//p'", ns,
		   t_ferry_bin());
	cr_assert(!rc && conn && conn[0], "no kept lock in A: %s", err ? err : "");
	conn[strcspn(conn, "\n")] = 0;
	free(err);
	cr_assert_eq(waitpid(t.pid, &st, 0), t.pid);
	/* A goes with its address; B takes it over. */
	t_netns_down(&a);
	cr_assert_eq(t_netns_up(&b), 0, "network namespace B");
	cr_assert_str_eq(b.there, a.there, "B got another address than A had");
	/*
	 * B locks the connection before it has the address (ferry netlock lock):
	 * the client's segments must not meet B's kernel with no socket for
	 * them, which would answer with an RST. The restore unlocks it.
	 */
	snprintf(ns, sizeof(ns), "--net=/run/netns/%s", b.name);
	rc = t_run(NULL, &err,
		   "ip netns exec %s ip addr del %s/24 dev %sp && nsenter %s %s netlock lock %s && "
		   "ip netns exec %s ip addr add %s/24 dev %sp",
		   b.name, b.there, b.veth, ns, t_ferry_bin(), conn, b.name, b.there, b.veth);
	cr_assert_eq(rc, 0, "locking %s in B: %s", conn, err ? err : "");
	free(err);
	free(conn);
	snprintf(pidfile, sizeof(pidfile), "%s/restored.pid", t.dir);
	rc = t_run(NULL, &err, "nsenter %s %s restore -D %s -d --pidfile %s --tcp-established", ns,
		   t_ferry_bin(), t.img, pidfile);
	cr_assert_eq(rc, 0, "restore in namespace B: %s", err ? err : "");
	free(err);
	pid = t_read_file(pidfile, NULL);
	cr_assert(pid && atoi(pid) == t.pid, "restored as %s, not %d", pid ? pid : "?", t.pid);
	free(pid);
	t_expect_verdict(t.out, t.pid, SIGUSR1, "verify ok", "verify BAD", VERIFY_MS);

	cr_assert_eq(write(ctl[1], "x", 1), 1);
	cr_assert_gt(read(rp[0], res, sizeof(res) - 1), 0);
	cr_assert_eq(waitpid(client, &st, 0), client);
	cr_assert_eq(sscanf(res, "%llu %llu %199[^\n]", &sent, &got, verdict), 3, "%s", res);
	cr_assert_str_eq(verdict, "ok", "the client: %s", verdict);
	cr_log_info("client across the namespace move: sent %llu, got %llu bytes, all in order",
		    sent, got);
	close(ctl[1]);
	close(rp[0]);
	t_tree_stop(&t);
	t_netns_down(&b);
}
