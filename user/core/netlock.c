// SPDX-License-Identifier: MIT
/*
 * The network lock (netlock.h): one nftables table per locked connection,
 * made and removed by nft(8) transactions.
 *
 * Why nftables and not a BPF program on tc or a cgroup: the lock must outlive
 * ferry between a dump and the restore (a ferry process does not wait for
 * its restore), so a BPF link would have to be pinned, and a pinned link is
 * as much "left behind" as a table, without a tool every administrator knows
 * (`nft list ruleset` shows ferry's tables by name). tc needs one program per
 * interface the connection might use (lo, veths, ...) and a cgroup program
 * misses a peer in another cgroup; a netfilter hook sees every packet of the
 * host's stack. CRIU makes the same choice (iptables or nftables).
 */
#define LOG_PREFIX "netlock: "

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "compat.h"
#include "log.h"
#include "netlock.h"
#include "proc_parse.h"

#define NFT_BIN "nft"
#define DUMP_PREFIX "ferry_dump_"
#define KEPT_PREFIX "ferry_kept_"
/* Before conntrack (-200): a locked connection's packets never reach it. */
#define LOCK_PRIO "-300"
#define NFT_OUT_MAX (1u << 20)

/*
 * Run nft with @argv (NULL-terminated, argv[0] ignored), @in on its stdin if
 * not NULL; its stdout into *@out (malloc'd, NUL-terminated) if @out. nft's
 * own messages are logged. Returns 0, -ENOENT if nft is not installed, -EIO
 * if it failed.
 */
static int nft_exec(const char *const argv[], const char *in, char **out)
{
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 };
	char *obuf = NULL, ebuf[1024];
	size_t olen = 0, elen = 0;
	int status = 0, err = 0;
	pid_t pid;

	if (pipe2(pin, O_CLOEXEC) || pipe2(pout, O_CLOEXEC) || pipe2(perr, O_CLOEXEC)) {
		err = -errno;
		goto out;
	}
	pid = fork();
	if (pid < 0) {
		err = -errno;
		goto out;
	}
	if (pid == 0) {
		dup2(pin[0], 0);
		dup2(pout[1], 1);
		dup2(perr[1], 2);
		/* The target's sockets ferry holds are no business of nft. */
		syscall(SYS_close_range, 3, ~0u, 0);
		execvp(NFT_BIN, (char *const *)argv);
		_exit(127);
	}
	close(pin[0]);
	close(pout[1]);
	close(perr[1]);
	pin[0] = pout[1] = perr[1] = -1;
	if (in) {
		size_t left = strlen(in);

		/* Scripts are small (a few hundred bytes per connection): they fit the pipe. */
		while (left) {
			ssize_t n = write(pin[1], in, left);

			if (n <= 0)
				break;
			in += n;
			left -= (size_t)n;
		}
	}
	close(pin[1]);
	pin[1] = -1;
	obuf = malloc(NFT_OUT_MAX + 1);
	if (!obuf)
		err = -ENOMEM;
	for (;;) {
		ssize_t n = obuf ? read(pout[0], obuf + olen, NFT_OUT_MAX - olen) : 0;

		if (n <= 0 || olen + (size_t)n >= NFT_OUT_MAX)
			break;
		olen += (size_t)n;
	}
	for (;;) {
		ssize_t n = read(perr[0], ebuf + elen, sizeof(ebuf) - 1 - elen);

		if (n <= 0)
			break;
		elen += (size_t)n;
	}
	ebuf[elen] = 0;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (WIFEXITED(status) && WEXITSTATUS(status) == 127) {
		pr_err("%s not found: install nftables (Debian package nftables)", NFT_BIN);
		err = -ENOENT;
	} else if (!WIFEXITED(status) || WEXITSTATUS(status)) {
		pr_err("nft %s failed (status %d): %s", argv[1], status, ebuf);
		err = -EIO;
	}
	if (!err && out) {
		obuf[olen] = 0;
		*out = obuf;
		obuf = NULL;
	}
out:
	for (int i = 0; i < 2; i++) {
		if (pin[i] >= 0)
			close(pin[i]);
		if (pout[i] >= 0)
			close(pout[i]);
		if (perr[i] >= 0)
			close(perr[i]);
	}
	free(obuf);
	return err;
}

static int nft_script(const char *script)
{
	const char *argv[] = { NFT_BIN, "-f", "-", NULL };

	return nft_exec(argv, script, NULL);
}

/* An address as nft writes it, and which of "ip"/"ip6" matches it; v4-mapped IPv6 is IPv4. */
struct ep {
	int v6;
	uint8_t a[16];
	uint16_t port;
};

static int endpoint(const struct sockaddr_storage *ss, struct ep *e)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	memset(e, 0, sizeof(*e));
	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)ss;

		memcpy(e->a, &s->sin_addr, 4);
		e->port = ntohs(s->sin_port);
		return 0;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)ss;

		if (!memcmp(&s->sin6_addr, mapped, 12)) {
			memcpy(e->a, (const uint8_t *)&s->sin6_addr + 12, 4);
		} else {
			e->v6 = 1;
			memcpy(e->a, &s->sin6_addr, 16);
		}
		e->port = ntohs(s->sin6_port);
		return 0;
	}
	return -EAFNOSUPPORT;
}

static void hex(char *buf, const uint8_t *a, size_t n)
{
	for (size_t i = 0; i < n; i++)
		sprintf(buf + 2 * i, "%02x", a[i]);
}

int netlock_conn_name(const struct netlock_conn *c, char *buf, size_t len)
{
	struct ep l, r;
	char lh[33], rh[33];
	size_t n;

	if (endpoint(&c->src, &l) || endpoint(&c->dst, &r) || l.v6 != r.v6)
		return -EAFNOSUPPORT;
	n = l.v6 ? 16 : 4;
	hex(lh, l.a, n);
	hex(rh, r.a, n);
	snprintf(buf, len, "%d_%s_%u_%s_%u", l.v6 ? 6 : 4, lh, l.port, rh, r.port);
	return 0;
}

/* The inverse of netlock_conn_name: addresses only. Returns 0 or -EINVAL. */
static int conn_from_name(const char *name, struct netlock_conn *c)
{
	char lh[33], rh[33];
	unsigned fam, lp, rp;
	uint8_t l[16], r[16];
	size_t n;
	int end = 0;

	memset(c, 0, sizeof(*c));
	if (sscanf(name, "%u_%32[0-9a-f]_%u_%32[0-9a-f]_%u%n", &fam, lh, &lp, rh, &rp, &end) != 5 ||
	    name[end] || (fam != 4 && fam != 6) || lp > 65535 || rp > 65535)
		return -EINVAL;
	n = fam == 6 ? 16 : 4;
	if (strlen(lh) != 2 * n || strlen(rh) != 2 * n)
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		sscanf(lh + 2 * i, "%2hhx", &l[i]);
		sscanf(rh + 2 * i, "%2hhx", &r[i]);
	}
	if (fam == 4) {
		struct sockaddr_in *s = (void *)&c->src, *d = (void *)&c->dst;

		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, l, 4);
		memcpy(&d->sin_addr, r, 4);
		s->sin_port = htons((uint16_t)lp);
		d->sin_port = htons((uint16_t)rp);
	} else {
		struct sockaddr_in6 *s = (void *)&c->src, *d = (void *)&c->dst;

		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, l, 16);
		memcpy(&d->sin6_addr, r, 16);
		s->sin6_port = htons((uint16_t)lp);
		d->sin6_port = htons((uint16_t)rp);
	}
	return 0;
}

/* This process: pid and start time, which a reused pid does not share. */
static int self_id(pid_t *pid, uint64_t *start)
{
	struct proc_stat ps;
	int err;

	*pid = getpid();
	err = proc_parse_stat(*pid, 0, &ps);
	if (err)
		return err;
	*start = ps.starttime;
	return 0;
}

static int dump_table_name(const struct netlock_conn *c, char *buf, size_t len)
{
	char conn[NETLOCK_CONN_MAX];
	uint64_t start;
	pid_t me;
	int err;

	err = netlock_conn_name(c, conn, sizeof(conn));
	if (!err)
		err = self_id(&me, &start);
	if (err)
		return err;
	snprintf(buf, len, DUMP_PREFIX "%d_%llu_%d_%d_%u_%s", me, (unsigned long long)start, c->pid,
		 c->fd, c->ino, conn);
	return 0;
}

static int kept_table_name(const struct netlock_conn *c, char *buf, size_t len)
{
	char conn[NETLOCK_CONN_MAX];
	int err = netlock_conn_name(c, conn, sizeof(conn));

	if (!err)
		snprintf(buf, len, KEPT_PREFIX "%s", conn);
	return err;
}

/* Append to @s (of @size, used *@len) the table @name locking @c. */
static int add_table(char *s, size_t size, size_t *len, const char *name,
		     const struct netlock_conn *c)
{
	char la[INET6_ADDRSTRLEN], ra[INET6_ADDRSTRLEN];
	struct ep l, r;
	const char *ipk;
	int n;

	if (endpoint(&c->src, &l) || endpoint(&c->dst, &r) || l.v6 != r.v6)
		return -EAFNOSUPPORT;
	inet_ntop(l.v6 ? AF_INET6 : AF_INET, l.a, la, sizeof(la));
	inet_ntop(r.v6 ? AF_INET6 : AF_INET, r.a, ra, sizeof(ra));
	ipk = l.v6 ? "ip6" : "ip";
	/* add + delete first: a table of that name left by anyone is replaced, not merged. */
	n = snprintf(s + *len, size - *len,
		     "add table inet %s\ndelete table inet %s\n"
		     "table inet %s {\n"
		     " chain in { type filter hook input priority " LOCK_PRIO "; policy accept;"
		     " %s saddr %s %s daddr %s tcp sport %u tcp dport %u drop; }\n"
		     " chain out { type filter hook output priority " LOCK_PRIO "; policy accept;"
		     " %s saddr %s %s daddr %s tcp sport %u tcp dport %u drop; }\n"
		     "}\n",
		     name, name, name, ipk, ra, ipk, la, r.port, l.port, ipk, la, ipk, ra, l.port,
		     r.port);
	if (n < 0 || (size_t)n >= size - *len)
		return -ENOSPC;
	*len += (size_t)n;
	return 0;
}

static int del_table(char *s, size_t size, size_t *len, const char *name)
{
	int n = snprintf(s + *len, size - *len, "add table inet %s\ndelete table inet %s\n", name,
			 name);

	if (n < 0 || (size_t)n >= size - *len)
		return -ENOSPC;
	*len += (size_t)n;
	return 0;
}

enum op { OP_TAKE, OP_RELEASE, OP_KEEP, OP_UNLOCK_KEPT };

static const char *op_name[] = { "lock", "release", "keep", "unlock" };

static int run_op(enum op op, const struct netlock_conn *c, size_t n)
{
	size_t size = 1024 + n * 1024, len = 0;
	char dname[NETLOCK_NAME_MAX], kname[NETLOCK_NAME_MAX];
	char *s;
	int err = 0;

	if (!n)
		return 0;
	s = malloc(size);
	if (!s)
		return -ENOMEM;
	s[0] = 0;
	for (size_t i = 0; i < n && !err; i++) {
		err = dump_table_name(&c[i], dname, sizeof(dname));
		if (!err)
			err = kept_table_name(&c[i], kname, sizeof(kname));
		if (err)
			break;
		switch (op) {
		case OP_TAKE:
			err = add_table(s, size, &len, dname, &c[i]);
			break;
		case OP_RELEASE:
			err = del_table(s, size, &len, dname);
			break;
		case OP_KEEP:
			/* One transaction: the connection is never unlocked in between. */
			err = add_table(s, size, &len, kname, &c[i]);
			if (!err)
				err = del_table(s, size, &len, dname);
			break;
		case OP_UNLOCK_KEPT:
			err = del_table(s, size, &len, kname);
			break;
		}
	}
	if (!err)
		err = nft_script(s);
	if (err)
		pr_err("%s of %zu connection(s) failed: %s", op_name[op], n, strerror(-err));
	else
		pr_info("%s: %zu connection(s)", op_name[op], n);
	free(s);
	return err;
}

int netlock_take(const struct netlock_conn *c, size_t n)
{
	return run_op(OP_TAKE, c, n);
}

int netlock_release(const struct netlock_conn *c, size_t n)
{
	return run_op(OP_RELEASE, c, n);
}

int netlock_keep(const struct netlock_conn *c, size_t n)
{
	return run_op(OP_KEEP, c, n);
}

int netlock_unlock_kept(const struct netlock_conn *c, size_t n)
{
	return run_op(OP_UNLOCK_KEPT, c, n);
}

/* ferry's table names, from `nft list tables inet`, NUL-separated in *@names. */
static int list_tables(char **names, size_t *count)
{
	const char *argv[] = { NFT_BIN, "list", "tables", "inet", NULL };
	char *out = NULL, *line, *save = NULL, *w;
	size_t k = 0, wl = 0;
	int err;

	*names = NULL;
	*count = 0;
	err = nft_exec(argv, NULL, &out);
	if (err)
		return err;
	w = malloc(strlen(out) + 1);
	if (!w) {
		free(out);
		return -ENOMEM;
	}
	for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char name[NETLOCK_NAME_MAX + 1];

		if (sscanf(line, "table inet %200s", name) != 1 || strncmp(name, "ferry_", 6))
			continue;
		strcpy(w + wl, name);
		wl += strlen(name) + 1;
		k++;
	}
	free(out);
	*names = w;
	*count = k;
	return 0;
}

static int owner_alive(pid_t pid, unsigned long long start)
{
	struct proc_stat ps;

	return !proc_parse_stat(pid, 0, &ps) && ps.starttime == start;
}

/*
 * The target's socket of a dead dump, if it is still there: out of repair
 * mode. Returns 1 if it was found, 0 if it is gone.
 */
static int release_target_socket(pid_t pid, int fd, uint32_t ino)
{
	int pfd, sfd, off = TCP_REPAIR_OFF, found = 0;
	struct stat st;

	pfd = (int)syscall(__NR_pidfd_open, pid, 0);
	if (pfd < 0)
		return 0;
	sfd = (int)syscall(__NR_pidfd_getfd, pfd, fd, 0);
	if (sfd >= 0 && !fstat(sfd, &st) && S_ISSOCK(st.st_mode) && st.st_ino == ino) {
		int on = 0;
		socklen_t l = sizeof(on);

		found = 1;
		/* Only a socket still in repair mode: leaving it clears SO_REUSEADDR. */
		if (!getsockopt(sfd, SOL_TCP, TCP_REPAIR, &on, &l) && on &&
		    setsockopt(sfd, SOL_TCP, TCP_REPAIR, &off, sizeof(off)))
			pr_warn("pid %d fd %d (socket:[%u]): out of repair mode: %s", pid, fd, ino,
				strerror(errno));
	}
	if (sfd >= 0)
		close(sfd);
	close(pfd);
	return found;
}

int netlock_clean_stale(void)
{
	char *names = NULL, *p;
	size_t count;
	int err, done = 0;

	err = list_tables(&names, &count);
	if (err)
		return err;
	p = names;
	for (size_t i = 0; i < count; i++, p += strlen(p) + 1) {
		struct netlock_conn c;
		unsigned long long start;
		int fpid, tpid, fd, off = 0;
		unsigned ino;
		char s[4096], kname[NETLOCK_NAME_MAX];
		size_t len = 0;

		if (sscanf(p, DUMP_PREFIX "%d_%llu_%d_%d_%u_%n", &fpid, &start, &tpid, &fd, &ino,
			   &off) != 5 ||
		    !off || conn_from_name(p + off, &c))
			continue;
		if (owner_alive(fpid, start))
			continue;
		if (tpid <= 0) {
			/* No target (a test's own connection): nothing to keep it for. */
			pr_warn("lock %s: its ferry (pid %d) is gone: unlocked", p, fpid);
			err = del_table(s, sizeof(s), &len, p);
		} else if (release_target_socket(tpid, fd, ino)) {
			pr_warn("lock %s: its ferry (pid %d) is gone, the socket is still open in pid %d: unlocked",
				p, fpid, tpid);
			err = del_table(s, sizeof(s), &len, p);
		} else {
			pr_warn("lock %s: its ferry (pid %d) and the socket are gone: kept for a restore (ferry netlock unlock drops it)",
				p, fpid);
			err = kept_table_name(&c, kname, sizeof(kname));
			if (!err)
				err = add_table(s, sizeof(s), &len, kname, &c);
			if (!err)
				err = del_table(s, sizeof(s), &len, p);
		}
		if (!err)
			err = nft_script(s);
		if (err)
			break;
		done++;
	}
	free(names);
	return err ? err : done;
}

int netlock_unlock_all_kept(void)
{
	char *names = NULL, *p, s[1024];
	size_t count;
	int err, done = 0;

	err = list_tables(&names, &count);
	if (err)
		return err;
	p = names;
	for (size_t i = 0; i < count && !err; i++, p += strlen(p) + 1) {
		size_t len = 0;

		if (strncmp(p, KEPT_PREFIX, strlen(KEPT_PREFIX)))
			continue;
		err = del_table(s, sizeof(s), &len, p);
		if (!err)
			err = nft_script(s);
		if (!err)
			done++;
	}
	free(names);
	return err ? err : done;
}

int netlock_unlock_name(const char *name)
{
	char table[NETLOCK_NAME_MAX + 16], s[1024], *names = NULL, *p;
	struct netlock_conn c;
	size_t count, len = 0;
	int err, found = 0;

	if (strspn(name, "abcdefghijklmnopqrstuvwxyz0123456789_") != strlen(name) ||
	    strlen(name) >= NETLOCK_NAME_MAX)
		goto bad;
	if (!strncmp(name, DUMP_PREFIX, strlen(DUMP_PREFIX)) ||
	    !strncmp(name, KEPT_PREFIX, strlen(KEPT_PREFIX)))
		snprintf(table, sizeof(table), "%s", name);
	else if (!conn_from_name(name, &c))
		snprintf(table, sizeof(table), KEPT_PREFIX "%s", name);
	else
		goto bad;
	err = list_tables(&names, &count);
	if (err)
		return err;
	p = names;
	for (size_t i = 0; i < count; i++, p += strlen(p) + 1)
		found |= !strcmp(p, table);
	free(names);
	if (!found) {
		pr_err("no lock %s (ferry netlock list shows them)", table);
		return -ENOENT;
	}
	err = del_table(s, sizeof(s), &len, table);
	if (!err)
		err = nft_script(s);
	return err;
bad:
	pr_err("%s: no name of a ferry lock (ferry_kept_..., ferry_dump_..., or a connection 4_<hex>_<port>_<hex>_<port>)",
	       name);
	return -EINVAL;
}

int netlock_lock_name(const char *conn)
{
	char kname[NETLOCK_NAME_MAX], s[2048];
	struct netlock_conn c;
	size_t len = 0;
	int err;

	if (strlen(conn) >= NETLOCK_CONN_MAX || conn_from_name(conn, &c)) {
		pr_err("%s: no connection name (4_<hex>_<port>_<hex>_<port>, 6_ for IPv6)", conn);
		return -EINVAL;
	}
	err = kept_table_name(&c, kname, sizeof(kname));
	if (!err)
		err = add_table(s, sizeof(s), &len, kname, &c);
	if (!err)
		err = nft_script(s);
	return err;
}

int netlock_list(FILE *out)
{
	char *names = NULL, *p;
	size_t count;
	int err;

	err = list_tables(&names, &count);
	if (err)
		return err;
	p = names;
	for (size_t i = 0; i < count; i++, p += strlen(p) + 1)
		fprintf(out, "%s\n", p);
	free(names);
	return (int)count;
}
