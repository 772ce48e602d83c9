// SPDX-License-Identifier: MIT
/*
 * bench_lazy: the images dumped once, and the restores of each kind, timed.
 * (bench/bench_lazy.c says what it measures.)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_PREFIX "bench_lazy: "
#include "log.h"

#include "../bench_util.h"
#include "lazy.h"

static const char *const run_name[NR_RUNS] = { "eager", "lazy local", "lazy remote", "faults local",
					       "faults remote" };

/* Copy DIR's images but the pages files into @dst: the pages must come from the server. */
static int copy_without_pages(const char *src, const char *dst)
{
	char from[4096], to[4096], buf[65536];
	struct dirent *e;
	DIR *d;
	int err = 0;

	if (mkdir(dst, 0700)) {
		pr_perror("cannot create %s", dst);
		return -errno;
	}
	d = opendir(src);
	if (!d) {
		pr_perror("cannot open %s", src);
		return -errno;
	}
	while (!err && (e = readdir(d))) {
		int in = -1, out = -1;
		ssize_t n;

		if (e->d_name[0] == '.' || !strncmp(e->d_name, "pages-", 6))
			continue;
		snprintf(from, sizeof(from), "%s/%s", src, e->d_name);
		snprintf(to, sizeof(to), "%s/%s", dst, e->d_name);
		in = open(from, O_RDONLY | O_CLOEXEC);
		if (in >= 0)
			out = open(to, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
		if (in < 0 || out < 0) {
			err = -errno;
			pr_perror("cannot copy %s to %s", from, to);
		}
		while (!err && (n = read(in, buf, sizeof(buf))) > 0) {
			if (write(out, buf, (size_t)n) != n)
				err = -EIO;
		}
		if (!err && n < 0)
			err = -errno;
		if (err)
			pr_errno(err, "cannot copy %s to %s", from, to);
		if (in >= 0)
			close(in);
		if (out >= 0)
			close(out);
	}
	closedir(d);
	return err;
}

/* Read the pages files once: every mode then starts from a warm page cache. */
static int warm_pages(const char *img)
{
	static char buf[1 << 20];
	char path[4096];
	struct dirent *e;
	DIR *d = opendir(img);
	int err = 0;

	if (!d) {
		pr_perror("cannot open %s", img);
		return -errno;
	}
	while (!err && (e = readdir(d))) {
		int fd;

		if (strncmp(e->d_name, "pages-", 6))
			continue;
		snprintf(path, sizeof(path), "%s/%s", img, e->d_name);
		fd = open(path, O_RDONLY | O_CLOEXEC);
		if (fd < 0) {
			err = -errno;
			pr_perror("cannot open %s", path);
			break;
		}
		while (read(fd, buf, sizeof(buf)) > 0)
			;
		close(fd);
	}
	closedir(d);
	return err;
}

/* memhog SIZE, dumped once into c->img (it dies); then the remote copy, warm cache. */
static int dump_once(struct ctx *c)
{
	char wl[4200], arg[32], tpid[16];
	const char *mh_argv[] = { wl, arg, SEED, NULL };
	const char *dump_argv[] = { c->ferry, "dump", "-t", tpid, "-D", c->img, "-v1", NULL };
	pid_t pid;
	int err;

	snprintf(wl, sizeof(wl), "%s/workloads/memhog", build_dir());
	snprintf(arg, sizeof(arg), "%lu", c->mib);
	err = bl_truncate_file(c->out);
	if (err)
		return err;
	pid = bl_spawn(mh_argv, c->out, 1);
	if (pid < 0)
		return pid;
	err = bl_wait_for(c->out, "ready", 0, WAIT_MS, 0);
	if (!err) {
		snprintf(tpid, sizeof(tpid), "%d", pid);
		err = bl_run(dump_argv, NULL);
	}
	if (err)
		kill(pid, SIGKILL);
	/* The restores bring this pid back: it must be gone first. */
	waitpid(pid, NULL, 0);
	c->pid = pid;
	if (!err)
		err = copy_without_pages(c->img, c->rimg);
	if (!err)
		err = warm_pages(c->img);
	return err;
}

/* `ferry page-server -D c->img --port 0`; its "ADDR:PORT" into @addr. */
static int start_server(struct ctx *c, pid_t *ps, char addr[64])
{
	const char *argv[] = { c->ferry, "page-server", "-D",	      "-",	"--port",
			       "0",	 "-v1",		"--log-file", c->pslog, NULL };
	char *buf = NULL, *p;
	int err;

	argv[3] = c->img;
	err = bl_truncate_file(c->psout);
	if (err)
		return err;
	*ps = bl_spawn(argv, c->psout, 0);
	if (*ps < 0)
		return *ps;
	err = bl_wait_for(c->psout, "listening on ", 0, LISTEN_MS, 0)
		      ?: bl_read_text(c->psout, &buf);
	if (!err) {
		p = strstr(buf, "listening on ") + strlen("listening on ");
		if (sscanf(p, "%63s", addr) != 1)
			err = -EINVAL;
	}
	if (err) {
		pr_err("pid %d: the page server on %s did not start", *ps, c->img);
		bl_show_log(c->pslog);
	}
	free(buf);
	return err;
}

/* The daemon's summary line in c->log. */
static int parse_summary(struct ctx *c, struct lz_sum *s)
{
	char *buf, *p, word[16];
	int err = bl_read_text(c->log, &buf);

	if (err) {
		pr_errno(err, "cannot read %s", c->log);
		return err;
	}
	p = strstr(buf, SUMMARY_KEY);
	while (p && p > buf && p[-1] != '\n')
		p--;
	p = p ? strstr(p, "lazy-pages: ") : NULL;
	if (!p || sscanf(p,
			 "lazy-pages: %15[a-z]: %lu of %lu pages filled in %lu ms after resume: "
			 "%lu fault(s) (%lu pages), %lu pages in the background, %lu from the "
			 "working set, %lu zero pages (and %lu pages written before resume that "
			 "are not lazy); fault service p50 %lu us, p99 %lu us; peak RSS %ld KiB",
			 word, &s->filled, &s->total, &s->ms, &s->faults, &s->fault_pages, &s->bg,
			 &s->ws, &s->zero, &s->eager, &s->p50, &s->p99, &s->rss_kib) != 13) {
		pr_err("%s: no summary line of the lazy-pages daemon", c->log);
		err = -EBADMSG;
	} else if (strcmp(word, "done")) {
		pr_err("%s: the lazy-pages daemon says '%s'", c->log, word);
		err = -EIO;
	}
	if (err)
		bl_show_log(c->log);
	free(buf);
	return err;
}

/* Is @pid (the restored memhog) our child? */
static int ours(pid_t pid)
{
	return bl_ppid_of(pid) == getpid();
}

/* One restore of kind @k, timed; everything reaped before it returns. */
static int one_run(struct ctx *c, enum run_kind k, struct run_res *res)
{
	int lazy = k != RUN_EAGER, remote = k == RUN_REMOTE || k == RUN_FREMOTE;
	int faults = k == RUN_FLOCAL || k == RUN_FREMOTE;
	const char *argv[16] = { c->ferry, "restore", "-D",	    remote ? c->rimg : c->img,
				 "-d",	   "-v1",     "--log-file", c->log };
	char addr[64] = "";
	int n = 8, before, err, rerr;
	pid_t ps = -1;
	double t0;

	memset(res, 0, sizeof(*res));
	if (lazy)
		argv[n++] = "--lazy-pages";
	if (remote) {
		argv[n++] = "--page-server";
		argv[n++] = addr;
	}
	if (faults) {
		argv[n++] = "--prefetch-delay";
		argv[n++] = FAULT_DELAY_MS;
	}
	argv[n] = NULL;
	err = bl_truncate_file(c->log);
	if (!err && remote)
		err = start_server(c, &ps, addr);
	before = bl_count_in_file(c->out, "verify ok");
	if (!err && before < 0)
		err = before;
	if (err)
		goto out;

	t0 = now_s();
	err = bl_run(argv, &res->restore_rss_kib);
	if (err) {
		pr_err("%lu MiB %s: restore of pid %d from %s failed", c->mib, run_name[k], c->pid,
		       argv[3]);
		bl_show_log(c->log);
		goto out;
	}
	res->resume_s = now_s() - t0;
	if (kill(c->pid, SIGUSR1)) {
		err = -errno;
		pr_perror("pid %d: cannot send SIGUSR1 to the restored memhog", c->pid);
		goto out;
	}
	err = bl_wait_for(c->out, "verify ok", before, WAIT_MS, 1);
	if (err)
		goto out;
	res->touched_s = now_s() - t0;
	/* Without the delay every page is in soon: let the daemon end on its own. */
	if (lazy && !faults)
		err = bl_wait_for(c->log, SUMMARY_KEY, 0, WAIT_MS, 0);
out:
	if (ours(c->pid))
		kill(c->pid, SIGKILL);
	rerr = bl_reap_all(c->pid, ps, &res->server_rss_kib);
	err = err ?: rerr;
	if (!err && lazy)
		err = parse_summary(c, &res->sum);
	if (err)
		pr_err("%lu MiB %s: run failed", c->mib, run_name[k]);
	return err;
}

static unsigned long mem_available_mib(void)
{
	unsigned long kib = 0;
	char *buf, *p;

	if (bl_read_text("/proc/meminfo", &buf))
		return 0;
	p = strstr(buf, "MemAvailable:");
	if (p)
		kib = strtoul(p + strlen("MemAvailable:"), NULL, 10);
	free(buf);
	return kib >> 10;
}

int bl_rounds_env(void)
{
	const char *e = getenv("BENCH_ROUNDS");
	int n = e ? atoi(e) : DEF_ROUNDS;

	if (n < 1)
		n = 1;
	return n > MAX_ROUNDS ? MAX_ROUNDS : n;
}

int bench_size(struct size_res *sr)
{
	static char why[160];
	struct ctx c = { .mib = sr->mib };
	unsigned long avail = mem_available_mib(), need = 2 * sr->mib + MARGIN_MIB;
	struct statvfs vfs;
	char cmd[200];
	int err = 0;

	if (avail < need) {
		snprintf(why, sizeof(why),
			 "MemAvailable %lu MiB < %lu MiB (workload + image in page cache + %d)",
			 avail, need, MARGIN_MIB);
		sr->skipped = why;
		printf("lazy %5lu MiB  skipped: %s\n", sr->mib, why);
		return 0;
	}
	snprintf(c.dir, sizeof(c.dir), "/var/tmp/ferry-bench-lazy-XXXXXX");
	if (!mkdtemp(c.dir)) {
		pr_perror("cannot create a directory in /var/tmp");
		return -errno;
	}
	if (!statvfs(c.dir, &vfs) && (unsigned long long)vfs.f_bavail * vfs.f_frsize <
					     ((unsigned long long)sr->mib + 64) << 20) {
		snprintf(why, sizeof(why), "too little space on /var/tmp for the image");
		sr->skipped = why;
		printf("lazy %5lu MiB  skipped: %s\n", sr->mib, why);
		goto out;
	}
	snprintf(c.img, sizeof(c.img), "%s/img", c.dir);
	snprintf(c.rimg, sizeof(c.rimg), "%s/img-remote", c.dir);
	snprintf(c.out, sizeof(c.out), "%s/out", c.dir);
	snprintf(c.log, sizeof(c.log), "%s/restore.log", c.dir);
	snprintf(c.psout, sizeof(c.psout), "%s/ps.out", c.dir);
	snprintf(c.pslog, sizeof(c.pslog), "%s/ps.log", c.dir);
	snprintf(c.ferry, sizeof(c.ferry), "%s/ferry", build_dir());

	err = dump_once(&c);
	for (int r = 0; r < sr->rounds && !err; r++) {
		for (int j = 0; j < NR_RUNS && !err; j++) {
			enum run_kind k = (enum run_kind)((r + j) % NR_RUNS);

			err = bl_interrupted() ?: one_run(&c, k, &sr->r[k][r]);
		}
	}
out:
	if (err) {
		bl_kill_children();
		bl_reap_all(c.pid, -1, NULL);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c.dir);
	if (system(cmd))
		pr_err("cannot remove %s", c.dir);
	return err;
}
