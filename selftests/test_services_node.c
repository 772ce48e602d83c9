// SPDX-License-Identifier: MIT
/*
 * A real service (issue 19): a node http server (Debian's nodejs: V8 and
 * libuv threads, epoll, eventfds, pipes, a listening socket). A setInterval
 * timer counts; http.createServer answers with that count and with the
 * number of requests served. After a checkpoint (eager, lazy, pre-dump
 * chain) the count goes on from where it was (not from zero) and the served
 * number from the last request before the dump.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "services_helpers.h"

TestSuite(services_node, .timeout = 120);

#define NODE "/usr/bin/node"
/* The count the timer reaches before the dump: a restart from zero cannot pass it in 0.3 s. */
#define COUNT_BEFORE 300

static const char script[] = "const http = require('http');\n"
			     "let count = 0, served = 0;\n"
			     "setInterval(() => { count++; }, 2);\n"
			     "const srv = http.createServer((req, res) => {\n"
			     "  served++;\n"
			     "  res.end('count ' + count + ' served ' + served + '\\n');\n"
			     "});\n"
			     "srv.listen(0, '127.0.0.1', () => {\n"
			     "  console.log('node: ready port ' + srv.address().port);\n"
			     "});\n";

struct node {
	struct t_tree t;
	int port, served;
};

/* GET /: the count (returned) and the served number, which must be one more than before. */
static int node_get(struct node *n)
{
	char *ans = svc_http_get(n->port, "/"), *body = strstr(ans, "\r\n\r\n");
	int count, served;

	cr_assert(strstr(ans, " 200 OK"), "node answered: %s", ans);
	cr_assert(body && sscanf(body, "\r\n\r\ncount %d served %d", &count, &served) == 2,
		  "node answered: %s", ans);
	cr_assert_eq(served, n->served + 1, "request %d served as number %d: %s", n->served + 1,
		     served, ans);
	n->served = served;
	free(ans);
	return count;
}

static void node_between(void *arg)
{
	node_get(arg);
}

static void node_case(enum svc_mode mode)
{
	char js[700], *line;
	struct node n = { .served = 0 };
	int before, after;

	svc_program(NODE, "nodejs");
	t_tree_init(&n.t);
	snprintf(js, sizeof(js), "%s/server.js", n.t.dir);
	cr_assert_eq(t_write_file(js, script, sizeof(script) - 1), 0);
	{
		const char *argv[] = { NODE, js, NULL };

		line = svc_spawn(&n.t, argv, "node: ready port");
	}
	cr_assert_eq(sscanf(strstr(line, "port"), "port %d", &n.port), 1, "%s", line);
	free(line);
	for (int ms = 0; (before = node_get(&n)) < COUNT_BEFORE; ms += 50) {
		cr_assert_lt(ms, 10000, "node counted only to %d in 10 s", before);
		usleep(50000);
	}
	svc_checkpoint(&n.t, mode, node_between, &n);
	if (mode == SVC_EAGER) {
		static const char *const kinds[] = { "INETSK", "PIPE", "EVENTPOLL", "EVENTFD",
						     NULL };
		char img[800];

		svc_img_dir(&n.t, img, sizeof(img));
		svc_files_decode(img, kinds);
	}
	usleep(300000);
	after = node_get(&n);
	cr_log_info("node: count %d before the dump, %d after the restore", before, after);
	cr_assert_gt(after, before, "the count went from %d to %d", before, after);
	usleep(100000);
	cr_assert_gt(node_get(&n), after, "the count stopped at %d", after);
	t_tree_stop(&n.t);
}

Test(services_node, counts_and_serves_eager)
{
	node_case(SVC_EAGER);
}

Test(services_node, counts_and_serves_lazy)
{
	node_case(SVC_LAZY);
}

Test(services_node, counts_and_serves_predump_chain)
{
	node_case(SVC_PREDUMP);
}
