// SPDX-License-Identifier: MIT
/*
 * Images restore cannot use (refused, naming their kind), ids from ids-PID.img,
 * a thread under seccomp and a file restore cannot open.
 * (Suite restore_images: its TestSuite is in test_restore_images.c; helpers in
 * restore_images_helpers.c.)
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "images.h"
#include "img.h"
#include "helpers.h"
#include "log.h"
#include "pagemap.pb-c.h"
#include "cgroup.pb-c.h"
#include "cpuinfo.pb-c.h"
#include "seccomp.pb-c.h"
#include "stats.pb-c.h"
#include "timens.pb-c.h"

#include "restore_images_helpers.h"

/* ---- images restore cannot use ---------------------------------------------------------- */

/* Write image @name of type @t into @dir: @msg (if any), then @n raw bytes (if any). */
static void put_image(const char *dir, const char *name, const char *type,
		      const ProtobufCMessage *msg, size_t n)
{
	const struct img_type *t = img_type_by_name(type);
	static const uint8_t bytes[64];
	struct img *img;
	int dfd;

	cr_assert_not_null(t, "%s", type);
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	cr_assert_geq(dfd, 0);
	cr_assert_eq(img_create(&img, dfd, name, t), 0, "%s", name);
	if (msg)
		cr_assert_eq(img_write_entry(img, msg), 0);
	if (n)
		cr_assert_eq(img_write_raw(img, bytes, n), 0);
	cr_assert_eq(img_commit(img), 0);
	close(dfd);
}

static void rm_image(const char *dir, const char *name)
{
	char path[700];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	cr_assert_eq(unlink(path), 0, "%s: %m", path);
}

/*
 * CRIU writes seccomp.img, timens-0.img and cgroup.img in every dump: with no
 * filter and the clocks of its own time namespace they change nothing, and
 * the dump loads (so do stats, cpuinfo and irmap-cache). A seccomp filter, a
 * dumped time namespace, socket queues, a raw network image or shared memory
 * pages are refused, each image named, by rimg_load and by ferry restore.
 */
Test(restore_images, unusable_images_refused)
{
	SeccompEntry se = SECCOMP_ENTRY__INIT;
	SeccompFilter sf = SECCOMP_FILTER__INIT, *sfs[] = { &sf };
	Timespec ts = TIMESPEC__INIT;
	TimensEntry te = TIMENS_ENTRY__INIT;
	CgroupEntry cg = CGROUP_ENTRY__INIT;
	CpuinfoEntry ci = CPUINFO_ENTRY__INIT;
	StatsEntry st = STATS_ENTRY__INIT;
	static const char *const refused[] = { "inetsk.img", "ifaddr-7.img" };
	struct rimg *r;
	struct ri_dump d;
	char *out, *err, *log, logp[700];
	const char *bad;
	int rc;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	ri_start_memhog(&d);
	bad = ri_copy_dump(&d);
	te.monotonic = te.boottime = &ts;
	put_image(bad, "seccomp.img", "SECCOMP", &se.base, 0);
	put_image(bad, "timens-0.img", "TIMENS", &te.base, 0);
	put_image(bad, "cgroup.img", "CGROUP", &cg.base, 0);
	put_image(bad, "cpuinfo.img", "CPUINFO", &ci.base, 0);
	put_image(bad, "stats-dump", "STATS", &st.base, 0);
	put_image(bad, "irmap-cache", "IRMAP_CACHE", NULL, 0);
	r = ri_load_ok(bad);
	rimg_free(r);

	sf.filter.len = 8;
	sf.filter.data = (uint8_t *)"\x06\0\0\0\0\0\xff\x7f";
	se.n_seccomp_filters = 1;
	se.seccomp_filters = sfs;
	put_image(bad, "seccomp.img", "SECCOMP", &se.base, 0);
	ri_expect_fail(bad, -EOPNOTSUPP, "seccomp.img: holds 1 seccomp filter",
		       "ferry restore installs no seccomp filter");
	se.n_seccomp_filters = 0;
	put_image(bad, "seccomp.img", "SECCOMP", &se.base, 0);

	put_image(bad, "timens-4026531834.img", "TIMENS", &te.base, 0);
	ri_expect_fail(bad, -EOPNOTSUPP, "timens-4026531834.img: a dumped time namespace", NULL);
	rm_image(bad, "timens-4026531834.img");

	/* sk-queues.img is read now (unix sockets); the old separate inetsk.img is refused. */
	put_image(bad, "inetsk.img", "INETSK", NULL, 32);
	put_image(bad, "ifaddr-7.img", "IFADDR", NULL, 32);
	ri_expect_fail(bad, -EOPNOTSUPP,
		       "ferry restore restores unix, TCP/UDP and netlink sockets only", NULL);
	/* Every refused image is named, not only the first one found. */
	snprintf(logp, sizeof(logp), "%s.log", bad);
	log = t_read_file(logp, NULL);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		cr_assert(strstr(log, refused[i]), "%s not named: %s", refused[i], log);
	free(log);

	rc = t_run(&out, &err, "%s restore -D %s", t_ferry_bin(), bad);
	cr_assert_neq(rc, 0, "ferry restore took a dump with sockets: %s", err);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		cr_assert(strstr(err, refused[i]), "%s not named: %s", refused[i], err);
	free(out);
	free(err);
	ri_drop_dump(&d);
}

/* Take the ids out of the leader's core, as CRIU 4.x writes it (ids go to ids-PID.img). */
static void drop_core_ids(ProtobufCMessage *m, size_t idx, void *arg)
{
	CoreEntry *c = (CoreEntry *)m;

	(void)idx;
	*(TaskKobjIdsEntry **)arg = c->ids;
	c->ids = NULL;
}

Test(restore_images, ids_from_ids_img)
{
	TaskKobjIdsEntry *ids = NULL;
	struct rimg *r;
	struct ri_dump d;
	char core[64], name[64];
	uint32_t files_id;
	const char *bad;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	ri_start_memhog(&d);
	bad = ri_copy_dump(&d);
	snprintf(core, sizeof(core), "core-%d.img", d.pid);
	ri_rewrite(bad, core, IMG_CORE, drop_core_ids, &ids, 0);
	cr_assert_not_null(ids, "ferry's dump has the ids in the core");
	files_id = ids->files_id;
	snprintf(name, sizeof(name), "ids-%d.img", d.pid);
	put_image(bad, name, "IDS", &ids->base, 0);
	protobuf_c_message_free_unpacked(&ids->base, NULL);

	r = ri_load_ok(bad);
	cr_assert_null(r->procs[0].threads[0].core->ids);
	cr_assert_not_null(r->procs[0].ids);
	cr_assert_eq(r->procs[0].ids->files_id, files_id);
	cr_assert_eq(r->procs[0].nr_fds > 0, 1, "fdinfo-%u.img read through ids-PID.img", files_id);
	rimg_free(r);

	rm_image(bad, name);
	ri_expect_fail(bad, -ENOENT, "the leader's core has no ids", name);
	ri_drop_dump(&d);
}

static void set_seccomp(ProtobufCMessage *m, size_t idx, void *arg)
{
	CoreEntry *c = (CoreEntry *)m;

	(void)idx;
	(void)arg;
	c->thread_core->has_seccomp_mode = 1;
	c->thread_core->seccomp_mode = SECCOMP_MODE__filter;
}

static void make_packet_socket(ProtobufCMessage *m, size_t idx, void *arg)
{
	(void)arg;
	if (!idx)
		((FileEntry *)m)->type = FD_TYPES__PACKETSK;
}

/* A thread under seccomp, or a file restore cannot open, is named with its kind. */
Test(restore_images, seccomp_thread_and_socket_refused)
{
	struct ri_dump d;
	char core[64];
	const char *bad;

	if (geteuid())
		cr_skip_test("ferry dump needs root");
	ri_start_memhog(&d);
	bad = ri_copy_dump(&d);
	snprintf(core, sizeof(core), "core-%d.img", d.pid);
	ri_rewrite(bad, core, IMG_CORE, set_seccomp, NULL, 0);
	ri_expect_fail(bad, -EOPNOTSUPP, "runs under seccomp (mode filter)", core);
	t_rmrf(bad);

	bad = ri_copy_dump(&d);
	ri_rewrite(bad, "files.img", IMG_FILES, make_packet_socket, NULL, 0);
	ri_expect_fail(bad, -EOPNOTSUPP, "is a PACKETSK (type 10)",
		       "restores regular files, pipes, terminals");
	ri_drop_dump(&d);
}
