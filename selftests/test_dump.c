// SPDX-License-Identifier: MIT
/*
 * `ferry dump` end to end, on real workloads with real ptrace: the images are
 * read back with ferry's reader and with CRIU's crit, memory is compared with
 * the pattern the workload wrote, and the workload must go on unharmed when
 * asked to (--leave-running) or when the dump fails for any reason.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include "core.pb-c.h"
#include "fdinfo.pb-c.h"
#include "helpers.h"
#include "img.h"
#include "pagemap.pb-c.h"
#include "pagemap_flags.h"
#include "pattern.h"
#include "pipe-data.pb-c.h"
#include "pstree.pb-c.h"
#include "stats.pb-c.h"

#define PAGE 4096ull

struct wl {
	char *dir;     /* test directory */
	char out[512]; /* workload output */
	char img[512]; /* images directory */
	pid_t pid;
};

static void wl_start(struct wl *w, const char *const argv[], const char *ready)
{
	char *line;

	w->dir = t_tmpdir();
	snprintf(w->out, sizeof(w->out), "%s/out", w->dir);
	snprintf(w->img, sizeof(w->img), "%s/img", w->dir);
	w->pid = t_spawn(w->out, argv);
	cr_assert_gt(w->pid, 0);
	line = t_wait_line(w->out, ready, 10000);
	cr_assert_not_null(line, "workload %s never printed '%s'", argv[0], ready);
	free(line);
}

static void wl_stop(struct wl *w)
{
	t_kill_wait(w->pid);
	t_rmrf(w->dir);
	free(w->dir);
}

static int ferry_dump(struct wl *w, const char *extra, char **err)
{
	return t_run(NULL, err, "%s dump -t %d -D %s %s", t_ferry_bin(), w->pid, w->img,
		     extra ? extra : "");
}

/*
 * The target runs normally: not stopped, not traced, and still making progress
 * (more lines with @progress in file @path), unless @path is NULL.
 */
static void assert_running(struct wl *w, const char *path, const char *progress)
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
static int check_all_images(const char *dir)
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

static int count_images(const char *dir)
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

static ProtobufCMessage *read_single(const char *dir, const char *name)
{
	ProtobufCMessage *m = NULL;
	struct img *img;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);

	cr_assert_geq(dfd, 0);
	cr_assert_eq(img_open(&img, dfd, name, NULL), 0, "cannot open %s/%s", dir, name);
	cr_assert_eq(img_read_entry(img, &m), 1, "%s/%s has no entry", dir, name);
	img_close(img);
	close(dfd);
	return m;
}

/* The memory of one process as its images hold it. */
struct pmem {
	PagemapEntry **ents;
	size_t n;
	uint8_t *pages;
	size_t pages_len;
};

static void pmem_load(struct pmem *pm, const char *dir, pid_t pid)
{
	ProtobufCMessage *m;
	struct img *img;
	char name[64], path[700];
	uint64_t off = 0;
	uint32_t pages_id;
	int dfd = open(dir, O_RDONLY | O_DIRECTORY), r;

	memset(pm, 0, sizeof(*pm));
	cr_assert_geq(dfd, 0);
	snprintf(name, sizeof(name), "pagemap-%d.img", pid);
	cr_assert_eq(img_open(&img, dfd, name, IMG_PAGEMAP), 0);
	cr_assert_eq(img_read_entry(img, &m), 1);
	pages_id = ((PagemapHead *)m)->pages_id;
	protobuf_c_message_free_unpacked(m, NULL);
	while ((r = img_read_entry(img, &m)) == 1) {
		PagemapEntry *e = (PagemapEntry *)m;

		pm->ents = realloc(pm->ents, (pm->n + 1) * sizeof(*pm->ents));
		pm->ents[pm->n++] = e;
		cr_assert(e->has_nr_pages && e->nr_pages == e->compat_nr_pages,
			  "entry %#lx: fields 2 and 5 disagree", (unsigned long)e->vaddr);
		off += e->nr_pages * PAGE;
	}
	cr_assert_eq(r, 0);
	img_close(img);
	snprintf(path, sizeof(path), "%s/pages-%u.img", dir, pages_id);
	pm->pages = (uint8_t *)t_read_file(path, &pm->pages_len);
	cr_assert_not_null(pm->pages, "no %s", path);
	cr_assert_eq(pm->pages_len, off, "%s holds %zu bytes, the pagemap %lu", path, pm->pages_len,
		     (unsigned long)off);
	close(dfd);
}

static const uint8_t *pmem_page(const struct pmem *pm, uint64_t addr)
{
	uint64_t off = 0;

	for (size_t i = 0; i < pm->n; i++) {
		const PagemapEntry *e = pm->ents[i];

		if (addr >= e->vaddr && addr < e->vaddr + e->nr_pages * PAGE)
			return pm->pages + off + (addr - e->vaddr);
		off += e->nr_pages * PAGE;
	}
	return NULL;
}

static void pmem_free(struct pmem *pm)
{
	for (size_t i = 0; i < pm->n; i++)
		protobuf_c_message_free_unpacked(&pm->ents[i]->base, NULL);
	free(pm->ents);
	free(pm->pages);
}

/* memhog's mapping in the images equals its pattern, page by page; holes are absent. */
static void check_memhog(struct wl *w, const char *line)
{
	unsigned long long base, size, seed;
	struct pmem pm;
	uint64_t *want = malloc(PAGE);

	cr_assert_eq(
		sscanf(strstr(line, "base"), "base %llx size %llu seed %llu", &base, &size, &seed),
		3);
	pmem_load(&pm, w->img, w->pid);
	for (uint64_t a = base; a < base + size; a += PAGE) {
		const uint8_t *p = pmem_page(&pm, a);

		if (((a - base) / PAGE) % PATTERN_HOLE_EVERY == PATTERN_HOLE_EVERY - 1) {
			cr_assert_null(p, "never-touched page %#llx was dumped",
				       (unsigned long long)a);
			continue;
		}
		cr_assert_not_null(p, "page %#llx is missing from the images",
				   (unsigned long long)a);
		for (uint64_t k = 0; k < PAGE / 8; k++)
			want[k] = pattern_word(a + k * 8, seed);
		cr_assert(!memcmp(p, want, PAGE), "page %#llx differs from the workload's memory",
			  (unsigned long long)a);
	}
	pmem_free(&pm);
	free(want);
}

Test(dump, single_process_memory_and_images, .timeout = 120)
{
	const char *argv[] = { "memhog", "32", "7", NULL };
	StatsEntry *st;
	PstreeEntry *ps;
	struct wl w;
	char *line, *err = NULL;

	wl_start(&w, argv, "ready");
	line = t_wait_line(w.out, "ready", 100);
	cr_assert_eq(ferry_dump(&w, "--leave-running -v3", &err), 0, "dump failed: %s", err);
	free(err);
	cr_assert_geq(check_all_images(w.img), 8);
	check_memhog(&w, line);

	ps = (PstreeEntry *)read_single(w.img, "pstree.img");
	cr_assert_eq(ps->pid, (uint32_t)w.pid);
	cr_assert_eq(ps->n_threads, 1);
	cr_assert_eq(ps->pgid, (uint32_t)w.pid, "t_spawn made it a group leader");
	protobuf_c_message_free_unpacked(&ps->base, NULL);
	st = (StatsEntry *)read_single(w.img, "stats-dump");
	cr_assert_not_null(st->dump);
	cr_assert_geq(st->dump->pages_written, 32 * 256 * 63 / 64);
	cr_assert_geq(st->dump->pages_scanned, st->dump->pages_written);
	cr_assert_gt(st->dump->frozen_time, 0);
	protobuf_c_message_free_unpacked(&st->base, NULL);

	/* Released: it runs on and its memory is intact. */
	assert_running(&w, NULL, NULL);
	kill(w.pid, SIGUSR1);
	free(line);
	line = t_wait_line(w.out, "verify", 10000);
	cr_assert_not_null(line);
	cr_assert(strstr(line, "verify ok"), "%s", line);
	free(line);
	wl_stop(&w);
}

Test(dump, kills_the_tree_by_default, .timeout = 60)
{
	const char *argv[] = { "counter", NULL };
	struct wl w;
	int status;

	wl_start(&w, argv, "ready");
	cr_assert_eq(ferry_dump(&w, NULL, NULL), 0);
	cr_assert_eq(waitpid(w.pid, &status, 0), w.pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	w.pid = 0;
	check_all_images(w.img);
	wl_stop(&w);
}

/*
 * The writers' buffer set is sized to the tree before the freeze: 4 x 1 MiB
 * for a process holding 1 MiB, 16 for one holding 64 MiB (ferry's -v4 log says).
 */
Test(dump, buffer_set_sized_to_the_tree, .timeout = 60)
{
	static const struct {
		const char *argv[3];
		const char *want;
	} cases[] = {
		{ { "memhog", "1", NULL }, "page buffers: 4 x 1 MiB" },
		{ { "memhog", "64", NULL }, "page buffers: 16 x 1 MiB" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *err = NULL;
		struct wl w;

		wl_start(&w, cases[i].argv, "ready");
		cr_assert_eq(ferry_dump(&w, "--leave-running -v4", &err), 0, "%s", err ? err : "");
		cr_expect(err && strstr(err, cases[i].want), "%s: no '%s' in:\n%s",
			  cases[i].argv[0], cases[i].want, err ? err : "");
		free(err);
		check_all_images(w.img);
		wl_stop(&w);
	}
}

Test(dump, threads, .timeout = 60)
{
	const char *argv[] = { "threads", "4", NULL };
	PstreeEntry *ps;
	struct wl w;
	char *line, *p, name[64];
	uint64_t fs_base[5];

	wl_start(&w, argv, "ready");
	cr_assert_eq(ferry_dump(&w, "--leave-running", NULL), 0);
	check_all_images(w.img);
	ps = (PstreeEntry *)read_single(w.img, "pstree.img");
	cr_assert_eq(ps->n_threads, 5);
	cr_assert_eq(ps->threads[0], (uint32_t)w.pid, "the leader comes first");
	line = t_wait_line(w.out, "tids", 100);
	p = strstr(line, "tids") + 4;
	for (int i = 0; i < 4; i++) {
		long tid = strtol(p, &p, 10);
		int found = 0;

		for (size_t k = 0; k < ps->n_threads; k++)
			found |= ps->threads[k] == (uint32_t)tid;
		cr_assert(found, "thread %ld missing from pstree.img", tid);
	}
	for (size_t k = 0; k < ps->n_threads; k++) {
		CoreEntry *c;

		snprintf(name, sizeof(name), "core-%u.img", ps->threads[k]);
		c = (CoreEntry *)read_single(w.img, name);
		cr_assert_not_null(c->thread_info);
		cr_assert_not_null(c->thread_core);
		cr_assert_eq(!!c->tc, k == 0, "only the leader carries the task core");
		cr_assert_not_null(c->thread_info->fpregs->xsave);
		fs_base[k] = c->thread_info->gpregs->fs_base;
		for (size_t j = 0; j < k; j++)
			cr_assert_neq(fs_base[j], fs_base[k], "threads share a TLS base");
		cr_assert_neq(c->thread_info->clear_tid_addr, 0, "glibc sets set_tid_address");
		cr_assert_neq(c->thread_core->futex_rla, 0, "glibc sets a robust list");
		if (k == 0) {
			cr_assert_eq(c->tc->n_sigactions, 62);
			cr_assert_eq(c->tc->rlimits->n_rlimits, 16);
			/* SIGUSR1 has the workload's handler (entries skip SIGKILL, SIGSTOP). */
			cr_assert_neq(c->tc->sigactions[SIGUSR1 - 2]->sigaction, 0);
			cr_assert_eq(c->tc->sigactions[SIGUSR2 - 2]->sigaction, 0);
		}
		protobuf_c_message_free_unpacked(&c->base, NULL);
	}
	protobuf_c_message_free_unpacked(&ps->base, NULL);
	free(line);
	kill(w.pid, SIGUSR1);
	line = t_wait_line(w.out, "verify", 10000);
	cr_assert(line && strstr(line, "verify ok"), "%s", line ? line : "no verify line");
	free(line);
	wl_stop(&w);
}

Test(dump, parent_children_pipe, .timeout = 60)
{
	const char *argv[] = { "family", "20000", NULL };
	PipeDataEntry *pd;
	struct img *img;
	struct wl w;
	const void *data;
	size_t len;
	int reader, busy, dfd, nproc = 0, r;
	ProtobufCMessage *m;
	char *line;

	wl_start(&w, argv, "ready");
	line = t_wait_line(w.out, "ready", 100);
	cr_assert_eq(sscanf(strstr(line, "reader"), "reader %d busy %d", &reader, &busy), 2);
	free(line);
	cr_assert_eq(ferry_dump(&w, "--leave-running", NULL), 0);
	check_all_images(w.img);

	dfd = open(w.img, O_RDONLY | O_DIRECTORY);
	cr_assert_eq(img_open(&img, dfd, "pstree.img", IMG_PSTREE), 0);
	while ((r = img_read_entry(img, &m)) == 1) {
		PstreeEntry *e = (PstreeEntry *)m;

		if (nproc == 0)
			cr_assert_eq(e->pid, (uint32_t)w.pid);
		else
			cr_assert(e->pid == (uint32_t)reader || e->pid == (uint32_t)busy);
		if (nproc)
			cr_assert_eq(e->ppid, (uint32_t)w.pid);
		cr_assert_eq(e->pgid, (uint32_t)w.pid);
		nproc++;
		protobuf_c_message_free_unpacked(m, NULL);
	}
	img_close(img);
	cr_assert_eq(nproc, 3);

	cr_assert_eq(img_open(&img, dfd, "pipes-data.img", IMG_PIPES_DATA), 0);
	cr_assert_eq(img_read_entry(img, &m), 1, "no pipe data");
	pd = (PipeDataEntry *)m;
	cr_assert_eq(pd->bytes, 20000);
	cr_assert_eq(img_read_payload(img, m, &data, &len), 0);
	cr_assert_eq(len, 20000);
	for (size_t i = 0; i < len; i++)
		cr_assert_eq(((const uint8_t *)data)[i], (uint8_t)((i * 131 + 7) ^ (i >> 8)),
			     "pipe byte %zu", i);
	protobuf_c_message_free_unpacked(m, NULL);
	img_close(img);
	close(dfd);

	/* The dump read the pipe without consuming it. */
	kill(reader, SIGUSR1);
	line = t_wait_line(w.out, "reader pipe", 10000);
	cr_assert(line && strstr(line, "pipe ok"), "%s", line ? line : "no reader line");
	free(line);
	kill(-w.pid, SIGKILL);
	wl_stop(&w);
}

Test(dump, open_files, .timeout = 60)
{
	const char *argv[] = { "openfiles", NULL, NULL };
	struct wl w;
	char *line, *dump_out = NULL, cmd_dir[600];
	int data_fd, log_fd, rc;

	w.dir = t_tmpdir();
	argv[1] = w.dir;
	snprintf(w.out, sizeof(w.out), "%s/out", w.dir);
	snprintf(w.img, sizeof(w.img), "%s/img", w.dir);
	w.pid = t_spawn(w.out, argv);
	line = t_wait_line(w.out, "ready", 10000);
	cr_assert_not_null(line);
	cr_assert_eq(sscanf(strstr(line, "data"), "data %d log %d", &data_fd, &log_fd), 2);
	free(line);
	cr_assert_eq(ferry_dump(&w, "--leave-running", NULL), 0);
	check_all_images(w.img);
	snprintf(cmd_dir, sizeof(cmd_dir), "%s/files.img", w.img);
	rc = t_run(&dump_out, NULL, "%s decode -i %s", t_ferry_bin(), cmd_dir);
	cr_assert_eq(rc, 0);
	/* crit's JSON: the data file at 1234, O_RDWR (2); the log O_WRONLY|O_APPEND (02001). */
	cr_assert(strstr(dump_out, "\"pos\": 1234"), "%s", dump_out);
	cr_assert(strstr(dump_out, "/data\""), "%s", dump_out);
	cr_assert(strstr(dump_out, "/log\""), "%s", dump_out);
	cr_assert(strstr(dump_out, "\"/dev/null\""), "%s", dump_out);
	free(dump_out);
	snprintf(cmd_dir, sizeof(cmd_dir), "%s/log", w.dir);
	assert_running(&w, cmd_dir, "tick");
	wl_stop(&w);
}

Test(dump, memory_256mib_byte_for_byte, .timeout = 300)
{
	const char *argv[] = { "memhog", "256", "99", NULL };
	struct wl w;
	char *line;

	wl_start(&w, argv, "ready");
	line = t_wait_line(w.out, "ready", 100);
	cr_assert_eq(ferry_dump(&w, NULL, NULL), 0);
	waitpid(w.pid, NULL, 0);
	check_memhog(&w, line);
	w.pid = 0;
	free(line);
	wl_stop(&w);
}

/* ---- failures: the target always continues, no image under a final name ---- */

static void fault_case(const char *point)
{
	const char *argv[] = { "counter", NULL };
	struct wl w;
	char *err = NULL;
	int rc;

	wl_start(&w, argv, "ready");
	rc = t_run(NULL, &err, "FERRY_FAULT=%s %s dump -t %d -D %s", point, t_ferry_bin(), w.pid,
		   w.img);
	cr_assert_neq(rc, 0, "ferry survived fault point %s", point);
	free(err);
	cr_assert_eq(count_images(w.img), 0, "images left under final names after '%s'", point);
	assert_running(&w, w.out, "counter:");
	/* A later dump into the same directory works and clears the leftovers. */
	cr_assert_eq(ferry_dump(&w, "--leave-running", NULL), 0);
	cr_assert_gt(count_images(w.img), 0);
	wl_stop(&w);
}

Test(dump_faults, killed_while_frozen, .timeout = 60)
{
	fault_case("frozen");
}

Test(dump_faults, killed_after_core, .timeout = 60)
{
	fault_case("core");
}

Test(dump_faults, killed_after_files, .timeout = 60)
{
	fault_case("files");
}

Test(dump_faults, killed_after_memory, .timeout = 60)
{
	fault_case("mm");
}

Test(dump_faults, killed_before_rename, .timeout = 60)
{
	fault_case("images");
}

Test(dump_faults, killed_while_renaming, .timeout = 60)
{
	const char *argv[] = { "counter", NULL };
	struct wl w;
	char inv[600], *err = NULL;

	wl_start(&w, argv, "ready");
	cr_assert_neq(t_run(NULL, NULL, "FERRY_FAULT=rename %s dump -t %d -D %s", t_ferry_bin(),
			    w.pid, w.img),
		      0);
	/* Killed between moving the images and inventory.img: without it there is no dump. */
	snprintf(inv, sizeof(inv), "%s/inventory.img", w.img);
	cr_assert_neq(access(inv, F_OK), 0, "inventory.img exists after an interrupted dump");
	assert_running(&w, w.out, "counter:");
	/*
	 * The next dump into the same directory undoes the killed publish (its
	 * journal lists what it moved) and its staging, and succeeds.
	 */
	cr_assert_eq(t_run(NULL, &err, "%s dump -t %d -D %s --leave-running", t_ferry_bin(), w.pid,
			   w.img),
		     0, "a dump after a killed publish: %s", err ? err : "");
	free(err);
	cr_assert_eq(access(inv, F_OK), 0);
	cr_assert_eq(t_run(NULL, NULL, "ls -A %s | grep -q '^\\.ferry-'", w.img), 1,
		     "a staging directory or journal is left in %s", w.img);
	cr_assert_gt(check_all_images(w.img), 0);
	assert_running(&w, w.out, "counter:");
	wl_stop(&w);
}

/*
 * Images on a filesystem too small for the memory: the dump fails on the
 * pages file's reservation, says which file and why, leaves no image, and
 * the target runs on with its memory intact (CRIU's default mode, which
 * would kill it after a successful dump).
 */
Test(dump_faults, full_disk, .timeout = 60)
{
	const char *argv[] = { "memhog", "16", "5", NULL };
	struct wl w;
	char *err = NULL;
	int ret;

	wl_start(&w, argv, "ready");
	ret = t_small_fs(w.img, "1m");
	if (ret) {
		wl_stop(&w);
		cr_skip_test("cannot mount a tmpfs: %s", strerror(-ret));
	}
	cr_assert_neq(ferry_dump(&w, NULL, &err), 0, "16 MiB dumped into 1 MiB");
	cr_assert(err && strstr(err, "pages-1.img") && strstr(err, "No space left on device"),
		  "the error names neither the file nor the cause: %s", err ? err : "");
	free(err);
	cr_assert_eq(count_images(w.img), 0);
	assert_running(&w, NULL, NULL);
	t_expect_verdict(w.out, w.pid, SIGUSR1, "verify ok", "verify BAD", 10000);
	t_small_fs_done(w.img);
	wl_stop(&w);
}

static void refuse_fd(const char *kind, const char *what)
{
	const char *argv[] = { "fdkinds", kind, NULL };
	struct wl w;
	char *err = NULL, *line, needle[64];
	int fd;

	wl_start(&w, argv, "ready");
	line = t_wait_line(w.out, "ready", 100);
	cr_assert_eq(sscanf(strstr(line, "fd "), "fd %d", &fd), 1);
	free(line);
	cr_assert_neq(ferry_dump(&w, NULL, &err), 0, "a %s was dumped", kind);
	snprintf(needle, sizeof(needle), "pid %d fd %d", w.pid, fd);
	cr_assert(err && strstr(err, needle), "error does not name pid and fd: %s", err);
	cr_assert(strstr(err, what), "error does not name the type '%s': %s", what, err);
	free(err);
	cr_assert_eq(count_images(w.img), 0);
	cr_assert_eq(t_proc_field(w.pid, "TracerPid"), 0);
	cr_assert(t_proc_state(w.pid) == 'S');
	wl_stop(&w);
}

Test(dump_faults, refuses_socket, .timeout = 60)
{
	refuse_fd("socket", "socket");
}

Test(dump_faults, refuses_io_uring, .timeout = 60)
{
	refuse_fd("io_uring", "io_uring instance");
}

Test(dump_faults, refuses_fanotify, .timeout = 60)
{
	refuse_fd("fanotify", "fanotify group");
}

/* Each of @needles (printf'd with its arguments) appears in @text. */
static void expect_named(const char *text, const char *needle)
{
	cr_expect(text && strstr(text, needle), "'%s' is not named in:\n%s", needle,
		  text ? text : "(nothing)");
}

/*
 * A tree whose two processes hold five objects ferry refuses: dump names
 * every one with its pid (not just the first process's first), writes
 * nothing and lets the tree go on; `ferry check -t` says the same and
 * leaves it running too.
 */
Test(dump_faults, names_every_blocker_of_the_tree, .timeout = 60)
{
	const char *argv[] = { "blockers", NULL };
	char *err = NULL, *out = NULL, *line, n[5][96];
	int parent, child, efd, sfd, xfd, fan, rc;
	unsigned long shm;
	struct wl w;

	wl_start(&w, argv, "ready");
	line = t_wait_line(w.out, "ready", 100);
	cr_assert_eq(
		sscanf(line,
		       "blockers: parent %d child %d io_uring %d shm %lx fanotify %d socket %d "
		       "fanotify %d",
		       &parent, &child, &efd, &shm, &fan, &sfd, &xfd),
		7, "%s", line);
	free(line);
	snprintf(n[0], sizeof(n[0]), "pid %d fd %d: io_uring instance", parent, efd);
	snprintf(n[1], sizeof(n[1]), "pid %d: VMA %#lx-", parent, shm);
	snprintf(n[2], sizeof(n[2]), "pid %d fd %d: fanotify group", parent, fan);
	snprintf(n[3], sizeof(n[3]), "pid %d fd %d: socket:[", child, sfd);
	snprintf(n[4], sizeof(n[4]), "pid %d fd %d: fanotify group", child, xfd);

	cr_assert_neq(ferry_dump(&w, NULL, &err), 0, "a tree of blockers was dumped");
	for (int i = 0; i < 5; i++)
		expect_named(err, n[i]);
	expect_named(err, "2 of its 2 process(es)");
	free(err);
	err = NULL;
	cr_assert_eq(count_images(w.img), 0);
	assert_running(&w, NULL, NULL);
	cr_assert_eq(t_proc_field(child, "TracerPid"), 0);
	cr_assert(strchr("SR", t_proc_state(child)), "the child is in state %c",
		  t_proc_state(child));

	rc = t_run(&out, &err, "%s check -t %d", t_ferry_bin(), w.pid);
	cr_expect_eq(rc, 1, "check -t of a tree that cannot be dumped exited %d", rc);
	for (int i = 0; i < 5; i++)
		expect_named(err, n[i]);
	expect_named(out, "cannot be dumped");
	free(out);
	free(err);
	assert_running(&w, NULL, NULL);
	cr_assert(strchr("SR", t_proc_state(child)));
	wl_stop(&w);
}

/* `ferry check -t` on a tree that can be dumped: exit 0, nothing written, the tree runs on. */
Test(dump, check_tree_of_a_dumpable_tree, .timeout = 60)
{
	const char *argv[] = { "memhog", "4", NULL };
	char *out = NULL;
	struct wl w;

	wl_start(&w, argv, "ready");
	cr_assert_eq(t_run(&out, NULL, "%s check -t %d --json", t_ferry_bin(), w.pid), 0);
	expect_named(out, "\"dumpable\": true");
	free(out);
	assert_running(&w, NULL, NULL);
	t_expect_verdict(w.out, w.pid, SIGUSR1, "verify ok", "verify BAD", 10000);
	wl_stop(&w);
}

Test(dump_faults, vanished_pid, .timeout = 30)
{
	char dir[] = "/tmp/ferry-vanished-XXXXXX", *err = NULL, needle[64];
	pid_t pid = fork();

	if (!pid)
		_exit(0);
	waitpid(pid, NULL, 0); /* a pid that existed a moment ago */
	cr_assert_not_null(mkdtemp(dir));
	cr_assert_neq(t_run(NULL, &err, "%s dump -t %d -D %s/img", t_ferry_bin(), pid, dir), 0);
	snprintf(needle, sizeof(needle), "pid %d: no such process", pid);
	cr_assert(err && strstr(err, needle), "%s", err);
	free(err);
	t_rmrf(dir);
}

Test(dump_faults, kernel_thread, .timeout = 30)
{
	char dir[] = "/tmp/ferry-kthread-XXXXXX", *err = NULL;

	cr_assert_not_null(mkdtemp(dir));
	cr_assert_neq(t_run(NULL, &err, "%s dump -t 2 -D %s/img", t_ferry_bin(), dir), 0);
	cr_assert(err && strstr(err, "pid 2: is a kernel thread"), "%s", err);
	free(err);
	t_rmrf(dir);
}

/* counter on a pty as its controlling terminal, as in a shell session. */
static pid_t spawn_on_pty(int *master)
{
	pid_t pid;

	*master = posix_openpt(O_RDWR | O_NOCTTY | O_CLOEXEC);
	cr_assert_geq(*master, 0);
	cr_assert_eq(grantpt(*master), 0);
	cr_assert_eq(unlockpt(*master), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (!pid) {
		int slave;

		setsid();
		slave = open(ptsname(*master), O_RDWR);
		if (slave < 0 || ioctl(slave, TIOCSCTTY, 0))
			_exit(126);
		dup2(slave, 0);
		dup2(slave, 1);
		dup2(slave, 2);
		syscall(SYS_close_range, 3, ~0u, 0);
		execl(t_workload("counter"), "counter", (char *)NULL);
		_exit(127);
	}
	return pid;
}

Test(dump, shell_job_terminal, .timeout = 60)
{
	char *dir = t_tmpdir(), img[600], buf[256], *err = NULL, *out = NULL;
	struct wl w = { .dir = dir };
	int master;
	ssize_t n;

	w.pid = spawn_on_pty(&master);
	n = read(master, buf, sizeof(buf) - 1); /* "counter: pid N ready" */
	cr_assert_gt(n, 0);
	snprintf(img, sizeof(img), "%s/img", dir);
	cr_assert_neq(t_run(NULL, &err, "%s dump -t %d -D %s", t_ferry_bin(), w.pid, img), 0,
		      "a tty was dumped without --shell-job");
	cr_assert(err && strstr(err, "--shell-job"), "%s", err);
	free(err);
	cr_assert_eq(t_run(NULL, &err, "%s dump -t %d -D %s --shell-job --leave-running",
			   t_ferry_bin(), w.pid, img),
		     0, "%s", err);
	free(err);
	check_all_images(img);
	snprintf(img, sizeof(img), "%s/img/files.img", dir);
	cr_assert_eq(t_run(&out, NULL, "%s decode -i %s", t_ferry_bin(), img), 0);
	cr_assert(strstr(out, "\"type\": \"TTY\""), "%s", out);
	free(out);
	/* Still writing to its terminal. */
	n = read(master, buf, sizeof(buf) - 1);
	cr_assert_gt(n, 0);
	close(master);
	wl_stop(&w);
}

Test(dump_faults, refuses_shared_address_space, .timeout = 60)
{
	const char *argv[] = { "sharevm", NULL };
	struct wl w;
	char *err = NULL;

	wl_start(&w, argv, "ready");
	cr_assert_neq(ferry_dump(&w, NULL, &err), 0, "two processes with one mm were dumped");
	cr_assert(err && strstr(err, "share their address space"), "%s", err);
	free(err);
	cr_assert_eq(count_images(w.img), 0);
	cr_assert_eq(t_proc_field(w.pid, "TracerPid"), 0);
	kill(-w.pid, SIGKILL);
	wl_stop(&w);
}

Test(dump_faults, refuses_another_pid_namespace, .timeout = 60)
{
	char *dir = t_tmpdir(), *err = NULL, out[600], needle[80];
	pid_t outer = 0, inner = 0;
	FILE *f;

	snprintf(out, sizeof(out), "%s/out", dir);
	/* unshare forks; the sleep is pid 1 of the new namespace. */
	cr_assert_eq(t_run(NULL, NULL,
			   "unshare --pid --fork sleep 30 >/dev/null 2>&1 & echo $! > %s", out),
		     0);
	f = fopen(out, "r");
	cr_assert(f && fscanf(f, "%d", &outer) == 1);
	fclose(f);
	for (int i = 0; i < 200 && !inner; i++) {
		char path[64], *kids;

		snprintf(path, sizeof(path), "/proc/%d/task/%d/children", outer, outer);
		kids = t_read_file(path, NULL);
		if (kids)
			inner = atoi(kids);
		free(kids);
		if (!inner)
			usleep(10000);
	}
	cr_assert_gt(inner, 0, "unshare made no child");
	cr_assert_neq(t_run(NULL, &err, "%s dump -t %d -D %s/img", t_ferry_bin(), inner, dir), 0);
	snprintf(needle, sizeof(needle), "pid %d: lives in another pid namespace", inner);
	cr_assert(err && strstr(err, needle), "%s", err);
	free(err);
	cr_assert_eq(t_proc_field(inner, "TracerPid"), 0);
	kill(outer, SIGKILL);
	kill(inner, SIGKILL);
	t_rmrf(dir);
	free(dir);
}
