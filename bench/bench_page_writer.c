// SPDX-License-Identifier: MIT
/*
 * bench_page_writer - the page writer against a plain copy loop.
 *
 * usage: bench_page_writer [SIZES [REPS]]   (defaults: "256 1024" MiB, 5 reps)
 *
 * For each size a child process fills that many MiB with a pattern and
 * waits. Then, REPS times, interleaved (the order alternates per rep):
 *   writer:    mem_scan_range + page_writer (the file reserved for the pages
 *              found, as a dump does; process_vm_readv into registered
 *              buffers, io_uring fixed writes, O_DIRECT: the default) into a
 *              fresh temp dir, commit;
 *   writer_pc: the same with PAGE_WRITER_BUFFERED (through the page cache);
 *   baseline:  process_vm_readv 1 MiB at a time + write(2) into a raw file of
 *              the same kind, fdatasync, rename.
 * Each measurement runs in its own forked process, so its peak RSS (ru_maxrss
 * from wait4) is its own. Output: one plain-text line per size and variant,
 * median and min seconds, MiB/s at the median, the writer/baseline time ratio,
 * and the highest peak RSS over the reps. Temporary files are removed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mem_scan.h"
#include "page_writer.h"
#include "util.h"

#define MIB (1ul << 20)
#define MAX_SIZES 16
#define MAX_REPS 101

enum { V_WRITER, V_WRITER_BUF, V_BASELINE, NR_VARIANTS };
static const char *const variant_name[NR_VARIANTS] = { "writer", "writer_pc", "baseline" };

struct target {
	pid_t pid;
	int ctl; /* closing it lets the child exit */
	uint64_t base;
	size_t len;
};

static char tmpdir[] = "/tmp/ferry-bench-XXXXXX";
static int have_tmpdir;

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int start_target(struct target *t, size_t mib)
{
	int up[2], ctl[2];
	uint64_t base = 0;
	char b;

	if (pipe(up) || pipe(ctl)) {
		perror("pipe");
		return -1;
	}
	t->len = mib * MIB;
	t->pid = fork();
	if (t->pid < 0) {
		perror("fork");
		return -1;
	}
	if (!t->pid) {
		uint64_t *p, i;

		close(up[0]);
		close(ctl[1]);
		p = mmap(NULL, t->len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			_exit(1);
		for (i = 0; i < t->len / 8; i++)
			p[i] = ((uintptr_t)&p[i]) ^ 0x9e3779b97f4a7c15ull;
		base = (uintptr_t)p;
		if (write(up[1], &base, sizeof(base)) != sizeof(base))
			_exit(1);
		while (read(ctl[0], &b, 1) > 0)
			;
		_exit(0);
	}
	close(up[1]);
	close(ctl[0]);
	t->ctl = ctl[1];
	if (read(up[0], &base, sizeof(base)) != sizeof(base)) {
		fprintf(stderr, "target %d did not start\n", t->pid);
		close(up[0]);
		return -1;
	}
	close(up[0]);
	t->base = base;
	return 0;
}

static void stop_target(struct target *t)
{
	close(t->ctl);
	waitpid(t->pid, NULL, 0);
}

/* Remove what a measurement left in the temp dir (the cwd; all of it is ours). */
static void clean_tmpdir(void)
{
	struct dirent *de;
	DIR *d = opendir(".");

	if (!d)
		return;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			unlinkat(dirfd(d), de->d_name, 0);
	/* Let the journal commit the deletes (and discard) now, not in the next run. */
	syncfs(dirfd(d));
	closedir(d);
}

static int run_writer(const struct target *t, int dirfd, unsigned flags)
{
	struct page_writer_opts opts = { .flags = flags };
	struct page_run *runs = NULL;
	struct page_writer *pw = NULL;
	size_t nr = 0, cap = 0, i;
	uint64_t pages = 0;
	char path[64];
	int pm, err;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", t->pid);
	pm = open(path, O_RDONLY | O_CLOEXEC);
	if (pm < 0)
		return -errno;
	err = mem_scan_range(pm, t->base, t->base + t->len, MEM_SCAN_ANON, &runs, &nr, &cap);
	close(pm);
	if (err)
		goto out;
	err = page_writer_open(&pw, dirfd, t->pid, 1, &opts);
	if (err)
		goto out;
	for (i = 0; i < nr; i++)
		pages += runs[i].nr_pages;
	err = page_writer_reserve(pw, pages); /* as a dump does */
	for (i = 0; i < nr && !err; i++)
		err = page_writer_add(pw, runs[i].start, runs[i].nr_pages);
	if (err)
		page_writer_abort(pw);
	else
		err = page_writer_commit(pw, NULL);
out:
	free(runs);
	return err;
}

static int run_baseline(const struct target *t, int dirfd)
{
	struct iovec local, remote;
	uint64_t off;
	uint8_t *buf;
	ssize_t n;
	int fd, err = 0;

	buf = malloc(MIB);
	if (!buf)
		return -ENOMEM;
	fd = openat(dirfd, "pages-1.img.tmp", O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	for (off = 0; off < t->len && !err; off += MIB) {
		local.iov_base = buf;
		local.iov_len = MIB;
		remote.iov_base = (void *)(uintptr_t)(t->base + off);
		remote.iov_len = MIB;
		n = process_vm_readv(t->pid, &local, 1, &remote, 1, 0);
		if (n != (ssize_t)MIB)
			err = n < 0 ? -errno : -EIO;
		else
			err = write_full(fd, buf, MIB);
	}
	if (!err && fdatasync(fd))
		err = -errno;
	if (close(fd) && !err)
		err = -errno;
	if (!err && renameat(dirfd, "pages-1.img.tmp", dirfd, "pages-1.img"))
		err = -errno;
out:
	free(buf);
	return err;
}

/*
 * One measurement in a forked process: seconds through a pipe, peak RSS from
 * wait4. Returns 0 or -1.
 */
static int measure(const struct target *t, int variant, double *secs, long *rss_kib)
{
	struct rusage ru;
	uint64_t ns = 0;
	int p[2], st;
	pid_t pid;

	if (pipe(p))
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		uint64_t t0;
		int dirfd, err;

		close(p[0]);
		dirfd = open(".", O_RDONLY | O_DIRECTORY);
		t0 = now_ns();
		if (variant == V_BASELINE)
			err = run_baseline(t, dirfd);
		else
			err = run_writer(t, dirfd, variant == V_WRITER ? 0 : PAGE_WRITER_BUFFERED);
		ns = now_ns() - t0;
		clean_tmpdir();
		if (err) {
			fprintf(stderr, "%s on pid %d: %s\n", variant_name[variant], t->pid,
				strerror(-err));
			_exit(1);
		}
		if (write(p[1], &ns, sizeof(ns)) != sizeof(ns))
			_exit(1);
		_exit(0);
	}
	close(p[1]);
	if (read(p[0], &ns, sizeof(ns)) != sizeof(ns))
		ns = 0;
	close(p[0]);
	if (wait4(pid, &st, 0, &ru) != pid || !WIFEXITED(st) || WEXITSTATUS(st) || !ns)
		return -1;
	*secs = ns / 1e9;
	*rss_kib = ru.ru_maxrss;
	return 0;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void cleanup(void)
{
	if (have_tmpdir) {
		clean_tmpdir();
		if (chdir("/") == 0)
			rmdir(tmpdir);
	}
}

int main(int argc, char **argv)
{
	const char *sizes_arg = argc > 1 ? argv[1] : "256 1024";
	double secs[NR_VARIANTS][MAX_REPS], med[NR_VARIANTS], min[NR_VARIANTS];
	long rss[NR_VARIANTS], r;
	size_t sizes[MAX_SIZES];
	int nsizes = 0, reps = argc > 2 ? atoi(argv[2]) : 5, s, i, v, k;
	char *copy, *tok, *save = NULL;
	struct target t;

	if (argc > 3 || reps < 1 || reps > MAX_REPS) {
		fprintf(stderr, "usage: %s [\"SIZE_MiB ...\" [REPS (1-%d)]]\n", argv[0], MAX_REPS);
		return 2;
	}
	copy = strdup(sizes_arg);
	for (tok = strtok_r(copy, " ,", &save); tok && nsizes < MAX_SIZES;
	     tok = strtok_r(NULL, " ,", &save)) {
		long mib = atol(tok);

		if (mib <= 0) {
			fprintf(stderr, "bad size '%s'\n", tok);
			return 2;
		}
		sizes[nsizes++] = (size_t)mib;
	}
	free(copy);
	if (!mkdtemp(tmpdir) || chdir(tmpdir)) {
		perror("temp dir");
		return 1;
	}
	have_tmpdir = 1;
	atexit(cleanup);

	printf("# bench_page_writer: %d reps per size, interleaved; files in %s\n", reps, tmpdir);
	printf("# writer: mem_scan + page_writer (%u x %u KiB io_uring buffers, O_DIRECT); "
	       "writer_pc: the same through the page cache;\n"
	       "# baseline: process_vm_readv 1 MiB + write(2); all end with fdatasync\n",
	       PAGE_WRITER_NR_BUFS, PAGE_WRITER_BUF_SIZE >> 10);
	printf("# %8s %-9s %9s %9s %9s %7s %12s\n", "size_MiB", "variant", "median_s", "min_s",
	       "MiB/s", "ratio", "peak_rss_KiB");
	for (s = 0; s < nsizes; s++) {
		if (start_target(&t, sizes[s]))
			return 1;
		memset(rss, 0, sizeof(rss));
		for (i = 0; i < reps; i++) {
			for (k = 0; k < NR_VARIANTS; k++) {
				v = (i + k) % NR_VARIANTS; /* rotate who goes first */
				if (measure(&t, v, &secs[v][i], &r)) {
					fprintf(stderr, "%s, %zu MiB, rep %d failed\n",
						variant_name[v], sizes[s], i + 1);
					stop_target(&t);
					return 1;
				}
				if (r > rss[v])
					rss[v] = r;
			}
		}
		stop_target(&t);
		for (v = 0; v < NR_VARIANTS; v++) {
			med[v] = median(secs[v], reps);
			min[v] = secs[v][0];
		}
		for (v = 0; v < NR_VARIANTS; v++)
			printf("  %8zu %-9s %9.4f %9.4f %9.1f %7.2f %12ld\n", sizes[s],
			       variant_name[v], med[v], min[v], sizes[s] / med[v],
			       med[v] / med[V_BASELINE], rss[v]);
		fflush(stdout);
	}
	return 0;
}
