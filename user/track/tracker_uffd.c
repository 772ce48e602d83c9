// SPDX-License-Identifier: MIT
/*
 * The userfaultfd the tracker parks in its target: made by the target (a
 * remote syscall), kept at a high fd so that tracking outlives one ferry run,
 * closed there when tracking stops, and recognised when a killed ferry lost it.
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

/* The lowest fd number to park the uffd at: high, under RLIMIT_NOFILE, in a small table. */
static long park_min(pid_t pid)
{
	struct rlimit64 rl[RLIMIT_NOFILE + 1];
	uint64_t cur;

	if (proc_parse_limits(pid, rl, RLIMIT_NOFILE + 1))
		return 3;
	cur = rl[RLIMIT_NOFILE].rlim_cur;
	if (cur >= 1064)
		return 1000;
	return cur > 64 ? (long)cur - 32 : 3;
}

/* The target creates a userfaultfd and keeps a copy at a high fd; returns that fd or -errno. */
int trk_remote_uffd(pid_t pid)
{
	struct rsys r;
	long fd = -1, parked = -1, ret;
	int err;

	err = rsys_prepare(&r, pid);
	if (err)
		return err;
	err = rsys_call(&r, &fd, __NR_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY, 0,
			0, 0, 0, 0);
	if (!err && fd < 0) {
		pr_errno((int)fd, "pid %d: userfaultfd(2) in the target failed", pid);
		err = (int)fd;
	}
	if (!err) {
		err = rsys_call(&r, &parked, __NR_fcntl, (uint64_t)fd, F_DUPFD_CLOEXEC,
				(uint64_t)park_min(pid), 0, 0, 0);
		if (!err && parked < 0) {
			pr_errno((int)parked, "pid %d: cannot park its userfaultfd %ld", pid, fd);
			err = (int)parked;
		}
		rsys_call(&r, &ret, __NR_close, (uint64_t)fd, 0, 0, 0, 0, 0);
	}
	rsys_finish(&r);
	return err ? err : (int)parked;
}

int trk_remote_close(pid_t pid, int fd)
{
	struct rsys r;
	long ret = 0;
	int err;

	err = rsys_prepare(&r, pid);
	if (err)
		return err;
	err = rsys_call(&r, &ret, __NR_close, (uint64_t)fd, 0, 0, 0, 0, 0);
	rsys_finish(&r);
	if (!err && ret < 0) {
		pr_errno((int)ret, "pid %d: cannot close its parked userfaultfd %d", pid, fd);
		err = (int)ret;
	}
	return err;
}

/*
 * A userfaultfd ferry parked in @pid and lost: ferry was killed while it
 * armed (before the state file), or the state file is gone. Recognised by
 * how ferry makes it: at or above park_min(), O_CLOEXEC|O_NONBLOCK, and
 * either no UFFDIO_API yet or ferry's async write-protection. Returns 1 if
 * @fd of @pid is one, else 0.
 */
static int orphan_uffd(pid_t pid, int fd, long min)
{
	char path[64], link[64], buf[512], *api;
	unsigned long long version, features;
	struct proc_fdinfo fi;
	size_t len = 0;
	ssize_t n;
	int f, err, ours;

	if (fd < min)
		return 0;
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", pid, fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n <= 0)
		return 0;
	link[n] = '\0';
	if (strcmp(link, "anon_inode:[userfaultfd]"))
		return 0;
	/* One read serves both checks: a userfaultfd's fdinfo is a few short lines. */
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	f = open(path, O_RDONLY | O_CLOEXEC);
	if (f < 0)
		return 0;
	err = read_full(f, buf, sizeof(buf) - 1, &len);
	close(f);
	if ((err && err != -EIO) || !len)
		return 0;
	err = proc_fdinfo_parse(buf, len, &fi);
	if (err) {
		pr_errno(err, "pid %d fd %d: cannot parse %s", pid, fd, path);
		return 0;
	}
	ours = (fi.flags & (O_CLOEXEC | O_NONBLOCK)) == (O_CLOEXEC | O_NONBLOCK);
	proc_fdinfo_release(&fi);
	buf[len] = '\0';
	api = strstr(buf, "API:");
	if (!api || sscanf(api, "API: %llx:%llx", &version, &features) != 2)
		return 0;
	return ours && (!features || (features & UFFD_FEATURE_WP_ASYNC));
}

int tracker_drop_orphans(pid_t pid)
{
	long min = park_min(pid);
	struct dirent *de;
	int n = 0, err;
	char path[64];
	DIR *d;

	if (trk_state_exists(pid))
		return 0; /* its parked uffd is known: attach takes it */
	snprintf(path, sizeof(path), "/proc/%d/fd", pid);
	d = opendir(path);
	if (!d)
		return errno == ENOENT ? -ESRCH : -errno;
	while ((de = readdir(d))) {
		int fd = atoi(de->d_name);

		if (de->d_name[0] == '.' || !orphan_uffd(pid, fd, min))
			continue;
		err = trk_remote_close(pid, fd);
		if (err) {
			closedir(d);
			return err;
		}
		pr_info("pid %d: closed the userfaultfd a killed ferry left parked at its fd %d "
			"(its tracking was lost)",
			pid, fd);
		n++;
	}
	closedir(d);
	return n;
}

/* readlink of an fd of ours: is it a userfaultfd? */
int trk_is_uffd(int fd)
{
	char path[64], link[64];
	ssize_t n;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	n = readlink(path, link, sizeof(link) - 1);
	if (n < 0)
		return 0;
	link[n] = 0;
	return !strcmp(link, "anon_inode:[userfaultfd]");
}
