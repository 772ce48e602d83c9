// SPDX-License-Identifier: MIT
/*
 * User side of the task_vma iterators (bpf/vma_iter_path.bpf.c,
 * bpf/vma_iter_ident.bpf.c): pick the variant this kernel's verifier takes,
 * point it at one process (link_info.task.pid), read the fixed-size records
 * from the iterator fd, and name the mapped files where the program could not.
 *
 * Light skeletons first (bpftool gen skeleton -L): a loader program run in
 * the kernel applies the CO-RE relocations against the kernel's own, already
 * parsed BTF, so no BTF is read in user space. About 5 ms here. Kernels
 * without kernel-side CO-RE (before 5.17), or FERRY_VMA_ITER_LIBBPF set, get
 * the libbpf skeletons: libbpf parses /sys/kernel/btf/vmlinux (several MB),
 * about 25 ms. FERRY_VMA_ITER_VARIANT=path|ident restricts the choice.
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
#include "vma_iter_ident.lskel.h"
#include "vma_iter_ident.skel.h"
#include "vma_iter_path.lskel.h"
#include "vma_iter_path.skel.h"

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

struct variant;

/*
 * One loaded program serves every pid (targ_tgid 0: the link's pid selects
 * the task), so the load, the costly part, is paid once per run and can be
 * done ahead, off the critical path (vma_iter_preload). At most one skeleton
 * is set while prog_fd >= 0; prog_fd belongs to it.
 */
static struct {
	struct vma_iter_path_lskel *path_lskel;
	struct vma_iter_path_bpf *path_skel;
	struct vma_iter_ident_lskel *ident_lskel;
	struct vma_iter_ident_bpf *ident_skel;
	const struct variant *variant;
	int prog_fd;
	int failed; /* every variant was tried and refused: do not try again this run */
} loaded = { .prog_fd = -1 };

/*
 * One loader per (program, skeleton kind). -errno, or the loader program's
 * error for a light skeleton. Quiet: vma_iter_preload says what it chose.
 */
#define LOAD_LSKEL(prog)                                        \
	static int load_##prog##_lskel(void)                    \
	{                                                       \
		struct vma_iter_##prog##_lskel *skel;           \
		int err;                                        \
                                                                \
		skel = vma_iter_##prog##_lskel__open();         \
		if (!skel)                                      \
			return -ENOMEM;                         \
		skel->rodata->targ_tgid = 0;                    \
		err = vma_iter_##prog##_lskel__load(skel);      \
		if (err) {                                      \
			vma_iter_##prog##_lskel__destroy(skel); \
			return err < 0 ? err : -EINVAL;         \
		}                                               \
		loaded.prog##_lskel = skel;                     \
		loaded.prog_fd = skel->progs.vma_iter.prog_fd;  \
		return 0;                                       \
	}
#define LOAD_SKEL(prog)                                                 \
	static int load_##prog##_skel(void)                             \
	{                                                               \
		struct vma_iter_##prog##_bpf *skel;                     \
		int err;                                                \
                                                                        \
		skel = vma_iter_##prog##_bpf__open();                   \
		if (!skel)                                              \
			return -errno;                                  \
		skel->rodata->targ_tgid = 0;                            \
		err = vma_iter_##prog##_bpf__load(skel);                \
		if (err) {                                              \
			vma_iter_##prog##_bpf__destroy(skel);           \
			return err;                                     \
		}                                                       \
		loaded.prog##_skel = skel;                              \
		loaded.prog_fd = bpf_program__fd(skel->progs.vma_iter); \
		return 0;                                               \
	}
LOAD_LSKEL(path)
LOAD_LSKEL(ident)
LOAD_SKEL(path)
LOAD_SKEL(ident)

/*
 * The variants, best first. "path" names each file in the kernel
 * (bpf_d_path); "ident" reports the file's identity and the path is read from
 * /proc/PID/map_files/ (one readlink per distinct file). A verifier may take
 * one and refuse the other: 6.18.44 refuses bpf_d_path on a VMA's file since
 * 2026-12. Each comes as a light skeleton (the kernel does the CO-RE
 * relocations: ~5 ms) and as a libbpf skeleton (libbpf parses the kernel's
 * BTF: ~25 ms) for kernels without kernel-side CO-RE (before 5.17).
 */
static const struct variant {
	const char *name;
	const char *program;
	int light;
	int user_paths;
	int (*load)(void);
} variants[] = {
	{ "path", "vma_iter_path (bpf_d_path)", 1, 0, load_path_lskel },
	{ "ident", "vma_iter_ident (paths from /proc/PID/map_files)", 1, 1, load_ident_lskel },
	{ "path", "vma_iter_path (bpf_d_path)", 0, 0, load_path_skel },
	{ "ident", "vma_iter_ident (paths from /proc/PID/map_files)", 0, 1, load_ident_skel },
};

#define NR_VARIANTS (sizeof(variants) / sizeof(variants[0]))

int vma_iter_preload_variant(const char *only)
{
	char why[256] = "";
	const struct variant *v;
	size_t i, off = 0;
	uint64_t t0;
	int err = -ENOENT, tried = 0;

	if (loaded.prog_fd >= 0)
		return 0;
	if (loaded.failed && !only)
		return loaded.failed;
	bpflog_init();
	if (!only)
		only = getenv("FERRY_VMA_ITER_VARIANT");
	for (i = 0; i < NR_VARIANTS; i++) {
		v = &variants[i];
		if (only && *only && strcmp(only, v->name))
			continue;
		if (v->light && getenv("FERRY_VMA_ITER_LIBBPF"))
			continue;
		t0 = mono_us();
		err = v->load();
		tried++;
		if (!err) {
			loaded.variant = v;
			pr_debug("task_vma iterator %s loaded in %.1f ms (%s), prog fd %d",
				 v->program, (double)(mono_us() - t0) / 1000.0,
				 v->light ? "kernel-side CO-RE" : "libbpf CO-RE", loaded.prog_fd);
			return 0;
		}
		pr_debug("task_vma iterator %s (%s) not loaded: %s", v->program,
			 v->light ? "light skeleton" : "libbpf skeleton", strerror(-err));
		if (off < sizeof(why))
			off += (size_t)snprintf(why + off, sizeof(why) - off, "%s%s/%s: %s",
						off ? "; " : "", v->name,
						v->light ? "light" : "libbpf", strerror(-err));
	}
	if (!tried) {
		pr_err("no task_vma iterator variant called '%s' (path, ident)", only);
		return -ENOENT;
	}
	if (!only || !*only) {
		loaded.failed = err;
		pr_warn("no task_vma iterator variant loads here (%s): VMAs are read from "
			"/proc/PID/smaps",
			why);
	}
	return err;
}

int vma_iter_preload(void)
{
	return vma_iter_preload_variant(NULL);
}

int vma_iter_loaded(void)
{
	return loaded.prog_fd >= 0;
}

const char *vma_iter_variant(void)
{
	return loaded.variant ? loaded.variant->name : NULL;
}

const char *vma_iter_variant_program(void)
{
	return loaded.variant ? loaded.variant->program : NULL;
}

void vma_iter_unload(void)
{
	vma_iter_path_lskel__destroy(loaded.path_lskel);
	vma_iter_ident_lskel__destroy(loaded.ident_lskel);
	vma_iter_path_bpf__destroy(loaded.path_skel);
	vma_iter_ident_bpf__destroy(loaded.ident_skel);
	loaded.path_lskel = NULL;
	loaded.ident_lskel = NULL;
	loaded.path_skel = NULL;
	loaded.ident_skel = NULL;
	loaded.variant = NULL;
	loaded.prog_fd = -1;
}

/*
 * vma_iter_ident left the paths to us: read them from /proc/PID/map_files/,
 * once per struct file (consecutive VMAs of a library share one). A path that
 * cannot be read or does not fit is left empty with VMA_KIND_PATH_ERR, as
 * bpf_d_path's failure is. Returns 0, or -ESRCH when the process is gone.
 */
static int fill_user_paths(pid_t pid, struct vma_rec *recs, size_t nr)
{
	char link[96];
	size_t i, j;
	ssize_t len;

	for (i = 0; i < nr; i++) {
		struct vma_rec *r = &recs[i];

		if (!(r->kind & VMA_KIND_PATH_USER))
			continue;
		r->kind &= ~VMA_KIND_PATH_USER;
		/* The same file a few VMAs back (a library's segments): same path. */
		for (j = i; j > 0 && i - j < 8; j--) {
			if (recs[j - 1].file_id == r->file_id && recs[j - 1].path[0]) {
				memcpy(r->path, recs[j - 1].path, sizeof(r->path));
				break;
			}
		}
		if (r->path[0])
			continue;
		snprintf(link, sizeof(link), "/proc/%d/map_files/%llx-%llx", (int)pid,
			 (unsigned long long)r->start, (unsigned long long)r->end);
		len = readlink(link, r->path, sizeof(r->path));
		if (len < 0 && errno == ENOENT && kill(pid, 0) && errno == ESRCH)
			return -ESRCH;
		if (len <= 0 || (size_t)len >= sizeof(r->path)) {
			if (len < 0)
				pr_debug("pid %d: cannot read %s: %s", (int)pid, link,
					 strerror(errno));
			r->path[0] = 0;
			r->kind |= VMA_KIND_PATH_ERR;
			continue;
		}
		r->path[len] = 0;
	}
	return 0;
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
	if (loaded.variant->user_paths) {
		err = fill_user_paths(pid, (struct vma_rec *)buf, *n);
		if (err) {
			free(buf);
			goto close_iter;
		}
	}
	*out = (struct vma_rec *)buf;
	pr_debug("pid %d: %zu VMAs", (int)pid, *n);
	err = 0;

close_iter:
	close(iter_fd);
detach:
	close(link_fd);
	return err;
}
