/* SPDX-License-Identifier: MIT */
/*
 * The address space of a frozen process: mm-PID.img (mm fields, auxv, the
 * exe file and every VMA) and its memory, pagemap-PID.img + pages-ID.img.
 */
#ifndef FERRY_DUMP_MM_H
#define FERRY_DUMP_MM_H

#include <stdint.h>
#include <sys/types.h>

#include "page_writer.h"

struct files_dump;

/* CRIU's vma_entry.status bits (image ABI). */
#define VMA_AREA_REGULAR (1u << 0)
#define VMA_AREA_STACK (1u << 1)
#define VMA_AREA_VSYSCALL (1u << 2)
#define VMA_AREA_VDSO (1u << 3)
#define VMA_AREA_HEAP (1u << 5)
#define VMA_FILE_PRIVATE (1u << 6)
#define VMA_FILE_SHARED (1u << 7)
#define VMA_ANON_SHARED (1u << 8)
#define VMA_ANON_PRIVATE (1u << 9)
#define VMA_AREA_SYSVIPC (1u << 10)
#define VMA_AREA_SOCKET (1u << 11)
#define VMA_AREA_VVAR (1u << 12)
#define VMA_AREA_AIORING (1u << 13)
#define VMA_AREA_MEMFD (1u << 14)

struct dump_mm_stats {
	uint64_t pages_scanned;	 /* pages of the VMAs whose memory is dumped */
	uint64_t vmas, vmas_bpf; /* VMAs, and 1 if they came from the BPF iterator */
	uint64_t scan_ns;	 /* PAGEMAP_SCAN time */
	struct page_writer_stats pw;
};

/*
 * dump_mm_proc - write mm-<pid>.img, pagemap-<pid>.img and pages-<pages_id>.img
 * for the frozen process @pid. File-backed VMAs and the exe file get
 * reg_file_entry ids through @files. Refuses VMAs the restore cannot rebuild
 * (shared anonymous or SysV memory, device and hugetlb mappings, unknown
 * special mappings) with a message naming the pid and the address range.
 * Returns 0 or -errno; *st is filled either way.
 */
int dump_mm_proc(pid_t pid, uint32_t pages_id, struct files_dump *files, int dirfd,
		 const struct page_writer_opts *pw_opts, struct dump_mm_stats *st);

#endif
