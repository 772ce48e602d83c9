// SPDX-License-Identifier: MIT
/*
 * The image types ferry knows: CRIU's magic names, file names (criu/image-desc.c)
 * and magic numbers (criu/include/magic.h), with the protobuf message of
 * their entries.
 */
#include <stddef.h>
#include <string.h>

#include "img.h"

#include "inventory.pb-c.h"
#include "pstree.pb-c.h"
#include "core.pb-c.h"
#include "mm.pb-c.h"
#include "vma.pb-c.h"
#include "pagemap.pb-c.h"
#include "fdinfo.pb-c.h"
#include "regfile.pb-c.h"
#include "pipe.pb-c.h"
#include "fifo.pb-c.h"
#include "pipe-data.pb-c.h"
#include "tty.pb-c.h"
#include "fs.pb-c.h"
#include "stats.pb-c.h"
#include "creds.pb-c.h"
#include "sa.pb-c.h"
#include "rlimit.pb-c.h"
#include "file-lock.pb-c.h"

/* Type magics, as CRIU's criu/include/magic.h. */
#define INVENTORY_MAGIC 0x58313116u  /* Veliky Novgorod */
#define PSTREE_MAGIC 0x50273030u     /* Kyiv */
#define FDINFO_MAGIC 0x56213732u     /* Dmitrov */
#define PAGEMAP_MAGIC 0x56084025u    /* Vladimir */
#define CORE_MAGIC 0x55053847u	     /* Kolomna */
#define IDS_MAGIC 0x54432030u	     /* Konigsberg */
#define VMAS_MAGIC 0x54123737u	     /* Tula */
#define PIPES_MAGIC 0x56513555u	     /* Tver */
#define PIPES_DATA_MAGIC 0x56453709u /* Dubna */
#define FIFO_MAGIC 0x58364939u	     /* Kirov */
#define FIFO_DATA_MAGIC 0x59333054u  /* Tosno */
#define SIGACT_MAGIC 0x55344201u     /* Murom */
#define CREDS_MAGIC 0x54023547u	     /* Kozelsk */
#define REG_FILES_MAGIC 0x50363636u  /* Belgorod */
#define FS_MAGIC 0x51403912u	     /* Voronezh */
#define MM_MAGIC 0x57492820u	     /* Pskov */
#define TTY_FILES_MAGIC 0x59433025u  /* Pushkin */
#define TTY_INFO_MAGIC 0x59453036u   /* Kolpino */
#define TTY_DATA_MAGIC 0x59413026u   /* Pavlovsk */
#define RLIMIT_MAGIC 0x57113925u     /* Rostov */
#define FILES_MAGIC 0x56303138u	     /* Toropets */
#define STATS_MAGIC 0x57093306u	     /* Ostashkov */
#define FILE_LOCKS_MAGIC 0x54323616u /* Kaluga */

enum {
	T_INVENTORY,
	T_PSTREE,
	T_CORE,
	T_IDS,
	T_MM,
	T_VMAS,
	T_PAGEMAP,
	T_PAGES,
	T_FDINFO,
	T_FILES,
	T_REG_FILES,
	T_PIPES,
	T_PIPES_DATA,
	T_FIFO,
	T_FIFO_DATA,
	T_TTY_FILES,
	T_TTY_INFO,
	T_TTY_DATA,
	T_FS,
	T_STATS,
	T_CREDS,
	T_SIGACT,
	T_RLIMIT,
	T_FILE_LOCKS,
	T_NR,
};

#define COMMON(_name, _file, _kind, _desc)      \
	[T_##_name] = {                         \
		.name = #_name,                 \
		.file = _file,                  \
		.kind_magic = IMG_COMMON_MAGIC, \
		.magic = _name##_MAGIC,         \
		.kind = _kind,                  \
		.desc = &_desc,                 \
	}

const struct img_type img_types[T_NR + 1] = {
	/* The inventory alone has no kind magic. */
	[T_INVENTORY] = {
		.name = "INVENTORY",
		.file = "inventory.img",
		.kind_magic = 0,
		.magic = INVENTORY_MAGIC,
		.kind = IMG_SINGLE,
		.desc = &inventory_entry__descriptor,
	},
	COMMON(PSTREE, "pstree.img", IMG_ARRAY, pstree_entry__descriptor),
	COMMON(CORE, "core-%u.img", IMG_SINGLE, core_entry__descriptor),
	COMMON(IDS, "ids-%u.img", IMG_SINGLE, task_kobj_ids_entry__descriptor),
	COMMON(MM, "mm-%u.img", IMG_SINGLE, mm_entry__descriptor),
	COMMON(VMAS, "vmas-%u.img", IMG_ARRAY, vma_entry__descriptor),
	[T_PAGEMAP] = {
		.name = "PAGEMAP",
		.file = "pagemap-%u.img",
		.kind_magic = IMG_COMMON_MAGIC,
		.magic = PAGEMAP_MAGIC,
		.kind = IMG_ARRAY,
		.desc = &pagemap_entry__descriptor,
		.head_desc = &pagemap_head__descriptor,
	},
	/* Raw page contents, in pagemap order: no magic, no entries. */
	[T_PAGES] = {
		.name = "PAGES",
		.file = "pages-%u.img",
		.kind = IMG_RAW,
	},
	COMMON(FDINFO, "fdinfo-%u.img", IMG_ARRAY, fdinfo_entry__descriptor),
	COMMON(FILES, "files.img", IMG_ARRAY, file_entry__descriptor),
	COMMON(REG_FILES, "reg-files.img", IMG_ARRAY, reg_file_entry__descriptor),
	COMMON(PIPES, "pipes.img", IMG_ARRAY, pipe_entry__descriptor),
	[T_PIPES_DATA] = {
		.name = "PIPES_DATA",
		.file = "pipes-data.img",
		.kind_magic = IMG_COMMON_MAGIC,
		.magic = PIPES_DATA_MAGIC,
		.kind = IMG_ARRAY,
		.desc = &pipe_data_entry__descriptor,
		.payload_field = "bytes",
	},
	COMMON(FIFO, "fifo.img", IMG_ARRAY, fifo_entry__descriptor),
	[T_FIFO_DATA] = {
		.name = "FIFO_DATA",
		.file = "fifo-data.img",
		.kind_magic = IMG_COMMON_MAGIC,
		.magic = FIFO_DATA_MAGIC,
		.kind = IMG_ARRAY,
		.desc = &pipe_data_entry__descriptor,
		.payload_field = "bytes",
	},
	/* CRIU names the tty file image plain "tty.img". */
	COMMON(TTY_FILES, "tty.img", IMG_ARRAY, tty_file_entry__descriptor),
	COMMON(TTY_INFO, "tty-info.img", IMG_ARRAY, tty_info_entry__descriptor),
	COMMON(TTY_DATA, "tty-data.img", IMG_ARRAY, tty_data_entry__descriptor),
	COMMON(FS, "fs-%u.img", IMG_SINGLE, fs_entry__descriptor),
	/* A service image: "stats-dump", "stats-restore" (no .img, as CRIU names them). */
	[T_STATS] = {
		.name = "STATS",
		.file = "stats-%s",
		.kind_magic = IMG_SERVICE_MAGIC,
		.magic = STATS_MAGIC,
		.kind = IMG_SINGLE,
		.desc = &stats_entry__descriptor,
	},
	COMMON(CREDS, "creds-%u.img", IMG_SINGLE, creds_entry__descriptor),
	COMMON(SIGACT, "sigacts-%u.img", IMG_ARRAY, sa_entry__descriptor),
	COMMON(RLIMIT, "rlimit-%u.img", IMG_ARRAY, rlimit_entry__descriptor),
	/* One image for the whole tree, as CRIU writes it. */
	COMMON(FILE_LOCKS, "filelocks.img", IMG_ARRAY, file_lock_entry__descriptor),
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
const struct img_type *const IMG_TTY_FILES = &img_types[T_TTY_FILES];
const struct img_type *const IMG_TTY_INFO = &img_types[T_TTY_INFO];
const struct img_type *const IMG_FS = &img_types[T_FS];
const struct img_type *const IMG_STATS = &img_types[T_STATS];
const struct img_type *const IMG_CREDS = &img_types[T_CREDS];
const struct img_type *const IMG_SIGACT = &img_types[T_SIGACT];
const struct img_type *const IMG_RLIMIT = &img_types[T_RLIMIT];
const struct img_type *const IMG_FILE_LOCKS = &img_types[T_FILE_LOCKS];

/* img_type_by_magic - the type with type magic @magic; raw images (magic 0) have none. */
const struct img_type *img_type_by_magic(uint32_t magic)
{
	const struct img_type *t;

	if (!magic)
		return NULL;
	for (t = img_types; t->name; t++)
		if (t->magic == magic)
			return t;
	return NULL;
}

/* img_type_by_name - the type whose CRIU magic name is @name ("PSTREE"). */
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
