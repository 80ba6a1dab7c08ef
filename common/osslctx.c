/* SPDX-License-Identifier: Apache-2.0 */
/* kms11's own OpenSSL library context, and the few algorithms the core fetches from it once. */
#include "common/osslctx.h"

#include <pthread.h>

#include <openssl/provider.h>
#include <openssl/rand.h>

static pthread_once_t once = PTHREAD_ONCE_INIT;
static OSSL_LIB_CTX *ctx;
static EVP_MD *sha256;
static EVP_CIPHER *aes256gcm;

/* Lives as long as the process: keys and contexts made in it may outlive any one C_Finalize. */
static void make(void)
{
	OSSL_LIB_CTX *c = OSSL_LIB_CTX_new();

	if (!c)
		return;
	if (!OSSL_PROVIDER_load(c, "default")) {
		OSSL_LIB_CTX_free(c);
		return;
	}
	sha256 = EVP_MD_fetch(c, "SHA256", NULL);
	aes256gcm = EVP_CIPHER_fetch(c, "AES-256-GCM", NULL);
	ctx = c;
}

OSSL_LIB_CTX *kms_libctx(void)
{
	pthread_once(&once, make);
	return ctx;
}

const EVP_MD *kms_sha256(void)
{
	pthread_once(&once, make);
	return sha256;
}

const EVP_CIPHER *kms_aes256gcm(void)
{
	pthread_once(&once, make);
	return aes256gcm;
}

int kms_rand(void *buf, size_t len)
{
	OSSL_LIB_CTX *c = kms_libctx();

	return c && RAND_bytes_ex(c, buf, len, 0) == 1;
}

int kms_rand_priv(void *buf, size_t len)
{
	OSSL_LIB_CTX *c = kms_libctx();

	return c && RAND_priv_bytes_ex(c, buf, len, 0) == 1;
}
