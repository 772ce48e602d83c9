// SPDX-License-Identifier: MIT
/*
 * A real service (issue 19): redis-server with its append-only file
 * (`--appendonly yes --appendfsync always`: an open file it appends every
 * write to) and a unix listening socket besides the TCP one. Keys set
 * through the unix socket before the checkpoint (eager, lazy) are there
 * after the restore; writes made after the restore are appended to the same
 * AOF: a second redis-server started on the directory once the first is
 * killed replays the file and has the keys of both sides of the restore.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "services_helpers.h"

TestSuite(services_redis_aof, .timeout = 120);

#define REDIS "/usr/bin/redis-server"
#define CLI "/usr/bin/redis-cli"

/* redis-cli @where @cmd must print @want (exit 0). */
static void cli_expect(const char *where, const char *cmd, const char *want)
{
	char *out = NULL, *err = NULL;
	int rc = t_run(&out, &err, "%s --no-raw %s %s", CLI, where, cmd);

	cr_assert_eq(rc, 0, "redis-cli %s %s: %s", where, cmd, err ? err : "");
	cr_assert(out && strstr(out, want), "redis-cli %s %s: '%s', not '%s'", where, cmd,
		  out ? out : "", want);
	free(out);
	free(err);
}

static void aof_case(enum svc_mode mode)
{
	char port[16], sock[700], unix_at[720], tcp2[32], port2[16], out2[700], *line;
	struct t_tree t;
	pid_t second;

	svc_program(REDIS, "redis-server");
	svc_program(CLI, "redis-tools");
	t_tree_init(&t);
	snprintf(port, sizeof(port), "%d", svc_free_port());
	snprintf(sock, sizeof(sock), "%s/redis.sock", t.dir);
	snprintf(unix_at, sizeof(unix_at), "-s %s", sock);
	{
		const char *argv[] = {
			REDIS,	  "--port",	 port, "--bind",       "127.0.0.1", "--unixsocket",
			sock,	  "--save",	 "",   "--appendonly", "yes",	    "--appendfsync",
			"always", "--daemonize", "no", "--dir",	       t.dir,	    NULL
		};

		free(svc_spawn(&t, argv, "Ready to accept connections"));
	}
	cli_expect(unix_at, "SET before-restore 1", "OK");
	cli_expect(unix_at, "RPUSH list a b", "(integer) 2");
	cli_expect(unix_at, "INCR counter", "(integer) 1");
	svc_checkpoint(&t, mode, NULL, NULL);
	cli_expect(unix_at, "GET before-restore", "\"1\"");
	cli_expect(unix_at, "INCR counter", "(integer) 2");
	cli_expect(unix_at, "SET after-restore 2", "OK");
	/* The restored redis dies; a new one replays the AOF it appended to. */
	kill(t.pid, SIGKILL);
	cr_assert_eq(waitpid(t.pid, NULL, 0), t.pid);
	t.pid = 0;
	unlink(sock);
	snprintf(port2, sizeof(port2), "%d", svc_free_port());
	snprintf(tcp2, sizeof(tcp2), "-p %s", port2);
	snprintf(out2, sizeof(out2), "%s/second.out", t.dir);
	{
		const char *argv[] = { REDIS,	    "--port", port2, "--bind",
				       "127.0.0.1", "--save", "",    "--appendonly",
				       "yes",	    "--dir",  t.dir, NULL };

		second = t_spawn(out2, argv);
	}
	cr_assert_gt(second, 0);
	line = t_wait_line(out2, "Ready to accept connections", 20000);
	cr_assert_not_null(line, "the second redis-server did not start: %s",
			   t_read_file(out2, NULL));
	free(line);
	cr_assert_eq(t_count_lines(out2, "DB loaded from append only file"), 1,
		     "the second redis did not load the AOF: %s", t_read_file(out2, NULL));
	cli_expect(tcp2, "GET before-restore", "\"1\"");
	cli_expect(tcp2, "GET after-restore", "\"2\"");
	cli_expect(tcp2, "GET counter", "\"2\"");
	cli_expect(tcp2, "LRANGE list 0 -1", "1) \"a\"\n2) \"b\"");
	kill(second, SIGKILL);
	cr_assert_eq(waitpid(second, NULL, 0), second);
	t_tree_stop(&t);
}

Test(services_redis_aof, aof_appended_after_restore_eager)
{
	aof_case(SVC_EAGER);
}

Test(services_redis_aof, aof_appended_after_restore_lazy)
{
	aof_case(SVC_LAZY);
}
