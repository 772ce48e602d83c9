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

#include "bpf/vma_iter.h"

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
 * first use): the first variant this kernel's verifier takes, "path" (the
 * kernel names mapped files) or "ident" (user space reads the names from
 * /proc/PID/map_files/). The kernel relocates it (light skeleton, ~5 ms);
 * where it cannot, or with FERRY_VMA_ITER_LIBBPF set in the environment,
 * libbpf does (~25 ms, parsing the kernel's BTF). FERRY_VMA_ITER_VARIANT
 * restricts the choice to one variant. A dump runs it in a thread while it
 * freezes the tree. Returns 0 or -errno; when no variant loads, one warning
 * per run says why, and later calls return the same error without retrying.
 * Not thread-safe against a concurrent vma_iter_read.
 */
int vma_iter_preload(void);
/*
 * vma_iter_preload_variant - as vma_iter_preload, but only variant @name
 * ("path" or "ident"); NULL is vma_iter_preload. Quiet on failure (a probe
 * and the tests ask each variant in turn). -ENOENT for an unknown name.
 */
int vma_iter_preload_variant(const char *name);
/* vma_iter_variant - "path" or "ident" while a program is loaded, else NULL. */
const char *vma_iter_variant(void);
/* vma_iter_variant_program - the loaded program, described for a person, or NULL. */
const char *vma_iter_variant_program(void);
/* vma_iter_unload - drop the loaded program. */
void vma_iter_unload(void);
/* vma_iter_loaded - 1 if the program is loaded (preloaded or used already). */
int vma_iter_loaded(void);

#endif
