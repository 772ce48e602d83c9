// SPDX-License-Identifier: MIT
/*
 * FPU and vector register state that must survive a dump and a restore.
 *   fpu [sse|avx|avx512]   (default: the best the CPU and kernel offer)
 * At start it sets a non-default FP environment: rounding toward zero (x87
 * control word and MXCSR), and MXCSR flush-to-zero and denormals-are-zero.
 * Then it loops forever:
 *  - runs ACC_STEPS steps of an accumulation in x87 long double, SSE double
 *    and float and a vector type; every step is rounding-mode dependent; the
 *    step count stays in memory;
 *  - "holds" registers: one inline asm block loads patterns into the 8 x87
 *    registers, the 16 xmm/ymm or 32 zmm registers and (avx512) the opmask
 *    registers k0-k7, spins and sleeps (raw nanosleep) without touching them,
 *    then stores them and compares with the pattern; a difference is kept as
 *    the first failure.
 * Prints "fpu: pid P level L ready". On SIGUSR1 it recomputes the same number
 * of accumulation steps from scratch and compares the result bit for bit,
 * checks the control word, MXCSR and fegetround() and operations whose result
 * depends on them, and prints "fpu: verify ok steps N holds H level L" or
 * "fpu: verify BAD <reason>".
 */
#include <fenv.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "pattern.h"

#define ACC_STEPS 500
#define HOLD_REPS 10
#define HOLD_SPIN 500000L
#define HOLD_SLEEP_NS 5000000L

/* x87: default 0x037f with RC = 11 (toward zero). */
#define WANT_FPU_CW 0x0f7f
/* MXCSR: all exceptions masked, RC = 11, FTZ, DAZ; the low 6 bits are sticky flags. */
#define MXCSR_FTZ 0x8000
#define MXCSR_DAZ 0x0040
#define WANT_MXCSR 0xffc0
#define MXCSR_FLAGS 0x003f

enum level { LVL_SSE, LVL_AVX, LVL_AVX512 };
static const char *const level_name[] = { "sse", "avx", "avx512" };

typedef double v4d __attribute__((vector_size(32)));

struct acc {
	long double ld;
	double d;
	double dn; /* stays 0 while DAZ/FTZ are on */
	float f;
	v4d v;
};

/* What a hold loads and gets back: 32 vector registers of 64 bytes, k0-k7, st0-st7. */
struct regs {
	uint64_t vec[32][8] __attribute__((aligned(64)));
	uint16_t k[8];
	int64_t x87[8];
};

static volatile sig_atomic_t verify_req;
static struct acc acc;
static uint64_t steps, holds;
static struct regs hold_in, hold_out;
static char first_bad[256];
/* Inputs read through volatile so that nothing is folded at compile time. */
static volatile double denormal = 0x1p-1030, one = 1.0, half = 0.5;

static void on_usr1(int sig)
{
	(void)sig;
	verify_req = 1;
}

static uint32_t get_mxcsr(void)
{
	uint32_t m;

	__asm__ volatile("stmxcsr %0" : "=m"(m));
	return m;
}

static void set_mxcsr(uint32_t m)
{
	__asm__ volatile("ldmxcsr %0" : : "m"(m));
}

static uint16_t get_fpu_cw(void)
{
	uint16_t cw;

	__asm__ volatile("fnstcw %0" : "=m"(cw));
	return cw;
}

static void acc_init(struct acc *a)
{
	memset(a, 0, sizeof(*a));
	a->ld = 1.0L;
	a->d = 1.0;
	a->f = 1.0f;
	a->v = (v4d){ 1.0, 2.0, 3.0, 4.0 };
}

/* One step; divisions and products are inexact, so the rounding mode shows. */
static __attribute__((noinline)) void acc_step(struct acc *a, uint64_t i)
{
	long double x = (long double)(i % 1009 + 3);
	double y = (double)(i * 7 % 1013 + 3);
	v4d w = { 1.0 / y, 3.0 / y, 5.0 / y, 7.0 / y };

	a->ld = a->ld * 0.9999999L + 1.0L / x;
	a->d = a->d * 0.99999991 + 1.0 / y;
	a->dn = a->dn + denormal * (double)(i % 5);
	a->f = a->f * 0.9999f + 1.0f / (float)(i % 97 + 3);
	a->v = a->v * (v4d){ 0.999, 0.9999, 0.99999, 0.999999 } + w;
}

static int acc_same(const struct acc *a, const struct acc *b, char *why, size_t len)
{
	/* long double has 10 significant bytes; the rest is padding. */
	if (memcmp(&a->ld, &b->ld, 10)) {
		snprintf(why, len, "x87 sum differs: %La, recomputed %La", a->ld, b->ld);
		return 0;
	}
	if (memcmp(&a->d, &b->d, sizeof(a->d))) {
		snprintf(why, len, "double sum differs: %a, recomputed %a", a->d, b->d);
		return 0;
	}
	if (memcmp(&a->dn, &b->dn, sizeof(a->dn))) {
		snprintf(why, len, "denormal sum differs: %a, recomputed %a", a->dn, b->dn);
		return 0;
	}
	if (memcmp(&a->f, &b->f, sizeof(a->f))) {
		snprintf(why, len, "float sum differs: %a, recomputed %a", (double)a->f,
			 (double)b->f);
		return 0;
	}
	for (int j = 0; j < 4; j++)
		if (memcmp(&a->v[j], &b->v[j], sizeof(double))) {
			snprintf(why, len, "vector sum lane %d differs: %a, recomputed %a", j,
				 a->v[j], b->v[j]);
			return 0;
		}
	return 1;
}

/* The FP environment set at start, read back and exercised. */
static int check_env(char *why, size_t len)
{
	volatile long double lone = 1.0L, lsmall = 0x1.8p-64L;
	volatile double small = 0x1.8p-53, r;
	volatile long double lr;
	uint32_t mxcsr = get_mxcsr();
	uint16_t cw = get_fpu_cw();

	if (fegetround() != FE_TOWARDZERO) {
		snprintf(why, len, "fegetround() %#x, want FE_TOWARDZERO %#x", fegetround(),
			 FE_TOWARDZERO);
		return 0;
	}
	if (cw != WANT_FPU_CW) {
		snprintf(why, len, "x87 control word %#06x, want %#06x", cw, WANT_FPU_CW);
		return 0;
	}
	if ((mxcsr & ~MXCSR_FLAGS) != WANT_MXCSR) {
		snprintf(why, len, "MXCSR %#06x, want %#06x (flags ignored)", mxcsr, WANT_MXCSR);
		return 0;
	}
	/* 1 + 0.75 ulp: nearest and upward give 1 + ulp, downward -1 - ulp below. */
	r = one + small;
	if (r != 1.0) {
		snprintf(why, len, "SSE 1 + 0.75ulp = %a, want 0x1p+0 (toward zero)", r);
		return 0;
	}
	r = -one - small;
	if (r != -1.0) {
		snprintf(why, len, "SSE -1 - 0.75ulp = %a, want -0x1p+0 (toward zero)", r);
		return 0;
	}
	lr = lone + lsmall;
	if (lr != 1.0L) {
		snprintf(why, len, "x87 1 + 0.75ulp = %La, want 0x8p-3 (toward zero)", lr);
		return 0;
	}
	lr = -lone - lsmall;
	if (lr != -1.0L) {
		snprintf(why, len, "x87 -1 - 0.75ulp = %La, want -0x8p-3 (toward zero)", lr);
		return 0;
	}
	r = denormal * one;
	if (r != 0.0) {
		snprintf(why, len, "SSE denormal * 1 = %a, want 0 (DAZ)", r);
		return 0;
	}
	r = (one * 0x1p-1022) * half;
	if (r != 0.0) {
		snprintf(why, len, "SSE DBL_MIN / 2 = %a, want 0 (FTZ)", r);
		return 0;
	}
	return 1;
}

/*
 * The holds: load everything, then HOLD_REPS times spin HOLD_SPIN iterations
 * and sleep HOLD_SLEEP_NS with a raw nanosleep (the kernel keeps the
 * registers), then store everything. A dump lands in the spin or the sleep.
 * The last x87 load is st0: the stores pop in reverse order into the same slots.
 */
#define X87_LOAD ".irp r,0,1,2,3,4,5,6,7\n\tfildq \\r*8(%[x])\n\t.endr\n\t"
#define X87_STORE ".irp r,7,6,5,4,3,2,1,0\n\tfistpq \\r*8(%[y])\n\t.endr\n\t"
#define R0_15 "0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15"
#define R0_31 R0_15 ",16,17,18,19,20,21,22,23,24,25,26,27,28,29,30,31"
#define VEC_OP(regs, insn) ".irp r," regs "\n\t" insn "\n\t.endr\n\t"
#define XMM_LOAD VEC_OP(R0_15, "movdqu \\r*64(%[v]), %%xmm\\r")
#define XMM_STORE VEC_OP(R0_15, "movdqu %%xmm\\r, \\r*64(%[w])")
#define YMM_LOAD VEC_OP(R0_15, "vmovdqu \\r*64(%[v]), %%ymm\\r")
#define YMM_STORE VEC_OP(R0_15, "vmovdqu %%ymm\\r, \\r*64(%[w])")
#define ZMM_LOAD VEC_OP(R0_31, "vmovdqu64 \\r*64(%[v]), %%zmm\\r")
#define ZMM_STORE VEC_OP(R0_31, "vmovdqu64 %%zmm\\r, \\r*64(%[w])")
#define K_LOAD VEC_OP("0,1,2,3,4,5,6,7", "kmovw \\r*2(%[kin]), %%k\\r")
#define K_STORE VEC_OP("0,1,2,3,4,5,6,7", "kmovw %%k\\r, \\r*2(%[kout])")
#define HOLD_LOOP                \
	"mov %[reps], %%r8\n\t"  \
	"1:\n\t"                 \
	"mov %[spin], %%rcx\n\t" \
	"2:\n\t"                 \
	"dec %%rcx\n\t"          \
	"jnz 2b\n\t"             \
	"mov %[nr], %%eax\n\t"   \
	"mov %[ts], %%rdi\n\t"   \
	"xor %%esi, %%esi\n\t"   \
	"syscall\n\t"            \
	"dec %%r8\n\t"           \
	"jnz 1b\n\t"
#define HOLD_ARGS                                                                 \
	[x] "r"(in->x87), [y] "r"(out->x87), [v] "r"(in->vec), [w] "r"(out->vec), \
		[kin] "r"(in->k), [kout] "r"(out->k), [reps] "i"(HOLD_REPS),      \
		[spin] "i"(HOLD_SPIN), [nr] "i"(__NR_nanosleep), [ts] "r"(&ts)
#define HOLD_CLOBBERS                                                                             \
	"rax", "rcx", "rdi", "rsi", "r8", "r11", "memory", "cc", "st", "st(1)", "st(2)", "st(3)", \
		"st(4)", "st(5)", "st(6)", "st(7)", "xmm0", "xmm1", "xmm2", "xmm3", "xmm4",       \
		"xmm5", "xmm6", "xmm7", "xmm8", "xmm9", "xmm10", "xmm11", "xmm12", "xmm13",       \
		"xmm14", "xmm15"

static __attribute__((noinline)) void hold_sse(const struct regs *in, struct regs *out)
{
	struct timespec ts = { 0, HOLD_SLEEP_NS };

	__asm__ volatile(X87_LOAD XMM_LOAD HOLD_LOOP XMM_STORE X87_STORE
			 :
			 : HOLD_ARGS
			 : HOLD_CLOBBERS);
}

static __attribute__((noinline, target("avx"))) void hold_avx(const struct regs *in,
							      struct regs *out)
{
	struct timespec ts = { 0, HOLD_SLEEP_NS };

	__asm__ volatile(X87_LOAD YMM_LOAD HOLD_LOOP YMM_STORE X87_STORE "vzeroupper\n\t"
			 :
			 : HOLD_ARGS
			 : HOLD_CLOBBERS);
}

static __attribute__((noinline, target("avx512f"))) void hold_avx512(const struct regs *in,
								     struct regs *out)
{
	struct timespec ts = { 0, HOLD_SLEEP_NS };

	__asm__ volatile(X87_LOAD ZMM_LOAD K_LOAD HOLD_LOOP ZMM_STORE K_STORE X87_STORE
			 "vzeroupper\n\t"
			 :
			 : HOLD_ARGS
			 : HOLD_CLOBBERS, "xmm16", "xmm17", "xmm18", "xmm19", "xmm20", "xmm21",
			   "xmm22", "xmm23", "xmm24", "xmm25", "xmm26", "xmm27", "xmm28", "xmm29",
			   "xmm30", "xmm31", "k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7");
}

/* How many 8-byte words of each vector register a level holds. */
static int level_words(enum level lvl)
{
	return lvl == LVL_AVX512 ? 8 : lvl == LVL_AVX ? 4 : 2;
}

static int level_regs(enum level lvl)
{
	return lvl == LVL_AVX512 ? 32 : 16;
}

/* The pattern of hold number h, computed independently of the input buffer. */
static uint64_t want_vec(uint64_t h, int r, int w)
{
	return pattern_word((uint64_t)(r * 8 + w), h);
}

static uint16_t want_k(uint64_t h, int r)
{
	return (uint16_t)pattern_word(0x1000 + (uint64_t)r, h);
}

static int64_t want_x87(uint64_t h, int r)
{
	/* 62 bits: exact in the 64-bit x87 mantissa and in an int64. */
	return (int64_t)(pattern_word(0x2000 + (uint64_t)r, h) >> 2) - (1ll << 61);
}

static void hold(enum level lvl, uint64_t h)
{
	int nw = level_words(lvl), nr = level_regs(lvl);

	memset(&hold_out, 0, sizeof(hold_out));
	for (int r = 0; r < nr; r++)
		for (int w = 0; w < nw; w++)
			hold_in.vec[r][w] = want_vec(h, r, w);
	for (int r = 0; r < 8; r++) {
		hold_in.k[r] = want_k(h, r);
		hold_in.x87[r] = want_x87(h, r);
	}
	if (lvl == LVL_AVX512)
		hold_avx512(&hold_in, &hold_out);
	else if (lvl == LVL_AVX)
		hold_avx(&hold_in, &hold_out);
	else
		hold_sse(&hold_in, &hold_out);
	if (first_bad[0])
		return;
	for (int r = 0; r < nr; r++)
		for (int w = 0; w < nw; w++)
			if (hold_out.vec[r][w] != want_vec(h, r, w)) {
				snprintf(first_bad, sizeof(first_bad),
					 "%cmm%d word %d after hold %" PRIu64 ": %#" PRIx64
					 ", want %#" PRIx64,
					 lvl == LVL_AVX512 ? 'z'
					 : lvl == LVL_AVX  ? 'y'
							   : 'x',
					 r, w, h, hold_out.vec[r][w], want_vec(h, r, w));
				return;
			}
	for (int r = 0; r < 8; r++) {
		if (lvl == LVL_AVX512 && hold_out.k[r] != want_k(h, r)) {
			snprintf(first_bad, sizeof(first_bad),
				 "k%d after hold %" PRIu64 ": %#x, want %#x", r, h, hold_out.k[r],
				 want_k(h, r));
			return;
		}
		if (hold_out.x87[r] != want_x87(h, r)) {
			snprintf(first_bad, sizeof(first_bad),
				 "x87 st%d after hold %" PRIu64 ": %" PRId64 ", want %" PRId64,
				 7 - r, h, hold_out.x87[r], want_x87(h, r));
			return;
		}
	}
}

static void verify(enum level lvl)
{
	struct acc fresh;
	char why[256];

	if (first_bad[0]) {
		printf("fpu: verify BAD %s\n", first_bad);
		return;
	}
	if (!check_env(why, sizeof(why))) {
		printf("fpu: verify BAD %s\n", why);
		return;
	}
	acc_init(&fresh);
	for (uint64_t i = 0; i < steps; i++)
		acc_step(&fresh, i);
	if (!acc_same(&acc, &fresh, why, sizeof(why))) {
		printf("fpu: verify BAD after %" PRIu64 " steps: %s\n", steps, why);
		return;
	}
	printf("fpu: verify ok steps %" PRIu64 " holds %" PRIu64 " level %s\n", steps, holds,
	       level_name[lvl]);
}

int main(int argc, char **argv)
{
	enum level best = LVL_SSE, lvl;

	setvbuf(stdout, NULL, _IOLBF, 0);
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx512f"))
		best = LVL_AVX512;
	else if (__builtin_cpu_supports("avx"))
		best = LVL_AVX;
	lvl = best;
	if (argc > 1) {
		for (lvl = LVL_SSE; lvl <= LVL_AVX512; lvl++)
			if (!strcmp(argv[1], level_name[lvl]))
				break;
		if (lvl > LVL_AVX512) {
			fprintf(stderr, "fpu: unknown level %s (sse, avx or avx512)\n", argv[1]);
			return 2;
		}
		if (lvl > best) {
			fprintf(stderr, "fpu: this machine has no %s\n", level_name[lvl]);
			return 2;
		}
	}
	signal(SIGUSR1, on_usr1);
	if (fesetround(FE_TOWARDZERO)) {
		fprintf(stderr, "fpu: fesetround(FE_TOWARDZERO) failed\n");
		return 1;
	}
	set_mxcsr(get_mxcsr() | MXCSR_FTZ | MXCSR_DAZ);
	acc_init(&acc);
	printf("fpu: pid %d level %s ready\n", getpid(), level_name[lvl]);
	for (;;) {
		for (int k = 0; k < ACC_STEPS; k++) {
			acc_step(&acc, steps);
			steps++;
		}
		hold(lvl, ++holds);
		if (verify_req) {
			verify_req = 0;
			verify(lvl);
		}
	}
}
