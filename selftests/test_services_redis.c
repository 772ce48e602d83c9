// SPDX-License-Identifier: MIT
/*
 * A real service (issue 19): Debian's redis-server (threads: its bio and
 * jemalloc helpers; an epoll loop; a self-pipe; one listening socket), with
 * no persistence, so its data set lives only in its memory. Keys set before
 * the checkpoint (strings, a counter, a list, 4 MB of values) are all there
 * after the restore, byte for byte, and INCR goes on from where it was:
 * eager, lazy and from a pre-dump chain (a key set between pre-dump and dump
 * is there too). Clients connect after the restore, but one: a client held
 * across `dump --tcp-established` keeps its connection.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>

#include "helpers.h"
#include "services_helpers.h"

TestSuite(services_redis, .timeout = 120);

#define REDIS "/usr/bin/redis-server"
#define CLI "/usr/bin/redis-cli"
#define BIG_KEYS 200
#define BIG_LEN 20000

struct redis {
	struct t_tree t;
	int port;
};

/* redis-cli -p PORT @cmd; its output (malloc'd), which must come with exit 0. */
static char *cli(struct redis *r, const char *cmd)
{
	char *out = NULL, *err = NULL;
	int rc = t_run(&out, &err, "%s --no-raw -p %d %s", CLI, r->port, cmd);

	cr_assert_eq(rc, 0, "redis-cli %s: %s", cmd, err ? err : "");
	free(err);
	cr_assert_not_null(out);
	return out;
}

static void cli_expect(struct redis *r, const char *cmd, const char *want)
{
	char *out = cli(r, cmd);

	cr_assert(strstr(out, want), "redis-cli %s: '%s', not '%s'", cmd, out, want);
	free(out);
}

/* Every big value is still BIG_LEN 'x' and its own number: a Lua check in the server. */
#define BIG_CHECK                                                                   \
	"EVAL \"local ok = 0 for i = 1, %d do if redis.call('GET', 'big' .. i) == " \
	"string.rep('x', %d) .. i then ok = ok + 1 end end return ok\" 0"

static void redis_start(struct redis *r)
{
	char port[16], cmd[256];

	svc_program(REDIS, "redis-server");
	svc_program(CLI, "redis-tools");
	t_tree_init(&r->t);
	r->port = svc_free_port();
	snprintf(port, sizeof(port), "%d", r->port);
	{
		const char *argv[] = { REDIS,	 "--port", port,	   "--bind", "127.0.0.1",
				       "--save", "",	   "--appendonly", "no",     "--daemonize",
				       "no",	 "--dir",  r->t.dir,	   NULL };

		free(svc_spawn(&r->t, argv, "Ready to accept connections"));
	}
	cli_expect(r, "SET greeting hello-ferry", "OK");
	cli_expect(r, "INCR counter", "(integer) 1");
	cli_expect(r, "INCR counter", "(integer) 2");
	cli_expect(r, "RPUSH list one two three", "(integer) 3");
	snprintf(cmd, sizeof(cmd),
		 "EVAL \"for i = 1, %d do redis.call('SET', 'big' .. i, string.rep('x', %d) .. i) "
		 "end return %d\" 0",
		 BIG_KEYS, BIG_LEN, BIG_KEYS);
	cli_expect(r, cmd, "(integer) 200");
}

/*
 * BGSAVE right after the restore: redis forks a child that writes every key
 * to DIR/dump.rdb (with lazy pages, before the parent has touched most of
 * its memory). A second redis-server loads that file: the child saw the
 * whole data set.
 */
static void redis_bgsave_check(struct redis *r)
{
	char *out, cmd[256], want[64], rdb_out[700], port[16];
	struct redis second = { .port = svc_free_port() };
	int status;

	cli_expect(r, "BGSAVE", "Background saving started");
	for (int ms = 0;; ms += 20) {
		out = cli(r, "INFO persistence");
		if (strstr(out, "rdb_bgsave_in_progress:0")) {
			cr_assert(strstr(out, "rdb_last_bgsave_status:ok"), "BGSAVE failed: %s",
				  out);
			free(out);
			break;
		}
		free(out);
		cr_assert_lt(ms, 15000, "BGSAVE did not end in 15 s");
		usleep(20000);
	}
	snprintf(rdb_out, sizeof(rdb_out), "%s/second.out", r->t.dir);
	snprintf(port, sizeof(port), "%d", second.port);
	{
		const char *argv[] = { REDIS,	    "--port",	    port,	"--bind",
				       "127.0.0.1", "--save",	    "",		"--appendonly",
				       "no",	    "--daemonize",  "no",	"--dir",
				       r->t.dir,    "--dbfilename", "dump.rdb", NULL };

		second.t.pid = t_spawn(rdb_out, argv);
	}
	cr_assert_gt(second.t.pid, 0);
	out = t_wait_line(rdb_out, "Ready to accept connections", 20000);
	cr_assert_not_null(out, "the second redis-server did not start on the BGSAVE file");
	free(out);
	cli_expect(&second, "GET greeting", "\"hello-ferry\"");
	snprintf(cmd, sizeof(cmd), BIG_CHECK, BIG_KEYS, BIG_LEN);
	snprintf(want, sizeof(want), "(integer) %d", BIG_KEYS);
	cli_expect(&second, cmd, want);
	kill(second.t.pid, SIGKILL);
	cr_assert_eq(waitpid(second.t.pid, &status, 0), second.t.pid);
}

static void redis_verify(struct redis *r, int counter)
{
	char cmd[256], want[64];

	cli_expect(r, "GET greeting", "\"hello-ferry\"");
	cli_expect(r, "LRANGE list 0 -1", "1) \"one\"\n2) \"two\"\n3) \"three\"");
	snprintf(cmd, sizeof(cmd), BIG_CHECK, BIG_KEYS, BIG_LEN);
	snprintf(want, sizeof(want), "(integer) %d", BIG_KEYS);
	cli_expect(r, cmd, want);
	snprintf(want, sizeof(want), "(integer) %d", counter + 1);
	cli_expect(r, "INCR counter", want);
	snprintf(want, sizeof(want), "(integer) %d", counter + 2);
	cli_expect(r, "INCR counter", want);
}

Test(services_redis, keys_kept_eager)
{
	static const char *const kinds[] = { "INETSK", "PIPE", "EVENTPOLL", NULL };
	struct redis r;
	char img[800];

	redis_start(&r);
	svc_checkpoint(&r.t, SVC_EAGER, NULL, NULL);
	redis_bgsave_check(&r);
	svc_img_dir(&r.t, img, sizeof(img));
	svc_files_decode(img, kinds);
	redis_verify(&r, 2);
	cli_expect(&r, "DBSIZE", "(integer) 203");
	t_tree_stop(&r.t);
}

Test(services_redis, keys_kept_lazy)
{
	struct redis r;

	redis_start(&r);
	svc_checkpoint(&r.t, SVC_LAZY, NULL, NULL);
	redis_bgsave_check(&r);
	redis_verify(&r, 2);
	t_tree_stop(&r.t);
}

/* Between the pre-dump and the dump: one more INCR, a new key, a big value rewritten. */
static void redis_between(void *arg)
{
	struct redis *r = arg;

	cli_expect(r, "INCR counter", "(integer) 3");
	cli_expect(r, "SET after-predump yes", "OK");
	cli_expect(r, "APPEND big7 -more", "(integer) 20006");
}

Test(services_redis, keys_kept_predump_chain)
{
	struct redis r;

	redis_start(&r);
	svc_checkpoint(&r.t, SVC_PREDUMP, redis_between, &r);
	cli_expect(&r, "GET after-predump", "\"yes\"");
	cli_expect(&r, "STRLEN big7", "(integer) 20006");
	cli_expect(&r, "GETRANGE big7 -6 -1", "\"7-more\"");
	/* The Lua check wants it as it was. */
	cli_expect(&r, "EVAL \"return redis.call('SET', 'big7', string.rep('x', 20000) .. 7)\" 0",
		   "OK");
	redis_verify(&r, 3);
	cli_expect(&r, "DBSIZE", "(integer) 204");
	t_tree_stop(&r.t);
}

/*
 * A client connected across the dump is an established TCP connection:
 * without --tcp-established the dump is refused, naming redis's pid and fd
 * and the connection, and redis serves on with its data and that client.
 */
Test(services_redis, held_client_refused_by_name)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	char *err = NULL, what[96], pong[16] = "";
	struct redis r;
	int s, rc;

	redis_start(&r);
	a.sin_port = htons((uint16_t)r.port);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(s, 0);
	cr_assert_eq(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(write(s, "PING\r\n", 6), 6);
	cr_assert_eq(read(s, pong, sizeof(pong) - 1), 7);
	cr_assert_str_eq(pong, "+PONG\r\n");
	rc = t_run(NULL, &err, "%s dump -t %d -D %s", t_ferry_bin(), r.t.pid, r.t.img);
	cr_assert_neq(rc, 0, "a dump with a client connected was not refused");
	snprintf(what, sizeof(what), "pid %d fd ", r.t.pid);
	cr_assert(err && strstr(err, what), "the refusal names no pid and fd: %s", err);
	snprintf(what, sizeof(what), "127.0.0.1:%d -> 127.0.0.1:", r.port);
	cr_assert(strstr(err, what), "the refusal does not name the connection: %s", err);
	cr_assert(strstr(err, "needs --tcp-established"), "%s", err);
	free(err);
	cr_assert_eq(t_proc_state(r.t.pid) == 'S' || t_proc_state(r.t.pid) == 'R', 1,
		     "redis is not running after the refused dump");
	cr_assert_eq(write(s, "PING\r\n", 6), 6);
	memset(pong, 0, sizeof(pong));
	cr_assert_eq(read(s, pong, sizeof(pong) - 1), 7);
	cr_assert_str_eq(pong, "+PONG\r\n");
	close(s);
	redis_verify(&r, 2);
	t_tree_stop(&r.t);
}

/* One request on @s, its whole answer expected to be @want. */
static void held_ask(int s, const char *req, const char *want)
{
	char got[64] = "";
	size_t n = 0, len = strlen(want);

	cr_assert_eq(write(s, req, strlen(req)), (ssize_t)strlen(req), "held client: write %s",
		     req);
	while (n < len) {
		ssize_t r = read(s, got + n, sizeof(got) - 1 - n);

		cr_assert_gt(r, 0, "held client: no answer to %s (got '%s')", req, got);
		n += (size_t)r;
	}
	cr_assert_str_eq(got, want, "held client: %s", req);
}

/*
 * The same client held across `dump --tcp-established` and `restore
 * --tcp-established`: the connection redis had accepted comes back with it,
 * and the client, which never reconnects, gets its answers on it (its key,
 * the counter going on) while new clients see the same data.
 */
Test(services_redis, held_client_kept_with_tcp_established)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct redis r;
	int s;

	t_serial("netlock");
	if (access("/usr/sbin/nft", X_OK))
		cr_skip_test("nft (Debian package nftables) is not installed: no network lock");
	redis_start(&r);
	a.sin_port = htons((uint16_t)r.port);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(s, 0);
	cr_assert_eq(connect(s, (struct sockaddr *)&a, sizeof(a)), 0);
	held_ask(s, "SET held before-dump\r\n", "+OK\r\n");
	t_tree_dump(&r.t, r.t.img, "--tcp-established");
	t_tree_restore(&r.t, r.t.img, "--tcp-established");
	held_ask(s, "GET held\r\n", "$11\r\nbefore-dump\r\n");
	held_ask(s, "INCR counter\r\n", ":3\r\n");
	held_ask(s, "SET held after-restore\r\n", "+OK\r\n");
	cli_expect(&r, "GET held", "\"after-restore\"");
	redis_verify(&r, 3);
	held_ask(s, "PING\r\n", "+PONG\r\n");
	close(s);
	t_tree_stop(&r.t);
}
