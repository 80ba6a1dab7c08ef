/* SPDX-License-Identifier: Apache-2.0 */
/* PIN key derivation (scrypt) and the AES-256-GCM seal that protects token keys and key blobs. */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include "common/osslctx.h"
#include "common/mem.h"
#include "module/core/core.h"

#define GCM_NONCE 12
#define GCM_TAG 16

/* scrypt N=2^15, r=8, p=1: 32 MiB of memory per derivation. */
#define KDF_N (1ULL << 15)
#define KDF_R 8
#define KDF_P 1

CK_RV kms_kdf_new(struct kms_kdf *kdf)
{
	kdf->n = KDF_N;
	kdf->r = KDF_R;
	kdf->p = KDF_P;
	return kms_rand(kdf->salt, sizeof(kdf->salt)) ? CKR_OK : CKR_GENERAL_ERROR;
}

CK_RV kms_kdf_derive(const struct kms_kdf *kdf, const char *pin, size_t len, uint8_t key[32])
{
	EVP_KDF *alg = NULL;
	EVP_KDF_CTX *ctx = NULL;
	OSSL_PARAM params[6];
	uint64_t n = kdf->n;
	uint32_t r = kdf->r, p = kdf->p;
	CK_RV rv = CKR_GENERAL_ERROR;

	if (n < 2 || (n & (n - 1)) || n > (1ULL << 22) || r == 0 || r > 32 || p == 0 || p > 16)
		return CKR_GENERAL_ERROR;
	alg = EVP_KDF_fetch(kms_libctx(), "SCRYPT", NULL);
	if (!alg)
		goto out;
	ctx = EVP_KDF_CTX_new(alg);
	if (!ctx)
		goto out;
	params[0] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_PASSWORD, (void *)pin, len);
	params[1] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)kdf->salt, sizeof(kdf->salt));
	params[2] = OSSL_PARAM_construct_uint64(OSSL_KDF_PARAM_SCRYPT_N, &n);
	params[3] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_R, &r);
	params[4] = OSSL_PARAM_construct_uint32(OSSL_KDF_PARAM_SCRYPT_P, &p);
	params[5] = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(ctx, key, 32, params) != 1)
		goto out;
	rv = CKR_OK;
out:
	EVP_KDF_CTX_free(ctx);
	EVP_KDF_free(alg);
	return rv;
}

CK_RV kms_gcm_seal(const uint8_t key[32], const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len,
		   uint8_t **out, size_t *outlen)
{
	EVP_CIPHER_CTX *c = NULL;
	uint8_t *buf = NULL;
	int l = 0, l2 = 0;
	CK_RV rv = CKR_GENERAL_ERROR;

	if (len > (size_t)INT32_MAX - GCM_NONCE - GCM_TAG)
		return CKR_DATA_LEN_RANGE;
	buf = malloc(GCM_NONCE + len + GCM_TAG);
	if (!buf)
		return CKR_HOST_MEMORY;
	c = EVP_CIPHER_CTX_new();
	if (!c || !kms_aes256gcm() || !kms_rand(buf, GCM_NONCE))
		goto out;
	if (EVP_EncryptInit_ex2(c, kms_aes256gcm(), key, buf, NULL) != 1 ||
	    EVP_EncryptUpdate(c, NULL, &l, aad, (int)aadlen) != 1 ||
	    EVP_EncryptUpdate(c, buf + GCM_NONCE, &l, in, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(c, buf + GCM_NONCE + l, &l2) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, GCM_TAG, buf + GCM_NONCE + len) != 1)
		goto out;
	*out = buf;
	*outlen = GCM_NONCE + len + GCM_TAG;
	buf = NULL;
	rv = CKR_OK;
out:
	EVP_CIPHER_CTX_free(c);
	free(buf);
	return rv;
}

CK_RV kms_gcm_open(const uint8_t key[32], const uint8_t *aad, size_t aadlen, const uint8_t *in, size_t len,
		   uint8_t **out, size_t *outlen)
{
	EVP_CIPHER_CTX *c = NULL;
	uint8_t *buf = NULL;
	size_t n;
	int l = 0, l2 = 0;
	CK_RV rv = CKR_GENERAL_ERROR;

	if (len < GCM_NONCE + GCM_TAG || len > (size_t)INT32_MAX)
		return CKR_ENCRYPTED_DATA_INVALID;
	n = len - GCM_NONCE - GCM_TAG;
	buf = kms_secure_alloc(n ? n : 1);
	if (!buf)
		return CKR_HOST_MEMORY;
	c = EVP_CIPHER_CTX_new();
	if (!c)
		goto out;
	if (!kms_aes256gcm() || EVP_DecryptInit_ex2(c, kms_aes256gcm(), key, in, NULL) != 1 ||
	    EVP_DecryptUpdate(c, NULL, &l, aad, (int)aadlen) != 1 ||
	    EVP_DecryptUpdate(c, buf, &l, in + GCM_NONCE, (int)n) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, GCM_TAG, (void *)(in + GCM_NONCE + n)) != 1)
		goto out;
	if (EVP_DecryptFinal_ex(c, buf + l, &l2) != 1) {
		rv = CKR_ENCRYPTED_DATA_INVALID;
		goto out;
	}
	*out = buf;
	*outlen = n;
	buf = NULL;
	rv = CKR_OK;
out:
	EVP_CIPHER_CTX_free(c);
	kms_secure_free(buf);
	return rv;
}
