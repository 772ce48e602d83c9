// SPDX-License-Identifier: MIT
/* `ferry track`: arm, inspect or stop the dirty-page tracking of a process. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#define LOG_PREFIX ""
#include "cli.h"
#include "log.h"
#include "pstree.h"
#include "tracker.h"

static int status(pid_t pid, int json)
{
	struct tracker *t;
	int err = tracker_attach(&t, pid);

	if (err == -ENOENT) {
		if (json)
			printf("{\"pid\": %d, \"tracked\": false}\n", pid);
		else
			printf("pid %d is not tracked\n", pid);
		return 0;
	}
	if (err)
		return err;
	if (json)
		printf("{\"pid\": %d, \"tracked\": true, \"mode\": \"%s\", \"parked_fd\": %d, "
		       "\"rounds\": %u, \"bpf\": %s}\n",
		       pid, tracker_mode_name(t->mode), t->parked_fd, t->round,
		       t->bpf ? "true" : "false");
	else if (t->mode == TRACKER_SOFT_DIRTY)
		printf("pid %d is tracked: soft-dirty bits, %u round(s), BPF %s\n", pid, t->round,
		       t->bpf ? "pinned" : "off");
	else
		printf("pid %d is tracked: userfaultfd parked at its fd %d, %u round(s), BPF %s\n",
		       pid, t->parked_fd, t->round, t->bpf ? "pinned" : "off");
	return tracker_save(t, -1);
}

static int arm(const struct cli_opts *o)
{
	struct tracker_opts to = { 0 };
	struct tracker *t = NULL;
	struct pstree tree;
	int err;

	cli_track_opts(o, &to);
	err = pstree_freeze(&tree, o->pid);
	if (err)
		return err;
	err = tracker_arm(&t, o->pid, &to);
	pstree_release(&tree);
	pstree_free(&tree);
	if (err)
		return err;
	return tracker_save(t, -1);
}

static int run(struct cli_opts *o)
{
	int err;

	if (!o->pid) {
		fprintf(stderr, "ferry track: -t PID is required (see --help)\n");
		return -1;
	}
	if (o->stop) {
		err = tracker_stop_pid(o->pid, 0);
		if (err == -ENOENT) {
			pr_err("pid %d is not tracked", o->pid);
			return err;
		}
		if (!err && kill(o->pid, 0) && errno == ESRCH)
			pr_info("pid %d is gone: nothing of its tracking is left", o->pid);
		else if (!err)
			pr_info("pid %d: tracking stopped", o->pid);
		return err;
	}
	if (o->status)
		return status(o->pid, o->json);
	return arm(o);
}

const struct cli_cmd cmd_track = {
	.name = "track",
	.run = run,
	.summary = "arm, show or stop the dirty-page tracking of a process",
	.usage = "Usage: ferry track -t PID [--track-mode M] [--no-bpf] [--bpf-pages N]\n"
		 "                   [--bpf-ranges N] [--bpf-ringbuf SIZE]\n"
		 "       ferry track -t PID --status [--json]\n"
		 "       ferry track -t PID --stop\n\n"
		 "Dirty-page tracking (userfaultfd async write-protection + PAGEMAP_SCAN, with\n"
		 "BPF counting write faults) is what makes `ferry pre-dump` rounds incremental.\n"
		 "pre-dump arms it by itself; this command arms it ahead of time, tells whether\n"
		 "a process is tracked, or stops tracking: ferry closes the userfaultfd it\n"
		 "parked in the process (the process is stopped for that one call), the kernel\n"
		 "unregisters its memory and lifts every write protection, and the pinned BPF\n"
		 "programs are removed. The process keeps running and no longer takes write\n"
		 "faults. Arming only the root: the tracked process is PID, not its children.\n"
		 "On kernels without uffd-wp async, tracking uses soft-dirty bits (nothing is\n"
		 "parked; stopping removes the state and BPF; a page written for the first\n"
		 "time after the last round still takes one soft-dirty fault).\n\n"
		 "Options:\n"
		 "  -t, --tree PID        the process\n"
		 "  --status              print whether PID is tracked (--json for a program)\n"
		 "  --stop                stop tracking PID\n" CLI_TRACK_OPTS_HELP,
};
