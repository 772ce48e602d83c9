// SPDX-License-Identifier: MIT
/* Auto-converge's throttle of the source tree (migrate_throttle.h). */
#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOG_PREFIX "migrate: "
#include "log.h"
#include "migrate_throttle.h"
#include "util.h"

#define SLICE_US 100000 /* one stop + run period */

/* Shared between ferry and the watcher. */
struct mthrottle_shm {
	_Atomic int pct;      /* wanted */
	_Atomic int paused;   /* 1: do not stop anything */
	_Atomic uint64_t gen; /* bumped by ferry at each pause */
	_Atomic uint64_t ack; /* the gen the watcher saw with everything continued */
	size_t nr;
	pid_t pids[];
};

struct mthrottle {
	struct mthrottle_shm *shm;
	size_t shm_len;
	pid_t watcher;
};

static volatile sig_atomic_t watcher_quit;

static void on_quit(int sig)
{
	(void)sig;
	watcher_quit = 1;
}

/* The state letter of @pid (/proc/PID/stat), 0 if it cannot be read. */
static char proc_state(pid_t pid)
{
	char path[64], buf[512], *rp, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fgets(buf, sizeof(buf), f) && (rp = strrchr(buf, ')')) && rp[1] == ' ')
		st = rp[2];
	fclose(f);
	return st;
}

static void cont_all(const struct mthrottle_shm *s)
{
	for (size_t i = 0; i < s->nr; i++)
		kill(s->pids[i], SIGCONT);
}

static void sleep_us(long us)
{
	struct timespec ts = { us / 1000000, (us % 1000000) * 1000 };

	nanosleep(&ts, NULL);
}

static void watcher(struct mthrottle_shm *s, pid_t parent)
{
	struct sigaction sa = { .sa_handler = on_quit };

	prctl(PR_SET_NAME, "ferry-throttle");
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	/* Dies with ferry, however ferry dies; the loop continues the tree first. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		watcher_quit = 1;
	while (!watcher_quit) {
		int pct = atomic_load(&s->pct);
		uint64_t gen = atomic_load(&s->gen);

		if (atomic_load(&s->paused) || pct <= 0) {
			atomic_store(&s->ack, gen);
			sleep_us(2000);
			continue;
		}
		for (size_t i = 0; i < s->nr; i++)
			kill(s->pids[i], SIGSTOP);
		/* Stopped for pct of the slice, in small steps to see a pause soon. */
		for (long t = 0;
		     t < (long)SLICE_US * pct / 100 && !watcher_quit && !atomic_load(&s->paused);
		     t += 2000)
			sleep_us(2000);
		cont_all(s);
		atomic_store(&s->ack, gen);
		if (!atomic_load(&s->paused))
			sleep_us((long)SLICE_US * (100 - pct) / 100);
	}
	cont_all(s);
	_exit(0);
}

int mthrottle_start(const pid_t *pids, size_t nr, struct mthrottle **out)
{
	struct mthrottle *t;
	pid_t parent = getpid();

	for (size_t i = 0; i < nr; i++) {
		if (proc_state(pids[i]) == 'T') {
			pr_err("pid %d is stopped: auto-converge does not throttle a tree with a "
			       "stopped process (SIGCONT would resume it)",
			       pids[i]);
			return -EBUSY;
		}
	}
	t = calloc(1, sizeof(*t));
	if (!t)
		return -ENOMEM;
	t->shm_len = sizeof(*t->shm) + nr * sizeof(pid_t);
	t->shm = mmap(NULL, t->shm_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (t->shm == MAP_FAILED) {
		free(t);
		return -ENOMEM;
	}
	t->shm->nr = nr;
	memcpy(t->shm->pids, pids, nr * sizeof(pid_t));
	t->watcher = fork();
	if (t->watcher < 0) {
		int err = -errno;

		munmap(t->shm, t->shm_len);
		free(t);
		return err;
	}
	if (t->watcher == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		watcher(t->shm, parent);
	}
	*out = t;
	return 0;
}

void mthrottle_set(struct mthrottle *t, int pct)
{
	if (pct > MTHROTTLE_MAX)
		pct = MTHROTTLE_MAX;
	atomic_store(&t->shm->pct, pct < 0 ? 0 : pct);
}

int mthrottle_pct(const struct mthrottle *t)
{
	return atomic_load(&t->shm->pct);
}

int mthrottle_pause(struct mthrottle *t)
{
	uint64_t gen = atomic_fetch_add(&t->shm->gen, 1) + 1;
	uint64_t t0 = mono_us();

	atomic_store(&t->shm->paused, 1);
	while (atomic_load(&t->shm->ack) < gen) {
		if (mono_us() - t0 > 2000000 || waitpid(t->watcher, NULL, WNOHANG) == t->watcher) {
			pr_err("the throttle's watcher (pid %d) does not answer: continuing the "
			       "tree",
			       t->watcher);
			cont_all(t->shm);
			return -ETIMEDOUT;
		}
		sleep_us(500);
	}
	return 0;
}

void mthrottle_resume(struct mthrottle *t)
{
	atomic_store(&t->shm->paused, 0);
}

void mthrottle_stop(struct mthrottle *t)
{
	if (!t)
		return;
	if (t->watcher > 0) {
		kill(t->watcher, SIGTERM);
		waitpid(t->watcher, NULL, 0);
	}
	/* Whatever the watcher did last, the tree runs. */
	cont_all(t->shm);
	munmap(t->shm, t->shm_len);
	free(t);
}
