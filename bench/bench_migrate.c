// SPDX-License-Identifier: MIT
/*
 * Live migration (issue 20), side by side in one run. For each size and
 * dirty rate a workload is started fresh for every run: memhog SIZE (0
 * pages/s) or `dirtier --rate R --pages SIZE/4K` (1000, 20000 pages/s).
 * ROUNDS times, six ways of moving it, in an order rotated each round:
 *   precopy     `ferry migrate` to `ferry migrate --incoming` over loopback,
 *               the destination in its own pid and mount namespaces
 *   xbzrle      the same with --xbzrle
 *   lazy        the same, the destination with --lazy-pages
 *   postcopy    the same with --postcopy always (total: until every page is in)
 *   stop-copy   `ferry dump` (the tree frozen, then killed), `cp -a` of the
 *               images to another directory, `ferry restore -d` from there
 *   predump     the CRIU user's script with ferry's commands: two
 *               `ferry pre-dump` rounds, each copied with `cp -a` while the
 *               tree runs, then `ferry dump --prev-images-dir`, its copy, and
 *               `ferry restore -d` from the copied chain
 * Downtime: for ferry migrate its own "downtime_ms" (tree frozen to the
 * destination's verdict), split into the final dump (freezing, then the
 * rest of the dump), sending the final section, and the destination; for the
 * scripts, from the start of the final dump to the return of the restore
 * (so a few ms of process start more). Bytes: the stream's octets (post-copy:
 * plus the pages its page server served) or the images copied (du -b).
 * Medians per way; the last columns are ratios to stop-and-copy.
 *   bench_migrate [SIZES_MIB...]   default 64; BENCH_ROUNDS (default 3),
 *   BENCH_RATES (default "0 1000 20000")
 * Needs root, FERRY_BUILD (scripts/bench.sh sets it), unshare(1).
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"

#define MAX_ROUNDS 9
#define MAX_RATES 4

enum way { W_PRECOPY, W_XBZRLE, W_LAZY, W_POSTCOPY, W_STOPCOPY, W_PREDUMP, NR_WAYS };

static const char *const way_name[NR_WAYS] = { "precopy",  "xbzrle",	"lazy",
					       "postcopy", "stop-copy", "predump" };

/* What one run measured (ms, octets). */
struct run {
	double downtime, total, bytes, freeze, dump, send, dest, rounds;
	int ok;
};

static char tmpl[] = "/tmp/bench-migrate-XXXXXX";
static const char *top;

static char *read_file(const char *path)
{
	FILE *f = fopen(path, "re");
	char *b = NULL;
	size_t cap = 0, len = 0, n;

	if (!f)
		return NULL;
	do {
		if (len + 4096 + 1 > cap) {
			char *nb = realloc(b, cap = (cap ? cap * 2 : 8192));

			if (!nb)
				break;
			b = nb;
		}
		n = fread(b + len, 1, cap - len - 1, f);
		len += n;
	} while (n);
	fclose(f);
	if (b)
		b[len] = 0;
	return b;
}

/* Wait up to @ms for @needle in file @path; 0 if it came. */
static int wait_for(const char *path, const char *needle, int ms)
{
	for (int i = 0; i < ms / 10; i++) {
		char *b = read_file(path);
		int found = b && strstr(b, needle);

		free(b);
		if (found)
			return 0;
		usleep(10000);
	}
	return -ETIMEDOUT;
}

/* sh -c CMD in its own process group, output to @out; its pid. */
static pid_t spawn(const char *out, const char *fmt, ...)
{
	char cmd[4096];
	va_list ap;
	pid_t pid;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	unlink(out); /* no line of an earlier run is read as this one's */
	pid = fork();
	if (pid > 0)
		setpgid(pid, pid); /* both sides: killing the group never races the child */
	if (pid == 0) {
		FILE *f = freopen(out, "w", stdout);

		if (!f || dup2(1, 2) < 0)
			_exit(127);
		setpgid(0, 0);
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* Run CMD to its end with output to @out; 0 if it exited 0. */
static int run_cmd(const char *out, const char *fmt, ...)
{
	char cmd[4096];
	int status = 0;
	va_list ap;
	pid_t pid;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	pid = spawn(out, "%s", cmd);
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return -1;
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static void kill_group(pid_t pg)
{
	if (pg <= 0)
		return;
	kill(-pg, SIGKILL);
	kill(pg, SIGKILL);
	waitpid(pg, NULL, 0);
}

/* Reap whatever was reparented to us (restored trees, daemons). */
static void reap_all(void)
{
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
}

static double json_num(const char *s, const char *key)
{
	char k[64];
	const char *p;

	snprintf(k, sizeof(k), "\"%s\":", key);
	p = s ? strstr(s, k) : NULL;
	return p ? strtod(p + strlen(k), NULL) : 0;
}

static double du_bytes(const char *dir)
{
	char out[600], *b;
	double v = 0;

	snprintf(out, sizeof(out), "%s/du.out", top);
	if (!run_cmd(out, "du -sb %s", dir) && (b = read_file(out))) {
		v = strtod(b, NULL);
		free(b);
	}
	return v;
}

/* The workload of @mib MiB dirtying @rate pages/s; its pid, or -1. */
static pid_t workload(unsigned long mib, unsigned rate, const char *out)
{
	pid_t pid;

	if (rate)
		pid = spawn(out, "exec %s/workloads/dirtier --rate %u --pages %lu --duration 3600",
			    build_dir(), rate, mib * 256);
	else
		pid = spawn(out, "exec %s/workloads/memhog %lu 7", build_dir(), mib);
	if (pid > 0 && wait_for(out, "ready", 20000)) {
		kill_group(pid);
		return -1;
	}
	return pid;
}

/* The end of what the failed commands said. */
static void show_failure(const char *a, const char *b)
{
	const char *f[] = { a, b };

	for (int i = 0; i < 2 && f[i]; i++) {
		char *t = read_file(f[i]);
		size_t n = t ? strlen(t) : 0;

		fprintf(stderr, "bench_migrate: %s ends with:\n%s\n", f[i],
			t ? t + (n > 600 ? n - 600 : 0) : "");
		free(t);
	}
}

static void migrate_run(enum way w, pid_t pid, struct run *r)
{
	char dout[600], mout[600], *line = NULL, *m = NULL, *pi;
	const char *dest_opt = w == W_LAZY ? "--lazy-pages" : "";
	const char *src_opt = w == W_XBZRLE	? "--xbzrle"
			      : w == W_POSTCOPY ? "--postcopy always"
						: "";
	pid_t dest;
	int port = 0;
	double t0;

	snprintf(dout, sizeof(dout), "%s/dest.out", top);
	snprintf(mout, sizeof(mout), "%s/migrate.out", top);
	dest = spawn(dout,
		     "exec unshare -p -f --mount-proc %s/ferry migrate --incoming --address "
		     "127.0.0.1 --port 0 %s --timeout 120",
		     build_dir(), dest_opt);
	if (dest < 0 || wait_for(dout, "listening on", 10000))
		goto out;
	line = read_file(dout);
	if (!line || sscanf(strrchr(strstr(line, "listening on"), ':') + 1, "%d", &port) != 1)
		goto out;
	t0 = now_s();
	if (run_cmd(mout, "%s/ferry migrate -t %d --to 127.0.0.1:%d --json %s", build_dir(), pid,
		    port, src_opt))
		goto out;
	r->total = (now_s() - t0) * 1e3;
	m = read_file(mout);
	r->downtime = json_num(strstr(m, "\"event\":\"done\""), "downtime_ms");
	r->freeze = json_num(strstr(m, "\"event\":\"done\""), "freeze_ms");
	r->dump = json_num(strstr(m, "\"event\":\"done\""), "final_dump_ms");
	r->send = json_num(strstr(m, "\"event\":\"done\""), "final_send_ms");
	r->dest = json_num(strstr(m, "\"event\":\"done\""), "verdict_wait_ms");
	r->rounds = json_num(strstr(m, "\"event\":\"done\""), "rounds");
	r->bytes = json_num(strstr(m, "\"event\":\"done\""), "bytes");
	pi = strstr(m, "\"event\":\"pages_in\"");
	if (pi)
		r->bytes += json_num(pi, "pages_served") * 4096;
	r->ok = r->downtime > 0;
out:
	if (!r->ok)
		show_failure(mout, dout);
	free(line);
	free(m);
	kill_group(dest);
}

static void script_run(enum way w, pid_t pid, struct run *r)
{
	char out[600], src[600], dst[600];
	double t0, t_final, t_dump, t_copy;
	int levels = w == W_PREDUMP ? 3 : 1, err = 0;

	snprintf(out, sizeof(out), "%s/script.out", top);
	snprintf(src, sizeof(src), "%s/src", top);
	snprintf(dst, sizeof(dst), "%s/dst", top);
	if (run_cmd(out, "rm -rf %s %s && mkdir -p %s %s", src, dst, src, dst))
		return;
	t0 = now_s();
	for (int k = 1; k < levels && !err; k++) {
		if (k == 1)
			err = run_cmd(out, "%s/ferry pre-dump -t %d -D %s/1", build_dir(), pid,
				      src);
		else
			err = run_cmd(out,
				      "%s/ferry pre-dump -t %d -D %s/%d --prev-images-dir ../%d",
				      build_dir(), pid, src, k, k - 1);
		err = err || run_cmd(out, "cp -a %s/%d %s/", src, k, dst);
	}
	if (err)
		return;
	t_final = now_s();
	if (levels > 1)
		err = run_cmd(out, "%s/ferry dump -t %d -D %s/%d --prev-images-dir ../%d",
			      build_dir(), pid, src, levels, levels - 1);
	else
		err = run_cmd(out, "%s/ferry dump -t %d -D %s/%d", build_dir(), pid, src, levels);
	t_dump = now_s();
	/* The dump killed the tree: reap it, or its pid stays taken by a zombie. */
	waitpid(pid, NULL, 0);
	err = err || run_cmd(out, "cp -a %s/%d %s/", src, levels, dst);
	t_copy = now_s();
	err = err || run_cmd(out, "%s/ferry restore -D %s/%d -d", build_dir(), dst, levels);
	if (err) {
		show_failure(out, NULL);
		return;
	}
	r->downtime = (now_s() - t_final) * 1e3;
	r->total = (now_s() - t0) * 1e3;
	r->dump = (t_dump - t_final) * 1e3;
	r->send = (t_copy - t_dump) * 1e3;
	r->dest = (now_s() - t_copy) * 1e3;
	r->rounds = levels - 1;
	for (int k = 1; k <= levels; k++) {
		char d[700];

		snprintf(d, sizeof(d), "%s/%d", src, k);
		r->bytes += du_bytes(d);
	}
	r->ok = 1;
}

static void one_run(enum way w, unsigned long mib, unsigned rate, struct run *r)
{
	char wout[600];
	pid_t pid;

	memset(r, 0, sizeof(*r));
	snprintf(wout, sizeof(wout), "%s/w.out", top);
	pid = workload(mib, rate, wout);
	if (pid < 0)
		return;
	if (rate)
		usleep(300000); /* writing at its rate */
	if (w == W_STOPCOPY || w == W_PREDUMP)
		script_run(w, pid, r);
	else
		migrate_run(w, pid, r);
	/* The source is killed by the migration or the dump; the restored copy is ours. */
	kill_group(pid);
	kill(pid, SIGKILL);
	reap_all();
	usleep(100000);
	reap_all();
}

static double med(struct run *v, int n, size_t off, int *ok)
{
	double x[MAX_ROUNDS];
	int k = 0;

	for (int i = 0; i < n; i++)
		if (v[i].ok)
			x[k++] = *(double *)((char *)&v[i] + off);
	*ok = k;
	return k ? median(x, k) : 0;
}

static int one_size(unsigned long mib, const unsigned *rates, int nr_rates, int rounds)
{
	static struct run res[MAX_RATES][NR_WAYS][MAX_ROUNDS];

	for (int ri = 0; ri < nr_rates; ri++) {
		double sc_down, sc_total, sc_bytes;
		int ok;

		for (int k = 0; k < rounds; k++) {
			for (int j = 0; j < NR_WAYS; j++) {
				enum way w = (enum way)((j + k) % NR_WAYS);

				one_run(w, mib, rates[ri], &res[ri][w][k]);
				fprintf(stderr,
					"migrate %lu MiB %u pages/s round %d %s: %s %.1f ms\n", mib,
					rates[ri], k + 1, way_name[w],
					res[ri][w][k].ok ? "downtime" : "FAILED",
					res[ri][w][k].downtime);
			}
		}
		sc_down = med(res[ri][W_STOPCOPY], rounds, offsetof(struct run, downtime), &ok);
		sc_total = med(res[ri][W_STOPCOPY], rounds, offsetof(struct run, total), &ok);
		sc_bytes = med(res[ri][W_STOPCOPY], rounds, offsetof(struct run, bytes), &ok);
		printf("\n%lu MiB, %u pages/s, %d rounds (medians):\n\n", mib, rates[ri], rounds);
		printf("| way | ok | downtime ms | freeze / final dump / send / destination ms | "
		       "total ms | MiB sent | rounds | downtime / stop-copy | total / stop-copy | "
		       "bytes / stop-copy |\n|---|---|---|---|---|---|---|---|---|---|\n");
		for (int w = 0; w < NR_WAYS; w++) {
			struct run *v = res[ri][w];
			double d = med(v, rounds, offsetof(struct run, downtime), &ok);
			double t = med(v, rounds, offsetof(struct run, total), &ok);
			double b = med(v, rounds, offsetof(struct run, bytes), &ok);

			printf("| %s | %d/%d | %.1f | %.1f / %.1f / %.1f / %.1f | %.1f | %.1f | %.0f | "
			       "%.2f | %.2f | %.2f |\n",
			       way_name[w], ok, rounds, d,
			       med(v, rounds, offsetof(struct run, freeze), &ok),
			       med(v, rounds, offsetof(struct run, dump), &ok),
			       med(v, rounds, offsetof(struct run, send), &ok),
			       med(v, rounds, offsetof(struct run, dest), &ok), t, b / 1048576.0,
			       med(v, rounds, offsetof(struct run, rounds), &ok),
			       sc_down > 0 ? d / sc_down : 0, sc_total > 0 ? t / sc_total : 0,
			       sc_bytes > 0 ? b / sc_bytes : 0);
		}
	}
	return 0;
}

int main(int argc, char **argv)
{
	unsigned rates[MAX_RATES] = { 0, 1000, 20000 };
	int nr_rates = 3, rounds = getenv("BENCH_ROUNDS") ? atoi(getenv("BENCH_ROUNDS")) : 3;
	const char *re = getenv("BENCH_RATES");
	sigset_t held;
	int err = 0;

	if (geteuid()) {
		fprintf(stderr, "bench_migrate: needs root (ptrace, userfaultfd, namespaces)\n");
		return 1;
	}
	if (rounds < 1)
		rounds = 1;
	if (rounds > MAX_ROUNDS)
		rounds = MAX_ROUNDS;
	if (re) {
		char *end;

		nr_rates = 0;
		for (const char *p = re; *p && nr_rates < MAX_RATES; p = end) {
			unsigned long v = strtoul(p, &end, 10);

			if (end == p)
				break;
			rates[nr_rates++] = (unsigned)v;
		}
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (prctl(PR_SET_CHILD_SUBREAPER, 1)) {
		perror("bench_migrate: PR_SET_CHILD_SUBREAPER");
		return 1;
	}
	bench_hold_signals(&held);
	top = mkdtemp(tmpl);
	if (!top) {
		perror("bench_migrate: mkdtemp");
		return 1;
	}
	printf("live migration: precopy, xbzrle, lazy, postcopy (ferry migrate over loopback, the "
	       "destination in its own pid namespace) vs stop-copy (dump, cp, restore) vs predump "
	       "(2 pre-dumps + dump, each copied, restore); fresh workload per run, rotated order\n");
	if (argc > 1) {
		for (int i = 1; i < argc && !err; i++)
			err = one_size(strtoul(argv[i], NULL, 10), rates, nr_rates, rounds);
	} else {
		err = one_size(64, rates, nr_rates, rounds);
	}
	run_cmd("/dev/null", "rm -rf %s", top);
	return err ? 1 : 0;
}
