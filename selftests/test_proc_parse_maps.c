// SPDX-License-Identifier: MIT
/*
 * The VMA readers: /proc/PID/smaps against what the children know of themselves
 * and against the BPF iterator; thousands of VMAs; a leader that exited; the
 * fallback to /proc without BPF privileges.
 * (Suite proc: its TestSuite is in test_proc_parse.c; helpers in proc_test_helpers.c.)
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "vma_iter.h"
#include "helpers.h"
#include "log.h"
#include "proc_parse.h"

#ifndef PR_SET_VMA
#define PR_SET_VMA 0x53564d41
#define PR_SET_VMA_ANON_NAME 0
#endif

#define PG 4096UL
#include "proc_test_helpers.h"

/* ---- the VMAs: /proc against the children's own knowledge and against BPF ------------------- */

struct maps_ctx {
	char dir[256];
	char data[PATH_MAX], spaced[PATH_MAX], newline[PATH_MAX], longp[PATH_MAX], gone[PATH_MAX];
};

enum {
	R_FSHARED,
	R_FPRIV,
	R_FEXEC,
	R_SPACED,
	R_NEWLINE,
	R_LONG,
	R_GONE,
	R_MEMFD,
	R_ASHARED,
	R_APRIV,
	R_NONE,
	R_GDOWN,
	R_DONTFORK,
	R_DONTDUMP,
	R_WIPE,
	R_NOHUGE,
	R_NAMED,
	R_LOCKED,
	R_NR,
};

struct maps_rep {
	uint64_t addr[R_NR]; /* 0 if that mapping could not be made */
	uint64_t len[R_NR];
	uint64_t brk;
};

#define SLOT (16 * PG) /* regions sit in their own slots, unmapped gaps between them */

static void *map_at(uint64_t base, int slot, size_t len, int prot, int flags, int fd, off_t off)
{
	void *p = mmap((void *)(uintptr_t)(base + (uint64_t)slot * SLOT), len, prot,
		       flags | MAP_FIXED, fd, off);

	return p == MAP_FAILED ? NULL : p;
}

static void maps_kid(int rep, int ctl, void *arg)
{
	struct maps_ctx *c = arg;
	struct maps_rep r = { { 0 } };
	uint64_t base;
	char *p;
	int fd;

	p = mmap(NULL, (R_NR + 1) * SLOT, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		_exit(2);
	munmap(p, (R_NR + 1) * SLOT);
	base = (uint64_t)(uintptr_t)p;

#define MAP(i, l, prot, flags, fd, off)                              \
	do {                                                         \
		void *m_ = map_at(base, i, l, prot, flags, fd, off); \
		r.addr[i] = (uint64_t)(uintptr_t)m_;                 \
		r.len[i] = l;                                        \
	} while (0)

	fd = open(c->data, O_RDWR);
	if (fd < 0)
		_exit(3);
	MAP(R_FSHARED, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 1 * PG);
	MAP(R_FPRIV, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 3 * PG);
	if (r.addr[R_FPRIV])
		*(volatile char *)(uintptr_t)r.addr[R_FPRIV] = 'w'; /* a COW copy */
	MAP(R_FEXEC, PG, PROT_READ | PROT_EXEC, MAP_PRIVATE, fd, 5 * PG);
	close(fd);
	fd = open(c->spaced, O_RDONLY);
	MAP(R_SPACED, PG, PROT_READ, MAP_SHARED, fd, 0);
	close(fd);
	fd = open(c->newline, O_RDONLY);
	MAP(R_NEWLINE, PG, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	fd = open(c->longp, O_RDONLY);
	MAP(R_LONG, PG, PROT_READ, MAP_PRIVATE, fd, 0);
	close(fd);
	fd = open(c->gone, O_RDWR);
	MAP(R_GONE, PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	unlink(c->gone);
	fd = memfd_create("ferry-memfd", 0);
	if (fd >= 0 && !ftruncate(fd, 2 * PG))
		MAP(R_MEMFD, 2 * PG, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	MAP(R_ASHARED, 3 * PG, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	MAP(R_APRIV, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (r.addr[R_APRIV])
		memset((void *)(uintptr_t)r.addr[R_APRIV], 1, 4 * PG);
	MAP(R_NONE, 2 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	MAP(R_GDOWN, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN,
	    -1, 0);
	MAP(R_DONTFORK, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (madvise((void *)(uintptr_t)r.addr[R_DONTFORK], PG, MADV_DONTFORK))
		r.addr[R_DONTFORK] = 0;
	MAP(R_DONTDUMP, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (madvise((void *)(uintptr_t)r.addr[R_DONTDUMP], PG, MADV_DONTDUMP))
		r.addr[R_DONTDUMP] = 0;
	MAP(R_WIPE, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (madvise((void *)(uintptr_t)r.addr[R_WIPE], PG, MADV_WIPEONFORK))
		r.addr[R_WIPE] = 0;
	MAP(R_NOHUGE, 2 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (madvise((void *)(uintptr_t)r.addr[R_NOHUGE], 2 * PG, MADV_NOHUGEPAGE))
		r.addr[R_NOHUGE] = 0;
	MAP(R_NAMED, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (prctl(PR_SET_VMA, PR_SET_VMA_ANON_NAME, r.addr[R_NAMED], PG, "ferry name"))
		r.addr[R_NAMED] = 0;
	MAP(R_LOCKED, PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (mlock((void *)(uintptr_t)r.addr[R_LOCKED], PG))
		r.addr[R_LOCKED] = 0;
#undef MAP
	if (sbrk(5 * PG) == (void *)-1)
		_exit(4);
	r.brk = (uint64_t)(uintptr_t)sbrk(0);
	memset((char *)(uintptr_t)r.brk - 5 * PG, 2, 5 * PG);
	pt_put(rep, &r, sizeof(r));
	pt_wait_ctl(ctl);
	_exit(0);
}

static void make_file(const char *path, size_t len, struct stat *sb)
{
	char *buf = malloc(len);

	cr_assert(buf);
	memset(buf, 'f', len);
	cr_assert_eq(t_write_file(path, buf, len), 0, "cannot write %s", path);
	free(buf);
	cr_assert_eq(stat(path, sb), 0);
}

static void maps_setup(struct maps_ctx *c, struct stat sb[R_NR])
{
	char *d = t_tmpdir(), comp[101];
	size_t len;

	cr_assert(d);
	snprintf(c->dir, sizeof(c->dir), "%s", d);
	free(d);
	snprintf(c->data, sizeof(c->data), "%s/data", c->dir);
	make_file(c->data, 8 * PG, &sb[R_FSHARED]);
	sb[R_FPRIV] = sb[R_FEXEC] = sb[R_FSHARED];
	snprintf(c->spaced, sizeof(c->spaced), "%s/ sp ace", c->dir);
	make_file(c->spaced, PG, &sb[R_SPACED]);
	snprintf(c->newline, sizeof(c->newline), "%s/nl\nname", c->dir);
	make_file(c->newline, PG, &sb[R_NEWLINE]);
	snprintf(c->gone, sizeof(c->gone), "%s/gone", c->dir);
	make_file(c->gone, PG, &sb[R_GONE]);
	/* A path longer than vma_rec.path: three 100-byte directories. */
	memset(comp, 'd', 100);
	comp[100] = '\0';
	len = (size_t)snprintf(c->longp, sizeof(c->longp), "%s", c->dir);
	for (int i = 0; i < 3; i++) {
		len += (size_t)snprintf(c->longp + len, sizeof(c->longp) - len, "/%s", comp);
		cr_assert_eq(mkdir(c->longp, 0700), 0);
	}
	snprintf(c->longp + len, sizeof(c->longp) - len, "/long");
	make_file(c->longp, PG, &sb[R_LONG]);
}

static const struct vma_rec *find_vma(const struct vma_rec *v, size_t n, uint64_t start)
{
	for (size_t i = 0; i < n; i++)
		if (v[i].start == start)
			return &v[i];
	return NULL;
}

static const struct vma_rec *containing(const struct vma_rec *v, size_t n, uint64_t addr)
{
	for (size_t i = 0; i < n; i++)
		if (addr >= v[i].start && addr < v[i].end)
			return &v[i];
	return NULL;
}

static void check_file_vma(const struct vma_rec *v, size_t n, const struct maps_rep *r, int i,
			   const struct stat *sb, const char *path, uint64_t off)
{
	const struct vma_rec *x = find_vma(v, n, r->addr[i]);

	cr_assert(x, "region %d at %#lx is not listed", i, (unsigned long)r->addr[i]);
	cr_assert_eq(x->end, r->addr[i] + r->len[i], "region %d", i);
	cr_assert_eq(x->kind, VMA_KIND_FILE, "region %d kind %#x", i, x->kind);
	cr_assert_eq(x->ino, sb->st_ino, "region %d", i);
	cr_assert_eq(x->dev_major, major(sb->st_dev), "region %d", i);
	cr_assert_eq(x->dev_minor, minor(sb->st_dev), "region %d", i);
	cr_assert_eq(x->offset, off, "region %d", i);
	cr_assert_eq(x->pgoff, off / PG, "region %d", i);
	if (path)
		cr_assert_str_eq(x->path, path, "region %d", i);
}

static const struct vma_rec *check_anon_vma(const struct vma_rec *v, size_t n,
					    const struct maps_rep *r, int i)
{
	const struct vma_rec *x = find_vma(v, n, r->addr[i]);

	cr_assert(x, "region %d at %#lx is not listed", i, (unsigned long)r->addr[i]);
	cr_assert_eq(x->end, r->addr[i] + r->len[i], "region %d", i);
	cr_assert_eq(x->kind, VMA_KIND_ANON, "region %d kind %#x", i, x->kind);
	cr_assert_eq(x->offset, 0);
	cr_assert_eq(x->ino, 0);
	cr_assert_eq(x->pgoff, x->start / PG);
	return x;
}

/* What the children know: each region where it was made, with the right file and flags. */
static void check_known(const struct vma_rec *v, size_t n, const struct maps_rep *r,
			const struct maps_ctx *c, const struct stat *sb)
{
	const uint64_t rw = VMA_VM_READ | VMA_VM_WRITE | PROC_VM_MAYREAD | PROC_VM_MAYWRITE;
	const struct vma_rec *x;
	char want[PATH_MAX + 16];
	int stack = 0, vdso = 0, vvar = 0;

	check_file_vma(v, n, r, R_FSHARED, &sb[R_FSHARED], c->data, PG);
	x = find_vma(v, n, r->addr[R_FSHARED]);
	cr_assert_eq(x->vm_flags & (rw | VMA_VM_SHARED | VMA_VM_MAYSHARE | VMA_VM_EXEC),
		     rw | VMA_VM_SHARED | VMA_VM_MAYSHARE);
	check_file_vma(v, n, r, R_FPRIV, &sb[R_FPRIV], c->data, 3 * PG);
	x = find_vma(v, n, r->addr[R_FPRIV]);
	cr_assert_eq(x->vm_flags & (rw | VMA_VM_SHARED | VMA_VM_MAYSHARE), rw);
	if (r->addr[R_FEXEC]) {
		check_file_vma(v, n, r, R_FEXEC, &sb[R_FEXEC], c->data, 5 * PG);
		x = find_vma(v, n, r->addr[R_FEXEC]);
		cr_assert_eq(x->vm_flags & (VMA_VM_READ | VMA_VM_WRITE | VMA_VM_EXEC),
			     VMA_VM_READ | VMA_VM_EXEC);
	}
	check_file_vma(v, n, r, R_SPACED, &sb[R_SPACED], c->spaced, 0);
	check_file_vma(v, n, r, R_NEWLINE, &sb[R_NEWLINE], c->newline, 0);
	x = find_vma(v, n, r->addr[R_LONG]);
	cr_assert(x);
	cr_assert_eq(x->kind, VMA_KIND_FILE | VMA_KIND_PATH_ERR);
	cr_assert_eq(x->ino, sb[R_LONG].st_ino);
	snprintf(want, sizeof(want), "%s (deleted)", c->gone);
	check_file_vma(v, n, r, R_GONE, &sb[R_GONE], want, 0);
	if (r->addr[R_MEMFD]) {
		x = find_vma(v, n, r->addr[R_MEMFD]);
		cr_assert(x);
		cr_assert_eq(x->kind, VMA_KIND_FILE);
		cr_assert_str_eq(x->path, "/memfd:ferry-memfd (deleted)");
	}
	x = find_vma(v, n, r->addr[R_ASHARED]);
	cr_assert(x);
	cr_assert_eq(x->kind, VMA_KIND_FILE, "shared anonymous memory is a shmem file");
	cr_assert_str_eq(x->path, "/dev/zero (deleted)");
	cr_assert_eq(x->vm_flags & (VMA_VM_SHARED | VMA_VM_MAYSHARE),
		     VMA_VM_SHARED | VMA_VM_MAYSHARE);

	x = check_anon_vma(v, n, r, R_APRIV);
	cr_assert_eq(x->vm_flags & (rw | VMA_VM_SHARED | VMA_VM_EXEC), rw);
	x = check_anon_vma(v, n, r, R_NONE);
	cr_assert_eq(x->vm_flags & (VMA_VM_READ | VMA_VM_WRITE | VMA_VM_EXEC), 0);
	x = check_anon_vma(v, n, r, R_GDOWN);
	cr_assert(x->vm_flags & VMA_VM_GROWSDOWN);
	if (r->addr[R_DONTFORK])
		cr_assert(check_anon_vma(v, n, r, R_DONTFORK)->vm_flags & VMA_VM_DONTCOPY);
	if (r->addr[R_DONTDUMP])
		cr_assert(check_anon_vma(v, n, r, R_DONTDUMP)->vm_flags & VMA_VM_DONTDUMP);
	if (r->addr[R_WIPE])
		cr_assert(check_anon_vma(v, n, r, R_WIPE)->vm_flags & VMA_VM_WIPEONFORK);
	if (r->addr[R_NOHUGE])
		cr_assert(check_anon_vma(v, n, r, R_NOHUGE)->vm_flags & VMA_VM_NOHUGEPAGE);
	if (r->addr[R_NAMED])
		check_anon_vma(v, n, r, R_NAMED);
	if (r->addr[R_LOCKED])
		cr_assert(check_anon_vma(v, n, r, R_LOCKED)->vm_flags & VMA_VM_LOCKED);

	x = containing(v, n, r->brk - 1);
	cr_assert(x, "no VMA holds the break %#lx", (unsigned long)r->brk);
	cr_assert_eq(x->kind, VMA_KIND_ANON | VMA_KIND_HEAP);
	for (size_t i = 0; i < n; i++) {
		stack += !!(v[i].kind & VMA_KIND_STACK);
		if (v[i].kind & VMA_KIND_VDSO) {
			vdso++;
			cr_assert_eq(v[i].kind, VMA_KIND_ANON | VMA_KIND_VDSO | VMA_KIND_SPECIAL);
			cr_assert_str_eq(v[i].name, "[vdso]");
			cr_assert(v[i].vm_flags & VMA_VM_EXEC);
		}
		if (!strncmp(v[i].name, "[vvar", 5)) {
			vvar++;
			cr_assert_eq(v[i].kind, VMA_KIND_ANON | VMA_KIND_SPECIAL);
		}
		if (i)
			cr_assert_geq(v[i].start, v[i - 1].end, "address order");
	}
	cr_assert_eq(stack, 1);
	cr_assert_eq(vdso, 1);
	cr_assert_geq(vvar, 1);
}

static void print_vma(const char *who, const struct vma_rec *x)
{
	cr_log_error("%s: %#llx-%#llx off %#llx pgoff %#llx ino %llu dev %u:%u kind %#x flags "
		     "%#llx name '%s' path '%s'",
		     who, (unsigned long long)x->start, (unsigned long long)x->end,
		     (unsigned long long)x->offset, (unsigned long long)x->pgoff,
		     (unsigned long long)x->ino, x->dev_major, x->dev_minor, x->kind,
		     (unsigned long long)x->vm_flags, x->name, x->path);
}

/*
 * proc_parse_maps and vma_iter_read on the same stopped address space. Compared:
 * start, end, offset, ino, dev, path, kind, name, tgid, pgoff of file VMAs, and
 * vm_flags under PROC_VMFLAGS_KNOWN (bits 0-31 minus bit 11 and VM_SOFTDIRTY:
 * what VmFlags always shows and this parser maps). Anonymous pgoff is not
 * compared: /proc does not show it.
 */
static void compare_with_bpf(pid_t pid, const struct vma_rec *p, size_t np)
{
	struct vma_rec *b;
	size_t nb, i;
	int err;

	err = vma_iter_read(pid, &b, &nb);
	if (err)
		cr_skip_test("vma_iter_read: %s; the comparison with BPF is skipped",
			     strerror(-err));
	for (i = 0; i < np && i < nb; i++) {
		const struct vma_rec *x = &p[i], *y = &b[i];
		int same =
			x->start == y->start && x->end == y->end && x->offset == y->offset &&
			x->ino == y->ino && x->dev_major == y->dev_major &&
			x->dev_minor == y->dev_minor && x->kind == y->kind &&
			!strcmp(x->path, y->path) && !strcmp(x->name, y->name) &&
			x->tgid == y->tgid &&
			(x->vm_flags & PROC_VMFLAGS_KNOWN) == (y->vm_flags & PROC_VMFLAGS_KNOWN) &&
			(!(x->kind & VMA_KIND_FILE) || x->pgoff == y->pgoff);

		if (!same) {
			print_vma("proc", x);
			print_vma("bpf ", y);
			cr_assert_fail("VMA %zu differs between /proc and BPF", i);
		}
	}
	cr_assert_eq(np, nb, "/proc lists %zu VMAs, BPF %zu", np, nb);
	free(b);
}

Test(proc, maps_agree_with_the_children_and_with_bpf)
{
	struct stat sb[R_NR];
	struct maps_ctx c;
	struct maps_rep r;
	struct vma_rec *v;
	struct pt_kid k;
	char *full;
	size_t n;
	int used;

	memset(sb, 0, sizeof(sb));
	maps_setup(&c, sb);
	pt_kid_start(&k, maps_kid, &c);
	pt_kid_read(&k, &r, sizeof(r));
	for (int i = 0; i < R_NR; i++)
		if (i != R_FEXEC && i != R_MEMFD && i != R_DONTFORK && i != R_DONTDUMP &&
		    i != R_WIPE && i != R_NOHUGE && i != R_NAMED && i != R_LOCKED)
			cr_assert(r.addr[i], "the child could not make region %d", i);

	cr_assert_eq(proc_parse_maps(k.pid, &v, &n), 0);
	cr_assert_gt(n, R_NR);
	for (size_t i = 0; i < n; i++) {
		cr_assert_eq(v[i].tgid, k.pid);
		cr_assert_eq(v[i].tid, k.pid);
	}
	check_known(v, n, &r, &c, sb);

	/* The path too long for vma_rec, in full. */
	if (!geteuid()) {
		cr_assert_eq(proc_vma_path(k.pid, r.addr[R_LONG], r.addr[R_LONG] + PG, &full), 0);
		cr_assert_str_eq(full, c.longp);
		free(full);
	}
	cr_assert_eq(proc_vma_path(k.pid, r.addr[R_APRIV], r.addr[R_APRIV] + 4 * PG, &full),
		     -ENOENT, "anonymous memory has no map_files link");

	/* proc_read_vmas gives the same list, whichever way it took. */
	{
		struct vma_rec *w;
		size_t nw;

		cr_assert_eq(proc_read_vmas(k.pid, &w, &nw, &used), 0);
		cr_assert_eq(nw, n);
		for (size_t i = 0; i < n; i++)
			cr_assert(w[i].start == v[i].start && w[i].end == v[i].end);
		free(w);
	}

	compare_with_bpf(k.pid, v, n);
	free(v);
	cr_assert_eq(pt_kid_stop(&k), 0);
	t_rmrf(c.dir);
}

#define MANY 6000

static void many_kid(int rep, int ctl, void *arg)
{
	char *p;

	(void)arg;
	p = mmap(NULL, 2 * MANY * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		_exit(2);
	for (int i = 0; i < MANY; i++)
		if (mprotect(p + 2 * (size_t)i * PG, PG, PROT_READ))
			_exit(3);
	pt_put(rep, &p, sizeof(p));
	pt_wait_ctl(ctl);
	_exit(0);
}

Test(proc, thousands_of_vmas)
{
	struct vma_rec *v;
	struct pt_kid k;
	size_t n;
	char *p;

	pt_kid_start(&k, many_kid, NULL);
	pt_kid_read(&k, &p, sizeof(p));
	cr_assert_eq(proc_parse_maps(k.pid, &v, &n), 0);
	cr_assert_geq(n, 2 * MANY);
	cr_assert(find_vma(v, n, (uint64_t)(uintptr_t)p));
	compare_with_bpf(k.pid, v, n);
	free(v);
	cr_assert_eq(pt_kid_stop(&k), 0);
}

/* The leader exits, a thread runs on: the leader's smaps is empty, the thread's is not. */
static void *survivor(void *arg)
{
	int *fds = arg;
	struct proc_stat st;
	char ok = 'k';

	for (int i = 0; i < 1000; i++) {
		if (!proc_parse_stat(getpid(), 0, &st) && st.state == 'Z')
			break;
		usleep(5 * 1000);
	}
	pt_put(fds[0], &ok, 1);
	pt_wait_ctl(fds[1]);
	_exit(0);
	return NULL;
}

static void leaderless_kid(int rep, int ctl, void *arg)
{
	static int fds[2];
	pthread_t th;

	(void)arg;
	fds[0] = rep;
	fds[1] = ctl;
	if (pthread_create(&th, NULL, survivor, fds))
		_exit(2);
	syscall(SYS_exit, 0); /* this thread only */
}

Test(proc, maps_of_a_process_whose_leader_exited)
{
	struct proc_stat st;
	struct vma_rec *v;
	pid_t *tids;
	struct pt_kid k;
	size_t n, nt;
	char ok;

	pt_kid_start(&k, leaderless_kid, NULL);
	pt_kid_read(&k, &ok, 1);
	cr_assert_eq(proc_parse_stat(k.pid, 0, &st), 0);
	cr_assert_eq(st.state, 'Z');
	cr_assert_eq(proc_list_threads(k.pid, &tids, &nt), 0);
	cr_assert_eq(nt, 2);
	cr_assert_eq(proc_parse_maps(k.pid, &v, &n), 0);
	cr_assert_gt(n, 0, "read through the live thread");
	cr_assert_eq(v[0].tgid, k.pid);
	cr_assert_eq(v[0].tid, tids[0] == k.pid ? tids[1] : tids[0]);
	free(v);
	cr_assert_eq(proc_read_vmas(k.pid, &v, &n, NULL), 0);
	cr_assert_gt(n, 0);
	free(v);
	free(tids);
	cr_assert_eq(pt_kid_stop(&k), 0);
}

/* Without CAP_BPF/CAP_PERFMON/CAP_SYS_ADMIN the iterator fails and /proc takes over, warning once.
 */
static int fallback_reader(pid_t target, const char *logp)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];
	struct vma_rec *v = NULL;
	int used = -1, drop[] = { CAP_SYS_ADMIN, CAP_BPF, CAP_PERFMON };
	size_t n;
	char *log, *s;
	int warns = 0;

	if (syscall(SYS_capget, &h, d))
		return 10;
	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		d[drop[i] / 32].effective &= ~(1U << (drop[i] % 32));
	if (syscall(SYS_capset, &h, d))
		return 11;
	if (log_init(logp, LOG_WARN, 0))
		return 12;
	for (int round = 0; round < 2; round++) {
		if (proc_read_vmas(target, &v, &n, &used) || used != 0 || n == 0)
			return 13 + round;
		free(v);
	}
	log_fini();
	log = t_read_file(logp, NULL);
	for (s = log; s && (s = strstr(s, "no task_vma iterator variant loads here")); s++)
		warns++;
	free(log);
	return warns == 1 ? 0 : 20 + warns;
}

static void idle_kid(int rep, int ctl, void *arg)
{
	char ok = 'k';

	(void)arg;
	pt_put(rep, &ok, 1);
	pt_wait_ctl(ctl);
}

Test(proc, read_vmas_falls_back_to_proc_without_bpf_privileges)
{
	char *dir = t_tmpdir(), logp[PATH_MAX], ok;
	struct pt_kid k;
	pid_t rd;
	int st;

	if (geteuid())
		cr_skip_test("needs root: the test drops capabilities from a root process");
	snprintf(logp, sizeof(logp), "%s/log", dir);
	pt_kid_start(&k, idle_kid, NULL);
	pt_kid_read(&k, &ok, 1);
	rd = fork();
	cr_assert_geq(rd, 0);
	if (!rd)
		_exit(fallback_reader(k.pid, logp));
	cr_assert_eq(waitpid(rd, &st, 0), rd);
	cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "reader failed with %d",
		  WIFEXITED(st) ? WEXITSTATUS(st) : -1);
	cr_assert_eq(pt_kid_stop(&k), 0);
	t_rmrf(dir);
	free(dir);
}
