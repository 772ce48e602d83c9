/* SPDX-License-Identifier: MIT */
/*
 * uapi constants and structs newer than the build machine's kernel headers.
 *
 * Debian 12 ships 6.1 uapi headers; ferry runs on 6.7+ kernels and needs
 * PAGEMAP_SCAN and async userfaultfd write-protection (both 6.7). Each item
 * is guarded with #ifndef so newer headers win, and the values are copied
 * from the kernel's include/uapi (noted per block). Include this header
 * after <linux/fs.h> and <linux/userfaultfd.h> when a file uses those too:
 * it pulls in only <linux/types.h>, <linux/ioctl.h> and <linux/userfaultfd.h>
 * (not <linux/fs.h>, which clashes with glibc's <sys/mount.h> on some
 * glibc versions).
 *
 * Whether the running kernel has a feature is a run-time question: see
 * user/probe/check*.c, which probe each one.
 */
#ifndef FERRY_COMPAT_H
#define FERRY_COMPAT_H

#include <linux/types.h>
#include <linux/ioctl.h>
#include <linux/userfaultfd.h>

/* ---- include/uapi/linux/fs.h: PAGEMAP_SCAN (6.7) -------------------------------------------- */

#ifndef PAGEMAP_SCAN
/* Bitmasks provided in pm_scan_arg masks and reported in page_region.categories. */
#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN (1 << 1)
#define PAGE_IS_FILE (1 << 2)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#define PAGE_IS_PFNZERO (1 << 5)
#define PAGE_IS_HUGE (1 << 6)
#define PAGE_IS_SOFT_DIRTY (1 << 7)

/* One output region: [start, end) with the PAGE_IS_* categories of return_mask. */
struct page_region {
	__u64 start;
	__u64 end; /* exclusive */
	__u64 categories;
};

/* Flags for the PAGEMAP_SCAN ioctl. */
#define PM_SCAN_WP_MATCHING (1 << 0)   /* write-protect the pages matched */
#define PM_SCAN_CHECK_WPASYNC (1 << 1) /* abort on a page without async uffd-wp */

struct pm_scan_arg {
	__u64 size; /* sizeof(struct pm_scan_arg) */
	__u64 flags;
	__u64 start;
	__u64 end;
	__u64 walk_end; /* where the walk stopped (written by the kernel) */
	__u64 vec;	/* struct page_region array */
	__u64 vec_len;
	__u64 max_pages; /* 0: no limit */
	__u64 category_inverted;
	__u64 category_mask;
	__u64 category_anyof_mask;
	__u64 return_mask;
};

#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#endif /* PAGEMAP_SCAN */

/* PROCMAP_QUERY (6.11+): one VMA of /proc/PID/maps by address, with ioctl(2). */
#ifndef PROCMAP_QUERY
#define PROCMAP_QUERY_VMA_READABLE 0x01
#define PROCMAP_QUERY_VMA_WRITABLE 0x02
#define PROCMAP_QUERY_VMA_EXECUTABLE 0x04
#define PROCMAP_QUERY_VMA_SHARED 0x08
#define PROCMAP_QUERY_COVERING_OR_NEXT_VMA 0x10
#define PROCMAP_QUERY_FILE_BACKED_VMA 0x20

struct procmap_query {
	__u64 size; /* sizeof(struct procmap_query) */
	__u64 query_flags;
	__u64 query_addr;
	__u64 vma_start; /* out */
	__u64 vma_end;
	__u64 vma_flags;
	__u64 vma_page_size;
	__u64 vma_offset;
	__u64 inode;
	__u32 dev_major;
	__u32 dev_minor;
	__u32 vma_name_size; /* in: buffer size; out: name length + 1, 0 if none */
	__u32 build_id_size;
	__u64 vma_name_addr;
	__u64 build_id_addr;
};

#define PROCMAP_QUERY _IOWR('f', 17, struct procmap_query)
#endif

/* 6.14: guard regions (MADV_GUARD_INSTALL) are reported as their own category. */
#ifndef PAGE_IS_GUARD
#define PAGE_IS_GUARD (1 << 8)
#endif

/*
 * /proc/PID/pagemap entry bits (Documentation/admin-guide/mm/pagemap.rst):
 * a documented ABI that no uapi header carries.
 */
#define PAGEMAP_ENTRY_PFN_MASK ((1ULL << 55) - 1)
#define PAGEMAP_ENTRY_SWAP_TYPE 0x1fULL /* a swap entry's type, when PFNs are shown */
#define PAGEMAP_ENTRY_SOFT_DIRTY (1ULL << 55)
#define PAGEMAP_ENTRY_EXCLUSIVE (1ULL << 56)
#define PAGEMAP_ENTRY_UFFD_WP (1ULL << 57)
#define PAGEMAP_ENTRY_GUARD (1ULL << 58) /* a guard region (MADV_GUARD_INSTALL, 6.14+) */
#define PAGEMAP_ENTRY_FILE (1ULL << 61)
#define PAGEMAP_ENTRY_SWAP (1ULL << 62)
#define PAGEMAP_ENTRY_PRESENT (1ULL << 63)

/* ---- include/uapi/linux/userfaultfd.h ------------------------------------------------------- */

#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif

#ifndef USERFAULTFD_IOC_NEW /* /dev/userfaultfd, 6.1 */
#define USERFAULTFD_IOC 0xAA
#define USERFAULTFD_IOC_NEW _IO(USERFAULTFD_IOC, 0x00)
#endif

#ifndef UFFD_FEATURE_WP_HUGETLBFS_SHMEM
#define UFFD_FEATURE_WP_HUGETLBFS_SHMEM (1 << 12)
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED /* 6.4: WP applies to empty ptes of anon memory */
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_POISON /* 6.6 */
#define UFFD_FEATURE_POISON (1 << 14)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC /* 6.7: the kernel resolves WP faults itself */
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef UFFD_FEATURE_MOVE /* 6.8 */
#define UFFD_FEATURE_MOVE (1 << 16)
#endif

#ifndef UFFDIO_CONTINUE_MODE_WP /* 6.2 */
#define UFFDIO_CONTINUE_MODE_WP ((__u64)1 << 1)
#endif

#ifndef UFFDIO_POISON /* 6.6 */
#define _UFFDIO_POISON (0x08)
struct uffdio_poison {
	struct uffdio_range range;
#define UFFDIO_POISON_MODE_DONTWAKE ((__u64)1 << 0)
	__u64 mode;
	__s64 updated; /* written by the ioctl */
};
#define UFFDIO_POISON _IOWR(UFFDIO, _UFFDIO_POISON, struct uffdio_poison)
#endif

#ifndef UFFDIO_MOVE /* 6.8 */
#define _UFFDIO_MOVE (0x05)
struct uffdio_move {
	__u64 dst;
	__u64 src;
	__u64 len;
#define UFFDIO_MOVE_MODE_DONTWAKE ((__u64)1 << 0)
#define UFFDIO_MOVE_MODE_ALLOW_SRC_HOLES ((__u64)1 << 1)
	__u64 mode;
	__s64 move; /* written by the ioctl */
};
#define UFFDIO_MOVE _IOWR(UFFDIO, _UFFDIO_MOVE, struct uffdio_move)
#endif

/* ---- include/uapi/linux/memfd.h, prctl.h, mman-common.h ------------------------------------- */

#ifndef MFD_NOEXEC_SEAL /* 6.3 */
#define MFD_NOEXEC_SEAL 0x0008U
#endif
#ifndef MFD_EXEC
#define MFD_EXEC 0x0010U
#endif

#ifndef PR_SET_MDWE /* 6.3: memory-deny-write-execute, restored per process */
#define PR_SET_MDWE 65
#define PR_GET_MDWE 66
#endif
#ifndef PR_MDWE_REFUSE_EXEC_GAIN
#define PR_MDWE_REFUSE_EXEC_GAIN (1UL << 0)
#endif
#ifndef PR_MDWE_NO_INHERIT
#define PR_MDWE_NO_INHERIT (1UL << 1)
#endif
#ifndef PR_SET_MEMORY_MERGE /* 6.4: per-process KSM */
#define PR_SET_MEMORY_MERGE 67
#define PR_GET_MEMORY_MERGE 68
#endif

/*
 * 6.3: membarrier(MEMBARRIER_CMD_GET_REGISTRATIONS) returns the REGISTER_*
 * commands a process issued. An enum in <linux/membarrier.h>: its own name here.
 */
#define FERRY_MEMBARRIER_CMD_GET_REGISTRATIONS (1 << 9)

#ifndef MAP_DROPPABLE /* 6.11: pages the kernel may free under pressure (read back as zeros) */
#define MAP_DROPPABLE 0x08
#endif

#ifndef MADV_GUARD_INSTALL /* 6.13: guard regions live in page tables, not in VMAs */
#define MADV_GUARD_INSTALL 102
#define MADV_GUARD_REMOVE 103
#endif

/* ---- arch/x86/include/uapi/asm/prctl.h: user shadow stacks (6.6) ---------------------------- */

#if defined(__x86_64__)
#ifndef ARCH_SHSTK_ENABLE
#define ARCH_SHSTK_ENABLE 0x5001
#define ARCH_SHSTK_DISABLE 0x5002
#define ARCH_SHSTK_LOCK 0x5003
#define ARCH_SHSTK_UNLOCK 0x5004
#define ARCH_SHSTK_STATUS 0x5005
#define ARCH_SHSTK_SHSTK (1ULL << 0)
#define ARCH_SHSTK_WRSS (1ULL << 1)
#endif
#endif

/* ---- syscall numbers (asm-generic/unistd.h; x86_64 uses the same numbers here) -------------- */

#ifndef __NR_pidfd_open
#define __NR_pidfd_open 434
#endif
#ifndef __NR_clone3
#define __NR_clone3 435
#endif
#ifndef __NR_pidfd_getfd
#define __NR_pidfd_getfd 438
#endif
#ifndef __NR_process_madvise
#define __NR_process_madvise 440
#endif
#ifndef __NR_process_mrelease
#define __NR_process_mrelease 448
#endif
#ifndef __NR_map_shadow_stack
#define __NR_map_shadow_stack 453
#endif
#ifndef __NR_mseal
#define __NR_mseal 462
#endif

/* struct clone_args with set_tid (5.5) and cgroup (5.7) is in 6.1's <linux/sched.h>. */
#ifndef CLONE_ARGS_SIZE_VER2
#define CLONE_ARGS_SIZE_VER2 88
#endif

#endif /* FERRY_COMPAT_H */
