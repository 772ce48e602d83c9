// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_PREFIX ""
#include "check.h"
#include "cli.h"
#include "dump_tcp.h"
#include "dump_check.h"
#include "log.h"
#include "pstree.h"

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c == '\n')
			fputs("\\n", f);
		else if (c == '\t')
			fputs("\\t", f);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

static void print_json(FILE *f, const struct check_result *res, size_t n, int pretty)
{
	const char *nl = pretty ? "\n" : "", *in = pretty ? "  " : "";
	size_t i;

	fprintf(f, "[%s", nl);
	for (i = 0; i < n; i++) {
		fprintf(f, "%s{\"name\": ", in);
		json_str(f, res[i].name);
		fprintf(f, ", \"required\": %s, \"ok\": %s, \"detail\": ",
			res[i].required ? "true" : "false", res[i].err ? "false" : "true");
		json_str(f, res[i].detail);
		fprintf(f, "}%s%s", i + 1 < n ? "," : "", pretty ? "\n" : (i + 1 < n ? " " : ""));
	}
	fprintf(f, "]\n");
}

static void print_text(FILE *f, const struct check_result *res, size_t n, int missing)
{
	size_t i, ok = 0;
	int first = 1;

	for (i = 0; i < n; i++) {
		fprintf(f, "%-8s %-18s %s%s\n", res[i].err ? "missing" : "ok", res[i].name,
			res[i].err && !res[i].required ? "(optional) " : "", res[i].detail);
		ok += !res[i].err;
	}
	fprintf(f, "dirty tracking for pre-dump and dirtyrate: %s\n", check_dirty_tracking(res));
	if (!missing) {
		fprintf(f,
			"%zu of %zu features ok; every required feature is present: ferry can run "
			"here\n",
			ok, n);
		return;
	}
	fprintf(f, "%zu of %zu features ok; %d required feature%s missing:", ok, n, missing,
		missing == 1 ? " is" : "s are");
	for (i = 0; i < n; i++) {
		if (res[i].err && res[i].required) {
			fprintf(f, "%s %s", first ? "" : ",", res[i].name);
			first = 0;
		}
	}
	fprintf(f, "\n");
}

/*
 * check -t PID: freeze the tree, name every object a dump would refuse, let
 * the tree go. Nothing is written. Exit 0 if it can be dumped, 1 if not.
 */
static int check_tree(struct cli_opts *o)
{
	struct files_dump_opts fo = { .shell_job = o->shell_job,
				      .file_locks = o->file_locks,
				      .ext_unix_sk = o->ext_unix_sk };
	struct pstree t;
	size_t bad = 0, nr;
	int err;

	err = pstree_freeze_flags(&t, o->pid, PSTREE_ZOMBIES);
	if (err)
		return -1;
	/* Established TCP connections pass with --tcp-established (nothing is written). */
	dump_tcp_setup(o->tcp_established, -1);
	err = dump_check_tree(&t, &fo, &bad);
	nr = t.nr;
	pstree_release(&t);
	pstree_free(&t);
	if (err && err != -ENOTSUP)
		return -1;
	if (o->json)
		printf("{\"pid\": %d, \"dumpable\": %s, \"processes\": %zu, "
		       "\"processes_refused\": %zu}\n",
		       o->pid, err ? "false" : "true", nr, bad);
	else if (err)
		printf("pid %d: the tree of %zu process(es) cannot be dumped: %zu hold objects "
		       "ferry does not support (listed on stderr)\n",
		       o->pid, nr, bad);
	else
		printf("pid %d: the tree of %zu process(es) can be dumped\n", o->pid, nr);
	return err ? -1 : 0;
}

static int run(struct cli_opts *o)
{
	size_t n = check_count();
	struct check_result *res;
	int missing;

	if (o->argc > 0) {
		fprintf(stderr, "ferry check: unexpected argument '%s' (see --help)\n", o->argv[0]);
		return -1;
	}
	if (o->pid)
		return check_tree(o);
	res = calloc(n, sizeof(*res));
	if (!res) {
		fprintf(stderr, "ferry check: out of memory\n");
		return -1;
	}
	missing = check_run_all(res);
	if (o->json)
		print_json(stdout, res, n, o->pretty);
	else
		print_text(stdout, res, n, missing);
	fflush(stdout);
	free(res);
	return missing ? -1 : 0;
}

const struct cli_cmd cmd_check = {
	.name = "check",
	.run = run,
	.summary = "probe the kernel features ferry needs",
	.usage =
		"Usage: ferry check [--json [--pretty]] [-v[N]] [--log-file FILE]\n"
		"       ferry check -t PID [--shell-job] [--file-locks] [--tcp-established] [--json]\n"
		"\n"
		"With -t PID: a dry run of `ferry dump -t PID`. The tree is frozen for a\n"
		"moment, every object a dump would refuse (fds such as sockets or event fds,\n"
		"shared memory, device mappings, seccomp, in every process) is\n"
		"named on stderr with its pid, and the tree goes on. Nothing is written.\n"
		"Exit status 0 when the tree can be dumped, 1 when it cannot.\n"
		"\n"
		"Without -t:\n"
		"Probes, one by one, the kernel features ferry is built on, by using each of\n"
		"them for real on objects of its own (a test mapping, a child process, a small\n"
		"BPF program) that it removes again. Nothing else on the system is touched.\n"
		"Run it as root: several probes need CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN or\n"
		"CAP_SYS_PTRACE, and without them report the feature missing.\n"
		"\n"
		"Features (required unless marked optional):\n"
		"  userfaultfd        userfaultfd(2) with UFFD_USER_MODE_ONLY\n"
		"  dev-userfaultfd    (optional) userfaultfds from /dev/userfaultfd\n"
		"  uffd-missing       MISSING faults caught and filled with UFFDIO_COPY (lazy\n"
		"                     restore, lazy-pages)\n"
		"  uffd-wp-async      UFFD_FEATURE_WP_ASYNC + WP_UNPOPULATED: writes to protected\n"
		"                     pages go through and are recorded (Linux 6.7+)\n"
		"  pagemap-scan       PAGEMAP_SCAN with PM_SCAN_WP_MATCHING|PM_SCAN_CHECK_WPASYNC\n"
		"                     on PAGE_IS_WRITTEN: finds exactly the written pages and\n"
		"                     re-arms them (dirty tracking for pre-dump and migrate)\n"
		"  uffd-remote-wp     the tracker's flow: a child creates the uffd, ferry takes it\n"
		"                     with pidfd_getfd, registers the child's range from outside\n"
		"                     and scans /proc/PID/pagemap\n"
		"                     (these three are not required where soft-dirty works:\n"
		"                     ferry then tracks dirty pages with soft-dirty bits)\n"
		"  uffd-wp-sync       (optional) synchronous write-protection without\n"
		"                     UFFD_USER_MODE_ONLY, with REMOVE/UNMAP/REMAP events: a\n"
		"                     read(2) into a protected page waits in its fault; dump\n"
		"                     --leave-running copies memory after the release (else\n"
		"                     while frozen). Needs CAP_SYS_PTRACE in the target\n"
		"  soft-dirty         (optional) soft-dirty bits (clear_refs 4, pagemap bit 55);\n"
		"                     off on most current kernels; the tracker's fallback\n"
		"  kernel-btf         /sys/kernel/btf/vmlinux, for CO-RE BPF programs\n"
		"  bpf-tp-fault       BPF on exceptions:page_fault_user (classic tracepoint, or\n"
		"                     its BTF twin when tracefs is not mounted)\n"
		"  bpf-tp-mmap        BPF on syscalls:sys_exit_mmap (or raw sys_exit)\n"
		"  bpf-ringbuf        events from BPF through BPF_MAP_TYPE_RINGBUF\n"
		"  bpf-iter-vma       the iter/task_vma iterator lists this process's VMAs\n"
		"  bpf-fentry         (optional) fentry programs; ferry does not use them\n"
		"  bpf-kprobe         (optional) kprobe programs; ferry does not use them\n"
		"  io-uring           io_uring NOP and a write to a temporary file\n"
		"  clone3-set-tid     clone3 with set_tid gives a grandchild a chosen pid\n"
		"  pidfd-getfd        pidfd_open + pidfd_getfd take a child's fd\n"
		"  process-vm-readv   process_vm_readv reads a child's memory\n"
		"  ptrace-seize       PTRACE_SEIZE, PTRACE_INTERRUPT and PTRACE_GETREGSET\n"
		"  procmap-query      (optional) the PROCMAP_QUERY ioctl finds this process's\n"
		"                     vDSO (6.11+); without it ferry reads /proc/PID/maps\n"
		"                     for every thread it stops (slow with many VMAs)\n"
		"\n"
		"Output: one line per feature, 'ok' or 'missing', its name, and what was seen\n"
		"or why it failed; then a summary line.\n"
		"\n"
		"Options:\n"
		"  --json             print a JSON array instead: one object per feature with\n"
		"                     \"name\", \"required\", \"ok\" and \"detail\"\n"
		"  --pretty           with --json, one object per line\n"
		"  -v4                log each probe and libbpf's messages (debug)\n"
		"  -o, --log-file F   write the log to F\n"
		"\n"
		"The line \"dirty tracking for pre-dump and dirtyrate\" names what pre-dump,\n"
		"track and dirtyrate use here (--track-mode auto): uffd-wp async +\n"
		"PAGEMAP_SCAN, soft-dirty bits, or none (then pre-dump copies every page).\n"
		"Exit status: 0 when every required feature works, 1 when one is missing.\n",
};
