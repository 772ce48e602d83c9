/* SPDX-License-Identifier: MIT */
/*
 * /proc parsing for the dump side: per-process and per-thread state
 * (stat, status, auxv), the thread and child lists, /proc links, and the
 * /proc/PID/smaps reader that stands in for the BPF VMA iterator when BPF is
 * not available. Implemented in proc_parse.c (stat, status, limits, auxv),
 * proc_tasks.c (thread and child lists, links) and proc_maps.c (smaps, VMAs,
 * vDSO, pagemap).
 *
 * Every function returns 0 or -errno (proc_is_kernel_thread() also returns
 * 1). -ESRCH means the process (or the thread) does not exist, or no longer
 * does; -ENOENT means it exists but the file asked for does not; -EINVAL
 * means the kernel wrote something this parser does not understand, and the
 * log line names the file and the line. Nothing has a fixed size limit that
 * real data can exceed, except the fixed-size fields documented as such.
 *
 * /proc is read while the process may be running: two reads can disagree.
 * Callers that need a consistent picture freeze the process first.
 */
#ifndef FERRY_PROC_PARSE_H
#define FERRY_PROC_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "vma_iter.h"

/* task_struct->flags bit of a kernel thread (include/linux/sched.h). */
#define PF_KTHREAD 0x00200000

/* /proc/PID/stat or /proc/PID/task/TID/stat (see proc(5) for each field). */
struct proc_stat {
	pid_t pid, ppid, pgid, sid;
	char state; /* R S D T t Z X I ... */
	/*
	 * comm, NUL terminated. A user task's comm always fits (TASK_COMM_LEN
	 * is 16); a kernel thread's longer name ("kworker/0:1-events") is
	 * cut to 15 bytes. Parsed from the last ')' so spaces and ')' in the
	 * name are kept.
	 */
	char comm[16];
	int tty_nr;
	pid_t tpgid;
	unsigned int flags; /* PF_* */
	long priority;
	long nice;
	long num_threads;
	uint64_t starttime; /* clock ticks after boot: tells a reused pid apart */
	uint64_t vsize;	    /* bytes */
	uint64_t rss;	    /* pages */
	unsigned int rt_priority, policy;
	int exit_signal;
	int processor;
	/*
	 * Memory layout (struct mm_struct). The kernel shows them only to a
	 * reader allowed to ptrace the process (else 0), and a process
	 * without an mm (a kernel thread, a zombie) shows 0 as well.
	 */
	uint64_t start_code, end_code, start_stack;
	uint64_t start_data, end_data, start_brk, arg_start, arg_end, env_start, env_end;
	int exit_code; /* wait status of a zombie, else 0 */
};

/*
 * proc_parse_stat - parse /proc/@pid/stat (@tid 0) or /proc/@pid/task/@tid/stat
 * into *@st. Returns 0, -ESRCH if the process or thread does not exist,
 * -EINVAL if the file is malformed (logged with the file and field), or the
 * -errno of open/read.
 */
int proc_parse_stat(pid_t pid, pid_t tid, struct proc_stat *st);

/*
 * proc_parse_stat_buf - the same parser on the text of a stat file already
 * read (@len bytes, need not be NUL terminated). @what names the source in
 * error messages. Returns 0 or -EINVAL.
 */
int proc_parse_stat_buf(const char *buf, size_t len, const char *what, struct proc_stat *st);

/* /proc/PID/status or /proc/PID/task/TID/status. */
struct proc_status {
	char state; /* first letter of "State:" */
	pid_t tgid, ppid, tracer_pid;
	pid_t ns_pid; /* last "NSpid:" value: the pid in its own pid namespace; 0 if absent */
	uint32_t uid[4], gid[4]; /* real, effective, saved, fs */
	uint32_t *groups;	 /* malloc'ed (NULL when there are none); proc_status_free() */
	size_t nr_groups;
	uint64_t cap_inh, cap_prm, cap_eff, cap_bnd, cap_amb;
	/* SigPnd is this thread's pending set, ShdPnd the process-wide one. */
	uint64_t sig_pnd, shd_pnd, sig_blk, sig_ign, sig_cgt;
	long threads;	     /* "Threads:" */
	int no_new_privs;    /* -1 if the line is absent */
	int seccomp;	     /* SECCOMP_MODE_*; -1 if the line is absent */
	int seccomp_filters; /* -1 if the line is absent */
	uint32_t umask;	     /* from "Umask:"; UINT32_MAX if absent */
};

/*
 * proc_parse_status - parse /proc/@pid/status (@tid 0) or the thread's. On
 * success st->groups is malloc'ed: release it with proc_status_free(). The
 * lines Tgid, PPid, TracerPid, Uid, Gid, Groups, SigPnd, ShdPnd, SigBlk,
 * SigIgn, SigCgt, CapInh, CapPrm, CapEff and CapBnd are required; CapAmb
 * defaults to 0 and the optional ones as documented above. Returns 0,
 * -ESRCH, -EINVAL (the file and line are logged), -ENOMEM, or the -errno of
 * open/read. On error *@st holds nothing to free.
 */
int proc_parse_status(pid_t pid, pid_t tid, struct proc_status *st);

/* proc_parse_status_buf - the same parser on text already read; see proc_parse_stat_buf(). */
int proc_parse_status_buf(const char *buf, size_t len, const char *what, struct proc_status *st);

/*
 * proc_parse_limits - the first @n rlimits (RLIMIT_* order) from
 * /proc/PID/limits, for when prlimit(2) on the process is not allowed (no
 * CAP_SYS_RESOURCE and another uid). Returns 0, -EINVAL (file and line
 * logged), or the -errno of open/read.
 */
struct rlimit64;
int proc_parse_limits(pid_t pid, struct rlimit64 *rl, size_t n);
int proc_parse_limits_buf(const char *buf, size_t len, const char *what, struct rlimit64 *rl,
			  size_t n);

/* proc_status_free - release what proc_parse_status() allocated; safe to call twice. */
void proc_status_free(struct proc_status *st);

/*
 * proc_read_auxv - the auxiliary vector of @pid as the kernel saved it at
 * exec: *@n 64-bit words, (type, value) pairs ending with the AT_NULL pair,
 * in *@auxv (malloc'ed, free() it). A process without an mm (kernel thread,
 * zombie) gives *@n 0 and *@auxv NULL. Returns 0, -ESRCH, -EINVAL if the
 * size is not whole pairs or the last pair is not AT_NULL, -ENOMEM, or the
 * -errno of open/read.
 */
int proc_read_auxv(pid_t pid, uint64_t **auxv, size_t *n);

/*
 * proc_vdso - where the vDSO of @pid is now, cheaply: the address the kernel
 * gave it at exec (AT_SYSINFO_EHDR in its auxv), confirmed with one
 * PROCMAP_QUERY ioctl (6.11+) on /proc/@pid/maps to be still the start of
 * an executable "[vdso]" mapping (a process may have moved it, as a
 * restored one has), without reading the maps line by line. Returns 0 with
 * *@addr set (and *@end, the end of the mapping, unless @end is NULL); -ENOTTY where the kernel has
 * no PROCMAP_QUERY; -ENOENT when the vDSO is not (or no longer) there; or the -errno of reading the
 * auxv or the ioctl. Callers fall back to scanning the maps.
 */
int proc_vdso(pid_t pid, uint64_t *addr, uint64_t *end);

/*
 * proc_list_threads - the thread ids of @pid (/proc/@pid/task), sorted
 * ascending, in *@tids (malloc'ed, free() it). Returns 0, -ESRCH, -ENOMEM,
 * or the -errno of opendir/readdir.
 */
int proc_list_threads(pid_t pid, pid_t **tids, size_t *n);

/*
 * proc_list_children - the children of every thread of @pid (the union of
 * /proc/@pid/task/TID/children: a child belongs to the thread that forked
 * it), sorted ascending, no duplicates, in *@kids (malloc'ed, NULL when
 * there are none; free() it). Threads that exit meanwhile are skipped.
 * Returns 0, -ESRCH, -EOPNOTSUPP if the kernel has no children files
 * (CONFIG_PROC_CHILDREN off), -EINVAL, -ENOMEM, or -errno.
 */
int proc_list_children(pid_t pid, pid_t **kids, size_t *n);

/*
 * proc_is_kernel_thread - whether @pid is a kernel thread (PF_KTHREAD in its
 * stat flags). Returns 1, 0, or -errno (-ESRCH if it does not exist).
 */
int proc_is_kernel_thread(pid_t pid);

/*
 * proc_read_link - readlink /proc/@pid/@what ("cwd", "root", "exe", "fd/3",
 * "map_files/START-END", ...) into @buf, NUL terminated. A buffer of
 * PATH_MAX bytes always suffices: the kernel builds these links in one page.
 * Returns 0, -ESRCH if @pid does not exist, -ENOENT if the link does not
 * (a closed fd), -ENAMETOOLONG if the target does not fit in @size bytes,
 * or the -errno of readlink (-EACCES, ...).
 */
int proc_read_link(pid_t pid, const char *what, char *buf, size_t size);

/*
 * VM_* bits (include/linux/mm.h) that /proc/PID/smaps shows in "VmFlags:"
 * and bpf/vma_iter.h does not name. Bits 0-31 have not moved in decades;
 * the mnemonics of higher bits (ss, ui, dp, sl, ...) changed bit numbers
 * between kernel versions, so proc_parse_maps() does not set them.
 */
#define PROC_VM_MAYREAD 0x00000010ULL
#define PROC_VM_MAYWRITE 0x00000020ULL
#define PROC_VM_MAYEXEC 0x00000040ULL
#define PROC_VM_SEQ_READ 0x00008000ULL
#define PROC_VM_RAND_READ 0x00010000ULL
#define PROC_VM_LOCKONFAULT 0x00080000ULL
#define PROC_VM_SYNC 0x00800000ULL
#define PROC_VM_ARCH_1 0x01000000ULL /* x86: VM_PAT */
#define PROC_VM_SOFTDIRTY 0x08000000ULL

/*
 * The vm_flags bits a record from proc_parse_maps() and one from
 * vma_iter_read() can be compared on: bits 0-31, minus bit 11 (no mnemonic)
 * and VM_SOFTDIRTY (shown only when the kernel has soft-dirty and the CPU
 * supports it; the parser sets it when shown). Bits 32-63: see above.
 */
#define PROC_VMFLAGS_KNOWN (0xffffffffULL & ~0x800ULL & ~PROC_VM_SOFTDIRTY)

/*
 * proc_parse_maps - the VMAs of @pid from /proc/@pid/smaps, in address
 * order, as struct vma_rec records like vma_iter_read() gives, in *@out
 * (malloc'ed, NULL when there are none; free() it). Fields:
 *  - start, end, offset, ino, dev_major, dev_minor: as the maps line shows
 *    them. tgid is @pid; tid is the task whose smaps was read (@pid, or a
 *    live thread when the leader has exited and its own smaps is empty).
 *  - kind: VMA_KIND_FILE when the line has a device or an inode (shared
 *    anonymous memory is a file too: "/dev/zero (deleted)"), with path the
 *    file's path; a path of VMA_REC_PATH_MAX bytes or more is not stored:
 *    path is empty and VMA_KIND_PATH_ERR set, as the BPF side does (get it
 *    with proc_vma_path()). A deleted file keeps the " (deleted)" suffix
 *    in path and sets no other bit. "\012" in a path is turned back into
 *    the newline the kernel escaped.
 *    Otherwise VMA_KIND_ANON, plus HEAP for "[heap]", STACK for
 *    "[stack]", VDSO|SPECIAL for "[vdso]", SPECIAL for any other bracketed
 *    name ("[vvar]", "[vvar_vclock]", "[uprobes]", ...) with that name in
 *    name; "[anon:NAME]" (prctl PR_SET_VMA) is plain ANON. [vsyscall] is
 *    skipped, as vma_iter_read() skips it.
 *  - vm_flags: from "VmFlags:", bits 0-31 only (PROC_VMFLAGS_KNOWN);
 *    read from plain maps text (no VmFlags line) only READ, WRITE, EXEC
 *    and MAYSHARE are known.
 *  - pgoff: offset >> PAGE_SHIFT for a file VMA. For an anonymous VMA the
 *    kernel's vm_pgoff is not visible in /proc: pgoff is set to
 *    start >> PAGE_SHIFT, which is what the kernel has unless the VMA was
 *    moved by mremap() or is a stack that grew.
 * Limits, where BPF and /proc can disagree: a name set with PR_SET_VMA on
 * shared anonymous memory shows as "[anon_shmem:NAME]" here (the BPF path
 * is the shmem file's); on overlayfs maps shows the overlay path where
 * bpf_d_path shows the underlying one.
 * Returns 0, -ESRCH, -EINVAL (file and line logged), -ENOMEM, or -errno.
 */
int proc_parse_maps(pid_t pid, struct vma_rec **out, size_t *n);

/*
 * proc_parse_smaps_stream - the parser of proc_parse_maps() on an open
 * stream of smaps (or maps) text; @what names it in error messages, @pid
 * and @tid go into the records. Returns 0, -EINVAL, -ENOMEM, or -errno of
 * the read.
 */
int proc_parse_smaps_stream(FILE *f, const char *what, pid_t pid, pid_t tid, struct vma_rec **out,
			    size_t *n);

/*
 * proc_vma_path - the full path of the file behind a VMA of @pid (any
 * length the kernel can print), from the /proc/@pid/map_files link of
 * @start-@end, in *@path (malloc'ed). Needs CAP_SYS_ADMIN. Returns 0,
 * -ESRCH, -ENOENT if no file VMA has these bounds, -ENOMEM, or -errno.
 */
int proc_vma_path(pid_t pid, uint64_t start, uint64_t end, char **path);

/*
 * proc_read_vmas - the VMAs of @pid: vma_iter_read() (BPF) if it works,
 * else proc_parse_maps(). The first fallback in a process logs the reason
 * once at warning level. *@used_bpf (may be NULL) is set to 1 or 0 to say
 * which. When BPF lists no VMAs at all (what it does for a pid that does
 * not exist) /proc decides: -ESRCH, or the VMAs of a process whose leader
 * exited, or none for a kernel thread or zombie. -ENOMEM, and -ESRCH/-ENOENT
 * for a process that is gone, are returned without trying /proc.
 * Returns 0 or -errno.
 */
int proc_read_vmas(pid_t pid, struct vma_rec **out, size_t *n, int *used_bpf);

/*
 * proc_open_pagemap - open /proc/@pid/pagemap read-only (close-on-exec), for
 * PAGEMAP_SCAN and pagemap reads. Returns the fd, or -errno (logged).
 */
int proc_open_pagemap(pid_t pid);

#endif
