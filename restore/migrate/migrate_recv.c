// SPDX-License-Identifier: MIT
/*
 * `ferry migrate --incoming` (migrate_recv.h): listen, hello, the sections
 * into the page store and the images directory, restore, verdict.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_PREFIX "migrate: "
#include "hmac.h"
#include "img.h"
#include "log.h"
#include "migrate_recv.h"
#include "migrate_levels.h"
#include "migrate_wire.h"
#include "restore.h"
#include "sock_peer.h"
#include "util.h"

struct rarea {
	pid_t pid;
	uint64_t start, nr_pages;
};

struct mrecv {
	const struct migrate_recv_opts *o;
	struct mig_conn c;
	char peer[INET6_ADDRSTRLEN + 16];
	char host[INET6_ADDRSTRLEN + 2]; /* the source's address ("[v6]" for IPv6) */
	int pager_port;			 /* post-copy: the source's page server, 0 if none */
	uint64_t remote_pages;		 /* post-copy: pages only the source holds */
	int dirfd;
	const char *dir;
	struct mlevel lv;    /* the level the open section writes (not for setup) */
	char last_round[64]; /* the previous iteration's level, "" before the first */
	struct rarea *areas;
	size_t nr_areas;
	uint64_t round;			/* of the last section */
	uint64_t t_section, section_us; /* the open section's start; the final one's time */
	uint64_t images, image_bytes, pages, zero_pages, xbzrle_pages;
	int xbzrle;	       /* XBZRLE agreed on in the hello */
	struct mcopies copies; /* then: the latest copy of every page */
};

static int listen_on(const struct migrate_recv_opts *o, int *out)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	struct addrinfo hints = { .ai_family = AF_UNSPEC,
				  .ai_socktype = SOCK_STREAM,
				  .ai_flags = AI_PASSIVE | AI_NUMERICSERV },
			*res;
	char port[16], host[INET6_ADDRSTRLEN];
	int fd, one = 1, r, err;

	snprintf(port, sizeof(port), "%d", o->port);
	r = getaddrinfo(o->address ? o->address : "127.0.0.1", port, &hints, &res);
	if (r) {
		pr_err("--address %s: %s", o->address ? o->address : "127.0.0.1", gai_strerror(r));
		return -EADDRNOTAVAIL;
	}
	if (!sock_addr_loopback(res->ai_addr) && !o->secret_file) {
		pr_err("refusing to listen on %s, which is not a loopback address, without "
		       "--secret-file: anyone who can connect could run processes here as root",
		       o->address);
		freeaddrinfo(res);
		return -EPERM;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, res->ai_addr, res->ai_addrlen) || listen(fd, 1) ||
	    getsockname(fd, (struct sockaddr *)&ss, &sl)) {
		err = -errno;
		pr_err("cannot listen on %s port %d: %s", o->address ? o->address : "(any)",
		       o->port, strerror(-err));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(res);
		return err;
	}
	freeaddrinfo(res);
	if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
	else
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
	/* Scripts and tests wait for this line (and read the port from it). */
	printf("migrate: listening on %s%s%s:%d\n", ss.ss_family == AF_INET6 ? "[" : "", host,
	       ss.ss_family == AF_INET6 ? "]" : "",
	       ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
					      : ((struct sockaddr_in *)&ss)->sin_port));
	fflush(stdout);
	*out = fd;
	return 0;
}

static int accept_one(struct mrecv *m, int lfd)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	int fd, err;

	if (m->o->accept_timeout_ms > 0) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };
		int r = poll(&p, 1, (int)m->o->accept_timeout_ms);

		if (r <= 0) {
			err = r ? -errno : -ETIMEDOUT;
			pr_err("no source connected within %ld ms: %s", m->o->accept_timeout_ms,
			       strerror(-err));
			return err;
		}
	}
	fd = accept4(lfd, (struct sockaddr *)&ss, &sl, SOCK_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		pr_err("accept: %s", strerror(-err));
		return err;
	}
	if (ss.ss_family == AF_INET6)
		inet_ntop(AF_INET6, &((struct sockaddr_in6 *)&ss)->sin6_addr, host, sizeof(host));
	else if (ss.ss_family == AF_INET)
		inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, host, sizeof(host));
	snprintf(m->peer, sizeof(m->peer), "source %s", host);
	snprintf(m->host, sizeof(m->host), ss.ss_family == AF_INET6 ? "[%s]" : "%s", host);
	mig_conn_init(&m->c, fd, m->peer);
	m->c.timeout_ms = m->o->timeout_ms;
	pr_info("%s connected", m->peer);
	return 0;
}

/* --from-file: the source's octets from a capture; nothing goes back. */
static int open_capture(struct mrecv *m)
{
	int fd = open(m->o->from_file, O_RDONLY | O_CLOEXEC), err;

	if (fd < 0) {
		err = -errno;
		pr_err("%s: cannot open the captured stream: %s", m->o->from_file, strerror(-err));
		return err;
	}
	snprintf(m->peer, sizeof(m->peer), "stream file %s", m->o->from_file);
	mig_conn_init(&m->c, fd, m->peer);
	m->c.sink = 1;
	pr_info("reading %s", m->peer);
	return 0;
}

/* Tell the source why the migration ends here (best effort: it may be gone). */
static void send_error(struct mrecv *m, uint32_t code, const char *msg)
{
	if (m->c.fd < 0)
		return;
	if (!ps_enc_error(&m->c.enc, code, msg))
		mig_send(&m->c, &m->c.enc);
	ber_enc_reset(&m->c.enc);
}

static int hello(struct mrecv *m)
{
	uint8_t nonce[PS_NONCE_SIZE], proof[PS_PROOF_SIZE], *secret = NULL;
	size_t slen = 0;
	struct mig_pdu p;
	int err;

	if (getrandom(nonce, sizeof(nonce), 0) != sizeof(nonce)) {
		err = -errno;
		pr_err("getrandom: %s", strerror(-err));
		return err;
	}
	err = ps_enc_server_hello(&m->c.enc, MIG_WIRE_VERSION, nonce, m->o->secret_file != NULL);
	if (!err)
		err = mig_send(&m->c, &m->c.enc);
	if (!err)
		err = mig_recv(&m->c, 1u << MIG_HELLO, &p);
	if (err) {
		if (err == -EBADMSG)
			send_error(m, PS_ERR_BAD_MESSAGE, "expected a MigrationHello");
		return err;
	}
	if (p.hello.version < MIG_WIRE_MIN_VERSION || p.hello.version > MIG_WIRE_VERSION) {
		pr_err("%s speaks version %u of the stream, this ferry %d..%d", m->peer,
		       p.hello.version, MIG_WIRE_MIN_VERSION, MIG_WIRE_VERSION);
		send_error(m, PS_ERR_UNSUPPORTED_VERSION, "unsupported version");
		return -EPROTO;
	}
	if (p.hello.page_size != MIG_PAGE_SIZE) {
		pr_err("%s has pages of %u bytes, this machine %u", m->peer, p.hello.page_size,
		       MIG_PAGE_SIZE);
		send_error(m, PS_ERR_BAD_MESSAGE, "page size mismatch");
		return -EPROTO;
	}
	if (m->o->secret_file) {
		if (!p.hello.proof) {
			pr_err("%s: no proof of the shared secret in its hello", m->peer);
			send_error(m, PS_ERR_AUTH_REQUIRED,
				   "a proof of the shared secret is required");
			return -EACCES;
		}
		err = ps_secret_load(m->o->secret_file, &secret, &slen);
		if (!err)
			err = mig_proof(secret, slen, nonce, proof);
		ps_secret_free(secret, slen);
		if (err)
			return err;
		if (!hmac_equal(proof, p.hello.proof, PS_PROOF_SIZE)) {
			pr_err("%s: wrong proof of the shared secret", m->peer);
			send_error(m, PS_ERR_AUTH_FAILED, "wrong proof of the shared secret");
			return -EACCES;
		}
	}
	/* XBZRLE: asked for by a version 2 source, taken unless --no-xbzrle. */
	m->xbzrle = p.xbzrle && p.hello.version >= 2 && !m->o->no_xbzrle;
	if (p.xbzrle)
		pr_info("%s asks for XBZRLE deltas: %s", m->peer,
			m->xbzrle ? "accepted" : "refused (--no-xbzrle)");
	if (p.hello.version >= 2)
		err = mig_enc_ready(&m->c.enc, m->xbzrle);
	else
		err = ps_enc_ready(&m->c.enc, 0);
	return err ? err : mig_send(&m->c, &m->c.enc);
}

static int on_area(struct mrecv *m, const struct mig_pdu *p)
{
	struct rarea *a;

	if (p->area.id != m->nr_areas) {
		pr_err("%s: MemoryArea at stream offset %zu: id %" PRIu64
		       ", expected %zu (the next)",
		       m->peer, m->c.in_off, p->area.id, m->nr_areas);
		return -EBADMSG;
	}
	a = realloc(m->areas, (m->nr_areas + 1) * sizeof(*a));
	if (!a)
		return -ENOMEM;
	m->areas = a;
	a[m->nr_areas++] = (struct rarea){ .pid = p->area.pid,
					   .start = p->area.start,
					   .nr_pages = p->area.nr_pages };
	return 0;
}

static int on_pages(struct mrecv *m, const struct mig_pdu *p)
{
	const struct rarea *a;
	struct mig_page_item it;
	uint64_t addr;
	size_t pos = 0;
	int err = 0;

	if (p->pages.area >= m->nr_areas) {
		pr_err("%s: Pages at stream offset %zu: area %" PRIu64 " was never declared",
		       m->peer, m->c.in_off, p->pages.area);
		return -EBADMSG;
	}
	a = &m->areas[p->pages.area];
	if (p->pages.first > a->nr_pages || p->pages.nr_pages > a->nr_pages - p->pages.first) {
		pr_err("%s: Pages at stream offset %zu: pages %" PRIu64 "..%" PRIu64
		       " are outside area %" PRIu64 " (%" PRIu64 " pages)",
		       m->peer, m->c.in_off, p->pages.first, p->pages.first + p->pages.nr_pages,
		       p->pages.area, a->nr_pages);
		return -EBADMSG;
	}
	if (m->lv.dirfd < 0 || m->lv.remote) {
		pr_err("%s: Pages at stream offset %zu in the %s section", m->peer, m->c.in_off,
		       m->lv.remote ? "postcopy" : "setup");
		return -EBADMSG;
	}
	addr = a->start + p->pages.first * MIG_PAGE_SIZE;
	while (!err && mig_pages_next(p, &pos, &it)) {
		if (it.kind == MIG_PAGE_XBZRLE) {
			err = mlevel_page_xbzrle(&m->lv, a->pid, addr, it.data, it.len);
			addr += MIG_PAGE_SIZE;
			continue;
		}
		for (uint32_t k = 0; k < it.count && !err; k++, addr += MIG_PAGE_SIZE)
			err = mlevel_page(&m->lv, a->pid, addr, it.data);
	}
	if (err == -EPROTO)
		pr_err("%s: the Pages at stream offset %zu do not match the pagemap", m->peer,
		       m->c.in_off);
	return err;
}

static int on_image(struct mrecv *m, const struct mig_pdu *p, enum mig_section_kind kind)
{
	char name[MIG_MAX_NAME + 1];

	m->images++;
	m->image_bytes += p->image.len;
	if (kind == MIG_SEC_SETUP)
		return 0; /* the setup's description: the final section's images replace it */
	memcpy(name, p->image.name, p->image.name_len);
	name[p->image.name_len] = 0;
	if (img_type_by_file(name) == IMG_PAGES) {
		pr_err("%s: Image %s at stream offset %zu: pages travel as Pages, not as images",
		       m->peer, name, m->c.in_off);
		return -EBADMSG;
	}
	return mlevel_image(&m->lv, name, p->image.data, p->image.len);
}

/* The level a section writes: round-K for an iteration, the images directory for the final. */
static int open_level(struct mrecv *m, enum mig_section_kind kind)
{
	char name[64];
	int err;

	if (kind == MIG_SEC_SETUP)
		return 0;
	if (kind == MIG_SEC_ITERATION)
		snprintf(name, sizeof(name), "round-%llu", (unsigned long long)m->round);
	else
		snprintf(name, sizeof(name), ".");
	err = mlevel_open(&m->lv, m->dirfd, m->dir, name, m->last_round[0] ? m->last_round : NULL,
			  m->xbzrle ? &m->copies : NULL);
	m->lv.remote = kind == MIG_SEC_POSTCOPY; /* before its pagemaps come */
	if (!err && kind == MIG_SEC_ITERATION)
		snprintf(m->last_round, sizeof(m->last_round), "%s", name);
	return err;
}

/* One section: its header, its items, its end mark. *@kind gets its kind. */
static int section(struct mrecv *m, enum mig_section_kind *kind)
{
	uint64_t items = 0;
	struct mig_pdu p;
	int err;

	err = mig_recv(&m->c, 1u << MIG_SECTION | 1u << MIG_ERROR, &p);
	if (err)
		return err;
	if (p.type == MIG_ERROR) {
		char msg[256];

		pr_err("%s gave up (code %u): %s", m->peer, p.ps.error.code,
		       ps_printable(p.ps.error.msg, p.ps.error.msg_len, msg, sizeof(msg)));
		return -ECANCELED;
	}
	*kind = p.section.kind;
	if ((m->round == UINT64_MAX) != (p.section.kind == MIG_SEC_SETUP) ||
	    (p.section.kind != MIG_SEC_SETUP && p.section.round <= m->round)) {
		pr_err("%s: a %s section of round %" PRIu64 " at stream offset %zu is out of order",
		       m->peer, mig_section_name(p.section.kind), p.section.round, m->c.in_off);
		return -EBADMSG;
	}
	m->round = p.section.round;
	m->t_section = mono_us();
	err = open_level(m, *kind);
	if (err)
		return err;
	for (;;) {
		err = mig_recv(&m->c,
			       1u << MIG_AREA | 1u << MIG_IMAGE | 1u << MIG_PAGES | 1u << MIG_END |
				       1u << MIG_ERROR | (m->xbzrle ? MIG_ALLOW_XBZRLE : 0) |
				       (*kind == MIG_SEC_POSTCOPY ? 1u << MIG_POSTCOPY : 0),
			       &p);
		if (err)
			return err;
		switch (p.type) {
		case MIG_AREA:
			err = on_area(m, &p);
			break;
		case MIG_PAGES:
			err = on_pages(m, &p);
			break;
		case MIG_IMAGE:
			err = on_image(m, &p, *kind);
			break;
		case MIG_POSTCOPY:
			m->pager_port = (int)p.postcopy.port;
			break;
		case MIG_ERROR:
			pr_err("%s gave up in the middle of round %" PRIu64, m->peer, m->round);
			return -ECANCELED;
		default: /* MIG_END */
			if (*kind == MIG_SEC_POSTCOPY && !m->pager_port) {
				pr_err("%s: the postcopy section ending at stream offset %zu named "
				       "no page server",
				       m->peer, m->c.in_off);
				return -EBADMSG;
			}
			if (p.end.round != m->round || p.end.items != items) {
				pr_err("%s: EndMark at stream offset %zu says round %" PRIu64
				       ", %" PRIu64 " items; the section had round %" PRIu64
				       ", %" PRIu64 " items",
				       m->peer, m->c.in_off, p.end.round, p.end.items, m->round,
				       items);
				return -EBADMSG;
			}
			m->pages += m->lv.pages;
			m->zero_pages += m->lv.zero_pages;
			m->xbzrle_pages += m->lv.xbzrle_pages;
			pr_info("%s: %s section of round %" PRIu64 ": %" PRIu64
				" items, %llu pages",
				m->peer, mig_section_name(*kind), m->round, items,
				(unsigned long long)m->lv.pages);
			if (*kind == MIG_SEC_SETUP)
				return 0;
			err = mlevel_close(&m->lv);
			m->remote_pages = m->lv.remote_pages;
			m->section_us = mono_us() - m->t_section;
			return err;
		}
		if (err)
			return err;
		items++;
	}
}

/* SIGKILL @root and its descendants (a restored tree whose verdict did not reach the source). */
static void kill_tree(pid_t root)
{
	DIR *d = opendir("/proc");
	struct dirent *de;

	kill(root, SIGKILL);
	while (d && (de = readdir(d))) {
		char path[64], buf[512], *rp;
		int pid = atoi(de->d_name), ppid = 0;
		FILE *f;

		if (pid <= 0)
			continue;
		snprintf(path, sizeof(path), "/proc/%d/stat", pid);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(buf, sizeof(buf), f) && (rp = strrchr(buf, ')')))
			sscanf(rp + 2, "%*c %d", &ppid);
		fclose(f);
		if (ppid == root)
			kill_tree(pid);
	}
	if (d)
		closedir(d);
	waitpid(root, NULL, 0);
}

/*
 * Post-copy: the lazy-pages daemon pulls the last pages from the source's
 * page server; once it is done every page is in, and the source may go.
 * If the source is lost first, the daemon kills the processes still missing
 * pages (lazy restore's rule: never a process running on zeros).
 */
static int postcopy_pages_in(struct mrecv *m, pid_t daemon)
{
	char msg[256];
	int status = 0, ok, err;

	pr_info("post-copy: waiting for the lazy-pages daemon (pid %d) to pull every page", daemon);
	if (waitpid(daemon, &status, 0) != daemon)
		status = -1;
	ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (ok)
		snprintf(msg, sizeof(msg), "every page is in");
	else
		snprintf(msg, sizeof(msg),
			 "the lazy-pages daemon failed (status 0x%x): the processes still missing "
			 "pages from %s were killed",
			 status, m->peer);
	if (!ok)
		pr_err("post-copy: %s", msg);
	err = mig_enc_pages_in(&m->c.enc, ok, m->remote_pages, msg);
	if (!err)
		err = mig_send(&m->c, &m->c.enc);
	if (err && ok)
		pr_info("post-copy: every page is in, but %s did not hear it: %s", m->peer,
			strerror(-err));
	return ok ? 0 : -EIO;
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	remove(path);
	return 0;
}

int migrate_recv(const struct migrate_recv_opts *o, pid_t *root)
{
	struct mrecv m = { .o = o, .dirfd = -1, .round = UINT64_MAX, .lv = { .dirfd = -1 } };
	struct restore_opts ro = { .detached = 1 };
	enum mig_section_kind kind = MIG_SEC_SETUP;
	char tmp[] = "/tmp/ferry-incoming-XXXXXX", msg[256], pager[sizeof(m.host) + 8];
	int lfd = -1, err, made_tmp = 0;
	pid_t daemon = 0;
	uint64_t t0;

	*root = 0;
	mig_conn_init(&m.c, -1, "source");
	if (o->dir) {
		err = mkdir_p(o->dir);
		m.dir = o->dir;
	} else {
		err = mkdtemp(tmp) ? 0 : -errno;
		m.dir = tmp;
		made_tmp = !err;
	}
	if (!err) {
		m.dirfd = open(m.dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		err = m.dirfd < 0 ? -errno : 0;
	}
	if (err) {
		pr_err("%s: cannot make or open the images directory: %s", m.dir, strerror(-err));
		goto out;
	}
	if (made_tmp)
		pr_info("images in %s (removed at the end)", m.dir);
	if (o->from_file) {
		err = open_capture(&m);
	} else {
		err = listen_on(o, &lfd);
		if (!err)
			err = accept_one(&m, lfd);
		if (lfd >= 0)
			close(lfd);
	}
	if (err)
		goto out;
	err = hello(&m);
	while (!err && kind != MIG_SEC_FINAL && kind != MIG_SEC_POSTCOPY) {
		err = section(&m, &kind);
		if (err == -EBADMSG)
			send_error(&m, PS_ERR_BAD_MESSAGE,
				   "bad stream (see the destination's log)");
		else if (err && err != -ECONNRESET && err != -ECANCELED)
			send_error(&m, PS_ERR_INTERNAL, "the destination failed (see its log)");
	}
	if (!err && m.pager_port && o->from_file) {
		pr_err("%s: a post-copy stream cannot be replayed: its last pages stayed at the "
		       "source",
		       m.peer);
		err = -EOPNOTSUPP;
	}
	if (err) {
		pr_err("migration from %s failed before the restore: %s; nothing was restored",
		       m.peer[0] ? m.peer : "the source", strerror(-err));
		goto out;
	}
	/* The chain is complete: the restore reads through it, nothing is copied again. */
	t0 = mono_us();
	ro.dir = m.dir;
	if (o->lazy || m.pager_port) {
		/* The tree runs at once; the lazy-pages daemon fills it from the chain. */
		ro.lazy = 1;
		ro.timeout_ms = 10000;
		ro.prefetch_delay_ms = o->prefetch_delay_ms;
		ro.lazy_daemon = &daemon;
	}
	if (m.pager_port) {
		/* Post-copy: from the source's page server, which holds the last pages. */
		snprintf(pager, sizeof(pager), "%s:%d", m.host, m.pager_port);
		ro.page_server = pager;
		ro.secret_file = o->secret_file;
		/* The pre-copy rounds' pages are here: only the last dirty set is pulled. */
		ro.page_server_missing_only = 1;
		/* What the tree wrote last first: the last dirty set, then the last rounds. */
		ro.recent_first = !o->address_order;
		pr_info("post-copy: the pages come from %s's page server %s (%llu held only there)",
			m.peer, pager, (unsigned long long)m.remote_pages);
	}
	err = restore_run(&ro, root);
	t0 = mono_us() - t0;
	pr_info("the final section took %llu us, the restore %llu us",
		(unsigned long long)m.section_us, (unsigned long long)t0);
	if (err) {
		snprintf(msg, sizeof(msg), "restore failed: %s (see the destination's log)",
			 strerror(-err));
		if (!mig_enc_verdict(&m.c.enc, false, 0, msg))
			mig_send(&m.c, &m.c.enc);
		pr_err("%s; the source keeps its tree", msg);
		goto out;
	}
	snprintf(msg, sizeof(msg), "the tree runs: root pid %d", *root);
	err = mig_enc_verdict_times(&m.c.enc, true, *root, msg, m.section_us, t0);
	if (!err)
		err = mig_send(&m.c, &m.c.enc);
	if (err) {
		/* The source keeps its tree: this copy must not run too. */
		pr_err("the verdict did not reach %s: %s; killing the restored tree (root pid %d)",
		       m.peer, strerror(-err), *root);
		kill_tree(*root);
		*root = 0;
		goto out;
	}
	pr_info("%s: migrated; root pid %d; %llu pages received (%llu zero, %llu xbzrle) in %llu "
		"rounds",
		m.peer, *root, (unsigned long long)m.pages, (unsigned long long)m.zero_pages,
		(unsigned long long)m.xbzrle_pages, (unsigned long long)m.round);
	if (m.pager_port) {
		err = postcopy_pages_in(&m, daemon);
		daemon = 0;
	}
out:
	mlevel_free(&m.lv);
	mcopies_free(&m.copies);
	mig_conn_free(&m.c);
	free(m.areas);
	if (m.dirfd >= 0)
		close(m.dirfd);
	if (daemon > 0 && made_tmp) {
		/* The daemon reads the images until the memory is all in: then they can go. */
		pr_info("waiting for the lazy-pages daemon (pid %d) to fill the memory", daemon);
		waitpid(daemon, NULL, 0);
	}
	if (made_tmp)
		nftw(tmp, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
	return err;
}
