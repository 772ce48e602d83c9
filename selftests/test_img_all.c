// SPDX-License-Identifier: MIT
/*
 * Every image type of CRIU 4.2 (user/core/img_types.c): the table has CRIU's magics,
 * none twice; an image of each type, written with a sample entry built from its
 * message's descriptor (every field set, or only the required ones), reads back
 * byte for byte and decodes with `ferry decode`; Debian's crit (CRIU 3.17)
 * decodes the same images, and prints what ferry prints, byte for byte, for
 * the entries with only required fields.
 */
#include <criterion/criterion.h>
#include <criterion/logging.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "img_json.h"
#include "img_test_helpers.h"

#include "ghost-file.pb-c.h"
#include "ipc-msg.pb-c.h"

/* CRIU 4.2's criu/include/magic.h: every name it gives a magic, and the value. */
static const struct {
	const char *name;
	uint32_t magic;
} criu_magics[] = {
	{ "INVENTORY", 0x58313116 },
	{ "PSTREE", 0x50273030 },
	{ "FDINFO", 0x56213732 },
	{ "PAGEMAP", 0x56084025 },
	{ "SHMEM_PAGEMAP", 0x56084025 },
	{ "PAGES", 0 },
	{ "CORE", 0x55053847 },
	{ "IDS", 0x54432030 },
	{ "VMAS", 0x54123737 },
	{ "PIPES", 0x56513555 },
	{ "PIPES_DATA", 0x56453709 },
	{ "FIFO", 0x58364939 },
	{ "FIFO_DATA", 0x59333054 },
	{ "SIGACT", 0x55344201 },
	{ "UNIXSK", 0x54373943 },
	{ "INETSK", 0x56443851 },
	{ "PACKETSK", 0x60454618 },
	{ "ITIMERS", 0x57464056 },
	{ "POSIX_TIMERS", 0x52603957 },
	{ "SK_QUEUES", 0x56264026 },
	{ "UTSNS", 0x54473203 },
	{ "CREDS", 0x54023547 },
	{ "IPC_VAR", 0x53115007 },
	{ "IPCNS_SHM", 0x46283044 },
	{ "IPCNS_MSG", 0x55453737 },
	{ "IPCNS_SEM", 0x59573019 },
	{ "REG_FILES", 0x50363636 },
	{ "EXT_FILES", 0x59255641 },
	{ "FS", 0x51403912 },
	{ "MM", 0x57492820 },
	{ "REMAP_FPATH", 0x59133954 },
	{ "GHOST_FILE", 0x52583605 },
	{ "TCP_STREAM", 0x51465506 },
	{ "EVENTFD_FILE", 0x44523722 },
	{ "EVENTPOLL_FILE", 0x45023858 },
	{ "EVENTPOLL_TFD", 0x44433746 },
	{ "SIGNALFD", 0x57323820 },
	{ "INOTIFY_FILE", 0x48424431 },
	{ "INOTIFY_WD", 0x54562009 },
	{ "MNTS", 0x55563928 },
	{ "NETDEV", 0x57373951 },
	{ "NETNS", 0x55933752 },
	{ "TTY_FILES", 0x59433025 },
	{ "TTY_INFO", 0x59453036 },
	{ "TTY_DATA", 0x59413026 },
	{ "FILE_LOCKS", 0x54323616 },
	{ "RLIMIT", 0x57113925 },
	{ "FANOTIFY_FILE", 0x55096122 },
	{ "FANOTIFY_MARK", 0x56506035 },
	{ "SIGNAL", 0x59255647 },
	{ "PSIGNAL", 0x59255647 },
	{ "NETLINK_SK", 0x58005614 },
	{ "NS_FILES", 0x61394011 },
	{ "TUNFILE", 0x57143751 },
	{ "CGROUP", 0x59383330 },
	{ "TIMERFD", 0x50493712 },
	{ "CPUINFO", 0x61404013 },
	{ "USERNS", 0x55474906 },
	{ "SECCOMP", 0x64413049 },
	{ "BINFMT_MISC", 0x67343323 },
	{ "AUTOFS", 0x49353943 },
	{ "FILES", 0x56303138 },
	{ "MEMFD_INODE", 0x48453499 },
	{ "TIMENS", 0x43114433 },
	{ "PIDNS", 0x61157326 },
	{ "BPFMAP_FILE", 0x57506142 },
	{ "BPFMAP_DATA", 0x64324033 },
	{ "APPARMOR", 0x59423047 },
	{ "PIDFD", 0x54435556 },
	{ "IFADDR", 0 },
	{ "ROUTE", 0 },
	{ "ROUTE6", 0 },
	{ "RULE", 0 },
	{ "TMPFS_IMG", 0 },
	{ "TMPFS_DEV", 0 },
	{ "IPTABLES", 0 },
	{ "IP6TABLES", 0 },
	{ "NFTABLES", 0 },
	{ "NETNF_CT", 0 },
	{ "NETNF_EXP", 0 },
	{ "PAGES_OLD", 0x56084025 },
	{ "SHM_PAGES_OLD", 0x56084025 },
	{ "BINFMT_MISC_OLD", 0x67343323 },
	{ "STATS", 0x57093306 },
	{ "IRMAP_CACHE", 0x57004059 },
	{ "KDAT", 0x57023458 },
};

/*
 * Types crit 3.17 cannot decode, with the reason: no magic it knows, or no
 * handler for the magic. Every other type must decode.
 */
static const struct {
	const char *name;
	const char *why;
} crit_cannot[] = {
	{ "PIDFD", "magic added after CRIU 3.17" },
	{ "SIGNAL", "crit has no handler for it" },
	{ "PSIGNAL", "crit has no handler for SIGNAL" },
	{ "BINFMT_MISC", "crit has no handler for it" },
	{ "BINFMT_MISC_OLD", "crit has no handler for BINFMT_MISC" },
	{ "KDAT", "crit has no handler for it" },
};

/* Fields crit 3.17 knows under another name than CRIU 4.2 (ferry's) does. */
static const struct {
	const char *ours, *theirs;
} crit_renamed[] = {
	{ "\"compat_nr_pages\":", "\"nr_pages\":" }, /* pagemap_entry field 2 */
};

/* @json with ferry's field names turned into crit 3.17's. */
static char *as_crit_names(const char *json)
{
	char *s = strdup(json), *p;

	cr_assert_not_null(s);
	for (size_t i = 0; i < ARRAY_SIZE(crit_renamed); i++) {
		size_t lo = strlen(crit_renamed[i].ours), lt = strlen(crit_renamed[i].theirs);

		cr_assert_leq(lt, lo);
		while ((p = strstr(s, crit_renamed[i].ours))) {
			memcpy(p, crit_renamed[i].theirs, lt);
			memmove(p + lt, p + lo, strlen(p + lo) + 1);
		}
	}
	return s;
}

static const char *crit_cannot_why(const struct img_type *t)
{
	if (t->kind == IMG_RAW)
		return "raw image, no magic";
	for (size_t i = 0; i < ARRAY_SIZE(crit_cannot); i++)
		if (!strcmp(crit_cannot[i].name, t->name))
			return crit_cannot[i].why;
	return NULL;
}

/* ---- sample messages from descriptors ------------------------------------------------- */

/* Every allocation of a sample, freed at once. */
struct arena {
	void *p[1 << 14];
	size_t n;
};

static void *ar_alloc(struct arena *a, size_t len)
{
	void *p = calloc(1, len ? len : 1);

	cr_assert_not_null(p);
	cr_assert_lt(a->n, ARRAY_SIZE(a->p), "sample too large");
	a->p[a->n++] = p;
	return p;
}

static void ar_free(struct arena *a)
{
	while (a->n)
		free(a->p[--a->n]);
}

struct sample_opts {
	int full;   /* every field, not only the required ones */
	int tricky; /* strings and bytes that need escaping in JSON */
};

static ProtobufCMessage *sample(struct arena *a, const ProtobufCMessageDescriptor *d,
				const struct sample_opts *o, int depth);

/*
 * One value: small numbers (some fields are lengths of what follows the
 * entry), the @k-th value of an enum, short strings and bytes.
 */
static void sample_value(struct arena *a, const ProtobufCMessageDescriptor *d,
			 const ProtobufCFieldDescriptor *f, void *v, const struct sample_opts *o,
			 int depth, unsigned int k)
{
	uint32_t small = 1 + (f->id * 5 + k + (unsigned int)depth) % 23;

	switch (f->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		*(uint32_t *)v = small;
		break;
	case PROTOBUF_C_TYPE_SINT32:
		*(int32_t *)v = -(int32_t)small;
		break;
	case PROTOBUF_C_TYPE_INT64:
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_UINT64:
	case PROTOBUF_C_TYPE_FIXED64:
		*(uint64_t *)v = small;
		break;
	case PROTOBUF_C_TYPE_SINT64:
		*(int64_t *)v = -(int64_t)small;
		break;
	case PROTOBUF_C_TYPE_FLOAT:
		*(float *)v = 0.5f * (float)small;
		break;
	case PROTOBUF_C_TYPE_DOUBLE:
		*(double *)v = 0.25 * small;
		break;
	case PROTOBUF_C_TYPE_BOOL:
		*(protobuf_c_boolean *)v = 1;
		break;
	case PROTOBUF_C_TYPE_ENUM: {
		const ProtobufCEnumDescriptor *e = f->descriptor;

		*(int32_t *)v = e->values[k % e->n_values].value;
		break;
	}
	case PROTOBUF_C_TYPE_STRING: {
		char *s = ar_alloc(a, 64);

		snprintf(s, 64,
			 o->tricky ? "s%u-%u \"q\\\\\t\r\x01\xc3\xa9\xe2\x98\x83\xf0\x9f\x98\x80"
				   : "s%u-%u",
			 f->id, k);
		*(char **)v = s;
		break;
	}
	case PROTOBUF_C_TYPE_BYTES: {
		static const uint8_t tricky[] = "\0sock=et name \n\r\n.\t ";
		ProtobufCBinaryData *b = v;

		b->len = o->tricky ? sizeof(tricky) - 1 : 3 + k;
		b->data = ar_alloc(a, b->len);
		if (o->tricky)
			memcpy(b->data, tricky, b->len);
		else
			for (size_t i = 0; i < b->len; i++)
				b->data[i] = (uint8_t)(f->id * 31 + i * 7);
		break;
	}
	case PROTOBUF_C_TYPE_MESSAGE:
		*(ProtobufCMessage **)v = sample(a, f->descriptor, o, depth + 1);
		break;
	}
	(void)d;
}

/* A message of type @d: its required fields set, and with o->full the others too. */
static ProtobufCMessage *sample(struct arena *a, const ProtobufCMessageDescriptor *d,
				const struct sample_opts *o, int depth)
{
	ProtobufCMessage *m = ar_alloc(a, d->sizeof_message);
	char *base = (char *)m;

	d->message_init(m);
	for (unsigned int i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];

		if (f->label != PROTOBUF_C_LABEL_REQUIRED && (!o->full || depth > 3))
			continue;
		if (f->label == PROTOBUF_C_LABEL_REPEATED) {
			size_t n = 2, sz = img_json_field_size(f);
			char *arr = ar_alloc(a, n * sz);

			for (size_t k = 0; k < n; k++)
				sample_value(a, d, f, arr + k * sz, o, depth, (unsigned int)k);
			*(size_t *)(base + f->quantifier_offset) = n;
			*(void **)(base + f->offset) = arr;
			continue;
		}
		sample_value(a, d, f, base + f->offset, o, depth, 0);
		if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset)
			*(protobuf_c_boolean *)(base + f->quantifier_offset) = 1;
	}
	return m;
}

/* ---- images of every type ------------------------------------------------------------- */

/* A file name for an image of @t: its pattern with numbers filled in. */
static void file_name(const struct img_type *t, char *buf, size_t len)
{
	const char *p;
	size_t n = 0;

	for (p = t->file; *p && n + 8 < len; p++) {
		if (p[0] == '%' && p[1]) {
			n += (size_t)snprintf(buf + n, len - n, "%s",
					      p[1] == 'x'   ? "1f"
					      : p[1] == 's' ? "dump"
							    : "7");
			p++;
			continue;
		}
		buf[n++] = *p;
	}
	buf[n] = '\0';
	/* Obsolete aliases whose name now means another type (pages-N.img): a name of their own. */
	if (img_type_by_file(buf) != t)
		snprintf(buf, len, "alias-%s.img", t->name);
}

static void pattern(uint8_t *p, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(seed + i * 13);
}

/* The bytes after entry @m: what its fields announce (IPC messages built here). */
static size_t extra_bytes(const struct img_type *t, const ProtobufCMessage *m, uint8_t *buf,
			  size_t cap)
{
	size_t len = 0, bad;

	if (t->extra == IMG_EXTRA_IPC_MSG) {
		const IpcMsgEntry *q = (const IpcMsgEntry *)m;

		for (uint32_t i = 0; i < q->qnum; i++) {
			IpcMsg msg = IPC_MSG__INIT;
			uint32_t size;

			msg.mtype = 100 + i;
			msg.msize = 1 + i * 5;
			size = (uint32_t)ipc_msg__get_packed_size(&msg);
			cr_assert_lt(len + 4 + size + msg.msize + 8, cap);
			memcpy(buf + len, &size, 4);
			ipc_msg__pack(&msg, buf + len + 4);
			len += 4 + size;
			pattern(buf + len, msg.msize, i);
			memset(buf + len + msg.msize, 0, (msg.msize + 7) / 8 * 8 - msg.msize);
			len += (msg.msize + 7) / 8 * 8;
		}
		return len;
	}
	if (t->extra == IMG_EXTRA_GHOST && m->descriptor == &ghost_file_entry__descriptor &&
	    !((const GhostFileEntry *)m)->chunks)
		len = 37; /* the file's contents, up to the end */
	else
		cr_assert_eq(img_type_extra_len(t, m, NULL, cap, &len, &bad), 0, "%s", t->name);
	cr_assert_leq(len, cap);
	pattern(buf, len, (unsigned int)len);
	return len;
}

struct written {
	ProtobufCMessage *msg[3];
	size_t n;
};

/*
 * Write an image of @t to @name: the head (pagemap, ghost file) or one entry
 * (single-entry types), else two entries, each with its extra bytes.
 */
static void write_sample(struct arena *a, const struct img_type *t, const char *name,
			 const struct sample_opts *o, struct written *w)
{
	static uint8_t extra[1 << 16];
	struct img *img;
	size_t n, i;

	cr_assert_eq(img_create(&img, it_dfd, name, t), 0, "%s", name);
	w->n = 0;
	if (t->kind == IMG_RAW || t->kind == IMG_BLOB) {
		pattern(extra, 8192, 3);
		cr_assert_eq(img_write_raw(img, extra, 8192), 0);
		cr_assert_eq(img_commit(img), 0);
		return;
	}
	n = t->kind == IMG_SINGLE ? 1 : 2;
	if (t->head_desc) {
		w->msg[w->n++] = sample(a, t->head_desc, o, 0);
		/* A ghost file without chunks is one entry and the file's bytes. */
		if (t->extra == IMG_EXTRA_GHOST && !((GhostFileEntry *)w->msg[0])->chunks)
			n = 0;
	}
	for (i = 0; i < n; i++)
		w->msg[w->n++] = sample(a, t->desc, o, 0);
	for (i = 0; i < w->n; i++) {
		size_t len = extra_bytes(t, w->msg[i], extra, sizeof(extra));

		cr_assert_eq(img_write_entry(img, w->msg[i]), 0, "%s #%zu", name, i);
		if (len)
			cr_assert_eq(img_write_raw(img, extra, len), 0);
	}
	cr_assert_eq(img_commit(img), 0, "%s", name);
}

/* Read @name back with the img API: the same entries, byte for byte, then the end. */
static void read_back(const struct img_type *t, const char *name, const struct written *w)
{
	ProtobufCMessage *m;
	struct img *img;

	cr_assert_eq(img_open(&img, it_dfd, name, t->kind == IMG_RAW ? t : NULL), 0, "%s", name);
	cr_assert_eq(img_get_type(img), t->alias_of ? t->alias_of : t, "%s read as %s", name,
		     img_get_type(img)->name);
	for (size_t i = 0; i < w->n; i++) {
		uint8_t *want, *got;
		size_t wl, gl;

		cr_assert_eq(img_read_entry(img, &m), 1, "%s #%zu", name, i);
		want = it_pack(w->msg[i], &wl);
		got = it_pack(m, &gl);
		cr_assert_eq(gl, wl, "%s #%zu: %zu bytes re-packed, %zu written", name, i, gl, wl);
		cr_assert_arr_eq(got, want, wl, "%s #%zu: re-packed bytes differ", name, i);
		free(want);
		free(got);
		protobuf_c_message_free_unpacked(m, NULL);
	}
	if (t->kind != IMG_RAW && t->kind != IMG_BLOB)
		cr_assert_eq(img_read_entry(img, &m), 0, "%s: more after the last entry", name);
	img_close(img);
}

/* The "magic" crit and ferry print: an alias decodes as the type of its magic. */
static const char *magic_name(const struct img_type *t)
{
	return t->alias_of ? t->alias_of->name : t->name;
}

/* ---- the table ------------------------------------------------------------------------ */

Test(img_types, magics_are_criu_4_2, .timeout = 30)
{
	const struct img_type *t;
	size_t i, nr = 0;

	for (i = 0; i < ARRAY_SIZE(criu_magics); i++) {
		t = img_type_by_name(criu_magics[i].name);
		cr_assert_not_null(t, "CRIU's %s is not in the table", criu_magics[i].name);
		cr_assert_eq(t->magic, criu_magics[i].magic, "%s: ferry %#x, CRIU %#x", t->name,
			     t->magic, criu_magics[i].magic);
	}
	for (t = img_types; t->name; t++, nr++) {
		for (i = 0; i < ARRAY_SIZE(criu_magics); i++)
			if (!strcmp(criu_magics[i].name, t->name))
				break;
		cr_assert_lt(i, ARRAY_SIZE(criu_magics), "%s is no CRIU magic name", t->name);
	}
	cr_assert_eq(nr, ARRAY_SIZE(criu_magics));
}

/* One type per magic; the other names of a magic are aliases of it. */
Test(img_types, no_duplicate_magics, .timeout = 30)
{
	const struct img_type *t, *u;

	for (t = img_types; t->name; t++) {
		if (t->kind == IMG_RAW) {
			cr_assert_eq(t->magic, 0, "%s", t->name);
			cr_assert_null(t->alias_of, "%s", t->name);
			continue;
		}
		cr_assert_neq(t->magic, 0, "%s", t->name);
		if (t->alias_of) {
			cr_assert_eq(t->alias_of->magic, t->magic, "%s", t->name);
			cr_assert_null(t->alias_of->alias_of, "%s", t->name);
			cr_assert_eq(img_type_by_magic(t->magic), t->alias_of, "%s", t->name);
			continue;
		}
		cr_assert_eq(img_type_by_magic(t->magic), t, "%s", t->name);
		for (u = img_types; u < t; u++)
			cr_assert(u->alias_of || u->magic != t->magic, "%s and %s share %#x",
				  u->name, t->name, t->magic);
	}
}

/* Each type's file pattern leads back to it, and says what restore does. */
Test(img_types, file_names_and_restore, .timeout = 30)
{
	static const char *const used[] = {
		"INVENTORY",   "PSTREE",     "CORE",	    "IDS",	 "MM",
		"PAGEMAP",     "PAGES",	     "FDINFO",	    "FILES",	 "PIPES_DATA",
		"FS",	       "TTY_INFO",   "FILE_LOCKS",  "CGROUP",	 "SHMEM_PAGEMAP",
		"REMAP_FPATH", "GHOST_FILE", "MEMFD_INODE", "SK_QUEUES", "IPCNS_SHM",
		"FIFO_DATA",   "TTY_DATA",   "BPFMAP_DATA", "TCP_STREAM"
	};
	const struct img_type *t;
	char name[128];
	size_t i, nr_used = 0;

	for (t = img_types; t->name; t++) {
		file_name(t, name, sizeof(name));
		if (strncmp(name, "alias-", 6))
			cr_assert_eq(img_type_by_file(name), t, "%s: %s", t->name, name);
		else
			cr_assert(t->alias_of, "%s: its file name means another type", t->name);
		cr_assert_not_null(t->about, "%s", t->name);
		if (t->restore == IMG_RESTORE_USED) {
			cr_assert_null(t->restore_note, "%s", t->name);
			for (i = 0; i < ARRAY_SIZE(used); i++)
				if (!strcmp(used[i], t->name))
					break;
			cr_assert_lt(i, ARRAY_SIZE(used), "%s: restored from?", t->name);
			nr_used++;
		} else {
			cr_assert_not_null(t->restore_note, "%s: no reason given", t->name);
		}
	}
	cr_assert_eq(nr_used, ARRAY_SIZE(used));
	cr_assert_eq(img_type_by_file("pagemap-shmem-3.img"), img_type_by_name("SHMEM_PAGEMAP"));
	cr_assert_eq(img_type_by_file("pagemap-3.img"), IMG_PAGEMAP);
	cr_assert_eq(img_type_by_file("netns-ct-3.img"), img_type_by_name("NETNF_CT"));
	cr_assert_eq(img_type_by_file("tmpfs-dev-9.tar.gz.img"), img_type_by_name("TMPFS_DEV"));
	cr_assert_eq(img_type_by_file("ghost-file-a3.img"), img_type_by_name("GHOST_FILE"));
	cr_assert_eq(img_type_by_file("stats-restore"), IMG_STATS);
	cr_assert_null(img_type_by_file("pages-.img"));
	cr_assert_null(img_type_by_file("core-12x.img"));
	cr_assert_null(img_type_by_file("dump.log"));
	cr_assert_null(img_type_by_file("parent"));
}

/* ---- every type through the img API, ferry decode and crit ----------------------------- */

/*
 * For each type: write a sample, read it back, decode it with ferry (and
 * crit): ferry's JSON parses, names the magic and has every entry; crit
 * accepts it. With @o->full unset, crit must print the same bytes as ferry.
 */
static void every_type(const struct sample_opts *o)
{
	const struct img_type *t;
	const char *crit = t_crit();
	struct arena *a = calloc(1, sizeof(*a));
	char name[128], *out, *err;
	int st;

	cr_assert_not_null(a);
	for (t = img_types; t->name; t++) {
		struct written w;

		file_name(t, name, sizeof(name));
		write_sample(a, t, name, o, &w);
		read_back(t, name, &w);

		st = t_run(&out, &err, "cd %s && %s decode -i %s > %s.json", it_tmpdir,
			   t_ferry_bin(), name, name);
		cr_assert_eq(st, 0, "ferry decode %s: %s", name, err);
		/*
		 * What restore does is said for every type but those it restores
		 * from; decode knows an alias by its file name only.
		 */
		if ((img_type_by_file(name) == t ? t : img_type_by_magic(t->magic))->restore ==
		    IMG_RESTORE_USED)
			cr_assert_str_eq(err, "", "%s", name);
		else
			cr_assert(strstr(err, "ferry restore") && strstr(err, t->restore_note),
				  "%s: stderr '%s'", name, err);
		free(out);
		free(err);
		st = t_run(&out, &err,
			   "/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); "
			   "print(d[\"magic\"], len(d.get(\"entries\", [])), d.get(\"size\", -1))' "
			   "%s/%s.json",
			   it_tmpdir, name);
		cr_assert_eq(st, 0, "%s: ferry's JSON does not parse: %s", name, err);
		if (t->kind == IMG_RAW || t->kind == IMG_BLOB) {
			char want[128];

			snprintf(want, sizeof(want), "%s 0 %d\n", t->name,
				 8192 + (t->kind == IMG_BLOB ? 4 : 0));
			cr_assert_str_eq(out, want, "%s", name);
		} else {
			char want[128];

			snprintf(want, sizeof(want), "%s %zu -1\n", magic_name(t), w.n);
			cr_assert_str_eq(out, want, "%s", name);
		}
		free(out);
		free(err);

		if (crit && !crit_cannot_why(t)) {
			char path[512], *ours;

			st = t_run(&out, &err, "%s decode -i %s/%s", crit, it_tmpdir, name);
			cr_assert_eq(st, 0, "crit decode %s: %s", name, err);
			snprintf(path, sizeof(path), "%s/%s.json", it_tmpdir, name);
			ours = t_read_file(path, NULL);
			cr_assert_not_null(ours);
			if (!o->full) {
				char *renamed = as_crit_names(ours);

				cr_assert_str_eq(renamed, out, "%s: ferry and crit differ:\n%s%s",
						 name, renamed, out);
				free(renamed);
			} else {
				char want[64];

				snprintf(want, sizeof(want), "{\"magic\": \"%s\", ", magic_name(t));
				cr_assert(!strncmp(out, want, strlen(want)), "%s: %s", name, out);
			}
			free(ours);
			free(out);
			free(err);
		} else if (crit) {
			cr_log_info("%s: crit not asked: %s", t->name, crit_cannot_why(t));
		}
		ar_free(a);
	}
	free(a);
}

/* Only required fields (which crit 3.17 knows too), with strings and bytes to escape. */
Test(img_types, every_type_required_fields, .timeout = 240, .init = it_setup, .fini = it_teardown)
{
	const struct sample_opts o = { .tricky = 1 };

	every_type(&o);
}

Test(img_types, every_type_all_fields, .timeout = 240, .init = it_setup, .fini = it_teardown)
{
	const struct sample_opts o = { .full = 1 };

	every_type(&o);
}
