// SPDX-License-Identifier: MIT
/*
 * The VMA change events of the BPF tracker: in order, against what the child
 * says it did; draining stops on the callback's value; ring overflow counts
 * drops. Pinning (pin, close, reopen, unpin; a pinned tracker outlives its
 * loader), whose checks read the VMA events.
 * (Suite dirty_bpf: its TestSuite is in test_dirty_bpf.c; the target process
 * and the test side's helpers in dirty_bpf_target.c.)
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "compat.h"
#include "dirty_bpf.h"
#include "helpers.h"
#include "log.h"

#include "dirty_bpf_target.h"

/* ---- VMA events --------------------------------------------------------------------------- */

#define MAX_EV 512

struct ev_list {
	struct dt_vma_event ev[MAX_EV];
	int n;
	int stop_at; /* return 7 from the callback at this event (1-based), 0: never */
};

static int keep_event(const struct dt_vma_event *e, void *arg)
{
	struct ev_list *l = arg;

	if (l->n < MAX_EV)
		l->ev[l->n] = *e;
	l->n++;
	return l->stop_at && l->n == l->stop_at ? 7 : 0;
}

static int drop_event(const struct dt_vma_event *e, void *arg)
{
	(void)e;
	(void)arg;
	return 0;
}

static void expect_event(const struct dt_vma_event *e, int i, uint32_t nr, uint64_t a0, uint64_t a1,
			 uint64_t a2, int64_t ret)
{
	cr_expect_eq(e->nr, nr, "event %d: syscall %u, want %u", i, e->nr, nr);
	cr_expect_eq(e->tid, (uint32_t)db_tg.pid, "event %d: tid %u", i, e->tid);
	cr_expect_eq(e->args[0], a0, "event %d (nr %u): arg0 0x%llx, want 0x%llx", i, nr,
		     (unsigned long long)e->args[0], (unsigned long long)a0);
	cr_expect_eq(e->args[1], a1, "event %d (nr %u): arg1 0x%llx, want 0x%llx", i, nr,
		     (unsigned long long)e->args[1], (unsigned long long)a1);
	cr_expect_eq(e->args[2], a2, "event %d (nr %u): arg2 0x%llx, want 0x%llx", i, nr,
		     (unsigned long long)e->args[2], (unsigned long long)a2);
	cr_expect_eq(e->ret, ret, "event %d (nr %u): ret %lld, want %lld", i, nr, (long long)e->ret,
		     (long long)ret);
}

/* The events of one OP_VMA, in order, against what the child says it did. */
static void expect_vma_op(const struct ev_list *l, const struct db_reply *r)
{
	uint64_t a = r->a[0], b = r->a[1];
	const struct dt_vma_event *e = l->ev;
	int i;

	cr_assert_eq(l->n, 9, "%d events for the 9 VMA calls", l->n);
	expect_event(&e[0], 0, DT_NR_MMAP, 0, 4 * db_ps, PROT_READ | PROT_WRITE, (int64_t)a);
	cr_expect_eq(e[0].args[3], MAP_PRIVATE | MAP_ANONYMOUS, "mmap flags 0x%llx",
		     (unsigned long long)e[0].args[3]);
	cr_expect_eq((int)e[0].args[4], -1, "mmap fd");
	expect_event(&e[1], 1, DT_NR_MPROTECT, a, 4 * db_ps, PROT_READ, 0);
	expect_event(&e[2], 2, DT_NR_MPROTECT, a + 1, db_ps, PROT_READ, -EINVAL);
	expect_event(&e[3], 3, DT_NR_MADVISE, a, 4 * db_ps, MADV_DONTNEED, 0);
	expect_event(&e[4], 4, DT_NR_MREMAP, a, 4 * db_ps, 8 * db_ps, (int64_t)b);
	cr_expect_eq(e[4].args[3], MREMAP_MAYMOVE);
	expect_event(&e[5], 5, DT_NR_MUNMAP, b, 8 * db_ps, e[5].args[2], 0);
	expect_event(&e[6], 6, DT_NR_BRK, 0, e[6].args[1], e[6].args[2], (int64_t)r->a[2]);
	expect_event(&e[7], 7, DT_NR_SHMAT, r->a[4], 0, 0, (int64_t)r->a[3]);
	expect_event(&e[8], 8, DT_NR_SHMDT, r->a[3], e[8].args[1], e[8].args[2], 0);
	for (i = 1; i < 9; i++)
		cr_expect_leq(e[i - 1].ts_ns, e[i].ts_ns, "event %d is older than event %d", i,
			      i - 1);
}

Test(dirty_bpf, vma_events_in_order)
{
	static struct ev_list l;
	struct dirty_bpf_counts c;
	struct db_reply r;

	db_target_start();
	db_open_tracker(0, 0);
	cr_assert_eq(dirty_bpf_drain_events(db_trk, drop_event, NULL), 0);
	l.n = 0;
	cr_assert_eq(dirty_bpf_drain_events(db_trk, keep_event, &l), 0);
	cr_assert_eq(l.n, 0, "%d events while the target slept", l.n);

	r = db_target_op(OP_VMA, 0);
	cr_assert_eq(dirty_bpf_drain_events(db_trk, keep_event, &l), 0);
	expect_vma_op(&l, &r);
	cr_assert_eq(dirty_bpf_next_interval(db_trk, &c, NULL, 0), 0);
	cr_expect_eq(c.drops, 0);
	db_target_exit();
}

Test(dirty_bpf, drain_stops_and_ring_overflow_counts_drops)
{
	static struct ev_list l;
	struct dirty_bpf_counts c;
	const int n = 200; /* a 4 KiB ring holds 56 events of 72 bytes */
	int got;

	db_target_start();
	db_open_tracker(0, 4096);
	cr_assert_eq(dirty_bpf_next_interval(db_trk, NULL, NULL, 0), 0);
	cr_assert_eq(dirty_bpf_drain_events(db_trk, drop_event, NULL), 0);

	db_target_op(OP_MPROTECT_N, n);
	l.n = 0;
	l.stop_at = 3;
	cr_assert_eq(dirty_bpf_drain_events(db_trk, keep_event, &l), 7, "the callback's value");
	cr_assert_eq(l.n, 3, "the drain went on after the callback said stop");
	l.stop_at = 0;
	cr_assert_eq(dirty_bpf_drain_events(db_trk, keep_event, &l), 0);
	got = l.n;
	cr_assert_eq(dirty_bpf_next_interval(db_trk, &c, NULL, 0), 0);
	cr_expect_gt(c.drops, 0, "%d events fit a 4 KiB ring?", got);
	cr_expect_eq((uint64_t)got + c.drops, (uint64_t)n, "%d drained + %llu dropped != %d", got,
		     (unsigned long long)c.drops, n);
	for (int i = 0; i < got && i < MAX_EV; i++)
		cr_expect_eq(l.ev[i].nr, DT_NR_MPROTECT, "event %d: nr %u", i, l.ev[i].nr);

	/* The ring has room again: nothing more is lost. */
	db_target_op(OP_MPROTECT_N, 10);
	l.n = 0;
	cr_assert_eq(dirty_bpf_drain_events(db_trk, keep_event, &l), 0);
	cr_assert_eq(dirty_bpf_next_interval(db_trk, &c, NULL, 0), 0);
	cr_expect_eq(l.n, 10);
	cr_expect_eq(c.drops, 0);
	db_target_exit();
}

/* ---- pinning ------------------------------------------------------------------------------ */

static __u32 link_prog_id(const char *dir, const char *name)
{
	struct bpf_link_info info;
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = bpf_obj_get(path);
	cr_assert_geq(fd, 0, "bpf_obj_get %s: %s", path, strerror(errno));
	memset(&info, 0, sizeof(info));
	cr_assert_eq(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	close(fd);
	cr_assert_neq(info.prog_id, 0);
	return info.prog_id;
}

/* 1 if a program with this id exists now. */
static int prog_exists(__u32 id)
{
	int fd = bpf_prog_get_fd_by_id(id);

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	close(fd);
	return 1;
}

/* 1 if a program with this id is gone, waiting up to 2 s (programs are freed deferred). */
static int prog_gone(__u32 id)
{
	int i;

	for (i = 0; i < 200; i++) {
		if (!prog_exists(id))
			return 1;
		usleep(10 * 1000);
	}
	return 0;
}

static struct dt_state read_state(int fd)
{
	struct dt_state st;
	__u32 zero = 0;

	cr_assert_eq(bpf_map_lookup_elem(fd, &zero, &st), 0, "state map fd %d: %s", fd,
		     strerror(errno));
	return st;
}

Test(dirty_bpf, pin_close_reopen_unpin)
{
	static const int w1[] = { 1, 2, 3 };
	static const int w2[] = { 3, 4, 5, 6, 40 };
	static struct ev_list l;
	struct dirty_bpf_counts c;
	struct db_reply r;
	struct dt_state st;
	struct stat sb;
	uint64_t rp[1], mem;
	__u32 fault_id, kfault_id, exit_id;
	char path[PATH_MAX];
	int state_fd;

	db_target_start();
	db_open_tracker(0, 0);
	db_track_region();
	db_make_pin_dir();
	cr_assert_eq(dirty_bpf_pin(db_trk, db_pin_dir), 0, "pin under %s", db_pin_dir);
	db_quiet();
	cr_expect_eq(dirty_bpf_pin(db_trk, db_pin_dir), -EEXIST, "pinned twice at the same place");
	db_loud();
	cr_assert_eq(dirty_bpf_drain_events(db_trk, drop_event, NULL), 0);
	cr_assert_eq(db_target_write(w1, 3, NULL, 0), 3);

	/* Closed: the pinned programs go on counting and queueing. */
	dirty_bpf_close(db_trk);
	db_trk = NULL;
	cr_assert_eq(db_target_write(w2, 5, NULL, 0), 5);
	r = db_target_op(OP_VMA, 0);

	cr_assert_eq(dirty_bpf_open_pinned(&db_trk, db_pin_dir), 0);
	cr_expect_eq(dirty_bpf_tgid(db_trk), db_tg.pid);
	cr_assert_eq(dirty_bpf_next_interval(db_trk, &c, rp, 1), 0);
	cr_expect_eq(c.distinct, 7, "3 + 5 pages, 3 twice in one interval: %llu",
		     (unsigned long long)c.distinct);
	cr_expect_eq(c.faults, 8);
	cr_expect_eq(rp[0], 7, "the ranges were kept: range 0 has %llu", (unsigned long long)rp[0]);
	l.n = 0;
	cr_assert_eq(dirty_bpf_drain_events(db_trk, keep_event, &l), 0);
	expect_vma_op(&l, &r);
	cr_assert_eq(dirty_bpf_mem(db_trk, &mem), 0);
	cr_expect_gt(mem, 0);

	/* Still counting after the reopen, in the next interval. */
	cr_assert_eq(db_target_write(w2, 2, NULL, 0), 2);
	cr_assert_eq(dirty_bpf_next_interval(db_trk, &c, NULL, 0), 0);
	cr_expect_eq(c.distinct, 2);

	/* Unpinned and closed: the programs are gone, the target's writes not counted. */
	fault_id = link_prog_id(db_pin_dir, "link_fault");
	kfault_id = link_prog_id(db_pin_dir, "link_kfault");
	exit_id = link_prog_id(db_pin_dir, "link_sys_exit");
	snprintf(path, sizeof(path), "%s/state", db_pin_dir);
	state_fd = bpf_obj_get(path);
	cr_assert_geq(state_fd, 0);
	cr_assert_eq(dirty_bpf_unpin(db_pin_dir), 0);
	cr_expect_eq(prog_exists(fault_id), 1, "held by our open tracker, the program stays");
	dirty_bpf_close(db_trk);
	db_trk = NULL;
	cr_expect_eq(stat(db_pin_dir, &sb), -1, "pin dir %s left", db_pin_dir);
	cr_expect_eq(dirty_bpf_open_pinned(&db_trk, db_pin_dir), -ENOENT);
	cr_expect(prog_gone(fault_id), "fault program %u still loaded", fault_id);
	cr_expect(prog_gone(kfault_id), "kernel fault program %u still loaded", kfault_id);
	cr_expect(prog_gone(exit_id), "sys_exit program %u still loaded", exit_id);
	st = read_state(state_fd);
	cr_assert_eq(db_target_write(w1, 3, NULL, 0), 3);
	cr_expect_eq(read_state(state_fd).faults, st.faults, "a write counted after unpin");
	close(state_fd);
	cr_expect_eq(dirty_bpf_unpin(db_pin_dir), 0, "unpin of nothing");
	db_pin_dir[0] = '\0';
	db_target_exit();
}

Test(dirty_bpf, pinned_tracker_outlives_its_loader)
{
	static const int w[] = { 8, 9, 10, 11 };
	struct dirty_bpf_counts c;
	pid_t loader;
	int st;

	db_target_start();
	db_make_pin_dir();
	loader = fork();
	cr_assert_geq(loader, 0);
	if (!loader) {
		struct dirty_bpf_opts o = { .tgid = db_tg.pid };
		struct dirty_bpf_range r = { db_tg.region, db_tg.region + NPAGES * db_ps };
		struct dirty_bpf *d;

		/* Exits without closing: only the pins keep the tracker. */
		if (dirty_bpf_open(&d, &o) || dirty_bpf_set_ranges(d, &r, 1) ||
		    dirty_bpf_pin(d, db_pin_dir))
			_exit(1);
		_exit(0);
	}
	cr_assert_eq(waitpid(loader, &st, 0), loader);
	cr_assert(WIFEXITED(st) && !WEXITSTATUS(st), "loader %d failed (status 0x%x)", loader, st);

	cr_assert_eq(db_target_write(w, 4, NULL, 0), 4);
	cr_assert_eq(dirty_bpf_open_pinned(&db_trk, db_pin_dir), 0);
	cr_expect_eq(dirty_bpf_tgid(db_trk), db_tg.pid);
	cr_assert_eq(dirty_bpf_next_interval(db_trk, &c, NULL, 0), 0);
	cr_expect_eq(c.distinct, 4, "writes after the loader exited: %llu distinct",
		     (unsigned long long)c.distinct);
	cr_expect_eq(c.untracked, 0);
	db_target_exit();
}
