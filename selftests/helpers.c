// SPDX-License-Identifier: MIT
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

const char *t_ferry_bin(void)
{
	const char *b = getenv("FERRY_BIN");

	return b ? b : "build/ferry";
}

const char *t_workload(const char *name)
{
	static __thread char path[PATH_MAX];
	const char *b = getenv("FERRY_BUILD");

	snprintf(path, sizeof(path), "%s/workloads/%s", b ? b : "build", name);
	return path;
}

char *t_tmpdir(void)
{
	char *d = strdup("/tmp/ferry-test-XXXXXX");

	if (d && !mkdtemp(d)) {
		free(d);
		return NULL;
	}
	return d;
}

void t_rmrf(const char *path)
{
	char cmd[PATH_MAX + 16];

	if (!path || strncmp(path, "/tmp/ferry-test-", 16))
		return;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
	if (system(cmd))
		fprintf(stderr, "cannot remove %s\n", path);
}

int t_write_file(const char *path, const void *buf, size_t len)
{
	FILE *f = fopen(path, "w");
	size_t n;

	if (!f)
		return -1;
	n = fwrite(buf, 1, len, f);
	if (fclose(f) || n != len)
		return -1;
	return 0;
}

char *t_read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t cap = 0, n = 0, r;

	if (!f)
		return NULL;
	do {
		if (n + 4096 + 1 > cap) {
			char *nb = realloc(buf, cap = cap * 2 + 8192);

			if (!nb) {
				free(buf);
				fclose(f);
				return NULL;
			}
			buf = nb;
		}
		r = fread(buf + n, 1, 4096, f);
		n += r;
	} while (r);
	fclose(f);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

int t_run(char **out, char **err, const char *fmt, ...)
{
	char cmd[8192], outf[] = "/tmp/ferry-out-XXXXXX", errf[] = "/tmp/ferry-err-XXXXXX";
	char full[8192 + 128];
	va_list ap;
	int fo, fe, st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	fo = mkstemp(outf);
	fe = mkstemp(errf);
	if (fo < 0 || fe < 0)
		return -1;
	close(fo);
	close(fe);
	snprintf(full, sizeof(full), "( %s ) </dev/null >%s 2>%s", cmd, outf, errf);
	st = system(full);
	if (out)
		*out = t_read_file(outf, NULL);
	if (err)
		*err = t_read_file(errf, NULL);
	unlink(outf);
	unlink(errf);
	if (st == -1 || !WIFEXITED(st))
		return -1;
	return WEXITSTATUS(st);
}
