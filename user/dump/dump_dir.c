// SPDX-License-Identifier: MIT
/*
 * The images directory of a dump or pre-dump (see dump.h): prepared (a
 * directory holding a dump refused, what killed dumps left cleaned: their
 * staging directories, the images of an unfinished publish), the previous
 * round's directory and the "parent" link to it, the staging directory the
 * images are written in, their sync, and their publish into the images
 * directory through a journal, inventory.img last.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "dump: "
#include "dump_priv.h"
#include "log.h"
#include "util.h"

#define STAGING_PREFIX ".ferry-staging-"
/* The publish journal of a dump: the names it is moving into the images directory. */
#define JOURNAL_PREFIX ".ferry-publish-"

/* Remove every file of a directory, then the directory (staging cleanup). */
void dump_remove_dir(int parent, const char *name)
{
	struct dirent *de;
	DIR *d;
	int fd;

	fd = openat(parent, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	d = fdopendir(fd);
	if (!d) {
		close(fd);
		return;
	}
	while ((de = readdir(d)))
		if (de->d_name[0] != '.' || (strcmp(de->d_name, ".") && strcmp(de->d_name, "..")))
			unlinkat(fd, de->d_name, 0);
	closedir(d);
	unlinkat(parent, name, AT_REMOVEDIR);
}

/* A ferry of pid @pid may still be at work (alive, and not us). */
static int may_be_at_work(pid_t pid)
{
	return pid != getpid() && !(kill(pid, 0) && errno == ESRCH);
}

/*
 * A publish journal left by a ferry killed while it moved its images into
 * @dir: without inventory.img the images it moved are no dump; remove them
 * (only the names the journal lists). With inventory.img the publish had
 * ended: only the journal is left to remove.
 */
static void undo_publish(int fd, const char *dir, const char *journal)
{
	char name[256];
	int inventory = !faccessat(fd, "inventory.img", F_OK, 0);
	FILE *f;
	int jfd;

	jfd = openat(fd, journal, O_RDONLY | O_CLOEXEC);
	f = jfd < 0 ? NULL : fdopen(jfd, "r");
	if (f && !inventory) {
		pr_info("removing the images a dump killed while publishing left in %s (%s)", dir,
			journal);
		while (fgets(name, sizeof(name), f)) {
			name[strcspn(name, "\n")] = '\0';
			if (name[0] && name[0] != '.' && !strchr(name, '/') &&
			    unlinkat(fd, name, 0) && errno != ENOENT)
				pr_warn("cannot remove %s/%s: %s", dir, name, strerror(errno));
		}
	}
	if (f)
		fclose(f);
	else if (jfd >= 0)
		close(jfd);
	unlinkat(fd, journal, 0);
	fsync(fd);
}

/*
 * Refuse a directory that already holds a dump (mixing two dumps' images
 * would restore something that never existed). What killed dumps left is
 * cleaned first: their staging directories, and the images of a publish
 * that never reached inventory.img. Only a dead ferry's: a staging directory
 * or journal of a live pid belongs to a dump still at work.
 */
static int prepare_dir(const char *dir, int *dirfd)
{
	struct dirent *de;
	pid_t pid;
	DIR *d;
	int fd, err = 0;

	if (mkdir(dir, 0700) && errno != EEXIST) {
		err = -errno;
		pr_perror("cannot create images directory %s", dir);
		return err;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		pr_perror("cannot open images directory %s", dir);
		return err;
	}
	d = fdopendir(dup(fd));
	if (!d) {
		err = -errno;
		close(fd);
		return err;
	}
	/* Journals first: a killed publish is undone before the dump check. */
	while ((de = readdir(d))) {
		pid = pid_after_prefix(de->d_name, JOURNAL_PREFIX);
		if (pid && !may_be_at_work(pid))
			undo_publish(fd, dir, de->d_name);
	}
	rewinddir(d);
	while ((de = readdir(d))) {
		pid = pid_after_prefix(de->d_name, STAGING_PREFIX);
		if (pid && !may_be_at_work(pid)) {
			pr_info("removing %s/%s left by an interrupted dump", dir, de->d_name);
			dump_remove_dir(fd, de->d_name);
		} else if (!strcmp(de->d_name, "inventory.img") ||
			   !strcmp(de->d_name, "pstree.img")) {
			pr_err("%s already holds a dump (%s); use an empty directory", dir,
			       de->d_name);
			err = -EEXIST;
		}
	}
	closedir(d);
	if (err) {
		close(fd);
		return err;
	}
	*dirfd = fd;
	return 0;
}

/*
 * Write the publish journal: the names about to be moved into the images
 * directory, durable before the first rename, so that a ferry killed among
 * the renames leaves what the next dump into the directory can undo.
 */
static int write_journal(int dirfd, DIR *staged, const char *journal, const char *dir)
{
	struct dirent *de;
	FILE *f;
	int fd, err = 0;

	fd = openat(dirfd, journal, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	f = fd < 0 ? NULL : fdopen(fd, "w");
	if (!f) {
		err = -errno;
		if (fd >= 0)
			close(fd);
		pr_perror("cannot create %s/%s", dir, journal);
		return err;
	}
	rewinddir(staged);
	while ((de = readdir(staged)))
		if (de->d_name[0] != '.')
			fprintf(f, "%s\n", de->d_name);
	rewinddir(staged);
	if (fflush(f) || fdatasync(fileno(f)))
		err = -errno;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && fsync(dirfd))
		err = -errno;
	if (err)
		pr_perror("cannot write %s/%s", dir, journal);
	return err;
}

/*
 * Move every image from staging to the images directory, inventory.img
 * last: a reader sees a dump only once inventory.img is there. The moves are
 * journalled (write_journal): if ferry is killed among them, the next dump
 * into the directory removes what was moved.
 */
int dump_publish(int dirfd, const char *staging, const char *dir)
{
	struct dirent *de;
	char journal[64];
	int sfd, err = 0;
	DIR *d;

	sfd = openat(dirfd, staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (sfd < 0)
		return -errno;
	d = fdopendir(sfd);
	if (!d) {
		err = -errno;
		close(sfd);
		return err;
	}
	snprintf(journal, sizeof(journal), JOURNAL_PREFIX "%d", getpid());
	err = write_journal(dirfd, d, journal, dir);
	while (!err && (de = readdir(d))) {
		if (de->d_name[0] == '.' || !strcmp(de->d_name, "inventory.img"))
			continue;
		if (renameat(sfd, de->d_name, dirfd, de->d_name)) {
			err = -errno;
			pr_perror("cannot move %s into %s", de->d_name, dir);
		}
	}
	fault_point("rename");
	if (!err && renameat(sfd, "inventory.img", dirfd, "inventory.img")) {
		err = -errno;
		pr_perror("cannot move inventory.img into %s", dir);
	}
	if (!err)
		fsync(dirfd);
	closedir(d);
	/* Failed: take back what was moved. Done or not, the journal goes. */
	if (err)
		undo_publish(dirfd, dir, journal);
	else if (unlinkat(dirfd, journal, 0) || fsync(dirfd))
		pr_warn("cannot remove %s/%s: %s", dir, journal, strerror(errno));
	return err;
}

/*
 * Make the staged images durable: the pages files were written without their
 * own sync (the other images sync at their commit). Each file of the staging
 * directory @sfd is fdatasync'ed, not the whole filesystem (syncfs would wait
 * for every other writer's dirty data too).
 */
int dump_sync_images(int sfd, const char *dir)
{
	uint64_t t0 = mono_us();
	struct dirent *e;
	int dfd, err = 0;
	DIR *d;

	dfd = openat(sfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	d = dfd < 0 ? NULL : fdopendir(dfd);
	if (!d) {
		err = -errno;
		if (dfd >= 0)
			close(dfd);
		pr_perror("cannot list the staged images under %s", dir);
		return err;
	}
	while (!err && (errno = 0, e = readdir(d))) {
		int fd;

		if (e->d_type != DT_REG && e->d_type != DT_UNKNOWN)
			continue;
		fd = openat(sfd, e->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0 || fdatasync(fd))
			err = -errno;
		if (err)
			pr_perror("cannot sync %s/%s", dir, e->d_name);
		if (fd >= 0)
			close(fd);
	}
	if (!err && errno) {
		err = -errno;
		pr_perror("cannot list the staged images under %s", dir);
	}
	closedir(d);
	if (!err)
		pr_debug("fdatasync of the images under %s: %llu us", dir,
			 (unsigned long long)(mono_us() - t0));
	return err;
}

/* The images directory of the previous round, relative to the images directory. */
static int open_prev_dir(const struct dump_opts *o, int dirfd, int *fd)
{
	*fd = -1;
	if (!o->prev_dir)
		return 0;
	*fd = openat(dirfd, o->prev_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*fd < 0) {
		int err = -errno;

		pr_perror("--prev-images-dir %s (relative to %s)", o->prev_dir, o->dir);
		return err;
	}
	return 0;
}

int dump_link_parent(const struct dump_opts *o, int sfd)
{
	if (!o->prev_dir)
		return 0;
	if (symlinkat(o->prev_dir, sfd, "parent")) {
		int err = -errno;

		pr_perror("cannot create the parent link to %s in %s", o->prev_dir, o->dir);
		return err;
	}
	return 0;
}

/*
 * The images directory (refused if it holds a dump), the previous round's
 * directory if any, and a fresh staging directory inside the first. On error
 * nothing is left open or created.
 */
int dump_open_dirs(const struct dump_opts *o, char *staging, size_t len, int *dirfd, int *parent_fd,
		   int *sfd)
{
	int err;

	*dirfd = *parent_fd = *sfd = -1;
	err = prepare_dir(o->dir, dirfd);
	if (err)
		return err;
	err = open_prev_dir(o, *dirfd, parent_fd);
	if (err)
		goto err_dir;
	snprintf(staging, len, STAGING_PREFIX "%d", getpid());
	if (mkdirat(*dirfd, staging, 0700)) {
		err = -errno;
		pr_perror("cannot create %s/%s", o->dir, staging);
		goto err_dir;
	}
	*sfd = openat(*dirfd, staging, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (*sfd < 0) {
		err = -errno;
		pr_perror("cannot open %s/%s", o->dir, staging);
		dump_remove_dir(*dirfd, staging);
		goto err_dir;
	}
	return 0;
err_dir:
	if (*parent_fd >= 0)
		close(*parent_fd);
	close(*dirfd);
	*dirfd = *parent_fd = -1;
	return err;
}
