// SPDX-License-Identifier: MIT
/*
 * More state ferry's dump used to refuse and CRIU keeps (issue "Nothing
 * lost in silence"), set up and then checked by the processes themselves,
 * zdtm-style, with refused.c's protocol:
 *   kept KIND
 * sets KIND up, prints "kept: KIND pid P <details> ready" and idles; on
 * SIGUSR1 it checks the state without changing it: "kept: KIND verify ok"
 * or "kept: KIND verify BAD <what>" (a line per failure); on SIGUSR2 it
 * does what changes the state for good and checks the outcome: "kept: KIND
 * final ok" or "... final BAD <what>".
 * Kinds:
 *  pidfd  pidfds: of its live child C, of itself (PIDFD_NONBLOCK), of a
 *       child D that died and was reaped; C holds one of its parent. Verify:
 *       each fd's fdinfo names the right pid (-1 for D), the flags, a
 *       signal 0 reaches C and itself through them and fails with ESRCH
 *       through D's; C's pidfd (read through /proc) names the root. Final:
 *       SIGTERM to C through its pidfd, the pidfd turns readable when C
 *       dies, and waitid(P_PIDFD) reaps it with that status.
 *  pidfd-out  a pidfd of its parent (outside the tree: a dump refuses it).
 *       Verify and final: it still names the parent.
 *  gone DIR  a FIFO DIR/f open O_RDWR and O_WRONLY|O_NONBLOCK, holding
 *       "gone fifo", then unlinked; a directory DIR/d, its cwd and open as an
 *       fd, then removed. Verify: both FIFO fds on one inode with no link,
 *       named "DIR/f (deleted)", 9 bytes in it, their flags; the cwd and the
 *       fd on one directory with no link, "DIR/d (deleted)"; neither path
 *       exists. Final: the FIFO's bytes read, a byte written through the
 *       other fd read back; a file cannot be made in the removed cwd.
 *  bpfmap  BPF maps: an array "ferry_arr" (16 x u64, element i = i * i + 7,
 *       frozen), a hash "ferry_hash" (u64 -> 16 bytes, 64 entries,
 *       BPF_F_NO_PREALLOC) with 10 elements, open twice (two descriptions,
 *       fds on one map). Verify: types, sizes, flags, names, frozen (an update
 *       fails with EPERM), every element, both hash fds on one map. Final: an
 *       element added through one hash fd is seen through the other, one is
 *       deleted.
 *  bpf-other  a per-CPU array map and a BPF program (socket filter), which a
 *       dump refuses. Verify and final: both fds are still there.
 *  procfile  its child C holds /proc/ROOT/status at offset 10 (fd 7); the
 *       root holds its own /proc/ROOT/stat (fd 8). Verify: C's fd names
 *       /proc/ROOT/status at offset 10 and, opened again, says "Pid: ROOT";
 *       the root's reads its own stat. Final: as verify.
 *  procfile-out  /proc/PARENT/status of its parent (outside the tree: a dump
 *       refuses it). Verify and final: the fd is still there.
 *  aio  an AIO context (io_setup, 8 events) with a read done and reaped;
 *       prints "ctx C". Verify and final: the ring is still mapped at C (its
 *       id) and a read submitted on it completes.
 *  aio-pending  the same with a completed read not reaped (a dump refuses
 *       it). Verify and final: that event is still there to reap.
 *  novdso  unmaps its vDSO and vvar (a dump refuses it: ferry runs its
 *       remote syscalls from the vDSO). Verify and final: none is mapped.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <linux/aio_abi.h>
#include <linux/bpf.h>
#include <time.h>
#include <unistd.h>

static const char *kind;
static volatile sig_atomic_t got;
static int bad;

static void on_sig(int sig)
{
	got = sig;
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void fail(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	printf("kept: %s %s BAD %s\n", kind, got == SIGUSR2 ? "final" : "verify", msg);
	bad = 1;
}

static void die(const char *what)
{
	printf("kept: %s: %s: %s\n", kind, what, strerror(errno));
	exit(1);
}

/* Wait up to @ms for @fd to be readable; 1 if it is. */
static int readable(int fd, int ms)
{
	struct pollfd p = { fd, POLLIN, 0 };

	while (poll(&p, 1, ms) < 0)
		if (errno != EINTR)
			return 0;
	return !!(p.revents & POLLIN);
}

/* ---- pidfd ---- */
#ifndef PIDFD_NONBLOCK
#define PIDFD_NONBLOCK O_NONBLOCK
#endif
#ifndef P_PIDFD
#define P_PIDFD 3
#endif
static int pfd_c = -1, pfd_self = -1, pfd_dead = -1, pfd_c_parent = -1;
static pid_t pfd_child;

static int my_pidfd_open(pid_t pid, unsigned int flags)
{
	return (int)syscall(SYS_pidfd_open, pid, flags);
}

/* The "Pid:" of fd @fd of @pid's fdinfo, or -2. */
static int fdinfo_pid(pid_t pid, int fd)
{
	char path[64], buf[1024];
	int v = -2;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/fdinfo/%d", pid, fd);
	f = fopen(path, "r");
	if (!f)
		return -2;
	while (fgets(buf, sizeof(buf), f))
		if (sscanf(buf, "Pid: %d", &v) == 1)
			break;
	fclose(f);
	return v;
}

static void setup_pidfd(char *info, size_t len)
{
	struct timespec tick = { 0, 100 * 1000 * 1000 };
	int ready[2];
	pid_t dead;
	char c;

	if (pipe(ready))
		die("pipe");
	pfd_child = fork();
	if (pfd_child < 0)
		die("fork");
	if (!pfd_child) {
		pid_t root = getppid();

		pfd_c_parent = my_pidfd_open(root, 0);
		if (pfd_c_parent < 0 || dup2(pfd_c_parent, 7) != 7)
			die("child: pidfd_open of its parent");
		close(pfd_c_parent);
		if (write(ready[1], "r", 1) != 1)
			die("child: ready");
		while (getppid() == root)
			nanosleep(&tick, NULL);
		_exit(0);
	}
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1)
		die("child not ready");
	close(ready[0]);
	pfd_c = my_pidfd_open(pfd_child, 0);
	pfd_self = my_pidfd_open(getpid(), PIDFD_NONBLOCK);
	dead = fork();
	if (dead < 0)
		die("fork");
	if (!dead)
		_exit(3);
	pfd_dead = my_pidfd_open(dead, 0);
	if (pfd_c < 0 || pfd_self < 0 || pfd_dead < 0)
		die("pidfd_open");
	if (waitpid(dead, NULL, 0) != dead)
		die("waitpid");
	snprintf(info, len, "child %d dead %d fds %d %d %d", pfd_child, dead, pfd_c, pfd_self,
		 pfd_dead);
}

static void verify_pidfd(void)
{
	int fl;

	if (fdinfo_pid(getpid(), pfd_c) != pfd_child)
		fail("the pidfd of the child names pid %d, not %d", fdinfo_pid(getpid(), pfd_c),
		     pfd_child);
	if (fdinfo_pid(getpid(), pfd_self) != getpid())
		fail("its own pidfd names pid %d", fdinfo_pid(getpid(), pfd_self));
	if (fdinfo_pid(getpid(), pfd_dead) != -1)
		fail("the dead child's pidfd names pid %d", fdinfo_pid(getpid(), pfd_dead));
	if (fdinfo_pid(pfd_child, 7) != getpid())
		fail("the child's pidfd names pid %d, not its parent", fdinfo_pid(pfd_child, 7));
	fl = fcntl(pfd_self, F_GETFL);
	if (fl < 0 || !(fl & O_NONBLOCK))
		fail("its own pidfd has flags %#x, without O_NONBLOCK", fl);
	fl = fcntl(pfd_c, F_GETFL);
	if (fl < 0 || (fl & O_NONBLOCK))
		fail("the child's pidfd has flags %#x", fl);
	if (syscall(SYS_pidfd_send_signal, pfd_c, 0, NULL, 0) ||
	    syscall(SYS_pidfd_send_signal, pfd_self, 0, NULL, 0))
		fail("signal 0 through a pidfd: %s", strerror(errno));
	if (!syscall(SYS_pidfd_send_signal, pfd_dead, 0, NULL, 0) || errno != ESRCH)
		fail("signal 0 through the dead child's pidfd: %s", strerror(errno));
}

static void final_pidfd(void)
{
	siginfo_t si;

	verify_pidfd();
	if (syscall(SYS_pidfd_send_signal, pfd_c, SIGTERM, NULL, 0))
		fail("SIGTERM through the pidfd: %s", strerror(errno));
	if (!readable(pfd_c, 3000))
		fail("the child's pidfd is not readable after its death");
	memset(&si, 0, sizeof(si));
	if (waitid((idtype_t)P_PIDFD, (id_t)pfd_c, &si, WEXITED))
		fail("waitid(P_PIDFD): %s", strerror(errno));
	else if (si.si_pid != pfd_child || si.si_code != CLD_KILLED || si.si_status != SIGTERM)
		fail("waitid(P_PIDFD): pid %d code %d status %d", si.si_pid, si.si_code,
		     si.si_status);
}

static pid_t out_parent;

static void setup_pidfd_out(char *info, size_t len)
{
	out_parent = getppid();
	pfd_c_parent = my_pidfd_open(out_parent, 0);
	if (pfd_c_parent < 0)
		die("pidfd_open of its parent");
	snprintf(info, len, "parent %d fd %d", out_parent, pfd_c_parent);
}

static void verify_pidfd_out(void)
{
	if (fdinfo_pid(getpid(), pfd_c_parent) != out_parent)
		fail("its pidfd names pid %d, not %d", fdinfo_pid(getpid(), pfd_c_parent),
		     out_parent);
}

/* ---- gone ---- */
#define GONE_BYTES "gone fifo"
static int gone_rw = -1, gone_w = -1, gone_dir = -1;
static char gone_f[PATH_MAX], gone_d[PATH_MAX];

static void setup_gone(const char *dir, char *info, size_t len)
{
	snprintf(gone_f, sizeof(gone_f), "%s/f", dir);
	snprintf(gone_d, sizeof(gone_d), "%s/d", dir);
	if (mkfifo(gone_f, 0640) || mkdir(gone_d, 0750))
		die("mkfifo/mkdir");
	gone_rw = open(gone_f, O_RDWR);
	gone_w = open(gone_f, O_WRONLY | O_NONBLOCK);
	if (gone_rw < 0 || gone_w < 0)
		die("open fifo");
	if (write(gone_w, GONE_BYTES, strlen(GONE_BYTES)) != (ssize_t)strlen(GONE_BYTES))
		die("write fifo");
	gone_dir = open(gone_d, O_RDONLY | O_DIRECTORY);
	if (gone_dir < 0 || chdir(gone_d))
		die("open/chdir dir");
	if (unlink(gone_f) || rmdir(gone_d))
		die("unlink/rmdir");
	snprintf(info, len, "fifo %.400s dir %.400s", gone_f, gone_d);
}

/* readlink of /proc/self/@what is "@path (deleted)"? */
static void deleted_link(const char *what, const char *path)
{
	char link[PATH_MAX + 32], want[PATH_MAX + 32];
	char self[64];
	ssize_t n;

	snprintf(self, sizeof(self), "/proc/self/%s", what);
	n = readlink(self, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = '\0';
	snprintf(want, sizeof(want), "%s (deleted)", path);
	if (strcmp(link, want))
		fail("%s is '%s', not '%s'", what, link, want);
}

static void verify_gone(void)
{
	struct stat a, b, c, d;
	char what[32];
	int n = -1;

	if (fstat(gone_rw, &a) || fstat(gone_w, &b) || !S_ISFIFO(a.st_mode) ||
	    a.st_ino != b.st_ino || a.st_dev != b.st_dev || a.st_nlink)
		fail("the FIFO fds: mode %o ino %lu/%lu links %lu", a.st_mode,
		     (unsigned long)a.st_ino, (unsigned long)b.st_ino, (unsigned long)a.st_nlink);
	if ((a.st_mode & 07777) != 0640)
		fail("the FIFO has mode %o", a.st_mode & 07777);
	snprintf(what, sizeof(what), "fd/%d", gone_rw);
	deleted_link(what, gone_f);
	if ((fcntl(gone_rw, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) != O_RDWR ||
	    (fcntl(gone_w, F_GETFL) & (O_ACCMODE | O_NONBLOCK)) != (O_WRONLY | O_NONBLOCK))
		fail("FIFO flags %#x %#x", fcntl(gone_rw, F_GETFL), fcntl(gone_w, F_GETFL));
	if (ioctl(gone_rw, FIONREAD, &n) || n != (int)strlen(GONE_BYTES))
		fail("%d bytes in the FIFO, not %zu", n, strlen(GONE_BYTES));
	if (stat(".", &c) || fstat(gone_dir, &d) || !S_ISDIR(c.st_mode) || c.st_ino != d.st_ino ||
	    c.st_dev != d.st_dev || c.st_nlink)
		fail("cwd and dir fd: mode %o ino %lu/%lu links %lu", c.st_mode,
		     (unsigned long)c.st_ino, (unsigned long)d.st_ino, (unsigned long)c.st_nlink);
	if ((c.st_mode & 07777) != 0750)
		fail("the directory has mode %o", c.st_mode & 07777);
	deleted_link("cwd", gone_d);
	snprintf(what, sizeof(what), "fd/%d", gone_dir);
	deleted_link(what, gone_d);
	if (!access(gone_f, F_OK) || !access(gone_d, F_OK))
		fail("%s or %s exists", gone_f, gone_d);
}

static void final_gone(void)
{
	char buf[32] = "";
	ssize_t n;
	int fd;

	verify_gone();
	n = read(gone_rw, buf, sizeof(buf));
	if (n != (ssize_t)strlen(GONE_BYTES) || memcmp(buf, GONE_BYTES, (size_t)n))
		fail("read %zd bytes '%.*s' from the FIFO", n, (int)(n > 0 ? n : 0), buf);
	if (write(gone_w, "x", 1) != 1 || read(gone_rw, buf, 1) != 1 || buf[0] != 'x')
		fail("a byte through the FIFO: %s", strerror(errno));
	fd = open("new", O_CREAT | O_WRONLY, 0600);
	if (fd >= 0 || errno != ENOENT)
		fail("a file made in the removed cwd: fd %d (%s)", fd, strerror(errno));
	if (fd >= 0)
		close(fd);
}

/* ---- bpfmap ---- */
static int bpf_arr = -1, bpf_hash = -1, bpf_hash2 = -1;

static long sys_bpf(int cmd, union bpf_attr *a)
{
	return syscall(SYS_bpf, cmd, a, sizeof(*a));
}

static int map_create(uint32_t type, uint32_t ks, uint32_t vs, uint32_t max, uint32_t flags,
		      const char *name)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_type = type;
	a.key_size = ks;
	a.value_size = vs;
	a.max_entries = max;
	a.map_flags = flags;
	strncpy(a.map_name, name, sizeof(a.map_name) - 1);
	return (int)sys_bpf(BPF_MAP_CREATE, &a);
}

static int map_op(int cmd, int fd, const void *key, void *value, uint64_t flags)
{
	union bpf_attr a;

	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)fd;
	a.key = (uint64_t)(uintptr_t)key;
	a.value = (uint64_t)(uintptr_t)value;
	a.flags = flags;
	return (int)sys_bpf(cmd, &a);
}

static int map_info(int fd, struct bpf_map_info *info)
{
	union bpf_attr a;

	memset(info, 0, sizeof(*info));
	memset(&a, 0, sizeof(a));
	a.info.bpf_fd = (uint32_t)fd;
	a.info.info_len = sizeof(*info);
	a.info.info = (uint64_t)(uintptr_t)info;
	return (int)sys_bpf(BPF_OBJ_GET_INFO_BY_FD, &a);
}

struct hval {
	uint64_t a, b;
};

static void setup_bpfmap(char *info, size_t len)
{
	struct bpf_map_info mi;
	union bpf_attr a;

	bpf_arr = map_create(BPF_MAP_TYPE_ARRAY, 4, 8, 16, 0, "ferry_arr");
	bpf_hash = map_create(BPF_MAP_TYPE_HASH, 8, 16, 64, BPF_F_NO_PREALLOC, "ferry_hash");
	if (bpf_arr < 0 || bpf_hash < 0)
		die("BPF_MAP_CREATE");
	for (uint32_t i = 0; i < 16; i++) {
		uint64_t v = (uint64_t)i * i + 7;

		if (map_op(BPF_MAP_UPDATE_ELEM, bpf_arr, &i, &v, BPF_ANY))
			die("array update");
	}
	for (uint64_t k = 0; k < 10; k++) {
		struct hval v = { k * 1000 + 1, ~k };
		uint64_t key = k * 0x10001 + 3;

		if (map_op(BPF_MAP_UPDATE_ELEM, bpf_hash, &key, &v, BPF_NOEXIST))
			die("hash update");
	}
	memset(&a, 0, sizeof(a));
	a.map_fd = (uint32_t)bpf_arr;
	if (sys_bpf(BPF_MAP_FREEZE, &a))
		die("BPF_MAP_FREEZE");
	if (map_info(bpf_hash, &mi))
		die("map info");
	memset(&a, 0, sizeof(a));
	a.map_id = mi.id;
	bpf_hash2 = (int)sys_bpf(BPF_MAP_GET_FD_BY_ID, &a);
	if (bpf_hash2 < 0)
		die("BPF_MAP_GET_FD_BY_ID");
	snprintf(info, len, "fds %d %d %d", bpf_arr, bpf_hash, bpf_hash2);
}

static void check_map(int fd, uint32_t type, uint32_t ks, uint32_t vs, uint32_t max, uint32_t flags,
		      const char *name, uint32_t *id)
{
	struct bpf_map_info mi;

	if (map_info(fd, &mi)) {
		fail("fd %d: BPF_OBJ_GET_INFO_BY_FD: %s", fd, strerror(errno));
		return;
	}
	if (mi.type != type || mi.key_size != ks || mi.value_size != vs || mi.max_entries != max ||
	    mi.map_flags != flags || strcmp(mi.name, name))
		fail("fd %d: map type %u sizes %u/%u max %u flags %#x name '%s'", fd, mi.type,
		     mi.key_size, mi.value_size, mi.max_entries, mi.map_flags, mi.name);
	*id = mi.id;
}

static void verify_bpfmap(void)
{
	uint32_t id1, id2, id3, n = 0;
	uint64_t key, v8 = 99;
	struct hval v;

	check_map(bpf_arr, BPF_MAP_TYPE_ARRAY, 4, 8, 16, 0, "ferry_arr", &id1);
	check_map(bpf_hash, BPF_MAP_TYPE_HASH, 8, 16, 64, BPF_F_NO_PREALLOC, "ferry_hash", &id2);
	check_map(bpf_hash2, BPF_MAP_TYPE_HASH, 8, 16, 64, BPF_F_NO_PREALLOC, "ferry_hash", &id3);
	if (id2 != id3)
		fail("the two hash fds are on maps %u and %u", id2, id3);
	for (uint32_t i = 0; i < 16; i++) {
		uint64_t got = 0;

		if (map_op(BPF_MAP_LOOKUP_ELEM, bpf_arr, &i, &got, 0) || got != (uint64_t)i * i + 7)
			fail("array[%u] = %llu", i, (unsigned long long)got);
	}
	n = 0;
	if (!map_op(BPF_MAP_UPDATE_ELEM, bpf_arr, &n, &v8, BPF_ANY) || errno != EPERM)
		fail("an update of the frozen array: %s", strerror(errno));
	for (uint64_t k = 0; k < 10; k++) {
		key = k * 0x10001 + 3;
		memset(&v, 0, sizeof(v));
		if (map_op(BPF_MAP_LOOKUP_ELEM, bpf_hash, &key, &v, 0) || v.a != k * 1000 + 1 ||
		    v.b != ~k)
			fail("hash[%#llx] = %llu %#llx", (unsigned long long)key,
			     (unsigned long long)v.a, (unsigned long long)v.b);
	}
	/* Nothing else in it. */
	n = 0;
	for (int first = 1;; first = 0) {
		uint64_t next;

		if (map_op(BPF_MAP_GET_NEXT_KEY, bpf_hash2, first ? NULL : &key, &next, 0))
			break;
		key = next;
		n++;
	}
	if (n != 10 + (got == SIGUSR2))
		fail("the hash holds %u elements", n);
}

static void final_bpfmap(void)
{
	uint64_t key = 0xabc, gone = 3;
	struct hval v = { 42, 43 }, w = { 0, 0 };

	if (map_op(BPF_MAP_UPDATE_ELEM, bpf_hash, &key, &v, BPF_NOEXIST) ||
	    map_op(BPF_MAP_LOOKUP_ELEM, bpf_hash2, &key, &w, 0) || w.a != 42 || w.b != 43)
		fail("an element added through one hash fd: %s", strerror(errno));
	if (map_op(BPF_MAP_DELETE_ELEM, bpf_hash2, &gone, NULL, 0))
		fail("delete: %s", strerror(errno));
	else if (!map_op(BPF_MAP_LOOKUP_ELEM, bpf_hash, &gone, &w, 0))
		fail("a deleted element is still there");
	w = (struct hval){ 1, ~0ull }; /* key 3 is element 0 */
	if (map_op(BPF_MAP_UPDATE_ELEM, bpf_hash, &gone, &w, BPF_NOEXIST))
		fail("put back: %s", strerror(errno));
	verify_bpfmap();
}

static int bpf_pcpu = -1, bpf_prog = -1;

static void setup_bpf_other(char *info, size_t len)
{
	struct bpf_insn insns[2];
	union bpf_attr a;

	bpf_pcpu = map_create(BPF_MAP_TYPE_PERCPU_ARRAY, 4, 8, 4, 0, "ferry_pcpu");
	memset(insns, 0, sizeof(insns));
	insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K; /* r0 = 0 */
	insns[1].code = BPF_JMP | BPF_EXIT;
	memset(&a, 0, sizeof(a));
	a.prog_type = BPF_PROG_TYPE_SOCKET_FILTER;
	a.insns = (uint64_t)(uintptr_t)insns;
	a.insn_cnt = 2;
	a.license = (uint64_t)(uintptr_t) "GPL";
	bpf_prog = (int)sys_bpf(BPF_PROG_LOAD, &a);
	if (bpf_pcpu < 0 || bpf_prog < 0)
		die("bpf");
	snprintf(info, len, "map %d prog %d", bpf_pcpu, bpf_prog);
}

static void verify_bpf_other(void)
{
	if (fcntl(bpf_pcpu, F_GETFD) < 0 || fcntl(bpf_prog, F_GETFD) < 0)
		fail("an fd is gone");
}

/* ---- procfile ---- */
static pid_t proc_child;

static void setup_procfile(char *info, size_t len)
{
	struct timespec tick = { 0, 100 * 1000 * 1000 };
	char path[64];
	int ready[2], fd;
	pid_t root = getpid();
	char c;

	if (pipe(ready))
		die("pipe");
	proc_child = fork();
	if (proc_child < 0)
		die("fork");
	if (!proc_child) {
		snprintf(path, sizeof(path), "/proc/%d/status", root);
		fd = open(path, O_RDONLY);
		if (fd < 0 || dup2(fd, 7) != 7 || lseek(7, 10, SEEK_SET) != 10)
			die("child: open its parent's status");
		close(fd);
		if (write(ready[1], "r", 1) != 1)
			die("child: ready");
		while (getppid() == root)
			nanosleep(&tick, NULL);
		_exit(0);
	}
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1)
		die("child not ready");
	close(ready[0]);
	snprintf(path, sizeof(path), "/proc/%d/stat", root);
	fd = open(path, O_RDONLY);
	if (fd < 0 || dup2(fd, 8) != 8)
		die("open its own stat");
	close(fd);
	snprintf(info, len, "child %d", proc_child);
}

static void verify_procfile(void)
{
	char path[64], link[128], want[64], buf[4096];
	long long pos = -1;
	ssize_t n;
	FILE *f;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/fd/7", proc_child);
	n = readlink(path, link, sizeof(link) - 1);
	link[n > 0 ? n : 0] = '\0';
	snprintf(want, sizeof(want), "/proc/%d/status", getpid());
	if (strcmp(link, want))
		fail("the child's fd 7 is '%s', not '%s'", link, want);
	snprintf(path, sizeof(path), "/proc/%d/fdinfo/7", proc_child);
	f = fopen(path, "r");
	if (!f || fscanf(f, "pos: %lld", &pos) != 1 || pos != 10)
		fail("the child's fd 7 is at offset %lld, not 10", pos);
	if (f)
		fclose(f);
	snprintf(path, sizeof(path), "/proc/%d/fd/7", proc_child);
	fd = open(path, O_RDONLY);
	n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
	buf[n > 0 ? n : 0] = '\0';
	snprintf(want, sizeof(want), "\nPid:\t%d\n", getpid());
	if (!strstr(buf, want))
		fail("the child's fd 7, opened again, is not the root's status: %.80s", buf);
	if (fd >= 0)
		close(fd);
	n = pread(8, buf, sizeof(buf) - 1, 0);
	buf[n > 0 ? n : 0] = '\0';
	snprintf(want, sizeof(want), "%d (kept) ", getpid());
	if (strncmp(buf, want, strlen(want)))
		fail("its fd 8 reads '%.40s', not its own stat", buf);
}

static int procout_fd = -1;

static void setup_procfile_out(char *info, size_t len)
{
	char path[64];

	snprintf(path, sizeof(path), "/proc/%d/status", getppid());
	procout_fd = open(path, O_RDONLY);
	if (procout_fd < 0)
		die("open its parent's status");
	snprintf(info, len, "parent %d fd %d", getppid(), procout_fd);
}

static void verify_procfile_out(void)
{
	if (fcntl(procout_fd, F_GETFD) < 0)
		fail("its fd is gone");
}

/* ---- aio ---- */
static aio_context_t aio_ctx;

/* Submit a read of 16 bytes of the workload's own binary; 1 if submitted. */
static int aio_read_one(void)
{
	static char buf[16];
	struct iocb cb, *cbs[1] = { &cb };
	int fd = open("/proc/self/exe", O_RDONLY), ok; /* a regular file: procfs has no AIO */

	memset(&cb, 0, sizeof(cb));
	cb.aio_lio_opcode = IOCB_CMD_PREAD;
	cb.aio_fildes = (uint32_t)fd;
	cb.aio_buf = (uint64_t)(uintptr_t)buf;
	cb.aio_nbytes = sizeof(buf);
	ok = fd >= 0 && syscall(SYS_io_submit, aio_ctx, 1, cbs) == 1;
	if (fd >= 0)
		close(fd);
	return ok;
}

static int aio_reap_one(void)
{
	struct io_event ev;
	struct timespec ts = { 3, 0 };

	return syscall(SYS_io_getevents, aio_ctx, 1, 1, &ev, &ts) == 1 && ev.res == 16;
}

static void setup_aio(int pending, char *info, size_t len)
{
	if (syscall(SYS_io_setup, 8, &aio_ctx))
		die("io_setup");
	if (!aio_read_one() || !aio_reap_one())
		die("a first read");
	if (pending) {
		struct timespec ms = { 0, 100 * 1000 * 1000 };

		if (!aio_read_one())
			die("a pending read");
		nanosleep(&ms, NULL); /* completed, not reaped */
	}
	snprintf(info, len, "ctx %#llx", (unsigned long long)aio_ctx);
}

/* The ring is mapped at the context's id. */
static void aio_mapped(void)
{
	char line[512], want[64];
	int found = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	snprintf(want, sizeof(want), "%llx-", (unsigned long long)aio_ctx);
	while (f && fgets(line, sizeof(line), f))
		found |= !strncmp(line, want, strlen(want)) && strstr(line, "/[aio]");
	if (f)
		fclose(f);
	if (!found)
		fail("no AIO ring at %#llx", (unsigned long long)aio_ctx);
}

static void verify_aio(void)
{
	aio_mapped();
	if (!aio_read_one() || !aio_reap_one())
		fail("a read through the AIO context: %s", strerror(errno));
}

static void verify_aio_pending(void)
{
	aio_mapped();
	if (!aio_reap_one())
		fail("the completed read is gone: %s", strerror(errno));
	else if (!aio_read_one())
		fail("a new read: %s", strerror(errno)); /* pending again for the next check */
}

/* ---- novdso ---- */
/* Does /proc/self/maps name a vDSO or vvar mapping? Unmap them if @drop. */
static int vdso_mapped(int drop)
{
	char line[512];
	unsigned long a, b;
	int found = 0;
	FILE *f = fopen("/proc/self/maps", "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (!strstr(line, "[vdso]") && !strstr(line, "[vvar"))
			continue;
		found = 1;
		if (drop && sscanf(line, "%lx-%lx", &a, &b) == 2 && munmap((void *)a, b - a))
			die("munmap");
	}
	if (f)
		fclose(f);
	return found;
}

static void setup_novdso(char *info, size_t len)
{
	/* No clock_gettime() from here on: it would jump into the vDSO. */
	vdso_mapped(1);
	snprintf(info, len, "no vdso");
}

static void verify_novdso(void)
{
	if (vdso_mapped(0))
		fail("a vDSO or vvar is mapped");
}

int main(int argc, char **argv)
{
	struct sigaction sa = { .sa_handler = on_sig };
	void (*verify)(void), (*final)(void);
	char info[1024] = "";
	sigset_t none;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc < 2)
		return 2;
	kind = argv[1];
	sigaction(SIGUSR1, &sa, NULL);
	sigaction(SIGUSR2, &sa, NULL);
	/* The signals only arrive inside sigsuspend(): none is lost between test and wait. */
	sigemptyset(&none);
	sigaddset(&none, SIGUSR1);
	sigaddset(&none, SIGUSR2);
	sigprocmask(SIG_BLOCK, &none, NULL);
	sigemptyset(&none);
	if (!strcmp(kind, "pidfd")) {
		setup_pidfd(info, sizeof(info));
		verify = verify_pidfd;
		final = final_pidfd;
	} else if (!strcmp(kind, "pidfd-out")) {
		setup_pidfd_out(info, sizeof(info));
		verify = final = verify_pidfd_out;
	} else if (!strcmp(kind, "gone") && argc > 2) {
		setup_gone(argv[2], info, sizeof(info));
		verify = verify_gone;
		final = final_gone;
	} else if (!strcmp(kind, "bpfmap")) {
		setup_bpfmap(info, sizeof(info));
		verify = verify_bpfmap;
		final = final_bpfmap;
	} else if (!strcmp(kind, "bpf-other")) {
		setup_bpf_other(info, sizeof(info));
		verify = final = verify_bpf_other;
	} else if (!strcmp(kind, "procfile")) {
		setup_procfile(info, sizeof(info));
		verify = final = verify_procfile;
	} else if (!strcmp(kind, "procfile-out")) {
		setup_procfile_out(info, sizeof(info));
		verify = final = verify_procfile_out;
	} else if (!strcmp(kind, "aio") || !strcmp(kind, "aio-pending")) {
		setup_aio(!strcmp(kind, "aio-pending"), info, sizeof(info));
		verify = final = kind[3] ? verify_aio_pending : verify_aio;
	} else if (!strcmp(kind, "novdso")) {
		setup_novdso(info, sizeof(info));
		verify = final = verify_novdso;
	} else {
		printf("kept: unknown kind %s\n", kind);
		return 2;
	}
	printf("kept: %s pid %d %s ready\n", kind, getpid(), info);
	for (;;) {
		while (!got)
			sigsuspend(&none);
		bad = 0;
		if (got == SIGUSR1)
			verify();
		else
			final();
		if (!bad)
			printf("kept: %s %s ok\n", kind, got == SIGUSR2 ? "final" : "verify");
		got = 0;
	}
}
