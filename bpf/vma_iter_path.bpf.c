// SPDX-License-Identifier: MIT OR GPL-2.0-only
/*
 * The task_vma iterator that names each mapped file itself, with bpf_d_path().
 * Since 2026-12 the verifier of 6.18.44 refuses bpf_d_path() on a VMA's file
 * ("R1 type=untrusted_ptr_"); user/core/vma_iter.c then loads vma_iter_ident.
 */
#include "vma_iter.bpf.h"

SEC("iter/task_vma")
int vma_iter(struct bpf_iter__task_vma *ctx)
{
	return vma_iter_emit(ctx, 1);
}

/* GPL-only helpers (bpf_d_path, bpf_probe_read_kernel_str) need a GPL-compatible license. */
char LICENSE[] SEC("license") = "GPL";
