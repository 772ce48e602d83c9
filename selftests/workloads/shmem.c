// SPDX-License-Identifier: MIT
/*
 * A parent and a forked child sharing memory of every kind ferry keeps.
 *   shmem [KINDS]
 * KINDS is a string of letters (default "AZ"); each maps, before the fork
 * (so both processes map the same object), one region:
 *  - A: 16 pages MAP_SHARED|MAP_ANONYMOUS, pattern in pages 0, 3 and 9;
 *  - Z: 8 pages of /dev/zero mapped MAP_SHARED (the fd closed), pattern in
 *    pages 1 and 2;
 *  - M: a memfd "ferry-shm" of 3 pages + 100 bytes with MFD_ALLOW_SEALING,
 *    pattern written through write(2) in pages 0 and 2, mapped shared (4
 *    pages) and held as an fd, sealed F_SEAL_SHRINK | F_SEAL_GROW |
 *    F_SEAL_SEAL;
 *  - K: /dev/shm/ferry-shm-PID-keep, 4 pages, pattern in pages 0 and 2,
 *    mapped shared and held as an fd;
 *  - G: the same as /dev/shm/ferry-shm-PID-gone, unlinked once mapped (as
 *    python's multiprocessing heap is);
 *  - S: a SysV shm segment of key 0x66720000 + (PID & 0xffff), 5 pages + 100
 *    bytes, mode 0640, attached (6 pages), pattern in pages 0 and 4;
 *  - P: an IPC_PRIVATE SysV segment of 4 pages, attached then marked
 *    IPC_RMID, pattern in page 1.
 * For S and P the check also asks the kernel (IPC_STAT on the id the segment
 * had at first): the same key, size, mode (and SHM_DEST for P), 2 attached.
 * The other pages are never written (holes). Prints "shmem: pid P child C
 * memfd FD ready" (FD -1 without M) and idles; the child dies when its
 * parent is gone. On SIGUSR1 the parent checks its regions (pattern, zero
 * pages, and for M, K and G the fd: same file, size, name, seals, link
 * count), writes a new ping value into a word of each region and signals the
 * child; the child checks the same, answers each ping with ping + 1000 in
 * the same region and sets its verdict word; the parent waits (5 s) for every
 * answer. So each process sees the other's write after a restore. Prints
 * "shmem: verify ok" or "shmem: verify BAD <what>" per failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/shm.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../pattern.h"

#define PG 4096ul
#define A_PAGES 16
#define Z_PAGES 8
#define M_SIZE (3 * PG + 100)
#define M_MAP (4 * PG)
#define SEALS (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)
#define SEED 0x5eedull

/* The control words: in the last page of A and Z, at byte 3 * PG of M. */
struct ctl {
	volatile uint64_t ping, pong, child_ok;
};

struct region {
	const char *name;
	uint8_t *base;
	size_t len;
	const int *pages; /* pages with the pattern, -1 ends */
	struct ctl *ctl;
	int fd;		/* M, K, G: the fd held, else -1 */
	int want_nlink; /* K: 1, G: 0 */
	int shmid;	/* S, P: the SysV id */
	key_t key;
	size_t size; /* S, P: the segment's size, else 0 */
};

static const int a_pages[] = { 0, 3, 9, -1 }, z_pages[] = { 1, 2, -1 }, m_pages[] = { 0, 2, -1 };
static const int s_pages[] = { 0, 4, -1 }, p_pages[] = { 1, -1 };
static struct region regs[8];
static int nregs, memfd = -1;
static volatile sig_atomic_t usr1;
static pid_t parent;
static int bad;

static void on_usr1(int sig)
{
	(void)sig;
	usr1 = 1;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	printf("shmem: verify BAD (pid %d) ", getpid());
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	bad = 1;
}

/* The pattern of a page depends on its offset in the region, not on its address. */
static void fill(uint8_t *p, const char *name, int page)
{
	uint64_t *w = (uint64_t *)p;

	for (size_t i = 0; i < PG / 8; i++)
		w[i] = pattern_word((uint64_t)page * PG + i * 8, SEED ^ (uint64_t)name[0]);
}

static int has_pattern(const uint8_t *p, const char *name, int page)
{
	const uint64_t *w = (const uint64_t *)p;

	for (size_t i = 0; i < PG / 8; i++)
		if (w[i] != pattern_word((uint64_t)page * PG + i * 8, SEED ^ (uint64_t)name[0]))
			return 0;
	return 1;
}

static int is_listed(const int *pages, int pg)
{
	for (; *pages >= 0; pages++)
		if (*pages == pg)
			return 1;
	return 0;
}

static void check_region(const struct region *r)
{
	size_t n = r->len / PG;

	for (size_t pg = 0; pg < n; pg++) {
		const uint8_t *p = r->base + pg * PG;

		if ((const void *)p == (const void *)((uintptr_t)r->ctl & ~(PG - 1)))
			continue; /* the control page changes */
		if (is_listed(r->pages, (int)pg)) {
			if (!has_pattern(p, r->name, (int)pg))
				fail("%s page %zu lost its pattern", r->name, pg);
			continue;
		}
		for (size_t i = 0; i < PG; i++)
			if (p[i]) {
				fail("%s page %zu byte %zu is %#x, want 0", r->name, pg, i, p[i]);
				break;
			}
	}
}

static void check_memfd(void)
{
	char link[64], target[256];
	struct stat st;
	ssize_t n;
	int seals;

	if (memfd < 0)
		return;
	snprintf(link, sizeof(link), "/proc/self/fd/%d", memfd);
	n = readlink(link, target, sizeof(target) - 1);
	target[n > 0 ? n : 0] = '\0';
	if (strcmp(target, "/memfd:ferry-shm (deleted)"))
		fail("memfd fd %d is %s", memfd, target);
	if (fstat(memfd, &st) || st.st_size != (off_t)M_SIZE)
		fail("memfd size %lld, want %lu", (long long)st.st_size, M_SIZE);
	seals = fcntl(memfd, F_GET_SEALS);
	if (seals != SEALS)
		fail("memfd seals %#x, want %#x", seals, SEALS);
	if (ftruncate(memfd, M_SIZE + PG) == 0 || errno != EPERM)
		fail("memfd grew: F_SEAL_GROW not enforced");
}

/* The fd of a file region is the mapped file: its pages read the same through it. */
static void check_file_fd(const struct region *r)
{
	uint8_t page[PG];
	struct stat st, mst;
	char link[64];

	if (r->fd < 0)
		return;
	snprintf(link, sizeof(link), "/proc/self/map_files/%lx-%lx", (unsigned long)r->base,
		 (unsigned long)r->base + r->len);
	if (fstat(r->fd, &st) || stat(link, &mst) || st.st_ino != mst.st_ino ||
	    st.st_dev != mst.st_dev)
		fail("%s: fd %d is not the mapped file", r->name, r->fd);
	if (r->want_nlink >= 0 && st.st_nlink != (nlink_t)r->want_nlink)
		fail("%s: %lu links, want %d", r->name, (unsigned long)st.st_nlink, r->want_nlink);
	if (pread(r->fd, page, PG, (off_t)r->pages[0] * PG) != (ssize_t)PG ||
	    !has_pattern(page, r->name, r->pages[0]))
		fail("%s: page %d through fd %d lost its pattern", r->name, r->pages[0], r->fd);
}

static void check_sysv(const struct region *r);

static void check_all(void)
{
	for (int i = 0; i < nregs; i++) {
		check_region(&regs[i]);
		check_file_fd(&regs[i]);
		if (regs[i].size)
			check_sysv(&regs[i]);
	}
	check_memfd();
}

/* K or G: a /dev/shm file of 4 pages, pattern in pages 0 and 2, mapped shared. */
static void map_shm_file(struct region *r, const char *name, int gone)
{
	static const int f_pages[] = { 0, 2, -1 };
	char path[128];

	snprintf(path, sizeof(path), "/dev/shm/ferry-shm-%d-%s", getpid(), gone ? "gone" : "keep");
	*r = (struct region){ name, NULL, 4 * PG, f_pages, NULL, -1, gone ? 0 : 1 };
	r->fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (r->fd < 0 || ftruncate(r->fd, (off_t)r->len)) {
		printf("shmem: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	for (const int *p = r->pages; *p >= 0; p++) {
		uint8_t page[PG];

		fill(page, name, *p);
		if (pwrite(r->fd, page, PG, (off_t)*p * PG) != (ssize_t)PG) {
			printf("shmem: %s: write: %s\n", path, strerror(errno));
			exit(1);
		}
	}
	r->base = mmap(NULL, r->len, PROT_READ | PROT_WRITE, MAP_SHARED, r->fd, 0);
	if (r->base == MAP_FAILED || (gone && unlink(path))) {
		printf("shmem: %s: map or unlink: %s\n", path, strerror(errno));
		exit(1);
	}
	r->ctl = (struct ctl *)(r->base + r->len - PG);
}

static void map_anon(struct region *r, const char *name, size_t pages, const int *pat, int zero)
{
	int fd = -1;

	*r = (struct region){ name, NULL, pages * PG, pat, NULL, -1, -1 };
	if (zero)
		fd = open("/dev/zero", O_RDWR | O_CLOEXEC);
	r->base = mmap(NULL, r->len, PROT_READ | PROT_WRITE,
		       MAP_SHARED | (zero ? 0 : MAP_ANONYMOUS), fd, 0);
	if (fd >= 0)
		close(fd);
	if (r->base == MAP_FAILED) {
		printf("shmem: cannot map %s: %s\n", name, strerror(errno));
		exit(1);
	}
	r->ctl = (struct ctl *)(r->base + r->len - PG);
	for (const int *p = r->pages; *p >= 0; p++)
		fill(r->base + (size_t)*p * PG, name, *p);
}

#define S_SIZE (5 * PG + 100)

static void map_sysv(struct region *r, const char *name, int private)
{
	key_t key = private ? IPC_PRIVATE : (key_t)(0x66720000 | (getpid() & 0xffff));
	size_t size = private ? 4 * PG : S_SIZE;

	*r = (struct region){ name,
			      NULL,
			      (size + PG - 1) & ~(PG - 1),
			      private ? p_pages : s_pages,
			      NULL,
			      -1,
			      -1,
			      -1,
			      key,
			      size };
	r->shmid = shmget(key, size, IPC_CREAT | IPC_EXCL | (private ? 0600 : 0640));
	r->base = r->shmid < 0 ? (void *)-1 : shmat(r->shmid, NULL, 0);
	if (r->base == (void *)-1 || (private && shmctl(r->shmid, IPC_RMID, NULL))) {
		printf("shmem: SysV %s (key %#x): %s\n", name, (unsigned)key, strerror(errno));
		exit(1);
	}
	r->ctl = (struct ctl *)(r->base + r->len - PG);
	for (const int *p = r->pages; *p >= 0; p++)
		fill(r->base + (size_t)*p * PG, name, *p);
}

/* The kernel's view of a SysV region: the same id, key, size, mode, both attached. */
static void check_sysv(const struct region *r)
{
	struct shmid_ds ds;
	unsigned want_mode = r->key == IPC_PRIVATE ? (0600 | SHM_DEST) : 0640;

	if (shmctl(r->shmid, IPC_STAT, &ds)) {
		fail("%s: IPC_STAT of id %d: %s", r->name, r->shmid, strerror(errno));
		return;
	}
	if (ds.shm_perm.__key != r->key || ds.shm_segsz != r->size ||
	    (ds.shm_perm.mode & (0777 | SHM_DEST)) != want_mode || ds.shm_nattch != 2)
		fail("%s: id %d: key %#x size %zu mode %#o nattch %lu, want %#x %zu %#o 2", r->name,
		     r->shmid, (unsigned)ds.shm_perm.__key, (size_t)ds.shm_segsz,
		     (unsigned)ds.shm_perm.mode, (unsigned long)ds.shm_nattch, (unsigned)r->key,
		     r->size, want_mode);
}

static void map_memfd(struct region *r)
{
	memfd = memfd_create("ferry-shm", MFD_ALLOW_SEALING);
	if (memfd < 0 || ftruncate(memfd, M_SIZE)) {
		printf("shmem: memfd: %s\n", strerror(errno));
		exit(1);
	}
	for (const int *p = m_pages; *p >= 0; p++) {
		uint8_t page[PG];

		fill(page, "M", *p);
		if (pwrite(memfd, page, PG, (off_t)*p * PG) != (ssize_t)PG) {
			printf("shmem: memfd write: %s\n", strerror(errno));
			exit(1);
		}
	}
	*r = (struct region){ "M", NULL, M_MAP, m_pages, NULL, -1, -1 };
	r->base = mmap(NULL, M_MAP, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	if (r->base == MAP_FAILED || fcntl(memfd, F_ADD_SEALS, SEALS)) {
		printf("shmem: memfd map or seal: %s\n", strerror(errno));
		exit(1);
	}
	r->ctl = (struct ctl *)(r->base + 3 * PG);
}

static void map_all(const char *kinds)
{
	for (const char *k = kinds; *k; k++) {
		struct region *r = &regs[nregs++];

		switch (*k) {
		case 'A':
			map_anon(r, "A", A_PAGES, a_pages, 0);
			break;
		case 'Z':
			map_anon(r, "Z", Z_PAGES, z_pages, 1);
			break;
		case 'M':
			map_memfd(r);
			break;
		case 'K':
			map_shm_file(r, "K", 0);
			break;
		case 'G':
			map_shm_file(r, "G", 1);
			break;
		case 'S':
			map_sysv(r, "S", 0);
			break;
		case 'P':
			map_sysv(r, "P", 1);
			break;
		default:
			printf("shmem: unknown kind %c (AZMKGSP)\n", *k);
			exit(1);
		}
	}
}

static void sleep_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static void child_loop(void)
{
	uint64_t seen[8] = { 0 };

	for (;;) {
		if (getppid() != parent)
			_exit(0);
		sleep_ms(20);
		if (!usr1)
			continue;
		usr1 = 0;
		bad = 0;
		check_all();
		for (int i = 0; i < nregs; i++) {
			uint64_t ping = regs[i].ctl->ping;

			if (!ping || ping == seen[i])
				fail("%s: no new ping from the parent (%llu)", regs[i].name,
				     (unsigned long long)ping);
			seen[i] = ping;
			regs[i].ctl->child_ok = bad ? 2 : 1;
			__atomic_thread_fence(__ATOMIC_SEQ_CST);
			regs[i].ctl->pong = ping + 1000;
		}
	}
}

static void parent_verify(uint64_t round)
{
	bad = 0;
	check_all();
	for (int i = 0; i < nregs; i++) {
		regs[i].ctl->child_ok = 0;
		regs[i].ctl->ping = round;
	}
}

int main(int argc, char **argv)
{
	const char *kinds = argc > 1 ? argv[1] : "AZ";
	uint64_t round = 0;
	pid_t child;

	setvbuf(stdout, NULL, _IOLBF, 0);
	signal(SIGUSR1, on_usr1);
	map_all(kinds);
	parent = getpid();
	child = fork();
	if (child < 0) {
		printf("shmem: fork: %s\n", strerror(errno));
		return 1;
	}
	if (!child)
		child_loop();
	printf("shmem: pid %d child %d memfd %d ready\n", parent, child, memfd);
	for (;;) {
		int done = 0;

		/* Polled, not pause(): a signal that comes just before pause() would be lost. */
		sleep_ms(20);
		if (!usr1)
			continue;
		usr1 = 0;
		round++;
		parent_verify(round);
		kill(child, SIGUSR1);
		for (int t = 0; t < 250 && !done; t++) {
			sleep_ms(20);
			done = 1;
			for (int i = 0; i < nregs; i++)
				done &= regs[i].ctl->pong == round + 1000;
		}
		for (int i = 0; i < nregs; i++) {
			if (regs[i].ctl->pong != round + 1000)
				fail("%s: the child's answer is %llu, want %llu", regs[i].name,
				     (unsigned long long)regs[i].ctl->pong,
				     (unsigned long long)round + 1000);
			else if (regs[i].ctl->child_ok != 1)
				fail("%s: the child saw a bad region (%llu)", regs[i].name,
				     (unsigned long long)regs[i].ctl->child_ok);
		}
		if (!bad)
			printf("shmem: verify ok\n");
	}
}
