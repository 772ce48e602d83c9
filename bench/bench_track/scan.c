// SPDX-License-Identifier: MIT
/*
 * bench_track part 1: the cost of one dirty scan at 1% dirty, against a read of
 * /proc/PID/pagemap over the same range.
 * (bench/bench_track.c says what each part measures.)
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_PREFIX "bench_track: "
#include "pstree.h"
#include "tracker.h"
#include "log.h"
#include "util.h"

#include "../bench_util.h"
#include "track.h"

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

/* One measured round: dirty 1%, bt_freeze, tracker_round and the pagemap read, release. */
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
	err = bt_freeze(&tree, t->pid);
	if (err)
		return err;
	for (int step = 0; step < 2 && !err; step++) {
		t0 = mono_ns();
		if ((step + r) % 2) {
			err = read_pagemap(t->pid, pm_fd, base, pages, buf, &res->softdirty);
			res->pm_ms[r] = bt_ns_to_ms(mono_ns() - t0);
			continue;
		}
		err = tracker_round(t, &round);
		t1 = mono_ns();
		if (err) {
			pr_errno(err, "pid %d: tracker round %d", t->pid, r);
			break;
		}
		res->round_ms[r] = bt_ns_to_ms(t1 - t0);
		res->scan_ms[r] = bt_ns_to_ms(round.scan_ns);
		res->written[r] = round.written_pages;
		res->tracked[r] = round.tracked_pages;
	}
	bt_thaw(&tree);
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
	res.err = bt_arm(pid, NULL, 0, &t);
	for (int r = 0; r < SCAN_ROUNDS && !res.err; r++) {
		res.err = bt_interrupted();
		if (!res.err)
			res.err = scan_round(t, pm_fd, base, pages, buf, r, &res);
	}
	bt_disarm(&t);
out:
	if (pm_fd >= 0)
		close(pm_fd);
	free(buf);
	_exit(write_full(wfd, &res, sizeof(res)) ? 1 : 0);
}

void print_scan_header(void)
{
	printf("\n== 1. one dirty scan at 1%% dirty: tracker_round vs reading /proc/PID/pagemap "
	       "(target frozen, medians of %d rounds, order alternating) ==\n",
	       SCAN_ROUNDS);
	printf("%8s %9s %8s %8s %10s %10s %9s %10s %9s %7s %9s\n", "size", "tracked", "dirtied",
	       "written", "round ms", "(PM_SCAN)", "ms/GiB", "pagemap ms", "ms/GiB", "ratio",
	       "peak RSS");
}

int bench_scan(unsigned long mib)
{
	uint64_t pages = ((uint64_t)mib << 20) / PAGE, base = 0;
	double d[SCAN_ROUNDS], w[SCAN_ROUNDS], tr[SCAN_ROUNDS], rm[SCAN_ROUNDS], sm[SCAN_ROUNDS],
		pm[SCAN_ROUNDS], gib = (double)mib / 1024, rss;
	struct scan_res res = { 0 };
	struct rusage ru;
	pid_t target, worker = -1;
	int p[2] = { -1, -1 }, status = 0, err;

	target = bt_start_memhog(mib, &base);
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
		bt_child_setup(0, 1);
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
	if (bt_scan_rss.nr < MAX_SIZES) {
		bt_scan_rss.mib[bt_scan_rss.nr] = mib;
		bt_scan_rss.rss_mib[bt_scan_rss.nr++] = rss;
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
	bt_stop_target(target);
	return err;
}
