// SPDX-License-Identifier: MIT
/*
 * The queued bytes of a pseudo-terminal pair (see pty_queue.h).
 */
#include <errno.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "pty_queue.h"
#include "util.h"

/* Wait up to a second for FIONREAD of @fd to reach @want. */
static void wait_queued(int fd, int want)
{
	struct timespec ms = { 0, 1000000 };
	int n = 0;

	for (int i = 0; i < 1000; i++) {
		if (ioctl(fd, FIONREAD, &n) || n >= want)
			return;
		nanosleep(&ms, NULL);
	}
}

int pty_queue_put(int master, int slave, const void *in, size_t inlen, const void *out,
		  size_t outlen)
{
	struct termios orig, quiet;
	int err = 0, in0 = 0, out0 = 0;

	if (!inlen && !outlen)
		return 0;
	if (tcgetattr(slave, &orig))
		return -errno;
	quiet = orig;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ISIG | IEXTEN);
	/* IXON stays: a change of it shows as a status byte to a master in packet mode. */
	quiet.c_iflag &= ~(tcflag_t)(ICRNL | INLCR | IGNCR | IUCLC | ISTRIP);
	quiet.c_oflag &= ~(tcflag_t)OPOST;
	if (tcsetattr(slave, TCSANOW, &quiet))
		return -errno;
	ioctl(slave, FIONREAD, &in0);
	ioctl(master, FIONREAD, &out0);
	if (inlen)
		err = write_full(master, in, inlen);
	if (!err && outlen)
		err = write_full(slave, out, outlen);
	/* The line discipline takes the bytes in a work item: wait before echo is back on. */
	if (!err && inlen)
		wait_queued(slave, in0 + (int)inlen);
	if (!err && outlen)
		wait_queued(master, out0 + (int)outlen);
	if (tcsetattr(slave, TCSANOW, &orig) && !err)
		err = -errno;
	return err;
}

int pty_queue_take(int fd, int is_master, void *buf, size_t *len)
{
	int n = 0, pkt = 0, off = 0, err = 0;
	size_t got = 0;

	*len = 0;
	if (ioctl(fd, FIONREAD, &n))
		return -errno;
	if (n <= 0)
		return 0;
	if (n > PTY_QUEUE_MAX)
		n = PTY_QUEUE_MAX;
	if (is_master && !ioctl(fd, TIOCGPKT, &pkt) && pkt && ioctl(fd, TIOCPKT, &off))
		return -errno;
	while (got < (size_t)n) {
		ssize_t r = read(fd, (char *)buf + got, (size_t)n - got);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0 && errno != EAGAIN)
			err = -errno;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	if (pkt && ioctl(fd, TIOCPKT, &pkt) && !err)
		err = -errno;
	*len = got;
	return err;
}
