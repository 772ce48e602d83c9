/* SPDX-License-Identifier: MIT */
/*
 * CRIU's vma_entry.status bits (mm-PID.img, image ABI): what a VMA is, as the
 * dump writes it and the restore reads it.
 */
#ifndef FERRY_VMA_STATUS_H
#define FERRY_VMA_STATUS_H

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
/*
 * CRIU 4.2: not a VMA but a guard region (MADV_GUARD_INSTALL) inside one, as
 * a vma_entry with only this status bit, after every real VMA of mm-PID.img.
 */
#define VMA_AREA_GUARD (1u << 16)

#endif
