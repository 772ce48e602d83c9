// SPDX-License-Identifier: MIT
/*
 * Image types (user/core/img_types.c, proto/): every type with a message
 * round-trips through the img API byte for byte, and Debian's crit (CRIU 3.17)
 * decodes what ferry writes, with the right magic name and field values.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "img.h"
#include "pagemap_flags.h"

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

#define CRIT "/usr/bin/crit"
#define CRIU_MAGIC_PY "/usr/lib/python3/dist-packages/pycriu/images/magic.py"
#define PAGE 4096

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

static char *tmpdir;
static int dfd = -1;

static void setup(void)
{
	tmpdir = t_tmpdir();
	cr_assert_not_null(tmpdir, "mkdtemp: %m");
	dfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(dfd, 0, "open %s: %m", tmpdir);
}

static void teardown(void)
{
	if (dfd >= 0)
		close(dfd);
	dfd = -1;
	t_rmrf(tmpdir);
	free(tmpdir);
	tmpdir = NULL;
}

/* ---- helpers ------------------------------------------------------------- */

struct ent {
	const ProtobufCMessage *msg;
	const void *payload; /* extra payload after the entry, or NULL */
	size_t plen;
};

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
	uint8_t *buf;

	*len = protobuf_c_message_get_packed_size(m);
	buf = malloc(*len ? *len : 1);
	cr_assert_not_null(buf);
	cr_assert_eq(protobuf_c_message_pack(m, buf), *len);
	return buf;
}

/* Check the file starts with the type's magics (the inventory: only its own). */
static void check_header(struct img *img, const struct img_type *t)
{
	const uint8_t *data;
	uint32_t m[2];
	size_t len;

	data = img_data(img, &len);
	cr_assert_geq(len, 8, "%s: too short", t->name);
	memcpy(m, data, sizeof(m));
	if (t->kind_magic) {
		cr_assert_eq(m[0], t->kind_magic, "%s: first magic %#x", t->name, m[0]);
		cr_assert_eq(m[1], t->magic, "%s: type magic %#x", t->name, m[1]);
	} else {
		cr_assert_eq(m[0], t->magic, "%s: magic %#x", t->name, m[0]);
	}
}

/*
 * Write @n entries (with their payloads) to @name, read them back and check
 * each re-packs to the same bytes and carries the same payload.
 */
static void roundtrip(const struct img_type *t, const char *name, const struct ent *e, size_t n)
{
	struct img *img;
	size_t i;
	int ret;

	cr_assert_not_null(t->desc, "%s has no message", t->name);
	ret = img_create(&img, dfd, name, t);
	cr_assert_eq(ret, 0, "img_create %s: %d", name, ret);
	for (i = 0; i < n; i++) {
		ret = img_write_entry(img, e[i].msg);
		cr_assert_eq(ret, 0, "img_write_entry %s #%zu: %d", name, i, ret);
		if (e[i].payload) {
			ret = img_write_raw(img, e[i].payload, e[i].plen);
			cr_assert_eq(ret, 0, "img_write_raw %s #%zu: %d", name, i, ret);
		}
	}
	ret = img_commit(img);
	cr_assert_eq(ret, 0, "img_commit %s: %d", name, ret);
	cr_assert_eq(faccessat(dfd, name, F_OK, 0), 0, "%s missing after commit", name);

	ret = img_open(&img, dfd, name, t);
	cr_assert_eq(ret, 0, "img_open %s: %d", name, ret);
	cr_assert_eq(img_get_type(img), t);
	check_header(img, t);
	for (i = 0; i < n; i++) {
		ProtobufCMessage *m;
		uint8_t *want, *got;
		size_t wlen, glen, plen;
		const void *pl;

		ret = img_read_entry(img, &m);
		cr_assert_eq(ret, 1, "img_read_entry %s #%zu: %d", name, i, ret);
		cr_assert_eq(m->descriptor, e[i].msg->descriptor, "%s #%zu: read a %s, wrote a %s",
			     name, i, m->descriptor->name, e[i].msg->descriptor->name);
		want = pack(e[i].msg, &wlen);
		got = pack(m, &glen);
		cr_assert_eq(glen, wlen, "%s #%zu: %zu bytes re-packed, %zu written", name, i, glen,
			     wlen);
		cr_assert_arr_eq(got, want, wlen, "%s #%zu: re-packed bytes differ", name, i);
		free(want);
		free(got);

		ret = img_read_payload(img, m, &pl, &plen);
		cr_assert_eq(ret, 0, "img_read_payload %s #%zu: %d", name, i, ret);
		cr_assert_eq(plen, e[i].payload ? e[i].plen : 0, "%s #%zu: payload of %zu bytes",
			     name, i, plen);
		if (plen)
			cr_assert_arr_eq(pl, e[i].payload, plen, "%s #%zu: payload differs", name,
					 i);
		protobuf_c_message_free_unpacked(m, NULL);
	}
	{
		ProtobufCMessage *m;

		ret = img_read_entry(img, &m);
		cr_assert_eq(ret, 0, "%s: %d after the last entry", name, ret);
		cr_assert_null(m);
	}
	img_close(img);
}

/* Run "crit decode -i" on the image; check it succeeds and names the magic. */
static char *crit_decode(const struct img_type *t, const char *name)
{
	char want[64], *out, *err;
	int st;

	if (access(CRIT, X_OK))
		cr_skip_test("%s not found (Debian package criu): skipping the crit check", CRIT);
	st = t_run(&out, &err, CRIT " decode -i '%s/%s'", tmpdir, name);
	cr_assert_eq(st, 0, "crit decode %s failed (%d):\n%.4000s", name, st, err ? err : "");
	cr_assert_not_null(out);
	free(err);
	snprintf(want, sizeof(want), "\"magic\": \"%s\"", t->name);
	cr_assert_not_null(strstr(out, want), "crit output lacks %s:\n%.4000s", want, out);
	return out;
}

/* crit's JSON holds @want (e.g. "pid": 4242) followed by a separator. */
static void expect_json(const char *json, const char *want)
{
	size_t n = strlen(want);
	const char *p;

	for (p = strstr(json, want); p; p = strstr(p + 1, want))
		if (!p[n] || strchr(",}] \n", p[n]))
			return;
	cr_assert_fail("crit output lacks %s:\n%.4000s", want, json);
}

static size_t count_str(const char *json, const char *s)
{
	size_t n = 0;
	const char *p;

	for (p = strstr(json, s); p; p = strstr(p + strlen(s), s))
		n++;
	return n;
}

#define ONE(m) ((struct ent[]){ { .msg = &(m).base } })

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

Test(img_types, inventory, .timeout = 30, .init = setup, .fini = teardown)
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

	roundtrip(IMG_INVENTORY, "inventory.img", ONE(inv), 1);
	json = crit_decode(IMG_INVENTORY, "inventory.img");
	expect_json(json, "\"img_version\": 2");
	expect_json(json, "\"fdinfo_per_id\": true");
	expect_json(json, "\"vm_id\": 11");
	expect_json(json, "\"net_ns_id\": 4026531840");
	expect_json(json, "\"lsmtype\": \"APPARMOR\"");
	expect_json(json, "\"dump_uptime\": 123456789012");
	expect_json(json, "\"network_lock_method\": 2");
	free(json);
}

Test(img_types, pstree, .timeout = 30, .init = setup, .fini = teardown)
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

	roundtrip(IMG_PSTREE, "pstree.img",
		  (struct ent[]){ { .msg = &a.base }, { .msg = &b.base } }, 2);
	json = crit_decode(IMG_PSTREE, "pstree.img");
	expect_json(json, "\"pid\": 4242");
	expect_json(json, "\"pid\": 4300");
	expect_json(json, "\"ppid\": 4242");
	expect_json(json, "\"sid\": 4000");
	expect_json(json, "\"threads\": [4242, 4243, 4244]");
	cr_assert_eq(count_str(json, "\"pgid\": "), 2);
	free(json);
}

Test(img_types, core, .timeout = 30, .init = setup, .fini = teardown)
{
	UserX86RegsEntry gp = USER_X86_REGS_ENTRY__INIT;
	UserX86CetEntry cet = USER_X86_CET_ENTRY__INIT;
	UserX86XsaveEntry xs = USER_X86_XSAVE_ENTRY__INIT;
	UserX86FpregsEntry fp = USER_X86_FPREGS_ENTRY__INIT;
	UserDescT tls[3], *tlsp[3];
	ThreadInfoX86 ti = THREAD_INFO_X86__INIT;
	ItimerEntry real = ITIMER_ENTRY__INIT, virt = ITIMER_ENTRY__INIT, prof = ITIMER_ENTRY__INIT;
	PosixTimerEntry pt = POSIX_TIMER_ENTRY__INIT, *ptp[] = { &pt };
	TaskTimersEntry timers = TASK_TIMERS_ENTRY__INIT;
	RlimitEntry rl[16], *rlp[16];
	TaskRlimitsEntry rlims = TASK_RLIMITS_ENTRY__INIT;
	uint8_t si_raw[128];
	SiginfoEntry si = SIGINFO_ENTRY__INIT, *sip[] = { &si };
	SignalQueueEntry sq = SIGNAL_QUEUE_ENTRY__INIT;
	SaEntry sa[2], *sap[2];
	TaskCoreEntry tc = TASK_CORE_ENTRY__INIT;
	TaskKobjIdsEntry ids = TASK_KOBJ_IDS_ENTRY__INIT;
	ThreadSasEntry sas = THREAD_SAS_ENTRY__INIT;
	uint32_t caps[] = { 0xffffffffu, 0x1ff }, groups[] = { 4, 24, 27 };
	CredsEntry cr = CREDS_ENTRY__INIT;
	RseqEntry rseq = RSEQ_ENTRY__INIT;
	ThreadCoreEntry th = THREAD_CORE_ENTRY__INIT;
	CoreEntry core = CORE_ENTRY__INIT;
	uint32_t st[32], xmm[64], pad[24], ymmh[64], pkru[] = { 0x55555554u };
	uint64_t opmask[8];
	char *json;
	size_t i;

	gp.r15 = 0x1015;
	gp.r14 = 0x1014;
	gp.r13 = 0x1013;
	gp.r12 = 0x1012;
	gp.bp = 0x7ffc0000f000ull;
	gp.bx = 0x1006;
	gp.r11 = 0x246;
	gp.r10 = 0x1010;
	gp.r9 = 0x1009;
	gp.r8 = 0x1008;
	gp.ax = (uint64_t)-516; /* -ERESTART_RESTARTBLOCK */
	gp.cx = 0x1002;
	gp.dx = 0x1003;
	gp.si = 0x1004;
	gp.di = 0x1005;
	gp.orig_ax = 35; /* nanosleep */
	gp.ip = 0x401136;
	gp.cs = 0x33;
	gp.flags = 0x246;
	gp.sp = 0x7ffc0000e000ull;
	gp.ss = 0x2b;
	gp.fs_base = 0x7f0000001740ull;
	gp.gs_base = 0;
	gp.ds = gp.es = gp.fs = gp.gs = 0;
	gp.has_mode = 1;
	gp.mode = USER_X86_REGS_MODE__NATIVE;

	for (i = 0; i < ARRAY_SIZE(st); i++)
		st[i] = (uint32_t)i * 3;
	for (i = 0; i < ARRAY_SIZE(xmm); i++)
		xmm[i] = 0xa0000000u + (uint32_t)i;
	for (i = 0; i < ARRAY_SIZE(pad); i++)
		pad[i] = 0;
	for (i = 0; i < ARRAY_SIZE(ymmh); i++)
		ymmh[i] = 0xb0000000u + (uint32_t)i;
	for (i = 0; i < ARRAY_SIZE(opmask); i++)
		opmask[i] = i;
	cet.cet = 1;
	cet.ssp = 0x7f0000100000ull;
	xs.xstate_bv = 0x2e7;
	xs.n_ymmh_space = ARRAY_SIZE(ymmh);
	xs.ymmh_space = ymmh;
	xs.n_opmask_reg = ARRAY_SIZE(opmask);
	xs.opmask_reg = opmask;
	xs.n_pkru = ARRAY_SIZE(pkru);
	xs.pkru = pkru;
	xs.cet = &cet; /* CRIU 4.x */
	fp.cwd = 0x37f;
	fp.swd = 0;
	fp.twd = 0;
	fp.fop = 0;
	fp.rip = 0;
	fp.rdp = 0;
	fp.mxcsr = 0x1f80;
	fp.mxcsr_mask = 0x2ffff;
	fp.n_st_space = ARRAY_SIZE(st);
	fp.st_space = st;
	fp.n_xmm_space = ARRAY_SIZE(xmm);
	fp.xmm_space = xmm;
	fp.n_padding = ARRAY_SIZE(pad);
	fp.padding = pad;
	fp.xsave = &xs;
	for (i = 0; i < ARRAY_SIZE(tls); i++) {
		user_desc_t__init(&tls[i]);
		tls[i].entry_number = 12 + (uint32_t)i;
		tlsp[i] = &tls[i];
	}
	tls[0].base_addr = 0x1000;
	tls[0].limit = 0xfffff;
	tls[0].seg_32bit = 1;
	tls[0].read_exec_only = 0;
	tls[0].limit_in_pages = 1;
	tls[0].seg_not_present = 0;
	tls[0].usable = 1;
	ti.clear_tid_addr = 0x7f0000001a10ull;
	ti.gpregs = &gp;
	ti.fpregs = &fp;
	ti.n_tls = ARRAY_SIZE(tlsp);
	ti.tls = tlsp;

	real.isec = 1;
	real.iusec = 500000;
	real.vsec = 0;
	real.vusec = 250000;
	pt.it_id = 0;
	pt.clock_id = 1;
	pt.si_signo = 14;
	pt.it_sigev_notify = 0;
	pt.sival_ptr = 0xdeadbeef;
	pt.overrun = 0;
	pt.isec = 2;
	pt.vsec = 3;
	timers.real = &real;
	timers.virt = &virt;
	timers.prof = &prof;
	timers.n_posix = ARRAY_SIZE(ptp);
	timers.posix = ptp;
	for (i = 0; i < ARRAY_SIZE(rl); i++) {
		rlimit_entry__init(&rl[i]);
		rl[i].cur = 1024 * (i + 1);
		rl[i].max = UINT64_MAX;
		rlp[i] = &rl[i];
	}
	rlims.n_rlimits = ARRAY_SIZE(rlp);
	rlims.rlimits = rlp;
	for (i = 0; i < sizeof(si_raw); i++)
		si_raw[i] = (uint8_t)i;
	si.siginfo.data = si_raw;
	si.siginfo.len = sizeof(si_raw);
	sq.n_signals = ARRAY_SIZE(sip);
	sq.signals = sip;
	for (i = 0; i < ARRAY_SIZE(sa); i++) {
		sa_entry__init(&sa[i]);
		sa[i].sigaction = 0x401200 + i;
		sa[i].flags = 0x04000000; /* SA_RESTORER */
		sa[i].restorer = 0x7f0000042520ull;
		sa[i].mask = 1ull << i;
		sap[i] = &sa[i];
	}

	tc.task_state = 1; /* TASK_ALIVE */
	tc.exit_code = 0;
	tc.personality = 0;
	tc.flags = 0x400100;
	tc.blk_sigset = 0x10000;
	tc.comm = "ferry-test";
	tc.timers = &timers;
	tc.rlimits = &rlims;
	tc.signals_s = &sq;
	tc.has_loginuid = 1;
	tc.loginuid = 1000;
	tc.has_oom_score_adj = 1;
	tc.oom_score_adj = -100;
	tc.n_sigactions = ARRAY_SIZE(sap);
	tc.sigactions = sap;
	tc.has_child_subreaper = tc.child_subreaper = 1;
	tc.has_blk_sigset_extended = 1;
	tc.blk_sigset_extended = 0;
	tc.has_stop_signo = 1; /* CRIU 4.x */
	tc.stop_signo = 19;

	ids.vm_id = 1;
	ids.files_id = 2;
	ids.fs_id = 3;
	ids.sighand_id = 4;

	sas.ss_sp = 0x7f0000200000ull;
	sas.ss_size = 8192;
	sas.ss_flags = 0;
	cr.uid = cr.euid = cr.suid = cr.fsuid = 1000;
	cr.gid = cr.egid = cr.sgid = cr.fsgid = 1001;
	cr.n_cap_inh = cr.n_cap_prm = cr.n_cap_eff = cr.n_cap_bnd = ARRAY_SIZE(caps);
	cr.cap_inh = cr.cap_prm = cr.cap_eff = cr.cap_bnd = caps;
	cr.secbits = 0;
	cr.n_groups = ARRAY_SIZE(groups);
	cr.groups = groups;
	rseq.rseq_abi_pointer = 0x7f0000001fe0ull;
	rseq.rseq_abi_size = 32;
	rseq.signature = 0x53053053;
	th.futex_rla = 0x7f0000001a20ull;
	th.futex_rla_len = 24;
	th.has_sched_nice = 1;
	th.sched_nice = -5;
	th.has_sched_policy = 1;
	th.sched_policy = 0;
	th.has_sched_prio = 1;
	th.sched_prio = 0;
	th.has_blk_sigset = 1;
	th.blk_sigset = 0x10000;
	th.sas = &sas;
	th.has_pdeath_sig = 1;
	th.pdeath_sig = 9;
	th.creds = &cr;
	th.has_seccomp_mode = 1;
	th.seccomp_mode = SECCOMP_MODE__disabled;
	th.comm = "ferry-test";
	th.rseq_entry = &rseq;
	th.has_cg_set = 1; /* CRIU 4.x */
	th.cg_set = 5;

	core.mtype = CORE_ENTRY__MARCH__X86_64;
	core.thread_info = &ti;
	core.tc = &tc;
	core.ids = &ids;
	core.thread_core = &th;

	roundtrip(IMG_CORE, "core-4242.img", ONE(core), 1);
	json = crit_decode(IMG_CORE, "core-4242.img");
	expect_json(json, "\"mtype\": \"X86_64\"");
	expect_json(json, "\"ip\": 4198710");
	expect_json(json, "\"orig_ax\": 35");
	expect_json(json, "\"ax\": 18446744073709551100");
	expect_json(json, "\"mode\": \"NATIVE\"");
	expect_json(json, "\"mxcsr\": 8064");
	expect_json(json, "\"xstate_bv\": 743");
	cr_assert_eq(count_str(json, "\"entry_number\": "), 3);
	expect_json(json, "\"comm\": \"ferry-test\"");
	expect_json(json, "\"oom_score_adj\": -100");
	expect_json(json, "\"child_subreaper\": true");
	cr_assert_eq(count_str(json, "\"cur\": "), 16);
	expect_json(json, "\"sival_ptr\": 3735928559");
	expect_json(json, "\"sched_nice\": -5");
	expect_json(json, "\"groups\": [4, 24, 27]");
	expect_json(json, "\"signature\": 1392848979");
	expect_json(json, "\"sighand_id\": 4");
	cr_assert_eq(count_str(json, "\"restorer\": "), 2);
	free(json);
}

Test(img_types, ids, .timeout = 30, .init = setup, .fini = teardown)
{
	TaskKobjIdsEntry ids = TASK_KOBJ_IDS_ENTRY__INIT;
	char *json;

	ids.vm_id = 21;
	ids.files_id = 22;
	ids.fs_id = 23;
	ids.sighand_id = 24;
	ids.has_pid_ns_id = ids.has_net_ns_id = ids.has_ipc_ns_id = ids.has_uts_ns_id = 1;
	ids.has_mnt_ns_id = ids.has_user_ns_id = ids.has_cgroup_ns_id = ids.has_time_ns_id = 1;
	ids.pid_ns_id = 31;
	ids.net_ns_id = 32;
	ids.ipc_ns_id = 33;
	ids.uts_ns_id = 34;
	ids.mnt_ns_id = 35;
	ids.user_ns_id = 36;
	ids.cgroup_ns_id = 37;
	ids.time_ns_id = 38;

	roundtrip(IMG_IDS, "ids-4242.img", ONE(ids), 1);
	json = crit_decode(IMG_IDS, "ids-4242.img");
	expect_json(json, "\"files_id\": 22");
	expect_json(json, "\"sighand_id\": 24");
	expect_json(json, "\"mnt_ns_id\": 35");
	expect_json(json, "\"time_ns_id\": 38");
	free(json);
}

static void fill_vmas(VmaEntry *v, VmaEntry **vp, size_t n)
{
	static const uint64_t start[] = { 0x400000, 0x7f0000000000ull, 0x7ffc0000d000ull };
	size_t i;

	for (i = 0; i < n; i++) {
		vma_entry__init(&v[i]);
		v[i].start = start[i % 3] + (i / 3) * 0x100000;
		v[i].end = v[i].start + (i + 1) * PAGE;
		v[i].pgoff = i ? 0 : PAGE;
		v[i].shmid = i == 0 ? 7 : 0;
		v[i].prot = i == 0 ? 5 : 3;	/* r-x, rw- */
		v[i].flags = i == 0 ? 2 : 0x22; /* MAP_PRIVATE, MAP_PRIVATE|MAP_ANONYMOUS */
		v[i].status = i == 0 ? 0x41 : 0x201;
		v[i].fd = -1;
		v[i].has_madv = 1;
		v[i].madv = i == 2 ? (1ull << 14) : 0;
		v[i].has_fdflags = i == 0;
		v[i].fdflags = i == 0 ? 0x8000 : 0;
		vp[i] = &v[i];
	}
}

Test(img_types, mm, .timeout = 30, .init = setup, .fini = teardown)
{
	AioRingEntry aio = AIO_RING_ENTRY__INIT, *aiop[] = { &aio };
	VmaEntry v[3], *vp[3];
	MmEntry mm = MM_ENTRY__INIT;
	uint64_t auxv[38];
	char *json;
	size_t i;

	fill_vmas(v, vp, ARRAY_SIZE(v));
	for (i = 0; i < ARRAY_SIZE(auxv); i++)
		auxv[i] = i % 2 ? 0x1000 * i : i / 2 + 3;
	aio.id = 0x7f0000300000ull;
	aio.nr_req = 128;
	aio.ring_len = 2 * PAGE;

	mm.mm_start_code = 0x400000;
	mm.mm_end_code = 0x401000;
	mm.mm_start_data = 0x402000;
	mm.mm_end_data = 0x403000;
	mm.mm_start_stack = 0x7ffc0000e000ull;
	mm.mm_start_brk = 0x1000000;
	mm.mm_brk = 0x1021000;
	mm.mm_arg_start = 0x7ffc0000ef00ull;
	mm.mm_arg_end = 0x7ffc0000ef20ull;
	mm.mm_env_start = 0x7ffc0000ef20ull;
	mm.mm_env_end = 0x7ffc0000eff0ull;
	mm.exe_file_id = 7;
	mm.n_mm_saved_auxv = ARRAY_SIZE(auxv);
	mm.mm_saved_auxv = auxv;
	mm.n_vmas = ARRAY_SIZE(vp);
	mm.vmas = vp;
	mm.has_dumpable = 1;
	mm.dumpable = 1;
	mm.n_aios = ARRAY_SIZE(aiop);
	mm.aios = aiop;
	mm.has_thp_disabled = mm.thp_disabled = 1;

	roundtrip(IMG_MM, "mm-4242.img", ONE(mm), 1);
	json = crit_decode(IMG_MM, "mm-4242.img");
	cr_assert_eq(count_str(json, "\"start\": "), 3, "vmas:\n%s", json);
	expect_json(json, "\"start\": 4194304");
	expect_json(json, "\"start\": 139637976727552");
	expect_json(json, "\"mm_brk\": 16912384");
	expect_json(json, "\"exe_file_id\": 7");
	expect_json(json, "\"fd\": -1");
	expect_json(json, "\"nr_req\": 128");
	expect_json(json, "\"thp_disabled\": true");
	free(json);
}

Test(img_types, vmas, .timeout = 30, .init = setup, .fini = teardown)
{
	VmaEntry v[6], *vp[6];
	struct ent e[6];
	char *json;
	size_t i;

	fill_vmas(v, vp, ARRAY_SIZE(v));
	for (i = 0; i < ARRAY_SIZE(v); i++)
		e[i] = (struct ent){ .msg = &v[i].base };

	roundtrip(IMG_VMAS, "vmas-4242.img", e, ARRAY_SIZE(e));
	json = crit_decode(IMG_VMAS, "vmas-4242.img");
	cr_assert_eq(count_str(json, "\"start\": "), 6);
	cr_assert_eq(count_str(json, "\"fd\": -1"), 6);
	expect_json(json, "\"start\": 4194304");
	expect_json(json, "\"start\": 140720308539392");
	expect_json(json, "\"madv\": 16384");
	expect_json(json, "\"fdflags\": 32768");
	free(json);
}

Test(img_types, pagemap, .timeout = 30, .init = setup, .fini = teardown)
{
	static const struct {
		uint64_t vaddr;
		uint32_t nr;
		uint32_t flags;
	} runs[] = {
		{ 0x400000, 16, PE_PRESENT },
		{ 0x7f0000000000ull, 300, PE_PARENT },
		{ 0x7ffc0000d000ull, 2, PE_LAZY },
	};
	PagemapHead head = PAGEMAP_HEAD__INIT;
	PagemapEntry pe[3];
	struct ent e[4] = { { .msg = &head.base } };
	struct img *img;
	ProtobufCMessage *m;
	PagemapEntry *got;
	char *json;
	size_t i;

	head.pages_id = 1;
	for (i = 0; i < ARRAY_SIZE(pe); i++) {
		pagemap_entry__init(&pe[i]);
		pe[i].vaddr = runs[i].vaddr;
		pe[i].compat_nr_pages = runs[i].nr;
		pe[i].has_nr_pages = 1;
		pe[i].nr_pages = runs[i].nr;
		pe[i].has_flags = 1;
		pe[i].flags = runs[i].flags;
		pe[i].has_in_parent = runs[i].flags == PE_PARENT;
		pe[i].in_parent = runs[i].flags == PE_PARENT;
		e[i + 1] = (struct ent){ .msg = &pe[i].base };
	}

	roundtrip(IMG_PAGEMAP, "pagemap-4242.img", e, ARRAY_SIZE(e));

	/* The reader hands back a head first, then entries with both counts. */
	cr_assert_eq(img_open(&img, dfd, "pagemap-4242.img", IMG_PAGEMAP), 0);
	cr_assert_eq(img_read_entry(img, &m), 1);
	cr_assert_eq(m->descriptor, &pagemap_head__descriptor);
	cr_assert_eq(((PagemapHead *)m)->pages_id, 1);
	protobuf_c_message_free_unpacked(m, NULL);
	cr_assert_eq(img_read_entry(img, &m), 1);
	got = (PagemapEntry *)m;
	cr_assert(got->has_nr_pages);
	cr_assert_eq(got->nr_pages, 16);
	cr_assert_eq(got->compat_nr_pages, 16);
	protobuf_c_message_free_unpacked(m, NULL);
	img_close(img);

	json = crit_decode(IMG_PAGEMAP, "pagemap-4242.img");
	expect_json(json, "\"pages_id\": 1");
	expect_json(json, "\"vaddr\": 4194304");
	expect_json(json, "\"vaddr\": 139637976727552");
	/* crit 3.17 reads field 2 as nr_pages and skips field 5. */
	cr_assert_eq(count_str(json, "\"nr_pages\": "), 3, "%s", json);
	expect_json(json, "\"nr_pages\": 16");
	expect_json(json, "\"nr_pages\": 300");
	expect_json(json, "\"in_parent\": true");
	expect_json(json, "\"flags\": 4");
	expect_json(json, "\"flags\": 2");
	free(json);
}

Test(img_types, pages_raw, .timeout = 30, .init = setup, .fini = teardown)
{
	static uint8_t pages[3 * PAGE], back[PAGE];
	const uint8_t *data;
	struct img *img;
	size_t i, len;

	for (i = 0; i < sizeof(pages); i++)
		pages[i] = (uint8_t)(i * 7 + i / PAGE);
	cr_assert_eq(img_create(&img, dfd, "pages-1.img", IMG_PAGES), 0);
	for (i = 0; i < 3; i++)
		cr_assert_eq(img_write_raw(img, pages + i * PAGE, PAGE), 0);
	cr_assert_eq(img_commit(img), 0);

	cr_assert_eq(img_open(&img, dfd, "pages-1.img", IMG_PAGES), 0);
	data = img_data(img, &len);
	cr_assert_eq(len, sizeof(pages), "raw image of %zu bytes (magic written?)", len);
	cr_assert_arr_eq(data, pages, sizeof(pages));
	cr_assert_eq(img_read_raw(img, back, PAGE), 0);
	cr_assert_arr_eq(back, pages, PAGE);
	img_close(img);
}

Test(img_types, fdinfo, .timeout = 30, .init = setup, .fini = teardown)
{
	static const FdTypes types[] = { FD_TYPES__TTY, FD_TYPES__PIPE, FD_TYPES__REG,
					 FD_TYPES__FIFO };
	FdinfoEntry fe[4];
	struct ent e[4];
	char *json;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(fe); i++) {
		fdinfo_entry__init(&fe[i]);
		fe[i].id = 100 + (uint32_t)i;
		fe[i].flags = i == 3 ? 1 : 0; /* FD_CLOEXEC */
		fe[i].type = types[i];
		fe[i].fd = i == 3 ? 255 : (uint32_t)i;
		e[i] = (struct ent){ .msg = &fe[i].base };
	}
	fe[2].xattr_security_selinux = "unconfined_u:object_r:user_tmp_t:s0";

	roundtrip(IMG_FDINFO, "fdinfo-2.img", e, ARRAY_SIZE(e));
	json = crit_decode(IMG_FDINFO, "fdinfo-2.img");
	expect_json(json, "\"type\": \"TTY\"");
	expect_json(json, "\"type\": \"PIPE\"");
	expect_json(json, "\"type\": \"REG\"");
	expect_json(json, "\"type\": \"FIFO\"");
	expect_json(json, "\"fd\": 255");
	expect_json(json, "\"id\": 102");
	expect_json(json, "\"xattr_security_selinux\": \"unconfined_u:object_r:user_tmp_t:s0\"");
	free(json);
}

static void fill_fown(FownEntry *f, uint32_t pid)
{
	fown_entry__init(f);
	f->uid = 1000;
	f->euid = 1000;
	f->signum = pid ? 29 : 0; /* SIGIO */
	f->pid_type = pid ? 1 : 0;
	f->pid = pid;
}

static void fill_reg(RegFileEntry *r, FownEntry *fown, uint32_t id, const char *name)
{
	static uint32_t build_id[] = { 0x01234567, 0x89abcdef, 0x02468ace, 0x13579bdf, 0xfeedface };

	reg_file_entry__init(r);
	r->id = id;
	r->flags = 02; /* O_RDWR */
	r->pos = 4096 + id;
	r->fown = fown;
	r->name = (char *)name;
	r->has_mnt_id = 1;
	r->mnt_id = 27;
	r->has_size = 1;
	r->size = 1 << 20;
	r->has_mode = 1;
	r->mode = 0100644;
	r->n_build_id = ARRAY_SIZE(build_id);
	r->build_id = build_id;
}

Test(img_types, files, .timeout = 30, .init = setup, .fini = teardown)
{
	FownEntry fown[4];
	RegFileEntry reg;
	PipeEntry pipe = PIPE_ENTRY__INIT;
	FifoEntry fifo = FIFO_ENTRY__INIT;
	TtyFileEntry tty = TTY_FILE_ENTRY__INIT;
	FileEntry fe[4];
	struct ent e[4];
	char *json;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(fown); i++)
		fill_fown(&fown[i], i == 1 ? 4242 : 0);
	fill_reg(&reg, &fown[0], 100, "/tmp/ferry test file");
	pipe.id = 101;
	pipe.pipe_id = 777001;
	pipe.flags = 01; /* O_WRONLY */
	pipe.fown = &fown[1];
	fifo.id = 102;
	fifo.pipe_id = 777002;
	fifo.has_regf_id = 1;
	fifo.regf_id = 103;
	tty.id = 104;
	tty.tty_info_id = 9;
	tty.flags = 0102; /* O_RDWR | O_CREAT (sic) */
	tty.fown = &fown[3];

	for (i = 0; i < ARRAY_SIZE(fe); i++) {
		file_entry__init(&fe[i]);
		e[i] = (struct ent){ .msg = &fe[i].base };
	}
	fe[0].type = FD_TYPES__REG;
	fe[0].id = reg.id;
	fe[0].reg = &reg;
	fe[1].type = FD_TYPES__PIPE;
	fe[1].id = pipe.id;
	fe[1].pipe = &pipe;
	fe[2].type = FD_TYPES__FIFO;
	fe[2].id = fifo.id;
	fe[2].fifo = &fifo;
	fe[3].type = FD_TYPES__TTY;
	fe[3].id = tty.id;
	fe[3].tty = &tty;

	roundtrip(IMG_FILES, "files.img", e, ARRAY_SIZE(e));
	json = crit_decode(IMG_FILES, "files.img");
	expect_json(json, "\"type\": \"REG\"");
	expect_json(json, "\"type\": \"PIPE\"");
	expect_json(json, "\"type\": \"FIFO\"");
	expect_json(json, "\"type\": \"TTY\"");
	expect_json(json, "\"name\": \"/tmp/ferry test file\"");
	expect_json(json, "\"mnt_id\": 27");
	expect_json(json, "\"build_id\": [19088743, 2309737967, 38177486, 324508639, 4277009102]");
	expect_json(json, "\"pipe_id\": 777001");
	expect_json(json, "\"pipe_id\": 777002");
	expect_json(json, "\"regf_id\": 103");
	expect_json(json, "\"tty_info_id\": 9");
	expect_json(json, "\"pid\": 4242");
	cr_assert_eq(count_str(json, "\"fown\": "), 3);
	free(json);
}

Test(img_types, reg_files, .timeout = 30, .init = setup, .fini = teardown)
{
	FownEntry fown[2];
	RegFileEntry r[2];
	char *json;

	fill_fown(&fown[0], 0);
	fill_fown(&fown[1], 77);
	fill_reg(&r[0], &fown[0], 1, "/");
	fill_reg(&r[1], &fown[1], 2, "/home/user/data.bin");
	r[0].has_mnt_id = 0; /* default -1 */
	r[0].has_size = r[0].has_mode = 0;
	r[0].n_build_id = 0;
	r[0].flags = 0200000; /* O_DIRECTORY */
	r[1].has_ext = r[1].ext = 1;
	r[1].has_checksum = 1;
	r[1].checksum = 0xcafef00d;
	r[1].has_checksum_config = 1;
	r[1].checksum_config = 1;
	r[1].has_checksum_parameter = 1;
	r[1].checksum_parameter = 1024;

	roundtrip(IMG_REG_FILES, "reg-files.img",
		  (struct ent[]){ { .msg = &r[0].base }, { .msg = &r[1].base } }, 2);
	json = crit_decode(IMG_REG_FILES, "reg-files.img");
	expect_json(json, "\"name\": \"/\"");
	expect_json(json, "\"name\": \"/home/user/data.bin\"");
	expect_json(json, "\"pos\": 4098");
	expect_json(json, "\"size\": 1048576");
	expect_json(json, "\"mode\": 33188");
	expect_json(json, "\"ext\": true");
	expect_json(json, "\"checksum\": 3405705229");
	expect_json(json, "\"checksum_parameter\": 1024");
	expect_json(json, "\"pid\": 77");
	cr_assert_eq(count_str(json, "\"mnt_id\": "), 1, "mnt_id default written:\n%s", json);
	free(json);
}

Test(img_types, pipes, .timeout = 30, .init = setup, .fini = teardown)
{
	FownEntry fown[2];
	PipeEntry p[2];
	char *json;
	size_t i;

	for (i = 0; i < 2; i++) {
		fill_fown(&fown[i], 0);
		pipe_entry__init(&p[i]);
		p[i].id = 200 + (uint32_t)i;
		p[i].pipe_id = 888123;
		p[i].flags = i ? 04001 : 04000; /* O_NONBLOCK | O_WRONLY, O_NONBLOCK */
		p[i].fown = &fown[i];
	}

	roundtrip(IMG_PIPES, "pipes.img",
		  (struct ent[]){ { .msg = &p[0].base }, { .msg = &p[1].base } }, 2);
	json = crit_decode(IMG_PIPES, "pipes.img");
	cr_assert_eq(count_str(json, "\"pipe_id\": 888123"), 2);
	expect_json(json, "\"id\": 201");
	expect_json(json, "\"flags\": 2049");
	expect_json(json, "\"flags\": 2048");
	free(json);
}

static void pipe_data_test(const struct img_type *t, const char *name)
{
	static const char small[] = "hello pipe\n";
	static uint8_t big[5000];
	PipeDataEntry pd[3];
	struct ent e[3];
	char *json;
	size_t i;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 31);
	for (i = 0; i < ARRAY_SIZE(pd); i++) {
		pipe_data_entry__init(&pd[i]);
		pd[i].pipe_id = 888123 + (uint32_t)i;
		pd[i].has_size = 1;
		pd[i].size = 16 * PAGE;
		e[i] = (struct ent){ .msg = &pd[i].base };
	}
	pd[0].bytes = sizeof(small) - 1;
	e[0].payload = small;
	e[0].plen = sizeof(small) - 1;
	pd[1].bytes = sizeof(big);
	e[1].payload = big;
	e[1].plen = sizeof(big);
	pd[2].bytes = 0; /* an empty pipe: no payload */

	roundtrip(t, name, e, ARRAY_SIZE(e));
	json = crit_decode(t, name);
	expect_json(json, "\"bytes\": 11");
	expect_json(json, "\"bytes\": 5000");
	expect_json(json, "\"pipe_id\": 888124");
	expect_json(json, "\"size\": 65536");
	expect_json(json, "\"extra\": \"aGVsbG8gcGlwZQo=\\n\"");
	cr_assert_eq(count_str(json, "\"extra\": "), 3, "%s", json);
	free(json);
}

Test(img_types, pipes_data, .timeout = 30, .init = setup, .fini = teardown)
{
	pipe_data_test(IMG_PIPES_DATA, "pipes-data.img");
}

Test(img_types, fifo_data, .timeout = 30, .init = setup, .fini = teardown)
{
	pipe_data_test(img_type_by_name("FIFO_DATA"), "fifo-data.img");
}

Test(img_types, fifo, .timeout = 30, .init = setup, .fini = teardown)
{
	const struct img_type *t = img_type_by_name("FIFO");
	FifoEntry f = FIFO_ENTRY__INIT;
	char *json;

	cr_assert_not_null(t);
	f.id = 300;
	f.pipe_id = 999001;
	f.has_regf_id = 1;
	f.regf_id = 301;

	roundtrip(t, "fifo.img", ONE(f), 1);
	json = crit_decode(t, "fifo.img");
	expect_json(json, "\"id\": 300");
	expect_json(json, "\"pipe_id\": 999001");
	expect_json(json, "\"regf_id\": 301");
	free(json);
}

Test(img_types, tty_files, .timeout = 30, .init = setup, .fini = teardown)
{
	FownEntry fown;
	TtyFileEntry tf = TTY_FILE_ENTRY__INIT;
	char *json;

	fill_fown(&fown, 0);
	tf.id = 400;
	tf.tty_info_id = 401;
	tf.flags = 0100002; /* O_LARGEFILE | O_RDWR */
	tf.fown = &fown;
	tf.has_regf_id = 1;
	tf.regf_id = 402;

	roundtrip(IMG_TTY_FILES, "tty.img", ONE(tf), 1);
	json = crit_decode(IMG_TTY_FILES, "tty.img");
	expect_json(json, "\"tty_info_id\": 401");
	expect_json(json, "\"flags\": 32770");
	expect_json(json, "\"regf_id\": 402");
	expect_json(json, "\"euid\": 1000");
	free(json);
}

Test(img_types, tty_info, .timeout = 30, .init = setup, .fini = teardown)
{
	uint32_t cc[19] = { 3, 28, 127, 21, 4, 0, 1, 0, 17, 19, 26, 0, 18, 15, 23, 22 };
	TermiosEntry tio = TERMIOS_ENTRY__INIT, tlock = TERMIOS_ENTRY__INIT;
	WinsizeEntry ws = WINSIZE_ENTRY__INIT;
	TtyPtyEntry pty = TTY_PTY_ENTRY__INIT;
	TtyInfoEntry ti[2];
	char *json;

	tio.c_iflag = 0x500;
	tio.c_oflag = 0x5;
	tio.c_cflag = 0xbf;
	tio.c_lflag = 0x8a3b;
	tio.c_line = 0;
	tio.c_ispeed = 38400;
	tio.c_ospeed = 38400;
	tio.n_c_cc = ARRAY_SIZE(cc);
	tio.c_cc = cc;
	tlock.n_c_cc = ARRAY_SIZE(cc);
	tlock.c_cc = cc;
	ws.ws_row = 24;
	ws.ws_col = 80;
	pty.index = 3;

	tty_info_entry__init(&ti[0]);
	ti[0].id = 401;
	ti[0].type = TTY_TYPE__PTY;
	ti[0].locked = 0;
	ti[0].exclusive = 0;
	ti[0].packet_mode = 1;
	ti[0].sid = 4000;
	ti[0].pgrp = 4242;
	ti[0].rdev = (136 << 20) | 3;
	ti[0].termios = &tio;
	ti[0].termios_locked = &tlock;
	ti[0].winsize = &ws;
	ti[0].pty = &pty;
	ti[0].has_uid = ti[0].has_gid = 1;
	ti[0].uid = 1000;
	ti[0].gid = 5;
	tty_info_entry__init(&ti[1]);
	ti[1].id = 402;
	ti[1].type = TTY_TYPE__CONSOLE;
	ti[1].has_dev = 1;
	ti[1].dev = 0x501;

	roundtrip(IMG_TTY_INFO, "tty-info.img",
		  (struct ent[]){ { .msg = &ti[0].base }, { .msg = &ti[1].base } }, 2);
	json = crit_decode(IMG_TTY_INFO, "tty-info.img");
	expect_json(json, "\"type\": \"PTY\"");
	expect_json(json, "\"type\": \"CONSOLE\"");
	expect_json(json, "\"packet_mode\": true");
	expect_json(json, "\"pgrp\": 4242");
	expect_json(json, "\"ws_row\": 24");
	expect_json(json, "\"ws_col\": 80");
	expect_json(json, "\"index\": 3");
	expect_json(json, "\"c_lflag\": 35387");
	cr_assert_eq(count_str(json, "\"c_cc\": [3, 28, 127, "), 2);
	free(json);
}

Test(img_types, tty_data, .timeout = 30, .init = setup, .fini = teardown)
{
	const struct img_type *t = img_type_by_name("TTY_DATA");
	TtyDataEntry td = TTY_DATA_ENTRY__INIT;
	char *json;

	cr_assert_not_null(t);
	td.tty_id = 5;
	td.data.data = (uint8_t *)"ls -l\n";
	td.data.len = 6;

	roundtrip(t, "tty-data.img", ONE(td), 1);
	json = crit_decode(t, "tty-data.img");
	expect_json(json, "\"tty_id\": 5");
	expect_json(json, "\"data\": \"bHMgLWwK\\n\"");
	free(json);
}

Test(img_types, fs, .timeout = 30, .init = setup, .fini = teardown)
{
	FsEntry fs = FS_ENTRY__INIT;
	char *json;

	fs.cwd_id = 12;
	fs.root_id = 1;
	fs.has_umask = 1;
	fs.umask = 022;

	roundtrip(IMG_FS, "fs-4242.img", ONE(fs), 1);
	json = crit_decode(IMG_FS, "fs-4242.img");
	expect_json(json, "\"cwd_id\": 12");
	expect_json(json, "\"root_id\": 1");
	expect_json(json, "\"umask\": 18");
	free(json);
}

Test(img_types, stats, .timeout = 30, .init = setup, .fini = teardown)
{
	DumpStatsEntry ds = DUMP_STATS_ENTRY__INIT;
	RestoreStatsEntry rs = RESTORE_STATS_ENTRY__INIT;
	StatsEntry se = STATS_ENTRY__INIT;
	char *json;

	ds.freezing_time = 1500;
	ds.frozen_time = 25000;
	ds.memdump_time = 12000;
	ds.memwrite_time = 9000;
	ds.pages_scanned = 4096;
	ds.pages_skipped_parent = 100;
	ds.pages_written = 1234;
	ds.has_irmap_resolve = 1;
	ds.irmap_resolve = 0;
	ds.pages_lazy = 0;
	ds.has_page_pipes = 1;
	ds.page_pipes = 3;
	ds.has_page_pipe_bufs = 1;
	ds.page_pipe_bufs = 17;
	se.dump = &ds;

	roundtrip(IMG_STATS, "stats-dump", ONE(se), 1);
	json = crit_decode(IMG_STATS, "stats-dump");
	expect_json(json, "\"frozen_time\": 25000");
	expect_json(json, "\"pages_written\": 1234");
	expect_json(json, "\"page_pipe_bufs\": 17");
	free(json);

	rs.pages_compared = 5;
	rs.pages_skipped_cow = 6;
	rs.forking_time = 700;
	rs.restore_time = 8000;
	rs.has_pages_restored = 1;
	rs.pages_restored = 4321;
	se.dump = NULL;
	se.restore = &rs;
	roundtrip(IMG_STATS, "stats-restore", ONE(se), 1);
	json = crit_decode(IMG_STATS, "stats-restore");
	expect_json(json, "\"restore_time\": 8000");
	expect_json(json, "\"pages_restored\": 4321");
	free(json);
}

Test(img_types, creds, .timeout = 30, .init = setup, .fini = teardown)
{
	uint32_t caps[] = { 0, 0 }, bnd[] = { 0xffffffffu, 0x1ff }, groups[] = { 4, 24, 27, 1000 };
	uint8_t aa[] = { 'f', 'e', 'r', 'r', 'y' };
	CredsEntry cr = CREDS_ENTRY__INIT;
	char *json;

	cr.uid = 1000;
	cr.gid = 1000;
	cr.euid = 1001;
	cr.egid = 1002;
	cr.suid = 1003;
	cr.sgid = 1004;
	cr.fsuid = 1005;
	cr.fsgid = 1006;
	cr.n_cap_inh = cr.n_cap_prm = cr.n_cap_eff = ARRAY_SIZE(caps);
	cr.cap_inh = cr.cap_prm = cr.cap_eff = caps;
	cr.n_cap_bnd = ARRAY_SIZE(bnd);
	cr.cap_bnd = bnd;
	cr.secbits = 0x2f;
	cr.n_groups = ARRAY_SIZE(groups);
	cr.groups = groups;
	cr.lsm_profile = "unconfined";
	cr.has_apparmor_data = 1;
	cr.apparmor_data.data = aa;
	cr.apparmor_data.len = sizeof(aa);
	cr.has_no_new_privs = 1; /* CRIU 4.x */
	cr.no_new_privs = 1;

	roundtrip(IMG_CREDS, "creds-4242.img", ONE(cr), 1);
	json = crit_decode(IMG_CREDS, "creds-4242.img");
	expect_json(json, "\"euid\": 1001");
	expect_json(json, "\"fsgid\": 1006");
	expect_json(json, "\"cap_bnd\": [4294967295, 511]");
	expect_json(json, "\"secbits\": 47");
	expect_json(json, "\"groups\": [4, 24, 27, 1000]");
	expect_json(json, "\"lsm_profile\": \"unconfined\"");
	free(json);
}

Test(img_types, sigact, .timeout = 30, .init = setup, .fini = teardown)
{
	SaEntry sa[64];
	struct ent e[64];
	char *json;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(sa); i++) {
		sa_entry__init(&sa[i]);
		sa[i].sigaction = i % 2 ? 0x401200 + i : 0; /* SIG_DFL */
		sa[i].flags = 0x14000000;		    /* SA_RESTORER | SA_RESTART */
		sa[i].restorer = 0x7f0000042520ull;
		sa[i].mask = 1ull << (i % 64);
		sa[i].has_compat_sigaction = 1;
		sa[i].compat_sigaction = 0;
		sa[i].has_mask_extended = i == 63;
		sa[i].mask_extended = i == 63 ? 5 : 0;
		e[i] = (struct ent){ .msg = &sa[i].base };
	}

	roundtrip(IMG_SIGACT, "sigacts-4242.img", e, ARRAY_SIZE(e));
	json = crit_decode(IMG_SIGACT, "sigacts-4242.img");
	cr_assert_eq(count_str(json, "\"sigaction\": "), 64);
	expect_json(json, "\"sigaction\": 4198913");
	expect_json(json, "\"restorer\": 139637976999200");
	expect_json(json, "\"mask\": 9223372036854775808");
	expect_json(json, "\"mask_extended\": 5");
	free(json);
}

Test(img_types, rlimit, .timeout = 30, .init = setup, .fini = teardown)
{
	RlimitEntry rl[16];
	struct ent e[16];
	char *json;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(rl); i++) {
		rlimit_entry__init(&rl[i]);
		rl[i].cur = i == 7 ? 1024 : UINT64_MAX; /* RLIMIT_NOFILE */
		rl[i].max = i == 7 ? 524288 : UINT64_MAX;
		e[i] = (struct ent){ .msg = &rl[i].base };
	}

	roundtrip(IMG_RLIMIT, "rlimit-4242.img", e, ARRAY_SIZE(e));
	json = crit_decode(IMG_RLIMIT, "rlimit-4242.img");
	cr_assert_eq(count_str(json, "\"cur\": "), 16);
	expect_json(json, "\"cur\": 1024");
	expect_json(json, "\"max\": 524288");
	cr_assert_eq(count_str(json, "\"max\": 18446744073709551615"), 15);
	free(json);
}

/* A POSIX range, an OFD lock to the end of the file and a whole-file flock. */
Test(img_types, file_locks, .timeout = 30, .init = setup, .fini = teardown)
{
	FileLockEntry fl[3];
	struct ent e[3];
	char *json;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(fl); i++) {
		file_lock_entry__init(&fl[i]);
		e[i] = (struct ent){ .msg = &fl[i].base };
	}
	fl[0].flag = 1; /* POSIX */
	fl[0].type = 1; /* F_WRLCK */
	fl[0].pid = 4242;
	fl[0].fd = 3;
	fl[0].start = 1073741824;
	fl[0].len = 510;
	fl[1].flag = 4; /* OFD */
	fl[1].type = 0; /* F_RDLCK */
	fl[1].pid = 4243;
	fl[1].fd = 17;
	fl[1].start = 100;
	fl[1].len = 0;
	fl[2].flag = 2; /* flock */
	fl[2].type = 1;
	fl[2].pid = 4243;
	fl[2].fd = 9;

	roundtrip(IMG_FILE_LOCKS, "filelocks.img", e, ARRAY_SIZE(e));
	json = crit_decode(IMG_FILE_LOCKS, "filelocks.img");
	cr_assert_eq(count_str(json, "\"flag\": "), 3);
	expect_json(json, "\"flag\": 4");
	expect_json(json, "\"pid\": 4243");
	expect_json(json, "\"fd\": 17");
	expect_json(json, "\"start\": 1073741824");
	expect_json(json, "\"len\": 510");
	free(json);
}
