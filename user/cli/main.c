// SPDX-License-Identifier: MIT
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOG_PREFIX ""
#include "cli.h"
#include "log.h"
#include "tracker.h"

static const struct cli_cmd *const commands[] = {
	&cmd_check,	 &cmd_decode,	&cmd_dirtyrate,	  &cmd_dump,
	&cmd_lazy_pages, &cmd_migrate,	&cmd_page_server, &cmd_pre_dump,
	&cmd_restore,	 &cmd_show_log, &cmd_track,	  &cmd_netlock,
};
#define NR_COMMANDS (sizeof(commands) / sizeof(commands[0]))

enum {
	OPT_LOG_FILE = 256,
	OPT_BINLOG,
	OPT_PRINT_LOG,
	OPT_PRETTY,
	OPT_JSON,
	OPT_LEAVE_RUNNING,
	OPT_FROZEN_COPY,
	OPT_PROGRESS,
	OPT_NO_PROGRESS,
	OPT_PIDFILE,
	OPT_PREV_DIR,
	OPT_TRACK_MEM,
	OPT_NO_BPF,
	OPT_STOP,
	OPT_STATUS,
	OPT_INTERVAL,
	OPT_DURATION,
	OPT_PLOT,
	OPT_LAZY_PAGES,
	OPT_PAGE_SERVER,
	OPT_ADDRESS,
	OPT_PORT,
	OPT_SECRET_FILE,
	OPT_RECORD_WS,
	OPT_WIRE_LOG,
	OPT_FROM_FILE,
	OPT_POSTCOPY_ORDER,
	OPT_TIMEOUT,
	OPT_PREFETCH_DELAY,
	OPT_TRACK_MODE,
	OPT_BPF_PAGES,
	OPT_BPF_RANGES,
	OPT_BPF_RINGBUF,
	OPT_INHERIT_FD,
	OPT_FILE_LOCKS,
	OPT_TCP_ESTABLISHED,
	OPT_EXT_UNIX_SK,
	OPT_TYPES,
	OPT_ORPHAN_TIMEOUT,
	OPT_ATTACH,
	OPT_TO,
	OPT_INCOMING,
	OPT_MAX_ROUNDS,
	OPT_DOWNTIME_LIMIT,
	OPT_MAX_BANDWIDTH,
	OPT_BANDWIDTH,
	OPT_XBZRLE,
	OPT_NO_XBZRLE,
	OPT_AUTO_CONVERGE,
	OPT_POSTCOPY,
};

static const struct option long_opts[] = {
	{ "help", no_argument, NULL, 'h' },
	{ "verbosity", optional_argument, NULL, 'v' },
	{ "log-file", required_argument, NULL, OPT_LOG_FILE },
	{ "binlog", no_argument, NULL, OPT_BINLOG },
	{ "print-log", no_argument, NULL, OPT_PRINT_LOG },
	{ "tree", required_argument, NULL, 't' },
	{ "images-dir", required_argument, NULL, 'D' },
	{ "input", required_argument, NULL, 'i' },
	{ "pretty", no_argument, NULL, OPT_PRETTY },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "leave-running", no_argument, NULL, OPT_LEAVE_RUNNING },
	{ "frozen-copy", no_argument, NULL, OPT_FROZEN_COPY },
	{ "progress", no_argument, NULL, OPT_PROGRESS },
	{ "no-progress", no_argument, NULL, OPT_NO_PROGRESS },
	{ "shell-job", no_argument, NULL, 'j' },
	{ "file-locks", no_argument, NULL, OPT_FILE_LOCKS },
	{ "tcp-established", no_argument, NULL, OPT_TCP_ESTABLISHED },
	{ "ext-unix-sk", no_argument, NULL, OPT_EXT_UNIX_SK },
	{ "restore-detached", no_argument, NULL, 'd' },
	{ "pidfile", required_argument, NULL, OPT_PIDFILE },
	{ "prev-images-dir", required_argument, NULL, OPT_PREV_DIR },
	{ "track-mem", no_argument, NULL, OPT_TRACK_MEM },
	{ "no-bpf", no_argument, NULL, OPT_NO_BPF },
	{ "stop", no_argument, NULL, OPT_STOP },
	{ "status", no_argument, NULL, OPT_STATUS },
	{ "interval", required_argument, NULL, OPT_INTERVAL },
	{ "duration", required_argument, NULL, OPT_DURATION },
	{ "plot", required_argument, NULL, OPT_PLOT },
	{ "lazy-pages", no_argument, NULL, OPT_LAZY_PAGES },
	{ "page-server", required_argument, NULL, OPT_PAGE_SERVER },
	{ "address", required_argument, NULL, OPT_ADDRESS },
	{ "port", required_argument, NULL, OPT_PORT },
	{ "secret-file", required_argument, NULL, OPT_SECRET_FILE },
	{ "record-ws", optional_argument, NULL, OPT_RECORD_WS },
	{ "wire-log", required_argument, NULL, OPT_WIRE_LOG },
	{ "from-file", required_argument, NULL, OPT_FROM_FILE },
	{ "postcopy-order", required_argument, NULL, OPT_POSTCOPY_ORDER },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "lazy-timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "prefetch-delay", required_argument, NULL, OPT_PREFETCH_DELAY },
	{ "orphan-timeout", required_argument, NULL, OPT_ORPHAN_TIMEOUT },
	{ "attach", required_argument, NULL, OPT_ATTACH },
	{ "track-mode", required_argument, NULL, OPT_TRACK_MODE },
	{ "bpf-pages", required_argument, NULL, OPT_BPF_PAGES },
	{ "bpf-ranges", required_argument, NULL, OPT_BPF_RANGES },
	{ "bpf-ringbuf", required_argument, NULL, OPT_BPF_RINGBUF },
	{ "inherit-fd", required_argument, NULL, OPT_INHERIT_FD },
	{ "types", no_argument, NULL, OPT_TYPES },
	{ "to", required_argument, NULL, OPT_TO },
	{ "incoming", no_argument, NULL, OPT_INCOMING },
	{ "max-rounds", required_argument, NULL, OPT_MAX_ROUNDS },
	{ "downtime-limit", required_argument, NULL, OPT_DOWNTIME_LIMIT },
	{ "max-bandwidth", required_argument, NULL, OPT_MAX_BANDWIDTH },
	{ "bandwidth", required_argument, NULL, OPT_BANDWIDTH },
	{ "xbzrle", optional_argument, NULL, OPT_XBZRLE },
	{ "no-xbzrle", no_argument, NULL, OPT_NO_XBZRLE },
	{ "auto-converge", no_argument, NULL, OPT_AUTO_CONVERGE },
	{ "postcopy", required_argument, NULL, OPT_POSTCOPY },
	{ 0 },
};
static const char short_opts[] = "+hv::o:t:D:i:jd";

static void usage(FILE *f)
{
	size_t i;

	fprintf(f, "Usage: ferry COMMAND [OPTIONS]\n\n"
		   "Checkpoint and restore Linux processes with CRIU-format images.\n\n"
		   "Commands:\n");
	for (i = 0; i < NR_COMMANDS; i++)
		fprintf(f, "  %-12s %s\n", commands[i]->name, commands[i]->summary);
	fprintf(f, "\nCommon options:\n"
		   "  -v[N], --verbosity[=N]  log level 0..4 (0 messages, 1 errors, 2 warnings,\n"
		   "                          3 info, 4 debug); -v alone adds one, default 2\n"
		   "  -o, --log-file FILE     write the log to FILE instead of stderr\n"
		   "  --binlog                write the log as binary records (needs --log-file)\n"
		   "  --print-log             with --log-file F --binlog: print F's messages\n"
		   "  -h, --help              this text; 'ferry COMMAND --help' for a command\n"
		   "\nSee 'man ferry' style reference: docs/ferry.md\n");
}

static int parse_int(const char *s, long min, long max, long *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 0);
	if (errno || end == s || *end || v < min || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* A byte count with an optional K, M or G suffix (powers of 1024). */
static int parse_size(const char *s, long *out)
{
	char *end;
	long v;
	int shift = 0;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || v < 0)
		return -EINVAL;
	if (*end == 'K' || *end == 'k')
		shift = 10;
	else if (*end == 'M' || *end == 'm')
		shift = 20;
	else if (*end == 'G' || *end == 'g')
		shift = 30;
	if (shift)
		end++;
	if (*end || v > (1L << 40) >> shift)
		return -EINVAL;
	*out = v << shift;
	return 0;
}

void cli_track_opts(const struct cli_opts *o, struct tracker_opts *to)
{
	to->mode = (enum tracker_mode)o->track_mode;
	to->no_bpf = o->no_bpf;
	to->bpf.max_pages = o->bpf_pages;
	to->bpf.max_ranges = o->bpf_ranges;
	to->bpf.ringbuf_bytes = o->bpf_ringbuf;
}

static int parse_opts(int argc, char **argv, struct cli_opts *o)
{
	long v;
	int c;

	while ((c = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			o->help = 1;
			break;
		case 'v':
			if (!optarg) {
				o->verbosity++;
				break;
			}
			/* -vvv: count the v's; -v4: a level. */
			if (strspn(optarg, "v") == strlen(optarg)) {
				o->verbosity += 1 + (int)strlen(optarg);
				break;
			}
			if (parse_int(optarg, 0, 4, &v)) {
				fprintf(stderr, "ferry: bad verbosity '%s' (0..4)\n", optarg);
				return -EINVAL;
			}
			o->verbosity = (int)v;
			break;
		case 'o':
		case OPT_LOG_FILE:
			o->log_file = optarg;
			break;
		case OPT_BINLOG:
			o->binlog = 1;
			break;
		case OPT_PRINT_LOG:
			o->print_log = 1;
			break;
		case 't':
			if (parse_int(optarg, 1, 0x7fffffff, &v)) {
				fprintf(stderr, "ferry: bad pid '%s'\n", optarg);
				return -EINVAL;
			}
			o->pid = (pid_t)v;
			break;
		case 'D':
			o->images_dir = optarg;
			break;
		case 'i':
			o->input = optarg;
			break;
		case OPT_PRETTY:
			o->pretty = 1;
			break;
		case OPT_JSON:
			o->json = 1;
			break;
		case OPT_TYPES:
			o->types = 1;
			break;
		case OPT_LEAVE_RUNNING:
			o->leave_running = 1;
			break;
		case OPT_FROZEN_COPY:
			o->frozen_copy = 1;
			break;
		case OPT_PROGRESS:
			o->progress = 1;
			break;
		case OPT_NO_PROGRESS:
			o->progress = 0;
			break;
		case 'j':
			o->shell_job = 1;
			break;
		case OPT_FILE_LOCKS:
			o->file_locks = 1;
			break;
		case OPT_TCP_ESTABLISHED:
			o->tcp_established = 1;
			break;
		case OPT_EXT_UNIX_SK:
			o->ext_unix_sk = 1;
			break;
		case 'd':
			o->detached = 1;
			break;
		case OPT_PIDFILE:
			o->pidfile = optarg;
			break;
		case OPT_INHERIT_FD:
			if (o->nr_inherit_fd == CLI_MAX_INHERIT) {
				fprintf(stderr, "ferry: more than %d --inherit-fd\n",
					CLI_MAX_INHERIT);
				return -EINVAL;
			}
			o->inherit_fd[o->nr_inherit_fd++] = optarg;
			break;
		case OPT_PREV_DIR:
			o->prev_dir = optarg;
			break;
		case OPT_TRACK_MEM:
			o->track_mem = 1;
			break;
		case OPT_NO_BPF:
			o->no_bpf = 1;
			break;
		case OPT_STOP:
			o->stop = 1;
			break;
		case OPT_STATUS:
			o->status = 1;
			break;
		case OPT_INTERVAL:
			if (parse_int(optarg, 10, 3600000, &v)) {
				fprintf(stderr, "ferry: bad --interval '%s' (10..3600000 ms)\n",
					optarg);
				return -EINVAL;
			}
			o->interval_ms = v;
			break;
		case OPT_DURATION: {
			char *end;

			errno = 0;
			o->duration_s = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(o->duration_s > 0) ||
			    o->duration_s > 86400) {
				fprintf(stderr, "ferry: bad --duration '%s' (seconds, > 0)\n",
					optarg);
				return -EINVAL;
			}
			break;
		}
		case OPT_PLOT:
			o->plot = optarg;
			break;
		case OPT_LAZY_PAGES:
			o->lazy_pages = 1;
			break;
		case OPT_PAGE_SERVER:
			o->page_server = optarg;
			break;
		case OPT_ADDRESS:
			o->address = optarg;
			break;
		case OPT_PORT:
			if (parse_int(optarg, 0, 65535, &v)) {
				fprintf(stderr, "ferry: bad --port '%s' (0..65535)\n", optarg);
				return -EINVAL;
			}
			o->port = v;
			break;
		case OPT_SECRET_FILE:
			o->secret_file = optarg;
			break;
		case OPT_RECORD_WS:
			o->record_ws = optarg ? optarg : "";
			break;
		case OPT_WIRE_LOG:
			o->wire_log = optarg;
			break;
		case OPT_FROM_FILE:
			o->from_file = optarg;
			break;
		case OPT_POSTCOPY_ORDER:
			if (strcmp(optarg, "recent") && strcmp(optarg, "address")) {
				fprintf(stderr,
					"ferry: bad --postcopy-order '%s' (recent or address)\n",
					optarg);
				return -EINVAL;
			}
			o->address_order = !strcmp(optarg, "address");
			break;
		case OPT_ORPHAN_TIMEOUT:
			if (parse_int(optarg, 1, 86400, &v)) {
				fprintf(stderr, "ferry: bad --orphan-timeout '%s' (1..86400 s)\n",
					optarg);
				return -EINVAL;
			}
			o->orphan_timeout_ms = v * 1000;
			break;
		case OPT_ATTACH:
			if (parse_int(optarg, 1, 4194304, &v)) {
				fprintf(stderr, "ferry: bad --attach '%s' (a pid)\n", optarg);
				return -EINVAL;
			}
			o->attach = (int)v;
			break;
		case OPT_PREFETCH_DELAY:
			if (parse_int(optarg, 0, 86400000, &v)) {
				fprintf(stderr,
					"ferry: bad --prefetch-delay '%s' (0..86400000 ms)\n",
					optarg);
				return -EINVAL;
			}
			o->prefetch_delay_ms = v;
			break;
		case OPT_TRACK_MODE: {
			enum tracker_mode m;

			if (tracker_mode_parse(optarg, &m)) {
				fprintf(stderr,
					"ferry: bad --track-mode '%s' (auto, uffd-wp or "
					"soft-dirty)\n",
					optarg);
				return -EINVAL;
			}
			o->track_mode = (int)m;
			break;
		}
		case OPT_BPF_PAGES:
			if (parse_int(optarg, 64, 1L << 26, &v)) {
				fprintf(stderr, "ferry: bad --bpf-pages '%s' (64..67108864)\n",
					optarg);
				return -EINVAL;
			}
			o->bpf_pages = (unsigned)v;
			break;
		case OPT_BPF_RANGES:
			if (parse_int(optarg, 1, DT_MAX_RANGES, &v)) {
				fprintf(stderr, "ferry: bad --bpf-ranges '%s' (1..%u)\n", optarg,
					DT_MAX_RANGES);
				return -EINVAL;
			}
			o->bpf_ranges = (unsigned)v;
			break;
		case OPT_BPF_RINGBUF:
			if (parse_size(optarg, &v) || v < 4096 || v > (1L << 30) || (v & (v - 1))) {
				fprintf(stderr,
					"ferry: bad --bpf-ringbuf '%s' (a power of two from 4K to 1G; "
					"K, M, G suffixes)\n",
					optarg);
				return -EINVAL;
			}
			o->bpf_ringbuf = (unsigned)v;
			break;
		case OPT_TIMEOUT: {
			char *end;
			double s;

			errno = 0;
			s = strtod(optarg, &end);
			if (errno || end == optarg || *end || !(s > 0) || s > 86400) {
				fprintf(stderr, "ferry: bad timeout '%s' (seconds, > 0)\n", optarg);
				return -EINVAL;
			}
			o->timeout_ms = (long)(s * 1000 + 0.5);
			break;
		}
		case OPT_TO:
			o->to = optarg;
			break;
		case OPT_INCOMING:
			o->incoming = 1;
			break;
		case OPT_POSTCOPY:
			if (!strcmp(optarg, "never"))
				o->postcopy = 1;
			else if (!strcmp(optarg, "auto"))
				o->postcopy = 2;
			else if (!strcmp(optarg, "always"))
				o->postcopy = 3;
			else {
				fprintf(stderr,
					"ferry: bad --postcopy '%s' (auto, always, never)\n",
					optarg);
				return -EINVAL;
			}
			break;
		case OPT_MAX_ROUNDS:
			if (parse_int(optarg, 1, 1000, &v)) {
				fprintf(stderr, "ferry: bad --max-rounds '%s' (1..1000)\n", optarg);
				return -EINVAL;
			}
			o->max_rounds = (unsigned)v;
			break;
		case OPT_DOWNTIME_LIMIT:
			if (parse_int(optarg, 0, 3600000, &v)) {
				fprintf(stderr,
					"ferry: bad --downtime-limit '%s' (0..3600000 ms)\n",
					optarg);
				return -EINVAL;
			}
			o->downtime_ms = v;
			break;
		case OPT_MAX_BANDWIDTH:
			if (parse_size(optarg, &v) || v < 4096) {
				fprintf(stderr,
					"ferry: bad --max-bandwidth '%s' (bytes per second, >= 4096; "
					"K, M, G suffixes)\n",
					optarg);
				return -EINVAL;
			}
			o->max_bandwidth = v;
			break;
		case OPT_BANDWIDTH:
			if (parse_size(optarg, &v) || v < 4096) {
				fprintf(stderr,
					"ferry: bad --bandwidth '%s' (bytes per second, >= 4096; "
					"K, M, G suffixes)\n",
					optarg);
				return -EINVAL;
			}
			o->bandwidth = v;
			break;
		case OPT_XBZRLE:
			v = 64L << 20; /* MCACHE_DEFAULT_BYTES */
			if (optarg && (parse_size(optarg, &v) || v < 4096)) {
				fprintf(stderr,
					"ferry: bad --xbzrle '%s' (the cache size in bytes, >= 4096; "
					"K, M, G suffixes)\n",
					optarg);
				return -EINVAL;
			}
			o->xbzrle_cache = v;
			break;
		case OPT_NO_XBZRLE:
			o->no_xbzrle = 1;
			break;
		case OPT_AUTO_CONVERGE:
			o->auto_converge = 1;
			break;
		default:
			return -EINVAL;
		}
	}
	if (o->verbosity > LOG_DEBUG)
		o->verbosity = LOG_DEBUG;
	o->argc = argc - optind;
	o->argv = argv + optind;
	return 0;
}

int main(int argc, char **argv)
{
	struct cli_opts o = { .verbosity = LOG_DEFAULT_LEVEL,
			      .port = -1,
			      .timeout_ms = -1,
			      .downtime_ms = -1,
			      .progress = -1 };
	const struct cli_cmd *cmd = NULL;
	size_t i;
	int err;

	if (argc < 2 || !strcmp(argv[1], "-h") || !strcmp(argv[1], "--help") ||
	    !strcmp(argv[1], "help")) {
		usage(stdout);
		return argc < 2 ? 1 : 0;
	}
	/* --print-log works without a command, as in CRIU's habit. */
	if (argv[1][0] != '-') {
		for (i = 0; i < NR_COMMANDS; i++)
			if (!strcmp(argv[1], commands[i]->name))
				cmd = commands[i];
		if (!cmd) {
			fprintf(stderr, "ferry: unknown command '%s' (see 'ferry --help')\n",
				argv[1]);
			return 1;
		}
		argc--;
		argv++;
	}
	if (parse_opts(argc, argv, &o)) {
		fprintf(stderr, "ferry: see 'ferry %s --help'\n", cmd ? cmd->name : "");
		return 1;
	}
	if (o.print_log && !cmd)
		cmd = &cmd_show_log;
	if (!cmd) {
		usage(stderr);
		return 1;
	}
	if (o.help) {
		fputs(cmd->usage, stdout);
		return 0;
	}
	if (cmd != &cmd_show_log || !o.print_log) {
		if (o.binlog && !o.log_file) {
			fprintf(stderr, "ferry: --binlog needs --log-file FILE\n");
			return 1;
		}
		err = log_init(o.log_file, o.verbosity, o.binlog);
		if (err) {
			fprintf(stderr, "ferry: cannot open log file %s: %s\n", o.log_file,
				strerror(-err));
			return 1;
		}
	}
	err = cmd->run(&o);
	log_fini();
	return err ? 1 : o.exit_code;
}
