// SPDX-License-Identifier: MIT
/*
 * Attributes kept or refused by name (see dump_attrs.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "dump: "
#include "compat.h"
#include "dump_attrs.h"
#include "log.h"
#include "proc_parse.h"
#include "rsys.h"
#include "vma_status.h"

#define GUARD_VEC 64

/* prctl(PR_GET_THP_DISABLE) in the target: 1 disabled, 3 disabled except where advised. */
static int remote_thp_disable(pid_t pid, long *val)
{
	struct rsys r;
	int err = rsys_prepare(&r, pid);

	if (err)
		return err;
	err = rsys_call(&r, val, __NR_prctl, PR_GET_THP_DISABLE, 0, 0, 0, 0, 0);
	rsys_finish(&r);
	if (!err && *val < 0)
		err = (int)*val;
	if (err)
		pr_errno(err, "pid %d: cannot read its PR_GET_THP_DISABLE", pid);
	return err;
}

int dump_attrs_mm(pid_t pid, MmEntry *mm)
{
	long val = 0;
	int err = remote_thp_disable(pid, &val);

	if (err)
		return err;
	mm->has_thp_disabled = 1;
	mm->thp_disabled = val & 1; /* more than that was refused by dump_attrs_check() */
	return 0;
}

/*
 * smaps' VmFlags, the part a dump needs: "lf" (locked on fault) and "dp"
 * (MAP_DROPPABLE; the kernel's bit for it moves between configs). Reading
 * smaps walks the page tables of every VMA, a cost that grows with memory
 * (30-50 ms per GiB on these loaded VMs): the BPF iterator's vm_flags serve
 * instead where VM_DROPPABLE's bit could be learnt (droppable_bit), and while
 * the tree is frozen (dump_attrs_cache) each process's list is read once.
 */
struct smaps_vma {
	uint64_t start, end;
	unsigned lf : 1, dp : 1;
};

struct smaps_entry {
	pid_t pid;
	struct smaps_vma *v;
	size_t n;
};

static struct {
	int on;
	struct smaps_entry *e;
	size_t n;
} cache;

static int smaps_read(pid_t pid, struct smaps_vma **out, size_t *nr)
{
	char path[64], line[1024];
	struct smaps_vma *v = NULL;
	size_t n = 0, cap = 0;
	int err = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	f = fopen(path, "re");
	if (!f) {
		err = -errno;
		pr_perror("pid %d: cannot open %s", pid, path);
		return err;
	}
	while (!err && fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		char perms[8];

		if (sscanf(line, "%lx-%lx %7s", &s, &e, perms) == 3 && strlen(perms) == 4) {
			if (n == cap) {
				struct smaps_vma *m = realloc(v, (cap ? 2 * cap : 64) * sizeof(*m));

				if (!m) {
					err = -ENOMEM;
					break;
				}
				v = m;
				cap = cap ? 2 * cap : 64;
			}
			v[n++] = (struct smaps_vma){ .start = s, .end = e };
			continue;
		}
		if (n && !strncmp(line, "VmFlags:", 8)) {
			v[n - 1].lf = !!strstr(line, " lf");
			v[n - 1].dp = !!strstr(line, " dp");
		}
	}
	fclose(f);
	if (err) {
		free(v);
		return err;
	}
	*out = v;
	*nr = n;
	return 0;
}

/*
 * The BPF VMA iterator gives the whole vm_flags without walking page tables.
 * VM_LOCKONFAULT is a fixed low bit; VM_DROPPABLE's bit depends on the
 * kernel's config, so it is learnt once: a MAP_DROPPABLE mapping of ferry's
 * own against a plain one, the one high bit that differs. 1 if it is known
 * (*@bit; 0 where the kernel has no MAP_DROPPABLE), else 0: read smaps.
 */
static int droppable_bit(uint64_t *bit)
{
	static int state; /* 0 not probed, 1 known, -1 unknown */
	static uint64_t known;
	uint64_t fd = 0, fp = 0, diff;
	struct vma_rec *v = NULL;
	size_t n = 0;
	void *d, *pl;
	int used = 0;

	if (state) {
		*bit = known;
		return state > 0;
	}
	state = -1;
	d = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_DROPPABLE | MAP_ANONYMOUS, -1, 0);
	if (d == MAP_FAILED) {
		if (errno == EINVAL) /* before 6.11: no droppable mappings to find */
			state = 1;
		*bit = known = 0;
		return state > 0;
	}
	pl = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (pl != MAP_FAILED && !proc_read_vmas(getpid(), &v, &n, &used) && used) {
		for (size_t i = 0; i < n; i++) {
			if (v[i].start <= (uintptr_t)d && (uintptr_t)d < v[i].end)
				fd = v[i].vm_flags;
			if (v[i].start <= (uintptr_t)pl && (uintptr_t)pl < v[i].end)
				fp = v[i].vm_flags;
		}
		diff = (fd ^ fp) & ~0xffffffffull;
		if (fd && fp && diff && !(diff & (diff - 1))) {
			known = diff;
			state = 1;
		}
	}
	free(v);
	munmap(d, 4096);
	if (pl != MAP_FAILED)
		munmap(pl, 4096);
	pr_debug("VM_DROPPABLE in the iterator's vm_flags: %s %#llx", state > 0 ? "bit" : "unknown",
		 (unsigned long long)known);
	*bit = known;
	return state > 0;
}

/* The VMAs of @pid from the BPF iterator; -ENOENT when smaps must be read. */
static int vmas_read(pid_t pid, struct smaps_vma **out, size_t *nr)
{
	struct vma_rec *v = NULL;
	uint64_t dp;
	size_t n = 0;
	int used = 0, err;

	if (!droppable_bit(&dp))
		return -ENOENT;
	err = proc_read_vmas(pid, &v, &n, &used);
	if (!err && !used)
		err = -ENOENT;
	if (!err) {
		*out = calloc(n ? n : 1, sizeof(**out));
		if (!*out)
			err = -ENOMEM;
	}
	for (size_t i = 0; !err && i < n; i++)
		(*out)[i] = (struct smaps_vma){ .start = v[i].start,
						.end = v[i].end,
						.lf = !!(v[i].vm_flags & PROC_VM_LOCKONFAULT),
						.dp = dp && (v[i].vm_flags & dp) };
	if (!err)
		*nr = n;
	free(v);
	return err;
}

/* The VMAs of @pid: cached (*@owned NULL) or freshly read (free *@owned). */
static int smaps_get(pid_t pid, const struct smaps_vma **v, size_t *n, struct smaps_vma **owned)
{
	struct smaps_vma *r;
	size_t nr;
	int err;

	*owned = NULL;
	for (size_t i = 0; cache.on && i < cache.n; i++)
		if (cache.e[i].pid == pid) {
			*v = cache.e[i].v;
			*n = cache.e[i].n;
			return 0;
		}
	err = vmas_read(pid, &r, &nr);
	if (err == -ENOENT)
		err = smaps_read(pid, &r, &nr);
	if (err)
		return err;
	if (cache.on) {
		struct smaps_entry *e = realloc(cache.e, (cache.n + 1) * sizeof(*e));

		if (e) {
			cache.e = e;
			cache.e[cache.n++] = (struct smaps_entry){ .pid = pid, .v = r, .n = nr };
			*v = r;
			*n = nr;
			return 0;
		}
	}
	*owned = r;
	*v = r;
	*n = nr;
	return 0;
}

void dump_attrs_cache(int on)
{
	for (size_t i = 0; i < cache.n; i++)
		free(cache.e[i].v);
	free(cache.e);
	cache.e = NULL;
	cache.n = 0;
	cache.on = on;
}

/*
 * What smaps' VmFlags say that cannot be kept: a range locked on fault
 * (mlock2(MLOCK_ONFAULT), mlockall(MCL_ONFAULT): "lf"; no image field says
 * so, and an mlock() would fault it all in).
 */
static int check_smaps_flags(pid_t pid, int *refused)
{
	const struct smaps_vma *v;
	struct smaps_vma *owned;
	size_t n;
	int err = smaps_get(pid, &v, &n, &owned);

	for (size_t i = 0; !err && i < n; i++) {
		if (!v[i].lf)
			continue;
		pr_err("pid %d: VMA %#llx-%#llx is locked on fault (mlock2 MLOCK_ONFAULT or "
		       "mlockall MCL_ONFAULT); not supported",
		       pid, (unsigned long long)v[i].start, (unsigned long long)v[i].end);
		*refused = 1;
	}
	free(owned);
	return err;
}

int dump_attrs_droppable(pid_t pid, uint64_t **starts, size_t *nr)
{
	const struct smaps_vma *v;
	struct smaps_vma *owned;
	uint64_t *out = NULL;
	size_t n, k = 0;
	int err;

	*starts = NULL;
	*nr = 0;
	err = smaps_get(pid, &v, &n, &owned);
	if (err)
		return err;
	for (size_t i = 0; i < n; i++)
		k += v[i].dp;
	if (k) {
		out = malloc(k * sizeof(*out));
		if (!out) {
			free(owned);
			return -ENOMEM;
		}
		k = 0;
		for (size_t i = 0; i < n; i++)
			if (v[i].dp)
				out[k++] = v[i].start;
	}
	free(owned);
	*starts = out;
	*nr = k;
	return 0;
}

/*
 * VmLck of @pid in KiB (mm->locked_vm), or -errno. Read, not smaps: smaps
 * walks the page tables of every VMA (its cost grows with memory, inside the
 * frozen window).
 */
static long vm_lck_kib(pid_t pid)
{
	char path[64], line[256];
	long kib = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f)
		return -errno;
	while (kib < 0 && fgets(line, sizeof(line), f))
		if (sscanf(line, "VmLck: %ld kB", &kib) != 1)
			kib = -ENOENT;
	fclose(f);
	return kib;
}

/*
 * mlockall(MCL_FUTURE) locks every mapping made after it (mm->def_flags), a
 * state /proc does not show: a page mapped in the target for a moment says.
 * Also PR_SET_THP_DISABLE with PR_THP_DISABLE_EXCEPT_ADVISED (6.18), which
 * mm-PID.img's thp_disabled cannot tell from a plain one.
 */
static int check_remote(pid_t pid, int *refused)
{
	struct rsys r;
	long addr = 0, thp = 0, lck;
	int err, locked = 0;

	err = remote_thp_disable(pid, &thp);
	if (err)
		return err;
	if (thp & ~1L) {
		pr_err("pid %d: has THP disabled except where advised (PR_SET_THP_DISABLE with "
		       "PR_THP_DISABLE_EXCEPT_ADVISED, PR_GET_THP_DISABLE %ld); not supported",
		       pid, thp);
		*refused = 1;
	}
	err = rsys_prepare(&r, pid);
	if (err)
		return err;
	/* A mapping made under mlockall(MCL_FUTURE) is VM_LOCKED: it adds to VmLck. */
	lck = vm_lck_kib(pid);
	err = rsys_call(&r, &addr, __NR_mmap, 0, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS,
			(uint64_t)-1, 0);
	if (!err && addr < 0 && addr > -4096)
		err = (int)addr;
	if (!err) {
		long ret = 0, now = vm_lck_kib(pid);

		locked = lck < 0 ? (int)lck : now < 0 ? (int)now : now > lck;
		err = rsys_call(&r, &ret, __NR_munmap, (uint64_t)addr, 4096, 0, 0, 0, 0);
		if (!err && ret)
			err = (int)ret;
	}
	rsys_finish(&r);
	if (err) {
		pr_errno(err,
			 "pid %d: cannot map a probe page to see if mlockall(MCL_FUTURE) is on",
			 pid);
		return err;
	}
	if (locked < 0)
		return locked;
	if (locked) {
		pr_err("pid %d: has mlockall(MCL_FUTURE) in effect (new mappings are locked); "
		       "not supported",
		       pid);
		*refused = 1;
	}
	return 0;
}

/*
 * Guard regions (MADV_GUARD_INSTALL, 6.13+) live in page tables, not in
 * VMAs: PAGEMAP_SCAN reports them as PAGE_IS_GUARD (6.14+). A kernel whose
 * PAGEMAP_SCAN knows no such category has no guard regions to lose.
 */
int dump_attrs_guards(pid_t pid, VmaEntry **out, size_t *nr)
{
	struct page_region vec[GUARD_VEC];
	struct pm_scan_arg arg;
	VmaEntry *g = NULL;
	char path[64];
	uint64_t start = 0, end = 0x7ffffffff000ull; /* x86_64 TASK_SIZE (4-level) */
	size_t n = 0, cap = 0;
	int fd, err = 0;

	*out = NULL;
	*nr = 0;
	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		pr_perror("pid %d: cannot open %s", pid, path);
		return err;
	}
	while (!err && start < end) {
		long got;

		memset(&arg, 0, sizeof(arg));
		arg.size = sizeof(arg);
		arg.start = start;
		arg.end = end;
		arg.vec = (uint64_t)(uintptr_t)vec;
		arg.vec_len = GUARD_VEC;
		arg.category_mask = PAGE_IS_GUARD;
		arg.return_mask = PAGE_IS_GUARD;
		got = ioctl(fd, PAGEMAP_SCAN, &arg);
		if (got < 0) {
			err = errno == EINVAL || errno == ENOTTY ? 0 : -errno;
			if (err)
				pr_perror("pid %d: PAGEMAP_SCAN for guard regions at %#llx", pid,
					  (unsigned long long)start);
			break;
		}
		for (long i = 0; i < got && !err; i++) {
			if (n == cap) {
				size_t ncap = cap ? 2 * cap : 16;
				VmaEntry *m = realloc(g, ncap * sizeof(*m));

				if (!m) {
					err = -ENOMEM;
					break;
				}
				g = m;
				cap = ncap;
			}
			/* CRIU 4.2's form: a vma_entry with only VMA_AREA_GUARD set. */
			vma_entry__init(&g[n]);
			g[n].start = vec[i].start;
			g[n].end = vec[i].end;
			g[n].status = VMA_AREA_GUARD;
			g[n].fd = -1;
			pr_debug("pid %d: guard region %#llx-%#llx", pid,
				 (unsigned long long)vec[i].start, (unsigned long long)vec[i].end);
			n++;
		}
		if (arg.walk_end <= start)
			break;
		start = arg.walk_end;
	}
	close(fd);
	if (err) {
		free(g);
		return err;
	}
	*out = g;
	*nr = n;
	return 0;
}

/* unshare(CLONE_NEWTIME) makes a time namespace for the children to come, not for itself. */
static int check_timens(pid_t pid, int *refused)
{
	char path[64];
	struct stat now, kids;

	snprintf(path, sizeof(path), "/proc/%d/ns/time", pid);
	if (stat(path, &now)) {
		if (errno == ENOENT)
			return 0; /* no time namespaces in this kernel */
		pr_perror("pid %d: cannot stat %s", pid, path);
		return -errno;
	}
	snprintf(path, sizeof(path), "/proc/%d/ns/time_for_children", pid);
	if (stat(path, &kids)) {
		pr_perror("pid %d: cannot stat %s", pid, path);
		return -errno;
	}
	if (now.st_ino != kids.st_ino || now.st_dev != kids.st_dev) {
		pr_err("pid %d: has a new time namespace pending for its children "
		       "(unshare(CLONE_NEWTIME), time_for_children:[%lu]); time namespaces are "
		       "not supported",
		       pid, (unsigned long)kids.st_ino);
		*refused = 1;
	}
	return 0;
}

int dump_attrs_check(const struct pproc *p)
{
	int refused = 0, err;

	err = check_smaps_flags(p->pid, &refused);
	if (!err)
		err = check_remote(p->pid, &refused);
	if (!err)
		err = check_timens(p->pid, &refused);
	if (err)
		return err;
	return refused ? -ENOTSUP : 0;
}
