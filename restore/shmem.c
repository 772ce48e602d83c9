// SPDX-License-Identifier: MIT
/*
 * Rebuild the shared memory objects of a dump and open them in the restored
 * processes (see shmem.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#define LOG_PREFIX "shmem: "
#include "log.h"
#include "mm.h"
#include "shmem.h"
#include "util.h"

/* Make object @s in ferry: a shared anonymous mapping, filled, kept as an fd. */
static int create_one(const struct rimg *r, struct rimg_shmem *s)
{
	uint8_t *base;
	char path[96];
	int err = 0;

	base = mmap(NULL, s->size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED) {
		err = -errno;
		pr_errno(err, "shmid %u: cannot map %llu bytes of shared memory", s->shmid,
			 (unsigned long long)s->size);
		return err;
	}
	for (size_t i = 0; i < s->nr_runs && !err; i++) {
		const struct rimg_page_run *run = &s->runs[i];
		size_t len = run->nr_pages * RT_PAGE, done = 0;

		err = pread_full(s->pages_fd, base + run->vaddr, len, run->file_off, &done);
		if (err)
			pr_errno(err,
				 "shmid %u: %s/pages-%u.img at offset %llu: read %zu of %zu bytes",
				 s->shmid, r->dir, s->pages_id, (unsigned long long)run->file_off,
				 done, len);
		else
			rmm_stats.pages_written += run->nr_pages;
	}
	if (!err) {
		snprintf(path, sizeof(path), "/proc/self/map_files/%lx-%lx",
			 (unsigned long)(uintptr_t)base, (unsigned long)(uintptr_t)base + s->size);
		s->fd = open(path, O_RDWR | O_CLOEXEC);
		if (s->fd < 0) {
			err = -errno;
			pr_errno(err, "shmid %u: cannot open %s", s->shmid, path);
		}
	}
	munmap(base, s->size);
	return err;
}

int rshmem_create(struct rimg *r)
{
	int err = 0;

	for (size_t i = 0; i < r->nr_shmem && !err; i++) {
		err = create_one(r, &r->shmem[i]);
		if (!err)
			pr_debug("shmid %u: %llu bytes, %zu run(s) from pages-%u.img, fd %d",
				 r->shmem[i].shmid, (unsigned long long)r->shmem[i].size,
				 r->shmem[i].nr_runs, r->shmem[i].pages_id, r->shmem[i].fd);
	}
	return err;
}

void rshmem_close(struct rimg *r)
{
	for (size_t i = 0; i < r->nr_shmem; i++) {
		if (r->shmem[i].fd >= 0)
			close(r->shmem[i].fd);
		r->shmem[i].fd = -1;
	}
}

int rshmem_open_in(struct rtask *t, const struct rimg *r, uint64_t shmid, int *fd)
{
	const struct rimg_shmem *s = NULL;
	char path[64];
	long ret = -1;
	int err;

	for (size_t i = 0; i < r->nr_shmem && !s; i++)
		if (r->shmem[i].shmid == shmid)
			s = &r->shmem[i];
	if (!s || s->fd < 0) {
		pr_err("pid %d: shared memory %llu was not rebuilt", t->pid,
		       (unsigned long long)shmid);
		return -ENOENT;
	}
	snprintf(path, sizeof(path), "/proc/%d/fd/%d", getpid(), s->fd);
	err = rt_put(t, 0, path, strlen(path) + 1);
	if (!err)
		err = rt_call(t, t->pid, "open(shared memory)", &ret, __NR_openat,
			      (uint64_t)(long)AT_FDCWD, rt_data(t, 0), O_RDWR | O_CLOEXEC, 0, 0, 0);
	if (err) {
		pr_err("pid %d: cannot open shared memory %llu through %s", t->pid,
		       (unsigned long long)shmid, path);
		return err;
	}
	*fd = (int)ret;
	return 0;
}
