// SPDX-License-Identifier: MIT
/* What the end-to-end tests of `ferry migrate` share (migrate_helpers.h). */
#include <criterion/criterion.h>
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "migrate_helpers.h"

int start_dest(struct dest *d, const char *ns, const char *addr, const char *dir, const char *img,
	       const char *secret, int lazy)
{
	return start_dest_args(d, ns, addr, dir, img, secret, lazy ? "--lazy-pages" : "");
}

int start_dest_args(struct dest *d, const char *ns, const char *addr, const char *dir,
		    const char *img, const char *secret, const char *args)
{
	char cmd[4096], *line;
	int port = 0;

	snprintf(d->out, sizeof(d->out), "%s/dest.out", dir);
	snprintf(d->log, sizeof(d->log), "%s/dest.log", dir);
	snprintf(cmd, sizeof(cmd),
		 "exec %s%s unshare -p -f --mount-proc %s migrate --incoming --address %s "
		 "--port 0 %s%s %s%s %s --timeout 60 -v3 --log-file %s >%s 2>&1",
		 ns ? "ip netns exec " : "", ns ? ns : "", t_ferry_bin(), addr, img ? "-D " : "",
		 img ? img : "", secret ? "--secret-file " : "", secret ? secret : "", args, d->log,
		 d->out);
	d->pid = fork();
	if (d->pid == 0) {
		setpgid(0, 0);
		syscall(SYS_close_range, 3, ~0u, 0);
		execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
		_exit(127);
	}
	cr_assert_gt(d->pid, 0);
	line = t_wait_line(d->out, "listening on", 10000);
	if (!line || sscanf(strrchr(line, ':') + 1, "%d", &port) != 1) {
		free(line);
		return -1;
	}
	snprintf(d->host_port, sizeof(d->host_port), "%s:%d", addr, port);
	free(line);
	return 0;
}

/* Kill the destination (unshare and the pid 1 of its namespace, so the namespace too). */
void kill_dest(struct dest *d)
{
	if (d->pid > 0) {
		kill(-d->pid, SIGKILL);
		waitpid(d->pid, NULL, 0);
	}
	d->pid = 0;
}

/* The host pid of the process that is pid @nspid in a child pid namespace, or 0. */
pid_t host_pid_of(pid_t nspid)
{
	DIR *d = opendir("/proc");
	struct dirent *de;
	pid_t found = 0;

	while (d && !found && (de = readdir(d))) {
		char path[300], *buf, *l;
		long a = 0, b = 0;

		if (atoi(de->d_name) <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%s/status", de->d_name);
		buf = t_read_file(path, NULL);
		l = buf ? strstr(buf, "NSpid:") : NULL;
		if (l && sscanf(l, "NSpid: %ld %ld", &a, &b) == 2 && b == nspid && a != nspid)
			found = (pid_t)a;
		free(buf);
	}
	if (d)
		closedir(d);
	return found;
}

void write_secret(const char *path, const char *s)
{
	cr_assert_eq(t_write_file(path, s, strlen(s)), 0);
	chmod(path, 0600);
}
