// SPDX-License-Identifier: MIT
/*
 * SHA-256 against the FIPS 180-4 / NIST example vectors, HMAC-SHA256 against
 * RFC 4231's test cases 1-4, 6 and 7 (5 is a truncated MAC), fed in one piece
 * and in awkward pieces, and the constant-time compare.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"

static void hex(const uint8_t *d, char *out)
{
	for (int i = 0; i < SHA256_DIGEST_SIZE; i++)
		sprintf(out + 2 * i, "%02x", d[i]);
}

/* Digest of @len bytes, in one update and in pieces of 1, 3, 63, 64, 65 and 127 bytes. */
static void check_sha(const void *msg, size_t len, const char *want)
{
	static const size_t pieces[] = { 1, 3, 63, 64, 65, 127 };
	uint8_t d[SHA256_DIGEST_SIZE];
	char got[2 * SHA256_DIGEST_SIZE + 1];

	sha256(msg, len, d);
	hex(d, got);
	cr_assert_str_eq(got, want, "one piece of %zu bytes", len);
	for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++) {
		struct sha256 s;

		sha256_init(&s);
		for (size_t off = 0; off < len; off += pieces[k])
			sha256_update(&s, (const uint8_t *)msg + off,
				      len - off < pieces[k] ? len - off : pieces[k]);
		sha256_final(&s, d);
		hex(d, got);
		cr_assert_str_eq(got, want, "%zu bytes in pieces of %zu", len, pieces[k]);
	}
}

TestSuite(sha256, .timeout = 30);

Test(sha256, fips_abc)
{
	check_sha("abc", 3, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

Test(sha256, fips_empty)
{
	check_sha("", 0, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

Test(sha256, fips_448_bits)
{
	const char *m = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";

	cr_assert_eq(strlen(m) * 8, 448);
	check_sha(m, strlen(m), "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

Test(sha256, fips_896_bits)
{
	const char *m = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
			"ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";

	cr_assert_eq(strlen(m) * 8, 896);
	check_sha(m, strlen(m), "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

Test(sha256, fips_million_a)
{
	char *m = malloc(1000000);

	cr_assert_not_null(m);
	memset(m, 'a', 1000000);
	check_sha(m, 1000000, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
	free(m);
}

/* Padding edges: 55, 56, 63, 64 bytes put the length in the same or the next block. */
Test(sha256, padding_edges)
{
	static const struct {
		size_t len;
		const char *want;
	} v[] = {
		{ 55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318" },
		{ 56, "b35439a4ac6f0948b6d6f9e3c6af0f5f590ce20f1bde7090ef7970686ec6738a" },
		{ 63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34" },
		{ 64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb" },
	};
	char m[64];

	memset(m, 'a', sizeof(m));
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
		check_sha(m, v[i].len, v[i].want);
}

struct hmac_case {
	int rfc_case;
	uint8_t key[131];
	size_t key_len;
	const char *data;
	uint8_t data_fill;
	size_t data_len;
	const char *want;
};

static void check_hmac(const struct hmac_case *c)
{
	uint8_t data[256], d[SHA256_DIGEST_SIZE];
	char got[2 * SHA256_DIGEST_SIZE + 1];
	struct hmac_sha256 h;

	if (c->data)
		memcpy(data, c->data, c->data_len);
	else
		memset(data, c->data_fill, c->data_len);
	hmac_sha256(c->key, c->key_len, data, c->data_len, d);
	hex(d, got);
	cr_assert_str_eq(got, c->want, "RFC 4231 test case %d", c->rfc_case);
	/* Byte by byte: the same MAC. */
	hmac_sha256_init(&h, c->key, c->key_len);
	for (size_t i = 0; i < c->data_len; i++)
		hmac_sha256_update(&h, data + i, 1);
	hmac_sha256_final(&h, d);
	hex(d, got);
	cr_assert_str_eq(got, c->want, "RFC 4231 test case %d, byte by byte", c->rfc_case);
}

Test(sha256, hmac_rfc4231)
{
	static const char big_key_data7[] =
		"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.";
	static struct hmac_case c[6];

	c[0] = (struct hmac_case){
		.rfc_case = 1,
		.key_len = 20,
		.data = "Hi There",
		.data_len = 8,
		.want = "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"
	};
	memset(c[0].key, 0x0b, 20);
	c[1] = (struct hmac_case){
		.rfc_case = 2,
		.key = "Jefe",
		.key_len = 4,
		.data = "what do ya want for nothing?",
		.data_len = 28,
		.want = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
	};
	c[2] = (struct hmac_case){
		.rfc_case = 3,
		.key_len = 20,
		.data_fill = 0xdd,
		.data_len = 50,
		.want = "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"
	};
	memset(c[2].key, 0xaa, 20);
	c[3] = (struct hmac_case){
		.rfc_case = 4,
		.key_len = 25,
		.data_fill = 0xcd,
		.data_len = 50,
		.want = "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"
	};
	for (int i = 0; i < 25; i++)
		c[3].key[i] = (uint8_t)(i + 1);
	c[4] = (struct hmac_case){
		.rfc_case = 6,
		.key_len = 131,
		.data = "Test Using Larger Than Block-Size Key - Hash Key First",
		.data_len = 54,
		.want = "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
	};
	memset(c[4].key, 0xaa, 131);
	c[5] = (struct hmac_case){
		.rfc_case = 7,
		.key_len = 131,
		.data = big_key_data7,
		.data_len = sizeof(big_key_data7) - 1,
		.want = "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"
	};
	memset(c[5].key, 0xaa, 131);
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++)
		check_hmac(&c[i]);
}

Test(sha256, ct_memeq)
{
	uint8_t a[32], b[32];

	memset(a, 0x5a, sizeof(a));
	memcpy(b, a, sizeof(b));
	cr_assert_eq(ct_memeq(a, b, sizeof(a)), 1);
	cr_assert_eq(ct_memeq(a, b, 0), 1);
	for (size_t i = 0; i < sizeof(a); i++) {
		for (int bit = 0; bit < 8; bit++) {
			b[i] ^= (uint8_t)(1 << bit);
			cr_assert_eq(ct_memeq(a, b, sizeof(a)), 0, "byte %zu bit %d", i, bit);
			b[i] ^= (uint8_t)(1 << bit);
		}
	}
	b[31] = 0xa5; /* every bit of the last byte differs */
	cr_assert_eq(ct_memeq(a, b, sizeof(a)), 0);
	cr_assert_eq(ct_memeq(a, b, 31), 1);
}
