// SPDX-License-Identifier: MIT
/*
 * Clients that break the protocol, at the PDU level: garbage, truncated PDUs and
 * vanishing clients do not stop the session, a broken session connection
 * fails the server; the --wire-log capture decodes with openssl and unber.
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
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "helpers.h"
#include "page_source_local.h"
#include "pattern.h"
#include "ps_wire.h"

#include "page_server_helpers.h"

/* ---- raw clients ------------------------------------------------------------------------ */

static int raw_connect(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 5 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return fd;
}

/* raw_recv - the next PDU from @fd into @p (pointing into @buf); false at EOF. */
static bool raw_recv(int fd, uint8_t *buf, size_t cap, size_t *have, struct ps_pdu *p)
{
	struct ber_err e = { 0 };
	size_t len;

	for (;;) {
		int ret = ps_frame(buf, *have, PS_MAX_PDU, 0, &len, &e);
		ssize_t n;

		cr_assert_geq(ret, 0, "the server sent bad BER: %s", e.msg);
		if (ret == 1)
			break;
		n = recv(fd, buf + *have, cap - *have, 0);
		cr_assert_geq(n, 0, "recv: %s", strerror(errno));
		if (!n)
			return false;
		*have += (size_t)n;
	}
	cr_assert_eq(ps_decode(buf, len, 0, PS_FROM_SERVER, p, &e), 0, "%s", e.msg);
	/* The caller reads p before the next call; drop the PDU from the buffer then. */
	return true;
}

static void raw_drop(uint8_t *buf, size_t *have, const uint8_t *end_of_pdu)
{
	size_t n = (size_t)(end_of_pdu - buf);

	memmove(buf, buf + n, *have - n);
	*have -= n;
}

static size_t pdu_len(const uint8_t *buf, size_t have)
{
	struct ber_err e = { 0 };
	size_t len = 0;

	cr_assert_eq(ps_frame(buf, have, PS_MAX_PDU, 0, &len, &e), 1);
	return len;
}

/* The nonce of the last ServerHello raw_hello() took. */
static uint8_t raw_nonce[PS_NONCE_SIZE];

/* raw_hello - connect, take the ServerHello; returns the fd. */
static int raw_hello(int port, uint8_t *buf, size_t cap, size_t *have)
{
	int fd = raw_connect(port);
	struct ps_pdu p;

	*have = 0;
	cr_assert(raw_recv(fd, buf, cap, have, &p));
	cr_assert_eq(p.type, PS_SERVER_HELLO);
	cr_assert_eq(buf[0], 'h');
	cr_assert(p.server_hello.auth_required, "a server that asks for no proof");
	memcpy(raw_nonce, p.server_hello.nonce, sizeof(raw_nonce));
	raw_drop(buf, have, buf + pdu_len(buf, *have));
	return fd;
}

/* raw_client_hello - a ClientHello proving the local secret of the server on @port. */
static void raw_client_hello(struct ber_enc *e, uint32_t version, enum ps_channel ch,
			     const uint8_t *sid, int port)
{
	char where[64], path[4200];
	uint8_t *secret, proof[PS_PROOF_SIZE];
	size_t len;

	snprintf(where, sizeof(where), "127.0.0.1:%d", port);
	cr_assert_eq(ps_local_secret_path(where, path, sizeof(path)), 0);
	cr_assert_eq(ps_secret_load(path, &secret, &len), 0, "%s", path);
	cr_assert_eq(ps_proof(secret, len, raw_nonce, ch, sid, proof), 0);
	ps_secret_free(secret, len);
	ber_enc_reset(e);
	ps_enc_client_hello(e, version, ch, sid, proof);
}

/* expect_error_then_eof - the server answers with an Error of @code and closes. */
static void expect_error_then_eof(int fd, uint8_t *buf, size_t cap, size_t *have, uint32_t code)
{
	struct ps_pdu p;

	cr_assert(raw_recv(fd, buf, cap, have, &p), "EOF instead of an Error");
	cr_assert_eq(p.type, PS_ERROR, "got %s", ps_pdu_name(p.type));
	cr_assert_eq(p.error.code, code);
	raw_drop(buf, have, buf + pdu_len(buf, *have));
	cr_assert(!raw_recv(fd, buf, cap, have, &p), "nothing after the Error");
}

static void raw_send(int fd, const void *p, size_t len)
{
	cr_assert_eq(send(fd, p, len, MSG_NOSIGNAL), (ssize_t)len);
}

Test(page_server, garbage_and_truncated_clients_do_not_stop_the_session)
{
	uint8_t buf[8192], sid[PS_SESSION_ID_SIZE] = { 1, 2, 3 };
	const char *args[] = { "-v3", NULL };
	const char *http = "GET / HTTP/1.0\r\n\r\n";
	struct page_source *src;
	uint64_t page[PAGE / 8];
	struct page_req q, *got;
	struct ber_enc e;
	struct pst_dump d;
	struct pst_srv s;
	size_t have;
	int fd, err;

	pst_dump_memhog(&d, "1");
	pst_srv_start(&s, &d, args);
	ber_enc_init(&e);

	/* An HTTP client. */
	fd = raw_hello(s.port, buf, sizeof(buf), &have);
	raw_send(fd, http, strlen(http));
	expect_error_then_eof(fd, buf, sizeof(buf), &have, PS_ERR_BAD_MESSAGE);
	close(fd);
	/* Half a ClientHello, then gone. */
	fd = raw_hello(s.port, buf, sizeof(buf), &have);
	ps_enc_client_hello(&e, 1, PS_CHAN_FAULT, sid, NULL);
	raw_send(fd, e.buf, 5);
	close(fd);
	/* A well-formed PDU that is not a hello. */
	fd = raw_hello(s.port, buf, sizeof(buf), &have);
	ber_enc_reset(&e);
	ps_enc_page_request(&e, 1, d.pid, d.base, 1);
	raw_send(fd, e.buf, e.len);
	expect_error_then_eof(fd, buf, sizeof(buf), &have, PS_ERR_BAD_MESSAGE);
	close(fd);
	/* A version this server does not speak. */
	fd = raw_hello(s.port, buf, sizeof(buf), &have);
	raw_client_hello(&e, 2, PS_CHAN_FAULT, sid, s.port);
	raw_send(fd, e.buf, e.len);
	expect_error_then_eof(fd, buf, sizeof(buf), &have, PS_ERR_UNSUPPORTED_VERSION);
	close(fd);
	/* A PDU longer than any a client sends. */
	fd = raw_hello(s.port, buf, sizeof(buf), &have);
	raw_send(fd, "\x63\x83\x10\x00\x00", 5);
	expect_error_then_eof(fd, buf, sizeof(buf), &have, PS_ERR_BAD_MESSAGE);
	close(fd);
	ber_enc_free(&e);

	/* The server is still there, and serves a real session to its end. */
	cr_assert_eq(pst_srv_wait(&s, 100), -1, "the server died: status %d", s.status);
	src = pst_remote_open(&s, NULL, 5000);
	q = (struct page_req){ .pid = d.pid, .addr = d.base, .nr = 1, .urgent = 1, .buf = page };
	cr_assert_eq(page_source_submit(src, &q), 0);
	got = pst_wait_one(src, 2000, &err);
	cr_assert_eq(got, &q);
	cr_assert_eq(page[0], pattern_word(d.base, d.seed));
	page_source_destroy(src);
	cr_assert_eq(pst_srv_wait(&s, 5000), 0);
	pst_srv_logged(&s, "bad BER at offset 0: expected a PDU");
	pst_srv_logged(&s, "closed in the middle of a PDU (5 octets of it at offset 0)");
	pst_srv_logged(&s, "PageRequest before the ClientHello");
	pst_srv_logged(&s, "ClientHello version 2");
	pst_srv_logged(&s, "longer than the limit");
	pst_srv_logged(&s, "(127.0.0.1:");
	pst_drop_dump(&d);
}

/* A session connection that breaks the protocol, or vanishes, fails the server. */
Test(page_server, broken_session_fails_the_server)
{
	uint8_t buf[8192], buf2[8192], sid[PS_SESSION_ID_SIZE] = { 9 };
	struct ps_pdu p;
	struct ber_enc e;
	struct pst_dump d;
	struct pst_srv s;
	size_t have, have2;
	int fd, fd2;

	pst_dump_memhog(&d, "1");
	ber_enc_init(&e);
	for (int variant = 0; variant < 2; variant++) {
		pst_srv_start(&s, &d, NULL);
		fd = raw_hello(s.port, buf, sizeof(buf), &have);
		raw_client_hello(&e, 1, PS_CHAN_FAULT, sid, s.port);
		raw_send(fd, e.buf, e.len);
		cr_assert(raw_recv(fd, buf, sizeof(buf), &have, &p));
		cr_assert_eq(p.type, PS_READY);
		cr_assert_eq(p.ready.connection, 0);
		raw_drop(buf, &have, buf + pdu_len(buf, have));
		/* The session's second connection, then the first one misbehaves. */
		fd2 = raw_hello(s.port, buf2, sizeof(buf2), &have2);
		raw_client_hello(&e, 1, PS_CHAN_BACKGROUND, sid, s.port);
		raw_send(fd2, e.buf, e.len);
		if (variant == 0) {
			raw_send(fd, "\x70\x03\x02\x01\xff", 5); /* id -1: not a RequestId */
			expect_error_then_eof(fd, buf, sizeof(buf), &have, PS_ERR_BAD_MESSAGE);
		}
		close(fd);
		close(fd2);
		cr_assert_eq(pst_srv_wait(&s, 5000), 1, "the server exits non-zero");
		if (variant == 0) {
			pst_srv_logged(&s, "bad BER at offset");
			pst_srv_logged(
				&s,
				"expected PageRequest.id in 0..18446744073709551615, got a negative INTEGER");
		} else {
			pst_srv_logged(&s, "(127.0.0.1:");
			pst_srv_logged(&s, "fault channel) closed without Bye");
		}
	}
	ber_enc_free(&e);
	pst_drop_dump(&d);
}

/* --wire-log: the captured session is BER that openssl and asn1c's unber read. */
Test(page_server, wire_log_decodes)
{
	char prefix[600], path[1400], *out = NULL, *err = NULL;
	const char *args[] = { "--wire-log", NULL, NULL };
	struct page_source *src;
	uint8_t *buf = malloc(4 * PAGE);
	struct page_req q[3], *got;
	struct pst_dump d;
	struct pst_srv s;
	int e = 0;
	bool openssl, unber;

	pst_dump_memhog(&d, "1");
	snprintf(prefix, sizeof(prefix), "%s/wire", d.dir);
	args[1] = prefix;
	pst_srv_start(&s, &d, args);
	src = pst_remote_open(&s, NULL, 5000);
	for (int i = 0; i < 3; i++) {
		q[i] = (struct page_req){ .pid = d.pid,
					  .addr = d.base + (uint64_t)i * 70 * PAGE,
					  .nr = i == 2 ? 1 : 2,
					  .urgent = i == 0,
					  .buf = buf };
		if (i == 2)
			q[i].addr = d.base + 63 * PAGE; /* a PageError too */
		cr_assert_eq(page_source_submit(src, &q[i]), 0);
	}
	for (int i = 0; i < 3; i++) {
		got = pst_wait_one(src, 2000, &e);
		cr_assert_not_null(got);
	}
	page_source_destroy(src);
	cr_assert_eq(pst_srv_wait(&s, 5000), 0);

	openssl = t_run(NULL, NULL, "command -v openssl") == 0;
	unber = t_run(NULL, NULL, "command -v unber") == 0;
	for (int c = 0; c < 2; c++) {
		for (int dir = 0; dir < 2; dir++) {
			size_t len;
			char *data;

			snprintf(path, sizeof(path), "%s.%d.%s", prefix, c, dir ? "out" : "in");
			data = t_read_file(path, &len);
			cr_assert_not_null(data, "%s was not written", path);
			cr_assert_gt(len, 0);
			/* Client to server starts with 'c' (ClientHello), back with 'h'
			 * (ServerHello). */
			cr_assert_eq(data[0], dir ? 'h' : 'c', "%s starts with 0x%02x", path,
				     (unsigned char)data[0]);
			free(data);
			if (openssl) {
				cr_assert_eq(t_run(&out, &err,
						   "openssl asn1parse -inform DER -in %s", path),
					     0, "openssl asn1parse %s: %s", path, err ? err : "");
				cr_assert(strstr(out, dir ? "appl [ 8 ]" : "appl [ 3 ]"), "%s",
					  out);
				if (dir == 0)
					cr_assert(strstr(out, "appl [ 2 ]"), "a Bye: %s", out);
				free(out);
				free(err);
			}
			if (unber) {
				cr_assert_eq(t_run(&out, &err, "unber %s", path), 0, "unber %s: %s",
					     path, err ? err : "");
				cr_assert(strstr(out, "[APPLICATION"), "%s", out);
				free(out);
				free(err);
			}
		}
	}
	/* The replies: PageReply 'r' and PageError 'n' in the captured output. */
	if (openssl) {
		snprintf(path, sizeof(path), "%s.0.out %s.1.out", prefix, prefix);
		cr_assert_eq(t_run(&out, NULL, "cat %s | openssl asn1parse -inform DER", path), 0);
		cr_assert(strstr(out, "appl [ 18 ]") && strstr(out, "appl [ 14 ]"), "%s", out);
		free(out);
	}
	free(buf);
	pst_drop_dump(&d);
	if (!openssl || !unber)
		cr_skip_test("%s is not installed: that part was skipped",
			     !openssl ? "openssl" : "unber (Debian package asn1c)");
}
