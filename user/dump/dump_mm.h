/* SPDX-License-Identifier: MIT */
/*
 * The address space of a frozen process: mm-PID.img (mm fields, auxv, the
 * exe file and every VMA) and its memory, pagemap-PID.img + pages-ID.img.
 */
#ifndef FERRY_DUMP_MM_H
#define FERRY_DUMP_MM_H

#include <stdint.h>
#include <sys/types.h>

#include "mem_scan.h"
#include "page_writer.h"
#include "vma_status.h"

struct files_dump;
struct shmem_dump;

struct dump_mm_stats {
	uint64_t pages_scanned;	 /* pages of the VMAs whose memory is dumped */
	uint64_t vmas, vmas_bpf; /* VMAs, and 1 if they came from the BPF iterator */
	uint64_t scan_ns;	 /* PAGEMAP_SCAN time */
	struct page_writer_stats pw;
};

/*
 * An incremental dump (pre-dump chains): the tracker's dirty pages of this
 * round and the pages the parent image set holds for the process, both as
 * sorted, non-overlapping runs. A page to dump that is in the parent and not
 * dirty is recorded PE_PARENT instead of copied.
 */
struct dump_mm_incr {
	const struct page_run *dirty;
	size_t nr_dirty;
	const struct page_run *parent;
	size_t nr_parent;
};

/* A plan of the pages of one process: segments to copy or to point to the parent for. */
struct dump_mm_seg {
	uint64_t start, nr_pages;
	int parent;
};

struct dump_mm_plan {
	struct dump_mm_seg *segs;
	size_t nr, cap;
	uint64_t pages_scanned, pages_data, pages_parent, scan_ns;
};

/*
 * dump_mm_check - preflight: classify every VMA of @pid as dump_mm_proc
 * would. Each one it cannot take (a special mapping, device or hugetlb
 * memory, SysV shared memory, a file whose path is unknown, a range a
 * userfaultfd still fills) is logged with pid and range. Returns 0, -ENOTSUP
 * when some were refused (all of them logged), or the -errno of reading the
 * VMAs.
 */
int dump_mm_check(pid_t pid);

/*
 * dump_mm_proc - write mm-<pid>.img, pagemap-<pid>.img and pages-<pages_id>.img
 * for the frozen process @pid. File-backed VMAs and the exe file get
 * reg_file_entry ids through @files; shared anonymous memory (and shared
 * /dev/zero) is noted in @shm, whose objects the caller writes once for the
 * tree (dump_shmem.h). Refuses VMAs the restore cannot rebuild (SysV memory,
 * device and hugetlb mappings, unknown special mappings) with a message
 * naming the pid and the address range.
 * @inc (may be NULL: copy every page) makes the pagemap incremental.
 * Returns 0 or -errno; *st is filled either way.
 */
int dump_mm_proc(pid_t pid, uint32_t pages_id, struct files_dump *files, struct shmem_dump *shm,
		 int dirfd, const struct page_writer_opts *pw_opts, const struct dump_mm_incr *inc,
		 struct dump_mm_stats *st);

/*
 * dump_mm_plan_proc - the pages of process @pid worth dumping (as
 * dump_mm_proc chooses them), split by @inc (may be NULL), appended to *@plan
 * (start zeroed; free with dump_mm_plan_free). Pre-dump plans while the
 * process is frozen and writes after it is released. The shared memory
 * objects its VMAs map (shared anonymous, SysV, memfds) are noted in @shm
 * when it is not NULL. Returns 0 or -errno.
 */
/*
 * dump_mm_is_shmem_anon - is VMA @v shared anonymous memory (MAP_SHARED |
 * MAP_ANONYMOUS, or MAP_SHARED of /dev/zero): the path "/dev/zero
 * (deleted)", or "[anon_shmem:NAME]" that /proc/PID/maps shows instead when
 * it was named with PR_SET_VMA_ANON_NAME (Linux 6.2+, CONFIG_ANON_VMA_NAME).
 * The name is not kept: CRIU's vma_entry has no field for it (nor does
 * ferry keep "[anon:NAME]" of private memory).
 */
struct vma_rec;
int dump_mm_is_shmem_anon(const struct vma_rec *v);

int dump_mm_plan_proc(pid_t pid, const struct dump_mm_incr *inc, struct shmem_dump *shm,
		      struct dump_mm_plan *plan);
/* dump_mm_plan_add - append [start, end) to a plan (merging); 0 or -ENOMEM. */
int dump_mm_plan_add(struct dump_mm_plan *p, uint64_t start, uint64_t end, int parent);
void dump_mm_plan_free(struct dump_mm_plan *p);

/*
 * dump_mm_write_plan - pagemap-<pid>.img + pages-<pages_id>.img in @dirfd
 * from @plan (page_writer_add / page_writer_add_parent per segment).
 * Returns 0 or -errno (nothing left behind on error).
 */
int dump_mm_write_plan(pid_t pid, const struct dump_mm_plan *plan, uint32_t pages_id, int dirfd,
		       const struct page_writer_opts *o, struct page_writer_stats *st);

/*
 * dump_mm_parent_runs - the pages pagemap-<pid>.img of the parent image set
 * (@parent_dirfd, named @parent_dir in messages) holds, present or in its own
 * parent, as sorted merged runs (*@runs malloc'ed). Returns 0, -ENOENT if the
 * file is missing, -EINVAL for a malformed or lazy pagemap, or -errno.
 */
int dump_mm_parent_runs(int parent_dirfd, const char *parent_dir, pid_t pid, struct page_run **runs,
			size_t *nr);

#endif
