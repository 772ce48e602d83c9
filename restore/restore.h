/* SPDX-License-Identifier: MIT */
/*
 * ferry restore: re-create a dumped process tree from its images and resume
 * it where it was frozen (see docs/restore.md for the method).
 */
#ifndef FERRY_RESTORE_H
#define FERRY_RESTORE_H

#include <sys/types.h>

/*
 * --inherit-fd fd[N]:KEY (CRIU's option): the description of the dump whose
 * key is KEY ("pipe:[INODE]" for a pipe, the path for a regular file) is not
 * re-created: every fd on it gets ferry's own fd N instead, typically the
 * new end of a pipe to a process outside the tree (`prog | cat`).
 */
struct restore_inherit {
	int fd;
	const char *key;
};

/* restore_inherit_parse - "fd[N]:KEY" into @out (KEY points into @arg); 0 or -EINVAL (said). */
int restore_inherit_parse(const char *arg, struct restore_inherit *out);

struct restore_opts {
	const char *dir;	 /* the images directory */
	int detached;		 /* -d: return once the tree runs, do not wait for it */
	int shell_job;		 /* --shell-job: terminals become ferry's own terminal */
	int file_locks;		 /* --file-locks: take the dumped file locks again */
	int tcp_established;	 /* --tcp-established: restore established TCP connections */
	int ext_unix_sk;	 /* --ext-unix-sk: connect unix sockets to outside peers again */
	const char *pidfile;	 /* --pidfile: write the root's pid there */
	int lazy;		 /* --lazy-pages: memory is filled after resume (lazy.h) */
	const char *page_server; /* --page-server HOST:PORT: pages come from there */
	const char *secret_file; /* --secret-file: the page server's shared secret */
	int page_server_missing_only; /* ask the page server only what the chain here lacks */
	int recent_first;	      /* lazily: the newest levels of the chain first */
	const char *record_ws;	      /* --record-ws: write the first-touch order there */
	long timeout_ms;	/* --lazy-timeout: a page request unanswered this long fails */
	long prefetch_delay_ms; /* --prefetch-delay: background filling starts this late */
	long orphan_timeout_ms; /* --orphan-timeout: a dead daemon's processes wait this long */
	pid_t *lazy_daemon;	/* if not NULL, gets the lazy-pages daemon's pid (0: none) */
	const struct restore_inherit *inherit; /* --inherit-fd, nr_inherit of them */
	size_t nr_inherit;
};

/*
 * restore_run - restore the dump in o->dir. On success the tree runs; *root
 * gets the root's pid (ferry's child until ferry exits). Returns 0 or -errno.
 * On any failure nothing restored is left: every process made is killed and
 * reaped, and the error is logged with the pid, file, VMA or call at fault.
 */
int restore_run(const struct restore_opts *o, pid_t *root);

#endif
