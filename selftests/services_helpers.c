// SPDX-License-Identifier: MIT
#include "services_helpers.h"

#include <criterion/criterion.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"

/*
 * A lazy restore's background filling waits this long (ms): the tests' first
 * requests, and the forks they cause (redis BGSAVE, nginx reload), find the
 * pages still missing and served on demand.
 */
#define LAZY_PREFETCH_DELAY "2000"

static const char *const mode_name[] = { "eager", "lazy", "pre-dump chain" };

void svc_program(const char *path, const char *pkg)
{
	if (access(path, X_OK))
		cr_skip_test("%s is not installed (Debian package %s; make deps)", path, pkg);
}

int svc_free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(s, 0);
	cr_assert_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0, "bind: %s", strerror(errno));
	cr_assert_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
	close(s);
	return ntohs(a.sin_port);
}

char *svc_spawn(struct t_tree *t, const char *const argv[], const char *needle)
{
	char *line;

	t->name = argv[0];
	t->pid = t_spawn(t->out, argv);
	cr_assert_gt(t->pid, 0, "%s did not start", t->name);
	line = t_wait_line(t->out, needle, 20000);
	if (!line) {
		char *why = t_read_file(t->out, NULL);

		cr_assert_fail("%s (pid %d) never said '%s': %s", t->name, t->pid, needle,
			       why ? why : "");
	}
	return line;
}

static double now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* Bytes of the regular files directly in @dir (an image directory). */
static unsigned long long dir_bytes(const char *dir)
{
	unsigned long long sum = 0;
	char path[1200];
	struct dirent *e;
	struct stat st;
	DIR *d = opendir(dir);

	cr_assert_not_null(d, "opendir %s: %s", dir, strerror(errno));
	while ((e = readdir(d))) {
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (!lstat(path, &st) && S_ISREG(st.st_mode))
			sum += (unsigned long long)st.st_size;
	}
	closedir(d);
	return sum;
}

void svc_checkpoint(struct t_tree *t, enum svc_mode mode, void (*between)(void *), void *arg)
{
	svc_checkpoint_reap(t, mode, between, arg, NULL, 0);
}

void svc_checkpoint_reap(struct t_tree *t, enum svc_mode mode, void (*between)(void *), void *arg,
			 const pid_t *reap, int nr_reap)
{
	char d1[700], d2[700], *err = NULL, pre[128] = "";
	double t0, t_dump, t_restore;
	int rc;

	snprintf(d1, sizeof(d1), "%s/1", t->dir);
	snprintf(d2, sizeof(d2), "%s/2", t->dir);
	if (mode == SVC_PREDUMP) {
		t0 = now_ms();
		rc = t_run(NULL, &err, "%s pre-dump -t %d -D %s", t_ferry_bin(), t->pid, d1);
		cr_assert_eq(rc, 0, "pre-dump of %s (pid %d): %s", t->name, t->pid, err ? err : "");
		snprintf(pre, sizeof(pre), "pre-dump %.0f ms, %llu KiB; ", now_ms() - t0,
			 dir_bytes(d1) >> 10);
		free(err);
		if (between)
			between(arg);
	}
	t0 = now_ms();
	t_tree_dump(t, d2, mode == SVC_PREDUMP ? "--prev-images-dir ../1" : NULL);
	t_dump = now_ms() - t0;
	/*
	 * Killed by the dump and adopted by us (subreaper) when the root died:
	 * free their pids. One that ended before (its parent reaped it) is not ours.
	 */
	for (int i = 0; i < nr_reap; i++) {
		pid_t got = reap[i] == t->child ? reap[i] : waitpid(reap[i], NULL, 0);

		cr_assert(got == reap[i] || errno == ECHILD, "%s: pid %d not reaped: %s", t->name,
			  reap[i], strerror(errno));
	}
	t0 = now_ms();
	t_tree_restore(t, d2,
		       mode == SVC_LAZY ? "--lazy-pages --prefetch-delay " LAZY_PREFETCH_DELAY
					: NULL);
	t_restore = now_ms() - t0;
	cr_log_info("services: %s %s: %sdump %.0f ms, restore %.0f ms, images %llu KiB", t->name,
		    mode_name[mode], pre, t_dump, t_restore, dir_bytes(d2) >> 10);
}

void svc_img_dir(const struct t_tree *t, char *buf, size_t len)
{
	snprintf(buf, len, "%s/2", t->dir);
}

void svc_files_decode(const char *dir, const char *const kinds[])
{
	const char *tools[2] = { t_ferry_bin(), t_crit() };

	for (int i = 0; i < 2 && tools[i]; i++) {
		char *out = NULL, *err = NULL, want[64];
		int rc = t_run(&out, &err, "%s decode --pretty -i %s/files.img", tools[i], dir);

		cr_assert_eq(rc, 0, "%s decode of %s/files.img: %s", tools[i], dir, err ? err : "");
		for (const char *const *k = kinds; *k; k++) {
			snprintf(want, sizeof(want), "\"%s\"", *k);
			cr_assert(out && strstr(out, want), "%s decode of %s/files.img shows no %s",
				  tools[i], dir, *k);
		}
		free(out);
		free(err);
	}
}

char *svc_request(int port, const char *req, size_t len, const char *until)
{
	struct sockaddr_in a = { .sin_family = AF_INET,
				 .sin_port = htons((uint16_t)port),
				 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct timeval tv = { .tv_sec = 10 };
	size_t got = 0, cap = 65536;
	char *buf = malloc(cap);
	ssize_t n = 0;
	int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert(buf && s >= 0);
	setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	cr_assert_eq(connect(s, (struct sockaddr *)&a, sizeof(a)), 0, "connect to port %d: %s",
		     port, strerror(errno));
	cr_assert_eq(write(s, req, len), (ssize_t)len, "write to port %d", port);
	buf[0] = '\0';
	while (got < cap - 1 && (n = read(s, buf + got, cap - 1 - got)) > 0) {
		got += (size_t)n;
		buf[got] = '\0';
		if (until && strstr(buf, until))
			break;
	}
	cr_assert(n >= 0 || errno != EAGAIN, "port %d: no answer in 10 s (got '%s')", port, buf);
	close(s);
	return buf;
}

char *svc_http_get(int port, const char *path)
{
	char req[512];
	int len = snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n", path);

	return svc_request(port, req, (size_t)len, NULL);
}
