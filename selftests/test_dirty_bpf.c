// SPDX-License-Identifier: MIT
/*
 * The BPF dirty-page and VMA-change tracker (user/track/dirty_bpf.c) on a real
 * process: a forked child arms userfaultfd async write-protection on its own
 * 256-page region, then writes, reads, maps and unmaps on command, re-arming
 * with PAGEMAP_SCAN after each write round. The counts the programs report
 * are compared with the pages written and with what PAGEMAP_SCAN found.
 *
 * A write to a protected page that is present faults once. A first write to
 * a protected page that was never populated (a WP_UNPOPULATED marker) faults
 * twice: the first fault allocates the page, still protected, the retried
 * write faults again and lifts the protection. Both count in 'faults', the
 * page once in 'distinct'. Most tests write populated pages, where the fault
 * counts are exact.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "compat.h"
#include "dirty_bpf.h"
#include "helpers.h"
#include "log.h"

#define NPAGES 256 /* the write-protected region */
#define NPOP 192   /* its pages [0, NPOP) are populated before protection, the rest empty */
#define NOTHER 64  /* a plain anonymous mapping: not registered, not tracked */
#define MAXIDX 64
#define PIN_PREFIX "test-dirty-bpf-"

enum { OP_WRITE = 1, OP_READ, OP_OTHER, OP_VMA, OP_MPROTECT_N, OP_KWRITE, OP_EXIT };

struct cmd {
	int op;
	int n;		  /* idx[0..n): written by one thread, in order (repeats allowed) */
	int n2;		  /* idx2[0..n2): written by two threads at once */
	int idx[MAXIDX];  /* page indexes (into the region, or 'other' for OP_OTHER) */
	int idx2[MAXIDX]; /* ... ; for OP_MPROTECT_N, n is the count */
};

struct reply {
	long ret;      /* OP_WRITE: pages PAGEMAP_SCAN found written; else 0 or -errno */
	uint64_t a[8]; /* OP_VMA: addresses and results */
};

struct setup {
	int err; /* 0, or -errno of the uffd setup step */
	char what[64];
	uint64_t region, other;
};

struct target {
	pid_t pid;
	int cmd, rep; /* pipes to and from the child */
	uint64_t region, other;
};

static size_t ps;

/* ---- the child -------------------------------------------------------------------------- */

static struct {
	unsigned char *region, *other;
	int pm;
	pthread_barrier_t bar;
	const struct cmd *c;
	struct page_region vec[NPAGES];
} ch;

static void full_write(int fd, const void *buf, size_t len)
{
	if (write(fd, buf, len) != (ssize_t)len)
		_exit(3);
}

static int full_read(int fd, void *buf, size_t len)
{
	size_t got = 0;
	ssize_t r;

	while (got < len) {
		r = read(fd, (char *)buf + got, len - got);
		if (r <= 0)
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/* Written pages of the region since the last scan; re-arms them. Pages or -errno. */
static long scan_rearm(void)
{
	struct pm_scan_arg arg = {
		.size = sizeof(arg),
		.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC,
		.start = (uintptr_t)ch.region,
		.end = (uintptr_t)ch.region + NPAGES * ps,
		.vec = (uintptr_t)ch.vec,
		.vec_len = NPAGES,
		.category_mask = PAGE_IS_WRITTEN,
		.return_mask = PAGE_IS_WRITTEN,
	};
	long n, i, pages = 0;

	n = ioctl(ch.pm, PAGEMAP_SCAN, &arg);
	if (n < 0)
		return -errno;
	for (i = 0; i < n; i++)
		pages += (long)((ch.vec[i].end - ch.vec[i].start) / ps);
	return pages;
}

static void *writer(void *arg)
{
	int i;

	(void)arg;
	pthread_barrier_wait(&ch.bar);
	for (i = 0; i < ch.c->n2; i++)
		__atomic_fetch_add(&ch.region[(size_t)ch.c->idx2[i] * ps], 1, __ATOMIC_RELAXED);
	return NULL;
}

static long do_write(const struct cmd *c)
{
	pthread_t th[2];
	int i;

	for (i = 0; i < c->n; i++)
		ch.region[(size_t)c->idx[i] * ps + 8]++;
	if (c->n2) {
		ch.c = c;
		pthread_barrier_init(&ch.bar, NULL, 2);
		for (i = 0; i < 2; i++)
			if (pthread_create(&th[i], NULL, writer, NULL))
				return -EAGAIN;
		for (i = 0; i < 2; i++)
			pthread_join(th[i], NULL);
		pthread_barrier_destroy(&ch.bar);
	}
	return scan_rearm();
}

/* The kernel writes pages idx[0..n) (read(2) from a pipe into them), then re-arm. */
static long do_kwrite(const struct cmd *c)
{
	int p[2], i;
	long ret = 0;

	if (pipe(p))
		return -errno;
	for (i = 0; i < c->n && !ret; i++) {
		if (write(p[1], "k", 1) != 1 ||
		    read(p[0], ch.region + (size_t)c->idx[i] * ps + 16, 1) != 1)
			ret = -EIO;
	}
	close(p[0]);
	close(p[1]);
	return ret ? ret : scan_rearm();
}

/* The VMA calls the tracker reports, one of each kind, plus a failing one. */
static void do_vma(struct reply *r)
{
	unsigned char *a, *b;
	void *s;
	int id;

	a = mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	r->a[0] = (uintptr_t)a;
	mprotect(a, 4 * ps, PROT_READ);
	mprotect(a + 1, ps, PROT_READ); /* unaligned: -EINVAL */
	madvise(a, 4 * ps, MADV_DONTNEED);
	b = mremap(a, 4 * ps, 8 * ps, MREMAP_MAYMOVE);
	r->a[1] = (uintptr_t)b;
	munmap(b, 8 * ps);
	r->a[2] = (uint64_t)syscall(SYS_brk, 0);
	id = shmget(IPC_PRIVATE, ps, IPC_CREAT | 0600);
	s = shmat(id, NULL, 0);
	r->a[3] = (uintptr_t)s;
	shmdt(s);
	shmctl(id, IPC_RMID, NULL);
	r->a[4] = (uint64_t)id;
}

/*
 * A forked child shares its pages with the test process until a write: its
 * first write to each one faults (copy on write), also when the kernel makes
 * it (the rseq area updated after a migration, read(2)), and that fault
 * would land in some round's untracked count. Write every present page of
 * the private writable mappings once now, so that the rounds count only the
 * test's writes.
 */
static void unshare_pages(void)
{
	uint64_t ent[512], a, s, e;
	char line[512], perms[8];
	size_t i, n;
	ssize_t got;
	FILE *f = fopen("/proc/self/maps", "re");
	int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);

	while (f && pm >= 0 && fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%" SCNx64 "-%" SCNx64 " %7s", &s, &e, perms) != 3 ||
		    strncmp(perms, "rw", 2) || perms[3] != 'p')
			continue;
		for (a = s; a < e; a += n * ps) {
			n = (size_t)((e - a) / ps);
			if (n > 512)
				n = 512;
			got = pread(pm, ent, n * sizeof(ent[0]), (off_t)(a / ps * sizeof(ent[0])));
			if (got <= 0)
				break;
			n = (size_t)got / sizeof(ent[0]);
			for (i = 0; i < n; i++) {
				volatile char *p = (volatile char *)(uintptr_t)(a + i * ps);

				if (ent[i] & PAGEMAP_ENTRY_PRESENT)
					*p = *p;
			}
		}
	}
	if (pm >= 0)
		close(pm);
	if (f)
		fclose(f);
}

static int child_setup(struct setup *s)
{
	struct uffdio_api api = { .api = UFFD_API,
				  .features = UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_WP };
	struct uffdio_writeprotect wp = { .mode = UFFDIO_WRITEPROTECT_MODE_WP };
	long n;
	int uffd;

	unshare_pages();
	ch.region =
		mmap(NULL, NPAGES * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ch.other =
		mmap(NULL, NOTHER * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	snprintf(s->what, sizeof(s->what), "mmap");
	if (ch.region == MAP_FAILED || ch.other == MAP_FAILED)
		return -errno;
	madvise(ch.region, NPAGES * ps, MADV_NOHUGEPAGE);
	madvise(ch.other, NOTHER * ps, MADV_NOHUGEPAGE);
	for (n = 0; n < NPOP; n++)
		ch.region[(size_t)n * ps] = 1;
	s->region = (uintptr_t)ch.region;
	s->other = (uintptr_t)ch.other;

	snprintf(s->what, sizeof(s->what), "userfaultfd");
	uffd = (int)syscall(__NR_userfaultfd, O_CLOEXEC | UFFD_USER_MODE_ONLY);
	if (uffd < 0)
		return -errno;
	snprintf(s->what, sizeof(s->what), "UFFDIO_API(WP_ASYNC|WP_UNPOPULATED)");
	if (ioctl(uffd, UFFDIO_API, &api))
		return -errno;
	snprintf(s->what, sizeof(s->what), "UFFDIO_REGISTER_MODE_WP");
	reg.range.start = (uintptr_t)ch.region;
	reg.range.len = NPAGES * ps;
	if (ioctl(uffd, UFFDIO_REGISTER, &reg))
		return -errno;
	/* Protect the empty ptes too (WP_UNPOPULATED): the scan below only re-arms written ones. */
	snprintf(s->what, sizeof(s->what), "UFFDIO_WRITEPROTECT");
	wp.range = reg.range;
	if (ioctl(uffd, UFFDIO_WRITEPROTECT, &wp))
		return -errno;
	snprintf(s->what, sizeof(s->what), "open /proc/self/pagemap");
	ch.pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
	if (ch.pm < 0)
		return -errno;
	snprintf(s->what, sizeof(s->what), "PAGEMAP_SCAN");
	n = scan_rearm();
	if (n < 0)
		return (int)n;
	if (n) {
		snprintf(s->what, sizeof(s->what), "PAGEMAP_SCAN found %ld written at start", n);
		return -EIO;
	}
	return 0;
}

static void child_main(int cin, int cout)
{
	struct setup s = { 0 };
	struct reply r;
	struct cmd c;
	volatile unsigned long sum;
	size_t i;

	s.err = child_setup(&s);
	full_write(cout, &s, sizeof(s));
	if (s.err)
		_exit(0);
	while (!full_read(cin, &c, sizeof(c))) {
		memset(&r, 0, sizeof(r));
		switch (c.op) {
		case OP_WRITE:
			r.ret = do_write(&c);
			break;
		case OP_READ:
			for (sum = 0, i = 0; i < NPAGES; i++)
				sum += ch.region[i * ps + 8];
			break;
		case OP_OTHER:
			for (i = 0; i < (size_t)c.n; i++)
				ch.other[(size_t)c.idx[i] * ps]++;
			break;
		case OP_VMA:
			do_vma(&r);
			break;
		case OP_MPROTECT_N:
			for (i = 0; i < (size_t)c.n; i++)
				mprotect(ch.other, ps, i & 1 ? PROT_READ | PROT_WRITE : PROT_READ);
			break;
		case OP_KWRITE:
			r.ret = do_kwrite(&c);
			break;
		case OP_EXIT:
			_exit(0);
		}
		full_write(cout, &r, sizeof(r));
	}
	_exit(0);
}

/* ---- the test side ------------------------------------------------------------------------ */

static struct target tg;
static struct dirty_bpf *trk;
static char pin_dir[256];

static void target_stop(void)
{
	if (tg.pid > 0)
		t_kill_wait(tg.pid);
	if (tg.pid > 0) {
		close(tg.cmd);
		close(tg.rep);
	}
	tg.pid = 0;
}

/* Errors a test provokes on purpose stay out of its output. */
static int saved_level = -1;

static void quiet(void)
{
	saved_level = log_level;
	log_level = LOG_MSG;
}

static void loud(void)
{
	log_level = saved_level;
}

/* Remove pin dirs that tests of dead processes left behind (a timeout kills before fini). */
static void sweep_stale_pins(void)
{
	char path[PATH_MAX];
	struct dirent *de;
	DIR *dir = opendir(DIRTY_BPF_PIN_ROOT);
	int pid;

	while (dir && (de = readdir(dir))) {
		if (sscanf(de->d_name, PIN_PREFIX "%d-", &pid) != 1)
			continue;
		if (!kill(pid, 0) || errno != ESRCH)
			continue;
		snprintf(path, sizeof(path), "%s/%s", DIRTY_BPF_PIN_ROOT, de->d_name);
		dirty_bpf_unpin(path);
	}
	if (dir)
		closedir(dir);
}

static void suite_init(void)
{
	ps = (size_t)sysconf(_SC_PAGESIZE);
	memset(&tg, 0, sizeof(tg));
	trk = NULL;
	pin_dir[0] = '\0';
	sweep_stale_pins();
}

/* Runs after the test body also when an assertion failed. */
static void suite_fini(void)
{
	if (saved_level >= 0)
		loud();
	dirty_bpf_close(trk);
	trk = NULL;
	if (pin_dir[0] && dirty_bpf_unpin(pin_dir))
		fprintf(stderr, "cannot unpin %s\n", pin_dir);
	pin_dir[0] = '\0';
	target_stop();
}

static void need_root(void)
{
	if (geteuid())
		cr_skip_test("needs root for BPF and userfaultfd");
}

static void target_start(void)
{
	int pin[2], pout[2];
	struct setup s;

	need_root();
	cr_assert_eq(pipe2(pin, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(pout, O_CLOEXEC), 0);
	tg.pid = fork();
	cr_assert_geq(tg.pid, 0);
	if (!tg.pid) {
		close(pin[1]);
		close(pout[0]);
		child_main(pin[0], pout[1]);
	}
	close(pin[0]);
	close(pout[1]);
	tg.cmd = pin[1];
	tg.rep = pout[0];
	cr_assert_eq(full_read(tg.rep, &s, sizeof(s)), 0, "target %d did not start", tg.pid);
	if (s.err == -EINVAL && !strncmp(s.what, "UFFDIO_API", 10))
		cr_skip_test(
			"userfaultfd async write-protection (UFFD_FEATURE_WP_ASYNC, Linux 6.7+) "
			"is missing");
	if (s.err == -ENOSYS || s.err == -EPERM)
		cr_skip_test("userfaultfd not available: %s: %s", s.what, strerror(-s.err));
	cr_assert_eq(s.err, 0, "target %d setup: %s: %s", tg.pid, s.what, strerror(-s.err));
	tg.region = s.region;
	tg.other = s.other;
}

static struct reply target_do(struct cmd *c)
{
	struct reply r;

	cr_assert_eq(write(tg.cmd, c, sizeof(*c)), (ssize_t)sizeof(*c));
	cr_assert_eq(full_read(tg.rep, &r, sizeof(r)), 0, "target %d did not answer op %d", tg.pid,
		     c->op);
	return r;
}

/* Tell the target to exit and reap it. */
static void target_exit(void)
{
	struct cmd c = { .op = OP_EXIT };
	int st;

	cr_assert_eq(write(tg.cmd, &c, sizeof(c)), (ssize_t)sizeof(c));
	cr_assert_eq(waitpid(tg.pid, &st, 0), tg.pid);
	cr_expect(WIFEXITED(st) && !WEXITSTATUS(st), "target %d: status 0x%x", tg.pid, st);
	close(tg.cmd);
	close(tg.rep);
	tg.pid = 0;
}

/* Write pages idx[0..n) (one thread) and idx2[0..n2) (two threads), re-arm; pages scanned. */
static long target_write(const int *idx, int n, const int *idx2, int n2)
{
	struct cmd c = { .op = OP_WRITE, .n = n, .n2 = n2 };
	struct reply r;

	memcpy(c.idx, idx, (size_t)n * sizeof(*idx));
	if (n2)
		memcpy(c.idx2, idx2, (size_t)n2 * sizeof(*idx2));
	r = target_do(&c);
	cr_assert_geq(r.ret, 0, "PAGEMAP_SCAN in target %d: %s", tg.pid, strerror((int)-r.ret));
	return r.ret;
}

static struct reply target_op(int op, int n)
{
	struct cmd c = { .op = op, .n = n };
	int i;

	for (i = 0; i < n && i < MAXIDX; i++)
		c.idx[i] = i;
	return target_do(&c);
}

static int has(const int *a, int n, int v)
{
	int i;

	for (i = 0; i < n; i++)
		if (a[i] == v)
			return 1;
	return 0;
}

/* Distinct values of a[0..n) ∪ b[0..m). */
static int distinct(const int *a, int n, const int *b, int m)
{
	char seen[NPAGES] = { 0 };
	int i, k = 0;

	for (i = 0; i < n + m; i++) {
		int v = i < n ? a[i] : b[i - n];

		if (!seen[v]++)
			k++;
	}
	return k;
}

static void open_tracker(uint32_t max_ranges, uint32_t ringbuf)
{
	struct dirty_bpf_opts o = { .tgid = tg.pid,
				    .max_ranges = max_ranges,
				    .ringbuf_bytes = ringbuf };
	int err = dirty_bpf_open(&trk, &o);

	cr_assert_eq(err, 0, "dirty_bpf_open(pid %d): %s", tg.pid, strerror(-err));
	cr_assert_eq(dirty_bpf_tgid(trk), tg.pid);
}

static void track_region(void)
{
	struct dirty_bpf_range r = { tg.region, tg.region + NPAGES * ps };

	cr_assert_eq(dirty_bpf_set_ranges(trk, &r, 1), 0);
}

static void make_pin_dir(void)
{
	static int seq;

	snprintf(pin_dir, sizeof(pin_dir), "%s/" PIN_PREFIX "%d-%d", DIRTY_BPF_PIN_ROOT,
		 (int)getpid(), seq++);
}

TestSuite(dirty_bpf, .init = suite_init, .fini = suite_fini, .timeout = 60);

/* ---- counting ----------------------------------------------------------------------------- */

struct page_seen {
	uint64_t lo;
	uint32_t writes[NPAGES];
	uint64_t first[NPAGES], last[NPAGES];
	int outside;
};

static int collect(uint64_t addr, const struct dt_page *p, void *arg)
{
	struct page_seen *s = arg;

	if (addr < s->lo || addr >= s->lo + NPAGES * ps) {
		s->outside++;
		return 0;
	}
	s->writes[(addr - s->lo) / ps] = p->writes;
	s->first[(addr - s->lo) / ps] = p->first_ns;
	s->last[(addr - s->lo) / ps] = p->last_ns;
	return 0;
}

Test(dirty_bpf, distinct_pages_per_interval)
{
	/* 7 twice in a row: the second write does not fault. 5 and 12 also come from the threads.
	 */
	static const int w1[] = { 0, 1, 2, 5, 7, 7, 100, 191, 12 };
	static const int t1[] = { 10, 11, 12, 5, 150 };
	/* 200 is empty: read (zero page) in round 2, written here. */
	static const int w3[] = { 0, 7, 50, 50, 51, 200 };
	struct dirty_bpf_counts c;
	struct page_seen seen = { 0 };
	uint64_t rp[2] = { 99, 99 };
	long scanned;
	int want, i;

	target_start();
	open_tracker(0, 0);
	track_region();
	cr_assert_eq(dirty_bpf_next_interval(trk, NULL, NULL, 0), 0);

	scanned = target_write(w1, 9, t1, 5);
	want = distinct(w1, 9, t1, 5);
	cr_assert_eq(dirty_bpf_next_interval(trk, &c, rp, 2), 0);
	cr_expect_eq(scanned, want, "PAGEMAP_SCAN saw %ld written pages, %d were", scanned, want);
	cr_expect_eq(c.distinct, (uint64_t)want, "distinct %llu, want %d",
		     (unsigned long long)c.distinct, want);
	cr_expect_eq(rp[0], (uint64_t)want, "range 0: %llu pages", (unsigned long long)rp[0]);
	cr_expect_eq(rp[1], 0, "no range 1: its count must be 0");
	/* 10, 11 and 150 only the two threads write: each may fault in both. */
	cr_expect(c.faults >= (uint64_t)want && c.faults <= (uint64_t)want + 3,
		  "faults %llu for %d pages", (unsigned long long)c.faults, want);

	/* Reads fault (the empty pages get the zero page) but are not writes. */
	target_op(OP_READ, 0);
	cr_assert_eq(dirty_bpf_next_interval(trk, &c, rp, 1), 0);
	cr_expect_eq(c.distinct, 0, "a read-only round counted %llu pages",
		     (unsigned long long)c.distinct);
	cr_expect_eq(c.faults, 0, "a read-only round counted %llu faults",
		     (unsigned long long)c.faults);
	cr_expect_eq(c.untracked, 0, "a read-only round: untracked %llu",
		     (unsigned long long)c.untracked);
	cr_expect_eq(rp[0], 0);

	/* A new interval: pages written before count again, once each. */
	scanned = target_write(w3, 6, NULL, 0);
	cr_assert_eq(dirty_bpf_next_interval(trk, &c, rp, 1), 0);
	cr_expect_eq(scanned, 5);
	cr_expect_eq(c.distinct, 5, "third interval: %llu distinct",
		     (unsigned long long)c.distinct);
	cr_expect_eq(rp[0], 5);
	cr_expect_eq(c.faults, 5, "one fault per page (the zero page is present): %llu",
		     (unsigned long long)c.faults);
	cr_expect_eq(c.untracked, 0, "no thread, no write outside: untracked %llu",
		     (unsigned long long)c.untracked);

	/* The per-page map: every page written, with its fault count and times. */
	seen.lo = tg.region;
	cr_assert_eq(dirty_bpf_for_each_page(trk, collect, &seen), 0);
	cr_expect_eq(seen.outside, 0, "pages outside the region recorded: %d", seen.outside);
	for (i = 0; i < NPAGES; i++) {
		int in1 = has(w1, 9, i), th = has(t1, 5, i), in3 = has(w3, 6, i);
		/* One fault per interval; a page only the threads wrote may fault twice. */
		uint32_t lo = (uint32_t)((in1 || th) + in3), hi = lo + (th && !in1);

		cr_expect(seen.writes[i] >= lo && seen.writes[i] <= hi,
			  "page %d: %u write faults, want %u..%u", i, seen.writes[i], lo, hi);
		if (!lo)
			continue;
		cr_expect_leq(seen.first[i], seen.last[i], "page %d: first after last", i);
		if ((in1 || th) && in3)
			cr_expect_lt(seen.first[i], seen.last[i],
				     "page %d written in two intervals: one time", i);
	}
	target_exit();
}

/* The first write to a never-populated protected page: one page, two faults. */
Test(dirty_bpf, empty_page_counts_once)
{
	static const int w[] = { 220, 221 };
	struct dirty_bpf_counts c;
	long scanned;

	target_start();
	open_tracker(0, 0);
	track_region();
	cr_assert_eq(dirty_bpf_next_interval(trk, NULL, NULL, 0), 0);
	scanned = target_write(w, 2, NULL, 0);
	cr_assert_eq(dirty_bpf_next_interval(trk, &c, NULL, 0), 0);
	cr_expect_eq(scanned, 2);
	cr_expect_eq(c.distinct, 2, "distinct %llu", (unsigned long long)c.distinct);
	cr_expect(c.faults >= 2 && c.faults <= 4, "faults %llu", (unsigned long long)c.faults);
	cr_expect_eq(c.untracked, 0);
	/* Now populated: the next interval's writes fault once each. */
	scanned = target_write(w, 2, NULL, 0);
	cr_assert_eq(dirty_bpf_next_interval(trk, &c, NULL, 0), 0);
	cr_expect_eq(scanned, 2);
	cr_expect_eq(c.distinct, 2);
	cr_expect_eq(c.faults, 2, "faults %llu", (unsigned long long)c.faults);
	target_exit();
}

Test(dirty_bpf, ranges_and_untracked)
{
	/* Ranges [0,64) [64,160) [180,256): the pages 160..179 are protected but not tracked. */
	static const int w[] = { 3, 63, 64, 150, 165, 170, 190 };
	struct dirty_bpf_range r[3];
	struct dirty_bpf_counts c;
	uint64_t rp[4];
	long scanned;

	target_start();
	open_tracker(3, 0);
	r[0] = (struct dirty_bpf_range){ tg.region, tg.region + 64 * ps };
	r[1] = (struct dirty_bpf_range){ tg.region + 64 * ps, tg.region + 160 * ps };
	r[2] = (struct dirty_bpf_range){ tg.region + 180 * ps, tg.region + NPAGES * ps };

	/* Rejected: over max_ranges, unsorted, overlapping, empty. */
	quiet();
	cr_expect_eq(dirty_bpf_set_ranges(trk, (struct dirty_bpf_range[4]){ r[0], r[1], r[2] }, 4),
		     -E2BIG);
	cr_expect_eq(dirty_bpf_set_ranges(trk, (struct dirty_bpf_range[2]){ r[1], r[0] }, 2),
		     -EINVAL);
	cr_expect_eq(dirty_bpf_set_ranges(
			     trk,
			     (struct dirty_bpf_range[2]){ r[0], { tg.region + 10 * ps, r[1].end } },
			     2),
		     -EINVAL);
	cr_expect_eq(dirty_bpf_set_ranges(
			     trk, (struct dirty_bpf_range[1]){ { r[0].start, r[0].start } }, 1),
		     -EINVAL);
	loud();
	cr_assert_eq(dirty_bpf_set_ranges(trk, r, 3), 0);
	cr_assert_eq(dirty_bpf_next_interval(trk, NULL, NULL, 0), 0);

	scanned = target_write(w, 7, NULL, 0);
	cr_assert_eq(dirty_bpf_next_interval(trk, &c, rp, 4), 0);
	cr_expect_eq(scanned, 7);
	cr_expect_eq(c.distinct, 5, "distinct %llu", (unsigned long long)c.distinct);
	cr_expect_eq(c.faults, 5, "faults %llu", (unsigned long long)c.faults);
	cr_expect_eq(rp[0], 2, "range 0: %llu", (unsigned long long)rp[0]);
	cr_expect_eq(rp[1], 2, "range 1: %llu", (unsigned long long)rp[1]);
	cr_expect_eq(rp[2], 1, "range 2: %llu", (unsigned long long)rp[2]);
	cr_expect_eq(rp[3], 0);
	cr_expect_eq(c.untracked, 2, "the gap's 2 writes: untracked %llu",
		     (unsigned long long)c.untracked);

	/* First writes to 5 pages of a mapping that is no range at all. */
	target_op(OP_OTHER, 5);
	cr_assert_eq(dirty_bpf_next_interval(trk, &c, rp, 3), 0);
	cr_expect_eq(c.distinct, 0);
	cr_expect_eq(c.faults, 0);
	cr_expect_eq(c.untracked, 5, "other mapping: untracked %llu",
		     (unsigned long long)c.untracked);

	/* No range: everything is untracked. */
	cr_assert_eq(dirty_bpf_set_ranges(trk, NULL, 0), 0);
	scanned = target_write(w, 2, NULL, 0);
	cr_assert_eq(dirty_bpf_next_interval(trk, &c, rp, 3), 0);
	cr_expect_eq(scanned, 2);
	cr_expect_eq(c.distinct, 0);
	cr_expect_eq(c.untracked, 2);
	cr_expect_eq(rp[0], 0);
	target_exit();
}

/* 128 one-page ranges on the even pages: the binary search finds each, the odd pages are gaps. */
Test(dirty_bpf, many_ranges)
{
	static struct dirty_bpf_range r[NPAGES / 2];
	static uint64_t rp[NPAGES / 2];
	struct dirty_bpf_counts c;
	int w[40], i;

	target_start();
	open_tracker(NPAGES / 2, 0);
	for (i = 0; i < NPAGES / 2; i++)
		r[i] = (struct dirty_bpf_range){ tg.region + 2 * i * ps,
						 tg.region + (2 * i + 1) * ps };
	cr_assert_eq(dirty_bpf_set_ranges(trk, r, NPAGES / 2), 0);
	cr_assert_eq(dirty_bpf_next_interval(trk, NULL, NULL, 0), 0);
	for (i = 0; i < 40; i++)
		w[i] = 100 + i;
	cr_assert_eq(target_write(w, 40, NULL, 0), 40);
	cr_assert_eq(dirty_bpf_next_interval(trk, &c, rp, NPAGES / 2), 0);
	cr_expect_eq(c.distinct, 20, "distinct %llu", (unsigned long long)c.distinct);
	cr_expect_eq(c.faults, 20);
	cr_expect_eq(c.untracked, 20, "the odd pages: untracked %llu",
		     (unsigned long long)c.untracked);
	for (i = 0; i < NPAGES / 2; i++)
		cr_expect_eq(rp[i], i >= 50 && i < 70, "range %d (page %d): %llu", i, 2 * i,
			     (unsigned long long)rp[i]);
	target_exit();
}

/* Writes the kernel makes for the target (read(2) into the page) fault in kernel mode: counted. */
Test(dirty_bpf, kernel_writes_count)
{
	struct cmd cmd = { .op = OP_KWRITE, .n = 3, .idx = { 20, 21, 22 } };
	struct dirty_bpf_counts c;
	struct reply r;

	target_start();
	open_tracker(0, 0);
	track_region();
	cr_assert_eq(dirty_bpf_next_interval(trk, NULL, NULL, 0), 0);
	r = target_do(&cmd);
	cr_assert_eq(r.ret, 3, "PAGEMAP_SCAN after read(2) into 3 pages: %ld", r.ret);
	cr_assert_eq(dirty_bpf_next_interval(trk, &c, NULL, 0), 0);
	cr_expect_eq(c.distinct, 3, "distinct %llu", (unsigned long long)c.distinct);
	cr_expect_eq(c.faults, 3, "faults %llu", (unsigned long long)c.faults);
	cr_expect_eq(c.untracked, 0, "untracked %llu", (unsigned long long)c.untracked);
	target_exit();
}

/* ---- VMA events --------------------------------------------------------------------------- */

#define MAX_EV 512

struct ev_list {
	struct dt_vma_event ev[MAX_EV];
	int n;
	int stop_at; /* return 7 from the callback at this event (1-based), 0: never */
};

static int keep_event(const struct dt_vma_event *e, void *arg)
{
	struct ev_list *l = arg;

	if (l->n < MAX_EV)
		l->ev[l->n] = *e;
	l->n++;
	return l->stop_at && l->n == l->stop_at ? 7 : 0;
}

static int drop_event(const struct dt_vma_event *e, void *arg)
{
	(void)e;
	(void)arg;
	return 0;
}

static void expect_event(const struct dt_vma_event *e, int i, uint32_t nr, uint64_t a0, uint64_t a1,
			 uint64_t a2, int64_t ret)
{
	cr_expect_eq(e->nr, nr, "event %d: syscall %u, want %u", i, e->nr, nr);
	cr_expect_eq(e->tid, (uint32_t)tg.pid, "event %d: tid %u", i, e->tid);
	cr_expect_eq(e->args[0], a0, "event %d (nr %u): arg0 0x%llx, want 0x%llx", i, nr,
		     (unsigned long long)e->args[0], (unsigned long long)a0);
	cr_expect_eq(e->args[1], a1, "event %d (nr %u): arg1 0x%llx, want 0x%llx", i, nr,
		     (unsigned long long)e->args[1], (unsigned long long)a1);
	cr_expect_eq(e->args[2], a2, "event %d (nr %u): arg2 0x%llx, want 0x%llx", i, nr,
		     (unsigned long long)e->args[2], (unsigned long long)a2);
	cr_expect_eq(e->ret, ret, "event %d (nr %u): ret %lld, want %lld", i, nr, (long long)e->ret,
		     (long long)ret);
}

/* The events of one OP_VMA, in order, against what the child says it did. */
static void expect_vma_op(const struct ev_list *l, const struct reply *r)
{
	uint64_t a = r->a[0], b = r->a[1];
	const struct dt_vma_event *e = l->ev;
	int i;

	cr_assert_eq(l->n, 9, "%d events for the 9 VMA calls", l->n);
	expect_event(&e[0], 0, DT_NR_MMAP, 0, 4 * ps, PROT_READ | PROT_WRITE, (int64_t)a);
	cr_expect_eq(e[0].args[3], MAP_PRIVATE | MAP_ANONYMOUS, "mmap flags 0x%llx",
		     (unsigned long long)e[0].args[3]);
	cr_expect_eq((int)e[0].args[4], -1, "mmap fd");
	expect_event(&e[1], 1, DT_NR_MPROTECT, a, 4 * ps, PROT_READ, 0);
	expect_event(&e[2], 2, DT_NR_MPROTECT, a + 1, ps, PROT_READ, -EINVAL);
	expect_event(&e[3], 3, DT_NR_MADVISE, a, 4 * ps, MADV_DONTNEED, 0);
	expect_event(&e[4], 4, DT_NR_MREMAP, a, 4 * ps, 8 * ps, (int64_t)b);
	cr_expect_eq(e[4].args[3], MREMAP_MAYMOVE);
	expect_event(&e[5], 5, DT_NR_MUNMAP, b, 8 * ps, e[5].args[2], 0);
	expect_event(&e[6], 6, DT_NR_BRK, 0, e[6].args[1], e[6].args[2], (int64_t)r->a[2]);
	expect_event(&e[7], 7, DT_NR_SHMAT, r->a[4], 0, 0, (int64_t)r->a[3]);
	expect_event(&e[8], 8, DT_NR_SHMDT, r->a[3], e[8].args[1], e[8].args[2], 0);
	for (i = 1; i < 9; i++)
		cr_expect_leq(e[i - 1].ts_ns, e[i].ts_ns, "event %d is older than event %d", i,
			      i - 1);
}

Test(dirty_bpf, vma_events_in_order)
{
	static struct ev_list l;
	struct dirty_bpf_counts c;
	struct reply r;

	target_start();
	open_tracker(0, 0);
	cr_assert_eq(dirty_bpf_drain_events(trk, drop_event, NULL), 0);
	l.n = 0;
	cr_assert_eq(dirty_bpf_drain_events(trk, keep_event, &l), 0);
	cr_assert_eq(l.n, 0, "%d events while the target slept", l.n);

	r = target_op(OP_VMA, 0);
	cr_assert_eq(dirty_bpf_drain_events(trk, keep_event, &l), 0);
	expect_vma_op(&l, &r);
	cr_assert_eq(dirty_bpf_next_interval(trk, &c, NULL, 0), 0);
	cr_expect_eq(c.drops, 0);
	target_exit();
}

Test(dirty_bpf, drain_stops_and_ring_overflow_counts_drops)
{
	static struct ev_list l;
	struct dirty_bpf_counts c;
	const int n = 200; /* a 4 KiB ring holds 56 events of 72 bytes */
	int got;

	target_start();
	open_tracker(0, 4096);
	cr_assert_eq(dirty_bpf_next_interval(trk, NULL, NULL, 0), 0);
	cr_assert_eq(dirty_bpf_drain_events(trk, drop_event, NULL), 0);

	target_op(OP_MPROTECT_N, n);
	l.n = 0;
	l.stop_at = 3;
	cr_assert_eq(dirty_bpf_drain_events(trk, keep_event, &l), 7, "the callback's value");
	cr_assert_eq(l.n, 3, "the drain went on after the callback said stop");
	l.stop_at = 0;
	cr_assert_eq(dirty_bpf_drain_events(trk, keep_event, &l), 0);
	got = l.n;
	cr_assert_eq(dirty_bpf_next_interval(trk, &c, NULL, 0), 0);
	cr_expect_gt(c.drops, 0, "%d events fit a 4 KiB ring?", got);
	cr_expect_eq((uint64_t)got + c.drops, (uint64_t)n, "%d drained + %llu dropped != %d", got,
		     (unsigned long long)c.drops, n);
	for (int i = 0; i < got && i < MAX_EV; i++)
		cr_expect_eq(l.ev[i].nr, DT_NR_MPROTECT, "event %d: nr %u", i, l.ev[i].nr);

	/* The ring has room again: nothing more is lost. */
	target_op(OP_MPROTECT_N, 10);
	l.n = 0;
	cr_assert_eq(dirty_bpf_drain_events(trk, keep_event, &l), 0);
	cr_assert_eq(dirty_bpf_next_interval(trk, &c, NULL, 0), 0);
	cr_expect_eq(l.n, 10);
	cr_expect_eq(c.drops, 0);
	target_exit();
}

/* ---- pinning ------------------------------------------------------------------------------ */

static __u32 link_prog_id(const char *dir, const char *name)
{
	struct bpf_link_info info;
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = bpf_obj_get(path);
	cr_assert_geq(fd, 0, "bpf_obj_get %s: %s", path, strerror(errno));
	memset(&info, 0, sizeof(info));
	cr_assert_eq(bpf_obj_get_info_by_fd(fd, &info, &len), 0);
	close(fd);
	cr_assert_neq(info.prog_id, 0);
	return info.prog_id;
}

/* 1 if a program with this id exists now. */
static int prog_exists(__u32 id)
{
	int fd = bpf_prog_get_fd_by_id(id);

	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	close(fd);
	return 1;
}

/* 1 if a program with this id is gone, waiting up to 2 s (programs are freed deferred). */
static int prog_gone(__u32 id)
{
	int i;

	for (i = 0; i < 200; i++) {
		if (!prog_exists(id))
			return 1;
		usleep(10 * 1000);
	}
	return 0;
}

static struct dt_state read_state(int fd)
{
	struct dt_state st;
	__u32 zero = 0;

	cr_assert_eq(bpf_map_lookup_elem(fd, &zero, &st), 0, "state map fd %d: %s", fd,
		     strerror(errno));
	return st;
}

Test(dirty_bpf, pin_close_reopen_unpin)
{
	static const int w1[] = { 1, 2, 3 };
	static const int w2[] = { 3, 4, 5, 6, 40 };
	static struct ev_list l;
	struct dirty_bpf_counts c;
	struct reply r;
	struct dt_state st;
	struct stat sb;
	uint64_t rp[1], mem;
	__u32 fault_id, kfault_id, exit_id;
	char path[PATH_MAX];
	int state_fd;

	target_start();
	open_tracker(0, 0);
	track_region();
	make_pin_dir();
	cr_assert_eq(dirty_bpf_pin(trk, pin_dir), 0, "pin under %s", pin_dir);
	quiet();
	cr_expect_eq(dirty_bpf_pin(trk, pin_dir), -EEXIST, "pinned twice at the same place");
	loud();
	cr_assert_eq(dirty_bpf_drain_events(trk, drop_event, NULL), 0);
	cr_assert_eq(target_write(w1, 3, NULL, 0), 3);

	/* Closed: the pinned programs go on counting and queueing. */
	dirty_bpf_close(trk);
	trk = NULL;
	cr_assert_eq(target_write(w2, 5, NULL, 0), 5);
	r = target_op(OP_VMA, 0);

	cr_assert_eq(dirty_bpf_open_pinned(&trk, pin_dir), 0);
	cr_expect_eq(dirty_bpf_tgid(trk), tg.pid);
	cr_assert_eq(dirty_bpf_next_interval(trk, &c, rp, 1), 0);
	cr_expect_eq(c.distinct, 7, "3 + 5 pages, 3 twice in one interval: %llu",
		     (unsigned long long)c.distinct);
	cr_expect_eq(c.faults, 8);
	cr_expect_eq(rp[0], 7, "the ranges were kept: range 0 has %llu", (unsigned long long)rp[0]);
	l.n = 0;
	cr_assert_eq(dirty_bpf_drain_events(trk, keep_event, &l), 0);
	expect_vma_op(&l, &r);
	cr_assert_eq(dirty_bpf_mem(trk, &mem), 0);
	cr_expect_gt(mem, 0);

	/* Still counting after the reopen, in the next interval. */
	cr_assert_eq(target_write(w2, 2, NULL, 0), 2);
	cr_assert_eq(dirty_bpf_next_interval(trk, &c, NULL, 0), 0);
	cr_expect_eq(c.distinct, 2);

	/* Unpinned and closed: the programs are gone, the target's writes not counted. */
	fault_id = link_prog_id(pin_dir, "link_fault");
	kfault_id = link_prog_id(pin_dir, "link_kfault");
	exit_id = link_prog_id(pin_dir, "link_sys_exit");
	snprintf(path, sizeof(path), "%s/state", pin_dir);
	state_fd = bpf_obj_get(path);
	cr_assert_geq(state_fd, 0);
	cr_assert_eq(dirty_bpf_unpin(pin_dir), 0);
	cr_expect_eq(prog_exists(fault_id), 1, "held by our open tracker, the program stays");
	dirty_bpf_close(trk);
	trk = NULL;
	cr_expect_eq(stat(pin_dir, &sb), -1, "pin dir %s left", pin_dir);
	cr_expect_eq(dirty_bpf_open_pinned(&trk, pin_dir), -ENOENT);
	cr_expect(prog_gone(fault_id), "fault program %u still loaded", fault_id);
	cr_expect(prog_gone(kfault_id), "kernel fault program %u still loaded", kfault_id);
	cr_expect(prog_gone(exit_id), "sys_exit program %u still loaded", exit_id);
	st = read_state(state_fd);
	cr_assert_eq(target_write(w1, 3, NULL, 0), 3);
	cr_expect_eq(read_state(state_fd).faults, st.faults, "a write counted after unpin");
	close(state_fd);
	cr_expect_eq(dirty_bpf_unpin(pin_dir), 0, "unpin of nothing");
	pin_dir[0] = '\0';
	target_exit();
}

Test(dirty_bpf, pinned_tracker_outlives_its_loader)
{
	static const int w[] = { 8, 9, 10, 11 };
	struct dirty_bpf_counts c;
	pid_t loader;
	int st;

	target_start();
	make_pin_dir();
	loader = fork();
	cr_assert_geq(loader, 0);
	if (!loader) {
		struct dirty_bpf_opts o = { .tgid = tg.pid };
		struct dirty_bpf_range r = { tg.region, tg.region + NPAGES * ps };
		struct dirty_bpf *d;

		/* Exits without closing: only the pins keep the tracker. */
		if (dirty_bpf_open(&d, &o) || dirty_bpf_set_ranges(d, &r, 1) ||
		    dirty_bpf_pin(d, pin_dir))
			_exit(1);
		_exit(0);
	}
	cr_assert_eq(waitpid(loader, &st, 0), loader);
	cr_assert(WIFEXITED(st) && !WEXITSTATUS(st), "loader %d failed (status 0x%x)", loader, st);

	cr_assert_eq(target_write(w, 4, NULL, 0), 4);
	cr_assert_eq(dirty_bpf_open_pinned(&trk, pin_dir), 0);
	cr_expect_eq(dirty_bpf_tgid(trk), tg.pid);
	cr_assert_eq(dirty_bpf_next_interval(trk, &c, NULL, 0), 0);
	cr_expect_eq(c.distinct, 4, "writes after the loader exited: %llu distinct",
		     (unsigned long long)c.distinct);
	cr_expect_eq(c.untracked, 0);
	target_exit();
}

/* ---- options, errors, memory -------------------------------------------------------------- */

Test(dirty_bpf, options_errors_and_memory)
{
	struct dirty_bpf_opts o = { 0 };
	struct dirty_bpf *small;
	uint64_t big_mem = 0, small_mem = 0;
	pid_t dead;
	int st;

	need_root();
	quiet();
	cr_expect_eq(dirty_bpf_open(&trk, &o), -EINVAL, "tgid 0");
	o.tgid = getpid();
	o.ringbuf_bytes = 5000;
	cr_expect_eq(dirty_bpf_open(&trk, &o), -EINVAL, "ring of 5000 bytes");
	o.ringbuf_bytes = 2048;
	cr_expect_eq(dirty_bpf_open(&trk, &o), -EINVAL, "ring of 2048 bytes");
	o.ringbuf_bytes = 0;
	o.max_ranges = DT_MAX_RANGES + 1;
	cr_expect_eq(dirty_bpf_open(&trk, &o), -EINVAL, "too many ranges");
	dead = fork();
	if (!dead)
		_exit(0);
	waitpid(dead, &st, 0);
	o = (struct dirty_bpf_opts){ .tgid = dead };
	cr_expect_eq(dirty_bpf_open(&trk, &o), -ESRCH, "pid %d is gone", dead);
	cr_expect_eq(dirty_bpf_open_pinned(&trk, DIRTY_BPF_PIN_ROOT "/" PIN_PREFIX "none"),
		     -ENOENT);
	cr_expect_eq(dirty_bpf_unpin(DIRTY_BPF_PIN_ROOT "/" PIN_PREFIX "none"), 0);
	loud();

	/* The default: 262144 page records, preallocated by the LRU hash. */
	o = (struct dirty_bpf_opts){ .tgid = getpid() };
	cr_assert_eq(dirty_bpf_open(&trk, &o), 0);
	cr_assert_eq(dirty_bpf_mem(trk, &big_mem), 0);
	o = (struct dirty_bpf_opts){
		.tgid = getpid(), .max_pages = 1024, .max_ranges = 16, .ringbuf_bytes = 4096
	};
	cr_assert_eq(dirty_bpf_open(&small, &o), 0);
	cr_assert_eq(dirty_bpf_mem(small, &small_mem), 0);
	dirty_bpf_close(small);
	cr_expect_geq(big_mem, (uint64_t)DIRTY_BPF_DEF_PAGES * sizeof(struct dt_page),
		      "default tracker holds %llu bytes", (unsigned long long)big_mem);
	cr_expect_lt(small_mem * 8, big_mem, "small %llu bytes, default %llu",
		     (unsigned long long)small_mem, (unsigned long long)big_mem);
}
