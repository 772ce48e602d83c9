// SPDX-License-Identifier: MIT
/*
 * SysV shared memory end to end (issue 18): the shmem workload's S (a keyed
 * segment, 5 pages + 100 bytes, mode 0640) and P (an IPC_PRIVATE segment
 * marked IPC_RMID) kinds, attached by a parent and its forked child. After a
 * dump and a restore each process sees the other's writes and the kernel
 * shows the segments with the same id, key, size, mode (SHM_DEST again for
 * P) and both processes attached (the workload checks it itself with
 * IPC_STAT on the ids it had). A dump whose key exists on the host again is
 * refused at restore, the existing segment untouched. From a pre-dump chain
 * and with --lazy-pages (the segments written eagerly) too. Corrupt ipcns-shm
 * images are refused with file and offset, and a VMA holding a part of a
 * segment is refused at dump, named.
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
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "tree_helpers.h"
#include "img.h"
#include "ipc-shm.pb-c.h"

#define VERDICT_MS 10000

struct sv {
	struct t_tree t;
	key_t key; /* of the S segment, or IPC_PRIVATE */
};

TestSuite(sysv_shm, .timeout = 120);

static void sv_start(struct sv *w, const char *mode)
{
	const char *argv[] = { "shmem", mode, NULL };
	char *line;

	memset(w, 0, sizeof(*w));
	t_tree_init(&w->t);
	line = t_tree_spawn(&w->t, argv);
	w->key = strchr(mode, 'S') ? (key_t)(0x66720000 | (w->t.pid & 0xffff)) : IPC_PRIVATE;
	cr_assert_eq(sscanf(line, "shmem: pid %*d child %d", &w->t.child), 1, "ready line: %s",
		     line);
	free(line);
	/* Both directions and the IPC_STAT checks work before any dump. */
	t_expect_verdict(w->t.out, w->t.pid, SIGUSR1, "shmem: verify ok", "verify BAD", VERDICT_MS);
}

/* The id of the segment of key @key now, or -1. */
static int key_id(key_t key)
{
	return key == IPC_PRIVATE ? -1 : shmget(key, 0, 0);
}

static void sv_stop(struct sv *w)
{
	int id = key_id(w->key);

	t_tree_stop(&w->t);
	/* The keyed segment outlives its processes: not left on the host. */
	if (id >= 0)
		shmctl(id, IPC_RMID, NULL);
}

static void sv_dump(struct sv *w)
{
	t_tree_dump(&w->t, w->t.img, NULL);
}

Test(sysv_shm, dump_restore_keeps_key_id_mode_and_sharing)
{
	struct sv w;
	struct shmid_ds ds;
	char *out = NULL, *err = NULL;
	int id, rc;

	sv_start(&w, "ASP");
	id = key_id(w.key);
	cr_assert_geq(id, 0);
	cr_assert_eq(mkdir(w.t.img, 0700), 0);
	sv_dump(&w);
	/* The dumped processes are gone; their keyed segment stays: take it away. */
	cr_assert_eq(shmctl(id, IPC_RMID, NULL), 0);
	rc = t_run(&out, &err, "%s decode -i %s/ipcns-shm-*.img", t_ferry_bin(), w.t.img);
	cr_assert_eq(rc, 0, "decode: %s", err ? err : "");
	cr_assert_not_null(strstr(out, "\"in_pagemaps\": false"), "%s", out);
	cr_assert_not_null(strstr(out, "\"mode\": 416"), "S's mode 0640: %s", out);
	free(out);
	free(err);
	err = NULL;
	/* crit reads the VMAs and ipcns-shm with the contents inline (images.md). */
	if (t_crit()) {
		out = NULL;
		rc = t_run(&out, &err,
			   "%s decode -i %s/mm-%d.img --pretty && %s decode -i %s/ipcns-shm-*.img",
			   t_crit(), w.t.img, w.t.pid, t_crit(), w.t.img);
		cr_assert_eq(rc, 0, "crit: %s", err ? err : "");
		cr_assert_not_null(strstr(out, "VMA_AREA_SYSVIPC"), "%s", out);
		free(out);
		free(err);
		err = NULL;
	} else {
		cr_log_info("crit is not installed: the images are checked by ferry only");
	}
	rc = t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), w.t.img);
	cr_assert_eq(rc, 0, "restore failed: %s", err ? err : "");
	free(err);
	cr_assert_eq(kill(w.t.pid, 0), 0, "pid %d is not back", w.t.pid);
	cr_assert_eq(kill(w.t.child, 0), 0, "child %d is not back", w.t.child);
	cr_assert_eq(key_id(w.key), id, "the key's id after restore");
	cr_assert_eq(shmctl(id, IPC_STAT, &ds), 0);
	cr_assert_eq(ds.shm_nattch, 2);
	/* Contents, sharing both ways, and the kernel's view (workload's IPC_STAT checks). */
	t_expect_verdict(w.t.out, w.t.pid, SIGUSR1, "shmem: verify ok", "verify BAD", VERDICT_MS);
	t_expect_verdict(w.t.out, w.t.pid, SIGUSR1, "shmem: verify ok", "verify BAD", VERDICT_MS);
	sv_stop(&w);
}

/* Restore @dir (-d, @extra) with the keyed segment of @w removed first; both processes back. */
static void sv_restore(struct sv *w, const char *dir, const char *extra)
{
	int id = key_id(w->key);

	if (id >= 0)
		cr_assert_eq(shmctl(id, IPC_RMID, NULL), 0);
	t_tree_restore(&w->t, dir, extra);
}

/*
 * Pre-dump rounds leave the segments to the final dump (written whole), and
 * the restore from the end of the chain has the last round's state.
 */
Test(sysv_shm, predump_chain)
{
	char d1[700], d2[700], *err = NULL;
	struct sv w;
	int rc;

	sv_start(&w, "SP");
	snprintf(d1, sizeof(d1), "%s/1", w.t.dir);
	snprintf(d2, sizeof(d2), "%s/2", w.t.dir);
	cr_assert_eq(mkdir(d1, 0700), 0);
	cr_assert_eq(mkdir(d2, 0700), 0);
	rc = t_run(NULL, &err, "%s pre-dump -t %d -D %s", t_ferry_bin(), w.t.pid, d1);
	cr_assert_eq(rc, 0, "pre-dump: %s", err ? err : "");
	free(err);
	err = NULL;
	/* New pings in both segments between the round and the dump. */
	t_expect_verdict(w.t.out, w.t.pid, SIGUSR1, "shmem: verify ok", "verify BAD", VERDICT_MS);
	rc = t_run(NULL, &err, "%s dump -t %d -D %s --prev-images-dir ../1", t_ferry_bin(), w.t.pid,
		   d2);
	cr_assert_eq(rc, 0, "dump: %s", err ? err : "");
	free(err);
	cr_assert_eq(waitpid(w.t.pid, NULL, 0), w.t.pid);
	cr_assert_eq(waitpid(w.t.child, NULL, 0), w.t.child);
	sv_restore(&w, d2, NULL);
	t_expect_verdict(w.t.out, w.t.pid, SIGUSR1, "shmem: verify ok", "verify BAD", VERDICT_MS);
	sv_stop(&w);
}

/* --lazy-pages: the segments are made and filled before the tree runs. */
Test(sysv_shm, lazy_restore_is_eager_for_segments)
{
	char extra[800];
	struct sv w;

	sv_start(&w, "SP");
	cr_assert_eq(mkdir(w.t.img, 0700), 0);
	sv_dump(&w);
	snprintf(extra, sizeof(extra), "--lazy-pages -v3 --log-file %s/restore.log", w.t.dir);
	sv_restore(&w, w.t.img, extra);
	t_expect_verdict(w.t.out, w.t.pid, SIGUSR1, "shmem: verify ok", "verify BAD", VERDICT_MS);
	sv_stop(&w);
}

Test(sysv_shm, restore_refused_when_the_key_exists)
{
	struct sv w;
	struct shmid_ds ds;
	char *err = NULL;
	int id, rc;

	sv_start(&w, "S");
	id = key_id(w.key);
	cr_assert_geq(id, 0);
	cr_assert_eq(mkdir(w.t.img, 0700), 0);
	sv_dump(&w);
	/* The segment is still there (not marked IPC_RMID): a restore must not take it. */
	rc = t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), w.t.img);
	cr_assert_neq(rc, 0, "restore over an existing key succeeded");
	cr_assert_not_null(err);
	cr_assert_not_null(strstr(err, "exists on this host"), "%s", err);
	free(err);
	cr_assert_eq(kill(w.t.pid, 0), -1, "pid %d runs after a refused restore", w.t.pid);
	cr_assert_eq(key_id(w.key), id);
	cr_assert_eq(shmctl(id, IPC_STAT, &ds), 0);
	cr_assert_eq(ds.shm_nattch, 0);
	sv_stop(&w);
}

/* The name of the ipcns-shm image in @dir (one must be there). */
static void ipcns_name(const char *dir, char *name, size_t size)
{
	struct dirent *de;
	DIR *d = opendir(dir);

	cr_assert_not_null(d);
	name[0] = 0;
	while ((de = readdir(d)))
		if (!strncmp(de->d_name, "ipcns-shm-", 10))
			snprintf(name, size, "%.100s", de->d_name);
	closedir(d);
	cr_assert(name[0], "no ipcns-shm image in %s", dir);
}

static void expect_refused(const char *dir, const char *want1, const char *want2)
{
	char *err = NULL;
	int rc = t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), dir);

	cr_assert_neq(rc, 0, "a corrupt dump was restored");
	cr_assert_not_null(err);
	cr_assert(strstr(err, want1), "no '%s' in: %s", want1, err);
	if (want2)
		cr_assert(strstr(err, want2), "no '%s' in: %s", want2, err);
	free(err);
}

/* Write @n copies of @e (the i-th with id @e->desc->id + i * @step) as @name in @dir. */
static void put_ipcns(const char *dir, const char *name, IpcShmEntry *e, int n, int step)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY);
	uint32_t id = e->desc->id;
	struct img *img;

	cr_assert_geq(dfd, 0);
	cr_assert_eq(img_create(&img, dfd, name, img_type_by_name("IPCNS_SHM")), 0);
	for (int i = 0; i < n; i++) {
		e->desc->id = id + (uint32_t)(i * step);
		cr_assert_eq(img_write_entry(img, &e->base), 0);
		/* ferry's layout: the contents (zeros here) inline, up to a multiple of 4. */
		if (!(e->has_in_pagemaps && e->in_pagemaps)) {
			size_t len = (e->size + 3) & ~3ull;
			void *zeros = calloc(1, len ? len : 1);

			cr_assert_eq(img_write_raw(img, zeros, len), 0);
			free(zeros);
		}
	}
	e->desc->id = id;
	cr_assert_eq(img_commit(img), 0);
	close(dfd);
}

Test(sysv_shm, corrupt_images_refused_with_file_and_offset)
{
	IpcDescEntry d = IPC_DESC_ENTRY__INIT;
	IpcShmEntry e = IPC_SHM_ENTRY__INIT;
	ProtobufCMessage *m;
	char name[128], want[300], path[800];
	struct img *img;
	struct sv w;
	int dfd;

	sv_start(&w, "P");
	cr_assert_eq(mkdir(w.t.img, 0700), 0);
	sv_dump(&w);
	w.t.pid = w.t.child = 0;
	ipcns_name(w.t.img, name, sizeof(name));
	dfd = open(w.t.img, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(dfd, 0);
	cr_assert_eq(img_open(&img, dfd, name, img_type_by_name("IPCNS_SHM")), 0);
	cr_assert_eq(img_read_entry(img, &m), 1);
	d = *((IpcShmEntry *)m)->desc;
	e = *(IpcShmEntry *)m;
	e.desc = &d;
	snprintf(want, sizeof(want), "%s: offset ", name);
	/* The same id twice. */
	put_ipcns(w.t.img, name, &e, 2, 0);
	expect_refused(w.t.img, want, "a repeated");
	/* Contents in pagemap-shmem (CRIU 4.x's layout) said, but not there. */
	e.in_pagemaps = 1;
	put_ipcns(w.t.img, name, &e, 1, 0);
	expect_refused(w.t.img, "pagemap-shmem-", "missing");
	e.in_pagemaps = 0;
	/* An empty segment, and one larger than the VMA that attaches it. */
	e.size = 0;
	put_ipcns(w.t.img, name, &e, 1, 0);
	expect_refused(w.t.img, want, "an empty");
	e.size = 8 * 4096;
	put_ipcns(w.t.img, name, &e, 1, 0);
	expect_refused(w.t.img, "not a whole segment", NULL);
	e.size = 4 * 4096;
	/* A segment no VMA attaches. */
	put_ipcns(w.t.img, name, &e, 2, 1);
	snprintf(want, sizeof(want), "no VMA of the dump attaches SysV segment %u", d.id + 1);
	expect_refused(w.t.img, want, NULL);
	/* Two namespaces' images. */
	put_ipcns(w.t.img, name, &e, 1, 0);
	put_ipcns(w.t.img, "ipcns-shm-1.img", &e, 1, 0);
	expect_refused(w.t.img, "SysV segments of two IPC namespaces", NULL);
	snprintf(path, sizeof(path), "%s/ipcns-shm-1.img", w.t.img);
	cr_assert_eq(unlink(path), 0);
	/* A truncated image, and a missing one: the VMA's segment is nowhere. */
	snprintf(path, sizeof(path), "%s/%s", w.t.img, name);
	cr_assert_eq(t_run(NULL, NULL, "truncate -s 13 %s", path), 0);
	expect_refused(w.t.img, name, NULL);
	cr_assert_eq(unlink(path), 0);
	expect_refused(w.t.img, "not a whole segment of the dump's ipcns-shm image", NULL);
	protobuf_c_message_free_unpacked(m, NULL);
	img_close(img);
	close(dfd);
	sv_stop(&w);
}

/* A VMA holding a part of a segment (the rest mprotect()ed apart) is refused, named. */
Test(sysv_shm, part_of_a_segment_refused_at_dump)
{
	char *err = NULL, want[200];
	int ctl[2], id, rc;
	pid_t kid;
	char c, *p;

	if (geteuid())
		cr_skip_test("ferry check -t needs root");
	id = shmget(IPC_PRIVATE, 2 * 4096, IPC_CREAT | 0600);
	cr_assert_geq(id, 0);
	p = shmat(id, NULL, 0);
	cr_assert_neq(p, (void *)-1);
	cr_assert_eq(shmctl(id, IPC_RMID, NULL), 0);
	cr_assert_eq(pipe(ctl), 0);
	kid = fork();
	cr_assert_geq(kid, 0);
	if (!kid) {
		close(ctl[1]);
		if (mprotect(p + 4096, 4096, PROT_READ))
			_exit(1);
		while (read(ctl[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(ctl[0]);
	shmdt(p);
	usleep(100000);
	rc = t_run(NULL, &err, "%s check -t %d", t_ferry_bin(), kid);
	cr_assert_eq(rc, 1, "a part of a SysV segment passed the check: %s", err ? err : "");
	snprintf(want, sizeof(want),
		 "pid %d: VMA %#lx-%#lx maps 4096 bytes at offset 0 of SysV segment %d", kid,
		 (unsigned long)p, (unsigned long)p + 4096, id);
	cr_assert(strstr(err, want), "no '%s' in: %s", want, err);
	cr_assert(strstr(err, "only whole attachments are supported"), "%s", err);
	free(err);
	close(ctl[1]);
	cr_assert_eq(waitpid(kid, NULL, 0), kid);
}
