// SPDX-License-Identifier: MIT
/*
 * ferry check: the features DESIGN.md says work on the project's machines are
 * found working, the probes leave nothing behind, the BPF VMA iterator agrees
 * with /proc/PID/maps, and the command prints every feature in text and JSON.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "helpers.h"
#include "proc_parse.h"
#include "vma_iter.h"

TestSuite(check, .timeout = 60);

/* Run one probe and insist it works; a feature that needs root skips without it. */
static void expect_ok(const char *name, const char *root_because)
{
	struct check_result r;
	int err;

	if (root_because && geteuid())
		cr_skip_test("%s needs root: %s", name, root_because);
	err = check_run_name(name, &r);
	cr_assert_neq(err, -ENOENT, "no feature called %s", name);
	cr_assert_eq(err, 0, "%s: %s", name, r.detail);
	cr_assert_eq(r.err, 0);
	cr_assert(r.detail[0], "%s: no detail for an ok feature", name);
}

#define FEATURE_TEST(tname, fname, root_because) \
	Test(check, tname, .timeout = 30)        \
	{                                        \
		expect_ok(fname, root_because);  \
	}

#define BPF_CAPS "CAP_BPF + CAP_PERFMON"
FEATURE_TEST(userfaultfd, "userfaultfd", NULL)
FEATURE_TEST(uffd_missing, "uffd-missing", NULL)
FEATURE_TEST(uffd_wp_async, "uffd-wp-async", NULL)
FEATURE_TEST(pagemap_scan, "pagemap-scan", NULL)
FEATURE_TEST(uffd_remote_wp, "uffd-remote-wp", NULL)
FEATURE_TEST(kernel_btf, "kernel-btf", NULL)
FEATURE_TEST(bpf_tp_fault, "bpf-tp-fault", BPF_CAPS)
FEATURE_TEST(bpf_tp_mmap, "bpf-tp-mmap", BPF_CAPS)
FEATURE_TEST(bpf_ringbuf, "bpf-ringbuf", BPF_CAPS)
FEATURE_TEST(bpf_iter_vma, "bpf-iter-vma", BPF_CAPS)
FEATURE_TEST(io_uring, "io-uring", NULL)
FEATURE_TEST(clone3_set_tid, "clone3-set-tid", "CAP_SYS_ADMIN over the pid namespace")
FEATURE_TEST(pidfd_getfd, "pidfd-getfd", NULL)
FEATURE_TEST(process_vm_readv, "process-vm-readv", NULL)
FEATURE_TEST(ptrace_seize, "ptrace-seize", NULL)

/* What DESIGN.md says ferry depends on, and what it says is optional. */
Test(check, table_marks_required_features, .timeout = 10)
{
	static const char *const required[] = {
		"userfaultfd",	  "uffd-missing", "uffd-wp-async",    "pagemap-scan",
		"bpf-tp-fault",	  "bpf-tp-mmap",  "bpf-ringbuf",      "io-uring",
		"clone3-set-tid", "pidfd-getfd",  "process-vm-readv", "ptrace-seize",
	};
	/* bpf-iter-vma: /proc/PID/smaps does the same, slower. */
	static const char *const optional[] = { "soft-dirty", "bpf-fentry", "bpf-kprobe",
						"bpf-iter-vma" };
	struct check_result r, o;
	size_t i, j, n = check_count();
	int seen;

	cr_assert_gt(n, 0);
	for (i = 0; i < n; i++) {
		cr_assert_eq(check_describe(i, &r), 0);
		cr_assert(r.name && r.what && r.what[0]);
		cr_assert_leq(strlen(r.name), 18, "%s does not fit the name column", r.name);
		for (j = i + 1; j < n; j++) {
			cr_assert_eq(check_describe(j, &o), 0);
			cr_assert_str_neq(r.name, o.name, "feature %s listed twice", r.name);
		}
	}
	cr_assert_eq(check_describe(n, &r), -EINVAL);
	for (i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		for (j = 0, seen = 0; j < n; j++) {
			check_describe(j, &r);
			if (!strcmp(r.name, required[i])) {
				seen = 1;
				cr_assert(r.required, "%s must be required", r.name);
			}
		}
		cr_assert(seen, "no feature %s", required[i]);
	}
	for (i = 0; i < sizeof(optional) / sizeof(optional[0]); i++) {
		for (j = 0, seen = 0; j < n; j++) {
			check_describe(j, &r);
			if (!strcmp(r.name, optional[i])) {
				seen = 1;
				cr_assert_not(r.required, "%s must be optional", r.name);
			}
		}
		cr_assert(seen, "no feature %s", optional[i]);
	}
	cr_assert_eq(check_run_name("no-such-feature", &r), -ENOENT);
}

static int count_fds(void)
{
	struct dirent *d;
	DIR *dir = opendir("/proc/self/fd");
	int n = 0;

	cr_assert(dir);
	while ((d = readdir(dir)))
		n += d->d_name[0] != '.';
	closedir(dir);
	return n;
}

/* Every probe cleans up: no fd, no child is left behind, failed or not. */
Test(check, probes_leave_nothing_behind, .timeout = 60)
{
	struct check_result *res = calloc(check_count(), sizeof(*res));
	int before, after, missing, required_missing = 0;
	size_t i;

	cr_assert(res);
	before = count_fds();
	missing = check_run_all(res);
	after = count_fds();
	cr_assert_eq(after, before, "%d fds before the probes, %d after", before, after);
	errno = 0;
	cr_assert_eq(waitpid(-1, NULL, WNOHANG | __WALL), -1, "a probe left a child");
	cr_assert_eq(errno, ECHILD);
	for (i = 0; i < check_count(); i++) {
		cr_assert(res[i].detail[0], "%s: empty detail", res[i].name);
		cr_assert_leq(res[i].err, 0);
		required_missing += res[i].err && res[i].required;
	}
	cr_assert_eq(missing, required_missing);
	free(res);
}

/* ---- vma_iter against /proc/PID/maps --------------------------------------------------------- */

struct maps_line {
	unsigned long long start, end, offset, ino;
	unsigned int major, minor;
	char perms[5];
	char path[256];
};

static size_t read_maps(pid_t pid, struct maps_line *m, size_t max)
{
	char fname[64], line[512];
	size_t n = 0;
	FILE *f;

	snprintf(fname, sizeof(fname), "/proc/%d/maps", (int)pid);
	f = fopen(fname, "r");
	cr_assert(f, "open %s", fname);
	while (fgets(line, sizeof(line), f) && n < max) {
		int pos = 0;

		memset(&m[n], 0, sizeof(m[n]));
		cr_assert_eq(sscanf(line, "%llx-%llx %4s %llx %x:%x %llu %n", &m[n].start,
				    &m[n].end, m[n].perms, &m[n].offset, &m[n].major, &m[n].minor,
				    &m[n].ino, &pos),
			     7, "bad maps line: %s", line);
		snprintf(m[n].path, sizeof(m[n].path), "%s", line + pos);
		m[n].path[strcspn(m[n].path, "\n")] = '\0';
		/* The x86 vsyscall page is the gate area, not a VMA of the mm. */
		if (strcmp(m[n].path, "[vsyscall]"))
			n++;
	}
	fclose(f);
	return n;
}

/* A child with every kind of VMA ferry meets: file, shared, PROT_NONE, heap, stack. */
static pid_t spawn_mapper(int *ctl)
{
	int p[2], q[2];
	pid_t pid;
	char c;

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(pipe(q), 0);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		size_t ps = (size_t)sysconf(_SC_PAGESIZE);
		int fd = open("/etc/passwd", O_RDONLY), gone;
		char *heap = malloc(64 * 1024), tmp[] = "/tmp/ferry-mapper-XXXXXX";

		prctl(PR_SET_PDEATHSIG, SIGKILL);
		close(p[0]);
		close(q[1]);
		if (fd >= 0)
			mmap(NULL, ps, PROT_READ, MAP_PRIVATE, fd, 0);
		/* A mapping of a file unlinked since: maps says "PATH (deleted)". */
		gone = mkstemp(tmp);
		if (gone < 0 || ftruncate(gone, (off_t)ps) ||
		    mmap(NULL, ps, PROT_READ, MAP_SHARED, gone, 0) == MAP_FAILED || unlink(tmp))
			_exit(2);
		mmap(NULL, 4 * ps, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		mmap(NULL, 2 * ps, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (heap)
			heap[0] = 1;
		if (write(p[1], "r", 1) != 1)
			_exit(1);
		while (read(q[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(0);
	}
	close(p[1]);
	close(q[0]);
	cr_assert_eq(read(p[0], &c, 1), 1, "mapper child %d did not start", (int)pid);
	close(p[0]);
	*ctl = q[1];
	return pid;
}

static void perms_of(const struct vma_rec *v, char *out)
{
	out[0] = v->vm_flags & VMA_VM_READ ? 'r' : '-';
	out[1] = v->vm_flags & VMA_VM_WRITE ? 'w' : '-';
	out[2] = v->vm_flags & VMA_VM_EXEC ? 'x' : '-';
	out[3] = v->vm_flags & VMA_VM_MAYSHARE ? 's' : 'p';
	out[4] = '\0';
}

/* The list @v (from variant @what) says what /proc/@pid/maps says, line by line. */
static void expect_maps(pid_t pid, const struct vma_rec *v, size_t nv, const char *variant)
{
	struct maps_line *m = calloc(1024, sizeof(*m));
	int heap = 0, stack = 0, file = 0, deleted = 0;
	char perms[5];
	size_t nm, i;

	cr_assert(m);
	nm = read_maps(pid, m, 1024);
	cr_assert_eq(nv, nm, "%s: pid %d: %zu VMAs from BPF, %zu lines in maps", variant, (int)pid,
		     nv, nm);

	for (i = 0; i < nv; i++) {
		const char *what = m[i].path;

		cr_assert_eq(v[i].start, m[i].start, "%s: VMA %zu (%s): start 0x%llx vs 0x%llx",
			     variant, i, what, (unsigned long long)v[i].start, m[i].start);
		cr_assert_eq(v[i].end, m[i].end, "%s: VMA %zu (%s): end", variant, i, what);
		cr_assert_eq(v[i].offset, m[i].offset, "%s: VMA %zu (%s): offset 0x%llx vs 0x%llx",
			     variant, i, what, (unsigned long long)v[i].offset, m[i].offset);
		/* Anon pgoff is where the VMA was first mapped (mremap keeps it): not in maps. */
		if (v[i].kind & VMA_KIND_FILE)
			cr_assert_eq(v[i].pgoff * (unsigned long long)sysconf(_SC_PAGESIZE),
				     m[i].offset, "%s: VMA %zu (%s): pgoff", variant, i, what);
		cr_assert_eq(v[i].ino, m[i].ino, "%s: VMA %zu (%s): inode", variant, i, what);
		cr_assert_eq(v[i].dev_major, m[i].major, "%s: VMA %zu (%s): dev major", variant, i,
			     what);
		cr_assert_eq(v[i].dev_minor, m[i].minor, "%s: VMA %zu (%s): dev minor", variant, i,
			     what);
		perms_of(&v[i], perms);
		cr_assert_str_eq(perms, m[i].perms, "%s: VMA %zu (%s): perms", variant, i, what);
		cr_assert_eq(v[i].tgid, (__u32)pid);
		cr_assert_not(v[i].kind & (VMA_KIND_PATH_USER | VMA_KIND_PATH_ERR),
			      "%s: VMA %zu (%s): kind 0x%x", variant, i, what, v[i].kind);

		if (v[i].kind & VMA_KIND_FILE) {
			cr_assert_str_eq(v[i].path, m[i].path, "%s: VMA %zu: path", variant, i);
			file++;
			deleted += strstr(v[i].path, "/ferry-mapper-") &&
				   strstr(v[i].path, " (deleted)");
		} else if (v[i].kind & VMA_KIND_HEAP) {
			cr_assert_str_eq(m[i].path, "[heap]", "%s: VMA %zu: heap", variant, i);
			heap++;
		} else if (v[i].kind & VMA_KIND_STACK) {
			cr_assert_str_eq(m[i].path, "[stack]", "%s: VMA %zu: stack", variant, i);
			stack++;
		} else if (v[i].kind & VMA_KIND_SPECIAL) {
			cr_assert_str_eq(v[i].name, m[i].path, "%s: VMA %zu: special mapping name",
					 variant, i);
		} else {
			cr_assert_str_eq(m[i].path, "", "%s: VMA %zu: anon VMA with a name in maps",
					 variant, i);
		}
		if (!strcmp(m[i].path, "[vdso]"))
			cr_assert(v[i].kind & VMA_KIND_VDSO, "%s: VMA %zu: [vdso] not flagged",
				  variant, i);
	}
	cr_assert(file >= 3, "%s: only %d file mappings", variant, file);
	cr_assert_eq(deleted, 1, "%s: %d mappings of a deleted file", variant, deleted);
	cr_assert_eq(stack, 1, "%s: %d [stack] VMAs", variant, stack);
	cr_assert_geq(heap, 1, "%s: no [heap] VMA", variant);
	free(m);
}

/*
 * Every variant of the iterator that this kernel's verifier takes lists what
 * /proc/PID/maps lists; so does proc_read_vmas, whichever way it reads. A
 * variant refused here is logged, not failed: kernels differ (6.18.44 began
 * refusing bpf_d_path on a VMA's file in 2026-12).
 */
Test(check, vma_iter_matches_proc_maps, .timeout = 30)
{
	static const char *const variants[] = { "path", "ident" };
	struct vma_rec *v = NULL;
	size_t nv = 0, i;
	int ctl, err, used = -1, loaded = 0;
	pid_t pid;

	if (geteuid())
		cr_skip_test("iter/task_vma needs root (CAP_BPF + CAP_PERFMON)");
	pid = spawn_mapper(&ctl);
	for (i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		vma_iter_unload();
		err = vma_iter_preload_variant(variants[i]);
		if (err) {
			cr_log_info("task_vma variant %s does not load here: %s", variants[i],
				    strerror(-err));
			continue;
		}
		cr_assert_str_eq(vma_iter_variant(), variants[i]);
		loaded++;
		err = vma_iter_read(pid, &v, &nv);
		cr_assert_eq(err, 0, "%s: vma_iter_read(%d): %s", variants[i], (int)pid,
			     strerror(-err));
		expect_maps(pid, v, nv, variants[i]);
		free(v);
		v = NULL;
	}
	vma_iter_unload();
	cr_log_info("%d of 2 task_vma variants load here", loaded);
	cr_assert_eq(proc_read_vmas(pid, &v, &nv, &used), 0);
	expect_maps(pid, v, nv, used ? "proc_read_vmas (BPF)" : "proc_read_vmas (/proc)");
	free(v);
	vma_iter_unload();
	close(ctl);
	waitpid(pid, NULL, 0);
}

Test(check, vma_iter_no_such_process, .timeout = 30)
{
	struct vma_rec *v = NULL;
	size_t n = 0;
	pid_t pid;
	int err;

	if (geteuid())
		cr_skip_test("iter/task_vma needs root (CAP_BPF + CAP_PERFMON)");
	err = vma_iter_preload();
	if (err)
		cr_skip_test("no task_vma iterator variant loads here: %s", strerror(-err));
	/* A pid that just existed and is reaped: gone for the iterator. */
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	err = vma_iter_read(pid, &v, &n);
	if (!err) {
		/* The pid was reused already: then the list belongs to that process. */
		free(v);
		cr_skip_test("pid %d was reused before the test could look", (int)pid);
	}
	cr_assert_eq(err, -ESRCH, "vma_iter_read of a reaped pid: %d", err);
}

/* ---- the command ------------------------------------------------------------------------------
 */

static void expect_every_name(const char *out, const char *fmt)
{
	struct check_result r;
	char want[64];
	size_t i;

	for (i = 0; i < check_count(); i++) {
		check_describe(i, &r);
		snprintf(want, sizeof(want), fmt, r.name);
		cr_assert(strstr(out, want), "output does not mention %s:\n%s", want, out);
	}
}

Test(check, cli_text, .timeout = 60)
{
	char *out = NULL, *err = NULL;
	int st;

	if (geteuid())
		cr_skip_test("ferry check needs root for its required features");
	st = t_run(&out, &err, "%s check", t_ferry_bin());
	cr_assert(out);
	cr_assert_eq(st, 0, "ferry check exited %d:\n%s\n%s", st, out, err ? err : "");
	expect_every_name(out, " %s ");
	cr_assert(strstr(out, "every required feature is present"), "no summary line:\n%s", out);
	/* These machines have uffd-wp async and PAGEMAP_SCAN (the vm suite checks 6.1's). */
	cr_expect(strstr(out, "dirty tracking for pre-dump and dirtyrate: uffd-wp async + "
			      "PAGEMAP_SCAN\n"),
		  "no tracker line:\n%s", out);
	/* The iterator variant in use is named (or the fallback, where none loads). */
	cr_expect(strstr(out, "bpf-iter-vma       variant ") || strstr(out, "no variant works"),
		  "bpf-iter-vma names no variant:\n%s", out);
	/* 6.18 has PROCMAP_QUERY (the vm suite checks that 6.1 says it has not). */
	cr_expect(strstr(out, "ok       procmap-query      the vDSO at 0x"),
		  "procmap-query not ok:\n%s", out);
	free(out);
	free(err);
}

Test(check, cli_json, .timeout = 60)
{
	char *out = NULL, *err = NULL, *p;
	size_t objects = 0;
	int st;

	if (geteuid())
		cr_skip_test("ferry check needs root for its required features");
	st = t_run(&out, &err, "%s check --json", t_ferry_bin());
	cr_assert(out);
	cr_assert_eq(st, 0, "ferry check --json exited %d:\n%s\n%s", st, out, err ? err : "");
	cr_assert_eq(out[0], '[', "not a JSON array:\n%s", out);
	cr_assert_str_eq(out + strlen(out) - 2, "]\n");
	expect_every_name(out, "{\"name\": \"%s\", \"required\": ");
	for (p = out; (p = strstr(p, "\"ok\": ")); p++)
		objects++;
	cr_assert_eq(objects, check_count());
	cr_assert(strstr(out, "\"name\": \"pagemap-scan\", \"required\": true, \"ok\": true"),
		  "pagemap-scan not ok:\n%s", out);
	free(out);
	free(err);
}

Test(check, cli_help, .timeout = 10)
{
	char *out = NULL;
	int st;

	st = t_run(&out, NULL, "%s check --help", t_ferry_bin());
	cr_assert(out);
	cr_assert_eq(st, 0);
	expect_every_name(out, "  %s ");
	cr_assert(strstr(out, "--json"));
	free(out);
}

/* Without privileges the BPF probes fail for real: a required feature is missing → exit 1. */
Test(check, cli_fails_when_required_missing, .timeout = 60)
{
	char *out = NULL, *err = NULL;
	int st;

	if (geteuid())
		cr_skip_test("needs root to drop to nobody");
	if (access("/usr/bin/setpriv", X_OK))
		cr_skip_test("setpriv (util-linux) is not installed");
	st = t_run(&out, &err, "setpriv --reuid=nobody --regid=nogroup --clear-groups %s check",
		   t_ferry_bin());
	cr_assert(out);
	cr_assert_eq(st, 1, "ferry check as nobody exited %d:\n%s", st, out);
	cr_assert(strstr(out, "required features are missing") && strstr(out, "bpf-iter-vma"),
		  "no missing-feature summary:\n%s", out);
	free(out);
	free(err);
}
