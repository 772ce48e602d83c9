// SPDX-License-Identifier: MIT
/*
 * User side of bpf/dirty_track.bpf.c: load (libbpf skeleton) or reopen from
 * bpffs pins, then read the maps.
 *
 * The three array maps (state, ranges, range_pages) are BPF_F_MMAPABLE and
 * mapped here: the counters are read and zeroed with atomic exchanges on the
 * shared memory, without a syscall, and the interval's generation is advanced
 * with an atomic add. The per-page LRU hash is read with batch lookups, the
 * VMA events with libbpf's ring buffer reader; the ring buffer's consumer
 * position lives in the map, so a reader that reopens a pinned tracker goes
 * on where the last one stopped.
 */
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <linux/magic.h>

#define LOG_PREFIX "dirty_bpf: "
#include "bpflog.h"
#include "dirty_bpf.h"
#include "util.h"
#include "dirty_track.skel.h"
#include "log.h"

#define BPFFS_ROOT "/sys/fs/bpf"

enum { M_STATE, M_RANGES, M_RANGE_PAGES, M_PAGES, M_EVENTS, M_RODATA, M_NR };
enum { L_FAULT, L_KFAULT, L_SYS_EXIT, L_NR };

/* Pin file names, in pinning order: maps first, the links (what runs) last. */
static const char *const map_pin[M_NR] = {
	[M_STATE] = "state", [M_RANGES] = "ranges", [M_RANGE_PAGES] = "range_pages",
	[M_PAGES] = "pages", [M_EVENTS] = "events", [M_RODATA] = "rodata",
};
static const char *const link_pin[L_NR] = {
	[L_FAULT] = "link_fault",
	[L_KFAULT] = "link_kfault",
	[L_SYS_EXIT] = "link_sys_exit",
};

struct dirty_bpf {
	pid_t tgid;
	uint32_t max_ranges;
	struct dirty_track_bpf *skel; /* loaded here: owns the fds; NULL when reopened */
	int map_fd[M_NR];	      /* owned by skel, or by us when reopened */
	int link_fd[L_NR];
	struct dt_state *st; /* mapped 'state', 'ranges', 'range_pages' */
	struct dt_range *rg;
	uint64_t *rp;
	size_t st_len, rg_len, rp_len;
	struct ring_buffer *rb;
	/* the drain in progress */
	int (*ev_cb)(const struct dt_vma_event *e, void *arg);
	void *ev_arg;
	int ev_ret;
};

static struct dirty_bpf *dirty_alloc(void)
{
	struct dirty_bpf *d = calloc(1, sizeof(*d));
	int i;

	if (!d)
		return NULL;
	for (i = 0; i < M_NR; i++)
		d->map_fd[i] = -1;
	for (i = 0; i < L_NR; i++)
		d->link_fd[i] = -1;
	return d;
}

static size_t page_round(size_t len)
{
	size_t ps = (size_t)sysconf(_SC_PAGESIZE);

	return (len + ps - 1) / ps * ps;
}

/* mmap the values of BPF_F_MMAPABLE array map @m (@nr entries of @size bytes). */
static int map_values(struct dirty_bpf *d, int m, size_t nr, size_t size, void **out, size_t *len)
{
	void *p;

	*len = page_round(nr * size);
	p = mmap(NULL, *len, PROT_READ | PROT_WRITE, MAP_SHARED, d->map_fd[m], 0);
	if (p == MAP_FAILED) {
		int err = -errno;

		pr_perror("pid %d: mmap of map '%s' (fd %d, %zu bytes)", (int)d->tgid, map_pin[m],
			  d->map_fd[m], *len);
		*len = 0;
		return err;
	}
	*out = p;
	return 0;
}

static int on_event(void *ctx, void *data, size_t len)
{
	struct dirty_bpf *d = ctx;
	int ret;

	if (len < sizeof(struct dt_vma_event)) {
		pr_warn("pid %d: VMA event of %zu bytes, want %zu: skipped", (int)d->tgid, len,
			sizeof(struct dt_vma_event));
		return 0;
	}
	ret = d->ev_cb(data, d->ev_arg);
	if (ret) {
		/* libbpf stops on a negative return only; the real value is kept here. */
		d->ev_ret = ret;
		return -ECANCELED;
	}
	return 0;
}

/* Map the arrays and open the ring buffer reader: the part common to open and reopen. */
static int dirty_setup_user(struct dirty_bpf *d)
{
	int err;

	err = map_values(d, M_STATE, 1, sizeof(*d->st), (void **)&d->st, &d->st_len);
	if (err)
		return err;
	err = map_values(d, M_RANGES, d->max_ranges, sizeof(*d->rg), (void **)&d->rg, &d->rg_len);
	if (err)
		return err;
	err = map_values(d, M_RANGE_PAGES, d->max_ranges, sizeof(*d->rp), (void **)&d->rp,
			 &d->rp_len);
	if (err)
		return err;
	d->rb = ring_buffer__new(d->map_fd[M_EVENTS], on_event, d, NULL);
	if (!d->rb) {
		err = -errno;
		pr_errno(err, "pid %d: ring buffer reader on map fd %d", (int)d->tgid,
			 d->map_fd[M_EVENTS]);
		return err;
	}
	return 0;
}

void dirty_bpf_close(struct dirty_bpf *d)
{
	int i;

	if (!d)
		return;
	ring_buffer__free(d->rb);
	if (d->st_len)
		munmap(d->st, d->st_len);
	if (d->rg_len)
		munmap(d->rg, d->rg_len);
	if (d->rp_len)
		munmap(d->rp, d->rp_len);
	if (d->skel) {
		dirty_track_bpf__destroy(d->skel);
	} else {
		for (i = 0; i < L_NR; i++)
			if (d->link_fd[i] >= 0)
				close(d->link_fd[i]);
		for (i = 0; i < M_NR; i++)
			if (d->map_fd[i] >= 0)
				close(d->map_fd[i]);
	}
	free(d);
}

static int check_opts(const struct dirty_bpf_opts *o, struct dirty_bpf_opts *v)
{
	*v = *o;
	if (!v->max_pages)
		v->max_pages = DIRTY_BPF_DEF_PAGES;
	if (!v->max_ranges)
		v->max_ranges = DIRTY_BPF_DEF_RANGES;
	if (!v->ringbuf_bytes)
		v->ringbuf_bytes = DIRTY_BPF_DEF_RINGBUF;
	if (v->tgid <= 0) {
		pr_err("pid %d: not a process id", (int)v->tgid);
		return -EINVAL;
	}
	if (v->max_ranges > DT_MAX_RANGES) {
		pr_err("pid %d: max_ranges %u over %u", (int)v->tgid, v->max_ranges, DT_MAX_RANGES);
		return -EINVAL;
	}
	if (v->ringbuf_bytes < 4096 || (v->ringbuf_bytes & (v->ringbuf_bytes - 1))) {
		pr_err("pid %d: ring buffer size %u is not a power of two >= 4096", (int)v->tgid,
		       v->ringbuf_bytes);
		return -EINVAL;
	}
	return 0;
}

int dirty_bpf_open(struct dirty_bpf **out, const struct dirty_bpf_opts *o)
{
	struct dirty_track_bpf *skel;
	struct dirty_bpf_opts v;
	struct dirty_bpf *d;
	int err;

	err = check_opts(o, &v);
	if (err)
		return err;
	if (kill(v.tgid, 0) && errno == ESRCH) {
		pr_err("pid %d: no such process to track", (int)v.tgid);
		return -ESRCH;
	}
	bpflog_init();
	d = dirty_alloc();
	if (!d)
		return -ENOMEM;
	d->tgid = v.tgid;
	d->max_ranges = v.max_ranges;

	skel = dirty_track_bpf__open();
	if (!skel) {
		err = -errno;
		pr_errno(err, "pid %d: cannot open the dirty tracker BPF object", (int)v.tgid);
		goto err;
	}
	d->skel = skel;
	skel->rodata->target_tgid = (__u32)v.tgid;
	skel->rodata->max_ranges = v.max_ranges;
	err = bpf_map__set_max_entries(skel->maps.pages, v.max_pages);
	if (!err)
		err = bpf_map__set_max_entries(skel->maps.ranges, v.max_ranges);
	if (!err)
		err = bpf_map__set_max_entries(skel->maps.range_pages, v.max_ranges);
	if (!err)
		err = bpf_map__set_max_entries(skel->maps.events, v.ringbuf_bytes);
	if (err) {
		pr_errno(err, "pid %d: sizing the tracker maps", (int)v.tgid);
		goto err;
	}
	err = dirty_track_bpf__load(skel);
	if (err) {
		pr_errno(err, "pid %d: cannot load the dirty tracker (%u pages, %u ranges)",
			 (int)v.tgid, v.max_pages, v.max_ranges);
		goto err;
	}
	d->map_fd[M_STATE] = bpf_map__fd(skel->maps.state);
	d->map_fd[M_RANGES] = bpf_map__fd(skel->maps.ranges);
	d->map_fd[M_RANGE_PAGES] = bpf_map__fd(skel->maps.range_pages);
	d->map_fd[M_PAGES] = bpf_map__fd(skel->maps.pages);
	d->map_fd[M_EVENTS] = bpf_map__fd(skel->maps.events);
	d->map_fd[M_RODATA] = bpf_map__fd(skel->maps.rodata);
	err = dirty_setup_user(d);
	if (err)
		goto err;
	/* Before attaching: a new page record has gen 0, which must never be current. */
	__atomic_store_n(&d->st->gen, 1, __ATOMIC_RELEASE);

	err = dirty_track_bpf__attach(skel);
	if (err) {
		pr_errno(err,
			 "pid %d: cannot attach tp_btf/page_fault_user, page_fault_kernel and "
			 "sys_exit",
			 (int)v.tgid);
		goto err;
	}
	d->link_fd[L_FAULT] = bpf_link__fd(skel->links.dt_fault);
	d->link_fd[L_KFAULT] = bpf_link__fd(skel->links.dt_kfault);
	d->link_fd[L_SYS_EXIT] = bpf_link__fd(skel->links.dt_sys_exit);
	pr_debug("pid %d: tracker attached (%u pages, %u ranges, %u ring buffer bytes)",
		 (int)v.tgid, v.max_pages, v.max_ranges, v.ringbuf_bytes);
	*out = d;
	return 0;

err:
	dirty_bpf_close(d);
	return err;
}

pid_t dirty_bpf_tgid(const struct dirty_bpf *d)
{
	return d->tgid;
}

/* ---- pinning ------------------------------------------------------------------------------ */

static int is_bpffs(const char *path)
{
	struct statfs sfs;

	if (statfs(path, &sfs))
		return -errno;
	return sfs.f_type == BPF_FS_MAGIC;
}

/* Mount bpffs on /sys/fs/bpf if @dir lives there and it is not mounted yet. */
static int bpffs_ensure(const char *dir)
{
	size_t n = strlen(BPFFS_ROOT);
	int ret;

	if (strncmp(dir, BPFFS_ROOT, n) || (dir[n] && dir[n] != '/'))
		return 0;
	ret = is_bpffs(BPFFS_ROOT);
	if (ret < 0) {
		pr_errno(ret, "statfs %s", BPFFS_ROOT);
		return ret;
	}
	if (ret)
		return 0;
	if (mount("bpf", BPFFS_ROOT, "bpf", 0, NULL)) {
		ret = -errno;
		pr_perror("mount bpffs on %s", BPFFS_ROOT);
		return ret;
	}
	pr_info("mounted bpffs on %s", BPFFS_ROOT);
	return 0;
}

static int pin_path(char *buf, size_t len, const char *dir, const char *name)
{
	if ((size_t)snprintf(buf, len, "%s/%s", dir, name) >= len) {
		pr_err("pin path %s/%s too long", dir, name);
		return -ENAMETOOLONG;
	}
	return 0;
}

/* Remove the pins of @names[0..nr) under @dir; ENOENT is fine. First error or 0. */
static int unlink_pins(const char *dir, const char *const *names, int nr)
{
	char path[PATH_MAX];
	int i, err, ret = 0;

	for (i = 0; i < nr; i++) {
		err = pin_path(path, sizeof(path), dir, names[i]);
		if (!err && unlink(path) && errno != ENOENT) {
			err = -errno;
			pr_perror("unlink pin %s", path);
		}
		if (err && !ret)
			ret = err;
	}
	return ret;
}

int dirty_bpf_pin(struct dirty_bpf *d, const char *dir)
{
	char path[PATH_MAX];
	int nmaps = 0, nlinks = 0, err;

	if (!dir || !*dir)
		return -EINVAL;
	err = bpffs_ensure(dir);
	if (err)
		return err;
	err = mkdir_p(dir);
	if (err) {
		pr_errno(err, "pid %d: cannot create pin dir %s", (int)d->tgid, dir);
		return err;
	}
	err = is_bpffs(dir);
	if (err <= 0) {
		if (!err)
			err = -EINVAL;
		pr_errno(err, "pid %d: pin dir %s is not on bpffs", (int)d->tgid, dir);
		return err;
	}
	for (; nmaps < M_NR; nmaps++) {
		err = pin_path(path, sizeof(path), dir, map_pin[nmaps]);
		if (!err && bpf_obj_pin(d->map_fd[nmaps], path)) {
			err = -errno;
			pr_errno(err, "pid %d: pinning map fd %d at %s", (int)d->tgid,
				 d->map_fd[nmaps], path);
		}
		if (err)
			goto err;
	}
	for (; nlinks < L_NR; nlinks++) {
		err = pin_path(path, sizeof(path), dir, link_pin[nlinks]);
		if (!err && bpf_obj_pin(d->link_fd[nlinks], path)) {
			err = -errno;
			pr_errno(err, "pid %d: pinning link fd %d at %s", (int)d->tgid,
				 d->link_fd[nlinks], path);
		}
		if (err)
			goto err;
	}
	pr_debug("pid %d: tracker pinned under %s", (int)d->tgid, dir);
	return 0;

err:
	/* An EEXIST name was not ours: only what this call pinned goes. */
	unlink_pins(dir, link_pin, nlinks);
	unlink_pins(dir, map_pin, nmaps);
	return err;
}

int dirty_bpf_unpin(const char *dir)
{
	int err, ret;

	if (!dir || !*dir)
		return -EINVAL;
	/* The links first: the programs stop before their maps go. */
	ret = unlink_pins(dir, link_pin, L_NR);
	err = unlink_pins(dir, map_pin, M_NR);
	if (!ret)
		ret = err;
	if (ret)
		return ret;
	if (rmdir(dir) && errno != ENOENT) {
		ret = -errno;
		pr_perror("removing pin dir %s", dir);
		return ret;
	}
	return 0;
}

/* Check a pinned map is what the tracker made; fills *info. */
static int check_map(int fd, const char *path, __u32 type, __u32 key_size, __u32 value_size,
		     struct bpf_map_info *info)
{
	__u32 len = sizeof(*info);

	memset(info, 0, sizeof(*info));
	if (bpf_obj_get_info_by_fd(fd, info, &len)) {
		int err = -errno;

		pr_perror("info of pinned map %s (fd %d)", path, fd);
		return err;
	}
	if (info->type != type || info->key_size != key_size ||
	    (value_size && info->value_size != value_size)) {
		pr_err("pinned map %s: type %u key %u value %u, want type %u key %u value %u", path,
		       info->type, info->key_size, info->value_size, type, key_size, value_size);
		return -EINVAL;
	}
	return 0;
}

static int get_pinned(const char *dir, const char *name, int *fd)
{
	char path[PATH_MAX];
	int err;

	err = pin_path(path, sizeof(path), dir, name);
	if (err)
		return err;
	*fd = bpf_obj_get(path);
	if (*fd < 0) {
		err = -errno;
		if (err == -ENOENT)
			pr_debug("no pinned tracker object %s", path);
		else
			pr_errno(err, "opening pinned tracker object %s", path);
		return err;
	}
	return 0;
}

/* Validate the reopened maps, learn max_ranges and the target. */
static int check_pinned(struct dirty_bpf *d, const char *dir)
{
	struct dirty_track_bpf__rodata *ro;
	struct bpf_map_info info, rinfo;
	__u32 zero = 0;
	void *val = NULL;
	int err;

	err = check_map(d->map_fd[M_STATE], map_pin[M_STATE], BPF_MAP_TYPE_ARRAY, 4,
			sizeof(struct dt_state), &info);
	if (!err)
		err = check_map(d->map_fd[M_RANGES], map_pin[M_RANGES], BPF_MAP_TYPE_ARRAY, 4,
				sizeof(struct dt_range), &rinfo);
	if (!err)
		err = check_map(d->map_fd[M_RANGE_PAGES], map_pin[M_RANGE_PAGES],
				BPF_MAP_TYPE_ARRAY, 4, sizeof(__u64), &info);
	if (!err && info.max_entries != rinfo.max_entries) {
		pr_err("pinned tracker %s: %u ranges but %u range counters", dir, rinfo.max_entries,
		       info.max_entries);
		err = -EINVAL;
	}
	if (!err)
		err = check_map(d->map_fd[M_PAGES], map_pin[M_PAGES], BPF_MAP_TYPE_LRU_HASH,
				sizeof(__u64), sizeof(struct dt_page), &info);
	if (!err)
		err = check_map(d->map_fd[M_EVENTS], map_pin[M_EVENTS], BPF_MAP_TYPE_RINGBUF, 0, 0,
				&info);
	if (!err)
		err = check_map(d->map_fd[M_RODATA], map_pin[M_RODATA], BPF_MAP_TYPE_ARRAY, 4, 0,
				&info);
	if (err)
		goto out;
	if (info.value_size < sizeof(*ro)) {
		pr_err("pinned tracker %s: rodata of %u bytes, want %zu", dir, info.value_size,
		       sizeof(*ro));
		err = -EINVAL;
		goto out;
	}
	val = calloc(1, info.value_size);
	if (!val) {
		err = -ENOMEM;
		goto out;
	}
	if (bpf_map_lookup_elem(d->map_fd[M_RODATA], &zero, val)) {
		err = -errno;
		pr_perror("reading the rodata of pinned tracker %s", dir);
		goto out;
	}
	ro = val;
	d->tgid = (pid_t)ro->target_tgid;
	d->max_ranges = rinfo.max_entries;
out:
	free(val);
	return err;
}

int dirty_bpf_open_pinned(struct dirty_bpf **out, const char *dir)
{
	struct dirty_bpf *d;
	int i, err;

	if (!dir || !*dir)
		return -EINVAL;
	d = dirty_alloc();
	if (!d)
		return -ENOMEM;
	for (i = 0; i < L_NR; i++) {
		err = get_pinned(dir, link_pin[i], &d->link_fd[i]);
		if (err)
			goto err;
	}
	for (i = 0; i < M_NR; i++) {
		err = get_pinned(dir, map_pin[i], &d->map_fd[i]);
		if (err)
			goto err;
	}
	err = check_pinned(d, dir);
	if (err)
		goto err;
	err = dirty_setup_user(d);
	if (err)
		goto err;
	pr_debug("pid %d: tracker reopened from %s (gen %llu)", (int)d->tgid, dir,
		 (unsigned long long)__atomic_load_n(&d->st->gen, __ATOMIC_ACQUIRE));
	*out = d;
	return 0;

err:
	dirty_bpf_close(d);
	return err;
}

/* ---- reading ------------------------------------------------------------------------------ */

int dirty_bpf_set_ranges(struct dirty_bpf *d, const struct dirty_bpf_range *r, size_t n)
{
	size_t i;

	if (n > d->max_ranges) {
		pr_err("pid %d: %zu ranges, the tracker holds %u", (int)d->tgid, n, d->max_ranges);
		return -E2BIG;
	}
	if (n && !r)
		return -EINVAL;
	for (i = 0; i < n; i++) {
		if (r[i].start >= r[i].end || (i && r[i].start < r[i - 1].end)) {
			pr_err("pid %d: range %zu 0x%llx-0x%llx is empty, unsorted or overlaps "
			       "the previous one",
			       (int)d->tgid, i, (unsigned long long)r[i].start,
			       (unsigned long long)r[i].end);
			return -EINVAL;
		}
	}
	/* No range while they change: a racing fault is untracked, never misfiled. */
	__atomic_store_n(&d->st->nr_ranges, 0, __ATOMIC_SEQ_CST);
	for (i = 0; i < n; i++) {
		d->rg[i].start = r[i].start;
		d->rg[i].end = r[i].end;
	}
	for (i = 0; i < d->max_ranges; i++)
		__atomic_store_n(&d->rp[i], 0, __ATOMIC_RELAXED);
	__atomic_store_n(&d->st->nr_ranges, (__u64)n, __ATOMIC_SEQ_CST);
	pr_debug("pid %d: %zu ranges tracked", (int)d->tgid, n);
	return 0;
}

int dirty_bpf_next_interval(struct dirty_bpf *d, struct dirty_bpf_counts *c, uint64_t *range_pages,
			    size_t nr)
{
	struct dirty_bpf_counts got;
	size_t i, nranges;
	uint64_t v, gen;

	if (nr && !range_pages)
		return -EINVAL;
	got.distinct = __atomic_exchange_n(&d->st->distinct, 0, __ATOMIC_SEQ_CST);
	got.faults = __atomic_exchange_n(&d->st->faults, 0, __ATOMIC_SEQ_CST);
	got.untracked = __atomic_exchange_n(&d->st->untracked, 0, __ATOMIC_SEQ_CST);
	got.drops = __atomic_exchange_n(&d->st->drops, 0, __ATOMIC_SEQ_CST);
	nranges = (size_t)__atomic_load_n(&d->st->nr_ranges, __ATOMIC_SEQ_CST);
	if (nranges > d->max_ranges)
		nranges = d->max_ranges;
	for (i = 0; i < nranges || i < nr; i++) {
		v = i < nranges ? __atomic_exchange_n(&d->rp[i], 0, __ATOMIC_SEQ_CST) : 0;
		if (i < nr)
			range_pages[i] = v;
	}
	/*
	 * After the counters: a fault between the two lands in the new interval's
	 * counts with the old gen, and its page counts once more at its next fault.
	 * Pages store the low 32 bits of gen, and 0 is a new record's: skip it.
	 */
	gen = __atomic_add_fetch(&d->st->gen, 1, __ATOMIC_SEQ_CST);
	if (!(uint32_t)gen)
		gen = __atomic_add_fetch(&d->st->gen, 1, __ATOMIC_SEQ_CST);
	if (c)
		*c = got;
	pr_debug("pid %d: interval %llu ended: %llu distinct pages, %llu faults, %llu "
		 "untracked, %llu events dropped",
		 (int)d->tgid, (unsigned long long)(gen - 1), (unsigned long long)got.distinct,
		 (unsigned long long)got.faults, (unsigned long long)got.untracked,
		 (unsigned long long)got.drops);
	return 0;
}

int dirty_bpf_drain_events(struct dirty_bpf *d, int (*cb)(const struct dt_vma_event *e, void *arg),
			   void *arg)
{
	int ret;

	if (!cb)
		return -EINVAL;
	d->ev_cb = cb;
	d->ev_arg = arg;
	d->ev_ret = 0;
	ret = ring_buffer__consume(d->rb);
	if (d->ev_ret)
		return d->ev_ret;
	if (ret < 0) {
		pr_errno(ret, "pid %d: reading VMA events from map fd %d", (int)d->tgid,
			 d->map_fd[M_EVENTS]);
		return ret;
	}
	return 0;
}

#define PAGE_BATCH 1024

int dirty_bpf_for_each_page(struct dirty_bpf *d,
			    int (*cb)(uint64_t addr, const struct dt_page *p, void *arg), void *arg)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u64 batch_in = 0, batch_out = 0, *keys = NULL;
	struct dt_page *vals = NULL;
	__u32 i, count, cap = PAGE_BATCH;
	int first = 1, done = 0, ret = 0, err;

	if (!cb)
		return -EINVAL;
	while (!done) {
		if (!keys) {
			keys = calloc(cap, sizeof(*keys));
			vals = calloc(cap, sizeof(*vals));
			if (!keys || !vals) {
				ret = -ENOMEM;
				goto out;
			}
		}
		count = cap;
		err = bpf_map_lookup_batch(d->map_fd[M_PAGES], first ? NULL : &batch_in, &batch_out,
					   keys, vals, &count, &opts);
		if (err) {
			err = -errno;
			if (err == -ENOSPC && !count && cap < (1U << 20)) {
				/* One hash bucket holds more than cap entries. */
				cap *= 4;
				free(keys);
				free(vals);
				keys = NULL;
				vals = NULL;
				continue;
			}
			if (err != -ENOENT) {
				pr_errno(err, "pid %d: batch lookup of the page map (fd %d)",
					 (int)d->tgid, d->map_fd[M_PAGES]);
				ret = err;
				goto out;
			}
			done = 1; /* ENOENT: the last entries came with it */
		}
		for (i = 0; i < count; i++) {
			ret = cb(keys[i] << DT_PAGE_SHIFT, &vals[i], arg);
			if (ret)
				goto out;
		}
		batch_in = batch_out;
		first = 0;
	}
out:
	free(keys);
	free(vals);
	return ret;
}

static int fd_memlock(int fd, uint64_t *bytes)
{
	char path[64], line[256];
	unsigned long long v;
	int err = -EIO;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f) {
		err = -errno;
		pr_perror("open %s", path);
		return err;
	}
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "memlock: %llu", &v) == 1) {
			*bytes = v;
			err = 0;
			break;
		}
	}
	fclose(f);
	if (err)
		pr_err("%s: no memlock line", path);
	return err;
}

int dirty_bpf_mem(struct dirty_bpf *d, uint64_t *bytes)
{
	uint64_t sum = 0, v = 0;
	int i, err;

	for (i = 0; i < M_NR; i++) {
		err = fd_memlock(d->map_fd[i], &v);
		if (err) {
			pr_errno(err, "pid %d: memory of map '%s' (fd %d)", (int)d->tgid,
				 map_pin[i], d->map_fd[i]);
			return err;
		}
		sum += v;
	}
	*bytes = sum;
	return 0;
}
