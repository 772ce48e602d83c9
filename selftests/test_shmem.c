// SPDX-License-Identifier: MIT
/*
 * Shared memory end to end (issue 18): a parent and its forked child share a
 * MAP_SHARED|MAP_ANONYMOUS region, a shared /dev/zero mapping and a sealed
 * memfd, mapped and held as an fd (with /dev/shm files too: test_ghost.c).
 * After a dump and a restore, from a pre-dump chain and lazily, each process
 * sees the other's writes (the workload checks it itself,
 * selftests/workloads/shmem.c: contents, memfd name, size and seals), the
 * objects are shared again (same inode in both processes' maps), the images
 * are CRIU's (crit decodes them), and corrupt shmem and memfd images are
 * refused with file and offset.
 *
 * The test process is a child subreaper: a tree restored with -d is
 * reparented to it when ferry exits, so it can be reaped here.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "tree_helpers.h"
#include "img.h"
#include "memfd.pb-c.h"
#include "pagemap.pb-c.h"

#define VERDICT_MS 10000

struct sw {
	struct t_tree t;
	int memfd;
	char kinds[8];
};

TestSuite(shmem, .timeout = 120);

static void sw_start(struct sw *w, const char *mode)
{
	const char *argv[] = { "shmem", mode, NULL };
	char *line;

	memset(w, 0, sizeof(*w));
	t_tree_init(&w->t);
	line = t_tree_spawn(&w->t, argv);
	cr_assert_eq(sscanf(line, "shmem: pid %*d child %d memfd %d", &w->t.child, &w->memfd), 2,
		     "ready line: %s", line);
	snprintf(w->kinds, sizeof(w->kinds), "%s", mode);
	free(line);
	/* Both directions work before any dump: the check itself is sound. */
	t_expect_verdict(w->t.out, w->t.pid, SIGUSR1, "shmem: verify ok", "verify BAD", VERDICT_MS);
}

static void sw_stop(struct sw *w)
{
	char keep[128];

	/* The /dev/shm file the K kind leaves (test_ghost.c covers it). */
	snprintf(keep, sizeof(keep), "/dev/shm/ferry-shm-%d-keep", w->t.pid);
	if (w->t.pid > 0)
		unlink(keep);
	t_tree_stop(&w->t);
}

/* The inodes of the "/dev/zero (deleted)" mappings of @pid, in address order. */
static int shmem_inodes(pid_t pid, unsigned long *ino, int max)
{
	char path[64], line[512];
	int n = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	cr_assert_not_null(f, "%s", path);
	while (fgets(line, sizeof(line), f) && n < max)
		if (strstr(line, "/dev/zero (deleted)") &&
		    sscanf(line, "%*s %*s %*s %*s %lu", &ino[n]) == 1)
			n++;
	fclose(f);
	return n;
}

/* The inode of the mapping of @pid whose name contains @needle, or 0. */
static unsigned long inode_of(pid_t pid, const char *needle)
{
	char path[64], line[512];
	unsigned long ino = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	cr_assert_not_null(f, "%s", path);
	while (!ino && fgets(line, sizeof(line), f))
		if (strstr(line, needle) && sscanf(line, "%*s %*s %*s %*s %lu", &ino) != 1)
			ino = 0;
	fclose(f);
	return ino;
}

/* Parent and child map the same objects (one inode each), as many as before. */
static void assert_shared(const struct sw *w, int want)
{
	unsigned long a[8], b[8];
	int na = shmem_inodes(w->t.pid, a, 8), nb = shmem_inodes(w->t.child, b, 8);

	cr_assert_eq(na, want, "pid %d has %d shared anonymous mappings, want %d", w->t.pid, na,
		     want);
	cr_assert_eq(nb, want, "child %d has %d shared anonymous mappings", w->t.child, nb);
	for (int i = 0; i < na; i++)
		cr_assert_eq(a[i], b[i], "mapping %d: inode %lu in the parent, %lu in the child", i,
			     a[i], b[i]);
	if (na == 2)
		cr_assert_neq(a[0], a[1], "two objects became one");
	if (strchr(w->kinds, 'M')) {
		unsigned long m = inode_of(w->t.pid, "/memfd:ferry-shm (deleted)");

		cr_assert(m && m == inode_of(w->t.child, "/memfd:ferry-shm (deleted)"),
			  "the memfd is not one object in parent and child");
	}
}

/* The shmem images of @dir, as crit and ferry decode them. */
static void decode_shmem(const char *dir, int want)
{
	char *out = NULL, *err = NULL;
	int rc;

	rc = t_run(&out, &err, "ls %s | grep -c '^pagemap-shmem-'", dir);
	cr_assert_eq(rc, 0, "%s", err ? err : "");
	cr_assert_eq(atoi(out), want, "%s has %s shmem pagemaps, want %d", dir, out, want);
	free(out);
	free(err);
	rc = t_run(&out, &err, "for f in %s/pagemap-shmem-*.img; do %s decode -i $f; done", dir,
		   t_ferry_bin());
	cr_assert_eq(rc, 0, "ferry decode: %s", err ? err : "");
	cr_assert(strstr(out, "\"pages_id\""), "%s", out);
	free(out);
	free(err);
	if (!t_crit())
		return;
	rc = t_run(
		&out, &err,
		"for f in %s/pagemap-shmem-*.img %s/mm-*.img; do %s decode --pretty -i $f || exit 1; done",
		dir, dir, t_crit());
	cr_assert_eq(rc, 0, "crit decode: %s", err ? err : "");
	cr_assert(strstr(out, "VMA_ANON_SHARED"), "crit sees no shared anonymous VMA");
	cr_assert(strstr(out, "\"pages_id\""), "%s", out);
	free(out);
	free(err);
}

Test(shmem, anon_and_dev_zero_shared_after_restore)
{
	struct sw w;

	sw_start(&w, "AZ");
	t_tree_dump(&w.t, w.t.img, NULL);
	decode_shmem(w.t.img, 2);
	t_tree_restore(&w.t, w.t.img, NULL);
	assert_shared(&w, 2);
	t_expect_verdict(w.t.out, w.t.pid, SIGUSR1, "shmem: verify ok", "verify BAD", VERDICT_MS);
	/* And again: the sharing is not a one-off copy. */
	t_expect_verdict(w.t.out, w.t.pid, SIGUSR1, "shmem: verify ok", "verify BAD", VERDICT_MS);
	sw_stop(&w);
}

/* A sealed memfd, mapped and held as an fd by both: name, size, seals and sharing kept. */
Test(shmem, memfd_name_contents_seals_after_restore)
{
	char *out = NULL, *err = NULL;
	struct sw w;
	int rc;

	sw_start(&w, "AZM");
	t_tree_dump(&w.t, w.t.img, NULL);
	decode_shmem(w.t.img, 3);
	rc = t_run(&out, &err, "%s decode -i %s/memfd.img", t_ferry_bin(), w.t.img);
	cr_assert_eq(rc, 0, "%s", err ? err : "");
	cr_assert(strstr(out, "\"name\": \"ferry-shm\""), "%s", out);
	cr_assert(strstr(out, "\"size\": 12388"), "%s", out);
	free(out);
	free(err);
	if (t_crit()) {
		rc = t_run(
			&out, &err,
			"%s decode --pretty -i %s/memfd.img && %s decode --pretty -i %s/files.img",
			t_crit(), w.t.img, t_crit(), w.t.img);
		cr_assert_eq(rc, 0, "crit: %s", err ? err : "");
		cr_assert(strstr(out, "F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW"), "%s", out);
		cr_assert(strstr(out, "\"MEMFD\""), "%s", out);
		free(out);
		free(err);
	}
	t_tree_restore(&w.t, w.t.img, NULL);
	assert_shared(&w, 2);
	t_expect_verdict(w.t.out, w.t.pid, SIGUSR1, "shmem: verify ok", "verify BAD", VERDICT_MS);
	t_expect_verdict(w.t.out, w.t.pid, SIGUSR1, "shmem: verify ok", "verify BAD", VERDICT_MS);
	sw_stop(&w);
}

/*
 * Pre-dump rounds run over the shared mappings, the memfd and the /dev/shm
 * files, kept and deleted (their pages are written whole by the final dump);
 * restored from the end of the chain, the state of the last round is there,
 * not the first one's.
 */
Test(shmem, predump_chain)
{
	char d1[700], d2[700], d3[700], args[1600], *err = NULL;
	struct sw w;
	int rc;

	sw_start(&w, "AZMKG");
	snprintf(d1, sizeof(d1), "%s/1", w.t.dir);
	snprintf(d2, sizeof(d2), "%s/2", w.t.dir);
	snprintf(d3, sizeof(d3), "%s/3", w.t.dir);
	snprintf(args, sizeof(args), "-t %d -D %s", w.t.pid, d1);
	rc = t_run(NULL, &err, "%s pre-dump %s", t_ferry_bin(), args);
	cr_assert_eq(rc, 0, "pre-dump 1: %s", err ? err : "");
	free(err);
	/* New pings in every region between the rounds. */
	t_expect_verdict(w.t.out, w.t.pid, SIGUSR1, "shmem: verify ok", "verify BAD", VERDICT_MS);
	snprintf(args, sizeof(args), "-t %d -D %s --prev-images-dir ../1", w.t.pid, d2);
	rc = t_run(NULL, &err, "%s pre-dump %s", t_ferry_bin(), args);
	cr_assert_eq(rc, 0, "pre-dump 2: %s", err ? err : "");
	free(err);
	t_expect_verdict(w.t.out, w.t.pid, SIGUSR1, "shmem: verify ok", "verify BAD", VERDICT_MS);
	t_tree_dump(&w.t, d3, "--prev-images-dir ../2");
	decode_shmem(d3, 3);
	t_tree_restore(&w.t, d3, NULL);
	assert_shared(&w, 2);
	t_expect_verdict(w.t.out, w.t.pid, SIGUSR1, "shmem: verify ok", "verify BAD", VERDICT_MS);
	sw_stop(&w);
}

/*
 * --lazy-pages: the shared anonymous and /dev/zero objects are left to the
 * daemon, the sealed memfd held as an fd is written before the tree runs
 * (docs/lazy.md, "Shared memory"), and the log says so.
 */
Test(shmem, lazy_restore_of_shared_memory)
{
	char log[700], *text;
	struct sw w;

	sw_start(&w, "AZM");
	t_tree_dump(&w.t, w.t.img, NULL);
	snprintf(log, sizeof(log), "%s/restore.log", w.t.dir);
	{
		char extra[800];

		snprintf(extra, sizeof(extra), "--lazy-pages -v3 --log-file %s", log);
		t_tree_restore(&w.t, w.t.img, extra);
	}
	text = t_read_file(log, NULL);
	cr_assert_not_null(text);
	cr_assert(strstr(text, "shared memory object(s) served lazily, 1 shared memory object(s) "
			       "restored eagerly"),
		  "%s", text);
	free(text);
	assert_shared(&w, 2);
	t_expect_verdict(w.t.out, w.t.pid, SIGUSR1, "shmem: verify ok", "verify BAD", VERDICT_MS);
	sw_stop(&w);
}

/* Rewrite @dir/@name as a pagemap-shmem image: a head with @pages_id and one entry. */
static void put_shmem_pagemap(const char *dir, const char *name, uint32_t pages_id, uint64_t vaddr,
			      uint64_t nr_pages, uint32_t flags)
{
	PagemapHead h = PAGEMAP_HEAD__INIT;
	PagemapEntry e = PAGEMAP_ENTRY__INIT;
	struct img *img;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	cr_assert_geq(dfd, 0);
	h.pages_id = pages_id;
	e.vaddr = vaddr;
	e.compat_nr_pages = (uint32_t)nr_pages;
	e.has_nr_pages = 1;
	e.nr_pages = nr_pages;
	e.has_flags = 1;
	e.flags = flags;
	cr_assert_eq(img_create(&img, dfd, name, img_type_by_name("SHMEM_PAGEMAP")), 0);
	cr_assert_eq(img_write_entry(img, &h.base), 0);
	cr_assert_eq(img_write_entry(img, &e.base), 0);
	cr_assert_eq(img_commit(img), 0);
	close(dfd);
}

static void expect_refused(const char *dir, const char *want1, const char *want2)
{
	char *err = NULL;
	int rc;

	rc = t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), dir);
	cr_assert_neq(rc, 0, "a corrupt dump was restored");
	cr_assert(strstr(err, want1), "no '%s' in: %s", want1, err);
	if (want2)
		cr_assert(strstr(err, want2), "no '%s' in: %s", want2, err);
	free(err);
}

/* Find the first pagemap-shmem image of @dir: its name and shmid. */
static unsigned first_shmid(const char *dir, char *name, size_t size)
{
	char *out = NULL;
	unsigned id = 0;

	cr_assert_eq(t_run(&out, NULL, "ls %s | grep '^pagemap-shmem-' | head -1", dir), 0);
	cr_assert_eq(sscanf(out, "pagemap-shmem-%u.img", &id), 1, "%s", out);
	snprintf(name, size, "pagemap-shmem-%u.img", id);
	free(out);
	return id;
}

Test(shmem, corrupt_images_refused_with_file_and_offset)
{
	char name[64], path[800], save[800], want[200];
	PagemapHead *h;
	struct sw w;
	unsigned id;

	sw_start(&w, "AZ");
	t_tree_dump(&w.t, w.t.img, NULL);
	w.t.pid = w.t.child = 0; /* nothing runs from here on */
	id = first_shmid(w.t.img, name, sizeof(name));
	snprintf(path, sizeof(path), "%s/%s", w.t.img, name);
	snprintf(save, sizeof(save), "%s/saved", w.t.dir);
	cr_assert_eq(t_run(NULL, NULL, "cp %s %s", path, save), 0);
	{
		/* The pages id of the real image, kept in the corrupt ones. */
		struct img *img;
		ProtobufCMessage *m;
		int dfd = open(w.t.img, O_RDONLY | O_DIRECTORY);

		cr_assert_eq(img_open(&img, dfd, name, img_type_by_name("SHMEM_PAGEMAP")), 0);
		cr_assert_eq(img_read_entry(img, &m), 1);
		h = (PagemapHead *)m;
		/* A run past the end of the 16-page object. */
		put_shmem_pagemap(w.t.img, name, h->pages_id, 15 * 4096, 2, 4 /* PE_PRESENT */);
		snprintf(want, sizeof(want), "%s: offset ", name);
		expect_refused(w.t.img, want, "past the object's 65536 bytes");
		/* A run in a parent image set: shmem pages are never there. */
		put_shmem_pagemap(w.t.img, name, h->pages_id, 0, 1, 2 /* PE_PARENT */);
		expect_refused(w.t.img, want, "not present");
		/* A pages file that does not hold what the pagemap says. */
		put_shmem_pagemap(w.t.img, name, h->pages_id, 0, 1, 4);
		expect_refused(w.t.img, "bytes, its pagemap-shmem-", NULL);
		protobuf_c_message_free_unpacked(m, NULL);
		img_close(img);
		close(dfd);
	}
	cr_assert_eq(t_run(NULL, NULL, "cp %s %s", save, path), 0);
	/* A stray shmem pagemap no VMA maps. */
	cr_assert_eq(t_run(NULL, NULL, "cp %s %s/pagemap-shmem-%u.img", save, w.t.img, id + 100000),
		     0);
	snprintf(want, sizeof(want), "no VMA of the dump maps shared memory %u", id + 100000);
	expect_refused(w.t.img, want, NULL);
	cr_assert_eq(t_run(NULL, NULL, "rm %s/pagemap-shmem-%u.img", w.t.img, id + 100000), 0);
	/* A truncated pagemap: the reader names the file. */
	cr_assert_eq(t_run(NULL, NULL, "truncate -s 13 %s", path), 0);
	expect_refused(w.t.img, name, NULL);
	/* A missing one. */
	cr_assert_eq(t_run(NULL, NULL, "rm %s", path), 0);
	expect_refused(w.t.img, name, NULL);
	sw_stop(&w);
}

Test(shmem, corrupt_memfd_images_refused)
{
	MemfdInodeEntry me = MEMFD_INODE_ENTRY__INIT;
	char *err = NULL;
	struct sw w;
	int dfd, rc;
	struct img *img;

	sw_start(&w, "M");
	t_tree_dump(&w.t, w.t.img, NULL);
	w.t.pid = w.t.child = 0;
	dfd = open(w.t.img, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(dfd, 0);
	/* The inode the memfd file entries name is not there. */
	me.name = "ferry-shm";
	me.size = 4096;
	me.shmid = 1;
	me.inode_id = 7;
	cr_assert_eq(img_create(&img, dfd, "memfd.img", img_type_by_name("MEMFD_INODE")), 0);
	cr_assert_eq(img_write_entry(img, &me.base), 0);
	cr_assert_eq(img_commit(img), 0);
	rc = t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), w.t.img);
	cr_assert_neq(rc, 0);
	cr_assert(strstr(err, "has inode 1, which"), "%s", err);
	free(err);
	/* Twice the same inode. */
	me.inode_id = 1;
	cr_assert_eq(img_create(&img, dfd, "memfd.img", img_type_by_name("MEMFD_INODE")), 0);
	cr_assert_eq(img_write_entry(img, &me.base), 0);
	me.shmid = 2;
	cr_assert_eq(img_write_entry(img, &me.base), 0);
	cr_assert_eq(img_commit(img), 0);
	rc = t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), w.t.img);
	cr_assert_neq(rc, 0);
	cr_assert(strstr(err, "memfd.img: offset "), "%s", err);
	cr_assert(strstr(err, "a repeated inode or shmid"), "%s", err);
	free(err);
	close(dfd);
	sw_stop(&w);
}

/* A hugetlb memfd is refused by name at dump: restore could only make a plain one. */
Test(shmem, hugetlb_memfd_refused)
{
	char *err = NULL, want[200];
	int ctl[2], rc;
	pid_t kid;
	char c;

	if (geteuid())
		cr_skip_test("ferry check -t needs root");
	rc = memfd_create("ferry-huge", MFD_HUGETLB);
	if (rc < 0)
		cr_skip_test("no hugetlb memfd here: %s", strerror(errno));
	close(rc);
	cr_assert_eq(pipe(ctl), 0);
	kid = fork();
	cr_assert_geq(kid, 0);
	if (!kid) {
		int fd = memfd_create("ferry-huge", MFD_HUGETLB);

		if (fd < 0 || dup2(fd, 40) < 0)
			_exit(1);
		close(ctl[1]);
		while (read(ctl[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(ctl[0]);
	for (int i = 0; i < 200; i++) {
		char link[64], tgt[256] = "";

		snprintf(link, sizeof(link), "/proc/%d/fd/40", kid);
		if (readlink(link, tgt, sizeof(tgt) - 1) > 0 && strstr(tgt, "ferry-huge"))
			break;
		usleep(10000);
	}
	rc = t_run(NULL, &err, "%s check -t %d", t_ferry_bin(), kid);
	cr_assert_eq(rc, 1, "a hugetlb memfd passed the check: %s", err ? err : "");
	snprintf(
		want, sizeof(want),
		"pid %d fd 40: memfd /memfd:ferry-huge (deleted) is not supported: a hugetlb memfd",
		kid);
	cr_assert(strstr(err, want), "no '%s' in: %s", want, err);
	free(err);
	close(ctl[1]);
	cr_assert_eq(waitpid(kid, NULL, 0), kid);
}
