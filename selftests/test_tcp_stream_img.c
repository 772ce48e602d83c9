// SPDX-License-Identifier: MIT
/*
 * tcp-stream-INO.img (user/core/tcp_stream_img.c): what ferry writes is what
 * CRIU writes (crit decodes it, ferry decode too, the queues after the entry
 * in CRIU's order), it reads back whole, and an image that does not hold
 * together is refused with its file and offset, never crashes the reader.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "helpers.h"
#include "img.h"
#include "img_test_helpers.h"
#include "log.h"
#include "tcp-stream.pb-c.h"
#include "tcp_stream_img.h"

#define INO 0x1e240u

static void state(struct tcp_repair_state *st, uint32_t inq, uint32_t outq)
{
	memset(st, 0, sizeof(*st));
	st->inq_len = inq;
	st->outq_len = outq;
	st->unsq_len = outq / 2;
	st->inq_seq = 0xfffffff0u; /* wraps: the queue starts before 2^32 */
	st->outq_seq = 12345;
	st->opt_mask = TCPI_OPT_TIMESTAMPS | TCPI_OPT_SACK | TCPI_OPT_WSCALE;
	st->snd_wscale = 7;
	st->rcv_wscale = 10;
	st->mss_clamp = 1460;
	st->timestamp = 4242;
	st->has_window = 1;
	st->snd_wl1 = 1;
	st->snd_wnd = 65535;
	st->max_window = 65535;
	st->rcv_wnd = 131072;
	st->rcv_wup = 2;
	st->inq = inq ? malloc(inq) : NULL;
	st->outq = outq ? malloc(outq) : NULL;
	for (uint32_t i = 0; i < inq; i++)
		st->inq[i] = (uint8_t)(i * 7);
	for (uint32_t i = 0; i < outq; i++)
		st->outq[i] = (uint8_t)(i * 13 + 1);
}

Test(tcp_stream_img, written_as_criu_and_read_back, .init = it_setup, .fini = it_teardown,
     .timeout = 20)
{
	struct tcp_repair_state st, rd = { 0 };
	char name[64], *json;

	state(&st, 1000, 3000);
	cr_assert_eq(tcp_stream_img_write(it_dfd, INO, &st), 0);
	tcp_stream_img_name(INO, name, sizeof(name));
	cr_assert_str_eq(name, "tcp-stream-1e240.img");
	cr_assert_eq(tcp_stream_img_read(it_dfd, INO, &rd), 0);
	cr_assert_eq(rd.inq_len, 1000);
	cr_assert_eq(rd.outq_len, 3000);
	cr_assert_eq(rd.unsq_len, 1500);
	cr_assert_eq(rd.inq_seq, st.inq_seq);
	cr_assert_eq(rd.outq_seq, st.outq_seq);
	cr_assert_eq(rd.opt_mask, st.opt_mask);
	cr_assert_eq(rd.snd_wscale, 7);
	cr_assert_eq(rd.rcv_wscale, 10);
	cr_assert_eq(rd.mss_clamp, 1460);
	cr_assert_eq(rd.timestamp, 4242);
	cr_assert(rd.has_window);
	cr_assert_eq(rd.rcv_wnd, 131072);
	cr_assert_eq(rd.rcv_wup, 2);
	cr_assert_eq(memcmp(rd.inq, st.inq, 1000), 0);
	cr_assert_eq(memcmp(rd.outq, st.outq, 3000), 0);
	tcp_repair_state_free(&rd);
	tcp_repair_state_free(&st);

	/* ferry's decoder: the queues as CRIU's crit shows them (extra: inq, outq). */
	{
		char *out = NULL, *err = NULL;
		int rc = t_run(&out, &err, "%s decode -i '%s/%s'", t_ferry_bin(), it_tmpdir, name);

		cr_assert_eq(rc, 0, "ferry decode: %s", err ? err : "");
		cr_assert(strstr(out, "\"inq_len\": 1000"), "%s", out);
		cr_assert(strstr(out, "\"outq\": \""), "%s", out);
		free(out);
		free(err);
	}
	json = it_crit_decode(IMG_TCP_STREAM, name);
	it_expect_json(json, "\"inq_len\": 1000");
	it_expect_json(json, "\"outq_len\": 3000");
	it_expect_json(json, "\"unsq_len\": 1500");
	it_expect_json(json, "\"mss_clamp\": 1460");
	free(json);
}

Test(tcp_stream_img, empty_queues_and_no_options, .init = it_setup, .fini = it_teardown,
     .timeout = 10)
{
	struct tcp_repair_state st, rd = { 0 };

	state(&st, 0, 0);
	st.opt_mask = 0;
	st.has_window = 0;
	cr_assert_eq(tcp_stream_img_write(it_dfd, INO, &st), 0);
	cr_assert_eq(tcp_stream_img_read(it_dfd, INO, &rd), 0);
	cr_assert_eq(rd.inq_len + rd.outq_len, 0);
	cr_assert_null(rd.inq);
	cr_assert_null(rd.outq);
	cr_assert_eq(rd.has_window, 0);
	cr_assert_eq(tcp_stream_img_read(it_dfd, INO + 1, &rd), -ENOENT);
}

/* An image of @e followed by @plen payload bytes and @extra trailing bytes. */
static uint8_t *image(const TcpStreamEntry *e, size_t plen, const void *extra, size_t elen,
		      size_t *len)
{
	size_t mlen = protobuf_c_message_get_packed_size(&e->base);
	uint8_t *b = calloc(1, 12 + mlen + plen + elen);
	uint32_t m[3] = { IMG_COMMON_MAGIC, IMG_TCP_STREAM->magic, (uint32_t)mlen };

	memcpy(b, m, 12);
	protobuf_c_message_pack(&e->base, b + 12);
	if (elen)
		memcpy(b + 12 + mlen + plen, extra, elen);
	*len = 12 + mlen + plen + elen;
	return b;
}

/* Parse @buf as tcp-stream-1.img: the result, and the log (malloc'd) in *@log. */
static int parse(const uint8_t *buf, size_t len, char **log)
{
	struct tcp_repair_state st = { 0 };
	char logp[] = "/tmp/ferry-tcpimg-log-XXXXXX";
	struct img *img = NULL;
	int fd = mkstemp(logp), err;

	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(log_init(logp, LOG_ERROR, 0), 0);
	err = img_open_mem(&img, "tcp-stream-1.img", buf, len, IMG_TCP_STREAM);
	if (!err)
		err = tcp_stream_img_parse(img, &st);
	img_close(img);
	log_fini();
	*log = t_read_file(logp, NULL);
	unlink(logp);
	tcp_repair_state_free(&st);
	return err;
}

static void refused(const TcpStreamEntry *e, size_t plen, const void *extra, size_t elen,
		    const char *needle)
{
	size_t len;
	uint8_t *b = image(e, plen, extra, elen, &len);
	char *log = NULL;
	int err = parse(b, len, &log);

	cr_assert_eq(err, -EINVAL, "accepted (%d), wanted refused for %s; log: %s", err, needle,
		     log ? log : "");
	cr_assert(log && strstr(log, "tcp-stream-1.img: offset "), "no file and offset: %s", log);
	cr_assert(strstr(log, needle), "log lacks '%s': %s", needle, log);
	free(log);
	free(b);
	/* Every shorter prefix of it: refused too, never a crash. */
	b = image(e, plen, extra, elen, &len);
	for (size_t cut = 8; cut < len - elen; cut += 1 + cut / 8) {
		err = parse(b, cut, &log);
		cr_assert_neq(err, 0, "a prefix of %zu bytes of %zu accepted", cut, len);
		free(log);
	}
	free(b);
}

static TcpStreamEntry good(void)
{
	TcpStreamEntry e = TCP_STREAM_ENTRY__INIT;

	e.inq_len = 10;
	e.outq_len = 20;
	e.has_unsq_len = 1;
	e.unsq_len = 5;
	e.opt_mask = TCPI_OPT_WSCALE | TCPI_OPT_TIMESTAMPS;
	e.snd_wscale = 7;
	e.has_rcv_wscale = 1;
	e.rcv_wscale = 7;
	e.mss_clamp = 1460;
	e.has_timestamp = 1;
	e.timestamp = 9;
	return e;
}

Test(tcp_stream_img, a_good_image_parses, .timeout = 10)
{
	TcpStreamEntry e = good();
	size_t len;
	uint8_t *b = image(&e, 30, NULL, 0, &len);
	char *log = NULL;

	cr_assert_eq(parse(b, len, &log), 0, "log: %s", log);
	free(log);
	free(b);
}

Test(tcp_stream_img, bad_images_refused_with_file_and_offset, .timeout = 30)
{
	TcpStreamEntry e;
	uint8_t more[16] = { 4, 0, 0, 0, 8, 1, 16, 1 };

	e = good();
	refused(&e, 29, NULL, 0, "runs past the end of the file");
	e = good();
	e.unsq_len = 21;
	refused(&e, 30, NULL, 0, "unsq_len larger than outq_len");
	e = good();
	e.snd_wscale = 15;
	refused(&e, 30, NULL, 0, "a window scale over 14");
	e = good();
	e.has_timestamp = 0;
	refused(&e, 30, NULL, 0, "timestamps without a timestamp");
	e = good();
	e.has_rcv_wscale = 0;
	refused(&e, 30, NULL, 0, "window scaling without rcv_wscale");
	e = good();
	e.mss_clamp = 0;
	refused(&e, 30, NULL, 0, "mss_clamp of 0");
	e = good();
	e.opt_mask |= 0x100;
	refused(&e, 30, NULL, 0, "unknown bits in opt_mask");
	e = good();
	e.has_snd_wnd = 1;
	refused(&e, 30, NULL, 0, "a window with some of its five fields missing");
	e = good();
	/* A huge length: the payload check of img.c refuses it before any allocation. */
	e.inq_len = 65u << 20;
	refused(&e, 30, NULL, 0, "runs past the end of the file");
	/* A second entry after the queues. */
	e = good();
	refused(&e, 30, more, 8, "trailing data");
}
