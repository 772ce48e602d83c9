// SPDX-License-Identifier: MIT
/*
 * The image types ferry knows: every magic of CRIU 4.2 (criu/include/magic.h)
 * with its file name (criu/image-desc.c), the protobuf message of its entries,
 * what follows an entry in the file, and what ferry restore does with it.
 */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "img.h"

#include "apparmor.pb-c.h"
#include "autofs.pb-c.h"
#include "binfmt-misc.pb-c.h"
#include "bpfmap-data.pb-c.h"
#include "bpfmap-file.pb-c.h"
#include "cgroup.pb-c.h"
#include "core.pb-c.h"
#include "cpuinfo.pb-c.h"
#include "creds.pb-c.h"
#include "eventfd.pb-c.h"
#include "eventpoll.pb-c.h"
#include "ext-file.pb-c.h"
#include "fdinfo.pb-c.h"
#include "fh.pb-c.h"
#include "fifo.pb-c.h"
#include "file-lock.pb-c.h"
#include "fs.pb-c.h"
#include "fsnotify.pb-c.h"
#include "ghost-file.pb-c.h"
#include "inventory.pb-c.h"
#include "ipc-msg.pb-c.h"
#include "ipc-sem.pb-c.h"
#include "ipc-shm.pb-c.h"
#include "ipc-var.pb-c.h"
#include "memfd.pb-c.h"
#include "mm.pb-c.h"
#include "mnt.pb-c.h"
#include "netdev.pb-c.h"
#include "ns.pb-c.h"
#include "packet-sock.pb-c.h"
#include "pagemap.pb-c.h"
#include "pidfd.pb-c.h"
#include "pidns.pb-c.h"
#include "pipe-data.pb-c.h"
#include "pipe.pb-c.h"
#include "pstree.pb-c.h"
#include "regfile.pb-c.h"
#include "remap-file-path.pb-c.h"
#include "rlimit.pb-c.h"
#include "sa.pb-c.h"
#include "seccomp.pb-c.h"
#include "siginfo.pb-c.h"
#include "signalfd.pb-c.h"
#include "sk-inet.pb-c.h"
#include "sk-netlink.pb-c.h"
#include "sk-packet.pb-c.h"
#include "sk-unix.pb-c.h"
#include "stats.pb-c.h"
#include "tcp-stream.pb-c.h"
#include "timens.pb-c.h"
#include "timer.pb-c.h"
#include "timerfd.pb-c.h"
#include "tty.pb-c.h"
#include "tun.pb-c.h"
#include "userns.pb-c.h"
#include "utsns.pb-c.h"
#include "vma.pb-c.h"

/* Type magics, as CRIU 4.2's criu/include/magic.h. */
#define INVENTORY_MAGIC 0x58313116u
#define PSTREE_MAGIC 0x50273030u
#define FDINFO_MAGIC 0x56213732u
#define PAGEMAP_MAGIC 0x56084025u
#define CORE_MAGIC 0x55053847u
#define IDS_MAGIC 0x54432030u
#define VMAS_MAGIC 0x54123737u
#define PIPES_MAGIC 0x56513555u
#define PIPES_DATA_MAGIC 0x56453709u
#define FIFO_MAGIC 0x58364939u
#define FIFO_DATA_MAGIC 0x59333054u
#define SIGACT_MAGIC 0x55344201u
#define UNIXSK_MAGIC 0x54373943u
#define INETSK_MAGIC 0x56443851u
#define PACKETSK_MAGIC 0x60454618u
#define ITIMERS_MAGIC 0x57464056u
#define POSIX_TIMERS_MAGIC 0x52603957u
#define SK_QUEUES_MAGIC 0x56264026u
#define UTSNS_MAGIC 0x54473203u
#define CREDS_MAGIC 0x54023547u
#define IPC_VAR_MAGIC 0x53115007u
#define IPCNS_SHM_MAGIC 0x46283044u
#define IPCNS_MSG_MAGIC 0x55453737u
#define IPCNS_SEM_MAGIC 0x59573019u
#define REG_FILES_MAGIC 0x50363636u
#define EXT_FILES_MAGIC 0x59255641u
#define FS_MAGIC 0x51403912u
#define MM_MAGIC 0x57492820u
#define REMAP_FPATH_MAGIC 0x59133954u
#define GHOST_FILE_MAGIC 0x52583605u
#define TCP_STREAM_MAGIC 0x51465506u
#define EVENTFD_FILE_MAGIC 0x44523722u
#define EVENTPOLL_FILE_MAGIC 0x45023858u
#define EVENTPOLL_TFD_MAGIC 0x44433746u
#define SIGNALFD_MAGIC 0x57323820u
#define INOTIFY_FILE_MAGIC 0x48424431u
#define INOTIFY_WD_MAGIC 0x54562009u
#define MNTS_MAGIC 0x55563928u
#define NETDEV_MAGIC 0x57373951u
#define NETNS_MAGIC 0x55933752u
#define TTY_FILES_MAGIC 0x59433025u
#define TTY_INFO_MAGIC 0x59453036u
#define TTY_DATA_MAGIC 0x59413026u
#define FILE_LOCKS_MAGIC 0x54323616u
#define RLIMIT_MAGIC 0x57113925u
#define FANOTIFY_FILE_MAGIC 0x55096122u
#define FANOTIFY_MARK_MAGIC 0x56506035u
#define SIGNAL_MAGIC 0x59255647u
#define NETLINK_SK_MAGIC 0x58005614u
#define NS_FILES_MAGIC 0x61394011u
#define TUNFILE_MAGIC 0x57143751u
#define CGROUP_MAGIC 0x59383330u
#define TIMERFD_MAGIC 0x50493712u
#define CPUINFO_MAGIC 0x61404013u
#define USERNS_MAGIC 0x55474906u
#define SECCOMP_MAGIC 0x64413049u
#define BINFMT_MISC_MAGIC 0x67343323u
#define AUTOFS_MAGIC 0x49353943u
#define FILES_MAGIC 0x56303138u
#define MEMFD_INODE_MAGIC 0x48453499u
#define TIMENS_MAGIC 0x43114433u
#define PIDNS_MAGIC 0x61157326u
#define BPFMAP_FILE_MAGIC 0x57506142u
#define BPFMAP_DATA_MAGIC 0x64324033u
#define APPARMOR_MAGIC 0x59423047u
#define PIDFD_MAGIC 0x54435556u
/* Service files. */
#define STATS_MAGIC 0x57093306u
#define IRMAP_CACHE_MAGIC 0x57004059u
/* The first word of CRIU's kerndat cache (/run/criu.kdat). */
#define KDAT_MAGIC 0x57023458u

enum {
	T_INVENTORY,
	T_PSTREE,
	T_FDINFO,
	T_PAGEMAP,
	T_SHMEM_PAGEMAP,
	T_PAGES,
	T_CORE,
	T_IDS,
	T_VMAS,
	T_PIPES,
	T_PIPES_DATA,
	T_FIFO,
	T_FIFO_DATA,
	T_SIGACT,
	T_UNIXSK,
	T_INETSK,
	T_PACKETSK,
	T_ITIMERS,
	T_POSIX_TIMERS,
	T_SK_QUEUES,
	T_UTSNS,
	T_CREDS,
	T_IPC_VAR,
	T_IPCNS_SHM,
	T_IPCNS_MSG,
	T_IPCNS_SEM,
	T_REG_FILES,
	T_EXT_FILES,
	T_FS,
	T_MM,
	T_REMAP_FPATH,
	T_GHOST_FILE,
	T_TCP_STREAM,
	T_EVENTFD_FILE,
	T_EVENTPOLL_FILE,
	T_EVENTPOLL_TFD,
	T_SIGNALFD,
	T_INOTIFY_FILE,
	T_INOTIFY_WD,
	T_MNTS,
	T_NETDEV,
	T_NETNS,
	T_TTY_FILES,
	T_TTY_INFO,
	T_TTY_DATA,
	T_FILE_LOCKS,
	T_RLIMIT,
	T_FANOTIFY_FILE,
	T_FANOTIFY_MARK,
	T_SIGNAL,
	T_PSIGNAL,
	T_NETLINK_SK,
	T_NS_FILES,
	T_TUNFILE,
	T_CGROUP,
	T_TIMERFD,
	T_CPUINFO,
	T_USERNS,
	T_SECCOMP,
	T_BINFMT_MISC,
	T_BINFMT_MISC_OLD,
	T_AUTOFS,
	T_FILES,
	T_MEMFD_INODE,
	T_TIMENS,
	T_PIDNS,
	T_BPFMAP_FILE,
	T_BPFMAP_DATA,
	T_APPARMOR,
	T_PIDFD,
	T_IFADDR,
	T_ROUTE,
	T_ROUTE6,
	T_RULE,
	T_IPTABLES,
	T_IP6TABLES,
	T_NFTABLES,
	T_NETNF_CT,
	T_NETNF_EXP,
	T_TMPFS_IMG,
	T_TMPFS_DEV,
	T_PAGES_OLD,
	T_SHM_PAGES_OLD,
	T_STATS,
	T_IRMAP_CACHE,
	T_KDAT,
	T_NR,
};

/* Why restore leaves an image aside or refuses it; shared by several types. */
#define OLD_TASK                                                                    \
	"an older CRIU's per-task image: ferry restore takes this state from core " \
	"and mm images only"
#define OLD_FILE                                                                    \
	"an older CRIU's per-kind file image: ferry restore reads files.img only, " \
	"and restores regular files, pipes and terminals"
#define NO_NS "a namespace: ferry restore creates no namespaces"
#define NO_NET "a network namespace's state: ferry restore creates no namespaces"
#define NO_MNT "a mount namespace's state: ferry restore creates no namespaces"
#define NO_SOCK                                                                                           \
	"ferry restore restores unix, TCP/UDP and netlink sockets only, from files.img (file_entry.usk, " \
	"isk, nlsk); packet sockets and TCP connections are refused"

/* An IMG_COMMON_MAGIC image; trailing arguments set more fields. */
#define COMMON(_n, _file, _kind, _desc, _restore, _about, _note, ...) \
	[T_##_n] = { .name = #_n,                                     \
		     .file = _file,                                   \
		     .kind_magic = IMG_COMMON_MAGIC,                  \
		     .magic = _n##_MAGIC,                             \
		     .kind = _kind,                                   \
		     .desc = &_desc,                                  \
		     .restore = _restore,                             \
		     .about = _about,                                 \
		     .restore_note = _note,                           \
		     __VA_ARGS__ }

/* A name CRIU gives to the magic and layout of type _of. */
#define ALIAS(_n, _file, _of, _kind, _desc, _restore, _about, _note, ...) \
	[T_##_n] = { .name = #_n,                                         \
		     .file = _file,                                       \
		     .kind_magic = IMG_COMMON_MAGIC,                      \
		     .magic = _of##_MAGIC,                                \
		     .kind = _kind,                                       \
		     .desc = &_desc,                                      \
		     .alias_of = &img_types[T_##_of],                     \
		     .restore = _restore,                                 \
		     .about = _about,                                     \
		     .restore_note = _note,                               \
		     __VA_ARGS__ }

/* A raw image: no magic, known by its file name. */
#define RAW(_n, _file, _restore, _about, _note) \
	[T_##_n] = {                            \
		.name = #_n,                    \
		.file = _file,                  \
		.kind = IMG_RAW,                \
		.restore = _restore,            \
		.about = _about,                \
		.restore_note = _note,          \
	}

#define USED IMG_RESTORE_USED
#define IGNORED IMG_RESTORE_IGNORED
#define CHECKED IMG_RESTORE_CHECKED
#define REFUSED IMG_RESTORE_REFUSED

const struct img_type img_types[T_NR + 1] = {
	/* The inventory alone has no kind magic. */
	[T_INVENTORY] = {
		.name = "INVENTORY",
		.file = "inventory.img",
		.kind_magic = 0,
		.magic = INVENTORY_MAGIC,
		.kind = IMG_SINGLE,
		.desc = &inventory_entry__descriptor,
		.restore = USED,
		.about = "the dump's version, root ids and options",
	},
	COMMON(PSTREE, "pstree.img", IMG_ARRAY, pstree_entry__descriptor, USED,
	       "the process tree: pid, parent, group, session and threads of each task", NULL),
	COMMON(FDINFO, "fdinfo-%u.img", IMG_ARRAY, fdinfo_entry__descriptor, USED,
	       "the fds of a file table and the files.img entry each refers to", NULL),
	COMMON(PAGEMAP, "pagemap-%u.img", IMG_ARRAY, pagemap_entry__descriptor, USED,
	       "which pages of a task's memory the pages file holds", NULL,
	       .head_desc = &pagemap_head__descriptor),
	ALIAS(SHMEM_PAGEMAP, "pagemap-shmem-%u.img", PAGEMAP, IMG_ARRAY,
	      pagemap_entry__descriptor, USED,
	      "which pages of shared memory (anonymous shared, memfd, SysV) a pages file holds",
	      NULL, .head_desc = &pagemap_head__descriptor),
	/* Raw page contents, in pagemap order: no magic, no entries. */
	RAW(PAGES, "pages-%u.img", USED, "raw 4 KiB pages, in the order of their pagemap", NULL),
	COMMON(CORE, "core-%u.img", IMG_SINGLE, core_entry__descriptor, USED,
	       "a thread's registers and state; a leader's also the task's", NULL),
	/* ferry writes the ids in the leader's core; restore reads this when it has none. */
	COMMON(IDS, "ids-%u.img", IMG_SINGLE, task_kobj_ids_entry__descriptor, USED,
	       "which mm, files, fs, sighand and namespaces a task shares", NULL),
	COMMON(VMAS, "vmas-%u.img", IMG_ARRAY, vma_entry__descriptor, REFUSED,
	       "a task's memory areas", OLD_TASK),
	COMMON(PIPES, "pipes.img", IMG_ARRAY, pipe_entry__descriptor, REFUSED, "pipe ends",
	       OLD_FILE),
	COMMON(PIPES_DATA, "pipes-data.img", IMG_ARRAY, pipe_data_entry__descriptor, USED,
	       "the bytes buffered in pipes", NULL, .extra = IMG_EXTRA_FIELD,
	       .payload_field = "bytes"),
	COMMON(FIFO, "fifo.img", IMG_ARRAY, fifo_entry__descriptor, REFUSED, "FIFO ends",
	       OLD_FILE),
	COMMON(FIFO_DATA, "fifo-data.img", IMG_ARRAY, pipe_data_entry__descriptor, USED,
	       "the bytes buffered in FIFOs", NULL,
	       .extra = IMG_EXTRA_FIELD, .payload_field = "bytes"),
	COMMON(SIGACT, "sigacts-%u.img", IMG_ARRAY, sa_entry__descriptor, REFUSED,
	       "a task's signal handlers", OLD_TASK),
	COMMON(UNIXSK, "unixsk.img", IMG_ARRAY, unix_sk_entry__descriptor, REFUSED,
	       "AF_UNIX sockets", NO_SOCK),
	COMMON(INETSK, "inetsk.img", IMG_ARRAY, inet_sk_entry__descriptor, REFUSED,
	       "TCP/UDP sockets", NO_SOCK),
	COMMON(PACKETSK, "packetsk.img", IMG_ARRAY, packet_sock_entry__descriptor, REFUSED,
	       "AF_PACKET sockets", NO_SOCK),
	COMMON(ITIMERS, "itimers-%u.img", IMG_ARRAY, itimer_entry__descriptor, REFUSED,
	       "a task's interval timers", OLD_TASK),
	COMMON(POSIX_TIMERS, "posix-timers-%u.img", IMG_ARRAY, posix_timer_entry__descriptor,
	       REFUSED, "a task's POSIX timers", OLD_TASK),
	COMMON(SK_QUEUES, "sk-queues.img", IMG_ARRAY, sk_packet_entry__descriptor, USED,
	       "the messages queued on sockets", NULL, .extra = IMG_EXTRA_FIELD,
	       .payload_field = "length"),
	COMMON(UTSNS, "utsns-%u.img", IMG_SINGLE, utsns_entry__descriptor, REFUSED,
	       "a UTS namespace's host and domain name", NO_NS),
	COMMON(CREDS, "creds-%u.img", IMG_SINGLE, creds_entry__descriptor, REFUSED,
	       "a task's credentials", OLD_TASK),
	COMMON(IPC_VAR, "ipcns-var-%u.img", IMG_SINGLE, ipc_var_entry__descriptor, REFUSED,
	       "an IPC namespace's sysctls", NO_NS),
	COMMON(IPCNS_SHM, "ipcns-shm-%u.img", IMG_ARRAY, ipc_shm_entry__descriptor, USED,
	       "the SysV shared memory segments the tree attached", NULL,
	       .extra = IMG_EXTRA_IPC_SHM),
	COMMON(IPCNS_MSG, "ipcns-msg-%u.img", IMG_ARRAY, ipc_msg_entry__descriptor, REFUSED,
	       "an IPC namespace's SysV message queues and their messages", NO_NS,
	       .extra = IMG_EXTRA_IPC_MSG),
	COMMON(IPCNS_SEM, "ipcns-sem-%u.img", IMG_ARRAY, ipc_sem_entry__descriptor, REFUSED,
	       "an IPC namespace's SysV semaphore sets and their values", NO_NS,
	       .extra = IMG_EXTRA_IPC_SEM),
	COMMON(REG_FILES, "reg-files.img", IMG_ARRAY, reg_file_entry__descriptor, REFUSED,
	       "open regular files", OLD_FILE),
	COMMON(EXT_FILES, "ext-files.img", IMG_ARRAY, ext_file_entry__descriptor, REFUSED,
	       "files a plugin dumped", OLD_FILE),
	COMMON(FS, "fs-%u.img", IMG_SINGLE, fs_entry__descriptor, USED,
	       "a task's cwd, root and umask", NULL),
	COMMON(MM, "mm-%u.img", IMG_SINGLE, mm_entry__descriptor, USED,
	       "a task's address space: VMAs, brk, arg/env, auxv, exe", NULL),
	/* restore/ghost.c refuses every kind but GHOST by name. */
	COMMON(REMAP_FPATH, "remap-fpath.img", IMG_ARRAY, remap_file_path_entry__descriptor,
	       USED, "how to find open files whose path changed (link, ghost, /proc path)", NULL),
	/* A ghost_file_entry, then its data or ghost_chunk_entry + data pairs. */
	COMMON(GHOST_FILE, "ghost-file-%x.img", IMG_ARRAY, ghost_chunk_entry__descriptor, USED,
	       "an open file that was unlinked, with its contents", NULL,
	       .head_desc = &ghost_file_entry__descriptor, .extra = IMG_EXTRA_GHOST),
	COMMON(TCP_STREAM, "tcp-stream-%x.img", IMG_SINGLE, tcp_stream_entry__descriptor,
	       USED, "a TCP connection's sequence numbers, options and queued data", NULL,
	       .extra = IMG_EXTRA_FIELD, .payload_field = "inq_len",
	       .payload_field2 = "outq_len"),
	COMMON(EVENTFD_FILE, "eventfd.img", IMG_ARRAY, eventfd_file_entry__descriptor, REFUSED,
	       "eventfds", OLD_FILE),
	COMMON(EVENTPOLL_FILE, "eventpoll.img", IMG_ARRAY, eventpoll_file_entry__descriptor,
	       REFUSED, "epoll instances", OLD_FILE),
	COMMON(EVENTPOLL_TFD, "eventpoll-tfd.img", IMG_ARRAY, eventpoll_tfd_entry__descriptor,
	       REFUSED, "the fds epoll instances watch", OLD_FILE),
	COMMON(SIGNALFD, "signalfd.img", IMG_ARRAY, signalfd_entry__descriptor, REFUSED,
	       "signalfds", OLD_FILE),
	COMMON(INOTIFY_FILE, "inotify.img", IMG_ARRAY, inotify_file_entry__descriptor, REFUSED,
	       "inotify instances", OLD_FILE),
	COMMON(INOTIFY_WD, "inotify-wd.img", IMG_ARRAY, inotify_wd_entry__descriptor, REFUSED,
	       "inotify watches", OLD_FILE),
	COMMON(MNTS, "mountpoints-%u.img", IMG_ARRAY, mnt_entry__descriptor, REFUSED,
	       "a mount namespace's mounts", NO_MNT),
	COMMON(NETDEV, "netdev-%u.img", IMG_ARRAY, net_device_entry__descriptor, REFUSED,
	       "a network namespace's links", NO_NET),
	COMMON(NETNS, "netns-%u.img", IMG_SINGLE, netns_entry__descriptor, REFUSED,
	       "a network namespace's sysctls and ids", NO_NET),
	/* CRIU names the tty file image plain "tty.img". */
	COMMON(TTY_FILES, "tty.img", IMG_ARRAY, tty_file_entry__descriptor, REFUSED,
	       "open terminals", OLD_FILE),
	COMMON(TTY_INFO, "tty-info.img", IMG_ARRAY, tty_info_entry__descriptor, USED,
	       "terminals: type, termios, window size, session", NULL),
	COMMON(TTY_DATA, "tty-data.img", IMG_ARRAY, tty_data_entry__descriptor, USED,
	       "bytes queued in pseudo-terminals whose master the tree holds", NULL),
	COMMON(FILE_LOCKS, "filelocks.img", IMG_ARRAY, file_lock_entry__descriptor, USED,
	       "POSIX, flock and OFD locks (one image per dump)", NULL),
	COMMON(RLIMIT, "rlimit-%u.img", IMG_ARRAY, rlimit_entry__descriptor, REFUSED,
	       "a task's resource limits", OLD_TASK),
	COMMON(FANOTIFY_FILE, "fanotify.img", IMG_ARRAY, fanotify_file_entry__descriptor,
	       REFUSED, "fanotify instances", OLD_FILE),
	COMMON(FANOTIFY_MARK, "fanotify-mark.img", IMG_ARRAY, fanotify_mark_entry__descriptor,
	       REFUSED, "fanotify marks", OLD_FILE),
	COMMON(SIGNAL, "signal-s-%u.img", IMG_ARRAY, siginfo_entry__descriptor, REFUSED,
	       "signals pending on a task", OLD_TASK),
	ALIAS(PSIGNAL, "signal-p-%u.img", SIGNAL, IMG_ARRAY, siginfo_entry__descriptor, REFUSED,
	      "signals pending on a thread", OLD_TASK),
	COMMON(NETLINK_SK, "netlinksk.img", IMG_ARRAY, netlink_sk_entry__descriptor, REFUSED,
	       "netlink sockets", NO_SOCK),
	COMMON(NS_FILES, "ns-files.img", IMG_ARRAY, ns_file_entry__descriptor, REFUSED,
	       "open namespace files", OLD_FILE),
	COMMON(TUNFILE, "tunfile.img", IMG_ARRAY, tunfile_entry__descriptor, REFUSED,
	       "open tun/tap devices", OLD_FILE),
	COMMON(CGROUP, "cgroup.img", IMG_SINGLE, cgroup_entry__descriptor, USED,
	       "the tasks' cgroups, controllers and cgroup properties", NULL),
	COMMON(TIMERFD, "timerfd.img", IMG_ARRAY, timerfd_entry__descriptor, REFUSED,
	       "timerfds", OLD_FILE),
	COMMON(CPUINFO, "cpuinfo.img", IMG_SINGLE, cpuinfo_entry__descriptor, IGNORED,
	       "the dumping CPU's features, for CRIU's compatibility check",
	       "ferry restore does not compare CPU features"),
	COMMON(USERNS, "userns-%u.img", IMG_SINGLE, userns_entry__descriptor, REFUSED,
	       "a user namespace's uid and gid maps", NO_NS),
	COMMON(SECCOMP, "seccomp.img", IMG_SINGLE, seccomp_entry__descriptor, CHECKED,
	       "the seccomp filters of all threads",
	       "CRIU writes it in every dump; ferry restore installs no filter, so it refuses "
	       "one that holds a filter"),
	COMMON(BINFMT_MISC, "binfmt-misc.img", IMG_ARRAY, binfmt_misc_entry__descriptor,
	       REFUSED, "binfmt_misc handlers of a mount namespace", NO_MNT),
	ALIAS(BINFMT_MISC_OLD, "binfmt-misc-%u.img", BINFMT_MISC, IMG_ARRAY,
	      binfmt_misc_entry__descriptor, REFUSED, "binfmt_misc handlers (older name)",
	      NO_MNT),
	COMMON(AUTOFS, "autofs-%u.img", IMG_SINGLE, autofs_entry__descriptor, REFUSED,
	       "an autofs mount", NO_MNT),
	COMMON(FILES, "files.img", IMG_ARRAY, file_entry__descriptor, USED,
	       "every open file description, of any kind", NULL),
	COMMON(MEMFD_INODE, "memfd.img", IMG_ARRAY, memfd_inode_entry__descriptor, USED,
	       "memfd inodes (their data is in shmem pagemaps)", NULL),
	COMMON(TIMENS, "timens-%u.img", IMG_SINGLE, timens_entry__descriptor, CHECKED,
	       "CLOCK_MONOTONIC and CLOCK_BOOTTIME at dump time",
	       "timens-0.img, in every CRIU dump, only lets a restore into a new time "
	       "namespace continue the clocks; ferry restores into its own and ignores it; "
	       "any other is a dumped time namespace and is refused"),
	COMMON(PIDNS, "pidns-%u.img", IMG_SINGLE, pidns_entry__descriptor, REFUSED,
	       "a pid namespace", NO_NS),
	COMMON(BPFMAP_FILE, "bpfmap-file.img", IMG_ARRAY, bpfmap_file_entry__descriptor,
	       REFUSED, "open BPF maps", OLD_FILE),
	COMMON(BPFMAP_DATA, "bpfmap-data.img", IMG_ARRAY, bpfmap_data_entry__descriptor,
	       USED, "the keys and values of BPF maps (arrays and hashes)", NULL,
	       .extra = IMG_EXTRA_FIELD, .payload_field = "keys_bytes",
	       .payload_field2 = "values_bytes"),
	COMMON(APPARMOR, "apparmor.img", IMG_SINGLE, apparmor_entry__descriptor, REFUSED,
	       "AppArmor namespaces and policies",
	       "ferry restore loads no AppArmor policy"),
	COMMON(PIDFD, "pidfd.img", IMG_ARRAY, pidfd_entry__descriptor, REFUSED, "pidfds",
	       OLD_FILE),
	RAW(IFADDR, "ifaddr-%u.img", REFUSED, "addresses, as 'ip addr save' writes them",
	    NO_NET),
	RAW(ROUTE, "route-%u.img", REFUSED, "IPv4 routes, as 'ip route save' writes them",
	    NO_NET),
	RAW(ROUTE6, "route6-%u.img", REFUSED, "IPv6 routes, as 'ip -6 route save' writes them",
	    NO_NET),
	RAW(RULE, "rule-%u.img", REFUSED, "routing rules, as 'ip rule save' writes them", NO_NET),
	RAW(IPTABLES, "iptables-%u.img", REFUSED, "iptables-save output", NO_NET),
	RAW(IP6TABLES, "ip6tables-%u.img", REFUSED, "ip6tables-save output", NO_NET),
	RAW(NFTABLES, "nftables-%u.img", REFUSED, "'nft list ruleset' output", NO_NET),
	RAW(NETNF_CT, "netns-ct-%u.img", REFUSED, "conntrack entries as netlink messages",
	    NO_NET),
	RAW(NETNF_EXP, "netns-exp-%u.img", REFUSED,
	    "conntrack expectations as netlink messages", NO_NET),
	RAW(TMPFS_IMG, "tmpfs-%u.tar.gz.img", REFUSED, "a tmpfs mount's files, a gzipped tar",
	    NO_MNT),
	RAW(TMPFS_DEV, "tmpfs-dev-%u.tar.gz.img", REFUSED,
	    "a tmpfs mount's files, a gzipped tar", NO_MNT),
	/*
	 * Obsolete names of the PAGEMAP magic that CRIU 4.2 still defines but
	 * neither writes nor reads; a pages-N.img is PAGES.
	 */
	ALIAS(PAGES_OLD, "pages-%u.img", PAGEMAP, IMG_ARRAY, pagemap_entry__descriptor, REFUSED,
	      "pages in an old layout CRIU 4.2 neither writes nor reads",
	      "ferry restore reads no such layout", .head_desc = &pagemap_head__descriptor),
	ALIAS(SHM_PAGES_OLD, "pages-shmem-%u.img", PAGEMAP, IMG_ARRAY, pagemap_entry__descriptor,
	      REFUSED, "shared memory pages in an old layout CRIU 4.2 neither writes nor reads",
	      "ferry restore reads no such layout", .head_desc = &pagemap_head__descriptor),
	/* Service files: "stats-dump", "stats-restore", "irmap-cache" (no .img). */
	[T_STATS] = {
		.name = "STATS",
		.file = "stats-%s",
		.kind_magic = IMG_SERVICE_MAGIC,
		.magic = STATS_MAGIC,
		.kind = IMG_SINGLE,
		.desc = &stats_entry__descriptor,
		.restore = IGNORED,
		.about = "how long a dump or restore took and how many pages it wrote",
		.restore_note = "statistics only",
	},
	[T_IRMAP_CACHE] = {
		.name = "IRMAP_CACHE",
		.file = "irmap-cache",
		.kind_magic = IMG_SERVICE_MAGIC,
		.magic = IRMAP_CACHE_MAGIC,
		.kind = IMG_ARRAY,
		.desc = &irmap_cache_entry__descriptor,
		.restore = IGNORED,
		.about = "paths of inodes watched by fsnotify, a cache for the next dump",
		.restore_note = "a dump-side cache",
	},
	/* The kerndat cache: KDAT_MAGIC, a build stamp, then a C struct. */
	[T_KDAT] = {
		.name = "KDAT",
		.file = "criu.kdat",
		.magic = KDAT_MAGIC,
		.kind = IMG_BLOB,
		.restore = IGNORED,
		.about = "CRIU's cache of kernel features (/run/criu.kdat), a C struct of the "
			 "CRIU build that wrote it",
		.restore_note = "not part of a dump",
	},
	[T_NR] = { .name = NULL },
};

const struct img_type *const IMG_INVENTORY = &img_types[T_INVENTORY];
const struct img_type *const IMG_PSTREE = &img_types[T_PSTREE];
const struct img_type *const IMG_CORE = &img_types[T_CORE];
const struct img_type *const IMG_IDS = &img_types[T_IDS];
const struct img_type *const IMG_MM = &img_types[T_MM];
const struct img_type *const IMG_VMAS = &img_types[T_VMAS];
const struct img_type *const IMG_PAGEMAP = &img_types[T_PAGEMAP];
const struct img_type *const IMG_PAGES = &img_types[T_PAGES];
const struct img_type *const IMG_FDINFO = &img_types[T_FDINFO];
const struct img_type *const IMG_FILES = &img_types[T_FILES];
const struct img_type *const IMG_REG_FILES = &img_types[T_REG_FILES];
const struct img_type *const IMG_PIPES = &img_types[T_PIPES];
const struct img_type *const IMG_PIPES_DATA = &img_types[T_PIPES_DATA];
const struct img_type *const IMG_SK_QUEUES = &img_types[T_SK_QUEUES];
const struct img_type *const IMG_FIFO_DATA = &img_types[T_FIFO_DATA];
const struct img_type *const IMG_TTY_FILES = &img_types[T_TTY_FILES];
const struct img_type *const IMG_TTY_INFO = &img_types[T_TTY_INFO];
const struct img_type *const IMG_TTY_DATA = &img_types[T_TTY_DATA];
const struct img_type *const IMG_BPFMAP_DATA = &img_types[T_BPFMAP_DATA];
const struct img_type *const IMG_FS = &img_types[T_FS];
const struct img_type *const IMG_STATS = &img_types[T_STATS];
const struct img_type *const IMG_CREDS = &img_types[T_CREDS];
const struct img_type *const IMG_SIGACT = &img_types[T_SIGACT];
const struct img_type *const IMG_RLIMIT = &img_types[T_RLIMIT];
const struct img_type *const IMG_FILE_LOCKS = &img_types[T_FILE_LOCKS];
const struct img_type *const IMG_CGROUP = &img_types[T_CGROUP];
const struct img_type *const IMG_TCP_STREAM = &img_types[T_TCP_STREAM];
const struct img_type *const IMG_SECCOMP = &img_types[T_SECCOMP];
const struct img_type *const IMG_TIMENS = &img_types[T_TIMENS];

const struct img_type *img_type_by_magic(uint32_t magic)
{
	const struct img_type *t;

	if (!magic)
		return NULL;
	for (t = img_types; t->name; t++)
		if (t->magic == magic && !t->alias_of)
			return t;
	return NULL;
}

const struct img_type *img_type_by_name(const char *name)
{
	const struct img_type *t;

	if (!name)
		return NULL;
	for (t = img_types; t->name; t++)
		if (!strcmp(t->name, name))
			return t;
	return NULL;
}

/* Whether @s matches @pat whole: %u/%d digits, %x hex digits, %s any text. */
static int name_matches(const char *pat, const char *s)
{
	while (*pat) {
		const char *digits;
		size_t n;

		if (pat[0] != '%') {
			if (*pat++ != *s++)
				return 0;
			continue;
		}
		switch (pat[1]) {
		case 'u':
		case 'd':
			digits = "0123456789";
			break;
		case 'x':
			digits = "0123456789abcdef";
			break;
		case 's':
			/* Any non-empty text, then the rest of the pattern. */
			for (n = 1; n <= strlen(s); n++)
				if (name_matches(pat + 2, s + n))
					return 1;
			return 0;
		default:
			return 0;
		}
		n = strspn(s, digits);
		if (!n)
			return 0;
		s += n;
		pat += 2;
	}
	return !*s;
}

const struct img_type *img_type_by_file(const char *name)
{
	const struct img_type *t;

	if (!name)
		return NULL;
	for (t = img_types; t->name; t++)
		if (name_matches(t->file, name))
			return t;
	return NULL;
}

const char *img_restore_name(enum img_restore r)
{
	switch (r) {
	case IMG_RESTORE_USED:
		return "restored";
	case IMG_RESTORE_IGNORED:
		return "ignored";
	case IMG_RESTORE_CHECKED:
		return "checked";
	case IMG_RESTORE_REFUSED:
		return "refused";
	}
	return "?";
}

/* The value of the uint32 or uint64 field @name of @m; 0 if it has none. */
static uint64_t field_u64(const ProtobufCMessage *m, const char *name)
{
	const ProtobufCFieldDescriptor *f;
	const char *p;

	f = protobuf_c_message_descriptor_get_field_by_name(m->descriptor, name);
	if (!f)
		return 0;
	p = (const char *)m + f->offset;
	if (f->type == PROTOBUF_C_TYPE_UINT32)
		return *(const uint32_t *)p;
	if (f->type == PROTOBUF_C_TYPE_UINT64)
		return *(const uint64_t *)p;
	return 0;
}

static uint64_t round_up(uint64_t x, uint64_t to)
{
	return (x + to - 1) / to * to;
}

size_t img_payload_len(const struct img_type *t, const ProtobufCMessage *msg)
{
	uint64_t n;

	if (t->extra != IMG_EXTRA_FIELD || !msg)
		return 0;
	n = field_u64(msg, t->payload_field);
	if (t->payload_field2)
		n += field_u64(msg, t->payload_field2);
	return (size_t)n;
}

/* The records after an ipc_msg_entry: qnum of u32 size, ipc_msg, data padded to 8. */
static int ipc_msg_len(const IpcMsgEntry *e, const uint8_t *p, size_t left, size_t *len,
		       size_t *bad)
{
	size_t at = 0;

	for (uint32_t i = 0; i < e->qnum; i++) {
		IpcMsg *msg;
		uint32_t size;
		uint64_t data;

		*bad = at;
		if (left - at < 4)
			return -EINVAL;
		memcpy(&size, p + at, 4);
		if (size > left - at - 4)
			return -EINVAL;
		msg = ipc_msg__unpack(NULL, size, p + at + 4);
		if (!msg)
			return -EINVAL;
		data = round_up(msg->msize, 8);
		ipc_msg__free_unpacked(msg, NULL);
		at += 4 + size;
		if (data > left - at)
			return -EINVAL;
		at += data;
	}
	*len = at;
	return 0;
}

int img_type_extra_len(const struct img_type *t, const ProtobufCMessage *m, const uint8_t *p,
		       size_t left, size_t *len, size_t *bad)
{
	uint64_t n = 0;

	*len = 0;
	*bad = 0;
	switch (t->extra) {
	case IMG_EXTRA_NONE:
		return 0;
	case IMG_EXTRA_FIELD:
		n = field_u64(m, t->payload_field);
		if (t->payload_field2)
			n += field_u64(m, t->payload_field2);
		break;
	case IMG_EXTRA_IPC_SHM: {
		const IpcShmEntry *e = (const IpcShmEntry *)m;

		if (!(e->has_in_pagemaps && e->in_pagemaps))
			n = round_up(e->size, 4);
		break;
	}
	case IMG_EXTRA_IPC_SEM:
		n = round_up(2ull * ((const IpcSemEntry *)m)->nsems, 8);
		break;
	case IMG_EXTRA_IPC_MSG:
		return ipc_msg_len((const IpcMsgEntry *)m, p, left, len, bad);
	case IMG_EXTRA_GHOST:
		if (m->descriptor == &ghost_chunk_entry__descriptor)
			n = ((const GhostChunkEntry *)m)->len;
		else if (!((const GhostFileEntry *)m)->chunks)
			n = left; /* the file's bytes, up to the end */
		break;
	}
	*len = (size_t)n;
	return n > left ? -EINVAL : 0;
}
