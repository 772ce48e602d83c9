// SPDX-License-Identifier: MIT
/*
 * Established TCP connections in a dump (dump_tcp.h): the lock, the repair
 * and the image per connection, and the end of the dump for all of them.
 */
#define LOG_PREFIX "dump-tcp: "

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dump_tcp.h"
#include "log.h"
#include "netlock.h"
#include "tcp_stream_img.h"
#include "util.h"

static int enabled, img_dirfd = -1;
static struct netlock_conn *conns;
static int *fds; /* ferry's copies, in repair mode */
static unsigned nr, cap;

void dump_tcp_setup(int on, int dirfd)
{
	enabled = on;
	img_dirfd = dirfd;
}

int dump_tcp_allowed(void)
{
	return enabled;
}

unsigned dump_tcp_count(void)
{
	return nr;
}

static int remember(const struct netlock_conn *c, int lfd)
{
	if (nr == cap) {
		unsigned ncap = cap ? 2 * cap : 8;
		struct netlock_conn *nc = realloc(conns, ncap * sizeof(*nc));
		int *nf;

		if (!nc)
			return -ENOMEM;
		conns = nc;
		nf = realloc(fds, ncap * sizeof(*nf));
		if (!nf)
			return -ENOMEM;
		fds = nf;
		cap = ncap;
	}
	fds[nr] = dup(lfd);
	if (fds[nr] < 0)
		return -errno;
	conns[nr++] = *c;
	return 0;
}

/*
 * Whether @pid shares ferry's network namespace: the lock (netfilter hooks
 * are per namespace) is made in ferry's. 1, 0, or -errno.
 */
static int same_netns(pid_t pid)
{
	char mine[64], theirs[64], path[64];
	ssize_t a, b;

	a = readlink("/proc/self/ns/net", mine, sizeof(mine) - 1);
	snprintf(path, sizeof(path), "/proc/%d/ns/net", pid);
	b = readlink(path, theirs, sizeof(theirs) - 1);
	if (a < 0 || b < 0)
		return -errno;
	mine[a] = theirs[b] = 0;
	if (a == b && !memcmp(mine, theirs, (size_t)a))
		return 1;
	pr_err("pid %d: its connections live in network namespace %s, ferry in %s: the lock would not see their packets; run ferry in that namespace (nsenter --net)",
	       pid, theirs, mine);
	return 0;
}

int dump_tcp_check(pid_t pid)
{
	int same = same_netns(pid);

	return same < 0 ? same : same ? 0 : -ENOTSUP;
}

int dump_tcp_conn(pid_t pid, int fd, int lfd, uint32_t ino, struct tcp_repair_state *st)
{
	struct netlock_conn c = { .pid = pid, .fd = fd, .ino = ino };
	socklen_t l = sizeof(c.src);
	char a[64], b[64];
	int err, locked = 0, repaired = 0;

	memset(st, 0, sizeof(*st));
	if (!enabled || img_dirfd < 0) {
		err = -ENOTSUP;
		goto out;
	}
	err = same_netns(pid);
	if (err <= 0) {
		err = err ? err : -ENOTSUP;
		goto out;
	}
	if (getsockname(lfd, (struct sockaddr *)&c.src, &l)) {
		err = -errno;
		goto out;
	}
	l = sizeof(c.dst);
	if (getpeername(lfd, (struct sockaddr *)&c.dst, &l)) {
		err = -errno;
		goto out;
	}
	/* Locked first: nothing the peer sends is acked or changes the queues from here on. */
	err = netlock_take(&c, 1);
	if (err)
		goto out;
	locked = 1;
	fault_point("tcp-locked");
	repaired = 1;
	err = tcp_repair_dump(lfd, st);
	if (err)
		goto out;
	fault_point("tcp-repaired");
	err = tcp_stream_img_write(img_dirfd, ino, st);
	if (!err)
		err = remember(&c, lfd);
	if (err)
		goto out;
	/*
	 * Out of repair mode at once: a ferry killed from here on leaves a socket
	 * the program can use (in repair mode its send and recv fail), only
	 * locked (netlock_clean_stale() unlocks it). dump_tcp_silence() puts it
	 * back in repair mode right before the tree is killed.
	 */
	repaired = 0;
	err = tcp_repair_leave(lfd, st->reuseaddr);
	if (err)
		goto out;
	fault_point("tcp-dumped");
	pr_info("pid %d fd %d: socket:[%u] %s -> %s: %u bytes in, %u out (%u unsent)", pid, fd, ino,
		tcp_repair_addr_str(&c.src, a, sizeof(a)),
		tcp_repair_addr_str(&c.dst, b, sizeof(b)), st->inq_len, st->outq_len, st->unsq_len);
out:
	tcp_repair_state_free(st);
	if (err) {
		pr_err("pid %d fd %d: socket:[%u] %s -> %s: established connection not dumped: %s",
		       pid, fd, ino, tcp_repair_addr_str(&c.src, a, sizeof(a)),
		       tcp_repair_addr_str(&c.dst, b, sizeof(b)), strerror(-err));
		/* tcp_repair_dump leaves it in repair mode when it got that far. */
		if (repaired)
			tcp_repair_leave(lfd, st->reuseaddr);
		if (locked)
			netlock_release(&c, 1);
	}
	return err;
}

static void forget(void)
{
	for (unsigned i = 0; i < nr; i++)
		close(fds[i]);
	free(conns);
	free(fds);
	conns = NULL;
	fds = NULL;
	nr = cap = 0;
}

int dump_tcp_resume(void)
{
	/* The sockets left repair mode when they were read: only the locks go. */
	int err = netlock_release(conns, nr);

	if (nr)
		pr_info("%u connection(s) unlocked", nr);
	forget();
	return err;
}

void dump_tcp_abort(void)
{
	dump_tcp_resume();
}

void dump_tcp_silence(void)
{
	for (unsigned i = 0; i < nr; i++)
		/* Should it fail, the FIN or RST of the close is dropped by the lock anyway. */
		tcp_repair_on(fds[i]);
}

int dump_tcp_keep(void)
{
	int err = netlock_keep(conns, nr);

	if (!err && nr)
		pr_info("%u connection(s) stay locked until the restore (ferry netlock list)", nr);
	/* Closing ferry's copies closes the sockets, in repair mode: nothing reaches the peers. */
	forget();
	return err;
}
