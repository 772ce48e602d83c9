// SPDX-License-Identifier: MIT
/* Helpers shared by the Criterion suites; see helpers.h for what each does. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

const char *t_ferry_bin(void)
{
	const char *b = getenv("FERRY_BIN");

	return b ? b : "build/ferry";
}

const char *t_workload(const char *name)
{
	static __thread char path[PATH_MAX];
	const char *b = getenv("FERRY_BUILD");

	if (name[0] == '/')
		return name; /* a program of the system's (python3, ...) */
	snprintf(path, sizeof(path), "%s/workloads/%s", b ? b : "build", name);
	return path;
}

char *t_tmpdir(void)
{
	char *d = strdup("/tmp/ferry-test-XXXXXX");

	if (d && !mkdtemp(d)) {
		free(d);
		return NULL;
	}
	return d;
}

int t_small_fs(const char *dir, const char *size)
{
	char opts[64];

	snprintf(opts, sizeof(opts), "size=%s", size);
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	return mount("ferry-test", dir, "tmpfs", 0, opts) ? -errno : 0;
}

void t_small_fs_done(const char *dir)
{
	cr_assert_eq(umount2(dir, MNT_DETACH), 0, "umount %s: %s", dir, strerror(errno));
}

void t_rmrf(const char *path)
{
	char cmd[PATH_MAX + 16];

	if (!path || strncmp(path, "/tmp/ferry-test-", 16))
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", path);
}

int t_write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "w");
	size_t n;

	if (!f)
		return -1;
	n = fwrite(buf, 1, len, f);
	if (fclose(f) || n != len)
		return -1;
	return 0;
}

char *t_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (!f)
		return NULL;
	do {
		if (n + 4096 + 1 > cap) {
			char *nb = realloc(buf, cap = cap * 2 + 8192);

			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		r = fread(buf + n, 1, 4096, f);
		n += r;
	} while (r);
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

int t_run(char **out, char **err, const char *fmt, ...)
{
	char cmd[8192], outf[] = "/tmp/ferry-out-XXXXXX", errf[] = "/tmp/ferry-err-XXXXXX";
	char full[8192 + 128];
	va_list ap;
	int fo, fe, st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	fo = mkstemp(outf);
	fe = mkstemp(errf);
	if (fo < 0 || fe < 0)
		return -1;
	close(fo);
	close(fe);
	snprintf(full, sizeof(full), "( %s ) </dev/null >%s 2>%s", cmd, outf, errf);
	st = system(full);
	if (out)
		*out = t_read_file(outf, NULL);
	if (err)
		*err = t_read_file(errf, NULL);
	unlink(outf);
	unlink(errf);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}

pid_t t_spawn(const char *out_path, const char *const argv[])
{
	pid_t pid = fork();

	if (pid == 0) {
		int out = open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int in = open("/dev/null", O_RDONLY);

		if (out < 0 || in < 0)
			_exit(126);
		dup2(in, 0);
		dup2(out, 1);
		dup2(out, 2);
		/* Nothing of the test runner's (Criterion's sockets) leaks into the workload. */
		syscall(SYS_close_range, 3, ~0u, 0);
		setpgid(0, 0);
		execv(t_workload(argv[0]), (char *const *)argv);
		_exit(127);
	}
	return pid;
}

char *t_wait_line(const char *path, const char *needle, int timeout_ms)
{
	for (int waited = 0; waited <= timeout_ms; waited += 10) {
		char *buf = t_read_file(path, NULL), *line, *save = NULL;

		for (line = buf ? strtok_r(buf, "\n", &save) : NULL; line;
		     line = strtok_r(NULL, "\n", &save))
			if (strstr(line, needle)) {
				char *r = strdup(line);

				free(buf);
				return r;
			}
		free(buf);
		usleep(10 * 1000);
	}
	return NULL;
}

pid_t t_spawn_ready(const char *out_path, const char *const argv[], const char *ready,
		    int timeout_ms, char **line)
{
	pid_t pid = t_spawn(out_path, argv);
	char *l;

	cr_assert_gt(pid, 0, "cannot start workload %s", argv[0]);
	l = t_wait_line(out_path, ready, timeout_ms);
	cr_assert_not_null(l, "workload %s (pid %d) never printed '%s'", argv[0], pid, ready);
	if (line)
		*line = l;
	else
		free(l);
	return pid;
}

int t_count_lines(const char *path, const char *needle)
{
	char *buf = t_read_file(path, NULL), *line, *save = NULL;
	int n = 0;

	for (line = buf ? strtok_r(buf, "\n", &save) : NULL; line;
	     line = strtok_r(NULL, "\n", &save))
		if (strstr(line, needle))
			n++;
	free(buf);
	return n;
}

static long t_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

void t_expect_verdict(const char *out_path, pid_t pid, int sig, const char *ok, const char *bad,
		      int timeout_ms)
{
	int before = t_count_lines(out_path, ok), now = before;
	long deadline = t_now_ms() + timeout_ms;
	const char *abbrev = sigabbrev_np(sig);
	char signame[32], *out;

	if (abbrev)
		snprintf(signame, sizeof(signame), "SIG%s", abbrev);
	else
		snprintf(signame, sizeof(signame), "signal %d", sig);
	cr_assert_eq(kill(pid, sig), 0, "pid %d is gone: cannot send %s to ask for '%s'", pid,
		     signame, ok);
	do {
		usleep(10 * 1000);
		now = t_count_lines(out_path, ok);
		if (bad && t_count_lines(out_path, bad)) {
			out = t_read_file(out_path, NULL);
			cr_assert_fail(
				"pid %d has a '%s' line in its output (sent %s, expected '%s'); %s:\n%s",
				pid, bad, signame, ok, out_path, out ? out : "");
		}
	} while (now <= before && t_now_ms() < deadline);
	if (now > before)
		return;
	out = t_read_file(out_path, NULL);
	cr_assert_fail("pid %d printed no new '%s' line within %d ms of %s (state '%c'); %s:\n%s",
		       pid, ok, timeout_ms, signame, t_proc_state(pid) ?: '-', out_path,
		       out ? out : "");
}

long t_proc_field(pid_t pid, const char *key)
{
	char path[64], *buf, *p;
	size_t klen = strlen(key);
	long v = -1;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	buf = t_read_file(path, NULL);
	for (p = buf; p && *p; p = strchr(p, '\n') ? strchr(p, '\n') + 1 : NULL)
		if (!strncmp(p, key, klen) && p[klen] == ':') {
			v = strtol(p + klen + 1, NULL, 10);
			break;
		}
	free(buf);
	return v;
}

char t_proc_state(pid_t pid)
{
	char path[64], *buf, *p, st = 0;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	buf = t_read_file(path, NULL);
	if (buf && (p = strrchr(buf, ')')) && p[1] == ' ')
		st = p[2];
	free(buf);
	return st;
}

void t_kill_wait(pid_t pid)
{
	if (pid <= 0)
		return;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

const char *t_crit(void)
{
	return access("/usr/bin/crit", X_OK) ? NULL : "/usr/bin/python3 /usr/bin/crit";
}

int t_netns_up(struct t_netns *n)
{
	int k = getpid() % 250 + 1;

	snprintf(n->name, sizeof(n->name), "ferry-t-%d", getpid());
	snprintf(n->veth, sizeof(n->veth), "fvt%d", getpid() % 100000);
	/* A subnet no interface here uses (tests run in parallel; leftovers happen). */
	for (int i = 0; i < 250; i++, k = k % 250 + 1)
		if (t_run(NULL, NULL, "ip -o addr | grep -q ' 10\\.77\\.%d\\.'", k))
			break;
	snprintf(n->here, sizeof(n->here), "10.77.%d.1", k);
	snprintf(n->there, sizeof(n->there), "10.77.%d.2", k);
	if (t_run(NULL, NULL, "ip netns add %s", n->name))
		return 1;
	if (t_run(NULL, NULL,
		  "ip link add %s type veth peer name %sp && ip link set %sp netns %s && "
		  "ip addr add %s/24 dev %s && ip link set %s up && "
		  "ip netns exec %s ip addr add %s/24 dev %sp && "
		  "ip netns exec %s ip link set %sp up && ip netns exec %s ip link set lo up",
		  n->veth, n->veth, n->veth, n->name, n->here, n->veth, n->veth, n->name, n->there,
		  n->veth, n->name, n->veth, n->name)) {
		t_netns_down(n);
		return -1;
	}
	return 0;
}

void t_netns_down(struct t_netns *n)
{
	if (n->name[0])
		t_run(NULL, NULL, "ip netns del %s; ip link del %s", n->name, n->veth);
	n->name[0] = 0;
}

pid_t t_page_server(const char *ns, const char *img, const char *addr, const char *secret,
		    const char *out, const char *log, char *host_port, size_t len)
{
	char cmd[2048], *line;
	int port = 0;
	pid_t pid;

	snprintf(cmd, sizeof(cmd),
		 "exec %s%s %s page-server -D %s --address %s --port 0 %s%s -v3 --log-file %s "
		 ">%s 2>&1",
		 ns ? "ip netns exec " : "", ns ? ns : "", t_ferry_bin(), img, addr,
		 secret ? "--secret-file " : "", secret ? secret : "", log, out);
	pid = fork();
	if (pid == 0) {
		setpgid(0, 0);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	if (pid < 0)
		return -1;
	line = t_wait_line(out, "listening on", 10000);
	if (!line || sscanf(strrchr(line, ':') + 1, "%d", &port) != 1) {
		free(line);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	snprintf(host_port, len, "%s:%d", addr, port);
	free(line);
	return pid;
}

void t_child_start(struct t_child *c, void (*setup)(void *out, const void *arg), const void *arg,
		   void *out, size_t len)
{
	int up[2], ctl[2];
	char b;

	cr_assert_eq(pipe(up), 0);
	cr_assert_eq(pipe(ctl), 0);
	c->pid = fork();
	cr_assert_geq(c->pid, 0);
	if (!c->pid) {
		close(up[0]);
		close(ctl[1]);
		setup(out, arg);
		if (write(up[1], out, len) != (ssize_t)len)
			_exit(126);
		while (read(ctl[0], &b, 1) > 0)
			;
		_exit(0);
	}
	close(up[1]);
	close(ctl[0]);
	c->ctl = ctl[1];
	cr_assert_eq(read(up[0], out, len), (ssize_t)len, "child %d did not set up", c->pid);
	close(up[0]);
}

void t_child_reap(struct t_child *c)
{
	int st;

	close(c->ctl);
	cr_assert_eq(waitpid(c->pid, &st, 0), c->pid);
	cr_assert(WIFEXITED(st) && !WEXITSTATUS(st), "child %d status 0x%x", c->pid, st);
}

void t_dirtyrate_vs_log(const char *json, const char *log, unsigned long long pages,
			unsigned long long base, unsigned long long *wrote, unsigned long long *buf,
			unsigned long long *all, int *nr_iv, int *equal)
{
	char *out = NULL, *err = NULL;
	int rc;

	rc = t_run(&out, &err,
		   "python3 -c '"
		   "import array,bisect,json,sys\n"
		   "d=json.load(open(sys.argv[1]))\n"
		   "t=array.array(\"Q\")\n"
		   "t.frombytes(open(sys.argv[2],\"rb\").read())\n"
		   "m=int(sys.argv[3])\n"
		   "iv=d[\"intervals\"]\n"
		   "n=0\n"
		   "for i in iv:\n"
		   "  a=bisect.bisect_right(t,i[\"start_mono_ns\"])\n"
		   "  b=bisect.bisect_right(t,i[\"end_mono_ns\"])\n"
		   "  n+=min(b-a,m)\n"
		   "v=[v for v in d[\"vmas\"] if v[\"start\"]==int(sys.argv[4])]\n"
		   "print(n, v[0][\"scan_pages\"] if v else -1, d[\"summary\"][\"scan_pages\"],"
		   " len(iv), int(all(i[\"equal\"] is not False"
		   " or 0 <= i[\"bpf_ahead\"] <= 1 for i in iv)))'"
		   " %s %s %llu %llu",
		   json, log, pages, base);
	cr_assert_eq(rc, 0, "comparing %s with %s: %s", json, log, err ? err : "");
	cr_assert_eq(sscanf(out, "%llu %llu %llu %d %d", wrote, buf, all, nr_iv, equal), 5,
		     "output: %s", out);
	free(out);
	free(err);
}

void t_serial(const char *name)
{
	char path[128];
	int fd;

	snprintf(path, sizeof(path), "/run/ferry-tests-%s.lock", name);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return; /* not root: the tests that need this skip anyway */
	while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
		;
	/* fd stays open: the lock goes with this test's process. */
}
