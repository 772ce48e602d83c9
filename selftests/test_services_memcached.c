// SPDX-License-Identifier: MIT
/*
 * A real service (issue 19): Debian's memcached (a listener thread, 4 worker
 * threads and helpers, each with its own epoll (libevent), eventfds and
 * notify pipes; TCP and UDP on one port; privileges dropped to nobody).
 * 1000 values of 4 KB and a counter set before the checkpoint (eager, lazy,
 * pre-dump chain) are all there after the restore, byte for byte, over TCP
 * and over UDP, and incr goes on.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "helpers.h"
#include "services_helpers.h"

TestSuite(services_memcached, .timeout = 120);

#define MEMCACHED "/usr/bin/memcached"
#define KEYS 1000
#define VLEN 4096

struct mc {
	struct t_tree t;
	int port;
};

/* The value of key k<i>: VLEN bytes that differ from key to key. */
static void value_of(int i, char *v)
{
	for (int j = 0; j < VLEN; j++)
		v[j] = (char)('a' + (i * 7 + j) % 26);
}

/* Send @req (then quit) over TCP; the whole answer (malloc'd). */
static char *mc_tcp(struct mc *m, const char *req)
{
	size_t len = strlen(req);
	char *full = malloc(len + 8), *ans;

	cr_assert_not_null(full);
	memcpy(full, req, len);
	memcpy(full + len, "quit\r\n", 7);
	ans = svc_request(m->port, full, len + 6, NULL);
	free(full);
	return ans;
}

static void mc_fill(struct mc *m)
{
	size_t cap = (size_t)KEYS * (VLEN + 64) + 64, at = 0;
	char *req = malloc(cap), *ans, v[VLEN];
	int stored = 0;

	cr_assert_not_null(req);
	for (int i = 0; i < KEYS; i++) {
		value_of(i, v);
		at += (size_t)snprintf(req + at, cap - at, "set k%d 0 0 %d\r\n", i, VLEN);
		memcpy(req + at, v, VLEN);
		at += VLEN;
		memcpy(req + at, "\r\n", 2);
		at += 2;
	}
	at += (size_t)snprintf(req + at, cap - at, "set n 0 0 1\r\n5\r\nincr n 1\r\n");
	req[at] = '\0';
	ans = mc_tcp(m, req);
	for (char *p = ans; (p = strstr(p, "STORED\r\n")); p++)
		stored++;
	cr_assert_eq(stored, KEYS + 1, "%d of %d values stored", stored, KEYS + 1);
	cr_assert(strstr(ans, "STORED\r\n6\r\n"), "incr: %.200s", ans);
	free(req);
	free(ans);
}

/* get k<i> over TCP: the value must be the one set. */
static void mc_check_key(struct mc *m, int i)
{
	char req[64], want[VLEN + 64], v[VLEN], *ans;
	int n;

	snprintf(req, sizeof(req), "get k%d\r\n", i);
	ans = mc_tcp(m, req);
	value_of(i, v);
	n = snprintf(want, sizeof(want), "VALUE k%d 0 %d\r\n", i, VLEN);
	memcpy(want + n, v, VLEN);
	memcpy(want + n + VLEN, "\r\nEND\r\n", 8);
	cr_assert(!strcmp(ans, want), "key k%d: '%.80s...'", i, ans);
	free(ans);
}

/* get k0 over UDP (memcached's 8-byte frame header first). */
static void mc_check_udp(struct mc *m)
{
	static const char req[] = "\0\x2a\0\0\0\x01\0\0get n\r\n";
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)m->port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 5 };
	char ans[256] = "";
	ssize_t n;
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(s, 0);
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cr_assert_eq(sendto(s, req, sizeof(req) - 1, 0, (struct sockaddr *)&a, sizeof(a)),
		     (ssize_t)sizeof(req) - 1);
	n = recv(s, ans, sizeof(ans) - 1, 0);
	cr_assert_gt(n, 8, "no UDP answer from memcached: %s", strerror(errno));
	ans[n] = '\0';
	cr_assert(!memcmp(ans, "\0\x2a", 2), "UDP answer to another request id");
	cr_assert(strstr(ans + 8, "VALUE n 0 1\r\n"), "UDP get n: '%s'", ans + 8);
	close(s);
}

static void mc_between(void *arg)
{
	char *ans = mc_tcp(arg, "incr n 1\r\n");

	cr_assert_str_eq(ans, "7\r\n");
	free(ans);
}

static void mc_case(enum svc_mode mode)
{
	char port[16], *ans;
	struct mc m;

	svc_program(MEMCACHED, "memcached");
	t_tree_init(&m.t);
	m.port = svc_free_port();
	snprintf(port, sizeof(port), "%d", m.port);
	{
		const char *argv[] = { MEMCACHED, "-u", "nobody", "-l",	 "127.0.0.1",
				       "-p",	  port, "-U",	  port,	 "-m",
				       "64",	  "-t", "4",	  "-vv", NULL };

		free(svc_spawn(&m.t, argv, "server listening"));
	}
	usleep(200000);
	mc_fill(&m);
	if (mode != SVC_PREDUMP)
		mc_between(&m);
	svc_checkpoint(&m.t, mode, mc_between, &m);
	mc_check_udp(&m);
	for (int i = 0; i < KEYS; i += 37)
		mc_check_key(&m, i);
	mc_check_key(&m, KEYS - 1);
	ans = mc_tcp(&m, "incr n 1\r\n");
	cr_assert_str_eq(ans, "8\r\n", "incr after the restore");
	free(ans);
	ans = mc_tcp(&m, "stats\r\n");
	cr_assert(strstr(ans, "STAT curr_items 1001\r\n"), "%s", ans);
	free(ans);
	t_tree_stop(&m.t);
}

Test(services_memcached, values_kept_eager)
{
	mc_case(SVC_EAGER);
}

Test(services_memcached, values_kept_lazy)
{
	mc_case(SVC_LAZY);
}

Test(services_memcached, values_kept_predump_chain)
{
	mc_case(SVC_PREDUMP);
}
