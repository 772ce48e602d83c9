// SPDX-License-Identifier: MIT OR GPL-2.0-only
/*
 * The task_vma iterator that reports each mapped file by identity (dev, ino,
 * pgoff, file_id) and leaves its path to user space (/proc/PID/map_files/).
 * It calls no helper that takes a path, so it loads where vma_iter_path is
 * refused.
 */
#include "vma_iter.bpf.h"

SEC("iter/task_vma")
int vma_iter(struct bpf_iter__task_vma *ctx)
{
	return vma_iter_emit(ctx, 0);
}

/* GPL-only helpers (bpf_probe_read_kernel_str) need a GPL-compatible license. */
char LICENSE[] SEC("license") = "GPL";
