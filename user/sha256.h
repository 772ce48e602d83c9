/* SPDX-License-Identifier: MIT */
/*
 * SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104), for the page server's
 * shared-secret handshake: no crypto library is linked into ferry.
 */
#ifndef FERRY_SHA256_H
#define FERRY_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define SHA256_DIGEST_SIZE 32
#define SHA256_BLOCK_SIZE 64

struct sha256 {
	uint32_t h[8];
	uint64_t bytes; /* message length so far */
	uint8_t block[SHA256_BLOCK_SIZE];
	size_t used; /* bytes in block */
};

void sha256_init(struct sha256 *s);
void sha256_update(struct sha256 *s, const void *data, size_t len);
/* sha256_final - the digest of everything updated; @s must be re-initialised to reuse it. */
void sha256_final(struct sha256 *s, uint8_t out[SHA256_DIGEST_SIZE]);
/* sha256 - one-shot digest of @len bytes. */
void sha256(const void *data, size_t len, uint8_t out[SHA256_DIGEST_SIZE]);

struct hmac_sha256 {
	struct sha256 inner, outer;
};

/* hmac_sha256_init - start a MAC with @key (any length; longer than a block is hashed first). */
void hmac_sha256_init(struct hmac_sha256 *h, const void *key, size_t key_len);
void hmac_sha256_update(struct hmac_sha256 *h, const void *data, size_t len);
void hmac_sha256_final(struct hmac_sha256 *h, uint8_t out[SHA256_DIGEST_SIZE]);
/* hmac_sha256 - one-shot MAC of @len bytes under @key. */
void hmac_sha256(const void *key, size_t key_len, const void *data, size_t len,
		 uint8_t out[SHA256_DIGEST_SIZE]);

/*
 * ct_memeq - 1 if the @len bytes at @a and @b are equal, else 0, in a time
 * that depends only on @len (for comparing MACs).
 */
int ct_memeq(const void *a, const void *b, size_t len);

#endif
