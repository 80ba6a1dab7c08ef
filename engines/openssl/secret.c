/* SPDX-License-Identifier: Apache-2.0 */
/* openssl engine secret keys: generation, import, loading, check values and the key value. */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "common/mem.h"
#include "common/osslctx.h"
#include "engines/openssl/ossl.h"

#define GENERIC_MAX 512 /* bytes of a generic secret or HMAC key */

/* The key sizes a secret key type allows, in bytes; false for a type this engine does not hold. */
static bool secret_len_ok(CK_KEY_TYPE kt, size_t len, bool *known)
{
	*known = true;
	switch (kt) {
	case CKK_AES:
		return len == 16 || len == 24 || len == 32;
	case CKK_DES:
		return len == 8;
	case CKK_DES2:
		return len == 16;
	case CKK_DES3:
		return len == 24;
	case CKK_GENERIC_SECRET:
	case CKK_HKDF:
	case CKK_SHA_1_HMAC:
	case CKK_SHA224_HMAC:
	case CKK_SHA256_HMAC:
	case CKK_SHA384_HMAC:
	case CKK_SHA512_HMAC:
		return len >= 1 && len <= GENERIC_MAX;
	default:
		*known = false;
		return false;
	}
}

const EVP_CIPHER *ossl_des_cipher(struct ossl_inst *in, CK_KEY_TYPE kt, bool cbc)
{
	switch (kt) {
	case CKK_DES:
		return in->des[D_DES][cbc];
	case CKK_DES2:
		return in->des[D_DES2][cbc];
	case CKK_DES3:
		return in->des[D_DES3][cbc];
	default:
		return NULL;
	}
}

static bool is_des(CK_KEY_TYPE kt)
{
	return kt == CKK_DES || kt == CKK_DES2 || kt == CKK_DES3;
}

/* The 3-byte key check value: AES-ECB of a zero block for AES, DES-ECB (of the key's kind) of a zero
 * block for DES, the first bytes of SHA-1 of the value for generic secret and HMAC keys (PKCS#11 3.0,
 * generic secret key objects). */
static CK_RV check_value(struct ossl_inst *in, CK_KEY_TYPE kt, const uint8_t *key, size_t len, uint8_t kcv[3])
{
	uint8_t zero[16] = {0}, block[32];
	unsigned int mdlen = 0;
	const EVP_CIPHER *cipher;
	size_t bl = 16;
	EVP_CIPHER_CTX *c;
	int outl = 0, ok;

	if (is_des(kt)) {
		cipher = ossl_des_cipher(in, kt, false);
		bl = 8;
		if (!cipher) /* not a legacy token, or no legacy provider for single DES */
			return CKR_ATTRIBUTE_VALUE_INVALID;
	} else if (kt != CKK_AES) {
		if (EVP_Digest(key, len, block, &mdlen, in->md[H_SHA1], NULL) != 1)
			return CKR_GENERAL_ERROR;
		memcpy(kcv, block, 3);
		return CKR_OK;
	} else {
		cipher = in->aes[A_ECB][len / 8 - 2];
	}
	c = EVP_CIPHER_CTX_new();
	if (!c)
		return CKR_HOST_MEMORY;
	ok = EVP_EncryptInit_ex2(c, cipher, key, NULL, NULL) == 1 && EVP_CIPHER_CTX_set_padding(c, 0) == 1 &&
	     EVP_EncryptUpdate(c, block, &outl, zero, (int)bl) == 1 && outl == (int)bl;
	EVP_CIPHER_CTX_free(c);
	if (!ok)
		return CKR_GENERAL_ERROR;
	memcpy(kcv, block, 3);
	kms_wipe(block, sizeof(block));
	return CKR_OK;
}

/* Fills key material for len key bytes already in secure memory (taken over, freed on failure). */
CK_RV ossl_secret_material(struct ossl_inst *in, CK_KEY_TYPE kt, uint8_t *key, size_t len,
			    struct kms_key_material *out)
{
	uint8_t kcv[3];
	int e = 0;
	CK_RV rv;

	memset(out, 0, sizeof(*out));
	out->blob = key;
	out->blob_len = len;
	rv = check_value(in, kt, key, len, kcv);
	if (rv != CKR_OK)
		goto out;
	e |= kms_attrs_set_ulong(&out->pub, CKA_KEY_TYPE, kt);
	e |= kms_attrs_set_ulong(&out->pub, CKA_VALUE_LEN, (unsigned long)len);
	e |= kms_attrs_set(&out->pub, CKA_CHECK_VALUE, kcv, sizeof(kcv));
	rv = e ? CKR_HOST_MEMORY : CKR_OK;
out:
	if (rv != CKR_OK)
		kms_key_material_free(out);
	return rv;
}

bool ossl_secret_len_ok(CK_KEY_TYPE kt, size_t len)
{
	bool known;

	return secret_len_ok(kt, len, &known);
}

/* Odd parity in every byte of a DES key, as DES key generation leaves it (FIPS 46-3). */
static void des_parity(uint8_t *key, size_t len)
{
	for (size_t i = 0; i < len; i++) {
		uint8_t b = key[i] & 0xfe, v = b;

		v ^= v >> 4;
		v ^= v >> 2;
		v ^= v >> 1;
		key[i] = (uint8_t)(b | (~v & 1));
	}
}

/* The key type a fixed-type generation mechanism makes, 0 for CKM_GENERIC_SECRET_KEY_GEN. */
static CK_KEY_TYPE gen_type(CK_MECHANISM_TYPE m)
{
	switch (m) {
	case CKM_AES_KEY_GEN:
		return CKK_AES;
	case CKM_DES_KEY_GEN:
		return CKK_DES;
	case CKM_DES2_KEY_GEN:
		return CKK_DES2;
	case CKM_DES3_KEY_GEN:
		return CKK_DES3;
	case CKM_HKDF_KEY_GEN:
		return CKK_HKDF;
	default:
		return 0;
	}
}

CK_RV ossl_generate_secret(void *inst, const struct kms_secretgen_params *p, struct kms_key_material *out)
{
	CK_KEY_TYPE want = gen_type(p->mech);
	uint8_t *key;
	bool known;

	if (p->mech != CKM_GENERIC_SECRET_KEY_GEN && !want)
		return CKR_MECHANISM_INVALID;
	if (want ? p->key_type != want : (p->key_type == CKK_AES || is_des(p->key_type)))
		return CKR_TEMPLATE_INCONSISTENT;
	if (!secret_len_ok(p->key_type, p->len, &known))
		return known ? CKR_KEY_SIZE_RANGE : CKR_TEMPLATE_INCONSISTENT;
	key = kms_secure_alloc(p->len);
	if (!key)
		return CKR_HOST_MEMORY;
	if (!kms_rand_priv(key, p->len)) {
		kms_secure_free(key);
		return CKR_FUNCTION_FAILED;
	}
	if (is_des(p->key_type))
		des_parity(key, p->len);
	return ossl_secret_material(inst, p->key_type, key, p->len, out);
}

CK_RV ossl_secret_import(struct ossl_inst *in, CK_KEY_TYPE kt, const struct kms_attrs *tmpl,
			 struct kms_key_material *out)
{
	const struct kms_attr *val = kms_attrs_get(tmpl, CKA_VALUE);
	uint8_t *key;
	bool known;

	if (!val)
		return CKR_TEMPLATE_INCOMPLETE;
	if (!secret_len_ok(kt, val->len, &known))
		return CKR_ATTRIBUTE_VALUE_INVALID;
	key = kms_secure_dup(val->val, val->len);
	if (!key)
		return CKR_HOST_MEMORY;
	return ossl_secret_material(in, kt, key, val->len, out);
}

CK_RV ossl_secret_load(const uint8_t *blob, size_t blob_len, const struct kms_attrs *pub,
		       struct kms_engine_key **out)
{
	struct kms_engine_key *k;
	unsigned long kt;
	bool known;

	if (!blob || kms_attrs_get_ulong(pub, CKA_KEY_TYPE, &kt) != 0 || !secret_len_ok(kt, blob_len, &known))
		return CKR_GENERAL_ERROR;
	k = calloc(1, sizeof(*k));
	if (!k)
		return CKR_HOST_MEMORY;
	k->secret = kms_secure_dup(blob, blob_len);
	if (!k->secret) {
		free(k);
		return CKR_HOST_MEMORY;
	}
	k->kt = kt;
	k->priv = true;
	k->size = blob_len;
	*out = k;
	return CKR_OK;
}

void ossl_secret_clear(struct kms_engine_key *key)
{
	for (int i = 0; i < MS__COUNT; i++) {
		EVP_MAC_CTX_free(key->mac_spare[i]);
		key->mac_spare[i] = NULL;
	}
	for (int m = 0; m < A__COUNT; m++)
		for (int d = 0; d < 2; d++) {
			EVP_CIPHER_CTX_free(key->cipher_spare[m][d]);
			key->cipher_spare[m][d] = NULL;
		}
	kms_secure_free(key->secret);
	key->secret = NULL;
}

CK_RV ossl_secret_attr(struct kms_engine_key *key, CK_ATTRIBUTE_TYPE type, uint8_t **val, size_t *len)
{
	if (type != CKA_VALUE || !key->secret)
		return CKR_ATTRIBUTE_TYPE_INVALID;
	*val = malloc(key->size);
	if (!*val)
		return CKR_HOST_MEMORY;
	memcpy(*val, key->secret, key->size);
	*len = key->size;
	return CKR_OK;
}
