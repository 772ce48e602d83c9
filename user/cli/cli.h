/* SPDX-License-Identifier: MIT */
/*
 * The command line: one option parser for every subcommand (CRIU's habit:
 * the same option means the same thing everywhere), one file per subcommand.
 */
#ifndef FERRY_CLI_H
#define FERRY_CLI_H

#include <sys/types.h>

#define CLI_MAX_INHERIT 64

struct cli_opts {
	int verbosity;		 /* -v[N] */
	const char *log_file;	 /* --log-file / -o */
	int binlog;		 /* --binlog */
	int print_log;		 /* --print-log */
	pid_t pid;		 /* -t / --tree */
	const char *images_dir;	 /* -D / --images-dir */
	const char *input;	 /* -i / --input */
	int pretty;		 /* --pretty */
	int json;		 /* --json */
	int types;		 /* --types (decode) */
	int help;		 /* -h / --help */
	int leave_running;	 /* --leave-running */
	int frozen_copy;	 /* --frozen-copy */
	int progress;		 /* --progress 1, --no-progress 0; -1: when stderr is a tty */
	int shell_job;		 /* -j / --shell-job */
	int file_locks;		 /* --file-locks */
	int tcp_established;	 /* --tcp-established (dump, restore, check) */
	int ext_unix_sk;	 /* --ext-unix-sk */
	int detached;		 /* -d / --restore-detached */
	const char *pidfile;	 /* --pidfile */
	const char *prev_dir;	 /* --prev-images-dir */
	int track_mem;		 /* --track-mem (pre-dump always tracks) */
	int no_bpf;		 /* --no-bpf */
	int track_mode;		 /* --track-mode: enum tracker_mode */
	unsigned bpf_pages;	 /* --bpf-pages N (0: default) */
	unsigned bpf_ranges;	 /* --bpf-ranges N (0: default) */
	unsigned bpf_ringbuf;	 /* --bpf-ringbuf BYTES (0: default) */
	int stop;		 /* --stop */
	int status;		 /* --status */
	long interval_ms;	 /* --interval MS */
	double duration_s;	 /* --duration S */
	const char *plot;	 /* --plot FILE.svg */
	int lazy_pages;		 /* --lazy-pages */
	const char *page_server; /* --page-server HOST:PORT */
	const char *address;	 /* --address A (page-server) */
	long port;		 /* --port P (page-server); -1 unset */
	const char *secret_file; /* --secret-file F (page server shared secret) */
	long orphan_timeout_ms;	 /* --orphan-timeout S (restore --lazy-pages) */
	int attach;		 /* --attach PID (lazy-pages) */
	const char *record_ws;	 /* --record-ws[=FILE] ("" for the default file) */
	const char *wire_log;	 /* --wire-log PREFIX (page-server: capture the BER session) */
	long timeout_ms;	 /* --lazy-timeout / --timeout S, in ms; -1 unset */
	long prefetch_delay_ms;	 /* --prefetch-delay MS (lazy restore) */
	const char *inherit_fd[CLI_MAX_INHERIT]; /* --inherit-fd fd[N]:KEY, repeatable */
	int nr_inherit_fd;
	const char *to;	       /* --to HOST:PORT (migrate) */
	int incoming;	       /* --incoming (migrate: the destination) */
	const char *from_file; /* --from-file F (migrate --incoming: a captured stream) */
	int address_order;     /* --postcopy-order address (migrate --incoming) */
	unsigned max_rounds;   /* --max-rounds N (migrate; 0: default) */
	long downtime_ms;      /* --downtime-limit MS (migrate); -1 unset */
	long max_bandwidth;    /* --max-bandwidth BYTES/s (migrate); 0: none */
	long bandwidth;	       /* --bandwidth BYTES/s (dirtyrate: predict a migration); 0: none */
	long xbzrle_cache;     /* --xbzrle[=BYTES] (migrate: the cache of sent pages); 0: off */
	int no_xbzrle;	       /* --no-xbzrle (migrate --incoming: refuse deltas) */
	int auto_converge; /* --auto-converge (migrate: throttle a tree that does not converge) */
	int postcopy;	   /* --postcopy: 0 unset, 1 never, 2 auto, 3 always (migrate) */
	int exit_code;	   /* what ferry exits with when run() succeeds */
	int argc;	   /* positional arguments after the subcommand */
	char **argv;
};

struct cli_cmd {
	const char *name;
	int (*run)(struct cli_opts *o);
	const char *summary;
	const char *usage; /* full --help text */
};

struct tracker_opts;

/* cli_track_opts - the tracker options given on the command line (mode, BPF map sizes). */
void cli_track_opts(const struct cli_opts *o, struct tracker_opts *to);

/* The --help lines of the tracker options, shared by track, pre-dump, dump and dirtyrate. */
#define CLI_TRACK_OPTS_HELP                                                                    \
	"  --track-mode MODE     auto (default): uffd-wp async + PAGEMAP_SCAN (6.7+),\n"       \
	"                        else soft-dirty bits (CONFIG_MEM_SOFT_DIRTY); or force\n"     \
	"                        uffd-wp or soft-dirty\n"                                      \
	"  --no-bpf              no BPF write-fault and VMA-event tracking\n"                  \
	"  --bpf-pages N         records of the BPF per-page write map (default 262144:\n"     \
	"                        1 GiB of distinct pages; ~100 bytes of kernel memory each)\n" \
	"  --bpf-ranges N        address ranges BPF tells apart (default 1024)\n"              \
	"  --bpf-ringbuf SIZE    VMA-event ring buffer, a power of two >= 4K (default 256K)\n"

/* Each subcommand file defines one of these. */
extern const struct cli_cmd cmd_check, cmd_decode, cmd_dirtyrate, cmd_dump, cmd_lazy_pages,
	cmd_migrate, cmd_page_server, cmd_pre_dump, cmd_restore, cmd_show_log, cmd_track,
	cmd_netlock;

#endif
