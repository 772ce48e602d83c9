// SPDX-License-Identifier: MIT
/*
 * bench_track part 2: the slowdown of a write-heavy workload, tracking off, frozen
 * only, on, and on without BPF.
 * (bench/bench_track.c says what each part measures.)
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_PREFIX "bench_track: "
#include "pstree.h"
#include "tracker.h"
#include "log.h"
#include "util.h"

#include "../bench_util.h"
#include "track.h"

/* ---- part 2: slowdown of a write-heavy workload ---------------------------------------- */

struct progress {
	uint64_t pages; /* pages written so far, updated every 256 */
	uint64_t ready;
};

enum load_mode { LOAD_OFF, LOAD_FREEZE, LOAD_ON, LOAD_ON_NOBPF, LOAD_MODES };

static const char *const load_names[LOAD_MODES] = {
	"tracking off",
	"off, frozen every 100 ms",
	"on, round every 100 ms",
	"on, no BPF (--no-bpf)",
};

/* The write-heavy child: one byte per page of LOAD_MIB MiB, in sequence, forever. */
static __attribute__((noreturn)) void load_writer(struct progress *p)
{
	size_t size = (size_t)LOAD_MIB << 20, pages = size / PAGE;
	volatile uint8_t *buf;
	uint64_t total = 0;

	buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (buf == MAP_FAILED)
		_exit(1);
	/* 4 KiB pages, as the dirtier: the figures are per page. */
	madvise((void *)buf, size, MADV_NOHUGEPAGE);
	for (size_t i = 0; i < pages; i++)
		buf[i * PAGE] = 1;
	__atomic_store_n(&p->ready, 1, __ATOMIC_RELEASE);
	for (;;) {
		for (size_t i = 0; i < pages; i++) {
			buf[i * PAGE]++;
			if ((++total & 255) == 0)
				__atomic_store_n(&p->pages, total, __ATOMIC_RELAXED);
		}
	}
}

struct load_sample {
	double passes_s;
	double frozen_ms; /* per second of the phase */
	double written;	  /* median written_pages per round (on) */
	double faults_s;  /* written_pages of all rounds, per second (on) */
};

static int load_phase(pid_t pid, struct progress *p, enum load_mode mode, struct load_sample *s)
{
	uint64_t t0, t1, c0, c1, written[LOAD_TICKS] = { 0 };
	struct tracker *t = NULL;
	int err = 0;

	memset(s, 0, sizeof(*s));
	if (mode == LOAD_ON || mode == LOAD_ON_NOBPF) {
		err = bt_arm(pid, NULL, mode == LOAD_ON_NOBPF, &t);
		if (err)
			return err;
	}
	t0 = mono_ns();
	c0 = __atomic_load_n(&p->pages, __ATOMIC_RELAXED);
	for (int k = 1; k <= LOAD_TICKS && !err; k++) {
		struct tracker_round round = { 0 };
		struct pstree tree;
		uint64_t f0;

		bt_sleep_until_ns(t0 + (uint64_t)k * TICK_NS);
		err = bt_interrupted();
		if (err || mode == LOAD_OFF)
			continue;
		f0 = mono_ns();
		err = bt_freeze(&tree, pid);
		if (err)
			break;
		if (t) {
			err = tracker_round(t, &round);
			if (err)
				pr_errno(err, "pid %d: tracker round %d", pid, k);
			written[k - 1] = round.written_pages;
			tracker_round_free(&round);
		}
		bt_thaw(&tree);
		s->frozen_ms += bt_ns_to_ms(mono_ns() - f0);
	}
	t1 = mono_ns();
	c1 = __atomic_load_n(&p->pages, __ATOMIC_RELAXED);
	bt_disarm(&t);
	if (err)
		return err;
	s->passes_s = (double)(c1 - c0) / ((double)LOAD_MIB * 256) / ((double)(t1 - t0) / 1e9);
	s->frozen_ms /= (double)(t1 - t0) / 1e9;
	if (mode == LOAD_ON || mode == LOAD_ON_NOBPF) {
		double wv[LOAD_TICKS];

		for (int k = 0; k < LOAD_TICKS; k++) {
			wv[k] = (double)written[k];
			s->faults_s += wv[k] / ((double)(t1 - t0) / 1e9);
		}
		s->written = median(wv, LOAD_TICKS);
	}
	return 0;
}

int bench_load(void)
{
	double rate[LOAD_MODES][LOAD_ROUNDS], frozen[LOAD_MODES][LOAD_ROUNDS],
		ratio[LOAD_MODES][LOAD_ROUNDS], written[LOAD_MODES][LOAD_ROUNDS],
		fault_us[LOAD_MODES][LOAD_ROUNDS], faults_s[LOAD_MODES][LOAD_ROUNDS];
	struct progress *p;
	pid_t pid = -1;
	int err = 0;

	p = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED) {
		pr_perror("cannot map the progress page of the writer");
		return -ENOMEM;
	}
	pid = fork();
	if (pid < 0) {
		err = -errno;
		pr_perror("cannot fork the writer");
		goto out;
	}
	if (!pid) {
		bt_child_setup(1, 1);
		load_writer(p);
	}
	for (int i = 0; i < 1000 && !__atomic_load_n(&p->ready, __ATOMIC_ACQUIRE); i++)
		usleep(10000);
	if (!__atomic_load_n(&p->ready, __ATOMIC_ACQUIRE)) {
		pr_err("pid %d: the writer did not populate its %d MiB in 10 s", pid, LOAD_MIB);
		err = -ETIMEDOUT;
		goto out;
	}
	for (int r = 0; r < LOAD_ROUNDS && !err; r++) {
		for (int m = 0; m < LOAD_MODES && !err; m++) {
			/* Rotate the order so that no variant always follows another. */
			enum load_mode mode = (enum load_mode)((m + r) % LOAD_MODES);
			struct load_sample s;

			err = load_phase(pid, p, mode, &s);
			rate[mode][r] = s.passes_s;
			frozen[mode][r] = s.frozen_ms;
			written[mode][r] = s.written;
			faults_s[mode][r] = s.faults_s;
		}
		for (int m = 0; !err && m < LOAD_MODES; m++) {
			ratio[m][r] = rate[m][r] / rate[LOAD_OFF][r];
			/*
			 * What a write fault costs the writer: the time it neither
			 * stood frozen nor made passes at the untracked speed, per
			 * page written in the rounds.
			 */
			fault_us[m][r] = faults_s[m][r] > 0
						 ? (1e6 - frozen[m][r] * 1e3 -
						    rate[m][r] * 1e6 / rate[LOAD_OFF][r]) /
							   faults_s[m][r]
						 : 0;
		}
	}
	if (err)
		goto out;
	printf("\n== 2. write-heavy workload (1 byte per page of %d MiB, in sequence), ~1 s "
	       "phases, %d rounds alternating, medians ==\n",
	       LOAD_MIB, LOAD_ROUNDS);
	printf("%-26s %11s %10s %13s %16s %15s\n", "variant", "passes/s", "vs off", "frozen ms/s",
	       "written/round", "us/fault (est)");
	for (int m = 0; m < LOAD_MODES; m++) {
		char wr[32] = "-", us[32] = "-";

		if (m == LOAD_ON || m == LOAD_ON_NOBPF) {
			snprintf(wr, sizeof(wr), "%.0f", median(written[m], LOAD_ROUNDS));
			snprintf(us, sizeof(us), "%.2f", median(fault_us[m], LOAD_ROUNDS));
		}
		printf("%-26s %11.1f %10.2f %13.1f %16s %15s\n", load_names[m],
		       median(rate[m], LOAD_ROUNDS), median(ratio[m], LOAD_ROUNDS),
		       median(frozen[m], LOAD_ROUNDS), wr, us);
	}
out:
	if (pid > 0) {
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
	}
	munmap(p, PAGE);
	return err;
}
