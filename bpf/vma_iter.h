/* SPDX-License-Identifier: MIT */
/*
 * One VMA as the iter/task_vma program emits it (bpf/vma_iter.bpf.c), read by
 * user/core/vma_iter.c. Shared by both sides: fixed-width types only, explicit
 * padding, layout pinned by _Static_assert. The includer provides __u32/__u64
 * (vmlinux.h on the BPF side, <linux/types.h> in user space).
 */
#ifndef FERRY_BPF_VMA_ITER_H
#define FERRY_BPF_VMA_ITER_H

#define VMA_REC_PATH_MAX 256
#define VMA_REC_NAME_MAX 32

/* vma_rec.kind: what the VMA is, as /proc/PID/maps would name it. */
#define VMA_KIND_ANON (1U << 0)	     /* no backing file */
#define VMA_KIND_HEAP (1U << 1)	     /* overlaps [mm->start_brk, mm->brk]: "[heap]" */
#define VMA_KIND_STACK (1U << 2)     /* contains mm->start_stack: "[stack]" */
#define VMA_KIND_VDSO (1U << 3)	     /* starts at mm->context.vdso: "[vdso]" */
#define VMA_KIND_SPECIAL (1U << 4)   /* a special mapping; its name is in vma_rec.name */
#define VMA_KIND_FILE (1U << 5)	     /* file backed; path in vma_rec.path */
#define VMA_KIND_PATH_ERR (1U << 6)  /* bpf_d_path failed: path is empty */
#define VMA_KIND_PATH_USER (1U << 7) /* path left to user space (vma_iter_ident) */

/* vma_rec.vm_flags: the kernel's VM_* bits (include/linux/mm.h), stable for decades. */
#define VMA_VM_READ 0x00000001ULL
#define VMA_VM_WRITE 0x00000002ULL
#define VMA_VM_EXEC 0x00000004ULL
#define VMA_VM_SHARED 0x00000008ULL
#define VMA_VM_MAYSHARE 0x00000080ULL
#define VMA_VM_GROWSDOWN 0x00000100ULL
#define VMA_VM_UFFD_MISSING 0x00000200ULL
#define VMA_VM_PFNMAP 0x00000400ULL
#define VMA_VM_UFFD_WP 0x00001000ULL
#define VMA_VM_LOCKED 0x00002000ULL
#define VMA_VM_IO 0x00004000ULL
#define VMA_VM_DONTCOPY 0x00020000ULL
#define VMA_VM_DONTEXPAND 0x00040000ULL
#define VMA_VM_ACCOUNT 0x00100000ULL
#define VMA_VM_NORESERVE 0x00200000ULL
#define VMA_VM_HUGETLB 0x00400000ULL
#define VMA_VM_WIPEONFORK 0x02000000ULL
#define VMA_VM_DONTDUMP 0x04000000ULL
#define VMA_VM_MIXEDMAP 0x10000000ULL
#define VMA_VM_HUGEPAGE 0x20000000ULL
#define VMA_VM_NOHUGEPAGE 0x40000000ULL
#define VMA_VM_MERGEABLE 0x80000000ULL

struct vma_rec {
	__u64 start;	 /* vm_start */
	__u64 end;	 /* vm_end, exclusive */
	__u64 pgoff;	 /* vm_pgoff, in pages; anon: start >> PAGE_SHIFT when first mapped */
	__u64 offset;	 /* file offset in bytes as /proc/PID/maps shows it (0 if anon) */
	__u64 vm_flags;	 /* VM_* */
	__u64 ino;	 /* inode number of the backing file, 0 if anon */
	__u32 dev_major; /* device of the backing file's superblock, as in maps */
	__u32 dev_minor;
	__u32 kind; /* VMA_KIND_* */
	__u32 tgid; /* the process the VMA belongs to */
	__u32 tid;  /* the task the iterator visited (the leader, unless it exited) */
	__u32 __pad;
	__u64 file_id; /* the struct file mapped (0 if anon): same file_id, same path */
	char name[VMA_REC_NAME_MAX]; /* special mapping name ("[vvar]"), NUL terminated */
	char path[VMA_REC_PATH_MAX]; /* d_path of the backing file, NUL terminated */
};

_Static_assert(sizeof(struct vma_rec) == 368, "vma_rec ABI");

#endif /* FERRY_BPF_VMA_ITER_H */
