// SPDX-License-Identifier: MIT
/*
 * A parent and two children joined by a pipe holding data in flight.
 *   family [BYTES]
 * The parent forks a reader child and a busy child, writes BYTES (default
 * 20000, at most 60000 so it fits a default pipe) of pattern bytes into the pipe
 * to the reader and prints "family: parent P reader R busy B bytes N ready".
 * The reader waits for SIGUSR1, then reads and checks the N bytes and prints
 * "family: reader pipe ok" or "family: reader pipe BAD at I"; SIGTERM to the
 * parent ends all three.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t go;

static void on_usr1(int sig)
{
	(void)sig;
	go = 1;
}

static unsigned char pipe_byte(size_t i)
{
	return (unsigned char)((i * 131 + 7) ^ (i >> 8));
}

static int reader(int fd, size_t n)
{
	struct timespec tick = { 0, 20 * 1000 * 1000 };
	unsigned char buf[4096];
	size_t got = 0;

	while (!go)
		nanosleep(&tick, NULL);
	while (got < n) {
		ssize_t r = read(fd, buf, sizeof(buf) < n - got ? sizeof(buf) : n - got);

		if (r <= 0) {
			printf("family: reader pipe BAD at %zu (short read)\n", got);
			return 1;
		}
		for (ssize_t i = 0; i < r; i++)
			if (buf[i] != pipe_byte(got + (size_t)i)) {
				printf("family: reader pipe BAD at %zu\n", got + (size_t)i);
				return 1;
			}
		got += (size_t)r;
	}
	printf("family: reader pipe ok\n");
	for (;;)
		pause();
}

int main(int argc, char **argv)
{
	size_t n = argc > 1 ? (size_t)atol(argv[1]) : 20000;
	unsigned char *buf;
	pid_t r, b;
	int p[2];

	if (n > 60000)
		n = 60000;
	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGUSR1, on_usr1);
	if (pipe(p))
		return 1;
	r = fork();
	if (!r) {
		close(p[1]);
		return reader(p[0], n);
	}
	b = fork();
	if (!b) {
		struct timespec tick = { 0, 50 * 1000 * 1000 };
		volatile unsigned long spin = 0;

		close(p[0]);
		close(p[1]);
		for (;;) {
			spin++;
			nanosleep(&tick, NULL);
		}
	}
	close(p[0]);
	buf = malloc(n);
	for (size_t i = 0; i < n; i++)
		buf[i] = pipe_byte(i);
	if (write(p[1], buf, n) != (ssize_t)n)
		return 1;
	printf("family: parent %d reader %d busy %d bytes %zu ready\n", getpid(), r, b, n);
	signal(SIGTERM, SIG_DFL);
	for (;;) {
		int st;

		if (waitpid(-1, &st, 0) < 0)
			pause();
	}
}
