/* SPDX-License-Identifier: MIT */
/*
 * Internal to the restore side's image loader (images.c, images_proc.c,
 * images_files.c, images_mm.c): the helpers they share and the loaders
 * rimg_load_flags() calls. images.h is the interface for everything else.
 *
 * Each loader reads one kind of image into @r (or into process @p of it),
 * checks it against what is already loaded, logs what is wrong with the
 * directory, file and offset, pid or address involved, and returns 0 or a
 * -errno as rimg_load() documents. What it allocated before an error stays in
 * the model, for rimg_free().
 */
#ifndef FERRY_RESTORE_IMAGES_PRIV_H
#define FERRY_RESTORE_IMAGES_PRIV_H

#include <stdint.h>

#include "images.h"
#include "img.h"

/* ---- images.c: reading images ----------------------------------------------------------- */

/* rimg_msg_free - free a decoded message; NULL is a no-op. */
void rimg_msg_free(void *m);

/* rimg_enum_name - the name of value @v of enum @d, for messages. */
const char *rimg_enum_name(const ProtobufCEnumDescriptor *d, int v);

/*
 * rimg_open_img_in - open image @name of directory @dirfd (@dir in messages).
 * Only a regular file inside the directory is read. A missing file returns
 * -ENOENT, logged only if @required.
 */
int rimg_open_img_in(int dirfd, const char *dir, const char *name, const struct img_type *t,
		     int required, struct img **out);

/* rimg_open_img - rimg_open_img_in() in the images directory itself. */
int rimg_open_img(const struct rimg *r, const char *name, const struct img_type *t, int required,
		  struct img **out);

/* rimg_read_single - read the one entry of a single-entry image of the images directory. */
int rimg_read_single(const struct rimg *r, const char *name, const struct img_type *t,
		     ProtobufCMessage **msg);

/* ---- images_proc.c: per process --------------------------------------------------------- */

/* rimg_load_pstree - pstree.img: r->procs, with their threads' tids and parents. */
int rimg_load_pstree(struct rimg *r);

/* rimg_load_core - core-TID.img of thread @t of @p (@leader: threads[0]). */
int rimg_load_core(struct rimg *r, struct rimg_proc *p, struct rimg_thread *t, int leader);

/* rimg_load_ids - p->ids: the leader's core ids, else ids-PID.img. */
int rimg_load_ids(struct rimg *r, struct rimg_proc *p);

/* rimg_load_fs - fs-PID.img, its cwd and root checked against files.img. */
int rimg_load_fs(struct rimg *r, struct rimg_proc *p);

/* ---- images_files.c: files -------------------------------------------------------------- */

/*
 * rimg_check_event_file - check an eventfd, epoll, signalfd or timerfd entry
 * @f read at offset @at of @img (other types pass). Returns 0 or -EINVAL
 * (logged with the image's name and offset). In images_events.c.
 */
int rimg_check_event_file(const struct img *img, size_t at, const FileEntry *f);

/* rimg_load_ttys - tty-info.img, if the dump has one. */
int rimg_load_ttys(struct rimg *r);

/*
 * rimg_load_tty_data - tty-data.img, if the dump has one (after
 * rimg_load_files()): each entry names a terminal file of a pty pair and
 * holds at most PTY_QUEUE_MAX bytes, else refused with file and offset.
 */
int rimg_load_tty_data(struct rimg *r);

/* rimg_load_files - files.img (after rimg_load_ttys()), sorted by id. */
int rimg_load_files(struct rimg *r);

/* rimg_load_pipes - pipes-data.img, if the dump has one (after rimg_load_files()). */
int rimg_load_pipes(struct rimg *r);

/* rimg_load_fds - fdinfo-ID.img of @p (after rimg_load_ids()). */
int rimg_load_fds(struct rimg *r, struct rimg_proc *p);

/* rimg_load_locks - filelocks.img, if the dump has one (after every rimg_load_fds()). */
int rimg_load_locks(struct rimg *r);

/*
 * rimg_check_file_ref - 0 if files.img has file id @id, else -EINVAL, logged
 * as the @what file of @p in image @img.
 */
int rimg_check_file_ref(const struct rimg *r, const struct rimg_proc *p, const char *img,
			const char *what, uint32_t id);

/* ---- images_mm.c: memory ---------------------------------------------------------------- */

/* rimg_load_mm - mm-PID.img of @p, its pagemap-PID.img and pages-ID.img. */
int rimg_load_mm(struct rimg *r, struct rimg_proc *p);

/*
 * rimg_open_level - open level @level (>= 1) of the pre-dump chain unless it
 * is open (r->chain[level - 1]); @pid and @addr name the first page that
 * needs it, in messages. Returns 0, -EINVAL, -ENOENT, -ELOOP or -ENOMEM.
 */
int rimg_open_level(struct rimg *r, unsigned int level, pid_t pid, uint64_t addr);

/* ---- images_shmem_parent.c -------------------------------------------------------------- */

/*
 * rimg_shmem_parent - the PE_PARENT runs of object @s found down the
 * pre-dump chain: in the pagemap-shmem of the first level that holds each
 * page (a level that has it PE_PARENT sends it one level down), split where
 * those runs split, with their level and offset in that level's pages file,
 * which is opened.
 * Returns 0, -ENOENT, -EINVAL (logged with files and offsets), -ENOMEM.
 */
struct rimg_shmem;
int rimg_shmem_parent(struct rimg *r, struct rimg_shmem *s);

/* rimg_resolve_parents - resolve every PE_PARENT page of @p through the pre-dump chain. */
int rimg_resolve_parents(struct rimg *r, struct rimg_proc *p);

/*
 * rimg_check_inet_file - check the inet_sk_entry of file entry @f at offset
 * @at of @img (family, type, protocol, address sizes, ports, state). Returns
 * 0 or -EINVAL (logged with file and offset).
 */
int rimg_check_inet_file(const struct img *img, size_t at, const FileEntry *f);

/*
 * rimg_check_tcp_stream - for the inet socket @f, if it is an established
 * TCP connection: its tcp-stream-INO.img exists and holds together
 * (restore/images_tcp.c). Returns 0 or -EINVAL (logged with file and offset).
 */
int rimg_check_tcp_stream(const struct rimg *r, const FileEntry *f);

/*
 * rimg_check_netlink_file - check the netlink_sk_entry of file entry @f at
 * offset @at of @img (protocol, state, groups). Returns 0 or -EINVAL (logged
 * with file and offset).
 */
int rimg_check_netlink_file(const struct img *img, size_t at, const FileEntry *f);

/*
 * rimg_check_unix_file - check the unix_sk_entry of file entry @f at offset
 * @at of @img: a known type, a name that fits sockaddr_un, a known state and
 * shutdown. Returns 0 or -EINVAL (logged with file and offset).
 */
int rimg_check_unix_file(const struct img *img, size_t at, const FileEntry *f);

/*
 * rimg_load_sk_queues - sk-queues.img, if there is one: every entry for a
 * unix socket of files.img (else -EINVAL, logged with file and offset).
 */
int rimg_load_sk_queues(struct rimg *r);

#endif
