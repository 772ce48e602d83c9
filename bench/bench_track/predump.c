// SPDX-License-Identifier: MIT
/*
 * bench_track part 3: pages written by a second pre-dump against the first, with
 * wall and frozen time and ferry's peak RSS.
 * (bench/bench_track.c says what each part measures.)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_PREFIX "bench_track: "
#include "tracker.h"
#include "img.h"
#include "log.h"
#include "stats.pb-c.h"
#include "util.h"

#include "../bench_util.h"
#include "track.h"

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
		bt_child_setup(1, 0);
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

int bench_predump(uint64_t pages)
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
	target = bt_start_dirtier(pages);
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
		err = bt_interrupted() ?: run_predump(target, d1, NULL, &a);
		if (!err) {
			bt_sleep_until_ns(mono_ns() + PD_GAP_NS);
			t2 = mono_ns();
			err = bt_interrupted() ?: run_predump(target, d2, d1, &b);
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
	if (!bt_pd_rss.nr)
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
		if (bt_pd_rss.nr < 2) {
			bt_pd_rss.pages[bt_pd_rss.nr] = pages;
			bt_pd_rss.rss1_mib[bt_pd_rss.nr] = median(r1, PD_REPS);
			bt_pd_rss.rss2_mib[bt_pd_rss.nr++] = median(r2, PD_REPS);
		}
	}
out:
	bt_stop_target(target);
	rm_rf(tmp);
	return err;
}
