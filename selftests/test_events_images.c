// SPDX-License-Identifier: MIT
/*
 * Bad images of the event fds (issue 18): a real dump of the events workload
 * with one field of its files.img made impossible is refused by the loader
 * (rimg_load) with the image's name and the entry's offset, before anything
 * is made; an epoll target the registering process does not have is refused
 * by `ferry restore`, naming the pid and fds, and nothing is left running.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "images.h"
#include "img.h"
#include "log.h"

#include "fdinfo.pb-c.h"

struct edump {
	char *dir;
	char img[512], out[512];
	pid_t pid;
};

TestSuite(events_images, .timeout = 60);

/* A dump of `events @mode`, left running (--leave-running), then killed. */
static void make_dump(struct edump *d, const char *mode)
{
	const char *argv[] = { "events", mode, NULL };
	char *line, *err = NULL;
	int rc;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	/* The workload's child comes to us when it dies: reaped below, its pid free again. */
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	d->dir = t_tmpdir();
	snprintf(d->out, sizeof(d->out), "%s/out", d->dir);
	snprintf(d->img, sizeof(d->img), "%s/img", d->dir);
	d->pid = t_spawn(d->out, argv);
	cr_assert_gt(d->pid, 0);
	line = t_wait_line(d->out, "ready", 10000);
	cr_assert_not_null(line, "events %s never said ready", mode);
	free(line);
	rc = t_run(NULL, &err, "%s dump -t %d -D %s --leave-running", t_ferry_bin(), d->pid,
		   d->img);
	kill(-d->pid, SIGKILL);
	t_kill_wait(d->pid);
	while (waitpid(-d->pid, NULL, 0) > 0)
		;
	cr_assert_eq(rc, 0, "ferry dump failed: %s", err ? err : "");
	free(err);
}

static void drop_dump(struct edump *d)
{
	t_rmrf(d->dir);
	free(d->dir);
}

static const char *copy_dump(const struct edump *d, const char *name)
{
	static char bad[700];

	snprintf(bad, sizeof(bad), "%s/%s", d->dir, name);
	cr_assert_eq(t_run(NULL, NULL, "cp -a %s %s", d->img, bad), 0);
	return bad;
}

typedef int (*edit_fn)(FileEntry *fe); /* 1 if it changed @fe */

/* Rewrite files.img of @dir through @edit; some entry must change. */
static void rewrite_files(const char *dir, edit_fn edit)
{
	ProtobufCMessage *m;
	struct img *in, *out;
	int dfd, rc, changed = 0;

	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(dfd, 0);
	cr_assert_eq(img_open(&in, dfd, IMG_FILES->file, IMG_FILES), 0);
	cr_assert_eq(unlinkat(dfd, IMG_FILES->file, 0), 0); /* the mapping stays readable */
	cr_assert_eq(img_create(&out, dfd, IMG_FILES->file, IMG_FILES), 0);
	while ((rc = img_read_entry(in, &m)) == 1) {
		changed |= edit((FileEntry *)m);
		cr_assert_eq(img_write_entry(out, m), 0);
		protobuf_c_message_free_unpacked(m, NULL);
	}
	cr_assert_eq(rc, 0);
	cr_assert(changed, "no entry of files.img was edited");
	cr_assert_eq(img_commit(out), 0);
	img_close(in);
	close(dfd);
}

/* rimg_load on @dir must fail with @want, naming files.img, an offset and @needle. */
static void expect_refused(const char *dir, int want, const char *needle)
{
	char logp[800], *log;
	struct rimg *r = NULL;
	int err;

	snprintf(logp, sizeof(logp), "%s.log", dir);
	cr_assert_eq(log_init(logp, LOG_ERROR, 0), 0);
	err = rimg_load(&r, dir);
	log_fini();
	log = t_read_file(logp, NULL);
	cr_assert_not_null(log);
	cr_assert_eq(err, want, "rimg_load returned %d, want %d; log: %s", err, want, log);
	cr_assert_null(r);
	cr_assert(strstr(log, "files.img: offset "), "no file and offset in: %s", log);
	cr_assert(strstr(log, needle), "log lacks '%s': %s", needle, log);
	free(log);
}

static int eventfd_overflow(FileEntry *fe)
{
	if (fe->type != FD_TYPES__EVENTFD)
		return 0;
	fe->efd->counter = UINT64_MAX;
	return 1;
}

static int eventfd_no_body(FileEntry *fe)
{
	if (fe->type != FD_TYPES__EVENTFD)
		return 0;
	eventfd_file_entry__free_unpacked(fe->efd, NULL);
	fe->efd = NULL;
	return 1;
}

static int epoll_bad_events(FileEntry *fe)
{
	if (fe->type != FD_TYPES__EVENTPOLL || !fe->epfd->n_tfd)
		return 0;
	fe->epfd->tfd[0]->events |= 1u << 20; /* no EPOLL* flag */
	return 1;
}

static int epoll_twice(FileEntry *fe)
{
	if (fe->type != FD_TYPES__EVENTPOLL || fe->epfd->n_tfd < 2)
		return 0;
	fe->epfd->tfd[1]->tfd = fe->epfd->tfd[0]->tfd;
	return 1;
}

static int epoll_tfd_negative(FileEntry *fe)
{
	if (fe->type != FD_TYPES__EVENTPOLL || !fe->epfd->n_tfd)
		return 0;
	fe->epfd->tfd[0]->tfd = 0x80000000u;
	return 1;
}

static int timerfd_nsec(FileEntry *fe)
{
	if (fe->type != FD_TYPES__TIMERFD)
		return 0;
	fe->tfd->vnsec = 1000000000;
	return 1;
}

static int timerfd_clock(FileEntry *fe)
{
	if (fe->type != FD_TYPES__TIMERFD)
		return 0;
	fe->tfd->clockid = 42;
	return 1;
}

static int timerfd_flags(FileEntry *fe)
{
	if (fe->type != FD_TYPES__TIMERFD)
		return 0;
	fe->tfd->settime_flags = 4;
	return 1;
}

static int signalfd_id(FileEntry *fe)
{
	if (fe->type != FD_TYPES__SIGNALFD)
		return 0;
	fe->sgfd->id = fe->id + 1000;
	return 1;
}

static const struct bad_case {
	const char *mode, *name;
	edit_fn edit;
	int err;
	const char *needle;
} cases[] = {
	{ "eventfd", "efd-overflow", eventfd_overflow, -EINVAL, "EVENTFD file id" },
	{ "eventfd", "efd-nobody", eventfd_no_body, -EINVAL, "has no matching description" },
	{ "epoll", "ep-events", epoll_bad_events, -EINVAL, "is invalid" },
	{ "epoll", "ep-twice", epoll_twice, -EINVAL, "is a target twice" },
	{ "epoll", "ep-tfd", epoll_tfd_negative, -EINVAL, "is invalid" },
	{ "timerfd", "tfd-nsec", timerfd_nsec, -EINVAL, "TIMERFD file id" },
	{ "timerfd", "tfd-clock", timerfd_clock, -EINVAL, "TIMERFD file id" },
	{ "timerfd", "tfd-flags", timerfd_flags, -EINVAL, "TIMERFD file id" },
	{ "signalfd", "sfd-id", signalfd_id, -EINVAL, "SIGNALFD file id" },
};

/* The dump loads as it is; each edit of one field makes it refused, named. */
Test(events_images, bad_fields_refused_with_file_and_offset)
{
	const char *modes[] = { "eventfd", "epoll", "timerfd", "signalfd" };

	for (size_t m = 0; m < 4; m++) {
		struct rimg *r = NULL;
		struct edump d;

		make_dump(&d, modes[m]);
		cr_assert_eq(rimg_load(&r, d.img), 0, "the dump of %s does not load", modes[m]);
		rimg_free(r);
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			const char *bad;

			if (strcmp(cases[i].mode, modes[m]))
				continue;
			bad = copy_dump(&d, cases[i].name);
			rewrite_files(bad, cases[i].edit);
			expect_refused(bad, cases[i].err, cases[i].needle);
		}
		drop_dump(&d);
	}
}

static uint32_t missing_fd = 900;

static int epoll_missing_target(FileEntry *fe)
{
	if (fe->type != FD_TYPES__EVENTPOLL || !fe->epfd->n_tfd)
		return 0;
	fe->epfd->tfd[0]->tfd = missing_fd;
	return 1;
}

/* A target fd the process does not have: restore refuses, names it, leaves nothing. */
Test(events_images, epoll_target_without_fd_refused_by_restore)
{
	char *err = NULL, want[64];
	const char *bad;
	struct edump d;
	int rc;

	make_dump(&d, "epoll");
	bad = copy_dump(&d, "missing");
	rewrite_files(bad, epoll_missing_target);
	rc = t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), bad);
	cr_assert_neq(rc, 0, "a restore with a missing epoll target succeeded");
	snprintf(want, sizeof(want), "has target fd %u, which the process", missing_fd);
	cr_assert(err && strstr(err, want), "restore said: %s", err ? err : "");
	cr_assert(kill(d.pid, 0) && errno == ESRCH, "pid %d exists after a failed restore", d.pid);
	free(err);
	drop_dump(&d);
}
