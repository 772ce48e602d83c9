// SPDX-License-Identifier: MIT
/*
 * The tracker's state between ferry runs: the state file and the BPF pin
 * directory of each tracked process, and the sweep of what tracking of
 * processes that are gone (or whose pid was taken again) left behind.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/userfaultfd.h>

#include "compat.h"
#include "proc_fdinfo.h"
#include "proc_parse.h"
#include "rsys.h"
#include "soft_dirty.h"
#include "track_watch.h"
#include "tracker.h"
#include "uffd.h"
#include "util.h"

#define LOG_PREFIX "track: "
#include "log.h"
#include "tracker_priv.h"

const char *tracker_mode_name(enum tracker_mode m)
{
	switch (m) {
	case TRACKER_UFFD_WP:
		return "uffd-wp";
	case TRACKER_SOFT_DIRTY:
		return "soft-dirty";
	default:
		return "auto";
	}
}

int tracker_mode_parse(const char *s, enum tracker_mode *m)
{
	for (int i = TRACKER_AUTO; i <= TRACKER_SOFT_DIRTY; i++) {
		if (!strcmp(s, tracker_mode_name((enum tracker_mode)i))) {
			*m = (enum tracker_mode)i;
			return 0;
		}
	}
	return -EINVAL;
}

const char *tracker_scan_name(enum tracker_mode m)
{
	return m == TRACKER_SOFT_DIRTY ? "soft-dirty" : "PAGEMAP_SCAN";
}

static void state_path(pid_t pid, char *buf, size_t len)
{
	snprintf(buf, len, TRACK_STATE_DIR "/%d", pid);
}

void trk_pin_path(pid_t pid, char *buf, size_t len)
{
	snprintf(buf, len, TRACK_BPF_DIR "/track-%d", pid);
}

int trk_write_state(const struct tracker *t)
{
	char path[128], tmp[160], line[256];
	int fd, err, n;

	err = mkdir_p(TRACK_STATE_DIR);
	if (err) {
		pr_errno(err, "cannot create %s", TRACK_STATE_DIR);
		return err;
	}
	state_path(t->pid, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	n = snprintf(line, sizeof(line),
		     "pid %d\nstarttime %" PRIu64 "\nparked_fd %d\nround %u\nlast_dir %" PRIu64
		     " %" PRIu64 "\nbpf %d\nmode %s\n",
		     t->pid, t->starttime, t->parked_fd, t->round, t->last_dev, t->last_ino,
		     t->bpf != NULL, tracker_mode_name(t->mode));
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) {
		err = -errno;
		pr_perror("cannot create %s", tmp);
		return err;
	}
	err = write_full(fd, line, (size_t)n);
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, path))
		err = -errno;
	if (err) {
		pr_errno(err, "cannot write %s", path);
		unlink(tmp);
	}
	return err;
}

int trk_read_state(pid_t pid, struct trk_state *s)
{
	char path[128], mode[16] = "";
	FILE *f;
	int n;

	state_path(pid, path, sizeof(path));
	f = fopen(path, "re");
	if (!f)
		return -errno;
	memset(s, 0, sizeof(*s));
	n = fscanf(f,
		   "pid %d\nstarttime %" SCNu64 "\nparked_fd %d\nround %u\nlast_dir %" SCNu64
		   " %" SCNu64 "\nbpf %d\nmode %15s",
		   &s->pid, &s->starttime, &s->parked_fd, &s->round, &s->last_dev, &s->last_ino,
		   &s->bpf, mode);
	fclose(f);
	if (n != 8 || s->pid != pid || tracker_mode_parse(mode, &s->mode) ||
	    s->mode == TRACKER_AUTO || (s->mode == TRACKER_UFFD_WP) != (s->parked_fd >= 0)) {
		pr_err("%s: malformed tracking state (%d fields)", path, n);
		return -EINVAL;
	}
	return 0;
}

void trk_remove_state(pid_t pid)
{
	char path[128];

	state_path(pid, path, sizeof(path));
	if (unlink(path) && errno != ENOENT)
		pr_warn("cannot remove %s: %s", path, strerror(errno));
}

/*
 * The tracked process @pid with @starttime (0: any) still runs: not gone, not
 * a zombie, not a newer process that took its pid. Returns 1 or 0.
 */
int trk_still_runs(pid_t pid, uint64_t starttime)
{
	struct proc_stat ps;
	int err = proc_parse_stat(pid, 0, &ps);

	if (err == -ESRCH || (!err && (ps.state == 'Z' || ps.state == 'X')))
		return 0;
	if (!err && starttime && ps.starttime != starttime)
		return 0;
	return 1; /* or unreadable: not ours to remove */
}

/* Remove what tracking of @pid left: its state file and its pinned BPF. */
void trk_remove_leftovers(pid_t pid, const char *why)
{
	char dir[128];
	int had_state = trk_state_exists(pid), e;

	trk_remove_state(pid);
	trk_pin_path(pid, dir, sizeof(dir));
	e = dirty_bpf_unpin(dir);
	if (had_state || !e)
		pr_info("pid %d %s: its tracking (%s%s) removed", pid, why,
			had_state ? "state file" : "",
			!e ? (had_state ? ", pinned BPF" : "pinned BPF") : "");
}

int tracker_sweep(void)
{
	static const struct {
		const char *dir, *prefix;
	} where[] = { { TRACK_STATE_DIR, "" }, { TRACK_BPF_DIR, "track-" } };
	struct trk_state s;
	struct dirent *de;
	int removed = 0;
	pid_t pid;
	DIR *d;

	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		d = opendir(where[i].dir);
		if (!d)
			continue;
		while ((de = readdir(d))) {
			pid = pid_after_prefix(de->d_name, where[i].prefix);
			if (!pid)
				continue;
			/* A state file names the process; pins alone only the pid. */
			if (trk_read_state(pid, &s))
				s.starttime = 0;
			if (trk_still_runs(pid, s.starttime))
				continue;
			trk_remove_leftovers(pid, "is gone");
			removed++;
		}
		closedir(d);
	}
	return removed;
}

/* Once per run, before the first use of tracking state. */
void trk_sweep_once(void)
{
	static int swept;

	if (!__atomic_exchange_n(&swept, 1, __ATOMIC_RELAXED))
		tracker_sweep();
}

int trk_state_exists(pid_t pid)
{
	char path[128];

	state_path(pid, path, sizeof(path));
	return access(path, F_OK) == 0;
}

int tracker_is_armed(pid_t pid)
{
	char path[128];

	trk_sweep_once();
	state_path(pid, path, sizeof(path));
	return access(path, F_OK) == 0;
}
