/* SPDX-License-Identifier: MIT */
/*
 * CRIU-format image files.
 *
 * A file starts with two 32-bit magics: the kind (IMG_COMMON_MAGIC or
 * IMG_SERVICE_MAGIC), then the type; the inventory has only its type magic.
 * Then entries: a little-endian u32 size and a protobuf message of that size,
 * optionally followed by an extra payload whose length fields of the message
 * give (pipe data, socket queues, ...). Raw images (pages-N.img, CRIU's ip
 * and iptables dumps, tmpfs tarballs) have no magic at all and are known by
 * their file name only.
 *
 * Writers create "<name>.tmp" and rename it to the final name on commit, so an
 * image appears whole or not at all. Readers map the whole file and check every
 * length against its end; errors name the file and byte offset.
 */
#ifndef FERRY_IMG_H
#define FERRY_IMG_H

#include <stddef.h>
#include <stdint.h>
#include <protobuf-c/protobuf-c.h>

#define IMG_COMMON_MAGIC 0x54564319u  /* CRIU: Kiev */
#define IMG_SERVICE_MAGIC 0x55105940u /* CRIU: Zlatograd */

/* An entry larger than this is refused as corrupt. */
#define IMG_MAX_ENTRY (64u << 20)

enum img_kind {
	IMG_ARRAY = 0,	/* zero or more entries */
	IMG_SINGLE = 1, /* exactly one entry */
	IMG_RAW = 2,	/* no magic, no entries: raw bytes, known by file name (pages) */
	IMG_BLOB = 3,	/* a magic, then bytes that are no protobuf (CRIU's kerndat cache) */
};

/* What follows an entry in the file besides the next entry (crit's "extra"). */
enum img_extra {
	IMG_EXTRA_NONE = 0,
	IMG_EXTRA_FIELD,   /* payload_field bytes, then payload_field2 bytes if set */
	IMG_EXTRA_IPC_SHM, /* "size" bytes padded to 4; none when "in_pagemaps" */
	IMG_EXTRA_IPC_SEM, /* "nsems" u16 values padded to 8 bytes */
	IMG_EXTRA_IPC_MSG, /* "qnum" records: u32 size, ipc_msg, "msize" bytes padded to 8 */
	IMG_EXTRA_GHOST,   /* head: the file's bytes up to EOF unless "chunks"; chunks: "len" */
};

/* What ferry restore does with an image of the type found in a dump directory. */
enum img_restore {
	IMG_RESTORE_USED = 0, /* restored from */
	IMG_RESTORE_IGNORED,  /* left aside: nothing in it changes the restored tasks */
	IMG_RESTORE_CHECKED,  /* refused if it holds state restore cannot rebuild, else ignored */
	IMG_RESTORE_REFUSED,  /* the dump is refused: restore cannot rebuild what it holds */
};

struct img_type {
	const char *name; /* CRIU's magic name: "PSTREE", "PAGEMAP", ... */
	/*
	 * File name pattern as CRIU's image-desc.c: "pstree.img", "core-%u.img";
	 * %u and %d stand for decimal digits, %x for hex digits, %s for any text.
	 */
	const char *file;
	uint32_t kind_magic; /* IMG_COMMON_MAGIC, IMG_SERVICE_MAGIC, or 0 */
	uint32_t magic;	     /* the type magic; 0 for raw images */
	enum img_kind kind;
	const ProtobufCMessageDescriptor *desc;
	/* pagemap, ghost file: the first entry is a head_desc, the rest desc. */
	const ProtobufCMessageDescriptor *head_desc;
	enum img_extra extra;
	/* IMG_EXTRA_FIELD: the uint32/uint64 fields holding the payload's length. */
	const char *payload_field, *payload_field2;
	/*
	 * Another name CRIU gives to the same magic and layout (SHMEM_PAGEMAP is a
	 * PAGEMAP): img_type_by_magic() returns alias_of, never the alias.
	 */
	const struct img_type *alias_of;
	enum img_restore restore;
	const char *about;	  /* what the image holds, one line */
	const char *restore_note; /* why restore ignores, checks or refuses it */
};

/* The table of known image types, terminated by an entry with name NULL. */
extern const struct img_type img_types[];

/* img_type_by_magic - the type with type magic @magic (never an alias), or NULL. */
const struct img_type *img_type_by_magic(uint32_t magic);
/* img_type_by_name - the type (alias included) whose CRIU magic name is @name. */
const struct img_type *img_type_by_name(const char *name);
/*
 * img_type_by_file - the type whose file name pattern matches @name, a base
 * name ("pages-3.img" is PAGES); NULL if none does.
 */
const struct img_type *img_type_by_file(const char *name);
/* img_restore_name - "restored", "ignored", "checked" or "refused". */
const char *img_restore_name(enum img_restore r);
/*
 * img_type_extra_len - the number of bytes after entry @m (of type @t) that
 * belong to it, from the entry's fields and, for IMG_EXTRA_IPC_MSG, the
 * records in @p (@left bytes up to the end of the file). Returns 0, or
 * -EINVAL if they run past the end (*@len: the bytes wanted) or a record is
 * corrupt (*@bad: its offset in @p).
 */
int img_type_extra_len(const struct img_type *t, const ProtobufCMessage *m, const uint8_t *p,
		       size_t left, size_t *len, size_t *bad);

/* Convenience handles for the types ferry writes (see img_types.c). */
extern const struct img_type *const IMG_INVENTORY;
extern const struct img_type *const IMG_PSTREE;
extern const struct img_type *const IMG_CORE;
extern const struct img_type *const IMG_IDS;
extern const struct img_type *const IMG_MM;
extern const struct img_type *const IMG_PAGEMAP;
extern const struct img_type *const IMG_PAGES;
extern const struct img_type *const IMG_FDINFO;
extern const struct img_type *const IMG_FILES;
extern const struct img_type *const IMG_REG_FILES;
extern const struct img_type *const IMG_PIPES;
extern const struct img_type *const IMG_PIPES_DATA;
extern const struct img_type *const IMG_SK_QUEUES;
extern const struct img_type *const IMG_FIFO_DATA;
extern const struct img_type *const IMG_TTY_FILES;
extern const struct img_type *const IMG_TTY_INFO;
extern const struct img_type *const IMG_TTY_DATA;
extern const struct img_type *const IMG_BPFMAP_DATA;
extern const struct img_type *const IMG_FS;
extern const struct img_type *const IMG_STATS;
extern const struct img_type *const IMG_CREDS;
extern const struct img_type *const IMG_SIGACT;
extern const struct img_type *const IMG_RLIMIT;
extern const struct img_type *const IMG_VMAS;
extern const struct img_type *const IMG_SECCOMP;
extern const struct img_type *const IMG_TIMENS;
extern const struct img_type *const IMG_FILE_LOCKS;
extern const struct img_type *const IMG_CGROUP;
extern const struct img_type *const IMG_TCP_STREAM;

struct img;

/*
 * img_create - start writing image @name (relative to dirfd) of type @t.
 * The data goes to "<name>.tmp" until img_commit(). Returns 0 or -errno.
 */
int img_create(struct img **out, int dirfd, const char *name, const struct img_type *t);
/* img_write_entry - append one message. Returns 0 or -errno. */
int img_write_entry(struct img *img, const ProtobufCMessage *msg);
/* img_write_raw - append raw bytes (extra payload, or a raw image's data). */
int img_write_raw(struct img *img, const void *buf, size_t len);
/*
 * img_commit - flush, fdatasync (see img_sync_on_commit), rename to the final
 * name, free. Returns 0 or -errno.
 */
int img_commit(struct img *img);

/*
 * img_sync_on_commit - whether img_commit() fdatasyncs (1, the default) or
 * leaves it to the caller (0: it must sync every image before it relies on
 * them, e.g. before publishing a dump). Process-wide. Returns the previous
 * setting.
 */
int img_sync_on_commit(int on);
/* img_abort - drop the temporary file and free. Never fails. */
void img_abort(struct img *img);
/*
 * img_write_one - the whole life of a single-entry image: create, write @msg,
 * commit (or abort on error). Returns 0 or -errno.
 */
int img_write_one(int dirfd, const char *name, const struct img_type *t,
		  const ProtobufCMessage *msg);

/*
 * img_open - open image @name for reading; @expect NULL accepts any known type.
 * Returns 0, -ENOENT if missing, -EINVAL if the magic is wrong or unknown
 * (logged with the file name), or another -errno.
 */
int img_open(struct img **out, int dirfd, const char *name, const struct img_type *expect);
/* img_open_mem - the same on a buffer (not copied; used by fuzzers and tests). */
int img_open_mem(struct img **out, const char *name, const void *buf, size_t len,
		 const struct img_type *expect);
const struct img_type *img_get_type(const struct img *img);
const char *img_name(const struct img *img);
/* img_offset - current read offset in bytes. */
size_t img_offset(const struct img *img);

/*
 * img_read_entry - read the next entry. For pagemap, the first call returns a
 * pagemap_head. *msg must be freed with protobuf_c_message_free_unpacked().
 * Returns 1 with an entry, 0 at end of file, -EINVAL on a truncated entry,
 * a size past the end or over IMG_MAX_ENTRY, or a message that does not
 * parse (logged with file and offset), -ENOMEM.
 */
int img_read_entry(struct img *img, ProtobufCMessage **msg);
/*
 * img_read_payload - the extra payload that follows the entry just read
 * (see enum img_extra), padding included. Points into the mapping; valid until
 * img_close(). Returns 0 or -EINVAL if it runs past the end of file.
 */
int img_read_payload(struct img *img, const ProtobufCMessage *msg, const void **data, size_t *len);
/* img_payload_len - the payload length IMG_EXTRA_FIELD fields announce (0 if none). */
size_t img_payload_len(const struct img_type *t, const ProtobufCMessage *msg);
/* img_read_raw - copy len bytes at the current offset. Returns 0 or -EINVAL at EOF. */
int img_read_raw(struct img *img, void *buf, size_t len);
/* img_data - the whole mapped file (for raw images). */
const void *img_data(const struct img *img, size_t *len);
void img_close(struct img *img);

#endif
