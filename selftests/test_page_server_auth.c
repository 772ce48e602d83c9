// SPDX-License-Identifier: MIT
/*
 * Who may read the pages a page server serves (issue 16, items 5 and 6).
 *
 * Without --secret-file, a server on loopback makes its own secret, mode
 * 0600 in /run/ferry/page-server: another local user (uid 65534 here)
 * cannot read it and so cannot prove it, neither through ferry's client nor
 * with a raw ClientHello, and a request sent before the hello gets no page.
 * A flood of connections that never prove the secret, from another local
 * user, does not keep the real lazy restore out: the server limits each
 * peer (a uid, over loopback) and evicts that peer's oldest.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
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
#include "page_source.h"
#include "page_source_remote.h"
#include "pattern.h"
#include "ps_wire.h"
#include "util.h"

#define NOBODY 65534
#define PAGE 4096ull

struct pa {
	char *dir;
	char out[512], img[512], log[512], ps_out[512], ps_log[512], hp[64];
	pid_t pid, server;
	unsigned long long base, seed;
};

/* memhog dumped (it dies with the dump), then a page server on its images. */
static void pa_start(struct pa *a, const char *mib)
{
	const char *argv[] = { "memhog", mib, "5", NULL };
	unsigned long long size;
	char *line, *err = NULL;
	int pid, status;

	if (geteuid())
		cr_skip_test("ferry dump and setuid need root");
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	a->dir = t_tmpdir();
	cr_assert_not_null(a->dir);
	snprintf(a->out, sizeof(a->out), "%s/out", a->dir);
	snprintf(a->img, sizeof(a->img), "%s/img", a->dir);
	snprintf(a->log, sizeof(a->log), "%s/lazy.log", a->dir);
	snprintf(a->ps_out, sizeof(a->ps_out), "%s/ps.out", a->dir);
	snprintf(a->ps_log, sizeof(a->ps_log), "%s/ps.log", a->dir);
	a->pid = t_spawn(a->out, argv);
	cr_assert_gt(a->pid, 0);
	line = t_wait_line(a->out, "ready", 20000);
	cr_assert_not_null(line, "memhog never said ready");
	cr_assert_eq(sscanf(strstr(line, "memhog:"), "memhog: pid %d base %llx size %llu seed %llu",
			    &pid, &a->base, &size, &a->seed),
		     4, "memhog said '%s'", line);
	free(line);
	cr_assert_eq(t_run(NULL, &err, "%s dump -t %d -D %s", t_ferry_bin(), a->pid, a->img), 0,
		     "dump failed: %s", err ? err : "");
	free(err);
	cr_assert_eq(waitpid(a->pid, &status, 0), a->pid);
	a->server = t_page_server(NULL, a->img, "127.0.0.1", NULL, a->ps_out, a->ps_log, a->hp,
				  sizeof(a->hp));
	cr_assert_gt(a->server, 0, "page server did not start: %s", t_read_file(a->ps_log, NULL));
}

static void pa_stop(struct pa *a)
{
	if (a->server > 0) {
		kill(a->server, SIGKILL);
		waitpid(a->server, NULL, 0);
	}
	if (a->pid > 0 && !kill(a->pid, 0))
		t_kill_wait(a->pid);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	t_rmrf(a->dir);
	free(a->dir);
}

static void become_nobody(void)
{
	if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
		_exit(90);
}

static int tcp_connect(const char *hp)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	sa.sin_port = htons((uint16_t)atoi(strrchr(hp, ':') + 1));
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* Read one PDU (up to 2 s); its type, or -1. */
static int read_pdu(int fd, struct ps_pdu *p, uint8_t *buf, size_t cap)
{
	struct ber_err e = { 0 };
	size_t have = 0, len = 0;

	for (;;) {
		struct pollfd pf = { .fd = fd, .events = POLLIN };
		int r = ps_frame(buf, have, PS_MAX_PDU, 0, &len, &e);
		ssize_t n;

		if (r < 0)
			return -1;
		if (r == 1)
			break;
		if (poll(&pf, 1, 2000) != 1)
			return -1;
		n = recv(fd, buf + have, cap - have, 0);
		if (n <= 0)
			return -1;
		have += (size_t)n;
	}
	if (ps_decode(buf, len, 0, PS_FROM_SERVER, p, &e))
		return -1;
	return (int)p->type;
}

/*
 * As uid 65534: ferry's client cannot open the session; a raw ClientHello
 * without a proof gets authRequired; a PageRequest before the hello gets
 * badMessage and no page. Exit status: 0 when all held.
 */
static int nobody_tries(const char *hp, uint64_t pid, uint64_t addr)
{
	static uint8_t buf[1 << 16];
	uint8_t sid[PS_SESSION_ID_SIZE] = { 7 };
	struct page_source *src = NULL;
	struct ber_enc e;
	struct ps_pdu p;
	int fd, err;

	become_nobody();
	err = page_source_remote_open(&src, hp, NULL, 3000);
	if (err != -EACCES)
		return 1;
	ber_enc_init(&e);
	fd = tcp_connect(hp);
	if (fd < 0 || read_pdu(fd, &p, buf, sizeof(buf)) != PS_SERVER_HELLO ||
	    !p.server_hello.auth_required)
		return 2;
	ps_enc_client_hello(&e, PS_WIRE_VERSION, PS_CHAN_FAULT, sid, NULL);
	if (write_full(fd, e.buf, e.len) || read_pdu(fd, &p, buf, sizeof(buf)) != PS_ERROR ||
	    p.error.code != PS_ERR_AUTH_REQUIRED)
		return 3;
	close(fd);
	fd = tcp_connect(hp);
	ber_enc_reset(&e);
	ps_enc_page_request(&e, 1, (pid_t)pid, addr, 1);
	if (fd < 0 || read_pdu(fd, &p, buf, sizeof(buf)) != PS_SERVER_HELLO ||
	    write_full(fd, e.buf, e.len) || read_pdu(fd, &p, buf, sizeof(buf)) != PS_ERROR ||
	    p.error.code != PS_ERR_BAD_MESSAGE)
		return 4;
	close(fd);
	ber_enc_free(&e);
	return 0;
}

TestSuite(page_server_auth, .timeout = 120);

Test(page_server_auth, another_local_user_cannot_fetch_pages)
{
	char path[4200], *log;
	uint64_t page[PAGE / 8];
	struct page_source *src = NULL;
	struct page_req q, *done = NULL;
	struct stat st;
	struct pa a;
	pid_t kid;
	int status, n = 0;

	pa_start(&a, "4");
	cr_assert_eq(ps_local_secret_path(a.hp, path, sizeof(path)), 0);
	cr_assert_eq(stat(path, &st), 0, "no secret file %s", path);
	cr_expect_eq(st.st_mode & 07777, 0600, "%s has mode %o", path, st.st_mode & 07777);
	cr_assert_eq(stat(PS_LOCAL_SECRET_DIR, &st), 0);
	cr_expect_eq(st.st_mode & 077, 0, "%s has mode %o", PS_LOCAL_SECRET_DIR,
		     st.st_mode & 07777);

	kid = fork();
	cr_assert_geq(kid, 0);
	if (!kid)
		_exit(nobody_tries(a.hp, (uint64_t)a.pid, a.base));
	cr_assert_eq(waitpid(kid, &status, 0), kid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "uid %d got further than it may (step %d):\n%s", NOBODY,
		  WIFEXITED(status) ? WEXITSTATUS(status) : -1, t_read_file(a.ps_log, NULL));

	/* The server is still there for its user, who reads the right page. */
	cr_assert_eq(page_source_remote_open(&src, a.hp, NULL, 5000), 0);
	q = (struct page_req){ .pid = a.pid, .addr = a.base, .nr = 1, .urgent = 1, .buf = page };
	cr_assert_eq(page_source_submit(src, &q), 0);
	for (int i = 0; i < 200 && !n; i++) {
		struct pollfd pf[4];
		int fds[4], k = page_source_poll_fds(src, fds, 4);

		for (int j = 0; j < k; j++)
			pf[j] = (struct pollfd){ .fd = fds[j], .events = POLLIN };
		poll(pf, (nfds_t)k, 10);
		n = page_source_reap(src, &done);
		cr_assert_geq(n, 0);
	}
	cr_assert_eq(n, 1);
	cr_assert_eq(q.err, 0);
	cr_assert_eq(page[0], pattern_word(a.base, a.seed));
	page_source_destroy(src);
	for (int i = 0; i < 500 && waitpid(a.server, &status, WNOHANG) != a.server; i++)
		usleep(10000);
	cr_expect(WIFEXITED(status) && WEXITSTATUS(status) == 0, "server status %#x", status);
	a.server = 0;
	cr_expect_neq(access(path, F_OK), 0, "%s outlived its server", path);
	log = t_read_file(a.ps_log, NULL);
	cr_expect(log && strstr(log, "uid 65534") && strstr(log, "ClientHello has no proof"),
		  "the server did not name the other user's attempts:\n%s", log ? log : "");
	free(log);
	a.pid = -1;
	pa_stop(&a);
}

/* Keep up to @n connections open as uid 65534, replacing each the server closes. */
static void flood(const char *hp, int n)
{
	int *fd = calloc((size_t)n, sizeof(int));

	become_nobody();
	/* After setuid, which clears it: the flood ends with the test, whatever happens. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1 || !fd)
		_exit(1);
	for (int i = 0; i < n; i++)
		fd[i] = -1;
	for (uint64_t end = mono_ns() + 120000000000ull; mono_ns() < end;) {
		for (int i = 0; i < n; i++) {
			char b[512];

			if (fd[i] >= 0) {
				struct pollfd pf = { .fd = fd[i], .events = POLLIN };

				if (poll(&pf, 1, 0) == 1 && recv(fd[i], b, sizeof(b), 0) <= 0) {
					close(fd[i]);
					fd[i] = -1;
				}
			}
			if (fd[i] < 0)
				fd[i] = tcp_connect(hp);
		}
		usleep(1000);
	}
}

Test(page_server_auth, unproved_flood_does_not_stop_the_lazy_restore)
{
	char *err = NULL, *log, *line;
	struct pa a;
	pid_t fl;
	int rc, evicted = 0;

	pa_start(&a, "32");
	fl = fork();
	cr_assert_geq(fl, 0);
	if (!fl) {
		flood(a.hp, 200);
		_exit(0);
	}
	/* The flood is on: it has filled its share and is being evicted. */
	for (int i = 0; i < 500 && !evicted; i++) {
		usleep(10000);
		evicted = t_count_lines(a.ps_log, "evicted");
	}
	cr_assert_gt(evicted, 0, "the flood was never limited:\n%s", t_read_file(a.ps_log, NULL));
	rc = t_run(NULL, &err,
		   "%s restore -D %s -d --lazy-pages --page-server %s -v3 --log-file %s",
		   t_ferry_bin(), a.img, a.hp, a.log);
	cr_assert_eq(rc, 0, "lazy restore during the flood failed: %s\n%s", err ? err : "",
		     t_read_file(a.log, NULL));
	free(err);
	t_expect_verdict(a.out, a.pid, SIGUSR1, "memhog: verify ok", "BAD", 60000);
	line = t_wait_line(a.log, "lazy-pages: done", 60000);
	cr_assert_not_null(line, "the daemon did not finish:\n%s", t_read_file(a.log, NULL));
	cr_log_info("during the flood: %s", line);
	free(line);
	kill(fl, SIGKILL);
	waitpid(fl, NULL, 0);
	log = t_read_file(a.ps_log, NULL);
	cr_log_info("%d unproved connections evicted", t_count_lines(a.ps_log, "evicted"));
	cr_expect(log && strstr(log, "uid 65534 holds"), "%s", log ? log : "");
	free(log);
	pa_stop(&a);
}

/*
 * A server of uid 65534 on the port of a root server that was killed (whose
 * secret file stays): it says Ready to anything, so a client proving the
 * stale secret would take its pages. Returns when killed.
 */
static void fake_server(int port, int ready_fd)
{
	struct sockaddr_in sa = { .sin_family = AF_INET,
				  .sin_port = htons((uint16_t)port),
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	static uint8_t buf[1 << 16];
	uint8_t nonce[PS_NONCE_SIZE] = { 1 };
	int l, one = 1;

	become_nobody();
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof(sa)) || listen(l, 4))
		_exit(2);
	if (write(ready_fd, "r", 1) != 1)
		_exit(3);
	for (unsigned int idx = 0;; idx++) {
		struct ber_err e = { 0 };
		struct ber_enc enc;
		size_t have = 0, len = 0;
		int c = accept(l, NULL, NULL);

		if (c < 0)
			_exit(4);
		ber_enc_init(&enc);
		ps_enc_server_hello(&enc, PS_WIRE_VERSION, nonce, true);
		if (write_full(c, enc.buf, enc.len))
			continue;
		/* Whatever ClientHello comes: Ready. */
		while (ps_frame(buf, have, PS_MAX_PDU, 0, &len, &e) == 0) {
			struct pollfd pf = { .fd = c, .events = POLLIN };
			ssize_t n;

			if (poll(&pf, 1, 2000) != 1)
				break;
			n = recv(c, buf + have, sizeof(buf) - have, 0);
			if (n <= 0)
				break;
			have += (size_t)n;
		}
		ber_enc_reset(&enc);
		ps_enc_ready(&enc, idx);
		if (write_full(c, enc.buf, enc.len))
			continue;
		ber_enc_free(&enc);
	}
}

Test(page_server_auth, a_server_of_another_user_gets_no_client)
{
	struct page_source *src = NULL;
	char path[4200];
	int p[2], port, err;
	struct pa a;
	pid_t fk;

	pa_start(&a, "4");
	cr_assert_eq(ps_local_secret_path(a.hp, path, sizeof(path)), 0);
	port = atoi(strrchr(a.hp, ':') + 1);
	/* Killed: its secret file stays behind. */
	kill(a.server, SIGKILL);
	waitpid(a.server, NULL, 0);
	a.server = 0;
	cr_assert_eq(access(path, R_OK), 0, "%s", path);
	cr_assert_eq(pipe(p), 0);
	fk = fork();
	cr_assert_geq(fk, 0);
	if (!fk) {
		close(p[0]);
		fake_server(port, p[1]);
		_exit(0);
	}
	close(p[1]);
	{
		char b;

		cr_assert_eq(read(p[0], &b, 1), 1, "the fake server did not start");
	}
	close(p[0]);
	err = page_source_remote_open(&src, a.hp, NULL, 3000);
	cr_assert_eq(err, -EACCES, "a client took the pages of uid %d's server (%s)", NOBODY,
		     strerror(-err));
	kill(fk, SIGKILL);
	waitpid(fk, NULL, 0);
	unlink(path);
	a.pid = -1;
	pa_stop(&a);
}

/* A server killed with SIGKILL leaves its secret file; the next server to start removes it. */
Test(page_server_auth, secret_of_a_killed_server_is_swept)
{
	char path[4200], out[600], log[600], hp[64];
	struct pa a;
	pid_t s2;

	pa_start(&a, "1");
	cr_assert_eq(ps_local_secret_path(a.hp, path, sizeof(path)), 0);
	kill(a.server, SIGKILL);
	waitpid(a.server, NULL, 0);
	a.server = 0;
	cr_assert_eq(access(path, F_OK), 0, "%s", path);
	snprintf(out, sizeof(out), "%s/ps2.out", a.dir);
	snprintf(log, sizeof(log), "%s/ps2.log", a.dir);
	s2 = t_page_server(NULL, a.img, "127.0.0.1", NULL, out, log, hp, sizeof(hp));
	cr_assert_gt(s2, 0);
	cr_expect_neq(access(path, F_OK), 0, "%s outlived its server, killed", path);
	a.server = s2;
	a.pid = -1;
	pa_stop(&a);
}
