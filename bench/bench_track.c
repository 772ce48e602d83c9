// SPDX-License-Identifier: MIT
/*
 * Dirty-page tracking (issue 5), side by side in one run:
 *
 * 1. Cost of one dirty scan at 1% dirty. A memhog holds SIZE MiB; tracking is
 *    armed on it (freeze, tracker_arm, release); then, SCAN_ROUNDS times, the
 *    bench writes one byte into 1 page in 100 of the mapping with
 *    process_vm_writev (through the same write-protect faults as the
 *    target's own writes), freezes it, and times tracker_round() and, in
 *    alternating order, a read of /proc/PID/pagemap over the same range
 *    (8 bytes per page, pread in 2 MiB chunks: how soft-dirty users find
 *    dirty pages). The rounds run in a child process, whose ru_maxrss is
 *    the peak RSS of a tracker doing rounds.
 * 2. Slowdown of a write-heavy workload: a child writes one byte to each page
 *    of a 256 MiB buffer in sequence, as fast as it can, and publishes its
 *    page count in shared memory. Alternating, LOAD_ROUNDS times, ~1 s each:
 *    tracking off; off but frozen and released every 100 ms (the cost of the
 *    freeze alone); on, with a frozen round every 100 ms; the same without
 *    BPF. Also an estimate of the cost of one write fault to the writer.
 * 3. Pages written by a second pre-dump: `ferry pre-dump` of a dirtier
 *    writing 10000 pages/s, then again 1 s later with --prev-images-dir;
 *    pages written, wall and frozen time (stats-dump) and ferry's peak RSS
 *    (wait4) of each round, for a 64 MiB and a 1 GiB dirtier.
 * 4. Memory: kernel memory of the BPF maps (dirty_bpf_mem) of a tracker
 *    armed with the default map sizes and with small ones, and the peak
 *    RSS figures of parts 1 and 3 in one table.
 * 5. What tracking costs the processes that are not tracked: getppid() and
 *    page faults of this process with 0, 1 and 8 idle processes tracked.
 *    BENCH_TRACK_ONLY=cross runs this part alone.
 *
 *   bench_track [SIZES_MIB...]     part 1 sizes, default: 256 1024
 * Needs FERRY_BUILD (scripts/bench.sh sets it), the workloads, and root.
 * Tracking is stopped and every child killed on every path; SIGINT, SIGTERM
 * and SIGHUP are held and end the run cleanly between two steps.
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
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define LOG_PREFIX "bench_track: "
#include "img.h"
#include "log.h"
#include "pstree.h"
#include "stats.pb-c.h"
#include "tracker.h"
#include "util.h"

#define PAGE 4096UL
#define PM_CHUNK (2UL << 20)	/* pagemap bytes per pread */
#define DIRTY_STRIDE 100	/* 1 page in 100: 1% */
#define IOV_BATCH 1024		/* IOV_MAX */
#define SCAN_ROUNDS 9		/* part 1 */
#define LOAD_MIB 256		/* part 2 buffer */
#define LOAD_ROUNDS 5		/* part 2, per variant */
#define LOAD_TICKS 10		/* part 2: rounds of 100 ms per phase */
#define TICK_NS 100000000ULL	/* 100 ms */
#define PD_REPS 3		/* part 3 */
#define PD_RATE 10000		/* part 3: dirtier pages/s */
#define PD_GAP_NS 1000000000ULL /* part 3: between two pre-dumps */
#define MAX_SIZES 8

/* The small BPF map sizes of part 4. */
static const struct dirty_bpf_opts small_bpf = {
	.max_pages = 1024,
	.max_ranges = 64,
	.ringbuf_bytes = 4096,
};

static sigset_t held;

/* Peak RSS figures, gathered for the summary of part 4. */
static struct {
	unsigned long mib[MAX_SIZES];
	double rss_mib[MAX_SIZES];
	size_t nr;
} scan_rss;

static struct {
	uint64_t pages[2];
	double rss1_mib[2], rss2_mib[2];
	size_t nr;
} pd_rss;

/* -EINTR if SIGINT, SIGTERM or SIGHUP is pending (they are held). */
static int interrupted(void)
{
	int s = bench_held_pending(&held);

	if (s)
		pr_err("pid %d: interrupted by signal %d; cleaning up", getpid(), s);
	return s ? -EINTR : 0;
}

/*
 * In a new child: the held signals act again (@unhold), and with @orphan_kill
 * the child dies with the bench.
 */
static void child_setup(int unhold, int orphan_kill)
{
	if (unhold)
		sigprocmask(SIG_UNBLOCK, &held, NULL);
	if (orphan_kill)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
}

static void sleep_until_ns(uint64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)(t / 1000000000ULL),
			       .tv_nsec = (long)(t % 1000000000ULL) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

static double ns_to_ms(uint64_t ns)
{
	return (double)ns / 1e6;
}

/*
 * Start workload @argv[0] from FERRY_BUILD/workloads with its stdout on a
 * pipe, and copy into @line the first line that contains @ready. Returns the
 * pid or -errno (the child is killed then).
 */
static pid_t spawn_workload(char *const argv[], const char *ready, char *line, size_t len)
{
	char path[4096];
	FILE *f = NULL;
	int p[2], err = 0;
	pid_t pid;

	if (pipe2(p, O_CLOEXEC)) {
		err = -errno;
		pr_perror("cannot create a pipe for workload %s", argv[0]);
		return err;
	}
	pid = fork();
	if (pid < 0) {
		err = -errno;
		pr_perror("cannot fork workload %s", argv[0]);
		close(p[0]);
		close(p[1]);
		return err;
	}
	if (!pid) {
		child_setup(1, 1);
		dup2(p[1], 1);
		snprintf(path, sizeof(path), "%s/workloads/%s", build_dir(), argv[0]);
		execv(path, argv);
		_exit(127);
	}
	close(p[1]);
	f = fdopen(p[0], "r");
	if (!f) {
		err = -errno;
		close(p[0]);
		goto err;
	}
	while (fgets(line, (int)len, f)) {
		if (strstr(line, ready))
			goto out;
	}
	err = -EIO;
err:
	pr_err("pid %d: workload %s/workloads/%s never printed '%s'", pid, build_dir(), argv[0],
	       ready);
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	pid = err;
out:
	if (f)
		fclose(f);
	return pid;
}

static pid_t start_memhog(unsigned long mib, uint64_t *base)
{
	char arg[32], line[256];
	char *argv[] = { "memhog", arg, NULL };
	pid_t pid;

	snprintf(arg, sizeof(arg), "%lu", mib);
	pid = spawn_workload(argv, "ready", line, sizeof(line));
	if (pid < 0)
		return pid;
	if (!strstr(line, "base") || sscanf(strstr(line, "base"), "base %lx", base) != 1) {
		pr_err("pid %d: unexpected memhog line '%s'", pid, line);
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -EIO;
	}
	return pid;
}

static pid_t start_dirtier(uint64_t pages)
{
	char rate[32], npages[32], line[256];
	char *argv[] = { "dirtier", "--rate", rate, "--pages", npages, NULL };

	snprintf(rate, sizeof(rate), "%d", PD_RATE);
	snprintf(npages, sizeof(npages), "%llu", (unsigned long long)pages);
	return spawn_workload(argv, "ready", line, sizeof(line));
}

/* Stop the tracking of @pid if any, then kill and reap it. */
static void stop_target(pid_t pid)
{
	int err;

	if (pid <= 0)
		return;
	err = tracker_stop_pid(pid, 0);
	if (err && err != -ENOENT)
		pr_warn("pid %d: stopping its tracking: %s", pid, strerror(-err));
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

static int freeze(struct pstree *tree, pid_t pid)
{
	int err = pstree_freeze(tree, pid);

	if (err)
		pr_errno(err, "pid %d: cannot freeze it", pid);
	return err;
}

static void thaw(struct pstree *tree)
{
	pstree_release(tree);
	pstree_free(tree);
}

/*
 * Arm tracking on @pid as pre-dump does, with BPF map sizes @bo (NULL:
 * defaults), or without BPF if @no_bpf.
 */
static int arm(pid_t pid, const struct dirty_bpf_opts *bo, int no_bpf, struct tracker **t)
{
	struct tracker_opts o = { .no_bpf = no_bpf };
	struct pstree tree;
	int err;

	if (bo)
		o.bpf = *bo;
	/* The BPF side loads before the freeze, as in pre-dump. */
	tracker_load_bpf(pid, &o);
	err = freeze(&tree, pid);
	if (err)
		goto out;
	err = tracker_arm(t, pid, &o);
	thaw(&tree);
	if (err)
		pr_errno(err, "pid %d: cannot arm tracking", pid);
out:
	if (o.loaded)
		dirty_bpf_close(o.loaded);
	return err;
}

static void disarm(struct tracker **t)
{
	pid_t pid;
	int err;

	if (!*t)
		return;
	pid = (*t)->pid;
	err = tracker_stop(*t, 0);
	if (err)
		pr_warn("pid %d: stopping its tracking: %s", pid, strerror(-err));
	*t = NULL;
}

/* ---- part 1: one dirty scan at 1% dirty ------------------------------------------------ */

struct scan_res {
	int err;
	uint64_t dirtied[SCAN_ROUNDS], written[SCAN_ROUNDS], tracked[SCAN_ROUNDS];
	uint64_t softdirty; /* pagemap entries with bit 55 set, all rounds */
	double round_ms[SCAN_ROUNDS], scan_ms[SCAN_ROUNDS], pm_ms[SCAN_ROUNDS];
};

/* Write one byte into pages @off, @off + 100, ... of [@base, +@pages pages) of @pid. */
static int dirty_1pct(pid_t pid, uint64_t base, uint64_t pages, unsigned off, uint8_t val,
		      uint64_t *n)
{
	static uint8_t bytes[IOV_BATCH];
	struct iovec remote[IOV_BATCH], local = { bytes, 0 };
	size_t k = 0;

	memset(bytes, val, sizeof(bytes));
	*n = 0;
	for (uint64_t i = off; i < pages; i += DIRTY_STRIDE) {
		remote[k].iov_base = (void *)(uintptr_t)(base + i * PAGE + 8 * (i % 256));
		remote[k].iov_len = 1;
		if (++k < IOV_BATCH && i + DIRTY_STRIDE < pages)
			continue;
		local.iov_len = k;
		errno = 0;
		if (process_vm_writev(pid, &local, 1, remote, (unsigned long)k, 0) != (ssize_t)k) {
			int err = errno ? -errno : -EIO;

			pr_perror("pid %d: process_vm_writev of %zu bytes near %#llx", pid, k,
				  (unsigned long long)(uintptr_t)remote[0].iov_base);
			return err;
		}
		*n += k;
		k = 0;
	}
	return 0;
}

/* Read the pagemap entries of [@base, +@pages pages) in PM_CHUNK preads; count soft-dirty bits. */
static int read_pagemap(pid_t pid, int fd, uint64_t base, uint64_t pages, uint64_t *buf,
			uint64_t *softdirty)
{
	off_t off = (off_t)(base / PAGE * 8);
	size_t left = pages * 8;

	while (left) {
		size_t want = left < PM_CHUNK ? left : PM_CHUNK;
		ssize_t got = pread(fd, buf, want, off);

		if (got <= 0 || got % 8) {
			pr_err("pid %d: pread of %zu bytes of its pagemap at %lld: %s", pid, want,
			       (long long)off, got < 0 ? strerror(errno) : "short read");
			return got < 0 ? -errno : -EIO;
		}
		for (ssize_t i = 0; i < got / 8; i++)
			*softdirty += (buf[i] >> 55) & 1;
		off += got;
		left -= (size_t)got;
	}
	return 0;
}

/* One measured round: dirty 1%, freeze, tracker_round and the pagemap read, release. */
static int scan_round(struct tracker *t, int pm_fd, uint64_t base, uint64_t pages, uint64_t *buf,
		      int r, struct scan_res *res)
{
	struct tracker_round round = { 0 };
	struct pstree tree;
	uint64_t t0, t1;
	int err;

	err = dirty_1pct(t->pid, base, pages, (unsigned)(r * 37) % DIRTY_STRIDE, (uint8_t)r,
			 &res->dirtied[r]);
	if (err)
		return err;
	err = freeze(&tree, t->pid);
	if (err)
		return err;
	for (int step = 0; step < 2 && !err; step++) {
		t0 = mono_ns();
		if ((step + r) % 2) {
			err = read_pagemap(t->pid, pm_fd, base, pages, buf, &res->softdirty);
			res->pm_ms[r] = ns_to_ms(mono_ns() - t0);
			continue;
		}
		err = tracker_round(t, &round);
		t1 = mono_ns();
		if (err) {
			pr_errno(err, "pid %d: tracker round %d", t->pid, r);
			break;
		}
		res->round_ms[r] = ns_to_ms(t1 - t0);
		res->scan_ms[r] = ns_to_ms(round.scan_ns);
		res->written[r] = round.written_pages;
		res->tracked[r] = round.tracked_pages;
	}
	thaw(&tree);
	tracker_round_free(&round);
	return err;
}

/* The child that arms, runs the rounds, stops; its result goes to @wfd. */
static __attribute__((noreturn)) void scan_worker(pid_t pid, uint64_t base, uint64_t pages, int wfd)
{
	struct scan_res res = { 0 };
	struct tracker *t = NULL;
	uint64_t *buf = malloc(PM_CHUNK);
	char path[64];
	int pm_fd;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	pm_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (pm_fd < 0 || !buf) {
		res.err = pm_fd < 0 ? -errno : -ENOMEM;
		pr_errno(res.err, "pid %d: cannot open %s", pid, path);
		goto out;
	}
	res.err = arm(pid, NULL, 0, &t);
	for (int r = 0; r < SCAN_ROUNDS && !res.err; r++) {
		res.err = interrupted();
		if (!res.err)
			res.err = scan_round(t, pm_fd, base, pages, buf, r, &res);
	}
	disarm(&t);
out:
	if (pm_fd >= 0)
		close(pm_fd);
	free(buf);
	_exit(write_full(wfd, &res, sizeof(res)) ? 1 : 0);
}

static void print_scan_header(void)
{
	printf("\n== 1. one dirty scan at 1%% dirty: tracker_round vs reading /proc/PID/pagemap "
	       "(target frozen, medians of %d rounds, order alternating) ==\n",
	       SCAN_ROUNDS);
	printf("%8s %9s %8s %8s %10s %10s %9s %10s %9s %7s %9s\n", "size", "tracked", "dirtied",
	       "written", "round ms", "(PM_SCAN)", "ms/GiB", "pagemap ms", "ms/GiB", "ratio",
	       "peak RSS");
}

static int bench_scan(unsigned long mib)
{
	uint64_t pages = ((uint64_t)mib << 20) / PAGE, base = 0;
	double d[SCAN_ROUNDS], w[SCAN_ROUNDS], tr[SCAN_ROUNDS], rm[SCAN_ROUNDS], sm[SCAN_ROUNDS],
		pm[SCAN_ROUNDS], gib = (double)mib / 1024, rss;
	struct scan_res res = { 0 };
	struct rusage ru;
	pid_t target, worker = -1;
	int p[2] = { -1, -1 }, status = 0, err;

	target = start_memhog(mib, &base);
	if (target < 0)
		return target;
	if (pipe2(p, O_CLOEXEC)) {
		err = -errno;
		pr_perror("cannot create a pipe for the scan worker");
		goto out;
	}
	worker = fork();
	if (worker < 0) {
		err = -errno;
		pr_perror("cannot fork the scan worker of pid %d", target);
		goto out;
	}
	if (!worker) {
		child_setup(0, 1);
		close(p[0]);
		scan_worker(target, base, pages, p[1]);
	}
	close(p[1]);
	p[1] = -1;
	err = read_full(p[0], &res, sizeof(res), NULL);
	if (wait4(worker, &status, 0, &ru) != worker || !WIFEXITED(status) || WEXITSTATUS(status)) {
		pr_err("pid %d: scan worker failed (status %#x)", worker, status);
		err = err ?: -EIO;
	}
	worker = -1;
	if (!err)
		err = res.err;
	if (err)
		goto out;
	for (int r = 0; r < SCAN_ROUNDS; r++) {
		d[r] = (double)res.dirtied[r];
		w[r] = (double)res.written[r];
		tr[r] = (double)res.tracked[r];
		rm[r] = res.round_ms[r];
		sm[r] = res.scan_ms[r];
		pm[r] = res.pm_ms[r];
	}
	rss = (double)ru.ru_maxrss / 1024;
	{
		double mr = median(rm, SCAN_ROUNDS), mp = median(pm, SCAN_ROUNDS);

		printf("%4lu MiB %9.0f %8.0f %8.0f %10.3f %10.3f %9.2f %10.3f %9.2f %7.2f %5.1f MiB\n",
		       mib, median(tr, SCAN_ROUNDS), median(d, SCAN_ROUNDS), median(w, SCAN_ROUNDS),
		       mr, median(sm, SCAN_ROUNDS), mr / gib, mp, mp / gib, mr / mp, rss);
	}
	if (res.softdirty)
		printf("         (%llu pagemap entries had the soft-dirty bit)\n",
		       (unsigned long long)res.softdirty);
	if (scan_rss.nr < MAX_SIZES) {
		scan_rss.mib[scan_rss.nr] = mib;
		scan_rss.rss_mib[scan_rss.nr++] = rss;
	}
out:
	if (worker > 0) {
		kill(worker, SIGKILL);
		waitpid(worker, NULL, 0);
	}
	if (p[0] >= 0)
		close(p[0]);
	if (p[1] >= 0)
		close(p[1]);
	stop_target(target);
	return err;
}

/* ---- part 2: slowdown of a write-heavy workload ---------------------------------------- */

struct progress {
	uint64_t pages; /* pages written so far, updated every 256 */
	uint64_t ready;
};

enum load_mode { LOAD_OFF, LOAD_FREEZE, LOAD_ON, LOAD_ON_NOBPF, LOAD_MODES };

static const char *const load_names[LOAD_MODES] = {
	"tracking off",
	"off, frozen every 100 ms",
	"on, round every 100 ms",
	"on, no BPF (--no-bpf)",
};

/* The write-heavy child: one byte per page of LOAD_MIB MiB, in sequence, forever. */
static __attribute__((noreturn)) void load_writer(struct progress *p)
{
	size_t size = (size_t)LOAD_MIB << 20, pages = size / PAGE;
	volatile uint8_t *buf;
	uint64_t total = 0;

	buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		_exit(1);
	/* 4 KiB pages, as the dirtier: the figures are per page. */
	madvise((void *)buf, size, MADV_NOHUGEPAGE);
	for (size_t i = 0; i < pages; i++)
		buf[i * PAGE] = 1;
	__atomic_store_n(&p->ready, 1, __ATOMIC_RELEASE);
	for (;;) {
		for (size_t i = 0; i < pages; i++) {
			buf[i * PAGE]++;
			if ((++total & 255) == 0)
				__atomic_store_n(&p->pages, total, __ATOMIC_RELAXED);
		}
	}
}

struct load_sample {
	double passes_s;
	double frozen_ms; /* per second of the phase */
	double written;	  /* median written_pages per round (on) */
	double faults_s;  /* written_pages of all rounds, per second (on) */
};

static int load_phase(pid_t pid, struct progress *p, enum load_mode mode, struct load_sample *s)
{
	uint64_t t0, t1, c0, c1, written[LOAD_TICKS] = { 0 };
	struct tracker *t = NULL;
	int err = 0;

	memset(s, 0, sizeof(*s));
	if (mode == LOAD_ON || mode == LOAD_ON_NOBPF) {
		err = arm(pid, NULL, mode == LOAD_ON_NOBPF, &t);
		if (err)
			return err;
	}
	t0 = mono_ns();
	c0 = __atomic_load_n(&p->pages, __ATOMIC_RELAXED);
	for (int k = 1; k <= LOAD_TICKS && !err; k++) {
		struct tracker_round round = { 0 };
		struct pstree tree;
		uint64_t f0;

		sleep_until_ns(t0 + (uint64_t)k * TICK_NS);
		err = interrupted();
		if (err || mode == LOAD_OFF)
			continue;
		f0 = mono_ns();
		err = freeze(&tree, pid);
		if (err)
			break;
		if (t) {
			err = tracker_round(t, &round);
			if (err)
				pr_errno(err, "pid %d: tracker round %d", pid, k);
			written[k - 1] = round.written_pages;
			tracker_round_free(&round);
		}
		thaw(&tree);
		s->frozen_ms += ns_to_ms(mono_ns() - f0);
	}
	t1 = mono_ns();
	c1 = __atomic_load_n(&p->pages, __ATOMIC_RELAXED);
	disarm(&t);
	if (err)
		return err;
	s->passes_s = (double)(c1 - c0) / ((double)LOAD_MIB * 256) / ((double)(t1 - t0) / 1e9);
	s->frozen_ms /= (double)(t1 - t0) / 1e9;
	if (mode == LOAD_ON || mode == LOAD_ON_NOBPF) {
		double wv[LOAD_TICKS];

		for (int k = 0; k < LOAD_TICKS; k++) {
			wv[k] = (double)written[k];
			s->faults_s += wv[k] / ((double)(t1 - t0) / 1e9);
		}
		s->written = median(wv, LOAD_TICKS);
	}
	return 0;
}

static int bench_load(void)
{
	double rate[LOAD_MODES][LOAD_ROUNDS], frozen[LOAD_MODES][LOAD_ROUNDS],
		ratio[LOAD_MODES][LOAD_ROUNDS], written[LOAD_MODES][LOAD_ROUNDS],
		fault_us[LOAD_MODES][LOAD_ROUNDS], faults_s[LOAD_MODES][LOAD_ROUNDS];
	struct progress *p;
	pid_t pid = -1;
	int err = 0;

	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		pr_perror("cannot map the progress page of the writer");
		return -ENOMEM;
	}
	pid = fork();
	if (pid < 0) {
		err = -errno;
		pr_perror("cannot fork the writer");
		goto out;
	}
	if (!pid) {
		child_setup(1, 1);
		load_writer(p);
	}
	for (int i = 0; i < 1000 && !__atomic_load_n(&p->ready, __ATOMIC_ACQUIRE); i++)
		usleep(10000);
	if (!__atomic_load_n(&p->ready, __ATOMIC_ACQUIRE)) {
		pr_err("pid %d: the writer did not populate its %d MiB in 10 s", pid, LOAD_MIB);
		err = -ETIMEDOUT;
		goto out;
	}
	for (int r = 0; r < LOAD_ROUNDS && !err; r++) {
		for (int m = 0; m < LOAD_MODES && !err; m++) {
			/* Rotate the order so that no variant always follows another. */
			enum load_mode mode = (enum load_mode)((m + r) % LOAD_MODES);
			struct load_sample s;

			err = load_phase(pid, p, mode, &s);
			rate[mode][r] = s.passes_s;
			frozen[mode][r] = s.frozen_ms;
			written[mode][r] = s.written;
			faults_s[mode][r] = s.faults_s;
		}
		for (int m = 0; !err && m < LOAD_MODES; m++) {
			ratio[m][r] = rate[m][r] / rate[LOAD_OFF][r];
			/*
			 * What a write fault costs the writer: the time it neither
			 * stood frozen nor made passes at the untracked speed, per
			 * page written in the rounds.
			 */
			fault_us[m][r] = faults_s[m][r] > 0
						 ? (1e6 - frozen[m][r] * 1e3 -
						    rate[m][r] * 1e6 / rate[LOAD_OFF][r]) /
							   faults_s[m][r]
						 : 0;
		}
	}
	if (err)
		goto out;
	printf("\n== 2. write-heavy workload (1 byte per page of %d MiB, in sequence), ~1 s "
	       "phases, %d rounds alternating, medians ==\n",
	       LOAD_MIB, LOAD_ROUNDS);
	printf("%-26s %11s %10s %13s %16s %15s\n", "variant", "passes/s", "vs off", "frozen ms/s",
	       "written/round", "us/fault (est)");
	for (int m = 0; m < LOAD_MODES; m++) {
		char wr[32] = "-", us[32] = "-";

		if (m == LOAD_ON || m == LOAD_ON_NOBPF) {
			snprintf(wr, sizeof(wr), "%.0f", median(written[m], LOAD_ROUNDS));
			snprintf(us, sizeof(us), "%.2f", median(fault_us[m], LOAD_ROUNDS));
		}
		printf("%-26s %11.1f %10.2f %13.1f %16s %15s\n", load_names[m],
		       median(rate[m], LOAD_ROUNDS), median(ratio[m], LOAD_ROUNDS),
		       median(frozen[m], LOAD_ROUNDS), wr, us);
	}
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	munmap(p, PAGE);
	return err;
}

/* ---- part 3: pages written by pre-dump round 2 vs round 1 ------------------------------- */

struct pd_sample {
	double wall_s, frozen_ms, rss_mib;
	uint64_t written, parent;
};

static void rm_rf(const char *dir)
{
	char cmd[4300];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	if (system(cmd))
		pr_warn("cannot remove %s", dir);
}

static int read_stats(const char *dir, struct pd_sample *s)
{
	ProtobufCMessage *m = NULL;
	struct img *img = NULL;
	int dfd, err;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		err = -errno;
		pr_perror("cannot open %s", dir);
		return err;
	}
	err = img_open(&img, dfd, "stats-dump", IMG_STATS);
	if (err) {
		pr_errno(err, "cannot open %s/stats-dump", dir);
		goto out;
	}
	if (img_read_entry(img, &m) != 1 || !((StatsEntry *)m)->dump) {
		pr_err("%s/stats-dump has no dump entry", dir);
		err = -EINVAL;
		goto out;
	}
	s->frozen_ms = ((StatsEntry *)m)->dump->frozen_time / 1000.0;
	s->written = ((StatsEntry *)m)->dump->pages_written;
	s->parent = ((StatsEntry *)m)->dump->pages_skipped_parent;
out:
	if (m)
		protobuf_c_message_free_unpacked(m, NULL);
	if (img)
		img_close(img);
	close(dfd);
	return err;
}

/* `ferry pre-dump -t @target -D @dir [--prev-images-dir @prev]`, timed, with its peak RSS. */
static int run_predump(pid_t target, const char *dir, const char *prev, struct pd_sample *s)
{
	char ferry[4096], tpid[16];
	struct rusage ru;
	double t0 = now_s();
	int status = 0;
	pid_t pid;

	pid = fork();
	if (pid < 0) {
		int err = -errno;

		pr_perror("cannot fork ferry pre-dump of pid %d", target);
		return err;
	}
	if (!pid) {
		/* No death signal: a pre-dump runs to its end and leaves the target clean. */
		child_setup(1, 0);
		snprintf(ferry, sizeof(ferry), "%s/ferry", build_dir());
		snprintf(tpid, sizeof(tpid), "%d", target);
		if (prev)
			execl(ferry, "ferry", "pre-dump", "-t", tpid, "-D", dir,
			      "--prev-images-dir", prev, "-v1", (char *)NULL);
		else
			execl(ferry, "ferry", "pre-dump", "-t", tpid, "-D", dir, "-v1",
			      (char *)NULL);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) != pid || !WIFEXITED(status) || WEXITSTATUS(status)) {
		pr_err("pid %d: ferry pre-dump of pid %d into %s failed (status %#x)", pid, target,
		       dir, status);
		return -EIO;
	}
	s->wall_s = now_s() - t0;
	s->rss_mib = (double)ru.ru_maxrss / 1024;
	return read_stats(dir, s);
}

static int bench_predump(uint64_t pages)
{
	double w1[PD_REPS], w2[PD_REPS], f1[PD_REPS], f2[PD_REPS], p1[PD_REPS], p2[PD_REPS],
		par[PD_REPS], exp2[PD_REPS], r1[PD_REPS], r2[PD_REPS], ratio[PD_REPS];
	char tmp[] = "/var/tmp/ferry-bench-track-XXXXXX", d1[128], d2[128];
	pid_t target;
	int err = 0;

	if (!mkdtemp(tmp)) {
		err = -errno;
		pr_perror("cannot create %s", tmp);
		return err;
	}
	target = start_dirtier(pages);
	if (target < 0) {
		err = target;
		goto out;
	}
	for (int r = 0; r < PD_REPS && !err; r++) {
		struct pd_sample a = { 0 }, b = { 0 };
		uint64_t t1, t2;

		snprintf(d1, sizeof(d1), "%s/%d-1", tmp, r);
		snprintf(d2, sizeof(d2), "%s/%d-2", tmp, r);
		t1 = mono_ns();
		err = interrupted() ?: run_predump(target, d1, NULL, &a);
		if (!err) {
			sleep_until_ns(mono_ns() + PD_GAP_NS);
			t2 = mono_ns();
			err = interrupted() ?: run_predump(target, d2, d1, &b);
			exp2[r] = (double)PD_RATE * (double)(t2 - t1) / 1e9;
		}
		/* The next repetition starts from scratch: arming, every page copied. */
		if (tracker_stop_pid(target, 0) == -ENOENT && !err) {
			pr_err("pid %d: not tracked after its pre-dumps into %s and %s", target, d1,
			       d2);
			err = -EIO;
		}
		rm_rf(d1);
		rm_rf(d2);
		w1[r] = a.wall_s, w2[r] = b.wall_s;
		f1[r] = a.frozen_ms, f2[r] = b.frozen_ms;
		p1[r] = (double)a.written, p2[r] = (double)b.written, par[r] = (double)b.parent;
		r1[r] = a.rss_mib, r2[r] = b.rss_mib;
		ratio[r] = a.written ? (double)b.written / (double)a.written : 0;
	}
	if (err)
		goto out;
	if (!pd_rss.nr)
		printf("\n== 3. ferry pre-dump of a dirtier writing %d pages/s: round 1, then round 2 "
		       "1 s later (--prev-images-dir), medians of %d ==\n",
		       PD_RATE, PD_REPS);
	{
		double mib = (double)pages * PAGE / (1 << 20);

		printf("dirtier %4.0f MiB  round 1: %7.0f pages written  %6.3f s  frozen %6.1f ms  "
		       "peak RSS %5.1f MiB\n",
		       mib, median(p1, PD_REPS), median(w1, PD_REPS), median(f1, PD_REPS),
		       median(r1, PD_REPS));
		printf("dirtier %4.0f MiB  round 2: %7.0f pages written  %6.3f s  frozen %6.1f ms  "
		       "peak RSS %5.1f MiB  (in parent %.0f, expected ~%.0f written)\n",
		       mib, median(p2, PD_REPS), median(w2, PD_REPS), median(f2, PD_REPS),
		       median(r2, PD_REPS), median(par, PD_REPS), median(exp2, PD_REPS));
		printf("dirtier %4.0f MiB  round 2 / round 1 pages %.3f\n", mib,
		       median(ratio, PD_REPS));
		if (pd_rss.nr < 2) {
			pd_rss.pages[pd_rss.nr] = pages;
			pd_rss.rss1_mib[pd_rss.nr] = median(r1, PD_REPS);
			pd_rss.rss2_mib[pd_rss.nr++] = median(r2, PD_REPS);
		}
	}
out:
	stop_target(target);
	rm_rf(tmp);
	return err;
}

/* ---- part 4: memory -------------------------------------------------------------------- */

static int bpf_mem(pid_t pid, const struct dirty_bpf_opts *bo, uint64_t *bytes)
{
	struct tracker *t = NULL;
	int err;

	*bytes = 0;
	err = arm(pid, bo, 0, &t);
	if (err)
		return err;
	if (!t->bpf) {
		pr_err("pid %d: tracking armed without its BPF side (see the warning above)", pid);
		err = -ENOENT;
	} else {
		err = dirty_bpf_mem(t->bpf, bytes);
		if (err)
			pr_errno(err, "pid %d: cannot read the memory of its BPF maps", pid);
	}
	disarm(&t);
	return err;
}

static int bench_mem(void)
{
	uint64_t base, def = 0, small = 0;
	pid_t target;
	int err;

	target = start_memhog(16, &base);
	if (target < 0)
		return target;
	err = bpf_mem(target, NULL, &def);
	if (!err)
		err = bpf_mem(target, &small_bpf, &small);
	stop_target(target);
	if (err)
		return err;
	printf("\n== 4. memory ==\n");
	printf("BPF maps, default (%u page records, %u ranges, %u B ring buffer): %8.1f KiB\n",
	       DIRTY_BPF_DEF_PAGES, DIRTY_BPF_DEF_RANGES, DIRTY_BPF_DEF_RINGBUF,
	       (double)def / 1024);
	printf("BPF maps, small   (%u page records, %u ranges, %u B ring buffer):     %8.1f KiB\n",
	       small_bpf.max_pages, small_bpf.max_ranges, small_bpf.ringbuf_bytes,
	       (double)small / 1024);
	for (size_t i = 0; i < scan_rss.nr; i++)
		printf("peak RSS, process arming + %d tracker rounds on %4lu MiB: %5.1f MiB\n",
		       SCAN_ROUNDS, scan_rss.mib[i], scan_rss.rss_mib[i]);
	for (size_t i = 0; i < pd_rss.nr; i++)
		printf("peak RSS, ferry pre-dump of %4llu MiB: round 1 %5.1f MiB, round 2 %5.1f "
		       "MiB\n",
		       (unsigned long long)(pd_rss.pages[i] * PAGE >> 20), pd_rss.rss1_mib[i],
		       pd_rss.rss2_mib[i]);
	return 0;
}

/* ---- part 5: what tracking costs processes that are not tracked ------------------- */

#define XT_MAX 8    /* tracked processes at most */
#define XT_ROUNDS 3 /* up-and-down sweeps over 0, 1, XT_MAX trackers */
#define XT_CALLS 200000
#define XT_FAULT_PAGES 4096

/* ns per getppid() and per first-touch page fault (with its mmap/munmap) in this process. */
static void xt_sample(double *syscall_ns, double *fault_ns)
{
	volatile char *p;
	uint64_t t0;

	t0 = mono_ns();
	for (int i = 0; i < XT_CALLS; i++)
		syscall(SYS_getppid);
	*syscall_ns = (double)(mono_ns() - t0) / XT_CALLS;
	t0 = mono_ns();
	p = mmap(NULL, XT_FAULT_PAGES * PAGE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
		 -1, 0);
	if (p != MAP_FAILED) {
		madvise((void *)p, XT_FAULT_PAGES * PAGE, MADV_NOHUGEPAGE);
		for (int i = 0; i < XT_FAULT_PAGES; i++)
			p[(size_t)i * PAGE] = 1;
		munmap((void *)p, XT_FAULT_PAGES * PAGE);
	}
	*fault_ns = (double)(mono_ns() - t0) / XT_FAULT_PAGES;
}

/*
 * The BPF programs of a tracker sit on system-wide tracepoints (page faults,
 * syscall exits) and filter by tgid inside: every process pays for them.
 * Idle memhogs are tracked, 0, 1 and XT_MAX of them, in sweeps up and down;
 * this process, untracked, times getppid() and page faults at each step.
 */
static int bench_cross(void)
{
	static const int steps[] = { 0, 1, XT_MAX, 1 };
	double sc[3][XT_ROUNDS * 2], fl[3][XT_ROUNDS * 2];
	struct tracker *t[XT_MAX] = { 0 };
	pid_t pid[XT_MAX];
	int n[3] = { 0 }, armed = 0, err = 0;
	uint64_t base;

	for (int i = 0; i < XT_MAX; i++)
		pid[i] = -1;
	for (int i = 0; i < XT_MAX && !err; i++) {
		pid[i] = start_memhog(4, &base);
		if (pid[i] < 0)
			err = pid[i];
	}
	for (int r = 0; r < XT_ROUNDS && !err; r++) {
		for (size_t k = 0; k < sizeof(steps) / sizeof(steps[0]) && !err; k++) {
			int want = steps[k], row = want == 0 ? 0 : want == 1 ? 1 : 2;

			while (!err && armed < want) {
				err = arm(pid[armed], NULL, 0, &t[armed]);
				armed += !err;
			}
			while (armed > want)
				disarm(&t[--armed]);
			if (err || interrupted())
				break;
			xt_sample(&sc[row][n[row]], &fl[row][n[row]]);
			n[row]++;
		}
	}
	while (armed > 0)
		disarm(&t[--armed]);
	for (int i = 0; i < XT_MAX; i++)
		stop_target(pid[i]);
	if (err)
		return err;
	printf("\n== 5. cost to processes that are not tracked (this process; idle trackers "
	       "elsewhere; %d sweeps 0 -> 1 -> %d -> 1, medians) ==\n",
	       XT_ROUNDS, XT_MAX);
	printf("%-10s %14s %8s %16s %8s\n", "trackers", "getppid (ns)", "x", "page fault (ns)",
	       "x");
	for (int row = 0; row < 3; row++) {
		double s0 = median(sc[0], n[0]), f0 = median(fl[0], n[0]);
		double s = median(sc[row], n[row]), f = median(fl[row], n[row]);

		printf("%-10d %14.1f %8.2f %16.1f %8.2f\n",
		       row == 0	  ? 0
		       : row == 1 ? 1
				  : XT_MAX,
		       s, s / s0, f, f / f0);
	}
	return 0;
}

int main(int argc, char **argv)
{
	static const uint64_t pd_pages[] = { 16384, 262144 };
	int err;

	if (geteuid()) {
		fprintf(stderr, "bench_track: needs root (ptrace, userfaultfd, BPF)\n");
		return 1;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	bench_hold_signals(&held);

	if (getenv("BENCH_TRACK_ONLY") && !strcmp(getenv("BENCH_TRACK_ONLY"), "cross"))
		return bench_cross() ? 1 : 0;
	print_scan_header();
	err = bench_sizes(argc, argv, bench_scan) ? -EIO : 0;
	if (!err)
		err = bench_load();
	for (size_t i = 0; !err && i < sizeof(pd_pages) / sizeof(pd_pages[0]); i++)
		err = bench_predump(pd_pages[i]);
	if (!err)
		err = bench_mem();
	if (!err)
		err = bench_cross();
	return err ? 1 : 0;
}
