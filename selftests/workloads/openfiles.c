// SPDX-License-Identifier: MIT
/*
 * A process with open regular files at known positions.
 *   openfiles DIR
 * Opens DIR/data (O_RDWR, 10000 bytes written, position 1234), DIR/log
 * (O_WRONLY|O_APPEND|O_CLOEXEC, one line appended per tick), /dev/null
 * (O_RDONLY) as fd 10, chdir(DIR), then prints
 *   openfiles: pid P data FD log FD ready
 * and appends "tick N" lines to DIR/log every 50 ms.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct timespec tick = { 0, 50 * 1000 * 1000 };
	char path[4096], buf[10000];
	int data, log, null;

	if (argc < 2)
		return 2;
	setvbuf(stdout, NULL, _IOLBF, 0);
	snprintf(path, sizeof(path), "%s/data", argv[1]);
	data = open(path, O_RDWR | O_CREAT | O_TRUNC, 0640);
	memset(buf, 'd', sizeof(buf));
	if (data < 0 || write(data, buf, sizeof(buf)) != (ssize_t)sizeof(buf) ||
	    lseek(data, 1234, SEEK_SET) != 1234)
		return 1;
	snprintf(path, sizeof(path), "%s/log", argv[1]);
	log = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	null = open("/dev/null", O_RDONLY);
	if (log < 0 || null < 0 || dup2(null, 10) != 10 || chdir(argv[1]))
		return 1;
	close(null);
	printf("openfiles: pid %d data %d log %d ready\n", getpid(), data, log);
	for (long i = 0;; i++) {
		int len = snprintf(buf, sizeof(buf), "tick %ld\n", i);

		if (write(log, buf, (size_t)len) != len)
			return 1;
		nanosleep(&tick, NULL);
	}
}
