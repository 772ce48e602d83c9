// SPDX-License-Identifier: MIT
/*
 * Image I/O: atomic writes, bounds-checked reads, and a clear error (file and
 * byte offset, non-zero exit) for every kind of bad image.
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "img.h"
#include "log.h"
#include "pagemap.pb-c.h"
#include "pagemap_flags.h"
#include "pipe-data.pb-c.h"
#include "pstree.pb-c.h"
#include "ghost-file.pb-c.h"
#include "ipc-msg.pb-c.h"
#include "tcp-stream.pb-c.h"

static char *dir;
static int dfd = -1;

static void setup(void)
{
	dir = t_tmpdir();
	cr_assert(dir);
	dfd = open(dir, O_RDONLY | O_DIRECTORY);
	cr_assert_geq(dfd, 0);
}

static void teardown(void)
{
	close(dfd);
	t_rmrf(dir);
	free(dir);
}

TestSuite(img, .init = setup, .fini = teardown, .timeout = 30);

static void write_pstree(const char *name, int nr)
{
	struct img *img;
	uint32_t threads[2];
	int i;

	cr_assert_eq(img_create(&img, dfd, name, IMG_PSTREE), 0);
	for (i = 0; i < nr; i++) {
		PstreeEntry e = PSTREE_ENTRY__INIT;

		e.pid = 100 + i;
		e.ppid = i ? 100 : 1;
		e.pgid = e.sid = 100;
		threads[0] = e.pid;
		threads[1] = 1000 + i;
		e.n_threads = 2;
		e.threads = threads;
		cr_assert_eq(img_write_entry(img, &e.base), 0);
	}
	cr_assert_eq(img_commit(img), 0);
}

static int exists(const char *name)
{
	return faccessat(dfd, name, F_OK, 0) == 0;
}

Test(img, write_is_atomic)
{
	PstreeEntry e = PSTREE_ENTRY__INIT;
	struct img *img;

	cr_assert_eq(img_create(&img, dfd, "pstree.img", IMG_PSTREE), 0);
	cr_assert_eq(img_write_entry(img, &e.base), 0);
	cr_assert(!exists("pstree.img"), "final name must not exist before commit");
	img_abort(img);
	cr_assert(!exists("pstree.img") && !exists("pstree.img.tmp"), "abort leaves nothing");

	write_pstree("pstree.img", 3);
	cr_assert(exists("pstree.img") && !exists("pstree.img.tmp"));
}

/* Without the sync at commit (a dump that syncs after releasing its tree), images are the same. */
Test(img, commit_without_sync)
{
	ProtobufCMessage *m;
	struct img *img;
	int n = 0;

	cr_assert_eq(img_sync_on_commit(0), 1, "sync on commit is not the default");
	write_pstree("pstree.img", 2);
	cr_assert_eq(img_sync_on_commit(1), 0);
	cr_assert(exists("pstree.img") && !exists("pstree.img.tmp"));
	cr_assert_eq(img_open(&img, dfd, "pstree.img", IMG_PSTREE), 0);
	while (img_read_entry(img, &m) == 1) {
		protobuf_c_message_free_unpacked(m, NULL);
		n++;
	}
	img_close(img);
	cr_assert_eq(n, 2);
}

Test(img, round_trip_and_magics)
{
	unsigned char head[8];
	ProtobufCMessage *m;
	struct img *img;
	int fd, i;

	write_pstree("pstree.img", 3);
	fd = openat(dfd, "pstree.img", O_RDONLY);
	cr_assert_eq(read(fd, head, 8), 8);
	close(fd);
	/* IMG_COMMON_MAGIC then PSTREE, little-endian, as CRIU writes them. */
	cr_assert_arr_eq(head,
			 ((unsigned char[]){ 0x19, 0x43, 0x56, 0x54, 0x30, 0x30, 0x27, 0x50 }), 8);
	cr_assert_eq(img_open(&img, dfd, "pstree.img", IMG_PSTREE), 0);
	for (i = 0; i < 3; i++) {
		PstreeEntry *e;

		cr_assert_eq(img_read_entry(img, &m), 1);
		e = (PstreeEntry *)m;
		cr_assert_eq(e->pid, 100u + i);
		cr_assert_eq(e->n_threads, 2);
		cr_assert_eq(e->threads[1], 1000u + i);
		protobuf_c_message_free_unpacked(m, NULL);
	}
	cr_assert_eq(img_read_entry(img, &m), 0);
	img_close(img);

	/* Asking for the wrong type is an error, not a misread. */
	log_init(NULL, LOG_MSG, 0);
	cr_assert_eq(img_open(&img, dfd, "pstree.img", IMG_MM), -EINVAL);
	cr_assert_eq(img_open(&img, dfd, "missing.img", NULL), -ENOENT);
}

Test(img, pagemap_head_then_entries)
{
	PagemapHead h = PAGEMAP_HEAD__INIT;
	PagemapEntry pe = PAGEMAP_ENTRY__INIT;
	ProtobufCMessage *m;
	struct img *img;

	cr_assert_eq(img_create(&img, dfd, "pagemap-1.img", IMG_PAGEMAP), 0);
	h.pages_id = 7;
	cr_assert_eq(img_write_entry(img, &h.base), 0);
	pe.vaddr = 0x7f0000000000;
	pe.compat_nr_pages = 16;
	pe.has_nr_pages = 1;
	pe.nr_pages = 16;
	pe.has_flags = 1;
	pe.flags = PE_PRESENT;
	cr_assert_eq(img_write_entry(img, &pe.base), 0);
	cr_assert_eq(img_commit(img), 0);

	cr_assert_eq(img_open(&img, dfd, "pagemap-1.img", IMG_PAGEMAP), 0);
	cr_assert_eq(img_read_entry(img, &m), 1);
	cr_assert_eq(m->descriptor, &pagemap_head__descriptor);
	cr_assert_eq(((PagemapHead *)m)->pages_id, 7);
	protobuf_c_message_free_unpacked(m, NULL);
	cr_assert_eq(img_read_entry(img, &m), 1);
	cr_assert_eq(m->descriptor, &pagemap_entry__descriptor);
	cr_assert_eq(((PagemapEntry *)m)->nr_pages, 16);
	protobuf_c_message_free_unpacked(m, NULL);
	img_close(img);
}

/* A good two-entry pstree image, then one mutation per case. */
struct bad_img {
	const char *name;
	void (*mutate)(unsigned char *b, size_t *len);
	const char *want; /* in the error message */
	long offset;	  /* byte offset the error must name; -1: first entry */
};

static size_t first_entry_end(const unsigned char *b)
{
	uint32_t size;

	memcpy(&size, b + 8, 4);
	return 8 + 4 + size;
}

static void m_empty(unsigned char *b, size_t *len)
{
	*len = 0;
}
static void m_short_magic(unsigned char *b, size_t *len)
{
	*len = 6;
}
static void m_bad_first_magic(unsigned char *b, size_t *len)
{
	memcpy(b, "\x01\x02\x03\x04", 4);
}
static void m_unknown_type(unsigned char *b, size_t *len)
{
	memcpy(b + 4, "\x44\x33\x22\x11", 4);
}
static void m_truncated_size(unsigned char *b, size_t *len)
{
	*len = first_entry_end(b) + 2;
}
static void m_truncated_entry(unsigned char *b, size_t *len)
{
	*len -= 3;
}
static void m_past_eof(unsigned char *b, size_t *len)
{
	uint32_t big = 4000;

	memcpy(b + first_entry_end(b), &big, 4);
}
static void m_over_limit(unsigned char *b, size_t *len)
{
	uint32_t huge = 0xffffffffu;

	memcpy(b + first_entry_end(b), &huge, 4);
}
static void m_garbage(unsigned char *b, size_t *len)
{
	size_t at = first_entry_end(b) + 4;

	/* field 1 with wire type 7 (invalid) and junk after it */
	memset(b + at, 0xff, *len - at);
	b[at] = 0x0f;
}
static void m_missing_required(unsigned char *b, size_t *len)
{
	size_t at = first_entry_end(b);
	uint32_t two = 2;

	/* an entry with only pid = 5: ppid, pgid, sid are required */
	memcpy(b + at, &two, 4);
	b[at + 4] = 0x08;
	b[at + 5] = 0x05;
	*len = at + 6;
}

Test(img, bad_images_are_refused)
{
	static const struct bad_img cases[] = {
		{ "empty file", m_empty, "too short", 0 },
		{ "short magic", m_short_magic, "ends before the type magic", 4 },
		{ "wrong magic", m_bad_first_magic, "unknown image magic", 0 },
		{ "unknown image type", m_unknown_type, "unknown image type magic", 4 },
		{ "truncated entry size", m_truncated_size, "truncated entry size", -1 },
		{ "truncated entry", m_truncated_entry, "runs past the end", -1 },
		{ "length past end of file", m_past_eof, "runs past the end", -1 },
		{ "length over 4 GiB", m_over_limit, "exceeds the", -1 },
		{ "garbage protobuf", m_garbage, "not a valid pstree_entry", -1 },
		{ "missing required field", m_missing_required, "not a valid pstree_entry", -1 },
	};
	unsigned char good[4096];
	char path[512], logp[512];
	size_t glen, i;
	int fd;

	write_pstree("good.img", 2);
	fd = openat(dfd, "good.img", O_RDONLY);
	glen = (size_t)read(fd, good, sizeof(good));
	close(fd);
	snprintf(logp, sizeof(logp), "%s/log", dir);

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct bad_img *c = &cases[i];
		unsigned char b[4096];
		size_t len = glen;
		char want_off[64], *log, *out, *err;
		ProtobufCMessage *m;
		struct img *img;
		int ret, st;

		memcpy(b, good, glen);
		c->mutate(b, &len);
		snprintf(path, sizeof(path), "%s/bad-%zu.img", dir, i);
		cr_assert_eq(t_write_file(path, b, len), 0);
		snprintf(want_off, sizeof(want_off), "offset %zu",
			 c->offset < 0 ? first_entry_end(good) : (size_t)c->offset);

		/* In process: an error return, and a message naming file and offset. */
		cr_assert_eq(log_init(logp, LOG_ERROR, 0), 0);
		ret = img_open(&img, AT_FDCWD, path, NULL);
		if (!ret) {
			while ((ret = img_read_entry(img, &m)) == 1)
				protobuf_c_message_free_unpacked(m, NULL);
			img_close(img);
		}
		log_fini();
		log = t_read_file(logp, NULL);
		cr_assert_eq(ret, -EINVAL, "%s: got %d", c->name, ret);
		cr_assert(strstr(log, path), "%s: no file name in '%s'", c->name, log);
		cr_assert(strstr(log, want_off), "%s: no '%s' in '%s'", c->name, want_off, log);
		cr_assert(strstr(log, c->want), "%s: no '%s' in '%s'", c->name, c->want, log);
		free(log);

		/* Through the command line: non-zero exit, same message, no crash. */
		st = t_run(&out, &err, "%s decode -i %s", t_ferry_bin(), path);
		cr_assert(st > 0, "%s: ferry decode exit %d", c->name, st);
		cr_assert(strstr(err, path) && strstr(err, want_off), "%s: stderr '%s'", c->name,
			  err);
		cr_assert_str_eq(out, "", "%s: no partial JSON on stdout", c->name);
		free(out);
		free(err);
	}
}

Test(img, decode_cli_json)
{
	char path[512], *out, *err;
	int st;

	write_pstree("pstree.img", 2);
	snprintf(path, sizeof(path), "%s/pstree.img", dir);
	st = t_run(&out, &err, "%s decode -i %s", t_ferry_bin(), path);
	cr_assert_eq(st, 0, "stderr: %s", err);
	cr_assert_str_eq(
		out,
		"{\"magic\": \"PSTREE\", \"entries\": ["
		"{\"pid\": 100, \"ppid\": 1, \"pgid\": 100, \"sid\": 100, \"threads\": [100, 1000]}, "
		"{\"pid\": 101, \"ppid\": 100, \"pgid\": 100, \"sid\": 100, \"threads\": [101, 1001]}]}\n");
	free(out);
	free(err);
	st = t_run(&out, &err, "%s decode --pretty -i %s", t_ferry_bin(), path);
	cr_assert_eq(st, 0);
	cr_assert(strstr(out, "\n        \"pid\": 101,\n"), "pretty: %s", out);
	free(out);
	free(err);
}

/* ferry decode prints what Debian's crit decode prints, byte for byte. */
Test(img, decode_matches_crit)
{
	char path[512], *ours, *theirs, *err;
	int st;

	if (access("/usr/bin/crit", X_OK))
		cr_skip_test("crit (Debian package criu) is not installed");
	write_pstree("pstree.img", 3);
	snprintf(path, sizeof(path), "%s/pstree.img", dir);
	cr_assert_eq(t_run(&ours, NULL, "%s decode -i %s", t_ferry_bin(), path), 0);
	st = t_run(&theirs, &err, "crit decode -i %s", path);
	cr_assert_eq(st, 0, "crit: %s", err);
	cr_assert_str_eq(ours, theirs);
	free(ours);
	free(theirs);
	free(err);
}

/*
 * What follows an entry, checked like the entries: a TCP queue, a ghost file
 * chunk or a System V message that runs past the end of the file is refused
 * at its offset, by the reader and by ferry decode.
 */
Test(img, bad_extras_are_refused)
{
	TcpStreamEntry tcp = TCP_STREAM_ENTRY__INIT;
	GhostFileEntry gf = GHOST_FILE_ENTRY__INIT;
	GhostChunkEntry gc = GHOST_CHUNK_ENTRY__INIT;
	IpcDescEntry desc = IPC_DESC_ENTRY__INIT;
	IpcMsgEntry q = IPC_MSG_ENTRY__INIT;
	IpcMsg msg = IPC_MSG__INIT;
	uint8_t data[64] = { 0 }, rec[64];
	struct {
		const char *name;
		size_t at;	  /* offset the error names */
		const char *want; /* in the error */
	} c[3];
	struct img *img;
	uint32_t size;
	size_t n = 0;

	/* tcp-stream: 10 + 10 bytes of queues announced, 15 written. */
	tcp.inq_len = tcp.outq_len = 10;
	cr_assert_eq(img_create(&img, dfd, "tcp-stream-1f.img", img_type_by_name("TCP_STREAM")), 0);
	cr_assert_eq(img_write_entry(img, &tcp.base), 0);
	cr_assert_eq(img_write_raw(img, data, 15), 0);
	cr_assert_eq(img_commit(img), 0);
	c[n++] = (typeof(c[0])){
		"tcp-stream-1f.img", 8 + 4 + tcp_stream_entry__get_packed_size(&tcp),
		"payload of 20 bytes runs past the end of the file (15 bytes left)"
	};

	/* ghost file in chunks: a chunk of 100 bytes, 10 written. */
	gf.has_chunks = gf.chunks = 1;
	gc.len = 100;
	cr_assert_eq(img_create(&img, dfd, "ghost-file-2.img", img_type_by_name("GHOST_FILE")), 0);
	cr_assert_eq(img_write_entry(img, &gf.base), 0);
	cr_assert_eq(img_write_entry(img, &gc.base), 0);
	cr_assert_eq(img_write_raw(img, data, 10), 0);
	cr_assert_eq(img_commit(img), 0);
	c[n++] = (typeof(c[0])){ "ghost-file-2.img",
				 8 + 4 + ghost_file_entry__get_packed_size(&gf) + 4 +
					 ghost_chunk_entry__get_packed_size(&gc),
				 "payload of 100 bytes runs past the end" };

	/* A queue of two messages: the first whole, the second's data cut short. */
	q.desc = &desc;
	q.qnum = 2;
	msg.msize = 5;
	size = (uint32_t)ipc_msg__pack(&msg, rec + 4);
	memcpy(rec, &size, 4);
	memset(rec + 4 + size, 'm', 8);
	cr_assert_eq(img_create(&img, dfd, "ipcns-msg-3.img", img_type_by_name("IPCNS_MSG")), 0);
	cr_assert_eq(img_write_entry(img, &q.base), 0);
	cr_assert_eq(img_write_raw(img, rec, 4 + size + 8), 0);
	cr_assert_eq(img_write_raw(img, rec, 4 + size + 3), 0);
	cr_assert_eq(img_commit(img), 0);
	c[n++] = (typeof(c[0])){ "ipcns-msg-3.img",
				 8 + 4 + ipc_msg_entry__get_packed_size(&q) + 4 + size + 8,
				 "is truncated or corrupt" };

	for (size_t i = 0; i < n; i++) {
		char path[512], off[64], *out, *err;
		ProtobufCMessage *m;
		int ret;

		log_init(NULL, LOG_MSG, 0);
		cr_assert_eq(img_open(&img, dfd, c[i].name, NULL), 0, "%s", c[i].name);
		while ((ret = img_read_entry(img, &m)) == 1)
			protobuf_c_message_free_unpacked(m, NULL);
		img_close(img);
		cr_assert_eq(ret, -EINVAL, "%s: %d", c[i].name, ret);

		snprintf(path, sizeof(path), "%s/%s", dir, c[i].name);
		snprintf(off, sizeof(off), "offset %zu:", c[i].at);
		cr_assert_gt(t_run(&out, &err, "%s decode -i %s", t_ferry_bin(), path), 0);
		cr_assert(strstr(err, path) && strstr(err, off) && strstr(err, c[i].want),
			  "%s: want '%s' and '%s' in '%s'", c[i].name, off, c[i].want, err);
		cr_assert_str_eq(out, "", "%s: no partial JSON", c[i].name);
		free(out);
		free(err);
	}
}

/* A pipes-data image with one entry and payload per string of @data. */
static void write_pipe_data(const char *name, const char *const *data, size_t n)
{
	struct img *img;

	cr_assert_eq(img_create(&img, dfd, name, IMG_PIPES_DATA), 0);
	for (size_t i = 0; i < n; i++) {
		PipeDataEntry e = PIPE_DATA_ENTRY__INIT;

		e.pipe_id = (uint32_t)i;
		e.bytes = (uint32_t)strlen(data[i]);
		cr_assert_eq(img_write_entry(img, &e.base), 0);
		cr_assert_eq(img_write_raw(img, data[i], e.bytes), 0);
	}
	cr_assert_eq(img_commit(img), 0);
}

/*
 * Payloads are base64 in crit's layout (Python's encodebytes): 57 octets to a
 * 76-character line, every line ending in \n, nothing for an empty payload.
 */
Test(img, decode_base64_lines)
{
	char a57[58] = { 0 }, a58[59] = { 0 }, path[512], *out, *err, want[2048];
	const char *data[] = { "", "A", "AA", "AAA", "\xfb\xff\xbf", a57, a58 };
	int st;

	memset(a57, 'A', 57);
	memset(a58, 'A', 58);
	write_pipe_data("pipes-data.img", data, 7);
	snprintf(path, sizeof(path), "%s/pipes-data.img", dir);
	st = t_run(&out, &err, "%s decode -i %s", t_ferry_bin(), path);
	cr_assert_eq(st, 0, "stderr: %s", err);
	snprintf(want, sizeof(want),
		 "{\"magic\": \"PIPES_DATA\", \"entries\": ["
		 "{\"pipe_id\": 0, \"bytes\": 0, \"extra\": \"\"}, "
		 "{\"pipe_id\": 1, \"bytes\": 1, \"extra\": \"QQ==\\n\"}, "
		 "{\"pipe_id\": 2, \"bytes\": 2, \"extra\": \"QUE=\\n\"}, "
		 "{\"pipe_id\": 3, \"bytes\": 3, \"extra\": \"QUFB\\n\"}, "
		 "{\"pipe_id\": 4, \"bytes\": 3, \"extra\": \"+/+/\\n\"}, "
		 "{\"pipe_id\": 5, \"bytes\": 57, \"extra\": \"%s\\n\"}, "
		 "{\"pipe_id\": 6, \"bytes\": 58, \"extra\": \"%s\\nQQ==\\n\"}]}\n",
		 "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB",
		 "QUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB");
	cr_assert_str_eq(out, want);
	free(out);
	free(err);
}

/* A payload of every octet value, over several lines: what crit prints. */
Test(img, decode_base64_matches_crit)
{
	char bytes[771], path[512], *ours, *theirs, *err;
	const char *data[] = { bytes };
	int st;

	if (access("/usr/bin/crit", X_OK))
		cr_skip_test("crit (Debian package criu) is not installed");
	for (size_t i = 0; i < sizeof(bytes) - 1; i++)
		bytes[i] = (char)(i % 255 + 1); /* no NUL: the payload is a C string here */
	bytes[sizeof(bytes) - 1] = 0;
	write_pipe_data("pipes-data.img", data, 1);
	snprintf(path, sizeof(path), "%s/pipes-data.img", dir);
	cr_assert_eq(t_run(&ours, NULL, "%s decode -i %s", t_ferry_bin(), path), 0);
	st = t_run(&theirs, &err, "crit decode -i %s", path);
	cr_assert_eq(st, 0, "crit: %s", err);
	cr_assert_str_eq(ours, theirs);
	free(ours);
	free(theirs);
	free(err);
}
