// SPDX-License-Identifier: MIT
/*
 * bench_lazy: processes and files: spawning, waiting for a line, reaping every
 * child, reading files.
 * (bench/bench_lazy.c says what it measures.)
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_PREFIX "bench_lazy: "
#include "log.h"

#include "../bench_util.h"
#include "lazy.h"

/* -EINTR if SIGINT, SIGTERM or SIGHUP is pending (they are held). */
int bl_interrupted(void)
{
	int s = bench_held_pending(&bl_held);

	if (s)
		pr_err("pid %d: interrupted by signal %d; cleaning up", getpid(), s);
	return s ? -EINTR : 0;
}

/* Whole file @path into *@buf (NUL-terminated, to free). */
int bl_read_text(const char *path, char **buf)
{
	size_t len = 0, cap = 65536;
	char *b = malloc(cap);
	int fd, err = 0;

	if (!b)
		return -ENOMEM;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		goto out;
	}
	for (;;) {
		ssize_t n;

		if (cap - len < 4096) {
			char *nb = realloc(b, cap * 2);

			if (!nb) {
				err = -ENOMEM;
				break;
			}
			b = nb;
			cap *= 2;
		}
		n = read(fd, b + len, cap - len - 1);
		if (n < 0) {
			err = -errno;
			break;
		}
		if (!n)
			break;
		len += (size_t)n;
	}
	close(fd);
out:
	if (err) {
		free(b);
		return err;
	}
	b[len] = '\0';
	*buf = b;
	return 0;
}

/* Lines of @path with @needle, or -errno. */
int bl_count_in_file(const char *path, const char *needle)
{
	char *buf, *p;
	int n = 0, err = bl_read_text(path, &buf);

	if (err)
		return err;
	for (p = buf; (p = strstr(p, needle)); p++)
		n++;
	free(buf);
	return n;
}

/* An empty file at @path (an inotify watch needs it to exist). */
int bl_truncate_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0) {
		pr_perror("cannot create %s", path);
		return -errno;
	}
	close(fd);
	return 0;
}

/*
 * Wait until @path has more than @n occurrences of @needle; woken by inotify
 * when the file is written, so no polling skews the clock. -EIO if memhog
 * says "BAD" (@bad), -ETIMEDOUT after @ms.
 */
int bl_wait_for(const char *path, const char *needle, int n, int ms, int bad)
{
	double end = now_s() + ms / 1000.0;
	int ino, err = 0;

	ino = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	if (ino < 0) {
		err = -errno;
		pr_perror("inotify_init1 for %s", path);
		return err;
	}
	if (inotify_add_watch(ino, path, IN_MODIFY) < 0) {
		err = -errno;
		pr_perror("cannot watch %s", path);
		goto out;
	}
	for (;;) {
		struct pollfd pfd = { .fd = ino, .events = POLLIN };
		char ev[4096];
		double left = end - now_s();
		int c = bl_count_in_file(path, needle);

		if (c < 0) {
			err = c;
			pr_errno(err, "cannot read %s", path);
			break;
		}
		if (c > n)
			break;
		if (bad && bl_count_in_file(path, "BAD") > 0) {
			err = -EIO;
			pr_err("%s: the restored memhog found its memory wrong", path);
			break;
		}
		if (left <= 0) {
			err = -ETIMEDOUT;
			pr_err("%s: no '%s' (more than %d) after %d ms", path, needle, n, ms);
			break;
		}
		if (poll(&pfd, 1, (int)(left * 1000) + 1) < 0 && errno != EINTR) {
			err = -errno;
			pr_perror("poll on the watch of %s", path);
			break;
		}
		while (read(ino, ev, sizeof(ev)) > 0)
			;
	}
out:
	close(ino);
	return err;
}

/* Parent pid of @pid from /proc, or -errno. */
pid_t bl_ppid_of(pid_t pid)
{
	char path[64], *buf, *p;
	int err, ppid = -ESRCH;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	err = bl_read_text(path, &buf);
	if (err)
		return err;
	p = strrchr(buf, ')');
	if (!p || sscanf(p, ") %*c %d", &ppid) != 1)
		ppid = -EINVAL;
	free(buf);
	return ppid;
}

/* SIGKILL every child of ours still there (restored trees, daemons, servers). */
void bl_kill_children(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;

	if (!d) {
		pr_perror("cannot open /proc to find children left behind");
		return;
	}
	while ((e = readdir(d))) {
		pid_t pid = (pid_t)atoi(e->d_name);

		if (pid > 0 && bl_ppid_of(pid) == getpid()) {
			pr_warn("pid %d: a child of ours left behind; killing it", pid);
			kill(pid, SIGKILL);
		}
	}
	closedir(d);
}

/*
 * Reap every child: the restored memhog (killed by the caller), the daemon,
 * the page server @ps (its ru_maxrss into @ps_rss). Anything still there
 * after REAP_S is killed. A daemon or server that did not exit 0 is an error.
 */
int bl_reap_all(pid_t memhog, pid_t ps, long *ps_rss)
{
	double end = now_s() + REAP_S;
	int err = 0, killed = 0;

	for (;;) {
		struct rusage ru;
		int st;
		pid_t p = wait4(-1, &st, WNOHANG, &ru);

		if (p > 0) {
			if (p == ps && ps_rss)
				*ps_rss = ru.ru_maxrss;
			if (p != memhog && (!WIFEXITED(st) || WEXITSTATUS(st))) {
				pr_err("pid %d (%s) ended with status %#x", p,
				       p == ps ? "page server" : "lazy-pages daemon", st);
				err = err ?: -EIO;
			}
			continue;
		}
		if (p < 0 && errno == ECHILD)
			break;
		if (p < 0 && errno != EINTR) {
			err = -errno;
			pr_perror("wait4");
			break;
		}
		if (!killed && now_s() > end) {
			bl_kill_children();
			killed = 1;
			err = err ?: -ETIMEDOUT;
		}
		usleep(1000);
	}
	return err;
}

/* fork + exec @argv (a path), stdout to @out if not NULL (appended). */
pid_t bl_spawn(const char *const argv[], const char *out, int own_pgrp)
{
	pid_t pid = fork();

	if (pid < 0) {
		pr_perror("cannot fork for %s", argv[0]);
		return -errno;
	}
	if (!pid) {
		sigprocmask(SIG_UNBLOCK, &bl_held, NULL);
		if (out) {
			int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);

			if (fd < 0 || dup2(fd, 1) < 0)
				_exit(126);
			close(fd);
		}
		if (own_pgrp)
			setpgid(0, 0);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

/* Run @argv to its end; it must exit 0. Its ru_maxrss into @rss (may be NULL). */
int bl_run(const char *const argv[], long *rss)
{
	struct rusage ru;
	int st;
	pid_t pid = bl_spawn(argv, NULL, 0);

	if (pid < 0)
		return pid;
	while (wait4(pid, &st, 0, &ru) < 0) {
		if (errno != EINTR) {
			pr_perror("wait4 for pid %d (%s %s)", pid, argv[0], argv[1]);
			return -errno;
		}
	}
	if (!WIFEXITED(st) || WEXITSTATUS(st)) {
		pr_err("pid %d: %s %s failed (status %#x)", pid, argv[0], argv[1], st);
		return -EIO;
	}
	if (rss)
		*rss = ru.ru_maxrss;
	return 0;
}

/* Print the log of a failed restore to stderr. */
void bl_show_log(const char *path)
{
	char *buf;

	if (bl_read_text(path, &buf))
		return;
	fprintf(stderr, "--- %s ---\n%s--- end of %s ---\n", path, buf, path);
	free(buf);
}
