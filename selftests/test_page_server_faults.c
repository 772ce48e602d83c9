// SPDX-License-Identifier: MIT
/*
 * A server that fails the client: killed or stopped with requests in flight,
 * silent, or saying garbage in its hello; and the startup timeout when nobody
 * comes.
 * (Suite page_server: its TestSuite is in test_page_server.c; helpers in
 * page_server_helpers.c.)
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "log.h"
#include "page_source_remote.h"
#include "util.h"

#include "page_server_helpers.h"

Test(page_server, server_killed_with_requests_in_flight)
{
	struct page_source *src;
	struct page_req *q;
	uint8_t *buf = malloc(63 * PAGE);
	uint64_t t0, done = 0;
	struct page_req *got;
	struct pst_dump d;
	struct pst_srv s;
	int err = 0, n = 2000;

	pst_dump_memhog(&d, "1");
	pst_srv_start(&s, &d, NULL);
	src = pst_remote_open(&s, NULL, 10000);
	/* 2000 requests of 63 pages (500 MiB): far more than can be served before the kill. */
	q = calloc((size_t)n, sizeof(*q));
	for (int i = 0; i < n; i++) {
		q[i] = (struct page_req){
			.pid = d.pid, .addr = d.base, .nr = 63, .urgent = i % 2, .buf = buf
		};
		cr_assert_eq(page_source_submit(src, &q[i]), 0);
	}
	cr_assert_eq(kill(s.pid, SIGKILL), 0);
	t0 = mono_ns();
	while ((got = pst_wait_one(src, -1, &err)))
		done++;
	/* Noticed by the reset, not by the 10 s request timeout (a bound, not a speed). */
	cr_assert_lt(mono_ns() - t0, 8000000000ull, "the loss is noticed by the reset");
	cr_assert_eq(err, -ECONNRESET, "%s", strerror(-err));
	cr_assert_lt(done, (uint64_t)n);
	/* Dead for good: submit and reap keep failing the same way. */
	cr_assert_eq(page_source_submit(src, &q[0]), -ECONNRESET);
	cr_assert_eq(page_source_reap(src, &got), -ECONNRESET);
	page_source_destroy(src);
	pst_srv_wait(&s, 5000);
	free(q);
	free(buf);
	pst_drop_dump(&d);
}

/* A page server that stops answering (SIGSTOP): reap says -ETIMEDOUT, woken by the timer fd. */
Test(page_server, stopped_server_times_out)
{
	char logp[600], *log, want[128];
	struct page_source *src;
	uint64_t buf[4 * PAGE / 8], t0, dt;
	struct page_req q[3], *got;
	struct pst_dump d;
	struct pst_srv s;
	int err = 0;

	pst_dump_memhog(&d, "1");
	pst_srv_start(&s, &d, NULL);
	src = pst_remote_open(&s, NULL, 400);
	cr_assert_eq(kill(s.pid, SIGSTOP), 0);
	snprintf(logp, sizeof(logp), "%s/client.log", d.dir);
	cr_assert_eq(log_init(logp, LOG_ERROR, 0), 0);
	t0 = mono_ns();
	for (int i = 0; i < 3; i++) {
		q[i] = (struct page_req){
			.pid = d.pid, .addr = d.base + (uint64_t)i * PAGE, .nr = 4, .buf = buf
		};
		cr_assert_eq(page_source_submit(src, &q[i]), 0);
	}
	/* poll() without a timeout of our own: only the source's timer can wake us. */
	got = pst_wait_one(src, -1, &err);
	dt = mono_ns() - t0;
	log_fini();
	cr_assert_null(got);
	cr_assert_eq(err, -ETIMEDOUT);
	cr_assert_geq(dt, 350000000ull, "timed out after %llu ms",
		      (unsigned long long)(dt / 1000000));
	cr_assert_lt(dt, 3000000000ull);
	log = t_read_file(logp, NULL);
	snprintf(want, sizeof(want), "oldest outstanding request: pid %d address 0x%llx", d.pid,
		 (unsigned long long)d.base);
	cr_assert(log && strstr(log, want) && strstr(log, "no answer"), "%s", log ? log : "");
	cr_assert_eq(t_count_lines(logp, "Error"), 1, "one message: %s", log);
	free(log);
	page_source_destroy(src);
	pst_srv_kill(&s);
	pst_drop_dump(&d);
}

/* A "server" that accepts (the kernel does, from the backlog) and never says a word. */
Test(page_server, silent_server_times_out_in_hello)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	struct page_source *src = NULL;
	char hp[64];
	uint64_t t0;
	int fd, err;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(fd, 4), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	pst_host_port(hp, sizeof(hp), "127.0.0.1", ntohs(a.sin_port));
	log_init("/dev/null", LOG_ERROR, 0);
	t0 = mono_ns();
	err = page_source_remote_open(&src, hp, NULL, 300);
	cr_assert_eq(err, -ETIMEDOUT, "%s", strerror(-err));
	cr_assert_null(src);
	/* The 0.3 s hello timeout ended it, not a hang (a bound, not a speed). */
	cr_assert_lt(mono_ns() - t0, 10000000000ull);
	/* Nobody listens at all: refused at once. */
	close(fd);
	err = page_source_remote_open(&src, hp, NULL, 300);
	cr_assert_eq(err, -ECONNREFUSED, "%s", strerror(-err));
	log_fini();
}

/*
 * A "server" that answers the connection with @bytes (garbage, or a hello cut
 * short) and closes: the client gives up with an error naming the server,
 * and does not crash.
 */
static void bad_server_hello(const void *bytes, size_t n)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	struct page_source *src = NULL;
	char hp[64], logp[] = "/tmp/ferry-ps-log-XXXXXX", *log;
	int fd, lfd, err;
	pid_t pid;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(fd, 4), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	pst_host_port(hp, sizeof(hp), "127.0.0.1", ntohs(a.sin_port));
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		for (int i = 0; i < 2; i++) {
			int c = accept(fd, NULL, NULL);

			if (c < 0)
				_exit(1);
			if (write(c, bytes, n) != (ssize_t)n)
				_exit(1);
			close(c);
		}
		_exit(0);
	}
	close(fd);
	lfd = mkstemp(logp);
	cr_assert_geq(lfd, 0);
	close(lfd);
	log_init(logp, LOG_ERROR, 0);
	err = page_source_remote_open(&src, hp, NULL, 2000);
	log_fini();
	cr_assert_lt(err, 0, "a bad hello was accepted");
	cr_assert_null(src);
	log = t_read_file(logp, NULL);
	cr_assert(log && strstr(log, hp), "the error does not name the server: %s", log);
	free(log);
	unlink(logp);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

Test(page_server, garbage_from_the_server)
{
	bad_server_hello("GET / HTTP/1.1\r\n\r\n", 18);
}

Test(page_server, truncated_hello_from_the_server)
{
	/* [APPLICATION 8] 'h', length 40, then only a few bytes of it. */
	bad_server_hello("\x68\x28\x02\x01\x01\x04", 6);
}

Test(page_server, nobody_comes_within_the_timeout)
{
	const char *args[] = { "--timeout", "0.3", NULL };
	struct pst_dump d;
	struct pst_srv s;
	uint64_t t0;

	pst_dump_memhog(&d, "1");
	pst_srv_start(&s, &d, args);
	t0 = mono_ns();
	cr_assert_eq(pst_srv_wait(&s, 5000), 1);
	cr_assert_lt(mono_ns() - t0, 3000000000ull);
	pst_srv_logged(&s, "no client started a session");
	pst_drop_dump(&d);
}
