// SPDX-License-Identifier: MIT
/*
 * HMAC-SHA256 through libcrypto's EVP_MAC interface (OpenSSL 3, Debian 12's
 * libssl-dev). The MAC is fetched for each call rather than once: the page
 * server computes one per connection, and a fetched EVP_MAC kept in a global
 * would need a once-only initialisation and is never freed.
 */
#include <errno.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "hmac.h"

#define LOG_PREFIX "hmac: "
#include "log.h"

/*
 * crypto_fail - log that @what failed with the first reason in libcrypto's
 * error queue (the root cause; later entries are its callers), empty the
 * queue so that a later failure does not report this one, return @err.
 */
static int crypto_fail(const char *what, int err)
{
	unsigned long code = ERR_get_error();
	char reason[256] = "libcrypto gave no reason";

	if (code)
		ERR_error_string_n(code, reason, sizeof(reason));
	ERR_clear_error();
	pr_err("%s failed: %s", what, reason);
	return err;
}

int hmac_sha256(const void *key, size_t key_len, const struct iovec *iov, size_t iovcnt,
		uint8_t out[HMAC_SHA256_SIZE])
{
	char digest[] = "SHA256";
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0),
		OSSL_PARAM_construct_end(),
	};
	EVP_MAC_CTX *ctx;
	EVP_MAC *mac;
	size_t len = 0, i;
	int err = 0;

	mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	if (!mac) {
		err = crypto_fail("EVP_MAC_fetch(HMAC)", -EOPNOTSUPP);
		goto out;
	}
	ctx = EVP_MAC_CTX_new(mac);
	if (!ctx) {
		err = crypto_fail("EVP_MAC_CTX_new(HMAC)", -ENOMEM);
		goto free_mac;
	}
	/*
	 * A NULL key tells EVP_MAC_init to keep the context's previous key, and
	 * a new context has none: an empty key still needs a pointer.
	 */
	if (!EVP_MAC_init(ctx, key_len ? key : (const void *)"", key_len, params)) {
		err = crypto_fail("EVP_MAC_init(HMAC, SHA256)", -EOPNOTSUPP);
		goto free_ctx;
	}
	for (i = 0; i < iovcnt; i++) {
		if (!EVP_MAC_update(ctx, iov[i].iov_base, iov[i].iov_len)) {
			err = crypto_fail("EVP_MAC_update(HMAC-SHA256)", -EIO);
			goto free_ctx;
		}
	}
	if (!EVP_MAC_final(ctx, out, &len, HMAC_SHA256_SIZE)) {
		err = crypto_fail("EVP_MAC_final(HMAC-SHA256)", -EIO);
		goto free_ctx;
	}
	if (len != HMAC_SHA256_SIZE) {
		pr_err("EVP_MAC_final(HMAC-SHA256) gave %zu octets, not %d", len, HMAC_SHA256_SIZE);
		err = -EIO;
	}
free_ctx:
	EVP_MAC_CTX_free(ctx);
free_mac:
	EVP_MAC_free(mac);
out:
	if (err)
		explicit_bzero(out, HMAC_SHA256_SIZE);
	return err;
}

int hmac_equal(const void *a, const void *b, size_t len)
{
	return CRYPTO_memcmp(a, b, len) == 0;
}
