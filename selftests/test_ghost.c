// SPDX-License-Identifier: MIT
/*
 * Files in /dev/shm (issue 18): a file kept and one unlinked while open and
 * mapped, both shared by a parent and its child, come back shared after a
 * restore (the unlinked one saved as a CRIU ghost file, recreated for the
 * restore and unlinked again); python's multiprocessing, whose shared Value
 * and its lock live in unlinked /dev/shm files, keeps counting in both
 * processes; a deleted file ferry does not save is refused by name, and
 * corrupt ghost images with file and offset.
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
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "tree_helpers.h"
#include "img.h"
#include "ghost-file.pb-c.h"
#include "remap-file-path.pb-c.h"

#define VERDICT_MS 10000
#define PYTHON "/usr/bin/python3"

TestSuite(ghost, .timeout = 120);

struct gw {
	struct t_tree t;
};

static void need_root(void)
{
	if (geteuid())
		cr_skip_test("ferry dump needs root");
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
}

static void gw_start(struct gw *w, const char *kinds)
{
	const char *argv[] = { "shmem", kinds, NULL };
	char *line;

	memset(w, 0, sizeof(*w));
	t_tree_init(&w->t);
	line = t_tree_spawn(&w->t, argv);
	cr_assert_eq(sscanf(line, "shmem: pid %*d child %d", &w->t.child), 1, "%s", line);
	free(line);
	t_expect_verdict(w->t.out, w->t.pid, SIGUSR1, "shmem: verify ok", "verify BAD", VERDICT_MS);
}

static void shm_path(pid_t pid, const char *which, char *buf, size_t size)
{
	snprintf(buf, size, "/dev/shm/ferry-shm-%d-%s", pid, which);
}

static void gw_stop(struct gw *w)
{
	char path[128];

	if (w->t.pid > 0) {
		shm_path(w->t.pid, "keep", path, sizeof(path));
		unlink(path);
	}
	t_tree_stop(&w->t);
}

/* The inode of the mapping of @pid whose path contains @needle, or 0. */
static unsigned long mapped_inode(pid_t pid, const char *needle)
{
	char path[64], line[512];
	unsigned long ino = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	f = fopen(path, "re");
	cr_assert_not_null(f);
	while (!ino && fgets(line, sizeof(line), f))
		if (strstr(line, needle) && sscanf(line, "%*s %*s %*s %*s %lu", &ino) != 1)
			ino = 0;
	fclose(f);
	return ino;
}

Test(ghost, shm_files_kept_and_deleted_shared_after_restore)
{
	char gone[128], keep[128], needle[160], *out = NULL, *err = NULL;
	unsigned long a, b;
	struct gw w;
	int rc;

	gw_start(&w, "AZKG");
	shm_path(w.t.pid, "gone", gone, sizeof(gone));
	shm_path(w.t.pid, "keep", keep, sizeof(keep));
	t_tree_dump(&w.t, w.t.img, NULL);
	if (t_crit()) {
		rc = t_run(
			&out, &err,
			"%s decode --pretty -i %s/remap-fpath.img && %s decode -i %s/ghost-file-1.img",
			t_crit(), w.t.img, t_crit(), w.t.img);
		cr_assert_eq(rc, 0, "crit: %s", err ? err : "");
		cr_assert(strstr(out, "\"GHOST\""), "%s", out);
		cr_assert(strstr(out, "\"chunks\": true"), "%s", out);
		free(out);
		free(err);
	}
	cr_assert_eq(access(gone, F_OK), -1, "%s exists before the restore", gone);
	t_tree_restore(&w.t, w.t.img, NULL);
	/* Deleted again before the tree ran; the kept one is where it was. */
	cr_assert_eq(access(gone, F_OK), -1, "the restore left %s behind", gone);
	cr_assert_eq(access(keep, F_OK), 0);
	snprintf(needle, sizeof(needle), "%s (deleted)", gone);
	a = mapped_inode(w.t.pid, needle);
	b = mapped_inode(w.t.child, needle);
	cr_assert(a && a == b, "the deleted file: inode %lu in the parent, %lu in the child", a, b);
	a = mapped_inode(w.t.pid, keep);
	b = mapped_inode(w.t.child, keep);
	cr_assert(a && a == b);
	t_expect_verdict(w.t.out, w.t.pid, SIGUSR1, "shmem: verify ok", "verify BAD", VERDICT_MS);
	gw_stop(&w);
}

/*
 * python3 multiprocessing: a shared Value (lock: a POSIX semaphore in an
 * unlinked /dev/shm file; value: in the unlinked heap arena) incremented by
 * parent and child, and the child's own count in a shared Value too. On
 * SIGUSR1 the parent checks that both counts move and that the total is
 * their sum: every increment of either process lands in the one Value.
 */
static const char mp_script[] =
	"import multiprocessing as mp, os, signal, sys, time\n"
	"def work(v, c):\n"
	"    while True:\n"
	"        with v.get_lock():\n"
	"            v.value += 1\n"
	"            c.value += 1\n"
	"        time.sleep(0.002)\n"
	"flag = False\n"
	"def on_usr1(s, f):\n"
	"    global flag\n"
	"    flag = True\n"
	"if __name__ == '__main__':\n"
	"    mp.set_start_method('fork')\n"
	"    v = mp.Value('q', 0)\n"
	"    c = mp.Value('q', 0, lock=False)\n"
	"    p = mp.Process(target=work, args=(v, c), daemon=True)\n"
	"    p.start()\n"
	"    signal.signal(signal.SIGUSR1, on_usr1)\n"
	"    mine = 0\n"
	"    since = None\n"
	"    print('mp: pid %d child %d ready' % (os.getpid(), p.pid), flush=True)\n"
	"    while True:\n"
	"        with v.get_lock():\n"
	"            v.value += 1\n"
	"            mine += 1\n"
	"        time.sleep(0.002)\n"
	"        if flag:\n"
	"            flag = False\n"
	"            with v.get_lock():\n"
	"                since = (time.monotonic(), v.value, c.value, mine)\n"
	"        if since and time.monotonic() - since[0] > 0.5:\n"
	"            with v.get_lock():\n"
	"                t1, c1, m1 = v.value, c.value, mine\n"
	"            ok = t1 == c1 + m1 and c1 > since[2] and m1 > since[3] and t1 > since[1]\n"
	"            since = None\n"
	"            print('mp: verify %s total %d child %d parent %d' % ('ok' if ok else 'BAD', t1, c1, m1), flush=True)\n";

Test(ghost, python_multiprocessing_value_keeps_counting)
{
	const char *argv[] = { PYTHON, NULL, NULL };
	char script[700], *line;
	struct t_tree t;
	pid_t pid;

	if (access(PYTHON, X_OK))
		cr_skip_test("%s is not installed (Debian package python3)", PYTHON);
	t_tree_init(&t);
	snprintf(script, sizeof(script), "%s/mp.py", t.dir);
	cr_assert_eq(t_write_file(script, mp_script, strlen(mp_script)), 0);
	argv[1] = script;
	line = t_tree_spawn(&t, argv);
	cr_assert_eq(sscanf(line, "mp: pid %d child %d", &pid, &t.child), 2, "%s", line);
	free(line);
	cr_assert_eq(pid, t.pid, "python is not the spawned process");
	t_expect_verdict(t.out, t.pid, SIGUSR1, "mp: verify ok", "verify BAD", VERDICT_MS);
	t_tree_dump(&t, t.img, NULL);
	t_tree_restore(&t, t.img, NULL);
	t_expect_verdict(t.out, t.pid, SIGUSR1, "mp: verify ok", "verify BAD", VERDICT_MS);
	t_expect_verdict(t.out, t.pid, SIGUSR1, "mp: verify ok", "verify BAD", VERDICT_MS);
	t_tree_stop(&t);
}

/* A deleted /dev/shm file larger than ferry saves is refused by name, pid and fd. */
Test(ghost, too_large_deleted_file_refused)
{
	char path[128], *err = NULL, want[300];
	int ctl[2], fd, rc;
	pid_t kid;
	char c;

	need_root();
	cr_assert_eq(pipe(ctl), 0);
	snprintf(path, sizeof(path), "/dev/shm/ferry-ghost-big-%d", getpid());
	kid = fork();
	cr_assert_geq(kid, 0);
	if (!kid) {
		/* Sparse: 65 MiB that take no memory. */
		fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
		if (fd < 0 || ftruncate(fd, 65 << 20) || unlink(path) || dup2(fd, 40) < 0)
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
		if (readlink(link, tgt, sizeof(tgt) - 1) > 0 && strstr(tgt, "(deleted)"))
			break;
		usleep(10000);
	}
	rc = t_run(NULL, &err, "%s check -t %d", t_ferry_bin(), kid);
	cr_assert_eq(rc, 1, "a 65 MiB deleted file passed the check: %s", err ? err : "");
	snprintf(want, sizeof(want),
		 "pid %d fd 40: deleted file %s (deleted) is not supported: %d bytes, more than",
		 kid, path, 65 << 20);
	cr_assert(strstr(err, want), "no '%s' in: %s", want, err);
	free(err);
	close(ctl[1]);
	cr_assert_eq(waitpid(kid, NULL, 0), kid);
}

static void write_img(const char *dir, const char *name, const char *type,
		      const ProtobufCMessage *const *msgs, size_t n, const void *raw, size_t rawlen)
{
	int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct img *img;

	cr_assert_geq(dfd, 0);
	cr_assert_eq(img_create(&img, dfd, name, img_type_by_name(type)), 0);
	for (size_t i = 0; i < n; i++)
		cr_assert_eq(img_write_entry(img, msgs[i]), 0);
	if (rawlen)
		cr_assert_eq(img_write_raw(img, raw, rawlen), 0);
	cr_assert_eq(img_commit(img), 0);
	close(dfd);
}

static void expect_refused(const char *dir, const char *want)
{
	char *err = NULL;
	int rc;

	rc = t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), dir);
	cr_assert_neq(rc, 0, "a corrupt dump was restored");
	cr_assert(strstr(err, want), "no '%s' in: %s", want, err);
	free(err);
}

Test(ghost, corrupt_images_refused_with_file_and_offset)
{
	char gone[128], save[700], *out = NULL;
	GhostFileEntry ge = GHOST_FILE_ENTRY__INIT;
	GhostChunkEntry ce = GHOST_CHUNK_ENTRY__INIT;
	RemapFilePathEntry re = REMAP_FILE_PATH_ENTRY__INIT;
	const ProtobufCMessage *m[2];
	static char data[8192];
	unsigned orig;
	struct gw w;
	int fd;

	gw_start(&w, "AG");
	shm_path(w.t.pid, "gone", gone, sizeof(gone));
	t_tree_dump(&w.t, w.t.img, NULL);
	snprintf(save, sizeof(save), "%s/saved", w.t.dir);
	cr_assert_eq(t_run(NULL, NULL, "mkdir %s && cp %s/ghost-file-1.img %s/remap-fpath.img %s",
			   save, w.t.img, w.t.img, save),
		     0);
	cr_assert_eq(t_run(&out, NULL, "%s decode -i %s/remap-fpath.img", t_ferry_bin(), w.t.img),
		     0);
	cr_assert_eq(sscanf(strstr(out, "\"orig_id\""), "\"orig_id\": %u", &orig), 1, "%s", out);
	free(out);

	/* A remap of another kind. */
	re.orig_id = orig;
	re.remap_id = 1;
	re.has_remap_type = 1;
	re.remap_type = REMAP_TYPE__LINKED;
	m[0] = &re.base;
	write_img(w.t.img, "remap-fpath.img", "REMAP_FPATH", m, 1, NULL, 0);
	expect_refused(w.t.img, "is remapped as LINKED: ferry restores ghost files only");
	/* Of an id files.img does not have. */
	re.remap_type = REMAP_TYPE__GHOST;
	re.orig_id = 999999;
	write_img(w.t.img, "remap-fpath.img", "REMAP_FPATH", m, 1, NULL, 0);
	expect_refused(w.t.img, "remap-fpath.img: offset 8: file 999999 is not a regular file");
	cr_assert_eq(t_run(NULL, NULL, "cp %s/remap-fpath.img %s", save, w.t.img), 0);

	/* A chunk past the file's size. */
	ge.mode = S_IFREG | 0600;
	ge.has_size = 1;
	ge.size = 4096;
	ge.has_chunks = 1;
	ge.chunks = 1;
	ce.off = 4096;
	ce.len = 4096;
	m[0] = &ge.base;
	m[1] = &ce.base;
	write_img(w.t.img, "ghost-file-1.img", "GHOST_FILE", m, 2, data, 4096);
	expect_refused(w.t.img, "ghost-file-1.img: offset ");
	expect_refused(w.t.img, "past the file's 4096 bytes");
	/* A truncated chunk. */
	ce.off = 0;
	write_img(w.t.img, "ghost-file-1.img", "GHOST_FILE", m, 2, data, 100);
	expect_refused(w.t.img, "ghost-file-1.img");
	/* Too large to be one ferry wrote. */
	ge.size = 1ull << 40;
	write_img(w.t.img, "ghost-file-1.img", "GHOST_FILE", m, 1, NULL, 0);
	expect_refused(w.t.img, "ferry recreates deleted regular files of at most");
	cr_assert_eq(t_run(NULL, NULL, "cp %s/ghost-file-1.img %s", save, w.t.img), 0);

	/* A ghost no remap names. */
	cr_assert_eq(
		t_run(NULL, NULL, "cp %s/ghost-file-1.img %s/ghost-file-2a.img", save, w.t.img), 0);
	expect_refused(w.t.img, "no entry of remap-fpath.img names ghost file 2a");
	cr_assert_eq(t_run(NULL, NULL, "rm %s/ghost-file-2a.img", w.t.img), 0);

	/* Its path taken meanwhile: never overwritten, nothing restored. */
	fd = open(gone, O_WRONLY | O_CREAT | O_EXCL, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	expect_refused(w.t.img, "a file has its name now");
	cr_assert_eq(unlink(gone), 0, "the file in the way was removed by the restore");
	cr_assert(kill(w.t.pid, 0) && errno == ESRCH, "pid %d exists after a failed restore",
		  w.t.pid);

	/* The images as dumped still restore. */
	t_tree_restore(&w.t, w.t.img, NULL);
	t_expect_verdict(w.t.out, w.t.pid, SIGUSR1, "shmem: verify ok", "verify BAD", VERDICT_MS);
	gw_stop(&w);
}
