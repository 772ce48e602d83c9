// SPDX-License-Identifier: MIT
/*
 * /proc parsing (see proc_parse.h). Files are read whole into a growing
 * buffer (status with thousands of groups is longer than a page), smaps is
 * read a line at a time with getline(): no line or file size is assumed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "proc: "
#include "compat.h"
#include "log.h"
#include "proc_parse.h"
#include "util.h"
#include "vma_iter.h"

/* Room for "/proc/<pid>/task/<tid>/" and a file name. */
#define PROC_PATH_MAX 96

static void proc_path(char *buf, size_t size, pid_t pid, pid_t tid, const char *name)
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
static int gone_or_enoent(pid_t pid, pid_t tid)
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

static int proc_open(const char *path, pid_t pid, pid_t tid)
{
	int fd, err;

	if (pid <= 0 || tid < 0)
		return -ESRCH;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd >= 0)
		return fd;
	/* The process being gone is for the caller to judge, and so is a missing file. */
	err = errno == ENOENT ? gone_or_enoent(pid, tid) : -errno;
	if (err != -ESRCH && err != -ENOENT)
		pr_errno(err, "pid %d: cannot open %s", (int)pid, path);
	return err;
}

/* Read a whole /proc file into a malloc'ed, NUL-terminated buffer. */
static int read_whole(const char *path, pid_t pid, pid_t tid, char **out, size_t *len)
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

/* ---- number parsing on [p, end) ---------------------------------------------------------- */

static const char *skip_blanks(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	return p;
}

static int digit_value(char c, int base)
{
	int d;

	if (c >= '0' && c <= '9')
		d = c - '0';
	else if (c >= 'a' && c <= 'f')
		d = c - 'a' + 10;
	else if (c >= 'A' && c <= 'F')
		d = c - 'A' + 10;
	else
		return -1;
	return d < base ? d : -1;
}

/*
 * Parse an unsigned number in @base after optional blanks; a leading '-'
 * (base 10 only) stores the two's complement. Advances *pp past the digits.
 * Returns 0, or -EINVAL if there are no digits or the value overflows.
 */
static int parse_num(const char **pp, const char *end, int base, uint64_t *out)
{
	const char *p = skip_blanks(*pp, end);
	uint64_t v = 0;
	int neg = 0, d, any = 0;

	if (p < end && *p == '-' && base == 10) {
		neg = 1;
		p++;
	}
	for (; p < end && (d = digit_value(*p, base)) >= 0; p++) {
		if (v > (UINT64_MAX - (uint64_t)d) / (uint64_t)base)
			return -EINVAL;
		v = v * (uint64_t)base + (uint64_t)d;
		any = 1;
	}
	if (!any)
		return -EINVAL;
	*out = neg ? (uint64_t)(-(int64_t)v) : v;
	*pp = p;
	return 0;
}

/* The token ends here: end of input, a blank, or a newline. */
static int at_token_end(const char *p, const char *end)
{
	return p == end || *p == ' ' || *p == '\t' || *p == '\n';
}

/* The log has no "%.*s": quote at most SNIP_MAX - 1 bytes of [s, s + len) through a buffer. */
#define SNIP_MAX 96
static const char *snip(char *dst, const char *s, size_t len)
{
	if (len > SNIP_MAX - 1)
		len = SNIP_MAX - 1;
	memcpy(dst, s, len);
	dst[len] = '\0';
	return dst;
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
	err = read_whole(path, pid, tid, &buf, &len);
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
	err = read_whole(path, pid, tid, &buf, &len);
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
	err = read_whole(path, pid, 0, &buf, &len);
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
	err = read_whole(path, pid, 0, &buf, &len);
	/* Without an mm (kernel thread, zombie) the kernel answers ESRCH though the pid exists. */
	if (err == -ESRCH && gone_or_enoent(pid, 0) == -ENOENT) {
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

/* ---- thread and child lists --------------------------------------------------------------- */

struct pid_vec {
	pid_t *v;
	size_t n, cap;
};

static int pid_vec_push(struct pid_vec *pv, pid_t p)
{
	if (pv->n == pv->cap) {
		size_t cap = pv->cap ? pv->cap * 2 : 16;
		pid_t *nv = realloc(pv->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		pv->v = nv;
		pv->cap = cap;
	}
	pv->v[pv->n++] = p;
	return 0;
}

static int cmp_pid(const void *a, const void *b)
{
	pid_t x = *(const pid_t *)a, y = *(const pid_t *)b;

	return (x > y) - (x < y);
}

/* Sort and drop duplicates. */
static void pid_vec_sort_unique(struct pid_vec *pv)
{
	size_t i, k = 0;

	if (!pv->n)
		return;
	qsort(pv->v, pv->n, sizeof(*pv->v), cmp_pid);
	for (i = 1; i < pv->n; i++)
		if (pv->v[i] != pv->v[k])
			pv->v[++k] = pv->v[i];
	pv->n = k + 1;
}

/* A directory entry name that is a positive decimal pid. */
static int name_to_pid(const char *name, pid_t *out)
{
	const char *p = name, *end = name + strlen(name);
	uint64_t v;

	if (!*name || *name == '-' || parse_num(&p, end, 10, &v) || p != end || !v || v > INT_MAX)
		return -EINVAL;
	*out = (pid_t)v;
	return 0;
}

int proc_vdso(pid_t pid, uint64_t *addr, uint64_t *end)
{
	struct procmap_query q;
	char path[64], name[16];
	uint64_t *auxv = NULL, at = 0;
	size_t n = 0;
	int fd, err;

	err = proc_read_auxv(pid, &auxv, &n);
	if (err)
		return err;
	for (size_t i = 0; i + 1 < n; i += 2)
		if (auxv[i] == AT_SYSINFO_EHDR)
			at = auxv[i + 1];
	free(auxv);
	if (!at)
		return -ENOENT;
	snprintf(path, sizeof(path), "/proc/%d/maps", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	memset(&q, 0, sizeof(q));
	q.size = sizeof(q);
	q.query_addr = at;
	q.vma_name_addr = (uint64_t)(uintptr_t)name;
	q.vma_name_size = sizeof(name);
	err = ioctl(fd, PROCMAP_QUERY, &q) ? -errno : 0;
	close(fd);
	if (err)
		return err;
	if (q.vma_start != at || !(q.vma_flags & PROCMAP_QUERY_VMA_EXECUTABLE) ||
	    !q.vma_name_size || strcmp(name, "[vdso]"))
		return -ENOENT;
	*addr = at;
	if (end)
		*end = q.vma_end;
	return 0;
}

int proc_list_threads(pid_t pid, pid_t **tids, size_t *n)
{
	struct pid_vec pv = { 0 };
	char path[PROC_PATH_MAX];
	struct dirent *de;
	DIR *d;
	pid_t t;
	int err = 0;

	if (pid <= 0)
		return -ESRCH;
	proc_path(path, sizeof(path), pid, 0, "task");
	d = opendir(path);
	if (!d) {
		err = errno == ENOENT ? -ESRCH : -errno;
		if (err != -ESRCH)
			pr_perror("pid %d: cannot open %s", (int)pid, path);
		return err;
	}
	for (;;) {
		errno = 0;
		de = readdir(d);
		if (!de) {
			if (errno) {
				err = -errno;
				pr_perror("pid %d: cannot read %s", (int)pid, path);
				goto err;
			}
			break;
		}
		if (name_to_pid(de->d_name, &t))
			continue;
		err = pid_vec_push(&pv, t);
		if (err)
			goto err;
	}
	closedir(d);
	if (!pv.n) /* a process always has a task; none means it was reaped meanwhile */
		return -ESRCH;
	pid_vec_sort_unique(&pv);
	*tids = pv.v;
	*n = pv.n;
	return 0;

err:
	closedir(d);
	free(pv.v);
	return err;
}

/* Add the pids of /proc/PID/task/TID/children to @pv. */
static int add_children(pid_t pid, pid_t tid, struct pid_vec *pv)
{
	char path[PROC_PATH_MAX], *buf, q[SNIP_MAX];
	const char *p, *end;
	uint64_t v;
	size_t len;
	int err;

	proc_path(path, sizeof(path), pid, tid, "children");
	err = read_whole(path, pid, tid, &buf, &len);
	if (err)
		return err;
	p = buf;
	end = buf + len;
	for (;;) {
		while (p < end && (*p == ' ' || *p == '\n'))
			p++;
		if (p == end)
			break;
		if (parse_num(&p, end, 10, &v) || !v || v > INT_MAX || !at_token_end(p, end)) {
			pr_err("pid %d: %s: not a pid list: '%s'", (int)pid, path,
			       snip(q, buf, len));
			err = -EINVAL;
			break;
		}
		err = pid_vec_push(pv, (pid_t)v);
		if (err)
			break;
	}
	free(buf);
	return err;
}

int proc_list_children(pid_t pid, pid_t **kids, size_t *n)
{
	struct pid_vec pv = { 0 };
	size_t i, nt, alive = 0;
	pid_t *tids;
	int err;

	err = proc_list_threads(pid, &tids, &nt);
	if (err)
		return err;
	for (i = 0; i < nt; i++) {
		err = add_children(pid, tids[i], &pv);
		if (err == -ESRCH) /* that thread exited meanwhile */
			continue;
		if (err == -ENOENT) {
			pr_err("pid %d: the kernel has no /proc/PID/task/TID/children "
			       "(CONFIG_PROC_CHILDREN)",
			       (int)pid);
			err = -EOPNOTSUPP;
		}
		if (err)
			goto out;
		alive++;
	}
	if (!alive) {
		err = -ESRCH;
		goto out;
	}
	pid_vec_sort_unique(&pv);
	*kids = pv.v;
	*n = pv.n;
	pv.v = NULL;
	err = 0;
out:
	free(pv.v);
	free(tids);
	return err;
}

/* ---- links -------------------------------------------------------------------------------- */

int proc_read_link(pid_t pid, const char *what, char *buf, size_t size)
{
	char path[PROC_PATH_MAX + PATH_MAX];
	ssize_t got;
	int err;

	if (pid <= 0)
		return -ESRCH;
	if (!size)
		return -ENAMETOOLONG;
	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, what);
	got = readlink(path, buf, size);
	if (got < 0) {
		err = errno == ENOENT ? gone_or_enoent(pid, 0) : -errno;
		if (err != -ESRCH && err != -ENOENT)
			pr_errno(err, "pid %d: cannot read link %s", (int)pid, path);
		return err;
	}
	if ((size_t)got >= size) {
		pr_err("pid %d: link %s does not fit in %zu bytes", (int)pid, path, size);
		return -ENAMETOOLONG;
	}
	buf[got] = '\0';
	return 0;
}

int proc_vma_path(pid_t pid, uint64_t start, uint64_t end, char **path)
{
	char what[64], *buf;
	int err;

	/* readlink of a /proc link fills at most one page: PATH_MAX + 1 bytes always do. */
	buf = malloc(PATH_MAX + 1);
	if (!buf)
		return -ENOMEM;
	snprintf(what, sizeof(what), "map_files/%llx-%llx", (unsigned long long)start,
		 (unsigned long long)end);
	err = proc_read_link(pid, what, buf, PATH_MAX + 1);
	if (err) {
		free(buf);
		return err;
	}
	*path = buf;
	return 0;
}

/* ---- smaps -------------------------------------------------------------------------------- */

/*
 * The two-letter mnemonics of "VmFlags:" (fs/proc/task_mmu.c,
 * show_smap_vma_flags) for VM_* bits 0-31, whose values are fixed.
 */
static const struct {
	char mn[3];
	uint64_t bit;
} vmflag_names[] = {
	{ "rd", VMA_VM_READ },	       { "wr", VMA_VM_WRITE },	  { "ex", VMA_VM_EXEC },
	{ "sh", VMA_VM_SHARED },       { "mr", PROC_VM_MAYREAD }, { "mw", PROC_VM_MAYWRITE },
	{ "me", PROC_VM_MAYEXEC },     { "ms", VMA_VM_MAYSHARE }, { "gd", VMA_VM_GROWSDOWN },
	{ "um", VMA_VM_UFFD_MISSING }, { "pf", VMA_VM_PFNMAP },	  { "uw", VMA_VM_UFFD_WP },
	{ "lo", VMA_VM_LOCKED },       { "io", VMA_VM_IO },	  { "sr", PROC_VM_SEQ_READ },
	{ "rr", PROC_VM_RAND_READ },   { "dc", VMA_VM_DONTCOPY }, { "de", VMA_VM_DONTEXPAND },
	{ "lf", PROC_VM_LOCKONFAULT }, { "ac", VMA_VM_ACCOUNT },  { "nr", VMA_VM_NORESERVE },
	{ "ht", VMA_VM_HUGETLB },      { "sf", PROC_VM_SYNC },	  { "ar", PROC_VM_ARCH_1 },
	{ "wf", VMA_VM_WIPEONFORK },   { "dd", VMA_VM_DONTDUMP }, { "sd", PROC_VM_SOFTDIRTY },
	{ "mm", VMA_VM_MIXEDMAP },     { "hg", VMA_VM_HUGEPAGE }, { "nh", VMA_VM_NOHUGEPAGE },
	{ "mg", VMA_VM_MERGEABLE },
};

static uint64_t vmflags_from_text(const char *p, const char *end)
{
	uint64_t flags = 0;
	const char *tok;
	size_t i;

	for (;;) {
		p = skip_blanks(p, end);
		if (p == end)
			break;
		tok = p;
		while (p < end && *p != ' ' && *p != '\t')
			p++;
		if (p - tok != 2)
			continue;
		/* Unknown or high-bit mnemonics (ss, ui, dp, sl, ...) are skipped. */
		for (i = 0; i < sizeof(vmflag_names) / sizeof(vmflag_names[0]); i++)
			if (tok[0] == vmflag_names[i].mn[0] && tok[1] == vmflag_names[i].mn[1]) {
				flags |= vmflag_names[i].bit;
				break;
			}
	}
	return flags;
}

static unsigned int page_shift(void)
{
	long ps = sysconf(_SC_PAGESIZE);

	return ps > 0 ? (unsigned int)__builtin_ctzl((unsigned long)ps) : 12;
}

/*
 * A maps line pads its prefix with spaces up to this column and then writes
 * one more space before the name (fs/proc/task_mmu.c: seq_setwidth(m, 25 +
 * sizeof(void *) * 6 - 1), then seq_pad(m, ' ')).
 */
#define MAPS_NAME_COL (25 + sizeof(void *) * 6 - 1)

static int is_header(const char *line)
{
	const char *p = line;

	while ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))
		p++;
	return p != line && *p == '-';
}

/* Turn the "\012" the kernel writes for a newline back into one, in place. */
static void unescape_newlines(char *s)
{
	char *r = s, *w = s;

	while (*r) {
		if (r[0] == '\\' && r[1] == '0' && r[2] == '1' && r[3] == '2') {
			*w++ = '\n';
			r += 4;
		} else {
			*w++ = *r++;
		}
	}
	*w = '\0';
}

enum { HDR_OK = 0, HDR_SKIP = 1 };

/*
 * Parse a maps header line into *@r (vm_flags from the permissions only).
 * Returns HDR_OK, HDR_SKIP for [vsyscall], or -EINVAL.
 */
static int parse_header(char *line, size_t len, struct vma_rec *r, unsigned int pshift)
{
	const char *p = line, *end = line + len;
	uint64_t start, vend, off, maj, min, ino;
	size_t pfx, col;
	char *name;

	memset(r, 0, sizeof(*r));
	if (parse_num(&p, end, 16, &start) || p == end || *p++ != '-' ||
	    parse_num(&p, end, 16, &vend) || p == end || *p++ != ' ' || end - p < 5)
		return -EINVAL;
	if (start >= vend || (p[0] != 'r' && p[0] != '-') || (p[1] != 'w' && p[1] != '-') ||
	    (p[2] != 'x' && p[2] != '-') || (p[3] != 's' && p[3] != 'p') || p[4] != ' ')
		return -EINVAL;
	r->vm_flags = (p[0] == 'r' ? VMA_VM_READ : 0) | (p[1] == 'w' ? VMA_VM_WRITE : 0) |
		      (p[2] == 'x' ? VMA_VM_EXEC : 0) | (p[3] == 's' ? VMA_VM_MAYSHARE : 0);
	p += 5;
	if (parse_num(&p, end, 16, &off) || p == end || *p++ != ' ' ||
	    parse_num(&p, end, 16, &maj) || p == end || *p++ != ':' ||
	    parse_num(&p, end, 16, &min) || p == end || *p != ' ' || parse_num(&p, end, 10, &ino) ||
	    !at_token_end(p, end) || maj > UINT32_MAX || min > UINT32_MAX)
		return -EINVAL;

	/* The name: see MAPS_NAME_COL; any other layout falls back to skipping blanks. */
	pfx = (size_t)(p - line) + 1;
	name = line + len;
	if (pfx < len) {
		col = pfx < MAPS_NAME_COL ? MAPS_NAME_COL + 1 : pfx + 1;
		if (col < len && strspn(line + pfx - 1, " ") >= col - pfx + 1)
			name = line + col;
		else
			name = (char *)skip_blanks(p, end);
	}

	r->start = start;
	r->end = vend;
	r->dev_major = (uint32_t)maj;
	r->dev_minor = (uint32_t)min;
	r->ino = ino;
	if (maj || min || ino) {
		r->kind = VMA_KIND_FILE;
		r->offset = off;
		r->pgoff = off >> pshift;
		unescape_newlines(name);
		if (strlen(name) >= sizeof(r->path))
			r->kind |= VMA_KIND_PATH_ERR;
		else
			strcpy(r->path, name);
		return HDR_OK;
	}

	r->kind = VMA_KIND_ANON;
	r->pgoff = start >> pshift;
	if (!*name || !strncmp(name, "[anon:", 6))
		return HDR_OK;
	len = strlen(name);
	if (name[0] != '[' || name[len - 1] != ']')
		return -EINVAL;
	if (!strcmp(name, "[vsyscall]"))
		return HDR_SKIP;
	if (!strcmp(name, "[heap]")) {
		r->kind |= VMA_KIND_HEAP;
	} else if (!strcmp(name, "[stack]")) {
		r->kind |= VMA_KIND_STACK;
	} else {
		r->kind |= VMA_KIND_SPECIAL;
		if (!strcmp(name, "[vdso]"))
			r->kind |= VMA_KIND_VDSO;
		snprintf(r->name, sizeof(r->name), "%s", name);
	}
	return HDR_OK;
}

struct vma_vec {
	struct vma_rec *v;
	size_t n, cap;
};

static int vma_vec_push(struct vma_vec *vv, const struct vma_rec *r)
{
	if (vv->n == vv->cap) {
		size_t cap = vv->cap ? vv->cap * 2 : 64;
		struct vma_rec *nv = realloc(vv->v, cap * sizeof(*nv));

		if (!nv)
			return -ENOMEM;
		vv->v = nv;
		vv->cap = cap;
	}
	vv->v[vv->n++] = *r;
	return 0;
}

int proc_parse_smaps_stream(FILE *f, const char *what, pid_t pid, pid_t tid, struct vma_rec **out,
			    size_t *n)
{
	unsigned int pshift = page_shift();
	struct vma_vec vv = { 0 };
	struct vma_rec cur;
	int have = 0, skip = 0, err = 0;
	size_t cap = 0, lineno = 0;
	char *line = NULL;
	ssize_t len;

	for (;;) {
		errno = 0;
		len = getline(&line, &cap, f);
		if (len < 0) {
			if (errno) { /* getline's EOF leaves errno alone */
				err = -errno;
				if (err != -ESRCH)
					pr_perror("%s: read after line %zu", what, lineno);
				goto err;
			}
			break;
		}
		lineno++;
		if (len && line[len - 1] == '\n')
			line[--len] = '\0';
		if (is_header(line)) {
			if (have && !skip) {
				err = vma_vec_push(&vv, &cur);
				if (err)
					goto err;
			}
			err = parse_header(line, (size_t)len, &cur, pshift);
			if (err < 0) {
				pr_err("%s line %zu: cannot parse '%s'", what, lineno, line);
				goto err;
			}
			skip = err == HDR_SKIP;
			have = 1;
			err = 0;
			cur.tgid = (__u32)pid;
			cur.tid = (__u32)tid;
			continue;
		}
		/* "Key: value" lines belong to the VMA above them. */
		{
			char *colon = strchr(line, ':'), *blank = strpbrk(line, " \t");

			if (!have || !colon || colon == line || (blank && blank < colon)) {
				pr_err("%s line %zu: unexpected '%s'", what, lineno, line);
				err = -EINVAL;
				goto err;
			}
			if (colon - line == 7 && !strncmp(line, "VmFlags", 7))
				cur.vm_flags = vmflags_from_text(colon + 1, line + len);
		}
	}
	if (have && !skip) {
		err = vma_vec_push(&vv, &cur);
		if (err)
			goto err;
	}
	free(line);
	*out = vv.v;
	*n = vv.n;
	return 0;

err:
	free(line);
	free(vv.v);
	return err;
}

/* Parse /proc/PID[/task/TID]/smaps. */
static int parse_smaps_of(pid_t pid, pid_t tid, struct vma_rec **out, size_t *n)
{
	char path[PROC_PATH_MAX];
	FILE *f;
	int fd, err;

	proc_path(path, sizeof(path), pid, tid, "smaps");
	fd = proc_open(path, pid, tid);
	if (fd < 0)
		return fd;
	f = fdopen(fd, "r");
	if (!f) {
		err = -errno;
		pr_perror("pid %d: fdopen of %s", (int)pid, path);
		close(fd);
		return err;
	}
	err = proc_parse_smaps_stream(f, path, pid, tid ? tid : pid, out, n);
	fclose(f);
	return err;
}

int proc_parse_maps(pid_t pid, struct vma_rec **out, size_t *n)
{
	size_t nt = 0, i;
	pid_t *tids = NULL;
	int err;

	err = parse_smaps_of(pid, 0, out, n);
	if (err || *n)
		return err;
	/*
	 * Nothing: a kernel thread, a zombie, or a leader that exited while
	 * other threads run on (its own smaps is empty without an mm). Ask
	 * the live threads.
	 */
	if (proc_list_threads(pid, &tids, &nt))
		return 0;
	for (i = 0; i < nt; i++) {
		if (tids[i] == pid)
			continue;
		free(*out);
		*out = NULL;
		*n = 0;
		err = parse_smaps_of(pid, tids[i], out, n);
		if (err == -ESRCH) {
			err = 0;
			continue;
		}
		if (err || *n)
			break;
	}
	free(tids);
	return err;
}

/* ---- BPF first, /proc second -------------------------------------------------------------- */

int proc_read_vmas(pid_t pid, struct vma_rec **out, size_t *n, int *used_bpf)
{
	static int warned;
	int err;

	if (used_bpf)
		*used_bpf = 0;
	err = vma_iter_read(pid, out, n);
	/*
	 * The iterator yields nothing, not an error, for a pid that does not
	 * exist; /proc tells that apart from a process without an mm.
	 */
	if (!err && !*n) {
		free(*out);
		*out = NULL;
		pr_debug("pid %d: no VMAs from BPF, asking /proc", (int)pid);
		return proc_parse_maps(pid, out, n);
	}
	if (!err) {
		if (used_bpf)
			*used_bpf = 1;
		return 0;
	}
	if (err == -ENOMEM)
		return err;
	if ((err == -ESRCH || err == -ENOENT) && gone_or_enoent(pid, 0) == -ESRCH)
		return -ESRCH;
	/* A program that never loaded was reported once by vma_iter_preload. */
	if (vma_iter_loaded() && !__atomic_exchange_n(&warned, 1, __ATOMIC_RELAXED))
		pr_warn("pid %d: the BPF VMA iterator failed (%s): reading /proc/PID/smaps "
			"instead, for this and later processes",
			(int)pid, strerror(-err));
	return proc_parse_maps(pid, out, n);
}

int proc_open_pagemap(pid_t pid)
{
	char path[64];
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		fd = -errno;
		pr_perror("cannot open %s", path);
	}
	return fd;
}
