/* SPDX-License-Identifier: MIT OR GPL-2.0-only */
/*
 * iter/task_vma, the body both program variants share: one struct vma_rec
 * per VMA of process targ_tgid, written to the iterator's seq_file. User space
 * (user/core/vma_iter.c) restricts the iteration to that process with link_info.task.pid; the tgid
 * filter here keeps the program correct if it is attached without one.
 *
 * What /proc/PID/maps prints, read from the same kernel objects: the fields
 * of vm_area_struct, the backing file's inode and device, heap and stack as
 * show_map_vma() decides them, and the names of special mappings ([vdso],
 * [vvar], [vvar_vclock], [uprobes]).
 */
#ifndef FERRY_VMA_ITER_BPF_H
#define FERRY_VMA_ITER_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "vma_iter.h"

#define MINORBITS 20
#define MINORMASK ((1U << MINORBITS) - 1)
#define PAGE_SHIFT 12

const volatile __u32 targ_tgid = 0;

/* vma_rec is too large for the 512-byte BPF stack: build it here. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct vma_rec);
} scratch SEC(".maps");

static __always_inline void fill_special(struct vma_rec *r, struct vm_area_struct *vma)
{
	const struct vm_operations_struct *ops = vma->vm_ops;
	const struct vm_special_mapping *sm;
	const char *name;

	/*
	 * Among file-less VMAs only special mappings give vm_ops a ->name
	 * (special_mapping_name), and their vm_private_data is the
	 * vm_special_mapping that holds the name /proc/PID/maps prints.
	 */
	if (!ops || !BPF_CORE_READ(ops, name))
		return;
	sm = BPF_CORE_READ(vma, vm_private_data);
	if (!sm)
		return;
	name = BPF_CORE_READ(sm, name);
	if (name && bpf_probe_read_kernel_str(r->name, sizeof(r->name), name) > 0)
		r->kind |= VMA_KIND_SPECIAL;
}

/*
 * @with_path: resolve the file's path here with bpf_d_path(). Without it the
 * record carries the file's identity (dev, ino, pgoff, and the struct file in
 * file_id) and user space reads the path from /proc/PID/map_files/.
 */
static __always_inline int vma_iter_emit(struct bpf_iter__task_vma *ctx, int with_path)
{
	struct vm_area_struct *vma = ctx->vma;
	struct task_struct *task = ctx->task;
	struct seq_file *seq = ctx->meta->seq;
	struct mm_struct *mm;
	struct file *file;
	struct vma_rec *r;
	__u32 zero = 0;
	long len;

	if (!task || !vma)
		return 0;
	if (targ_tgid && task->tgid != targ_tgid)
		return 0;
	r = bpf_map_lookup_elem(&scratch, &zero);
	if (!r)
		return 0;
	__builtin_memset(r, 0, sizeof(*r));

	mm = vma->vm_mm;
	file = vma->vm_file;
	r->start = vma->vm_start;
	r->end = vma->vm_end;
	r->pgoff = vma->vm_pgoff;
	r->vm_flags = vma->vm_flags;
	r->tgid = task->tgid;
	r->tid = task->pid;

	if (file) {
		struct inode *inode = file->f_inode;
		dev_t dev = BPF_CORE_READ(inode, i_sb, s_dev);

		r->kind |= VMA_KIND_FILE;
		r->offset = (__u64)r->pgoff << PAGE_SHIFT;
		r->ino = BPF_CORE_READ(inode, i_ino);
		r->dev_major = dev >> MINORBITS;
		r->dev_minor = dev & MINORMASK;
		/* Two VMAs with the same file_id show the same path. */
		r->file_id = (__u64)(unsigned long)file;
		if (with_path) {
			len = bpf_d_path((struct path *)&file->f_path, r->path, sizeof(r->path));
			if (len < 0) {
				r->path[0] = 0;
				r->kind |= VMA_KIND_PATH_ERR;
			}
		} else {
			r->kind |= VMA_KIND_PATH_USER;
		}
	} else {
		r->kind |= VMA_KIND_ANON;
		if (mm) {
			__u64 start_brk = BPF_CORE_READ(mm, start_brk);
			__u64 brk = BPF_CORE_READ(mm, brk);
			__u64 start_stack = BPF_CORE_READ(mm, start_stack);

			/* vma_is_initial_heap() and vma_is_initial_stack() */
			if (r->start < brk && r->end > start_brk)
				r->kind |= VMA_KIND_HEAP;
			if (r->start <= start_stack && r->end >= start_stack)
				r->kind |= VMA_KIND_STACK;
			if (bpf_core_field_exists(mm->context.vdso) &&
			    (__u64)BPF_CORE_READ(mm, context.vdso) == r->start)
				r->kind |= VMA_KIND_VDSO;
		}
		fill_special(r, vma);
	}

	bpf_seq_write(seq, r, sizeof(*r));
	return 0;
}

#endif
