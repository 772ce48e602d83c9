// SPDX-License-Identifier: MIT
/* `ferry pre-dump`: one round of an iterative dump (see dump.h, tracker.h). */
#include <stdio.h>
#include <unistd.h>

#define LOG_PREFIX ""
#include "cli.h"
#include "tracker.h"
#include "dump.h"
#include "log.h"

static int run(struct cli_opts *o)
{
	struct dump_opts d = { 0 };
	struct dump_result r;
	int err;

	if (!o->pid || !o->images_dir) {
		fprintf(stderr, "ferry pre-dump: -t PID and -D DIR are required (see --help)\n");
		return -1;
	}
	d.pid = o->pid;
	d.dir = o->images_dir;
	d.prev_dir = o->prev_dir;
	d.progress = o->progress < 0 ? isatty(STDERR_FILENO) : o->progress;
	cli_track_opts(o, &d.track);
	err = predump_tree(&d, &r);
	if (err)
		return err;
	pr_info("pre-dump of pid %d done: %llu process(es), frozen %llu us, writing %llu us",
		o->pid, (unsigned long long)r.nr_procs, (unsigned long long)r.frozen_us,
		(unsigned long long)r.memdump_us);
	pr_info("pages written %llu (%.1f MiB), in the parent images %llu, unmapped while "
		"written %llu",
		(unsigned long long)r.pages_written, (double)r.pages_written * 4096 / (1 << 20),
		(unsigned long long)r.pages_parent, (unsigned long long)r.pages_vanished);
	if (r.tracked_procs && r.has_bpf)
		pr_info("since the last round: %llu pages written (%s), %llu (BPF)",
			(unsigned long long)r.written_pages, r.scan_name,
			(unsigned long long)r.bpf_pages);
	else if (r.tracked_procs)
		pr_info("since the last round: %llu pages written (%s)",
			(unsigned long long)r.written_pages, r.scan_name);
	if (r.has_bpf)
		pr_info("VMA changes: %llu mmap, %llu munmap, %llu mremap, %llu mprotect, %llu brk, "
			"%llu madvise (%llu pages dropped), %llu events lost",
			(unsigned long long)r.ev.mmap, (unsigned long long)r.ev.munmap,
			(unsigned long long)r.ev.mremap, (unsigned long long)r.ev.mprotect,
			(unsigned long long)r.ev.brk, (unsigned long long)r.ev.madvise,
			(unsigned long long)r.ev.dontneed_pages, (unsigned long long)r.ev.drops);
	return 0;
}

const struct cli_cmd cmd_pre_dump = {
	.name = "pre-dump",
	.run = run,
	.summary = "copy a live tree's memory, then only what changed (iterative dump)",
	.usage =
		"Usage: ferry pre-dump -t PID -D DIR [--prev-images-dir P] [--track-mem]\n"
		"                      [--track-mode M] [--no-bpf] [--bpf-pages N]\n"
		"                      [--bpf-ranges N] [--bpf-ringbuf SIZE] [-v[N]] [--log-file F]\n"
		"                      [--progress | --no-progress]\n\n"
		"One round of an iterative (pre-copy) dump, as CRIU's pre-dump, also on\n"
		"kernels without soft-dirty: the tree is frozen only while ferry reads its\n"
		"dirty bits and lists its pages, then its pages are written while it runs.\n\n"
		"The first pre-dump of a process arms dirty-page tracking: the process\n"
		"creates a userfaultfd (a syscall ferry injects), ferry registers its\n"
		"writable private memory for asynchronous write-protection and\n"
		"protects every page; each round's PAGEMAP_SCAN reads which pages were\n"
		"written and protects them again. The uffd stays parked inside the process\n"
		"(at a high fd, close-on-exec) and BPF programs counting write faults and\n"
		"watching mmap/munmap/mremap/mprotect/brk/madvise stay pinned in bpffs,\n"
		"so tracking lasts between ferry runs, with no daemon. On kernels without\n"
		"uffd-wp async (before 6.7) ferry uses soft-dirty bits instead, as CRIU\n"
		"does (clear_refs, pagemap bit 55), when the kernel has them; with neither,\n"
		"it says so and every round copies every page.\n\n"
		"With --prev-images-dir P, the directory of this tree's previous round,\n"
		"only pages written since are copied; the others are recorded as in the\n"
		"parent (DIR/parent -> P). End the chain with `ferry dump\n"
		"--prev-images-dir`; `ferry restore` reads through the chain. Tracking is\n"
		"stopped by that dump, by `ferry track --stop -t PID`, and by a failed\n"
		"pre-dump.\n\n"
		"Options:\n"
		"  -t, --tree PID        root of the tree\n"
		"  -D, --images-dir DIR  where this round's images go (empty or new)\n"
		"  --prev-images-dir P   the previous round's directory (relative to DIR,\n"
		"                        CRIU's convention, or absolute)\n"
		"  --track-mem           accepted for CRIU compatibility: pre-dump always tracks\n" CLI_TRACK_OPTS_HELP
		"  --progress, --no-progress\n"
		"                        a progress line on stderr (default: on a terminal)\n"
		"  -v[N]                 -v3 prints the round's statistics\n\n"
		"Written: inventory.img, pstree.img, pagemap-PID.img, pages-N.img,\n"
		"stats-dump, parent. A page unmapped between the scan and its copy is written\n"
		"as zeros; the next round sees its VMA changed.\n",
};
