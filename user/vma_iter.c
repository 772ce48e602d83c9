// SPDX-License-Identifier: MIT
/*
 * User side of bpf/vma_iter.bpf.c: load, point the iterator at one process
 * (link_info.task.pid), read the fixed-size records from the iterator fd.
 *
 * The program is loaded from its light skeleton first (vma_iter.lskel.h,
 * bpftool gen skeleton -L): a loader program run in the kernel applies the
 * CO-RE relocations against the kernel's own, already parsed BTF, so no BTF
 * is read in user space, and the offsets are those of the running kernel,
 * whichever it is. About 5 ms on the project's machines. Kernels without
 * kernel-side CO-RE (before 5.17), or FERRY_VMA_ITER_LIBBPF set, get the
 * libbpf skeleton (vma_iter.skel.h): libbpf parses /sys/kernel/btf/vmlinux
 * (several MB) and searches it for every relocated type, about 25 ms.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#define LOG_PREFIX "vma_iter: "
#include "bpflog.h"
#include "log.h"
#include "util.h"
#include "vma_iter.h"
#include "vma_iter.lskel.h"
#include "vma_iter.skel.h"

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
 * the task), so the load, the costly part, is paid once per run and can be
 * done ahead, off the critical path (vma_iter_preload). Exactly one of lskel
 * and skel is set while prog_fd >= 0; prog_fd belongs to it.
 */
static struct {
	struct vma_iter_lskel *lskel; /* kernel-side CO-RE */
	struct vma_iter_bpf *skel;    /* libbpf CO-RE, the fallback */
	int prog_fd;
} loaded = { .prog_fd = -1 };

/* The light skeleton. Quiet: on failure the caller falls back to load_skel(). */
static int load_lskel(void)
{
	struct vma_iter_lskel *skel;
	int err;

	skel = vma_iter_lskel__open();
	if (!skel)
		return -ENOMEM;
	skel->rodata->targ_tgid = 0;
	err = vma_iter_lskel__load(skel); /* -errno, or the loader program's error */
	if (err) {
		vma_iter_lskel__destroy(skel);
		return err;
	}
	loaded.lskel = skel;
	loaded.prog_fd = skel->progs.vma_iter.prog_fd;
	return 0;
}

static int load_skel(void)
{
	struct vma_iter_bpf *skel;
	int err;

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
	loaded.skel = skel;
	loaded.prog_fd = bpf_program__fd(skel->progs.vma_iter);
	return 0;
}

int vma_iter_preload(void)
{
	const char *how = "kernel-side CO-RE";
	int err = -ECANCELED;
	uint64_t t0;

	if (loaded.prog_fd >= 0)
		return 0;
	bpflog_init();
	t0 = mono_us();
	if (getenv("FERRY_VMA_ITER_LIBBPF"))
		pr_debug("FERRY_VMA_ITER_LIBBPF is set: light skeleton skipped");
	else
		err = load_lskel();
	if (err) {
		pr_debug("light skeleton not loaded (%s): falling back to libbpf CO-RE",
			 strerror(-err));
		how = "libbpf CO-RE, vmlinux BTF parsed";
		err = load_skel();
		if (err)
			return err;
	}
	pr_debug("task_vma iterator loaded in %.1f ms (%s), prog fd %d",
		 (double)(mono_us() - t0) / 1000.0, how, loaded.prog_fd);
	return 0;
}

int vma_iter_loaded(void)
{
	return loaded.prog_fd >= 0;
}

void vma_iter_unload(void)
{
	vma_iter_lskel__destroy(loaded.lskel);
	vma_iter_bpf__destroy(loaded.skel);
	loaded.lskel = NULL;
	loaded.skel = NULL;
	loaded.prog_fd = -1;
}

int vma_iter_read(pid_t pid, struct vma_rec **out, size_t *n)
{
	LIBBPF_OPTS(bpf_link_create_opts, opts);
	union bpf_iter_link_info linfo;
	char *buf = NULL;
	size_t len = 0;
	int link_fd, iter_fd, err;

	err = vma_iter_preload();
	if (err)
		return err;

	memset(&linfo, 0, sizeof(linfo));
	linfo.task.pid = (__u32)pid;
	opts.iter_info = &linfo;
	opts.iter_info_len = sizeof(linfo);
	link_fd = bpf_link_create(loaded.prog_fd, 0, BPF_TRACE_ITER, &opts);
	if (link_fd < 0) {
		err = -errno;
		pr_warn("pid %d: cannot attach the task_vma iterator (prog fd %d): %s", (int)pid,
			loaded.prog_fd, strerror(-err));
		return err;
	}
	iter_fd = bpf_iter_create(link_fd);
	if (iter_fd < 0) {
		err = -errno;
		pr_errno(err, "pid %d: cannot create the task_vma iterator fd from link fd %d",
			 (int)pid, link_fd);
		goto detach;
	}
	/* Records may straddle read() boundaries. */
	err = read_fd_all(iter_fd, &buf, &len, SIZE_MAX);
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
	close(link_fd);
	return err;
}
