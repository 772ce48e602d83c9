// SPDX-License-Identifier: MIT
/*
 * Who may fetch pages: the shared secret, the refusal of a public address
 * without one, IPv6 and the address syntax.
 * (Suite page_server: its TestSuite is in test_page_server.c; helpers in
 * page_server_helpers.c.)
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "log.h"
#include "page_source_remote.h"
#include "pattern.h"

#include "page_server_helpers.h"

static void write_secret(const char *path, const char *secret)
{
	cr_assert_eq(t_write_file(path, secret, strlen(secret)), 0);
	cr_assert_eq(chmod(path, 0600), 0);
}

Test(page_server, shared_secret)
{
	const char *args[] = { "--address", "0.0.0.0", "--secret-file", NULL, NULL };
	char good[600], bad[600], logp[600], hp[64], *log;
	struct page_source *src = NULL;
	uint64_t buf[PAGE / 8];
	struct page_req q, *got;
	struct pst_dump d;
	struct pst_srv s;
	int err;

	pst_dump_memhog(&d, "1");
	snprintf(good, sizeof(good), "%s/secret", d.dir);
	snprintf(bad, sizeof(bad), "%s/wrong", d.dir);
	snprintf(logp, sizeof(logp), "%s/client.log", d.dir);
	write_secret(good, "correct horse battery staple\n");
	write_secret(bad, "correct horse battery stapler\n");
	args[3] = good;
	pst_srv_start(&s, &d, args);
	pst_host_port(hp, sizeof(hp), "127.0.0.1", s.port);

	cr_assert_eq(log_init(logp, LOG_ERROR, 0), 0);
	err = page_source_remote_open(&src, hp, NULL, 3000);
	cr_assert_eq(err, -EACCES, "no secret: %s", strerror(-err));
	cr_assert_null(src);
	err = page_source_remote_open(&src, hp, bad, 3000);
	cr_assert_eq(err, -EACCES, "wrong secret: %s", strerror(-err));
	cr_assert_null(src);
	log_fini();
	log = t_read_file(logp, NULL);
	cr_assert(log && strstr(log, "requires a shared secret"), "%s", log ? log : "");
	cr_assert(strstr(log, "refused the fault connection") && strstr(log, "wrong proof"), "%s",
		  log);
	free(log);
	pst_srv_logged(&s, "authentication failed");
	pst_srv_logged(&s, "(127.0.0.1:"); /* the peer address */
	cr_assert_eq(pst_srv_wait(&s, 0), -1, "refused clients do not end the server");

	err = page_source_remote_open(&src, hp, good, 3000);
	cr_assert_eq(err, 0, "right secret: %s", strerror(-err));
	q = (struct page_req){ .pid = d.pid, .addr = d.base, .nr = 1, .urgent = 1, .buf = buf };
	cr_assert_eq(page_source_submit(src, &q), 0);
	got = pst_wait_one(src, 2000, &err);
	cr_assert_eq(got, &q);
	cr_assert_eq(q.err, 0);
	cr_assert_eq(buf[0], pattern_word(d.base, d.seed));
	page_source_destroy(src);
	cr_assert_eq(pst_srv_wait(&s, 5000), 0);
	pst_drop_dump(&d);
}

Test(page_server, public_address_needs_a_secret)
{
	char *out = NULL, *err = NULL, *dir = t_tmpdir();
	int rc;

	/* Refused before the dump is even read: a directory that does not exist will do. */
	rc = t_run(&out, &err, "%s page-server -D %s/none --address 0.0.0.0 --port 0",
		   t_ferry_bin(), dir);
	cr_assert_neq(rc, 0);
	cr_assert(err && strstr(err, "--secret-file") && strstr(err, "0.0.0.0"), "%s",
		  err ? err : "");
	cr_assert(!out || !strstr(out, "listening"), "it must not listen");
	free(out);
	free(err);
	rc = t_run(&out, &err, "%s page-server -D %s/none --address :: --port 0", t_ferry_bin(),
		   dir);
	cr_assert_neq(rc, 0);
	cr_assert(err && strstr(err, "--secret-file"), "%s", err ? err : "");
	free(out);
	free(err);
	/* Any 127/8 address is loopback: it gets as far as the (missing) dump. */
	rc = t_run(&out, &err, "%s page-server -D %s/none --address 127.0.0.2 --port 0",
		   t_ferry_bin(), dir);
	cr_assert_neq(rc, 0);
	cr_assert(err && !strstr(err, "--secret-file") && strstr(err, "dump was refused"), "%s",
		  err ? err : "");
	free(out);
	free(err);
	t_rmrf(dir);
	free(dir);
}

Test(page_server, ipv6_and_address_syntax)
{
	const char *args[] = { "--address", "::1", NULL };
	struct page_source *src = NULL;
	uint64_t buf[PAGE / 8];
	struct page_req q, *got;
	char hp[64], logp[600];
	struct pst_dump d;
	struct pst_srv s;
	int err, fd;
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	static const char *const bad[] = { "::1:80",  "host", "host:0", "host:99999",
					   "[::1]80", ":80",  "[::1]:", "host:8x" };

	fd = socket(AF_INET6, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a6, sizeof(a6)))
		cr_skip_test("no IPv6 loopback here");
	close(fd);
	pst_dump_memhog(&d, "1");
	pst_srv_start(&s, &d, args);
	snprintf(hp, sizeof(hp), "[::1]:%d", s.port);
	err = page_source_remote_open(&src, hp, NULL, 3000);
	cr_assert_eq(err, 0, "%s: %s", hp, strerror(-err));
	q = (struct page_req){ .pid = d.pid, .addr = d.base + PAGE, .nr = 1, .buf = buf };
	cr_assert_eq(page_source_submit(src, &q), 0);
	got = pst_wait_one(src, 2000, &err);
	cr_assert_eq(got, &q);
	cr_assert_eq(buf[0], pattern_word(d.base + PAGE, d.seed));
	page_source_destroy(src);
	cr_assert_eq(pst_srv_wait(&s, 5000), 0);

	snprintf(logp, sizeof(logp), "%s/client.log", d.dir);
	cr_assert_eq(log_init(logp, LOG_ERROR, 0), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		src = (struct page_source *)1;
		cr_assert_eq(page_source_remote_open(&src, bad[i], NULL, 1000), -EINVAL, "%s",
			     bad[i]);
		cr_assert_null(src);
	}
	log_fini();
	cr_assert_eq(t_count_lines(logp, "expected HOST:PORT or [IPv6]:PORT"),
		     (int)(sizeof(bad) / sizeof(bad[0])));
	pst_drop_dump(&d);
}
