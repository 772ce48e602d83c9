// SPDX-License-Identifier: MIT
#include <stdio.h>
#include <string.h>
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
		fprintf(stderr, "ferry dump: -t PID and -D DIR are required (see --help)\n");
		return -1;
	}
	d.pid = o->pid;
	d.dir = o->images_dir;
	d.leave_running = o->leave_running;
	d.frozen_copy = o->frozen_copy;
	d.progress = o->progress < 0 ? isatty(STDERR_FILENO) : o->progress;
	d.shell_job = o->shell_job;
	d.file_locks = o->file_locks;
	d.tcp_established = o->tcp_established;
	d.ext_unix_sk = o->ext_unix_sk;
	d.prev_dir = o->prev_dir;
	cli_track_opts(o, &d.track);
	err = dump_tree(&d, &r);
	if (err)
		return err;
	pr_info("dump of pid %d done: %llu process(es), %llu thread(s), %llu VMAs", o->pid,
		(unsigned long long)r.nr_procs, (unsigned long long)r.nr_threads,
		(unsigned long long)r.nr_vmas);
	pr_info("freezing %llu us, frozen %llu us, memory dump %llu us, memory write %llu us",
		(unsigned long long)r.freezing_us, (unsigned long long)r.frozen_us,
		(unsigned long long)r.memdump_us, (unsigned long long)r.memwrite_us);
	pr_info("pages scanned %llu, written %llu (%.1f MiB), in the parent images %llu",
		(unsigned long long)r.pages_scanned, (unsigned long long)r.pages_written,
		(double)r.pages_written * 4096 / (1 << 20), (unsigned long long)r.pages_parent);
	if (!strcmp(r.copy_path, "background"))
		pr_info("memory copied in the background (uffd-wp): %llu process(es), %llu pages "
			"write-protected, %llu copied while frozen (file-private), %llu process(es) "
			"copied frozen; copy %llu us after the release, %llu write faults (%llu pages "
			"copied first), fault service avg %llu us max %llu us, %llu memory events",
			(unsigned long long)r.bg.procs, (unsigned long long)r.bg.pages_wp,
			(unsigned long long)r.bg.pages_presaved,
			(unsigned long long)r.bg_frozen_procs, (unsigned long long)r.bg_copy_us,
			(unsigned long long)r.bg.faults, (unsigned long long)r.bg.pages_first,
			(unsigned long long)(r.bg.faults ? r.bg.fault_ns_sum / r.bg.faults / 1000
							 : 0),
			(unsigned long long)(r.bg.fault_ns_max / 1000),
			(unsigned long long)r.bg.events);
	else
		pr_info("memory copied while the tree was frozen%s",
			r.bg_retried ? " (the background snapshot was spoiled and taken again)"
				     : "");
	return 0;
}

const struct cli_cmd cmd_dump = {
	.name = "dump",
	.run = run,
	.summary = "checkpoint a process tree into CRIU-format images",
	.usage =
		"Usage: ferry dump -t PID -D DIR [--prev-images-dir DIR] [--leave-running]\n"
		"                  [--frozen-copy] [--shell-job] [--file-locks] [--tcp-established]\n"
		"                  [--ext-unix-sk] [-v[N]] [--log-file F] [--progress | --no-progress]\n\n"
		"Freezes the process tree rooted at PID (every thread, seized with ptrace; no\n"
		"SIGSTOP is sent), writes its state to CRIU-format images in DIR, then kills the\n"
		"tree (CRIU's default) or, with --leave-running, lets it continue. On any error\n"
		"the tree is released untouched and ferry exits non-zero.\n\n"
		"Options:\n"
		"  -t, --tree PID        root of the tree to dump\n"
		"  -D, --images-dir DIR  where the images go (created if missing; must not hold\n"
		"                        another dump)\n"
		"  --prev-images-dir P   end a pre-dump chain: P is the last pre-dump's directory\n"
		"                        (relative to DIR, or absolute). Pages not written since\n"
		"                        then are recorded as in the parent, not copied; DIR gets\n"
		"                        a \"parent\" symlink to P. Tracking stops with the dump.\n"
		"  --leave-running       let the tree continue after the dump. Its memory is\n"
		"                        copied after it is released (background snapshot:\n"
		"                        write-protected with userfaultfd at the freeze, a\n"
		"                        page the tree writes is copied first); where the\n"
		"                        kernel or the tree does not allow it, while frozen\n"
		"  --frozen-copy         with --leave-running: copy the memory while the tree\n"
		"                        is frozen (no write-protection)\n"
		"  --progress, --no-progress\n"
		"                        a line with the memory copied, the rate and the time\n"
		"                        left, on stderr (default: when stderr is a terminal;\n"
		"                        dumps shorter than half a second print none)\n"
		"  -j, --shell-job       the tree runs in the caller's terminal: dump the fds on\n"
		"                        its controlling tty (refused without this option)\n"
		"  --file-locks          dump the POSIX (fcntl/lockf), OFD and flock locks the\n"
		"                        tree holds (filelocks.img), to take them again at\n"
		"                        restore (refused without this option: every lock is\n"
		"                        named with its pid, fd, file, kind, type and range)\n"
		"  --tcp-established     dump established TCP connections (TCP_REPAIR, CRIU's\n"
		"                        tcp-stream-INO.img); each is locked first by an\n"
		"                        nftables table (no ACK, no RST reaches the peer),\n"
		"                        kept until the restore when the tree is killed\n"
		"                        (ferry netlock; refused without this option)\n"
		"  --ext-unix-sk         a unix socket connected to a socket no process of the\n"
		"                        tree holds: that peer is kept as an external entry\n"
		"                        (its name), to connect to again at restore (refused\n"
		"                        without this option; bytes it queued are refused)\n"
		"  -v[N]                 -v3 prints the dump statistics (also in stats-dump)\n\n"
		"Dumped: processes and threads with their ids, session and process group;\n"
		"registers, FPU/AVX state, TLS, signal masks, pending signals, sigactions,\n"
		"sigaltstack, robust futex list, rseq, creds, rlimits, itimers, POSIX timers,\n"
		"cwd/root/umask;\n"
		"every VMA and the memory of private mappings (pages never touched are skipped);\n"
		"regular files, directories, /dev/null-like devices, pipes with their data;\n"
		"eventfd, epoll (with its targets), signalfd, timerfd; inotify instances with\n"
		"their watches; shared anonymous and /dev/zero memory, memfds, deleted regular\n"
		"files (<= 64 MiB), SysV shm segments (host IPC namespace), each once,\n"
		"shared again at restore (a SysV key taken at restore is refused); AF_UNIX\n"
		"sockets (stream, dgram, seqpacket: pairs in the tree, listeners, bound and\n"
		"unnamed, connections not accepted yet) with their queued messages and options\n"
		"(files.img usk, sk-queues.img);\n"
		"TCP listeners and unconnected sockets, UDP sockets, netlink sockets, with\n"
		"their addresses and options (files.img isk, nlsk; queued datagrams dropped);\n"
		"O_PATH fds on any file (a symlink itself too); named FIFOs with their bytes;\n"
		"zombies with their exit status.\n"
		"A pipe whose other end is outside the tree (prog | cat) is dumped with a\n"
		"warning: restore needs --inherit-fd fd[N]:pipe:[INODE] to plug it.\n"
		"Refused with a message naming pid and fd or address: established TCP\n"
		"connections (no --tcp-established yet), packet and raw sockets, a unix\n"
		"socket whose peer is outside the tree without --ext-unix-sk, a connection not\n"
		"accepted yet with bytes sent into it, SCM_RIGHTS in flight, fanotify,\n"
		"io_uring, larger deleted files, removed directories, deleted FIFOs, devices\n"
		"other than /dev/null-like ones, a part of a SysV segment, seccomp,\n"
		"file leases; a terminal without --shell-job; file locks\n"
		"without --file-locks. Every object of every process is checked before the\n"
		"dump gives up, so one run lists them all (`ferry check -t PID` does the same\n"
		"without dumping). The whole list: docs/coverage.md.\n\n"
		"Images are written to a staging directory and moved into DIR at the end,\n"
		"inventory.img last: a dump exists once inventory.img does. What a killed\n"
		"ferry leaves (staging, images moved before inventory.img) is removed by the\n"
		"next dump into DIR.\n",
};
