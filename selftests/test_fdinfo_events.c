// SPDX-License-Identifier: MIT
/*
 * The event fds' lines of /proc/PID/fdinfo/N (proc_fdinfo_events.h): the
 * kernel's own text for each kind, what it left out in older kernels, and
 * lines that must be refused.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "proc_fdinfo_events.h"

TestSuite(fdinfo_events, .timeout = 10);

#define HEAD "pos:\t0\nflags:\t02004002\nmnt_id:\t17\nino:\t1038\n"

Test(fdinfo_events, eventfd)
{
	const char *t = HEAD "eventfd-count:               ff\neventfd-id: 12\n"
			     "eventfd-semaphore: 1\n";
	struct fdinfo_eventfd e;

	cr_assert_eq(proc_fdinfo_eventfd_parse(t, strlen(t), &e), 0);
	cr_expect_eq(e.count, 255); /* hexadecimal */
	cr_expect_eq(e.semaphore, 1);
	/* Before 6.8 no semaphore line: a plain counter. */
	t = HEAD "eventfd-count:                5\n";
	cr_assert_eq(proc_fdinfo_eventfd_parse(t, strlen(t), &e), 0);
	cr_expect_eq(e.count, 5);
	cr_expect_eq(e.semaphore, 0);
	t = HEAD "eventfd-semaphore: 1\n";
	cr_expect_eq(proc_fdinfo_eventfd_parse(t, strlen(t), &e), -EINVAL);
	t = HEAD "eventfd-count: zz\n";
	cr_expect_eq(proc_fdinfo_eventfd_parse(t, strlen(t), &e), -EINVAL);
	t = HEAD "eventfd-count: 1\neventfd-semaphore: 2\n";
	cr_expect_eq(proc_fdinfo_eventfd_parse(t, strlen(t), &e), -EINVAL);
}

Test(fdinfo_events, signalfd)
{
	const char *t = HEAD "sigmask:\t0000000200000200\n";
	uint64_t m;

	cr_assert_eq(proc_fdinfo_signalfd_parse(t, strlen(t), &m), 0);
	cr_expect_eq(m, 0x200000200ull);
	t = HEAD;
	cr_expect_eq(proc_fdinfo_signalfd_parse(t, strlen(t), &m), -EINVAL);
	t = HEAD "sigmask:\t-1\n";
	cr_expect_eq(proc_fdinfo_signalfd_parse(t, strlen(t), &m), -EINVAL);
}

Test(fdinfo_events, timerfd)
{
	const char *t = HEAD "clockid: 0\nticks: 7\nsettime flags: 03\n"
			     "it_value: (99, 776406782)\nit_interval: (1, 500)\n";
	struct fdinfo_timerfd f;

	cr_assert_eq(proc_fdinfo_timerfd_parse(t, strlen(t), &f), 0);
	cr_expect_eq(f.clockid, 0);
	cr_expect_eq(f.ticks, 7);
	cr_expect_eq(f.settime_flags, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET); /* octal */
	cr_expect_eq(f.vsec, 99);
	cr_expect_eq(f.vnsec, 776406782);
	cr_expect_eq(f.isec, 1);
	cr_expect_eq(f.insec, 500);
	t = HEAD "clockid: 0\nticks: 7\nsettime flags: 03\nit_value: (1, 1000000000)\n"
		 "it_interval: (1, 500)\n";
	cr_expect_eq(proc_fdinfo_timerfd_parse(t, strlen(t), &f), -EINVAL, "nsec out of range");
	t = HEAD "clockid: 0\nticks: 7\nsettime flags: 03\nit_value: (1, 2\n"
		 "it_interval: (1, 500)\n";
	cr_expect_eq(proc_fdinfo_timerfd_parse(t, strlen(t), &f), -EINVAL, "no ')'");
	t = HEAD "clockid: 0\nticks: 7\nit_value: (1, 2)\nit_interval: (1, 500)\n";
	cr_expect_eq(proc_fdinfo_timerfd_parse(t, strlen(t), &f), -EINVAL, "no settime flags");
}

Test(fdinfo_events, epoll)
{
	const char *t = HEAD
		"tfd:        3 events: 80000019 data: 1122334455667788  pos:0 ino:40e sdev:10\n"
		"tfd:       15 events:       19 data:                f  pos:0 ino:1a7cf4 sdev:f\n";
	struct fdinfo_epoll ep;

	cr_assert_eq(proc_fdinfo_epoll_parse(t, strlen(t), &ep), 0);
	cr_assert_eq(ep.nr, 2);
	cr_expect_eq(ep.tfd[0].tfd, 3);
	cr_expect_eq(ep.tfd[0].events, EPOLLET | EPOLLIN | EPOLLERR | EPOLLHUP);
	cr_expect_eq(ep.tfd[0].data, 0x1122334455667788ull);
	cr_expect_eq(ep.tfd[0].ino, 0x40e);
	cr_expect_eq(ep.tfd[0].sdev, 0x10);
	cr_expect_eq(ep.tfd[1].tfd, 15);
	cr_expect_eq(ep.tfd[1].data, 15);
	cr_expect_eq(ep.tfd[1].ino, 0x1a7cf4);
	free(ep.tfd);
	/* No targets: fine, nothing to free. */
	cr_assert_eq(proc_fdinfo_epoll_parse(HEAD, strlen(HEAD), &ep), 0);
	cr_expect_eq(ep.nr, 0);
	cr_expect_null(ep.tfd);
	t = HEAD "tfd:        3 events: 19 data: 1  pos:0 ino:40e\n";
	cr_expect_eq(proc_fdinfo_epoll_parse(t, strlen(t), &ep), -EINVAL, "no sdev");
	t = HEAD "tfd:        3 events: 19 data: 1  pos:0 ino:40e sdev:10 more\n";
	cr_expect_eq(proc_fdinfo_epoll_parse(t, strlen(t), &ep), -EINVAL, "trailing text");
}

/* The real thing, read back from our own fds. */
Test(fdinfo_events, own_fds)
{
	int e = eventfd(0x1234, EFD_SEMAPHORE), ep = epoll_create1(0);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLONESHOT, .data.u64 = 77 };
	struct fdinfo_eventfd fe;
	struct fdinfo_epoll fp;
	char *buf;
	size_t len;

	cr_assert_geq(e, 0);
	cr_assert_eq(epoll_ctl(ep, EPOLL_CTL_ADD, e, &ev), 0);
	cr_assert_eq(proc_fdinfo_text(getpid(), e, &buf, &len), 0);
	cr_assert_eq(proc_fdinfo_eventfd_parse(buf, len, &fe), 0);
	free(buf);
	cr_expect_eq(fe.count, 0x1234);
	cr_expect_eq(fe.semaphore, 1);
	cr_assert_eq(proc_fdinfo_text(getpid(), ep, &buf, &len), 0);
	cr_assert_eq(proc_fdinfo_epoll_parse(buf, len, &fp), 0);
	free(buf);
	cr_assert_eq(fp.nr, 1);
	cr_expect_eq(fp.tfd[0].tfd, (uint32_t)e);
	cr_expect_eq(fp.tfd[0].data, 77);
	cr_expect(fp.tfd[0].events & EPOLLONESHOT);
	free(fp.tfd);
	close(ep);
	close(e);
	cr_expect_eq(proc_fdinfo_text(getpid(), e, &buf, &len), -ENOENT);
}
