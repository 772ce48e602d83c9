// SPDX-License-Identifier: MIT
/*
 * `ferry dump` end to end, on real workloads with real ptrace: the images are
 * read back with ferry's reader and with CRIU's crit, memory is compared with
 * the pattern the workload wrote, and the workload must go on unharmed when
 * asked to (--leave-running) or when the dump fails for any reason.
 * The dumps that fail (suite dump_faults) are in test_dump_faults.c.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core.pb-c.h"
#include "helpers.h"
#include "img.h"
#include "pagemap.pb-c.h"
#include "pattern.h"
#include "pipe-data.pb-c.h"
#include "pstree.pb-c.h"
#include "stats.pb-c.h"

#define PAGE 4096ull
#include "dump_helpers.h"

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
static void check_memhog(struct dt_wl *w, const char *line)
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
	struct dt_wl w;
	char *line, *err = NULL;

	dt_wl_start(&w, argv, "ready");
	line = t_wait_line(w.out, "ready", 100);
	cr_assert_eq(dt_ferry_dump(&w, "--leave-running -v3", &err), 0, "dump failed: %s", err);
	free(err);
	cr_assert_geq(dt_check_all_images(w.img), 8);
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
	dt_assert_running(&w, NULL, NULL);
	kill(w.pid, SIGUSR1);
	free(line);
	line = t_wait_line(w.out, "verify", 10000);
	cr_assert_not_null(line);
	cr_assert(strstr(line, "verify ok"), "%s", line);
	free(line);
	dt_wl_stop(&w);
}

Test(dump, kills_the_tree_by_default, .timeout = 60)
{
	const char *argv[] = { "counter", NULL };
	struct dt_wl w;
	int status;

	dt_wl_start(&w, argv, "ready");
	cr_assert_eq(dt_ferry_dump(&w, NULL, NULL), 0);
	cr_assert_eq(waitpid(w.pid, &status, 0), w.pid);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
	w.pid = 0;
	dt_check_all_images(w.img);
	dt_wl_stop(&w);
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
		struct dt_wl w;

		dt_wl_start(&w, cases[i].argv, "ready");
		cr_assert_eq(dt_ferry_dump(&w, "--leave-running -v4", &err), 0, "%s",
			     err ? err : "");
		cr_expect(err && strstr(err, cases[i].want), "%s: no '%s' in:\n%s",
			  cases[i].argv[0], cases[i].want, err ? err : "");
		free(err);
		dt_check_all_images(w.img);
		dt_wl_stop(&w);
	}
}

Test(dump, threads, .timeout = 60)
{
	const char *argv[] = { "threads", "4", NULL };
	PstreeEntry *ps;
	struct dt_wl w;
	char *line, *p, name[64];
	uint64_t fs_base[5];

	dt_wl_start(&w, argv, "ready");
	cr_assert_eq(dt_ferry_dump(&w, "--leave-running", NULL), 0);
	dt_check_all_images(w.img);
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
	dt_wl_stop(&w);
}

Test(dump, parent_children_pipe, .timeout = 60)
{
	const char *argv[] = { "family", "20000", NULL };
	PipeDataEntry *pd;
	struct img *img;
	struct dt_wl w;
	const void *data;
	size_t len;
	int reader, busy, dfd, nproc = 0, r;
	ProtobufCMessage *m;
	char *line;

	dt_wl_start(&w, argv, "ready");
	line = t_wait_line(w.out, "ready", 100);
	cr_assert_eq(sscanf(strstr(line, "reader"), "reader %d busy %d", &reader, &busy), 2);
	free(line);
	cr_assert_eq(dt_ferry_dump(&w, "--leave-running", NULL), 0);
	dt_check_all_images(w.img);

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
	dt_wl_stop(&w);
}

Test(dump, open_files, .timeout = 60)
{
	const char *argv[] = { "openfiles", NULL, NULL };
	struct dt_wl w;
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
	cr_assert_eq(dt_ferry_dump(&w, "--leave-running", NULL), 0);
	dt_check_all_images(w.img);
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
	dt_assert_running(&w, cmd_dir, "tick");
	dt_wl_stop(&w);
}

Test(dump, memory_256mib_byte_for_byte, .timeout = 300)
{
	const char *argv[] = { "memhog", "256", "99", NULL };
	struct dt_wl w;
	char *line;

	dt_wl_start(&w, argv, "ready");
	line = t_wait_line(w.out, "ready", 100);
	cr_assert_eq(dt_ferry_dump(&w, NULL, NULL), 0);
	waitpid(w.pid, NULL, 0);
	check_memhog(&w, line);
	w.pid = 0;
	free(line);
	dt_wl_stop(&w);
}

/* `ferry check -t` on a tree that can be dumped: exit 0, nothing written, the tree runs on. */
Test(dump, check_tree_of_a_dumpable_tree, .timeout = 60)
{
	const char *argv[] = { "memhog", "4", NULL };
	char *out = NULL;
	struct dt_wl w;

	dt_wl_start(&w, argv, "ready");
	cr_assert_eq(t_run(&out, NULL, "%s check -t %d --json", t_ferry_bin(), w.pid), 0);
	dt_expect_named(out, "\"dumpable\": true");
	free(out);
	dt_assert_running(&w, NULL, NULL);
	t_expect_verdict(w.out, w.pid, SIGUSR1, "verify ok", "verify BAD", 10000);
	dt_wl_stop(&w);
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
	struct dt_wl w = { .dir = dir };
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
	dt_check_all_images(img);
	snprintf(img, sizeof(img), "%s/img/files.img", dir);
	cr_assert_eq(t_run(&out, NULL, "%s decode -i %s", t_ferry_bin(), img), 0);
	cr_assert(strstr(out, "\"type\": \"TTY\""), "%s", out);
	free(out);
	/* Still writing to its terminal. */
	n = read(master, buf, sizeof(buf) - 1);
	cr_assert_gt(n, 0);
	close(master);
	dt_wl_stop(&w);
}
