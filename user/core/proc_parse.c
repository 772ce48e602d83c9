// SPDX-License-Identifier: MIT
/*
 * /proc parsing (see proc_parse.h): per-process and per-thread state (stat,
 * status, limits, auxv), and the helpers the other parsers share
 * (proc_parse_priv.h) for opening and reading /proc files. Files are read
 * whole into a growing buffer: status with thousands of groups is longer
 * than a page, and no line or file size is assumed. The thread and child
 * lists and /proc links are in proc_tasks.c, smaps and the VMAs in
 * proc_maps.c.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "proc: "
#include "log.h"
#include "proc_parse.h"
#include "proc_parse_priv.h"
#include "util.h"

void proc_path(char *buf, size_t size, pid_t pid, pid_t tid, const char *name)
{
	if (tid)
		snprintf(buf, size, "/proc/%d/task/%d/%s", (int)pid, (int)tid, name);
	else
		snprintf(buf, size, "/proc/%d/%s", (int)pid, name);
}

/*
 * An open of /proc/PID[/task/TID]/NAME failed with ENOENT: -ESRCH if the
 * process (thread) directory is gone too, else -ENOENT (the file itself is
 * missing).
 */
int proc_gone_or_enoent(pid_t pid, pid_t tid)
{
	char dir[PROC_PATH_MAX];
	struct stat sb;

	if (pid <= 0 || tid < 0)
		return -ESRCH;
	if (tid)
		snprintf(dir, sizeof(dir), "/proc/%d/task/%d", (int)pid, (int)tid);
	else
		snprintf(dir, sizeof(dir), "/proc/%d", (int)pid);
	if (stat(dir, &sb) && errno == ENOENT)
		return -ESRCH;
	return -ENOENT;
}

int proc_open(const char *path, pid_t pid, pid_t tid)
{
	int fd, err;

	if (pid <= 0 || tid < 0)
		return -ESRCH;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	/* The process being gone is for the caller to judge, and so is a missing file. */
	err = errno == ENOENT ? proc_gone_or_enoent(pid, tid) : -errno;
	if (err != -ESRCH && err != -ENOENT)
		pr_errno(err, "pid %d: cannot open %s", (int)pid, path);
	return err;
}

/* Read a whole /proc file into a malloc'ed, NUL-terminated buffer. */
int proc_read_whole(const char *path, pid_t pid, pid_t tid, char **out, size_t *len)
{
	int fd, err;

	fd = proc_open(path, pid, tid);
	if (fd < 0)
		return fd;
	err = read_fd_all(fd, out, len, SIZE_MAX);
	/* A process gone mid-read is the caller's to judge; -ENOMEM is no read error. */
	if (err && err != -ENOMEM && err != -ESRCH)
		pr_errno(err, "pid %d: cannot read %s", (int)pid, path);
	close(fd);
	return err;
}

/* ---- stat --------------------------------------------------------------------------------- */

/* Fields 4..52 of stat(5) are numbers; field 52 (exit_code) exists since 3.5. */
#define STAT_FIRST_NUM 4
#define STAT_LAST 52

int proc_parse_stat_buf(const char *buf, size_t len, const char *what, struct proc_stat *st)
{
	const char *end = buf + len, *open, *close, *p;
	uint64_t v[STAT_LAST + 1] = { 0 };
	char q[SNIP_MAX];
	size_t clen;
	int i;

	open = memchr(buf, '(', len);
	close = memrchr(buf, ')', len);
	if (!open || !close || close < open) {
		pr_err("%s: no '(comm)' in '%s'", what, snip(q, buf, len));
		return -EINVAL;
	}
	memset(st, 0, sizeof(*st));
	p = buf;
	if (parse_num(&p, open, 10, &v[1]) || skip_blanks(p, open) != open) {
		pr_err("%s: field 1 (pid) is not a number: '%s'", what,
		       snip(q, buf, (size_t)(open - buf)));
		return -EINVAL;
	}
	clen = (size_t)(close - open - 1);
	if (clen > sizeof(st->comm) - 1)
		clen = sizeof(st->comm) - 1;
	memcpy(st->comm, open + 1, clen);
	st->comm[clen] = '\0';

	p = skip_blanks(close + 1, end);
	if (p == end || !at_token_end(p + 1, end)) {
		pr_err("%s: field 3 (state) missing after the comm", what);
		return -EINVAL;
	}
	st->state = *p++;
	for (i = STAT_FIRST_NUM; i <= STAT_LAST; i++) {
		const char *tok = skip_blanks(p, end);

		if (tok == end || *tok == '\n') {
			pr_err("%s: only %d fields, %d expected", what, i - 1, STAT_LAST);
			return -EINVAL;
		}
		p = tok;
		if (parse_num(&p, end, 10, &v[i]) || !at_token_end(p, end)) {
			const char *te = tok;

			while (!at_token_end(te, end))
				te++;
			pr_err("%s: field %d is not a number: '%s'", what, i,
			       snip(q, tok, (size_t)(te - tok)));
			return -EINVAL;
		}
	}

	st->pid = (pid_t)v[1];
	st->ppid = (pid_t)v[4];
	st->pgid = (pid_t)v[5];
	st->sid = (pid_t)v[6];
	st->tty_nr = (int)v[7];
	st->tpgid = (pid_t)v[8];
	st->flags = (unsigned int)v[9];
	st->priority = (long)v[18];
	st->nice = (long)v[19];
	st->num_threads = (long)v[20];
	st->starttime = v[22];
	st->vsize = v[23];
	st->rss = v[24];
	st->start_code = v[26];
	st->end_code = v[27];
	st->start_stack = v[28];
	st->exit_signal = (int)v[38];
	st->processor = (int)v[39];
	st->rt_priority = (unsigned int)v[40];
	st->policy = (unsigned int)v[41];
	st->start_data = v[45];
	st->end_data = v[46];
	st->start_brk = v[47];
	st->arg_start = v[48];
	st->arg_end = v[49];
	st->env_start = v[50];
	st->env_end = v[51];
	st->exit_code = (int)v[52];
	return 0;
}

int proc_parse_stat(pid_t pid, pid_t tid, struct proc_stat *st)
{
	char path[PROC_PATH_MAX], *buf;
	size_t len;
	int err;

	proc_path(path, sizeof(path), pid, tid, "stat");
	err = proc_read_whole(path, pid, tid, &buf, &len);
	if (err)
		return err;
	err = proc_parse_stat_buf(buf, len, path, st);
	free(buf);
	return err;
}

int proc_is_kernel_thread(pid_t pid)
{
	struct proc_stat st;
	int err;

	err = proc_parse_stat(pid, 0, &st);
	if (err)
		return err;
	return (st.flags & PF_KTHREAD) ? 1 : 0;
}

/* ---- status ------------------------------------------------------------------------------- */

enum {
	ST_TGID = 1 << 0,
	ST_PPID = 1 << 1,
	ST_TRACER = 1 << 2,
	ST_UID = 1 << 3,
	ST_GID = 1 << 4,
	ST_GROUPS = 1 << 5,
	ST_SIGPND = 1 << 6,
	ST_SHDPND = 1 << 7,
	ST_SIGBLK = 1 << 8,
	ST_SIGIGN = 1 << 9,
	ST_SIGCGT = 1 << 10,
	ST_CAPINH = 1 << 11,
	ST_CAPPRM = 1 << 12,
	ST_CAPEFF = 1 << 13,
	ST_CAPBND = 1 << 14,
	ST_REQUIRED = (1 << 15) - 1,
};

static const char *const status_required_names[] = {
	"Tgid",	  "PPid",   "TracerPid", "Uid",	   "Gid",    "Groups", "SigPnd", "ShdPnd",
	"SigBlk", "SigIgn", "SigCgt",	 "CapInh", "CapPrm", "CapEff", "CapBnd",
};

/* Parse exactly @n numbers (base @base) and nothing else on [p, end). */
static int parse_n(const char *p, const char *end, int base, uint64_t *vals, int n)
{
	for (int i = 0; i < n; i++)
		if (parse_num(&p, end, base, &vals[i]) || !at_token_end(p, end))
			return -EINVAL;
	return skip_blanks(p, end) == end ? 0 : -EINVAL;
}

static int parse_groups(const char *p, const char *end, struct proc_status *st)
{
	const char *q = p;
	size_t count = 0, i;
	uint64_t g;

	/* Count first, then fill: one allocation whatever the number of groups. */
	for (;;) {
		q = skip_blanks(q, end);
		if (q == end)
			break;
		if (parse_num(&q, end, 10, &g) || g > UINT32_MAX || !at_token_end(q, end))
			return -EINVAL;
		count++;
	}
	if (!count)
		return 0;
	st->groups = malloc(count * sizeof(*st->groups));
	if (!st->groups)
		return -ENOMEM;
	for (i = 0, q = p; i < count; i++) {
		parse_num(&q, end, 10, &g);
		st->groups[i] = (uint32_t)g;
	}
	st->nr_groups = count;
	return 0;
}

/* The last of a list of pids ("NSpid:\t1234\t1"). */
static int parse_last_pid(const char *p, const char *end, pid_t *out)
{
	uint64_t v = 0;
	int any = 0;

	for (;;) {
		p = skip_blanks(p, end);
		if (p == end)
			break;
		if (parse_num(&p, end, 10, &v) || !at_token_end(p, end))
			return -EINVAL;
		any = 1;
	}
	if (!any)
		return -EINVAL;
	*out = (pid_t)v;
	return 0;
}

/* One "Key:\tvalue" line: the key is [k, k + klen), the value [p, end). */
static int status_line(struct proc_status *st, const char *k, size_t klen, const char *p,
		       const char *end, unsigned int *seen)
{
	static const struct {
		const char *key;
		unsigned int bit;
		size_t off;
	} hex64[] = {
		{ "SigPnd", ST_SIGPND, offsetof(struct proc_status, sig_pnd) },
		{ "ShdPnd", ST_SHDPND, offsetof(struct proc_status, shd_pnd) },
		{ "SigBlk", ST_SIGBLK, offsetof(struct proc_status, sig_blk) },
		{ "SigIgn", ST_SIGIGN, offsetof(struct proc_status, sig_ign) },
		{ "SigCgt", ST_SIGCGT, offsetof(struct proc_status, sig_cgt) },
		{ "CapInh", ST_CAPINH, offsetof(struct proc_status, cap_inh) },
		{ "CapPrm", ST_CAPPRM, offsetof(struct proc_status, cap_prm) },
		{ "CapEff", ST_CAPEFF, offsetof(struct proc_status, cap_eff) },
		{ "CapBnd", ST_CAPBND, offsetof(struct proc_status, cap_bnd) },
		{ "CapAmb", 0, offsetof(struct proc_status, cap_amb) },
	};
	uint64_t v[4];
	size_t i;
	int err;

#define KEY_IS(s) (klen == sizeof(s) - 1 && !memcmp(k, s, klen))
	for (i = 0; i < sizeof(hex64) / sizeof(hex64[0]); i++) {
		if (klen != strlen(hex64[i].key) || memcmp(k, hex64[i].key, klen))
			continue;
		if (parse_n(p, end, 16, v, 1))
			return -EINVAL;
		*(uint64_t *)((char *)st + hex64[i].off) = v[0];
		*seen |= hex64[i].bit;
		return 0;
	}
	if (KEY_IS("State")) {
		p = skip_blanks(p, end);
		if (p == end)
			return -EINVAL;
		st->state = *p;
	} else if (KEY_IS("Tgid") || KEY_IS("PPid") || KEY_IS("TracerPid")) {
		if (parse_n(p, end, 10, v, 1))
			return -EINVAL;
		if (KEY_IS("Tgid")) {
			st->tgid = (pid_t)v[0];
			*seen |= ST_TGID;
		} else if (KEY_IS("PPid")) {
			st->ppid = (pid_t)v[0];
			*seen |= ST_PPID;
		} else {
			st->tracer_pid = (pid_t)v[0];
			*seen |= ST_TRACER;
		}
	} else if (KEY_IS("Uid") || KEY_IS("Gid")) {
		uint32_t *ids = KEY_IS("Uid") ? st->uid : st->gid;

		if (parse_n(p, end, 10, v, 4))
			return -EINVAL;
		for (i = 0; i < 4; i++) {
			if (v[i] > UINT32_MAX)
				return -EINVAL;
			ids[i] = (uint32_t)v[i];
		}
		*seen |= KEY_IS("Uid") ? ST_UID : ST_GID;
	} else if (KEY_IS("Groups")) {
		if (*seen & ST_GROUPS)
			return -EINVAL;
		err = parse_groups(p, end, st);
		if (err)
			return err;
		*seen |= ST_GROUPS;
	} else if (KEY_IS("NSpid")) {
		if (parse_last_pid(p, end, &st->ns_pid))
			return -EINVAL;
	} else if (KEY_IS("Threads") || KEY_IS("NoNewPrivs") || KEY_IS("Seccomp") ||
		   KEY_IS("Seccomp_filters")) {
		if (parse_n(p, end, 10, v, 1))
			return -EINVAL;
		if (KEY_IS("Threads"))
			st->threads = (long)v[0];
		else if (KEY_IS("NoNewPrivs"))
			st->no_new_privs = (int)v[0];
		else if (KEY_IS("Seccomp"))
			st->seccomp = (int)v[0];
		else
			st->seccomp_filters = (int)v[0];
	} else if (KEY_IS("Umask")) {
		if (parse_n(p, end, 8, v, 1) || v[0] > 0777)
			return -EINVAL;
		st->umask = (uint32_t)v[0];
	}
#undef KEY_IS
	return 0;
}

int proc_parse_status_buf(const char *buf, size_t len, const char *what, struct proc_status *st)
{
	const char *line = buf, *end = buf + len, *eol, *colon;
	unsigned int seen = 0, lineno = 0;
	char q[SNIP_MAX];
	size_t i;
	int err = 0;

	memset(st, 0, sizeof(*st));
	st->no_new_privs = -1;
	st->seccomp = -1;
	st->seccomp_filters = -1;
	st->umask = UINT32_MAX;

	for (; line < end; line = eol + 1) {
		eol = memchr(line, '\n', (size_t)(end - line));
		if (!eol)
			eol = end;
		lineno++;
		if (eol == line)
			continue;
		colon = memchr(line, ':', (size_t)(eol - line));
		if (!colon) {
			pr_err("%s line %u: no 'Key:' in '%s'", what, lineno,
			       snip(q, line, (size_t)(eol - line)));
			err = -EINVAL;
			goto err;
		}
		err = status_line(st, line, (size_t)(colon - line), colon + 1, eol, &seen);
		if (err == -EINVAL)
			pr_err("%s line %u: cannot parse '%s'", what, lineno,
			       snip(q, line, (size_t)(eol - line)));
		if (err)
			goto err;
		if (eol == end)
			break;
	}
	if ((seen & ST_REQUIRED) != ST_REQUIRED) {
		for (i = 0; i < sizeof(status_required_names) / sizeof(status_required_names[0]);
		     i++)
			if (!(seen & (1U << i)))
				break;
		pr_err("%s: no '%s:' line", what, status_required_names[i]);
		err = -EINVAL;
		goto err;
	}
	return 0;

err:
	proc_status_free(st);
	return err;
}

int proc_parse_status(pid_t pid, pid_t tid, struct proc_status *st)
{
	char path[PROC_PATH_MAX], *buf;
	size_t len;
	int err;

	memset(st, 0, sizeof(*st));
	proc_path(path, sizeof(path), pid, tid, "status");
	err = proc_read_whole(path, pid, tid, &buf, &len);
	if (err)
		return err;
	err = proc_parse_status_buf(buf, len, path, st);
	free(buf);
	return err;
}

void proc_status_free(struct proc_status *st)
{
	free(st->groups);
	st->groups = NULL;
	st->nr_groups = 0;
}

/* ---- limits ------------------------------------------------------------------------------- */

/*
 * /proc/PID/limits: a header, then one row per resource in RLIMIT_* order,
 * "%-25s %-20s %-20s %-10s": name, soft, hard ("unlimited" or a number), units.
 */
int proc_parse_limits_buf(const char *buf, size_t len, const char *what, struct rlimit64 *rl,
			  size_t n)
{
	const char *p = buf, *end = buf + len;
	size_t row = 0, line = 0;

	while (p < end && row < n) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char field[2][24];
		uint64_t v[2] = { 0, 0 };
		int ok = 1;

		line++;
		if (line > 1) {
			if (ll < 26 + 20) {
				pr_err("%s: line %zu is too short for a limits row", what, line);
				return -EINVAL;
			}
			for (int f = 0; f < 2; f++) {
				const char *q = p + 26 + f * 21;
				size_t k = 0;

				while (q < p + ll && *q != ' ' && k < sizeof(field[f]) - 1)
					field[f][k++] = *q++;
				field[f][k] = '\0';
				if (!strcmp(field[f], "unlimited")) {
					v[f] = RLIM64_INFINITY;
				} else {
					char *e;

					errno = 0;
					v[f] = strtoull(field[f], &e, 10);
					ok = ok && k && !*e && !errno;
				}
			}
			if (!ok) {
				pr_err("%s: line %zu: bad limit values", what, line);
				return -EINVAL;
			}
			rl[row].rlim_cur = v[0];
			rl[row].rlim_max = v[1];
			row++;
		}
		p += ll + 1;
	}
	if (row < n) {
		pr_err("%s: %zu limits rows, expected %zu", what, row, n);
		return -EINVAL;
	}
	return 0;
}

int proc_parse_limits(pid_t pid, struct rlimit64 *rl, size_t n)
{
	char path[PROC_PATH_MAX], *buf;
	size_t len;
	int err;

	proc_path(path, sizeof(path), pid, 0, "limits");
	err = proc_read_whole(path, pid, 0, &buf, &len);
	if (err)
		return err;
	err = proc_parse_limits_buf(buf, len, path, rl, n);
	free(buf);
	return err;
}

/* ---- auxv --------------------------------------------------------------------------------- */

int proc_read_auxv(pid_t pid, uint64_t **auxv, size_t *n)
{
	char path[PROC_PATH_MAX], *buf;
	uint64_t *words;
	size_t len, nw;
	int err;

	proc_path(path, sizeof(path), pid, 0, "auxv");
	err = proc_read_whole(path, pid, 0, &buf, &len);
	/* Without an mm (kernel thread, zombie) the kernel answers ESRCH though the pid exists. */
	if (err == -ESRCH && proc_gone_or_enoent(pid, 0) == -ENOENT) {
		buf = NULL;
		len = 0;
		err = 0;
	}
	if (err)
		return err;
	if (!len) {
		free(buf);
		*auxv = NULL;
		*n = 0;
		return 0;
	}
	words = (uint64_t *)(void *)buf; /* malloc'ed: aligned for any type */
	nw = len / sizeof(uint64_t);
	if (len % (2 * sizeof(uint64_t)) || words[nw - 2] != AT_NULL) {
		pr_err("pid %d: %s has %zu bytes, not (type, value) pairs ending with AT_NULL",
		       (int)pid, path, len);
		free(buf);
		return -EINVAL;
	}
	*auxv = words;
	*n = nw;
	return 0;
}
