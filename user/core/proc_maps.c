// SPDX-License-Identifier: MIT
/*
 * /proc parsing (see proc_parse.h): a process's VMAs. The /proc/PID/smaps
 * reader (a line at a time with getline(): no line size is assumed) that
 * stands in for the BPF VMA iterator, proc_read_vmas() which tries BPF
 * first, the vDSO found with PROCMAP_QUERY, and /proc/PID/pagemap. Shared
 * helpers: proc_parse_priv.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <sys/ioctl.h>
#include <unistd.h>

#define LOG_PREFIX "proc: "
#include "compat.h"
#include "log.h"
#include "proc_parse.h"
#include "proc_parse_priv.h"
#include "vma_iter.h"

/* ---- the vDSO ----------------------------------------------------------------------------- */

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
	if ((err == -ESRCH || err == -ENOENT) && proc_gone_or_enoent(pid, 0) == -ESRCH)
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
