// SPDX-License-Identifier: MIT OR GPL-2.0-only
/*
 * The smallest programs that show a BPF feature works, for 'ferry check'
 * (user/probe/check_bpf.c). Every program filters on targ_tgid. Only the program a
 * probe tests is autoloaded, so a missing feature fails that probe alone.
 *
 * Page faults and syscall exits come in two flavours each: the classic
 * tracepoint (libbpf reads the event id from tracefs, so tracefs must be
 * mounted) and the BTF-typed raw tracepoint (needs only kernel BTF).
 * exceptions:page_fault_user exists on x86 only.
 */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "probe.h"

const volatile __u32 targ_tgid = 0;

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, PROBE_CNT_NR);
	__type(key, __u32);
	__type(value, __u64);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} events SEC(".maps");

static __always_inline int is_target(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == targ_tgid;
}

static __always_inline void count(__u32 slot)
{
	__u64 *v = bpf_map_lookup_elem(&counters, &slot);

	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline void submit(__u32 type, __u64 addr, __u64 ip, __u64 err)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct probe_event *e;

	e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
	if (!e) {
		count(PROBE_CNT_RB_DROP);
		return;
	}
	e->ts_ns = bpf_ktime_get_ns();
	e->addr = addr;
	e->ip = ip;
	e->err = err;
	e->tgid = id >> 32;
	e->tid = (__u32)id;
	e->type = type;
	e->__pad = 0;
	bpf_ringbuf_submit(e, 0);
}

static __always_inline void on_fault(__u64 addr, __u64 ip, __u64 err)
{
	count(PROBE_CNT_FAULT);
	if (err & PROBE_PF_WRITE)
		count(PROBE_CNT_FAULT_WRITE);
	submit(PROBE_EV_FAULT, addr, ip, err);
}

SEC("tp/exceptions/page_fault_user")
int tp_fault(struct trace_event_raw_exceptions *ctx)
{
	if (is_target())
		on_fault(ctx->address, ctx->ip, ctx->error_code);
	return 0;
}

SEC("tp_btf/page_fault_user")
int BPF_PROG(btf_fault, unsigned long address, struct pt_regs *regs, unsigned long error_code)
{
	if (is_target())
		on_fault(address, regs ? BPF_CORE_READ(regs, ip) : 0, error_code);
	return 0;
}

SEC("tp/syscalls/sys_exit_mmap")
int tp_mmap_exit(struct trace_event_raw_sys_exit *ctx)
{
	if (is_target()) {
		count(PROBE_CNT_MMAP);
		submit(PROBE_EV_MMAP, (__u64)ctx->ret, 0, 0);
	}
	return 0;
}

/* Raw sys_exit sees every syscall: keep mmap by the saved syscall number. */
#if defined(__TARGET_ARCH_arm64)
#define SYSCALL_NR(regs) BPF_CORE_READ(regs, syscallno)
#define NR_MMAP 222
#else
#define SYSCALL_NR(regs) BPF_CORE_READ(regs, orig_ax)
#define NR_MMAP 9
#endif

SEC("tp_btf/sys_exit")
int BPF_PROG(btf_sys_exit, struct pt_regs *regs, long ret)
{
	if (!is_target() || SYSCALL_NR(regs) != NR_MMAP)
		return 0;
	count(PROBE_CNT_MMAP);
	submit(PROBE_EV_MMAP, (__u64)ret, 0, 0);
	return 0;
}

SEC("fentry/vfs_read")
int BPF_PROG(fentry_read, struct file *file)
{
	if (is_target())
		count(PROBE_CNT_FENTRY);
	return 0;
}

SEC("kprobe/vfs_read")
int BPF_KPROBE(kprobe_read)
{
	if (is_target())
		count(PROBE_CNT_KPROBE);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
