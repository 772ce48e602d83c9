// SPDX-License-Identifier: MIT
/*
 * What the parts of bench_track share: the held signals, workloads started
 * and stopped, freezing, and tracking armed and disarmed.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "bench_track: "
#include "pstree.h"
#include "tracker.h"
#include "log.h"

#include "../bench_util.h"
#include "track.h"

sigset_t bt_held;

struct bt_scan_rss bt_scan_rss;
struct bt_pd_rss bt_pd_rss;

/* -EINTR if SIGINT, SIGTERM or SIGHUP is pending (they are held). */
int bt_interrupted(void)
{
	int s = bench_held_pending(&bt_held);

	if (s)
		pr_err("pid %d: interrupted by signal %d; cleaning up", getpid(), s);
	return s ? -EINTR : 0;
}

/*
 * In a new child: the held signals act again (@unhold), and with @orphan_kill
 * the child dies with the bench.
 */
void bt_child_setup(int unhold, int orphan_kill)
{
	if (unhold)
		sigprocmask(SIG_UNBLOCK, &bt_held, NULL);
	if (orphan_kill)
		prctl(PR_SET_PDEATHSIG, SIGKILL);
}

void bt_sleep_until_ns(uint64_t t)
{
	struct timespec ts = { .tv_sec = (time_t)(t / 1000000000ULL),
			       .tv_nsec = (long)(t % 1000000000ULL) };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

double bt_ns_to_ms(uint64_t ns)
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
		bt_child_setup(1, 1);
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

pid_t bt_start_memhog(unsigned long mib, uint64_t *base)
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

pid_t bt_start_dirtier(uint64_t pages)
{
	char rate[32], npages[32], line[256];
	char *argv[] = { "dirtier", "--rate", rate, "--pages", npages, NULL };

	snprintf(rate, sizeof(rate), "%d", PD_RATE);
	snprintf(npages, sizeof(npages), "%llu", (unsigned long long)pages);
	return spawn_workload(argv, "ready", line, sizeof(line));
}

/* Stop the tracking of @pid if any, then kill and reap it. */
void bt_stop_target(pid_t pid)
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

int bt_freeze(struct pstree *tree, pid_t pid)
{
	int err = pstree_freeze(tree, pid);

	if (err)
		pr_errno(err, "pid %d: cannot freeze it", pid);
	return err;
}

void bt_thaw(struct pstree *tree)
{
	pstree_release(tree);
	pstree_free(tree);
}

/*
 * Arm tracking on @pid as pre-dump does, with BPF map sizes @bo (NULL:
 * defaults), or without BPF if @no_bpf.
 */
int bt_arm(pid_t pid, const struct dirty_bpf_opts *bo, int no_bpf, struct tracker **t)
{
	struct tracker_opts o = { .no_bpf = no_bpf };
	struct pstree tree;
	int err;

	if (bo)
		o.bpf = *bo;
	/* The BPF side loads before the bt_freeze, as in pre-dump. */
	tracker_load_bpf(pid, &o);
	err = bt_freeze(&tree, pid);
	if (err)
		goto out;
	err = tracker_arm(t, pid, &o);
	bt_thaw(&tree);
	if (err)
		pr_errno(err, "pid %d: cannot arm tracking", pid);
out:
	if (o.loaded)
		dirty_bpf_close(o.loaded);
	return err;
}

void bt_disarm(struct tracker **t)
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
