// SPDX-License-Identifier: MIT
/*
 * Image types of files: fdinfo, files, regular files, pipes and FIFOs with
 * their data, ttys, fs and file locks: round trips and crit.
 * (Suite img_types; the helpers are in img_test_helpers.c.)
 */
#include <criterion/criterion.h>
#include <stdlib.h>

#include "img.h"
#include "regfile.pb-c.h"
#include "pipe.pb-c.h"
#include "fifo.pb-c.h"
#include "tty.pb-c.h"
#include "fdinfo.pb-c.h"
#include "pipe-data.pb-c.h"
#include "fs.pb-c.h"
#include "file-lock.pb-c.h"

#include "img_test_helpers.h"

#define PAGE 4096

Test(img_types, fdinfo, .timeout = 30, .init = it_setup, .fini = it_teardown)
{
	static const FdTypes types[] = { FD_TYPES__TTY, FD_TYPES__PIPE, FD_TYPES__REG,
					 FD_TYPES__FIFO };
	FdinfoEntry fe[4];
	struct it_ent e[4];
	char *json;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(fe); i++) {
		fdinfo_entry__init(&fe[i]);
		fe[i].id = 100 + (uint32_t)i;
		fe[i].flags = i == 3 ? 1 : 0; /* FD_CLOEXEC */
		fe[i].type = types[i];
		fe[i].fd = i == 3 ? 255 : (uint32_t)i;
		e[i] = (struct it_ent){ .msg = &fe[i].base };
	}
	fe[2].xattr_security_selinux = "unconfined_u:object_r:user_tmp_t:s0";

	it_roundtrip(IMG_FDINFO, "fdinfo-2.img", e, ARRAY_SIZE(e));
	json = it_crit_decode(IMG_FDINFO, "fdinfo-2.img");
	it_expect_json(json, "\"type\": \"TTY\"");
	it_expect_json(json, "\"type\": \"PIPE\"");
	it_expect_json(json, "\"type\": \"REG\"");
	it_expect_json(json, "\"type\": \"FIFO\"");
	it_expect_json(json, "\"fd\": 255");
	it_expect_json(json, "\"id\": 102");
	it_expect_json(json, "\"xattr_security_selinux\": \"unconfined_u:object_r:user_tmp_t:s0\"");
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

Test(img_types, files, .timeout = 30, .init = it_setup, .fini = it_teardown)
{
	FownEntry fown[4];
	RegFileEntry reg;
	PipeEntry pipe = PIPE_ENTRY__INIT;
	FifoEntry fifo = FIFO_ENTRY__INIT;
	TtyFileEntry tty = TTY_FILE_ENTRY__INIT;
	FileEntry fe[4];
	struct it_ent e[4];
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
		e[i] = (struct it_ent){ .msg = &fe[i].base };
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

	it_roundtrip(IMG_FILES, "files.img", e, ARRAY_SIZE(e));
	json = it_crit_decode(IMG_FILES, "files.img");
	it_expect_json(json, "\"type\": \"REG\"");
	it_expect_json(json, "\"type\": \"PIPE\"");
	it_expect_json(json, "\"type\": \"FIFO\"");
	it_expect_json(json, "\"type\": \"TTY\"");
	it_expect_json(json, "\"name\": \"/tmp/ferry test file\"");
	it_expect_json(json, "\"mnt_id\": 27");
	it_expect_json(json,
		       "\"build_id\": [19088743, 2309737967, 38177486, 324508639, 4277009102]");
	it_expect_json(json, "\"pipe_id\": 777001");
	it_expect_json(json, "\"pipe_id\": 777002");
	it_expect_json(json, "\"regf_id\": 103");
	it_expect_json(json, "\"tty_info_id\": 9");
	it_expect_json(json, "\"pid\": 4242");
	cr_assert_eq(it_count_str(json, "\"fown\": "), 3);
	free(json);
}

Test(img_types, reg_files, .timeout = 30, .init = it_setup, .fini = it_teardown)
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

	it_roundtrip(IMG_REG_FILES, "reg-files.img",
		     (struct it_ent[]){ { .msg = &r[0].base }, { .msg = &r[1].base } }, 2);
	json = it_crit_decode(IMG_REG_FILES, "reg-files.img");
	it_expect_json(json, "\"name\": \"/\"");
	it_expect_json(json, "\"name\": \"/home/user/data.bin\"");
	it_expect_json(json, "\"pos\": 4098");
	it_expect_json(json, "\"size\": 1048576");
	it_expect_json(json, "\"mode\": 33188");
	it_expect_json(json, "\"ext\": true");
	it_expect_json(json, "\"checksum\": 3405705229");
	it_expect_json(json, "\"checksum_parameter\": 1024");
	it_expect_json(json, "\"pid\": 77");
	cr_assert_eq(it_count_str(json, "\"mnt_id\": "), 1, "mnt_id default written:\n%s", json);
	free(json);
}

Test(img_types, pipes, .timeout = 30, .init = it_setup, .fini = it_teardown)
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

	it_roundtrip(IMG_PIPES, "pipes.img",
		     (struct it_ent[]){ { .msg = &p[0].base }, { .msg = &p[1].base } }, 2);
	json = it_crit_decode(IMG_PIPES, "pipes.img");
	cr_assert_eq(it_count_str(json, "\"pipe_id\": 888123"), 2);
	it_expect_json(json, "\"id\": 201");
	it_expect_json(json, "\"flags\": 2049");
	it_expect_json(json, "\"flags\": 2048");
	free(json);
}

static void pipe_data_test(const struct img_type *t, const char *name)
{
	static const char small[] = "hello pipe\n";
	static uint8_t big[5000];
	PipeDataEntry pd[3];
	struct it_ent e[3];
	char *json;
	size_t i;

	for (i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 31);
	for (i = 0; i < ARRAY_SIZE(pd); i++) {
		pipe_data_entry__init(&pd[i]);
		pd[i].pipe_id = 888123 + (uint32_t)i;
		pd[i].has_size = 1;
		pd[i].size = 16 * PAGE;
		e[i] = (struct it_ent){ .msg = &pd[i].base };
	}
	pd[0].bytes = sizeof(small) - 1;
	e[0].payload = small;
	e[0].plen = sizeof(small) - 1;
	pd[1].bytes = sizeof(big);
	e[1].payload = big;
	e[1].plen = sizeof(big);
	pd[2].bytes = 0; /* an empty pipe: no payload */

	it_roundtrip(t, name, e, ARRAY_SIZE(e));
	json = it_crit_decode(t, name);
	it_expect_json(json, "\"bytes\": 11");
	it_expect_json(json, "\"bytes\": 5000");
	it_expect_json(json, "\"pipe_id\": 888124");
	it_expect_json(json, "\"size\": 65536");
	it_expect_json(json, "\"extra\": \"aGVsbG8gcGlwZQo=\\n\"");
	cr_assert_eq(it_count_str(json, "\"extra\": "), 3, "%s", json);
	free(json);
}

Test(img_types, pipes_data, .timeout = 30, .init = it_setup, .fini = it_teardown)
{
	pipe_data_test(IMG_PIPES_DATA, "pipes-data.img");
}

Test(img_types, fifo_data, .timeout = 30, .init = it_setup, .fini = it_teardown)
{
	pipe_data_test(img_type_by_name("FIFO_DATA"), "fifo-data.img");
}

Test(img_types, fifo, .timeout = 30, .init = it_setup, .fini = it_teardown)
{
	const struct img_type *t = img_type_by_name("FIFO");
	FifoEntry f = FIFO_ENTRY__INIT;
	char *json;

	cr_assert_not_null(t);
	f.id = 300;
	f.pipe_id = 999001;
	f.has_regf_id = 1;
	f.regf_id = 301;

	it_roundtrip(t, "fifo.img", IT_ONE(f), 1);
	json = it_crit_decode(t, "fifo.img");
	it_expect_json(json, "\"id\": 300");
	it_expect_json(json, "\"pipe_id\": 999001");
	it_expect_json(json, "\"regf_id\": 301");
	free(json);
}

Test(img_types, tty_files, .timeout = 30, .init = it_setup, .fini = it_teardown)
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

	it_roundtrip(IMG_TTY_FILES, "tty.img", IT_ONE(tf), 1);
	json = it_crit_decode(IMG_TTY_FILES, "tty.img");
	it_expect_json(json, "\"tty_info_id\": 401");
	it_expect_json(json, "\"flags\": 32770");
	it_expect_json(json, "\"regf_id\": 402");
	it_expect_json(json, "\"euid\": 1000");
	free(json);
}

Test(img_types, tty_info, .timeout = 30, .init = it_setup, .fini = it_teardown)
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

	it_roundtrip(IMG_TTY_INFO, "tty-info.img",
		     (struct it_ent[]){ { .msg = &ti[0].base }, { .msg = &ti[1].base } }, 2);
	json = it_crit_decode(IMG_TTY_INFO, "tty-info.img");
	it_expect_json(json, "\"type\": \"PTY\"");
	it_expect_json(json, "\"type\": \"CONSOLE\"");
	it_expect_json(json, "\"packet_mode\": true");
	it_expect_json(json, "\"pgrp\": 4242");
	it_expect_json(json, "\"ws_row\": 24");
	it_expect_json(json, "\"ws_col\": 80");
	it_expect_json(json, "\"index\": 3");
	it_expect_json(json, "\"c_lflag\": 35387");
	cr_assert_eq(it_count_str(json, "\"c_cc\": [3, 28, 127, "), 2);
	free(json);
}

Test(img_types, tty_data, .timeout = 30, .init = it_setup, .fini = it_teardown)
{
	const struct img_type *t = img_type_by_name("TTY_DATA");
	TtyDataEntry td = TTY_DATA_ENTRY__INIT;
	char *json;

	cr_assert_not_null(t);
	td.tty_id = 5;
	td.data.data = (uint8_t *)"ls -l\n";
	td.data.len = 6;

	it_roundtrip(t, "tty-data.img", IT_ONE(td), 1);
	json = it_crit_decode(t, "tty-data.img");
	it_expect_json(json, "\"tty_id\": 5");
	it_expect_json(json, "\"data\": \"bHMgLWwK\\n\"");
	free(json);
}

Test(img_types, fs, .timeout = 30, .init = it_setup, .fini = it_teardown)
{
	FsEntry fs = FS_ENTRY__INIT;
	char *json;

	fs.cwd_id = 12;
	fs.root_id = 1;
	fs.has_umask = 1;
	fs.umask = 022;

	it_roundtrip(IMG_FS, "fs-4242.img", IT_ONE(fs), 1);
	json = it_crit_decode(IMG_FS, "fs-4242.img");
	it_expect_json(json, "\"cwd_id\": 12");
	it_expect_json(json, "\"root_id\": 1");
	it_expect_json(json, "\"umask\": 18");
	free(json);
}

/* A POSIX range, an OFD lock to the end of the file and a whole-file flock. */
Test(img_types, file_locks, .timeout = 30, .init = it_setup, .fini = it_teardown)
{
	FileLockEntry fl[3];
	struct it_ent e[3];
	char *json;
	size_t i;

	for (i = 0; i < ARRAY_SIZE(fl); i++) {
		file_lock_entry__init(&fl[i]);
		e[i] = (struct it_ent){ .msg = &fl[i].base };
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

	it_roundtrip(IMG_FILE_LOCKS, "filelocks.img", e, ARRAY_SIZE(e));
	json = it_crit_decode(IMG_FILE_LOCKS, "filelocks.img");
	cr_assert_eq(it_count_str(json, "\"flag\": "), 3);
	it_expect_json(json, "\"flag\": 4");
	it_expect_json(json, "\"pid\": 4243");
	it_expect_json(json, "\"fd\": 17");
	it_expect_json(json, "\"start\": 1073741824");
	it_expect_json(json, "\"len\": 510");
	free(json);
}
