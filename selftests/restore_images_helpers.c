// SPDX-License-Identifier: MIT
/*
 * What the tests of the restore side's image loader share: a real dump of a
 * workload, damaged copies of it, and rimg_load expected to fail.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "images.h"
#include "img.h"
#include "helpers.h"
#include "log.h"

#include "restore_images_helpers.h"

void ri_kill_workload(struct ri_dump *d)
{
	kill(-d->pid, SIGKILL);
	t_kill_wait(d->pid);
}

/* Run workload @argv until @ready, dump it with --leave-running, then kill it unless @keep. */
void ri_make_dump_keep(struct ri_dump *d, const char *const argv[], const char *ready, int keep)
{
	char *line, *err = NULL;
	int rc;

	d->dir = t_tmpdir();
	snprintf(d->out, sizeof(d->out), "%s/out", d->dir);
	snprintf(d->img, sizeof(d->img), "%s/img", d->dir);
	d->pid = t_spawn_ready(d->out, argv, ready, 10000, &line);
	snprintf(d->line, sizeof(d->line), "%s", line);
	free(line);
	rc = t_run(NULL, &err, "%s dump -t %d -D %s --leave-running", t_ferry_bin(), d->pid,
		   d->img);
	if (!keep || rc)
		ri_kill_workload(d);
	cr_assert_eq(rc, 0, "ferry dump failed: %s", err ? err : "");
	free(err);
}

void ri_make_dump(struct ri_dump *d, const char *const argv[], const char *ready)
{
	ri_make_dump_keep(d, argv, ready, 0);
}

void ri_drop_dump(struct ri_dump *d)
{
	t_rmrf(d->dir);
	free(d->dir);
}

struct rimg *ri_load_ok(const char *dir)
{
	struct rimg *r = NULL;
	int err = rimg_load(&r, dir);

	cr_assert_eq(err, 0, "rimg_load %s: %s", dir, strerror(-err));
	cr_assert_not_null(r);
	return r;
}

/* A damaged copy of the dump: DIR/bad. */
const char *ri_copy_dump(struct ri_dump *d)
{
	static char bad[600];

	snprintf(bad, sizeof(bad), "%s/bad", d->dir);
	cr_assert_eq(t_run(NULL, NULL, "cp -a %s %s", d->img, bad), 0);
	return bad;
}

/* rimg_load on @dir must fail with @want and log a line containing each needle. */
void ri_expect_fail(const char *dir, int want, const char *needle, const char *needle2)
{
	char logp[700], *log;
	struct rimg *r = (struct rimg *)1;
	int err;

	snprintf(logp, sizeof(logp), "%s.log", dir);
	cr_assert_eq(log_init(logp, LOG_ERROR, 0), 0);
	err = rimg_load(&r, dir);
	log_fini();
	log = t_read_file(logp, NULL);
	cr_assert_not_null(log);
	cr_assert_eq(err, want, "rimg_load returned %d (%s), want %d; log: %s", err, strerror(-err),
		     want, log);
	cr_assert_null(r, "no model on failure");
	cr_assert(strstr(log, needle), "log lacks '%s': %s", needle, log);
	if (needle2)
		cr_assert(strstr(log, needle2), "log lacks '%s': %s", needle2, log);
	free(log);
}

void ri_parse_memhog(const struct ri_dump *d, uint64_t *base, uint64_t *size, uint64_t *seed)
{
	unsigned long long b, s, sd;
	int pid;

	cr_assert_eq(sscanf(strstr(d->line, "memhog:"),
			    "memhog: pid %d base %llx size %llu seed %llu", &pid, &b, &s, &sd),
		     4, "memhog said '%s'", d->line);
	*base = b;
	*size = s;
	*seed = sd;
}

void ri_start_memhog(struct ri_dump *d)
{
	const char *argv[] = { "memhog", "8", "1", NULL };

	ri_make_dump(d, argv, "ready");
}

/* Rewrite image @name of @dir entry by entry, through @edit (which may add one). */

void ri_rewrite(const char *dir, const char *name, const struct img_type *t, ri_edit_fn edit,
		void *arg, int dup_first)
{
	ProtobufCMessage *m, *first = NULL;
	struct img *in, *out;
	size_t idx = 0;
	int dfd, rc;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(dfd, 0);
	cr_assert_eq(img_open(&in, dfd, name, t), 0);
	cr_assert_eq(unlinkat(dfd, name, 0), 0); /* the mapping stays readable */
	cr_assert_eq(img_create(&out, dfd, name, t), 0);
	while ((rc = img_read_entry(in, &m)) == 1) {
		if (edit)
			edit(m, idx, arg);
		cr_assert_eq(img_write_entry(out, m), 0);
		if (!idx && dup_first)
			first = m;
		else
			protobuf_c_message_free_unpacked(m, NULL);
		idx++;
	}
	cr_assert_eq(rc, 0);
	if (first) {
		cr_assert_eq(img_write_entry(out, first), 0);
		protobuf_c_message_free_unpacked(first, NULL);
	}
	cr_assert_eq(img_commit(out), 0);
	img_close(in);
	close(dfd);
}
