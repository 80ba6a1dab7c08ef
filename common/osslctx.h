/* SPDX-License-Identifier: Apache-2.0 */
/* kms11's own OpenSSL library context: every algorithm kms11 uses comes from it, never from the application's. */
#ifndef KMS_COMMON_OSSLCTX_H
#define KMS_COMMON_OSSLCTX_H

#include <openssl/evp.h>
#include <openssl/types.h>

/* The process's kms11 library context, made on first use with OpenSSL's default provider loaded into it and
 * no configuration read: the application's OPENSSL_CONF, its providers and its default properties never
 * reach it, so they cannot route kms11's own calls back into a PKCS#11 provider or change what kms11
 * computes. NULL only when OpenSSL cannot make it (then every use fails cleanly). */
OSSL_LIB_CTX *kms_libctx(void);
/* SHA-256 and AES-256-GCM from that context, fetched once; NULL when unavailable. */
const EVP_MD *kms_sha256(void);
const EVP_CIPHER *kms_aes256gcm(void);
/* RAND_bytes from that context: 1 on success. */
int kms_rand(void *buf, size_t len);
/* RAND_priv_bytes (for key material) from that context: 1 on success. */
int kms_rand_priv(void *buf, size_t len);

#endif
