// SPDX-License-Identifier: MIT
/*
 * What the page server tests share: a dumped workload, `ferry page-server` as
 * a child process, and a remote page source to drive.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"
#include "helpers.h"
#include "page_source_remote.h"

#include "page_server_helpers.h"

/* ---- a dumped workload ------------------------------------------------------------ */

void pst_dump_memhog(struct pst_dump *d, const char *mib)
{
	const char *argv[] = { "memhog", mib, "7", NULL };
	unsigned long long b, s, sd;
	char *line, *err = NULL;
	int pid, rc;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	d->dir = t_tmpdir();
	cr_assert_not_null(d->dir);
	snprintf(d->out, sizeof(d->out), "%s/out", d->dir);
	snprintf(d->img, sizeof(d->img), "%s/img", d->dir);
	d->pid = t_spawn_ready(d->out, argv, "ready", 10000, &line);
	cr_assert_eq(sscanf(strstr(line, "memhog:"), "memhog: pid %d base %llx size %llu seed %llu",
			    &pid, &b, &s, &sd),
		     4, "memhog said '%s'", line);
	free(line);
	d->base = b;
	d->size = s;
	d->seed = sd;
	rc = t_run(NULL, &err, "%s dump -t %d -D %s --leave-running", t_ferry_bin(), d->pid,
		   d->img);
	cr_assert_eq(rc, 0, "ferry dump failed: %s", err ? err : "");
	free(err);
}

void pst_drop_dump(struct pst_dump *d)
{
	if (d->pid > 0) {
		kill(-d->pid, SIGKILL);
		t_kill_wait(d->pid);
	}
	t_rmrf(d->dir);
	free(d->dir);
}

/* ---- ferry page-server as a child process ------------------------------------------ */

/* Start `ferry page-server -D @img --port 0 ARGS...`; wait for its line unless @no_wait. */
void pst_srv_start_argv(struct pst_srv *s, const char *tmp, const char *img,
			const char *const *args, bool no_wait)
{
	const char *argv[32] = { "ferry", "page-server", "-D", img, "--port", "0" };
	size_t n = 6;
	char *line;

	for (; args && *args; args++)
		argv[n++] = *args;
	argv[n] = NULL;
	snprintf(s->out, sizeof(s->out), "%s/srv%d.out", tmp, (int)getpid());
	snprintf(s->err, sizeof(s->err), "%s/srv%d.err", tmp, (int)getpid());
	unlink(s->out);
	s->status = -1;
	s->pid = fork();
	cr_assert_geq(s->pid, 0);
	if (s->pid == 0) {
		int o = open(s->out, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int e = open(s->err, O_WRONLY | O_CREAT | O_TRUNC, 0644);

		if (o < 0 || e < 0)
			_exit(126);
		dup2(o, 1);
		dup2(e, 2);
		syscall(SYS_close_range, 3, ~0u, 0);
		execv(t_ferry_bin(), (char *const *)argv);
		_exit(127);
	}
	if (no_wait)
		return;
	line = t_wait_line(s->out, "page-server: listening on ", 10000);
	if (!line) {
		char *e = t_read_file(s->err, NULL);

		cr_assert_fail("page-server did not start: %s", e ? e : "");
	}
	cr_assert_not_null(strrchr(line, ':'));
	s->port = atoi(strrchr(line, ':') + 1);
	cr_assert_gt(s->port, 0, "port in '%s'", line);
	free(line);
}

void pst_srv_start(struct pst_srv *s, const struct pst_dump *d, const char *const *args)
{
	pst_srv_start_argv(s, d->dir, d->img, args, false);
}

/* srv_wait - the server's exit status, waiting up to @ms; -1 if it still runs. */
int pst_srv_wait(struct pst_srv *s, int ms)
{
	int st;

	for (int waited = 0; s->status < 0 && waited <= ms; waited += 10) {
		pid_t w = waitpid(s->pid, &st, WNOHANG);

		if (w == s->pid) {
			s->status = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
			break;
		}
		usleep(10 * 1000);
	}
	return s->status;
}

void pst_srv_kill(struct pst_srv *s)
{
	if (s->status < 0 && s->pid > 0) {
		kill(s->pid, SIGKILL);
		kill(s->pid, SIGCONT);
		pst_srv_wait(s, 5000);
	}
}

/* The server's stderr must contain @needle. */
void pst_srv_logged(const struct pst_srv *s, const char *needle)
{
	char *log = t_read_file(s->err, NULL);

	cr_assert(log && strstr(log, needle), "page-server's log lacks '%s':\n%s", needle,
		  log ? log : "");
	free(log);
}

void pst_host_port(char *buf, size_t size, const char *host, int port)
{
	snprintf(buf, size, "%s:%d", host, port);
}

struct page_source *pst_remote_open(const struct pst_srv *s, const char *secret, long timeout_ms)
{
	struct page_source *src = NULL;
	char hp[64];
	int err;

	pst_host_port(hp, sizeof(hp), "127.0.0.1", s->port);
	err = page_source_remote_open(&src, hp, secret, timeout_ms);
	cr_assert_eq(err, 0, "page_source_remote_open %s: %s", hp, strerror(-err));
	cr_assert_not_null(src);
	return src;
}

/* ---- driving a page source ------------------------------------------------------------ */

/*
 * wait_one - poll the source's fds (with @poll_ms, -1 for none of our own)
 * and reap until one request is done; returns it, or NULL with *@err set if
 * the source died.
 */
struct page_req *pst_wait_one(struct page_source *src, int poll_ms, int *err)
{
	for (;;) {
		struct pollfd pfd[4];
		struct page_req *done = NULL;
		int fds[4], n, ret;

		ret = page_source_reap(src, &done);
		if (ret == 1)
			return done;
		if (ret < 0) {
			*err = ret;
			return NULL;
		}
		n = page_source_poll_fds(src, fds, 4);
		for (int i = 0; i < n; i++)
			pfd[i] = (struct pollfd){ .fd = fds[i], .events = POLLIN };
		cr_assert_geq(poll(pfd, (nfds_t)n, poll_ms), 0);
	}
}
