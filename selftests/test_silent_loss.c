// SPDX-License-Identifier: MIT
/*
 * Nothing lost in silence (issue 22): each piece of process state of the
 * list either comes back (the workload `silent KIND` checks itself after
 * the restore, zdtm-style) or the dump is refused with the pid and the object
 * named, and the tree is left running untouched (it checks itself then too).
 *
 * Kept: O_NONBLOCK and O_DIRECT (packet mode) per pipe end, scheduling
 * policy/priority/nice (with SCHED_RESET_ON_FORK), a stopped process,
 * madvise flags and mlock'ed ranges
 * (also through a lazy restore and a pre-dump chain), PR_SET_THP_DISABLE,
 * a shared file mapping that may be made writable, the audit loginuid,
 * membarrier registrations, cgroup v2 membership, guard regions (also lazily
 * and through a pre-dump chain).
 * Kept as CRIU does: MAP_DROPPABLE mappings (no pages).
 * Refused: a time namespace pending for the
 * children, leases, mlockall(MCL_FUTURE), ranges locked on fault, THP
 * disabled except where advised, SCHED_DEADLINE; `ferry check -t` names
 * them too, and the tree runs on.
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "helpers.h"
#include "tree_helpers.h"
#include "img.h"
#include "mm.pb-c.h"

#define VERDICT_MS 10000
#define LAZY_VERDICT_MS 30000

struct sw {
	struct t_tree t;
	char arg[600];
	const char *kind;
	char *ready; /* the ready line */
};

TestSuite(silent, .timeout = 120);

/* Start `silent KIND [ARG]`; 0, or 1 when it could not set KIND up (its message in *why). */
static int sw_try_start(struct sw *w, const char *kind, const char *arg, char **why)
{
	const char *argv[] = { "silent", kind, arg, NULL };

	w->kind = kind;
	w->t.name = "silent";
	w->t.pid = t_spawn(w->t.out, argv);
	cr_assert_gt(w->t.pid, 0);
	w->ready = t_wait_line(w->t.out, "ready", 10000);
	if (!w->ready) {
		*why = t_read_file(w->t.out, NULL);
		return 1;
	}
	return 0;
}

static void sw_init(struct sw *w)
{
	memset(w, 0, sizeof(*w));
	t_tree_init(&w->t);
}

static void sw_start(struct sw *w, const char *kind, const char *arg)
{
	char *why = NULL, ok[64];

	if (sw_try_start(w, kind, arg, &why))
		cr_assert_fail("silent %s never said ready: %s", kind, why ? why : "");
	/* It checks out before anything is done to it: the check itself works. */
	snprintf(ok, sizeof(ok), "silent: %s verify ok", kind);
	t_expect_verdict(w->t.out, w->t.pid, SIGUSR1, ok, "verify BAD", VERDICT_MS);
}

static void sw_stop(struct sw *w)
{
	free(w->ready);
	t_tree_stop(&w->t);
}

static void sw_verify(struct sw *w, int ms)
{
	char ok[64];

	snprintf(ok, sizeof(ok), "silent: %s verify ok", w->kind);
	t_expect_verdict(w->t.out, w->t.pid, SIGUSR1, ok, "verify BAD", ms);
}

static void sw_dump(struct sw *w, const char *extra)
{
	t_tree_dump(&w->t, w->t.img, extra);
}

static void sw_restore(struct sw *w, const char *extra)
{
	t_tree_restore(&w->t, w->t.img, extra);
}

/* dump -> kill -> restore -> the workload checks itself. */
static void sw_kept(struct sw *w)
{
	sw_dump(w, NULL);
	sw_restore(w, NULL);
	sw_verify(w, VERDICT_MS);
}

/*
 * The dump is refused, naming "pid P" and every string of @objs (NULL
 * ended); no image is left; the tree runs on, untraced, and checks out.
 */
static void sw_refused(struct sw *w, const char *extra, const char *const *objs)
{
	char *err = NULL, want[64];
	int rc, n = 0;
	struct dirent *de;
	DIR *d;

	snprintf(w->t.img, sizeof(w->t.img), "%s/img", w->t.dir);
	rc = t_run(NULL, &err, "%s dump -t %d -D %s %s", t_ferry_bin(), w->t.pid, w->t.img,
		   extra ? extra : "");
	cr_assert_neq(rc, 0, "silent %s was dumped: its state would be lost", w->kind);
	cr_assert_not_null(err);
	snprintf(want, sizeof(want), "pid %d: ", w->t.pid);
	cr_assert(strstr(err, want), "the refusal does not name '%s':\n%s", want, err);
	for (; *objs; objs++)
		cr_assert(strstr(err, *objs), "the refusal does not name '%s':\n%s", *objs, err);
	cr_log_info("silent %s refused: %s", w->kind, err);
	free(err);
	d = opendir(w->t.img);
	while (d && (de = readdir(d)))
		n += !!strstr(de->d_name, ".img");
	if (d)
		closedir(d);
	cr_assert_eq(n, 0, "a refused dump left %d images", n);
	cr_assert_eq(t_proc_field(w->t.pid, "TracerPid"), 0);
	sw_verify(w, VERDICT_MS);
}

/*
 * `ferry decode` of IMG/@file shows @needle; crit decodes the file too, and
 * where it knows the field (@crit_knows: Debian's crit 3.17 does not know
 * CRIU 4.x's fields) it shows @needle as well.
 */
static void decoded_has(const struct sw *w, const char *file, const char *needle, int crit_knows)
{
	char *ours = NULL, *theirs = NULL, *err = NULL;

	cr_assert_eq(t_run(&ours, &err, "%s decode -i %s/%s", t_ferry_bin(), w->t.img, file), 0,
		     "ferry decode %s: %s", file, err ? err : "");
	cr_assert(ours && strstr(ours, needle), "%s: no '%s' in %s", file, needle,
		  ours ? ours : "");
	free(err);
	err = NULL;
	if (t_crit()) {
		cr_assert_eq(t_run(&theirs, &err, "%s decode -i %s/%s", t_crit(), w->t.img, file),
			     0, "crit decode %s: %s", file, err ? err : "");
		cr_assert(!crit_knows || (theirs && strstr(theirs, needle)), "crit: no '%s' in %s",
			  needle, theirs ? theirs : "");
	}
	free(ours);
	free(theirs);
	free(err);
}

/* ---- kept -------------------------------------------------------------------------------- */

Test(silent, pipe_nonblock_and_packet_mode_per_end_kept)
{
	struct sw w;

	sw_init(&w);
	sw_start(&w, "pipe-nonblock", NULL);
	sw_kept(&w);
	sw_stop(&w);
}

Test(silent, sched_policy_priority_nice_kept)
{
	struct sw w;
	char name[64];

	sw_init(&w);
	sw_start(&w, "sched", NULL);
	sw_dump(&w, NULL);
	/* SCHED_FIFO | SCHED_RESET_ON_FORK: 0x40000001, in CRIU's sched_policy. */
	snprintf(name, sizeof(name), "core-%d.img", w.t.pid);
	decoded_has(&w, name, "\"sched_nice\": -3", 1);
	sw_restore(&w, NULL);
	sw_verify(&w, VERDICT_MS);
	sw_stop(&w);
}

Test(silent, stopped_process_comes_back_stopped)
{
	struct sw w;
	pid_t child;
	char name[64];

	sw_init(&w);
	sw_start(&w, "stopped", NULL);
	cr_assert_eq(sscanf(w.ready, "silent: stopped pid %*d child %d", &child), 1, "%s", w.ready);
	cr_assert_eq(t_proc_state(child), 'T');
	sw_dump(&w, NULL);
	/* CRIU's fields: task_state TASK_STOPPED (3), stop_signo SIGSTOP. */
	snprintf(name, sizeof(name), "core-%d.img", child);
	decoded_has(&w, name, "\"task_state\": 3", 1);
	decoded_has(&w, name, "\"stop_signo\": 19", 0);
	sw_restore(&w, NULL);
	cr_assert_eq(t_proc_state(child), 'T', "pid %d was restored running", child);
	cr_assert_eq(t_proc_state(w.t.pid), 'S', "the running parent came back stopped");
	sw_verify(&w, VERDICT_MS); /* it continues the child, which answers, and stops it again */
	sw_stop(&w);
}

/* A stopped process left running by a dump (--leave-running) is still stopped. */
Test(silent, stopped_process_stays_stopped_after_leave_running)
{
	struct sw w;
	pid_t child;
	char *err = NULL;

	sw_init(&w);
	sw_start(&w, "stopped", NULL);
	cr_assert_eq(sscanf(w.ready, "silent: stopped pid %*d child %d", &child), 1, "%s", w.ready);
	snprintf(w.t.img, sizeof(w.t.img), "%s/img", w.t.dir);
	cr_assert_eq(t_run(NULL, &err, "%s dump -t %d -D %s --leave-running", t_ferry_bin(),
			   w.t.pid, w.t.img),
		     0, "dump: %s", err ? err : "");
	free(err);
	cr_assert_eq(t_proc_state(child), 'T');
	sw_verify(&w, VERDICT_MS);
	sw_stop(&w);
}

Test(silent, madvise_flags_and_mlock_kept)
{
	struct sw w;

	sw_init(&w);
	sw_start(&w, "vma-attrs", NULL);
	sw_kept(&w);
	sw_stop(&w);
}

Test(silent, madvise_flags_and_mlock_kept_lazily)
{
	struct sw w;
	char extra[700];

	sw_init(&w);
	sw_start(&w, "vma-attrs", NULL);
	sw_dump(&w, NULL);
	snprintf(extra, sizeof(extra), "--lazy-pages --log-file %s/lazy.log", w.t.dir);
	sw_restore(&w, extra);
	sw_verify(&w, LAZY_VERDICT_MS);
	sw_stop(&w);
}

Test(silent, madvise_flags_and_mlock_kept_through_a_pre_dump)
{
	struct sw w;
	char *err = NULL, pre[600];

	sw_init(&w);
	sw_start(&w, "vma-attrs", NULL);
	snprintf(pre, sizeof(pre), "%s/pre", w.t.dir);
	cr_assert_eq(t_run(NULL, &err, "%s pre-dump -t %d -D %s", t_ferry_bin(), w.t.pid, pre), 0,
		     "pre-dump: %s", err ? err : "");
	free(err);
	sw_verify(&w, VERDICT_MS); /* it runs on between the rounds, writing nothing */
	sw_dump(&w, "--prev-images-dir ../pre");
	sw_restore(&w, NULL);
	sw_verify(&w, VERDICT_MS);
	sw_stop(&w);
}

Test(silent, thp_disable_kept)
{
	struct sw w;
	char name[64];

	sw_init(&w);
	sw_start(&w, "thp-disable", NULL);
	sw_dump(&w, NULL);
	snprintf(name, sizeof(name), "mm-%d.img", w.t.pid);
	decoded_has(&w, name, "\"thp_disabled\": true", 1);
	sw_restore(&w, NULL);
	sw_verify(&w, VERDICT_MS);
	sw_stop(&w);
}

Test(silent, shared_file_mapping_may_be_made_writable)
{
	struct sw w;
	char *data;
	size_t len;

	sw_init(&w);
	snprintf(w.arg, sizeof(w.arg), "%s/mapped", w.t.dir);
	cr_assert_eq(t_write_file(w.arg, (char[4096]){ 0 }, 4096), 0);
	sw_start(&w, "map-write", w.arg); /* its check writes byte 0: now 1 */
	sw_kept(&w);			  /* and now 2, through the restored mapping */
	data = t_read_file(w.arg, &len);
	cr_assert(data && len == 4096 && data[0] == 2, "the file holds %d", data ? data[0] : -1);
	free(data);
	sw_stop(&w);
}

Test(silent, loginuid_kept)
{
	struct sw w;

	if (access("/proc/self/loginuid", F_OK))
		cr_skip_test("no audit loginuid in this kernel (CONFIG_AUDIT off)");
	sw_init(&w);
	sw_start(&w, "loginuid", NULL);
	sw_kept(&w);
	sw_stop(&w);
}

Test(silent, membarrier_registration_kept)
{
	struct sw w;
	char *why = NULL, name[64];

	sw_init(&w);
	if (sw_try_start(&w, "membarrier", NULL, &why))
		cr_skip_test("membarrier registration failed here: %s", why ? why : "");
	sw_verify(&w, VERDICT_MS);
	sw_dump(&w, NULL);
	/* MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED (1 << 4), CRIU 4.x's field. */
	snprintf(name, sizeof(name), "core-%d.img", w.t.pid);
	decoded_has(&w, name, "\"membarrier_registration_mask\": 16", 0);
	sw_restore(&w, NULL);
	sw_verify(&w, VERDICT_MS);
	sw_stop(&w);
}

/* The mount point of the cgroup v2 hierarchy in @buf, or 0 if there is none. */
static int cgroup2_mount(char *buf, size_t len)
{
	char line[4096];
	int found = 0;
	FILE *f = fopen("/proc/self/mountinfo", "re");

	while (f && !found && fgets(line, sizeof(line), f)) {
		char mnt[1024], type[64];
		const char *dash = strstr(line, " - ");

		if (dash && sscanf(line, "%*s %*s %*s %*s %1023s", mnt) == 1 &&
		    sscanf(dash + 3, "%63s", type) == 1 && !strcmp(type, "cgroup2")) {
			snprintf(buf, len, "%s", mnt);
			found = 1;
		}
	}
	if (f)
		fclose(f);
	return found;
}

/*
 * The workload joins MNT/ferry-silent-PID-N/job (made here); dumped, killed,
 * restored: it must be in it again. With @remove the directories are gone
 * before the restore, which makes them again.
 */
static void cgroup_case(int remove)
{
	static int n;
	char mnt[1024], top[1100], job[1200], logp[700], extra[800], *log;
	struct sw w;

	if (!cgroup2_mount(mnt, sizeof(mnt)))
		cr_skip_test("no cgroup v2 hierarchy mounted");
	snprintf(top, sizeof(top), "%s/ferry-silent-%d-%d", mnt, getpid(), n++);
	snprintf(job, sizeof(job), "%s/job", top);
	if (mkdir(top, 0755) || mkdir(job, 0755))
		cr_skip_test("cannot make a cgroup under %s: %s", mnt, strerror(errno));
	sw_init(&w);
	sw_start(&w, "cgroup", job);
	sw_dump(&w, NULL);
	decoded_has(&w, "cgroup.img", "/job\"}", 1);
	if (remove) {
		cr_assert_eq(rmdir(job), 0, "%s: %s", job, strerror(errno));
		cr_assert_eq(rmdir(top), 0, "%s: %s", top, strerror(errno));
	}
	snprintf(logp, sizeof(logp), "%s/restore.log", w.t.dir);
	snprintf(extra, sizeof(extra), "-v3 --log-file %s", logp);
	sw_restore(&w, extra);
	log = t_read_file(logp, NULL);
	cr_assert_eq(!!(log && strstr(log, "made the cgroup")), remove, "%s", log ? log : "");
	free(log);
	sw_verify(&w, VERDICT_MS);
	t_kill_wait(w.t.pid);
	w.t.pid = 0;
	cr_assert_eq(rmdir(job), 0, "%s: %s", job, strerror(errno));
	rmdir(top);
	sw_stop(&w);
}

Test(silent, cgroup_v2_membership_kept)
{
	cgroup_case(0);
}

Test(silent, cgroup_v2_membership_kept_when_the_cgroup_is_gone)
{
	cgroup_case(1);
}

/* ---- refused ----------------------------------------------------------------------------- */

/* 0 when the workload has a guard region; else skips (a kernel without them). */
static void start_guard(struct sw *w)
{
	char *why = NULL;

	sw_init(w);
	if (sw_try_start(w, "guard", NULL, &why)) {
		cr_assert(why && strstr(why, "MADV_GUARD_INSTALL"), "%s", why ? why : "");
		cr_skip_test("no guard regions in this kernel: %s", why);
	}
	sw_verify(w, VERDICT_MS);
}

Test(silent, guard_region_kept)
{
	struct sw w;
	char name[64];

	start_guard(&w);
	sw_dump(&w, NULL);
	/* CRIU 4.2's form: a vma_entry of status VMA_AREA_GUARD (1 << 16). */
	snprintf(name, sizeof(name), "mm-%d.img", w.t.pid);
	decoded_has(&w, name, "\"status\": 65536", 1);
	sw_restore(&w, NULL);
	sw_verify(&w, VERDICT_MS);
	sw_stop(&w);
}

Test(silent, guard_region_kept_lazily)
{
	struct sw w;
	char extra[700];

	start_guard(&w);
	sw_dump(&w, NULL);
	snprintf(extra, sizeof(extra), "--lazy-pages --log-file %s/lazy.log", w.t.dir);
	sw_restore(&w, extra);
	sw_verify(&w, LAZY_VERDICT_MS);
	sw_stop(&w);
}

Test(silent, guard_region_kept_through_a_pre_dump)
{
	struct sw w;
	char *err = NULL, pre[600];

	start_guard(&w);
	snprintf(pre, sizeof(pre), "%s/pre", w.t.dir);
	cr_assert_eq(t_run(NULL, &err, "%s pre-dump -t %d -D %s", t_ferry_bin(), w.t.pid, pre), 0,
		     "pre-dump: %s", err ? err : "");
	free(err);
	sw_dump(&w, "--prev-images-dir ../pre");
	sw_restore(&w, NULL);
	sw_verify(&w, VERDICT_MS);
	sw_stop(&w);
}

/*
 * Rewrite the guard entry (the last VMA) of IMG/mm-PID.img: @how 0 moves it
 * out of every VMA, 1 makes it unaligned, 2 puts it first (among the VMAs).
 */
static void corrupt_guard(const struct sw *w, int how)
{
	char name[64];
	struct img *img = NULL;
	ProtobufCMessage *m = NULL;
	MmEntry *mm;
	VmaEntry *g;
	int dfd = open(w->t.img, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	cr_assert_geq(dfd, 0);
	snprintf(name, sizeof(name), "mm-%d.img", w->t.pid);
	cr_assert_eq(img_open(&img, dfd, name, IMG_MM), 0);
	cr_assert_eq(img_read_entry(img, &m), 1);
	img_close(img);
	mm = (MmEntry *)m;
	cr_assert_gt(mm->n_vmas, 1);
	g = mm->vmas[mm->n_vmas - 1];
	cr_assert_eq(g->status, 1u << 16, "the last VMA is no guard region");
	if (how == 0) {
		g->start = 0x1000;
		g->end = 0x2000;
	} else if (how == 1) {
		g->start += 5;
	} else {
		memmove(mm->vmas + 1, mm->vmas, (mm->n_vmas - 1) * sizeof(*mm->vmas));
		mm->vmas[0] = g;
	}
	cr_assert_eq(img_write_one(dfd, name, IMG_MM, &mm->base), 0);
	protobuf_c_message_free_unpacked(m, NULL);
	close(dfd);
}

/* A corrupt guard entry is refused with the file and the range named; nothing is restored. */
Test(silent, corrupt_guard_region_refused)
{
	static const char *const want[] = {
		"guard region 0x1000-0x2000 is empty, not page "
		"aligned, out of order or outside the VMAs",
		"not page aligned", "is a guard region (status 0x10000) before a real VMA"
	};
	struct sw w;
	char *err = NULL, *orig, file[64], path[700];
	size_t len;

	start_guard(&w);
	sw_dump(&w, NULL);
	snprintf(file, sizeof(file), "mm-%d.img: pid %d:", w.t.pid, w.t.pid);
	snprintf(path, sizeof(path), "%s/mm-%d.img", w.t.img, w.t.pid);
	orig = t_read_file(path, &len);
	cr_assert_not_null(orig);
	for (int how = 0; how < 3; how++) {
		cr_assert_eq(t_write_file(path, orig, len), 0);
		corrupt_guard(&w, how);
		cr_assert_neq(t_run(NULL, &err, "%s restore -D %s -d", t_ferry_bin(), w.t.img), 0,
			      "a corrupt guard entry (%d) was restored", how);
		cr_assert(err && strstr(err, file) && strstr(err, want[how]),
			  "no '%s' ... '%s' in: %s", file, want[how], err ? err : "");
		free(err);
		err = NULL;
		cr_assert(kill(w.t.pid, 0) && errno == ESRCH,
			  "pid %d exists after a failed restore", w.t.pid);
	}
	/* The images as dumped restore. */
	cr_assert_eq(t_write_file(path, orig, len), 0);
	free(orig);
	sw_restore(&w, NULL);
	sw_verify(&w, VERDICT_MS);
	sw_stop(&w);
}

/* Kept as CRIU keeps it: MAP_DROPPABLE in the vma flags, no pages (they may be gone anyway). */
Test(silent, droppable_mapping_kept)
{
	struct sw w;
	char *why = NULL, name[64];

	sw_init(&w);
	if (sw_try_start(&w, "droppable", NULL, &why))
		cr_skip_test("no MAP_DROPPABLE in this kernel: %s", why ? why : "");
	sw_dump(&w, NULL);
	/* MAP_DROPPABLE | MAP_ANONYMOUS, no MAP_PRIVATE */
	snprintf(name, sizeof(name), "mm-%d.img", w.t.pid);
	decoded_has(&w, name, "\"flags\": 40,", 1);
	sw_restore(&w, NULL);
	sw_verify(&w, VERDICT_MS);
	sw_stop(&w);
}

Test(silent, droppable_mapping_kept_through_a_pre_dump)
{
	struct sw w;
	char *why = NULL, *err = NULL, pre[600];

	sw_init(&w);
	if (sw_try_start(&w, "droppable", NULL, &why))
		cr_skip_test("no MAP_DROPPABLE in this kernel: %s", why ? why : "");
	snprintf(pre, sizeof(pre), "%s/pre", w.t.dir);
	cr_assert_eq(t_run(NULL, &err, "%s pre-dump -t %d -D %s", t_ferry_bin(), w.t.pid, pre), 0,
		     "pre-dump: %s", err ? err : "");
	free(err);
	sw_dump(&w, "--prev-images-dir ../pre");
	sw_restore(&w, "--lazy-pages");
	sw_verify(&w, LAZY_VERDICT_MS);
	sw_stop(&w);
}

Test(silent, pending_time_namespace_refused)
{
	struct sw w;
	char *why = NULL;

	sw_init(&w);
	if (sw_try_start(&w, "timens", NULL, &why))
		cr_skip_test("no time namespaces here: %s", why ? why : "");
	sw_refused(&w, NULL,
		   (const char *const[]){ "time namespace pending for its children", NULL });
	sw_stop(&w);
}

Test(silent, lease_refused)
{
	struct sw w;
	char fd[64], *err;
	int lfd;

	sw_init(&w);
	snprintf(w.arg, sizeof(w.arg), "%s/leased", w.t.dir);
	cr_assert_eq(t_write_file(w.arg, "x", 1), 0);
	sw_start(&w, "lease", w.arg);
	cr_assert_eq(sscanf(w.ready, "silent: lease pid %*d lease fd %d", &lfd), 1, "%s", w.ready);
	snprintf(fd, sizeof(fd), "fd %d: ", lfd);
	sw_refused(&w, NULL, (const char *const[]){ fd, w.arg, "LEASE read lock", NULL });
	/* Not with --file-locks either: filelocks.img has no lease ferry could take again. */
	sw_refused(&w, "--file-locks", (const char *const[]){ fd, w.arg, "LEASE read lock", NULL });
	/* ...so the refusal does not send the user to --file-locks. */
	err = NULL;
	t_run(NULL, &err, "%s check -t %d", t_ferry_bin(), w.t.pid);
	cr_assert(err && strstr(err, "LEASE read lock") && !strstr(err, "with --file-locks"),
		  "the lease's refusal suggests --file-locks:\n%s", err ? err : "");
	free(err);
	sw_verify(&w, VERDICT_MS);
	sw_stop(&w);
}

Test(silent, mlockall_future_refused)
{
	struct sw w;

	sw_init(&w);
	sw_start(&w, "mlockall", NULL);
	sw_refused(&w, NULL, (const char *const[]){ "mlockall(MCL_FUTURE)", NULL });
	sw_stop(&w);
}

Test(silent, lock_on_fault_refused)
{
	struct sw w;
	char range[64];
	unsigned long at;

	sw_init(&w);
	sw_start(&w, "lock-onfault", NULL);
	cr_assert_eq(sscanf(w.ready, "silent: lock-onfault pid %*d onfault %lx", &at), 1, "%s",
		     w.ready);
	snprintf(range, sizeof(range), "VMA %#lx-%#lx is locked on fault", at, at + 4 * 4096);
	sw_refused(&w, NULL, (const char *const[]){ range, NULL });
	sw_stop(&w);
}

Test(silent, thp_disable_except_advised_refused)
{
	struct sw w;
	char *why = NULL;

	sw_init(&w);
	if (sw_try_start(&w, "thp-advised", NULL, &why))
		cr_skip_test("no PR_THP_DISABLE_EXCEPT_ADVISED here (6.18+): %s", why ? why : "");
	sw_refused(&w, NULL, (const char *const[]){ "PR_THP_DISABLE_EXCEPT_ADVISED", NULL });
	sw_stop(&w);
}

Test(silent, sched_deadline_refused)
{
	struct sw w;
	char *why = NULL, want[64];

	sw_init(&w);
	if (sw_try_start(&w, "deadline", NULL, &why))
		cr_skip_test("SCHED_DEADLINE cannot be set here: %s", why ? why : "");
	snprintf(want, sizeof(want), "thread %d runs under SCHED_DEADLINE", w.t.pid);
	sw_refused(&w, NULL, (const char *const[]){ want, NULL });
	sw_stop(&w);
}

/* The dry run names the same objects, writes nothing, and the tree runs on. */
Test(silent, check_names_what_dump_refuses)
{
	struct sw w;
	char *out = NULL, *err = NULL, range[96];
	unsigned long at;
	int rc;

	sw_init(&w);
	sw_start(&w, "lock-onfault", NULL);
	cr_assert_eq(sscanf(w.ready, "silent: lock-onfault pid %*d onfault %lx", &at), 1, "%s",
		     w.ready);
	snprintf(range, sizeof(range), "pid %d: VMA %#lx-%#lx is locked on fault", w.t.pid, at,
		 at + 4 * 4096);
	rc = t_run(&out, &err, "%s check -t %d", t_ferry_bin(), w.t.pid);
	cr_assert_neq(rc, 0, "ferry check -t found nothing to refuse");
	cr_assert((out && strstr(out, range)) || (err && strstr(err, range)), "no '%s' in:\n%s\n%s",
		  range, out ? out : "", err ? err : "");
	free(out);
	free(err);
	cr_assert_eq(t_proc_field(w.t.pid, "TracerPid"), 0);
	sw_verify(&w, VERDICT_MS);
	sw_stop(&w);
}
