// SPDX-License-Identifier: MIT
/*
 * A process blocked in a syscall, for the remote-syscall tests:
 *   blocked read    prints "ready", blocks in read(0), then echoes "got <line>"
 *   blocked sleep   prints "ready", sleeps 1.5 s in one nanosleep, then prints
 *                   "slept <ms>" (must still be >= 1500 after an interruption)
 * A ptrace stop and injected syscalls in the middle must be invisible to it.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "read";
	char buf[256];

	setvbuf(stdout, NULL, _IONBF, 0);
	if (!strcmp(mode, "sleep")) {
		struct timespec t0, t1, d = { 1, 500 * 1000 * 1000 };

		clock_gettime(CLOCK_MONOTONIC, &t0);
		printf("ready\n");
		if (nanosleep(&d, NULL)) {
			printf("nanosleep failed: %s\n", strerror(errno));
			return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		printf("slept %ld\n",
		       (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000);
		return 0;
	}
	printf("ready\n");
	ssize_t n = read(0, buf, sizeof(buf) - 1);
	if (n < 0) {
		printf("read failed: %s\n", strerror(errno));
		return 1;
	}
	buf[n] = '\0';
	printf("got %s", buf);
	return 0;
}
