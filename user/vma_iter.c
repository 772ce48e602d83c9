// SPDX-License-Identifier: MIT
/*
 * User side of bpf/vma_iter.bpf.c: load, point the iterator at one process
 * (link_info.task.pid), read the fixed-size records from the iterator fd.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define LOG_PREFIX "vma_iter: "
#include "bpflog.h"
#include "log.h"
#include "vma_iter.h"
#include "vma_iter.skel.h"

/* Read the whole iterator output; records may straddle read() boundaries. */
static int read_all(int fd, char **out, size_t *len)
{
	size_t cap = 64 * sizeof(struct vma_rec), used = 0;
	char *buf = malloc(cap), *nbuf;
	ssize_t got;
	int err;

	if (!buf)
		return -ENOMEM;
	for (;;) {
		if (cap - used < sizeof(struct vma_rec)) {
			nbuf = realloc(buf, cap * 2);
			if (!nbuf) {
				err = -ENOMEM;
				goto free_buf;
			}
			buf = nbuf;
			cap *= 2;
		}
		got = read(fd, buf + used, cap - used);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			err = -errno;
			goto free_buf;
		}
		if (got == 0)
			break;
		used += (size_t)got;
	}
	*out = buf;
	*len = used;
	return 0;

free_buf:
	free(buf);
	return err;
}

/*
 * With link_info.task.pid the kernel walks the process's tasks and skips
 * threads that share the leader's file table; a thread with its own would
 * repeat the same VMAs. Keep the records of the first task seen.
 */
static size_t keep_first_task(struct vma_rec *recs, size_t nr)
{
	size_t i, kept = 0;

	for (i = 0; i < nr; i++)
		if (recs[i].tid == recs[0].tid)
			recs[kept++] = recs[i];
	return kept;
}

/*
 * One loaded program serves every pid (targ_tgid 0: the link's pid selects
 * the task), so the CO-RE load, the costly part, is paid once per run and
 * can be done ahead, off the critical path (vma_iter_preload).
 */
static struct vma_iter_bpf *loaded;

int vma_iter_preload(void)
{
	struct vma_iter_bpf *skel;
	int err;

	if (loaded)
		return 0;
	bpflog_init();
	skel = vma_iter_bpf__open();
	if (!skel) {
		err = -errno;
		pr_warn("cannot open the task_vma iterator program: %s", strerror(-err));
		return err;
	}
	skel->rodata->targ_tgid = 0;
	err = vma_iter_bpf__load(skel);
	if (err) {
		pr_warn("cannot load the task_vma iterator program: %s", strerror(-err));
		vma_iter_bpf__destroy(skel);
		return err;
	}
	loaded = skel;
	return 0;
}

int vma_iter_loaded(void)
{
	return loaded != NULL;
}

void vma_iter_unload(void)
{
	vma_iter_bpf__destroy(loaded);
	loaded = NULL;
}

int vma_iter_read(pid_t pid, struct vma_rec **out, size_t *n)
{
	LIBBPF_OPTS(bpf_iter_attach_opts, opts);
	union bpf_iter_link_info linfo;
	struct bpf_link *link;
	char *buf = NULL;
	size_t len = 0;
	int iter_fd, err;

	err = vma_iter_preload();
	if (err)
		return err;

	memset(&linfo, 0, sizeof(linfo));
	linfo.task.pid = (__u32)pid;
	opts.link_info = &linfo;
	opts.link_info_len = sizeof(linfo);
	link = bpf_program__attach_iter(loaded->progs.vma_iter, &opts);
	if (!link) {
		err = -errno;
		pr_warn("pid %d: cannot attach the task_vma iterator: %s", (int)pid,
			strerror(-err));
		return err;
	}
	iter_fd = bpf_iter_create(bpf_link__fd(link));
	if (iter_fd < 0) {
		err = -errno;
		pr_errno(err, "pid %d: cannot create the task_vma iterator fd", (int)pid);
		goto detach;
	}
	err = read_all(iter_fd, &buf, &len);
	if (err) {
		pr_errno(err, "pid %d: reading iterator fd %d", (int)pid, iter_fd);
		goto close_iter;
	}
	if (len % sizeof(struct vma_rec)) {
		pr_err("pid %d: iterator returned %zu bytes, not a multiple of %zu", (int)pid, len,
		       sizeof(struct vma_rec));
		err = -EIO;
		free(buf);
		goto close_iter;
	}
	if (!len && kill(pid, 0) && errno == ESRCH) {
		/* The iterator walks no task for a pid that does not exist. */
		free(buf);
		err = -ESRCH;
		goto close_iter;
	}
	*n = keep_first_task((struct vma_rec *)buf, len / sizeof(struct vma_rec));
	*out = (struct vma_rec *)buf;
	pr_debug("pid %d: %zu VMAs", (int)pid, *n);
	err = 0;

close_iter:
	close(iter_fd);
detach:
	bpf_link__destroy(link);
	return err;
}
