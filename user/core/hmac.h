/* SPDX-License-Identifier: MIT */
/*
 * HMAC-SHA256 for the page server's shared-secret proof, and the comparison
 * of two MACs, both done by OpenSSL's libcrypto: authentication code is the
 * kind a widely reviewed library keeps correct, not ferry. Callers need no
 * OpenSSL header.
 */
#ifndef FERRY_HMAC_H
#define FERRY_HMAC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define HMAC_SHA256_SIZE 32

/*
 * hmac_sha256 - HMAC-SHA256 (RFC 2104) under the @key_len octets at @key
 * (any length, none included) of the @iovcnt pieces of @iov in order, into
 * @out. Returns 0; -EOPNOTSUPP if libcrypto offers no HMAC or no SHA256 (a
 * provider configuration without them), -ENOMEM if it cannot allocate the
 * context, -EIO if another libcrypto call fails. Each error is logged with
 * the call that failed and libcrypto's reason; @out is zeroed then.
 */
int hmac_sha256(const void *key, size_t key_len, const struct iovec *iov, size_t iovcnt,
		uint8_t out[HMAC_SHA256_SIZE]);

/*
 * hmac_equal - 1 if the @len octets at @a and @b are equal, else 0, in a
 * time that depends on @len only (CRYPTO_memcmp): a peer learns nothing from
 * how long a wrong MAC took to be refused.
 */
int hmac_equal(const void *a, const void *b, size_t len);

#endif
