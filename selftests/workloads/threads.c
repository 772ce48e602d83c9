// SPDX-License-Identifier: MIT
/*
 * A multi-threaded process: N threads (default 4), each with its own buffer
 * and counter in thread-local storage, all bumping a shared total under one
 * mutex.
 *   threads [N]
 * Prints "threads: pid P tids T1 T2 ... ready" once every thread runs. On
 * SIGUSR1 the main thread asks each worker to check its TLS buffer, and prints
 * "threads: verify ok total X" or "threads: verify BAD thread I".
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "pattern.h"

#define MAX_THREADS 64
#define TLS_WORDS 4096

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
static uint64_t total;
static int nr_ready, verify_round, verified, bad_thread = -1;
static pid_t tids[MAX_THREADS];
static volatile sig_atomic_t verify_req;

static __thread uint64_t tls_buf[TLS_WORDS];
static __thread uint64_t tls_count;

static void on_usr1(int sig)
{
	(void)sig;
	verify_req = 1;
}

static void *worker(void *arg)
{
	int idx = (int)(intptr_t)arg, seen_round = 0;
	struct timespec tick = { 0, 20 * 1000 * 1000 };

	for (int i = 0; i < TLS_WORDS; i++)
		tls_buf[i] = pattern_word((uint64_t)(uintptr_t)&tls_buf[i], (uint64_t)idx);
	pthread_mutex_lock(&lock);
	tids[idx] = (pid_t)syscall(SYS_gettid);
	nr_ready++;
	pthread_cond_broadcast(&cond);
	pthread_mutex_unlock(&lock);
	for (;;) {
		pthread_mutex_lock(&lock);
		total++;
		tls_count++;
		if (verify_round != seen_round) {
			seen_round = verify_round;
			for (int i = 0; i < TLS_WORDS; i++)
				if (tls_buf[i] !=
				    pattern_word((uint64_t)(uintptr_t)&tls_buf[i], (uint64_t)idx))
					bad_thread = idx;
			verified++;
			pthread_cond_broadcast(&cond);
		}
		pthread_mutex_unlock(&lock);
		nanosleep(&tick, NULL);
	}
	return NULL;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 4;
	struct timespec tick = { 0, 20 * 1000 * 1000 };
	pthread_t th;

	if (n < 1 || n > MAX_THREADS)
		n = 4;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGUSR1, on_usr1);
	for (int i = 0; i < n; i++)
		if (pthread_create(&th, NULL, worker, (void *)(intptr_t)i)) {
			fprintf(stderr, "threads: pthread_create failed\n");
			return 1;
		}
	pthread_mutex_lock(&lock);
	while (nr_ready < n)
		pthread_cond_wait(&cond, &lock);
	printf("threads: pid %d tids", getpid());
	for (int i = 0; i < n; i++)
		printf(" %d", tids[i]);
	printf(" ready\n");
	pthread_mutex_unlock(&lock);
	for (;;) {
		if (verify_req) {
			verify_req = 0;
			pthread_mutex_lock(&lock);
			verified = 0;
			verify_round++;
			while (verified < n)
				pthread_cond_wait(&cond, &lock);
			if (bad_thread >= 0)
				printf("threads: verify BAD thread %d\n", bad_thread);
			else
				printf("threads: verify ok total %llu\n",
				       (unsigned long long)total);
			pthread_mutex_unlock(&lock);
		}
		nanosleep(&tick, NULL);
	}
}
