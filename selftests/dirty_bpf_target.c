// SPDX-License-Identifier: MIT
/*
 * The target of the dirty_bpf tests: a forked child that arms userfaultfd
 * async write-protection on its own region and writes, reads, maps and
 * unmaps on command; and the test side that starts it, commands it and opens
 * the tracker on it.
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
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <bpf/bpf.h>

#include "compat.h"
#include "dirty_bpf.h"
#include "helpers.h"
#include "log.h"

#include "dirty_bpf_target.h"

/* What the child reports once set up. */
struct setup {
	int err; /* 0, or -errno of the uffd setup step */
	char what[64];
	uint64_t region, other;
};

size_t db_ps;

/* ---- the child -------------------------------------------------------------------------- */

static struct {
	unsigned char *region, *other;
	int pm;
	pthread_barrier_t bar;
	const struct db_cmd *c;
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
		.end = (uintptr_t)ch.region + NPAGES * db_ps,
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
		pages += (long)((ch.vec[i].end - ch.vec[i].start) / db_ps);
	return pages;
}

static void *writer(void *arg)
{
	int i;

	(void)arg;
	pthread_barrier_wait(&ch.bar);
	for (i = 0; i < ch.c->n2; i++)
		__atomic_fetch_add(&ch.region[(size_t)ch.c->idx2[i] * db_ps], 1, __ATOMIC_RELAXED);
	return NULL;
}

static long do_write(const struct db_cmd *c)
{
	pthread_t th[2];
	int i;

	for (i = 0; i < c->n; i++)
		ch.region[(size_t)c->idx[i] * db_ps + 8]++;
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
static long do_kwrite(const struct db_cmd *c)
{
	int p[2], i;
	long ret = 0;

	if (pipe(p))
		return -errno;
	for (i = 0; i < c->n && !ret; i++) {
		if (write(p[1], "k", 1) != 1 ||
		    read(p[0], ch.region + (size_t)c->idx[i] * db_ps + 16, 1) != 1)
			ret = -EIO;
	}
	close(p[0]);
	close(p[1]);
	return ret ? ret : scan_rearm();
}

/* The VMA calls the tracker reports, one of each kind, plus a failing one. */
static void do_vma(struct db_reply *r)
{
	unsigned char *a, *b;
	void *s;
	int id;

	a = mmap(NULL, 4 * db_ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	r->a[0] = (uintptr_t)a;
	mprotect(a, 4 * db_ps, PROT_READ);
	mprotect(a + 1, db_ps, PROT_READ); /* unaligned: -EINVAL */
	madvise(a, 4 * db_ps, MADV_DONTNEED);
	b = mremap(a, 4 * db_ps, 8 * db_ps, MREMAP_MAYMOVE);
	r->a[1] = (uintptr_t)b;
	munmap(b, 8 * db_ps);
	r->a[2] = (uint64_t)syscall(SYS_brk, 0);
	id = shmget(IPC_PRIVATE, db_ps, IPC_CREAT | 0600);
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
		for (a = s; a < e; a += n * db_ps) {
			n = (size_t)((e - a) / db_ps);
			if (n > 512)
				n = 512;
			got = pread(pm, ent, n * sizeof(ent[0]),
				    (off_t)(a / db_ps * sizeof(ent[0])));
			if (got <= 0)
				break;
			n = (size_t)got / sizeof(ent[0]);
			for (i = 0; i < n; i++) {
				volatile char *p = (volatile char *)(uintptr_t)(a + i * db_ps);

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
	ch.region = mmap(NULL, NPAGES * db_ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			 -1, 0);
	ch.other = mmap(NULL, NOTHER * db_ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			-1, 0);
	snprintf(s->what, sizeof(s->what), "mmap");
	if (ch.region == MAP_FAILED || ch.other == MAP_FAILED)
		return -errno;
	madvise(ch.region, NPAGES * db_ps, MADV_NOHUGEPAGE);
	madvise(ch.other, NOTHER * db_ps, MADV_NOHUGEPAGE);
	for (n = 0; n < NPOP; n++)
		ch.region[(size_t)n * db_ps] = 1;
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
	reg.range.len = NPAGES * db_ps;
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
	struct db_reply r;
	struct db_cmd c;
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
				sum += ch.region[i * db_ps + 8];
			break;
		case OP_OTHER:
			for (i = 0; i < (size_t)c.n; i++)
				ch.other[(size_t)c.idx[i] * db_ps]++;
			break;
		case OP_VMA:
			do_vma(&r);
			break;
		case OP_MPROTECT_N:
			for (i = 0; i < (size_t)c.n; i++)
				mprotect(ch.other, db_ps,
					 i & 1 ? PROT_READ | PROT_WRITE : PROT_READ);
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

struct db_target db_tg;
struct dirty_bpf *db_trk;
char db_pin_dir[256];

static void target_stop(void)
{
	if (db_tg.pid > 0)
		t_kill_wait(db_tg.pid);
	if (db_tg.pid > 0) {
		close(db_tg.cmd);
		close(db_tg.rep);
	}
	db_tg.pid = 0;
}

/* Errors a test provokes on purpose stay out of its output. */
static int saved_level = -1;

void db_quiet(void)
{
	saved_level = log_level;
	log_level = LOG_MSG;
}

void db_loud(void)
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

void db_suite_init(void)
{
	db_ps = (size_t)sysconf(_SC_PAGESIZE);
	memset(&db_tg, 0, sizeof(db_tg));
	db_trk = NULL;
	db_pin_dir[0] = '\0';
	sweep_stale_pins();
}

/* Runs after the test body also when an assertion failed. */
void db_suite_fini(void)
{
	if (saved_level >= 0)
		db_loud();
	dirty_bpf_close(db_trk);
	db_trk = NULL;
	if (db_pin_dir[0] && dirty_bpf_unpin(db_pin_dir))
		fprintf(stderr, "cannot unpin %s\n", db_pin_dir);
	db_pin_dir[0] = '\0';
	target_stop();
}

void db_need_root(void)
{
	if (geteuid())
		cr_skip_test("needs root for BPF and userfaultfd");
}

void db_target_start(void)
{
	int pin[2], pout[2];
	struct setup s;

	db_need_root();
	cr_assert_eq(pipe2(pin, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(pout, O_CLOEXEC), 0);
	db_tg.pid = fork();
	cr_assert_geq(db_tg.pid, 0);
	if (!db_tg.pid) {
		close(pin[1]);
		close(pout[0]);
		child_main(pin[0], pout[1]);
	}
	close(pin[0]);
	close(pout[1]);
	db_tg.cmd = pin[1];
	db_tg.rep = pout[0];
	cr_assert_eq(full_read(db_tg.rep, &s, sizeof(s)), 0, "target %d did not start", db_tg.pid);
	if (s.err == -EINVAL && !strncmp(s.what, "UFFDIO_API", 10))
		cr_skip_test(
			"userfaultfd async write-protection (UFFD_FEATURE_WP_ASYNC, Linux 6.7+) "
			"is missing");
	if (s.err == -ENOSYS || s.err == -EPERM)
		cr_skip_test("userfaultfd not available: %s: %s", s.what, strerror(-s.err));
	cr_assert_eq(s.err, 0, "target %d setup: %s: %s", db_tg.pid, s.what, strerror(-s.err));
	db_tg.region = s.region;
	db_tg.other = s.other;
}

struct db_reply db_target_do(struct db_cmd *c)
{
	struct db_reply r;

	cr_assert_eq(write(db_tg.cmd, c, sizeof(*c)), (ssize_t)sizeof(*c));
	cr_assert_eq(full_read(db_tg.rep, &r, sizeof(r)), 0, "target %d did not answer op %d",
		     db_tg.pid, c->op);
	return r;
}

/* Tell the target to exit and reap it. */
void db_target_exit(void)
{
	struct db_cmd c = { .op = OP_EXIT };
	int st;

	cr_assert_eq(write(db_tg.cmd, &c, sizeof(c)), (ssize_t)sizeof(c));
	cr_assert_eq(waitpid(db_tg.pid, &st, 0), db_tg.pid);
	cr_expect(WIFEXITED(st) && !WEXITSTATUS(st), "target %d: status 0x%x", db_tg.pid, st);
	close(db_tg.cmd);
	close(db_tg.rep);
	db_tg.pid = 0;
}

/* Write pages idx[0..n) (one thread) and idx2[0..n2) (two threads), re-arm; pages scanned. */
long db_target_write(const int *idx, int n, const int *idx2, int n2)
{
	struct db_cmd c = { .op = OP_WRITE, .n = n, .n2 = n2 };
	struct db_reply r;

	memcpy(c.idx, idx, (size_t)n * sizeof(*idx));
	if (n2)
		memcpy(c.idx2, idx2, (size_t)n2 * sizeof(*idx2));
	r = db_target_do(&c);
	cr_assert_geq(r.ret, 0, "PAGEMAP_SCAN in target %d: %s", db_tg.pid, strerror((int)-r.ret));
	return r.ret;
}

struct db_reply db_target_op(int op, int n)
{
	struct db_cmd c = { .op = op, .n = n };
	int i;

	for (i = 0; i < n && i < MAXIDX; i++)
		c.idx[i] = i;
	return db_target_do(&c);
}

int db_has(const int *a, int n, int v)
{
	int i;

	for (i = 0; i < n; i++)
		if (a[i] == v)
			return 1;
	return 0;
}

/* Distinct values of a[0..n) ∪ b[0..m). */
int db_distinct(const int *a, int n, const int *b, int m)
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

void db_open_tracker(uint32_t max_ranges, uint32_t ringbuf)
{
	struct dirty_bpf_opts o = { .tgid = db_tg.pid,
				    .max_ranges = max_ranges,
				    .ringbuf_bytes = ringbuf };
	int err = dirty_bpf_open(&db_trk, &o);

	cr_assert_eq(err, 0, "dirty_bpf_open(pid %d): %s", db_tg.pid, strerror(-err));
	cr_assert_eq(dirty_bpf_tgid(db_trk), db_tg.pid);
}

void db_track_region(void)
{
	struct dirty_bpf_range r = { db_tg.region, db_tg.region + NPAGES * db_ps };

	cr_assert_eq(dirty_bpf_set_ranges(db_trk, &r, 1), 0);
}

void db_make_pin_dir(void)
{
	static int seq;

	snprintf(db_pin_dir, sizeof(db_pin_dir), "%s/" PIN_PREFIX "%d-%d", DIRTY_BPF_PIN_ROOT,
		 (int)getpid(), seq++);
}
