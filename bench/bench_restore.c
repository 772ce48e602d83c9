// SPDX-License-Identifier: MIT
/*
 * `ferry restore` against the simplest possible restorer, side by side in one
 * run. For each size a memhog workload holding SIZE MiB of patterned memory is
 * dumped once; then, alternating rounds:
 *   (a) `ferry restore -d` brings it back (restore time), then memhog is asked
 *       to check every word of its memory (SIGUSR1) and the clock stops when it
 *       says "verify ok": time until the restored process has touched all its
 *       memory;
 *   (b) a baseline process read(2)s pages-1.img into an anonymous mapping of
 *       the same size (restore time), then reads every word of it (touched).
 * Page cache is warm for both (the same file is read every round).
 * Prints medians and ratios, and ferry's peak RSS.
 *   bench_restore [SIZES_MIB...]     default: 256 1024
 * Needs FERRY_BUILD (scripts/bench.sh sets it) and root.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define ROUNDS 5
#define READ_CHUNK (64u << 20)

static int count_in_file(const char *path, const char *needle)
{
	char buf[65536];
	int fd = open(path, O_RDONLY | O_CLOEXEC), n = 0;
	ssize_t len;

	if (fd < 0)
		return -1;
	len = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (len < 0)
		return -1;
	buf[len] = '\0';
	for (char *p = buf; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* Wait until @path has more than @n lines with @needle; -1 after 60 s. */
static int wait_count(const char *path, const char *needle, int n)
{
	for (int i = 0; i < 600000; i++) {
		if (count_in_file(path, needle) > n)
			return 0;
		usleep(100);
	}
	fprintf(stderr, "bench_restore: no '%s' in %s\n", needle, path);
	return -1;
}

static int run(const char *const argv[], long *maxrss_kib)
{
	struct rusage ru;
	int status;
	pid_t pid = fork();

	if (!pid) {
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "bench_restore: %s %s failed (status %#x)\n", argv[0], argv[1],
			status);
		return -1;
	}
	if (maxrss_kib)
		*maxrss_kib = ru.ru_maxrss;
	return 0;
}

static pid_t start_memhog(unsigned long mib, const char *out)
{
	char path[4096], arg[32];
	pid_t pid = fork();

	if (!pid) {
		int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);

		if (fd < 0)
			_exit(126);
		dup2(fd, 1);
		close(fd);
		setpgid(0, 0);
		snprintf(arg, sizeof(arg), "%lu", mib);
		snprintf(path, sizeof(path), "%s/workloads/memhog", build_dir());
		execl(path, "memhog", arg, "3", (char *)NULL);
		_exit(127);
	}
	return wait_count(out, "ready", 0) ? -1 : pid;
}

static int ferry_round(const char *img, const char *out, pid_t pid, double *restore_s,
		       double *touched_s, long *rss)
{
	char ferry[4096];
	const char *argv[] = { ferry, "restore", "-D", img, "-d", "-v1", NULL };
	int before = count_in_file(out, "verify ok");
	double t0 = now_s();

	snprintf(ferry, sizeof(ferry), "%s/ferry", build_dir());
	if (run(argv, rss))
		return -1;
	*restore_s = now_s() - t0;
	if (kill(pid, SIGUSR1) || wait_count(out, "verify ok", before))
		return -1;
	*touched_s = now_s() - t0;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return 0;
}

/* read(2) pages-1.img into an anonymous mapping, then read every word of it. */
static int baseline_round(const char *img, double *restore_s, double *touched_s)
{
	double t[2];
	int p[2];
	pid_t pid;

	if (pipe(p))
		return -errno;
	pid = fork();
	if (!pid) {
		char path[4300];
		struct stat st;
		volatile uint64_t sink = 0;
		double t0 = now_s();
		uint8_t *m;
		int fd;

		snprintf(path, sizeof(path), "%s/pages-1.img", img);
		fd = open(path, O_RDONLY);
		if (fd < 0 || fstat(fd, &st))
			_exit(1);
		m = mmap(NULL, (size_t)st.st_size, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (m == MAP_FAILED)
			_exit(1);
		for (off_t off = 0; off < st.st_size;) {
			ssize_t n = read(fd, m + off,
					 (size_t)(st.st_size - off) < READ_CHUNK
						 ? (size_t)(st.st_size - off)
						 : READ_CHUNK);

			if (n <= 0)
				_exit(1);
			off += n;
		}
		t[0] = now_s() - t0;
		for (size_t i = 0; i < (size_t)st.st_size / 8; i++)
			sink += ((uint64_t *)m)[i];
		t[1] = now_s() - t0;
		(void)sink;
		_exit(write(p[1], t, sizeof(t)) == sizeof(t) ? 0 : 1);
	}
	close(p[1]);
	if (read(p[0], t, sizeof(t)) != sizeof(t)) {
		close(p[0]);
		waitpid(pid, NULL, 0);
		return -1;
	}
	close(p[0]);
	waitpid(pid, NULL, 0);
	*restore_s = t[0];
	*touched_s = t[1];
	return 0;
}

static int bench_size(unsigned long mib)
{
	double fr[ROUNDS], ft[ROUNDS], br[ROUNDS], bt[ROUNDS], rss[ROUNDS];
	char dir[] = "/var/tmp/ferry-bench-XXXXXX", img[4200], out[4200], ferry[4096], tpid[16],
	     cmd[4300];
	const char *dump_argv[] = { ferry, "dump", "-t", tpid, "-D", img, "-v1", NULL };
	pid_t pid;
	int err = 0;

	if (!mkdtemp(dir))
		return -errno;
	snprintf(img, sizeof(img), "%s/img", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(ferry, sizeof(ferry), "%s/ferry", build_dir());
	pid = start_memhog(mib, out);
	if (pid < 0) {
		err = -1;
	} else {
		snprintf(tpid, sizeof(tpid), "%d", pid);
		err = run(dump_argv, NULL);
		waitpid(pid, NULL, 0);
	}
	for (int r = 0; r < ROUNDS && !err; r++) {
		long kib = 0;

		err = ferry_round(img, out, pid, &fr[r], &ft[r], &kib)
			      ?: baseline_round(img, &br[r], &bt[r]);
		rss[r] = (double)kib;
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "bench_restore: cannot remove %s\n", dir);
	if (err)
		return err;
	{
		double a = median(fr, ROUNDS), b = median(br, ROUNDS);
		double at = median(ft, ROUNDS), bt2 = median(bt, ROUNDS);

		printf("restore %5lu MiB  ferry    median restore %.3f s  touched all %.3f s  peak RSS %.1f MiB\n",
		       mib, a, at, median(rss, ROUNDS) / 1024);
		printf("restore %5lu MiB  baseline median restore %.3f s  touched all %.3f s\n",
		       mib, b, bt2);
		printf("restore %5lu MiB  ferry/baseline ratio: restore %.2f, touched all %.2f (%d rounds, alternating)\n",
		       mib, a / b, at / bt2, ROUNDS);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (geteuid()) {
		fprintf(stderr, "bench_restore: needs root (ptrace, clone3 set_tid)\n");
		return 1;
	}
	/* Restored trees are reparented to us when ferry -d exits. */
	prctl(PR_SET_CHILD_SUBREAPER, 1);
	return bench_sizes(argc, argv, bench_size);
}
