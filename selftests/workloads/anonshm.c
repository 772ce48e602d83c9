// SPDX-License-Identifier: MIT
/*
 * Shared anonymous memory named with PR_SET_VMA_ANON_NAME.
 *   anonshm
 * Maps 4 pages MAP_SHARED|MAP_ANONYMOUS, names them "ferry-named" (Linux
 * 6.2+ with CONFIG_ANON_VMA_NAME: /proc/PID/maps then shows
 * "[anon_shmem:ferry-named]"), writes a pattern in pages 1-3 and forks.
 * Prints "anonshm: pid P child C named N ready" (N: 1 if the name was set,
 * 0 if the kernel refused it, with the errno). The child answers each ping
 * the parent writes in page 0 with ping + 1000. On SIGUSR1 the parent checks
 * the pattern, pings and waits (5 s) for the answer, and prints "anonshm:
 * verify ok" or "anonshm: verify BAD <what>".
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

#define PG 4096ul
#define PAGES 4

struct ctl {
	volatile uint64_t ping, pong;
};

static volatile sig_atomic_t check_req;

static void on_usr1(int sig)
{
	(void)sig;
	check_req = 1;
}

static uint8_t pat(unsigned long i)
{
	return (uint8_t)(i * 37 + 11);
}

static void check(uint8_t *m, struct ctl *c)
{
	uint64_t want;
	int bad = 0;

	for (unsigned long i = PG; i < PAGES * PG; i++) {
		if (m[i] != pat(i)) {
			printf("anonshm: verify BAD byte %lu\n", i);
			bad = 1;
			break;
		}
	}
	want = ++c->ping + 1000;
	for (int k = 0; k < 1000 && c->pong != want; k++)
		usleep(5000);
	if (c->pong != want) {
		printf("anonshm: verify BAD no answer from the child to ping %llu\n",
		       (unsigned long long)c->ping);
		bad = 1;
	}
	if (!bad)
		printf("anonshm: verify ok\n");
}

int main(void)
{
	uint8_t *m =
		mmap(NULL, PAGES * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	struct ctl *c = (struct ctl *)m;
	int named, e = 0;
	pid_t child;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (m == MAP_FAILED)
		return 1;
	named = !prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, (unsigned long)m, PAGES * PG,
		       (unsigned long)"ferry-named");
	if (!named)
		e = errno;
	for (unsigned long i = PG; i < PAGES * PG; i++)
		m[i] = pat(i);
	signal(SIGUSR1, on_usr1);
	child = fork();
	if (child < 0)
		return 1;
	if (!child) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		for (;;) {
			uint64_t p = c->ping;

			if (p && c->pong != p + 1000)
				c->pong = p + 1000;
			usleep(2000);
		}
	}
	printf("anonshm: pid %d child %d named %d (%s) ready\n", getpid(), child, named,
	       named ? "set" : strerror(e));
	for (;;) {
		usleep(5000);
		if (check_req) {
			check_req = 0;
			check(m, c);
		}
	}
}
