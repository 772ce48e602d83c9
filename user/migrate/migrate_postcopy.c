// SPDX-License-Identifier: MIT
/*
 * The source's post-copy (migrate_priv.h): the frozen tree's state goes
 * without its last pages; a page server over the final dump (and, through
 * its parent links, the pre-copy rounds) serves them to the destination's
 * lazy restore, in a child process so that it serves while the source waits
 * for the verdict; the source ends once the destination says every page is
 * in.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_PREFIX "migrate: "
#include "log.h"
#include "migrate_priv.h"
#include "util.h"

/* The address the stream runs on, here: the page server listens there too. */
static int local_address(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	const void *a;

	if (getsockname(fd, (struct sockaddr *)&ss, &sl))
		return -errno;
	a = ss.ss_family == AF_INET6 ? (const void *)&((struct sockaddr_in6 *)&ss)->sin6_addr
				     : (const void *)&((struct sockaddr_in *)&ss)->sin_addr;
	return inet_ntop(ss.ss_family, a, buf, (socklen_t)len) ? 0 : -errno;
}

/*
 * The page server's child: it holds nothing of ours (the tree's pidfds,
 * userfaultfds and /proc files would keep the killed tree from dying until
 * it exits), listens over @dir, writes its port (or -errno) to @pfd, serves.
 */
static void pager_child(struct mrounds *r, const char *dir, const char *addr, int pfd)
{
	const struct migrate_pager *pg = r->s->o->pager;
	uint64_t n[2];
	int port = 0, err;

	/* The source's pages must not outlive the source: die with it. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		_exit(1);
	if (dup2(pfd, 3) != 3)
		_exit(1);
	syscall(SYS_close_range, 4, ~0u, 0);
	err = pg->open(pg->arg, dir, addr, r->s->o->secret_file, &port);
	if (!err && port <= 0)
		err = -EINVAL;
	if (write(3, err ? &err : &port, sizeof(int)) != sizeof(int) || err)
		_exit(1);
	err = pg->run(pg->arg);
	/* What went after the switch: the source's --json reports it. */
	n[0] = pg->pages(pg->arg, &n[1]);
	if (write(3, n, sizeof(n)) != sizeof(n))
		err = -EIO;
	close(3);
	pg->free(pg->arg);
	_exit(err ? 1 : 0);
}

/* Serve @dir on the stream's own address, in a child that dies with us. */
static int start_pager(struct mrounds *r, const char *dir)
{
	char addr[64];
	int err, p[2], v = 0;
	pid_t pid;

	if (!r->s->o->pager) {
		pr_err("post-copy without a page server");
		return -EINVAL;
	}
	err = local_address(r->s->c.fd, addr, sizeof(addr));
	if (err) {
		pr_err("%s: the stream's local address: %s", r->s->c.peer, strerror(-err));
		return err;
	}
	if (pipe2(p, O_CLOEXEC))
		return -errno;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		close(p[0]);
		pager_child(r, dir, addr, p[1]);
	}
	err = pid < 0 ? -errno : 0;
	close(p[1]);
	if (!err) {
		r->pager = pid;
		r->pager_fd = p[0];
		if (read(p[0], &v, sizeof(v)) != sizeof(v))
			v = -EIO;
	} else {
		close(p[0]);
	}
	if (!err && v <= 0) {
		err = v ? v : -EIO;
		postcopy_stop(r);
	}
	if (err) {
		pr_err("%s: cannot serve the pages of %s on %s: %s", r->s->c.peer, dir, addr,
		       strerror(-err));
		return err;
	}
	r->pager_port = v;
	pr_info("%s: page server (pid %d) serves %s on %s port %d", r->s->c.peer, pid, dir, addr,
		r->pager_port);
	return 0;
}

void postcopy_stop(struct mrounds *r)
{
	if (r->pager_fd >= 0)
		close(r->pager_fd);
	r->pager_fd = -1;
	if (r->pager <= 0)
		return;
	kill(r->pager, SIGKILL);
	waitpid(r->pager, NULL, 0);
	r->pager = 0;
}

int send_postcopy(void *arg, const char *dir)
{
	struct mrounds *r = arg;
	struct msend *s = r->s;
	int err;

	r->t_hold = mono_us();
	err = start_pager(r, dir);
	if (!err)
		err = msend_section(s, MIG_SEC_POSTCOPY, r->round);
	if (!err)
		err = msend_dir_images(s, dir, 1);
	if (!err)
		err = msend_postcopy_server(s, (uint32_t)r->pager_port);
	if (!err)
		err = msend_end(s, r->round);
	r->final_bytes = s->st.bytes;
	r->t_sent = mono_us();
	if (!err)
		err = mrounds_wait_verdict(r);
	if (err)
		postcopy_stop(r); /* the tree is released: nothing to serve */
	return err;
}

int postcopy_finish(struct mrounds *r)
{
	struct msend *s = r->s;
	struct mig_pdu p;
	char msg[PS_MAX_TEXT + 1];
	int err, status = 0;
	uint64_t n[2];

	/* The pages come as fast as the destination pulls them: no time limit here. */
	s->c.timeout_ms = 0;
	err = mig_recv(&s->c, 1u << MIG_PAGES_IN | 1u << MIG_ERROR, &p);
	if (!err && p.type == MIG_ERROR) {
		pr_err("%s: the destination failed after the switch (code %u): %s", s->c.peer,
		       p.ps.error.code,
		       ps_printable(p.ps.error.msg, p.ps.error.msg_len, msg, sizeof(msg)));
		err = -EREMOTEIO;
	} else if (!err) {
		ps_printable(p.pages_in.msg, p.pages_in.msg_len, msg, sizeof(msg));
		if (!p.pages_in.ok) {
			pr_err("%s: not every page reached the destination: %s", s->c.peer, msg);
			err = -EREMOTEIO;
		} else {
			r->t_pages_in = mono_us();
			r->pc_left = p.pages_in.pages;
			pr_info("%s: every page is in (%llu held only here): %s", s->c.peer,
				(unsigned long long)p.pages_in.pages, msg);
		}
	} else {
		pr_err("%s: the destination went away before every page was in", s->c.peer);
	}
	if (err) {
		postcopy_stop(r);
		return err;
	}
	/* Its session ended with Bye once the daemon was done: the child exits by itself. */
	if (waitpid(r->pager, &status, 0) == r->pager &&
	    !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) {
		pr_err("the page server (pid %d) ended with status 0x%x", r->pager, status);
		err = -EIO;
	}
	r->pager = 0;
	if (!err && read(r->pager_fd, n, sizeof(n)) == sizeof(n)) {
		r->pc_served = n[0];
		r->pc_fault = n[1];
		pr_info("%s: the page server served %llu pages after the switch (%llu for faults)",
			s->c.peer, (unsigned long long)n[0], (unsigned long long)n[1]);
	}
	close(r->pager_fd);
	r->pager_fd = -1;
	return err;
}
