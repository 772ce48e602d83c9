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
#include <sys/stat.h>
#include <unistd.h>

#define LOG_PREFIX "dump: "
#include "compat.h"
#include "dump_attrs.h"
#include "log.h"

#define GUARD_VEC 64

int dump_attrs_mm(pid_t pid, MmEntry *mm)
{
	char path[64], line[256];
	int err = -ENOENT;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/status", pid);
	f = fopen(path, "re");
	if (!f) {
		err = -errno;
		pr_perror("pid %d: cannot open %s", pid, path);
		return err;
	}
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "THP_enabled:", 12)) {
			/* 0 after prctl(PR_SET_THP_DISABLE, 1) */
			mm->has_thp_disabled = 1;
			mm->thp_disabled = strtol(line + 12, NULL, 10) == 0;
			err = 0;
			break;
		}
	fclose(f);
	if (err)
		pr_err("pid %d: no THP_enabled line in %s", pid, path);
	return err;
}

/* Mappings the kernel may drop under memory pressure (MAP_DROPPABLE, 6.11+): smaps says "dp". */
static int check_droppable(pid_t pid, int *refused)
{
	char path[64], line[1024];
	unsigned long start = 0, end = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps", pid);
	f = fopen(path, "re");
	if (!f) {
		int err = -errno;

		pr_perror("pid %d: cannot open %s", pid, path);
		return err;
	}
	while (fgets(line, sizeof(line), f)) {
		unsigned long s, e;
		char perms[8];

		if (sscanf(line, "%lx-%lx %7s", &s, &e, perms) == 3 && strlen(perms) == 4) {
			start = s;
			end = e;
			continue;
		}
		if (strncmp(line, "VmFlags:", 8) || !strstr(line, " dp"))
			continue;
		pr_err("pid %d: VMA %#lx-%#lx is a droppable mapping (MAP_DROPPABLE); not "
		       "supported: its contents may be dropped by the kernel at any time",
		       pid, start, end);
		*refused = 1;
	}
	fclose(f);
	return 0;
}

/*
 * Guard regions (MADV_GUARD_INSTALL, 6.13+) live in page tables, not in
 * VMAs: PAGEMAP_SCAN reports them as PAGE_IS_GUARD (6.14+). A kernel whose
 * PAGEMAP_SCAN knows no such category has no guard regions to lose.
 */
static int check_guards(pid_t pid, int *refused)
{
	struct page_region vec[GUARD_VEC];
	struct pm_scan_arg arg;
	char path[64];
	uint64_t start = 0, end = 0x7ffffffff000ull; /* x86_64 TASK_SIZE (4-level) */
	int fd, err = 0;

	snprintf(path, sizeof(path), "/proc/%d/pagemap", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		pr_perror("pid %d: cannot open %s", pid, path);
		return err;
	}
	while (start < end) {
		long n;

		memset(&arg, 0, sizeof(arg));
		arg.size = sizeof(arg);
		arg.start = start;
		arg.end = end;
		arg.vec = (uint64_t)(uintptr_t)vec;
		arg.vec_len = GUARD_VEC;
		arg.category_mask = PAGE_IS_GUARD;
		arg.return_mask = PAGE_IS_GUARD;
		n = ioctl(fd, PAGEMAP_SCAN, &arg);
		if (n < 0) {
			err = errno == EINVAL || errno == ENOTTY ? 0 : -errno;
			if (err)
				pr_perror("pid %d: PAGEMAP_SCAN for guard regions at %#llx", pid,
					  (unsigned long long)start);
			break;
		}
		for (long i = 0; i < n; i++) {
			pr_err("pid %d: guard region (MADV_GUARD_INSTALL) at %#llx-%#llx; not "
			       "supported: it would come back as plain memory",
			       pid, (unsigned long long)vec[i].start,
			       (unsigned long long)vec[i].end);
			*refused = 1;
		}
		if (arg.walk_end <= start)
			break;
		start = arg.walk_end;
	}
	close(fd);
	return err;
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

	err = check_droppable(p->pid, &refused);
	if (!err)
		err = check_guards(p->pid, &refused);
	if (!err)
		err = check_timens(p->pid, &refused);
	if (err)
		return err;
	return refused ? -ENOTSUP : 0;
}
