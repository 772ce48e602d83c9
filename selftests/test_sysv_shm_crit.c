// SPDX-License-Identifier: MIT
/*
 * ipcns-shm as both CRIU readers take it (issue 18). CRIU 4.x writes each
 * ipc_shm_entry with in_pagemaps true and the contents in
 * pagemap-shmem-<id>.img; every crit (3.17, and CRIU's current
 * lib/pycriu/images/images.py ipc_shm_handler) reads `size` bytes of inline
 * contents after each entry whatever in_pagemaps says, so with two segments
 * it took the second entry for the first one's data. ferry writes the
 * contents inline (in_pagemaps false), the layout CRIU's restore also reads:
 * crit decodes every segment with its contents, ferry restores it, and ferry
 * still restores CRIU 4.x's layout (converted here from ferry's dump).
 *
 * The test process is a child subreaper: a tree restored with -d is
 * reparented to it when ferry exits, so it can be reaped here.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "img.h"
#include "ipc-shm.pb-c.h"
#include "pagemap.pb-c.h"
#include "pagemap_flags.h"

#define VERDICT_MS 10000

TestSuite(sysv_crit, .timeout = 120);

struct svc {
	char *dir;
	char out[512], img[600], ipcns[128];
	pid_t pid, child;
	key_t key;
};

static void svc_start_and_dump(struct svc *w)
{
	const char *argv[] = { "shmem", "SP", NULL };
	char *line, *err = NULL;
	struct dirent *de;
	DIR *d;
	int rc;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	memset(w, 0, sizeof(*w));
	w->dir = t_tmpdir();
	cr_assert_not_null(w->dir);
	snprintf(w->out, sizeof(w->out), "%s/out", w->dir);
	snprintf(w->img, sizeof(w->img), "%s/img", w->dir);
	w->pid = t_spawn(w->out, argv);
	cr_assert_gt(w->pid, 0);
	w->key = (key_t)(0x66720000 | (w->pid & 0xffff));
	line = t_wait_line(w->out, "ready", 10000);
	cr_assert_not_null(line, "the shmem workload never said ready");
	cr_assert_eq(sscanf(line, "shmem: pid %*d child %d", &w->child), 1, "%s", line);
	free(line);
	t_expect_verdict(w->out, w->pid, SIGUSR1, "shmem: verify ok", "verify BAD", VERDICT_MS);
	rc = t_run(NULL, &err, "%s dump -t %d -D %s", t_ferry_bin(), w->pid, w->img);
	cr_assert_eq(rc, 0, "dump: %s", err ? err : "");
	free(err);
	cr_assert_eq(waitpid(w->pid, NULL, 0), w->pid);
	cr_assert_eq(waitpid(w->child, NULL, 0), w->child);
	/* The keyed segment outlives its processes: the restore must make it again. */
	rc = shmget(w->key, 0, 0);
	if (rc >= 0)
		shmctl(rc, IPC_RMID, NULL);
	d = opendir(w->img);
	cr_assert_not_null(d);
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "ipcns-shm-", 10))
			snprintf(w->ipcns, sizeof(w->ipcns), "%.100s", de->d_name);
	closedir(d);
	cr_assert(w->ipcns[0], "no ipcns-shm image in %s", w->img);
}

static void svc_stop(struct svc *w)
{
	int id = shmget(w->key, 0, 0);

	if (w->pid > 0)
		kill(w->pid, SIGKILL);
	if (w->child > 0)
		kill(w->child, SIGKILL);
	while (waitpid(-1, NULL, 0) >= 0 || errno == EINTR)
		;
	if (id >= 0)
		shmctl(id, IPC_RMID, NULL);
	t_rmrf(w->dir);
	free(w->dir);
}

static void svc_restore_and_verify(struct svc *w)
{
	char *err = NULL;
	int rc = t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), w->img);

	cr_assert_eq(rc, 0, "restore: %s", err ? err : "");
	free(err);
	t_expect_verdict(w->out, w->pid, SIGUSR1, "shmem: verify ok", "verify BAD", VERDICT_MS);
}

/*
 * Two segments: crit finds two entries, each with `size` bytes of contents
 * that are not all zeros (the workload's pattern), as ferry's decoder does.
 */
Test(sysv_crit, crit_reads_every_segment_with_its_contents)
{
	static const char check[] =
		"import base64, json, sys\n"
		"d = json.load(sys.stdin)\n"
		"e = d['entries']\n"
		"ok = all(len(base64.b64decode(x['extra'])) >= x['size'] and"
		" any(base64.b64decode(x['extra'])) and not x['in_pagemaps'] for x in e)\n"
		"print('entries %d contents %s' % (len(e), 'ok' if ok else 'bad'))\n";
	char *out = NULL, *err = NULL, script[700];
	struct svc w;
	int rc;

	svc_start_and_dump(&w);
	snprintf(script, sizeof(script), "%s/check.py", w.dir);
	cr_assert_eq(t_write_file(script, check, strlen(check)), 0);
	rc = t_run(&out, &err, "%s decode -i %s/%s | python3 %s", t_ferry_bin(), w.img, w.ipcns,
		   script);
	cr_assert_eq(rc, 0, "ferry decode: %s", err ? err : "");
	cr_assert(strstr(out, "entries 2 contents ok"), "ferry decode: %s", out);
	free(out);
	free(err);
	if (t_crit()) {
		out = err = NULL;
		rc = t_run(&out, &err, "%s decode -i %s/%s | python3 %s", t_crit(), w.img, w.ipcns,
			   script);
		cr_assert_eq(rc, 0, "crit decode: %s", err ? err : "");
		cr_assert(strstr(out, "entries 2 contents ok"), "crit decode: %s", out);
		free(out);
		free(err);
	} else {
		cr_log_info("crit is not installed: ferry's decoder only");
	}
	svc_restore_and_verify(&w);
	svc_stop(&w);
}

/* Rewrite ipcns-shm in CRIU 4.x's layout: entries with in_pagemaps, pages in pagemap-shmem. */
static void to_criu4_layout(const struct svc *w)
{
	int dfd = open(w->img, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct img *in, *out;
	ProtobufCMessage *m;
	uint32_t pages_id = 900;
	char tmp[200];

	cr_assert_geq(dfd, 0);
	snprintf(tmp, sizeof(tmp), "%s.new", w->ipcns);
	cr_assert_eq(img_open(&in, dfd, w->ipcns, img_type_by_name("IPCNS_SHM")), 0);
	cr_assert_eq(img_create(&out, dfd, tmp, img_type_by_name("IPCNS_SHM")), 0);
	while (img_read_entry(in, &m) == 1) {
		IpcShmEntry *e = (IpcShmEntry *)m;
		PagemapHead h = PAGEMAP_HEAD__INIT;
		PagemapEntry pe = PAGEMAP_ENTRY__INIT;
		uint64_t pages = (e->size + 4095) / 4096;
		const void *data;
		size_t len;
		struct img *pm;
		char name[64], path[800];
		uint8_t *buf = calloc(pages, 4096);

		cr_assert_not_null(buf);
		cr_assert_eq(img_read_payload(in, m, &data, &len), 0);
		memcpy(buf, data, e->size);
		e->in_pagemaps = 1;
		cr_assert_eq(img_write_entry(out, m), 0);
		h.pages_id = pages_id;
		pe.vaddr = 0;
		pe.has_nr_pages = 1;
		pe.nr_pages = pages;
		pe.compat_nr_pages = (uint32_t)pages;
		pe.has_flags = 1;
		pe.flags = PE_PRESENT;
		snprintf(name, sizeof(name), "pagemap-shmem-%u.img", e->desc->id);
		cr_assert_eq(img_create(&pm, dfd, name, img_type_by_name("SHMEM_PAGEMAP")), 0);
		cr_assert_eq(img_write_entry(pm, &h.base), 0);
		cr_assert_eq(img_write_entry(pm, &pe.base), 0);
		cr_assert_eq(img_commit(pm), 0);
		snprintf(path, sizeof(path), "%s/pages-%u.img", w->img, pages_id++);
		cr_assert_eq(t_write_file(path, buf, pages * 4096), 0);
		free(buf);
		protobuf_c_message_free_unpacked(m, NULL);
	}
	img_close(in);
	cr_assert_eq(img_commit(out), 0);
	cr_assert_eq(renameat(dfd, tmp, dfd, w->ipcns), 0);
	close(dfd);
}

/* A dump in CRIU 4.x's layout (in_pagemaps, contents in pagemap-shmem) is restored too. */
Test(sysv_crit, criu4_layout_with_contents_in_pagemaps_restored)
{
	char *out = NULL;
	struct svc w;

	svc_start_and_dump(&w);
	to_criu4_layout(&w);
	cr_assert_eq(t_run(&out, NULL, "%s decode -i %s/%s", t_ferry_bin(), w.img, w.ipcns), 0);
	cr_assert(strstr(out, "\"in_pagemaps\": true"), "%s", out);
	free(out);
	svc_restore_and_verify(&w);
	svc_stop(&w);
}
