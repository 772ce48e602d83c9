// SPDX-License-Identifier: MIT
/*
 * What the dump_files tests share: forked children that hold fds and block
 * in read(2), reading images back, capturing the error log, a data pattern.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "img.h"
#include "fdinfo.pb-c.h"
#include "helpers.h"
#include "log.h"

#include "dump_files_helpers.h"

/* ---- children ------------------------------------------------------------------------------- */

/* Move fd to number at (with FD_CLOEXEC if cloexec). */
void df_put_fd(int fd, int at, int cloexec)
{
	if (fd < 0)
		_exit(100);
	if (fd == at) {
		if (cloexec)
			fcntl(fd, F_SETFD, FD_CLOEXEC);
		return;
	}
	if (dup3(fd, at, cloexec ? O_CLOEXEC : 0) != at)
		_exit(101);
	close(fd);
}

void df_kid_ready(long extra)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "ready %ld\n", extra);

	if (write(1, buf, (size_t)n) != n)
		_exit(102);
}

/* Block in read(2) until the test sends a byte; EOF means "go away". */
void df_kid_block(void)
{
	char c;

	if (read(0, &c, 1) != 1)
		_exit(0);
}

/*
 * Fork a child whose fd table holds only stdin/stdout pipes to the test,
 * /dev/null as stderr, and what fn(arg) opens. fn must call df_kid_ready().
 */
void df_kid_start(struct df_kid *k, void (*fn)(void *), void *arg)
{
	int pin[2], pout[2], nul;
	ssize_t n;

	memset(k, 0, sizeof(*k));
	cr_assert_eq(pipe2(pin, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(pout, O_CLOEXEC), 0);
	k->pid = fork();
	cr_assert_geq(k->pid, 0);
	if (!k->pid) {
		nul = open("/dev/null", O_WRONLY);
		if (dup2(pin[0], 0) != 0 || dup2(pout[1], 1) != 1 || dup2(nul, 2) != 2)
			_exit(103);
		close_range(3, ~0U, 0);
		fn(arg);
		_exit(0);
	}
	close(pin[0]);
	close(pout[1]);
	k->in = pin[1];
	k->out = pout[0];
	for (n = 0; n < (ssize_t)sizeof(k->line) - 1 && read(k->out, k->line + n, 1) == 1; n++)
		if (k->line[n] == '\n')
			break;
	cr_assert(sscanf(k->line, "ready %ld", &k->extra) == 1, "child did not start: '%s'",
		  k->line);
	usleep(50 * 1000); /* let it reach its read(2) */
}

/* Release the child (and its tree) and reap it; returns its exit status. */
int df_kid_stop(struct df_kid *k)
{
	int st;

	close(k->in);
	cr_assert_eq(waitpid(k->pid, &st, 0), k->pid);
	close(k->out);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* ---- images --------------------------------------------------------------------------------- */

void df_read_entries(int dirfd, const char *name, const struct img_type *t, struct df_entries *e)
{
	ProtobufCMessage *msg;
	struct img *img;
	int r;

	memset(e, 0, sizeof(*e));
	cr_assert_eq(img_open(&img, dirfd, name, t), 0, "cannot open %s", name);
	while ((r = img_read_entry(img, &msg)) == 1) {
		e->m = realloc(e->m, (e->n + 1) * sizeof(*e->m));
		cr_assert_not_null(e->m);
		e->m[e->n++] = msg;
	}
	cr_assert_eq(r, 0, "%s ends badly", name);
	img_close(img);
}

void df_free_entries(struct df_entries *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		protobuf_c_message_free_unpacked(e->m[i], NULL);
	free(e->m);
}

const FdinfoEntry *df_fdinfo_of(const struct df_entries *e, uint32_t fd)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		if (((FdinfoEntry *)e->m[i])->fd == fd)
			return (FdinfoEntry *)e->m[i];
	cr_assert_fail("no fdinfo entry for fd %u", fd);
	return NULL;
}

const FileEntry *df_file_of(const struct df_entries *e, uint32_t id)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		if (((FileEntry *)e->m[i])->id == id)
			return (FileEntry *)e->m[i];
	cr_assert_fail("no file entry with id %u", id);
	return NULL;
}

/* The file entry behind fd of an fdinfo image. */
const FileEntry *df_file_of_fd(const struct df_entries *files, const struct df_entries *fdi,
			       uint32_t fd)
{
	return df_file_of(files, df_fdinfo_of(fdi, fd)->id);
}

/* Number of image files (finished or temporary) in dir. */
int df_count_images(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	cr_assert_not_null(d);
	while ((de = readdir(d)))
		if (strstr(de->d_name, ".img"))
			n++;
	closedir(d);
	return n;
}

void df_crit_decode(const char *dir, const char *name)
{
	char *out = NULL, *err = NULL;
	int st;

	st = t_run(&out, &err, "/usr/bin/python3 " CRIT " decode -i '%s/%s'", dir, name);
	cr_assert_eq(st, 0, "crit decode %s failed: %s", name, err ? err : "");
	cr_assert(out && strstr(out, "\"entries\""), "crit said: %s", out ? out : "");
	free(out);
	free(err);
}

void df_log_start(struct df_logcap *l)
{
	char *d = t_tmpdir();

	cr_assert_not_null(d);
	snprintf(l->dir, sizeof(l->dir), "%s", d);
	free(d);
	snprintf(l->path, sizeof(l->path), "%s/log", l->dir);
	cr_assert_eq(log_init(l->path, LOG_ERROR, 0), 0);
}

/* Stop capturing; returns the text (malloc'd) and removes the file. */
char *df_log_end(struct df_logcap *l)
{
	char *text;

	log_fini();
	text = t_read_file(l->path, NULL);
	cr_assert_not_null(text);
	t_rmrf(l->dir);
	return text;
}

uint32_t df_pattern_sum(const uint8_t *p, size_t n)
{
	uint32_t h = 2166136261u;
	size_t i;

	for (i = 0; i < n; i++)
		h = (h ^ p[i]) * 16777619u;
	return h;
}

uint8_t df_pattern(size_t i)
{
	return (uint8_t)(i * 7 + 3 + (i >> 9));
}

uint64_t df_mnt_id_of(const char *path)
{
	struct statx sx;

	cr_assert_eq(statx(AT_FDCWD, path, 0, STATX_MNT_ID, &sx), 0);
	cr_assert(sx.stx_mask & STATX_MNT_ID);
	return sx.stx_mnt_id;
}
