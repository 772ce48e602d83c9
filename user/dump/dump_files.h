/* SPDX-License-Identifier: MIT */
/*
 * The file-descriptor side of a dump: what each process has open, as CRIU
 * images.
 *
 * Every open file description of the tree becomes one file_entry in
 * files.img, with an id from one counter (starting at 1) shared by all
 * entries. Each fd table gets fdinfo-<files_id>.img: one fdinfo_entry per
 * descriptor (fd number, FD_CLOEXEC, file id). Descriptors that share a
 * description (dup, fork, SCM_RIGHTS) share the id: kcmp(2) KCMP_FILE
 * compares each new descriptor with the earlier ones on the same inode.
 *
 * What is dumped, and how:
 * - regular files, directories and the memory character devices (major 1:
 *   /dev/null, /dev/zero, /dev/urandom, ...) as REG entries: absolute path,
 *   open flags without O_CLOEXEC, position, size, mode, mount id, and the
 *   F_SETOWN owner (zero when none).
 * - pipes as one PIPE entry per open end (pipe_id = the pipe's inode), and
 *   one pipes-data.img entry per pipe with its buffered bytes as payload
 *   (size = F_GETPIPE_SZ). The bytes are copied with tee(2) and stay in the
 *   pipe: the target reads them as if nothing happened.
 * - with shell_job, the slave side of a pty (the terminal the job runs on):
 *   a TTY entry, a REG entry with its path (tty_file_entry.regf_id), and a
 *   tty-info.img entry (index, rdev, termios, locked termios, window size,
 *   and the session and foreground group when it is the process's
 *   controlling terminal). Restore does not recreate that pty: like CRIU's
 *   --shell-job, it re-attaches the descriptors to the terminal the restore
 *   runs on, makes it the controlling terminal of the restored session and
 *   gives it the recorded foreground group. Only one terminal can be
 *   re-attached that way, so a second pty in the tree is refused.
 * - with file_locks, the POSIX (fcntl), OFD and flock locks the tree holds,
 *   as filelocks.img: one entry per lock with its kind, type, range, and
 *   the pid and fd that take it again at restore (file_lock.h says which
 *   locks an fd shows). A POSIX lock is the process's own; a flock or OFD
 *   lock is the description's, recorded once, with the first fd seen on
 *   it, even if several processes share it.
 * - eventfd, epoll (with its targets), signalfd and timerfd: dump_events.h.
 * - inotify instances with their watches: dump_inotify.h.
 * - memfds as MEMFD entries and memfd.img (dump_memfd.c), their contents
 *   through files_dump_memfd_shmem() and the shmem writer (dump_shmem.h).
 * - deleted regular files on tmpfs of at most 64 MiB as REG entries with
 *   their former path, remap-fpath.img and ghost-file-N.img (dump_ghost.c).
 * - TCP, UDP and netlink sockets: dump_inet_sk.h, dump_netlink_sk.h.
 * Everything else is refused before anything is written: packet, raw and
 * other sockets, established TCP connections,
 * fanotify, pidfd, io_uring, perf events, bpf,
 * FIFOs, block devices and character devices other than those above,
 * other deleted files, and files whose path now names another file; any
 * file lock without file_locks, and leases and delegations in any case.
 *
 * The caller has every process of the tree stopped (ptrace-seized) while
 * these run; descriptors are copied into ferry with pidfd_getfd(2).
 */
#ifndef FERRY_DUMP_FILES_H
#define FERRY_DUMP_FILES_H

#include <stdint.h>
#include <sys/types.h>

struct pstree;

struct files_dump_opts {
	int shell_job;	/* dump the job's pty slave as a TTY to re-attach (--shell-job) */
	int file_locks; /* dump the file locks the tree holds (--file-locks) */
	/* a unix socket connected outside the tree: its peer kept as external (--ext-unix-sk) */
	int ext_unix_sk;
	/*
	 * The tree being dumped, or NULL: where an epoll target whose file no
	 * fd of the epoll's process holds is looked for, to name its holder.
	 */
	const struct pstree *tree;
};

/* The shared table of file descriptions, pipe data and ttys of one dump. */
struct files_dump;

/*
 * files_dump_init - start an empty table with options @o (copied; NULL means
 * all zero). Returns 0 or -ENOMEM.
 */
int files_dump_init(struct files_dump **out, const struct files_dump_opts *o);

/*
 * files_dump_check - preflight, before anything is written: classify every
 * fd of @pid. Each one that cannot be dumped and restored is logged as
 * "pid P fd N: <what> is not supported" (<what> is e.g. "socket:[1234]",
 * "io_uring instance (anon_inode:[io_uring])", "deleted file /tmp/x (deleted)"); a pty without
 * shell_job is logged with "use --shell-job", and so is every file lock
 * refused (pid, fd, path, "POSIX write lock on bytes 10-14": the kind, type
 * and range). Returns 0 if all are fine,
 * -ENOTSUP if at least one was refused (all of them are logged), or another
 * -errno if /proc could not be read. Does not change the table.
 */
int files_dump_check(struct files_dump *fd, pid_t pid);

/*
 * files_dump_tree - look at the whole tree @t before its processes: which
 * pty masters it holds (their slaves are then dumped as pairs, without
 * --shell-job) and which session each one is the controlling terminal of;
 * its pids (a pidfd must refer to one of them, or to a dead process).
 * Call after files_dump_init, before files_dump_check or files_dump_proc.
 * Returns 0, -ENOTSUP if a pair is the controlling terminal of a session
 * whose leader is not in the tree (logged, pid named), or -errno.
 */
struct pstree;
int files_dump_tree(struct files_dump *fd, const struct pstree *t);

/*
 * files_dump_keep_taken - the tree will not run again: what the dump took
 * out of it (the bytes queued in its ptys) is not put back when @fd is
 * freed. Without it, files_dump_free() puts them back.
 */
void files_dump_keep_taken(struct files_dump *fd);

/*
 * files_dump_proc - dump the fds of @pid into fdinfo-<files_id>.img in
 * @dirfd and register their file descriptions (and pipe data, ttys) in the
 * table. Call once per fd table (processes sharing one with CLONE_FILES
 * share files_id). Returns 0, -ENOTSUP on an fd files_dump_check would
 * refuse, or another -errno (logged with pid and fd). On error nothing is
 * left in @dirfd by this call and the table is as it was before it.
 */
int files_dump_proc(struct files_dump *fd, pid_t pid, uint32_t files_id, int dirfd);

/*
 * files_dump_path - the id of a REG entry for an object that @pid names
 * through /proc/PID/@what: "exe", "cwd", "root", "map_files/START-END" (for
 * the mm dumper: the exe file and file-backed VMAs; files_dump_fs: cwd and
 * root). The object is opened with @open_flags (O_CLOEXEC is added), which
 * are also recorded in the entry without O_CLOEXEC and O_PATH (so O_PATH
 * records 0, as CRIU does for cwd, root and exe). Entries are shared by
 * (device, inode, recorded flags, path): asking twice gives the same id.
 * Returns 0 with *id set, -ENOTSUP for a deleted or unreachable file or
 * one without a path (logged), or another -errno (logged with pid and what).
 */
int files_dump_path(struct files_dump *fd, pid_t pid, const char *what, int open_flags,
		    uint32_t *id);

/*
 * files_dump_fs - write fs-<pid>.img in @dirfd: the ids of cwd and root
 * (through files_dump_path with O_PATH) and the umask from /proc/PID/status.
 * Returns 0 or -errno (logged with pid).
 */
int files_dump_fs(struct files_dump *fd, pid_t pid, int dirfd);

/*
 * files_dump_commit - write files.img (every entry of the table, in id
 * order) and pipes-data.img (one entry per pipe, empty image if none) in
 * @dirfd, tty-info.img if a tty was dumped, and with file_locks
 * filelocks.img (empty if no lock is held). Each image appears whole or
 * not at all. Returns 0 or -errno (logged with the image name).
 */
int files_dump_commit(struct files_dump *fd, int dirfd);

struct shmem_dump;
/*
 * files_dump_memfd_shmem - note the contents of every memfd inode met so far
 * (as fd or mapping) in @shm, shmid = its inode number, for
 * shmem_dump_write(). Returns 0, -EOVERFLOW or -ENOMEM.
 */
int files_dump_memfd_shmem(const struct files_dump *fd, struct shmem_dump *shm);

/* files_dump_free - free the table (NULL is fine). */
void files_dump_free(struct files_dump *fd);

#endif
