// SPDX-License-Identifier: MIT
/*
 * The dirtier workload (the writer the dirtyrate tests measure): its pacing,
 * measured from outside with real signals, and its own memory read back.
 * (Suite dirtyrate_report: its TestSuite is in test_dirtyrate_report.c.)
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dirtyrate_report.h"
#include "helpers.h"

#define S 1000000000ull

/* ---- the dirtier workload ------------------------------------------------ */

struct dirtier {
	pid_t pid;
	int out; /* its stdout */
	uint64_t addr, pages;
	uint64_t t_ready; /* when "ready" was read here */
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * S + (uint64_t)ts.tv_nsec;
}

/* One line from fd (up to len-1 bytes, without the newline), within timeout_ms. */
static int read_line(int fd, char *buf, size_t len, int timeout_ms)
{
	size_t n = 0;
	struct pollfd p = { .fd = fd, .events = POLLIN };

	while (n < len - 1) {
		if (poll(&p, 1, timeout_ms) != 1)
			return -ETIMEDOUT;
		if (read(fd, buf + n, 1) != 1)
			return -EIO;
		if (buf[n] == '\n')
			break;
		n++;
	}
	buf[n] = '\0';
	return 0;
}

static void dirtier_start(struct dirtier *d, const char *const *args)
{
	const char *argv[12] = { "dirtier" };
	char line[128];
	int p[2], i;

	for (i = 0; args[i] && i < 10; i++)
		argv[i + 1] = args[i];
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	d->pid = fork();
	cr_assert_geq(d->pid, 0);
	if (!d->pid) {
		dup2(p[1], 1);
		execv(t_workload("dirtier"), (char *const *)argv);
		_exit(127);
	}
	close(p[1]);
	d->out = p[0];
	cr_assert_eq(read_line(d->out, line, sizeof(line), 10000), 0, "dirtier did not start");
	d->t_ready = now_ns();
	cr_assert_eq(sscanf(line, "ready %lx %lu", &d->addr, &d->pages), 2, "'%s'", line);
}

/* Read "done N" (after "churn R" if @rounds), reap it; returns N. */
static uint64_t dirtier_done(struct dirtier *d, unsigned long *rounds)
{
	char line[128];
	unsigned long long n;
	int st;

	if (rounds) {
		cr_assert_eq(read_line(d->out, line, sizeof(line), 10000), 0);
		cr_assert_eq(sscanf(line, "churn %lu", rounds), 1, "'%s'", line);
	}
	cr_assert_eq(read_line(d->out, line, sizeof(line), 10000), 0, "no done line");
	cr_assert_eq(sscanf(line, "done %llu", &n), 1, "'%s'", line);
	cr_assert_eq(waitpid(d->pid, &st, 0), d->pid);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "dirtier status %#x", st);
	close(d->out);
	return n;
}

/* Run at @rate for ~@ms, SIGTERM it; the writes it made must be within @tolerance of due. */
static void pacing(uint64_t rate, uint64_t ms, double tolerance)
{
	char rs[32];
	const char *args[] = { "--rate", rs, "--pages", "4096", NULL };
	struct dirtier d;
	struct timespec until;
	uint64_t t_kill, n;
	double expect, tolerance_behind = tolerance;

	snprintf(rs, sizeof(rs), "%llu", (unsigned long long)rate);
	dirtier_start(&d, args);
	until.tv_sec = (time_t)((d.t_ready + ms * 1000000) / S);
	until.tv_nsec = (long)((d.t_ready + ms * 1000000) % S);
	clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL);
	cr_assert_eq(kill(d.pid, SIGTERM), 0);
	t_kill = now_ns();
	n = dirtier_done(&d, NULL);
	/* Writes k = 0, 1, ... are due at k / rate: floor(T * rate) + 1 by time T. */
	expect = (double)(t_kill - d.t_ready) * (double)rate / 1e9 + 1;
	/*
	 * One write either way for where the kill falls against the write times.
	 * Never ahead of its schedule; behind it only as far as a busy machine
	 * (other tests, other jobs on these shared cores) held it back: at
	 * 200 000/s a 10 ms time slice lost to others is 2% of a second's writes.
	 */
	if (rate >= 1000 && tolerance < 0.05)
		tolerance_behind = 0.05;
	cr_assert(n + 1 >= (uint64_t)(expect * (1 - tolerance_behind)) &&
			  n <= (uint64_t)(expect * (1 + tolerance)) + 2,
		  "rate %llu: %llu writes in %.4f s, %.0f due (%.3f%% off)",
		  (unsigned long long)rate, (unsigned long long)n,
		  (double)(t_kill - d.t_ready) / 1e9, expect,
		  100.0 * ((double)n - expect) / expect);
}

Test(dirtyrate_report, dirtier_pacing_2000)
{
	pacing(2000, 1000, 0.01);
}

Test(dirtyrate_report, dirtier_pacing_200000)
{
	pacing(200000, 1000, 0.01);
}

Test(dirtyrate_report, dirtier_pacing_10)
{
	/* 1.05 s at 10/s: 11 writes (at 0, 0.1, ... 1.0 s), far from a write time */
	pacing(10, 1050, 0.0);
}

Test(dirtyrate_report, dirtier_duration_exact)
{
	const char *args[] = { "--rate", "2000", "--pages", "4096", "--duration", "1", NULL };
	struct dirtier d;
	uint64_t n, t;

	dirtier_start(&d, args);
	n = dirtier_done(&d, NULL);
	t = now_ns() - d.t_ready;
	cr_assert_eq(n, 2000);
	cr_assert(t >= 990000000 && t < 1300000000, "ran %.3f s for --duration 1", (double)t / 1e9);
}

/* Every write is a change: the per-page counters sum to the writes it reports. */
Test(dirtyrate_report, dirtier_writes_change_pages)
{
	const char *args[] = { "--rate", "5000", "--pages", "1024", NULL };
	struct dirtier d;
	struct iovec local, remote;
	uint64_t *mem, sum = 0, n, i, w;
	unsigned char *b;
	int st;

	if (geteuid())
		cr_skip_test("needs root for process_vm_readv");
	dirtier_start(&d, args);
	usleep(500 * 1000);
	cr_assert_eq(kill(d.pid, SIGSTOP), 0);
	cr_assert_eq(waitpid(d.pid, &st, WUNTRACED), d.pid);
	cr_assert(WIFSTOPPED(st));
	mem = malloc(d.pages * 4096);
	cr_assert_not_null(mem);
	local = (struct iovec){ mem, d.pages * 4096 };
	remote = (struct iovec){ (void *)(uintptr_t)d.addr, d.pages * 4096 };
	cr_assert_eq(process_vm_readv(d.pid, &local, 1, &remote, 1, 0), (ssize_t)(d.pages * 4096));
	for (i = 0; i < d.pages; i++) {
		sum += mem[i * 512];
		b = (unsigned char *)&mem[i * 512];
		/* The rest of the page keeps its fill: a write touches only the counter. */
		for (w = 8; w < 4096 && b[w] == (unsigned char)((i & 0xff) | 1); w++)
			;
		cr_assert_eq(w, 4096, "page %llu byte %llu changed", (unsigned long long)i,
			     (unsigned long long)w);
	}
	/* Written k times each, in order: page i holds ceil((total - i) / pages). */
	cr_assert_geq(mem[0], mem[512 * (d.pages - 1)]);
	cr_assert_leq(mem[0] - mem[512 * (d.pages - 1)], 1);
	/* SIGTERM is pending before it runs again: at most the write it was in finishes. */
	cr_assert_eq(kill(d.pid, SIGTERM), 0);
	cr_assert_eq(kill(d.pid, SIGCONT), 0);
	n = dirtier_done(&d, NULL);
	cr_assert(sum > 2000, "only %llu writes in 0.5 s at 5000/s", (unsigned long long)sum);
	cr_assert(n == sum || n == sum + 1, "done %llu, counters sum to %llu",
		  (unsigned long long)n, (unsigned long long)sum);
	free(mem);
}

static unsigned long minflt(pid_t pid)
{
	char path[64], *s, *p;
	unsigned long v = 0;
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	s = t_read_file(path, NULL);
	cr_assert_not_null(s);
	p = strrchr(s, ')');
	cr_assert_not_null(p);
	/* after "pid (comm)": state is field 3, minflt field 10 */
	for (i = 3, p += 2; i < 10 && p; i++)
		p = strchr(p, ' ') ? strchr(p, ' ') + 1 : NULL;
	cr_assert_not_null(p);
	v = strtoul(p, NULL, 10);
	free(s);
	return v;
}

Test(dirtyrate_report, dirtier_churn)
{
	const char *args[] = { "--rate", "1000", "--pages", "1024", "--churn", NULL };
	struct dirtier d;
	unsigned long rounds, f0, f1;
	uint64_t n, t;

	dirtier_start(&d, args);
	f0 = minflt(d.pid);
	usleep(1050 * 1000);
	f1 = minflt(d.pid);
	cr_assert_eq(kill(d.pid, SIGTERM), 0);
	t = now_ns() - d.t_ready;
	n = dirtier_done(&d, &rounds);
	cr_assert(rounds >= 9 && rounds <= 11, "%lu churn rounds in %.3f s", rounds,
		  (double)t / 1e9);
	/* Each round faults in 4 new pages, 4 grown pages every other round, 4 dropped. */
	cr_assert_geq(f1 - f0, 8 * (rounds - 1), "%lu faults in %lu rounds", f1 - f0, rounds);
	/* The paced writes go on at their rate meanwhile. */
	cr_assert(n >= (double)t / 1e6 * 0.99 && n <= (double)t / 1e6 * 1.01 + 2,
		  "%llu writes in %.3f s at 1000/s", (unsigned long long)n, (double)t / 1e9);
}

Test(dirtyrate_report, dirtier_usage)
{
	char *err = NULL;

	cr_assert_eq(t_run(NULL, &err, "%s --rate 0 --pages 10", t_workload("dirtier")), 2);
	cr_assert(strstr(err, "usage: dirtier"), "%s", err);
	free(err);
	cr_assert_eq(t_run(NULL, NULL, "%s --pages 10", t_workload("dirtier")), 2);
	cr_assert_eq(t_run(NULL, NULL, "%s --rate 10 --pages 10 extra", t_workload("dirtier")), 2);
}
