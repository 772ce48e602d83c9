// SPDX-License-Identifier: MIT
/*
 * XSAVE buffer <-> user_x86_fpregs_entry (see x86_fpu.h).
 */
#include <cpuid.h>
#include <errno.h>
#include <string.h>

#define LOG_PREFIX "fpu: "
#include "log.h"
#include "x86_fpu.h"

/* FXSAVE area layout (Intel SDM vol. 1, 10.5.1). */
#define FX_CWD 0
#define FX_SWD 2
#define FX_TWD 4
#define FX_FOP 6
#define FX_RIP 8
#define FX_RDP 16
#define FX_MXCSR 24
#define FX_MXCSR_MASK 28
#define FX_ST 32
#define FX_XMM 160
#define FX_PAD 416
#define FX_SIZE 512
#define XSAVE_HDR_BV 512 /* xstate_bv in the XSAVE header */

/* XSAVE components CRIU's image has a field for. */
enum {
	XC_YMM = 2,
	XC_BNDREGS = 3,
	XC_BNDCSR = 4,
	XC_OPMASK = 5,
	XC_ZMM_HI256 = 6,
	XC_HI16_ZMM = 7,
	XC_PKRU = 9
};

static int comp_layout(unsigned int comp, uint32_t *off, uint32_t *size)
{
	unsigned int eax, ebx, ecx, edx;

	if (!__get_cpuid_count(0xd, comp, &eax, &ebx, &ecx, &edx) || !eax)
		return -ENOENT;
	*size = eax;
	*off = ebx;
	return 0;
}

size_t fpu_xsave_size(void)
{
	unsigned int eax, ebx, ecx, edx;

	if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx) || !(ecx & bit_XSAVE))
		return FX_SIZE;
	if (!__get_cpuid_count(0xd, 0, &eax, &ebx, &ecx, &edx))
		return FX_SIZE;
	return ecx; /* the size for every feature the CPU supports */
}

static uint16_t rd16(const uint8_t *p)
{
	uint16_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint32_t rd32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t rd64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

struct comp_field {
	unsigned int comp;
	size_t elem; /* 4 or 8 */
	size_t max;  /* elements of storage */
};

static const struct comp_field comp_fields[] = {
	{ XC_YMM, 4, 64 },	 { XC_BNDREGS, 8, 8 },	  { XC_BNDCSR, 8, 8 }, { XC_OPMASK, 8, 8 },
	{ XC_ZMM_HI256, 8, 64 }, { XC_HI16_ZMM, 8, 128 }, { XC_PKRU, 4, 2 },
};

/* The image's array and count for component @comp. */
static void comp_slot(struct fpu_image *img, UserX86XsaveEntry *xs, unsigned int comp, void **store,
		      size_t **n, void ***arr)
{
	switch (comp) {
	case XC_YMM:
		*store = img ? img->ymmh : NULL, *n = &xs->n_ymmh_space,
		*arr = (void **)&xs->ymmh_space;
		break;
	case XC_BNDREGS:
		*store = img ? img->bndreg : NULL, *n = &xs->n_bndreg_state,
		*arr = (void **)&xs->bndreg_state;
		break;
	case XC_BNDCSR:
		*store = img ? img->bndcsr : NULL, *n = &xs->n_bndcsr_state,
		*arr = (void **)&xs->bndcsr_state;
		break;
	case XC_OPMASK:
		*store = img ? img->opmask : NULL, *n = &xs->n_opmask_reg,
		*arr = (void **)&xs->opmask_reg;
		break;
	case XC_ZMM_HI256:
		*store = img ? img->zmm_upper : NULL, *n = &xs->n_zmm_upper,
		*arr = (void **)&xs->zmm_upper;
		break;
	case XC_HI16_ZMM:
		*store = img ? img->hi16_zmm : NULL, *n = &xs->n_hi16_zmm,
		*arr = (void **)&xs->hi16_zmm;
		break;
	default:
		*store = img ? img->pkru : NULL, *n = &xs->n_pkru, *arr = (void **)&xs->pkru;
		break;
	}
}

int fpu_to_image(const uint8_t *xsave, size_t len, struct fpu_image *img)
{
	memset(img, 0, sizeof(*img));
	user_x86_fpregs_entry__init(&img->fp);
	if (len < FX_SIZE) {
		pr_err("FPU state of %zu bytes is shorter than the FXSAVE area", len);
		return -EINVAL;
	}
	img->fp.cwd = rd16(xsave + FX_CWD);
	img->fp.swd = rd16(xsave + FX_SWD);
	img->fp.twd = rd16(xsave + FX_TWD);
	img->fp.fop = rd16(xsave + FX_FOP);
	img->fp.rip = rd64(xsave + FX_RIP);
	img->fp.rdp = rd64(xsave + FX_RDP);
	img->fp.mxcsr = rd32(xsave + FX_MXCSR);
	img->fp.mxcsr_mask = rd32(xsave + FX_MXCSR_MASK);
	memcpy(img->st, xsave + FX_ST, sizeof(img->st));
	memcpy(img->xmm, xsave + FX_XMM, sizeof(img->xmm));
	memcpy(img->pad, xsave + FX_PAD, sizeof(img->pad));
	img->fp.n_st_space = 32, img->fp.st_space = img->st;
	img->fp.n_xmm_space = 64, img->fp.xmm_space = img->xmm;
	img->fp.n_padding = 24, img->fp.padding = img->pad;
	if (len < XSAVE_HDR_BV + 64)
		return 0; /* FXSAVE only */

	user_x86_xsave_entry__init(&img->xs);
	img->xs.xstate_bv = rd64(xsave + XSAVE_HDR_BV);
	for (size_t i = 0; i < sizeof(comp_fields) / sizeof(comp_fields[0]); i++) {
		const struct comp_field *c = &comp_fields[i];
		uint32_t off, size;
		size_t *n, cnt;
		void *store, **arr;

		if (comp_layout(c->comp, &off, &size) || off + size > len)
			continue;
		cnt = size / c->elem;
		if (cnt > c->max)
			cnt = c->max;
		comp_slot(img, &img->xs, c->comp, &store, &n, &arr);
		memcpy(store, xsave + off, cnt * c->elem);
		*n = cnt;
		*arr = store;
	}
	img->fp.xsave = &img->xs;
	return 0;
}

static void wr(uint8_t *p, const void *v, size_t n)
{
	memcpy(p, v, n);
}

int fpu_from_image(const UserX86FpregsEntry *fp, uint8_t *xsave, size_t len)
{
	uint16_t v16;

	if (len < FX_SIZE)
		return -EINVAL;
	memset(xsave, 0, len);
	if (fp->n_st_space != 32 || fp->n_xmm_space != 64) {
		pr_err("FPU entry has %zu st / %zu xmm words, expected 32 / 64", fp->n_st_space,
		       fp->n_xmm_space);
		return -EINVAL;
	}
	v16 = (uint16_t)fp->cwd, wr(xsave + FX_CWD, &v16, 2);
	v16 = (uint16_t)fp->swd, wr(xsave + FX_SWD, &v16, 2);
	v16 = (uint16_t)fp->twd, wr(xsave + FX_TWD, &v16, 2);
	v16 = (uint16_t)fp->fop, wr(xsave + FX_FOP, &v16, 2);
	wr(xsave + FX_RIP, &fp->rip, 8);
	wr(xsave + FX_RDP, &fp->rdp, 8);
	wr(xsave + FX_MXCSR, &fp->mxcsr, 4);
	wr(xsave + FX_MXCSR_MASK, &fp->mxcsr_mask, 4);
	wr(xsave + FX_ST, fp->st_space, 32 * 4);
	wr(xsave + FX_XMM, fp->xmm_space, 64 * 4);
	if (fp->n_padding == 24)
		wr(xsave + FX_PAD, fp->padding, 24 * 4);
	if (!fp->xsave || len < XSAVE_HDR_BV + 64)
		return 0;

	wr(xsave + XSAVE_HDR_BV, &fp->xsave->xstate_bv, 8);
	for (size_t i = 0; i < sizeof(comp_fields) / sizeof(comp_fields[0]); i++) {
		const struct comp_field *c = &comp_fields[i];
		UserX86XsaveEntry *xs = fp->xsave;
		uint32_t off, size;
		size_t *n;
		void *store, **arr;

		comp_slot(NULL, xs, c->comp, &store, &n, &arr);
		if (!*n)
			continue;
		if (comp_layout(c->comp, &off, &size) || off + size > len || *n * c->elem > size) {
			pr_err("FPU entry has XSAVE component %u (%zu words) this CPU lacks",
			       c->comp, *n);
			return -EINVAL;
		}
		memcpy(xsave + off, *arr, *n * c->elem);
	}
	return 0;
}
