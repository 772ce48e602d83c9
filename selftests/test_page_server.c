// SPDX-License-Identifier: MIT
/*
 * The page server end to end: a real workload is dumped, `ferry page-server`
 * serves the dump on a real socket, and the remote page source fetches every
 * dumped page (urgent and background, many requests in flight), compared
 * byte for byte with the local page source and with the workload's pattern.
 * Also: PageErrors, the shared secret, the refusal of a public address
 * without one, IPv6, a server killed or stopped with requests in flight, a
 * server that never answers, clients that send garbage or vanish, the
 * startup timeout, the wire-log capture decoded by openssl and unber, and the
 * local source on a hand-made index over real files (runs of several levels,
 * lazy runs, short files).
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "images.h"
#include "log.h"
#include "page_source_local.h"
#include "page_source_remote.h"
#include "pagemap_flags.h"
#include "pattern.h"
#include "ps_wire.h"
#include "util.h"

#define PAGE 4096ull

/* ---- a dumped workload ------------------------------------------------------------ */

struct dump {
	char *dir;
	char img[512];
	char out[512];
	pid_t pid; /* the workload, still running (dumped with --leave-running) */
	uint64_t base, size, seed;
};

static void dump_memhog(struct dump *d, const char *mib)
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
	d->pid = t_spawn(d->out, argv);
	cr_assert_gt(d->pid, 0);
	line = t_wait_line(d->out, "ready", 10000);
	cr_assert_not_null(line, "memhog never said ready");
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

static void drop_dump(struct dump *d)
{
	if (d->pid > 0) {
		kill(-d->pid, SIGKILL);
		t_kill_wait(d->pid);
	}
	t_rmrf(d->dir);
	free(d->dir);
}

static bool is_hole(const struct dump *d, uint64_t addr)
{
	return ((addr - d->base) / PAGE) % PATTERN_HOLE_EVERY == PATTERN_HOLE_EVERY - 1;
}

/* ---- ferry page-server as a child process ------------------------------------------ */

struct srv {
	pid_t pid;
	int port;
	char out[600], err[600];
	int status; /* exit status once reaped, -1 before */
};

/* Start `ferry page-server -D @img --port 0 ARGS...`; wait for its line unless @no_wait. */
static void srv_start_argv(struct srv *s, const char *tmp, const char *img, const char *const *args,
			   bool no_wait)
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

static void srv_start(struct srv *s, const struct dump *d, const char *const *args)
{
	srv_start_argv(s, d->dir, d->img, args, false);
}

/* srv_wait - the server's exit status, waiting up to @ms; -1 if it still runs. */
static int srv_wait(struct srv *s, int ms)
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

static void srv_kill(struct srv *s)
{
	if (s->status < 0 && s->pid > 0) {
		kill(s->pid, SIGKILL);
		kill(s->pid, SIGCONT);
		srv_wait(s, 5000);
	}
}

/* The server's stderr must contain @needle. */
static void srv_logged(const struct srv *s, const char *needle)
{
	char *log = t_read_file(s->err, NULL);

	cr_assert(log && strstr(log, needle), "page-server's log lacks '%s':\n%s", needle,
		  log ? log : "");
	free(log);
}

static void host_port(char *buf, size_t size, const char *host, int port)
{
	snprintf(buf, size, "%s:%d", host, port);
}

static struct page_source *remote_open(const struct srv *s, const char *secret, long timeout_ms)
{
	struct page_source *src = NULL;
	char hp[64];
	int err;

	host_port(hp, sizeof(hp), "127.0.0.1", s->port);
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
static struct page_req *wait_one(struct page_source *src, int poll_ms, int *err)
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

struct job {
	struct page_req req;
	uint8_t *buf;
};

/*
 * fetch_all - every dumped page of every process of @r from @src, in requests
 * of 1, 7, 64 and 256 pages (cut at run ends), each page twice: once urgent,
 * once background; at most @window requests in flight. Each answer is
 * compared with the local source's. Returns the pages fetched.
 */
static uint64_t fetch_all(struct page_source *src, struct page_source *local, const struct rimg *r,
			  size_t window)
{
	static const uint32_t sizes[] = { 1, 7, 64, 256 };
	struct job *jobs = calloc(window, sizeof(*jobs));
	size_t free_top = window, *free_slots = calloc(window, sizeof(size_t));
	uint8_t *want = malloc(PS_MAX_REQ_PAGES * PAGE);
	uint64_t pages = 0, submitted = 0, done = 0;
	unsigned int k = 0;

	for (size_t i = 0; i < window; i++)
		free_slots[i] = i;
	for (int pass = 0; pass < 2; pass++) {
		for (size_t p = 0; p < r->nr_procs; p++) {
			const struct rimg_pagemap *pm = r->procs[p].pm;

			for (size_t ri = 0; pm && ri < pm->nr_runs; ri++) {
				const struct rimg_page_run *run = &pm->runs[ri];
				uint64_t off = 0;

				if (!(run->flags & (PE_PRESENT | PE_PARENT)))
					continue;
				while (off < run->nr_pages) {
					uint32_t nr = sizes[k % 4];
					struct job *j;
					size_t slot;

					if (nr > run->nr_pages - off)
						nr = (uint32_t)(run->nr_pages - off);
					/* A free slot: reap until there is one. */
					while (!free_top) {
						int err = 0;
						struct page_req *q = wait_one(src, 2000, &err);
						struct job *dj;
						uint64_t miss;

						cr_assert_not_null(q, "source died: %s",
								   strerror(-err));
						dj = (struct job *)q;
						cr_assert_eq(q->err, 0, "pid %d 0x%llx: %s", q->pid,
							     (unsigned long long)q->addr,
							     strerror(-q->err));
						cr_assert_eq(page_source_local_read(local, q->pid,
										    q->addr, q->nr,
										    want, &miss),
							     0);
						cr_assert_eq(
							memcmp(want, dj->buf, q->nr * PAGE), 0,
							"pid %d 0x%llx (%u pages) differs from the dump",
							q->pid, (unsigned long long)q->addr, q->nr);
						pages += q->nr;
						done++;
						free(dj->buf);
						free_slots[free_top++] = (size_t)(dj - jobs);
					}
					slot = free_slots[--free_top];
					j = &jobs[slot];
					j->buf = malloc(nr * PAGE);
					memset(j->buf, 0xa5, nr * PAGE);
					j->req = (struct page_req){
						.pid = r->procs[p].pid,
						.addr = run->vaddr + off * PAGE,
						.nr = nr,
						.urgent = (k + (unsigned int)pass) % 2,
						.buf = j->buf,
						.cookie = slot,
					};
					cr_assert_eq(page_source_submit(src, &j->req), 0);
					submitted++;
					off += nr;
					k++;
				}
			}
		}
	}
	while (done < submitted) {
		int err = 0;
		struct page_req *q = wait_one(src, 2000, &err);
		struct job *dj;
		uint64_t miss;

		cr_assert_not_null(q, "source died: %s", strerror(-err));
		dj = (struct job *)q;
		cr_assert_eq(q->err, 0);
		cr_assert_eq(page_source_local_read(local, q->pid, q->addr, q->nr, want, &miss), 0);
		cr_assert_eq(memcmp(want, dj->buf, q->nr * PAGE), 0, "pid %d 0x%llx differs",
			     q->pid, (unsigned long long)q->addr);
		pages += q->nr;
		done++;
		free(dj->buf);
	}
	free(want);
	free(jobs);
	free(free_slots);
	return pages;
}

static uint64_t dumped_pages(const struct rimg *r)
{
	uint64_t n = 0;

	for (size_t p = 0; p < r->nr_procs; p++)
		for (size_t i = 0; r->procs[p].pm && i < r->procs[p].pm->nr_runs; i++)
			if (r->procs[p].pm->runs[i].flags & (PE_PRESENT | PE_PARENT))
				n += r->procs[p].pm->runs[i].nr_pages;
	return n;
}

static long vm_hwm_kib(pid_t pid)
{
	return t_proc_field(pid, "VmHWM");
}

TestSuite(page_server, .timeout = 60);

Test(page_server, fetch_everything_urgent_and_background)
{
	const char *args[] = { "-v3", NULL };
	struct page_source *remote, *local;
	struct rimg *r = NULL;
	struct dump d;
	struct srv s;
	uint64_t pages, buf[PAGE / 8];
	long hwm;
	int err;

	dump_memhog(&d, "32");
	srv_start(&s, &d, args);
	err = rimg_load(&r, d.img);
	cr_assert_eq(err, 0);
	cr_assert_eq(page_source_local_open(&local, r), 0);
	remote = remote_open(&s, NULL, 5000);
	cr_assert(!strncmp(remote->name, "page server 127.0.0.1:", 22), "%s", remote->name);

	pages = fetch_all(remote, local, r, 256);
	cr_assert_eq(pages, 2 * dumped_pages(r));
	cr_assert_gt(pages, 2 * (d.size / PAGE) * 63 / 64, "memhog's mapping is in the dump");

	/* And what the dump holds is what memhog wrote (an oracle that is not the source). */
	for (uint64_t a = d.base; a < d.base + d.size; a += 61 * PAGE) {
		struct page_req q = { .pid = d.pid, .addr = a, .nr = 1, .buf = buf };
		struct page_req *got;

		cr_assert_eq(page_source_submit(remote, &q), 0);
		got = wait_one(remote, 2000, &err);
		cr_assert_eq(got, &q);
		if (is_hole(&d, a)) {
			cr_assert_eq(q.err, -ENOENT, "a never touched page is not in the dump");
			continue;
		}
		cr_assert_eq(q.err, 0);
		cr_assert_eq(buf[0], pattern_word(a, d.seed), "page 0x%llx", (unsigned long long)a);
		cr_assert_eq(buf[PAGE / 8 - 1], pattern_word(a + PAGE - 8, d.seed));
	}

	/*
	 * 64 MiB went through; the server's memory did not follow the image's
	 * size (it peaks near 7 MiB whether the dump has 1 or 96 MiB).
	 */
	hwm = vm_hwm_kib(s.pid);
	cr_assert_gt(hwm, 0);
#ifndef __SANITIZE_ADDRESS__ /* ASan's shadow memory and quarantine say nothing about ferry */
	cr_assert_lt(hwm, 16 * 1024, "page-server peak RSS %ld KiB for a 32 MiB dump", hwm);
#endif

	page_source_destroy(remote);
	cr_assert_eq(srv_wait(&s, 5000), 0, "the server exits 0 after Bye on both connections");
	srv_logged(&s, "session ended");
	page_source_destroy(local);
	rimg_free(r);
	drop_dump(&d);
}

Test(page_server, page_errors_keep_the_source_alive)
{
	struct page_source *remote;
	uint64_t buf[8 * PAGE / 8];
	struct page_req *got;
	struct dump d;
	struct srv s;
	char hp[64];
	int err = 0;

	dump_memhog(&d, "1");
	srv_start(&s, &d, NULL);
	/* By name: getaddrinfo, each address in turn (::1 may come first and be refused). */
	snprintf(hp, sizeof(hp), "localhost:%d", s.port);
	err = page_source_remote_open(&remote, hp, NULL, 5000);
	cr_assert_eq(err, 0, "%s: %s", hp, strerror(-err));
	cr_assert(!strncmp(remote->name, "page server localhost:", 22), "%s", remote->name);
	struct {
		pid_t pid;
		uint64_t addr;
		uint32_t nr;
		int want;
	} cases[] = {
		{ d.pid, d.base + 63 * PAGE, 1, -ENOENT },  /* memhog's hole */
		{ d.pid, d.base + 60 * PAGE, 8, -ENOENT },  /* a range across it */
		{ d.pid == 1 ? 2 : 1, d.base, 1, -ENOENT }, /* a pid not in the dump */
		{ d.pid, 0x1000, 1, -ENOENT },		    /* an address never mapped */
		{ d.pid, d.base + 64 * PAGE, 8, 0 },
		{ d.pid, d.base + 5, 1, -EINVAL }, /* refused before it is sent */
	};
	struct page_req q[sizeof(cases) / sizeof(cases[0])];

	/* All in flight at once; each completes on its own. */
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		q[i] = (struct page_req){ .pid = cases[i].pid,
					  .addr = cases[i].addr,
					  .nr = cases[i].nr,
					  .urgent = i % 2,
					  .buf = buf,
					  .cookie = i };
		cr_assert_eq(page_source_submit(remote, &q[i]), 0);
	}
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		got = wait_one(remote, 2000, &err);
		cr_assert_not_null(got, "source died: %s", strerror(-err));
		cr_assert_eq(got->err, cases[got->cookie].want, "case %llu: %d",
			     (unsigned long long)got->cookie, got->err);
		if (!got->err)
			cr_assert_eq(buf[0], pattern_word(d.base + 64 * PAGE, d.seed));
	}
	page_source_destroy(remote);
	cr_assert_eq(srv_wait(&s, 5000), 0);
	srv_logged(&s, "is not in the dump");
	drop_dump(&d);
}

/*
 * More requests in flight than the server queues per connection (4096) and
 * than its input buffer holds: it stops reading, serves, reads on; and fault
 * requests submitted behind a wall of background ones still complete.
 */
Test(page_server, deep_pipeline)
{
	const uint32_t n = 10000;
	struct page_source *remote;
	struct page_req *q = calloc(n, sizeof(*q)), *got;
	uint64_t *bufs = malloc((size_t)n * PAGE), done = 0, first_urgent = 0, urgent_at = 0;
	struct dump d;
	struct srv s;
	int err = 0;

	cr_assert(q && bufs);
	dump_memhog(&d, "1");
	srv_start(&s, &d, NULL);
	remote = remote_open(&s, NULL, 5000);
	for (uint32_t i = 0; i < n; i++) {
		uint64_t page = i % 63; /* the first run: 63 pages before memhog's first hole */

		q[i] = (struct page_req){ .pid = d.pid,
					  .addr = d.base + page * PAGE,
					  .nr = 1,
					  .urgent = i >= n - 100, /* the last 100 */
					  .buf = bufs + (size_t)i * (PAGE / 8),
					  .cookie = i };
		cr_assert_eq(page_source_submit(remote, &q[i]), 0);
	}
	while (done < n) {
		got = wait_one(remote, 2000, &err);
		cr_assert_not_null(got, "source died after %llu: %s", (unsigned long long)done,
				   strerror(-err));
		cr_assert_eq(got->err, 0);
		cr_assert_eq(*(uint64_t *)got->buf, pattern_word(got->addr, d.seed), "request %llu",
			     (unsigned long long)got->cookie);
		if (got->urgent && !first_urgent++)
			urgent_at = done;
		done++;
	}
	cr_assert_eq(first_urgent, 100);
	/* Fault requests overtake the background backlog the server has not served yet. */
	cr_assert_lt(urgent_at, n - 100, "the first urgent request completed %llu-th",
		     (unsigned long long)urgent_at);
	page_source_destroy(remote);
	cr_assert_eq(srv_wait(&s, 5000), 0);
	free(q);
	free(bufs);
	drop_dump(&d);
}

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
	struct dump d;
	struct srv s;
	int err;

	dump_memhog(&d, "1");
	snprintf(good, sizeof(good), "%s/secret", d.dir);
	snprintf(bad, sizeof(bad), "%s/wrong", d.dir);
	snprintf(logp, sizeof(logp), "%s/client.log", d.dir);
	write_secret(good, "correct horse battery staple\n");
	write_secret(bad, "correct horse battery stapler\n");
	args[3] = good;
	srv_start(&s, &d, args);
	host_port(hp, sizeof(hp), "127.0.0.1", s.port);

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
	srv_logged(&s, "authentication failed");
	srv_logged(&s, "(127.0.0.1:"); /* the peer address */
	cr_assert_eq(srv_wait(&s, 0), -1, "refused clients do not end the server");

	err = page_source_remote_open(&src, hp, good, 3000);
	cr_assert_eq(err, 0, "right secret: %s", strerror(-err));
	q = (struct page_req){ .pid = d.pid, .addr = d.base, .nr = 1, .urgent = 1, .buf = buf };
	cr_assert_eq(page_source_submit(src, &q), 0);
	got = wait_one(src, 2000, &err);
	cr_assert_eq(got, &q);
	cr_assert_eq(q.err, 0);
	cr_assert_eq(buf[0], pattern_word(d.base, d.seed));
	page_source_destroy(src);
	cr_assert_eq(srv_wait(&s, 5000), 0);
	drop_dump(&d);
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
	struct dump d;
	struct srv s;
	int err, fd;
	struct sockaddr_in6 a6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	static const char *const bad[] = { "::1:80",  "host", "host:0", "host:99999",
					   "[::1]80", ":80",  "[::1]:", "host:8x" };

	fd = socket(AF_INET6, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a6, sizeof(a6)))
		cr_skip_test("no IPv6 loopback here");
	close(fd);
	dump_memhog(&d, "1");
	srv_start(&s, &d, args);
	snprintf(hp, sizeof(hp), "[::1]:%d", s.port);
	err = page_source_remote_open(&src, hp, NULL, 3000);
	cr_assert_eq(err, 0, "%s: %s", hp, strerror(-err));
	q = (struct page_req){ .pid = d.pid, .addr = d.base + PAGE, .nr = 1, .buf = buf };
	cr_assert_eq(page_source_submit(src, &q), 0);
	got = wait_one(src, 2000, &err);
	cr_assert_eq(got, &q);
	cr_assert_eq(buf[0], pattern_word(d.base + PAGE, d.seed));
	page_source_destroy(src);
	cr_assert_eq(srv_wait(&s, 5000), 0);

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
	drop_dump(&d);
}

Test(page_server, server_killed_with_requests_in_flight)
{
	struct page_source *src;
	struct page_req *q;
	uint8_t *buf = malloc(63 * PAGE);
	uint64_t t0, done = 0;
	struct page_req *got;
	struct dump d;
	struct srv s;
	int err = 0, n = 2000;

	dump_memhog(&d, "1");
	srv_start(&s, &d, NULL);
	src = remote_open(&s, NULL, 10000);
	/* 2000 requests of 63 pages (500 MiB): far more than can be served before the kill. */
	q = calloc((size_t)n, sizeof(*q));
	for (int i = 0; i < n; i++) {
		q[i] = (struct page_req){
			.pid = d.pid, .addr = d.base, .nr = 63, .urgent = i % 2, .buf = buf
		};
		cr_assert_eq(page_source_submit(src, &q[i]), 0);
	}
	cr_assert_eq(kill(s.pid, SIGKILL), 0);
	t0 = mono_ns();
	while ((got = wait_one(src, -1, &err)))
		done++;
	/* Noticed by the reset, not by the 10 s request timeout (a bound, not a speed). */
	cr_assert_lt(mono_ns() - t0, 8000000000ull, "the loss is noticed by the reset");
	cr_assert_eq(err, -ECONNRESET, "%s", strerror(-err));
	cr_assert_lt(done, (uint64_t)n);
	/* Dead for good: submit and reap keep failing the same way. */
	cr_assert_eq(page_source_submit(src, &q[0]), -ECONNRESET);
	cr_assert_eq(page_source_reap(src, &got), -ECONNRESET);
	page_source_destroy(src);
	srv_wait(&s, 5000);
	free(q);
	free(buf);
	drop_dump(&d);
}

/* A page server that stops answering (SIGSTOP): reap says -ETIMEDOUT, woken by the timer fd. */
Test(page_server, stopped_server_times_out)
{
	char logp[600], *log, want[128];
	struct page_source *src;
	uint64_t buf[4 * PAGE / 8], t0, dt;
	struct page_req q[3], *got;
	struct dump d;
	struct srv s;
	int err = 0;

	dump_memhog(&d, "1");
	srv_start(&s, &d, NULL);
	src = remote_open(&s, NULL, 400);
	cr_assert_eq(kill(s.pid, SIGSTOP), 0);
	snprintf(logp, sizeof(logp), "%s/client.log", d.dir);
	cr_assert_eq(log_init(logp, LOG_ERROR, 0), 0);
	t0 = mono_ns();
	for (int i = 0; i < 3; i++) {
		q[i] = (struct page_req){
			.pid = d.pid, .addr = d.base + (uint64_t)i * PAGE, .nr = 4, .buf = buf
		};
		cr_assert_eq(page_source_submit(src, &q[i]), 0);
	}
	/* poll() without a timeout of our own: only the source's timer can wake us. */
	got = wait_one(src, -1, &err);
	dt = mono_ns() - t0;
	log_fini();
	cr_assert_null(got);
	cr_assert_eq(err, -ETIMEDOUT);
	cr_assert_geq(dt, 350000000ull, "timed out after %llu ms",
		      (unsigned long long)(dt / 1000000));
	cr_assert_lt(dt, 3000000000ull);
	log = t_read_file(logp, NULL);
	snprintf(want, sizeof(want), "oldest outstanding request: pid %d address 0x%llx", d.pid,
		 (unsigned long long)d.base);
	cr_assert(log && strstr(log, want) && strstr(log, "no answer"), "%s", log ? log : "");
	cr_assert_eq(t_count_lines(logp, "Error"), 1, "one message: %s", log);
	free(log);
	page_source_destroy(src);
	srv_kill(&s);
	drop_dump(&d);
}

/* A "server" that accepts (the kernel does, from the backlog) and never says a word. */
Test(page_server, silent_server_times_out_in_hello)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	struct page_source *src = NULL;
	char hp[64];
	uint64_t t0;
	int fd, err;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(fd, 4), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	host_port(hp, sizeof(hp), "127.0.0.1", ntohs(a.sin_port));
	log_init("/dev/null", LOG_ERROR, 0);
	t0 = mono_ns();
	err = page_source_remote_open(&src, hp, NULL, 300);
	cr_assert_eq(err, -ETIMEDOUT, "%s", strerror(-err));
	cr_assert_null(src);
	/* The 0.3 s hello timeout ended it, not a hang (a bound, not a speed). */
	cr_assert_lt(mono_ns() - t0, 10000000000ull);
	/* Nobody listens at all: refused at once. */
	close(fd);
	err = page_source_remote_open(&src, hp, NULL, 300);
	cr_assert_eq(err, -ECONNREFUSED, "%s", strerror(-err));
	log_fini();
}

/*
 * A "server" that answers the connection with @bytes (garbage, or a hello cut
 * short) and closes: the client gives up with an error naming the server,
 * and does not crash.
 */
static void bad_server_hello(const void *bytes, size_t n)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	struct page_source *src = NULL;
	char hp[64], logp[] = "/tmp/ferry-ps-log-XXXXXX", *log;
	int fd, lfd, err;
	pid_t pid;

	fd = socket(AF_INET, SOCK_STREAM, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	cr_assert_eq(listen(fd, 4), 0);
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	host_port(hp, sizeof(hp), "127.0.0.1", ntohs(a.sin_port));
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		for (int i = 0; i < 2; i++) {
			int c = accept(fd, NULL, NULL);

			if (c < 0)
				_exit(1);
			if (write(c, bytes, n) != (ssize_t)n)
				_exit(1);
			close(c);
		}
		_exit(0);
	}
	close(fd);
	lfd = mkstemp(logp);
	cr_assert_geq(lfd, 0);
	close(lfd);
	log_init(logp, LOG_ERROR, 0);
	err = page_source_remote_open(&src, hp, NULL, 2000);
	log_fini();
	cr_assert_lt(err, 0, "a bad hello was accepted");
	cr_assert_null(src);
	log = t_read_file(logp, NULL);
	cr_assert(log && strstr(log, hp), "the error does not name the server: %s", log);
	free(log);
	unlink(logp);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

Test(page_server, garbage_from_the_server)
{
	bad_server_hello("GET / HTTP/1.1\r\n\r\n", 18);
}

Test(page_server, truncated_hello_from_the_server)
{
	/* [APPLICATION 8] 'h', length 40, then only a few bytes of it. */
	bad_server_hello("\x68\x28\x02\x01\x01\x04", 6);
}

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
	struct dump d;
	struct srv s;
	size_t have;
	int fd, err;

	dump_memhog(&d, "1");
	srv_start(&s, &d, args);
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
	cr_assert_eq(srv_wait(&s, 100), -1, "the server died: status %d", s.status);
	src = remote_open(&s, NULL, 5000);
	q = (struct page_req){ .pid = d.pid, .addr = d.base, .nr = 1, .urgent = 1, .buf = page };
	cr_assert_eq(page_source_submit(src, &q), 0);
	got = wait_one(src, 2000, &err);
	cr_assert_eq(got, &q);
	cr_assert_eq(page[0], pattern_word(d.base, d.seed));
	page_source_destroy(src);
	cr_assert_eq(srv_wait(&s, 5000), 0);
	srv_logged(&s, "bad BER at offset 0: expected a PDU");
	srv_logged(&s, "closed in the middle of a PDU (5 octets of it at offset 0)");
	srv_logged(&s, "PageRequest before the ClientHello");
	srv_logged(&s, "ClientHello version 2");
	srv_logged(&s, "longer than the limit");
	srv_logged(&s, "(127.0.0.1:");
	drop_dump(&d);
}

/* A session connection that breaks the protocol, or vanishes, fails the server. */
Test(page_server, broken_session_fails_the_server)
{
	uint8_t buf[8192], buf2[8192], sid[PS_SESSION_ID_SIZE] = { 9 };
	struct ps_pdu p;
	struct ber_enc e;
	struct dump d;
	struct srv s;
	size_t have, have2;
	int fd, fd2;

	dump_memhog(&d, "1");
	ber_enc_init(&e);
	for (int variant = 0; variant < 2; variant++) {
		srv_start(&s, &d, NULL);
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
		cr_assert_eq(srv_wait(&s, 5000), 1, "the server exits non-zero");
		if (variant == 0) {
			srv_logged(&s, "bad BER at offset");
			srv_logged(
				&s,
				"expected PageRequest.id in 0..18446744073709551615, got a negative INTEGER");
		} else {
			srv_logged(&s, "(127.0.0.1:");
			srv_logged(&s, "fault channel) closed without Bye");
		}
	}
	ber_enc_free(&e);
	drop_dump(&d);
}

Test(page_server, nobody_comes_within_the_timeout)
{
	const char *args[] = { "--timeout", "0.3", NULL };
	struct dump d;
	struct srv s;
	uint64_t t0;

	dump_memhog(&d, "1");
	srv_start(&s, &d, args);
	t0 = mono_ns();
	cr_assert_eq(srv_wait(&s, 5000), 1);
	cr_assert_lt(mono_ns() - t0, 3000000000ull);
	srv_logged(&s, "no client started a session");
	drop_dump(&d);
}

/* --wire-log: the captured session is BER that openssl and asn1c's unber read. */
Test(page_server, wire_log_decodes)
{
	char prefix[600], path[1400], *out = NULL, *err = NULL;
	const char *args[] = { "--wire-log", NULL, NULL };
	struct page_source *src;
	uint8_t *buf = malloc(4 * PAGE);
	struct page_req q[3], *got;
	struct dump d;
	struct srv s;
	int e = 0;
	bool openssl, unber;

	dump_memhog(&d, "1");
	snprintf(prefix, sizeof(prefix), "%s/wire", d.dir);
	args[1] = prefix;
	srv_start(&s, &d, args);
	src = remote_open(&s, NULL, 5000);
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
		got = wait_one(src, 2000, &e);
		cr_assert_not_null(got);
	}
	page_source_destroy(src);
	cr_assert_eq(srv_wait(&s, 5000), 0);

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
	drop_dump(&d);
	if (!openssl || !unber)
		cr_skip_test("%s is not installed: that part was skipped",
			     !openssl ? "openssl" : "unber (Debian package asn1c)");
}

/* ---- the local source on a hand-made index over real files ------------------------------- */

Test(page_server, local_source_runs_levels_and_errors)
{
	char *dir = t_tmpdir(), p0[600], p1[600], logp[600];
	uint8_t data0[4 * PAGE], data1[4 * PAGE], *buf = malloc(8 * PAGE);
	struct rimg_page_run runs[] = {
		{ .vaddr = 0x10000, .nr_pages = 2, .flags = PE_PRESENT, .level = 0, .file_off = 0 },
		{ .vaddr = 0x12000,
		  .nr_pages = 3,
		  .flags = PE_PARENT,
		  .level = 1,
		  .file_off = PAGE },
		{ .vaddr = 0x15000, .nr_pages = 1, .flags = PE_LAZY, .level = 0, .file_off = 0 },
		{ .vaddr = 0x20000,
		  .nr_pages = 2,
		  .flags = PE_PRESENT,
		  .level = 0,
		  .file_off = 3 * PAGE }, /* its second page is past the file's end */
	};
	struct rimg_pages_file files[2];
	struct rimg_pagemap pm = { 0 };
	struct rimg_proc proc = { 0 };
	struct rimg r = { 0 };
	struct page_source *src;
	struct page_req q[7], *got;
	uint64_t miss;
	int fds[2];

	for (size_t i = 0; i < sizeof(data0); i++) {
		data0[i] = (uint8_t)(i / PAGE + 1);
		data1[i] = (uint8_t)(0x80 + i / PAGE);
	}
	snprintf(p0, sizeof(p0), "%s/pages-1.img", dir);
	snprintf(p1, sizeof(p1), "%s/parent-pages-1.img", dir);
	snprintf(logp, sizeof(logp), "%s/log", dir);
	cr_assert_eq(t_write_file(p0, data0, sizeof(data0)), 0);
	cr_assert_eq(t_write_file(p1, data1, sizeof(data1)), 0);
	files[0] = (struct rimg_pages_file){ .fd = open(p0, O_RDONLY), .size = sizeof(data0) };
	files[1] = (struct rimg_pages_file){ .fd = open(p1, O_RDONLY), .size = sizeof(data1) };
	pm.runs = runs;
	pm.nr_runs = sizeof(runs) / sizeof(runs[0]);
	pm.files = files;
	pm.nr_files = 2;
	pm.pages_fd = files[0].fd;
	proc.pid = 4242;
	proc.pm = &pm;
	proc.parent = -1;
	r.procs = &proc;
	r.nr_procs = 1;
	r.dir = dir;

	cr_assert_eq(page_source_local_open(&src, &r), 0);
	cr_assert(strstr(src->name, "images /tmp/ferry-test-"), "%s", src->name);
	cr_assert_eq(page_source_poll_fds(src, fds, 2), 0);
	cr_assert_eq(log_init(logp, LOG_ERROR, 0), 0);
	/* 5 pages across a level-0 run and a level-1 run. */
	q[0] = (struct page_req){ .pid = 4242, .addr = 0x10000, .nr = 5, .buf = buf, .cookie = 0 };
	q[1] = (struct page_req){ .pid = 4242, .addr = 0x14000, .nr = 2, .buf = buf, .cookie = 1 };
	q[2] = (struct page_req){ .pid = 4242, .addr = 0x16000, .nr = 1, .buf = buf, .cookie = 2 };
	q[3] = (struct page_req){ .pid = 4242, .addr = 0x20000, .nr = 2, .buf = buf, .cookie = 3 };
	q[4] = (struct page_req){ .pid = 4243, .addr = 0x10000, .nr = 1, .buf = buf, .cookie = 4 };
	q[5] = (struct page_req){ .pid = 4242, .addr = 0x10001, .nr = 1, .buf = buf, .cookie = 5 };
	q[6] = (struct page_req){ .pid = 4242, .addr = 0x10000, .nr = 0, .buf = buf, .cookie = 6 };
	cr_assert_eq(page_source_submit(src, &q[0]), 0);
	cr_assert_eq(page_source_reap(src, &got), 1);
	cr_assert_eq(got, &q[0]);
	cr_assert_eq(q[0].err, 0);
	cr_assert_eq(memcmp(buf, data0, 2 * PAGE), 0, "level 0, pages 0-1 of its file");
	cr_assert_eq(memcmp(buf + 2 * PAGE, data1 + PAGE, 3 * PAGE), 0,
		     "level 1, from offset 4096 of its file");
	cr_assert_eq(page_source_reap(src, &got), 0);
	for (int i = 1; i < 7; i++)
		cr_assert_eq(page_source_submit(src, &q[i]), 0);
	for (int i = 1; i < 7; i++) {
		cr_assert_eq(page_source_reap(src, &got), 1);
		cr_assert_eq(got, &q[i], "in submission order");
	}
	cr_assert_eq(page_source_reap(src, &got), 0);
	log_fini();
	cr_assert_eq(q[1].err, -ENOENT, "a PE_LAZY page has no data here");
	cr_assert_eq(q[2].err, -ENOENT, "in no run");
	cr_assert_eq(q[3].err, -EIO, "pages file too short");
	cr_assert_eq(q[4].err, -ENOENT, "unknown pid");
	cr_assert_eq(q[5].err, -EINVAL);
	cr_assert_eq(q[6].err, -EINVAL);
	cr_assert_eq(t_count_lines(logp, "pid 4242: page 0x15000 is not in the dump"), 1);
	cr_assert_eq(t_count_lines(logp, "pid 4242: page 0x16000 is not in the dump"), 1);
	cr_assert_eq(t_count_lines(logp, "pid 4242: cannot read page 0x21000"), 1);
	cr_assert_eq(t_count_lines(logp, "pid 4243 is not in the dump"), 1);
	/* The synchronous reader says which page is missing. */
	cr_assert_eq(page_source_local_read(src, 4242, 0x13000, 4, buf, &miss), -ENOENT);
	cr_assert_eq(miss, 0x15000);
	cr_assert_eq(page_source_local_read(src, 4243, 0x10000, 1, buf, &miss), -ESRCH);
	page_source_destroy(src);
	close(files[0].fd);
	close(files[1].fd);
	free(buf);
	t_rmrf(dir);
	free(dir);
}
