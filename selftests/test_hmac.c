// SPDX-License-Identifier: MIT
/*
 * HMAC-SHA256 (user/core/hmac.c, over libcrypto) against RFC 4231's test cases
 * 1-7, the message given in one piece, octet by octet and in awkward pieces;
 * the empty key; and the constant-time comparison.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "hmac.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

static void hex(const uint8_t *d, size_t len, char *out)
{
	for (size_t i = 0; i < len; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

struct rfc4231_case {
	int nr;
	uint8_t key[131];
	size_t key_len;
	const char *data; /* or data_len octets of data_fill */
	uint8_t data_fill;
	size_t data_len;
	const char *want; /* hex; case 5 gives only the first 128 bits */
};

/* The MAC of @c's message (at @data) given in pieces of @piece octets. */
static void mac_in_pieces(const struct rfc4231_case *c, const uint8_t *data, size_t piece,
			  uint8_t *out)
{
	struct iovec iov[256];
	size_t n = 0;

	for (size_t off = 0; off < c->data_len; off += piece) {
		cr_assert_lt(n, ARRAY_LEN(iov));
		iov[n].iov_base = (void *)(data + off);
		iov[n].iov_len = c->data_len - off < piece ? c->data_len - off : piece;
		n++;
	}
	cr_assert_eq(hmac_sha256(c->key, c->key_len, iov, n, out), 0);
}

static void check_case(const struct rfc4231_case *c)
{
	static const size_t pieces[] = { 1, 3, 63, 64, 65 };
	uint8_t data[256], d[HMAC_SHA256_SIZE];
	char got[2 * HMAC_SHA256_SIZE + 1];
	size_t want_len = strlen(c->want) / 2;
	struct iovec one;

	if (c->data)
		memcpy(data, c->data, c->data_len);
	else
		memset(data, c->data_fill, c->data_len);
	one = (struct iovec){ .iov_base = data, .iov_len = c->data_len };
	cr_assert_eq(hmac_sha256(c->key, c->key_len, &one, 1, d), 0, "RFC 4231 case %d", c->nr);
	hex(d, want_len, got);
	cr_assert_str_eq(got, c->want, "RFC 4231 test case %d", c->nr);
	for (size_t k = 0; k < ARRAY_LEN(pieces); k++) {
		mac_in_pieces(c, data, pieces[k], d);
		hex(d, want_len, got);
		cr_assert_str_eq(got, c->want, "RFC 4231 test case %d in pieces of %zu", c->nr,
				 pieces[k]);
	}
}

TestSuite(hmac, .timeout = 30);

Test(hmac, rfc4231)
{
	static const char data7[] =
		"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.";
	static struct rfc4231_case c[7];

	c[0] = (struct rfc4231_case){
		.nr = 1,
		.key_len = 20,
		.data = "Hi There",
		.data_len = 8,
		.want = "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
	};
	memset(c[0].key, 0x0b, 20);
	c[1] = (struct rfc4231_case){
		.nr = 2,
		.key = "Jefe",
		.key_len = 4,
		.data = "what do ya want for nothing?",
		.data_len = 28,
		.want = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
	};
	c[2] = (struct rfc4231_case){
		.nr = 3,
		.key_len = 20,
		.data_fill = 0xdd,
		.data_len = 50,
		.want = "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
	};
	memset(c[2].key, 0xaa, 20);
	c[3] = (struct rfc4231_case){
		.nr = 4,
		.key_len = 25,
		.data_fill = 0xcd,
		.data_len = 50,
		.want = "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
	};
	for (int i = 0; i < 25; i++)
		c[3].key[i] = (uint8_t)(i + 1);
	/* Case 5 is a MAC truncated to 128 bits: RFC 4231 gives only that prefix. */
	c[4] = (struct rfc4231_case){
		.nr = 5,
		.key_len = 20,
		.data = "Test With Truncation",
		.data_len = 20,
		.want = "a3b6167473100ee06e0c796c2955552b",
	};
	memset(c[4].key, 0x0c, 20);
	c[5] = (struct rfc4231_case){
		.nr = 6,
		.key_len = 131,
		.data = "Test Using Larger Than Block-Size Key - Hash Key First",
		.data_len = 54,
		.want = "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
	};
	memset(c[5].key, 0xaa, 131);
	c[6] = (struct rfc4231_case){
		.nr = 7,
		.key_len = 131,
		.data = data7,
		.data_len = sizeof(data7) - 1,
		.want = "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
	};
	memset(c[6].key, 0xaa, 131);
	for (size_t i = 0; i < ARRAY_LEN(c); i++)
		check_case(&c[i]);
}

/*
 * RFC 2104 pads a short key with zeros to the block size, so the empty key
 * and 1 or 64 zero octets give one MAC; empty pieces and no pieces at all
 * add nothing. (EVP_MAC_init takes a NULL key as "keep the old one": the
 * empty key must not reach it as NULL.)
 */
Test(hmac, empty_key_and_message)
{
	static const uint8_t zeros[64];
	uint8_t a[HMAC_SHA256_SIZE], b[HMAC_SHA256_SIZE];
	const struct iovec empty[] = { { .iov_base = NULL, .iov_len = 0 },
				       { .iov_base = (void *)zeros, .iov_len = 0 } };
	const struct iovec msg = { .iov_base = (void *)"ferry", .iov_len = 5 };

	cr_assert_eq(hmac_sha256(NULL, 0, NULL, 0, a), 0);
	cr_assert_eq(hmac_sha256(zeros, 64, empty, ARRAY_LEN(empty), b), 0);
	cr_assert_eq(memcmp(a, b, sizeof(a)), 0, "empty key = 64 zero octets");
	cr_assert_eq(hmac_sha256("", 0, &msg, 1, a), 0);
	cr_assert_eq(hmac_sha256(zeros, 1, &msg, 1, b), 0);
	cr_assert_eq(memcmp(a, b, sizeof(a)), 0, "empty key = 1 zero octet");
	cr_assert_eq(hmac_sha256(zeros, 65, &msg, 1, b), 0);
	cr_assert_neq(memcmp(a, b, sizeof(a)), 0, "65 octets are hashed first, not padded");
}

Test(hmac, equal)
{
	uint8_t a[HMAC_SHA256_SIZE], b[HMAC_SHA256_SIZE];

	memset(a, 0x5a, sizeof(a));
	memcpy(b, a, sizeof(b));
	cr_assert_eq(hmac_equal(a, b, sizeof(a)), 1);
	cr_assert_eq(hmac_equal(a, b, 0), 1);
	for (size_t i = 0; i < sizeof(a); i++) {
		for (int bit = 0; bit < 8; bit++) {
			b[i] ^= (uint8_t)(1 << bit);
			cr_assert_eq(hmac_equal(a, b, sizeof(a)), 0, "byte %zu bit %d", i, bit);
			b[i] ^= (uint8_t)(1 << bit);
		}
	}
	b[31] = 0xa5; /* every bit of the last octet differs */
	cr_assert_eq(hmac_equal(a, b, sizeof(a)), 0);
	cr_assert_eq(hmac_equal(a, b, 31), 1);
}
