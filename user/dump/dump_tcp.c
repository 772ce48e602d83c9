// SPDX-License-Identifier: MIT
/*
 * Established TCP connections in a dump (dump_tcp.h): the lock, the repair
 * and the image per connection, and the end of the dump for all of them.
 */
#define LOG_PREFIX "dump-tcp: "

#include <errno.h>
#include <arpa/inet.h>
#include <netinet/in.h>
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
static struct netlock_conn *conns; /* dumped */
static int *fds;		   /* ferry's copies of the dumped sockets */
static unsigned nr, cap;
static struct netlock_conn *locks;		 /* every connection locked (dumped or not yet) */
static unsigned nr_locks, cap_locks, nr_pending; /* the last nr_pending not locked yet */

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

static int add_lock(const struct netlock_conn *c)
{
	if (nr_locks == cap_locks) {
		unsigned ncap = cap_locks ? 2 * cap_locks : 8;
		struct netlock_conn *n = realloc(locks, ncap * sizeof(*n));

		if (!n)
			return -ENOMEM;
		locks = n;
		cap_locks = ncap;
	}
	locks[nr_locks++] = *c;
	return 0;
}

static int is_locked(uint32_t ino)
{
	/* Pending ones too: a socket shared by several fds is noted once. */
	for (unsigned i = 0; i < nr_locks; i++)
		if (locks[i].ino == ino)
			return 1;
	return 0;
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

static void to_sockaddr(uint32_t family, const uint32_t *addr, uint32_t port,
			struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;

		s6->sin6_family = AF_INET6;
		memcpy(&s6->sin6_addr, addr, 16);
		s6->sin6_port = htons((uint16_t)port);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)ss;

		s4->sin_family = AF_INET;
		memcpy(&s4->sin_addr, addr, 4);
		s4->sin_port = htons((uint16_t)port);
	}
}

int dump_tcp_check(pid_t pid, int fd, uint32_t ino, uint32_t family, const uint32_t *src,
		   uint32_t src_port, const uint32_t *dst, uint32_t dst_port)
{
	struct netlock_conn c = { .pid = pid, .fd = fd, .ino = ino };
	int same = same_netns(pid);

	if (same <= 0)
		return same < 0 ? same : -ENOTSUP;
	/* A real dump: locked with the others before any is read (dump_tcp_lock_all). */
	if (img_dirfd < 0 || is_locked(ino))
		return 0;
	to_sockaddr(family, src, src_port, &c.src);
	to_sockaddr(family, dst, dst_port, &c.dst);
	nr_pending++;
	return add_lock(&c);
}

int dump_tcp_lock_all(void)
{
	int err;

	if (!nr_pending)
		return 0;
	err = netlock_take(locks + nr_locks - nr_pending, nr_pending);
	if (err) {
		nr_locks -= nr_pending;
		nr_pending = 0;
		return err;
	}
	pr_info("%u connection(s) locked", nr_pending);
	nr_pending = 0;
	fault_point("tcp-locked");
	return 0;
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
	/*
	 * Locked first (dump_tcp_lock_all did it with the others, unless the
	 * connection is newer than the preflight): nothing the peer sends is
	 * acked or changes the queues from here on.
	 */
	err = dump_tcp_lock_all(); /* one noted since (a socket newer than the preflight) */
	if (err)
		goto out;
	if (!is_locked(ino)) {
		err = netlock_take(&c, 1);
		if (err)
			goto out;
		err = add_lock(&c);
		if (err) {
			netlock_release(&c, 1);
			goto out;
		}
		locked = 1;
	}
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
		if (locked) {
			netlock_release(&c, 1);
			nr_locks--;
		}
	}
	return err;
}

static void forget(void)
{
	for (unsigned i = 0; i < nr; i++)
		close(fds[i]);
	free(conns);
	free(fds);
	free(locks);
	conns = locks = NULL;
	fds = NULL;
	nr = cap = nr_locks = cap_locks = nr_pending = 0;
}

int dump_tcp_resume(void)
{
	/* The sockets left repair mode when they were read: only the locks go. */
	int err = netlock_release(locks, nr_locks - nr_pending);

	if (nr_locks)
		pr_info("%u connection(s) unlocked", nr_locks - nr_pending);
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
	int err = netlock_keep(conns, nr), e;

	if (!err && nr)
		pr_info("%u connection(s) stay locked until the restore (ferry netlock list)", nr);
	/* Locked in the preflight but gone before they were read: nothing to keep them for. */
	for (unsigned i = 0; i < nr_locks - nr_pending; i++) {
		int dumped = 0;

		for (unsigned j = 0; j < nr && !dumped; j++)
			dumped = conns[j].ino == locks[i].ino;
		if (!dumped) {
			e = netlock_release(&locks[i], 1);
			if (e && !err)
				err = e;
		}
	}
	/* Closing ferry's copies closes the sockets, in repair mode: nothing reaches the peers. */
	forget();
	return err;
}
