// SPDX-License-Identifier: MIT
/*
 * ferry check, the BPF group: kernel BTF, then one program of
 * bpf/probe.bpf.c at a time loaded, attached and seen to count (page faults,
 * mmap exits, ring buffer events, fentry and kprobe), and the iter/task_vma
 * iterator of vma_iter.c. The table and the shared helpers are in check.c /
 * check_priv.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <linux/types.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "bpflog.h"
#include "check_priv.h"
#include "vma_iter.h"

#include "bpf/probe.h"
#include "probe.skel.h"

/* snprintf without compile-time truncation warnings: details are cut short on purpose. */
static void __attribute__((format(printf, 3, 4)))
bufprintf(char *buf, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, len, fmt, ap);
	va_end(ap);
}

/* ---- BPF --------------------------------------------------------------------------------------
 */

int check_probe_kernel_btf(struct check_result *r)
{
	struct stat st;

	if (stat("/sys/kernel/btf/vmlinux", &st))
		return fail(r, -errno, "/sys/kernel/btf/vmlinux (CONFIG_DEBUG_INFO_BTF off?)");
	note(r, "/sys/kernel/btf/vmlinux, %lld KiB: CO-RE relocations and BTF tracepoints",
	     (long long)st.st_size / 1024);
	return 0;
}

static int tracefs_mounted(void)
{
	return !access("/sys/kernel/tracing/events", F_OK) ||
	       !access("/sys/kernel/debug/tracing/events", F_OK);
}

/* One program of bpf/probe.bpf.c, loaded alone and attached. */
struct bpf_sess {
	struct probe_bpf *skel;
	struct bpf_link *link;
	const char *prog;
};

/* Append a hint to the detail when an error means missing privileges. */
static void bpf_hint(struct check_result *r, int err)
{
	size_t used = strlen(r->detail);

	if ((err == -EPERM || err == -EACCES) && geteuid())
		bufprintf(r->detail + used, sizeof(r->detail) - used,
			  " (needs root: CAP_BPF + CAP_PERFMON)");
}

static int bpf_sess_start(struct check_result *r, struct bpf_sess *s, const char *prog_name)
{
	struct bpf_program *prog = NULL, *p;
	int err;

	bpflog_init();
	s->prog = prog_name;
	s->link = NULL;
	s->skel = probe_bpf__open();
	if (!s->skel)
		return fail(r, -errno, "opening the probe BPF object");
	s->skel->rodata->targ_tgid = (__u32)getpid();
	bpf_object__for_each_program(p, s->skel->obj)
	{
		int on = !strcmp(bpf_program__name(p), prog_name);

		bpf_program__set_autoload(p, on);
		if (on)
			prog = p;
	}
	if (!prog) {
		err = fail(r, -ENOENT, "no BPF program %s", prog_name);
		goto destroy;
	}
	err = probe_bpf__load(s->skel);
	if (err) {
		fail(r, err, "loading %s (%s)", prog_name, bpf_program__section_name(prog));
		bpf_hint(r, err);
		goto destroy;
	}
	s->link = bpf_program__attach(prog);
	if (!s->link) {
		err = -errno;
		fail(r, err, "attaching %s (%s)", prog_name, bpf_program__section_name(prog));
		bpf_hint(r, err);
		goto destroy;
	}
	return 0;
destroy:
	probe_bpf__destroy(s->skel);
	s->skel = NULL;
	return err;
}

static void bpf_sess_stop(struct bpf_sess *s)
{
	bpf_link__destroy(s->link);
	probe_bpf__destroy(s->skel);
}

static __u64 bpf_counter(struct bpf_sess *s, __u32 slot)
{
	__u64 v = 0;

	bpf_map__lookup_elem(s->skel->maps.counters, &slot, sizeof(slot), &v, sizeof(v), 0);
	return v;
}

/*
 * Start a classic tracepoint program, or its BTF (raw) twin when the classic
 * one cannot attach; @why gets the classic one's failure.
 */
static int bpf_tp_start(struct check_result *r, struct bpf_sess *s, const char *classic,
			const char *btf, char *why, size_t why_len)
{
	char first[CHECK_DETAIL_MAX];
	int err, classic_err;

	why[0] = '\0';
	classic_err = bpf_sess_start(r, s, classic);
	if (!classic_err)
		return 0;
	if (!tracefs_mounted())
		bufprintf(first, sizeof(first), "tracefs is not mounted at /sys/kernel/tracing");
	else
		bufprintf(first, sizeof(first), "%s", r->detail);
	err = bpf_sess_start(r, s, btf);
	if (err) {
		char second[CHECK_DETAIL_MAX];

		/* Refused privileges fail both alike: say it once. */
		if (err == classic_err && (err == -EPERM || err == -EACCES))
			return err;
		bufprintf(second, sizeof(second), "%s", r->detail);
		note(r, "%s; %s", first, second);
		return err;
	}
	bufprintf(why, why_len, "%s", first);
	return 0;
}

/* Which program did the work, and why not the classic tracepoint. Truncates. */
static void via_note(char *buf, size_t len, const struct bpf_sess *s, const char *why)
{
	if (why[0])
		bufprintf(buf, len, "%s (classic tp: %s)", s->prog, why);
	else
		bufprintf(buf, len, "%s", s->prog);
}

static int fault_pages(size_t n, unsigned char **out)
{
	unsigned char *mem = map_pages(n);
	size_t i;

	if (!mem)
		return -errno;
	for (i = 0; i < n; i++)
		mem[i * page_size()] = 1;
	*out = mem;
	return 0;
}

int check_probe_bpf_tp_fault(struct check_result *r)
{
	const size_t n = 16;
	struct bpf_sess s;
	unsigned char *mem = NULL;
	char why[CHECK_DETAIL_MAX], via[CHECK_DETAIL_MAX];
	__u64 writes, all;
	int err;

	err = bpf_tp_start(r, &s, "tp_fault", "btf_fault", why, sizeof(why));
	if (err)
		return err;
	err = fault_pages(n, &mem);
	if (err) {
		fail(r, err, "mmap of %zu test pages", n);
		goto stop;
	}
	munmap(mem, n * page_size());
	writes = bpf_counter(&s, PROBE_CNT_FAULT_WRITE);
	all = bpf_counter(&s, PROBE_CNT_FAULT);
	via_note(via, sizeof(via), &s, why);
	if (writes < n) {
		note(r,
		     "exceptions:page_fault_user via %s: %llu write faults seen for %zu first "
		     "writes",
		     via, (unsigned long long)writes, n);
		err = -EIO;
		goto stop;
	}
	note(r, "exceptions:page_fault_user via %s: %llu faults, %llu writes for %zu first writes",
	     via, (unsigned long long)all, (unsigned long long)writes, n);
stop:
	bpf_sess_stop(&s);
	return err;
}

struct rb_want {
	__u32 type;
	__u64 lo, hi; /* addr in [lo, hi) */
	size_t events;
	int found;
	__u64 err;
};

static int rb_event(void *ctx, void *data, size_t len)
{
	const struct probe_event *e = data;
	struct rb_want *w = ctx;

	if (len < sizeof(*e))
		return 0;
	w->events++;
	if (e->type == w->type && e->addr >= w->lo && e->addr < w->hi && !w->found) {
		w->found = 1;
		w->err = e->err;
	}
	return 0;
}

/* Poll @s's ring buffer until @w is found or EVENT_TIMEOUT_MS pass. */
static int rb_wait(struct ring_buffer *rb, struct rb_want *w)
{
	long long end = now_ms() + EVENT_TIMEOUT_MS;
	int ret;

	while (!w->found && now_ms() < end) {
		ret = ring_buffer__poll(rb, 100);
		if (ret < 0 && ret != -EINTR)
			return ret;
	}
	return w->found ? 0 : -ETIMEDOUT;
}

int check_probe_bpf_ringbuf(struct check_result *r)
{
	struct rb_want w = { .type = PROBE_EV_FAULT };
	struct ring_buffer *rb;
	struct bpf_sess s;
	unsigned char *mem;
	char why[CHECK_DETAIL_MAX];
	size_t ps = page_size();
	int err;

	err = bpf_tp_start(r, &s, "tp_fault", "btf_fault", why, sizeof(why));
	if (err)
		return err;
	rb = ring_buffer__new(bpf_map__fd(s.skel->maps.events), rb_event, &w, NULL);
	if (!rb) {
		err = fail(r, -errno, "ring_buffer__new on map fd %d",
			   bpf_map__fd(s.skel->maps.events));
		goto stop;
	}
	mem = map_pages(4);
	if (!mem) {
		err = fail(r, -errno, "mmap of 4 test pages");
		goto free_rb;
	}
	mem[2 * ps] = 1;
	w.lo = (uintptr_t)mem + 2 * ps;
	w.hi = w.lo + ps;
	err = rb_wait(rb, &w);
	munmap(mem, 4 * ps);
	if (err) {
		fail(r, err,
		     "waiting for the fault at 0x%llx in the ring buffer (%zu other events)",
		     (unsigned long long)w.lo, w.events);
		goto free_rb;
	}
	note(r,
	     "the write fault at 0x%llx (error_code 0x%llx) arrived through "
	     "BPF_MAP_TYPE_RINGBUF (events read: %zu)",
	     (unsigned long long)w.lo, (unsigned long long)w.err, w.events);
free_rb:
	ring_buffer__free(rb);
stop:
	bpf_sess_stop(&s);
	return err;
}

int check_probe_bpf_tp_mmap(struct check_result *r)
{
	struct rb_want w = { .type = PROBE_EV_MMAP };
	struct ring_buffer *rb;
	struct bpf_sess s;
	char why[CHECK_DETAIL_MAX], via[CHECK_DETAIL_MAX];
	size_t ps = page_size();
	void *p;
	int err;

	err = bpf_tp_start(r, &s, "tp_mmap_exit", "btf_sys_exit", why, sizeof(why));
	if (err)
		return err;
	rb = ring_buffer__new(bpf_map__fd(s.skel->maps.events), rb_event, &w, NULL);
	if (!rb) {
		err = fail(r, -errno, "ring_buffer__new on map fd %d",
			   bpf_map__fd(s.skel->maps.events));
		goto stop;
	}
	p = mmap(NULL, 3 * ps, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		err = fail(r, -errno, "mmap of 3 test pages");
		goto free_rb;
	}
	munmap(p, 3 * ps);
	w.lo = (uintptr_t)p;
	w.hi = w.lo + 1;
	err = rb_wait(rb, &w);
	via_note(via, sizeof(via), &s, why);
	if (err) {
		fail(r, err,
		     "syscalls:sys_exit_mmap via %s: no event for the mmap that returned %p "
		     "(%llu mmap exits counted)",
		     via, p, (unsigned long long)bpf_counter(&s, PROBE_CNT_MMAP));
		goto free_rb;
	}
	note(r, "syscalls:sys_exit_mmap via %s: reported the address mmap returned (%p)", via, p);
free_rb:
	ring_buffer__free(rb);
stop:
	bpf_sess_stop(&s);
	return err;
}

/* fentry and kprobe: informational, ferry does not depend on them. */
static int probe_bpf_vfs_read(struct check_result *r, const char *prog, __u32 slot)
{
	struct bpf_sess s;
	char buf[64];
	int fd, err;

	err = bpf_sess_start(r, &s, prog);
	if (err) {
		size_t used = strlen(r->detail);

		if (slot == PROBE_CNT_FENTRY && err == -EPERM && !geteuid())
			bufprintf(r->detail + used, sizeof(r->detail) - used,
				  " (this kernel refuses fentry/fexit programs, even to root)");
		else if (slot == PROBE_CNT_KPROBE && err == -ENOENT &&
			 access("/sys/bus/event_source/devices/kprobe", F_OK))
			bufprintf(r->detail + used, sizeof(r->detail) - used,
				  " (no kprobe PMU in /sys/bus/event_source/devices%s)",
				  tracefs_mounted() ? "" : " and no tracefs for kprobe_events");
		return err;
	}
	fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = fail(r, -errno, "open /proc/self/stat");
		goto stop;
	}
	if (read(fd, buf, sizeof(buf)) < 0)
		err = fail(r, -errno, "read /proc/self/stat");
	close(fd);
	if (err)
		goto stop;
	if (!bpf_counter(&s, slot)) {
		note(r, "%s attached but saw no call of vfs_read", prog);
		err = -EIO;
		goto stop;
	}
	note(r, "%s on vfs_read: %llu calls seen", prog, (unsigned long long)bpf_counter(&s, slot));
stop:
	bpf_sess_stop(&s);
	return err;
}

int check_probe_bpf_fentry(struct check_result *r)
{
	return probe_bpf_vfs_read(r, "fentry_read", PROBE_CNT_FENTRY);
}

int check_probe_bpf_kprobe(struct check_result *r)
{
	return probe_bpf_vfs_read(r, "kprobe_read", PROBE_CNT_KPROBE);
}

/*
 * One iterator read of our own VMAs: finds the r-- middle page of @mem and
 * checks that file mappings carry the path /proc/self/maps gives. Returns 0
 * or -errno with @r's detail saying what was wrong.
 */
static int iter_vma_read_self(struct check_result *r, unsigned char *mem, size_t *nr, size_t *files)
{
	size_t ps = page_size(), n = 0, i;
	struct vma_rec *v = NULL;
	int err, found = 0, stack = 0;
	char link[96], want[VMA_REC_PATH_MAX];

	err = vma_iter_read(getpid(), &v, &n);
	if (err)
		return fail(r, err, "iter/task_vma on pid %d", (int)getpid());
	*files = 0;
	for (i = 0; i < n; i++) {
		if (v[i].start == (uintptr_t)mem + ps && v[i].end == (uintptr_t)mem + 2 * ps &&
		    (v[i].vm_flags & VMA_VM_READ) && !(v[i].vm_flags & VMA_VM_WRITE))
			found = 1;
		if (v[i].kind & VMA_KIND_STACK)
			stack = 1;
		if (!(v[i].kind & VMA_KIND_FILE) || v[i].path[0] != '/')
			continue;
		(*files)++;
		bufprintf(link, sizeof(link), "/proc/self/map_files/%llx-%llx",
			  (unsigned long long)v[i].start, (unsigned long long)v[i].end);
		err = (int)readlink(link, want, sizeof(want) - 1);
		if (err > 0) {
			want[err] = 0;
			if (strcmp(want, v[i].path)) {
				note(r, "iter/task_vma names %llx-%llx '%s', the kernel says '%s'",
				     (unsigned long long)v[i].start, (unsigned long long)v[i].end,
				     v[i].path, want);
				err = -EIO;
				goto out;
			}
		}
	}
	err = 0;
	if (!found) {
		note(r, "iter/task_vma: %zu VMAs of pid %d, none is the test mapping %p-%p r--", n,
		     (int)getpid(), (void *)(mem + ps), (void *)(mem + 2 * ps));
		err = -EIO;
	} else if (!stack || !*files) {
		note(r, "iter/task_vma: %zu VMAs of pid %d, %s, %zu file mappings with paths", n,
		     (int)getpid(), stack ? "[stack]" : "no [stack]", *files);
		err = -EIO;
	}
	*nr = n;
out:
	free(v);
	return err;
}

/*
 * Each variant of the iterator in turn (vma_iter.c): the first that loads and
 * reads our own VMAs right is the one ferry uses. Not required: without any,
 * VMAs are read from /proc/PID/smaps.
 */
int check_probe_bpf_iter_vma(struct check_result *r)
{
	static const char *const names[] = { "path", "ident" };
	char refused[256] = "";
	size_t n = 0, files = 0, i, off = 0;
	unsigned char *mem;
	int err = -ENOENT, was_loaded;

	/* Three VMAs: rw- r-- rw-. The middle one is the one to find. */
	mem = map_pages(3);
	if (!mem)
		return fail(r, -errno, "mmap of 3 test pages");
	if (mprotect(mem + page_size(), page_size(), PROT_READ)) {
		err = fail(r, -errno, "mprotect of %p", (void *)(mem + page_size()));
		goto unmap;
	}
	was_loaded = vma_iter_loaded();
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		/* A program loaded before the probe is the one in use: test just it. */
		if (was_loaded && strcmp(vma_iter_variant(), names[i]))
			continue;
		err = vma_iter_preload_variant(names[i]);
		if (!err)
			err = iter_vma_read_self(r, mem, &n, &files);
		else
			fail(r, err, "loading");
		if (!err)
			break;
		if (off < sizeof(refused))
			off += (size_t)snprintf(refused + off, sizeof(refused) - off,
						"; variant %s refused (%s)", names[i], r->detail);
		if (!was_loaded)
			vma_iter_unload();
	}
	if (err) {
		note(r, "no variant works%s: VMAs are read from /proc/PID/smaps", refused);
		bpf_hint(r, err);
		goto unmap;
	}
	note(r,
	     "variant %s in use: %zu VMAs of pid %d, the test mapping found, %zu file paths "
	     "as the kernel names them%s",
	     vma_iter_variant_program(), n, (int)getpid(), files, refused);
	if (!was_loaded)
		vma_iter_unload(); /* a probe leaves nothing loaded behind */
unmap:
	munmap(mem, 3 * page_size());
	return err;
}
