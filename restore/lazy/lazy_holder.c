// SPDX-License-Identifier: MIT
/*
 * The holder of a lazy restore ("ferry-lazyh"): a small process the daemon
 * forks first, in a session of its own, that the OOM killer never picks. It
 * keeps a copy of every userfaultfd the daemon serves, so that a dead daemon
 * does not close them: the kernel would then unregister the memory and the
 * missing pages would read as zeros. With the holder alive, a thread that
 * touches a missing page waits instead.
 *
 * It also keeps the journal of what changed the daemon's index (new address
 * spaces, forks, remap/remove/unmap events, address spaces let go). When the
 * daemon dies before it is over (no LH_END), the holder:
 *   - says so, naming the processes that wait and how to resume them;
 *   - listens on the abstract unix socket "ferry-lazy-PID" (PID: the first
 *     restored process); `ferry lazy-pages --attach PID` connects (root or
 *     the holder's user only), gets the journal replayed with the
 *     userfaultfds, and serves from then on, journaling to the holder;
 *   - if nobody attaches within the orphan timeout, kills every process that
 *     still misses pages, and those below it, naming each.
 * It ends with LH_END, or when every process it holds is gone.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define LOG_PREFIX "lazy-pages holder: "
#include "lazy.h"
#include "lazy_ctl.h"
#include "lazy_daemon_priv.h"
#include "log.h"
#include "util.h"

int lazy_hsend(int sock, const struct lazy_hmsg *m, const int *fds, int nfds)
{
	char cbuf[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov = { (void *)m, sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	ssize_t n;

	if (nfds > 0) {
		struct cmsghdr *c;

		memset(cbuf, 0, sizeof(cbuf));
		mh.msg_control = cbuf;
		mh.msg_controllen = CMSG_SPACE((size_t)nfds * sizeof(int));
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)nfds * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)nfds * sizeof(int));
	}
	do
		n = sendmsg(sock, &mh, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n == (ssize_t)sizeof(*m) ? 0 : n < 0 ? -errno : -EPROTO;
}

int lazy_hrecv(int sock, struct lazy_hmsg *m, int fds[2])
{
	char cbuf[CMSG_SPACE(2 * sizeof(int))];
	struct iovec iov = { m, sizeof(*m) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = cbuf,
			     .msg_controllen = sizeof(cbuf) };
	struct cmsghdr *c;
	ssize_t n;

	fds[0] = fds[1] = -1;
	do
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	c = CMSG_FIRSTHDR(&mh);
	if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
		size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		memcpy(fds, CMSG_DATA(c), (k > 2 ? 2 : k) * sizeof(int));
	}
	if (n == 0)
		return -ECONNRESET;
	return n == (ssize_t)sizeof(*m) ? 0 : -EPROTO;
}

void lazy_holder_name(pid_t pid, struct sockaddr_un *a, socklen_t *len)
{
	memset(a, 0, sizeof(*a));
	a->sun_family = AF_UNIX;
	/* Abstract: nothing in the file system to clean up after a SIGKILL. */
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 +
			   (size_t)snprintf(a->sun_path + 1, sizeof(a->sun_path) - 1,
					    "ferry-lazy-%d", (int)pid));
}

struct hmm {
	int uffd, pidfd;
	pid_t pid;
	int done;
};

struct holder {
	int dsock; /* the daemon's end, -1 while orphaned */
	int lsock; /* for --attach, once the first process is known */
	pid_t first;
	struct lazy_hmsg *j;
	size_t nj, cj;
	struct hmm *mm;
	size_t nmm;
	long orphan_ms;
	uint64_t orphaned_at; /* mono_ns, 0 while a daemon serves */
};

static void hmm_close(struct hmm *h)
{
	if (h->uffd >= 0)
		close(h->uffd);
	if (h->pidfd >= 0)
		close(h->pidfd);
	h->uffd = h->pidfd = -1;
	h->done = 1;
}

static int journal(struct holder *h, const struct lazy_hmsg *m)
{
	if (h->nj == h->cj) {
		size_t c = h->cj ? 2 * h->cj : 64;
		struct lazy_hmsg *v = realloc(h->j, c * sizeof(*v));

		if (!v)
			return -ENOMEM;
		h->j = v;
		h->cj = c;
	}
	h->j[h->nj++] = *m;
	return 0;
}

static void listen_for_attach(struct holder *h, pid_t pid)
{
	struct sockaddr_un a;
	socklen_t len;

	h->first = pid;
	lazy_holder_name(pid, &a, &len);
	h->lsock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (h->lsock < 0 || bind(h->lsock, (struct sockaddr *)&a, len) || listen(h->lsock, 2)) {
		pr_perror("cannot listen on @ferry-lazy-%d: a new daemon could not attach", pid);
		if (h->lsock >= 0)
			close(h->lsock);
		h->lsock = -1;
	}
}

/* One message from the daemon. Returns 1 at LH_END, 0, or -errno. */
static int on_daemon(struct holder *h)
{
	struct lazy_hmsg m;
	int fds[2], err, k = 0;

	err = lazy_hrecv(h->dsock, &m, fds);
	if (err)
		return err;
	switch (m.type) {
	case LH_MM: {
		struct hmm *v = realloc(h->mm, (h->nmm + 1) * sizeof(*v));

		if (!v || m.mm != (int32_t)h->nmm) {
			err = v ? -EPROTO : -ENOMEM;
			if (v)
				h->mm = v;
			break;
		}
		h->mm = v;
		v[h->nmm] = (struct hmm){ .uffd = -1, .pidfd = -1, .pid = m.pid };
		if (m.fds & LH_FD_UFFD)
			v[h->nmm].uffd = fds[k++];
		if (m.fds & LH_FD_PIDFD)
			v[h->nmm].pidfd = fds[k++];
		fds[0] = fds[1] = -1;
		h->nmm++;
		if (h->lsock < 0 && h->first == 0 && m.pid > 0 && m.parent < 0)
			listen_for_attach(h, m.pid);
		err = journal(h, &m);
		break;
	}
	case LH_EVENT:
		err = journal(h, &m);
		break;
	case LH_RELEASE:
		if (m.mm < 0 || (size_t)m.mm >= h->nmm) {
			err = -EPROTO;
			break;
		}
		hmm_close(&h->mm[m.mm]);
		err = journal(h, &m);
		break;
	case LH_END:
		return 1;
	default:
		err = -EPROTO;
	}
	for (int i = 0; i < 2; i++)
		if (fds[i] >= 0)
			close(fds[i]);
	return err;
}

/* A new daemon: the journal, with the descriptors still held, then LH_ATTACHED. */
static int replay(struct holder *h, int s)
{
	struct lazy_hmsg end = { .type = LH_ATTACHED };
	int err = 0;

	for (size_t i = 0; !err && i < h->nj; i++) {
		struct lazy_hmsg m = h->j[i];
		int fds[2], n = 0;

		if (m.type == LH_MM) {
			const struct hmm *x = &h->mm[m.mm];

			m.fds = 0;
			if (x->uffd >= 0) {
				fds[n++] = x->uffd;
				m.fds |= LH_FD_UFFD;
			}
			if (x->pidfd >= 0) {
				fds[n++] = x->pidfd;
				m.fds |= LH_FD_PIDFD;
			}
		}
		err = lazy_hsend(s, &m, fds, n);
	}
	if (!err)
		err = lazy_hsend(s, &end, NULL, 0);
	return err;
}

static void on_attach(struct holder *h)
{
	struct ucred cr;
	socklen_t len = sizeof(cr);
	int s = accept4(h->lsock, NULL, NULL, SOCK_CLOEXEC);
	int err;

	if (s < 0)
		return;
	if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cr, &len) ||
	    (cr.uid != 0 && cr.uid != geteuid())) {
		pr_warn("refused an attach from pid %d uid %u: only root or uid %u may serve these "
			"processes",
			(int)cr.pid, (unsigned int)cr.uid, (unsigned int)geteuid());
		close(s);
		return;
	}
	if (h->dsock >= 0) {
		pr_warn("refused an attach from pid %d: a lazy-pages daemon serves pid %d already",
			(int)cr.pid, h->first);
		close(s);
		return;
	}
	err = replay(h, s);
	if (err) {
		pr_errno(err, "cannot hand the journal to pid %d", (int)cr.pid);
		close(s);
		return;
	}
	pr_msg("lazy-pages holder: pid %d attached: it serves pid %d's missing pages now",
	       (int)cr.pid, h->first);
	h->dsock = s;
	h->orphaned_at = 0;
}

static void orphaned(struct holder *h, int why)
{
	size_t waiting = 0;

	h->orphaned_at = mono_ns();
	for (size_t i = 0; i < h->nmm; i++)
		waiting += !h->mm[i].done;
	pr_err("the lazy-pages daemon is gone (%s) while %zu address space(s) miss pages; their "
	       "threads wait on them. Resume with `ferry lazy-pages --attach %d -D DIR` within "
	       "%ld s, or they are killed",
	       why < 0 ? strerror(-why) : "killed", waiting, h->first, h->orphan_ms / 1000);
}

/* Nobody came: kill each process that misses pages, and those below it. */
static void kill_waiting(struct holder *h)
{
	for (size_t i = 0; i < h->nmm; i++) {
		struct hmm *x = &h->mm[i];

		if (x->done || x->pid <= 0)
			continue;
		pr_err("pid %d: killed, with its children: its pages could not be filled (its "
		       "lazy-pages daemon died and none attached within %ld s); it never ran on "
		       "missing memory",
		       x->pid, h->orphan_ms / 1000);
		lazy_kill_tree(x->pid);
		if (x->pidfd >= 0) {
			struct pollfd p = { .fd = x->pidfd, .events = POLLIN };

			poll(&p, 1, 1000); /* gone before its uffd closes */
		}
		hmm_close(x);
	}
	/* Forked children (pid unknown) were below a process killed above. */
	for (size_t i = 0; i < h->nmm; i++)
		hmm_close(&h->mm[i]);
}

static int holder_run(struct holder *h)
{
	int ret = 0;

	for (;;) {
		struct pollfd p[2 + MAX_POLL];
		size_t who[2 + MAX_POLL];
		nfds_t n = 0;
		int timeout = -1, live = 0, err;

		for (size_t i = 0; i < h->nmm; i++)
			live += !h->mm[i].done && h->mm[i].pidfd >= 0;
		if (h->dsock < 0 && h->nmm && !live)
			break; /* orphaned, and every process it held is gone */
		if (h->dsock >= 0) {
			who[n] = SIZE_MAX;
			p[n++] = (struct pollfd){ .fd = h->dsock, .events = POLLIN };
		}
		if (h->lsock >= 0) {
			who[n] = SIZE_MAX - 1;
			p[n++] = (struct pollfd){ .fd = h->lsock, .events = POLLIN };
		}
		for (size_t i = 0; i < h->nmm && n < 2 + MAX_POLL; i++)
			if (!h->mm[i].done && h->mm[i].pidfd >= 0) {
				who[n] = i;
				p[n++] = (struct pollfd){ .fd = h->mm[i].pidfd, .events = POLLIN };
			}
		if (h->orphaned_at) {
			uint64_t end = h->orphaned_at + (uint64_t)h->orphan_ms * 1000000ull;
			uint64_t now = mono_ns();

			if (now >= end) {
				kill_waiting(h);
				ret = 1;
				break;
			}
			timeout = (int)((end - now) / 1000000) + 1;
		}
		if (poll(p, n, timeout) < 0 && errno != EINTR)
			break;
		for (nfds_t i = 0; i < n; i++) {
			if (!p[i].revents)
				continue;
			if (who[i] == SIZE_MAX) {
				err = on_daemon(h);
				if (err == 1)
					goto out;
				if (err) {
					close(h->dsock);
					h->dsock = -1;
					if (!h->nmm)
						goto out; /* it held nothing yet */
					orphaned(h, err == -ECONNRESET ? 0 : err);
				}
			} else if (who[i] == SIZE_MAX - 1) {
				on_attach(h);
			} else {
				hmm_close(&h->mm[who[i]]); /* it exited */
			}
		}
	}
out:
	return ret;
}

int lazy_holder_start(const struct lazy_opts *o, int close_fd, pid_t *holder)
{
	int sv[2], err;
	pid_t pid;

	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv)) {
		err = -errno;
		pr_errno(err, "socketpair for the holder");
		return err;
	}
	fflush(NULL);
	pid = fork();
	if (pid < 0) {
		err = -errno;
		pr_errno(err, "cannot fork the holder");
		close(sv[0]);
		close(sv[1]);
		return err;
	}
	if (pid == 0) {
		struct holder h = { .dsock = sv[1],
				    .lsock = -1,
				    .orphan_ms = o->orphan_timeout_ms };
		int fd, ret;

		close(sv[0]);
		if (close_fd >= 0)
			close(close_fd);
		setsid(); /* a kill of restore's process group does not reach it */
		prctl(PR_SET_NAME, "ferry-lazyh");
		fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC);
		if (fd >= 0) {
			if (write(fd, "-1000", 5) != 5)
				pr_debug("cannot keep the OOM killer away: %s", strerror(errno));
			close(fd);
		}
		signal(SIGPIPE, SIG_IGN);
		ret = holder_run(&h);
		for (size_t i = 0; i < h.nmm; i++)
			hmm_close(&h.mm[i]);
		free(h.mm);
		free(h.j);
		fflush(NULL);
		_exit(ret);
	}
	close(sv[1]);
	*holder = pid;
	return sv[0];
}
