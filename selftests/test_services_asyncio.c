// SPDX-License-Identifier: MIT
/*
 * A real service (issue 19): a python3 asyncio TCP echo server
 * (asyncio.start_server: a listening socket in an epoll selector, the
 * loop's self-pipe socketpair, a ticking task). Each answer carries the
 * number of clients the server has had and its tick count. Clients connect
 * only after the checkpoint (eager, lazy, pre-dump chain): they get their
 * lines echoed, the client number goes on from the last one before the
 * dump, and the ticks go on from where they were.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "services_helpers.h"

TestSuite(services_asyncio, .timeout = 120);

#define PYTHON "/usr/bin/python3"
/* Ticks before the dump: a restart from zero cannot pass them in 0.3 s. */
#define TICKS_BEFORE 150

static const char script[] =
	"import asyncio\n"
	"clients = 0\n"
	"ticks = 0\n"
	"async def tick():\n"
	"    global ticks\n"
	"    while True:\n"
	"        ticks += 1\n"
	"        await asyncio.sleep(0.005)\n"
	"async def handle(reader, writer):\n"
	"    global clients\n"
	"    clients += 1\n"
	"    me = clients\n"
	"    while True:\n"
	"        line = await reader.readline()\n"
	"        if not line:\n"
	"            break\n"
	"        writer.write(b'client %d ticks %d echo ' % (me, ticks) + line)\n"
	"        await writer.drain()\n"
	"    writer.close()\n"
	"async def main():\n"
	"    srv = await asyncio.start_server(handle, '127.0.0.1', 0)\n"
	"    asyncio.get_running_loop().create_task(tick())\n"
	"    port = srv.sockets[0].getsockname()[1]\n"
	"    print('asyncio: ready port %d' % port, flush=True)\n"
	"    await srv.serve_forever()\n"
	"asyncio.run(main())\n";

struct echo {
	struct t_tree t;
	int port, clients;
};

/* One client, two lines echoed (both on one connection); returns the ticks of the last. */
static int echo_client(struct echo *e)
{
	static const char req[] = "hello ferry\nsecond line\n";
	char *ans = svc_request(e->port, req, sizeof(req) - 1, "echo second line\n");
	int client, ticks, client2, ticks2;
	char *second = strstr(ans, "\nclient ");

	cr_assert(sscanf(ans, "client %d ticks %d echo hello ferry\n", &client, &ticks) == 2 &&
			  second &&
			  sscanf(second, "\nclient %d ticks %d echo second line\n", &client2,
				 &ticks2) == 2,
		  "the echo server answered: '%s'", ans);
	cr_assert(strstr(ans, "echo hello ferry\n") && strstr(ans, "echo second line\n"),
		  "lines not echoed: '%s'", ans);
	cr_assert_eq(client, e->clients + 1, "client %d counted as %d", e->clients + 1, client);
	cr_assert_eq(client2, client);
	e->clients = client;
	free(ans);
	return ticks2;
}

static void echo_between(void *arg)
{
	echo_client(arg);
}

static void echo_case(enum svc_mode mode)
{
	char py[700], *line;
	struct echo e = { .clients = 0 };
	int before, after;

	svc_program(PYTHON, "python3");
	t_tree_init(&e.t);
	snprintf(py, sizeof(py), "%s/echo.py", e.t.dir);
	cr_assert_eq(t_write_file(py, script, sizeof(script) - 1), 0);
	{
		const char *argv[] = { PYTHON, "-u", py, NULL };

		line = svc_spawn(&e.t, argv, "asyncio: ready port");
	}
	cr_assert_eq(sscanf(strstr(line, "port"), "port %d", &e.port), 1, "%s", line);
	free(line);
	for (int ms = 0; (before = echo_client(&e)) < TICKS_BEFORE; ms += 50) {
		cr_assert_lt(ms, 10000, "asyncio ticked only %d times in 10 s", before);
		usleep(50000);
	}
	svc_checkpoint(&e.t, mode, echo_between, &e);
	if (mode == SVC_EAGER) {
		static const char *const kinds[] = { "INETSK", "UNIXSK", "EVENTPOLL", NULL };
		char img[800];

		svc_img_dir(&e.t, img, sizeof(img));
		svc_files_decode(img, kinds);
	}
	usleep(300000);
	after = echo_client(&e);
	cr_log_info("asyncio: %d clients, ticks %d before the dump, %d after the restore",
		    e.clients, before, after);
	cr_assert_gt(after, before, "the ticks went from %d to %d", before, after);
	usleep(100000);
	cr_assert_gt(echo_client(&e), after, "the ticks stopped at %d", after);
	t_tree_stop(&e.t);
}

Test(services_asyncio, echoes_and_counts_eager)
{
	echo_case(SVC_EAGER);
}

Test(services_asyncio, echoes_and_counts_lazy)
{
	echo_case(SVC_LAZY);
}

Test(services_asyncio, echoes_and_counts_predump_chain)
{
	echo_case(SVC_PREDUMP);
}
