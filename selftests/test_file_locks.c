// SPDX-License-Identifier: MIT
/*
 * File locks end to end (issue 15): POSIX, OFD and flock locks are refused
 * by name without --file-locks, leaving the tree untouched; with it they are
 * dumped, taken again by the restored processes before they run (checked in
 * /proc/locks, by a lock attempt from here that must fail, and by the
 * workload itself), and a restore whose lock someone took meanwhile fails
 * naming both. Then the case that lost data: sqlite3 restored in the middle
 * of a write transaction keeps the database locked, so nobody else rolls its
 * journal back, and its COMMIT lands.
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
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "file_lock.h"
#include "helpers.h"

#define VERDICT_MS 10000
#define SQLITE3 "/usr/bin/sqlite3"

struct lw {
	char *dir;
	char out[512], img[512];
	pid_t pid, child;
	int fd_posix, fd_ofd, fd_ex, fd_sh, fd_dup;
	int round;
};

TestSuite(file_locks, .timeout = 120);

static void lw_start(struct lw *w)
{
	const char *argv[] = { "locks", NULL, NULL };
	char *line;

	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	memset(w, 0, sizeof(*w));
	w->dir = t_tmpdir();
	cr_assert_not_null(w->dir);
	snprintf(w->out, sizeof(w->out), "%s/out", w->dir);
	argv[1] = w->dir;
	w->pid = t_spawn_ready(w->out, argv, "ready", 10000, &line);
	cr_assert_eq(
		sscanf(line,
		       "locks: pid %*d child %d posix %d ofd %d flock-ex %d flock-sh %d dup %d",
		       &w->child, &w->fd_posix, &w->fd_ofd, &w->fd_ex, &w->fd_sh, &w->fd_dup),
		6, "ready line: %s", line);
	free(line);
}

static void lw_stop(struct lw *w)
{
	if (w->pid > 0)
		t_kill_wait(w->pid);
	/* Children of a restored tree come to us when its root dies. */
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	t_rmrf(w->dir);
	free(w->dir);
}

static void path_of(const struct lw *w, const char *name, char *buf, size_t size)
{
	snprintf(buf, size, "%s/%s", w->dir, name);
}

static int count_images(const char *dir)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		if (strstr(de->d_name, ".img"))
			n++;
	closedir(d);
	return n;
}

/* The dump killed the tree: reap its root, and the rest of its process group. */
static void reap_dumped(pid_t root)
{
	int status;

	cr_assert_eq(waitpid(root, &status, 0), root);
	cr_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL,
		  "the dumped tree was not killed");
	while (waitpid(-root, NULL, 0) > 0)
		;
}

/* `ferry restore -d --file-locks` of @img; returns its exit status, stderr in *err. */
static int restore(const char *img, const char *extra, char **err)
{
	return t_run(NULL, err, "%s restore -D %s -d %s", t_ferry_bin(), img, extra ? extra : "");
}

/* No process of the dump is left after a failed restore. */
static void assert_nothing_left(pid_t pid)
{
	cr_assert(kill(pid, 0) && errno == ESRCH, "pid %d exists after a failed restore", pid);
	cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1, "a failed restore left a child behind");
}

/*
 * Locks of /proc/locks on the file at @path of @kind, @type, range, held
 * by @pid (for OFD locks the kernel shows -1).
 */
static int proc_locks(const char *path, uint32_t kind, int type, pid_t pid, int64_t start,
		      int64_t len)
{
	struct file_lock *all;
	struct stat st;
	size_t nr;
	int n = 0;

	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(file_lock_read_proc(&all, &nr), 0);
	for (size_t i = 0; i < nr; i++) {
		const struct file_lock *l = &all[i];

		n += l->maj == major(st.st_dev) && l->min == minor(st.st_dev) &&
		     l->ino == (uint64_t)st.st_ino && !l->blocked && l->kind == kind &&
		     l->type == type && l->pid == pid && l->start == start && l->len == len;
	}
	free(all);
	return n;
}

/* Try a lock from here, where none is held: it must be refused. */
static void expect_refused_here(const char *path, int cmd, short type, off_t start, off_t len)
{
	struct flock l = { .l_type = type, .l_whence = SEEK_SET, .l_start = start, .l_len = len };
	int fd = open(path, O_RDWR | O_CLOEXEC), r, err;

	cr_assert_geq(fd, 0);
	if (cmd)
		r = fcntl(fd, cmd, &l);
	else
		r = flock(fd, (type == F_WRLCK ? LOCK_EX : LOCK_SH) | LOCK_NB);
	err = errno;
	close(fd);
	cr_assert_eq(r, -1, "%s: a lock from another process was granted", path);
	cr_assert(err == EAGAIN || err == EACCES, "%s: %s", path, strerror(err));
}

/* Every lock of the workload is held again, by its owner, after a restore. */
static void check_held(const struct lw *w)
{
	char posix[600], ofd[600], ex[600], sh[600];

	path_of(w, "posix", posix, sizeof(posix));
	path_of(w, "ofd", ofd, sizeof(ofd));
	path_of(w, "flock-ex", ex, sizeof(ex));
	path_of(w, "flock-sh", sh, sizeof(sh));
	cr_assert_eq(proc_locks(posix, FILE_LOCK_POSIX, F_WRLCK, w->pid, 0, 10), 1);
	cr_assert_eq(proc_locks(posix, FILE_LOCK_POSIX, F_RDLCK, w->pid, 100, 0), 1);
	cr_assert_eq(proc_locks(posix, FILE_LOCK_POSIX, F_WRLCK, w->child, 50, 10), 1);
	cr_assert_eq(proc_locks(ofd, FILE_LOCK_OFD, F_WRLCK, -1, 0, 1), 1);
	cr_assert_eq(proc_locks(ofd, FILE_LOCK_OFD, F_RDLCK, -1, 4096, 4096), 1);
	cr_assert_eq(proc_locks(ex, FILE_LOCK_FLOCK, F_WRLCK, w->pid, 0, 0), 1);
	cr_assert_eq(proc_locks(sh, FILE_LOCK_FLOCK, F_RDLCK, w->pid, 0, 0), 1);
	expect_refused_here(posix, F_SETLK, F_RDLCK, 5, 1);
	expect_refused_here(posix, F_SETLK, F_WRLCK, 55, 1);
	expect_refused_here(posix, F_OFD_SETLK, F_WRLCK, 200, 1);
	expect_refused_here(ofd, F_OFD_SETLK, F_RDLCK, 0, 1);
	expect_refused_here(ofd, F_SETLK, F_WRLCK, 5000, 1);
	expect_refused_here(ex, 0, F_RDLCK, 0, 0);
	expect_refused_here(sh, 0, F_WRLCK, 0, 0);
}

/* ferry decode and crit print filelocks.img the same. */
static void decode_like_crit(const char *img)
{
	char *ours = NULL, *theirs = NULL, *err = NULL;

	cr_assert_eq(t_run(&ours, &err, "%s decode -i %s/filelocks.img", t_ferry_bin(), img), 0,
		     "ferry decode: %s", err ? err : "");
	free(err);
	err = NULL;
	if (t_crit()) {
		cr_assert_eq(t_run(&theirs, &err, "%s decode -i %s/filelocks.img", t_crit(), img),
			     0, "crit decode: %s", err ? err : "");
		cr_assert_str_eq(ours, theirs);
	}
	cr_assert(strstr(ours, "\"magic\": \"FILE_LOCKS\""), "%s", ours);
	free(ours);
	free(theirs);
	free(err);
}

static void dump_with_locks(struct lw *w)
{
	char *err = NULL;
	int rc;

	snprintf(w->img, sizeof(w->img), "%s/img%d", w->dir, w->round++);
	rc = t_run(NULL, &err, "%s dump -t %d -D %s --file-locks", t_ferry_bin(), w->pid, w->img);
	cr_assert_eq(rc, 0, "dump --file-locks of pid %d failed: %s", w->pid, err ? err : "");
	free(err);
	reap_dumped(w->pid);
}

Test(file_locks, dump_refused_names_every_lock_and_leaves_the_tree)
{
	struct lw w;
	char *err = NULL, want[1200], posix[600], ofd[600], ex[600], sh[600];
	struct {
		pid_t pid;
		int fd;
		const char *file, *lock;
	} locks[9];
	int rc;

	lw_start(&w);
	snprintf(w.img, sizeof(w.img), "%s/img", w.dir);
	path_of(&w, "posix", posix, sizeof(posix));
	path_of(&w, "ofd", ofd, sizeof(ofd));
	path_of(&w, "flock-ex", ex, sizeof(ex));
	path_of(&w, "flock-sh", sh, sizeof(sh));
	locks[0] = (typeof(locks[0])){ w.pid, w.fd_posix, posix, "POSIX write lock on bytes 0-9" };
	locks[1] =
		(typeof(locks[0])){ w.pid, w.fd_posix, posix, "POSIX read lock on bytes 100-EOF" };
	locks[2] = (typeof(locks[0])){ w.pid, w.fd_ofd, ofd, "OFD write lock on bytes 0-0" };
	locks[3] = (typeof(locks[0])){ w.pid, w.fd_ofd, ofd, "OFD read lock on bytes 4096-8191" };
	locks[4] = (typeof(locks[0])){ w.pid, w.fd_ex, ex, "flock exclusive lock" };
	locks[5] = (typeof(locks[0])){ w.pid, w.fd_sh, sh, "flock shared lock" };
	locks[6] = (typeof(locks[0])){ w.pid, w.fd_dup, sh, "flock shared lock" };
	locks[7] =
		(typeof(locks[0])){ w.child, w.fd_posix, posix, "POSIX write lock on bytes 50-59" };
	/* The child shares its parent's descriptions: their flock and OFD locks show there too. */
	locks[8] = (typeof(locks[0])){ w.child, w.fd_ex, ex, "flock exclusive lock" };

	rc = t_run(NULL, &err, "%s dump -t %d -D %s", t_ferry_bin(), w.pid, w.img);
	cr_assert_neq(rc, 0, "a tree holding file locks was dumped without --file-locks");
	cr_assert_not_null(err);
	for (size_t i = 0; i < sizeof(locks) / sizeof(locks[0]); i++) {
		snprintf(want, sizeof(want), "pid %d fd %d: %s: %s is held", locks[i].pid,
			 locks[i].fd, locks[i].file, locks[i].lock);
		cr_assert(strstr(err, want), "the refusal does not name '%s':\n%s", want, err);
	}
	cr_assert(strstr(err, "--file-locks"), "no hint at --file-locks:\n%s", err);
	free(err);
	cr_assert_eq(count_images(w.img), 0, "a refused dump left images");
	/* Untouched: running, not traced, every lock still its own. */
	cr_assert_eq(t_proc_state(w.pid), 'S');
	cr_assert_eq(t_proc_field(w.pid, "TracerPid"), 0);
	cr_assert_eq(t_proc_field(w.child, "TracerPid"), 0);
	t_expect_verdict(w.out, w.pid, SIGUSR1, "locks: verify ok", "verify BAD", VERDICT_MS);
	lw_stop(&w);
}

/* dump --file-locks -> kill -> restore --file-locks -> every lock held, twice. */
Test(file_locks, restored_with_every_lock)
{
	char *err = NULL, *pid, pidfile[600], extra[700];
	struct lw w;

	lw_start(&w);
	for (int round = 0; round < 2; round++) {
		dump_with_locks(&w);
		decode_like_crit(w.img);
		/* Without the option the restore is refused: a silent loss is what this is about.
		 */
		cr_assert_neq(restore(w.img, NULL, &err), 0, "restored without its locks");
		cr_assert(err && strstr(err, "restore with --file-locks"), "%s", err ? err : "");
		free(err);
		err = NULL;
		assert_nothing_left(w.pid);
		snprintf(extra, sizeof(extra), "--file-locks --pidfile %s/pid", w.img);
		cr_assert_eq(restore(w.img, extra, &err), 0, "restore: %s", err ? err : "");
		free(err);
		err = NULL;
		snprintf(pidfile, sizeof(pidfile), "%s/pid", w.img);
		pid = t_read_file(pidfile, NULL);
		cr_assert(pid && atoi(pid) == w.pid, "the root came back as %s", pid ? pid : "?");
		free(pid);
		cr_assert_eq(t_proc_field(w.pid, "TracerPid"), 0);
		check_held(&w);
		t_expect_verdict(w.out, w.pid, SIGUSR1, "locks: verify ok", "verify BAD",
				 VERDICT_MS);
	}
	lw_stop(&w);
}

/* A lock someone took between the dump and the restore fails the restore, both named. */
Test(file_locks, restore_refused_when_a_lock_was_taken_meanwhile)
{
	struct flock l = { .l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 5, .l_len = 1 };
	char *err = NULL, want[1200], posix[600];
	struct lw w;
	int fd;

	lw_start(&w);
	path_of(&w, "posix", posix, sizeof(posix));
	dump_with_locks(&w);
	fd = open(posix, O_RDWR | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	cr_assert_eq(fcntl(fd, F_SETLK, &l), 0);
	cr_assert_neq(restore(w.img, "--file-locks", &err), 0, "restored over a taken lock");
	snprintf(want, sizeof(want),
		 "pid %d fd %d: %s: cannot take the POSIX write lock on bytes 0-9 again: held "
		 "now by pid %d's POSIX write lock on bytes 5-5",
		 w.pid, w.fd_posix, posix, getpid());
	cr_assert(err && strstr(err, want), "no '%s' in:\n%s", want, err ? err : "");
	free(err);
	err = NULL;
	assert_nothing_left(w.pid);
	/* Released, the same images restore. */
	close(fd);
	cr_assert_eq(restore(w.img, "--file-locks", &err), 0, "restore: %s", err ? err : "");
	free(err);
	check_held(&w);
	t_expect_verdict(w.out, w.pid, SIGUSR1, "locks: verify ok", "verify BAD", VERDICT_MS);
	lw_stop(&w);
}

/* ---- sqlite3 in a write transaction --------------------------------------------------- */

/*
 * The transaction, driven through a pipe: BEGIN EXCLUSIVE and an INSERT,
 * "in transaction" written to DIR/ready; then the writer waits in
 * `sleep` until the test kills it, and sends COMMIT and "committed" to
 * DIR/done. The tree: sh, the writer (a subshell), its sleep, sqlite3.
 */
static const char tx_script[] = "d=$1\n"
				"{\n"
				"\techo 'BEGIN EXCLUSIVE;'\n"
				"\techo 'INSERT INTO t VALUES(42);'\n"
				"\techo \".output $d/ready\"\n"
				"\techo '.print in transaction'\n"
				"\techo '.output stdout'\n"
				"\tsleep 1000\n"
				"\techo 'COMMIT;'\n"
				"\techo \".output $d/done\"\n"
				"\techo '.print committed'\n"
				"\techo '.output stdout'\n"
				"} | " SQLITE3 " \"$d/db\"\n";

static pid_t spawn_sh(const char *out_path, const char *script, const char *arg)
{
	pid_t pid = fork();

	if (pid == 0) {
		int out = open(out_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
		int in = open("/dev/null", O_RDONLY);

		if (out < 0 || in < 0)
			_exit(126);
		dup2(in, 0);
		dup2(out, 1);
		dup2(out, 2);
		syscall(SYS_close_range, 3, ~0u, 0);
		setpgid(0, 0);
		execl("/bin/sh", "sh", script, arg, (char *)NULL);
		_exit(127);
	}
	return pid;
}

/* The pid of the process named @comm in process group @pgid, or -1. */
static pid_t find_in_group(pid_t pgid, const char *comm)
{
	struct dirent *de;
	pid_t found = -1;
	DIR *d = opendir("/proc");

	cr_assert_not_null(d);
	while (found < 0 && (de = readdir(d))) {
		char path[300], buf[512], name[64];
		pid_t pid = atoi(de->d_name), pg;
		FILE *f;

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) &&
		    sscanf(buf, "%*d (%63[^)]) %*c %*d %d", name, &pg) == 2 && pg == pgid &&
		    !strcmp(name, comm))
			found = pid;
		fclose(f);
	}
	closedir(d);
	return found;
}

/* find_in_group(), waiting up to @ms for it to appear. */
static pid_t wait_in_group(pid_t pgid, const char *comm, int ms)
{
	pid_t pid = find_in_group(pgid, comm);

	for (int waited = 0; pid < 0 && waited < ms; waited += 10) {
		usleep(10 * 1000);
		pid = find_in_group(pgid, comm);
	}
	return pid;
}

Test(file_locks, sqlite_write_transaction_loses_nothing)
{
	char dir_db[600], script[600], out[600], ready[600], done[600], pidfile[600], img[600];
	char *o = NULL, *err = NULL, *line, *dir;
	pid_t root, sqlite, sleeper;
	struct stat st;
	int status;

	cr_assert_eq(access(SQLITE3, X_OK), 0,
		     SQLITE3 " is missing: scripts/install-deps.sh installs it (make deps)");
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	dir = t_tmpdir();
	cr_assert_not_null(dir);
	snprintf(dir_db, sizeof(dir_db), "%s/db", dir);
	snprintf(script, sizeof(script), "%s/tx.sh", dir);
	snprintf(out, sizeof(out), "%s/out", dir);
	snprintf(ready, sizeof(ready), "%s/ready", dir);
	snprintf(done, sizeof(done), "%s/done", dir);
	snprintf(pidfile, sizeof(pidfile), "%s/pid", dir);
	snprintf(img, sizeof(img), "%s/img", dir);
	cr_assert_eq(t_run(NULL, &err, SQLITE3 " %s 'CREATE TABLE t(x);'", dir_db), 0, "%s",
		     err ? err : "");
	free(err);
	err = NULL;
	cr_assert_eq(t_write_file(script, tx_script, strlen(tx_script)), 0);

	root = spawn_sh(out, script, dir);
	cr_assert_gt(root, 0);
	line = t_wait_line(ready, "in transaction", 10000);
	cr_assert_not_null(line, "sqlite3 never got into its transaction");
	free(line);
	sqlite = find_in_group(root, "sqlite3");
	cr_assert_gt(sqlite, 0);
	/* The writer may print before it forks its sleep: dump a settled tree. */
	cr_assert_gt(wait_in_group(root, "sleep", 10000), 0, "the writer never slept");
	cr_assert_eq(stat(dir_db, &st), 0);
	/* EXCLUSIVE: PENDING, RESERVED and SHARED bytes, one merged write range. */
	cr_assert_eq(proc_locks(dir_db, FILE_LOCK_POSIX, F_WRLCK, sqlite, 1073741824, 512), 1,
		     "sqlite3 does not hold its lock as expected");

	cr_assert_eq(
		t_run(NULL, &err, "%s dump -t %d -D %s --file-locks", t_ferry_bin(), root, img), 0,
		"dump: %s", err ? err : "");
	free(err);
	err = NULL;
	reap_dumped(root);
	/* Nothing touches the database until the restore: its lock is not held meanwhile. */
	cr_assert_eq(t_run(NULL, &err, "%s restore -D %s -d --file-locks --pidfile %s",
			   t_ferry_bin(), img, pidfile),
		     0, "restore: %s", err ? err : "");
	free(err);
	err = NULL;
	cr_assert_eq(proc_locks(dir_db, FILE_LOCK_POSIX, F_WRLCK, sqlite, 1073741824, 512), 1,
		     "the restored sqlite3 does not hold its lock");

	/* Another sqlite3 can neither write nor read (which would roll the journal back). */
	cr_assert_neq(t_run(NULL, &err, SQLITE3 " %s 'INSERT INTO t VALUES(7);'", dir_db), 0,
		      "a second sqlite3 wrote into a database in another's transaction");
	cr_assert(err && strstr(err, "database is locked"), "%s", err ? err : "");
	free(err);
	err = NULL;
	cr_assert_neq(t_run(NULL, &err, SQLITE3 " %s 'SELECT count(*) FROM t;'", dir_db), 0);
	cr_assert(err && strstr(err, "database is locked"), "%s", err ? err : "");
	free(err);
	err = NULL;

	/* Let the restored one commit. */
	sleeper = wait_in_group(root, "sleep", 10000);
	cr_assert_gt(sleeper, 0, "the writer's sleep is not in the restored tree");
	cr_assert_eq(kill(sleeper, SIGTERM), 0);
	line = t_wait_line(done, "committed", 10000);
	cr_assert_not_null(line, "the restored sqlite3 never committed");
	free(line);
	cr_assert_eq(waitpid(root, &status, 0), root);
	o = t_read_file(out, NULL);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		  "the restored job ended with %#x:\n%s", status, o ? o : "");
	cr_assert(!o || !strstr(o, "rror"), "the restored sqlite3 said:\n%s", o);
	free(o);
	o = NULL;
	cr_assert_eq(
		t_run(&o, &err, SQLITE3 " %s 'SELECT x FROM t; PRAGMA integrity_check;'", dir_db),
		0, "%s", err ? err : "");
	cr_assert_str_eq(o, "42\nok\n", "the table holds:\n%s", o);
	free(o);
	free(err);
	while (waitpid(-1, NULL, WNOHANG) > 0)
		;
	t_rmrf(dir);
	free(dir);
}
