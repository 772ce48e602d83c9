// SPDX-License-Identifier: MIT
/*
 * Pre-dump chains over shared memory written the ways one mapping's dirty
 * tracking misses (issue 18): the shmwrite workload (selftests/workloads/
 * shmwrite.c) writes a shared anonymous region through the child's own mapping
 * and a memfd through pwrite(2) and through a second mapping of it, between
 * the rounds. Each round after the first, and the final dump, compares each
 * page with the chain's copy (user/dump/dump_shmem_parent.h): exactly the
 * pages written since are copied, the others are PE_PARENT; the restored
 * tree sees the last generation everywhere (the workload checks every page
 * itself).
 *
 * The test process is a child subreaper: the restored tree is reparented to
 * it when ferry exits, so it can be reaped here.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "img.h"
#include "pagemap.pb-c.h"
#include "pagemap_flags.h"

#define PAGES 64
#define VERDICT_MS 10000

TestSuite(shmem_predump, .timeout = 120);

struct shw {
	char *dir;
	char out[512];
	pid_t pid, child;
};

static void shw_start(struct shw *w)
{
	const char *argv[] = { "shmwrite", "64", NULL };
	char *line;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	memset(w, 0, sizeof(*w));
	w->dir = t_tmpdir();
	cr_assert_not_null(w->dir);
	snprintf(w->out, sizeof(w->out), "%s/out", w->dir);
	w->pid = t_spawn(w->out, argv);
	cr_assert_gt(w->pid, 0);
	line = t_wait_line(w->out, "ready", 10000);
	cr_assert_not_null(line, "the shmwrite workload never said ready");
	cr_assert_eq(sscanf(line, "shmwrite: pid %*d child %d", &w->child), 1, "%s", line);
	free(line);
	t_expect_verdict(w->out, w->pid, SIGUSR2, "verify ok 0", "verify BAD", VERDICT_MS);
}

static void shw_stop(struct shw *w)
{
	if (w->pid > 0)
		kill(w->pid, SIGKILL);
	if (w->child > 0)
		kill(w->child, SIGKILL);
	while (waitpid(-1, NULL, 0) >= 0 || errno == EINTR)
		;
	t_rmrf(w->dir);
	free(w->dir);
}

static void ferry_ok(const char *what, const char *fmt_args)
{
	char *err = NULL;
	int rc = t_run(NULL, &err, "%s %s", t_ferry_bin(), fmt_args);

	cr_assert_eq(rc, 0, "%s: %s", what, err ? err : "");
	free(err);
}

/* Pages present and in the parent over every pagemap-shmem image of @dir. */
static void count_shmem_pages(const char *dir, unsigned long *present, unsigned long *parent)
{
	char *out = NULL, *save = NULL, *name;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	*present = *parent = 0;
	cr_assert_geq(dfd, 0, "%s", dir);
	cr_assert_eq(t_run(&out, NULL, "ls %s | grep '^pagemap-shmem-'", dir), 0);
	for (name = strtok_r(out, "\n", &save); name; name = strtok_r(NULL, "\n", &save)) {
		struct img *img;
		ProtobufCMessage *m;
		int first = 1;

		cr_assert_eq(img_open(&img, dfd, name, img_type_by_name("SHMEM_PAGEMAP")), 0,
			     "%s/%s", dir, name);
		while (img_read_entry(img, &m) == 1) {
			const PagemapEntry *e = (const PagemapEntry *)m;

			if (!first && e->has_flags && (e->flags & PE_PARENT))
				*parent += e->nr_pages;
			else if (!first)
				*present += e->nr_pages;
			first = 0;
			protobuf_c_message_free_unpacked(m, NULL);
		}
		img_close(img);
	}
	free(out);
	close(dfd);
}

/* Run "ferry pre-dump" (@prev: NULL or the parent) into @dir, then step the workload to @gen. */
static void round_then_step(struct shw *w, const char *dir, const char *prev, int gen)
{
	char args[1400], want[32];

	snprintf(args, sizeof(args), "pre-dump -t %d -D %s%s%s", w->pid, dir,
		 prev ? " --prev-images-dir " : "", prev ? prev : "");
	ferry_ok("pre-dump", args);
	snprintf(want, sizeof(want), "step %d done", gen);
	t_expect_verdict(w->out, w->pid, SIGUSR1, want, NULL, VERDICT_MS);
}

/*
 * pre-dump 1, step 1, pre-dump 2, step 2, pre-dump 3, step 3, dump: each
 * step writes a quarter of each object (16 of 64 pages, through the child's
 * mapping, pwrite(2) and a second mapping); every round after the first
 * copies exactly those 2 x 16 pages and finds the 96 others equal to the
 * chain's copy, wherever it is (pre-dump 3 finds pages of step 0 in pre-dump
 * 1, two levels down); the restore resolves them through the chain and the
 * tree has generation 3 in every page, through every mapping and the
 * memfd's fd.
 */
Test(shmem_predump, writes_through_other_mappings_and_pwrite_are_in_the_chain)
{
	char d[4][600], args[1400];
	unsigned long present, parent;
	struct shw w;

	shw_start(&w);
	for (int i = 0; i < 4; i++)
		snprintf(d[i], sizeof(d[i]), "%s/%d", w.dir, i + 1);
	round_then_step(&w, d[0], NULL, 1);
	count_shmem_pages(d[0], &present, &parent);
	cr_assert_eq(present, 2 * PAGES, "the first pre-dump copies every page: %lu", present);
	round_then_step(&w, d[1], "../1", 2);
	round_then_step(&w, d[2], "../2", 3);
	for (int i = 1; i < 3; i++) {
		count_shmem_pages(d[i], &present, &parent);
		cr_log_info("pre-dump %d: %lu shared pages copied, %lu unchanged", i + 1, present,
			    parent);
		cr_assert_eq(present, 2 * PAGES / 4, "pre-dump %d copied %lu pages", i + 1,
			     present);
		cr_assert_eq(parent, 2 * PAGES - 2 * PAGES / 4, "pre-dump %d: %lu in the parent",
			     i + 1, parent);
	}
	snprintf(args, sizeof(args), "dump -t %d -D %s --prev-images-dir ../3", w.pid, d[3]);
	ferry_ok("dump", args);
	cr_assert_eq(waitpid(w.pid, NULL, 0), w.pid);
	cr_assert_eq(waitpid(w.child, NULL, 0), w.child);
	count_shmem_pages(d[3], &present, &parent);
	cr_log_info("final dump: %lu shared pages copied, %lu found unchanged", present, parent);
	cr_assert_eq(present, 2 * PAGES / 4, "pages copied by the final dump: %lu", present);
	cr_assert_eq(parent, 2 * PAGES - 2 * PAGES / 4, "pages in the parent: %lu", parent);
	if (t_crit()) {
		char *out = NULL, *err = NULL;
		int rc =
			t_run(&out, &err,
			      "for f in %s/pagemap-shmem-*.img; do %s decode -i $f || exit 1; done",
			      d[3], t_crit());

		cr_assert_eq(rc, 0, "crit decode: %s", err ? err : "");
		cr_assert(strstr(out, "\"in_parent\": true"), "%s", out);
		free(out);
		free(err);
	}
	snprintf(args, sizeof(args), "restore -D %s -d", d[3]);
	ferry_ok("restore", args);
	t_expect_verdict(w.out, w.pid, SIGUSR2, "verify ok 3", "verify BAD", VERDICT_MS);
	/* And the tree goes on: a step after the restore reaches both processes. */
	t_expect_verdict(w.out, w.pid, SIGUSR1, "step 4 done", NULL, VERDICT_MS);
	t_expect_verdict(w.out, w.pid, SIGUSR2, "verify ok 4", "verify BAD", VERDICT_MS);
	shw_stop(&w);
}

/* A damaged chain: the parent's pagemap-shmem is gone; restore names the object and file. */
Test(shmem_predump, a_parent_without_the_object_is_refused)
{
	char d1[600], d2[600], args[1400], *err = NULL;
	struct shw w;
	int rc;

	shw_start(&w);
	snprintf(d1, sizeof(d1), "%s/1", w.dir);
	snprintf(d2, sizeof(d2), "%s/2", w.dir);
	snprintf(args, sizeof(args), "pre-dump -t %d -D %s", w.pid, d1);
	ferry_ok("pre-dump", args);
	snprintf(args, sizeof(args), "dump -t %d -D %s --prev-images-dir ../1", w.pid, d2);
	ferry_ok("dump", args);
	cr_assert_eq(waitpid(w.pid, NULL, 0), w.pid);
	cr_assert_eq(waitpid(w.child, NULL, 0), w.child);
	w.pid = w.child = 0;
	cr_assert_eq(t_run(NULL, NULL, "rm %s/pagemap-shmem-*.img", d1), 0);
	rc = t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), d2);
	cr_assert_neq(rc, 0, "a chain missing its shared pages was restored");
	cr_assert(strstr(err, "pagemap-shmem-"), "%s", err);
	free(err);
	shw_stop(&w);
}
