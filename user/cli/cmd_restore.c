// SPDX-License-Identifier: MIT
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

#define LOG_PREFIX ""
#include "cli.h"
#include "log.h"
#include "restore.h"

static int run(struct cli_opts *o)
{
	struct restore_opts ro = { 0 };
	pid_t root, w;
	int err, status;

	if (!o->images_dir) {
		fprintf(stderr, "ferry restore: -D DIR is required (see --help)\n");
		return -1;
	}
	if (o->argc) {
		fprintf(stderr, "ferry restore: unexpected argument '%s' (see --help)\n",
			o->argv[0]);
		return -1;
	}
	ro.dir = o->images_dir;
	ro.detached = o->detached;
	ro.shell_job = o->shell_job;
	ro.pidfile = o->pidfile;
	err = restore_run(&ro, &root);
	if (err)
		return err;
	if (o->detached)
		return 0;
	/* Like CRIU without -d: stay the root's parent and exit with its status. */
	do
		w = waitpid(root, &status, 0);
	while (w < 0 && errno == EINTR);
	if (w < 0) {
		err = -errno;
		pr_errno(err, "cannot wait for the restored root, pid %d", root);
		return err;
	}
	if (WIFEXITED(status)) {
		pr_info("restored pid %d exited with status %d", root, WEXITSTATUS(status));
		o->exit_code = WEXITSTATUS(status);
	} else {
		pr_info("restored pid %d was killed by signal %d", root, WTERMSIG(status));
		o->exit_code = 128 + WTERMSIG(status);
	}
	return 0;
}

const struct cli_cmd cmd_restore = {
	.name = "restore",
	.run = run,
	.summary = "bring a dumped process tree back from its images",
	.usage = "Usage: ferry restore -D DIR [-d] [--shell-job] [--pidfile FILE] [-v[N]]\n\n"
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
		 "  --pidfile FILE            write the root's pid to FILE\n"
		 "  -v[N]                     -v3 prints the restore statistics\n\n"
		 "Restored: address space (every VMA at its address, private memory from the\n"
		 "pages images, file mappings from their files, vDSO moved to its old place),\n"
		 "files at their flags and positions, pipes with their data, threads, registers\n"
		 "and FPU/AVX state, TLS, signal masks, pending signals, sigactions, sigaltstack,\n"
		 "robust futex list, rseq, itimers, rlimits, cwd/root/umask, creds.\n\n"
		 "Refused before anything runs, with a message naming what is wrong: a pid or\n"
		 "tid already in use, a missing or inconsistent image, a truncated pages image,\n"
		 "a mapped file that vanished or changed size, a different kernel's vDSO.\n"
		 "On any failure every process made so far is killed; ferry exits non-zero.\n",
};
