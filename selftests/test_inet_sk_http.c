// SPDX-License-Identifier: MIT
/*
 * A real program on TCP (issue 19): python3 -m http.server, a listening
 * socket in a selectors loop, serves a file before a dump and, after a
 * restore (eager and lazy), serves it again from the same port.
 */
#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

TestSuite(inetsk_http, .timeout = 120);

static pid_t spawn_server(const char *dir, const char *out)
{
	pid_t pid = fork();

	if (pid)
		return pid;
	int fd = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	int null = open("/dev/null", O_RDONLY | O_CLOEXEC);

	if (fd < 0 || null < 0 || dup2(null, 0) < 0 || dup2(fd, 1) < 0 || dup2(fd, 2) < 0)
		_exit(127);
	setpgid(0, 0);
	syscall(SYS_close_range, 3, ~0u, 0);
	execlp("python3", "python3", "-u", "-m", "http.server", "0", "--bind", "127.0.0.1",
	       "--directory", dir, (char *)NULL);
	_exit(127);
}

/* GET /page.txt from 127.0.0.1:@port; the body must be @want. */
static void expect_page(int port, const char *want)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	static const char req[] = "GET /page.txt HTTP/1.0\r\nHost: localhost\r\n\r\n";
	struct timeval tv = { .tv_sec = 10 };
	char buf[4096];
	size_t got = 0;
	ssize_t n;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(s, 0);
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
	cr_assert_eq(connect(s, (struct sockaddr *)&a, sizeof(a)), 0, "connect to port %d: %s",
		     port, strerror(errno));
	cr_assert_eq(write(s, req, sizeof(req) - 1), (ssize_t)sizeof(req) - 1);
	while (got < sizeof(buf) - 1 && (n = read(s, buf + got, sizeof(buf) - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	close(s);
	cr_assert(strstr(buf, " 200 "), "no 200 answer: %s", buf);
	cr_assert(strstr(buf, want), "'%s' not served: %s", want, buf);
}

static void serve_dump_restore(const char *extra)
{
	char *dir, www[600], page[700], out[600], img[600], *err = NULL, *line;
	int rc, status, port = 0;
	pid_t pid;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	if (t_run(NULL, NULL, "python3 -c 'import http.server'"))
		cr_skip_test("no python3 with http.server here");
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	dir = t_tmpdir();
	cr_assert_not_null(dir);
	snprintf(www, sizeof(www), "%s/www", dir);
	snprintf(page, sizeof(page), "%s/page.txt", www);
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(img, sizeof(img), "%s/img", dir);
	cr_assert_eq(mkdir(www, 0755), 0);
	cr_assert_eq(t_write_file(page, "ferry-served-page\n", 18), 0);
	pid = spawn_server(www, out);
	cr_assert_gt(pid, 0);
	line = t_wait_line(out, "Serving HTTP on", 15000);
	cr_assert_not_null(line, "http.server did not start");
	cr_assert(sscanf(strstr(line, " port ") ?: "", " port %d", &port) == 1, "%s", line);
	free(line);
	expect_page(port, "ferry-served-page");
	rc = t_run(NULL, &err, "%s dump -t %d -D %s", t_ferry_bin(), pid, img);
	cr_assert_eq(rc, 0, "dump: %s", err ? err : "");
	free(err);
	err = NULL;
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	rc = t_run(NULL, &err, "%s restore -D %s -d %s", t_ferry_bin(), img, extra);
	cr_assert_eq(rc, 0, "restore: %s", err ? err : "");
	free(err);
	cr_assert_eq(kill(pid, 0), 0, "http.server is not back");
	expect_page(port, "ferry-served-page");
	expect_page(port, "ferry-served-page");
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	t_rmrf(dir);
	free(dir);
}

Test(inetsk_http, python_http_server_serves_after_restore)
{
	serve_dump_restore("");
}

Test(inetsk_http, python_http_server_serves_after_lazy_restore)
{
	serve_dump_restore("--lazy-pages");
}
