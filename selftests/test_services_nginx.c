// SPDX-License-Identifier: MIT
/*
 * A real service (issue 19): Debian's nginx, a master and two workers
 * (workers as user nobody; socketpair channels; per-worker SO_REUSEPORT
 * listeners; shared anonymous memory; epoll and eventfd in each worker),
 * configured in a temporary directory and serving a static file. After a
 * checkpoint (eager, lazy, pre-dump chain) the restored workers answer
 * (both of them, told apart by an X-Worker header carrying their pid), and
 * `nginx -s reload` (SIGHUP to the restored master) still reconfigures:
 * the master reads the new configuration, forks two new workers and retires
 * the old ones, and the new workers serve with the new configuration.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "services_helpers.h"

TestSuite(services_nginx, .timeout = 120);

#define NGINX "/usr/sbin/nginx"
#define REQUESTS 24

struct nginx {
	struct t_tree t;
	int port;
	char conf[700];
	pid_t workers[2];
};

static void write_conf(struct nginx *n, int generation)
{
	char text[2048];
	int len = snprintf(text, sizeof(text),
			   "daemon off;\n"
			   "master_process on;\n"
			   "worker_processes 2;\n"
			   "pid %s/nginx.pid;\n"
			   "error_log stderr info;\n"
			   "events { worker_connections 64; }\n"
			   "http {\n"
			   "  access_log off;\n"
			   "  client_body_temp_path %s/tmp;\n"
			   "  proxy_temp_path %s/tmp;\n"
			   "  fastcgi_temp_path %s/tmp;\n"
			   "  uwsgi_temp_path %s/tmp;\n"
			   "  scgi_temp_path %s/tmp;\n"
			   "  server {\n"
			   "    listen 127.0.0.1:%d reuseport;\n"
			   "    root %s/www;\n"
			   "    add_header X-Worker $pid;\n"
			   "    add_header X-Generation %d;\n"
			   "  }\n"
			   "}\n",
			   n->t.dir, n->t.dir, n->t.dir, n->t.dir, n->t.dir, n->t.dir, n->port,
			   n->t.dir, generation);

	cr_assert_lt(len, (int)sizeof(text));
	cr_assert_eq(t_write_file(n->conf, text, (size_t)len), 0);
}

/* The children of the master (its workers); fails unless there are exactly two. */
static void read_workers(struct nginx *n, pid_t w[2])
{
	char path[128], *text;
	int got;

	snprintf(path, sizeof(path), "/proc/%d/task/%d/children", n->t.pid, n->t.pid);
	text = t_read_file(path, NULL);
	cr_assert_not_null(text, "no %s", path);
	got = sscanf(text, "%d %d", &w[0], &w[1]);
	cr_assert_eq(got, 2, "nginx master %d has children '%s', not two workers", n->t.pid, text);
	free(text);
}

static void nginx_start(struct nginx *n)
{
	char www[700], page[800];

	svc_program(NGINX, "nginx");
	t_tree_init(&n->t);
	/* The workers run as nobody: they must be able to read the files. */
	cr_assert_eq(chmod(n->t.dir, 0755), 0);
	n->port = svc_free_port();
	snprintf(n->conf, sizeof(n->conf), "%s/nginx.conf", n->t.dir);
	snprintf(www, sizeof(www), "%s/www", n->t.dir);
	snprintf(page, sizeof(page), "%s/page.txt", www);
	cr_assert_eq(mkdir(www, 0755), 0);
	cr_assert_eq(t_write_file(page, "ferry-nginx-page\n", 17), 0);
	snprintf(www, sizeof(www), "%s/tmp", n->t.dir);
	cr_assert_eq(mkdir(www, 0755), 0);
	chmod(page, 0644);
	write_conf(n, 1);
	{
		const char *argv[] = { NGINX, "-p", n->t.dir, "-c", n->conf, "-e", "stderr", NULL };

		free(svc_spawn(&n->t, argv, "start worker process"));
	}
	for (int ms = 0; t_count_lines(n->t.out, "start worker process") < 2; ms += 10) {
		cr_assert_lt(ms, 10000, "nginx started fewer than 2 workers");
		usleep(10000);
	}
	usleep(100000);
	read_workers(n, n->workers);
	n->t.child = n->workers[0];
}

/*
 * REQUESTS GETs of the page, each on a new connection: all answered by one
 * of @w with X-Generation @gen, and (with REQUESTS source ports hashed over
 * the two reuseport listeners) both workers seen.
 */
static void serve_check(struct nginx *n, const pid_t w[2], int gen)
{
	int seen[2] = { 0, 0 };
	char hdr[64];

	snprintf(hdr, sizeof(hdr), "X-Generation: %d", gen);
	for (int i = 0; i < REQUESTS; i++) {
		char *ans = svc_http_get(n->port, "/page.txt"), *x;
		int pid = 0;

		cr_assert(strstr(ans, " 200 OK"), "nginx answered: %s", ans);
		cr_assert(strstr(ans, "\r\n\r\nferry-nginx-page\n"), "page not served: %s", ans);
		cr_assert(strstr(ans, hdr), "no '%s' in: %s", hdr, ans);
		x = strstr(ans, "X-Worker: ");
		cr_assert(x && sscanf(x, "X-Worker: %d", &pid) == 1, "no X-Worker in: %s", ans);
		cr_assert(pid == w[0] || pid == w[1], "answered by %d, not a worker (%d, %d)", pid,
			  w[0], w[1]);
		seen[pid == w[1]]++;
		free(ans);
	}
	cr_log_info("nginx: workers %d and %d answered %d and %d of %d requests", w[0], w[1],
		    seen[0], seen[1], REQUESTS);
	cr_assert(seen[0] && seen[1], "only one worker answered %d requests", REQUESTS);
}

/* `nginx -s reload` with a new configuration: two new workers serve it, the old ones leave. */
static void reload_check(struct nginx *n)
{
	char *err = NULL;
	pid_t w[2] = { 0, 0 };
	int rc;

	write_conf(n, 2);
	rc = t_run(NULL, &err, "%s -p %s -c %s -e stderr -s reload", NGINX, n->t.dir, n->conf);
	cr_assert_eq(rc, 0, "nginx -s reload: %s", err ? err : "");
	free(err);
	for (int ms = 0;; ms += 20) {
		char path[128], *text;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", n->t.pid, n->t.pid);
		text = t_read_file(path, NULL);
		cr_assert_not_null(text);
		if (sscanf(text, "%d %d", &w[0], &w[1]) == 2 && w[0] != n->workers[0] &&
		    w[0] != n->workers[1] && w[1] != n->workers[0] && w[1] != n->workers[1]) {
			free(text);
			break;
		}
		free(text);
		cr_assert_lt(ms, 10000, "after the reload the master %d has not two new workers",
			     n->t.pid);
		usleep(20000);
	}
	cr_assert_gt(t_count_lines(n->t.out, "reconfiguring"), 0, "no reconfiguring logged");
	serve_check(n, w, 2);
}

static void nginx_case(enum svc_mode mode)
{
	struct nginx n;
	long uid;

	nginx_start(&n);
	uid = t_proc_field(n.workers[0], "Uid");
	cr_assert_neq(uid, 0, "the workers run as root: nothing to keep");
	serve_check(&n, n.workers, 1);
	svc_checkpoint(&n.t, mode, NULL, NULL);
	if (mode == SVC_EAGER) {
		static const char *const kinds[] = { "INETSK", "UNIXSK", "EVENTPOLL", "EVENTFD",
						     NULL };
		char img[800];

		svc_img_dir(&n.t, img, sizeof(img));
		svc_files_decode(img, kinds);
	}
	cr_assert_eq(kill(n.workers[1], 0), 0, "worker %d is not back", n.workers[1]);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(t_proc_field(n.workers[i], "Uid"), uid, "worker %d lost its uid",
			     n.workers[i]);
	serve_check(&n, n.workers, 1);
	reload_check(&n);
	t_tree_stop(&n.t);
}

Test(services_nginx, serves_and_reloads_eager)
{
	nginx_case(SVC_EAGER);
}

Test(services_nginx, serves_and_reloads_lazy)
{
	nginx_case(SVC_LAZY);
}

Test(services_nginx, serves_and_reloads_predump_chain)
{
	nginx_case(SVC_PREDUMP);
}
