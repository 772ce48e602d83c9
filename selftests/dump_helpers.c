// SPDX-License-Identifier: MIT
/*
 * What the `ferry dump` tests (suites dump and dump_faults) share: a workload
 * started and stopped, ferry dump run on it, the workload checked unharmed,
 * the images checked with ferry's decoder and crit.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"

#include "dump_helpers.h"

void dt_wl_start(struct dt_wl *w, const char *const argv[], const char *ready)
{
	w->dir = t_tmpdir();
	snprintf(w->out, sizeof(w->out), "%s/out", w->dir);
	snprintf(w->img, sizeof(w->img), "%s/img", w->dir);
	w->pid = t_spawn_ready(w->out, argv, ready, 10000, NULL);
}

void dt_wl_stop(struct dt_wl *w)
{
	t_kill_wait(w->pid);
	t_rmrf(w->dir);
	free(w->dir);
}

int dt_ferry_dump(struct dt_wl *w, const char *extra, char **err)
{
	return t_run(NULL, err, "%s dump -t %d -D %s %s", t_ferry_bin(), w->pid, w->img,
		     extra ? extra : "");
}

/*
 * The target runs normally: not stopped, not traced, and still making progress
 * (more lines with @progress in file @path), unless @path is NULL.
 */
void dt_assert_running(struct dt_wl *w, const char *path, const char *progress)
{
	char st = t_proc_state(w->pid);
	int before, after = 0;

	cr_assert(st == 'S' || st == 'R', "pid %d is in state '%c' after the dump", w->pid, st);
	cr_assert_eq(t_proc_field(w->pid, "TracerPid"), 0, "pid %d is still traced", w->pid);
	if (!path)
		return;
	before = t_count_lines(path, progress);
	for (int i = 0; i < 300 && after <= before; i++) {
		usleep(10000);
		after = t_count_lines(path, progress);
	}
	cr_assert_gt(after, before, "pid %d makes no progress after the dump", w->pid);
}

/* Every image ferry wrote decodes with ferry and, if installed, with crit. */
int dt_check_all_images(const char *dir)
{
	struct dirent *de;
	int n = 0;
	DIR *d = opendir(dir);

	cr_assert_not_null(d);
	while ((de = readdir(d))) {
		char *err = NULL;
		int rc;

		if (de->d_name[0] == '.' || !strncmp(de->d_name, "pages-", 6))
			continue;
		cr_assert(strstr(de->d_name, ".tmp") == NULL, "temporary file %s left", de->d_name);
		rc = t_run(NULL, &err, "%s decode -i %s/%s", t_ferry_bin(), dir, de->d_name);
		cr_assert_eq(rc, 0, "ferry decode %s: %s", de->d_name, err ? err : "");
		free(err);
		err = NULL;
		if (t_crit()) {
			rc = t_run(NULL, &err, "%s decode -i %s/%s", t_crit(), dir, de->d_name);
			cr_assert_eq(rc, 0, "crit decode %s: %s", de->d_name, err ? err : "");
		}
		free(err);
		n++;
	}
	closedir(d);
	return n;
}

int dt_count_images(const char *dir)
{
	struct dirent *de;
	int n = 0;
	DIR *d = opendir(dir);

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (strstr(de->d_name, ".img") || !strncmp(de->d_name, "stats-", 6))
			n++;
	closedir(d);
	return n;
}

/* Each of @needles (printf'd with its arguments) appears in @text. */
void dt_expect_named(const char *text, const char *needle)
{
	cr_expect(text && strstr(text, needle), "'%s' is not named in:\n%s", needle,
		  text ? text : "(nothing)");
}
