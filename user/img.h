/* SPDX-License-Identifier: MIT */
/*
 * CRIU-format image files.
 *
 * A file starts with two 32-bit magics: the kind (IMG_COMMON_MAGIC or
 * IMG_SERVICE_MAGIC), then the type; the inventory has only its type magic.
 * Then entries: a little-endian u32 size and a protobuf message of that size,
 * optionally followed by an extra payload whose length a field of the
 * message gives (pipe data). pages-N.img files are raw: no magic at all.
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
	IMG_RAW = 2,	/* no magic, no entries: raw bytes (pages) */
};

struct img_type {
	const char *name;    /* CRIU's magic name: "PSTREE", "PAGEMAP", ... */
	const char *file;    /* file name pattern, printf-style: "pstree.img", "core-%u.img" */
	uint32_t kind_magic; /* IMG_COMMON_MAGIC, IMG_SERVICE_MAGIC, or 0 (inventory) */
	uint32_t magic;	     /* the type magic; 0 for raw images */
	enum img_kind kind;
	const ProtobufCMessageDescriptor *desc;
	/* pagemap: the first entry is a pagemap_head, the rest desc. */
	const ProtobufCMessageDescriptor *head_desc;
	/* Name of the uint32 field holding the extra payload's length, or NULL. */
	const char *payload_field;
};

/* The table of known image types, terminated by an entry with name NULL. */
extern const struct img_type img_types[];

const struct img_type *img_type_by_magic(uint32_t magic);
const struct img_type *img_type_by_name(const char *name);

/* Convenience handles for the types ferry writes (see img_types.c). */
extern const struct img_type *const IMG_INVENTORY,
	*const IMG_PSTREE,
		*const IMG_CORE,
			*const IMG_IDS,
				*const IMG_MM,
					*const IMG_PAGEMAP,
						*const IMG_PAGES,
							*const IMG_FDINFO,
								*const IMG_FILES,
									*const IMG_REG_FILES,
										*const IMG_PIPES,
											*const IMG_PIPES_DATA,
												*const IMG_TTY_FILES,
													*const IMG_TTY_INFO,
														*const IMG_FS,
															*const IMG_STATS,
																*const IMG_CREDS,
																	*const IMG_SIGACT,
																		*const IMG_RLIMIT,
																			*const IMG_VMAS,
																				*const IMG_FILE_LOCKS;

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
 * (length from the type's payload_field). Points into the mapping; valid until
 * img_close(). Returns 0 or -EINVAL if it runs past the end of file.
 */
int img_read_payload(struct img *img, const ProtobufCMessage *msg, const void **data, size_t *len);
/* img_payload_len - the payload length a message announces (0 if none). */
size_t img_payload_len(const struct img_type *t, const ProtobufCMessage *msg);
/* img_read_raw - copy len bytes at the current offset. Returns 0 or -EINVAL at EOF. */
int img_read_raw(struct img *img, void *buf, size_t len);
/* img_data - the whole mapped file (for raw images). */
const void *img_data(const struct img *img, size_t *len);
void img_close(struct img *img);

#endif
