/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the Criterion suites. */
#ifndef FERRY_TEST_HELPERS_H
#define FERRY_TEST_HELPERS_H

#include <stddef.h>
#include <sys/types.h>

/* Path of build/ferry (FERRY_BIN, else build/ferry from the repo root). */
const char *t_ferry_bin(void);
/* Path of a built workload (FERRY_BUILD/workloads/NAME); an absolute NAME as it is. */
const char *t_workload(const char *name);
/* mkdtemp under /tmp; returns a malloc'd path. */
char *t_tmpdir(void);
/* rm -rf of a test directory. */
void t_rmrf(const char *path);
/*
 * t_small_fs - mount a tmpfs of @size ("256k") on @dir, made if missing: a
 * filesystem to fill. Returns 0 or -errno (the caller skips: needs root).
 * t_small_fs_done detaches it (lazily: an io_uring may hold a file of it a
 * moment after its owner is gone).
 */
int t_small_fs(const char *dir, const char *size);
void t_small_fs_done(const char *dir);
/* Write/read a whole file. read returns a malloc'd NUL-terminated buffer. */
int t_write_file(const char *path, const void *buf, size_t len);
char *t_read_file(const char *path, size_t *len);
/*
 * t_run - run a shell command, capture stdout and stderr (malloc'd, may be
 * NULL), return its exit status (or -1 if it did not exit normally).
 */
int t_run(char **out, char **err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/*
 * t_spawn - start workload @argv (argv[0] is a workload name, see t_workload)
 * in its own process group with stdout and stderr appended to @out_path and
 * stdin from /dev/null. Returns its pid (a child of the test process).
 */
pid_t t_spawn(const char *out_path, const char *const argv[]);
/*
 * t_wait_line - wait up to @timeout_ms for a line containing @needle in file
 * @path; returns that line (malloc'd) or NULL on timeout.
 */
char *t_wait_line(const char *path, const char *needle, int timeout_ms);
/*
 * t_spawn_ready - t_spawn @argv with its output in @out_path, then wait up to
 * @timeout_ms for its line containing @ready; that line goes to *@line
 * (malloc'd) unless @line is NULL. Returns the pid; fails the test, naming
 * the workload, if it does not start or never says @ready.
 */
pid_t t_spawn_ready(const char *out_path, const char *const argv[], const char *ready,
		    int timeout_ms, char **line);
/* t_count_lines - lines of @path containing @needle. */
int t_count_lines(const char *path, const char *needle);
/*
 * t_expect_verdict - send @sig to @pid and wait up to @timeout_ms for one more
 * line containing @ok in its output file @out_path (counted from before the
 * signal). Fails the current test, naming @pid and @ok and printing the file,
 * as soon as a line containing @bad appears (@bad may be NULL: no such check)
 * or when the time is up. Criterion suites only.
 */
void t_expect_verdict(const char *out_path, pid_t pid, int sig, const char *ok, const char *bad,
		      int timeout_ms);
/* t_proc_field - the value after "Key:" in /proc/PID/status, or -1. */
long t_proc_field(pid_t pid, const char *key);
/* t_proc_state - the state letter of /proc/PID/stat, or 0 if gone. */
char t_proc_state(pid_t pid);
/* t_kill_wait - SIGKILL @pid and reap it (it must be our child). */
void t_kill_wait(pid_t pid);
/*
 * t_dirtyrate_vs_log - what `ferry dirtyrate --json` (report @json) counted
 * against what the dirtier wrote (its --log file @log, over @pages pages at
 * @base): the writes logged inside each interval (start_mono_ns,
 * end_mono_ns] are consecutive, so they dirtied min(n, @pages) distinct
 * pages. Out: that sum, ferry's count for the buffer's mapping, the whole
 * process's count, the number of intervals, and 1 if BPF agreed with the
 * scan in every interval, up to the dirtier's one write fault in flight at a
 * stop (0 <= bpf_ahead <= 1; docs/predump.md; with no BPF: 1). Fails the test
 * on a bad report.
 */
void t_dirtyrate_vs_log(const char *json, const char *log, unsigned long long pages,
			unsigned long long base, unsigned long long *wrote, unsigned long long *buf,
			unsigned long long *all, int *nr_iv, int *equal);
/*
 * t_serial - run the rest of this test alone among the tests that call it
 * with the same @name: an exclusive flock on /run/ferry-tests-NAME.lock,
 * held until the test's process exits. For tests that share host-wide state
 * (the network lock's nftables tables, which every --tcp-established dump and
 * restore sweeps).
 */
void t_serial(const char *name);
/* t_crit - path of CRIU's crit decoder, or NULL if it is not installed. */
const char *t_crit(void);

/*
 * A network namespace joined to this one by a veth pair: @here is this
 * side's address, @there the namespace's (10.77.K.1 and .2, K a subnet no
 * interface uses). t_netns_up returns 0, 1 if namespaces cannot be made
 * (skip), -1 on another failure.
 */
struct t_netns {
	char name[32], veth[16], here[32], there[32];
};
int t_netns_up(struct t_netns *n);
void t_netns_down(struct t_netns *n);

/*
 * t_page_server - start `ferry page-server -D @img --address @addr --port 0`
 * (in namespace @ns unless NULL; with @secret unless NULL), stdout to @out,
 * log to @log; wait until it listens and put "ADDR:PORT" in @host_port.
 * Returns its pid (a child of ours) or -1.
 */
pid_t t_page_server(const char *ns, const char *img, const char *addr, const char *secret,
		    const char *out, const char *log, char *host_port, size_t len);

/*
 * A forked child that lays out memory for a test and then waits: @setup
 * (run in the child; it may _exit non-zero on failure) fills the @len bytes
 * at @out, which are sent back to the parent's @out; the child then waits
 * until c->ctl is closed and exits 0. t_child_reap closes c->ctl and reaps
 * the child, which must have exited 0. (A later child inherits the control
 * fds of earlier ones: reap the later first.)
 */
struct t_child {
	pid_t pid;
	int ctl; /* closing it lets the child exit */
};
void t_child_start(struct t_child *c, void (*setup)(void *out, const void *arg), const void *arg,
		   void *out, size_t len);
void t_child_reap(struct t_child *c);

#endif
