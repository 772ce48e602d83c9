// SPDX-License-Identifier: MIT
/*
 * Lazy restore (issue 6), side by side in one run. For each size a memhog
 * holding SIZE MiB of patterned memory is dumped once; then, ROUNDS times,
 * five restores of the same images, in an order rotated each round:
 *   eager         `ferry restore -D DIR -d`
 *   lazy local    the same with --lazy-pages (pages from DIR's pages-*.img)
 *   lazy remote   --lazy-pages --page-server 127.0.0.1:PORT, from a copy of
 *                 DIR without pages-*.img; `ferry page-server -D DIR --port 0`
 *                 is started before the clock starts
 *   faults local, faults remote
 *                 the two lazy ones with --prefetch-delay 600000: no page
 *                 comes in the background, every page memhog reads is a fault
 * Each: the clock starts, `ferry restore` runs until it returns (time to
 * resume), memhog gets SIGUSR1 at once and checks every word of its memory;
 * the clock stops at its "verify ok" (time until it has read all its
 * memory). Then memhog is killed, and it, the lazy-pages daemon and the page
 * server are reaped (the bench is a child subreaper). The daemon's summary
 * line gives fault counts, fault service p50/p99 and its peak RSS; wait4()
 * gives the page server's ru_maxrss.
 *   bench_lazy [SIZES_MIB...]     default: 64 1024; BENCH_ROUNDS (default 5)
 * A size is skipped when MemAvailable cannot hold the workload and its image
 * in the page cache. Needs FERRY_BUILD (scripts/bench.sh sets it) and root.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_util.h"

#define LOG_PREFIX "bench_lazy: "
#include "log.h"

#define DEF_ROUNDS 5
#define MAX_ROUNDS 50
#define MAX_SIZES 4
#define SEED "3"
#define FAULT_DELAY_MS "600000" /* holds the background back for the whole run */
#define WAIT_MS 120000		/* for "verify ok" and the daemon's summary */
#define LISTEN_MS 10000		/* for the page server's "listening on" */
#define REAP_S 30.0		/* then what is left is killed */
#define MARGIN_MIB 256		/* free memory asked beyond workload + page cache */
#define SUMMARY_KEY " pages filled in "

enum run_kind { RUN_EAGER, RUN_LOCAL, RUN_REMOTE, RUN_FLOCAL, RUN_FREMOTE, NR_RUNS };

static const char *const run_name[NR_RUNS] = { "eager", "lazy local", "lazy remote", "faults local",
					       "faults remote" };

/* The numbers of the lazy-pages daemon's summary line. */
struct lz_sum {
	unsigned long filled, total, ms, faults, fault_pages, bg, ws, zero, eager, p50, p99;
	long rss_kib;
};

struct run_res {
	double resume_s, touched_s;
	long restore_rss_kib; /* ferry restore's ru_maxrss */
	long server_rss_kib;  /* the page server's ru_maxrss (remote runs) */
	struct lz_sum sum;    /* lazy runs */
};

struct size_res {
	unsigned long mib;
	int rounds;
	const char *skipped; /* why, or NULL */
	struct run_res r[NR_RUNS][MAX_ROUNDS];
};

struct ctx {
	unsigned long mib;
	char dir[64];
	char img[128], rimg[128], out[128], log[128], psout[128], pslog[128], ferry[4096];
	pid_t pid; /* the dumped pid, which every restore brings back */
};

static sigset_t held;
static struct size_res results[MAX_SIZES];

/* -EINTR if SIGINT, SIGTERM or SIGHUP is pending (they are held). */
static int interrupted(void)
{
	int s = bench_held_pending(&held);

	if (s)
		pr_err("pid %d: interrupted by signal %d; cleaning up", getpid(), s);
	return s ? -EINTR : 0;
}

/* Whole file @path into *@buf (NUL-terminated, to free). */
static int read_text(const char *path, char **buf)
{
	size_t len = 0, cap = 65536;
	char *b = malloc(cap);
	int fd, err = 0;

	if (!b)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			char *nb = realloc(b, cap * 2);

			if (!nb) {
				err = -ENOMEM;
				break;
			}
			b = nb;
			cap *= 2;
		}
		n = read(fd, b + len, cap - len - 1);
		if (n < 0) {
			err = -errno;
			break;
		}
		if (!n)
			break;
		len += (size_t)n;
	}
	close(fd);
out:
	if (err) {
		free(b);
		return err;
	}
	b[len] = '\0';
	*buf = b;
	return 0;
}

/* Lines of @path with @needle, or -errno. */
static int count_in_file(const char *path, const char *needle)
{
	char *buf, *p;
	int n = 0, err = read_text(path, &buf);

	if (err)
		return err;
	for (p = buf; (p = strstr(p, needle)); p++)
		n++;
	free(buf);
	return n;
}

/* An empty file at @path (an inotify watch needs it to exist). */
static int truncate_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0) {
		pr_perror("cannot create %s", path);
		return -errno;
	}
	close(fd);
	return 0;
}

/*
 * Wait until @path has more than @n occurrences of @needle; woken by inotify
 * when the file is written, so no polling skews the clock. -EIO if memhog
 * says "BAD" (@bad), -ETIMEDOUT after @ms.
 */
static int wait_for(const char *path, const char *needle, int n, int ms, int bad)
{
	double end = now_s() + ms / 1000.0;
	int ino, err = 0;

	ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (ino < 0) {
		err = -errno;
		pr_perror("inotify_init1 for %s", path);
		return err;
	}
	if (inotify_add_watch(ino, path, IN_MODIFY) < 0) {
		err = -errno;
		pr_perror("cannot watch %s", path);
		goto out;
	}
	for (;;) {
		struct pollfd pfd = { .fd = ino, .events = POLLIN };
		char ev[4096];
		double left = end - now_s();
		int c = count_in_file(path, needle);

		if (c < 0) {
			err = c;
			pr_errno(err, "cannot read %s", path);
			break;
		}
		if (c > n)
			break;
		if (bad && count_in_file(path, "BAD") > 0) {
			err = -EIO;
			pr_err("%s: the restored memhog found its memory wrong", path);
			break;
		}
		if (left <= 0) {
			err = -ETIMEDOUT;
			pr_err("%s: no '%s' (more than %d) after %d ms", path, needle, n, ms);
			break;
		}
		if (poll(&pfd, 1, (int)(left * 1000) + 1) < 0 && errno != EINTR) {
			err = -errno;
			pr_perror("poll on the watch of %s", path);
			break;
		}
		while (read(ino, ev, sizeof(ev)) > 0)
			;
	}
out:
	close(ino);
	return err;
}

/* Parent pid of @pid from /proc, or -errno. */
static pid_t ppid_of(pid_t pid)
{
	char path[64], *buf, *p;
	int err, ppid = -ESRCH;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	err = read_text(path, &buf);
	if (err)
		return err;
	p = strrchr(buf, ')');
	if (!p || sscanf(p, ") %*c %d", &ppid) != 1)
		ppid = -EINVAL;
	free(buf);
	return ppid;
}

/* SIGKILL every child of ours still there (restored trees, daemons, servers). */
static void kill_children(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	if (!d) {
		pr_perror("cannot open /proc to find children left behind");
		return;
	}
	while ((e = readdir(d))) {
		pid_t pid = (pid_t)atoi(e->d_name);

		if (pid > 0 && ppid_of(pid) == getpid()) {
			pr_warn("pid %d: a child of ours left behind; killing it", pid);
			kill(pid, SIGKILL);
		}
	}
	closedir(d);
}

/*
 * Reap every child: the restored memhog (killed by the caller), the daemon,
 * the page server @ps (its ru_maxrss into @ps_rss). Anything still there
 * after REAP_S is killed. A daemon or server that did not exit 0 is an error.
 */
static int reap_all(pid_t memhog, pid_t ps, long *ps_rss)
{
	double end = now_s() + REAP_S;
	int err = 0, killed = 0;

	for (;;) {
		struct rusage ru;
		int st;
		pid_t p = wait4(-1, &st, WNOHANG, &ru);

		if (p > 0) {
			if (p == ps && ps_rss)
				*ps_rss = ru.ru_maxrss;
			if (p != memhog && (!WIFEXITED(st) || WEXITSTATUS(st))) {
				pr_err("pid %d (%s) ended with status %#x", p,
				       p == ps ? "page server" : "lazy-pages daemon", st);
				err = err ?: -EIO;
			}
			continue;
		}
		if (p < 0 && errno == ECHILD)
			break;
		if (p < 0 && errno != EINTR) {
			err = -errno;
			pr_perror("wait4");
			break;
		}
		if (!killed && now_s() > end) {
			kill_children();
			killed = 1;
			err = err ?: -ETIMEDOUT;
		}
		usleep(1000);
	}
	return err;
}

/* fork + exec @argv (a path), stdout to @out if not NULL (appended). */
static pid_t spawn(const char *const argv[], const char *out, int own_pgrp)
{
	pid_t pid = fork();

	if (pid < 0) {
		pr_perror("cannot fork for %s", argv[0]);
		return -errno;
	}
	if (!pid) {
		sigprocmask(SIG_UNBLOCK, &held, NULL);
		if (out) {
			int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);

			if (fd < 0 || dup2(fd, 1) < 0)
				_exit(126);
			close(fd);
		}
		if (own_pgrp)
			setpgid(0, 0);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* Run @argv to its end; it must exit 0. Its ru_maxrss into @rss (may be NULL). */
static int run(const char *const argv[], long *rss)
{
	struct rusage ru;
	int st;
	pid_t pid = spawn(argv, NULL, 0);

	if (pid < 0)
		return pid;
	while (wait4(pid, &st, 0, &ru) < 0) {
		if (errno != EINTR) {
			pr_perror("wait4 for pid %d (%s %s)", pid, argv[0], argv[1]);
			return -errno;
		}
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		pr_err("pid %d: %s %s failed (status %#x)", pid, argv[0], argv[1], st);
		return -EIO;
	}
	if (rss)
		*rss = ru.ru_maxrss;
	return 0;
}

/* Print the log of a failed restore to stderr. */
static void show_log(const char *path)
{
	char *buf;

	if (read_text(path, &buf))
		return;
	fprintf(stderr, "--- %s ---\n%s--- end of %s ---\n", path, buf, path);
	free(buf);
}

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
	err = truncate_file(c->out);
	if (err)
		return err;
	pid = spawn(mh_argv, c->out, 1);
	if (pid < 0)
		return pid;
	err = wait_for(c->out, "ready", 0, WAIT_MS, 0);
	if (!err) {
		snprintf(tpid, sizeof(tpid), "%d", pid);
		err = run(dump_argv, NULL);
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
	err = truncate_file(c->psout);
	if (err)
		return err;
	*ps = spawn(argv, c->psout, 0);
	if (*ps < 0)
		return *ps;
	err = wait_for(c->psout, "listening on ", 0, LISTEN_MS, 0) ?: read_text(c->psout, &buf);
	if (!err) {
		p = strstr(buf, "listening on ") + strlen("listening on ");
		if (sscanf(p, "%63s", addr) != 1)
			err = -EINVAL;
	}
	if (err) {
		pr_err("pid %d: the page server on %s did not start", *ps, c->img);
		show_log(c->pslog);
	}
	free(buf);
	return err;
}

/* The daemon's summary line in c->log. */
static int parse_summary(struct ctx *c, struct lz_sum *s)
{
	char *buf, *p, word[16];
	int err = read_text(c->log, &buf);

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
		show_log(c->log);
	free(buf);
	return err;
}

/* Is @pid (the restored memhog) our child? */
static int ours(pid_t pid)
{
	return ppid_of(pid) == getpid();
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
	err = truncate_file(c->log);
	if (!err && remote)
		err = start_server(c, &ps, addr);
	before = count_in_file(c->out, "verify ok");
	if (!err && before < 0)
		err = before;
	if (err)
		goto out;

	t0 = now_s();
	err = run(argv, &res->restore_rss_kib);
	if (err) {
		pr_err("%lu MiB %s: restore of pid %d from %s failed", c->mib, run_name[k], c->pid,
		       argv[3]);
		show_log(c->log);
		goto out;
	}
	res->resume_s = now_s() - t0;
	if (kill(c->pid, SIGUSR1)) {
		err = -errno;
		pr_perror("pid %d: cannot send SIGUSR1 to the restored memhog", c->pid);
		goto out;
	}
	err = wait_for(c->out, "verify ok", before, WAIT_MS, 1);
	if (err)
		goto out;
	res->touched_s = now_s() - t0;
	/* Without the delay every page is in soon: let the daemon end on its own. */
	if (lazy && !faults)
		err = wait_for(c->log, SUMMARY_KEY, 0, WAIT_MS, 0);
out:
	if (ours(c->pid))
		kill(c->pid, SIGKILL);
	rerr = reap_all(c->pid, ps, &res->server_rss_kib);
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

	if (read_text("/proc/meminfo", &buf))
		return 0;
	p = strstr(buf, "MemAvailable:");
	if (p)
		kib = strtoul(p + strlen("MemAvailable:"), NULL, 10);
	free(buf);
	return kib >> 10;
}

static int rounds_env(void)
{
	const char *e = getenv("BENCH_ROUNDS");
	int n = e ? atoi(e) : DEF_ROUNDS;

	if (n < 1)
		n = 1;
	return n > MAX_ROUNDS ? MAX_ROUNDS : n;
}

static int bench_size(struct size_res *sr)
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

			err = interrupted() ?: one_run(&c, k, &sr->r[k][r]);
		}
	}
out:
	if (err) {
		kill_children();
		reap_all(c.pid, -1, NULL);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", c.dir);
	if (system(cmd))
		pr_err("cannot remove %s", c.dir);
	return err;
}

/* ---- the table ---------------------------------------------------------- */

enum field {
	F_RESUME,
	F_TOUCHED,
	F_VERIFY,
	F_FAULTS,
	F_P50,
	F_P99,
	F_FILL_MS,
	F_DRSS,
	F_SRSS,
	F_RRSS
};

static double field(const struct run_res *r, enum field f)
{
	switch (f) {
	case F_RESUME:
		return r->resume_s;
	case F_TOUCHED:
		return r->touched_s;
	case F_VERIFY:
		return r->touched_s - r->resume_s;
	case F_FAULTS:
		return (double)r->sum.faults;
	case F_P50:
		return (double)r->sum.p50;
	case F_P99:
		return (double)r->sum.p99;
	case F_FILL_MS:
		return (double)r->sum.ms;
	case F_DRSS:
		return (double)r->sum.rss_kib / 1024;
	case F_SRSS:
		return (double)r->server_rss_kib / 1024;
	case F_RRSS:
		return (double)r->restore_rss_kib / 1024;
	}
	return 0;
}

/* Median (or with @max, the largest) of @f over the rounds of run kind @k. */
static double agg(const struct size_res *s, enum run_kind k, enum field f, int max)
{
	double v[MAX_ROUNDS], m = 0;

	for (int i = 0; i < s->rounds; i++) {
		v[i] = field(&s->r[k][i], f);
		if (v[i] > m)
			m = v[i];
	}
	return max ? m : median(v, s->rounds);
}

/* The largest of @f over the kinds in @kinds (NR_RUNS-terminated). */
static double max_of(const struct size_res *s, const enum run_kind *kinds, enum field f)
{
	double m = 0;

	for (; *kinds != NR_RUNS; kinds++) {
		double v = agg(s, *kinds, f, 1);

		if (v > m)
			m = v;
	}
	return m;
}

/* One row: @label, then @v per size in format @fmt; with @growth, last/first. */
static void row(const char *label, const char *fmt, const double *v, int n, int growth)
{
	char cell[64];
	int first = -1, last = -1;

	printf("  %-40s", label);
	for (int i = 0; i < n; i++) {
		if (results[i].skipped) {
			printf(" %14s", "skipped");
			continue;
		}
		snprintf(cell, sizeof(cell), fmt, v[i]);
		printf(" %14s", cell);
		if (first < 0)
			first = i;
		last = i;
	}
	if (growth && first >= 0 && last > first && v[first] > 0)
		printf("   x%.2f", v[last] / v[first]);
	printf("\n");
}

#define ROW(label, fmt, growth, expr)                            \
	do {                                                     \
		double v_[MAX_SIZES] = { 0 };                    \
		for (int i_ = 0; i_ < n; i_++) {                 \
			const struct size_res *s = &results[i_]; \
			if (!s->skipped)                         \
				v_[i_] = (expr);                 \
		}                                                \
		row(label, fmt, v_, n, growth);                  \
	} while (0)

static void print_table(int n)
{
	static const enum run_kind lazy_kinds[] = { RUN_LOCAL, RUN_REMOTE, RUN_FLOCAL, RUN_FREMOTE,
						    NR_RUNS };
	static const enum run_kind remote_kinds[] = { RUN_REMOTE, RUN_FREMOTE, NR_RUNS };
	char hdr[32];

	printf("\nlazy restore, medians of the rounds (modes rotated within each round)\n");
	printf("  %-40s", "");
	for (int i = 0; i < n; i++) {
		snprintf(hdr, sizeof(hdr), "%lu MiB (%d)", results[i].mib, results[i].rounds);
		printf(" %14s", hdr);
	}
	printf("   %s\n", n > 1 ? "last/first" : "");

	printf(" 1. time to resume (restore -d returns)\n");
	ROW("eager", "%.3f s", 1, agg(s, RUN_EAGER, F_RESUME, 0));
	ROW("lazy local", "%.3f s", 1, agg(s, RUN_LOCAL, F_RESUME, 0));
	ROW("lazy remote", "%.3f s", 1, agg(s, RUN_REMOTE, F_RESUME, 0));
	ROW("lazy local / eager", "%.2f", 0,
	    agg(s, RUN_LOCAL, F_RESUME, 0) / agg(s, RUN_EAGER, F_RESUME, 0));
	ROW("lazy remote / eager", "%.2f", 0,
	    agg(s, RUN_REMOTE, F_RESUME, 0) / agg(s, RUN_EAGER, F_RESUME, 0));
	printf(" 2. restore start to \"verify ok\" (all memory read)\n");
	ROW("eager", "%.3f s", 1, agg(s, RUN_EAGER, F_TOUCHED, 0));
	ROW("lazy local", "%.3f s", 1, agg(s, RUN_LOCAL, F_TOUCHED, 0));
	ROW("lazy remote", "%.3f s", 1, agg(s, RUN_REMOTE, F_TOUCHED, 0));
	ROW("lazy local / eager", "%.2f", 0,
	    agg(s, RUN_LOCAL, F_TOUCHED, 0) / agg(s, RUN_EAGER, F_TOUCHED, 0));
	ROW("lazy remote / eager", "%.2f", 0,
	    agg(s, RUN_REMOTE, F_TOUCHED, 0) / agg(s, RUN_EAGER, F_TOUCHED, 0));
	ROW("verify pass alone, eager (memory in)", "%.3f s", 1, agg(s, RUN_EAGER, F_VERIFY, 0));
	ROW("lazy local: faults", "%.0f", 0, agg(s, RUN_LOCAL, F_FAULTS, 0));
	ROW("lazy local: all pages in after resume", "%.0f ms", 1, agg(s, RUN_LOCAL, F_FILL_MS, 0));
	ROW("lazy remote: faults", "%.0f", 0, agg(s, RUN_REMOTE, F_FAULTS, 0));
	ROW("lazy remote: all pages in after resume", "%.0f ms", 1,
	    agg(s, RUN_REMOTE, F_FILL_MS, 0));
	printf(" 3. fault service, --prefetch-delay " FAULT_DELAY_MS " (every read faults)\n");
	for (enum run_kind k = RUN_FLOCAL; k <= RUN_FREMOTE; k++) {
		const char *w = k == RUN_FLOCAL ? "local" : "remote";
		char l[64];

		snprintf(l, sizeof(l), "%s: faults", w);
		ROW(l, "%.0f", 1, agg(s, k, F_FAULTS, 0));
		snprintf(l, sizeof(l), "%s: fault service p50 (daemon)", w);
		ROW(l, "%.0f us", 0, agg(s, k, F_P50, 0));
		snprintf(l, sizeof(l), "%s: fault service p99 (daemon)", w);
		ROW(l, "%.0f us", 0, agg(s, k, F_P99, 0));
		snprintf(l, sizeof(l), "%s: verify pass", w);
		ROW(l, "%.3f s", 1, agg(s, k, F_VERIFY, 0));
		snprintf(l, sizeof(l), "%s: verify pass / faults", w);
		ROW(l, "%.1f us", 0, agg(s, k, F_VERIFY, 0) * 1e6 / agg(s, k, F_FAULTS, 0));
		snprintf(l, sizeof(l), "%s: (verify - eager verify) / faults", w);
		ROW(l, "%.1f us", 0,
		    (agg(s, k, F_VERIFY, 0) - agg(s, RUN_EAGER, F_VERIFY, 0)) * 1e6 /
			    agg(s, k, F_FAULTS, 0));
	}
	printf(" 4. peak RSS (median; max over all runs)\n");
	ROW("lazy-pages daemon, local", "%.1f MiB", 1, agg(s, RUN_LOCAL, F_DRSS, 0));
	ROW("lazy-pages daemon, remote", "%.1f MiB", 1, agg(s, RUN_REMOTE, F_DRSS, 0));
	ROW("lazy-pages daemon, max of all lazy runs", "%.1f MiB", 1,
	    max_of(s, lazy_kinds, F_DRSS));
	ROW("page server (ru_maxrss)", "%.1f MiB", 1, agg(s, RUN_REMOTE, F_SRSS, 0));
	ROW("page server, max of all remote runs", "%.1f MiB", 1, max_of(s, remote_kinds, F_SRSS));
	ROW("ferry restore, eager (ru_maxrss)", "%.1f MiB", 1, agg(s, RUN_EAGER, F_RRSS, 0));
	ROW("ferry restore, lazy local (ru_maxrss)", "%.1f MiB", 1, agg(s, RUN_LOCAL, F_RRSS, 0));
}

int main(int argc, char **argv)
{
	static const unsigned long def[] = { 64, 1024 };
	int n = 0, rounds = rounds_env(), err = 0;

	if (geteuid()) {
		fprintf(stderr, "bench_lazy: needs root (ptrace, userfaultfd, clone3 set_tid)\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Restored trees and the daemon are reparented to us when ferry -d exits. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1)) {
		pr_perror("cannot become a child subreaper");
		return 1;
	}
	bench_hold_signals(&held);

	for (int i = 1; i < argc && n < MAX_SIZES; i++)
		results[n++].mib = strtoul(argv[i], NULL, 10);
	for (size_t i = 0; !n && i < sizeof(def) / sizeof(def[0]); i++)
		results[i].mib = def[i];
	if (!n)
		n = (int)(sizeof(def) / sizeof(def[0]));
	printf("lazy restore: %d round(s) per size; per round, in rotated order: eager, lazy local, "
	       "lazy remote (127.0.0.1), faults local, faults remote\n",
	       rounds);
	for (int i = 0; i < n && !err; i++) {
		results[i].rounds = rounds;
		err = bench_size(&results[i]);
		if (!err && !results[i].skipped)
			printf("lazy %5lu MiB  done: eager resume %.3f s, lazy local %.3f s, lazy "
			       "remote %.3f s (medians)\n",
			       results[i].mib, agg(&results[i], RUN_EAGER, F_RESUME, 0),
			       agg(&results[i], RUN_LOCAL, F_RESUME, 0),
			       agg(&results[i], RUN_REMOTE, F_RESUME, 0));
	}
	if (!err)
		print_table(n);
	return err ? 1 : 0;
}
