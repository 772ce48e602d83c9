// SPDX-License-Identifier: MIT
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define LOG_PREFIX ""
#include "cli.h"
#include "lazy.h"
#include "log.h"
#include "lazy_ws.h"
#include "restore.h"
#include "tty.h"

static int run(struct cli_opts *o)
{
	struct restore_inherit inherit[CLI_MAX_INHERIT];
	struct restore_opts ro = { 0 };
	char ws[4096];
	pid_t root, w, daemon = 0;
	int err, status, daemon_killed = 0;

	if (!o->images_dir) {
		fprintf(stderr, "ferry restore: -D DIR is required (see --help)\n");
		return -1;
	}
	if (o->argc) {
		fprintf(stderr, "ferry restore: unexpected argument '%s' (see --help)\n",
			o->argv[0]);
		return -1;
	}
	for (int i = 0; i < o->nr_inherit_fd; i++)
		if (restore_inherit_parse(o->inherit_fd[i], &inherit[i]))
			return -1;
	ro.inherit = inherit;
	ro.nr_inherit = (size_t)o->nr_inherit_fd;
	ro.dir = o->images_dir;
	ro.detached = o->detached;
	ro.shell_job = o->shell_job;
	ro.file_locks = o->file_locks;
	ro.tcp_established = o->tcp_established;
	ro.ext_unix_sk = o->ext_unix_sk;
	ro.pidfile = o->pidfile;
	ro.lazy = o->lazy_pages;
	ro.page_server = o->page_server;
	ro.secret_file = o->secret_file;
	ro.timeout_ms = o->timeout_ms > 0 ? o->timeout_ms : 10000;
	ro.lazy_daemon = &daemon;
	ro.prefetch_delay_ms = o->prefetch_delay_ms;
	ro.orphan_timeout_ms = o->orphan_timeout_ms;
	if ((o->page_server || o->record_ws || o->secret_file || o->timeout_ms > 0 ||
	     o->prefetch_delay_ms || o->orphan_timeout_ms) &&
	    !o->lazy_pages) {
		fprintf(stderr, "ferry restore: --page-server, --record-ws, --secret-file, "
				"--lazy-timeout, --prefetch-delay and --orphan-timeout need "
				"--lazy-pages\n");
		return -1;
	}
	if (o->record_ws) {
		if (*o->record_ws)
			snprintf(ws, sizeof(ws), "%s", o->record_ws);
		else
			snprintf(ws, sizeof(ws), "%s/%s", o->images_dir, LAZY_WS_FILE);
		ro.record_ws = ws;
	}
	err = restore_run(&ro, &root);
	if (err)
		return err;
	if (o->detached) {
		if (o->shell_job && isatty(0))
			pr_warn("--shell-job with -d: the shell takes the terminal back from the "
				"restored job once ferry exits; without -d ferry waits and the job "
				"keeps the foreground");
		return 0;
	}
	/*
	 * Like CRIU without -d: stay the root's parent and exit with its status.
	 * The lazy-pages daemon is our child too: if it is killed while pages
	 * are missing, the kernel lets them read as zeros. Then the tree is
	 * killed rather than left to run on wrong memory.
	 */
	for (;;) {
		w = waitpid(daemon > 0 ? -1 : root, &status, 0);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			err = -errno;
			pr_errno(err, "cannot wait for the restored root, pid %d", root);
			return err;
		}
		if (w == root)
			break;
		if (w != daemon)
			continue;
		daemon = 0;
		if (WIFSIGNALED(status)) {
			pr_err("the lazy-pages daemon (pid %d) was killed by signal %d before every "
			       "page was in: killing the restored tree of pid %d (its missing pages "
			       "would read as zeros)",
			       w, WTERMSIG(status), root);
			lazy_kill_tree(root);
			daemon_killed = 1;
		}
	}
	rtty_take_back();
	if (WIFEXITED(status)) {
		pr_info("restored pid %d exited with status %d", root, WEXITSTATUS(status));
		o->exit_code = WEXITSTATUS(status);
	} else {
		pr_info("restored pid %d was killed by signal %d", root, WTERMSIG(status));
		o->exit_code = 128 + WTERMSIG(status);
	}
	/* The lazy-pages daemon ends once every page is in or the tree is gone. */
	while (daemon > 0 && waitpid(daemon, &status, 0) < 0 && errno == EINTR)
		;
	return daemon_killed ? -EIO : 0;
}

const struct cli_cmd cmd_restore = {
	.name = "restore",
	.run = run,
	.summary = "bring a dumped process tree back from its images",
	.usage =
		"Usage: ferry restore -D DIR [-d] [--shell-job] [--file-locks] [--tcp-established]\n"
		"                     [--ext-unix-sk] [--pidfile FILE]\n"
		"                     [-v[N]] [--inherit-fd fd[N]:KEY]...\n"
		"                     [--lazy-pages [--page-server HOST:PORT [--secret-file F]]\n"
		"                      [--record-ws[=FILE]] [--lazy-timeout S]\n"
		"                      [--prefetch-delay MS] [--orphan-timeout S]]\n\n"
		"Re-creates the process tree dumped in DIR, every process and thread with its\n"
		"dumped pid/tid, session and process group, and resumes it where it was frozen.\n"
		"Without -d ferry stays the root's parent, waits for it and exits with its exit\n"
		"status (128+N if killed by signal N), as CRIU does.\n\n"
		"Options:\n"
		"  -D, --images-dir DIR      the images, as written by 'ferry dump'\n"
		"  -d, --restore-detached    return once the tree runs (it is reparented when\n"
		"                            ferry exits)\n"
		"  -j, --shell-job           fds on a terminal get ferry's own terminal\n"
		"                            (refused without this option)\n"
		"  --file-locks              take the dumped file locks (filelocks.img, from\n"
		"                            'ferry dump --file-locks') again, each in the\n"
		"                            process that held it, before the tree runs; a\n"
		"                            lock someone holds now fails the restore, named.\n"
		"                            A dump with locks is refused without this option\n"
		"  --tcp-established         make the dumped TCP connections again (in repair\n"
		"                            mode, out of it and unlocked as the tree resumes;\n"
		"                            a failed restore keeps the locks). A dump with\n"
		"                            connections is refused without this option\n"
		"  --ext-unix-sk             a unix socket whose peer was outside the tree (a\n"
		"                            dump with --ext-unix-sk) connects to that peer's\n"
		"                            name again (refused without this option); one\n"
		"                            whose peer had no name needs --inherit-fd\n"
		"                            fd[N]:socket:[INODE] (its own inode)\n"
		"  --pidfile FILE            write the root's pid to FILE\n"
		"  --inherit-fd fd[N]:KEY    the file of the dump with key KEY is not opened\n"
		"                            again: its fds get ferry's fd N (repeatable). KEY\n"
		"                            is pipe:[INODE] for a pipe, socket:[INODE] for a\n"
		"                            unix socket (as `ferry dump` and\n"
		"                            `ferry decode -i files.img` name it) or the path\n"
		"                            of a regular file. A pipe whose other end was\n"
		"                            outside the tree (`prog | cat`) needs one: e.g.\n"
		"                            ferry restore -D d --inherit-fd 'fd[1]:pipe:[N]' | cat\n"
		"  -v[N]                     -v3 prints the restore statistics\n\n"
		"Lazy (post-copy) restore:\n"
		"  --lazy-pages              resume the tree before its private anonymous memory\n"
		"                            is in place: a lazy-pages daemon (ferry's child,\n"
		"                            'ferry-lazy') fills each page on first touch\n"
		"                            (userfaultfd) and the rest in the background, then\n"
		"                            exits, printing a summary line. Pages of private\n"
		"                            file mappings are written before resume.\n"
		"  --page-server HOST:PORT   take the pages from 'ferry page-server' there\n"
		"                            instead of DIR's pages-*.img (which may be absent)\n"
		"  --secret-file F           the page server's shared secret\n"
		"  --record-ws[=FILE]        record the order in which pages are first touched\n"
		"                            (default DIR/working-set.ferry); a later lazy\n"
		"                            restore of DIR fills DIR/working-set.ferry's pages\n"
		"                            first, before the tree resumes\n"
		"  --lazy-timeout S          a page request unanswered for S seconds (default\n"
		"                            10) means the page source is gone: the processes\n"
		"                            still missing pages are killed, the page named\n"
		"  --prefetch-delay MS       start the background filling MS ms after resume\n"
		"                            (default 0; faults are served meanwhile)\n"
		"  --orphan-timeout S        if the daemon dies (SIGKILL, OOM) before every page\n"
		"                            is in, its holder ('ferry-lazyh') keeps the memory\n"
		"                            registered, so missing pages wait, never read as\n"
		"                            zeros; 'ferry lazy-pages --attach PID' resumes the\n"
		"                            serving. Nobody within S s (default 60): the\n"
		"                            processes missing pages are killed, named\n\n"
		"Restored: address space (every VMA at its address, private memory from the\n"
		"pages images, file mappings from their files, vDSO moved to its old place),\n"
		"files at their flags and positions, pipes with their data, inotify watches\n"
		"(same wds), threads, registers\n"
		"and FPU/AVX state, TLS, signal masks, pending signals, sigactions, sigaltstack,\n"
		"robust futex list, rseq, itimers and POSIX timers (same ids, time left),\n"
		"rlimits, cwd/root/umask, creds; with\n"
		"--file-locks, POSIX, OFD and flock locks.\n\n"
		"Refused before anything runs, with a message naming what is wrong: a pid or\n"
		"tid already in use, a missing or inconsistent image, a truncated pages image,\n"
		"a mapped file that vanished or changed size, a different kernel's vDSO, a\n"
		"pipe that led out of the tree without --inherit-fd.\n"
		"On any failure every process made so far is killed; ferry exits non-zero.\n",
};
