/* SPDX-License-Identifier: MIT */
/* What the image type tests share (img_test_helpers.c). */
#ifndef FERRY_IMG_TEST_HELPERS_H
#define FERRY_IMG_TEST_HELPERS_H

#include <stddef.h>
#include <stdint.h>

#include "img.h"

#define CRIT "/usr/bin/crit"

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#endif

/*
 * A fresh directory for a test's images: it_setup (a Criterion .init) makes
 * it_tmpdir and opens it as it_dfd, it_teardown (.fini) removes it.
 */
extern char *it_tmpdir;
extern int it_dfd;
void it_setup(void);
void it_teardown(void);

/* An entry to write: its message and the payload that follows it, if any. */
struct it_ent {
	const ProtobufCMessage *msg;
	const void *payload; /* extra payload after the entry, or NULL */
	size_t plen;
};

/* One entry, for it_roundtrip(): IT_ONE(msg). */
#define IT_ONE(m) ((struct it_ent[]){ { .msg = &(m).base } })

/* @m packed into a malloc'd buffer of *@len bytes. */
uint8_t *it_pack(const ProtobufCMessage *m, size_t *len);
/* Check the file starts with the type's magics (the inventory: only its own). */
void it_check_header(struct img *img, const struct img_type *t);
/*
 * Write @n entries (with their payloads) to @name, read them back and check
 * each re-packs to the same bytes and carries the same payload.
 */
void it_roundtrip(const struct img_type *t, const char *name, const struct it_ent *e, size_t n);
/* Run "crit decode -i" on the image; check it succeeds and names the magic. */
char *it_crit_decode(const struct img_type *t, const char *name);
/* crit's JSON holds @want (e.g. "pid": 4242) followed by a separator. */
void it_expect_json(const char *json, const char *want);
/* How many times @s occurs in @json. */
size_t it_count_str(const char *json, const char *s);

#endif
