/* SPDX-License-Identifier: MIT */
/*
 * The VMAs of a process, read in one pass by the iter/task_vma BPF program
 * (bpf/vma_iter.bpf.c) instead of parsing /proc/PID/maps text.
 */
#ifndef FERRY_VMA_ITER_H
#define FERRY_VMA_ITER_H

#include <stddef.h>
#include <sys/types.h>
#include <linux/types.h>

#include "../bpf/vma_iter.h"

/*
 * vma_iter_read - list the VMAs of process @pid, in address order.
 * These are the lines of /proc/PID/maps except [vsyscall], the x86 gate area,
 * which belongs to no mm.
 *
 * On success *@out is a malloc'ed array of *@n records (free() it) and 0 is
 * returned. Needs CAP_BPF + CAP_PERFMON (root) and kernel BTF. Errors:
 * -EPERM without privileges, -ESRCH/-ENOENT when @pid does not exist,
 * -ENOMEM, -EIO if the iterator returned a partial record, or the -errno
 * libbpf or the kernel gave while loading, attaching or reading.
 */
int vma_iter_read(pid_t pid, struct vma_rec **out, size_t *n);

/*
 * vma_iter_preload - load the iterator program now (vma_iter_read does it on
 * first use). The kernel relocates it (light skeleton, ~5 ms); where it
 * cannot, or with FERRY_VMA_ITER_LIBBPF set in the environment, libbpf does
 * (~25 ms, parsing the kernel's BTF). A dump runs it in a thread while it
 * freezes the tree. Returns 0 or -errno (logged as warnings). Not thread-safe
 * against a concurrent vma_iter_read.
 */
int vma_iter_preload(void);
/* vma_iter_unload - drop the loaded program. */
void vma_iter_unload(void);
/* vma_iter_loaded - 1 if the program is loaded (preloaded or used already). */
int vma_iter_loaded(void);

#endif
