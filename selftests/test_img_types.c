// SPDX-License-Identifier: MIT
/*
 * Image types (user/core/img_types.c, proto/): every type with a message
 * round-trips through the img API byte for byte, and Debian's crit (CRIU 3.17)
 * decodes what ferry writes, with the right magic name and field values.
 * Here the table, CRIU's magics, the inventory and the process tree; the
 * other object kinds have their own files (test_img_types_*.c: task, mm,
 * files), in the same suite.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "img.h"
#include "core.pb-c.h"
#include "inventory.pb-c.h"
#include "pstree.pb-c.h"
#include "pagemap.pb-c.h"

#include "img_test_helpers.h"

#define CRIU_MAGIC_PY "/usr/lib/python3/dist-packages/pycriu/images/magic.py"

/* ---- the table itself ------------------------------------------------------- */

Test(img_types, table, .timeout = 30)
{
	const struct img_type *t, *u;
	const struct {
		const struct img_type *h;
		const char *name;
	} handles[] = {
		{ IMG_INVENTORY, "INVENTORY" },
		{ IMG_PSTREE, "PSTREE" },
		{ IMG_CORE, "CORE" },
		{ IMG_IDS, "IDS" },
		{ IMG_MM, "MM" },
		{ IMG_PAGEMAP, "PAGEMAP" },
		{ IMG_PAGES, "PAGES" },
		{ IMG_FDINFO, "FDINFO" },
		{ IMG_FILES, "FILES" },
		{ IMG_REG_FILES, "REG_FILES" },
		{ IMG_PIPES, "PIPES" },
		{ IMG_PIPES_DATA, "PIPES_DATA" },
		{ IMG_TTY_FILES, "TTY_FILES" },
		{ IMG_TTY_INFO, "TTY_INFO" },
		{ IMG_FS, "FS" },
		{ IMG_STATS, "STATS" },
		{ IMG_CREDS, "CREDS" },
		{ IMG_SIGACT, "SIGACT" },
		{ IMG_RLIMIT, "RLIMIT" },
		{ IMG_VMAS, "VMAS" },
		{ IMG_FILE_LOCKS, "FILE_LOCKS" },
	};
	size_t i, len;

	for (i = 0; i < ARRAY_SIZE(handles); i++) {
		cr_assert_not_null(handles[i].h);
		cr_assert_str_eq(handles[i].h->name, handles[i].name);
		cr_assert_eq(img_type_by_name(handles[i].name), handles[i].h);
	}

	for (t = img_types; t->name; t++) {
		const char *fields[] = { t->payload_field, t->payload_field2 };
		const struct img_type *service[] = { IMG_STATS, img_type_by_name("IRMAP_CACHE") };
		int is_service = t == service[0] || t == service[1];

		len = strlen(t->file);
		cr_assert_gt(len, 4);
		/*
		 * CRIU names its service files "stats-dump", "stats-restore" and
		 * "irmap-cache", without ".img"; its kerndat cache is criu.kdat.
		 */
		if (!is_service && t->kind != IMG_BLOB)
			cr_assert_str_eq(t->file + len - 4, ".img", "%s: file %s", t->name,
					 t->file);
		cr_assert_eq(img_type_by_name(t->name), t, "%s: name not unique", t->name);
		if (t->kind == IMG_RAW) {
			cr_assert_eq(t->magic, 0, "%s: raw with a magic", t->name);
			cr_assert_eq(t->kind_magic, 0, "%s: raw with a kind magic", t->name);
			cr_assert_null(t->desc, "%s: raw with a message", t->name);
			continue;
		}
		cr_assert_neq(t->magic, 0, "%s: no magic", t->name);
		if (t->kind == IMG_BLOB) {
			cr_assert_eq(t->kind_magic, 0, "%s", t->name);
			cr_assert_null(t->desc, "%s", t->name);
			continue;
		}
		cr_assert_not_null(t->desc, "%s: no message", t->name);
		cr_assert_eq(img_type_by_magic(t->magic), t->alias_of ? t->alias_of : t,
			     "%s: magic not unique", t->name);
		if (t == IMG_INVENTORY)
			cr_assert_eq(t->kind_magic, 0);
		else if (is_service)
			cr_assert_eq(t->kind_magic, IMG_SERVICE_MAGIC);
		else
			cr_assert_eq(t->kind_magic, IMG_COMMON_MAGIC, "%s: kind magic %#x", t->name,
				     t->kind_magic);
		for (u = img_types; u < t && !t->alias_of; u++)
			cr_assert_str_neq(u->file, t->file, "%s and %s share %s", u->name, t->name,
					  t->file);
		cr_assert_eq(!!t->payload_field, t->extra == IMG_EXTRA_FIELD, "%s", t->name);
		for (i = 0; i < 2; i++) {
			const ProtobufCFieldDescriptor *f;

			if (!fields[i])
				continue;
			f = protobuf_c_message_descriptor_get_field_by_name(t->desc, fields[i]);
			cr_assert_not_null(f, "%s: no field %s", t->name, fields[i]);
			cr_assert(f->type == PROTOBUF_C_TYPE_UINT32 ||
					  f->type == PROTOBUF_C_TYPE_UINT64,
				  "%s: %s", t->name, fields[i]);
		}
	}

	cr_assert_null(img_type_by_magic(0));
	cr_assert_null(img_type_by_magic(IMG_COMMON_MAGIC));
	cr_assert_null(img_type_by_name("NO_SUCH_IMAGE"));
	cr_assert_null(img_type_by_name(NULL));
	cr_assert_eq(IMG_PAGEMAP->head_desc, &pagemap_head__descriptor);
	cr_assert_eq(IMG_PAGEMAP->desc, &pagemap_entry__descriptor);
	cr_assert_str_eq(IMG_PIPES_DATA->payload_field, "bytes");
	cr_assert_eq(IMG_PAGES->kind, IMG_RAW);
}

/* Magic names and values as CRIU's pycriu/images/magic.py. */
Test(img_types, criu_magics, .timeout = 30)
{
	char line[256], name[128];
	const struct img_type *t;
	unsigned long long val;
	size_t nr_checked = 0;
	int seen_common = 0, seen_service = 0;
	FILE *f;

	f = fopen(CRIU_MAGIC_PY, "r");
	if (!f)
		cr_skip_test("%s: %m (Debian package criu): cannot cross-check magics",
			     CRIU_MAGIC_PY);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "by_name['%127[^']'] = %llu", name, &val) != 2)
			continue;
		if (!strcmp(name, "IMG_COMMON")) {
			cr_assert_eq(val, IMG_COMMON_MAGIC);
			seen_common = 1;
			continue;
		}
		if (!strcmp(name, "IMG_SERVICE")) {
			cr_assert_eq(val, IMG_SERVICE_MAGIC);
			seen_service = 1;
			continue;
		}
		t = img_type_by_name(name);
		if (!t)
			continue;
		cr_assert_eq(t->magic, val, "%s: ferry %#x, CRIU %#llx", name, t->magic, val);
		nr_checked++;
	}
	fclose(f);
	cr_assert(seen_common && seen_service);
	/*
	 * Every table entry is in crit 3.17's list but the raw images (no magic),
	 * the aliases (same magic under another name: not in its list) and
	 * PIDFD (newer).
	 */
	for (t = img_types; t->name; t++)
		if (t->kind != IMG_RAW && !t->alias_of && strcmp(t->name, "PIDFD"))
			nr_checked--;
	cr_assert_eq(nr_checked, 0, "table entries missing from %s", CRIU_MAGIC_PY);
}

/* ---- per-type round trips ---------------------------------------------------- */

Test(img_types, inventory, .timeout = 30, .init = it_setup, .fini = it_teardown)
{
	TaskKobjIdsEntry ids = TASK_KOBJ_IDS_ENTRY__INIT;
	PluginsEntry pl = PLUGINS_ENTRY__INIT;
	InventoryEntry inv = INVENTORY_ENTRY__INIT;
	char *plugins[] = { "amdgpu", "cuda" };
	char *json;

	ids.vm_id = 11;
	ids.files_id = 12;
	ids.fs_id = 13;
	ids.sighand_id = 14;
	ids.has_pid_ns_id = ids.has_net_ns_id = ids.has_mnt_ns_id = 1;
	ids.pid_ns_id = 4026531836u;
	ids.net_ns_id = 4026531840u;
	ids.mnt_ns_id = 4026531841u;
	pl.n_plugins = ARRAY_SIZE(plugins);
	pl.plugins = plugins;

	inv.img_version = 2; /* CRTOOLS_IMAGES_V1_1 */
	inv.has_fdinfo_per_id = inv.fdinfo_per_id = 1;
	inv.root_ids = &ids;
	inv.has_ns_per_id = inv.ns_per_id = 1;
	inv.has_root_cg_set = 1;
	inv.root_cg_set = 3;
	inv.has_lsmtype = 1;
	inv.lsmtype = LSMTYPE__APPARMOR;
	inv.has_dump_uptime = 1;
	inv.dump_uptime = 123456789012ull;
	inv.has_pre_dump_mode = 1;
	inv.pre_dump_mode = 1;
	inv.has_network_lock_method = 1;
	inv.network_lock_method = 2;
	inv.plugins_entry = &pl; /* CRIU 4.x: unknown to crit 3.17 */
	inv.dump_criu_run_id = "ferry-run-1";

	it_roundtrip(IMG_INVENTORY, "inventory.img", IT_ONE(inv), 1);
	json = it_crit_decode(IMG_INVENTORY, "inventory.img");
	it_expect_json(json, "\"img_version\": 2");
	it_expect_json(json, "\"fdinfo_per_id\": true");
	it_expect_json(json, "\"vm_id\": 11");
	it_expect_json(json, "\"net_ns_id\": 4026531840");
	it_expect_json(json, "\"lsmtype\": \"APPARMOR\"");
	it_expect_json(json, "\"dump_uptime\": 123456789012");
	it_expect_json(json, "\"network_lock_method\": 2");
	free(json);
}

Test(img_types, pstree, .timeout = 30, .init = it_setup, .fini = it_teardown)
{
	uint32_t thr1[] = { 4242, 4243, 4244 }, thr2[] = { 4300 };
	PstreeEntry a = PSTREE_ENTRY__INIT, b = PSTREE_ENTRY__INIT;
	char *json;

	a.pid = 4242;
	a.ppid = 1;
	a.pgid = 4242;
	a.sid = 4000;
	a.n_threads = ARRAY_SIZE(thr1);
	a.threads = thr1;
	b.pid = 4300;
	b.ppid = 4242;
	b.pgid = 4242;
	b.sid = 4000;
	b.n_threads = ARRAY_SIZE(thr2);
	b.threads = thr2;

	it_roundtrip(IMG_PSTREE, "pstree.img",
		     (struct it_ent[]){ { .msg = &a.base }, { .msg = &b.base } }, 2);
	json = it_crit_decode(IMG_PSTREE, "pstree.img");
	it_expect_json(json, "\"pid\": 4242");
	it_expect_json(json, "\"pid\": 4300");
	it_expect_json(json, "\"ppid\": 4242");
	it_expect_json(json, "\"sid\": 4000");
	it_expect_json(json, "\"threads\": [4242, 4243, 4244]");
	cr_assert_eq(it_count_str(json, "\"pgid\": "), 2);
	free(json);
}
