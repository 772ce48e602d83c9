// SPDX-License-Identifier: MIT OR GPL-2.0-only
/*
 * Dirty-page and VMA-change tracker of one process (target_tgid).
 *
 * page_fault_user and page_fault_kernel: with userfaultfd async
 * write-protection armed on the target's ranges, the first write to each
 * protected page in an interval is a write fault, in user mode, or in kernel
 * mode when the kernel writes there on the target's behalf. Each one is
 * located in the sorted 'ranges' by binary search and recorded in the
 * per-page LRU hash 'pages'; a page counts as distinct for the interval when
 * it was not yet seen with the current generation (state.gen, advanced by
 * user space at each interval end). Writes that take no fault at all (pages
 * pinned with get_user_pages: O_DIRECT reads, process_vm_writev, ptrace
 * pokes) are seen by PAGEMAP_SCAN only.
 *
 * sys_exit: the exits of the syscalls that change the target's VMAs are
 * copied, arguments and result, into the 'events' ring buffer.
 *
 * All are BTF-typed raw tracepoints (tp_btf): they need kernel BTF only,
 * not tracefs. x86_64 only (error_code bits, syscall numbers, pt_regs).
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "dirty_track.h"

const volatile __u32 target_tgid = 0;
const volatile __u32 max_ranges = 1;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dt_state);
} state SEC(".maps");

/* max_entries of the next three maps and of 'events' are set by user space before load. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dt_range);
} ranges SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(map_flags, BPF_F_MMAPABLE);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} range_pages SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1);
	__type(key, __u64);
	__type(value, struct dt_page);
} pages SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

static __always_inline struct dt_state *get_state(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&state, &zero);
}

static __always_inline int is_target(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == target_tgid;
}

/*
 * 32-bit atomic exchange: *p = v, returns the old value. The Makefile builds
 * for the default BPF CPU (v1), where clang 14 refuses 32-bit atomics with a
 * fetch (they need alu32, -mcpu=v3), although every kernel with BPF_ATOMIC
 * (5.12+) runs them. So the instruction is written out:
 * BPF_STX | BPF_ATOMIC | BPF_W (0xc3), dst r2 (address), src r1 (value, gets
 * the old one), off 0, imm BPF_XCHG (0xe1). The verifier checks it as usual.
 */
static __always_inline __u32 xchg32(__u32 *p, __u32 v)
{
	register __u64 val asm("r1") = v;
	register __u32 *addr asm("r2") = p;

	asm volatile(".byte 0xc3, 0x12, 0x00, 0x00, 0xe1, 0x00, 0x00, 0x00"
		     : "+r"(val)
		     : "r"(addr)
		     : "memory");
	return (__u32)val;
}

/*
 * *p = min(*p, v) and *p = max(*p, v), atomically: two threads that fault on
 * the same page at once keep first_ns <= last_ns. The retries are bounded
 * (the verifier wants it); only as many threads as retries faulting on one
 * page at the same instant could leave a value a few nanoseconds off.
 */
static __always_inline void store_min(__u64 *p, __u64 v)
{
	__u64 old;
	int i;

	for (i = 0; i < 4; i++) {
		old = *(volatile __u64 *)p;
		if (old <= v || __sync_val_compare_and_swap(p, old, v) == old)
			return;
	}
}

static __always_inline void store_max(__u64 *p, __u64 v)
{
	__u64 old;
	int i;

	for (i = 0; i < 4; i++) {
		old = *(volatile __u64 *)p;
		if (old >= v || __sync_val_compare_and_swap(p, old, v) == old)
			return;
	}
}

/* Binary search state: lo ends as the number of ranges that start at or below addr. */
struct search {
	__u64 addr;
	__u32 lo, hi;
};

/*
 * One step of the search, run by bpf_loop(): the verifier checks the callback
 * once, where an open-coded loop would make it walk every branch of every
 * step (2^steps paths: "program too large").
 */
static long search_step(__u32 i, void *data)
{
	struct search *sr = data;
	struct dt_range *r;
	__u32 mid;

	if (sr->lo >= sr->hi)
		return 1;
	mid = sr->lo + (sr->hi - sr->lo) / 2;
	r = bpf_map_lookup_elem(&ranges, &mid);
	if (!r)
		return 1;
	if (r->start <= sr->addr)
		sr->lo = mid + 1;
	else
		sr->hi = mid;
	return 0;
}

/* Index of the range holding @addr among the first @nr, or -1. */
static __always_inline int find_range(__u64 addr, __u32 nr)
{
	struct search sr = { .addr = addr, .lo = 0, .hi = nr };
	struct dt_range *r;
	__u32 idx;

	if (!nr)
		return -1;
	bpf_loop(DT_SEARCH_STEPS + 1, search_step, &sr, 0);
	if (!sr.lo)
		return -1;
	idx = sr.lo - 1;
	r = bpf_map_lookup_elem(&ranges, &idx);
	if (!r || addr >= r->end)
		return -1;
	return (int)idx;
}

/* One write fault of the target at @address: count it, record its page. */
static __always_inline void on_write_fault(__u64 address)
{
	struct dt_page fresh = {}, *p;
	struct dt_state *s;
	__u64 key, now, gen, *rp;
	__u32 nr, idx;
	int found;

	s = get_state();
	if (!s)
		return;
	nr = (__u32)s->nr_ranges;
	if (nr > max_ranges)
		nr = max_ranges;
	found = find_range(address, nr);
	if (found < 0) {
		__sync_fetch_and_add(&s->untracked, 1);
		return;
	}
	idx = (__u32)found;
	__sync_fetch_and_add(&s->faults, 1);

	now = bpf_ktime_get_ns();
	key = address >> DT_PAGE_SHIFT;
	p = bpf_map_lookup_elem(&pages, &key);
	if (!p) {
		/* gen 0 never is current: the first fault below counts the page. */
		fresh.first_ns = now;
		bpf_map_update_elem(&pages, &key, &fresh, BPF_NOEXIST);
		p = bpf_map_lookup_elem(&pages, &key);
		if (!p)
			return;
	}
	__sync_fetch_and_add(&p->writes, 1);
	store_min(&p->first_ns, now);
	store_max(&p->last_ns, now);

	/* Two threads faulting on the same page: only one sees the old gen. */
	gen = s->gen;
	if (xchg32(&p->gen, (__u32)gen) != (__u32)gen) {
		__sync_fetch_and_add(&s->distinct, 1);
		rp = bpf_map_lookup_elem(&range_pages, &idx);
		if (rp)
			__sync_fetch_and_add(rp, 1);
	}
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(dt_fault, unsigned long address, struct pt_regs *regs, unsigned long error_code)
{
	if (is_target() && (error_code & DT_PF_WRITE))
		on_write_fault(address);
	return 0;
}

/*
 * The kernel writing into the target's memory from the target's own context
 * (copy_to_user: read(2) into a buffer, the rseq area updated on return to
 * user space, io_uring workers) faults in kernel mode: such a write to a
 * protected page lifts the protection as a user write does, and PAGEMAP_SCAN
 * reports the page. Only faults on user addresses (the lower half) count.
 */
SEC("tp_btf/page_fault_kernel")
int BPF_PROG(dt_kfault, unsigned long address, struct pt_regs *regs, unsigned long error_code)
{
	if (is_target() && (error_code & DT_PF_WRITE) && (long)address >= 0)
		on_write_fault(address);
	return 0;
}

/* thread_info.status bit: a 32-bit (ia32) syscall is running (arch/x86/include/asm/thread_info.h).
 */
#define DT_TS_COMPAT 0x0002

/* ia32 syscalls have their own numbers: 9 there is link(2), not mmap. */
static __always_inline int compat_syscall(void)
{
	struct task_struct *t = bpf_get_current_task_btf();

	return (BPF_CORE_READ(t, thread_info.status) & DT_TS_COMPAT) != 0;
}

static __always_inline int vma_syscall(long nr)
{
	switch (nr) {
	case DT_NR_MMAP:
	case DT_NR_MPROTECT:
	case DT_NR_MUNMAP:
	case DT_NR_BRK:
	case DT_NR_MREMAP:
	case DT_NR_MADVISE:
	case DT_NR_SHMAT:
	case DT_NR_SHMDT:
		return 1;
	}
	return 0;
}

SEC("tp_btf/sys_exit")
int BPF_PROG(dt_sys_exit, struct pt_regs *regs, long ret)
{
	struct dt_vma_event *e;
	struct dt_state *s;
	long nr;

	if (!is_target())
		return 0;
	nr = BPF_CORE_READ(regs, orig_ax);
	if (!vma_syscall(nr) || compat_syscall())
		return 0;
	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		s = get_state();
		if (s)
			__sync_fetch_and_add(&s->drops, 1);
		return 0;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->nr = (__u32)nr;
	e->tid = (__u32)bpf_get_current_pid_tgid();
	e->args[0] = BPF_CORE_READ(regs, di);
	e->args[1] = BPF_CORE_READ(regs, si);
	e->args[2] = BPF_CORE_READ(regs, dx);
	e->args[3] = BPF_CORE_READ(regs, r10);
	e->args[4] = BPF_CORE_READ(regs, r8);
	e->ret = ret;
	bpf_ringbuf_submit(e, 0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
