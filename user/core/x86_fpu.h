/* SPDX-License-Identifier: MIT */
/*
 * x86 FPU state: the kernel's XSAVE buffer (PTRACE_GETREGSET NT_X86_XSTATE,
 * standard, non-compacted format) to and from CRIU's user_x86_fpregs_entry.
 *
 * The first 512 bytes are the legacy FXSAVE area (x87, SSE); CRIU keeps its
 * fields one by one. The extended components it knows (AVX ymm upper halves,
 * MPX, AVX-512 opmask / ZMM_Hi256 / Hi16_ZMM, PKRU) go to the xsave entry;
 * their offsets and sizes come from CPUID leaf 0xD, as the kernel uses them.
 * Shared by dump and restore.
 */
#ifndef FERRY_X86_FPU_H
#define FERRY_X86_FPU_H

#include <stddef.h>
#include <stdint.h>

#include "core-x86.pb-c.h"

/* Largest XSAVE buffer ferry handles (the kernel's is ~2.7 KiB with AVX-512). */
#define FPU_XSAVE_MAX 8192

/* A user_x86_fpregs_entry with the storage for its arrays. */
struct fpu_image {
	UserX86FpregsEntry fp;
	UserX86XsaveEntry xs;
	uint32_t st[32], xmm[64], pad[24];
	uint32_t ymmh[64];
	uint64_t bndreg[8], bndcsr[8], opmask[8], zmm_upper[64], hi16_zmm[128];
	uint32_t pkru[2];
};

/* fpu_xsave_size - the size of this CPU's user XSAVE area (CPUID 0xD.0 ebx... ecx). */
size_t fpu_xsave_size(void);

/*
 * fpu_to_image - fill @img from the XSAVE buffer @xsave of @len bytes (at least
 * 512; just the FXSAVE area when the CPU has no XSAVE). Returns 0 or -EINVAL.
 */
int fpu_to_image(const uint8_t *xsave, size_t len, struct fpu_image *img);

/*
 * fpu_from_image - rebuild an XSAVE buffer of @len bytes (zeroed first) from
 * an entry read from an image. Returns 0, or -EINVAL if the entry holds a
 * component this CPU does not have or arrays of the wrong size (the message
 * names the component).
 */
int fpu_from_image(const UserX86FpregsEntry *fp, uint8_t *xsave, size_t len);

#endif
