// SPDX-License-Identifier: MIT
/*
 * `ferry dump` end to end against the simplest possible dumper, side by side
 * in one run: for each size, a memhog workload holds SIZE MiB of patterned
 * memory and, alternating rounds, (a) `ferry dump --leave-running` writes its
 * images and (b) a baseline process copies the same mapping with
 * process_vm_readv, 1 MiB at a time, and write(2)s it to a file of the same
 * kind, then fdatasync()s it. Prints medians: wall time, throughput, ferry's
 * frozen time (from stats-dump) and the peak RSS of each (ru_maxrss of the
 * process that did the work, read with wait4).
 *   bench_dump [SIZES_MIB... | family | crowd]     default: 256 1024 crowd
 * "family" dumps a tree of three small processes (selftests/workloads/family)
 * instead: no baseline there, what counts is the frozen time per process.
 * "crowd" dumps one process with 40000 VMAs, 301 threads and 6250 fds
 * (selftests/workloads/crowd): the frozen time per VMA, thread and fd.
 * With FERRY_BASE_BIN=/path/to/another/ferry, that binary is run too, in
 * alternating order with the one under test, and reported as "base": a
 * side-by-side of two versions on the same workload.
 * Needs FERRY_BUILD (scripts/bench.sh sets it) and root.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define LOG_PREFIX "bench: "
#include "img.h"
#include "log.h"
#include "stats.pb-c.h"

#define ROUNDS 5
#define CHUNK (1u << 20)

struct sample {
	double secs;
	double frozen_ms;
	long maxrss_kib;
};

/* Start memhog SIZE; returns its pid and the address of its mapping. */
static pid_t start_memhog(unsigned long mib, uint64_t *base)
{
	char path[4096], line[256];
	int p[2];
	FILE *f;
	pid_t pid;

	if (pipe(p))
		exit(1);
	pid = fork();
	if (!pid) {
		char arg[32];

		dup2(p[1], 1);
		close(p[0]);
		snprintf(arg, sizeof(arg), "%lu", mib);
		snprintf(path, sizeof(path), "%s/workloads/memhog", build_dir());
		execl(path, "memhog", arg, "3", (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	f = fdopen(p[0], "r");
	if (!f || !fgets(line, sizeof(line), f) || !strstr(line, "base") ||
	    sscanf(strstr(line, "base"), "base %lx", base) != 1) {
		fprintf(stderr, "bench_dump: memhog did not start\n");
		exit(1);
	}
	fclose(f);
	return pid;
}

static void rm_images(const char *dir)
{
	char cmd[4300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		fprintf(stderr, "bench_dump: cannot remove %s\n", dir);
}

static double read_frozen_ms(const char *dir)
{
	ProtobufCMessage *m;
	struct img *img;
	double ms = -1;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);

	if (dfd < 0)
		return -1;
	if (!img_open(&img, dfd, "stats-dump", IMG_STATS)) {
		if (img_read_entry(img, &m) == 1) {
			StatsEntry *s = (StatsEntry *)m;

			if (s->dump)
				ms = s->dump->frozen_time / 1000.0;
			protobuf_c_message_free_unpacked(m, NULL);
		}
		img_close(img);
	}
	close(dfd);
	return ms;
}

/* Run a child to completion and take its time and peak RSS. */
static int wait_child(pid_t pid, double t0, struct sample *s)
{
	struct rusage ru;
	int status;

	if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
		fprintf(stderr, "bench_dump: child %d failed (status %#x)\n", pid, status);
		return -1;
	}
	s->secs = now_s() - t0;
	s->maxrss_kib = ru.ru_maxrss;
	return 0;
}

/* The ferry under test (@base 0) or FERRY_BASE_BIN (@base 1). */
static int run_ferry_bin(pid_t target, const char *dir, struct sample *s, int base)
{
	char ferry[4096], tpid[16];
	double t0 = now_s();
	pid_t pid = fork();

	if (!pid) {
		if (base)
			snprintf(ferry, sizeof(ferry), "%s", getenv("FERRY_BASE_BIN"));
		else
			snprintf(ferry, sizeof(ferry), "%s/ferry", build_dir());
		snprintf(tpid, sizeof(tpid), "%d", target);
		execl(ferry, "ferry", "dump", "-t", tpid, "-D", dir, "--leave-running", "-v1",
		      (char *)NULL);
		_exit(127);
	}
	if (wait_child(pid, t0, s))
		return -1;
	s->frozen_ms = read_frozen_ms(dir);
	return 0;
}

static int run_ferry(pid_t target, const char *dir, struct sample *s)
{
	return run_ferry_bin(target, dir, s, 0);
}

static int have_base(void)
{
	const char *b = getenv("FERRY_BASE_BIN");

	return b && *b;
}

/*
 * Round @r of the two ferries on @target (base only with FERRY_BASE_BIN), in
 * alternating order; the images go to @img and are removed after each run.
 */
static int run_pair(pid_t target, const char *img, int r, struct sample *a, struct sample *b)
{
	int err = 0;

	for (int k = 0; k < 2 && !err; k++) {
		int base = (k + r) % 2;

		if (base && !have_base())
			continue;
		err = run_ferry_bin(target, img, base ? b : a, base);
		rm_images(img);
	}
	return err;
}

static void print_ferry(const char *what, const char *who, double *secs, double *frozen,
			double *rss)
{
	printf("dump %-9s %-8s median %.3f s  frozen %6.1f ms  peak RSS %.1f MiB\n", what, who,
	       median(secs, ROUNDS), median(frozen, ROUNDS), median(rss, ROUNDS) / 1024);
}

static int run_baseline(pid_t target, uint64_t base, size_t size, const char *dir, struct sample *s)
{
	double t0 = now_s();
	pid_t pid = fork();

	if (!pid) {
		char path[4300];
		char *buf = malloc(CHUNK);
		int fd;

		snprintf(path, sizeof(path), "%s/baseline.img", dir);
		if (mkdir(dir, 0700) && errno != EEXIST)
			_exit(1);
		fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd < 0 || !buf)
			_exit(1);
		for (size_t off = 0; off < size; off += CHUNK) {
			struct iovec l = { buf, CHUNK }, r = { (void *)(base + off), CHUNK };

			if (process_vm_readv(target, &l, 1, &r, 1, 0) != CHUNK ||
			    write(fd, buf, CHUNK) != CHUNK)
				_exit(1);
		}
		_exit(fdatasync(fd) ? 1 : 0);
	}
	s->frozen_ms = -1;
	return wait_child(pid, t0, s);
}

static int bench_size(unsigned long mib)
{
	double fs[ROUNDS], ff[ROUNDS], fr[ROUNDS], bs[ROUNDS], br[ROUNDS];
	char dir[] = "/var/tmp/ferry-bench-XXXXXX", img[4200];
	size_t size = (size_t)mib << 20;
	uint64_t base;
	pid_t target;
	int err = 0;

	if (!mkdtemp(dir))
		return -errno;
	snprintf(img, sizeof(img), "%s/img", dir);
	double xs[ROUNDS], xf[ROUNDS], xr[ROUNDS];

	target = start_memhog(mib, &base);
	for (int r = 0; r < ROUNDS && !err; r++) {
		struct sample a, b, x = { 0 };

		err = have_base() ? run_pair(target, img, r, &a, &x) : run_ferry(target, img, &a);
		if (!err)
			err = run_baseline(target, base, size, img, &b);
		rm_images(img);
		fs[r] = a.secs, ff[r] = a.frozen_ms, fr[r] = (double)a.maxrss_kib;
		bs[r] = b.secs, br[r] = (double)b.maxrss_kib;
		xs[r] = x.secs, xf[r] = x.frozen_ms, xr[r] = (double)x.maxrss_kib;
	}
	kill(target, SIGKILL);
	waitpid(target, NULL, 0);
	rm_images(dir);
	if (err)
		return err;
	{
		double f = median(fs, ROUNDS), b = median(bs, ROUNDS);

		printf("dump %5lu MiB  ferry    median %.3f s  %7.0f MiB/s  frozen %.0f ms  peak RSS %.1f MiB\n",
		       mib, f, (double)mib / f, median(ff, ROUNDS), median(fr, ROUNDS) / 1024);
		printf("dump %5lu MiB  baseline median %.3f s  %7.0f MiB/s                peak RSS %.1f MiB\n",
		       mib, b, (double)mib / b, median(br, ROUNDS) / 1024);
		printf("dump %5lu MiB  ferry/baseline time ratio %.2f (%d rounds, alternating)\n",
		       mib, f / b, ROUNDS);
		if (have_base()) {
			char what[32];

			snprintf(what, sizeof(what), "%lu MiB", mib);
			print_ferry(what, "base", xs, xf, xr);
		}
	}
	return 0;
}

/*
 * Start workload @argv (argv[0] names it in build/workloads) and read its
 * first line into @line: family and crowd say their pids there.
 */
static pid_t start_named(char *const argv[], char *line, size_t size)
{
	char path[4096];
	int p[2];
	FILE *f;
	pid_t pid;

	if (pipe(p))
		return -errno;
	pid = fork();
	if (!pid) {
		dup2(p[1], 1);
		close(p[0]);
		close(p[1]);
		snprintf(path, sizeof(path), "%s/workloads/%s", build_dir(), argv[0]);
		execv(path, argv);
		_exit(127);
	}
	close(p[1]);
	f = fdopen(p[0], "r");
	if (!f || !fgets(line, (int)size, f)) {
		fprintf(stderr, "bench_dump: %s did not start\n", argv[0]);
		if (f)
			fclose(f);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -EIO;
	}
	fclose(f);
	return pid;
}

/*
 * A tree of small processes dumped --leave-running, ferry (and the base
 * binary) alternating: the frozen time is the fixed costs, per process
 * (family) or per VMA, thread and fd (crowd).
 */
static int bench_tree(const char *what, pid_t root, const char *about)
{
	double fs[ROUNDS], ff[ROUNDS], fr[ROUNDS], xs[ROUNDS], xf[ROUNDS], xr[ROUNDS];
	char dir[] = "/var/tmp/ferry-bench-XXXXXX", img[4200];
	int err = 0;

	if (!mkdtemp(dir))
		return -errno;
	snprintf(img, sizeof(img), "%s/img", dir);
	for (int r = 0; r < ROUNDS && !err; r++) {
		struct sample a, x = { 0 };

		err = run_pair(root, img, r, &a, &x);
		fs[r] = a.secs, ff[r] = a.frozen_ms, fr[r] = (double)a.maxrss_kib;
		xs[r] = x.secs, xf[r] = x.frozen_ms, xr[r] = (double)x.maxrss_kib;
	}
	rm_images(dir);
	if (err)
		return err;
	print_ferry(what, "ferry", fs, ff, fr);
	if (have_base())
		print_ferry(what, "base", xs, xf, xr);
	printf("dump %-9s %s, --leave-running (%d rounds, alternating)\n", what, about, ROUNDS);
	return 0;
}

/* family: a parent, a pipe reader and a busy child. */
static int bench_family(void)
{
	char *argv[] = { "family", NULL }, line[256];
	pid_t pids[3], pid;
	int err;

	pid = start_named(argv, line, sizeof(line));
	if (pid < 0)
		return (int)pid;
	if (sscanf(line, "family: parent %d reader %d busy %d", &pids[0], &pids[1], &pids[2]) !=
	    3) {
		fprintf(stderr, "bench_dump: family said '%s'\n", line);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -EIO;
	}
	err = bench_tree("family", pids[0], "3 processes");
	for (int i = 2; i >= 0; i--)
		kill(pids[i], SIGKILL);
	waitpid(pids[0], NULL, 0);
	return err;
}

/* crowd: one process with 40000 VMAs, 301 threads and 6250 fds. */
static int bench_crowd(void)
{
	char *argv[] = { "crowd", "20000", "300", "5000", NULL }, line[256];
	pid_t pid;
	int err;

	pid = start_named(argv, line, sizeof(line));
	if (pid < 0)
		return (int)pid;
	err = bench_tree("crowd", pid, "40000 VMAs, 301 threads, 6250 fds (5000 on one inode)");
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return err;
}

int main(int argc, char **argv)
{
	if (geteuid()) {
		fprintf(stderr, "bench_dump: needs root (ptrace, BPF)\n");
		return 1;
	}
	if (argc < 2)
		return bench_sizes(argc, argv, bench_size) || bench_crowd() ? 1 : 0;
	/* Sizes, "family" and "crowd", in the order given. */
	for (int k = 1; k < argc; k++)
		if (!strcmp(argv[k], "family")	? bench_family()
		    : !strcmp(argv[k], "crowd") ? bench_crowd()
						: bench_size(strtoul(argv[k], NULL, 10)))
			return 1;
	return 0;
}
