// SPDX-License-Identifier: MIT
/*
 * One piece of process state a dump must keep or refuse by name, never drop
 * (issue "Nothing lost in silence"), set up and then checked by the process
 * itself, zdtm-style:
 *   silent KIND [ARG]
 * sets KIND up, prints "silent: KIND pid P <details> ready" and idles; on
 * SIGUSR1 it checks the state and prints "silent: KIND verify ok" or
 * "silent: KIND verify BAD <what>" (one line per failure), and idles again.
 * Kinds:
 *  pipe-nonblock  two pipes, O_NONBLOCK on the read end of one and on the
 *                 write end of the other only, and a packet-mode pipe
 *                 (pipe2(O_DIRECT): O_DIRECT on its write end only)
 *  sched          threads with SCHED_BATCH + nice 7, SCHED_IDLE, SCHED_FIFO 7
 *                 with SCHED_RESET_ON_FORK, SCHED_RR 3; the leader nice -3
 *  stopped        a child stopped by SIGSTOP (printed as child C): it must
 *                 still be stopped ('T'), and answer after SIGCONT
 *  cgroup         joins the cgroup v2 directory ARG (absolute path of the
 *                 cgroup.procs' directory); it must still be a member
 *  vma-attrs      mappings with MADV_DONTFORK, MADV_WIPEONFORK,
 *                 MADV_HUGEPAGE, MADV_NOHUGEPAGE, mlock, MADV_SEQUENTIAL,
 *                 MADV_RANDOM (smaps VmFlags dc, wf, hg, nh, lo, sr, rr),
 *                 checked in smaps and by a forked child
 *  thp-disable    prctl(PR_SET_THP_DISABLE, 1)
 *  map-write      a shared mapping of file ARG, opened O_RDWR and mapped
 *                 PROT_READ, the fd closed: mprotect(PROT_WRITE) must work
 *                 and a write reach the file
 *  loginuid       writes 4242 to /proc/self/loginuid
 *  membarrier     registers MEMBARRIER_CMD_PRIVATE_EXPEDITED
 *  guard          a guard region (MADV_GUARD_INSTALL) of one page inside
 *                 4 pages: a write to it must fault, the others not
 *  droppable      a MAP_DROPPABLE mapping: it must still be one (smaps "dp"),
 *                 its page 3 or 0 (dropped)
 *  timens         unshare(CLONE_NEWTIME): children would get a new time ns
 *  lease          a read lease (F_SETLEASE) on file ARG
 *  mlockall       mlockall(MCL_FUTURE): a new mapping is locked
 *  lock-onfault   a range locked with mlock2(MLOCK_ONFAULT) (smaps "lf")
 *  thp-advised    PR_SET_THP_DISABLE with PR_THP_DISABLE_EXCEPT_ADVISED
 *  deadline       the main thread under SCHED_DEADLINE (1 ms every 10 ms)
 * timens and the ones after it are refused by ferry's dump; they verify
 * all the same.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/membarrier.h>

#ifndef MADV_GUARD_INSTALL
#define MADV_GUARD_INSTALL 102
#endif
#ifndef MAP_DROPPABLE
#define MAP_DROPPABLE 0x08
#endif
#ifndef SCHED_RESET_ON_FORK
#define SCHED_RESET_ON_FORK 0x40000000
#endif
#ifndef SCHED_BATCH
#define SCHED_BATCH 3
#endif
#ifndef SCHED_IDLE
#define SCHED_IDLE 5
#endif
#define PG 4096ul

static const char *kind;
static int bad;
static volatile sig_atomic_t usr1;

static void on_usr1(int sig)
{
	(void)sig;
	usr1 = 1;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	va_list ap;

	printf("silent: %s verify BAD ", kind);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	bad = 1;
}

static void die(const char *what)
{
	printf("silent: %s: %s: %s\n", kind, what, strerror(errno));
	exit(1);
}

/* ---- pipe-nonblock ---- */
static int pfd[6];

static void setup_pipes(char *info, size_t len)
{
	/* The third pipe is in packet mode: pipe2(O_DIRECT) sets it on the write end. */
	if (pipe(pfd) || pipe(pfd + 2) || pipe2(pfd + 4, O_DIRECT))
		die("pipe");
	if (fcntl(pfd[0], F_SETFL, O_NONBLOCK) || fcntl(pfd[3], F_SETFL, O_NONBLOCK))
		die("F_SETFL");
	snprintf(info, len, "r1 %d w1 %d r2 %d w2 %d r3 %d w3 %d", pfd[0], pfd[1], pfd[2], pfd[3],
		 pfd[4], pfd[5]);
}

static void verify_pipes(void)
{
	static const int want[6] = { O_NONBLOCK, 0, 0, O_NONBLOCK, 0, O_DIRECT };
	char buf[16];

	for (int i = 0; i < 6; i++) {
		int fl = fcntl(pfd[i], F_GETFL);

		if (fl < 0 || (fl & (O_NONBLOCK | O_DIRECT)) != want[i])
			fail("fd %d: flags %#x, were %#x (of O_NONBLOCK|O_DIRECT)", pfd[i],
			     fl < 0 ? fl : fl & (O_NONBLOCK | O_DIRECT), want[i]);
	}
	/* Packet mode: two writes are two reads, whatever the buffer. */
	if (write(pfd[5], "ab", 2) != 2 || write(pfd[5], "cde", 3) != 3)
		fail("cannot write into the packet pipe: %s", strerror(errno));
	else if (read(pfd[4], buf, sizeof(buf)) != 2 || read(pfd[4], buf, sizeof(buf)) != 3)
		fail("the packet pipe is a byte stream");
}

/* ---- sched ---- */
struct sched_want {
	int policy, prio, nice;
	pid_t tid;
};
static struct sched_want sw[5];
static pthread_barrier_t sched_bar;

static void sched_apply(struct sched_want *w)
{
	struct sched_param sp = { .sched_priority = w->prio };

	w->tid = (pid_t)syscall(SYS_gettid);
	if (setpriority(PRIO_PROCESS, (id_t)w->tid, w->nice))
		die("setpriority");
	if (sched_setscheduler(w->tid, w->policy, &sp))
		die("sched_setscheduler");
}

static void *sched_thread(void *arg)
{
	sched_apply(arg);
	pthread_barrier_wait(&sched_bar);
	for (;;)
		pause();
	return NULL;
}

static void setup_sched(char *info, size_t len)
{
	const struct sched_want w[5] = {
		{ SCHED_OTHER, 0, -3, 0 }, { SCHED_BATCH, 0, 7, 0 },
		{ SCHED_IDLE, 0, 0, 0 },   { SCHED_FIFO | SCHED_RESET_ON_FORK, 7, 0, 0 },
		{ SCHED_RR, 3, 0, 0 },
	};
	pthread_t th;

	memcpy(sw, w, sizeof(sw));
	pthread_barrier_init(&sched_bar, NULL, 5);
	for (int i = 1; i < 5; i++)
		if (pthread_create(&th, NULL, sched_thread, &sw[i]))
			die("pthread_create");
	sched_apply(&sw[0]);
	pthread_barrier_wait(&sched_bar);
	snprintf(info, len, "threads 5");
}

static void verify_sched(void)
{
	for (int i = 0; i < 5; i++) {
		struct sched_param sp;
		int pol = sched_getscheduler(sw[i].tid), nice;

		errno = 0;
		nice = getpriority(PRIO_PROCESS, (id_t)sw[i].tid);
		if (pol != sw[i].policy)
			fail("thread %d: policy %#x, was %#x", sw[i].tid, pol, sw[i].policy);
		if (sched_getparam(sw[i].tid, &sp) || sp.sched_priority != sw[i].prio)
			fail("thread %d: priority %d, was %d", sw[i].tid, sp.sched_priority,
			     sw[i].prio);
		/* The kernel keeps the nice value of a realtime thread too. */
		if (errno || nice != sw[i].nice)
			fail("thread %d: nice %d, was %d", sw[i].tid, nice, sw[i].nice);
	}
}

/* ---- stopped ---- */
static pid_t child;
static int to_child[2], from_child[2];

static char proc_state(pid_t pid)
{
	char path[64], buf[256], *p, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	f = fopen(path, "re");
	if (f && fgets(buf, sizeof(buf), f) && (p = strrchr(buf, ')')))
		st = p[2];
	if (f)
		fclose(f);
	return st;
}

/* SIGSTOP the child (it sits in read()) and wait until it is stopped. */
static int stop_child(void)
{
	kill(child, SIGSTOP);
	for (int i = 0; i < 500; i++) {
		if (proc_state(child) == 'T')
			return 0;
		usleep(10000);
	}
	return -1;
}

static void setup_stopped(char *info, size_t len)
{
	if (pipe(to_child) || pipe(from_child))
		die("pipe");
	child = fork();
	if (child < 0)
		die("fork");
	if (child == 0) {
		char c;

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		while (read(to_child[0], &c, 1) == 1)
			if (write(from_child[1], &c, 1) != 1)
				_exit(1);
		_exit(0);
	}
	if (stop_child())
		die("the child did not stop");
	snprintf(info, len, "child %d", child);
}

static void verify_stopped(void)
{
	char st = proc_state(child), c = 0;
	struct timeval tv = { 5, 0 };
	fd_set rs;

	if (st != 'T') {
		fail("child %d: state '%c', not stopped ('T')", child, st ? st : '?');
		return;
	}
	/* Stopped, it does not answer; continued, it does. */
	if (write(to_child[1], "c", 1) != 1)
		die("write");
	usleep(100000);
	FD_ZERO(&rs);
	FD_SET(from_child[0], &rs);
	if (select(from_child[0] + 1, &rs, NULL, NULL, &(struct timeval){ 0, 0 }) != 0)
		fail("child %d: answered while stopped", child);
	kill(child, SIGCONT);
	FD_ZERO(&rs);
	FD_SET(from_child[0], &rs);
	if (select(from_child[0] + 1, &rs, NULL, NULL, &tv) != 1 ||
	    read(from_child[0], &c, 1) != 1 || c != 'c')
		fail("child %d: no answer after SIGCONT", child);
	if (stop_child())
		fail("child %d: does not stop again", child);
}

/* ---- cgroup ---- */
static char cg_want[4200];

static void setup_cgroup(const char *dir, char *info, size_t len)
{
	char path[4200];
	FILE *f;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	f = fopen(path, "we");
	if (!f)
		die(path);
	fprintf(f, "%d\n", getpid());
	if (fclose(f))
		die(path);
	/* What /proc/self/cgroup says now is what it must say after a restore. */
	f = fopen("/proc/self/cgroup", "re");
	while (f && fgets(path, sizeof(path), f))
		if (!strncmp(path, "0::", 3))
			snprintf(cg_want, sizeof(cg_want), "%s", path);
	if (f)
		fclose(f);
	if (!cg_want[0])
		die("no cgroup v2 line");
	snprintf(info, len, "cgroup %.*s", (int)strlen(cg_want) - 4, cg_want + 3);
}

static void verify_cgroup(void)
{
	char buf[4200];
	int found = 0;
	FILE *f = fopen("/proc/self/cgroup", "re");

	while (f && fgets(buf, sizeof(buf), f))
		if (!strncmp(buf, "0::", 3)) {
			found = 1;
			if (strcmp(buf, cg_want))
				fail("cgroup v2 %.*s, was %.*s", (int)strlen(buf) - 1, buf,
				     (int)strlen(cg_want) - 1, cg_want);
		}
	if (f)
		fclose(f);
	if (!found)
		fail("no cgroup v2 line in /proc/self/cgroup");
}

/* ---- vma-attrs ---- */
struct vma_want {
	const char *flag;
	int advice; /* -1: mlock */
	char *addr;
};
static struct vma_want vw[] = {
	{ "dc", MADV_DONTFORK, NULL },
	{ "wf", MADV_WIPEONFORK, NULL },
	{ "hg", MADV_HUGEPAGE, NULL },
	{ "nh", MADV_NOHUGEPAGE, NULL },
	{ "lo", -1, NULL },
	{ "sr", MADV_SEQUENTIAL, NULL },
	{ "rr", MADV_RANDOM, NULL },
};
#define NR_VW (sizeof(vw) / sizeof(vw[0]))

static void setup_vma_attrs(char *info, size_t len)
{
	size_t off = 0;

	for (size_t i = 0; i < NR_VW; i++) {
		/* A guard page on each side keeps the mappings apart. */
		char *p = mmap(NULL, 6 * PG, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED)
			die("mmap");
		vw[i].addr = p + PG;
		if (mprotect(vw[i].addr, 4 * PG, PROT_READ | PROT_WRITE))
			die("mprotect");
		memset(vw[i].addr, 0x5a, 4 * PG);
		if (vw[i].advice < 0 ? mlock(vw[i].addr, 4 * PG)
				     : madvise(vw[i].addr, 4 * PG, vw[i].advice))
			die(vw[i].flag);
		off += (size_t)snprintf(info + off, len - off, "%s%s %p", i ? " " : "", vw[i].flag,
					(void *)vw[i].addr);
	}
}

/* The VmFlags line of the smaps entry starting at @addr (@exact) or holding it. */
static int smaps_flags(const void *addr, int exact, char *out, size_t len)
{
	char buf[1024];
	int in = 0, found = 0;
	FILE *f = fopen("/proc/self/smaps", "re");

	while (f && !found && fgets(buf, sizeof(buf), f)) {
		unsigned long s, e;
		char perms[8];

		if (sscanf(buf, "%lx-%lx %7s", &s, &e, perms) == 3 && strlen(perms) == 4 &&
		    (perms[3] == 'p' || perms[3] == 's')) {
			in = exact ? s == (unsigned long)addr
				   : s <= (unsigned long)addr && (unsigned long)addr < e;
			continue;
		}
		if (in && !strncmp(buf, "VmFlags:", 8)) {
			snprintf(out, len, "%s", buf + 8);
			found = 1;
		}
	}
	if (f)
		fclose(f);
	return found;
}

static int has_flag(const char *flags, const char *fl)
{
	char want[8];

	snprintf(want, sizeof(want), " %s", fl);
	for (const char *p = flags; (p = strstr(p, want)); p++)
		if (p[3] == ' ' || p[3] == '\n' || !p[3])
			return 1;
	return 0;
}

static void verify_vma_attrs(void)
{
	static const char *all[] = { "dc", "wf", "hg", "nh", "lo", "sr", "rr" };
	pid_t c;
	int st;

	for (size_t i = 0; i < NR_VW; i++) {
		char flags[1024];

		if (!smaps_flags(vw[i].addr, 1, flags, sizeof(flags))) {
			fail("%s: no mapping starts at %p", vw[i].flag, (void *)vw[i].addr);
			continue;
		}
		for (size_t k = 0; k < sizeof(all) / sizeof(all[0]); k++)
			if (has_flag(flags, all[k]) != !strcmp(all[k], vw[i].flag))
				fail("%p: %s %s (VmFlags:%.*s)", (void *)vw[i].addr,
				     has_flag(flags, all[k]) ? "gained" : "lost", all[k],
				     (int)strcspn(flags, "\n"), flags);
		for (size_t b = 0; b < 4 * PG; b++)
			if ((unsigned char)vw[i].addr[b] != 0x5a) {
				fail("%p: byte %zu changed", (void *)vw[i].addr, b);
				break;
			}
	}
	/* What the flags mean: a child has no DONTFORK range and zeros in the WIPEONFORK one. */
	fflush(stdout);
	c = fork();
	if (c == 0) {
		int r = vw[1].addr[0] != 0 ? 2 : 0;

		if (!r && mincore(vw[0].addr, PG, (unsigned char[1]){ 0 }) == 0)
			r = 3;
		_exit(r);
	}
	if (c < 0 || waitpid(c, &st, 0) != c || !WIFEXITED(st) || WEXITSTATUS(st))
		fail("fork: the child saw %s", c > 0 && WIFEXITED(st) && WEXITSTATUS(st) == 2
						       ? "the WIPEONFORK range unwiped"
						       : "the DONTFORK range mapped");
}

/* ---- thp-disable, loginuid, membarrier ---- */
static void verify_thp(void)
{
	int r = prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0);

	if (r != 1)
		fail("PR_GET_THP_DISABLE is %d, was 1", r);
}

static unsigned int read_loginuid(void)
{
	char buf[32] = "";
	int fd = open("/proc/self/loginuid", O_RDONLY | O_CLOEXEC);

	if (fd < 0 || read(fd, buf, sizeof(buf) - 1) <= 0)
		die("read loginuid");
	close(fd);
	return (unsigned int)strtoul(buf, NULL, 10);
}

static void setup_loginuid(char *info, size_t len)
{
	int fd = open("/proc/self/loginuid", O_WRONLY | O_CLOEXEC);

	if (fd < 0 || write(fd, "4242", 4) != 4)
		die("write loginuid");
	close(fd);
	snprintf(info, len, "loginuid %u", read_loginuid());
}

static void verify_loginuid(void)
{
	unsigned int u = read_loginuid();

	if (u != 4242)
		fail("loginuid %u, was 4242", u);
}

static void verify_membarrier(void)
{
	if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0))
		fail("MEMBARRIER_CMD_PRIVATE_EXPEDITED: %s (registration lost)", strerror(errno));
}

/* ---- map-write ---- */
static char *mw;

static void setup_map_write(const char *path, char *info, size_t len)
{
	int fd = open(path, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		die(path);
	mw = mmap(NULL, PG, PROT_READ, MAP_SHARED, fd, 0);
	if (mw == MAP_FAILED)
		die("mmap");
	close(fd);
	snprintf(info, len, "map %p", (void *)mw);
}

static void verify_map_write(void)
{
	if (mprotect(mw, PG, PROT_READ | PROT_WRITE)) {
		fail("mprotect(PROT_WRITE) of the shared file mapping at %p: %s", (void *)mw,
		     strerror(errno));
		return;
	}
	mw[0]++;
	if (msync(mw, PG, MS_SYNC))
		fail("msync: %s", strerror(errno));
	mprotect(mw, PG, PROT_READ);
}

/* ---- guard ---- */
static char *gr;
static sigjmp_buf gjb;

static void on_segv(int sig)
{
	(void)sig;
	siglongjmp(gjb, 1);
}

static void setup_guard(char *info, size_t len)
{
	gr = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (gr == MAP_FAILED)
		die("mmap");
	memset(gr, 1, 4 * PG);
	if (madvise(gr + 2 * PG, PG, MADV_GUARD_INSTALL))
		die("MADV_GUARD_INSTALL");
	snprintf(info, len, "guard %p", (void *)(gr + 2 * PG));
}

static void verify_guard(void)
{
	struct sigaction sa = { .sa_handler = on_segv }, old;

	sigaction(SIGSEGV, &sa, &old);
	for (int i = 0; i < 4; i++) {
		volatile char *p = gr + (size_t)i * PG;

		if (sigsetjmp(gjb, 1) == 0) {
			*p = 2;
			if (i == 2)
				fail("a write into the guard page %p succeeded", (void *)p);
		} else if (i != 2) {
			fail("a write to %p faulted", (void *)p);
		}
	}
	sigaction(SIGSEGV, &old, NULL);
}

/* ---- droppable, timens, lease ---- */
static char *dr;
static int lease_fd = -1;

static void setup_refused(const char *arg, char *info, size_t len)
{
	if (!strcmp(kind, "droppable")) {
		dr = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_DROPPABLE | MAP_ANONYMOUS, -1,
			  0);
		if (dr == MAP_FAILED)
			die("mmap MAP_DROPPABLE");
		memset(dr, 3, PG);
		snprintf(info, len, "droppable %p", (void *)dr);
	} else if (!strcmp(kind, "timens")) {
		if (unshare(CLONE_NEWTIME))
			die("unshare(CLONE_NEWTIME)");
		snprintf(info, len, "timens pending");
	} else if (!strcmp(kind, "mlockall")) {
		if (mlockall(MCL_FUTURE))
			die("mlockall(MCL_FUTURE)");
	} else if (!strcmp(kind, "lock-onfault")) {
		dr = mmap(NULL, 4 * PG, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (dr == MAP_FAILED || syscall(SYS_mlock2, dr, 4 * PG, MLOCK_ONFAULT))
			die("mlock2(MLOCK_ONFAULT)");
		dr[0] = 3;
		snprintf(info, len, "onfault %p", (void *)dr);
	} else if (!strcmp(kind, "deadline")) {
		/* struct sched_attr: size, policy, flags, nice, priority, runtime, deadline, period
		 */
		struct {
			uint32_t size, policy;
			uint64_t flags;
			int32_t nice;
			uint32_t prio;
			uint64_t runtime, deadline, period;
		} a = { sizeof(a), 6 /* SCHED_DEADLINE */, 0, 0, 0, 1000000, 10000000, 10000000 };

		if (syscall(SYS_sched_setattr, 0, &a, 0))
			die("sched_setattr(SCHED_DEADLINE)");
	} else if (!strcmp(kind, "thp-advised")) {
		if (prctl(PR_SET_THP_DISABLE, 1, 2 /* PR_THP_DISABLE_EXCEPT_ADVISED */, 0, 0))
			die("PR_SET_THP_DISABLE except advised");
	} else {
		lease_fd = open(arg, O_RDONLY | O_CLOEXEC);
		if (lease_fd < 0 || fcntl(lease_fd, F_SETLEASE, F_RDLCK))
			die("F_SETLEASE");
		snprintf(info, len, "lease fd %d", lease_fd);
	}
}

/* The time namespace the children would get is still a new one. */
static void verify_timens(void)
{
	struct stat a, b;

	if (stat("/proc/self/ns/time", &a) || stat("/proc/self/ns/time_for_children", &b))
		fail("cannot stat /proc/self/ns/time*: %s", strerror(errno));
	else if (a.st_ino == b.st_ino)
		fail("no time namespace pending for the children any more");
}

static void verify_refused(void)
{
	char flags[1024];

	if (!strcmp(kind, "timens"))
		verify_timens();
	if (!strcmp(kind, "mlockall")) {
		char *p = mmap(NULL, PG, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		if (p == MAP_FAILED || !smaps_flags(p, 0, flags, sizeof(flags)) ||
		    !has_flag(flags, "lo"))
			fail("a new mapping is not locked: mlockall(MCL_FUTURE) lost");
		if (p != MAP_FAILED)
			munmap(p, PG);
	}
	if (!strcmp(kind, "lock-onfault") &&
	    (!smaps_flags(dr, 0, flags, sizeof(flags)) || !has_flag(flags, "lf")))
		fail("%p is not locked on fault any more", (void *)dr);
	if (!strcmp(kind, "deadline") && sched_getscheduler(0) != 6)
		fail("policy %d, was SCHED_DEADLINE", sched_getscheduler(0));
	if (!strcmp(kind, "thp-advised") && prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0) != 3)
		fail("PR_GET_THP_DISABLE is %d, was 3", prctl(PR_GET_THP_DISABLE, 0, 0, 0, 0));
	if (!strcmp(kind, "droppable")) {
		/* Its data may be gone (zeros): the kernel may drop it at any time. */
		if (dr[0] != 3 && dr[0] != 0)
			fail("droppable page holds %d", dr[0]);
		if (!smaps_flags(dr, 1, flags, sizeof(flags)) || !has_flag(flags, "dp"))
			fail("%p is no droppable mapping any more", (void *)dr);
		dr[PG] = 4;
		if (dr[PG] != 4 && dr[PG] != 0)
			fail("droppable page 1 holds %d", dr[PG]);
	}
	if (lease_fd >= 0 && fcntl(lease_fd, F_GETLEASE) != F_RDLCK)
		fail("lease lost");
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	char info[1024] = "";
	void (*verify)(void) = verify_refused;
	sigset_t none;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		return 2;
	kind = argv[1];
	sigaction(SIGUSR1, &sa, NULL);
	/*
	 * SIGUSR1 only ever arrives inside the main thread's sigsuspend(): none is
	 * lost between the test and the wait, none goes to another thread.
	 */
	sigemptyset(&none);
	sigaddset(&none, SIGUSR1);
	sigprocmask(SIG_BLOCK, &none, NULL);
	sigemptyset(&none);
	if (!strcmp(kind, "pipe-nonblock")) {
		setup_pipes(info, sizeof(info));
		verify = verify_pipes;
	} else if (!strcmp(kind, "sched")) {
		setup_sched(info, sizeof(info));
		verify = verify_sched;
	} else if (!strcmp(kind, "stopped")) {
		setup_stopped(info, sizeof(info));
		verify = verify_stopped;
	} else if (!strcmp(kind, "cgroup") && argc > 2) {
		setup_cgroup(argv[2], info, sizeof(info));
		verify = verify_cgroup;
	} else if (!strcmp(kind, "vma-attrs")) {
		setup_vma_attrs(info, sizeof(info));
		verify = verify_vma_attrs;
	} else if (!strcmp(kind, "thp-disable")) {
		if (prctl(PR_SET_THP_DISABLE, 1, 0, 0, 0))
			die("PR_SET_THP_DISABLE");
		verify = verify_thp;
	} else if (!strcmp(kind, "map-write") && argc > 2) {
		setup_map_write(argv[2], info, sizeof(info));
		verify = verify_map_write;
	} else if (!strcmp(kind, "loginuid")) {
		setup_loginuid(info, sizeof(info));
		verify = verify_loginuid;
	} else if (!strcmp(kind, "membarrier")) {
		if (syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0))
			die("membarrier register");
		verify = verify_membarrier;
	} else if (!strcmp(kind, "guard")) {
		setup_guard(info, sizeof(info));
		verify = verify_guard;
	} else if (!strcmp(kind, "droppable") || !strcmp(kind, "timens") ||
		   !strcmp(kind, "mlockall") || !strcmp(kind, "lock-onfault") ||
		   !strcmp(kind, "thp-advised") || !strcmp(kind, "deadline") ||
		   (!strcmp(kind, "lease") && argc > 2)) {
		setup_refused(argv[2], info, sizeof(info));
	} else {
		printf("silent: unknown kind %s\n", kind);
		return 2;
	}
	printf("silent: %s pid %d %s ready\n", kind, getpid(), info);
	for (;;) {
		while (!usr1)
			sigsuspend(&none);
		usr1 = 0;
		bad = 0;
		verify();
		if (!bad)
			printf("silent: %s verify ok\n", kind);
	}
}
