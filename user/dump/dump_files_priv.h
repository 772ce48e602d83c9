/* SPDX-License-Identifier: MIT */
/*
 * Inside the fd dumper (dump_files.h): the shared table of descriptions and
 * the helpers its three files share: dump_files_probe.c (what an fd is, and
 * what cannot be dumped), dump_files.c (the table: sharing, pipes, ttys,
 * locks, paths), dump_files_write.c (the images).
 */
#ifndef FERRY_DUMP_FILES_PRIV_H
#define FERRY_DUMP_FILES_PRIV_H

#include <limits.h>
#include <stdint.h>
#include <sys/stat.h>

#include "dump_files.h"
#include "dump_inet_sk.h"
#include "dump_inotify.h"
#include "dump_netlink_sk.h"
#include "dump_unix_sk.h"
#include "file_lock.h"
#include "proc_fdinfo.h"

#include "fdinfo.pb-c.h"

#ifndef F_GETOWNER_UIDS /* include/uapi/asm-generic/fcntl.h, CONFIG_CHECKPOINT_RESTORE */
#define F_GETOWNER_UIDS 17
#endif

/*
 * The kernel's struct termios2 (asm-generic/termbits.h, x86 layout): TCGETS2
 * gives the line speeds too. Declared here because <asm/termbits.h> clashes
 * with glibc's <termios.h> definitions.
 */
#define KTERM_NCC 19
struct kterm2 {
	uint32_t c_iflag;
	uint32_t c_oflag;
	uint32_t c_cflag;
	uint32_t c_lflag;
	uint8_t c_line;
	uint8_t c_cc[KTERM_NCC];
	uint32_t c_ispeed;
	uint32_t c_ospeed;
};
_Static_assert(sizeof(struct kterm2) == 44, "struct termios2 layout");
#define FERRY_TCGETS2 _IOR('T', 0x2A, struct kterm2)

#define DELETED_SUFFIX " (deleted)"

enum desc_src {
	SRC_FD,	  /* an fd of the tree: shared by kcmp */
	SRC_PATH, /* files_dump_path: shared by (dev, ino, flags, path) */
	SRC_AUX,  /* the path entry of a tty (regf_id): never shared */
};

struct fown_v {
	uint32_t uid, euid, signum, pid_type, pid;
};

/* One open file description: one file_entry of files.img. */
struct desc {
	uint32_t id;
	FdTypes type;
	enum desc_src src;
	pid_t pid; /* SRC_FD: the first fd seen on it, for kcmp */
	int fd;
	dev_t dev;
	ino_t ino;
	uint32_t flags; /* open flags, without O_CLOEXEC */
	struct fown_v fown;
	/* REG */
	char *name;	/* a deleted file's without " (deleted)" */
	char *src_path; /* ghost or MEMFD: where its bytes are read (/proc/PID/...) */
	int ghost;	/* deleted, on tmpfs: saved as a ghost file (dump_ghost.c) */
	/* MEMFD: its memfd.img inode (dump_memfd.c) */
	uint32_t memfd_inode;
	uint64_t pos, size;
	uint32_t mode;
	int32_t mnt_id;
	/* PIPE */
	uint32_t pipe_id;
	/* TTY */
	uint32_t tty_info_id, regf_id;
	/* INOTIFY: its watches (dump_inotify.h) */
	struct inotify_dump *ify;
	/* EVENTFD, EVENTPOLL, SIGNALFD, TIMERFD (dump_events.c); free()d with the entry */
	struct ev_data *ev;
	/* UNIXSK (dump_unix_sk.c); files_unix_free()d with the entry */
	struct usk_dump *usk;
	/* INETSK (dump_inet_sk.c); files_inet_free()d with the entry */
	struct isk_dump *isk;
	/* NETLINKSK (dump_netlink_sk.c); free()d with the entry */
	struct nlsk_dump *nlsk;
};

/* The buffered bytes of one pipe: one entry of pipes-data.img (fifo-data.img for a FIFO). */
struct pipe_data {
	uint32_t pipe_id;
	int fifo;      /* a named FIFO (pipe_id: its inode) */
	uint32_t size; /* F_GETPIPE_SZ */
	uint32_t len;
	uint8_t *buf;
};

/* One terminal: one entry of tty-info.img. */
struct tty_rec {
	uint32_t id, index, rdev, dev, uid, gid, sid, pgrp;
	int exclusive;
	int hung; /* no termios: the other side is gone */
	struct kterm2 t, locked;
	struct winsize ws;
};

/* One lock to take again at restore: one entry of filelocks.img. */
struct lock_rec {
	pid_t pid;	  /* the process that takes it */
	int fd;		  /* through this fd of it */
	uint32_t file_id; /* the description behind fd */
	struct file_lock l;
};

/* The one terminal --shell-job re-attaches. */
struct tty_seen {
	int set;
	dev_t rdev;
};

struct files_dump {
	struct files_dump_opts o;
	uint32_t next_id;
	struct desc *d;
	size_t nd, capd;
	struct pipe_data *p;
	size_t np, capp;
	struct tty_rec *t;
	size_t nt, capt;
	struct tty_seen tty;
	struct lock_rec *lk;
	size_t nlk, caplk;
	/*
	 * The SRC_FD descriptions (indices into d), sorted by type, dev, ino,
	 * then by kcmp's order of the open file descriptions: find_shared() is
	 * a binary search with O(log n) kcmp calls per fd, not a kcmp against
	 * every earlier fd on the same inode (5000 fds on /dev/null: 13 s).
	 */
	size_t *fdx;
	size_t nfdx, capfdx;
};

/* What ferry learns about one fd of the target before touching it. */
struct probe {
	int fd;
	struct stat st;
	char link[PATH_MAX];
	struct proc_fdinfo fi;
	FdTypes type; /* REG, PIPE, TTY or INOTIFY once classified */
};

/* From /proc/PID/stat and the mount namespace links. */
struct task_info {
	pid_t sid, tpgid;
	int has_ctty;
	unsigned int tty_major, tty_minor;
	int files_same_mntns; /* paths read from /proc mean the same here */
};

int files_read_link(const char *path, char *buf, size_t sz);
int files_same_mntns(pid_t pid);
int files_task_info_read(pid_t pid, struct task_info *ti);
int files_list_fds(pid_t pid, int **out, size_t *nr);
int files_probe_fd(pid_t pid, int fd, struct probe *p);
int files_check_path(pid_t pid, const char *what, const char *name, const struct stat *st,
		     int same_ns);
uint32_t files_pty_index(dev_t rdev);
/* files_collect_tty - record the settings of p's terminal as @info_id, once (dump_files_tty.c). */
int files_collect_tty(struct files_dump *d, pid_t pid, const struct task_info *ti,
		      const struct probe *p, int lfd, uint32_t info_id);
int files_classify(const struct files_dump *d, pid_t pid, const struct task_info *ti,
		   struct probe *p, struct tty_seen *seen);
int files_check_lock(const struct files_dump *d, pid_t pid, const struct probe *p,
		     const struct file_lock *l);
int files_grow(void **arr, size_t *cap, size_t n, size_t sz);
struct desc *files_desc_new(struct files_dump *d, FdTypes type, enum desc_src src, pid_t pid,
			    const struct probe *p, const struct fown_v *fo);

/* dump_ghost.c: deleted regular files (any filesystem), saved as CRIU ghost files. */
#define FILES_GHOST_MAX (64ull << 20)
/*
 * files_ghost_check - can the deleted file @name, @what of @pid ("fd N" or a
 * /proc/PID entry such as "map_files/A-B"), be saved? 0 if it is a regular
 * file (on any filesystem) of at most FILES_GHOST_MAX bytes, else -ENOTSUP
 * (logged).
 */
int files_ghost_check(pid_t pid, const char *what, const char *name, const struct stat *st);
/*
 * files_ghost_write - ghost-file-<id>.img for every deleted inode of @d and
 * remap-fpath.img for every entry on one (none when there are none). The
 * tree must still be frozen. Returns 0 or -errno (logged).
 */
int files_ghost_write(struct files_dump *d, int dirfd);
/* dump_memfd.c: memfds, as CRIU's memfd_file_entry and memfd.img. */
/* files_is_memfd - is @link ("/memfd:NAME (deleted)") a memfd's? */
int files_is_memfd(const char *link);
/* files_memfd_check - 0, or -ENOTSUP (logged) for a hugetlb memfd, which restore cannot make. */
int files_memfd_check(pid_t pid, const char *what, const char *name);
/*
 * files_memfd_write - memfd.img: one memfd_inode_entry per memfd inode of @d
 * (name, owner, mode, size, seals, shmid = the inode number); sets the
 * memfd_inode of each MEMFD description. None when there is no memfd.
 * Returns 0 or -errno (logged).
 */
int files_memfd_write(struct files_dump *d, int dirfd);
/* files_strip_deleted - cut " (deleted)" off @name; 1 if it was there, else 0. */
int files_strip_deleted(char *name);

#endif
